/*
 * test_headers.c: header handling of the proxy: the request head sent
 * upstream (hop-by-hop and identity headers dropped, X-Forwarded-*,
 * re-framing), the response head sent to the client (Server/Via/X-Powered-By
 * stripped, security headers, framing), request ids, the WebSocket
 * handshake checks, JSON error bodies, the flow pump over sockets, and
 * util_sha256().  proxy.c is included to reach its static functions.
 */
#include <sys/socket.h>

#include <malloc.h>
#include <pthread.h>

/* libcheck has a CK_ERROR of its own; keep enum chunk_rc's. */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#undef CK_ERROR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/proxy.c"
#include "errresp.h"

static struct config	*cf;
static struct conn	 tcn;
static char		 blk[256 * 1024];
static struct req	*rq;

static void
load_config(void)
{
	char		 path[] = "/tmp/vwtest-XXXXXX";
	struct cfg_diags d = { 0 };
	char *const	 envp[] = { NULL };
	int		 fd;
	const char	*y = "tls: {enabled: false}\n"
	    "rate_limit: {enabled: false}\n";

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, y, strlen(y)), (ssize_t)strlen(y));
	close(fd);
	cf = config_load(path, envp, &d);
	unlink(path);
	ck_assert_ptr_nonnull(cf);
	config_diags_free(&d);
}

/* A fresh request on tcn, laid out in blk as req_new() would. */
static void
new_req(void)
{
	rq = (struct req *)blk;
	memset(rq, 0, sizeof(*rq));
	rq->rq_conn = &tcn;
	rq->rq_conf = cf;
	arena_init(&rq->rq_arena, blk + 8192, 32768);
	rq->rq_uphead = blk + 65536;
	rq->rq_uphead_cap = 65536;
	rq->rq_clhead = blk + 131072;
	rq->rq_clhead_cap = 65536;
	tcn.cn_req = rq;
}

static void
setup(void)
{
	load_config();
	memset(&W, 0, sizeof(W));
	W.w_conf = cf;
	W.w_scheme = "http";
	sechdr_init(cf, 0);
	W.w_budget = WORK_BUDGET;
	memset(&tcn, 0, sizeof(tcn));
	strcpy(tcn.cn_ip, "192.0.2.7");
	ck_assert_int_eq(ipaddr_parse(tcn.cn_ip, strlen(tcn.cn_ip),
	    &tcn.cn_addr), 0);
	new_req();
}

static void
teardown(void)
{
	config_free(cf);
	cf = NULL;
}

/* Parse raw as a request, run the header stages, build the upstream head. */
static const char *
uphead(const char *raw)
{
	static char	 out[65536];

	ck_assert_int_eq(http_parse_request(raw, strlen(raw), &rq->rq_msg,
	    &rq->rq_arena), 0);
	ck_assert_int_eq(stage_reqid(rq), V_NEXT);
	ck_assert_int_eq(stage_strip(rq), V_NEXT);
	ck_assert_int_eq(stage_upgrade(rq), V_NEXT);
	ck_assert_int_eq(build_uphead(rq), 0);
	memcpy(out, rq->rq_uphead, rq->rq_uphead_len);
	out[rq->rq_uphead_len] = '\0';
	return (out);
}

START_TEST(t_forward_basic)
{
	const char *h = uphead("GET /a/../b?x=1 HTTP/1.1\r\n"
	    "Host: example.com\r\nX-Request-Id: abc-123\r\n"
	    "Accept: */*\r\n\r\n");

	ck_assert_str_eq(h, "GET /b?x=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "Accept: */*\r\nX-Forwarded-For: 192.0.2.7\r\n"
	    "X-Forwarded-Proto: http\r\nX-Forwarded-Host: example.com\r\n"
	    "X-Request-Id: abc-123\r\n\r\n");
}
END_TEST

START_TEST(t_forward_hop_by_hop)
{
	const char *h = uphead("POST /p HTTP/1.1\r\nHost: h\r\n"
	    "Connection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\n"
	    "X-Secret: 1\r\nTE: trailers\r\nTrailer: X-T\r\n"
	    "Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
	    "Content-Length: 005\r\nX-Keep: yes\r\n\r\n");

	ck_assert_ptr_null(strstr(h, "Connection"));
	ck_assert_ptr_null(strstr(h, "Keep-Alive"));
	ck_assert_ptr_null(strstr(h, "X-Secret"));
	ck_assert_ptr_null(strstr(h, "TE:"));
	ck_assert_ptr_null(strstr(h, "Trailer"));
	ck_assert_ptr_null(strstr(h, "Upgrade"));
	ck_assert_ptr_nonnull(strstr(h, "X-Keep: yes\r\n"));
	/* SPEC.md 4: "005" is forwarded as 5. */
	ck_assert_ptr_nonnull(strstr(h, "Content-Length: 5\r\n"));
}
END_TEST

START_TEST(t_forward_identity_stripped)
{
	const char *h = uphead("GET / HTTP/1.1\r\nHost: h\r\n"
	    "X-User-Id: admin\r\nx-user-email: a@b\r\nX_User_Verified: true\r\n"
	    "X-Session-Id: s\r\nX-Api-Key-Name: k\r\nX-User-Anything: z\r\n"
	    "X-Userland: kept\r\nX_Forwarded_For: 6.6.6.6\r\n"
	    "X_Request_Id: forged\r\n\r\n");

	ck_assert_ptr_null(strcasestr(h, "x-user-id"));
	ck_assert_ptr_null(strcasestr(h, "x-user-email"));
	ck_assert_ptr_null(strcasestr(h, "x_user_verified"));
	ck_assert_ptr_null(strcasestr(h, "x-session-id"));
	ck_assert_ptr_null(strcasestr(h, "x-api-key-name"));
	ck_assert_ptr_null(strcasestr(h, "x-user-anything"));
	ck_assert_ptr_nonnull(strstr(h, "X-Userland: kept\r\n"));
	/* Underscore spellings would shadow ours in CGI/WSGI. */
	ck_assert_ptr_null(strstr(h, "6.6.6.6"));
	ck_assert_ptr_null(strstr(h, "forged"));
}
END_TEST

/* SPEC.md 4: from an untrusted peer the client's list is replaced. */
START_TEST(t_forward_xff_replaced)
{
	const char *h = uphead("GET / HTTP/1.1\r\nHost: h\r\n"
	    "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n");

	ck_assert_ptr_nonnull(strstr(h, "X-Forwarded-For: 192.0.2.7\r\n"));
	ck_assert_ptr_null(strstr(h, "10.0.0."));
	ck_assert_ptr_nonnull(strstr(h, "X-Forwarded-Proto: http\r\n"));
	ck_assert_ptr_null(strstr(h, "https"));
	ck_assert_ptr_null(strstr(h, "evil"));
	ck_assert_str_eq(rq->rq_cip, "");	/* left as req_new() set it */
}
END_TEST

/* From a trusted proxy: appended, and the client is the first hop that
   is not one of ours, right to left. */
START_TEST(t_forward_xff_trusted)
{
	static char		*nets[] = { "192.0.2.0/24", "10.0.0.2" };
	struct strlist		 l = { nets, 2 };
	struct cidrset		 set;
	const char		*h;

	ck_assert_int_eq(cidrset_build(&set, &l), 0);
	W.w_trusted = &set;
	h = uphead("GET / HTTP/1.1\r\nHost: h\r\n"
	    "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(h,
	    "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 192.0.2.7\r\n"));
	ck_assert_str_eq(rq->rq_cip, "10.0.0.1");
	/* What is left of the client is not believed, nor forwarded. */
	new_req();
	h = uphead("GET / HTTP/1.1\r\nHost: h\r\n"
	    "X-Forwarded-For: 6.6.6.6, ,10.0.0.1 \r\n"
	    "X-Forwarded-For: 10.0.0.2,\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(h,
	    "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 192.0.2.7\r\n"));
	ck_assert_ptr_null(strstr(h, "6.6.6.6"));
	ck_assert_str_eq(rq->rq_cip, "10.0.0.1");
	W.w_trusted = NULL;
	cidrset_free(&set);
}
END_TEST

START_TEST(t_forward_chunked_expect)
{
	const char *h = uphead("PUT /u HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");

	ck_assert_ptr_nonnull(strstr(h, "Transfer-Encoding: chunked\r\n"));
	ck_assert_ptr_null(strstr(h, "Expect"));
	ck_assert_ptr_null(strstr(h, "Content-Length"));
}
END_TEST

START_TEST(t_forward_empty_query_and_absolute)
{
	const char *h = uphead("GET http://h.example/x? HTTP/1.1\r\n"
	    "Host: h.example\r\n\r\n");

	ck_assert(strncmp(h, "GET /x? HTTP/1.1\r\nHost: h.example\r\n",
	    35) == 0);
}
END_TEST

START_TEST(t_forward_http10_no_host)
{
	const char *h;

	strcpy(W.w_hostname, "127.0.0.1");
	h = uphead("GET /x HTTP/1.0\r\n\r\n");
	ck_assert(strncmp(h, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n",
	    34) == 0);
	ck_assert_ptr_nonnull(strstr(h, "X-Forwarded-Host: 127.0.0.1\r\n"));
}
END_TEST

START_TEST(t_forward_websocket)
{
	const char *h = uphead("GET /ws HTTP/1.1\r\nHost: h\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n");

	ck_assert(rq->rq_flags & RQ_WS);
	ck_assert_ptr_nonnull(strstr(h,
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n"));
	ck_assert_ptr_nonnull(strstr(h,
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
}
END_TEST

START_TEST(t_websocket_bad_version)
{
	const char *raw = "GET /ws HTTP/1.1\r\nHost: h\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 12\r\n\r\n";

	ck_assert_int_eq(http_parse_request(raw, strlen(raw), &rq->rq_msg,
	    &rq->rq_arena), 0);
	ck_assert_int_eq(stage_upgrade(rq), V_DONE);
	ck_assert_int_eq(rq->rq_status, 400);
}
END_TEST

START_TEST(t_ws_accept)
{
	/* RFC 6455 1.3 example. */
	ck_assert(ws_key_valid(VW_STR("dGhlIHNhbXBsZSBub25jZQ==")));
	ck_assert(!ws_key_valid(VW_STR("dGhlIHNhbXBsZSBub25j")));
	ck_assert(!ws_key_valid(VW_STR("dGhlIHNhbXBsZSBub25jZQ=!")));
	ck_assert(ws_accept_valid(VW_STR("dGhlIHNhbXBsZSBub25jZQ=="),
	    VW_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
	ck_assert(!ws_accept_valid(VW_STR("dGhlIHNhbXBsZSBub25jZQ=="),
	    VW_STR("s3pPLMBiTxaQ9kYGzzhZRbK+xOx=")));
}
END_TEST

START_TEST(t_request_id)
{
	const char	*raw = "GET / HTTP/1.1\r\nHost: h\r\n"
	    "X-Request-Id: bad id!\r\n\r\n";
	int		 i;

	ck_assert_int_eq(http_parse_request(raw, strlen(raw), &rq->rq_msg,
	    &rq->rq_arena), 0);
	stage_reqid(rq);
	ck_assert_uint_eq(strlen(rq->rq_id), 16);
	ck_assert(strncmp(rq->rq_id, "req_", 4) == 0);
	for (i = 4; i < 16; i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
		    rq->rq_id[i]) != NULL);
}
END_TEST

/* Parse raw as the upstream's response and build the client's head. */
static const char *
clhead(const char *raw, enum http_method meth, int version)
{
	static char	 out[65536];

	rq->rq_meth = meth;
	rq->rq_version = version;
	ck_assert_int_eq(http_parse_response(raw, strlen(raw), &rq->rq_resp,
	    &rq->rq_arena), 0);
	strcpy(rq->rq_id, "req_TEST");
	ck_assert_int_eq(build_clhead(rq,
	    http_response_body(&rq->rq_resp, meth)), 0);
	memcpy(out, rq->rq_back.fl_head, rq->rq_back.fl_hlen);
	out[rq->rq_back.fl_hlen] = '\0';
	return (out);
}

START_TEST(t_response_strip_and_secure)
{
	const char *h = clhead("HTTP/1.1 200 OK\r\nServer: gunicorn\r\n"
	    "X-Powered-By: Django\r\nVia: 1.1 cache\r\nX-Request-Id: up\r\n"
	    "Set-Cookie: a=b\r\nContent-Length: 3\r\n\r\n", HM_GET, 11);

	ck_assert_ptr_null(strstr(h, "Server"));
	ck_assert_ptr_null(strstr(h, "X-Powered-By"));
	ck_assert_ptr_null(strstr(h, "Via"));
	ck_assert_ptr_null(strstr(h, "X-Request-Id: up"));
	ck_assert_ptr_nonnull(strstr(h, "X-Request-Id: req_TEST\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "Set-Cookie: a=b\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "Content-Length: 3\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "X-Content-Type-Options: nosniff"));
	ck_assert_ptr_nonnull(strstr(h, "X-Frame-Options: DENY\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "Referrer-Policy: "));
	ck_assert_ptr_nonnull(strstr(h, "Cross-Origin-Opener-Policy: "));
	ck_assert_ptr_nonnull(strstr(h, "Cross-Origin-Resource-Policy: "));
	/* RFC 6797: no HSTS over plain HTTP. */
	ck_assert_ptr_null(strstr(h, "Strict-Transport-Security"));
}
END_TEST

START_TEST(t_response_app_policies_kept)
{
	const char *h = clhead("HTTP/1.1 200 OK\r\n"
	    "Content-Security-Policy: default-src 'none'\r\n"
	    "X-Frame-Options: SAMEORIGIN\r\nContent-Length: 0\r\n\r\n",
	    HM_GET, 11);

	ck_assert_ptr_nonnull(strstr(h, "X-Frame-Options: SAMEORIGIN\r\n"));
	ck_assert_ptr_null(strstr(h, "X-Frame-Options: DENY"));
	ck_assert_ptr_nonnull(strstr(h,
	    "Content-Security-Policy: default-src 'none'\r\n"));
}
END_TEST

START_TEST(t_response_framing)
{
	const char *h;

	h = clhead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HM_GET, 11);
	ck_assert_ptr_nonnull(strstr(h, "Transfer-Encoding: chunked\r\n"));
	/* HEAD: the upstream's Content-Length describes GET's body. */
	h = clhead("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
	    HM_HEAD, 11);
	ck_assert_ptr_nonnull(strstr(h, "Content-Length: 42\r\n"));
	/* HTTP/1.0 client kept alive says so. */
	h = clhead("HTTP/1.1 204 No Content\r\n\r\n", HM_GET, 10);
	ck_assert_ptr_nonnull(strstr(h, "Connection: keep-alive\r\n"));
	tcn.cn_close = 1;
	h = clhead("HTTP/1.1 204 No Content\r\n\r\n", HM_GET, 11);
	ck_assert_ptr_nonnull(strstr(h, "Connection: close\r\n"));
	ck_assert(strncmp(h, "HTTP/1.1 204 No Content\r\n", 25) == 0);
	/* RFC 9110 8.6: never a Content-Length on a 204; kept on a 304. */
	h = clhead("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	    HM_GET, 11);
	ck_assert_ptr_null(strstr(h, "Content-Length"));
	h = clhead("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
	    HM_GET, 11);
	ck_assert_ptr_nonnull(strstr(h, "Content-Length: 5\r\n"));
}
END_TEST

/* SPEC.md 4: security headers are decided on the head as forwarded. */
START_TEST(t_response_policies_as_forwarded)
{
	const char *h;

	h = clhead("HTTP/1.1 200 OK\r\nConnection: X-Frame-Options\r\n"
	    "X-Frame-Options: ALLOWALL\r\nContent-Length: 0\r\n\r\n",
	    HM_GET, 11);
	ck_assert_ptr_null(strstr(h, "ALLOWALL"));
	ck_assert_ptr_nonnull(strstr(h, "X-Frame-Options: DENY\r\n"));
	h = clhead("HTTP/1.1 200 OK\r\nX-Frame-Options:\r\n"
	    "Content-Length: 0\r\n\r\n", HM_GET, 11);
	ck_assert_ptr_null(strstr(h, "X-Frame-Options: \r\n"));
	ck_assert_ptr_nonnull(strstr(h, "X-Frame-Options: DENY\r\n"));
}
END_TEST

START_TEST(t_error_body)
{
	char	 body[1024];
	char	*p;

	strcpy(rq->rq_id, "req_ABC");
	req_fail(rq, 502, EV_UPSTREAM_ERROR, errresp_code(502),
	    "cannot \"reach\"");
	errresp_render(rq, 1);
	memcpy(body, rq->rq_back.fl_head, rq->rq_back.fl_hlen);
	body[rq->rq_back.fl_hlen] = '\0';
	ck_assert(strncmp(body, "HTTP/1.1 502 Bad Gateway\r\n", 26) == 0);
	ck_assert_ptr_nonnull(strstr(body,
	    "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(body, "Connection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(body, "X-Request-Id: req_ABC\r\n"));
	p = strstr(body, "\r\n\r\n");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p + 4, "{\"error\":\"bad_gateway\",\"status\":502,"
	    "\"message\":\"cannot \\\"reach\\\"\",\"request_id\":\"req_ABC\"}\n");
	ck_assert_str_eq(errresp_code(413), "payload_too_large");
	ck_assert_str_eq(errresp_code(504), "upstream_timeout");
}
END_TEST

/* Re-frame a chunked body through real sockets with a tiny buffer. */
START_TEST(t_flow_chunked_reframe)
{
	struct endp	 src, dst;
	struct flow	 f;
	char		 sbuf[7], got[512];
	int		 a[2], b[2], rc;
	ssize_t		 n;
	const char	*in = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nT: x\r\n\r\n";

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	src.ep_io.io_fd = a[0];
	src.ep_ops = dst.ep_ops = &endp_plain_ops;
	src.ep_in.b_data = sbuf;
	src.ep_in.b_cap = sizeof(sbuf);
	src.ep_readable = dst.ep_writable = 1;
	dst.ep_io.io_fd = b[0];
	util_nonblock(a[0]);
	ck_assert_int_eq(write(a[1], in, strlen(in)), (ssize_t)strlen(in));
	memset(&f, 0, sizeof(f));
	f.fl_mode = FL_CHUNKED;
	f.fl_chunkout = 1;
	f.fl_head = "H\r\n";
	f.fl_hlen = 3;
	chunked_init(&f.fl_ck);
	rc = flow_pump(&f, &src, &dst);
	ck_assert_int_eq(rc, 1);
	n = read(b[1], got, sizeof(got) - 1);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
	/* Extensions and trailers dropped, fresh chunks (split by the
	   7-byte buffer), terminated by a last-chunk. */
	ck_assert(strncmp(got, "H\r\n", 3) == 0);
	ck_assert_ptr_null(strstr(got, "ext"));
	ck_assert_ptr_null(strstr(got, "T: x"));
	ck_assert_uint_eq(f.fl_bytes, 11);
	ck_assert(strcmp(got + n - 5, "0\r\n\r\n") == 0);
	close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}
END_TEST

/* Content-Length body: exactly n bytes move; the next request stays. */
START_TEST(t_flow_length_keeps_pipelined)
{
	struct endp	 src, dst;
	struct flow	 f;
	char		 sbuf[64], got[64];
	int		 a[2], b[2];
	ssize_t		 n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	src.ep_io.io_fd = a[0];
	dst.ep_io.io_fd = b[0];
	src.ep_ops = dst.ep_ops = &endp_plain_ops;
	src.ep_in.b_data = sbuf;
	src.ep_in.b_cap = sizeof(sbuf);
	src.ep_readable = dst.ep_writable = 1;
	util_nonblock(a[0]);
	ck_assert_int_eq(write(a[1], "abcdeGET / HTTP/1.1\r\n", 21), 21);
	memset(&f, 0, sizeof(f));
	f.fl_mode = FL_LENGTH;
	f.fl_remain = 5;
	ck_assert_int_eq(flow_pump(&f, &src, &dst), 1);
	n = read(b[1], got, sizeof(got));
	ck_assert_int_eq(n, 5);
	ck_assert(memcmp(got, "abcde", 5) == 0);
	ck_assert_uint_eq(buf_avail(&src.ep_in), 16);
	close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}
END_TEST

static void *
hash_once(void *arg)
{
	unsigned char	 d[32];

	(void)arg;
	ck_assert_int_eq(util_sha256("x", 1, d), 0);
	return (NULL);
}

/*
 * util_sha256(): the known answer, in two parts too, and no memory kept by
 * threads that hashed once and exited (the admin process runs a thread per
 * connection; a context cached per thread without a destructor leaked
 * about 200 bytes a connection).
 */
START_TEST(t_sha256)
{
	static const unsigned char abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
		0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
		0x15, 0xad,
	};
	unsigned char	 d[32];
	struct mallinfo2 m0, m1;
	pthread_t	 t;
	int		 i;

	ck_assert_int_eq(util_sha256("abc", 3, d), 0);
	ck_assert(memcmp(d, abc, 32) == 0);
	ck_assert_int_eq(util_sha256_2("a", 1, "bc", 2, d), 0);
	ck_assert(memcmp(d, abc, 32) == 0);
	m0 = mallinfo2();
	for (i = 0; i < 2000; i++) {
		ck_assert_int_eq(pthread_create(&t, NULL, hash_once, NULL), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
	}
	m1 = mallinfo2();	/* (zero under ASan, which checks leaks) */
	ck_assert_msg(m1.uordblks < m0.uordblks + 100 * 1024,
	    "heap grew by %zu bytes over 2000 threads",
	    m1.uordblks - m0.uordblks);
}
END_TEST

static Suite *
headers_suite(void)
{
	Suite	*s = suite_create("headers");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_forward_basic);
	tcase_add_test(tc, t_forward_hop_by_hop);
	tcase_add_test(tc, t_forward_identity_stripped);
	tcase_add_test(tc, t_forward_xff_replaced);
	tcase_add_test(tc, t_forward_xff_trusted);
	tcase_add_test(tc, t_forward_chunked_expect);
	tcase_add_test(tc, t_forward_empty_query_and_absolute);
	tcase_add_test(tc, t_forward_http10_no_host);
	tcase_add_test(tc, t_forward_websocket);
	tcase_add_test(tc, t_websocket_bad_version);
	tcase_add_test(tc, t_ws_accept);
	tcase_add_test(tc, t_request_id);
	tcase_add_test(tc, t_response_strip_and_secure);
	tcase_add_test(tc, t_response_app_policies_kept);
	tcase_add_test(tc, t_response_framing);
	tcase_add_test(tc, t_response_policies_as_forwarded);
	tcase_add_test(tc, t_error_body);
	tcase_add_test(tc, t_flow_chunked_reframe);
	tcase_add_test(tc, t_flow_length_keeps_pipelined);
	tcase_add_test(tc, t_sha256);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(headers_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? 0 : 1);
}
