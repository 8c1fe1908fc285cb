/*
 * test_stages.c: the request hardening stages of issue 12 (items 1-4),
 * each run on parsed requests against a loaded config: origins
 * (origin.c), CSRF, body size, CORS and the IP filter.  The stages do no
 * I/O, so a request is just parsed bytes and a struct req around them.
 */
/* libcheck has a CK_ERROR of its own; keep enum chunk_rc's. */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#undef CK_ERROR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "origin.h"
#include "pipe.h"
#include "worker.h"

static struct cidrset	 notrust;
static struct conn	 tcn;
static char		 blk[64 * 1024] __attribute__((aligned(64)));

static struct config *
load(const char *y)
{
	char		 path[] = "/tmp/vwtest-XXXXXX";
	struct cfg_diags d;
	char *const	 envp[] = { NULL };
	struct config	*cf;
	int		 fd;

	memset(&d, 0, sizeof(d));
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, y, strlen(y)), (ssize_t)strlen(y));
	close(fd);
	cf = config_load(path, envp, &d);
	unlink(path);
	if (cf == NULL)
		config_diags_print(&d, stderr);
	ck_assert_ptr_nonnull(cf);
	config_diags_free(&d);
	return (cf);
}

/* A parsed request "head" (CRLF line ends, blank line added) for cf. */
static struct req *
mkreq(const struct config *cf, const char *head)
{
	static char	 raw[8192];
	struct req	*rq = (struct req *)blk;
	size_t		 hdr = (sizeof(*rq) + 63) & ~(size_t)63;

	memset(blk, 0, sizeof(blk));
	snprintf(raw, sizeof(raw), "%s\r\n", head);
	rq->rq_conf = cf;
	rq->rq_conn = &tcn;
	arena_init(&rq->rq_arena, blk + hdr, sizeof(blk) - hdr);
	ck_assert_msg(http_parse_request(raw, strlen(raw), &rq->rq_msg,
	    &rq->rq_arena) == 0, "parse %s", head);
	rq->rq_caddr = tcn.cn_addr;
	return (rq);
}

static void
setup(void)
{
	W.w_scheme = "http";
	W.w_trusted = &notrust;
	ipaddr_parse("127.0.0.2", 9, &tcn.cn_addr);
}

/* ------------------------------------------------------------ origin */

static int
oparse(const char *s, int url, struct origin *o)
{
	return (origin_parse(s, strlen(s), url, o));
}

START_TEST(t_origin)
{
	struct origin	 a, b;
	struct vw_str	 h;
	const char	*bad[] = { "", "null", "ftp://a", "http://", "http:/a",
	    "http://u@a", "http://a:", "http://a:65536", "http://a:8x",
	    "http://a/", "http://a b", "http://[::1", "https://a:-1" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(oparse(bad[i], 0, &a) == -1, "%s", bad[i]);
	ck_assert_int_eq(oparse("https://App.Example", 0, &a), 0);
	ck_assert_int_eq(a.or_port, 443);
	ck_assert_int_eq(oparse("https://app.example:443", 0, &b), 0);
	ck_assert(origin_eq(&a, &b));
	ck_assert_int_eq(oparse("http://app.example:443", 0, &b), 0);
	ck_assert(!origin_eq(&a, &b));		/* scheme differs */
	ck_assert_int_eq(oparse("HTTP://[::1]:8080", 0, &a), 0);
	ck_assert_int_eq(a.or_port, 8080);
	ck_assert_int_eq((int)a.or_host.len, 5);
	/* A Referer: the origin of a URL. */
	ck_assert_int_eq(oparse("https://a.example/p?q#f", 1, &a), 0);
	ck_assert_int_eq(oparse("https://a.example?q", 1, &b), 0);
	ck_assert(origin_eq(&a, &b));
	ck_assert_int_eq(oparse("https://u:p@a.example/", 1, &a), -1);
	ck_assert_int_eq(oparse("https://a.example.evil/", 1, &b), 0);
	ck_assert_int_eq(oparse("https://a.example", 0, &a), 0);
	ck_assert(!origin_eq(&a, &b));
	/* Host + the listener's scheme. */
	h.p = "a.example:443";
	h.len = strlen(h.p);
	ck_assert_int_eq(origin_from_host(h, 1, &b), 0);
	ck_assert(origin_eq(&a, &b));
	ck_assert_int_eq(origin_from_host(h, 0, &b), 0);
	ck_assert(!origin_eq(&a, &b));
	h.p = NULL;
	h.len = 0;
	ck_assert_int_eq(origin_from_host(h, 0, &b), -1);
}
END_TEST

/* ------------------------------------------------------------ CSRF */

static const struct {
	const char	*head;
	enum verdict	 v;
} csrf_cases[] = {
	/* Not subject: safe method, no cookie, exempt path. */
	{ "GET / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: https://evil.test\r\n", V_NEXT },
	{ "HEAD / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Sec-Fetch-Site: cross-site\r\n", V_NEXT },
	{ "OPTIONS / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\n"
	    "Origin: https://evil.test\r\nSec-Fetch-Site: cross-site\r\n",
	    V_NEXT },
	{ "POST /hooks/x HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n",
	    V_NEXT },
	/* Sec-Fetch-Site. */
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Sec-Fetch-Site: cross-site\r\nOrigin: http://a.test\r\n", V_DONE },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Sec-Fetch-Site: same-site\r\n", V_DONE },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Sec-Fetch-Site: same-origin\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Sec-Fetch-Site: none\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Sec-Fetch-Site: same-origin\r\nOrigin: https://evil.test\r\n",
	    V_DONE },
	/* Origin. */
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: http://a.test\r\n", V_NEXT },
	{ "PUT / HTTP/1.1\r\nHost: a.test:80\r\nCookie: s=1\r\n"
	    "Origin: http://A.TEST\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: https://a.test\r\n", V_DONE },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: https://trusted.test\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: null\r\n", V_DONE },
	{ "DELETE / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: https://evil.test\r\nReferer: http://a.test/\r\n",
	    V_DONE },
	/* Referer only, or nothing. */
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Referer: http://a.test/form\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Referer: https://trusted.test/x\r\n", V_NEXT },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Referer: https://evil.test/\r\n", V_DONE },
	{ "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n", V_DONE },
	/* Unknown methods are unsafe, whatever their case. */
	{ "FOO / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n", V_DONE },
	{ "foo / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n", V_DONE },
};

START_TEST(t_csrf)
{
	struct config	*cf;
	struct req	*rq;
	size_t		 i;

	cf = load("csrf:\n  trusted_origins: [https://trusted.test]\n"
	    "  exempt_paths: [/hooks/*]\n");
	for (i = 0; i < sizeof(csrf_cases) / sizeof(csrf_cases[0]); i++) {
		rq = mkreq(cf, csrf_cases[i].head);
		ck_assert_msg(stage_csrf(rq) == csrf_cases[i].v, "case %zu: %s",
		    i, csrf_cases[i].head);
		if (csrf_cases[i].v == V_DONE) {
			ck_assert_int_eq(rq->rq_status, 403);
			ck_assert_str_eq(rq->rq_errcode, "csrf_rejected");
			ck_assert_int_eq(rq->rq_event, EV_CSRF_BLOCKED);
		}
	}
	/* Over TLS the own origin is https. */
	W.w_scheme = "https";
	rq = mkreq(cf, "POST / HTTP/1.1\r\nHost: a.test\r\nCookie: s=1\r\n"
	    "Origin: https://a.test\r\n");
	ck_assert_int_eq(stage_csrf(rq), V_NEXT);
	W.w_scheme = "http";
	config_free(cf);
	cf = load("csrf: {enabled: false}\n");
	rq = mkreq(cf, csrf_cases[5].head);
	ck_assert_int_eq(stage_csrf(rq), V_NEXT);
	config_free(cf);
}
END_TEST

/* ------------------------------------------------------------ body size */

START_TEST(t_bodysize)
{
	struct config	*cf;
	struct req	*rq;

	cf = load("body_size:\n  max: 100\n  overrides:\n"
	    "    - {path: /upload, max: 1000}\n"
	    "    - {path: /upload/big, max: 0}\n"
	    "    - {path: /up, max: 10}\n");
	rq = mkreq(cf, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	ck_assert_uint_eq(rq->rq_bodymax, 100);
	rq = mkreq(cf, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 413);
	ck_assert_str_eq(rq->rq_errcode, "payload_too_large");
	/* The longest prefix wins; 0 is unlimited. */
	rq = mkreq(cf, "POST /upload/a HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 1000\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	rq = mkreq(cf, "POST /upload/big/a HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 99999999\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	ck_assert_uint_eq(rq->rq_bodymax, 0);
	rq = mkreq(cf, "POST /upx HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_DONE);
	/* Chunked: nothing declared, the limit goes to proxy.c. */
	rq = mkreq(cf, "POST /upload HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	ck_assert_uint_eq(rq->rq_bodymax, 1000);
	config_free(cf);
	cf = load("body_size: {enabled: false}\n");
	rq = mkreq(cf, "POST /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 99999999\r\n");
	ck_assert_int_eq(stage_bodysize(rq), V_NEXT);
	config_free(cf);
}
END_TEST

/* ------------------------------------------------------------ CORS */

static size_t
append(struct req *rq, char *d, size_t cap)
{
	size_t	 off = 0;

	cors_append(rq, d, cap, &off);
	d[off] = '\0';
	return (off);
}

START_TEST(t_cors)
{
	struct config	*cf;
	struct req	*rq;
	char		 d[2048];

	cf = load("cors:\n  enabled: true\n"
	    "  allowed_origins: [https://app.test]\n"
	    "  exposed_headers: [X-A, X-B]\n  max_age: 60\n");
	ck_assert_int_eq(cors_init(cf), 0);
	rq = mkreq(cf, "OPTIONS /a HTTP/1.1\r\nHost: a\r\n"
	    "Origin: https://app.test:443\r\n"
	    "Access-Control-Request-Method: PUT\r\n");
	ck_assert_int_eq(stage_cors(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 204);
	append(rq, d, sizeof(d));
	/* The request's own spelling is echoed, not the list's. */
	ck_assert_ptr_nonnull(strstr(d, "Access-Control-Allow-Origin: "
	    "https://app.test:443\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "Vary: Origin\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "Access-Control-Allow-Methods: GET, "
	    "POST, PUT, DELETE, OPTIONS\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "Access-Control-Max-Age: 60\r\n"));
	ck_assert_ptr_null(strstr(d, "Expose"));
	ck_assert_ptr_null(strstr(d, "Credentials"));
	/* Not listed: a preflight is refused, a request gets no CORS
	   header, only Vary: Origin (a cache must not reuse it). */
	rq = mkreq(cf, "OPTIONS /a HTTP/1.1\r\nHost: a\r\n"
	    "Origin: https://app.test.evil\r\n"
	    "Access-Control-Request-Method: PUT\r\n");
	ck_assert_int_eq(stage_cors(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 403);
	ck_assert_str_eq(rq->rq_errcode, "cors_origin_not_allowed");
	ck_assert_uint_eq(append(rq, d, sizeof(d)), 14);
	ck_assert_str_eq(d, "Vary: Origin\r\n");
	rq = mkreq(cf, "GET /a HTTP/1.1\r\nHost: a\r\n"
	    "Origin: https://evil.test\r\n");
	ck_assert_int_eq(stage_cors(rq), V_NEXT);
	ck_assert_uint_eq(append(rq, d, sizeof(d)), 14);
	ck_assert_str_eq(d, "Vary: Origin\r\n");
	/* Actual response from a listed origin. */
	rq = mkreq(cf, "GET /a HTTP/1.1\r\nHost: a\r\n"
	    "Origin: https://app.test\r\n");
	ck_assert_int_eq(stage_cors(rq), V_NEXT);
	append(rq, d, sizeof(d));
	ck_assert_ptr_nonnull(strstr(d, "Access-Control-Expose-Headers: X-A, "
	    "X-B\r\n"));
	ck_assert_ptr_null(strstr(d, "Allow-Methods"));
	/* OPTIONS without Access-Control-Request-Method is proxied. */
	rq = mkreq(cf, "OPTIONS /a HTTP/1.1\r\nHost: a\r\n"
	    "Origin: https://evil.test\r\n");
	ck_assert_int_eq(stage_cors(rq), V_NEXT);
	ck_assert(cors_upstream_field(VW_STR("Access-Control-Allow-Origin")));
	ck_assert(!cors_upstream_field(VW_STR("Access-Control-")));
	ck_assert(!cors_upstream_field(VW_STR("X-Access-Control-A")));
	config_free(cf);
	/* Off: nothing at all. */
	cf = load("cors: {enabled: false}\n");
	ck_assert_int_eq(cors_init(cf), 0);
	rq = mkreq(cf, "OPTIONS /a HTTP/1.1\r\nHost: a\r\n"
	    "Origin: https://app.test\r\n"
	    "Access-Control-Request-Method: PUT\r\n");
	ck_assert_int_eq(stage_cors(rq), V_NEXT);
	ck_assert(!cors_upstream_field(VW_STR("Access-Control-Allow-Origin")));
	config_free(cf);
}
END_TEST

/* ------------------------------------------------------------ IP filter */

static int
peer_refused(const char *ip)
{
	struct ipaddr	 ia;

	ck_assert_int_eq(ipaddr_parse(ip, strlen(ip), &ia), 0);
	return (ipfilter_peer_refused(&ia));
}

START_TEST(t_ipfilter)
{
	static char	*tp[] = { "127.0.0.1" };
	struct strlist	 tl = { tp, 1 };
	struct cidrset	 trusted;
	struct config	*cf;
	struct req	*rq;

	cf = load("ip_filter:\n  enabled: true\n  mode: allowlist\n"
	    "  addresses: [127.0.0.2, '2001:db8::/32']\n");
	ck_assert_int_eq(ipfilter_init(cf), 0);
	ck_assert(!peer_refused("127.0.0.2"));
	ck_assert(!peer_refused("::ffff:127.0.0.2"));
	ck_assert(!peer_refused("2001:db8::5"));
	ck_assert(peer_refused("127.0.0.3"));
	ck_assert(peer_refused("::1"));
	rq = mkreq(cf, "GET / HTTP/1.1\r\nHost: a\r\n");
	ck_assert_int_eq(stage_ipfilter(rq), V_NEXT);
	ipaddr_parse("127.0.0.3", 9, &rq->rq_conn->cn_addr);
	rq = mkreq(cf, "GET / HTTP/1.1\r\nHost: a\r\n");
	ck_assert_int_eq(stage_ipfilter(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 403);
	ck_assert_int_eq(rq->rq_event, EV_IP_BLOCKED);
	config_free(cf);

	/* trust_proxy_headers: a trusted peer waits for its client. */
	cf = load("server: {trusted_proxies: [127.0.0.1]}\n"
	    "ip_filter:\n  enabled: true\n  trust_proxy_headers: true\n"
	    "  addresses: [192.0.2.0/24, 127.0.0.1]\n");
	ck_assert_int_eq(cidrset_build(&trusted, &tl), 0);
	W.w_trusted = &trusted;
	ck_assert_int_eq(ipfilter_init(cf), 0);
	ck_assert_str_eq(ipfilter_mode(), "blocklist");
	ck_assert(!peer_refused("127.0.0.1"));
	ck_assert(!peer_refused("127.0.0.3"));
	ck_assert(peer_refused("192.0.2.1"));
	ipaddr_parse("127.0.0.1", 9, &tcn.cn_addr);
	rq = mkreq(cf, "GET / HTTP/1.1\r\nHost: a\r\n");
	ipaddr_parse("192.0.2.9", 9, &rq->rq_caddr);
	ck_assert_int_eq(stage_ipfilter(rq), V_DONE);
	rq = mkreq(cf, "GET / HTTP/1.1\r\nHost: a\r\n");
	ipaddr_parse("198.51.100.1", 12, &rq->rq_caddr);
	ck_assert_int_eq(stage_ipfilter(rq), V_NEXT);
	W.w_trusted = &notrust;
	cidrset_free(&trusted);
	config_free(cf);
	ipaddr_parse("127.0.0.2", 9, &tcn.cn_addr);

	cf = load("ip_filter: {enabled: false, addresses: [127.0.0.2]}\n");
	ck_assert_int_eq(ipfilter_init(cf), 0);
	ck_assert(!peer_refused("127.0.0.2"));
	config_free(cf);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("stages");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 nf;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, t_origin);
	tcase_add_test(tc, t_csrf);
	tcase_add_test(tc, t_bodysize);
	tcase_add_test(tc, t_cors);
	tcase_add_test(tc, t_ipfilter);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
