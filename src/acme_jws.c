/*
 * acme_jws.c: the ACME helper's cryptography, all OpenSSL 3: the ECDSA
 * P-256 keys, JWS ES256 requests (RFC 8555 6.2, RFC 7515, RFC 7518 3.4),
 * JWK thumbprints for key authorizations (RFC 7638, RFC 8555 8.1), and
 * the CSR of finalize (7.4).  ACME helper only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "util.h"

char *
acme_b64url(const unsigned char *p, size_t len)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char			*o, *q;
	size_t			 i;
	uint32_t		 v;

	if ((o = q = malloc(len / 3 * 4 + 5)) == NULL)
		return (NULL);
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*q++ = a[v >> 18];
		*q++ = a[(v >> 12) & 63];
		*q++ = a[(v >> 6) & 63];
		*q++ = a[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		*q++ = a[v >> 18];
		*q++ = a[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*q++ = a[v >> 18];
		*q++ = a[(v >> 12) & 63];
		*q++ = a[(v >> 6) & 63];
	}
	*q = '\0';
	return (o);
}

EVP_PKEY *
acme_key_new(void)
{
	return (EVP_EC_gen("P-256"));
}

/* The public point's coordinates, 32 bytes each (RFC 7518 6.2.1.2). */
static int
coords(EVP_PKEY *key, unsigned char x[32], unsigned char y[32])
{
	BIGNUM	*bx = NULL, *by = NULL;
	int	 ok;

	ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) &&
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) &&
	    BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32;
	BN_free(bx);
	BN_free(by);
	return (ok ? 0 : -1);
}

char *
acme_jwk(EVP_PKEY *key)
{
	unsigned char	 x[32], y[32];
	char		*bx, *by, *j = NULL;
	size_t		 n;

	if (coords(key, x, y) == -1)
		return (NULL);
	bx = acme_b64url(x, 32);
	by = acme_b64url(y, 32);
	/* RFC 7638 3.2: required members only, sorted, no spaces. */
	if (bx != NULL && by != NULL) {
		n = strlen(bx) + strlen(by) + 64;
		if ((j = malloc(n)) != NULL)
			snprintf(j, n, "{\"crv\":\"P-256\",\"kty\":\"EC\","
			    "\"x\":\"%s\",\"y\":\"%s\"}", bx, by);
	}
	free(bx);
	free(by);
	return (j);
}

char *
acme_thumbprint(EVP_PKEY *key)
{
	unsigned char	 md[32];
	char		*j;

	if ((j = acme_jwk(key)) == NULL)
		return (NULL);
	if (util_sha256(j, strlen(j), md) == -1) {
		free(j);
		return (NULL);
	}
	free(j);
	return (acme_b64url(md, sizeof(md)));
}

/* ES256 over in: the raw r || s of RFC 7518 3.4, base64url. */
static char *
sign_es256(EVP_PKEY *key, const char *in)
{
	EVP_MD_CTX	*md;
	ECDSA_SIG	*sig = NULL;
	unsigned char	 der[80], raw[64];
	const unsigned char *p = der;
	size_t		 dlen = sizeof(der);
	char		*out = NULL;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return (NULL);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dlen, (const unsigned char *)in,
	    strlen(in)) != 1 ||
	    (sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
		goto out;
	out = acme_b64url(raw, sizeof(raw));
 out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return (out);
}

char *
acme_jws(EVP_PKEY *key, const char *kid, const char *nonce,
    const char *url, const char *payload)
{
	char	*jwk = NULL, *hdr = NULL, *ph = NULL, *pp = NULL;
	char	*in = NULL, *sig = NULL, *out = NULL;
	size_t	 n;

	if (kid == NULL && (jwk = acme_jwk(key)) == NULL)
		goto out;
	/* nonce and url come from the CA and our config: JSON-safe, since
	   the parsers keep only URLs without quotes or controls, and the
	   nonce is checked by the caller. */
	n = strlen(nonce) + strlen(url) + (kid ? strlen(kid) : strlen(jwk)) +
	    64;
	if ((hdr = malloc(n)) == NULL)
		goto out;
	if (kid != NULL)
		snprintf(hdr, n, "{\"alg\":\"ES256\",\"kid\":\"%s\","
		    "\"nonce\":\"%s\",\"url\":\"%s\"}", kid, nonce, url);
	else
		snprintf(hdr, n, "{\"alg\":\"ES256\",\"jwk\":%s,"
		    "\"nonce\":\"%s\",\"url\":\"%s\"}", jwk, nonce, url);
	if ((ph = acme_b64url((const unsigned char *)hdr, strlen(hdr))) ==
	    NULL || (pp = acme_b64url((const unsigned char *)payload,
	    strlen(payload))) == NULL)
		goto out;
	n = strlen(ph) + strlen(pp) + 2;
	if ((in = malloc(n)) == NULL)
		goto out;
	snprintf(in, n, "%s.%s", ph, pp);
	if ((sig = sign_es256(key, in)) == NULL)
		goto out;
	n = strlen(ph) + strlen(pp) + strlen(sig) + 64;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "{\"protected\":\"%s\",\"payload\":\"%s\","
		    "\"signature\":\"%s\"}", ph, pp, sig);
 out:
	free(jwk);
	free(hdr);
	free(ph);
	free(pp);
	free(in);
	free(sig);
	return (out);
}

char *
acme_csr(const char *domain, EVP_PKEY *key)
{
	X509_REQ			*req;
	X509_NAME			*nm;
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	X509_EXTENSION			*e;
	unsigned char			*der = NULL;
	char				 san[300], *out = NULL;
	int				 n;

	if (snprintf(san, sizeof(san), "DNS:%s", domain) >= (int)sizeof(san))
		return (NULL);
	if ((req = X509_REQ_new()) == NULL)
		return (NULL);
	nm = X509_REQ_get_subject_name(req);
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)domain, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san))
	    == NULL)
		goto out;
	if (!sk_X509_EXTENSION_push(exts, e)) {
		X509_EXTENSION_free(e);
		goto out;
	}
	if (!X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_sign(req, key, EVP_sha256()) ||
	    (n = i2d_X509_REQ(req, &der)) <= 0)
		goto out;
	out = acme_b64url(der, (size_t)n);
 out:
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return (out);
}
