/*
 * test_kratos.c: the pure parts of the Kratos session check
 * (kratos_parse.c: public_url split, RFC 3339 times, the whoami HTTP
 * response and JSON mapping of SPEC.md 6) and the shared session cache
 * (shm/session.c: get/put, expiry, flush, revoke by user, sweep, the
 * database's share of the map).
 */
#include <sys/stat.h>
#include <sys/types.h>

/* libcheck has a CK_ERROR of its own; keep enum chunk_rc's. */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#undef CK_ERROR
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratos.h"
#include "session.h"
#include "shm.h"

#define NS	1000000000ULL
#define T0	(1700000000ULL * NS)	/* 2023-11-14T22:13:20Z */

/* ------------------------------------------------------------ URL */

START_TEST(t_url_split)
{
	char	 h[64], p[64];
	int	 port, tls;

	ck_assert_int_eq(kratos_url_split("http://127.0.0.1:4433/", h,
	    sizeof(h), &port, p, sizeof(p), &tls), 0);
	ck_assert_str_eq(h, "127.0.0.1");
	ck_assert_int_eq(port, 4433);
	ck_assert_str_eq(p, "");
	ck_assert_int_eq(tls, 0);
	ck_assert_int_eq(kratos_url_split("https://kratos.example/.ory//",
	    h, sizeof(h), &port, p, sizeof(p), &tls), 0);
	ck_assert_str_eq(h, "kratos.example");
	ck_assert_int_eq(port, 443);
	ck_assert_str_eq(p, "/.ory");
	ck_assert_int_eq(tls, 1);
	ck_assert_int_eq(kratos_url_split("http://[::1]:81", h, sizeof(h),
	    &port, p, sizeof(p), &tls), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_int_eq(port, 81);
	ck_assert_int_eq(kratos_url_split("ftp://x/", h, sizeof(h), &port,
	    p, sizeof(p), &tls), -1);
	ck_assert_int_eq(kratos_url_split("http://u@x/", h, sizeof(h), &port,
	    p, sizeof(p), &tls), -1);
	ck_assert_int_eq(kratos_url_split("http://x:0/", h, sizeof(h), &port,
	    p, sizeof(p), &tls), -1);
	ck_assert_int_eq(kratos_url_split("http://x/?q", h, sizeof(h), &port,
	    p, sizeof(p), &tls), -1);
	ck_assert_int_eq(kratos_url_split("http://:80/", h, sizeof(h), &port,
	    p, sizeof(p), &tls), -1);
}
END_TEST

/* ------------------------------------------------------------ time */

START_TEST(t_time)
{
	uint64_t	 ns;

	ck_assert_int_eq(kratos_time_parse("2023-11-14T22:13:20Z", &ns), 0);
	ck_assert_uint_eq(ns, T0);
	ck_assert_int_eq(kratos_time_parse("2023-11-14T22:13:20.5Z", &ns), 0);
	ck_assert_uint_eq(ns, T0 + NS / 2);
	ck_assert_int_eq(kratos_time_parse(
	    "2023-11-15T00:13:20.000000001+02:00", &ns), 0);
	ck_assert_uint_eq(ns, T0 + 1);
	ck_assert_int_eq(kratos_time_parse("2023-11-14T21:13:20-01:00",
	    &ns), 0);
	ck_assert_uint_eq(ns, T0);
	ck_assert_int_eq(kratos_time_parse("2024-02-29T00:00:00Z", &ns), 0);
	ck_assert_int_eq(kratos_time_parse("2023-11-14 22:13:20", &ns), -1);
	ck_assert_int_eq(kratos_time_parse("2023-13-14T22:13:20Z", &ns), -1);
	ck_assert_int_eq(kratos_time_parse("2023-11-14T22:13:20.Z", &ns), -1);
	ck_assert_int_eq(kratos_time_parse("2023-11-14T22:13:20Zx", &ns), -1);
	ck_assert_int_eq(kratos_time_parse("1969-12-31T23:59:59Z", &ns), -1);
	ck_assert_int_eq(kratos_time_parse("", &ns), -1);
}
END_TEST

/* ------------------------------------------------------------ JSON */

static void
parse(const char *json, struct kratos_answer *a)
{
	kratos_whoami_parse(json, strlen(json), T0, a);
}

START_TEST(t_whoami_pass)
{
	struct kratos_answer	 a;

	parse("{\"id\":\"sess1\",\"active\":true,"
	    "\"expires_at\":\"2030-01-01T00:00:00Z\",\"identity\":{"
	    "\"id\":\"user1\",\"traits\":{\"email\":\"t@x\"},"
	    "\"verifiable_addresses\":[{\"via\":\"sms\",\"value\":\"1\","
	    "\"verified\":true},{\"via\":\"email\",\"value\":\"a@b\","
	    "\"verified\":true}]}}", &a);
	ck_assert_int_eq(a.ka_result, KR_PASS);
	ck_assert_int_eq(a.ka_sess.ss_idlen, 5);
	ck_assert(memcmp(a.ka_sess.ss_id, "user1", 5) == 0);
	ck_assert_int_eq(a.ka_sess.ss_emaillen, 3);
	ck_assert(memcmp(a.ka_sess.ss_email, "a@b", 3) == 0);
	ck_assert_int_eq(a.ka_sess.ss_verified, 1);
	ck_assert_int_eq(a.ka_sess.ss_sidlen, 5);
	ck_assert(memcmp(a.ka_sess.ss_sid, "sess1", 5) == 0);
	ck_assert(a.ka_expires > T0);
	/* No verifiable address: traits.email, unverified. */
	parse("{\"active\":true,\"identity\":{\"id\":\"u\",\"traits\":{"
	    "\"email\":\"t@x\"}}}", &a);
	ck_assert_int_eq(a.ka_result, KR_PASS);
	ck_assert(memcmp(a.ka_sess.ss_email, "t@x", 3) == 0);
	ck_assert_int_eq(a.ka_sess.ss_verified, 0);
	ck_assert_int_eq(a.ka_sess.ss_sidlen, 0);
	ck_assert_uint_eq(a.ka_expires, 0);
}
END_TEST

START_TEST(t_whoami_deny_unavail)
{
	struct kratos_answer	 a;

	parse("{\"active\":false,\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_DENY);
	parse("{\"active\":true,\"expires_at\":\"2020-01-01T00:00:00Z\","
	    "\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_DENY);
	ck_assert_str_eq(a.ka_why, "session_expired");
	/* Not a whoami answer: Kratos cannot say, fail closed. */
	parse("{\"active\":true}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":\"true\",\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":true,\"identity\":{\"id\":\"\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":true,\"identity\":{\"id\":7}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":true,\"expires_at\":\"soon\","
	    "\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	/* An expires_at that is not a date does not mean "never". */
	parse("{\"active\":true,\"expires_at\":0,"
	    "\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":true,\"expires_at\":null,"
	    "\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":true,\"expires_at\":1700000000,"
	    "\"identity\":{\"id\":\"u\"}}", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":true,\"active\":false,\"identity\":{\"id\":\"u\"}}",
	    &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("[1]", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
	parse("{\"active\":tr", &a);
	ck_assert_int_eq(a.ka_result, KR_UNAVAIL);
}
END_TEST

/* ------------------------------------------------------------ HTTP */

static int
resp(const char *r, int eof, int *status, char *body, size_t *blen)
{
	return (kratos_resp_parse(r, strlen(r), eof, status, body, 64, blen));
}

START_TEST(t_resp)
{
	char	 body[64];
	size_t	 bl;
	int	 st;

	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
	    "{}", 0, &st, body, &bl), 1);
	ck_assert_int_eq(st, 200);
	ck_assert_uint_eq(bl, 2);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
	    "{}", 0, &st, body, &bl), 0);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
	    "{}", 1, &st, body, &bl), -1);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n", 0, &st, body,
	    &bl), 1);
	ck_assert_uint_eq(bl, 2);
	ck_assert(memcmp(body, "{}", 2) == 0);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n1\r\n{\r\n", 0, &st, body, &bl), 0);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n1\r\n{\r\n", 1, &st, body, &bl), -1);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\nzz\r\n", 0, &st, body, &bl), -1);
	ck_assert_int_eq(resp("HTTP/1.1 401 No\r\nContent-Length: 0\r\n\r\n",
	    0, &st, body, &bl), 1);
	ck_assert_int_eq(st, 401);
	/* Until the close; larger than the buffer is malformed. */
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\n\r\n{}", 0, &st, body,
	    &bl), 0);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\n\r\n{}", 1, &st, body,
	    &bl), 1);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n",
	    0, &st, body, &bl), -1);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\n", 1, &st, body, &bl), -1);
	ck_assert_int_eq(resp("garbage\r\n\r\n", 0, &st, body, &bl), -1);
	ck_assert_int_eq(resp("HTTP/1.1 100 Continue\r\n\r\n", 0, &st, body,
	    &bl), -1);
}
END_TEST

/* ------------------------------------------------------------ cache */

static char	 dir[] = "/tmp/vw-test-kratos.XXXXXX";
static struct shm *h;

static void
shm_setup(void)
{
	const char	*err;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	h = shm_open(dir, 1 << 20, SHM_CREATE, &err);
	ck_assert_ptr_nonnull(h);
}

static void
shm_teardown(void)
{
	char	 f[512];

	shm_close(h);
	h = NULL;
	snprintf(f, sizeof(f), "%s/data.mdb", dir);
	unlink(f);
	snprintf(f, sizeof(f), "%s/lock.mdb", dir);
	unlink(f);
	rmdir(dir);
	strcpy(dir, "/tmp/vw-test-kratos.XXXXXX");
}

static void
key_of(int i, unsigned char k[SESS_KEY_LEN])
{
	memset(k, 0, SESS_KEY_LEN);
	memcpy(k, &i, sizeof(i));
}

static void
put(int i, const char *id, int ok, uint64_t until)
{
	unsigned char	 k[SESS_KEY_LEN];
	struct shm_sess	 s;

	memset(&s, 0, sizeof(s));
	s.ss_ok = ok;
	s.ss_until = until;
	s.ss_verified = 1;
	s.ss_idlen = (uint16_t)strlen(id);
	memcpy(s.ss_id, id, s.ss_idlen);
	memcpy(s.ss_email, "e@x", 3);
	s.ss_emaillen = 3;
	key_of(i, k);
	ck_assert_int_eq(shm_sess_put(h, k, &s), SHM_OK);
}

static int
found(int i, uint64_t now)
{
	unsigned char	 k[SESS_KEY_LEN];
	struct shm_sess	 s;
	int		 f;

	key_of(i, k);
	ck_assert_int_eq(shm_sess_get(h, k, now, &s, &f), SHM_OK);
	return (f);
}

START_TEST(t_cache_get_put)
{
	unsigned char	 k[SESS_KEY_LEN];
	struct shm_sess	 s;
	int		 f;

	put(1, "user-a", 1, T0 + 10 * NS);
	key_of(1, k);
	ck_assert_int_eq(shm_sess_get(h, k, T0, &s, &f), SHM_OK);
	ck_assert_int_eq(f, 1);
	ck_assert_int_eq(s.ss_ok, 1);
	ck_assert_int_eq(s.ss_verified, 1);
	ck_assert_int_eq(s.ss_idlen, 6);
	ck_assert(memcmp(s.ss_id, "user-a", 6) == 0);
	ck_assert(memcmp(s.ss_email, "e@x", 3) == 0);
	ck_assert_int_eq(s.ss_sidlen, 0);
	/* Never past ss_until. */
	ck_assert_int_eq(found(1, T0 + 10 * NS), 0);
	ck_assert_int_eq(found(2, T0), 0);
	ck_assert_int_eq(shm_sess_del(h, k), SHM_OK);
	ck_assert_int_eq(found(1, T0), 0);
	/* The read transaction is reused: it sees each new write. */
	put(1, "user-b", 1, T0 + 10 * NS);
	ck_assert_int_eq(found(1, T0), 1);
	ck_assert_int_eq(shm_sess_del(h, k), SHM_OK);
	ck_assert_int_eq(found(1, T0), 0);
}
END_TEST

START_TEST(t_cache_flush_revoke_sweep)
{
	size_t	 n, del;
	int	 wrapped;

	put(1, "alice", 1, T0 + 10 * NS);
	put(2, "alice", 1, T0 + 10 * NS);
	put(3, "bob", 1, T0 + 10 * NS);
	put(4, "alice", 0, T0 + 10 * NS);	/* negative: not hers */
	put(5, "carol", 1, T0 - 1);		/* expired */
	ck_assert_int_eq(shm_sess_revoke_user(h, "alice", 5, &del), SHM_OK);
	ck_assert_uint_eq(del, 2);
	ck_assert_int_eq(found(1, T0), 0);
	ck_assert_int_eq(found(3, T0), 1);
	ck_assert_int_eq(found(4, T0), 1);
	ck_assert_int_eq(shm_sess_sweep(h, T0, 1, &del, &wrapped), SHM_OK);
	n = del;
	while (!wrapped) {
		ck_assert_int_eq(shm_sess_sweep(h, T0, 1, &del, &wrapped),
		    SHM_OK);
		n += del;
	}
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(shm_sess_count(h, &n), SHM_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(shm_sess_flush(h, &del), SHM_OK);
	ck_assert_uint_eq(del, 2);
	ck_assert_int_eq(shm_sess_count(h, &n), SHM_OK);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(t_cache_share)
{
	unsigned char	 k[SESS_KEY_LEN];
	struct shm_sess	 s;
	int		 i, rc = SHM_OK;

	/* A 1 MB map takes 128 sessions, then refuses: fail to a call. */
	memset(&s, 0, sizeof(s));
	s.ss_ok = 1;
	s.ss_until = T0 + NS;
	s.ss_idlen = SESS_STR_MAX;
	for (i = 0; i < 1000 && rc == SHM_OK; i++) {
		key_of(i, k);
		rc = shm_sess_put(h, k, &s);
	}
	ck_assert_int_eq(rc, SHM_FULL);
	ck_assert_int_eq(i - 1, 128);
	/* A key already there may still be updated. */
	key_of(0, k);
	ck_assert_int_eq(shm_sess_put(h, k, &s), SHM_OK);
}
END_TEST

START_TEST(t_cache_refusals_half)
{
	unsigned char	 k[SESS_KEY_LEN];
	struct shm_sess	 s;
	int		 i, rc = SHM_OK;

	/* Refusals (anyone can mint them) stop at half of the 128... */
	memset(&s, 0, sizeof(s));
	s.ss_until = T0 + NS;
	for (i = 0; i < 1000 && rc == SHM_OK; i++) {
		key_of(i, k);
		rc = shm_sess_put(h, k, &s);
	}
	ck_assert_int_eq(rc, SHM_FULL);
	ck_assert_int_eq(i - 1, 64);
	/* ...so the active sessions still have the other half. */
	s.ss_ok = 1;
	s.ss_idlen = 1;
	for (rc = SHM_OK; i < 1000 && rc == SHM_OK; i++) {
		key_of(i, k);
		rc = shm_sess_put(h, k, &s);
	}
	ck_assert_int_eq(rc, SHM_FULL);
	ck_assert_int_eq(i - 1 - 65, 64);
}
END_TEST

static Suite *
kratos_suite(void)
{
	Suite	*s = suite_create("kratos");
	TCase	*tc = tcase_create("parse"), *tcc = tcase_create("cache");

	tcase_add_test(tc, t_url_split);
	tcase_add_test(tc, t_time);
	tcase_add_test(tc, t_whoami_pass);
	tcase_add_test(tc, t_whoami_deny_unavail);
	tcase_add_test(tc, t_resp);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tcc, shm_setup, shm_teardown);
	tcase_add_test(tcc, t_cache_get_put);
	tcase_add_test(tcc, t_cache_flush_revoke_sweep);
	tcase_add_test(tcc, t_cache_refusals_half);
	tcase_add_test(tcc, t_cache_share);
	suite_add_tcase(s, tcc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(kratos_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? 0 : 1);
}
