/*
 * resil.c: the circuit breaker, the health verdict and the retry budget
 * of resil.h, over the shared struct vw_resil (counters.h).  Every
 * process of the host sees the same record, so a state change is one
 * compare-and-swap that exactly one worker wins; the winner logs it.
 * Worker and admin process; no locks, no I/O but a log line.
 */
#include <sys/random.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "log.h"
#include "resil.h"

#define LD(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ST(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CAS(p, o, n)	__atomic_compare_exchange_n((p), (o), (n), 0, \
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

#define WORD(deadline, st)	(((uint64_t)(deadline) << 2) | (st))
#define DEADLINE(w)		((w) >> 2)

/* Without a shared segment (unit tests without counters_create()). */
static struct vw_resil	 local;

static struct vw_resil *
rs(void)
{
	return (counters_resil != NULL ? counters_resil : &local);
}

static void
cb_log(const struct config *cf, const char *type, const char *sev,
    enum log_level lvl)
{
	const struct cf_resilience	*r = &cf->resilience;
	struct logev			 le;

	logev_init(&le, lvl, sev, "resilience", type);
	if (!log_enabled(le.le_level))
		return;
	logev_summary(&le, "%s (threshold %d, timeout %llu s)", type,
	    r->circuit_breaker.threshold,
	    (unsigned long long)(r->circuit_breaker.timeout_ms / 1000));
	logev_int(&le, "threshold", r->circuit_breaker.threshold);
	logev_int(&le, "timeout_seconds",
	    (long long)(r->circuit_breaker.timeout_ms / 1000));
	logev_int(&le, "pid", (long long)getpid());
	logev_emit(&le);
}

/*
 * How long one probe may stay out before another request may take its
 * place: its worker may have died with it.  A probe's outcome is known at
 * its response head, so connecting plus resilience.timeout bound it.
 */
static uint64_t
probe_ms(const struct config *cf)
{
	uint64_t	 t = cf->resilience.timeout_ms;

	if (t == 0)
		t = cf->resilience.circuit_breaker.timeout_ms;
	return (cf->upstream.connect_timeout_ms + t + 1000);
}

int
resil_cb_admit(const struct config *cf, uint64_t now, int may_probe,
    uint64_t *token, uint32_t *retry_after)
{
	struct vw_resil	*r = rs();
	uint64_t	 w, nw, dl;
	int		 st;

	*token = 0;
	for (;;) {
		w = LD(&r->cb_word);
		st = RESIL_CB_STATE(w);
		if (st == CB_CLOSED)
			return (0);
		dl = DEADLINE(w);
		if (now >= dl && !may_probe) {
			/* Probing is due, but not by this request. */
			*retry_after = 1;
			return (-1);
		}
		if (now < dl) {
			*retry_after = st == CB_OPEN ?
			    (uint32_t)((dl - now + 999) / 1000) : 1;
			if (*retry_after == 0)
				*retry_after = 1;
			return (-1);
		}
		/* Open and timed out, or a probe overdue: probe now. */
		nw = WORD(now + probe_ms(cf), CB_HALF_OPEN);
		if (nw == w)
			nw += 4;	/* a token never repeats */
		if (CAS(&r->cb_word, &w, nw)) {
			if (st == CB_OPEN)
				cb_log(cf, "circuit_breaker.half_open", "medium",
				    LOG_LVL_WARN);
			*token = nw;
			return (0);
		}
	}
}

static void
cb_open(const struct config *cf, uint64_t now, uint64_t from)
{
	struct vw_resil	*r = rs();
	uint64_t	 w = from;

	if (CAS(&r->cb_word, &w, WORD(now +
	    cf->resilience.circuit_breaker.timeout_ms, CB_OPEN))) {
		ST(&r->cb_failures, 0);
		cb_log(cf, "circuit_breaker.opened", "high", LOG_LVL_ERROR);
	}
}

void
resil_cb_result(const struct config *cf, uint64_t now, uint64_t token,
    int ok)
{
	struct vw_resil	*r = rs();
	uint64_t	 w;
	uint32_t	 n;

	if (token != 0) {
		/* The probe: closes or reopens, unless it was overdue and
		   another one took its place. */
		if (!ok) {
			cb_open(cf, now, token);
			return;
		}
		w = token;
		if (CAS(&r->cb_word, &w, WORD(0, CB_CLOSED))) {
			ST(&r->cb_failures, 0);
			cb_log(cf, "circuit_breaker.closed", "info",
			    LOG_LVL_INFO);
		}
		return;
	}
	if (ok) {
		if (LD(&r->cb_failures) != 0)
			ST(&r->cb_failures, 0);
		return;
	}
	n = ADD(&r->cb_failures, 1);
	if (n >= (uint32_t)cf->resilience.circuit_breaker.threshold &&
	    LD(&r->cb_word) == WORD(0, CB_CLOSED))
		cb_open(cf, now, WORD(0, CB_CLOSED));
}

void
resil_cb_cancel(uint64_t token)
{
	uint64_t	 w = token;

	if (token != 0)
		CAS(&rs()->cb_word, &w, WORD(0, CB_HALF_OPEN));
}

int
resil_cb_state(void)
{
	return (RESIL_CB_STATE(LD(&rs()->cb_word)));
}

int
resil_upstream_down(const struct config *cf)
{
	return (cf->upstream.health.enabled &&
	    LD(&rs()->h_state) == HS_UNHEALTHY);
}

void
resil_health_read(struct resil_health *out)
{
	struct vw_resil	*r = rs();
	uint32_t	 seq;
	int		 tries = 0;

	do {
		seq = LD(&r->h_seq);
		memcpy(out->rh_error, r->h_error, sizeof(out->rh_error));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (((seq & 1) || seq != LD(&r->h_seq)) && ++tries < 100);
	out->rh_error[sizeof(out->rh_error) - 1] = '\0';
	out->rh_state = (int)LD(&r->h_state);
	out->rh_since = LD(&r->h_since);
	out->rh_probes = LD(&r->h_probes);
}

/* ------------------------------------------------------- retry budget */

/* Second sec's bucket, emptied when it last held an older second. */
static void
bucket(uint64_t sec)
{
	struct vw_resil	*r = rs();
	uint64_t	 old;
	int		 i = (int)(sec % RB_BUCKETS);

	old = LD(&r->rb[i].rb_sec);
	if (old != sec && old < sec && CAS(&r->rb[i].rb_sec, &old, sec)) {
		/* Approximate: an add racing with this reset is lost. */
		ST(&r->rb[i].rb_req, 0);
		ST(&r->rb[i].rb_retry, 0);
	}
}

void
resil_budget_request(uint64_t now)
{
	bucket(now / 1000);
	ADD(&rs()->rb[(now / 1000) % RB_BUCKETS].rb_req, 1);
}

int
resil_budget_take(uint64_t now)
{
	struct vw_resil	*r = rs();
	uint64_t	 sec = now / 1000, req = 0, retry = 0, s;
	int		 i;

	bucket(sec);
	for (i = 0; i < RB_BUCKETS; i++) {
		s = LD(&r->rb[i].rb_sec);
		if (s + RB_BUCKETS <= sec)
			continue;	/* out of the window */
		req += LD(&r->rb[i].rb_req);
		retry += LD(&r->rb[i].rb_retry);
	}
	if (retry * 100 >= req * RESIL_BUDGET_PCT + RESIL_BUDGET_MIN * 100)
		return (0);
	ADD(&r->rb[sec % RB_BUCKETS].rb_retry, 1);
	return (1);
}

uint64_t
resil_backoff(const struct config *cf, int attempt, uint64_t rnd)
{
	uint64_t	 cap = cf->resilience.retry.backoff_ms;
	uint64_t	 max = cf->resilience.retry.max_backoff_ms;

	/* max_backoff 0: no cap but the arithmetic's. */
	while (--attempt > 0 && (max == 0 || cap < max) &&
	    cap < UINT64_MAX / 2)
		cap *= 2;
	if (max > 0 && cap > max)
		cap = max;
	return (cap == UINT64_MAX ? rnd : rnd % (cap + 1));
}

uint64_t
resil_random(void)
{
	static uint64_t	 s;
	uint64_t	 x;

	if (s == 0 && (getrandom(&s, sizeof(s), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(s) || s == 0))
		s = ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	/* xorshift64*: jitter only, never a secret. */
	x = s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s = x;
	return (x * 0x2545f4914f6cdd1dULL);
}
