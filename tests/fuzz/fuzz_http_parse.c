/*
 * fuzz_http_parse.c: libFuzzer target for src/http_parse.c, also driven by
 * replay_main.c under make check.  Checks memory safety (sanitizers) and
 * these properties, abort()ing when one fails:
 *  - http_head_end fed byte by byte, or in uneven pieces, agrees with one
 *    call on the whole input;
 *  - the parsers only return the documented verdicts, and what they return
 *    on success points inside the input;
 *  - a smaller arena changes a request's verdict only to 431;
 *  - chunked_step fed in pseudo-random pieces consumes the same bytes,
 *    decodes the same payload and ends in the same state as one call;
 *  - a normalised path has no empty or dot segment, no dot segment
 *    hidden behind ";params", no %00, %2F or %5C, and normalises to
 *    itself: what auth judges is what the application gets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 abuf[65536];
static char	 out1[65536], out2[65536];

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
inside(const char *buf, size_t len, struct vw_str s)
{
	if (s.len == 0)
		return;
	check(s.p != NULL);
	/* The normalised path may live in the arena. */
	if (s.p >= abuf && s.p < abuf + sizeof(abuf)) {
		check(s.p + s.len <= abuf + sizeof(abuf));
		return;
	}
	check(s.p >= buf && s.p + s.len <= buf + len);
}

static ssize_t
head_end_pieces(const char *buf, size_t len, size_t max_head, int is_req,
    uint32_t seed)
{
	size_t	 scan = 0, k = 0;
	ssize_t	 r = 0;

	while (k < len) {
		seed = seed * 1103515245 + 12345;
		k += seed % 7 == 0 ? 1 : (seed >> 16) % 64 + 1;
		if (k > len)
			k = len;
		if ((r = http_head_end(buf, k, &scan, max_head, is_req)) != 0)
			break;
		check(scan <= k);
	}
	return (r);
}

static void
fuzz_head_end(const char *buf, size_t len, size_t max_head, int is_req)
{
	size_t	 scan = 0, k;
	ssize_t	 one, inc = 0;

	one = http_head_end(buf, len, &scan, max_head, is_req);
	check(one >= 0 || one == -400 || one == -431 ||
	    (one == -414 && is_req));
	check(one <= (ssize_t)len && one <= (ssize_t)max_head);
	scan = 0;
	for (k = 1; k <= len; k++)
		if ((inc = http_head_end(buf, k, &scan, max_head, is_req)) != 0)
			break;
	check(inc == one);
	check(head_end_pieces(buf, len, max_head, is_req,
	    (uint32_t)len * 2654435761u) == one);
}

/* The normalised path p[0..n) (SPEC.md 6 and vibewarden(8)). */
static void
check_path(const char *p, size_t n)
{
	static char	 req[HTTP_MAX_LINE + 64];
	static char	 a2buf[65536];
	struct arena	 a;
	struct http_msg	 m;
	size_t		 i, s, e, nl;
	int		 rc;

	check(n > 0 && p[0] == '/');
	for (s = 1; s <= n; s = e + 1) {
		for (e = s; e < n && p[e] != '/'; e++)
			;
		/* Empty segments only as the trailing "/" of a path. */
		check(e > s || e == n);
		for (nl = s; nl < e && p[nl] != ';'; nl++)
			;
		check(!(nl - s == 1 && p[s] == '.'));
		check(!(nl - s == 2 && p[s] == '.' && p[s + 1] == '.'));
	}
	for (i = 0; i + 2 < n; i++)
		if (p[i] == '%') {
			check(!(p[i + 1] == '0' && p[i + 2] == '0'));
			check(!(p[i + 1] == '2' && (p[i + 2] == 'F' ||
			    p[i + 2] == 'f')));
			check(!(p[i + 1] == '5' && (p[i + 2] == 'C' ||
			    p[i + 2] == 'c')));
		}
	if (n > HTTP_MAX_LINE)
		return;
	memcpy(req, "GET ", 4);
	memcpy(req + 4, p, n);
	memcpy(req + 4 + n, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
	arena_init(&a, a2buf, sizeof(a2buf));
	rc = http_parse_request(req, 4 + n + 23, &m, &a);
	check(rc == 0);
	check(m.m_path.len == n && memcmp(m.m_path.p, p, n) == 0);
}

static void
fuzz_request(const char *buf, size_t len)
{
	struct arena	 a;
	struct http_msg	 m;
	unsigned	 i;
	int		 rc, rc2;
	char		 small[128];

	arena_init(&a, abuf, sizeof(abuf));
	rc = http_parse_request(buf, len, &m, &a);
	check(rc == 0 || rc == 400 || rc == 405 || rc == 414 || rc == 417 ||
	    rc == 431 || rc == 501 || rc == 505);
	if (rc == 0 || rc == 405 || rc == 417) {
		check(m.m_head_len > 0 && m.m_head_len <= len);
		check(m.m_nfields <= HTTP_MAX_FIELDS);
		check(m.m_version == 10 || m.m_version == 11);
		check(m.m_path.len > 0);
		check(m.m_path.p[0] == '/' || (m.m_path.p[0] == '*' &&
		    (m.m_flags & M_ASTERISK)));
		check(!((m.m_flags & M_CHUNKED) && (m.m_flags & M_CLEN)));
		inside(buf, len, m.m_method);
		inside(buf, len, m.m_target);
		if (m.m_path.len > 1)	/* else maybe a static "/" or "*" */
			inside(buf, len, m.m_path);
		inside(buf, len, m.m_query);
		inside(buf, len, m.m_host);
		if (m.m_path.p[0] == '/')
			check_path(m.m_path.p, m.m_path.len);
		for (i = 0; i < m.m_nfields; i++) {
			inside(buf, len, m.m_fields[i].f_name);
			inside(buf, len, m.m_fields[i].f_value);
			check(m.m_fields[i].f_name.len > 0);
			check(m.m_fields[i].f_id < H__COUNT);
		}
		for (i = 0; i < H__COUNT; i++)
			check(m.m_idx[i] >= 0 &&
			    m.m_idx[i] <= (int)m.m_nfields);
		(void)http_field_get(&m, H_HOST);
	}
	/* Running out of arena may only turn the verdict into 431. */
	arena_init(&a, small, (len % 5) * 24);
	rc2 = http_parse_request(buf, len, &m, &a);
	check(rc2 == rc || rc2 == 431);
}

static void
fuzz_response(const char *buf, size_t len)
{
	struct arena	 a;
	struct http_msg	 m;
	enum http_body	 hb;
	unsigned	 i;
	int		 rc;

	arena_init(&a, abuf, sizeof(abuf));
	rc = http_parse_response(buf, len, &m, &a);
	check(rc == 0 || rc == -1);
	if (rc != 0)
		return;
	check(m.m_status >= 100 && m.m_status <= 599);
	check(m.m_head_len > 0 && m.m_head_len <= len);
	inside(buf, len, m.m_reason);
	for (i = 0; i < m.m_nfields; i++) {
		inside(buf, len, m.m_fields[i].f_name);
		inside(buf, len, m.m_fields[i].f_value);
	}
	hb = http_response_body(&m, HM_GET);
	check(hb == HB_NONE || hb == HB_LENGTH || hb == HB_CHUNKED ||
	    hb == HB_CLOSE);
	check(http_response_body(&m, HM_HEAD) == HB_NONE);
}

/*
 * Decode buf[0..len) as a chunked body; seed == 0 feeds it whole, else in
 * pseudo-random pieces.  Returns the last rc; *olen, *used get the payload
 * and consumed byte counts.
 */
static enum chunk_rc
decode(const char *buf, size_t len, uint32_t seed, char *out, size_t *olen,
    size_t *used)
{
	struct chunked	 ck;
	enum chunk_rc	 rc = CK_NEED;
	size_t		 off = 0, end, u, doff, dlen;

	chunked_init(&ck);
	*olen = 0;
	end = 0;
	while (off < len) {
		if (end <= off) {
			if (seed == 0)
				end = len;
			else {
				seed = seed * 1103515245 + 12345;
				end = off + (seed >> 16) % 17 + 1;
				if (end > len)
					end = len;
			}
		}
		rc = chunked_step(&ck, buf + off, end - off, &u, &doff, &dlen);
		if (rc == CK_ERROR)
			break;
		check(u > 0 && u <= end - off);
		if (rc == CK_DATA) {
			check(dlen > 0 && doff + dlen <= u);
			memcpy(out + *olen, buf + off + doff, dlen);
			*olen += dlen;
		} else
			check(dlen == 0);
		off += u;
		if (rc == CK_DONE)
			break;
		check(rc == CK_NEED ? off == end : 1);
	}
	check(rc == CK_ERROR || ck.ck_total == *olen);
	*used = off;
	/* Sticky final states. */
	if (rc == CK_DONE || rc == CK_ERROR) {
		check(chunked_step(&ck, "0", 1, &u, &doff, &dlen) == rc);
		check(u == 0);
	}
	return (rc == CK_DATA ? CK_NEED : rc);
}

static void
fuzz_chunked(const char *buf, size_t len)
{
	size_t		 o1, o2, u1, u2;
	enum chunk_rc	 r1, r2;
	uint32_t	 seed;

	if (len > sizeof(out1))
		return;
	r1 = decode(buf, len, 0, out1, &o1, &u1);
	for (seed = 1; seed < 4; seed++) {
		r2 = decode(buf, len, (uint32_t)len * 31 + seed, out2, &o2,
		    &u2);
		check(r1 == r2 && o1 == o2);
		check(memcmp(out1, out2, o1) == 0);
		/* (after an error the consumed counts are not comparable) */
		check(r1 == CK_ERROR || u1 == u2);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data;
	size_t		 scan = 0;
	ssize_t		 hl;

	fuzz_head_end(buf, size, 65536, 1);
	fuzz_head_end(buf, size, 65536, 0);
	fuzz_head_end(buf, size, 200, 1);

	/* The parsers on the whole input and on the head as found. */
	fuzz_request(buf, size);
	fuzz_response(buf, size);
	hl = http_head_end(buf, size, &scan, 65536, 1);
	if (hl > 0) {
		fuzz_request(buf, (size_t)hl);
		fuzz_response(buf, (size_t)hl);
		fuzz_chunked(buf + hl, size - (size_t)hl);
	}
	fuzz_chunked(buf, size);
	return (0);
}
