/*
 * test_jwt.c: strict base64url, JWS decoding (alg, crit, kid, segment
 * shapes), signature checks with keys of the right and the wrong type
 * (RS256, PS256, ES256 with raw r||s), registered claims with the skew,
 * JWKS and discovery parsing, the shm jwks records, and the auth stage's
 * public-path and claim-header rules.
 */
#include <sys/stat.h>

/* libcheck has a CK_ERROR of its own; keep enum chunk_rc's. */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#undef CK_ERROR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "auth.h"
#include "jwt.h"
#include "shm.h"

#define NOW	1700000000

static EVP_PKEY	*rsa, *ec;

static void
b64u(const unsigned char *in, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t	 i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = a[v >> 10];
		out[o++] = a[(v >> 4) & 63];
		out[o++] = a[(v & 15) << 2];
	}
	out[o] = '\0';
}

/* A token: header and claims JSON, signed with pk as alg says. */
static char *
mk(const char *hdr, const char *claims, EVP_PKEY *pk, const char *alg)
{
	static char	 tok[8192];
	unsigned char	 sig[1024], raw[132];
	size_t		 slen = sizeof(sig), n;
	EVP_MD_CTX	*ctx;
	EVP_PKEY_CTX	*pctx;
	ECDSA_SIG	*es;
	const unsigned char *p = sig;

	b64u((const unsigned char *)hdr, strlen(hdr), tok);
	n = strlen(tok);
	tok[n++] = '.';
	b64u((const unsigned char *)claims, strlen(claims), tok + n);
	n = strlen(tok);
	ctx = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL,
	    pk), 1);
	if (alg[0] == 'P') {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
	}
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &slen,
	    (unsigned char *)tok, n), 1);
	EVP_MD_CTX_free(ctx);
	tok[n++] = '.';
	if (alg[0] == 'E') {
		es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
		ck_assert_ptr_nonnull(es);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
		ECDSA_SIG_free(es);
		b64u(raw, 64, tok + n);
	} else
		b64u(sig, slen, tok + n);
	return (tok);
}

#define CLAIMS	"{\"sub\":\"u\",\"iss\":\"I\",\"aud\":\"A\",\"exp\":1700000600}"

static void
setup(void)
{
	if (rsa == NULL) {
		rsa = EVP_RSA_gen(2048);
		ec = EVP_EC_gen("P-256");
	}
}

START_TEST(t_b64url)
{
	unsigned char	 out[64];
	size_t		 n;

	ck_assert_int_eq(jwt_b64url_decode("SGk", 3, out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(memcmp(out, "Hi", 2), 0);
	ck_assert_int_eq(jwt_b64url_decode("-_8", 3, out, sizeof(out), &n), 0);
	ck_assert_uint_eq(out[0], 0xfb);
	/* Padding, the standard alphabet, whitespace, a lone sextet. */
	ck_assert_int_eq(jwt_b64url_decode("SGk=", 4, out, 64, &n), -1);
	ck_assert_int_eq(jwt_b64url_decode("+/8", 3, out, 64, &n), -1);
	ck_assert_int_eq(jwt_b64url_decode("SG k", 4, out, 64, &n), -1);
	ck_assert_int_eq(jwt_b64url_decode("SGkxS", 5, out, 64, &n), -1);
	/* Non-zero leftover bits: "SGl" is not canonical for "Hi". */
	ck_assert_int_eq(jwt_b64url_decode("SGl", 3, out, 64, &n), -1);
	/* Too small an output. */
	ck_assert_int_eq(jwt_b64url_decode("SGVsbG8", 7, out, 4, &n), -1);
}
END_TEST

START_TEST(t_decode_shapes)
{
	struct jwt	 j;
	const char	*why;
	char		*t;

	t = mk("{\"alg\":\"RS256\",\"kid\":\"k\"}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), 0);
	ck_assert_int_eq(j.j_alg, JWA_RS256);
	ck_assert_str_eq(j.j_kid, "k");
	ck_assert_int_eq(jwt_verify(&j, rsa, &why), 0);
	/* The wrong key type for the algorithm. */
	ck_assert_int_eq(jwt_verify(&j, ec, &why), -1);
	ck_assert_str_eq(why, "key_mismatch");
	jwt_free(&j);
	/* A lone sextet after the cut: not base64url at all. */
	ck_assert_int_eq(jwt_decode(t, strlen(t) - 1, &j, &why), -1);
	t[strlen(t) - 10] ^= t[strlen(t) - 10] == 'A' ? 3 : 1;
	if (jwt_decode(t, strlen(t), &j, &why) == 0) {
		ck_assert_int_eq(jwt_verify(&j, rsa, &why), -1);
		ck_assert_str_eq(why, "invalid_signature");
		jwt_free(&j);
	}
	t = mk("{\"alg\":\"none\"}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), -1);
	ck_assert_str_eq(why, "alg_not_allowed");
	t = mk("{\"alg\":\"HS256\"}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), -1);
	t = mk("{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), -1);
	ck_assert_str_eq(why, "crit_unsupported");
	t = mk("{\"alg\":\"RS256\",\"alg\":\"RS256\"}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), -1);
	t = mk("{\"alg\":\"RS256\",\"kid\":5}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), -1);
	ck_assert_int_eq(jwt_decode("a.b.c.d", 7, &j, &why), -1);
	ck_assert_int_eq(jwt_decode("..", 2, &j, &why), -1);
	ck_assert_int_eq(jwt_decode("", 0, &j, &why), -1);
}
END_TEST

START_TEST(t_algs)
{
	struct jwt	 j;
	const char	*why;
	char		*t;

	t = mk("{\"alg\":\"ES256\"}", CLAIMS, ec, "ES256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), 0);
	ck_assert_int_eq(jwt_verify(&j, ec, &why), 0);
	ck_assert_int_eq(jwt_verify(&j, rsa, &why), -1);
	jwt_free(&j);
	t = mk("{\"alg\":\"PS256\"}", CLAIMS, rsa, "PS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), 0);
	ck_assert_int_eq(jwt_verify(&j, rsa, &why), 0);
	jwt_free(&j);
	/* A PKCS#1 v1.5 signature presented as PS256 fails. */
	t = mk("{\"alg\":\"PS256\"}", CLAIMS, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, &why), 0);
	ck_assert_int_eq(jwt_verify(&j, rsa, &why), -1);
	jwt_free(&j);
	ck_assert_int_eq(jwt_alg_id("RS256"), JWA_RS256);
	ck_assert_int_eq(jwt_alg_id("rs256"), JWA_NONE);
	ck_assert_int_eq(jwt_alg_id("HS256"), JWA_NONE);
}
END_TEST

static int
claims_rc(const char *claims, const char **why)
{
	struct jwt		 j;
	struct jwt_policy	 p = { "I", "A", 30 };
	int64_t			 exp;
	char			*t;
	int			 rc;

	t = mk("{\"alg\":\"RS256\"}", claims, rsa, "RS256");
	ck_assert_int_eq(jwt_decode(t, strlen(t), &j, why), 0);
	rc = jwt_check_claims(&j, &p, NOW, &exp, why);
	jwt_free(&j);
	return (rc);
}

START_TEST(t_claims)
{
	const char	*why;

	ck_assert_int_eq(claims_rc(CLAIMS, &why), 0);
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":[\"x\",\"A\"],"
	    "\"exp\":1699999975}", &why), 0);	/* within the skew */
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":\"A\","
	    "\"exp\":1699999969}", &why), -1);
	ck_assert_str_eq(why, "token_expired");
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":\"A\"}", &why), -1);
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":\"A\","
	    "\"exp\":\"1700000600\"}", &why), -1);
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":\"A\","
	    "\"exp\":1700000600,\"nbf\":1700000031}", &why), -1);
	ck_assert_str_eq(why, "token_not_yet_valid");
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":\"A\","
	    "\"exp\":1700000600,\"nbf\":1700000029}", &why), 0);
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":\"A\","
	    "\"exp\":1700000600,\"iat\":1700000100}", &why), -1);
	ck_assert_int_eq(claims_rc("{\"iss\":\"J\",\"aud\":\"A\","
	    "\"exp\":1700000600}", &why), -1);
	ck_assert_str_eq(why, "invalid_issuer");
	ck_assert_int_eq(claims_rc("{\"iss\":\"I\",\"aud\":[\"B\"],"
	    "\"exp\":1700000600}", &why), -1);
	ck_assert_str_eq(why, "invalid_audience");
}
END_TEST

static int	 nkeys;

static int
count_key(void *arg, const char *kid, enum jwt_alg alg,
    const unsigned char *der, size_t len)
{
	EVP_PKEY	*pk = jwks_der_key(der, len);

	(void)arg;
	(void)alg;
	ck_assert_ptr_nonnull(pk);
	ck_assert_ptr_nonnull(kid);
	EVP_PKEY_free(pk);
	nkeys++;
	return (0);
}

START_TEST(t_jwks)
{
	unsigned char	 x[66], y[66];
	char		 bx[100], by[100], doc[1024], uri[128];
	size_t		 xl = 0, yl = 0;
	const char	*why;

	{
		BIGNUM	*bnx = NULL, *bny = NULL;

		ck_assert_int_eq(EVP_PKEY_get_bn_param(ec,
		    OSSL_PKEY_PARAM_EC_PUB_X, &bnx), 1);
		ck_assert_int_eq(EVP_PKEY_get_bn_param(ec,
		    OSSL_PKEY_PARAM_EC_PUB_Y, &bny), 1);
		BN_bn2binpad(bnx, x, 32);
		BN_bn2binpad(bny, y, 32);
		BN_free(bnx);
		BN_free(bny);
		xl = yl = 32;
	}
	b64u(x, xl, bx);
	b64u(y, yl, by);
	snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"e\","
	    "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
	    "{\"kty\":\"EC\",\"kid\":\"enc\",\"use\":\"enc\",\"crv\":\"P-256\","
	    "\"x\":\"%s\",\"y\":\"%s\"},"
	    "{\"kty\":\"EC\",\"kid\":\"off\",\"crv\":\"P-256\",\"x\":\"%s\","
	    "\"y\":\"%s\"},{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"AA\"},"
	    "{\"kty\":\"RSA\",\"kid\":\"small\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"
	    "]}", bx, by, bx, by, by, bx);
	nkeys = 0;
	/* Only the first: enc use, a point off the curve, oct, 16-bit n. */
	ck_assert_int_eq(jwks_parse(doc, strlen(doc), count_key, NULL, &why),
	    1);
	ck_assert_int_eq(nkeys, 1);
	ck_assert_int_eq(jwks_parse("[]", 2, count_key, NULL, &why), -1);
	ck_assert_int_eq(jwks_parse("{\"keys\":{}}", 11, count_key, NULL,
	    &why), -1);
	ck_assert_int_eq(jwks_discovery_uri("{\"jwks_uri\":\"https://i/k\"}",
	    26, 0, uri, sizeof(uri)), 0);
	ck_assert_str_eq(uri, "https://i/k");
	ck_assert_int_eq(jwks_discovery_uri("{\"jwks_uri\":\"https://i/k\"}",
	    26, 1, uri, sizeof(uri)), 0);
	ck_assert_int_eq(jwks_discovery_uri("{\"jwks_uri\":\"file:///x\"}",
	    24, 0, uri, sizeof(uri)), -1);
	/* An https issuer naming an http jwks_uri: a downgrade. */
	ck_assert_int_eq(jwks_discovery_uri("{\"jwks_uri\":\"http://i/k\"}",
	    25, 0, uri, sizeof(uri)), 0);
	ck_assert_int_eq(jwks_discovery_uri("{\"jwks_uri\":\"http://i/k\"}",
	    25, 1, uri, sizeof(uri)), -1);
}
END_TEST

START_TEST(t_shm_jwks)
{
	char		 dir[] = "/tmp/vwjwksXXXXXX";
	const char	*err;
	struct shm	*h;
	struct shm_jwks_meta m;
	struct shm_kv	 kv[2] = {
		{ "ka", 2, "1", 1 }, { "kb", 2, "22", 2 }
	};
	char		 buf[16], path[64];
	size_t		 n;
	int		 set;
	uint64_t	 w;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	h = shm_open(dir, 1 << 20, SHM_CREATE, &err);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(shm_jwks_meta(h, &m), SHM_OK);
	ck_assert_uint_eq(m.jm_gen, 0);
	ck_assert_int_eq(shm_jwks_replace(h, kv, 2, 1000, NULL), SHM_OK);
	ck_assert_int_eq(shm_jwks_key(h, "kb", 2, buf, sizeof(buf), &n),
	    SHM_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(shm_jwks_replace(h, kv, 1, 2000, NULL), SHM_OK);
	ck_assert_int_eq(shm_jwks_key(h, "kb", 2, buf, sizeof(buf), &n), 1);
	ck_assert_int_eq(shm_jwks_meta(h, &m), SHM_OK);
	ck_assert_uint_eq(m.jm_gen, 2);
	ck_assert_uint_eq(m.jm_nkeys, 1);
	/* Refresh requests: at most one per gap. */
	ck_assert_int_eq(shm_jwks_want(h, 5000, 10000, &set), SHM_OK);
	ck_assert_int_eq(set, 1);
	ck_assert_int_eq(shm_jwks_want(h, 9000, 10000, &set), SHM_OK);
	ck_assert_int_eq(set, 0);
	ck_assert_int_eq(shm_jwks_want(h, 15001, 10000, &set), SHM_OK);
	ck_assert_int_eq(set, 1);
	ck_assert_int_eq(shm_jwks_wanted(h, &w), SHM_OK);
	ck_assert_uint_eq(w, 15001);
	/* The control records survive a replace. */
	ck_assert_int_eq(shm_jwks_replace(h, kv, 2, 3000, NULL), SHM_OK);
	ck_assert_int_eq(shm_jwks_wanted(h, &w), SHM_OK);
	ck_assert_uint_eq(w, 15001);
	shm_close(h);
	shm_file(dir, 0, path, sizeof(path));
	unlink(path);
	shm_file(dir, 1, path, sizeof(path));
	unlink(path);
	rmdir(dir);
}
END_TEST

static struct vw_str
S(const char *s)
{
	struct vw_str	 v = { s, strlen(s) };

	return (v);
}

START_TEST(t_public_paths)
{
	static char	*pp[] = { "/public/*", "/health", "/a/*/c", "/*.css" };
	static char	*ck[] = { "sub", "role" };
	static char	*cv[] = { "X-User-Id", "X-Role" };
	struct config	 cf;
	struct arena	 a;
	static char	 buf[4096];

	arena_init(&a, buf, sizeof(buf));
	memset(&cf, 0, sizeof(cf));
	cf.auth.mode = AUTH_JWT;
	cf.auth.public_paths.v = pp;
	cf.auth.public_paths.n = 4;
	ck_assert(auth_public_path(&cf, &a, S("/public/a.css")));
	ck_assert(auth_public_path(&cf, &a, S("/public/css/a.css")));
	ck_assert(auth_public_path(&cf, &a, S("/health")));
	ck_assert(auth_public_path(&cf, &a, S("/a/b/c")));
	ck_assert(auth_public_path(&cf, &a, S("/_vibewarden/x")));
	ck_assert(!auth_public_path(&cf, &a, S("/public")));
	ck_assert(!auth_public_path(&cf, &a, S("/publicx/a")));
	ck_assert(!auth_public_path(&cf, &a, S("/health/x")));
	ck_assert(!auth_public_path(&cf, &a, S("/a/b/d/c")));
	ck_assert(!auth_public_path(&cf, &a, S("/admin")));
	ck_assert(!auth_public_path(&cf, &a, S("/self-service/login")));
	/* ";params" that an application may drop: both spellings public. */
	ck_assert(auth_public_path(&cf, &a, S("/public/a;b")));
	ck_assert(auth_public_path(&cf, &a, S("/a/b;x/c")));
	ck_assert(auth_public_path(&cf, &a, S("/x.css")));
	ck_assert(!auth_public_path(&cf, &a, S("/admin;.css")));
	ck_assert(!auth_public_path(&cf, &a, S("/admin;x.css")));
	cf.auth.mode = AUTH_KRATOS;
	ck_assert(auth_public_path(&cf, &a, S("/self-service/login")));
	cf.auth.jwt.claims_to_headers.k = ck;
	cf.auth.jwt.claims_to_headers.v = cv;
	cf.auth.jwt.claims_to_headers.n = 2;
	ck_assert(auth_is_claim_header(&cf, S("x-role")));
	ck_assert(auth_is_claim_header(&cf, S("X_ROLE")));
	ck_assert(!auth_is_claim_header(&cf, S("X-Roles")));
	ck_assert(auth_header_value_ok(S("abc def")));
	ck_assert(!auth_header_value_ok(S("a\r\nb")));
	ck_assert(!auth_header_value_ok(S(" a")));
	ck_assert(!auth_header_value_ok(S("")));
}
END_TEST

static Suite *
jwt_suite(void)
{
	Suite	*s = suite_create("jwt");
	TCase	*tc = tcase_create("jwt");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_b64url);
	tcase_add_test(tc, t_decode_shapes);
	tcase_add_test(tc, t_algs);
	tcase_add_test(tc, t_claims);
	tcase_add_test(tc, t_jwks);
	tcase_add_test(tc, t_shm_jwks);
	tcase_add_test(tc, t_public_paths);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(jwt_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
