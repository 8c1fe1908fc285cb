/*
 * fuzz_h2head.c: libFuzzer target for src/h2head.c (an HTTP/2 field list
 * to the HTTP/1.1 request head), also driven by replay_main.c under make
 * check.  The input is a field list: lines "name\tvalue" separated by
 * '\n' (both may hold any other byte), the first byte's low bit is
 * END_STREAM.  Checks memory safety and, abort()ing otherwise:
 *  - the verdict is a length within the buffer, -1 or -431;
 *  - a head it builds is one complete head (http_head_end finds its end
 *    exactly at its length: nothing smuggled behind it), and the HTTP/1.1
 *    parser accepts it or refuses it with a documented status;
 *  - a smaller buffer changes a success only to -431.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "h2.h"
#include "http_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAXF	256

static char	 out[65536], out2[65536], abuf[65536];

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2_field	 f[MAXF];
	struct http_msg	 m;
	struct arena	 a;
	const char	*p = (const char *)data + 1, *end, *nl, *tab;
	size_t		 n = 0, scan = 0;
	ssize_t		 hl, hl2, he;
	unsigned	 fl, fl2;
	int		 es, st;

	if (size < 1)
		return (0);
	es = data[0] & 1;
	end = (const char *)data + size;
	while (p < end && n < MAXF) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		tab = memchr(p, '\t', (size_t)(nl - p));
		f[n].hf_name = p;
		f[n].hf_nlen = tab ? (size_t)(tab - p) : (size_t)(nl - p);
		f[n].hf_value = tab ? tab + 1 : nl;
		f[n].hf_vlen = tab ? (size_t)(nl - tab - 1) : 0;
		n++;
		p = nl + 1;
	}
	hl = h2_req_head(f, n, es, out, sizeof(out), &fl);
	check(hl == -1 || hl == -431 || (hl > 0 && (size_t)hl <= sizeof(out)));
	if (hl <= 0)
		return (0);
	check(!((fl & H2H_CLEN) && (fl & H2H_CHUNKED)));
	he = http_head_end(out, (size_t)hl, &scan, sizeof(out), 1);
	check(he == hl || he == -414 || he == -431);
	if (he == hl) {
		arena_init(&a, abuf, sizeof(abuf));
		memset(&m, 0, sizeof(m));
		st = http_parse_request(out, (size_t)hl, &m, &a);
		check(st == 0 || st == 400 || st == 405 || st == 414 ||
		    st == 417 || st == 431 || st == 501 || st == 505);
		if (st == 0)
			check(m.m_version == 11);
	}
	hl2 = h2_req_head(f, n, es, out2, (size_t)hl / 2, &fl2);
	check(hl2 == -431);
	hl2 = h2_req_head(f, n, es, out2, (size_t)hl, &fl2);
	check(hl2 == hl && fl2 == fl && memcmp(out, out2, (size_t)hl) == 0);
	return (0);
}
