/*
 * test_acme.c: the ACME client's pure parts: the CA's JSON objects
 * (acme_json.c), base64url, JWK thumbprints, JWS ES256 signatures checked
 * back with OpenSSL, the CSR (acme_jws.c), the renewal schedule and
 * back-off (acme_helper.c), and the challenge/certificate page
 * (certpage.c).  The protocol end to end runs against pebble in
 * tests/integ/test_acme.py.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <jansson.h>

#include "acme.h"
#include "certpage.h"

#define S(x)	x, strlen(x)

START_TEST(t_b64url)
{
	char	*s;

	/* RFC 4648 10, in the URL alphabet and without padding. */
	s = acme_b64url((const unsigned char *)"foob", 4);
	ck_assert_str_eq(s, "Zm9vYg");
	free(s);
	s = acme_b64url((const unsigned char *)"fooba", 5);
	ck_assert_str_eq(s, "Zm9vYmE");
	free(s);
	s = acme_b64url((const unsigned char *)"foobar", 6);
	ck_assert_str_eq(s, "Zm9vYmFy");
	free(s);
	s = acme_b64url((const unsigned char *)"\xfb\xff", 2);
	ck_assert_str_eq(s, "-_8");
	free(s);
	s = acme_b64url((const unsigned char *)"", 0);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(t_directory)
{
	struct acme_dir	 d;

	ck_assert_int_eq(acme_parse_directory(S("{\"newNonce\":"
	    "\"https://ca/nonce\",\"newAccount\":\"https://ca/acct\","
	    "\"newOrder\":\"https://ca/order\",\"meta\":{}}"), &d), 0);
	ck_assert_str_eq(d.ad_new_nonce, "https://ca/nonce");
	ck_assert_str_eq(d.ad_new_order, "https://ca/order");
	acme_dir_free(&d);
	/* Missing member, a URL with a quote, not an object, not JSON. */
	ck_assert_int_eq(acme_parse_directory(S("{\"newNonce\":"
	    "\"https://ca/n\",\"newAccount\":\"https://ca/a\"}"), &d), -1);
	ck_assert_int_eq(acme_parse_directory(S("{\"newNonce\":"
	    "\"https://ca/n\\\"\",\"newAccount\":\"https://ca/a\","
	    "\"newOrder\":\"https://ca/o\"}"), &d), -1);
	ck_assert_int_eq(acme_parse_directory(S("{\"newNonce\":"
	    "\"file:///etc/passwd\",\"newAccount\":\"https://ca/a\","
	    "\"newOrder\":\"https://ca/o\"}"), &d), -1);
	ck_assert_int_eq(acme_parse_directory(S("[1]"), &d), -1);
	ck_assert_int_eq(acme_parse_directory(S("{"), &d), -1);
	ck_assert_ptr_null(d.ad_new_nonce);
}
END_TEST

START_TEST(t_order)
{
	struct acme_order	 o;

	ck_assert_int_eq(acme_parse_order(S("{\"status\":\"pending\","
	    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example\"}],"
	    "\"authorizations\":[\"https://ca/authz/1\","
	    "\"https://ca/authz/2\"],"
	    "\"finalize\":\"https://ca/fin\"}"), &o), 0);
	ck_assert_int_eq(o.ao_status, AS_PENDING);
	ck_assert_uint_eq(o.ao_nauthz, 2);
	ck_assert_str_eq(o.ao_authz[1], "https://ca/authz/2");
	ck_assert_ptr_null(o.ao_certificate);
	acme_order_free(&o);
	/* valid needs its certificate URL */
	ck_assert_int_eq(acme_parse_order(S("{\"status\":\"valid\","
	    "\"authorizations\":[\"https://ca/a\"],\"finalize\":"
	    "\"https://ca/f\"}"), &o), -1);
	ck_assert_int_eq(acme_parse_order(S("{\"status\":\"valid\","
	    "\"authorizations\":[\"https://ca/a\"],\"finalize\":"
	    "\"https://ca/f\",\"certificate\":\"https://ca/c\"}"), &o), 0);
	ck_assert_int_eq(o.ao_status, AS_VALID);
	acme_order_free(&o);
	/* an unknown status, a non-URL authorization, none at all */
	ck_assert_int_eq(acme_parse_order(S("{\"status\":\"bogus\","
	    "\"authorizations\":[\"https://ca/a\"],\"finalize\":"
	    "\"https://ca/f\"}"), &o), -1);
	ck_assert_int_eq(acme_parse_order(S("{\"status\":\"ready\","
	    "\"authorizations\":[\"https://ca/a\",7],\"finalize\":"
	    "\"https://ca/f\"}"), &o), -1);
	ck_assert_int_eq(acme_parse_order(S("{\"status\":\"ready\","
	    "\"authorizations\":[],\"finalize\":\"https://ca/f\"}"), &o), -1);
}
END_TEST

START_TEST(t_authz)
{
	struct acme_authz	 a;

	ck_assert_int_eq(acme_parse_authz(S("{\"status\":\"pending\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
	    "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca/c/0\","
	    "\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},{\"type\":\"http-01\","
	    "\"url\":\"https://ca/c/1\",\"status\":\"pending\",\"token\":"
	    "\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}]}"), &a), 0);
	ck_assert_int_eq(a.az_status, AS_PENDING);
	ck_assert_str_eq(a.az_domain, "a.example");
	ck_assert_str_eq(a.az_http_url, "https://ca/c/1");
	ck_assert_str_eq(a.az_http_token,
	    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");
	acme_authz_free(&a);
	/* The challenge's problem comes along, printable only. */
	ck_assert_int_eq(acme_parse_authz(S("{\"status\":\"invalid\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
	    "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca/c\","
	    "\"status\":\"invalid\",\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	    "\"error\":{\"type\":\"urn:x:connection\",\"detail\":"
	    "\"refused\\n\"}}]}"), &a), 0);
	ck_assert_str_eq(a.az_http_error, "urn:x:connection: refused?");
	acme_authz_free(&a);
	/* A token that could leave the URL path: the challenge is dropped
	   and so the authorization refused. */
	ck_assert_int_eq(acme_parse_authz(S("{\"status\":\"pending\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
	    "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca/c\","
	    "\"token\":\"../../../../etc/passwdAAAAAAAAAA\"}]}"), &a), -1);
	/* No http-01 offered: parsed, with no URL (the client says so). */
	ck_assert_int_eq(acme_parse_authz(S("{\"status\":\"pending\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},"
	    "\"challenges\":[]}"), &a), 0);
	ck_assert_ptr_null(a.az_http_url);
	acme_authz_free(&a);
	ck_assert_int_eq(acme_parse_authz(S("{\"status\":\"pending\"}"), &a),
	    -1);
}
END_TEST

START_TEST(t_problem)
{
	struct acme_problem	 p;

	ck_assert_int_eq(acme_parse_problem(S("{\"type\":"
	    "\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"old\"}"),
	    &p), 0);
	ck_assert_str_eq(p.ap_type, "urn:ietf:params:acme:error:badNonce");
	ck_assert_str_eq(p.ap_detail, "old");
	acme_problem_free(&p);
	ck_assert_int_eq(acme_parse_problem(S("{\"detail\":\"x\"}"), &p), -1);
	ck_assert_int_eq(acme_parse_problem(S("not json"), &p), -1);
}
END_TEST

/* base64url back to bytes (test only). */
static unsigned char *
unb64url(const char *s, size_t *len)
{
	size_t		 n = strlen(s), i, o = 0;
	unsigned char	*out = malloc(n + 1);
	uint32_t	 acc = 0;
	int		 bits = 0;
	const char	*a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_";

	for (i = 0; i < n; i++) {
		acc = acc << 6 | (uint32_t)(strchr(a, s[i]) - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*len = o;
	return (out);
}

START_TEST(t_jws_verifies)
{
	EVP_PKEY	*k = acme_key_new();
	json_t		*j, *h;
	char		*jws, *in, *tp, *jwk;
	const char	*ph, *pp, *sg;
	unsigned char	*raw, *der = NULL, *hdr;
	size_t		 rl, hl;
	ECDSA_SIG	*sig;
	EVP_MD_CTX	*md;
	int		 dl;

	ck_assert_ptr_nonnull(k);
	jws = acme_jws(k, NULL, "nonce1", "https://ca/acct", "{\"a\":1}");
	ck_assert_ptr_nonnull(jws);
	j = json_loads(jws, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ph = json_string_value(json_object_get(j, "protected"));
	pp = json_string_value(json_object_get(j, "payload"));
	sg = json_string_value(json_object_get(j, "signature"));
	ck_assert_str_eq(pp, "eyJhIjoxfQ");
	hdr = unb64url(ph, &hl);
	hdr[hl] = '\0';
	h = json_loads((char *)hdr, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(h, "alg")),
	    "ES256");
	ck_assert_str_eq(json_string_value(json_object_get(h, "nonce")),
	    "nonce1");
	ck_assert_ptr_nonnull(json_object_get(h, "jwk"));
	ck_assert_ptr_null(json_object_get(h, "kid"));
	json_decref(h);
	free(hdr);
	/* r || s, 64 bytes, verifies over "protected.payload" */
	raw = unb64url(sg, &rl);
	ck_assert_uint_eq(rl, 64);
	sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32,
	    NULL));
	dl = i2d_ECDSA_SIG(sig, &der);
	ck_assert_int_gt(dl, 0);
	in = malloc(strlen(ph) + strlen(pp) + 2);
	sprintf(in, "%s.%s", ph, pp);
	md = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    k), 1);
	ck_assert_int_eq(EVP_DigestVerify(md, der, (size_t)dl,
	    (unsigned char *)in, strlen(in)), 1);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(sig);
	OPENSSL_free(der);
	free(in);
	free(raw);
	json_decref(j);
	free(jws);
	/* with a kid, no jwk */
	jws = acme_jws(k, "https://ca/acct/1", "n2", "https://ca/o", "");
	j = json_loads(jws, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "payload")),
	    "");
	hdr = unb64url(json_string_value(json_object_get(j, "protected")),
	    &hl);
	hdr[hl] = '\0';
	ck_assert_ptr_nonnull(strstr((char *)hdr,
	    "\"kid\":\"https://ca/acct/1\""));
	ck_assert_ptr_null(strstr((char *)hdr, "jwk"));
	free(hdr);
	json_decref(j);
	free(jws);
	/* RFC 7638: the thumbprint hashes the JWK with sorted members */
	jwk = acme_jwk(k);
	ck_assert(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"",
	    31) == 0);
	tp = acme_thumbprint(k);
	ck_assert_uint_eq(strlen(tp), 43);
	free(tp);
	free(jwk);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(t_csr)
{
	EVP_PKEY	*k = acme_key_new();
	char		*csr = acme_csr("a.example", k);
	unsigned char	*der;
	const unsigned char *p;
	size_t		 n;
	X509_REQ	*r;
	EVP_PKEY	*pub;

	ck_assert_ptr_nonnull(csr);
	der = unb64url(csr, &n);
	p = der;
	r = d2i_X509_REQ(NULL, &p, (long)n);
	ck_assert_ptr_nonnull(r);
	pub = X509_REQ_get_pubkey(r);
	ck_assert_int_eq(X509_REQ_verify(r, pub), 1);
	ck_assert_int_eq(EVP_PKEY_eq(pub, k), 1);
	EVP_PKEY_free(pub);
	X509_REQ_free(r);
	free(der);
	free(csr);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(t_schedule)
{
	/* 90 days: at 60 days, minus up to 3 days of jitter */
	ck_assert_int_eq(acme_renew_at(0, 90 * 86400, 0), 60 * 86400);
	ck_assert_int_eq(acme_renew_at(0, 90 * 86400, 0.999999),
	    60 * 86400 - 3 * 86400 + 1);
	ck_assert_int_eq(acme_renew_at(1000, 1030, 0), 1020);
	ck_assert_int_eq(acme_renew_at(1000, 1000, 0.5), 1000);
	ck_assert_uint_eq(acme_backoff(1, 0), 30);
	ck_assert_uint_eq(acme_backoff(2, 0), 60);
	ck_assert_uint_eq(acme_backoff(3, 0.5), 120 + 6);
	ck_assert_uint_eq(acme_backoff(40, 0), 6 * 3600);
	ck_assert_uint_eq(acme_backoff(1000, 0.999), 6 * 3600 + 2157);
}
END_TEST

START_TEST(t_certpage)
{
	char		 out[CP_KEYAUTH_MAX + 1], *pem;
	uint32_t	 g0, gen;
	size_t		 len;

	ck_assert_int_eq(certpage_challenge("tok", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(certpage_init(), 0);
	ck_assert_int_eq(certpage_active(), 1);
	ck_assert_int_eq(certpage_challenge_set("tokA", "tokA.thumb"), 0);
	ck_assert_int_eq(certpage_challenge_set("tokB", "tokB.thumb"), 0);
	ck_assert_int_eq(certpage_challenge("tokA", 4, out, sizeof(out)), 10);
	ck_assert_str_eq(out, "tokA.thumb");
	/* a prefix or an extension of a token is no match */
	ck_assert_int_eq(certpage_challenge("tok", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(certpage_challenge("tokAx", 5, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(certpage_challenge_set("tokA", NULL), 0);
	ck_assert_int_eq(certpage_challenge("tokA", 4, out, sizeof(out)), -1);
	ck_assert_int_eq(certpage_challenge("tokB", 4, out, sizeof(out)), 10);
	certpage_challenge_clear();
	ck_assert_int_eq(certpage_challenge("tokB", 4, out, sizeof(out)), -1);
	g0 = certpage_cert_gen();
	ck_assert_ptr_null(certpage_cert_copy(&len, &gen));
	ck_assert_int_eq(certpage_cert_set("PEM", 3), 0);
	ck_assert_uint_eq(certpage_cert_gen(), g0 + 1);
	pem = certpage_cert_copy(&len, &gen);
	ck_assert_str_eq(pem, "PEM");
	ck_assert_uint_eq(gen, g0 + 1);
	free(pem);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("acme");
	TCase	*tc = tcase_create("acme");
	SRunner	*sr;
	int	 nf;

	tcase_add_test(tc, t_b64url);
	tcase_add_test(tc, t_directory);
	tcase_add_test(tc, t_order);
	tcase_add_test(tc, t_authz);
	tcase_add_test(tc, t_problem);
	tcase_add_test(tc, t_jws_verifies);
	tcase_add_test(tc, t_csr);
	tcase_add_test(tc, t_schedule);
	tcase_add_test(tc, t_certpage);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
