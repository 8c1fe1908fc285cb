/*
 * fuzz_waf.c: libFuzzer target for src/waf.c (the decoders and the
 * matcher), also driven by replay_main.c under make check.  The first
 * byte picks the location (query, cookie, referer, user-agent, form,
 * JSON) and whether the walk stops at the first hit (block mode); the
 * rest is the input.  Checks memory safety and, abort()ing otherwise:
 *  - waf_pct_decode never grows its input, and decodes at most once:
 *    "%2541" gives "%41";
 *  - each hit names a rule and category, its name and value lie inside
 *    the engine's bounds, and matching the value alone finds the same
 *    category (what is reported is what was matched);
 *  - a walk told to stop does so at the first hit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "waf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct waf	*w;
static char		 out[1 << 17];
static char		 val[WAF_VALUE_MAX];

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct walk {
	int	 stop;
	int	 n;
};

static int
hit(void *arg, const struct waf_hit *h)
{
	struct walk	*wk = arg;
	int		 rule;
	enum waf_cat	 cat;
	size_t		 i;

	check(waf_rule_name(h->h_rule) != NULL);
	check(waf_cat_name(h->h_cat) != NULL);
	check(waf_loc_name(h->h_loc) != NULL);
	check(h->h_value.len > 0 && h->h_value.len <= WAF_VALUE_MAX);
	check(h->h_name.len <= WAF_NAME_MAX);
	/* Touch every byte: ASan checks they are inside the engine. */
	for (i = 0; i < h->h_value.len; i++)
		val[i] = h->h_value.p[i];
	for (i = 0; i < h->h_name.len; i++)
		out[i] = h->h_name.p[i];
	check(waf_match(w, val, h->h_value.len, &rule, &cat) == 1);
	check(cat <= h->h_cat);
	wk->n++;
	return (wk->stop);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*err, *p = (const char *)data + 1;
	struct walk	 wk = { 0, 0 };
	size_t		 len, n;
	enum waf_loc	 loc;
	int		 rc;

	if (w == NULL && (w = waf_new(WAF_ALL, &err)) == NULL)
		abort();
	if (size < 1 || size - 1 > sizeof(out))
		return (0);
	len = size - 1;
	n = waf_pct_decode(p, len, out, data[0] & 1);
	check(n <= len);
	if (len == 5 && memcmp(p, "%2541", 5) == 0)
		check(n == 3 && memcmp(out, "%41", 3) == 0);
	wk.stop = (data[0] >> 7) & 1;
	loc = (enum waf_loc)(((data[0] >> 1) & 0x3f) % WL__COUNT);
	rc = waf_inspect(w, loc, p, len, hit, &wk);
	check(rc == wk.n);
	if (wk.stop)
		check(wk.n <= 1);
	return (0);
}
