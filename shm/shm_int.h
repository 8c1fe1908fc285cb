/*
 * shm_int.h: what the other files of shm/ need of shm.c's handle (the
 * LMDB environment and the named databases).  Private to shm/: nothing
 * in src/ includes it, so <lmdb.h> stays behind shm.h.
 */
#ifndef VW_SHM_INT_H
#define VW_SHM_INT_H

#include <lmdb.h>

#include "shm.h"

/* The named databases of shm.c, by index. */
#define SHM_DB_SESSIONS	2

MDB_env		*shm_env(struct shm *h);
MDB_dbi		 shm_dbi(struct shm *h, int db);
/* Record rc as h's last error; SHM_FULL for MDB_MAP_FULL, else SHM_ERR. */
int		 shm_fail(struct shm *h, int rc);
/* A read-only transaction on h, and its end (one at a time). */
int		 shm_read_begin(struct shm *h, MDB_txn **txn);
void		 shm_read_end(struct shm *h);
/* The map size h was opened with, bytes. */
uint64_t	 shm_mapsize(struct shm *h);

#endif /* VW_SHM_INT_H */
