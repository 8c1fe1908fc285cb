/*
 * fuzz_jwt.c: libFuzzer target for src/jwt.c and src/jwks.c (tokens from
 * clients, key sets and discovery documents from the network), also
 * driven by replay_main.c under make check.  The first byte picks what
 * the rest is fed to:
 *   0: a token: jwt_decode, then claims and a signature check against a
 *      fixed P-256 key and a fixed RSA key; the signing input must be
 *      the token up to its second '.';
 *   1: a JWKS document: jwks_parse; every key it hands on must read back
 *      with jwks_der_key;
 *   2: an OIDC discovery document: jwks_discovery_uri; the URI must be
 *      NUL-terminated, http(s);
 *   3: base64url: a decoded string re-encodes to the input (strict form).
 * A failed property abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jwt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static EVP_PKEY	*eckey, *rsakey;

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
key_cb(void *arg, const char *kid, enum jwt_alg alg,
    const unsigned char *der, size_t derlen)
{
	EVP_PKEY	*pk;

	(void)arg;
	check(kid != NULL && strlen(kid) > 0 && strlen(kid) <= JWT_KID_MAX);
	check(alg < JWA__COUNT);
	pk = jwks_der_key(der, derlen);
	check(pk != NULL);
	EVP_PKEY_free(pk);
	return (0);
}

static void
one_token(const char *p, size_t n)
{
	struct jwt		 j;
	struct jwt_policy	 pol = { "iss", "aud", 30 };
	const char		*why = NULL;
	int64_t			 exp;

	if (jwt_decode(p, n, &j, &why) == -1) {
		check(why != NULL && j.j_header == NULL && j.j_claims == NULL);
		return;
	}
	check(j.j_alg > JWA_NONE && j.j_alg < JWA__COUNT);
	check(j.j_input == p && j.j_inlen < n && p[j.j_inlen] == '.');
	check(j.j_siglen > 0 && j.j_siglen <= sizeof(j.j_sig));
	(void)jwt_check_claims(&j, &pol, 1700000000, &exp, &why);
	(void)jwt_verify(&j, eckey, &why);
	(void)jwt_verify(&j, rsakey, &why);
	jwt_free(&j);
}

static void
b64_roundtrip(const char *p, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	unsigned char	 out[8192];
	char		 enc[8192 * 2];
	size_t		 olen, i, e = 0;
	uint32_t	 v;

	if (n > 8192 || jwt_b64url_decode(p, n, out, sizeof(out), &olen) == -1)
		return;
	for (i = 0; i + 3 <= olen; i += 3) {
		v = (uint32_t)out[i] << 16 | (uint32_t)out[i + 1] << 8 |
		    out[i + 2];
		enc[e++] = a[v >> 18];
		enc[e++] = a[(v >> 12) & 63];
		enc[e++] = a[(v >> 6) & 63];
		enc[e++] = a[v & 63];
	}
	if (olen - i == 1) {
		enc[e++] = a[out[i] >> 2];
		enc[e++] = a[(out[i] & 3) << 4];
	} else if (olen - i == 2) {
		v = (uint32_t)out[i] << 8 | out[i + 1];
		enc[e++] = a[v >> 10];
		enc[e++] = a[(v >> 4) & 63];
		enc[e++] = a[(v & 15) << 2];
	}
	check(e == n && memcmp(enc, p, n) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char		*p, uri[512];
	const char	*why;
	size_t		 n;

	if (eckey == NULL) {
		eckey = EVP_EC_gen("P-256");
		rsakey = EVP_RSA_gen(2048);
		check(eckey != NULL && rsakey != NULL);
	}
	if (len == 0)
		return (0);
	n = len - 1;
	/* An exact-size copy, so reading past the end is caught. */
	if ((p = malloc(n ? n : 1)) == NULL)
		return (0);
	memcpy(p, data + 1, n);
	switch (data[0] & 3) {
	case 0:
		one_token(p, n);
		break;
	case 1:
		(void)jwks_parse(p, n, key_cb, NULL, &why);
		break;
	case 2:
		if (jwks_discovery_uri(p, n, 0, uri, sizeof(uri)) == 0)
			check(strlen(uri) < sizeof(uri) &&
			    (strncmp(uri, "http://", 7) == 0 ||
			    strncmp(uri, "https://", 8) == 0));
		break;
	default:
		b64_roundtrip(p, n);
		break;
	}
	free(p);
	return (0);
}
