/*
 * store.h: where rate-limit buckets live, behind one small interface
 * chosen at config load (rate_limit.store): "memory" is the host-local
 * LMDB environment of shm.h (store_lmdb.c), "redis" a Redis/Valkey server
 * shared by several hosts (store_redis.c).
 *
 * A store never logs and never blocks on a socket; it answers with the
 * SHM_* codes of shm.h, or SHM_PENDING when the answer comes later
 * through a callback, and the caller degrades (fail open, or closed).
 */
#ifndef VW_STORE_H
#define VW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "gcra.h"

struct store;

#define SHM_PENDING	1	/* the answer comes through the callback */

/*
 * A deferred answer: rc SHM_OK with res set, or SHM_ERR (res NULL).
 * Called exactly once per SHM_PENDING, never from inside so_take().
 */
typedef void	 store_done_fn(void *arg, int rc,
		    const struct gcra_res *res);

struct store_ops {
	const char	*so_name;
	/*
	 * One GCRA decision for key at now (ns): SHM_OK with *out set,
	 * SHM_ERR / SHM_FULL (out untouched), or SHM_PENDING: done(arg, ...)
	 * follows.  A remote store uses its own clock, not now.
	 */
	int	(*so_take)(struct store *, const void *key, size_t klen,
		    const struct gcra *g, uint64_t now, struct gcra_res *out,
		    store_done_fn *done, void *arg);
	/* Timers: timeouts, health probes (NULL: nothing to do). */
	void	(*so_tick)(struct store *, uint64_t now_ms);
	/* Release the store (not the backing environment). */
	void	(*so_free)(struct store *);
};

struct store {
	const struct store_ops	*st_ops;
	void			*st_ctx;	/* backend's own state */
};

struct shm;

/*
 * The LMDB store over an open environment h (borrowed: it must outlive
 * the store).  Returns a store the caller owns (st_ops->so_free), or NULL.
 */
struct store	*store_lmdb_new(struct shm *h);

/* rate_limit.store: redis.  Strings are borrowed for the store's life. */
struct store_redis_conf {
	const char	*rc_host;	/* numeric address */
	int		 rc_port;
	const char	*rc_user;	/* ACL user, or NULL */
	const char	*rc_password;	/* NULL: no AUTH */
	int		 rc_db;
	const char	*rc_prefix;	/* key_prefix */
	uint64_t	 rc_probe_ms;	/* health_check_interval */
	uint64_t	 rc_timeout_ms;	/* connect and command timeout */
	/* Hook a hiredis redisAsyncContext into the caller's event loop. */
	int		(*rc_attach)(void *ac);
	/* Up/down transitions: up 0 with why, or up 1. */
	void		(*rc_event)(int up, const char *why);
};

/*
 * The Redis/Valkey store: one non-blocking connection, one atomic Lua
 * script per decision (EVALSHA), keys
 * <prefix>:ratelimit:<key> with a TTL.  While the server is unreachable
 * so_take() answers SHM_ERR at once; a probe every rc_probe_ms reconnects.
 * Returns a store the caller owns, or NULL.
 */
struct store	*store_redis_new(const struct store_redis_conf *rc);

/*
 * For the admin process (never a worker: it blocks up to rc_timeout_ms
 * per step): read the bucket of key, its TAT in µs of the server's clock
 * (0 and *found 0 when there is none), or delete it (del, *found 1 when
 * it was there), over a connection of its own.  0, or -1.
 */
int		 store_redis_admin(const struct store_redis_conf *rc,
		    const void *key, size_t klen, int del, uint64_t *tat_us,
		    int *found);

#endif /* VW_STORE_H */
