/*
 * fuzz_kratos.c: libFuzzer target for src/kratos_parse.c (what a Kratos
 * server, or whoever answers in its place, sends back), also driven by
 * replay_main.c under make check.  Checks memory safety (sanitizers) and
 * these properties, abort()ing when one fails:
 *  - kratos_resp_parse() only returns -1, 0 or 1, and a complete answer
 *    has a status of 200..999 and a body within the buffer given;
 *  - an answer complete in a prefix is the same answer in the whole input
 *    (bytes after the framing never change it);
 *  - kratos_whoami_parse() on the body, and on the raw input, passes only
 *    with an identity id of 1..SESS_STR_MAX bytes and every length within
 *    bounds, and always gives a reason;
 *  - kratos_time_parse() of a NUL-terminated piece never fails silently.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kratos.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 body1[KRATOS_RESP_MAX], body2[KRATOS_RESP_MAX];

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
whoami(const char *p, size_t n)
{
	struct kratos_answer	 a;

	kratos_whoami_parse(p, n, 1700000000ULL * 1000000000ULL, &a);
	check(a.ka_why != NULL);
	check(a.ka_result == KR_PASS || a.ka_result == KR_DENY ||
	    a.ka_result == KR_UNAVAIL);
	check(a.ka_sess.ss_idlen <= SESS_STR_MAX &&
	    a.ka_sess.ss_emaillen <= SESS_STR_MAX &&
	    a.ka_sess.ss_sidlen <= SESS_STR_MAX);
	if (a.ka_result == KR_PASS)
		check(a.ka_sess.ss_idlen > 0 && a.ka_sess.ss_ok == 1 &&
		    (a.ka_sess.ss_verified == 0 ||
		    a.ka_sess.ss_verified == 1));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data;
	char		 t[64];
	size_t		 b1 = 0, b2 = 0, k;
	uint64_t	 ns;
	int		 r1, r2, s1 = 0, s2 = 0, eof;

	if (size > KRATOS_RESP_MAX)
		return (0);
	for (eof = 0; eof < 2; eof++) {
		r1 = kratos_resp_parse(buf, size, eof, &s1, body1,
		    sizeof(body1), &b1);
		check(r1 >= -1 && r1 <= 1);
		if (r1 == 1) {
			check(s1 >= 200 && s1 <= 999 && b1 <= size);
			whoami(body1, b1);
		}
	}
	/* A prefix that is complete already says it all. */
	k = size > 0 ? (size_t)data[0] * size / 256 : 0;
	r2 = kratos_resp_parse(buf, k, 0, &s2, body2, sizeof(body2), &b2);
	check(r2 >= -1 && r2 <= 1);
	if (r2 == 1) {
		r1 = kratos_resp_parse(buf, size, 0, &s1, body1,
		    sizeof(body1), &b1);
		check(r1 == 1 && s1 == s2 && b1 == b2 &&
		    memcmp(body1, body2, b1) == 0);
	}
	whoami(buf, size);
	k = size < sizeof(t) ? size : sizeof(t) - 1;
	memcpy(t, buf, k);
	t[k] = '\0';
	ns = 0;
	if (kratos_time_parse(t, &ns) == 0)
		check(strlen(t) >= 20);
	return (0);
}
