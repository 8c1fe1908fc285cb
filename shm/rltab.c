/*
 * rltab.c: the rate-limit table (see rltab.h).  Runs in the master
 * (create) and in workers (decisions).  Never blocks, never allocates on
 * the decision path, never includes src/.
 */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rltab.h"

#define RLT_WAYS	8
#define RLT_MAGIC	0x3130626174727776ULL	/* "vwrtab01" */
#define RLT_FILE	"ratelimit.tab"
#define SPIN_YIELD	64	/* spins between sched_yield() */
#define SPIN_CHECK	1024	/* spins before asking if the owner lives */

/* One cache line.  s_klen 0: empty. */
struct slot {
	_Atomic uint32_t s_seq;		/* odd while being rewritten */
	_Atomic uint32_t s_klen;
	_Atomic uint64_t s_tat;		/* GCRA TAT, ns; <= now: full */
	unsigned char	 s_key[RLT_KEY];
};

/*
 * b_lock: 0, or the owner placing a key: its PID, and in the high half
 * the low 32 bits of its start time (/proc/PID/stat, 0: unknown), so
 * that a PID reused since the owner died is not taken for it.  (Files
 * of the 32-bit lock have 0 there: their owners are of unknown start.)
 */
struct bucket {
	_Atomic uint64_t b_lock;
	unsigned char	 b_pad[56];
	struct slot	 b_slot[RLT_WAYS];
};

struct head {
	uint64_t	 h_magic;
	uint64_t	 h_nbuckets;	/* a power of two */
	uint64_t	 h_seed;	/* of the hash: keys an attacker picks
					   cannot all land in one bucket */
	unsigned char	 h_pad[40];
};

struct rltab {
	void		*t_map;
	size_t		 t_len;
	struct bucket	*t_b;
	uint64_t	 t_mask;
	uint64_t	 t_seed;
	uint64_t	 t_owner;	/* b_lock value while we hold one */
	uint32_t	 t_pid;
};

_Static_assert(sizeof(struct slot) == 64, "slot is one cache line");
_Static_assert(sizeof(struct head) == 64, "head is one cache line");
_Static_assert(sizeof(struct bucket) == 64 * (RLT_WAYS + 1),
    "the lock is one cache line");

static size_t
map_len(uint64_t nbuckets)
{
	return (sizeof(struct head) + nbuckets * sizeof(struct bucket));
}

static int
head_ok(const struct head *h, size_t len)
{
	return (h->h_magic == RLT_MAGIC && h->h_nbuckets > 0 &&
	    (h->h_nbuckets & (h->h_nbuckets - 1)) == 0 &&
	    h->h_nbuckets < ((uint64_t)1 << 40) &&
	    map_len(h->h_nbuckets) == len);
}

/*
 * Low 32 bits of the start time of process pid (clock ticks since boot,
 * field 22 of /proc/PID/stat), or 0 when it cannot be read.
 */
static uint32_t
start_time(uint32_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 st;
	ssize_t			 n;
	int			 fd, i;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields 3.. start
	   after its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (0);
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &st) != 1)
		return (0);
	return ((uint32_t)st);
}

/*
 * A file made sparse (by an earlier version) gets its holes filled in
 * place: fallocate(2) only allocates, so the processes mapping it lose
 * nothing.  -1 when the filesystem has no room (or no fallocate(2)): the
 * file is made anew, which reserves its space or fails.
 */
static int
reserve(int fd, const struct stat *st)
{
	if ((uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size)
		return (0);
	return (fallocate(fd, 0, 0, st->st_size));
}

/* Make dir/RLT_FILE anew for nbuckets, atomically (rename). */
static int
make_file(const char *dir, uint64_t nbuckets, const char **errstr)
{
	char		 path[4096], tmp[4096];
	struct head	 h;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, RLT_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s.new", dir, RLT_FILE);
	memset(&h, 0, sizeof(h));
	h.h_magic = RLT_MAGIC;
	h.h_nbuckets = nbuckets;
	if (getrandom(&h.h_seed, sizeof(h.h_seed), 0) != sizeof(h.h_seed))
		goto fail;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		goto fail;
	/*
	 * Not sparse: a write through the mapping to a hole needs a new
	 * block, and on a full filesystem the kernel answers SIGBUS, which
	 * would kill the worker.  The space is reserved now (page cache is
	 * still spent only where keys land); no room: no table.
	 */
	if (ftruncate(fd, (off_t)map_len(nbuckets)) == -1 ||
	    (errno = posix_fallocate(fd, 0, (off_t)map_len(nbuckets))) != 0 ||
	    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    rename(tmp, path) == -1) {
		close(fd);
		(void)unlink(tmp);
		goto fail;
	}
	close(fd);
	return (0);
 fail:
	*errstr = strerror(errno);
	return (-1);
}

struct rltab *
rltab_open(const char *dir, size_t nkeys, int create, const char **errstr)
{
	struct rltab	*t;
	struct head	 h;
	struct stat	 st;
	char		 path[4096];
	uint64_t	 nb = 1;
	int		 fd = -1, made = 0;

	while (nb * RLT_WAYS < nkeys)
		nb <<= 1;
	snprintf(path, sizeof(path), "%s/%s", dir, RLT_FILE);
	for (;;) {
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1 &&
		    (errno != ENOENT || !create))
			goto fail;
		if (fd != -1) {
			if (fstat(fd, &st) == -1)
				goto fail;
			if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			    head_ok(&h, (size_t)st.st_size) &&
			    (!create || (h.h_nbuckets == nb &&
			    (made || reserve(fd, &st) == 0))))
				break;
			if (!create || made) {
				errno = EINVAL;
				goto fail;
			}
			close(fd);
			fd = -1;
		}
		/* None yet, or another size (shm.map_size changed): a new
		   file; processes still mapping the old one keep it. */
		if (make_file(dir, nb, errstr) == -1)
			return (NULL);
		made = 1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto fail;
	t->t_len = (size_t)st.st_size;
	t->t_map = mmap(NULL, t->t_len, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (t->t_map == MAP_FAILED) {
		free(t);
		goto fail;
	}
	close(fd);
	t->t_b = (struct bucket *)((char *)t->t_map + sizeof(struct head));
	t->t_mask = h.h_nbuckets - 1;
	t->t_seed = h.h_seed;
	t->t_pid = (uint32_t)getpid();
	t->t_owner = (uint64_t)start_time(t->t_pid) << 32 | t->t_pid;
	return (t);
 fail:
	*errstr = errno == EINVAL ? "rate-limit table file damaged" :
	    strerror(errno);
	if (fd != -1)
		close(fd);
	return (NULL);
}

void
rltab_close(struct rltab *t)
{
	if (t == NULL)
		return;
	munmap(t->t_map, t->t_len);
	free(t);
}

/* Seeded hash of the key to its bucket (a finalised 64-bit mix). */
static struct bucket *
bucket_of(const struct rltab *t, const unsigned char *key, size_t klen)
{
	uint64_t	 x = t->t_seed ^ (klen * 0x9e3779b97f4a7c15ULL), w;
	size_t		 i;

	for (i = 0; i < klen; i += 8) {
		w = 0;
		memcpy(&w, key + i, klen - i < 8 ? klen - i : 8);
		x = (x ^ w) * 0xff51afd7ed558ccdULL;
		x ^= x >> 32;
	}
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (&t->t_b[x & t->t_mask]);
}

static int
holds(struct slot *s, const void *key, size_t klen)
{
	return (atomic_load_explicit(&s->s_klen, memory_order_relaxed) ==
	    klen && memcmp(s->s_key, key, klen) == 0);
}

/*
 * Is the lock's owner dead?  Our own PID is: a process never waits for
 * a lock it holds, so that lock is a dead process's whose PID we reuse
 * (a container restart hands out the same PIDs again).  So is a PID
 * whose process started at another time than the lock records.
 */
static int
owner_gone(const struct rltab *t, uint64_t owner)
{
	uint32_t	 pid = (uint32_t)owner, start = (uint32_t)(owner >> 32);
	uint32_t	 now;

	if (pid == t->t_pid)
		return (1);
	if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
		return (1);
	return (start != 0 && (now = start_time(pid)) != 0 && now != start);
}

/*
 * Take b's lock.  An owner that died (killed while placing a key) left
 * its slot half written: that slot is emptied, and its key starts again
 * with a full bucket.
 */
static void
lock_bucket(struct rltab *t, struct bucket *b)
{
	uint64_t	 cur;
	unsigned	 spins = 0;
	int		 i;

	for (;;) {
		cur = 0;
		if (atomic_compare_exchange_weak_explicit(&b->b_lock, &cur,
		    t->t_owner, memory_order_acquire, memory_order_relaxed))
			return;
		if (cur != 0 && ++spins % SPIN_CHECK == 0 &&
		    owner_gone(t, cur) &&
		    atomic_compare_exchange_strong_explicit(&b->b_lock, &cur,
		    t->t_owner, memory_order_acquire, memory_order_relaxed))
			break;
		if (spins % SPIN_YIELD == 0)
			sched_yield();
	}
	for (i = 0; i < RLT_WAYS; i++) {
		struct slot	*s = &b->b_slot[i];
		uint32_t	 seq = atomic_load(&s->s_seq);

		if (seq & 1) {
			atomic_store(&s->s_klen, 0);
			atomic_store(&s->s_tat, 0);
			atomic_store(&s->s_seq, seq + 1);
		}
	}
}

static void
unlock_bucket(struct bucket *b)
{
	atomic_store_explicit(&b->b_lock, 0, memory_order_release);
}

/*
 * Find key in b without a lock and take a token with g.  1: done (*out
 * set); 0: key not there; -1: it moved under us, look again.
 */
static int
take_known(struct bucket *b, const void *key, size_t klen,
    const struct gcra *g, uint64_t now, struct gcra_res *out)
{
	struct slot	*s;
	uint32_t	 seq;
	uint64_t	 tat;
	int		 i, n;

	for (i = 0; i < RLT_WAYS; i++) {
		s = &b->b_slot[i];
		seq = atomic_load_explicit(&s->s_seq, memory_order_acquire);
		if ((seq & 1) || !holds(s, key, klen))
			continue;
		tat = atomic_load_explicit(&s->s_tat, memory_order_acquire);
		if (atomic_load_explicit(&s->s_seq, memory_order_acquire) !=
		    seq)
			return (-1);	/* key bytes may have been torn */
		gcra_take(g, tat, now, out);
		if (!out->gr_allowed)
			return (1);	/* the TAT only moves when a token goes */
		if (!atomic_compare_exchange_strong(&s->s_tat, &tat,
		    out->gr_tat))
			return (-1);
		if (atomic_load(&s->s_seq) == seq)
			return (1);
		/*
		 * The slot was being given to another key (or reset) around
		 * our swap.  If it still holds ours once that is over, the
		 * swap stands; otherwise it went with the old contents.
		 */
		for (n = 0; n < SPIN_CHECK && ((seq = atomic_load(&s->s_seq)) &
		    1); n++)
			sched_yield();
		return (!(seq & 1) && holds(s, key, klen) ? 1 : -1);
	}
	return (0);
}

int
rltab_take(struct rltab *t, const void *key, size_t klen,
    const struct gcra *g, uint64_t now, struct gcra_res *out)
{
	struct bucket	*b = bucket_of(t, key, klen);
	struct slot	*s;
	uint32_t	 seq, kl;
	uint64_t	 old;
	int		 i, r;

	for (;;) {
		if ((r = take_known(b, key, klen, g, now, out)) == 1)
			return (RLT_OK);
		if (r == -1)
			continue;
		lock_bucket(t, b);
		/* Placed by another process meanwhile? */
		for (i = 0; i < RLT_WAYS && !holds(&b->b_slot[i], key, klen);
		    i++)
			;
		if (i < RLT_WAYS) {
			unlock_bucket(b);
			continue;
		}
		gcra_take(g, 0, now, out);
		if (!out->gr_allowed) {
			unlock_bucket(b);
			return (RLT_OK);
		}
		for (i = 0; i < RLT_WAYS; i++) {
			s = &b->b_slot[i];
			kl = atomic_load(&s->s_klen);
			old = atomic_load(&s->s_tat);
			if (kl != 0 && old > now)
				continue;	/* a live key */
			seq = atomic_load(&s->s_seq);
			atomic_store(&s->s_seq, seq + 1);
			/*
			 * The new TAT is above now, so above old: a lock-free
			 * taker of the old key that swaps after this fails.
			 * One that swapped before (the key came alive) wins,
			 * and the slot is left to it.
			 */
			if (!atomic_compare_exchange_strong(&s->s_tat, &old,
			    out->gr_tat)) {
				atomic_store(&s->s_seq, seq + 2);
				continue;
			}
			memcpy(s->s_key, key, klen);
			atomic_store(&s->s_klen, (uint32_t)klen);
			atomic_store(&s->s_seq, seq + 2);
			unlock_bucket(b);
			return (RLT_OK);
		}
		unlock_bucket(b);
		return (RLT_FULL);
	}
}

uint64_t
rltab_get(struct rltab *t, const void *key, size_t klen)
{
	struct bucket	*b = bucket_of(t, key, klen);
	uint64_t	 tat = 0;
	int		 i;

	lock_bucket(t, b);
	for (i = 0; i < RLT_WAYS; i++)
		if (holds(&b->b_slot[i], key, klen)) {
			tat = atomic_load(&b->b_slot[i].s_tat);
			break;
		}
	unlock_bucket(b);
	return (tat);
}

int
rltab_reset(struct rltab *t, const void *key, size_t klen)
{
	struct bucket	*b = bucket_of(t, key, klen);
	struct slot	*s;
	uint32_t	 seq;
	int		 i, found = 0;

	lock_bucket(t, b);
	for (i = 0; i < RLT_WAYS; i++) {
		s = &b->b_slot[i];
		if (!holds(s, key, klen))
			continue;
		seq = atomic_load(&s->s_seq);
		atomic_store(&s->s_seq, seq + 1);
		atomic_store(&s->s_klen, 0);
		atomic_store(&s->s_tat, 0);
		atomic_store(&s->s_seq, seq + 2);
		found = 1;
	}
	unlock_bucket(b);
	return (found);
}

void
rltab_usage(struct rltab *t, uint64_t now, size_t *slots, size_t *live)
{
	struct slot	*s;
	uint64_t	 i;
	int		 j;

	*slots = (size_t)(t->t_mask + 1) * RLT_WAYS;
	*live = 0;
	for (i = 0; i <= t->t_mask; i++)
		for (j = 0; j < RLT_WAYS; j++) {
			s = &t->t_b[i].b_slot[j];
			if (atomic_load_explicit(&s->s_klen,
			    memory_order_relaxed) != 0 &&
			    atomic_load_explicit(&s->s_tat,
			    memory_order_relaxed) > now)
				(*live)++;
		}
}

int
rltab_test_break(struct rltab *t, const void *key, size_t klen,
    uint32_t pid, uint32_t start)
{
	struct bucket	*b = bucket_of(t, key, klen);
	int		 i;

	for (i = 0; i < RLT_WAYS; i++)
		if (holds(&b->b_slot[i], key, klen)) {
			atomic_store(&b->b_lock, (uint64_t)start << 32 | pid);
			atomic_fetch_add(&b->b_slot[i].s_seq, 1);
			return (0);
		}
	return (-1);
}
