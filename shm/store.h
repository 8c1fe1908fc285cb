/*
 * store.h: where rate-limit buckets live, behind one small interface
 * chosen at config load (rate_limit.store): "memory" is the host-local
 * LMDB environment of shm.h (store_lmdb.c); a Redis/Valkey backend for
 * several hosts slots in as a second struct store_ops.
 *
 * A store never logs and never blocks on a socket; it answers with the
 * SHM_* codes of shm.h and the caller degrades (fail open, or closed).
 */
#ifndef VW_STORE_H
#define VW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "gcra.h"

struct store;

struct store_ops {
	const char	*so_name;
	/*
	 * One GCRA decision for key at now (ns): SHM_OK with *out set, or
	 * SHM_ERR / SHM_FULL (out untouched).
	 */
	int	(*so_take)(struct store *, const void *key, size_t klen,
		    const struct gcra *g, uint64_t now, struct gcra_res *out);
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

#endif /* VW_STORE_H */
