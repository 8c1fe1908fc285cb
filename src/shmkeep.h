/*
 * shmkeep.h: the master's side of the shm environment (DESIGN.md "Shared
 * state"): it creates the directory and the databases before any worker
 * starts, cleans up after a reaped child, and sweeps expired entries.
 * Master only.  Workers open their own handle (ratelimit.c).
 */
#ifndef VW_SHMKEEP_H
#define VW_SHMKEEP_H

#include <sys/types.h>

#include "config.h"

/*
 * Make cf's shm directory (owned by server.user when root) and open the
 * environment with its databases, if cf needs it; an environment already
 * open at another path or size is closed first.  0, or -1 with *errstr
 * (static storage or a message kept until the next call).
 */
int	 shmkeep_open(const struct config *cf, const char **errstr);

/*
 * A child exited: clear its LMDB reader slot (mdb_reader_check) and the
 * connection slots it held.
 */
void	 shmkeep_reaped(pid_t pid);

/*
 * Sweep step, called from the master loop at least once a second: every
 * SHMKEEP_SWEEP_MS a pass over the rate-limit entries deletes the expired
 * ones, in batches of one short write transaction each, for at most
 * SHMKEEP_BUDGET_MS per call, so workers wait for the lock one batch at
 * most.
 */
#define SHMKEEP_SWEEP_MS	5000
#define SHMKEEP_BUDGET_MS	50
void	 shmkeep_tick(void);

void	 shmkeep_close(void);

#endif /* VW_SHMKEEP_H */
