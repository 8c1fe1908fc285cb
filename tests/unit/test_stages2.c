/*
 * test_stages2.c: the stages of issue 12 items 5-8 on parsed requests:
 * input validation (each limit at its boundary, path overrides, the
 * exempt internal prefix), content-type validation (the media type
 * parser), maintenance, response-header rules (with the security header
 * block they filter), and the webhook stage's body hold request and
 * verdicts.  The stage files are included to reach static functions.
 */
/* libcheck has a CK_ERROR of its own; keep enum chunk_rc's. */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#undef CK_ERROR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/stage_input.c"
#undef PFX
#include "../../src/stage_ctype.c"
#include "../../src/stage_maint.c"
#undef PFX
#include "../../src/rhdr.c"
#include "../../src/stage_webhook.c"

static struct vw_str
S2(const char *s)
{
	struct vw_str	 v = { s, strlen(s) };

	return (v);
}

static struct config	*cf;
static struct conn	 tcn;
static char		 rqblk[65536];
static struct req	*rq;

static const char yaml[] =
    "tls: {enabled: false}\n"
    "rate_limit: {enabled: false}\n"
    "input_validation:\n"
    "  enabled: true\n"
    "  max_url_length: 20\n"
    "  max_query_string_length: 10\n"
    "  max_header_count: 3\n"
    "  max_header_size: 8\n"
    "  path_overrides:\n"
    "    - {path: /up/*, max_header_size: 16}\n"
    "    - {path: /up/x, max_header_size: 30}\n"
    "waf: {content_type_validation: {enabled: true,"
    " allowed: [application/json, text/csv]}}\n"
    "maintenance: {enabled: true, message: gone fishing}\n"
    "response_headers:\n"
    "  set: {Referrer-Policy: no-referrer}\n"
    "  add: {X-A: '1'}\n"
    "  remove: [x-frame-options, X-B]\n"
    "body_size: {max: 1KB, overrides: [{path: /wh/big, max: 4KB}]}\n"
    "webhooks:\n"
    "  signature_verification:\n"
    "    enabled: true\n"
    "    paths:\n"
    "      - {path: /wh, provider: generic, secret_env_var: VW_UT_SEC,"
    " header: X-Sig}\n"
    "      - {path: /wh/big, provider: github, secret_env_var: VW_UT_SEC}\n";

static void
setup(void)
{
	char		 path[] = "/tmp/vwtest-XXXXXX";
	struct cfg_diags d = { 0 };
	char *const	 envp[] = { "VW_UT_SEC=ge", NULL };
	int		 fd;

	/* The features of other branches may refuse their keys. */
	config_feature_set_implemented("body_size", 1);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	cf = config_load(path, envp, &d);
	unlink(path);
	if (cf == NULL)
		config_diags_print(&d, stderr);
	ck_assert_ptr_nonnull(cf);
	config_diags_free(&d);
	setenv("VW_UT_SEC", "ge", 1);
}

static void
teardown(void)
{
	config_free(cf);
	cf = NULL;
}

static struct req *
parse(const char *raw)
{
	rq = (struct req *)rqblk;
	memset(rq, 0, sizeof(*rq));
	memset(&tcn, 0, sizeof(tcn));
	rq->rq_conn = &tcn;
	rq->rq_conf = cf;
	arena_init(&rq->rq_arena, rqblk + 8192, 32768);
	ck_assert_int_eq(http_parse_request(raw, strlen(raw), &rq->rq_msg,
	    &rq->rq_arena), 0);
	rq->rq_meth = rq->rq_msg.m_meth;
	rq->rq_mflags = rq->rq_msg.m_flags;
	rq->rq_version = rq->rq_msg.m_version;
	return (rq);
}

static int
input_status(const char *raw)
{
	parse(raw);
	return (stage_input(rq) == V_NEXT ? 0 : rq->rq_status);
}

START_TEST(t_input_limits)
{
	/* URI: 20 passes, 21 fails. */
	ck_assert_int_eq(input_status("GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"), 0);
	ck_assert_int_eq(input_status("GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"), 400);
	ck_assert_str_eq(rq->rq_errcode, "input_validation_failed");
	ck_assert_str_eq(rq->rq_errmsg,
	    "request URI length 21 exceeds maximum 20");
	/* Query: 10 passes, 11 fails. */
	ck_assert_int_eq(input_status("GET /?0123456789 HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"), 0);
	ck_assert_int_eq(input_status("GET /?0123456789a HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"), 400);
	ck_assert_str_eq(rq->rq_errmsg,
	    "query string length 11 exceeds maximum 10");
	/* Distinct names, Host not counted: 3 pass, 4 fail. */
	ck_assert_int_eq(input_status("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n"
	    "B: 1\r\nC: 1\r\nc: 2\r\na: 3\r\n\r\n"), 0);
	ck_assert_int_eq(input_status("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n"
	    "B: 1\r\nC: 1\r\nD: 2\r\n\r\n"), 400);
	ck_assert_str_eq(rq->rq_errmsg, "header count 4 exceeds maximum 3");
	/* Value size: 8 passes, 9 fails. */
	ck_assert_int_eq(input_status("GET / HTTP/1.1\r\nHost: h\r\n"
	    "A: 12345678\r\n\r\n"), 0);
	ck_assert_int_eq(input_status("GET / HTTP/1.1\r\nHost: h\r\n"
	    "A: 123456789\r\n\r\n"), 400);
	ck_assert_str_eq(rq->rq_errmsg,
	    "header value length 9 exceeds maximum 8");
	/* The internal prefix is exempt. */
	ck_assert_int_eq(input_status("GET /_vibewarden/health?0123456789ab "
	    "HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
}
END_TEST

START_TEST(t_input_overrides)
{
	/* The first matching glob wins, even when a later one is exact. */
	ck_assert_int_eq(input_status("GET /up/x HTTP/1.1\r\nHost: h\r\n"
	    "A: 1234567890123456\r\n\r\n"), 0);
	ck_assert_int_eq(input_status("GET /up/x HTTP/1.1\r\nHost: h\r\n"
	    "A: 12345678901234567\r\n\r\n"), 400);
	/* Unset fields keep the global limit. */
	ck_assert_int_eq(input_status("GET /up/?0123456789a HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"), 400);
}
END_TEST

START_TEST(t_media_type)
{
	ck_assert_uint_eq(media_type(S2("application/json")), 16);
	ck_assert_uint_eq(media_type(S2("text/csv ; charset=x")), 8);
	ck_assert_uint_eq(media_type(S2("text/csv;")), 8);
	ck_assert_uint_eq(media_type(S2("text")), 0);
	ck_assert_uint_eq(media_type(S2("text/")), 0);
	ck_assert_uint_eq(media_type(S2("/csv")), 0);
	ck_assert_uint_eq(media_type(S2("text/csv x")), 0);
	ck_assert_uint_eq(media_type(S2("te(xt/csv")), 0);
}
END_TEST

static int
ctype_status(const char *raw)
{
	parse(raw);
	return (stage_ctype(rq) == V_NEXT ? 0 : rq->rq_status);
}

START_TEST(t_ctype)
{
	ck_assert_int_eq(ctype_status("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: TEXT/CSV; q=1\r\nContent-Length: 0\r\n\r\n"), 0);
	ck_assert_int_eq(ctype_status("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n"), 415);
	ck_assert_str_eq(rq->rq_errcode, "unsupported_media_type");
	ck_assert_int_eq(ctype_status("PUT / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 0\r\n\r\n"), 415);
	ck_assert_str_eq(rq->rq_errmsg,
	    "Content-Type header is required for PUT requests");
	ck_assert_int_eq(ctype_status("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n"),
	    0);
	ck_assert_int_eq(ctype_status("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: multipart/form-data\r\nContent-Length: 0\r\n\r\n"),
	    415);	/* not in this config's list */
}
END_TEST

START_TEST(t_maint)
{
	parse("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(stage_maint(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 503);
	ck_assert_int_eq(rq->rq_event, EV_MAINTENANCE);
	ck_assert_str_eq(rq->rq_errcode, "maintenance");
	ck_assert_str_eq(rq->rq_errmsg, "gone fishing");
	parse("GET /_vibewarden/ready HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(stage_maint(rq), V_NEXT);
}
END_TEST

START_TEST(t_rhdr)
{
	char	 out[4096];
	size_t	 off = 0;

	ck_assert_int_eq(sechdr_init(cf, 0), 0);
	ck_assert_int_eq(rhdr_drops("X-FRAME-OPTIONS", 15), 1);
	ck_assert_int_eq(rhdr_drops("referrer-policy", 15), 1);
	ck_assert_int_eq(rhdr_drops("X-B", 3), 1);
	ck_assert_int_eq(rhdr_drops("X-Bc", 4), 0);
	ck_assert_int_eq(rhdr_drops("X-A", 3), 0);	/* add keeps others */
	sechdr_append(out, sizeof(out), &off, 0);
	rhdr_append(out, sizeof(out), &off);
	out[off] = '\0';
	ck_assert_ptr_null(strstr(out, "X-Frame-Options"));
	ck_assert_ptr_null(strstr(out, "strict-origin"));
	ck_assert_ptr_nonnull(strstr(out, "X-Content-Type-Options: nosniff"
	    "\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nReferrer-Policy: no-referrer"
	    "\r\nX-A: 1\r\n"));
}
END_TEST

START_TEST(t_webhook_hold)
{
	static char	 raw[8192];
	const char	*body = "{\"x\":1}";

	/* Over the path's body limit (1KB): 413 before reading, by the
	   body size stage that runs before (pipe.c). */
	parse("POST /wh HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 413);
	/* The longest body_size prefix decides the hold. */
	parse("POST /wh/big HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n"
	    "\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	ck_assert_int_eq(stage_webhook(rq), V_AGAIN);
	ck_assert(rq->rq_flags & RQ_HOLD);
	ck_assert_uint_eq(rq->rq_holdmax, 4096);
	/* Held: verified. */
	snprintf(raw, sizeof(raw), "POST /wh HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 7\r\nX-Sig: %s\r\n\r\n", "0d0f35dc5205cc48a8be"
	    "8e489832ab2be0ff7693aec2e3f1eb491d6da401abdb");
	parse(raw);
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	ck_assert_int_eq(stage_webhook(rq), V_AGAIN);
	ck_assert_uint_eq(rq->rq_holdmax, 1024);
	rq->rq_flags |= RQ_HELD;
	rq->rq_held = body;
	rq->rq_heldlen = 7;
	ck_assert_int_eq(stage_webhook(rq), V_NEXT);
	rq->rq_held = "{\"x\":2}";
	ck_assert_int_eq(stage_webhook(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 401);
	ck_assert_int_eq(rq->rq_event, EV_WEBHOOK_INVALID);
	/* Other paths pass untouched, without a hold. */
	parse("POST /wh/x HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n"
	    "\r\n");
	ck_assert_int_eq(stage_webhook(rq), V_NEXT);
	ck_assert(!(rq->rq_flags & RQ_HOLD));
	/* The spellings routers take for /wh are held and checked. */
	parse("POST /WH/;a HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n"
	    "\r\n");
	ck_assert_int_eq(stage_webhook(rq), V_AGAIN);
	ck_assert(rq->rq_flags & RQ_HOLD);
}
END_TEST

START_TEST(t_dechunk)
{
	const char	*c = "3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nT: 1\r\n\r\n";
	char		*out;

	ck_assert_int_eq(dechunk(c, strlen(c), &out), 4);
	ck_assert_int_eq(memcmp(out, "abcd", 4), 0);
	free(out);
	ck_assert_int_eq(dechunk("3\r\nab", 5, &out), -1);
	ck_assert_int_eq(dechunk("zz\r\n", 4, &out), -1);
}
END_TEST

static Suite *
suite(void)
{
	Suite	*s = suite_create("stages2");
	TCase	*tc = tcase_create("stages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_input_limits);
	tcase_add_test(tc, t_input_overrides);
	tcase_add_test(tc, t_media_type);
	tcase_add_test(tc, t_ctype);
	tcase_add_test(tc, t_maint);
	tcase_add_test(tc, t_rhdr);
	tcase_add_test(tc, t_webhook_hold);
	tcase_add_test(tc, t_dechunk);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
