/*
 * counters.h: the shared counter segment for metrics (DESIGN.md "Shared
 * state").  The master maps it before forking; each worker writes only its
 * own cache-line-aligned slot, without locks; the admin process sums the
 * slots.  Slot 0 belongs to the master.
 */
#ifndef VW_COUNTERS_H
#define VW_COUNTERS_H

#include <sys/types.h>

#include <stdint.h>

#define CTR_SLOTS	256
#define CTR_WAF_RULES	32	/* >= waf_rule_count() */

struct vw_counters {
	uint64_t	 c_requests[6];	/* by status class: 1xx..5xx, other */
	uint64_t	 c_bytes_out;	/* response payload bytes */
	uint64_t	 c_duration_ms;	/* sum of request durations */
	uint64_t	 c_conns_total;	/* accepted */
	int64_t		 c_conns_open;	/* gauge */
	int64_t		 c_tunnels;	/* gauge: open WebSocket tunnels */
	uint64_t	 c_restarts;	/* master slot: workers respawned */
	pid_t		 c_pid;		/* owner, 0 = free */
	uint32_t	 c_generation;
	int32_t		 c_accepting;	/* worker: its listener is armed
					   (read by the other workers to
					   balance connections) */
	/* WAF detections by mode (0 detect, 1 block) and rule (index of
	   waf_rule_name(), < CTR_WAF_RULES): the admin process serves
	   vibewarden_waf_detections_total{rule,mode}. */
	uint64_t	 c_waf[2][CTR_WAF_RULES];
} __attribute__((aligned(64)));

/*
 * Upstream resilience state shared by every process of the host (one
 * record after the slots): the health prober writes h_*, workers read
 * them; workers update the circuit breaker and the retry budget with
 * atomics (src/resil.c).  The admin process reads all of it, e.g. for
 * vibewarden_circuit_breaker_state: RESIL_CB_STATE(cb_word).
 */
#define RB_BUCKETS	10	/* retry budget: 1 s buckets, 10 s window */

struct vw_resil {
	/* Health (upstream.health), written by the prober alone. */
	uint32_t	 h_state;	/* HS_* */
	uint32_t	 h_seq;		/* odd while h_error is written */
	uint64_t	 h_since;	/* wall clock ms of the last change */
	uint64_t	 h_probes;	/* probes sent (tests, metrics) */
	char		 h_error[128];	/* last failure, NUL-terminated */
	/* Circuit breaker: (deadline ms << 2) | CB_* in one word; read by
	   every request, so on a line of its own. */
	uint64_t	 cb_word __attribute__((aligned(64)));
	uint32_t	 cb_failures;	/* consecutive, while closed */
	/* Retry budget: first attempts and retries per second. */
	struct {
		uint64_t rb_sec;
		uint64_t rb_req;
		uint64_t rb_retry;
	}		 rb[RB_BUCKETS] __attribute__((aligned(64)));
} __attribute__((aligned(64)));

#define HS_UNKNOWN	0	/* no verdict yet: serving */
#define HS_HEALTHY	1
#define HS_UNHEALTHY	2

#define CB_CLOSED	0
#define CB_OPEN		1
#define CB_HALF_OPEN	2
#define RESIL_CB_STATE(w)	((int)((w) & 3))

/* The segment, as mapped by the master (inherited by children). */
extern struct vw_counters *counters_base;

/* The resilience record in the same mapping. */
extern struct vw_resil *counters_resil;

/*
 * Map a zeroed MAP_SHARED segment of CTR_SLOTS slots; children inherit it
 * through fork().  NULL on failure (errno set).
 */
struct vw_counters	*counters_create(void);

/* Zero a slot's gauges for a new owner (a respawned worker). */
void	 counters_claim(struct vw_counters *c, pid_t pid, uint32_t gen);

void	 counters_request(struct vw_counters *c, int status, uint64_t bytes,
	    uint64_t dur_ms);
void	 counters_conn(struct vw_counters *c, int delta);
void	 counters_tunnel(struct vw_counters *c, int delta);
/* One WAF detection of rule (waf.h index); blocked: in block mode. */
void	 counters_waf(struct vw_counters *c, int rule, int blocked);

/* Sum every slot into out (the admin process, tests). */
void	 counters_sum(const struct vw_counters *base, struct vw_counters *out);

#endif /* VW_COUNTERS_H */
