/*
 * webhook.c: webhook signature checks of the original's five providers
 * (reference 5.6), each an HMAC computed with OpenSSL's EVP_MAC over what
 * the provider signs, compared with CRYPTO_memcmp:
 *   stripe   Stripe-Signature "t=<ts>,v1=<hex>[,v1=...]", HMAC-SHA256 of
 *            "<ts>.<body>"; any v1 may match.
 *   github   X-Hub-Signature-256 "sha256=<hex>", HMAC-SHA256 of the body.
 *   slack    X-Slack-Signature "v0=<hex>", HMAC-SHA256 of
 *            "v0:<ts>:<body>", ts from X-Slack-Request-Timestamp.
 *   twilio   X-Twilio-Signature, base64 HMAC-SHA1 of the full URL followed
 *            by the body's form parameters sorted by name, each name then
 *            its first value.  A URL with a bodySHA256 parameter (how
 *            Twilio signs a JSON body) is signed alone, and the body's
 *            SHA-256 must be that parameter; any other body that is not a
 *            form is refused: the signature would not cover it.
 *   generic  a configured field, hex HMAC-SHA256 of the body.
 * Hex is compared as lower case, as the providers send it.  The
 * timestamps of stripe and slack must be within WEBHOOK_TOLERANCE of the
 * clock (the original checks none; both providers ask for it against
 * replays).  Pure: no I/O, no global state but the fetched MAC.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util.h"
#include "webhook.h"

static const char *const names[] = { "stripe", "github", "slack", "twilio",
    "generic" };
static const char *const fields[] = { "Stripe-Signature",
    "X-Hub-Signature-256", "X-Slack-Signature", "X-Twilio-Signature", NULL };

#define R_MISSING	"signature header missing"
#define R_FORMAT	"signature format invalid"
#define R_STALE		"timestamp outside tolerance"
#define R_MISMATCH	"signature mismatch"

int
webhook_provider(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return ((int)i);
	return (-1);
}

const char *
webhook_sig_field(enum wh_provider p)
{
	return (fields[p]);
}

/* HMAC(digest, key) over up to four pieces; its length, or 0 on error. */
static size_t
hmac(const char *digest, const struct wh_input *in, const struct vw_str *v,
    int nv, unsigned char *out, size_t cap)
{
	static EVP_MAC	*mac;
	EVP_MAC_CTX	*ctx;
	OSSL_PARAM	 prm[2];
	size_t		 n = 0;
	int		 i, ok;

	if (mac == NULL && (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return (0);
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL)
		return (0);
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)digest, 0);
	prm[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, (const unsigned char *)in->secret, in->slen,
	    prm);
	for (i = 0; ok && i < nv; i++)
		if (v[i].len > 0)
			ok = EVP_MAC_update(ctx, (const unsigned char *)v[i].p,
			    v[i].len);
	if (ok)
		ok = EVP_MAC_final(ctx, out, &n, cap);
	EVP_MAC_CTX_free(ctx);
	return (ok ? n : 0);
}

/* Constant-time: is hex (any length) the lower-case hex of mac? */
static int
hex_eq(struct vw_str hex, const unsigned char *mac, size_t n)
{
	static const char	 digits[] = "0123456789abcdef";
	char			 want[2 * EVP_MAX_MD_SIZE];
	size_t			 i;

	if (n == 0 || hex.len != 2 * n)
		return (0);
	for (i = 0; i < n; i++) {
		want[2 * i] = digits[mac[i] >> 4];
		want[2 * i + 1] = digits[mac[i] & 0xf];
	}
	return (CRYPTO_memcmp(want, hex.p, hex.len) == 0);
}

/* A decimal Unix time within WEBHOOK_TOLERANCE of now: 1, else 0. */
static int
fresh(struct vw_str ts, int64_t now)
{
	int64_t	 t = 0;
	size_t	 i;

	if (ts.len == 0 || ts.len > 18)
		return (0);
	for (i = 0; i < ts.len; i++) {
		if (ts.p[i] < '0' || ts.p[i] > '9')
			return (0);
		t = t * 10 + (ts.p[i] - '0');
	}
	return (t <= now + WEBHOOK_TOLERANCE && t >= now - WEBHOOK_TOLERANCE);
}

static int
prefixed(struct vw_str s, const char *pfx, struct vw_str *rest)
{
	size_t	 n = strlen(pfx);

	if (s.len < n || memcmp(s.p, pfx, n) != 0)
		return (0);
	rest->p = s.p + n;
	rest->len = s.len - n;
	return (1);
}

static const char *
v_stripe(const struct wh_input *in)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	struct vw_str	 t = { NULL, 0 }, part, v[3];
	const char	*p = in->sig.p, *e = p + in->sig.len, *c, *eq;
	size_t		 n;
	int		 nsig = 0, ok = 0;

	/* The last t= counts, as the original's parser has it. */
	for (; p < e; p = c + 1) {
		if ((c = memchr(p, ',', (size_t)(e - p))) == NULL)
			c = e;
		if ((eq = memchr(p, '=', (size_t)(c - p))) == NULL)
			continue;
		if (eq - p == 1 && *p == 't') {
			t.p = eq + 1;
			t.len = (size_t)(c - eq - 1);
		} else if (eq - p == 2 && p[0] == 'v' && p[1] == '1')
			nsig++;
	}
	if (t.len == 0 || nsig == 0)
		return (R_FORMAT);
	if (!fresh(t, in->now))
		return (R_STALE);
	v[0] = t;
	v[1].p = ".";
	v[1].len = 1;
	v[2].p = in->body;
	v[2].len = in->blen;
	if ((n = hmac("SHA256", in, v, 3, mac, sizeof(mac))) == 0)
		return (R_MISMATCH);
	/* Every v1 is compared, so the time does not say which matched. */
	for (p = in->sig.p; p < e; p = c + 1) {
		if ((c = memchr(p, ',', (size_t)(e - p))) == NULL)
			c = e;
		if (c - p > 3 && memcmp(p, "v1=", 3) == 0) {
			part.p = p + 3;
			part.len = (size_t)(c - p - 3);
			ok |= hex_eq(part, mac, n);
		}
	}
	return (ok ? NULL : R_MISMATCH);
}

static const char *
v_body(const struct wh_input *in, const char *pfx)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	struct vw_str	 hex, v;
	size_t		 n;

	if (!prefixed(in->sig, pfx, &hex))
		return (R_FORMAT);
	v.p = in->body;
	v.len = in->blen;
	if ((n = hmac("SHA256", in, &v, 1, mac, sizeof(mac))) == 0)
		return (R_MISMATCH);
	return (hex_eq(hex, mac, n) ? NULL : R_MISMATCH);
}

static const char *
v_slack(const struct wh_input *in)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	struct vw_str	 hex, v[5];
	size_t		 n;

	if (in->ts.p == NULL || in->ts.len == 0 ||
	    !prefixed(in->sig, "v0=", &hex))
		return (R_FORMAT);
	if (!fresh(in->ts, in->now))
		return (R_STALE);
	v[0].p = "v0:";
	v[0].len = 3;
	v[1] = in->ts;
	v[2].p = ":";
	v[2].len = 1;
	v[3].p = in->body;
	v[3].len = in->blen;
	if ((n = hmac("SHA256", in, v, 4, mac, sizeof(mac))) == 0)
		return (R_MISMATCH);
	return (hex_eq(hex, mac, n) ? NULL : R_MISMATCH);
}

/* ------------------------------------------------------------ twilio */

struct param {
	char	*k, *v;
	size_t	 klen, vlen;
	size_t	 pos;		/* order in the body */
};

/* Query-unescape s[0..n) into out ('+' is a space); length or -1. */
static ssize_t
unescape(const char *s, size_t n, char *out)
{
	size_t	 i, o = 0;
	int	 h, l;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n)
				return (-1);
			if ((h = util_hexval((unsigned char)s[i + 1])) < 0 ||
			    (l = util_hexval((unsigned char)s[i + 2])) < 0)
				return (-1);
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else
			out[o++] = s[i] == '+' ? ' ' : s[i];
	}
	return ((ssize_t)o);
}

static int
pcmp(const void *a, const void *b)
{
	const struct param	*x = a, *y = b;
	size_t			 n = x->klen < y->klen ? x->klen : y->klen;
	int			 c;

	if ((c = memcmp(x->k, y->k, n)) != 0)
		return (c);
	if (x->klen != y->klen)
		return (x->klen < y->klen ? -1 : 1);
	return (x->pos < y->pos ? -1 : x->pos > y->pos);
}

static int
samekey(const struct param *x, const struct param *y)
{
	return (x->klen == y->klen && memcmp(x->k, y->k, x->klen) == 0);
}

/*
 * The body as application/x-www-form-urlencoded: first value per name,
 * sorted by name.  1 with *np = 0 when it does not parse (a bad %XX or a
 * ';'); -1 out of memory.
 */
static int
form_params(const char *b, size_t len, struct param **pv, size_t *np,
    char **store)
{
	struct param	*v;
	const char	*p = b, *e, *amp, *eq;
	char		*s;
	size_t		 n = 0, i, cap = 1;
	ssize_t		 kl, vl;

	*pv = NULL;
	*np = 0;
	*store = NULL;
	if (len == 0)		/* (b may be NULL then) */
		return (0);
	e = b + len;
	for (i = 0; i < len; i++)
		cap += b[i] == '&';
	if ((v = calloc(cap, sizeof(*v))) == NULL ||
	    (s = malloc(len + 1)) == NULL) {
		free(v);
		return (-1);
	}
	*store = s;
	*pv = v;
	for (; p < e; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(e - p))) == NULL)
			amp = e;
		if (memchr(p, ';', (size_t)(amp - p)) != NULL)
			goto bad;
		if (amp == p)
			continue;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		if ((kl = unescape(p, (size_t)(eq - p), s)) < 0)
			goto bad;
		v[n].k = s;
		v[n].klen = (size_t)kl;
		s += kl;
		vl = 0;
		if (eq < amp && (vl = unescape(eq + 1,
		    (size_t)(amp - eq - 1), s)) < 0)
			goto bad;
		v[n].v = s;
		v[n].vlen = (size_t)vl;
		v[n].pos = n;
		s += vl;
		n++;
	}
	/* Sorted by name, then position: a repeated name keeps its first
	   value.  O(n log n), whatever the body holds. */
	qsort(v, n, sizeof(*v), pcmp);
	for (i = 0, cap = 0; i < n; i++)
		if (cap == 0 || !samekey(&v[cap - 1], &v[i]))
			v[cap++] = v[i];
	*np = cap;
	return (0);
 bad:
	*np = 0;
	return (1);
}

/* The value of the bodySHA256 parameter of url's query, or p NULL. */
static struct vw_str
body_sha256_param(struct vw_str url)
{
	static const char	 name[] = "bodySHA256=";
	struct vw_str		 v = { NULL, 0 };
	const char		*p, *e = url.p + url.len, *amp;

	if ((p = memchr(url.p, '?', url.len)) == NULL)
		return (v);
	for (p++; p < e; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(e - p))) == NULL)
			amp = e;
		if ((size_t)(amp - p) >= sizeof(name) - 1 &&
		    memcmp(p, name, sizeof(name) - 1) == 0) {
			v.p = p + sizeof(name) - 1;
			v.len = (size_t)(amp - v.p);
			return (v);
		}
	}
	return (v);
}

/* Is hex (either case) the SHA-256 of the body?  Constant time. */
static int
body_sha256_ok(const struct wh_input *in, struct vw_str hex)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	char		 lower[2 * EVP_MAX_MD_SIZE];
	unsigned	 n = 0;
	size_t		 i;

	if (hex.len != 64 || EVP_Digest(in->body, in->blen, md, &n,
	    EVP_sha256(), NULL) != 1)
		return (0);
	for (i = 0; i < hex.len; i++)
		lower[i] = (char)(hex.p[i] >= 'A' && hex.p[i] <= 'Z' ?
		    hex.p[i] + 32 : hex.p[i]);
	return (hex_eq((struct vw_str){ lower, hex.len }, md, n));
}

static const char *
v_twilio(const struct wh_input *in)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE], b64[4 * EVP_MAX_MD_SIZE];
	struct param	*pv = NULL;
	struct vw_str	*v = NULL, bh;
	char		*store = NULL;
	size_t		 np = 0, n, i, nv;
	int		 bl, bad;
	const char	*r = R_MISMATCH;

	if ((bh = body_sha256_param(in->url)).p != NULL) {
		/* The URL alone is signed; it holds the body's hash. */
		if (!body_sha256_ok(in, bh))
			return (R_MISMATCH);
	} else if ((bad = form_params(in->body, in->blen, &pv, &np,
	    &store)) == -1)
		return (R_MISMATCH);
	else if (bad && in->blen > 0)
		goto done;	/* not a form: nothing would cover the body */
	if ((v = calloc(2 * np + 1, sizeof(*v))) == NULL)
		goto done;
	v[0] = in->url;
	for (i = 0, nv = 1; i < np; i++) {
		v[nv].p = pv[i].k;
		v[nv++].len = pv[i].klen;
		v[nv].p = pv[i].v;
		v[nv++].len = pv[i].vlen;
	}
	if ((n = hmac("SHA1", in, v, (int)nv, mac, sizeof(mac))) == 0)
		goto done;
	bl = EVP_EncodeBlock(b64, mac, (int)n);
	if (bl > 0 && in->sig.len == (size_t)bl &&
	    CRYPTO_memcmp(b64, in->sig.p, (size_t)bl) == 0)
		r = NULL;
 done:
	free(v);
	free(pv);
	free(store);
	return (r);
}

const char *
webhook_verify(enum wh_provider p, const struct wh_input *in)
{
	if (in->sig.p == NULL || in->sig.len == 0)
		return (R_MISSING);
	switch (p) {
	case WH_STRIPE:
		return (v_stripe(in));
	case WH_GITHUB:
		return (v_body(in, "sha256="));
	case WH_SLACK:
		return (v_slack(in));
	case WH_TWILIO:
		return (v_twilio(in));
	case WH_GENERIC:
		return (v_body(in, ""));
	}
	return (R_FORMAT);
}
