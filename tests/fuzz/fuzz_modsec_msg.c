/*
 * fuzz_modsec_msg.c: libFuzzer target for the reading of ModSecurity's
 * rule-match messages in src/modsec.c (logcb(): rule id, category,
 * location, variable, matched data), which carry request bytes; also
 * driven by replay_main.c under make check (a libmodsecurity build only).
 * The first byte picks the request's body kind (none, form, JSON); up to
 * the first newline is the request-target, the rest the message.  Checks
 * memory safety and, abort()ing otherwise, that every hit names a rule id
 * of digits, a category and a location, and that its name and value lie
 * inside the message, the value at most 64 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modsec.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 msg[1 << 16];
static size_t	 mlen;

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
inside(struct vw_str s)
{
	if (s.len == 0)
		return (1);
	return (s.p != NULL && s.p >= msg && s.p + s.len <= msg + mlen);
}

static void
hit(void *arg, const struct modsec_hit *h)
{
	int	*n = arg;

	(*n)++;
	check(h->mh_rule != NULL && h->mh_rule[0] != '\0' &&
	    strlen(h->mh_rule) < 24);
	check(h->mh_cat != NULL && h->mh_loc != NULL);
	check(inside(h->mh_name));
	check(inside(h->mh_value) && h->mh_value.len <= VALUE_MAX);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 target[4096];
	struct modsec_req	 r;
	struct txctx		 x;
	const uint8_t		*nl;
	size_t			 tlen;
	int			 n = 0;

	if (size < 1)
		return (0);
	memset(&r, 0, sizeof(r));
	r.mr_body = data[0] % 3 ? "" : NULL;
	r.mr_json = data[0] % 3 == 2;
	data++;
	size--;
	nl = memchr(data, '\n', size);
	tlen = nl ? (size_t)(nl - data) : 0;
	if (tlen >= sizeof(target))
		tlen = sizeof(target) - 1;
	memcpy(target, data, tlen);
	r.mr_target.p = target;
	r.mr_target.len = tlen;
	if (nl != NULL) {
		size -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	mlen = size < sizeof(msg) - 1 ? size : sizeof(msg) - 1;
	memcpy(msg, data, mlen);
	msg[mlen] = '\0';
	mlen = strlen(msg);	/* ModSecurity gives a C string */
	x.x_req = &r;
	x.x_fn = hit;
	x.x_arg = &n;
	x.x_nhits = 0;
	logcb(&x, msg);
	check(n == x.x_nhits && n <= 1);
	return (0);
}
