/*
 * gcra.h: the Generic Cell Rate Algorithm over one stored value per key,
 * the theoretical arrival time (TAT, ns).  It is exactly the token bucket
 * of the original VibeWarden: capacity `burst`, refilled at `rate` tokens
 * per second, one token per request, a new key starts full.
 *
 * Pure arithmetic, no clock and no I/O: callers pass "now" and store the
 * TAT themselves (shm LMDB store, Redis script), so it is unit tested with
 * any clock, including one that goes backwards.  Any process may use it.
 */
#ifndef VW_GCRA_H
#define VW_GCRA_H

#include <stdint.h>

struct gcra {
	uint64_t	 g_interval;	/* ns per token: 1e9 / rate */
	uint64_t	 g_tau;		/* ns: burst * g_interval */
	uint32_t	 g_burst;
};

struct gcra_res {
	int		 gr_allowed;	/* 1: take the token, 0: refused */
	uint64_t	 gr_tat;	/* TAT to store (unchanged if refused,
					   but clamped after a clock step) */
	uint64_t	 gr_wait;	/* refused: ns until a token is back */
	uint64_t	 gr_reset;	/* ns until the bucket is full again */
	uint32_t	 gr_remaining;	/* tokens left after this request */
};

/*
 * Fill g for rate tokens per second (<= 0: no refill at all, only the
 * burst) and a capacity of burst tokens (>= 1).
 */
void		 gcra_init(struct gcra *g, double rate, uint32_t burst);

/*
 * One request at time now (ns) against the stored tat (0: a new key).
 * A tat further ahead than the bucket allows (the clock went backwards)
 * is clamped to an empty bucket, so a clock step never locks a key out
 * for longer than one refill of the whole burst.
 */
void		 gcra_take(const struct gcra *g, uint64_t tat, uint64_t now,
		    struct gcra_res *out);

/* Whole seconds for Retry-After: ceil(ns / 1e9), at least 1 if ns > 0. */
uint64_t	 gcra_ceil_sec(uint64_t ns);

#endif /* VW_GCRA_H */
