/*
 * test_ratelimit.c: GCRA arithmetic (burst, refill, Retry-After rounding,
 * a clock going backwards), the shm LMDB store (one bucket under
 * concurrent processes, connection slots, purge, sweep, a full map), and
 * the worker's keys and exempt-path globs, and the per-user stage's hook.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

/* libcheck has a CK_ERROR of its own; keep enum chunk_rc's. */
#define CK_ERROR	CHECK_CK_ERROR
#include <check.h>
#include <sched.h>
#undef CK_ERROR
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "gcra.h"
#include "pipe.h"
#include "ratelimit.h"
#include "rltab.h"
#include "shm.h"
#include "store.h"

#define NS	1000000000ULL
#define T0	(1700000000ULL * NS)	/* a wall-clock "now" */

/* ------------------------------------------------------------ GCRA */

/* Take n tokens at time now from *tat; returns how many were allowed. */
static int
take_n(const struct gcra *g, uint64_t *tat, uint64_t now, int n)
{
	struct gcra_res	 r;
	int		 ok = 0;

	while (n-- > 0) {
		gcra_take(g, *tat, now, &r);
		if (r.gr_allowed) {
			*tat = r.gr_tat;
			ok++;
		}
	}
	return (ok);
}

START_TEST(t_gcra_burst)
{
	struct gcra	 g;
	struct gcra_res	 r;
	uint64_t	 tat = 0;

	gcra_init(&g, 10, 20);
	ck_assert_uint_eq(g.g_interval, NS / 10);
	ck_assert_uint_eq(g.g_tau, 2 * NS);
	/* A new key is full: exactly the burst passes at one instant. */
	gcra_take(&g, tat, T0, &r);
	ck_assert_int_eq(r.gr_allowed, 1);
	ck_assert_uint_eq(r.gr_remaining, 19);
	tat = r.gr_tat;
	ck_assert_int_eq(take_n(&g, &tat, T0, 100), 19);
	gcra_take(&g, tat, T0, &r);
	ck_assert_int_eq(r.gr_allowed, 0);
	ck_assert_uint_eq(r.gr_remaining, 0);
	ck_assert_uint_eq(r.gr_wait, NS / 10);
	ck_assert_uint_eq(r.gr_tat, tat);	/* a refusal changes nothing */
	ck_assert_uint_eq(r.gr_reset, 2 * NS);
}
END_TEST

START_TEST(t_gcra_refill)
{
	struct gcra	 g;
	uint64_t	 tat = 0;

	gcra_init(&g, 10, 20);
	ck_assert_int_eq(take_n(&g, &tat, T0, 20), 20);
	/* 10 per second: 99 ms later still nothing, 100 ms one token. */
	ck_assert_int_eq(take_n(&g, &tat, T0 + NS / 10 - 1, 5), 0);
	ck_assert_int_eq(take_n(&g, &tat, T0 + NS / 10, 5), 1);
	/* One second later: ten more, never more. */
	ck_assert_int_eq(take_n(&g, &tat, T0 + NS / 10 + NS, 50), 10);
	/* Idle for an hour: full again, capped at the burst. */
	ck_assert_int_eq(take_n(&g, &tat, T0 + 3600 * NS, 100), 20);
}
END_TEST

START_TEST(t_gcra_fractional_rate)
{
	struct gcra	 g;
	struct gcra_res	 r;
	uint64_t	 tat = 0;

	/* 0.5/s, burst 1: one request, then 2 s to wait. */
	gcra_init(&g, 0.5, 1);
	ck_assert_int_eq(take_n(&g, &tat, T0, 3), 1);
	gcra_take(&g, tat, T0, &r);
	ck_assert_int_eq(r.gr_allowed, 0);
	ck_assert_uint_eq(gcra_ceil_sec(r.gr_wait), 2);
	ck_assert_int_eq(take_n(&g, &tat, T0 + 2 * NS, 3), 1);
	/* Rate 0: the burst and nothing more, ever. */
	gcra_init(&g, 0, 3);
	tat = 0;
	ck_assert_int_eq(take_n(&g, &tat, T0, 10), 3);
	ck_assert_int_eq(take_n(&g, &tat, T0 + 86400 * NS, 10), 0);
}
END_TEST

START_TEST(t_retry_after_rounding)
{
	struct gcra	 g;
	struct gcra_res	 r;
	uint64_t	 tat = 0;

	ck_assert_uint_eq(gcra_ceil_sec(0), 0);
	ck_assert_uint_eq(gcra_ceil_sec(1), 1);
	ck_assert_uint_eq(gcra_ceil_sec(NS - 1), 1);
	ck_assert_uint_eq(gcra_ceil_sec(NS), 1);
	ck_assert_uint_eq(gcra_ceil_sec(NS + 1), 2);
	/* 0.3/s: 3.33 s between tokens -> Retry-After 4, never 3. */
	gcra_init(&g, 0.3, 1);
	take_n(&g, &tat, T0, 1);
	gcra_take(&g, tat, T0, &r);
	ck_assert_int_eq(r.gr_allowed, 0);
	ck_assert_uint_eq(gcra_ceil_sec(r.gr_wait), 4);
	/* 3.4 s later: 1 s is still missing, not 0. */
	gcra_take(&g, tat, T0 + 3 * NS, &r);
	ck_assert_int_eq(r.gr_allowed, 0);
	ck_assert_uint_eq(gcra_ceil_sec(r.gr_wait), 1);
}
END_TEST

START_TEST(t_clock_backwards)
{
	struct gcra	 g;
	struct gcra_res	 r;
	uint64_t	 tat = 0;

	gcra_init(&g, 10, 20);
	ck_assert_int_eq(take_n(&g, &tat, T0, 20), 20);
	/* The clock steps back an hour: the key is empty, not locked out
	   for an hour; one token comes after one interval. */
	gcra_take(&g, tat, T0 - 3600 * NS, &r);
	ck_assert_int_eq(r.gr_allowed, 0);
	ck_assert_uint_eq(r.gr_wait, NS / 10);
	ck_assert_uint_eq(gcra_ceil_sec(r.gr_wait), 1);
	tat = r.gr_tat;
	ck_assert_uint_eq(tat, T0 - 3600 * NS + 2 * NS);
	ck_assert_int_eq(take_n(&g, &tat, T0 - 3600 * NS + NS / 10, 5), 1);
	/* A small step back inside the window only delays. */
	tat = 0;
	ck_assert_int_eq(take_n(&g, &tat, T0, 20), 20);
	ck_assert_int_eq(take_n(&g, &tat, T0 - NS / 2, 5), 0);
	ck_assert_int_eq(take_n(&g, &tat, T0 + NS / 10, 5), 1);
}
END_TEST

/* ------------------------------------------------------------ shm */

static char	 dir[] = "/tmp/vwshmtestXXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 f[256];

	snprintf(f, sizeof(f), "%s/vw.yaml", dir);
	unlink(f);
	shm_file(dir, 0, f, sizeof(f));
	unlink(f);
	shm_file(dir, 2, f, sizeof(f));
	unlink(f);
	shm_file(dir, 1, f, sizeof(f));
	unlink(f);
	rmdir(dir);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

static struct shm *
open_shm(uint64_t size, int flags)
{
	struct shm	*h;
	const char	*err = NULL;

	h = shm_open(dir, size, flags, &err);
	ck_assert_msg(h != NULL, "shm_open: %s", err);
	return (h);
}

START_TEST(t_shm_take)
{
	struct shm	*h = open_shm(1 << 20, SHM_CREATE);
	struct store	*st = store_lmdb_new(h);
	struct gcra	 g;
	struct gcra_res	 r;
	uint64_t	 tat;
	int		 i, ok = 0;

	gcra_init(&g, 10, 5);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(st->st_ops->so_take(st, "k1", 2, &g, T0, &r,
		    NULL, NULL),
		    SHM_OK);
		ok += r.gr_allowed;
	}
	ck_assert_int_eq(ok, 5);
	ck_assert_int_eq(shm_rl_get(h, "k1", 2, &tat), SHM_OK);
	ck_assert_uint_eq(tat, T0 + 5 * (NS / 10));
	/* Another key has its own bucket. */
	ck_assert_int_eq(shm_rl_take(h, "k2", 2, &g, T0, &r), SHM_OK);
	ck_assert_int_eq(r.gr_allowed, 1);
	/* A second handle (another process would) sees the same bucket. */
	st->st_ops->so_free(st);
	shm_close(h);
	h = open_shm(1 << 20, 0);
	ck_assert_int_eq(shm_rl_take(h, "k1", 2, &g, T0, &r), SHM_OK);
	ck_assert_int_eq(r.gr_allowed, 0);
	shm_close(h);
}
END_TEST

/*
 * NPROC processes hammer one key with no refill: exactly the burst is
 * granted in total, whatever the interleaving.
 */
#define NPROC	6
#define NTAKE	400
#define BURST	1000

START_TEST(t_shm_concurrent)
{
	struct shm	*h = open_shm(1 << 20, SHM_CREATE);
	struct gcra	 g;
	struct gcra_res	 r;
	pid_t		 pids[NPROC];
	int		 i, j, st, total = 0, pfd[2];
	int		 got;

	ck_assert_int_eq(pipe(pfd), 0);
	gcra_init(&g, 0, BURST);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ne(pids[i], -1);
		if (pids[i] == 0) {
			struct shm	*c;
			const char	*err;

			/* Own handle after fork, as LMDB requires. */
			if ((c = shm_open(dir, 1 << 20, 0, &err)) == NULL)
				_exit(100);
			got = 0;
			for (j = 0; j < NTAKE; j++) {
				if (shm_rl_take(c, "hot", 3, &g, T0, &r) !=
				    SHM_OK)
					_exit(101);
				got += r.gr_allowed;
			}
			if (write(pfd[1], &got, sizeof(got)) != sizeof(got))
				_exit(102);
			_exit(0);
		}
	}
	close(pfd[1]);
	for (i = 0; i < NPROC; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "child status %d", st);
	}
	while (read(pfd[0], &got, sizeof(got)) == sizeof(got))
		total += got;
	close(pfd[0]);
	ck_assert_int_eq(total, BURST);		/* 2400 tries, 1000 tokens */
	shm_close(h);
}
END_TEST

/*
 * Keys longer than RLT_KEY live in LMDB (shorter ones in the rate-limit
 * table): these tests use such keys.
 */
#define LONGK	"user:0123456789abcdef0123456789abcdef0123456789abcdef:"
#define HOT	LONGK "hot"

/*
 * A known key is updated in place; page copies made later by inserts and
 * deletes (copy-on-write) must carry the in-place value along.
 */
START_TEST(t_shm_inplace_survives_cow)
{
	struct shm	*h = open_shm(8 << 20, SHM_CREATE);
	struct gcra	 g;
	struct gcra_res	 r;
	char		 k[96];
	uint64_t	 tat;
	size_t		 del;
	int		 i, wrapped;

	gcra_init(&g, 10, 100);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(shm_rl_take(h, HOT, strlen(HOT), &g, T0, &r), SHM_OK);
	ck_assert_int_eq(shm_rl_get(h, HOT, strlen(HOT), &tat), SHM_OK);
	ck_assert_uint_eq(tat, T0 + 50 * (NS / 10));
	/* Thousands of inserts split and copy the page "hot" lives on. */
	for (i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), LONGK "h%05d", i);
		ck_assert_int_eq(shm_rl_take(h, k, strlen(k), &g, T0, &r),
		    SHM_OK);
		if (i % 1000 == 0)
			ck_assert_int_eq(shm_rl_take(h, HOT, strlen(HOT), &g, T0, &r),
			    SHM_OK);
	}
	ck_assert_int_eq(shm_rl_get(h, HOT, strlen(HOT), &tat), SHM_OK);
	ck_assert_uint_eq(tat, T0 + 55 * (NS / 10));
	/* A sweep deletes the others (their TAT has passed), not "hot". */
	do
		ck_assert_int_eq(shm_sweep(h, T0 + NS, 512, &del, &wrapped),
		    SHM_OK);
	while (!wrapped);
	ck_assert_int_eq(shm_rl_get(h, HOT, strlen(HOT), &tat), SHM_OK);
	ck_assert_uint_eq(tat, T0 + 55 * (NS / 10));
	ck_assert_int_eq(shm_rl_get(h, LONGK "h00001", strlen(LONGK) + 6, &tat), SHM_OK);
	ck_assert_uint_eq(tat, 0);
	/* 45 tokens left exactly. */
	for (i = 0; i < 45; i++) {
		ck_assert_int_eq(shm_rl_take(h, HOT, strlen(HOT), &g, T0, &r), SHM_OK);
		ck_assert_int_eq(r.gr_allowed, 1);
	}
	ck_assert_int_eq(shm_rl_take(h, HOT, strlen(HOT), &g, T0, &r), SHM_OK);
	ck_assert_int_eq(r.gr_allowed, 0);
	shm_close(h);
}
END_TEST

/*
 * Another process places thousands of new keys (and takes from "hot")
 * between two decisions here: every take counts, in either process.
 */
START_TEST(t_shm_other_process_inserts)
{
	struct shm	*h = open_shm(8 << 20, SHM_CREATE);
	struct gcra	 g;
	struct gcra_res	 r;
	uint64_t	 tat;
	pid_t		 pid;
	int		 i, st;

	gcra_init(&g, 10, 100);
	ck_assert_int_eq(shm_rl_take(h, "hot", 3, &g, T0, &r), SHM_OK);
	ck_assert_int_eq(shm_rl_take(h, "hot", 3, &g, T0, &r), SHM_OK);
	if ((pid = fork()) == 0) {
		struct shm	*c;
		const char	*err;
		char		 k[32];

		if ((c = shm_open(dir, 8 << 20, 0, &err)) == NULL)
			_exit(100);
		for (i = 0; i < 3000; i++) {
			snprintf(k, sizeof(k), "c%05d", i);
			if (shm_rl_take(c, k, strlen(k), &g, T0, &r) != SHM_OK)
				_exit(101);
			if (i % 500 == 0 && shm_rl_take(c, "hot", 3, &g, T0,
			    &r) != SHM_OK)
				_exit(102);
		}
		_exit(0);
	}
	ck_assert_int_ne(pid, -1);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d", st);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(shm_rl_take(h, "hot", 3, &g, T0, &r), SHM_OK);
	/* 2 + 6 (child) + 4 tokens. */
	ck_assert_int_eq(shm_rl_get(h, "hot", 3, &tat), SHM_OK);
	ck_assert_uint_eq(tat, T0 + 12 * (NS / 10));
	shm_close(h);
}
END_TEST

/* ------------------------------------------------------------ rltab */

static struct rltab *
open_tab(size_t nkeys, int create)
{
	struct rltab	*t;
	const char	*err = NULL;

	t = rltab_open(dir, nkeys, create, &err);
	ck_assert_msg(t != NULL, "rltab_open: %s", err);
	return (t);
}

/* Expired keys make room: a stream of short-lived clients never fills it. */
START_TEST(t_tab_reuses_expired)
{
	struct rltab	*t = open_tab(64, 1);
	struct gcra	 g;
	struct gcra_res	 r;
	char		 k[32];
	size_t		 slots, live;
	int		 i;

	gcra_init(&g, 10, 1);		/* a key lives 0.1 s */
	for (i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "i4%06d", i);
		ck_assert_int_eq(rltab_take(t, k, strlen(k), &g,
		    T0 + (uint64_t)i * NS, &r), RLT_OK);
		ck_assert_int_eq(r.gr_allowed, 1);
	}
	rltab_usage(t, T0 + 4999ULL * NS, &slots, &live);
	ck_assert_uint_eq(live, 1);
	ck_assert_uint_ge(slots, 64);
	/* All live at once: a bucket fills and a new key is refused. */
	gcra_init(&g, 1, 10);
	for (i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "live%06d", i);
		if (rltab_take(t, k, strlen(k), &g, T0, &r) == RLT_FULL)
			break;
	}
	ck_assert_int_lt(i, 5000);
	rltab_close(t);
}
END_TEST

START_TEST(t_tab_reset)
{
	struct rltab	*t = open_tab(64, 1);
	struct gcra	 g;
	struct gcra_res	 r;
	int		 i;

	gcra_init(&g, 1, 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(rltab_take(t, "k", 1, &g, T0, &r), RLT_OK);
	ck_assert_int_eq(rltab_take(t, "k", 1, &g, T0, &r), RLT_OK);
	ck_assert_int_eq(r.gr_allowed, 0);
	ck_assert_uint_eq(rltab_get(t, "k", 1), T0 + 3 * NS);
	ck_assert_int_eq(rltab_reset(t, "k", 1), 1);
	ck_assert_int_eq(rltab_reset(t, "k", 1), 0);
	ck_assert_uint_eq(rltab_get(t, "k", 1), 0);
	ck_assert_int_eq(rltab_take(t, "k", 1, &g, T0, &r), RLT_OK);
	ck_assert_int_eq(r.gr_allowed, 1);
	ck_assert_uint_eq(r.gr_remaining, 2);
	rltab_close(t);
}
END_TEST

/*
 * A process killed while placing a key leaves its bucket locked with a
 * half-written slot: the next process takes the lock over, empties that
 * slot, and goes on (no hang).
 */
START_TEST(t_tab_dead_owner)
{
	struct rltab	*t = open_tab(64, 1);
	struct gcra	 g;
	struct gcra_res	 r;
	pid_t		 pid;
	int		 st;

	gcra_init(&g, 1, 5);
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	if ((pid = fork()) == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);	/* a dead PID */
	ck_assert_int_eq(rltab_test_break(t, "victim", 6, (uint32_t)pid, 0),
	    0);
	/* The half-written slot is not a home for the key: the lock path
	   runs, takes over the dead lock and empties the slot. */
	alarm(10);
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	alarm(0);
	ck_assert_int_eq(r.gr_allowed, 1);
	ck_assert_uint_eq(r.gr_remaining, 4);	/* started full again */
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	ck_assert_uint_eq(r.gr_remaining, 3);
	rltab_close(t);
}
END_TEST

/*
 * Attack: a lock left by a dead process under a PID that is alive again.
 * The table file outlives the processes (shm.path is kept across
 * restarts), and PIDs are reused: after a container restart the new
 * worker often gets the very PID of the worker that was killed holding
 * the lock, and any other process may get it after a wrap.  A live owner
 * PID must not make every process touching the bucket spin for ever:
 * the lock's own PID is never a lock it waits for, and a PID whose
 * process started at another time than the lock records is a new
 * process.
 */
START_TEST(t_tab_stale_owner_pid_reused)
{
	struct rltab	*t = open_tab(64, 1);
	struct gcra	 g;
	struct gcra_res	 r;
	pid_t		 pid;
	int		 st;

	gcra_init(&g, 1, 5);
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	/* Left under our own PID (the dead worker's, reused by us). */
	ck_assert_int_eq(rltab_test_break(t, "victim", 6,
	    (uint32_t)getpid(), 0), 0);
	alarm(10);
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	alarm(0);
	ck_assert_int_eq(r.gr_allowed, 1);
	ck_assert_uint_eq(r.gr_remaining, 4);	/* started full again */
	/* Left under a PID now used by another live process, which
	   started long after the lock was taken (start time 1 tick). */
	if ((pid = fork()) == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_eq(rltab_test_break(t, "victim", 6, (uint32_t)pid, 1),
	    0);
	alarm(10);
	ck_assert_int_eq(rltab_take(t, "victim", 6, &g, T0, &r), RLT_OK);
	alarm(0);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(r.gr_allowed, 1);
	ck_assert_uint_eq(r.gr_remaining, 4);
	rltab_close(t);
}
END_TEST

/*
 * Attack: the filesystem of shm.path fills up (logs on the same disk, an
 * attacker's uploads).  The table file was made sparse, so a bucket on a
 * page no key had touched yet needs a new block on its first write; with
 * none left the kernel raises SIGBUS, and every new client whose key
 * lands on such a page kills the worker serving it (and all its
 * connections).  The table's space is reserved when the file is made:
 * on a full filesystem it is refused (rate limiting fails open, logged),
 * never a crash.  Needs a small filesystem: a tmpfs mounted in a private
 * mount namespace of a child (skipped where that is not allowed).
 */
START_TEST(t_tab_full_filesystem)
{
	pid_t	 pid;
	int	 st;

	if ((pid = fork()) == 0) {
		struct rltab	*t;
		struct gcra	 g;
		struct gcra_res	 r;
		const char	*err;
		char		 k[32];
		int		 i, n;

		if (unshare(CLONE_NEWNS) == -1 &&
		    unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1)
			_exit(77);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=256k") == -1)
			_exit(77);
		/* About 9 MB of table on 256 KB. */
		if ((t = rltab_open(dir, 100000, 1, &err)) == NULL)
			_exit(0);
		gcra_init(&g, 1, 5);
		for (i = 0; i < 100000; i++) {
			n = snprintf(k, sizeof(k), "k%d", i);
			if (rltab_take(t, k, (size_t)n, &g, T0, &r) != RLT_OK)
				_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		fprintf(stderr, "t_tab_full_filesystem: skipped (no mount "
		    "namespace)\n");
		return;
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child status %#x (signal %d)", st,
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
END_TEST

/*
 * The same for LMDB's data file (MDB_WRITEMAP): long keys go there.  The
 * master's shm_open() reserves the map, or fails on a full filesystem;
 * a worker never meets a page without a block.
 */
START_TEST(t_shm_full_filesystem)
{
	pid_t	 pid;
	int	 st;

	if ((pid = fork()) == 0) {
		struct shm	*h;
		struct gcra	 g;
		struct gcra_res	 r;
		const char	*err;
		char		 k[128];
		int		 i, n;

		if (unshare(CLONE_NEWNS) == -1 &&
		    unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1)
			_exit(77);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=1m") == -1)
			_exit(77);
		/*
		 * A 768 KB map on 1 MB: the rate-limit table (576 KB) fits,
		 * LMDB's map does not.  Refused at once, or it must hold.
		 */
		if ((h = shm_open(dir, 768 << 10, SHM_CREATE, &err)) == NULL)
			_exit(0);
		gcra_init(&g, 1, 5);
		for (i = 0; i < 20000; i++) {
			n = snprintf(k, sizeof(k), LONGK "%d", i);
			if (shm_rl_take(h, k, (size_t)n, &g, T0, &r) == SHM_ERR)
				_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		fprintf(stderr, "t_shm_full_filesystem: skipped (no mount "
		    "namespace)\n");
		return;
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child status %#x (signal %d)", st,
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
END_TEST

/*
 * NPROC processes place the same new keys at once, one token each: one
 * slot per key, so exactly one grant per key in total.
 */
#define NKEYS	300

START_TEST(t_tab_concurrent_inserts)
{
	struct rltab	*t = open_tab(4096, 1);
	struct gcra	 g;
	pid_t		 pids[NPROC];
	int		 i, st, pfd[2], got, total = 0;

	ck_assert_int_eq(pipe(pfd), 0);
	gcra_init(&g, 0, 1);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ne(pids[i], -1);
		if (pids[i] == 0) {
			struct rltab	*c;
			struct gcra_res	 r;
			const char	*err;
			char		 k[32];
			int		 j;

			if ((c = rltab_open(dir, 4096, 0, &err)) == NULL)
				_exit(100);
			got = 0;
			for (j = 0; j < NKEYS; j++) {
				snprintf(k, sizeof(k), "n%04d", j);
				if (rltab_take(c, k, strlen(k), &g, T0, &r) !=
				    RLT_OK)
					_exit(101);
				got += r.gr_allowed;
			}
			if (write(pfd[1], &got, sizeof(got)) != sizeof(got))
				_exit(102);
			_exit(0);
		}
	}
	close(pfd[1]);
	for (i = 0; i < NPROC; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "child status %d", st);
	}
	while (read(pfd[0], &got, sizeof(got)) == sizeof(got))
		total += got;
	close(pfd[0]);
	ck_assert_int_eq(total, NKEYS);
	rltab_close(t);
}
END_TEST

/* A new size is a new table; a damaged file is refused, not used. */
START_TEST(t_tab_file)
{
	struct rltab	*t = open_tab(64, 1), *u;
	struct gcra	 g;
	struct gcra_res	 r;
	const char	*err;
	char		 f[256];
	FILE		*fp;

	gcra_init(&g, 1, 5);
	ck_assert_int_eq(rltab_take(t, "k", 1, &g, T0, &r), RLT_OK);
	u = open_tab(64, 0);		/* a worker sees the same bucket */
	ck_assert_uint_eq(rltab_get(u, "k", 1), T0 + NS);
	rltab_close(u);
	u = open_tab(100000, 1);	/* shm.map_size changed */
	ck_assert_uint_eq(rltab_get(u, "k", 1), 0);
	ck_assert_uint_eq(rltab_get(t, "k", 1), T0 + NS);	/* old map */
	rltab_close(u);
	rltab_close(t);
	shm_file(dir, 2, f, sizeof(f));
	ck_assert_ptr_nonnull(fp = fopen(f, "r+"));
	fputs("garbage", fp);
	fclose(fp);
	ck_assert_ptr_null(rltab_open(dir, 64, 0, &err));
	ck_assert_str_eq(err, "rate-limit table file damaged");
	t = open_tab(64, 1);		/* the master makes it anew */
	rltab_close(t);
}
END_TEST

START_TEST(t_shm_conns)
{
	struct shm	*h = open_shm(1 << 20, SHM_CREATE);
	uint32_t	 n, freed;
	int		 ok, i;
	pid_t		 me = getpid(), other = 1;	/* init: alive */

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(shm_conn_acquire(h, "ip", 2, me, 5, &ok),
		    SHM_OK);
		ck_assert_int_eq(ok, 1);
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(shm_conn_acquire(h, "ip", 2, other, 5, &ok),
		    SHM_OK);
		ck_assert_int_eq(ok, 1);
	}
	/* The sixth is over the limit and takes nothing. */
	ck_assert_int_eq(shm_conn_acquire(h, "ip", 2, me, 5, &ok), SHM_OK);
	ck_assert_int_eq(ok, 0);
	ck_assert_int_eq(shm_conn_count(h, "ip", 2, &n), SHM_OK);
	ck_assert_uint_eq(n, 5);
	/* Closing one frees one. */
	ck_assert_int_eq(shm_conn_release(h, "ip", 2, me), SHM_OK);
	ck_assert_int_eq(shm_conn_count(h, "ip", 2, &n), SHM_OK);
	ck_assert_uint_eq(n, 4);
	/* A release by a PID that holds nothing frees nothing. */
	ck_assert_int_eq(shm_conn_release(h, "ip", 2, 424242), SHM_OK);
	ck_assert_int_eq(shm_conn_count(h, "ip", 2, &n), SHM_OK);
	ck_assert_uint_eq(n, 4);
	/* A reaped worker's slots go all at once. */
	ck_assert_int_eq(shm_conn_purge(h, other, &freed), SHM_OK);
	ck_assert_uint_eq(freed, 2);
	ck_assert_int_eq(shm_conn_count(h, "ip", 2, &n), SHM_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(shm_conn_release(h, "ip", 2, me), SHM_OK);
	ck_assert_int_eq(shm_conn_release(h, "ip", 2, me), SHM_OK);
	ck_assert_int_eq(shm_conn_count(h, "ip", 2, &n), SHM_OK);
	ck_assert_uint_eq(n, 0);
	shm_close(h);
}
END_TEST

START_TEST(t_shm_purge_dead)
{
	struct shm	*h = open_shm(1 << 20, SHM_CREATE);
	uint32_t	 n, freed;
	int		 ok, st;
	pid_t		 dead;

	/* A PID that surely does not exist: a reaped child's. */
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, &st, 0);
	ck_assert_int_eq(shm_conn_acquire(h, "a", 1, dead, 9, &ok), SHM_OK);
	ck_assert_int_eq(shm_conn_acquire(h, "b", 1, dead, 9, &ok), SHM_OK);
	ck_assert_int_eq(shm_conn_acquire(h, "b", 1, getpid(), 9, &ok),
	    SHM_OK);
	ck_assert_int_eq(shm_conn_purge(h, 0, &freed), SHM_OK);
	ck_assert_uint_eq(freed, 2);
	shm_conn_count(h, "a", 1, &n);
	ck_assert_uint_eq(n, 0);
	shm_conn_count(h, "b", 1, &n);
	ck_assert_uint_eq(n, 1);
	shm_close(h);
}
END_TEST

START_TEST(t_shm_sweep)
{
	struct shm	*h = open_shm(8 << 20, SHM_CREATE);
	struct gcra	 g;
	struct gcra_res	 r;
	char		 k[96];
	uint64_t	 tat;
	size_t		 del, total = 0;
	int		 i, wrapped, steps = 0;

	gcra_init(&g, 10, 1);
	/* Even keys at T0 (TAT T0 + 0.1 s), odd ones 10 s later. */
	for (i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), LONGK "%05d", i);
		ck_assert_int_eq(shm_rl_take(h, k, strlen(k), &g,
		    i % 2 ? T0 + 10 * NS : T0, &r), SHM_OK);
	}
	/* At T0 + 1 s only the even ones have refilled: batches of 300. */
	do {
		ck_assert_int_eq(shm_sweep(h, T0 + NS, 300, &del, &wrapped),
		    SHM_OK);
		total += del;
		steps++;
	} while (!wrapped);
	ck_assert_uint_eq(total, 2500);
	ck_assert_int_ge(steps, 9);
	for (i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), LONGK "%05d", i);
		ck_assert_int_eq(shm_rl_get(h, k, strlen(k), &tat), SHM_OK);
		if (i % 2)
			ck_assert_uint_ne(tat, 0);
		else
			ck_assert_uint_eq(tat, 0);
	}
	shm_close(h);
}
END_TEST

START_TEST(t_shm_full)
{
	struct shm	*h = open_shm(64 << 10, SHM_CREATE);
	struct gcra	 g;
	struct gcra_res	 r;
	char		 k[64];
	int		 i, rc = SHM_OK;

	gcra_init(&g, 1, 10);
	for (i = 0; i < 100000 && rc == SHM_OK; i++) {
		snprintf(k, sizeof(k), "a-rather-long-key-%08d", i);
		rc = shm_rl_take(h, k, strlen(k), &g, T0, &r);
	}
	ck_assert_int_eq(rc, SHM_FULL);
	/* Still usable: existing keys are decided, reads work. */
	ck_assert_int_eq(shm_rl_take(h, "a-rather-long-key-00000000", 26, &g,
	    T0, &r), SHM_OK);
	ck_assert_int_eq(r.gr_allowed, 1);
	shm_close(h);
}
END_TEST

/* ------------------------------------------------------------ keys */

START_TEST(t_keys)
{
	unsigned char	 a[RL_KEY_MAX], b[RL_KEY_MAX];
	size_t		 la, lb;

	/* IPv6 in one /64 share a key; the next /64 does not. */
	la = rl_ip_key('i', "2001:db8:1:2::1", 64, a);
	lb = rl_ip_key('i', "2001:db8:1:2:ffff:1:2:3", 64, b);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(a, b, la);
	lb = rl_ip_key('i', "2001:db8:1:3::1", 64, b);
	ck_assert(la != lb || memcmp(a, b, la) != 0);
	/* /128 keeps every address apart; /48 groups wider. */
	la = rl_ip_key('i', "2001:db8:1:2::1", 128, a);
	lb = rl_ip_key('i', "2001:db8:1:2::2", 128, b);
	ck_assert(memcmp(a, b, la) != 0);
	la = rl_ip_key('i', "2001:db8:1:2::1", 48, a);
	lb = rl_ip_key('i', "2001:db8:1:ffff::1", 48, b);
	ck_assert_mem_eq(a, b, la);
	/* A prefix that ends inside a byte. */
	la = rl_ip_key('i', "2001:db8:1:2::", 60, a);
	lb = rl_ip_key('i', "2001:db8:1:f::", 60, b);
	ck_assert_mem_eq(a, b, la);
	lb = rl_ip_key('i', "2001:db8:1:12::", 60, b);
	ck_assert(memcmp(a, b, la) != 0);
	/* IPv4 and its IPv4-mapped form are one client. */
	la = rl_ip_key('i', "192.0.2.7", 64, a);
	lb = rl_ip_key('i', "::ffff:192.0.2.7", 64, b);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(a, b, la);
	lb = rl_ip_key('i', "192.0.2.8", 64, b);
	ck_assert(memcmp(a, b, la) != 0);
	/* Scopes never collide: a user named like an address. */
	la = rl_ip_key('i', "192.0.2.7", 64, a);
	lb = rl_user_key(VW_STR("192.0.2.7"), b);
	ck_assert(la != lb || memcmp(a, b, la) != 0);
}
END_TEST

START_TEST(t_glob)
{
	ck_assert_int_eq(rl_glob("/health", VW_STR("/health")), 1);
	ck_assert_int_eq(rl_glob("/health", VW_STR("/healthz")), 0);
	ck_assert_int_eq(rl_glob("/static/*", VW_STR("/static/app.css")), 1);
	ck_assert_int_eq(rl_glob("/static/*", VW_STR("/static/css/a.css")),
	    1);
	ck_assert_int_eq(rl_glob("/static/**", VW_STR("/static/css/a.css")),
	    1);
	ck_assert_int_eq(rl_glob("/static/*", VW_STR("/static")), 0);
	ck_assert_int_eq(rl_glob("/static/*", VW_STR("/staticx/a")), 0);
	ck_assert_int_eq(rl_glob("/api/*/status", VW_STR("/api/v1/status")),
	    1);
	ck_assert_int_eq(rl_glob("/api/*/status",
	    VW_STR("/api/v1/x/status")), 0);
	ck_assert_int_eq(rl_glob("/v?/ping", VW_STR("/v2/ping")), 1);
	ck_assert_int_eq(rl_glob("/v?/ping", VW_STR("/v//ping")), 0);
	ck_assert_int_eq(rl_glob("*.ico", VW_STR("favicon.ico")), 1);
	ck_assert_int_eq(rl_glob("/*.ico", VW_STR("/a/favicon.ico")), 0);
}
END_TEST

/* ------------------------------------------------------------ stages */

/* A config with per_user 1/s burst 3 and shm in the test directory. */
static struct config *
stage_config_rate(const char *ip_rate)
{
	struct cfg_diags d = { 0 };
	struct config	*cf;
	char		 path[256];
	char		*const env[] = { NULL };
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/vw.yaml", dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	fprintf(fp, "tls: {enabled: false}\nrate_limit:\n  per_ip:\n"
	    "    requests_per_second: %s\n    burst: 2\n  per_user:\n"
	    "    requests_per_second: 1\n    burst: 3\n"
	    "  exempt_paths: [\"/free/*\"]\n"
	    "shm: {path: \"%s\", map_size: 1MB}\n", ip_rate, dir);
	fclose(fp);
	cf = config_load(path, env, &d);
	config_diags_free(&d);
	unlink(path);
	ck_assert_ptr_nonnull(cf);
	return (cf);
}

static struct config *
stage_config(void)
{
	return (stage_config_rate("1"));
}

START_TEST(t_stage_per_user)
{
	struct config	*cf = stage_config();
	struct conn	 cn;
	struct req	 rq;
	int		 i;

	/* The master's part: create the databases (then one handle per
	   process, as LMDB wants: the worker's own). */
	shm_close(open_shm(1 << 20, SHM_CREATE));
	ck_assert_int_eq(rl_worker_init(cf), 0);
	memset(&cn, 0, sizeof(cn));
	memset(&rq, 0, sizeof(rq));
	rq.rq_conn = &cn;
	rq.rq_conf = cf;
	rq.rq_msg.m_path = VW_STR("/api");
	/* Anonymous: the per-user stage does nothing. */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(stage_ratelimit_user(&rq), V_NEXT);
	/* The auth stage's hook: a user id makes it count, per user. */
	rq.rq_uid = VW_STR("user-42");
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(stage_ratelimit_user(&rq), V_NEXT);
	ck_assert_int_eq(stage_ratelimit_user(&rq), V_DONE);
	ck_assert_int_eq(rq.rq_status, 429);
	ck_assert_str_eq(rq.rq_rlkind, "user");
	ck_assert_uint_eq(rq.rq_rlretry, 1);
	ck_assert_uint_eq(rq.rq_rlquota, 3);
	ck_assert_uint_eq(rq.rq_rlwindow, 3);
	rq.rq_status = 0;
	rq.rq_msg.m_path = VW_STR("/free/x");
	ck_assert_int_eq(stage_ratelimit_user(&rq), V_NEXT);
	rq.rq_msg.m_path = VW_STR("/api");
	rq.rq_uid = VW_STR("user-43");
	ck_assert_int_eq(stage_ratelimit_user(&rq), V_NEXT);
	/* The per-IP bucket is another one. */
	memcpy(rq.rq_cip, "192.0.2.1", 10);
	ck_assert_int_eq(stage_ratelimit_ip(&rq), V_NEXT);
	ck_assert_int_eq(stage_ratelimit_ip(&rq), V_NEXT);
	ck_assert_int_eq(stage_ratelimit_ip(&rq), V_DONE);
	ck_assert_str_eq(rq.rq_rlkind, "ip");
	config_free(cf);
}
END_TEST

/* Rate 0: the burst, then a Retry-After that is bounded, not wrapped. */
START_TEST(t_stage_rate_zero)
{
	struct config	*cf = stage_config_rate("0");
	struct conn	 cn;
	struct req	 rq;

	shm_close(open_shm(1 << 20, SHM_CREATE));
	ck_assert_int_eq(rl_worker_init(cf), 0);
	memset(&cn, 0, sizeof(cn));
	memset(&rq, 0, sizeof(rq));
	rq.rq_conn = &cn;
	rq.rq_conf = cf;
	rq.rq_msg.m_path = VW_STR("/api");
	memcpy(rq.rq_cip, "192.0.2.9", 10);
	ck_assert_int_eq(stage_ratelimit_ip(&rq), V_NEXT);
	ck_assert_int_eq(stage_ratelimit_ip(&rq), V_NEXT);
	ck_assert_int_eq(stage_ratelimit_ip(&rq), V_DONE);
	ck_assert_uint_ge(rq.rq_rlretry, 86400U * 365 * 60);
	ck_assert_uint_le(rq.rq_rlretry, INT32_MAX);
	config_free(cf);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite	*s = suite_create("ratelimit");
	TCase	*tc = tcase_create("gcra"), *ts = tcase_create("shm");

	tcase_add_test(tc, t_gcra_burst);
	tcase_add_test(tc, t_gcra_refill);
	tcase_add_test(tc, t_gcra_fractional_rate);
	tcase_add_test(tc, t_retry_after_rounding);
	tcase_add_test(tc, t_clock_backwards);
	tcase_add_test(tc, t_keys);
	tcase_add_test(tc, t_glob);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_set_timeout(ts, 60);
	tcase_add_test(ts, t_shm_take);
	tcase_add_test(ts, t_shm_concurrent);
	tcase_add_test(ts, t_shm_inplace_survives_cow);
	tcase_add_test(ts, t_shm_other_process_inserts);
	tcase_add_test(ts, t_tab_reuses_expired);
	tcase_add_test(ts, t_tab_reset);
	tcase_add_test(ts, t_tab_dead_owner);
	tcase_add_test(ts, t_tab_stale_owner_pid_reused);
	tcase_add_test(ts, t_tab_full_filesystem);
	tcase_add_test(ts, t_shm_full_filesystem);
	tcase_add_test(ts, t_tab_concurrent_inserts);
	tcase_add_test(ts, t_tab_file);
	tcase_add_test(ts, t_shm_conns);
	tcase_add_test(ts, t_shm_purge_dead);
	tcase_add_test(ts, t_shm_sweep);
	tcase_add_test(ts, t_shm_full);
	tcase_add_test(ts, t_stage_per_user);
	tcase_add_test(ts, t_stage_rate_zero);
	suite_add_tcase(s, ts);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(ratelimit_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? 0 : 1);
}
