/*
 * test_http_parse.c: unit tests for src/http_parse.c (check suite
 * "http_parse").  Links libvw.a; every symbol but main() is static.
 */
/*
 * libcheck's enum test_result has a CK_ERROR too; rename check's (unused
 * here) so CK_ERROR below is enum chunk_rc's.
 */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#undef CK_ERROR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http_parse.h"

static char		 abuf[65536];
static struct arena	 ar;

struct rcase {
	const char	*req;
	size_t		 len;
	int		 want;
};

#define R(s, w)		{ (s), sizeof(s) - 1, (w) }
#define H11		" HTTP/1.1\r\nHost: a\r\n"
#define GETH		"GET /" H11

/* Every row of SPEC.md 4 that a request head can hit, plus valid shapes. */
static const struct rcase reqs[] = {
	/* valid */
	R(GETH "\r\n", 0),
	R("GET / HTTP/1.0\r\n\r\n", 0),
	R("GET / HTTP/1.1\nHost: a\n\n", 0),
	R("GET / HTTP/1.1\r\nHost: a\n\r\n", 0),
	R("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
	R("\n\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
	R("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5\r\n\r\n", 0),
	R("POST /" H11 "Content-Length: 005\r\n\r\n", 0),
	R("POST /" H11 "Content-Length: 5, 5\r\n\r\n", 0),
	R("POST /" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 0),
	R("POST /" H11 "Content-Length: 0\r\n\r\n", 0),
	R("POST /" H11 "Content-Length: 9223372036854775807\r\n\r\n", 0),
	R("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n", 0),
	R("POST /" H11 "Transfer-Encoding: CHUNKED\r\n\r\n", 0),
	R("POST /" H11 "Transfer-Encoding: \t chunked \t\r\n\r\n", 0),
	R("OPTIONS *" H11 "\r\n", 0),
	R("GET http://a/x" H11 "\r\n", 0),
	R("GET HTTPS://A:443/x?y HTTP/1.1\r\nHost: a:443\r\n\r\n", 0),
	R("GET http://a HTTP/1.0\r\n\r\n", 0),
	R("PUT /" H11 "Expect: 100-continue\r\nContent-Length: 1\r\n\r\n", 0),
	R("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", 0),
	R("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", 0),
	R("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0),
	R("GET / HTTP/1.1\r\nHost: [2001:db8::7]\r\n\r\n", 0),
	R(GETH "X-Obs: caf\xc3\xa9\xff\r\n\r\n", 0),
	R(GETH "X-Tab: a\tb\r\n\r\n", 0),
	R(GETH "X-Empty:\r\n\r\n", 0),
	R(GETH "X-Empty: \t \r\n\r\n", 0),
	R(GETH "Content-Length: 3\r\n\r\n", 0),
	R("FOO /" H11 "\r\n", 0),
	R("M-SEARCH /" H11 "\r\n", 0),
	R("GET /%41b" H11 "\r\n", 0),
	R(GETH "X-!#$%&'*+-.^_`|~: v\r\n\r\n", 0),
	R("GET /a?b=|{}^[]`\\ HTTP/1.1\r\nHost: a\r\n\r\n", 0),
	R("GET /a?q=100% HTTP/1.1\r\nHost: a\r\n\r\n", 0),
	R("GET /" H11 "Connection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n\r\n",
	    0),
	R("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0),
	R(GETH "Connection: , close,,\r\n\r\n", 0),
	R("GET //a//b" H11 "\r\n", 0),
	R("GET /a/../../b" H11 "\r\n", 0),
	/* Content-Length */
	R("POST /" H11 "Content-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n", 400),
	R("POST /" H11 "Content-Length:\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: +5\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: -5\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5 5\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 0x5\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5a\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5.0\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 9223372036854775808\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 99999999999999999999999\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5, 6\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: 5,\r\n\r\n", 400),
	R("POST /" H11 "Content-Length: ,5\r\n\r\n", 400),
	/* Transfer-Encoding */
	R("POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
	R("POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", 501),
	R("POST /" H11 "Transfer-Encoding: identity\r\n\r\n", 501),
	R("POST /" H11 "Transfer-Encoding: foo\r\n\r\n", 501),
	R("POST /" H11 "Transfer-Encoding:\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 501),
	R("POST /" H11 "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: chunked,\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: , chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: x chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: gzip;level=1, chunked\r\n\r\n", 501),
	R("POST /" H11 "Transfer-Encoding: gzip;a=\"x\\\"y\", chunked\r\n\r\n",
	    501),
	R("POST /" H11 "Transfer-Encoding: gzip;a=\"x, chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\n",
	    400),
	R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	R("POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),
	/* field syntax */
	R("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
	R(GETH "X-Foo bar\r\n\r\n", 400),
	R(GETH "X-Foo\r\n\r\n", 400),
	R(GETH "X(Foo): a\r\n\r\n", 400),
	R(GETH "X-\xc3\xa9: a\r\n\r\n", 400),
	R(GETH ": a\r\n\r\n", 400),
	R(GETH "X-Fold: a\r\n b\r\n\r\n", 400),
	R(GETH "X-Fold: a\r\n\tb\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400),
	R(GETH "X-CR: a\rb\r\n\r\n", 400),
	R(GETH "X-CR: a\r\r\n\r\n", 400),
	R(GETH "X-NUL: a\0b\r\n\r\n", 400),
	R(GETH "X-CTL: a\x01" "b\r\n\r\n", 400),
	R(GETH "X-DEL: a\x7f\r\n\r\n", 400),
	R(GETH "X-LF: a\nb\r\n\r\n", 400),
	R(GETH "\r\r\n", 400),
	R(GETH "\r", 400),
	R(GETH, 400),
	/* Host */
	R("GET / HTTP/1.1\r\n\r\n", 400),
	R(GETH "Host: a\r\n\r\n", 400),
	R(GETH "host: b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: [zz::1]\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
	R("GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400),
	R("GET http://b/" H11 "\r\n", 400),
	R("GET http://u@a/" H11 "\r\n", 400),
	R("GET http:///x" H11 "\r\n", 400),
	R("GET ftp://a/" H11 "\r\n", 400),
	R("GET http:/a" H11 "\r\n", 400),
	/* request line */
	R("GET /\r\n\r\n", 400),
	R("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
	R("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
	R("GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
	R("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
	R("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
	R(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET /a#b" H11 "\r\n", 400),
	R("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET /a\x01" H11 "\r\n", 400),
	R("GET /a\x7f" H11 "\r\n", 400),
	R("GET /a\xc3\xa9" H11 "\r\n", 400),
	R("GET /a\"b" H11 "\r\n", 400),
	R("GET /a<b>" H11 "\r\n", 400),
	R("GET /a\\b" H11 "\r\n", 400),
	R("GET /?a#b" H11 "\r\n", 400),
	R("GET *" H11 "\r\n", 400),
	R("OPTIONS *x" H11 "\r\n", 400),
	R("GET a" H11 "\r\n", 400),
	R("get /" H11 "\r\n", 400),
	R("Get /" H11 "\r\n", 400),
	R("G(T /" H11 "\r\n", 400),
	R("GET /\rX HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	R("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
	R("GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505),
	R("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
	R("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
	/* methods */
	R("CONNECT a:443" H11 "\r\n", 405),
	R("CONNECT a" H11 "\r\n", 400),
	R("CONNECT /" H11 "\r\n", 400),
	R("TRACE /" H11 "\r\n", 405),
	R("TRACE *" H11 "\r\n", 400),
	/* Expect */
	R(GETH "Expect: foo\r\n\r\n", 417),
	R(GETH "Expect: 100-continue, foo\r\n\r\n", 417),
	R(GETH "Expect: 100-Continue\r\n\r\n", 0),
	/* path */
	R("GET /a%2fb" H11 "\r\n", 400),
	R("GET /a%2Fb" H11 "\r\n", 400),
	R("GET /a%zz" H11 "\r\n", 400),
	R("GET /a%4" H11 "\r\n", 400),
	R("GET /a%" H11 "\r\n", 400),
	R("GET /a%2f?x" H11 "\r\n", 400),
	R("GET /a?x=%2f" H11 "\r\n", 0),
};

/* vw_str_eq() without memcmp(NULL, ..., 0). */
static int
seq(struct vw_str a, const char *lit, size_t n)
{
	return (a.len == n && (n == 0 || memcmp(a.p, lit, n) == 0));
}

static int
preq(const char *s, size_t n, struct http_msg *m)
{
	arena_init(&ar, abuf, sizeof(abuf));
	return (http_parse_request(s, n, m, &ar));
}

static int
presp(const char *s, size_t n, struct http_msg *m)
{
	arena_init(&ar, abuf, sizeof(abuf));
	return (http_parse_response(s, n, m, &ar));
}

#define PREQ(lit, m)	preq((lit), sizeof(lit) - 1, (m))
#define PRESP(lit, m)	presp((lit), sizeof(lit) - 1, (m))

START_TEST(t_table)
{
	const struct rcase	*c = &reqs[_i];
	struct http_msg		 m;
	int			 rc;

	rc = preq(c->req, c->len, &m);
	ck_assert_msg(rc == c->want, "row %d: got %d want %d: %.*s", _i, rc,
	    c->want, (int)c->len, c->req);
	if (rc == 0)
		ck_assert_uint_eq(m.m_head_len, c->len);
}
END_TEST

START_TEST(t_table_head_end)
{
	const struct rcase	*c = &reqs[_i];
	size_t			 scan = 0, scan2 = 0, k;
	ssize_t			 one, inc = 0;

	/* One shot and byte by byte agree on every row. */
	one = http_head_end(c->req, c->len, &scan, 32768, 1);
	for (k = 1; k <= c->len; k++)
		if ((inc = http_head_end(c->req, k, &scan2, 32768, 1)) != 0)
			break;
	ck_assert_int_eq(one, inc);
	if (c->want == 0)
		ck_assert_int_eq(one, (ssize_t)c->len);
}
END_TEST

static char *
repeat(char *p, int ch, size_t n)
{
	memset(p, ch, n);
	return (p + n);
}

START_TEST(t_line_limits)
{
	static char	 b[20000];
	struct http_msg	 m;
	char		*p;
	size_t		 n, scan;

	/* A request line of exactly HTTP_MAX_LINE bytes is fine. */
	p = b;
	memcpy(p, "GET /", 5);
	p = repeat(p + 5, 'a', HTTP_MAX_LINE - 5 - 9);
	memcpy(p, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
	n = (size_t)(p + 22 - b);
	ck_assert_int_eq(preq(b, n, &m), 0);
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n, &scan, 32768, 1), (ssize_t)n);
	/* One more byte: 414, from the parser and from http_head_end. */
	p = b;
	memcpy(p, "GET /", 5);
	p = repeat(p + 5, 'a', HTTP_MAX_LINE - 5 - 9 + 1);
	memcpy(p, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
	n = (size_t)(p + 22 - b);
	ck_assert_int_eq(preq(b, n, &m), 414);
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n, &scan, 32768, 1), -414);
	/* http_head_end says 414 before the line ends. */
	scan = 0;
	ck_assert_int_eq(http_head_end(b, HTTP_MAX_LINE, &scan, 32768, 1), 0);
	ck_assert_int_eq(http_head_end(b, HTTP_MAX_LINE + 1, &scan, 32768, 1),
	    -414);
	/* The same line in a response head is a 431. */
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n, &scan, 32768, 0), -431);

	/* A field line of HTTP_MAX_LINE bytes is fine, one more is 431. */
	p = b;
	memcpy(p, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
	p = repeat(p + 28, 'v', HTTP_MAX_LINE - 3);
	memcpy(p, "\r\n\r\n", 4);
	n = (size_t)(p + 4 - b);
	ck_assert_int_eq(preq(b, n, &m), 0);
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n, &scan, 32768, 1), (ssize_t)n);
	p = b;
	memcpy(p, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
	p = repeat(p + 28, 'v', HTTP_MAX_LINE - 2);
	memcpy(p, "\r\n\r\n", 4);
	n = (size_t)(p + 4 - b);
	ck_assert_int_eq(preq(b, n, &m), 431);
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n, &scan, 32768, 1), -431);
	/* Bare LF ending and a long line: same limits. */
	b[n - 4] = '\n';
	b[n - 3] = '\n';
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n - 2, &scan, 32768, 1), -431);
}
END_TEST

START_TEST(t_head_end)
{
	static const char	 req[] =
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
	static const char	 crlf5[] = "\r\n\r\n\r\n\r\n\r\nGET";
	size_t			 scan, hl = sizeof(req) - 1 - 4;
	ssize_t			 r;

	scan = 0;
	ck_assert_int_eq(http_head_end(req, sizeof(req) - 1, &scan, 1024, 1),
	    (ssize_t)hl);
	/* Need more, and the cursor moves so bytes are looked at once. */
	scan = 0;
	ck_assert_int_eq(http_head_end(req, 10, &scan, 1024, 1), 0);
	ck_assert_uint_eq(scan, 10);
	ck_assert_int_eq(http_head_end(req, 23, &scan, 1024, 1), 0);
	ck_assert_uint_eq(scan, 23);
	/* A CR at the end is kept for the next call. */
	ck_assert_int_eq(http_head_end(req, 24, &scan, 1024, 1), 0);
	ck_assert_uint_eq(scan, 23);
	ck_assert_int_eq(http_head_end(req, 25, &scan, 1024, 1), 0);
	ck_assert_uint_eq(scan, 25);
	ck_assert_int_eq(http_head_end(req, 26, &scan, 1024, 1), 0);
	ck_assert_uint_eq(scan, 25);
	ck_assert_int_eq(http_head_end(req, hl, &scan, 1024, 1), (ssize_t)hl);
	/* max_head: exactly the head fits; one byte less does not. */
	scan = 0;
	ck_assert_int_eq(http_head_end(req, hl, &scan, hl, 1), (ssize_t)hl);
	scan = 0;
	ck_assert_int_eq(http_head_end(req, hl, &scan, hl - 1, 1), -431);
	/* (a CR at the end might still be followed by a bad byte: -400) */
	scan = 0;
	ck_assert_int_eq(http_head_end(req, hl - 1, &scan, hl - 1, 1), 0);
	scan = 0;
	ck_assert_int_eq(http_head_end(req, hl - 2, &scan, hl - 2, 1), -431);
	/* NUL and bare CR. */
	scan = 0;
	ck_assert_int_eq(http_head_end("GET /\0", 6, &scan, 1024, 1), -400);
	scan = 0;
	ck_assert_int_eq(http_head_end("GET /\rx", 7, &scan, 1024, 1), -400);
	scan = 0;
	ck_assert_int_eq(http_head_end("GET /\r", 6, &scan, 1024, 1), 0);
	/* Leading empty lines count in the head; five are too many. */
	scan = 0;
	r = http_head_end("\r\n\nGET / HTTP/1.0\r\n\r\n", 21, &scan, 1024, 1);
	ck_assert_int_eq(r, 21);
	scan = 0;
	ck_assert_int_eq(http_head_end(crlf5, sizeof(crlf5) - 1, &scan, 1024,
	    1), -400);
	scan = 0;
	ck_assert_int_eq(http_head_end(crlf5, 8, &scan, 1024, 1), 0);
	/* Bare LF terminators. */
	scan = 0;
	ck_assert_int_eq(http_head_end("GET / HTTP/1.0\n\nX", 17, &scan, 1024,
	    1), 16);
	scan = 0;
	ck_assert_int_eq(http_head_end("GET / HTTP/1.0\r\n\nX", 18, &scan,
	    1024, 1), 17);
	scan = 0;
	ck_assert_int_eq(http_head_end("", 0, &scan, 1024, 1), 0);
}
END_TEST

START_TEST(t_head_end_incremental)
{
	static char	 b[40000];
	struct http_msg	 m;
	size_t		 n, i, k, step, scan;
	ssize_t		 one, inc;
	char		*p;

	/* A big head with many long lines, fed in every step size. */
	p = b;
	memcpy(p, "\r\nGET / HTTP/1.1\r\nHost: a\r\n", 27);
	p += 27;
	for (i = 0; i < 40; i++) {
		p += sprintf(p, "X-%zu: ", i);
		p = repeat(p, 'a' + (int)(i % 26), 300 + i * 7);
		*p++ = i % 3 ? '\r' : '\n';
		if (p[-1] == '\r')
			*p++ = '\n';
	}
	memcpy(p, "\r\n", 2);
	n = (size_t)(p + 2 - b);
	ck_assert_int_eq(preq(b, n, &m), 0);
	ck_assert_uint_eq(m.m_nfields, 41);
	scan = 0;
	one = http_head_end(b, n, &scan, 32768, 1);
	ck_assert_int_eq(one, (ssize_t)n);
	for (step = 1; step < 700; step += 97) {
		scan = 0;
		inc = 0;
		for (k = step; ; k += step) {
			if (k > n)
				k = n;
			if ((inc = http_head_end(b, k, &scan, 32768, 1)) != 0 ||
			    k == n)
				break;
		}
		ck_assert_int_eq(inc, one);
	}
	/* The same head with a small max_head. */
	scan = 0;
	one = http_head_end(b, n, &scan, 5000, 1);
	ck_assert_int_eq(one, -431);
	scan = 0;
	for (k = 1; k <= n; k++)
		if ((inc = http_head_end(b, k, &scan, 5000, 1)) != 0)
			break;
	ck_assert_int_eq(inc, -431);
	ck_assert_uint_eq(k, 5000);
}
END_TEST

START_TEST(t_fields_count)
{
	static char	 b[8192];
	struct http_msg	 m;
	char		*p;
	int		 i;
	size_t		 n, scan;

	/* Host + 99 = 100 fields: OK. */
	p = b + sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 99; i++)
		p += sprintf(p, "X-%d: %d\r\n", i, i);
	p += sprintf(p, "\r\n");
	n = (size_t)(p - b);
	ck_assert_int_eq(preq(b, n, &m), 0);
	ck_assert_uint_eq(m.m_nfields, HTTP_MAX_FIELDS);
	scan = 0;
	ck_assert_int_eq(http_head_end(b, n, &scan, 65536, 1), (ssize_t)n);
	/* 101 fields: 431. */
	p = b + sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "X-%d: %d\r\n", i, i);
	p += sprintf(p, "\r\n");
	ck_assert_int_eq(preq(b, (size_t)(p - b), &m), 431);
	ck_assert_int_eq(presp("HTTP/1.1 200 OK\r\n\r\n", 19, &m), 0);
	/* Responses: 100 fields OK, 101 malformed. */
	p = b + sprintf(b, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "X-%d: %d\r\n", i, i);
	p += sprintf(p, "\r\n");
	ck_assert_int_eq(presp(b, (size_t)(p - b), &m), 0);
	p = b + sprintf(b, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < 101; i++)
		p += sprintf(p, "X-%d: %d\r\n", i, i);
	p += sprintf(p, "\r\n");
	ck_assert_int_eq(presp(b, (size_t)(p - b), &m), -1);
}
END_TEST

START_TEST(t_arena_full)
{
	static const char	 req[] =
	    "GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n";
	char			 small[64];
	struct arena		 a;
	struct http_msg		 m;

	arena_init(&a, small, 8);
	ck_assert_int_eq(http_parse_request(req, sizeof(req) - 1, &m, &a),
	    431);
	arena_init(&a, small, 16);
	ck_assert_int_eq(http_parse_request(req, sizeof(req) - 1, &m, &a),
	    431);
	arena_init(&a, small, sizeof(small));
	ck_assert_int_eq(http_parse_request(req, sizeof(req) - 1, &m, &a), 0);
	ck_assert(seq(m.m_path, "/a/b", 4));
	arena_init(&a, small, 0);
	ck_assert_int_eq(http_parse_response("HTTP/1.1 204 \r\nA: b\r\n\r\n",
	    23, &m, &a), -1);
}
END_TEST

struct pcase {
	const char	*target;
	const char	*path;		/* NULL: 400 */
	const char	*query;
};

static const struct pcase paths[] = {
	{ "/", "/", "" },
	{ "/a/b/c", "/a/b/c", "" },
	{ "/a/b/../c", "/a/c", "" },
	{ "/a/./b", "/a/b", "" },
	{ "/a/b/.", "/a/b/", "" },
	{ "/a/b/..", "/a/", "" },
	{ "/..", "/", "" },
	{ "/../../../etc/passwd", "/etc/passwd", "" },
	{ "/a/../../..", "/", "" },
	{ "/.", "/", "" },
	{ "/a//b", "/a/b", "" },
	{ "/a//..", "/", "" },
	{ "//admin", "/admin", "" },
	{ "/public//../admin", "/admin", "" },
	{ "/a/b//", "/a/b/", "" },
	{ "/a;b/c;d=e", "/a;b/c;d=e", "" },
	{ "/a/..b;x/c", "/a/..b;x/c", "" },
	{ "/a/...;x", "/a/...;x", "" },
	{ "/.well-known/x", "/.well-known/x", "" },
	{ "/a/..b/c", "/a/..b/c", "" },
	{ "/%41%42c", "/ABc", "" },
	{ "/%7e%2D%2e%5F", "/~-._", "" },
	{ "/%3a%3B%c3%a9", "/%3A%3B%C3%A9", "" },
	{ "/a/%2e%2e/b", "/b", "" },
	{ "/a/%2E/b", "/a/b", "" },
	{ "/%2e%2e/%2e%2e/x", "/x", "" },
	{ "/a/.%2e", "/", "" },
	{ "/%25", "/%25", "" },
	{ "/%01", "/%01", "" },
	{ "/a?b=%2f&c=/../", "/a", "b=%2f&c=/../" },
	{ "/a/../b?x", "/b", "x" },
	{ "/?", "/", "" },
	{ "/a%2fb", NULL, NULL },
	{ "/a%2F..", NULL, NULL },
	{ "/%zz", NULL, NULL },
	{ "/%a", NULL, NULL },
	{ "/%", NULL, NULL },
	{ "/%%41", NULL, NULL },
	/* SPEC.md 6 / issue 6: rejected path shapes */
	{ "/%00", NULL, NULL },
	{ "/a%00.html", NULL, NULL },
	{ "/a%5Cb", NULL, NULL },
	{ "/a%5cb", NULL, NULL },
	{ "/a/..;/b", NULL, NULL },
	{ "/public/..;/admin", NULL, NULL },
	{ "/a/.;x/b", NULL, NULL },
	{ "/a/..;jsessionid=1", NULL, NULL },
	{ "/a/%2e%2e;/b", NULL, NULL },
	{ "/a/.%2e;x", NULL, NULL },
};

START_TEST(t_path)
{
	const struct pcase	*c = &paths[_i];
	char			 b[256];
	struct http_msg		 m;
	int			 n, rc;

	n = snprintf(b, sizeof(b), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
	    c->target);
	rc = preq(b, (size_t)n, &m);
	if (c->path == NULL) {
		ck_assert_int_eq(rc, 400);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(seq(m.m_path, c->path, strlen(c->path)),
	    "%s: got %.*s", c->target, (int)m.m_path.len, m.m_path.p);
	ck_assert_msg(seq(m.m_query, c->query, strlen(c->query)),
	    "%s: query %.*s", c->target, (int)m.m_query.len, m.m_query.p);
	ck_assert(seq(m.m_target, c->target, strlen(c->target)));
}
END_TEST

START_TEST(t_forms)
{
	struct http_msg	 m;

	ck_assert_int_eq(PREQ("GET http://Example.COM:8080/a/../b?q=1 HTTP/1.1"
	    "\r\nHost: example.com:8080\r\n\r\n", &m), 0);
	ck_assert(m.m_flags & M_ABSOLUTE);
	ck_assert(seq(m.m_host, "Example.COM:8080", 16));
	ck_assert(seq(m.m_path, "/b", 2));
	ck_assert(seq(m.m_query, "q=1", 3));
	ck_assert_int_eq(PREQ("GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", &m),
	    0);
	ck_assert(seq(m.m_path, "/", 1));
	ck_assert(seq(m.m_query, "x", 1));
	ck_assert_int_eq(PREQ("GET https://[::1]:443 HTTP/1.0\r\n\r\n", &m), 0);
	ck_assert(seq(m.m_host, "[::1]:443", 9));
	ck_assert(seq(m.m_path, "/", 1));
	ck_assert_int_eq(PREQ("GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n",
	    &m), 400);
	ck_assert_int_eq(PREQ("GET / HTTP/1.1\r\nHost: WWW.a.b\r\n\r\n", &m),
	    0);
	ck_assert(!(m.m_flags & M_ABSOLUTE));
	ck_assert(seq(m.m_host, "WWW.a.b", 7));
	ck_assert_int_eq(m.m_version, 11);
	ck_assert_int_eq(m.m_meth, HM_GET);
	ck_assert(seq(m.m_method, "GET", 3));
	ck_assert_int_eq(PREQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &m), 0);
	ck_assert(m.m_flags & M_ASTERISK);
	ck_assert(seq(m.m_path, "*", 1));
	ck_assert_int_eq(PREQ("GET / HTTP/1.0\r\n\r\n", &m), 0);
	ck_assert_int_eq(m.m_version, 10);
	ck_assert_ptr_null(m.m_host.p);
	ck_assert_uint_eq(m.m_nfields, 0);
}
END_TEST

START_TEST(t_flags)
{
	struct http_msg	 m;

	ck_assert_int_eq(PREQ("GET / HTTP/1.0\r\n\r\n", &m), 0);
	ck_assert(m.m_flags & M_CLOSE);
	ck_assert_int_eq(PREQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n"
	    "\r\n", &m), 0);
	ck_assert(!(m.m_flags & M_CLOSE));
	ck_assert_int_eq(PREQ("GET / HTTP/1.0\r\nConnection: keep-alive, close"
	    "\r\n\r\n", &m), 0);
	ck_assert(m.m_flags & M_CLOSE);
	ck_assert_int_eq(PREQ(GETH "\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, 0);
	ck_assert_int_eq(PREQ(GETH "Connection: CLOSE\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_CLOSE);
	ck_assert_int_eq(PREQ(GETH "Connection: foo\r\nConnection: close\r\n"
	    "\r\n", &m), 0);
	ck_assert(m.m_flags & M_CLOSE);
	ck_assert_int_eq(PREQ(GETH "Connection: keep-alive\r\n\r\n", &m), 0);
	ck_assert(!(m.m_flags & M_CLOSE));
	ck_assert_int_eq(PREQ(GETH "Connection: a b\r\n\r\n", &m), 400);
	ck_assert_int_eq(PREQ(GETH "Connection: close;x\r\n\r\n", &m), 400);

	/* Upgrades. */
	ck_assert_int_eq(PREQ(GETH "Connection: Upgrade\r\n"
	    "Upgrade: WebSocket\r\nSec-WebSocket-Key: x\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_UPGRADE_WS);
	ck_assert_int_eq(PREQ(GETH "Connection: keep-alive, upgrade\r\n"
	    "Upgrade: websocket/13, foo\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_UPGRADE_WS);
	ck_assert_int_eq(PREQ(GETH "Connection: Upgrade, HTTP2-Settings\r\n"
	    "Upgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_UPGRADE_OTHER);
	ck_assert_int_eq(PREQ(GETH "Connection: upgrade\r\n"
	    "Upgrade: h2c, websocket\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_UPGRADE_OTHER);
	ck_assert_int_eq(PREQ("POST /" H11 "Connection: upgrade\r\n"
	    "Upgrade: websocket\r\nContent-Length: 0\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags & (M_UPGRADE_WS | M_UPGRADE_OTHER), 0);
	ck_assert_int_eq(PREQ(GETH "Upgrade: websocket\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, 0);
	ck_assert_int_eq(PREQ("GET / HTTP/1.0\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_CLOSE);

	/* Expect. */
	ck_assert_int_eq(PREQ("POST /" H11 "Expect: 100-continue\r\n"
	    "Content-Length: 10\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_flags, M_EXPECT_100 | M_CLEN);
	ck_assert_uint_eq(m.m_clen, 10);
	ck_assert_int_eq(PREQ("POST / HTTP/1.0\r\nExpect: 100-continue\r\n"
	    "Content-Length: 10\r\n\r\n", &m), 0);
	ck_assert(!(m.m_flags & M_EXPECT_100));
	ck_assert_int_eq(PREQ(GETH "Expect:\r\n\r\n", &m), 417);

	/* Framing. */
	ck_assert_int_eq(PREQ("POST /" H11 "Content-Length: 0005\r\n\r\n", &m),
	    0);
	ck_assert_uint_eq(m.m_flags, M_CLEN);
	ck_assert_uint_eq(m.m_clen, 5);
	ck_assert_int_eq(PREQ("POST /" H11 "Content-Length: 7,7 , 7\r\n"
	    "content-length: 07\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_clen, 7);
	ck_assert_int_eq(PREQ("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n",
	    &m), 0);
	ck_assert_uint_eq(m.m_flags, M_CHUNKED);
}
END_TEST

static const struct http_field *
field(const struct http_msg *m, const char *name)
{
	unsigned	 i;

	for (i = 0; i < m->m_nfields; i++)
		if (vw_str_caseeq(m->m_fields[i].f_name, name, strlen(name)))
			return (&m->m_fields[i]);
	ck_abort_msg("no field %s", name);
	return (NULL);
}

START_TEST(t_hopbyhop)
{
	static const char	 req[] = "GET / HTTP/1.1\r\n"
	    "Host: a\r\n"
	    "Connection: X-Foo, close , x-bar\r\n"
	    "Keep-Alive: 300\r\n"
	    "Proxy-Connection: keep-alive\r\n"
	    "Proxy-Authorization: Basic x\r\n"
	    "TE: trailers\r\n"
	    "Trailer: X-T\r\n"
	    "Upgrade: foo\r\n"
	    "x-foo: 1\r\n"
	    "X-BAR: 2\r\n"
	    "X-Baz: 3\r\n"
	    "Connection: Cookie, host, content-length\r\n"
	    "Cookie: c=1\r\n"
	    "Content-Length: 0\r\n"
	    "Accept: */*\r\n"
	    "\r\n";
	static const char	*hop[] = { "Connection", "Keep-Alive",
	    "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer",
	    "Upgrade", "x-foo", "X-BAR", "Cookie" };
	static const char	*e2e[] = { "Host", "X-Baz", "Content-Length",
	    "Accept" };
	struct http_msg		 m;
	size_t			 i;

	ck_assert_int_eq(PREQ(req, &m), 0);
	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		ck_assert_msg(field(&m, hop[i])->f_flags & F_HOPBYHOP, "%s",
		    hop[i]);
	for (i = 0; i < sizeof(e2e) / sizeof(e2e[0]); i++)
		ck_assert_msg(!(field(&m, e2e[i])->f_flags & F_HOPBYHOP), "%s",
		    e2e[i]);
	ck_assert(m.m_fields[12].f_flags & F_HOPBYHOP);
	ck_assert(m.m_flags & M_CLOSE);
	ck_assert_int_eq(PREQ("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n",
	    &m), 0);
	ck_assert(field(&m, "Transfer-Encoding")->f_flags & F_HOPBYHOP);
	ck_assert(!(field(&m, "Host")->f_flags & F_HOPBYHOP));
}
END_TEST

struct idcase {
	const char	*name;
	int		 id;
};

static const struct idcase ids[] = {
	{ "Host", H_HOST }, { "HOST", H_HOST },
	{ "content-length", H_CONTENT_LENGTH },
	{ "Transfer-Encoding", H_TRANSFER_ENCODING },
	{ "Connection", H_CONNECTION }, { "Keep-Alive", H_KEEP_ALIVE },
	{ "Proxy-Connection", H_PROXY }, { "proxy-authorization", H_PROXY },
	{ "Proxy-", H_PROXY }, { "Proxy", H_OTHER },
	{ "TE", H_TE }, { "Trailer", H_TRAILER }, { "Upgrade", H_UPGRADE },
	{ "Expect", H_EXPECT }, { "X-Forwarded-For", H_X_FORWARDED_FOR },
	{ "x-forwarded-proto", H_X_FORWARDED_PROTO },
	{ "X-Forwarded-Host", H_X_FORWARDED_HOST },
	{ "X-Request-Id", H_X_REQUEST_ID },
	{ "X-User-Anything", H_IDENTITY }, { "x_user_id", H_IDENTITY },
	{ "X-USER-EMAIL", H_IDENTITY }, { "X_User-Verified", H_IDENTITY },
	{ "X-Session-Id", H_IDENTITY }, { "x_session_id", H_IDENTITY },
	{ "X-Api-Key-Name", H_IDENTITY }, { "X_API_KEY_NAME", H_IDENTITY },
	{ "X-User", H_OTHER }, { "X-Userx", H_OTHER },
	{ "X-Session-Idx", H_OTHER }, { "X-Api-Key", H_OTHER },
	{ "Sec-WebSocket-Key", H_SEC_WS_KEY },
	{ "Sec-WebSocket-Version", H_SEC_WS_VERSION },
	{ "Sec-WebSocket-Accept", H_SEC_WS_ACCEPT },
	{ "Cookie", H_COOKIE }, { "Accept", H_ACCEPT }, { "Origin", H_ORIGIN },
	{ "Referer", H_REFERER }, { "User-Agent", H_USER_AGENT },
	{ "Authorization", H_AUTHORIZATION }, { "Server", H_SERVER },
	{ "Via", H_VIA }, { "X-Powered-By", H_X_POWERED_BY },
	{ "Date", H_DATE },
	{ "Content-Type", H_CONTENT_TYPE },
	{ "X-Frame-Options", H_X_FRAME_OPTIONS },
	{ "Content-Security-Policy", H_CSP },
	{ "Content_Length", H_OTHER }, { "X_Forwarded_For", H_OTHER },
	{ "Hosts", H_OTHER }, { "Acceptx", H_OTHER }, { "X-Foo", H_OTHER },
	{ "", H_OTHER },
};

START_TEST(t_ids)
{
	size_t	 i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct vw_str	 s = { ids[i].name, strlen(ids[i].name) };

		ck_assert_msg((int)http_hdr_id(s) == ids[i].id, "%s",
		    ids[i].name);
	}
}
END_TEST

START_TEST(t_idx)
{
	static const char	 req[] = "GET / HTTP/1.1\r\n"
	    "X-A: 1\r\n"
	    "Host: h\r\n"
	    "X-User-Id: u\r\n"
	    "Cookie: c1\r\n"
	    "cookie: c2\r\n"
	    "x_session_id: s\r\n"
	    "\r\n";
	struct http_msg		 m;
	struct vw_str		 v;

	ck_assert_int_eq(PREQ(req, &m), 0);
	ck_assert_uint_eq(m.m_nfields, 6);
	ck_assert_int_eq(m.m_idx[H_OTHER], 1);
	ck_assert_int_eq(m.m_idx[H_HOST], 2);
	ck_assert_int_eq(m.m_idx[H_IDENTITY], 3);
	ck_assert_int_eq(m.m_idx[H_COOKIE], 4);
	ck_assert_int_eq(m.m_idx[H_ACCEPT], 0);
	ck_assert_int_eq(m.m_fields[5].f_id, H_IDENTITY);
	ck_assert_int_eq(m.m_fields[4].f_id, H_COOKIE);
	v = http_field_get(&m, H_COOKIE);
	ck_assert(seq(v, "c1", 2));
	v = http_field_get(&m, H_ACCEPT);
	ck_assert_ptr_null(v.p);
	ck_assert_uint_eq(v.len, 0);
	ck_assert(seq(m.m_fields[0].f_name, "X-A", 3));
	ck_assert(seq(m.m_fields[0].f_value, "1", 1));
}
END_TEST

START_TEST(t_values)
{
	struct http_msg	 m;

	ck_assert_int_eq(PREQ(GETH "X-A:  \t v a l \t \r\nX-B:x\r\nX-C:\r\n"
	    "X-D: \t\r\n\r\n", &m), 0);
	ck_assert(seq(field(&m, "X-A")->f_value, "v a l", 5));
	ck_assert(seq(field(&m, "X-B")->f_value, "x", 1));
	ck_assert_uint_eq(field(&m, "X-C")->f_value.len, 0);
	ck_assert_uint_eq(field(&m, "X-D")->f_value.len, 0);
}
END_TEST

START_TEST(t_misc)
{
	struct vw_str	 s;
	int		 c, n;

	ck_assert_str_eq(http_reason(413), "Content Too Large");
	ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(http_reason(101), "Switching Protocols");
	ck_assert_str_eq(http_reason(505), "HTTP Version Not Supported");
	ck_assert_str_eq(http_reason(308), "Permanent Redirect");
	ck_assert_str_eq(http_reason(417), "Expectation Failed");
	ck_assert_ptr_nonnull(http_reason(299));
	s.p = "OPTIONS";
	s.len = 7;
	ck_assert_int_eq(http_method_id(s), HM_OPTIONS);
	s.p = "patch";
	s.len = 5;
	ck_assert_int_eq(http_method_id(s), HM_PATCH);
	s.len = 4;
	ck_assert_int_eq(http_method_id(s), HM_OTHER);
	for (c = n = 0; c < 256; c++)
		n += http_is_tchar((unsigned char)c);
	ck_assert_int_eq(n, 26 * 2 + 10 + 15);
	ck_assert(!http_is_tchar(':'));
	ck_assert(http_is_tchar('~'));
}
END_TEST

/* ---------------------------------------------------------------- chunked */

/*
 * Decode body[0..n) split at the given positions (NULL: in one piece).
 * Returns the final rc; *out gets the payload, *consumed the bytes used.
 */
static enum chunk_rc
decode(const char *body, size_t n, size_t split, char *out, size_t *olen,
    size_t *consumed)
{
	struct chunked	 ck;
	enum chunk_rc	 rc = CK_NEED;
	size_t		 off = 0, end, used, doff, dlen;

	chunked_init(&ck);
	*olen = 0;
	while (off < n) {
		end = split && off < split && split < n ? split : n;
		rc = chunked_step(&ck, body + off, end - off, &used, &doff,
		    &dlen);
		if (rc == CK_ERROR)
			break;
		ck_assert_uint_gt(used, 0);
		ck_assert_uint_le(used, end - off);
		if (rc == CK_DATA) {
			ck_assert_uint_gt(dlen, 0);
			ck_assert_uint_le(doff + dlen, used);
			memcpy(out + *olen, body + off + doff, dlen);
			*olen += dlen;
		}
		off += used;
		if (rc == CK_DONE)
			break;
	}
	*consumed = off;
	if (rc != CK_ERROR)
		ck_assert_uint_eq(ck.ck_total, *olen);
	return (rc);
}

struct ccase {
	const char	*body;
	size_t		 len;
	int		 rc;		/* CK_DONE, CK_NEED or CK_ERROR */
	const char	*data;		/* decoded payload when CK_DONE */
};

#define C(b, rc, d)	{ (b), sizeof(b) - 1, (rc), (d) }

static const struct ccase chunks[] = {
	C("0\r\n\r\n", CK_DONE, ""),
	C("5\r\nhello\r\n0\r\n\r\n", CK_DONE, "hello"),
	C("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", CK_DONE, "hello world"),
	C("A\r\n0123456789\r\n0\r\n\r\n", CK_DONE, "0123456789"),
	C("a\r\n0123456789\r\n0\r\n\r\n", CK_DONE, "0123456789"),
	C("0005\r\nhello\r\n000\r\n\r\n", CK_DONE, "hello"),
	C("5;ext\r\nhello\r\n0\r\n\r\n", CK_DONE, "hello"),
	C("5;a=b;c=\"d;e\\\"f\"\r\nhello\r\n0;z\r\n\r\n", CK_DONE, "hello"),
	C("5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", CK_DONE, "hello"),
	C("5\t;\ta\t=\t\"\"\r\nhello\r\n0\r\n\r\n", CK_DONE, "hello"),
	C("5\r\nhello\r\n0\r\nX-T: 1\r\nY: \t2\xff\r\n\r\n", CK_DONE, "hello"),
	C("5\r\nhello\r\n0\r\n\r\nEXTRA", CK_DONE, "hello"),
	C("7fffffffffffffff\r\n", CK_NEED, NULL),
	C("5\r\nhel", CK_NEED, NULL),
	C("", CK_NEED, NULL),
	/* bad sizes */
	C("\r\n", CK_ERROR, NULL),
	C("x\r\n", CK_ERROR, NULL),
	C("-5\r\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("+5\r\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("0x5\r\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C(" 5\r\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("5 \r\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("8000000000000000\r\n", CK_ERROR, NULL),
	C("ffffffffffffffff\r\n", CK_ERROR, NULL),
	C("10000000000000000\r\n", CK_ERROR, NULL),
	/* bad terminators */
	C("5\rhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r0\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhelloX\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello0\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n0\r\n\r\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n0\r\n\rX", CK_ERROR, NULL),
	C("3\r\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	/* bare LF anywhere in the framing (SPEC.md 4) */
	C("5\nhello\n0\n\n", CK_ERROR, NULL),
	C("5\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\n0\r\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n0\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n0\r\n\n", CK_ERROR, NULL),
	C("5;a=b\nhello\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a\nxx\n0\n\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n0\r\nX-T: 1\n\r\n", CK_ERROR, NULL),
	C("5\r\nhello\r\n0\r\nX-T: 1\r\n\n", CK_ERROR, NULL),
	/* funky chunks: TERM.EXT and EXT.TERM */
	C("2;\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a\rxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=\"b\nc\"\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=\"b\rc\"\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=\"bc\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;=b\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a b\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a \r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=b \r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=\"b\"c\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=b\"\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2;a=\"\x01\"\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	C("2\x00\r\nxx\r\n0\r\n\r\n", CK_ERROR, NULL),
	/* bad trailers */
	C("0\r\nX : 1\r\n\r\n", CK_ERROR, NULL),
	C("0\r\n X: 1\r\n\r\n", CK_ERROR, NULL),
	C("0\r\nX: 1\r\n\tfold\r\n\r\n", CK_ERROR, NULL),
	C("0\r\nX\r\n\r\n", CK_ERROR, NULL),
	C("0\r\nX: a\rb\r\n\r\n", CK_ERROR, NULL),
	C("0\r\nX: a\x00\r\n\r\n", CK_ERROR, NULL),
	C("0\r\n: a\r\n\r\n", CK_ERROR, NULL),
};

START_TEST(t_chunked_table)
{
	const struct ccase	*c = &chunks[_i];
	static char		 out[256], out2[256];
	size_t			 olen, olen2, used, used2, s;
	enum chunk_rc		 rc, rc2;

	rc = decode(c->body, c->len, 0, out, &olen, &used);
	ck_assert_msg((int)rc == c->rc || (c->rc == CK_NEED && rc == CK_DATA),
	    "row %d: rc %d want %d", _i, rc, c->rc);
	if (c->rc == CK_DONE) {
		ck_assert_uint_eq(olen, strlen(c->data));
		ck_assert(memcmp(out, c->data, olen) == 0);
	}
	/* Split at every byte boundary: the same verdict and payload. */
	for (s = 1; s < c->len; s++) {
		rc2 = decode(c->body, c->len, s, out2, &olen2, &used2);
		ck_assert_int_eq(rc2, rc);
		ck_assert_uint_eq(olen2, olen);
		ck_assert(memcmp(out, out2, olen) == 0);
		if (rc != CK_ERROR)
			ck_assert_uint_eq(used2, used);
	}
}
END_TEST

START_TEST(t_chunked_bytewise)
{
	static const char	 body[] = "3;x=\"y\"\r\nabc\r\n10\r\n"
	    "0123456789abcdef\r\n0;q\r\nT: v\r\n\r\n";
	struct chunked		 ck;
	char			 out[64];
	size_t			 i, olen = 0, used, doff, dlen;
	enum chunk_rc		 rc = CK_NEED;

	chunked_init(&ck);
	for (i = 0; i < sizeof(body) - 1; i++) {
		rc = chunked_step(&ck, body + i, 1, &used, &doff, &dlen);
		ck_assert_int_ne(rc, CK_ERROR);
		ck_assert_uint_eq(used, 1);
		if (rc == CK_DATA) {
			ck_assert_uint_eq(dlen, 1);
			out[olen++] = body[i];
		}
		if (rc == CK_DONE)
			break;
	}
	ck_assert_int_eq(rc, CK_DONE);
	ck_assert_uint_eq(i, sizeof(body) - 2);
	ck_assert_uint_eq(olen, 19);
	ck_assert(memcmp(out, "abc0123456789abcdef", 19) == 0);
	ck_assert_uint_eq(ck.ck_total, 19);
	/* After the end nothing more is consumed. */
	rc = chunked_step(&ck, "x", 1, &used, &doff, &dlen);
	ck_assert_int_eq(rc, CK_DONE);
	ck_assert_uint_eq(used, 0);
	/* An error is sticky. */
	chunked_init(&ck);
	ck_assert_int_eq(chunked_step(&ck, "z", 1, &used, &doff, &dlen),
	    CK_ERROR);
	ck_assert_int_eq(chunked_step(&ck, "0\r\n\r\n", 5, &used, &doff, &dlen),
	    CK_ERROR);
	/* len 0 */
	chunked_init(&ck);
	ck_assert_int_eq(chunked_step(&ck, "", 0, &used, &doff, &dlen),
	    CK_NEED);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(t_chunked_data_span)
{
	static const char	 body[] = "4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n";
	struct chunked		 ck;
	size_t			 used, doff, dlen;

	chunked_init(&ck);
	ck_assert_int_eq(chunked_step(&ck, body, sizeof(body) - 1, &used, &doff,
	    &dlen), CK_DATA);
	ck_assert_uint_eq(doff, 3);
	ck_assert_uint_eq(dlen, 4);
	ck_assert_uint_eq(used, 7);
	ck_assert_int_eq(chunked_step(&ck, body + 7, sizeof(body) - 8, &used,
	    &doff, &dlen), CK_DATA);
	ck_assert_uint_eq(doff, 5);
	ck_assert_uint_eq(dlen, 2);
	ck_assert_int_eq(chunked_step(&ck, body + 14, sizeof(body) - 15, &used,
	    &doff, &dlen), CK_DONE);
	ck_assert_uint_eq(used, sizeof(body) - 15);
	/* A huge chunk is streamed. */
	chunked_init(&ck);
	ck_assert_int_eq(chunked_step(&ck, "7FFFFFFFFFFFFFFF\r\nab", 20, &used,
	    &doff, &dlen), CK_DATA);
	ck_assert_uint_eq(ck.ck_remain, 0x7FFFFFFFFFFFFFFFULL - 2);
}
END_TEST

START_TEST(t_chunked_limits)
{
	static char	 b[4096];
	char		 out[16];
	size_t		 n, olen, used;
	char		*p;
	int		 i;

	/* 1024 extension bytes are fine, 1025 are not. */
	p = b;
	*p++ = '1';
	*p++ = ';';
	p = repeat(p, 'e', 1023);
	memcpy(p, "\r\nx\r\n0\r\n\r\n", 10);
	n = (size_t)(p + 10 - b);
	ck_assert_int_eq(decode(b, n, 0, out, &olen, &used), CK_DONE);
	p = b;
	*p++ = '1';
	*p++ = ';';
	p = repeat(p, 'e', 1024);
	memcpy(p, "\r\nx\r\n0\r\n\r\n", 10);
	n = (size_t)(p + 10 - b);
	ck_assert_int_eq(decode(b, n, 0, out, &olen, &used), CK_ERROR);
	/* The limit also holds on the last chunk. */
	b[0] = '0';
	ck_assert_int_eq(decode(b, n, 0, out, &olen, &used), CK_ERROR);
	/* Many small extensions add up. */
	p = b;
	*p++ = '1';
	for (i = 0; i < 400; i++)
		p += sprintf(p, ";a");
	memcpy(p, "\r\nx\r\n0\r\n\r\n", 10);
	n = (size_t)(p + 10 - b);
	ck_assert_int_eq(decode(b, n, 0, out, &olen, &used), CK_DONE);
	p = b;
	*p++ = '1';
	for (i = 0; i < 600; i++)
		p += sprintf(p, " ;a");
	memcpy(p, "\r\nx\r\n0\r\n\r\n", 10);
	n = (size_t)(p + 10 - b);
	ck_assert_int_eq(decode(b, n, 0, out, &olen, &used), CK_ERROR);
	/* Leading zeros are bounded. */
	p = repeat(b, '0', 64);
	memcpy(p, "1\r\nx\r\n0\r\n\r\n", 11);
	ck_assert_int_eq(decode(b, (size_t)(p + 11 - b), 0, out, &olen, &used),
	    CK_ERROR);
	p = repeat(b, '0', 63);
	memcpy(p, "1\r\nx\r\n0\r\n\r\n", 11);
	ck_assert_int_eq(decode(b, (size_t)(p + 11 - b), 0, out, &olen, &used),
	    CK_DONE);
	/* 100 trailer fields are fine, 101 are not. */
	p = b + sprintf(b, "0\r\n");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "T%d: v\r\n", i);
	p += sprintf(p, "\r\n");
	ck_assert_int_eq(decode(b, (size_t)(p - b), 0, out, &olen, &used),
	    CK_DONE);
	p = b + sprintf(b, "0\r\n");
	for (i = 0; i < 101; i++)
		p += sprintf(p, "T%d: v\r\n", i);
	p += sprintf(p, "\r\n");
	ck_assert_int_eq(decode(b, (size_t)(p - b), 0, out, &olen, &used),
	    CK_ERROR);
}
END_TEST

START_TEST(t_chunked_trailer_line)
{
	static char	 b[20000];
	char		 out[16];
	size_t		 olen, used;
	char		*p;

	p = b + sprintf(b, "0\r\nX: ");
	p = repeat(p, 'v', HTTP_MAX_LINE - 3);
	p += sprintf(p, "\r\n\r\n");
	ck_assert_int_eq(decode(b, (size_t)(p - b), 0, out, &olen, &used),
	    CK_DONE);
	p = b + sprintf(b, "0\r\nX: ");
	p = repeat(p, 'v', HTTP_MAX_LINE - 2);
	p += sprintf(p, "\r\n\r\n");
	ck_assert_int_eq(decode(b, (size_t)(p - b), 0, out, &olen, &used),
	    CK_ERROR);
}
END_TEST

/* ---------------------------------------------------------------- responses */

struct scase {
	const char	*resp;
	size_t		 len;
	int		 want;
};

static const struct scase resps[] = {
	R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0),
	R("HTTP/1.1 200 OK\r\n\r\n", 0),
	R("HTTP/1.0 200 OK\r\n\r\n", 0),
	R("HTTP/1.1 200\r\n\r\n", 0),
	R("HTTP/1.1 200 \r\n\r\n", 0),
	R("HTTP/1.1 404 Not \t Found \xe9\r\n\r\n", 0),
	R("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n", 0),
	R("HTTP/1.1 200 OK\nContent-Length: 5\n\n", 0),
	R("\r\nHTTP/1.1 200 OK\r\n\r\n", 0),
	R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
	R("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 0),
	R("HTTP/1.1 599 X\r\n\r\n", 0),
	R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -1),
	R("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    -1),
	R("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", -1),
	R("HTTP/2 200 OK\r\n\r\n", -1),
	R("HTTP/2.0 200 OK\r\n\r\n", -1),
	R("HTTP/1.1 20 OK\r\n\r\n", -1),
	R("HTTP/1.1 2000 OK\r\n\r\n", -1),
	R("HTTP/1.1 099 X\r\n\r\n", -1),
	R("HTTP/1.1 600 X\r\n\r\n", -1),
	R("HTTP/1.1  200 OK\r\n\r\n", -1),
	R("HTTP/1.1 200OK\r\n\r\n", -1),
	R("http/1.1 200 OK\r\n\r\n", -1),
	R("HTTP/1.1 200 O\x01K\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\nX\r\n\r\n", -1),
	R("HTTP/1.1 200 OK\r\n", -1),
	R("HTTP/1.1 200 OK", -1),
	R("", -1),
};

START_TEST(t_resp_table)
{
	const struct scase	*c = &resps[_i];
	struct http_msg		 m;
	int			 rc;

	rc = presp(c->resp, c->len, &m);
	ck_assert_msg(rc == c->want, "row %d: got %d: %.*s", _i, rc,
	    (int)c->len, c->resp);
	if (rc == 0)
		ck_assert_uint_eq(m.m_head_len, c->len);
}
END_TEST

START_TEST(t_resp)
{
	struct http_msg	 m;

	ck_assert_int_eq(PRESP("HTTP/1.1 404 Not Found\r\n"
	    "Content-Length: 010\r\nServer: x\r\n\r\n", &m), 0);
	ck_assert_int_eq(m.m_status, 404);
	ck_assert_int_eq(m.m_version, 11);
	ck_assert(seq(m.m_reason, "Not Found", 9));
	ck_assert_uint_eq(m.m_clen, 10);
	ck_assert_uint_eq(m.m_flags, M_CLEN);
	ck_assert_int_eq(m.m_idx[H_SERVER], 2);
	ck_assert_int_eq(http_response_body(&m, HM_GET), HB_LENGTH);
	ck_assert_int_eq(http_response_body(&m, HM_HEAD), HB_NONE);

	ck_assert_int_eq(PRESP("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", &m), 0);
	ck_assert_int_eq(http_response_body(&m, HM_GET), HB_CHUNKED);
	ck_assert_int_eq(http_response_body(&m, HM_HEAD), HB_NONE);

	ck_assert_int_eq(PRESP("HTTP/1.1 200\r\n\r\n", &m), 0);
	ck_assert_uint_eq(m.m_reason.len, 0);
	ck_assert_int_eq(http_response_body(&m, HM_POST), HB_CLOSE);

	ck_assert_int_eq(PRESP("HTTP/1.1 204 No Content\r\n"
	    "Content-Length: 0\r\n\r\n", &m), 0);
	ck_assert_int_eq(http_response_body(&m, HM_GET), HB_NONE);
	ck_assert_int_eq(PRESP("HTTP/1.1 304 Not Modified\r\nContent-Length: 99"
	    "\r\n\r\n", &m), 0);
	ck_assert_int_eq(http_response_body(&m, HM_GET), HB_NONE);
	ck_assert_int_eq(PRESP("HTTP/1.1 100 Continue\r\n\r\n", &m), 0);
	ck_assert_int_eq(http_response_body(&m, HM_POST), HB_NONE);
	ck_assert_int_eq(PRESP("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
	    &m), 0);
	ck_assert_int_eq(http_response_body(&m, HM_GET), HB_NONE);

	/* Connection handling as for requests. */
	ck_assert_int_eq(PRESP("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
	    &m), 0);
	ck_assert(m.m_flags & M_CLOSE);
	ck_assert_int_eq(m.m_version, 10);
	ck_assert_int_eq(PRESP("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	    "\r\n", &m), 0);
	ck_assert(!(m.m_flags & M_CLOSE));
	ck_assert_int_eq(PRESP("HTTP/1.1 200 OK\r\nConnection: close, X-A\r\n"
	    "X-A: 1\r\nServer: s\r\n\r\n", &m), 0);
	ck_assert(m.m_flags & M_CLOSE);
	ck_assert(m.m_fields[1].f_flags & F_HOPBYHOP);
	ck_assert(!(m.m_fields[2].f_flags & F_HOPBYHOP));
	ck_assert_int_eq(PRESP("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: abc\r\n\r\n", &m), 0);
	ck_assert(m.m_flags & M_UPGRADE_WS);
	ck_assert(seq(http_field_get(&m, H_SEC_WS_ACCEPT), "abc", 3));
}
END_TEST

static Suite *
http_parse_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("http_parse");
	tc = tcase_create("request_table");
	tcase_add_loop_test(tc, t_table, 0, sizeof(reqs) / sizeof(reqs[0]));
	tcase_add_loop_test(tc, t_table_head_end, 0,
	    sizeof(reqs) / sizeof(reqs[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("head");
	tcase_add_test(tc, t_line_limits);
	tcase_add_test(tc, t_head_end);
	tcase_add_test(tc, t_head_end_incremental);
	tcase_add_test(tc, t_fields_count);
	tcase_add_test(tc, t_arena_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_loop_test(tc, t_path, 0, sizeof(paths) / sizeof(paths[0]));
	tcase_add_test(tc, t_forms);
	tcase_add_test(tc, t_flags);
	tcase_add_test(tc, t_hopbyhop);
	tcase_add_test(tc, t_ids);
	tcase_add_test(tc, t_idx);
	tcase_add_test(tc, t_values);
	tcase_add_test(tc, t_misc);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_loop_test(tc, t_chunked_table, 0,
	    sizeof(chunks) / sizeof(chunks[0]));
	tcase_add_test(tc, t_chunked_bytewise);
	tcase_add_test(tc, t_chunked_data_span);
	tcase_add_test(tc, t_chunked_limits);
	tcase_add_test(tc, t_chunked_trailer_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_loop_test(tc, t_resp_table, 0,
	    sizeof(resps) / sizeof(resps[0]));
	tcase_add_test(tc, t_resp);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 nf;

	sr = srunner_create(http_parse_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
