/*
 * shm.h: the shared LMDB environment of DESIGN.md "Shared state" (a cache,
 * not a database of record).  LMDB stays behind this API: nothing outside
 * shm/ includes <lmdb.h>.
 *
 * Who opens it: every process opens its own handle after fork(), as LMDB
 * requires; a handle is never used across fork().  The master creates the
 * directory and the named databases (shm_open(..., SHM_CREATE)), runs
 * shm_reader_check() and shm_conn_purge() after reaping a child, and
 * sweeps expired entries with shm_sweep() outside the request path.
 * Workers take rate-limit tokens and connection slots, each decision in one
 * write transaction, so concurrent workers see one bucket per key.  Rate-
 * limit keys of up to RLT_KEY bytes (client IPs, most user ids) live
 * instead in the rate-limit table beside it (rltab.h: same semantics, a
 * tenth of the cost); longer ones in LMDB.  A key lives in one of them.
 *
 * Databases: "ratelimit" (key: scope + client IP or user id; value: GCRA
 * TAT, u64 ns of CLOCK_REALTIME), "conns" (key: client IP; value: open
 * connections per worker PID), and "sessions", "jwks", "apikeys" (created
 * for their later users).
 *
 * Return values: SHM_OK, SHM_ERR (errstr says why) or SHM_FULL (the map is
 * full: the caller degrades, e.g. rate limiting fails open).
 */
#ifndef VW_SHM_H
#define VW_SHM_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "gcra.h"

#define SHM_OK		0
#define SHM_ERR		(-1)
#define SHM_FULL	(-2)

#define SHM_CREATE	0x01	/* master: make the files and databases */

#define SHM_KEY_MAX	256	/* longest key, bytes */

struct shm;

/*
 * Open the environment in directory dir (which must exist) with a map of
 * map_size bytes.  Returns a handle the caller owns (shm_close), or NULL
 * with *errstr set (static storage).
 */
struct shm	*shm_open(const char *dir, uint64_t map_size, int flags,
		    const char **errstr);

/* Close h; NULL is a no-op. */
void		 shm_close(struct shm *h);

/* The data (0), lock (1) and rate-limit table (2) file paths of dir into
   buf (for chown); 0 or -1. */
int		 shm_file(const char *dir, int lock, char *buf, size_t len);

/*
 * GCRA decision for key (1..SHM_KEY_MAX bytes) at now (ns): read the TAT,
 * decide with g, store the new TAT if the request is allowed, all in one
 * write transaction.  On SHM_ERR or SHM_FULL, *out is not set.
 */
int		 shm_rl_take(struct shm *h, const void *key, size_t klen,
		    const struct gcra *g, uint64_t now, struct gcra_res *out);

/* The stored TAT of key, 0 if none (tests, admin); SHM_OK or SHM_ERR. */
int		 shm_rl_get(struct shm *h, const void *key, size_t klen,
		    uint64_t *tat);

/* Forget key: its bucket is full again (admin); *found says if it was. */
int		 shm_rl_reset(struct shm *h, const void *key, size_t klen,
		    int *found);

/*
 * Connection slots for key: if the sum over every PID is below limit,
 * count one more for pid and set *admitted to 1; else *admitted = 0 and
 * nothing changes.  shm_conn_release() gives back one slot of pid.
 */
int		 shm_conn_acquire(struct shm *h, const void *key, size_t klen,
		    pid_t pid, uint32_t limit, int *admitted);
int		 shm_conn_release(struct shm *h, const void *key, size_t klen,
		    pid_t pid);

/* Open connections of key over every PID (tests); SHM_OK or SHM_ERR. */
int		 shm_conn_count(struct shm *h, const void *key, size_t klen,
		    uint32_t *n);

/*
 * Forget the slots of pid (a reaped worker), or with pid 0 of every PID
 * that no longer exists (master start).  *freed: slots dropped.
 */
int		 shm_conn_purge(struct shm *h, pid_t pid, uint32_t *freed);

/* mdb_reader_check: clear reader slots of dead processes. */
int		 shm_reader_check(struct shm *h, int *dead);

/*
 * One bounded step of the sweep: look at up to max "ratelimit" entries
 * from where the last step stopped, deleting those whose TAT <= now (a
 * full bucket is the same as no entry).  *wrapped is set to 1 when the
 * step reached the end of the database (a pass is complete).
 */
int		 shm_sweep(struct shm *h, uint64_t now, size_t max,
		    size_t *deleted, int *wrapped);

/* Bytes of the map in use (pages of the last transaction * page size). */
int		 shm_used(struct shm *h, uint64_t *used, uint64_t *mapsize);

/*
 * The "jwks" database (DESIGN.md): the JWKS helper writes the key set,
 * workers read keys by kid and ask for a refresh.  Key records have keys
 * starting with 'k' ("k" + kid); their values are the helper's format,
 * opaque here.
 */
struct shm_kv {
	const void	*kv_k;
	size_t		 kv_klen;
	const void	*kv_v;
	size_t		 kv_vlen;
};

struct shm_jwks_meta {
	uint64_t	 jm_gen;	/* bumped by every replace */
	uint64_t	 jm_fetched_ms;	/* CLOCK_REALTIME ms of it */
	uint32_t	 jm_nkeys;
	uint32_t	 jm_pad;
	unsigned char	 jm_src[32];	/* where the keys came from (the
					   helper's hash; opaque here) */
};

/*
 * Replace every key record by kv[0..n) (keys starting with 'k') in one
 * write transaction, and bump the generation (helper).  src (32 bytes,
 * NULL for zeros) names the keys' source in the meta record, so that a
 * reader configured for another source can ignore them.
 */
int		 shm_jwks_replace(struct shm *h, const struct shm_kv *kv,
		    size_t n, uint64_t now_ms, const unsigned char *src);

/* The generation record; all zero before the first replace. */
int		 shm_jwks_meta(struct shm *h, struct shm_jwks_meta *m);

/*
 * The value of key record key (klen bytes) into buf (cap bytes): SHM_OK
 * with *vlen set, 1 when there is none (or it exceeds cap), SHM_ERR.
 */
int		 shm_jwks_key(struct shm *h, const void *key, size_t klen,
		    void *buf, size_t cap, size_t *vlen);

/*
 * A worker asks for a refresh (an unknown kid): the "want" time becomes
 * now_ms unless it was set less than gap_ms ago; *set says whether it
 * was.  shm_jwks_wanted() reads it (helper; 0 = never).
 */
int		 shm_jwks_want(struct shm *h, uint64_t now_ms, uint64_t gap_ms,
		    int *set);
int		 shm_jwks_wanted(struct shm *h, uint64_t *ms);

/* Why the last call on h failed (static storage). */
const char	*shm_errstr(const struct shm *h);

#endif /* VW_SHM_H */
