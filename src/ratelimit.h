/*
 * ratelimit.h: rate limiting in a worker (SPEC.md 8): keys, exempt paths,
 * one GCRA decision per request through the configured store (shm/store.h),
 * and the per-IP concurrent connection count (rate_limit.per_ip.
 * max_connections).  The stages (stage_ratelimit.c) only ask; degradation
 * (a full map, a store error) is counted here and logged from the event
 * loop by rl_report(), never from a stage.  Worker only.
 */
#ifndef VW_RATELIMIT_H
#define VW_RATELIMIT_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "config.h"
#include "vwstr.h"

struct conn;
struct req;
struct shm;

enum rl_kind { RL_IP, RL_USER };

/* Longest key rl_*_key() build. */
#define RL_KEY_MAX	256

/* The answer to one request. */
struct rl_answer {
	int		 ra_allowed;	/* 1 pass (also when failed open) */
	uint32_t	 ra_retry;	/* refused: Retry-After, whole s */
	uint32_t	 ra_remaining;	/* tokens left */
	uint32_t	 ra_reset;	/* s until the bucket is full */
	int		 ra_closed;	/* refused because the store is down
					   (redis.fallback: false) */
};

/* 1 when cf needs the shm environment (rate limiting, or Kratos auth). */
int	 rl_needs_shm(const struct config *cf);

/* In a worker after rl_worker_init(): rate limiting is on (cheap). */
int	 rl_on(void);

/*
 * This worker's shm handle (rl_worker_init), shared with the Kratos
 * session cache: LMDB allows one handle per environment and process.
 * NULL when there is none.
 */
struct shm	*rl_shm(void);

/*
 * Open this worker's own shm handle and store (after fork and after
 * dropping privileges).  0, or -1 after logging why: requests then pass
 * (fail open) and the failure is reported.
 */
int	 rl_worker_init(const struct config *cf);

/* Log degradations counted since the last report (at most every 10 s). */
void	 rl_report(void);

/*
 * 1 when path is exempt: /_vibewarden/... or one of
 * rate_limit.exempt_paths (globs: `*` and `?` within one segment, a
 * trailing / * or / ** matches everything below).
 */
int	 rl_exempt(const struct config *cf, struct vw_str path);
/* The admin process's read (TAT in µs) or reset of a Redis bucket. */
int	 rl_redis_admin(const struct config *cf, const void *key, size_t klen,
	    int del, uint64_t *tat_us, int *found);
/* The same rule for another list of globs (waf.exempt_paths). */
int	 rl_exempt_list(const struct strlist *x, struct vw_str path);

/* Glob match of NUL-terminated pat against path (see rl_exempt). */
int	 rl_glob(const char *pat, struct vw_str path);
/* The same, ASCII case ignored (path spellings an application may fold). */
int	 rl_glob_ci(const char *pat, struct vw_str path);

/*
 * Key of kind for the client IP text ip (IPv4, IPv6; IPv4-mapped IPv6 is
 * IPv4; IPv6 is cut to v6prefix bits) or, for RL_USER, the user id.
 * Writes at most RL_KEY_MAX bytes to out; returns the length.
 */
size_t	 rl_ip_key(char scope, const char *ip, int v6prefix,
	    unsigned char *out);
/* The same for a binary address: no parsing on the request path. */
size_t	 rl_addr_key(char scope, const struct ipaddr *ia, int v6prefix,
	    unsigned char *out);
size_t	 rl_user_key(struct vw_str uid, unsigned char *out);

/*
 * One request rq of kind against key.  Returns 0 with *a filled (a local
 * store error fails open), or 1 when the answer comes from Redis later:
 * rq->rq_rlstate is RLS_WAIT, and the reply sets RLS_DONE with rq_rlok,
 * rq_rlclosed, rq_rlretry and runs the connection again (conn_run).
 */
int	 rl_take(struct req *rq, enum rl_kind kind, const unsigned char *key,
	    size_t klen, struct rl_answer *a);

/*
 * Connection hooks (conn.c).  rl_conn_open(): count cn against
 * rate_limit.per_ip.max_connections; 0 admitted (or no limit), -1 over
 * the limit (cn_rlover set, rate_limit.conn_blocked logged).
 * rl_conn_close(): give back the slot cn holds, if any, and forget a
 * Redis decision it waits for.
 */
int	 rl_conn_open(struct conn *cn);
void	 rl_conn_close(struct conn *cn);

#endif /* VW_RATELIMIT_H */
