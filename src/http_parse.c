/*
 * http_parse.c: strict HTTP/1.1 message parsing (RFC 9112, RFC 9110).
 *
 * Run by workers on untrusted bytes from clients and upstreams.  Pure: no
 * I/O, no malloc, no global state; the only allocations come from the
 * caller's arena.  It must never read past the length it is given, never
 * loop without consuming input and never crash.  Verdicts follow SPEC.md 4;
 * where SPEC is silent the choice is documented next to the code with the
 * RFC section behind it.
 */
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

/*
 * RFC 9112 2.2: "a server SHOULD ignore at least one empty line (CRLF)
 * received prior to the request-line".  We skip up to this many, and
 * reject more (a stream of CRLFs is not a request).
 */
#define HTTP_MAX_LEAD	4

/* RFC 9112 7.1.1: the server "ought to limit" chunk extensions. */
#define CK_MAX_EXT	1024
/* Digits of one chunk-size, leading zeros included. */
#define CK_MAX_DIGITS	64

/* Character classes, one byte each (ctab[]). */
#define C_TCHAR	0x01	/* RFC 9110 5.6.2 tchar */
#define C_FVAL	0x02	/* field-vchar / SP / HTAB (RFC 9110 5.5), obs-text */
#define C_TGT	0x04	/* allowed in a request-target, see target_ok */
#define C_HEX	0x08	/* HEXDIG */
#define C_UNRES	0x10	/* RFC 3986 2.3 unreserved; also reg-name chars */
#define C_QD	0x20	/* qdtext (RFC 9110 5.6.4) */
#define C_WS	0x40	/* SP / HTAB */
#define C_DIGIT	0x80	/* DIGIT */

/*
 * C_TGT: RFC 3986 allows only unreserved, sub-delims, ":@/?%" in a target.
 * SPEC.md 4 requires rejecting '#', CTLs, SP and bytes >= 0x80; we also
 * reject '"', '<' and '>', which browsers always percent-encode (WHATWG
 * query percent-encode set), but tolerate "[]\\^`{|}" that real clients
 * send raw in query strings.  '\\' is refused in the path (path_norm).
 */
static const uint8_t ctab[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x00 */
	0x00, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x08 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x10 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x18 */
	0x62, 0x27, 0x02, 0x23, 0x27, 0x27, 0x27, 0x27,	/* 0x20 */
	0x26, 0x26, 0x27, 0x27, 0x26, 0x37, 0x37, 0x26,	/* 0x28 */
	0xbf, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf,	/* 0x30 */
	0xbf, 0xbf, 0x26, 0x26, 0x22, 0x26, 0x22, 0x26,	/* 0x38 */
	0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37,	/* 0x40 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 0x48 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 0x50 */
	0x37, 0x37, 0x37, 0x26, 0x06, 0x26, 0x27, 0x37,	/* 0x58 */
	0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37,	/* 0x60 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 0x68 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 0x70 */
	0x37, 0x37, 0x37, 0x26, 0x27, 0x26, 0x37, 0x00,	/* 0x78 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0x80 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0x88 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0x90 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0x98 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xa0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xa8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xb0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xb8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xc0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xc8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xd0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xd8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xe0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xe8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xf0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 0xf8 */
};

static const struct vw_str slash = { "/", 1 };
static const struct vw_str star = { "*", 1 };

static int
hexval(unsigned char c)
{
	if (c <= '9')
		return (c - '0');
	return ((c | 0x20) - 'a' + 10);
}

/* Upper-case of a HEXDIG. */
static char
hexup(char c)
{
	return (c >= 'a' ? (char)(c - 'a' + 'A') : c);
}

int
http_is_tchar(unsigned char c)
{
	return ((ctab[c] & C_TCHAR) != 0);
}

/* Case-insensitive compare against a lower-case literal; '_' matches '-'. */
static int
name_eq_us(const char *p, const char *lit, size_t n)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '_')
			c = '-';
		else if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)lit[i])
			return (0);
	}
	return (1);
}

/* Case-insensitive compare against a lower-case literal (ASCII only). */
static int
ieq(const char *p, const char *lit, size_t n)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)lit[i])
			return (0);
	}
	return (1);
}

/*
 * Word-at-a-time scanning (the classic "has zero byte" bit trick): the
 * tests only say whether some byte of the word matches, so they do not
 * depend on byte order; the exact byte is then found one byte at a time.
 */
#define W_ONES	0x0101010101010101ULL
#define W_HIGHS	0x8080808080808080ULL

static uint64_t
w_haszero(uint64_t v)
{
	return ((v - W_ONES) & ~v & W_HIGHS);
}

/* Length of the leading run of p[0..n) without NUL, CR or LF. */
static size_t
run_plain(const char *p, size_t n)
{
	uint64_t	 v;
	size_t		 i = 0;

	for (; n - i >= 8; i += 8) {
		memcpy(&v, p + i, 8);
		if (w_haszero(v) | w_haszero(v ^ (W_ONES * '\r')) |
		    w_haszero(v ^ (W_ONES * '\n')))
			break;
	}
	for (; i < n; i++)
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n')
			break;
	return (i);
}

/* Length of the leading run of p[0..n) of C_FVAL bytes. */
static size_t
run_fval(const char *p, size_t n)
{
	uint64_t	 v;
	size_t		 i = 0;

	/* Bytes below 0x20 (HTAB included: it takes the slow path) or DEL. */
	for (; n - i >= 8; i += 8) {
		memcpy(&v, p + i, 8);
		if (((v - W_ONES * 0x20) & ~v & W_HIGHS) |
		    w_haszero(v ^ (W_ONES * 0x7f)))
			break;
	}
	for (; i < n; i++)
		if (!(ctab[(unsigned char)p[i]] & C_FVAL))
			break;
	return (i);
}

enum http_hdr_id
http_hdr_id(struct vw_str name)
{
	const char	*p = name.p;
	size_t		 n = name.len;
	int		 c;

	if (n == 0)
		return (H_OTHER);
	c = (unsigned char)p[0] | 0x20;
	/* Prefix families first (SPEC.md 6: any case, '_' for '-'). */
	if (c == 'x' && n >= 7 && name_eq_us(p, "x-user-", 7))
		return (H_IDENTITY);
	if (c == 'p' && n >= 6 && ieq(p, "proxy-", 6))
		return (H_PROXY);
	switch (n) {
	case 2:
		if (ieq(p, "te", 2))
			return (H_TE);
		break;
	case 3:
		if (ieq(p, "via", 3))
			return (H_VIA);
		break;
	case 4:
		if (c == 'h' && ieq(p, "host", 4))
			return (H_HOST);
		if (c == 'd' && ieq(p, "date", 4))
			return (H_DATE);
		break;
	case 6:
		if (c == 'c' && ieq(p, "cookie", 6))
			return (H_COOKIE);
		if (c == 'a' && ieq(p, "accept", 6))
			return (H_ACCEPT);
		if (c == 'o' && ieq(p, "origin", 6))
			return (H_ORIGIN);
		if (c == 'e' && ieq(p, "expect", 6))
			return (H_EXPECT);
		if (c == 's' && ieq(p, "server", 6))
			return (H_SERVER);
		break;
	case 7:
		if (c == 'u' && ieq(p, "upgrade", 7))
			return (H_UPGRADE);
		if (c == 't' && ieq(p, "trailer", 7))
			return (H_TRAILER);
		if (c == 'r' && ieq(p, "referer", 7))
			return (H_REFERER);
		break;
	case 10:
		if (c == 'c' && ieq(p, "connection", 10))
			return (H_CONNECTION);
		if (c == 'u' && ieq(p, "user-agent", 10))
			return (H_USER_AGENT);
		if (c == 'k' && ieq(p, "keep-alive", 10))
			return (H_KEEP_ALIVE);
		break;
	case 12:
		if (c == 'c' && ieq(p, "content-type", 12))
			return (H_CONTENT_TYPE);
		if (c == 'x' && ieq(p, "x-request-id", 12))
			return (H_X_REQUEST_ID);
		if (c == 'x' && ieq(p, "x-powered-by", 12))
			return (H_X_POWERED_BY);
		if (c == 'x' && name_eq_us(p, "x-session-id", 12))
			return (H_IDENTITY);
		break;
	case 13:
		if (c == 'a' && ieq(p, "authorization", 13))
			return (H_AUTHORIZATION);
		break;
	case 14:
		if (c == 'c' && ieq(p, "content-length", 14))
			return (H_CONTENT_LENGTH);
		if (c == 'x' && name_eq_us(p, "x-api-key-name", 14))
			return (H_IDENTITY);
		break;
	case 15:
		if (c == 'x' && ieq(p, "x-forwarded-for", 15))
			return (H_X_FORWARDED_FOR);
		if (c == 'x' && ieq(p, "x-frame-options", 15))
			return (H_X_FRAME_OPTIONS);
		break;
	case 16:
		if (c == 'x' && ieq(p, "x-forwarded-host", 16))
			return (H_X_FORWARDED_HOST);
		break;
	case 17:
		if (c == 't' && ieq(p, "transfer-encoding", 17))
			return (H_TRANSFER_ENCODING);
		if (c == 'x' && ieq(p, "x-forwarded-proto", 17))
			return (H_X_FORWARDED_PROTO);
		if (c == 's' && ieq(p, "sec-websocket-key", 17))
			return (H_SEC_WS_KEY);
		break;
	case 20:
		if (c == 's' && ieq(p, "sec-websocket-accept", 20))
			return (H_SEC_WS_ACCEPT);
		break;
	case 21:
		if (c == 's' && ieq(p, "sec-websocket-version", 21))
			return (H_SEC_WS_VERSION);
		break;
	case 23:
		if (c == 'c' && ieq(p, "content-security-policy", 23))
			return (H_CSP);
		break;
	}
	return (H_OTHER);
}

enum http_method
http_method_id(struct vw_str s)
{
	const char	*p = s.p;

	switch (s.len) {
	case 3:
		if (ieq(p, "get", 3))
			return (HM_GET);
		if (ieq(p, "put", 3))
			return (HM_PUT);
		break;
	case 4:
		if (ieq(p, "head", 4))
			return (HM_HEAD);
		if (ieq(p, "post", 4))
			return (HM_POST);
		break;
	case 5:
		if (ieq(p, "patch", 5))
			return (HM_PATCH);
		if (ieq(p, "trace", 5))
			return (HM_TRACE);
		break;
	case 6:
		if (ieq(p, "delete", 6))
			return (HM_DELETE);
		break;
	case 7:
		if (ieq(p, "options", 7))
			return (HM_OPTIONS);
		if (ieq(p, "connect", 7))
			return (HM_CONNECT);
		break;
	}
	return (HM_OTHER);
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return ("Continue");
	case 101: return ("Switching Protocols");
	case 200: return ("OK");
	case 204: return ("No Content");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 304: return ("Not Modified");
	case 307: return ("Temporary Redirect");
	case 308: return ("Permanent Redirect");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 411: return ("Length Required");
	case 413: return ("Content Too Large");
	case 414: return ("URI Too Long");
	case 415: return ("Unsupported Media Type");
	case 417: return ("Expectation Failed");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 501: return ("Not Implemented");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	case 505: return ("HTTP Version Not Supported");
	}
	return ("Unknown");
}

struct vw_str
http_field_get(const struct http_msg *m, enum http_hdr_id id)
{
	struct vw_str	 none = { NULL, 0 };
	int		 i;

	if ((unsigned)id >= H__COUNT || (i = m->m_idx[id]) == 0)
		return (none);
	return (m->m_fields[i - 1].f_value);
}

/*
 * Length of the empty lines at buf[0..len) (RFC 9112 2.2), or -1 when
 * there are more than HTTP_MAX_LEAD of them.  A CR at the very end is left
 * for the caller.
 */
static ssize_t
skip_lead(const char *buf, size_t len)
{
	size_t	 pos = 0;
	int	 n = 0;

	for (;;) {
		if (pos < len && buf[pos] == '\n')
			pos++;
		else if (pos + 1 < len && buf[pos] == '\r' &&
		    buf[pos + 1] == '\n')
			pos += 2;
		else
			break;
		if (++n > HTTP_MAX_LEAD)
			return (-1);
	}
	return ((ssize_t)pos);
}

/*
 * The scan is restartable from *scan alone: the request line's start is
 * re-derived (at most HTTP_MAX_LEAD empty lines) and the current line's
 * start is found by looking back at most HTTP_MAX_LINE + 1 bytes, so every
 * byte is classified once.  *scan never rests just after a CR, because a CR
 * is only consumed together with the LF that must follow it.  A bare LF
 * ends a line (RFC 9112 2.2 MAY), exactly as in the parser below.
 */
ssize_t
http_head_end(const char *buf, size_t len, size_t *scan, size_t max_head,
    int is_request)
{
	ssize_t		 lead;
	size_t		 rls, pos, ls, lo, stop;
	unsigned char	 c;

	if ((lead = skip_lead(buf, len)) < 0)
		return (-400);
	rls = (size_t)lead;
	if (rls > max_head)
		return (-431);
	pos = *scan;
	if (pos < rls || pos > len)
		pos = rls;
	lo = pos - rls > HTTP_MAX_LINE + 1 ? pos - (HTTP_MAX_LINE + 1) : rls;
	for (ls = pos; ls > lo && buf[ls - 1] != '\n'; ls--)
		;
	for (;;) {
		/* Fast path: plain line bytes within every limit. */
		stop = len;
		if (stop > max_head)
			stop = max_head;
		if (stop > ls + HTTP_MAX_LINE)
			stop = ls + HTTP_MAX_LINE;
		if (pos < stop)
			pos += run_plain(buf + pos, stop - pos);
		if (pos == len)
			break;
		if (pos >= max_head) {
			*scan = pos;
			return (-431);
		}
		c = (unsigned char)buf[pos];
		if (c == '\n') {
			if (pos == ls || (pos == ls + 1 && buf[ls] == '\r')) {
				*scan = pos + 1;
				return ((ssize_t)(pos + 1));
			}
			ls = pos + 1;
		} else if (c == '\r') {
			if (pos + 1 == len)
				break;
			if (buf[pos + 1] != '\n')
				return (-400);
		} else if (c == '\0')
			return (-400);
		else if (pos - ls >= HTTP_MAX_LINE)
			return (ls == rls && is_request ? -414 : -431);
		pos++;
	}
	*scan = pos;
	if (pos >= max_head)
		return (-431);
	return (0);
}

/*
 * Next element of a comma-separated list (RFC 9110 5.6.1), OWS trimmed;
 * the element may be empty.  Returns 0 when the list is exhausted.
 */
static int
list_next(struct vw_str *rest, struct vw_str *elem)
{
	const char	*p, *e, *s, *t;

	if (rest->p == NULL)
		return (0);
	p = rest->p;
	e = p + rest->len;
	for (s = p; s < e && *s != ','; s++)
		;
	t = s;
	while (p < t && (ctab[(unsigned char)*p] & C_WS))
		p++;
	while (t > p && (ctab[(unsigned char)t[-1]] & C_WS))
		t--;
	elem->p = p;
	elem->len = (size_t)(t - p);
	if (s < e) {
		rest->p = s + 1;
		rest->len = (size_t)(e - s - 1);
	} else {
		rest->p = NULL;
		rest->len = 0;
	}
	return (1);
}

static int
is_token(struct vw_str s)
{
	size_t	 i;

	if (s.len == 0)
		return (0);
	for (i = 0; i < s.len; i++)
		if (!(ctab[(unsigned char)s.p[i]] & C_TCHAR))
			return (0);
	return (1);
}

/*
 * uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2).  Stricter than
 * RFC 3986: a reg-name is limited to unreserved characters (no
 * pct-encoding, no sub-delims such as ',' or ';'), IP literals must be
 * IPv6 (no IPvFuture, no zone id), an empty host is refused (a reverse
 * proxy has nothing to forward) and a port is 1*5DIGIT <= 65535.  When
 * need_port is set the port is required (authority-form, RFC 9112 3.2.3).
 */
static int
host_valid(const char *p, size_t n, int need_port)
{
	const char	*e = p + n, *q;
	char		 v6[INET6_ADDRSTRLEN];
	struct in6_addr	 in6;
	unsigned long	 port;
	size_t		 nd;

	if (n == 0)
		return (0);
	if (*p == '[') {
		if ((q = memchr(p, ']', n)) == NULL)
			return (0);
		nd = (size_t)(q - p - 1);
		if (nd < 2 || nd >= sizeof(v6))
			return (0);
		memcpy(v6, p + 1, nd);
		v6[nd] = '\0';
		if (inet_pton(AF_INET6, v6, &in6) != 1)
			return (0);
		p = q + 1;
	} else {
		for (q = p; q < e && (ctab[(unsigned char)*q] & C_UNRES); q++)
			;
		if (q == p)
			return (0);
		p = q;
	}
	if (p == e)
		return (!need_port);
	if (*p++ != ':' || p == e || e - p > 5)
		return (0);
	for (port = 0; p < e; p++) {
		if (!(ctab[(unsigned char)*p] & C_DIGIT))
			return (0);
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return (port <= 65535);
}

/*
 * The name of a path segment s[0..n): what precedes its first ';'.  RFC
 * 3986 3.3 leaves ';' to the application, and servlet containers (Tomcat,
 * Jetty) strip ";params" before they resolve dot segments, so "..;x" is
 * ".." to them.  1 when that name is "." or "..".
 */
static int
dot_name(const char *s, size_t n)
{
	const char	*semi;

	if ((semi = memchr(s, ';', n)) == NULL)
		return (0);
	n = (size_t)(semi - s);
	return ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' &&
	    s[1] == '.'));
}

/*
 * RFC 3986 5.2.4 remove_dot_segments, in place on d[0..n) which starts
 * with '/', merging empty segments ("//") as nginx's merge_slashes does,
 * so that "//admin" is "/admin" to every later stage and to the
 * application alike.  Never climbs above the root.  Returns the new
 * length (>= 1), or -1 for a segment that is a dot segment once its
 * ";params" are stripped ("..;", ".;x"): the one reading in which
 * vibewarden and a servlet container would disagree about the path.
 */
static ssize_t
remove_dots(char *d, size_t n)
{
	size_t	 i = 0, o = 0, j, sl;

	while (i < n) {
		for (j = i + 1; j < n && d[j] != '/'; j++)
			;
		sl = j - i - 1;
		if (sl == 0 && j < n) {
			/* "//": an empty segment, merged */
		} else if (sl == 1 && d[i + 1] == '.') {
			if (j == n)
				d[o++] = '/';
		} else if (sl == 2 && d[i + 1] == '.' && d[i + 2] == '.') {
			while (o > 0 && d[--o] != '/')
				;
			if (j == n)
				d[o++] = '/';
		} else if (dot_name(d + i + 1, sl))
			return (-1);
		else {
			memmove(d + o, d + i, j - i);
			o += j - i;
		}
		i = j;
	}
	if (o == 0)
		d[o++] = '/';
	return ((ssize_t)o);
}

/*
 * Validate and normalise the path p[0..n) (p[0] == '/', chars already
 * C_TGT): %XX of unreserved characters decoded, other %XX upper-cased,
 * then empty segments merged and dot segments removed (so "%2e%2e" counts
 * as ".." too).  SPEC.md 6: %2F is refused, as is a malformed escape.
 * '\\' and %5C are refused because IIS and others treat them as '/', %00
 * because C code behind us ends the path there, and a dot segment
 * followed by ";params" (see remove_dots()).  The common case needs no
 * copy.  Returns 0 or an HTTP status.
 */
static int
path_norm(const char *p, size_t n, struct arena *a, struct vw_str *out)
{
	size_t	 i, o;
	ssize_t	 len;
	int	 copy = 0, v;
	char	*d;

	for (i = 1; i < n; i++) {
		if (p[i] == '\\')
			return (400);
		if (p[i] == '%' || (p[i - 1] == '/' &&
		    (p[i] == '.' || p[i] == '/')))
			copy = 1;
	}
	if (!copy) {
		out->p = p;
		out->len = n;
		return (0);
	}
	if ((d = arena_alloc(a, n)) == NULL)
		return (431);
	for (i = o = 0; i < n; ) {
		if (p[i] != '%') {
			d[o++] = p[i++];
			continue;
		}
		if (n - i < 3 || !(ctab[(unsigned char)p[i + 1]] & C_HEX) ||
		    !(ctab[(unsigned char)p[i + 2]] & C_HEX))
			return (400);
		v = hexval((unsigned char)p[i + 1]) << 4 |
		    hexval((unsigned char)p[i + 2]);
		if (v == '/' || v == '\\' || v == '\0')
			return (400);
		if (ctab[v] & C_UNRES)
			d[o++] = (char)v;
		else {
			d[o++] = '%';
			d[o++] = hexup(p[i + 1]);
			d[o++] = hexup(p[i + 2]);
		}
		i += 3;
	}
	if ((len = remove_dots(d, o)) == -1)
		return (400);
	out->p = d;
	out->len = (size_t)len;
	return (0);
}

/*
 * Classify and check the request-target t[0..n) (RFC 9112 3.2).  Sets
 * m_path, m_query, M_ABSOLUTE/M_ASTERISK and, for absolute-form, m_host.
 */
static int
parse_target(struct http_msg *m, const char *t, size_t n, struct arena *a)
{
	const char	*e = t + n, *q, *auth;
	size_t		 sl;

	if (n == 1 && *t == '*') {
		/* RFC 9112 3.2.4: asterisk-form is for OPTIONS only. */
		if (m->m_meth != HM_OPTIONS)
			return (400);
		m->m_flags |= M_ASTERISK;
		m->m_path = star;
		return (0);
	}
	if (m->m_meth == HM_CONNECT) {
		/* RFC 9112 3.2.3: authority-form, CONNECT only (405 later). */
		if (!host_valid(t, n, 1))
			return (400);
		m->m_host.p = t;
		m->m_host.len = n;
		m->m_path = slash;
		return (0);
	}
	if (*t != '/') {
		/* RFC 9112 3.2.2 absolute-form; the scheme is case-insensitive
		   (RFC 3986 3.1), only http and https make sense here. */
		if (n > 7 && ieq(t, "http://", 7))
			sl = 7;
		else if (n > 8 && ieq(t, "https://", 8))
			sl = 8;
		else
			return (400);
		auth = t + sl;
		for (q = auth; q < e && *q != '/' && *q != '?'; q++)
			;
		/* No userinfo: '@' is not a reg-name character. */
		if (!host_valid(auth, (size_t)(q - auth), 0))
			return (400);
		m->m_host.p = auth;
		m->m_host.len = (size_t)(q - auth);
		m->m_flags |= M_ABSOLUTE;
		t = q;
		if (t == e || *t == '?') {
			m->m_path = slash;
			if (t < e) {
				m->m_query.p = t + 1;
				m->m_query.len = (size_t)(e - t - 1);
			}
			return (0);
		}
	}
	/* The query stays raw; its characters were checked as C_TGT. */
	if ((q = memchr(t, '?', (size_t)(e - t))) != NULL) {
		m->m_query.p = q + 1;
		m->m_query.len = (size_t)(e - q - 1);
	} else
		q = e;
	return (path_norm(t, (size_t)(q - t), a, &m->m_path));
}

/*
 * Request line (RFC 9112 3).  *posp is at its first byte and is moved past
 * its line terminator.
 */
static int
parse_request_line(const char *buf, size_t len, size_t *posp,
    struct http_msg *m, struct arena *a)
{
	const char	*s = buf + *posp, *p, *t, *te, *nl, *eol;
	size_t		 win, i;
	int		 rc;

	win = len - *posp;
	if (win > HTTP_MAX_LINE + 2)
		win = HTTP_MAX_LINE + 2;
	if ((nl = memchr(s, '\n', win)) == NULL)
		return (win == HTTP_MAX_LINE + 2 ? 414 : 400);
	eol = nl > s && nl[-1] == '\r' ? nl - 1 : nl;
	if (eol - s > HTTP_MAX_LINE)
		return (414);
	*posp = (size_t)(nl + 1 - buf);

	for (p = s; p < eol && (ctab[(unsigned char)*p] & C_TCHAR); p++)
		;
	if (p == s || p == eol || *p != ' ')
		return (400);
	m->m_method.p = s;
	m->m_method.len = (size_t)(p - s);
	m->m_meth = http_method_id(m->m_method);
	/*
	 * RFC 9110 9.1: methods are case-sensitive, so "get" is not GET.  A
	 * case variant of a method we know could be read as that method by
	 * the upstream but not by us (HEAD changes response framing): refuse.
	 */
	if (m->m_meth != HM_OTHER)
		for (i = 0; i < m->m_method.len; i++)
			if (s[i] >= 'a' && s[i] <= 'z')
				return (400);

	for (t = ++p; p < eol && (ctab[(unsigned char)*p] & C_TGT); p++)
		;
	if (p == t || p == eol || *p != ' ')
		return (400);	/* empty target, bad char, HTTP/0.9 */
	te = p++;
	/* RFC 9112 2.3: case-sensitive "HTTP/" DIGIT "." DIGIT */
	if (eol - p != 8 || memcmp(p, "HTTP/", 5) != 0 ||
	    !(ctab[(unsigned char)p[5]] & C_DIGIT) || p[6] != '.' ||
	    !(ctab[(unsigned char)p[7]] & C_DIGIT))
		return (400);
	m->m_target.p = t;
	m->m_target.len = (size_t)(te - t);
	if ((rc = parse_target(m, t, (size_t)(te - t), a)) != 0)
		return (rc);
	if (p[5] == '1' && p[7] == '1')
		m->m_version = 11;
	else if (p[5] == '1' && p[7] == '0')
		m->m_version = 10;
	else
		return (505);
	return (0);
}

/* Fields named hop-by-hop by their own definition (RFC 9110 7.6.1). */
static int
hop_by_id(int id)
{
	switch (id) {
	case H_CONNECTION:
	case H_KEEP_ALIVE:
	case H_PROXY:
	case H_TE:
	case H_TRAILER:
	case H_UPGRADE:
	case H_TRANSFER_ENCODING:
		return (1);
	}
	return (0);
}

/*
 * Field lines up to and including the empty line (RFC 9112 5, RFC 9110
 * 5.5).  The field array is sized by counting the LFs left (memchr is
 * cheap), bounded by HTTP_MAX_FIELDS.  Returns 0, 400 or 431.
 */
static int
parse_fields(const char *buf, size_t len, size_t pos, struct http_msg *m,
    struct arena *a)
{
	const char		*p, *end = buf + len, *ls, *ne, *vs, *ve;
	struct http_field	*f;
	size_t			 cap;
	int			 id;

	for (cap = 0, p = buf + pos; cap <= HTTP_MAX_FIELDS && p < end &&
	    (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		cap++;
	if (cap == 0)
		return (400);	/* no empty line: incomplete head */
	cap--;
	if (cap > HTTP_MAX_FIELDS)
		cap = HTTP_MAX_FIELDS;
	if (cap > 0 && (m->m_fields = arena_alloc(a,
	    cap * sizeof(*m->m_fields))) == NULL)
		return (431);

	for (p = buf + pos;;) {
		if (p == end)
			return (400);
		ls = p;
		if (*p == '\n') {
			p++;
			break;
		}
		if (*p == '\r') {
			if (p + 1 < end && p[1] == '\n') {
				p += 2;
				break;
			}
			return (400);
		}
		/*
		 * A line starting with SP/HTAB (obs-fold, or whitespace before
		 * the first field), whitespace before ':', no ':' or a bad name
		 * char all stop here (RFC 9112 5.1, 5.2, 2.2).
		 */
		while (p < end && (ctab[(unsigned char)*p] & C_TCHAR))
			p++;
		if (p == ls || p == end || *p != ':')
			return (400);
		ne = p++;
		while (p < end && (ctab[(unsigned char)*p] & C_WS))
			p++;
		vs = p;
		p += run_fval(p, (size_t)(end - p));
		if (p == end)
			return (400);
		ve = p;
		/* RFC 9110 5.5: NUL, bare CR, other CTLs in a value. */
		if (*p == '\r') {
			if (p + 1 == end || p[1] != '\n')
				return (400);
			p += 2;
		} else if (*p == '\n')
			p++;
		else
			return (400);
		if (ve - ls > HTTP_MAX_LINE)
			return (431);
		while (ve > vs && (ctab[(unsigned char)ve[-1]] & C_WS))
			ve--;
		if (m->m_nfields == cap)
			return (cap == HTTP_MAX_FIELDS ? 431 : 400);
		f = &m->m_fields[m->m_nfields++];
		f->f_name.p = ls;
		f->f_name.len = (size_t)(ne - ls);
		f->f_value.p = vs;
		f->f_value.len = (size_t)(ve - vs);
		id = http_hdr_id(f->f_name);
		f->f_id = (uint16_t)id;
		f->f_flags = hop_by_id(id) ? F_HOPBYHOP : 0;
		if (m->m_idx[id] == 0)
			m->m_idx[id] = (int)m->m_nfields;
	}
	m->m_head_len = (size_t)(p - buf);
	return (0);
}

/*
 * Content-Length = 1*DIGIT (RFC 9110 8.6); a list or repeated fields of
 * identical values count as one (RFC 9112 6.3(5)).  Values above
 * INT64_MAX are refused as overflow.  Returns 0 or -1.
 */
static int
clen_add(struct http_msg *m, struct vw_str v)
{
	struct vw_str	 e;
	uint64_t	 n;
	size_t		 i;
	unsigned	 d;

	while (list_next(&v, &e)) {
		if (e.len == 0)
			return (-1);
		for (n = 0, i = 0; i < e.len; i++) {
			if (!(ctab[(unsigned char)e.p[i]] & C_DIGIT))
				return (-1);
			d = (unsigned)(e.p[i] - '0');
			if (n > ((uint64_t)INT64_MAX - d) / 10)
				return (-1);
			n = n * 10 + d;
		}
		if ((m->m_flags & M_CLEN) && m->m_clen != n)
			return (-1);
		m->m_clen = n;
		m->m_flags |= M_CLEN;
	}
	return (0);
}

struct te_state {
	int	 t_n;		/* codings */
	int	 t_chunked;	/* "chunked" codings */
	int	 t_last;	/* the last coding is chunked */
	int	 t_bad;		/* syntax error, or chunked with parameters */
};

/*
 * transfer-coding = token *( OWS ";" OWS token "=" ( token /
 * quoted-string ) ) (RFC 9112 7, RFC 9110 5.6.6).  Returns the length of
 * the coding name, or 0 when e is not a valid transfer-coding; *params is
 * set when parameters follow.
 */
static size_t
te_coding(struct vw_str e, int *params)
{
	const char	*p = e.p, *end = e.p + e.len, *nm;
	size_t		 nl;

	*params = 0;
	while (p < end && (ctab[(unsigned char)*p] & C_TCHAR))
		p++;
	if ((nl = (size_t)(p - e.p)) == 0)
		return (0);
	while (p < end) {
		*params = 1;
		while (p < end && (ctab[(unsigned char)*p] & C_WS))
			p++;
		if (p == end || *p++ != ';')
			return (0);
		while (p < end && (ctab[(unsigned char)*p] & C_WS))
			p++;
		for (nm = p; p < end && (ctab[(unsigned char)*p] & C_TCHAR);
		    p++)
			;
		if (p == nm || p == end || *p++ != '=')
			return (0);
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p != '\\') {
					if (!(ctab[(unsigned char)*p] & C_QD))
						return (0);
				} else if (++p == end ||
				    !(ctab[(unsigned char)*p] & C_FVAL))
					return (0);
			}
			if (p++ == end)
				return (0);
		} else {
			for (nm = p; p < end &&
			    (ctab[(unsigned char)*p] & C_TCHAR); p++)
				;
			if (p == nm)
				return (0);
		}
	}
	return (nl);
}

static void
te_add(struct te_state *ts, struct vw_str v)
{
	struct vw_str	 e;
	size_t		 nl;
	int		 params;

	/* Strict: no empty elements, so "" and "chunked," are errors. */
	while (list_next(&v, &e)) {
		if ((nl = te_coding(e, &params)) == 0) {
			ts->t_bad = 1;
			return;
		}
		ts->t_n++;
		ts->t_last = nl == 7 && ieq(e.p, "chunked", 7);
		if (ts->t_last) {
			ts->t_chunked++;
			/* RFC 9112 7: chunked has no parameters; SHOULD be
			   treated as an error. */
			if (params)
				ts->t_bad = 1;
		}
	}
}

/* Verdict on the whole Transfer-Encoding list: 0, 400 or 501. */
static int
te_verdict(const struct te_state *ts)
{
	if (ts->t_bad)
		return (400);
	/* RFC 9112 6.3(4): chunked not final (or twice) -> 400. */
	if (ts->t_chunked > 1 || (ts->t_chunked == 1 && !ts->t_last))
		return (400);
	/* RFC 9112 6.1: a coding we do not implement -> 501. */
	if (ts->t_chunked == 0 || ts->t_n > 1)
		return (501);
	return (0);
}

#define CN_CLOSE	0x1
#define CN_KEEPALIVE	0x2
#define CN_UPGRADE	0x4

/*
 * Connection options (RFC 9110 7.6.1).  Empty elements are ignored
 * (RFC 9110 5.6.1); a non-token element is an error.  Every option names
 * a field that is marked hop-by-hop, except Host and Content-Length: the
 * message's routing and framing are not the client's to remove (a classic
 * smuggling trick against proxies).
 */
static int
conn_options(struct http_msg *m, const struct http_field *cf, int *opts)
{
	struct vw_str		 v = cf->f_value, e;
	struct http_field	*f;
	unsigned		 i;

	while (list_next(&v, &e)) {
		if (e.len == 0)
			continue;
		if (!is_token(e))
			return (-1);
		if (vw_str_caseeq(e, "close", 5))
			*opts |= CN_CLOSE;
		else if (vw_str_caseeq(e, "keep-alive", 10))
			*opts |= CN_KEEPALIVE;
		else if (vw_str_caseeq(e, "upgrade", 7))
			*opts |= CN_UPGRADE;
		for (i = 0; i < m->m_nfields; i++) {
			f = &m->m_fields[i];
			if (f->f_id != H_HOST && f->f_id != H_CONTENT_LENGTH &&
			    f->f_name.len == e.len &&
			    strncasecmp(f->f_name.p, e.p, e.len) == 0)
				f->f_flags |= F_HOPBYHOP;
		}
	}
	return (0);
}

/* Is the first protocol of an Upgrade value (RFC 9110 7.8) websocket? */
static int
upgrade_is_ws(struct vw_str v)
{
	struct vw_str	 e;
	const char	*s;

	while (list_next(&v, &e)) {
		if (e.len == 0)
			continue;
		if ((s = memchr(e.p, '/', e.len)) != NULL)
			e.len = (size_t)(s - e.p);
		return (vw_str_caseeq(e, "websocket", 9));
	}
	return (0);
}

/*
 * Framing and connection semantics shared by requests and responses.
 * Returns 0 or the request status (400, 501); a response treats any
 * non-zero as malformed.
 */
static int
msg_semantics(struct http_msg *m, int is_request)
{
	struct te_state		 ts;
	struct http_field	*f;
	unsigned		 i;
	int			 opts = 0, rc;

	memset(&ts, 0, sizeof(ts));
	for (i = 0; i < m->m_nfields; i++) {
		f = &m->m_fields[i];
		switch (f->f_id) {
		case H_CONTENT_LENGTH:
			if (clen_add(m, f->f_value) == -1)
				return (400);
			break;
		case H_TRANSFER_ENCODING:
			te_add(&ts, f->f_value);
			break;
		case H_CONNECTION:
			if (conn_options(m, f, &opts) == -1)
				return (400);
			break;
		}
	}
	if (m->m_idx[H_TRANSFER_ENCODING]) {
		/* RFC 9112 6.1: CL with TE, or TE in HTTP/1.0, is faulty
		   framing; SPEC.md 4 -> 400 and close. */
		if ((m->m_flags & M_CLEN) || m->m_version == 10)
			return (400);
		if ((rc = te_verdict(&ts)) != 0)
			return (rc);
		m->m_flags |= M_CHUNKED;
	}
	/* RFC 9112 9.3: 1.0 closes unless keep-alive; close always wins. */
	if ((opts & CN_CLOSE) ||
	    (m->m_version == 10 && !(opts & CN_KEEPALIVE)))
		m->m_flags |= M_CLOSE;
	/* RFC 9110 7.8: Upgrade needs the "upgrade" option and is ignored
	   in HTTP/1.0; RFC 6455 4.1: a websocket handshake is a GET. */
	if ((opts & CN_UPGRADE) && m->m_idx[H_UPGRADE] && m->m_version == 11) {
		if (!upgrade_is_ws(http_field_get(m, H_UPGRADE)))
			m->m_flags |= M_UPGRADE_OTHER;
		else if (!is_request || m->m_meth == HM_GET)
			m->m_flags |= M_UPGRADE_WS;
	}
	return (0);
}

/* Request-only field checks: Host (RFC 9112 3.2) and Expect. */
static int
req_fields(struct http_msg *m, int *expect_fail)
{
	struct http_field	*f;
	struct vw_str		 host = { NULL, 0 };
	unsigned		 i, nhost = 0;

	for (i = 0; i < m->m_nfields; i++) {
		f = &m->m_fields[i];
		if (f->f_id == H_HOST) {
			host = f->f_value;
			nhost++;
		} else if (f->f_id == H_EXPECT) {
			/* RFC 9110 10.1.1: 100-continue is the only
			   expectation; it is ignored in HTTP/1.0. */
			if (!vw_str_caseeq(f->f_value, "100-continue", 12))
				*expect_fail = 1;
			else if (m->m_version == 11)
				m->m_flags |= M_EXPECT_100;
		}
	}
	if (nhost > 1 || (nhost == 0 && m->m_version == 11))
		return (400);
	if (nhost == 1 && !host_valid(host.p, host.len, 0))
		return (400);
	if (m->m_flags & M_ABSOLUTE) {
		/* RFC 9112 3.2.2 lets the target win; a reverse proxy with no
		   server names treats a mismatch as an attack (digest). */
		if (nhost == 1 && (host.len != m->m_host.len ||
		    strncasecmp(host.p, m->m_host.p, host.len) != 0))
			return (400);
	} else if (m->m_meth != HM_CONNECT)
		m->m_host = host;
	return (0);
}

int
http_parse_request(const char *buf, size_t len, struct http_msg *m,
    struct arena *a)
{
	ssize_t	 lead;
	size_t	 pos;
	int	 rc, expect_fail = 0;

	memset(m, 0, sizeof(*m));
	if ((lead = skip_lead(buf, len)) < 0)
		return (400);
	pos = (size_t)lead;
	if ((rc = parse_request_line(buf, len, &pos, m, a)) != 0)
		return (rc);
	if ((rc = parse_fields(buf, len, pos, m, a)) != 0)
		return (rc);
	if ((rc = req_fields(m, &expect_fail)) != 0)
		return (rc);
	if ((rc = msg_semantics(m, 1)) != 0)
		return (rc);
	/* RFC 9110 9.3.6, 9.3.8: not offered by a reverse proxy. */
	if (m->m_meth == HM_CONNECT || m->m_meth == HM_TRACE)
		return (405);
	if (expect_fail)
		return (417);
	return (0);
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * (RFC 9112 4).  A missing SP after the code is tolerated.  Status codes
 * outside 100..599 are invalid (RFC 9110 15).
 */
static int
parse_status_line(const char *buf, size_t len, size_t *posp,
    struct http_msg *m)
{
	const char	*s = buf + *posp, *p, *nl, *eol;
	size_t		 win;

	win = len - *posp;
	if (win > HTTP_MAX_LINE + 2)
		win = HTTP_MAX_LINE + 2;
	if ((nl = memchr(s, '\n', win)) == NULL)
		return (-1);
	eol = nl > s && nl[-1] == '\r' ? nl - 1 : nl;
	if (eol - s > HTTP_MAX_LINE || eol - s < 12)
		return (-1);
	*posp = (size_t)(nl + 1 - buf);
	if (memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') ||
	    s[8] != ' ' || !(ctab[(unsigned char)s[9]] & C_DIGIT) ||
	    !(ctab[(unsigned char)s[10]] & C_DIGIT) ||
	    !(ctab[(unsigned char)s[11]] & C_DIGIT))
		return (-1);
	m->m_version = s[7] == '1' ? 11 : 10;
	m->m_status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (m->m_status < 100 || m->m_status > 599)
		return (-1);
	p = s + 12;
	if (p < eol && *p++ != ' ')
		return (-1);
	m->m_reason.p = p;
	m->m_reason.len = (size_t)(eol - p);
	for (; p < eol; p++)
		if (!(ctab[(unsigned char)*p] & C_FVAL))
			return (-1);
	return (0);
}

int
http_parse_response(const char *buf, size_t len, struct http_msg *m,
    struct arena *a)
{
	ssize_t	 lead;
	size_t	 pos;

	memset(m, 0, sizeof(*m));
	if ((lead = skip_lead(buf, len)) < 0)
		return (-1);
	pos = (size_t)lead;
	if (parse_status_line(buf, len, &pos, m) != 0 ||
	    parse_fields(buf, len, pos, m, a) != 0 ||
	    msg_semantics(m, 0) != 0)
		return (-1);
	return (0);
}

/* RFC 9112 6.3, rules 1, 4, 5, 8 (2 and 3 cannot happen: no CONNECT). */
enum http_body
http_response_body(const struct http_msg *m, enum http_method req_meth)
{
	if (req_meth == HM_HEAD || (m->m_status >= 100 && m->m_status < 200) ||
	    m->m_status == 204 || m->m_status == 304)
		return (HB_NONE);
	if (m->m_flags & M_CHUNKED)
		return (HB_CHUNKED);
	if (m->m_flags & M_CLEN)
		return (HB_LENGTH);
	return (HB_CLOSE);
}

/*
 * Chunked decoder states.  The grammar (RFC 9112 7.1, 7.1.1, 7.1.2):
 *
 *   chunk-size [ chunk-ext ] CRLF, chunk-ext = *( BWS ";" BWS name
 *   [ BWS "=" BWS ( token / quoted-string ) ] ), data CRLF, ...,
 *   "0" [ chunk-ext ] CRLF, *( field-line CRLF ), CRLF
 *
 * is followed byte by byte so the decoder can stop anywhere.  Every line
 * of the framing (size lines, the CRLF after chunk-data, trailer lines and
 * the final empty line) must end in CRLF: RFC 9112 2.2 lets a recipient
 * accept a bare LF in the start line and fields only, and chunk framing is
 * where two parsers that disagree about line ends smuggle a request.  A
 * bare CR or LF is an error, and so is a CR/LF inside an extension or
 * quoted-string, which closes the "funky chunks" TERM.EXT / EXT.TERM
 * ambiguities.  Whitespace is accepted only
 * where the grammar has BWS, so "1a \r\n" (BWS not followed by ';') is an
 * error.
 */
enum {
	CS_SIZE0,	/* first HEXDIG of a chunk-size */
	CS_SIZE,	/* more HEXDIG */
	CS_BWS,		/* BWS that must be followed by ';' */
	CS_NAME0,	/* after ';': BWS, then an ext-name */
	CS_NAME,	/* in an ext-name */
	CS_NAMEWS,	/* BWS after an ext-name: '=' or ';' must follow */
	CS_VAL0,	/* after '=': BWS, then token or quoted-string */
	CS_VAL,		/* in a token ext-val */
	CS_QS,		/* in a quoted-string */
	CS_QP,		/* after '\\' in a quoted-string */
	CS_QEND,	/* after the closing '"' */
	CS_LINE_LF,	/* CR seen on a chunk-size line */
	CS_DATA,	/* chunk-data, ck_remain bytes left */
	CS_DATA_CR,	/* CRLF after chunk-data */
	CS_DATA_LF,
	CS_TR0,		/* start of a trailer line (ck_remain counts them) */
	CS_TR_NAME,
	CS_TR_VAL,
	CS_TR_LF,
	CS_END_LF,	/* CR of the final empty line seen */
	CS_DONE,
	CS_ERROR
};

void
chunked_init(struct chunked *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->ck_state = CS_SIZE0;
}

/* End of a chunk-size line: data follows, or the trailer section. */
static void
size_line_end(struct chunked *ck)
{
	ck->ck_linelen = 0;
	ck->ck_state = ck->ck_remain == 0 ? CS_TR0 : CS_DATA;
}

/*
 * A byte where an extension may end: BWS, ';' or the line end.  Returns 0
 * or -1.
 */
static int
ext_next(struct chunked *ck, unsigned char c)
{
	if (ctab[c] & C_WS)
		ck->ck_state = CS_BWS;
	else if (c == ';')
		ck->ck_state = CS_NAME0;
	else if (c == '\r')
		ck->ck_state = CS_LINE_LF;
	else
		return (-1);
	return (0);
}

/*
 * One framing byte (anything but chunk-data).  Returns 0, 1 when the body
 * is complete, or -1.
 */
static int
chunk_byte(struct chunked *ck, unsigned char c)
{
	int	 cl = ctab[c];

	/* Size and extension bytes are bounded per line. */
	if (ck->ck_state <= CS_QEND && c != '\r' && c != '\n' &&
	    ++ck->ck_linelen > (ck->ck_state <= CS_SIZE && (cl & C_HEX) ?
	    CK_MAX_DIGITS : CK_MAX_EXT))
		return (-1);
	switch (ck->ck_state) {
	case CS_SIZE0:
		if (!(cl & C_HEX))
			return (-1);
		ck->ck_remain = (uint64_t)hexval(c);
		ck->ck_state = CS_SIZE;
		return (0);
	case CS_SIZE:
		if (cl & C_HEX) {
			/* RFC 9112 7.1: guard against overflow; cap at
			   INT64_MAX like Content-Length. */
			if (ck->ck_remain > (uint64_t)(INT64_MAX >> 4))
				return (-1);
			ck->ck_remain = ck->ck_remain << 4 |
			    (uint64_t)hexval(c);
			return (0);
		}
		/* The digits are not extension bytes. */
		ck->ck_linelen = c == '\r' || c == '\n' ? 0 : 1;
		return (ext_next(ck, c));
	case CS_BWS:
		if (cl & C_WS)
			return (0);
		if (c != ';')
			return (-1);
		ck->ck_state = CS_NAME0;
		return (0);
	case CS_NAME0:
		if (cl & C_WS)
			return (0);
		if (!(cl & C_TCHAR))
			return (-1);
		ck->ck_state = CS_NAME;
		return (0);
	case CS_NAME:
		if (cl & C_TCHAR)
			return (0);
		if (cl & C_WS) {
			ck->ck_state = CS_NAMEWS;
			return (0);
		}
		if (c == '=') {
			ck->ck_state = CS_VAL0;
			return (0);
		}
		return (ext_next(ck, c));
	case CS_NAMEWS:
		if (cl & C_WS)
			return (0);
		if (c == '=')
			ck->ck_state = CS_VAL0;
		else if (c == ';')
			ck->ck_state = CS_NAME0;
		else
			return (-1);
		return (0);
	case CS_VAL0:
		if (cl & C_WS)
			return (0);
		if (c == '"')
			ck->ck_state = CS_QS;
		else if (cl & C_TCHAR)
			ck->ck_state = CS_VAL;
		else
			return (-1);
		return (0);
	case CS_VAL:
		if (cl & C_TCHAR)
			return (0);
		return (ext_next(ck, c));
	case CS_QS:
		if (c == '"')
			ck->ck_state = CS_QEND;
		else if (c == '\\')
			ck->ck_state = CS_QP;
		else if (!(cl & C_QD))
			return (-1);
		return (0);
	case CS_QP:
		if (!(cl & C_FVAL))
			return (-1);
		ck->ck_state = CS_QS;
		return (0);
	case CS_QEND:
		return (ext_next(ck, c));
	case CS_LINE_LF:
		if (c != '\n')
			return (-1);
		size_line_end(ck);
		return (0);
	case CS_DATA_CR:
		if (c != '\r')
			return (-1);
		ck->ck_state = CS_DATA_LF;
		return (0);
	case CS_DATA_LF:
		if (c != '\n')
			return (-1);
		ck->ck_state = CS_SIZE0;
		return (0);
	case CS_TR0:
		/* Trailer fields are validated like header fields (no
		   obs-fold, no whitespace before ':') and dropped. */
		if (c == '\r') {
			ck->ck_state = CS_END_LF;
			return (0);
		}
		if (!(cl & C_TCHAR) || ++ck->ck_remain > HTTP_MAX_FIELDS)
			return (-1);
		ck->ck_linelen = 1;
		ck->ck_state = CS_TR_NAME;
		return (0);
	case CS_TR_NAME:
		if (++ck->ck_linelen > HTTP_MAX_LINE)
			return (-1);
		if (c == ':')
			ck->ck_state = CS_TR_VAL;
		else if (!(cl & C_TCHAR))
			return (-1);
		return (0);
	case CS_TR_VAL:
		if (c == '\r')
			ck->ck_state = CS_TR_LF;
		else if (!(cl & C_FVAL) || ++ck->ck_linelen > HTTP_MAX_LINE)
			return (-1);
		return (0);
	case CS_TR_LF:
		if (c != '\n')
			return (-1);
		ck->ck_state = CS_TR0;
		return (0);
	case CS_END_LF:
		return (c == '\n' ? 1 : -1);
	}
	return (-1);
}

enum chunk_rc
chunked_step(struct chunked *ck, const char *buf, size_t len, size_t *used,
    size_t *doff, size_t *dlen)
{
	size_t	 i = 0, n;
	int	 rc;

	*doff = *dlen = 0;
	if (ck->ck_state == CS_DONE || ck->ck_state == CS_ERROR) {
		*used = 0;
		return (ck->ck_state == CS_DONE ? CK_DONE : CK_ERROR);
	}
	while (i < len) {
		if (ck->ck_state == CS_DATA) {
			n = len - i;
			if (n > ck->ck_remain)
				n = (size_t)ck->ck_remain;
			*doff = i;
			*dlen = n;
			ck->ck_remain -= n;
			ck->ck_total += n;
			if (ck->ck_remain == 0)
				ck->ck_state = CS_DATA_CR;
			*used = i + n;
			return (CK_DATA);
		}
		rc = chunk_byte(ck, (unsigned char)buf[i++]);
		if (rc == -1) {
			ck->ck_state = CS_ERROR;
			*used = i;
			return (CK_ERROR);
		}
		if (rc == 1) {
			ck->ck_state = CS_DONE;
			*used = i;
			return (CK_DONE);
		}
	}
	*used = i;
	return (CK_NEED);
}
