/*
 * jwt.c: JWS compact tokens, decoded and checked (jwt.h).  Pure code on
 * untrusted bytes: every length is bounded before use, every JSON type is
 * checked before its value is read, and a failure says why in a reason
 * code that goes into the auth.denied event (never the token).  Workers
 * and the fuzzer run it.
 */
#include <math.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jwt.h"

#define HDR_MAX		2048	/* decoded header bytes */
#define CLAIMS_MAX	6144	/* decoded payload bytes */

static const struct {
	const char	*name;
	enum jwt_alg	 alg;
} algs[] = {
	{ "RS256", JWA_RS256 }, { "RS384", JWA_RS384 },
	{ "RS512", JWA_RS512 }, { "PS256", JWA_PS256 },
	{ "PS384", JWA_PS384 }, { "PS512", JWA_PS512 },
	{ "ES256", JWA_ES256 }, { "ES384", JWA_ES384 },
	{ "ES512", JWA_ES512 }
};

enum jwt_alg
jwt_alg_id(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return (algs[i].alg);
	return (JWA_NONE);
}

const char *
jwt_alg_name(enum jwt_alg a)
{
	size_t	 i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == a)
			return (algs[i].name);
	return ("none");
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

int
jwt_b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap,
    size_t *olen)
{
	uint32_t	 acc = 0;
	size_t		 i, o = 0;
	int		 v, bits = 0;

	/* A lone sextet holds no whole byte. */
	if (n % 4 == 1 || (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((v = b64val((unsigned char)s[i])) < 0)
			return (-1);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Canonical form: the bits left over are zero. */
	if (acc != 0)
		return (-1);
	*olen = o;
	return (0);
}

/* A JSON object from base64url s[0..n), at most max decoded bytes. */
static json_t *
segment_json(const char *s, size_t n, size_t max)
{
	unsigned char	 buf[CLAIMS_MAX];
	size_t		 len;
	json_t		*o;

	if (n == 0 || max > sizeof(buf) ||
	    jwt_b64url_decode(s, n, buf, max, &len) == -1)
		return (NULL);
	o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return (o);
}

void
jwt_free(struct jwt *j)
{
	json_decref(j->j_header);
	json_decref(j->j_claims);
	j->j_header = j->j_claims = NULL;
}

int
jwt_decode(const char *tok, size_t len, struct jwt *j, const char **why)
{
	const char	*d1, *d2, *end = tok + len;
	json_t		*v;

	memset(j, 0, sizeof(*j));
	*why = "invalid_token";
	if (len == 0 || len > JWT_MAX_LEN)
		return (-1);
	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1))) == NULL ||
	    memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL ||
	    d1 == tok || d2 == d1 + 1 || d2 + 1 == end)
		return (-1);
	if ((j->j_header = segment_json(tok, (size_t)(d1 - tok),
	    HDR_MAX)) == NULL)
		goto fail;
	v = json_object_get(j->j_header, "alg");
	if (!json_is_string(v) || (j->j_alg = jwt_alg_id(json_string_value(
	    v))) == JWA_NONE) {
		*why = "alg_not_allowed";
		goto fail;
	}
	/* RFC 7515 4.1.11: an extension we do not understand is fatal. */
	if (json_object_get(j->j_header, "crit") != NULL) {
		*why = "crit_unsupported";
		goto fail;
	}
	if ((v = json_object_get(j->j_header, "kid")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > JWT_KID_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			goto fail;
		j->j_kid = json_string_value(v);
	}
	if ((j->j_claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1),
	    CLAIMS_MAX)) == NULL)
		goto fail;
	if (jwt_b64url_decode(d2 + 1, (size_t)(end - d2 - 1), j->j_sig,
	    sizeof(j->j_sig), &j->j_siglen) == -1 || j->j_siglen == 0)
		goto fail;
	j->j_input = tok;
	j->j_inlen = (size_t)(d2 - tok);
	return (0);
 fail:
	jwt_free(j);
	return (-1);
}

static const EVP_MD *
alg_md(enum jwt_alg a)
{
	switch (a) {
	case JWA_RS256:
	case JWA_PS256:
	case JWA_ES256:
		return (EVP_sha256());
	case JWA_RS384:
	case JWA_PS384:
	case JWA_ES384:
		return (EVP_sha384());
	default:
		return (EVP_sha512());
	}
}

/* The EC curve of an ES algorithm and its field size in bytes. */
static const char *
alg_curve(enum jwt_alg a, size_t *flen)
{
	switch (a) {
	case JWA_ES256:
		*flen = 32;
		return ("prime256v1");
	case JWA_ES384:
		*flen = 48;
		return ("secp384r1");
	default:
		*flen = 66;
		return ("secp521r1");
	}
}

static int
key_fits(EVP_PKEY *pk, enum jwt_alg a, size_t *flen)
{
	char		 grp[64];
	size_t		 glen;
	const char	*want;

	if (a >= JWA_RS256 && a <= JWA_PS512)
		return (EVP_PKEY_is_a(pk, "RSA") &&
		    EVP_PKEY_get_bits(pk) >= 2048);
	want = alg_curve(a, flen);
	return (EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_group_name(pk, grp,
	    sizeof(grp), &glen) == 1 && strcmp(grp, want) == 0);
}

/* RFC 7518 3.4: JWS carries r||s; OpenSSL wants a DER ECDSA-Sig-Value. */
static int
ec_sig_der(const unsigned char *raw, size_t rawlen, size_t flen,
    unsigned char *der, size_t cap, size_t *dlen)
{
	ECDSA_SIG	*sig;
	BIGNUM		*r, *s;
	unsigned char	*p = der;
	int		 n;

	if (rawlen != 2 * flen)
		return (-1);
	if ((sig = ECDSA_SIG_new()) == NULL)
		return (-1);
	r = BN_bin2bn(raw, (int)flen, NULL);
	s = BN_bin2bn(raw + flen, (int)flen, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return (-1);
	}
	n = i2d_ECDSA_SIG(sig, NULL);
	if (n <= 0 || (size_t)n > cap) {
		ECDSA_SIG_free(sig);
		return (-1);
	}
	n = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return (-1);
	*dlen = (size_t)n;
	return (0);
}

int
jwt_verify(const struct jwt *j, EVP_PKEY *pk, const char **why)
{
	EVP_MD_CTX	*ctx;
	EVP_PKEY_CTX	*pctx = NULL;
	unsigned char	 der[160];
	const unsigned char *sig = j->j_sig;
	size_t		 siglen = j->j_siglen, flen = 0;
	int		 ok = 0;

	*why = "invalid_signature";
	if (pk == NULL || !key_fits(pk, j->j_alg, &flen)) {
		*why = "key_mismatch";
		return (-1);
	}
	if (j->j_alg >= JWA_ES256) {
		if (ec_sig_der(j->j_sig, j->j_siglen, flen, der, sizeof(der),
		    &siglen) == -1)
			return (-1);
		sig = der;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	if (EVP_DigestVerifyInit(ctx, &pctx, alg_md(j->j_alg), NULL,
	    pk) != 1)
		goto done;
	if (j->j_alg >= JWA_PS256 && j->j_alg <= JWA_PS512 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
	    1))
		goto done;
	ok = EVP_DigestVerify(ctx, sig, siglen,
	    (const unsigned char *)j->j_input, j->j_inlen) == 1;
 done:
	EVP_MD_CTX_free(ctx);
	return (ok ? 0 : -1);
}

/* A NumericDate (RFC 7519 2): a finite JSON number, in range. */
static int
numeric_date(json_t *v, int64_t *out)
{
	double	 d;

	if (!json_is_number(v))
		return (-1);
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > 1e13)
		return (-1);
	*out = (int64_t)d;
	return (0);
}

static int
aud_has(json_t *aud, const char *want)
{
	size_t	 i;
	json_t	*v;

	if (json_is_string(aud))
		return (strcmp(json_string_value(aud), want) == 0);
	if (!json_is_array(aud))
		return (0);
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v),
		    want) == 0)
			return (1);
	return (0);
}

int
jwt_check_claims(const struct jwt *j, const struct jwt_policy *p,
    int64_t now, int64_t *exp, const char **why)
{
	json_t	*c = j->j_claims, *v;
	int64_t	 t;

	*why = "token_invalid";
	if ((v = json_object_get(c, "exp")) == NULL ||
	    numeric_date(v, exp) == -1)
		return (-1);
	if (now > *exp + p->jp_skew) {
		*why = "token_expired";
		return (-1);
	}
	if ((v = json_object_get(c, "nbf")) != NULL) {
		if (numeric_date(v, &t) == -1)
			return (-1);
		if (now + p->jp_skew < t) {
			*why = "token_not_yet_valid";
			return (-1);
		}
	}
	if ((v = json_object_get(c, "iat")) != NULL) {
		if (numeric_date(v, &t) == -1)
			return (-1);
		if (now + p->jp_skew < t) {
			*why = "token_not_yet_valid";
			return (-1);
		}
	}
	if (p->jp_iss != NULL) {
		v = json_object_get(c, "iss");
		if (!json_is_string(v) || strcmp(json_string_value(v),
		    p->jp_iss) != 0) {
			*why = "invalid_issuer";
			return (-1);
		}
	}
	if (p->jp_aud != NULL && !aud_has(json_object_get(c, "aud"),
	    p->jp_aud)) {
		*why = "invalid_audience";
		return (-1);
	}
	return (0);
}
