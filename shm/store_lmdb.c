/*
 * store_lmdb.c: the host-local rate-limit store (rate_limit.store:
 * memory): one GCRA TAT per key in the shm "ratelimit" database, each
 * decision one LMDB write transaction, so every worker of the host shares
 * one bucket per key and a killed worker loses nothing.  Workers only.
 */
#include <stdlib.h>

#include "shm.h"
#include "store.h"

static int
lmdb_take(struct store *st, const void *key, size_t klen,
    const struct gcra *g, uint64_t now, struct gcra_res *out,
    store_done_fn *done, void *arg)
{
	return (shm_rl_take(st->st_ctx, key, klen, g, now, out));
}

static void
lmdb_free(struct store *st)
{
	free(st);
}

static const struct store_ops lmdb_ops = {
	"memory", lmdb_take, NULL, lmdb_free
};

struct store *
store_lmdb_new(struct shm *h)
{
	struct store	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return (NULL);
	st->st_ops = &lmdb_ops;
	st->st_ctx = h;
	return (st);
}
