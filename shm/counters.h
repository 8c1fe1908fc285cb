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
#define CTR_AUTH_REASONS 9	/* counters_auth_reasons[] */
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
	/*
	 * Counters of the metrics (src/metrics.c names them; a new one is
	 * a field here, one line in its table and one increment).  They
	 * are never reset: a respawned worker adds to its slot's counts.
	 */
	uint64_t	 c_upstream_errors;	/* 502s of the upstream */
	uint64_t	 c_upstream_timeouts;	/* 504s */
	uint64_t	 c_rl_hits[3];		/* 429s: ip, user, connections */
	uint64_t	 c_tls_handshakes[2];	/* clients: ok, failed */
	uint64_t	 c_retries[8];		/* upstream retries by method
					   (counters_method_names[]) */
	uint64_t	 c_unavailable;		/* 503s without a connect (health
					   checks, circuit breaker) */
	uint64_t	 c_ip_blocks;		/* IP filter: connections closed
					   at accept, and 403s */
	uint64_t	 c_csrf_blocks;		/* 403s of the CSRF check */
	uint64_t	 c_auth[4][CTR_AUTH_REASONS];	/* auth.mode (enum
					   auth_mode) x counters_auth_
					   reasons[]: 0 allowed, else why
					   refused */
	/*
	 * Readiness (counters_ready()): the admin process probes only while
	 * someone asks, so an idle proxy never touches the upstream.
	 */
	int32_t		 c_ready;		/* admin: CTR_READY_* */
	uint64_t	 c_ready_at;		/* admin: util_now_ms of it */
	uint64_t	 c_ready_asked;		/* anyone: last /ready served */
	/* WAF detections by mode (0 detect, 1 block) and rule (index of
	   waf_rule_name(), < CTR_WAF_RULES): the admin process serves
	   vibewarden_waf_detections_total{rule,mode}. */
	uint64_t	 c_waf[2][CTR_WAF_RULES];
} __attribute__((aligned(64)));

/* Readiness as the admin process last probed it. */
#define CTR_READY_UNKNOWN	0	/* no recent probe */
#define CTR_READY_OK		1
#define CTR_READY_UPSTREAM	2	/* the upstream refuses connections */
#define CTR_READY_KRATOS	3	/* Kratos refuses connections */
#define CTR_READY_NO_CERT	4	/* TLS on, no certificate loaded */

/*
 * Per-request counters by method, normalised path and status, in a second
 * segment of the same slots (only slots that were ever claimed are read).
 */
#define CTR_METHODS	8	/* counters_method_names[] */
#define CTR_STATUSES	40	/* counters_status_names[]: codes, classes */
#define CTR_PATHS	33	/* telemetry.path_patterns, then "other" */
#define CTR_PATTERNS_MAX (CTR_PATHS - 1)
#define CTR_BUCKETS	12	/* counters_bucket_ms[], then +Inf */

struct vw_ctr_http {
	uint64_t	 h_req[CTR_METHODS][CTR_PATHS][CTR_STATUSES];
	uint64_t	 h_dur[CTR_METHODS][CTR_PATHS][CTR_BUCKETS];
					/* per bucket, not cumulative */
	uint64_t	 h_dur_ms[CTR_METHODS][CTR_PATHS];	/* sums */
};

extern struct vw_ctr_http	*counters_http_base;
extern const char *const	 counters_method_names[CTR_METHODS];
extern const char *const	 counters_status_names[CTR_STATUSES];
extern const unsigned		 counters_bucket_ms[CTR_BUCKETS - 1];

/* Authentication outcomes: "authenticated", then auth.denied reasons. */
extern const char *const	 counters_auth_reasons[CTR_AUTH_REASONS];
int	 counters_auth_reason(const char *why);	/* NULL: authenticated */

/* This process's own slot (set by counters_claim()), or NULL. */
extern struct vw_counters	*counters_self;
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

/*
 * One request in slot c's per-request counters: meth is an enum
 * http_method, path the index of its telemetry.path_patterns entry
 * (CTR_PATHS - 1: other).  No locks: the slot is the caller's.
 */
void	 counters_http(struct vw_counters *c, int meth, int path, int status,
	    uint64_t dur_ms);
int	 counters_status_index(int status);
int	 counters_method_index(int meth);

/*
 * The freshest readiness any live slot published no longer than max_age
 * ms before now (ms, util_now_ms), or CTR_READY_UNKNOWN.  counters_ready_
 * asked() notes in c (the caller's slot) that /ready was asked at now;
 * counters_ready_wanted() says whether any live slot did after since.
 */
int	 counters_ready(uint64_t now, uint64_t max_age);
void	 counters_ready_asked(struct vw_counters *c, uint64_t now);
int	 counters_ready_wanted(uint64_t since);

/* Sum every slot into out (the admin process, tests). */
void	 counters_sum(const struct vw_counters *base, struct vw_counters *out);
void	 counters_http_sum(const struct vw_counters *base,
	    const struct vw_ctr_http *hbase, struct vw_ctr_http *out);

#endif /* VW_COUNTERS_H */
