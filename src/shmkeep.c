/*
 * shmkeep.c: shm housekeeping in the master (see shmkeep.h).  The master
 * sweeps itself instead of forking a helper: a sweep is a few short write
 * transactions a second on a memory map, the master reads no client byte
 * and has nothing latency-critical to do, and a helper would be one more
 * process to supervise, respawn and drain.  Never runs in a worker.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ratelimit.h"
#include "session.h"
#include "shm.h"
#include "shmkeep.h"
#include "util.h"

#define SWEEP_BATCH	1024

static struct {
	struct shm	*shm;
	char		*path;
	uint64_t	 map_size;
	uint64_t	 next_sweep;
	int		 sweeping;	/* a pass is under way */
	int		 swept_rl;	/* its rate-limit part is done */
	int		 swept_sess;	/* its session part is done */
	size_t		 swept;		/* deleted in this pass */
	char		 err[512];
} K;

/* mkdir -p with mode 0700 for the parts we create. */
static int
mkdirs(const char *path)
{
	char	 buf[1024], *p;

	if (strlen(path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(buf, path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

/* Root: the workers (server.user) must open the files read-write. */
static int
give_to_user(const struct config *cf)
{
	struct passwd	*pw;
	char		 f[1024];
	int		 lock;

	if (geteuid() != 0)
		return (0);
	if ((pw = getpwnam(cf->server.user)) == NULL) {
		errno = ENOENT;
		return (-1);
	}
	if (chown(cf->shm.path, pw->pw_uid, pw->pw_gid) == -1)
		return (-1);
	for (lock = 0; lock < 3; lock++)
		if (shm_file(cf->shm.path, lock, f, sizeof(f)) == -1 ||
		    chown(f, pw->pw_uid, pw->pw_gid) == -1)
			return (-1);
	return (0);
}

int
shmkeep_open(const struct config *cf, const char **errstr)
{
	struct shm	*h;
	const char	*e;
	uint32_t	 freed;

	if (!rl_needs_shm(cf))
		return (0);
	if (K.shm != NULL && strcmp(K.path, cf->shm.path) == 0 &&
	    K.map_size == cf->shm.map_size)
		return (0);
	if (mkdirs(cf->shm.path) == -1) {
		snprintf(K.err, sizeof(K.err), "shm.path %s: %s",
		    cf->shm.path, strerror(errno));
		goto fail;
	}
	if ((h = shm_open(cf->shm.path, cf->shm.map_size, SHM_CREATE,
	    &e)) == NULL) {
		snprintf(K.err, sizeof(K.err), "shm.path %s: %s",
		    cf->shm.path, e);
		goto fail;
	}
	if (give_to_user(cf) == -1) {
		snprintf(K.err, sizeof(K.err), "shm.path %s: chown to %s: %s",
		    cf->shm.path, cf->server.user, strerror(errno));
		shm_close(h);
		goto fail;
	}
	/* Connection slots of processes that are gone (a previous run). */
	shm_conn_purge(h, 0, &freed);
	shmkeep_close();
	K.shm = h;
	K.path = strdup(cf->shm.path);
	K.map_size = cf->shm.map_size;
	K.next_sweep = util_now_update() + SHMKEEP_SWEEP_MS;
	return (0);
 fail:
	*errstr = K.err;
	return (-1);
}

void
shmkeep_reaped(pid_t pid)
{
	uint32_t	 freed = 0;
	int		 dead = 0;

	if (K.shm == NULL)
		return;
	if (shm_reader_check(K.shm, &dead) != SHM_OK)
		log_sys(LOG_LVL_ERROR, "shm.reader_check_failed", "%s",
		    shm_errstr(K.shm));
	if (shm_conn_purge(K.shm, pid, &freed) != SHM_OK)
		log_sys(LOG_LVL_ERROR, "shm.purge_failed", "%s",
		    shm_errstr(K.shm));
	if (dead > 0 || freed > 0)
		log_sys(LOG_LVL_INFO, "shm.reaped", "pid %d: %d stale reader "
		    "slots, %u connection slots freed", (int)pid, dead, freed);
}

static uint64_t
wall_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

void
shmkeep_tick(void)
{
	uint64_t	 start, used, map;
	size_t		 del;
	int		 wrapped;

	if (K.shm == NULL)
		return;
	start = util_now_update();
	if (!K.sweeping) {
		if (start < K.next_sweep)
			return;
		K.sweeping = 1;
		K.swept_rl = K.swept_sess = 0;
		K.swept = 0;
	}
	while (!K.swept_rl) {
		if (shm_sweep(K.shm, wall_ns(), SWEEP_BATCH, &del,
		    &wrapped) != SHM_OK) {
			log_sys(LOG_LVL_ERROR, "shm.sweep_failed", "%s",
			    shm_errstr(K.shm));
			del = 0;
			wrapped = 1;
		}
		K.swept += del;
		K.swept_rl = wrapped;
		if (!wrapped && util_now_update() - start >= SHMKEEP_BUDGET_MS)
			return;
	}
	/* The session cache, after the buckets (session.h). */
	while (!K.swept_sess) {
		if (shm_sess_sweep(K.shm, wall_ns(), SWEEP_BATCH, &del,
		    &wrapped) != SHM_OK) {
			log_sys(LOG_LVL_ERROR, "shm.sweep_failed", "sessions: "
			    "%s", shm_errstr(K.shm));
			del = 0;
			wrapped = 1;
		}
		K.swept += del;
		K.swept_sess = wrapped;
		if (!wrapped && util_now_update() - start >= SHMKEEP_BUDGET_MS)
			return;
	}
	K.sweeping = 0;
	K.next_sweep = util_now_ms + SHMKEEP_SWEEP_MS;
	if (K.swept > 0 && log_enabled(LOG_LVL_DEBUG) &&
	    shm_used(K.shm, &used, &map) == SHM_OK)
		log_sys(LOG_LVL_DEBUG, "shm.swept", "%zu expired entries "
		    "deleted; %llu of %llu bytes of the map in use", K.swept,
		    (unsigned long long)used, (unsigned long long)map);
}

void
shmkeep_close(void)
{
	shm_close(K.shm);
	K.shm = NULL;
	free(K.path);
	K.path = NULL;
}
