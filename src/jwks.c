/*
 * jwks.c: JSON Web Key sets (RFC 7517) and OIDC discovery documents into
 * public keys (jwt.h).  Pure code on bytes fetched from the network: the
 * JWKS helper runs it, the fuzzer too.  Keys are built with
 * EVP_PKEY_fromdata and handed on as DER SubjectPublicKeyInfo, the form
 * the workers read back from shm/.
 */
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "jwt.h"

/* A base64url member of jwk, decoded into out; its length or -1. */
static long
member_b64(json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
	json_t	*v = json_object_get(jwk, name);
	size_t	 n;

	if (!json_is_string(v) || jwt_b64url_decode(json_string_value(v),
	    json_string_length(v), out, cap, &n) == -1 || n == 0)
		return (-1);
	return ((long)n);
}

static EVP_PKEY *
fromdata(const char *type, OSSL_PARAM_BLD *b)
{
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pk = NULL;
	OSSL_PARAM	*params = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(b)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return (pk);
}

static EVP_PKEY *
rsa_key(json_t *jwk)
{
	unsigned char	 n[1024], e[16];
	long		 nl, el;
	BIGNUM		*bn = NULL, *be = NULL;
	OSSL_PARAM_BLD	*b = NULL;
	EVP_PKEY	*pk = NULL;

	if ((nl = member_b64(jwk, "n", n, sizeof(n))) == -1 ||
	    (el = member_b64(jwk, "e", e, sizeof(e))) == -1)
		return (NULL);
	if ((bn = BN_bin2bn(n, (int)nl, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)el, NULL)) == NULL ||
	    BN_num_bits(bn) < 2048 || BN_num_bits(be) < 2 || !BN_is_odd(be))
		goto done;
	if ((b = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		goto done;
	pk = fromdata("RSA", b);
 done:
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	return (pk);
}

static EVP_PKEY *
ec_key(json_t *jwk)
{
	unsigned char	 pt[1 + 2 * 66];
	json_t		*crv = json_object_get(jwk, "crv");
	const char	*grp;
	size_t		 flen;
	long		 xl, yl;
	OSSL_PARAM_BLD	*b = NULL;
	EVP_PKEY	*pk = NULL;

	if (!json_is_string(crv))
		return (NULL);
	if (strcmp(json_string_value(crv), "P-256") == 0) {
		grp = "prime256v1";
		flen = 32;
	} else if (strcmp(json_string_value(crv), "P-384") == 0) {
		grp = "secp384r1";
		flen = 48;
	} else if (strcmp(json_string_value(crv), "P-521") == 0) {
		grp = "secp521r1";
		flen = 66;
	} else
		return (NULL);
	/* RFC 7518 6.2.1.2: x and y are exactly the field size. */
	pt[0] = 0x04;
	if ((xl = member_b64(jwk, "x", pt + 1, flen)) != (long)flen ||
	    (yl = member_b64(jwk, "y", pt + 1 + flen, flen)) != (long)flen)
		return (NULL);
	if ((b = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
	    grp, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt,
	    1 + 2 * flen) != 1)
		goto done;
	/* fromdata checks that the point is on the curve. */
	pk = fromdata("EC", b);
 done:
	OSSL_PARAM_BLD_free(b);
	return (pk);
}

/* One JWK: 1 given to fn, 0 skipped, -1 fn said stop. */
static int
one_key(json_t *jwk, jwks_key_fn *fn, void *arg)
{
	json_t		*kty, *kid, *use, *alg;
	EVP_PKEY	*pk = NULL;
	unsigned char	*der = NULL;
	enum jwt_alg	 a = JWA_NONE;
	int		 len, rc = 0;

	if (!json_is_object(jwk))
		return (0);
	kty = json_object_get(jwk, "kty");
	kid = json_object_get(jwk, "kid");
	use = json_object_get(jwk, "use");
	alg = json_object_get(jwk, "alg");
	if (!json_is_string(kty) || !json_is_string(kid) ||
	    json_string_length(kid) == 0 ||
	    json_string_length(kid) > JWT_KID_MAX ||
	    strlen(json_string_value(kid)) != json_string_length(kid))
		return (0);
	if (use != NULL && (!json_is_string(use) ||
	    strcmp(json_string_value(use), "sig") != 0))
		return (0);
	if (alg != NULL && (!json_is_string(alg) ||
	    (a = jwt_alg_id(json_string_value(alg))) == JWA_NONE))
		return (0);
	if (strcmp(json_string_value(kty), "RSA") == 0)
		pk = rsa_key(jwk);
	else if (strcmp(json_string_value(kty), "EC") == 0)
		pk = ec_key(jwk);
	if (pk == NULL)
		return (0);
	if ((len = i2d_PUBKEY(pk, &der)) > 0)
		rc = fn(arg, json_string_value(kid), a, der, (size_t)len) ==
		    -1 ? -1 : 1;
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	return (rc);
}

int
jwks_parse(const char *buf, size_t len, jwks_key_fn *fn, void *arg,
    const char **why)
{
	json_t	*doc, *keys, *k;
	size_t	 i;
	int	 n = 0, rc;

	*why = "not a JSON key set";
	if (len > JWKS_MAX_BODY || (doc = json_loadb(buf, len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return (-1);
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		json_decref(doc);
		return (-1);
	}
	json_array_foreach(keys, i, k) {
		if (n >= JWKS_MAX_KEYS)
			break;
		if ((rc = one_key(k, fn, arg)) == -1) {
			*why = "cannot store a key";
			n = -1;
			break;
		}
		n += rc;
	}
	json_decref(doc);
	return (n);
}

int
jwks_discovery_uri(const char *buf, size_t len, int https, char *out,
    size_t cap)
{
	json_t		*doc, *v;
	const char	*s;
	int		 rc = -1;

	if (len > JWKS_MAX_BODY || (doc = json_loadb(buf, len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return (-1);
	v = json_object_get(doc, "jwks_uri");
	if (json_is_string(v) && (s = json_string_value(v)) != NULL &&
	    strlen(s) < cap && strlen(s) == json_string_length(v) &&
	    (strncmp(s, "https://", 8) == 0 ||
	    (!https && strncmp(s, "http://", 7) == 0))) {
		memcpy(out, s, strlen(s) + 1);
		rc = 0;
	}
	json_decref(doc);
	return (rc);
}

EVP_PKEY *
jwks_der_key(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;

	if (len == 0 || len > 4096)
		return (NULL);
	return (d2i_PUBKEY(NULL, &p, (long)len));
}
