/*
 * resil.h: upstream resilience shared by all workers of a host (issue
 * 13): the circuit breaker, the health verdict of the prober (health.c)
 * and the retry budget, all in the counter segment's struct vw_resil and
 * updated with atomics, never a lock.  Workers (proxy.c, stages) and the
 * admin process call these; nothing here blocks or does I/O beyond a log
 * line on a state change.
 */
#ifndef VW_RESIL_H
#define VW_RESIL_H

#include <stdint.h>

#include "config.h"

/*
 * May a request be sent upstream now (resilience.circuit_breaker)?  0:
 * yes, and *token is non-zero when this request is the one half-open
 * probe of the host (its outcome must be reported, or cancelled).  -1:
 * the circuit is open (or a probe is out, or one is due and may_probe is
 * 0); *retry_after is the Retry-After in seconds.  may_probe: 0 for a
 * request whose client could hold a probe out at will (its body still
 * streams from the client).  now in monotonic ms (util_now_ms).
 */
int	 resil_cb_admit(const struct config *cf, uint64_t now,
	    int may_probe, uint64_t *token, uint32_t *retry_after);

/*
 * The outcome of one attempt: ok 0 for a transport error or an upstream
 * 502, 503 or 504, 1 otherwise.  token as resil_cb_admit() gave it.
 */
void	 resil_cb_result(const struct config *cf, uint64_t now,
	    uint64_t token, int ok);

/* A probe ended without an outcome: the next request may probe. */
void	 resil_cb_cancel(uint64_t token);

/* CB_CLOSED, CB_OPEN or CB_HALF_OPEN (counters.h); any process. */
int	 resil_cb_state(void);

/*
 * 1 when health checks are on and the prober's verdict is unhealthy:
 * requests are answered 503 without a connect attempt.
 */
int	 resil_upstream_down(const struct config *cf);

/* The health prober's verdict, as the admin process shows it. */
struct resil_health {
	int		 rh_state;	/* HS_* (counters.h) */
	uint64_t	 rh_since;	/* wall clock ms of the last change */
	uint64_t	 rh_probes;	/* probes sent since start */
	char		 rh_error[128];	/* last failure; "" for none */
};

/* Copy the verdict out consistently (h_seq); any process. */
void	 resil_health_read(struct resil_health *out);

/* Count a first attempt towards the retry budget's window. */
void	 resil_budget_request(uint64_t now);

/*
 * Take one retry from the budget: 1 when retries stay within 20% of the
 * first attempts of the last RB_BUCKETS seconds (plus RESIL_BUDGET_MIN,
 * so a quiet site can still retry), else 0.
 */
int	 resil_budget_take(uint64_t now);

/* A request body up to this size is held whole so it can be re-sent. */
#define RESIL_HOLD		65536
/* A response whose declared length is over this is never retried. */
#define RESIL_RESP_HOLD		32768

#define RESIL_BUDGET_MIN	2
#define RESIL_BUDGET_PCT	20

/*
 * The wait before retry number attempt (1 = the first retry): uniform
 * in [0, min(max_backoff, backoff * 2^(attempt-1))] ("full jitter").
 * rnd is a random 64-bit value.
 */
uint64_t resil_backoff(const struct config *cf, int attempt, uint64_t rnd);

/* A random 64-bit value for resil_backoff() (not for secrets). */
uint64_t resil_random(void);

#endif /* VW_RESIL_H */
