/*
 * fuzz_origin.c: libFuzzer target for src/origin.c, the parser of the
 * untrusted Origin, Referer and Host values CSRF and CORS judge; also
 * driven by replay_main.c under make check.  Checks memory safety and,
 * abort()ing when one fails:
 *  - a parsed origin's host lies inside the input, is not empty, and its
 *    port is 1-65535 (0 only when written so);
 *  - an origin equals itself, and a value that parses as an Origin parses
 *    as the same origin when read as a Referer (url mode);
 *  - the host and port of a parsed origin, given back as a Host value,
 *    give the same origin;
 *  - origin_field finds nothing in an empty message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
sane(const char *s, size_t len, const struct origin *o)
{
	check(o->or_host.len > 0 && o->or_host.p >= s &&
	    o->or_host.p + o->or_host.len <= s + len);
	check(o->or_port >= 0 && o->or_port <= 65535);
	check(origin_eq(o, o));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*s = (const char *)data;
	struct origin	 a, b, c;
	struct http_msg	 m;
	struct vw_str	 h;
	char		 hp[512];
	int		 n;

	if (origin_parse(s, len, 0, &a) == 0) {
		sane(s, len, &a);
		check(origin_parse(s, len, 1, &b) == 0);
		check(origin_eq(&a, &b));
		n = snprintf(hp, sizeof(hp), "%.*s:%d", (int)a.or_host.len,
		    a.or_host.p, a.or_port);
		if (n > 0 && (size_t)n < sizeof(hp)) {
			h.p = hp;
			h.len = (size_t)n;
			check(origin_from_host(h, a.or_tls, &c) == 0);
			check(origin_eq(&a, &c));
		}
	}
	if (origin_parse(s, len, 1, &b) == 0)
		sane(s, len, &b);
	h.p = s;
	h.len = len;
	if (origin_from_host(h, len & 1, &c) == 0)
		sane(s, len, &c);
	memset(&m, 0, sizeof(m));
	check(origin_field(&m, "origin").p == NULL);
	return (0);
}
