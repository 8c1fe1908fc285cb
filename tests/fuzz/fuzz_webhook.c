/*
 * fuzz_webhook.c: libFuzzer target for src/webhook.c (the parsing of
 * signature fields and of a Twilio form body, all untrusted bytes), also
 * driven by replay_main.c under make check.  Input: one byte picks the
 * provider, then the signature field, the timestamp and the body
 * separated by '\n'.  Checks memory safety and, abort()ing otherwise:
 *  - webhook_verify() answers NULL or one of its four reasons, the same
 *    way twice;
 *  - form_params() yields names and values inside its store, sorted by
 *    name, without repeats.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/webhook.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static struct vw_str
piece(const char **p, const char *e)
{
	struct vw_str	 v;
	const char	*nl = memchr(*p, '\n', (size_t)(e - *p));

	v.p = *p;
	v.len = (size_t)((nl ? nl : e) - *p);
	*p = nl ? nl + 1 : e;
	return (v);
}

static void
check_form(const char *b, size_t len)
{
	struct param	*pv;
	char		*st;
	size_t		 n, i;

	if (form_params(b, len, &pv, &n, &st) == -1)
		return;
	for (i = 0; i < n; i++) {
		check(pv[i].k >= st && pv[i].k + pv[i].klen <= st + len);
		check(pv[i].v >= st && pv[i].v + pv[i].vlen <= st + len);
		if (i > 0)
			check(pcmp(&pv[i - 1], &pv[i]) < 0 &&
			    !samekey(&pv[i - 1], &pv[i]));
	}
	free(pv);
	free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data + 1, *e = (const char *)data +
			    size, *r1, *r2;
	struct wh_input	 in;

	if (size < 1)
		return (0);
	memset(&in, 0, sizeof(in));
	in.sig = piece(&p, e);
	in.ts = piece(&p, e);
	in.body = p;
	in.blen = (size_t)(e - p);
	in.url.p = "https://example.test/hook";
	in.url.len = strlen(in.url.p);
	in.secret = "fuzz";
	in.slen = 4;
	in.now = 1700000000;
	r1 = webhook_verify((enum wh_provider)(data[0] % 5), &in);
	r2 = webhook_verify((enum wh_provider)(data[0] % 5), &in);
	check((r1 == NULL) == (r2 == NULL) &&
	    (r1 == NULL || strcmp(r1, r2) == 0));
	check(r1 == NULL || strcmp(r1, R_MISSING) == 0 ||
	    strcmp(r1, R_FORMAT) == 0 || strcmp(r1, R_STALE) == 0 ||
	    strcmp(r1, R_MISMATCH) == 0);
	check_form(in.body, in.blen);
	return (0);
}
