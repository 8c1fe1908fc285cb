/*
 * rltab.h: the rate-limit table, a fixed hash table in a shared file
 * mapping, in front of LMDB for every key of at most RLT_KEY bytes (the
 * client-IP keys and most user ids).  Internal to shm/: the rest of the
 * daemon sees only shm.h, whose shm_rl_* functions pick the table or
 * LMDB by the key's length, so a key lives in exactly one of them.
 *
 * Why: an LMDB write transaction costs about 800 instructions for a known
 * key and 8,000 for a new one (callgrind); a decision here costs about
 * 150 for either, with the same semantics: one bucket per key for every
 * process of the host, and no bucket lost or duplicated when a process is
 * killed at any instruction.
 *
 * Layout: buckets of RLT_WAYS slots; a key lives only in the bucket its
 * hash names.  A slot whose TAT has passed is a full bucket, exactly as
 * an absent key, so it may be taken over by a new key: there is nothing
 * to sweep.  A bucket whose slots all hold live keys refuses a new key
 * (SHM_FULL: rate limiting fails open for it, logged).
 *
 * Concurrency: taking a token from a known key is one compare-and-swap on
 * its TAT, checked against the slot's sequence number (odd while the slot
 * is rewritten).  Placing a new key takes the bucket's lock, which holds
 * its owner's PID and start time: a lock whose owner died is taken over
 * (also when its PID was handed out again since: the file outlives the
 * processes), and the slots it was rewriting are cleared.
 */
#ifndef VW_RLTAB_H
#define VW_RLTAB_H

#include <stddef.h>
#include <stdint.h>

#include "gcra.h"

#define RLT_KEY		48	/* longest key the table holds */
#define RLT_OK		0
#define RLT_FULL	(-1)


struct rltab;

/*
 * Map the table file of directory dir for nkeys keys (rounded up), making
 * it if create is set.  The file's name carries its size: a new size is a
 * new, empty table.  NULL with *errstr set (static) on failure.
 */
struct rltab	*rltab_open(const char *dir, size_t nkeys, int create,
		    const char **errstr);
void		 rltab_close(struct rltab *t);

/* shm_rl_take() for a key of 1..RLT_KEY bytes: RLT_OK or RLT_FULL. */
int		 rltab_take(struct rltab *t, const void *key, size_t klen,
		    const struct gcra *g, uint64_t now, struct gcra_res *out);

/* The TAT of key, 0 if none. */
uint64_t	 rltab_get(struct rltab *t, const void *key, size_t klen);

/* Forget key (its bucket is full again); 1 if it was there. */
int		 rltab_reset(struct rltab *t, const void *key, size_t klen);

/* Slots in all, and slots holding a live key at now (ns). */
void		 rltab_usage(struct rltab *t, uint64_t now, size_t *slots,
		    size_t *live);

/*
 * Tests only: leave key's bucket as a process killed while rewriting the
 * key's slot would, with pid as the lock's owner and start as its start
 * time (0: unknown).  0, or -1: no such key.
 */
int		 rltab_test_break(struct rltab *t, const void *key,
		    size_t klen, uint32_t pid, uint32_t start);

#endif /* VW_RLTAB_H */
