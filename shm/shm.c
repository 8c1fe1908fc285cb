/*
 * shm.c: the LMDB environment (see shm.h).  Runs in the master (create,
 * reader check, purge, sweep) and in workers (decisions).  Never shares an
 * MDB_env across fork(); never includes src/ (it logs nothing: callers
 * decide what a failure means).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "rltab.h"
#include "shm.h"
#include "shm_int.h"

enum { DB_RATELIMIT, DB_CONNS, DB_SESSIONS, DB_JWKS, DB_APIKEYS, DB_N };

static const char *const db_names[DB_N] = {
	"ratelimit", "conns", "sessions", "jwks", "apikeys"
};
_Static_assert(DB_SESSIONS == SHM_DB_SESSIONS, "shm_int.h");

/* "conns" value: one entry per worker PID holding slots. */
struct conn_ent {
	uint32_t	 ce_pid;
	uint32_t	 ce_n;
};
#define CONN_ENTS	64

struct shm {
	MDB_env		*sh_env;
	struct rltab	*sh_tab;	/* keys of up to RLT_KEY bytes */
	MDB_dbi		 sh_dbi[DB_N];
	int		 sh_err;		/* last LMDB/errno code */
	unsigned char	 sh_cursor[SHM_KEY_MAX];	/* sweep position */
	size_t		 sh_curlen;		/* 0: from the start */
	size_t		 sh_rlcap;	/* rate-limit keys at most */
	MDB_txn		*sh_rtxn;	/* read-only, reset between reads */
};

/*
 * Headroom: LMDB deletes by copy-on-write, so a map that new keys filled
 * to the last page can never sweep an expired one again, and rate
 * limiting would stay open for every new client for good (even across a
 * restart, the file being kept).  New rate-limit keys are therefore
 * refused (SHM_FULL: fail open, logged) once there are map_size /
 * SHM_KEY_BUDGET of them: a key takes about 36 bytes, so the map stays
 * under about a third full, and the sweep always has pages to work
 * with.  Keys already there keep their buckets.
 */
#define SHM_KEY_BUDGET	128

static int
fail(struct shm *h, int rc)
{
	h->sh_err = rc;
	return (rc == MDB_MAP_FULL ? SHM_FULL : SHM_ERR);
}

const char *
shm_errstr(const struct shm *h)
{
	return (mdb_strerror(h->sh_err));
}

int
shm_file(const char *dir, int lock, char *buf, size_t len)
{
	int	 n;

	n = snprintf(buf, len, "%s/%s", dir, lock == 2 ? "ratelimit.tab" :
	    lock ? "lock.mdb" : "data.mdb");
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/* Allocate the data file's blocks up to map_size; 0 or an errno. */
static int
reserve(MDB_env *env, uint64_t map_size)
{
	struct stat	 st;
	mdb_filehandle_t fd;

	if (mdb_env_get_fd(env, &fd) != 0)
		return (EINVAL);
	if (fstat(fd, &st) == -1)
		return (errno);
	/* Blocks already there (st_blocks: 512-byte units): nothing to do. */
	if ((uint64_t)st.st_blocks * 512 >= map_size)
		return (0);
	return (posix_fallocate(fd, 0, (off_t)map_size));
}

struct shm *
shm_open(const char *dir, uint64_t map_size, int flags, const char **errstr)
{
	struct shm	*h;
	MDB_txn		*txn = NULL;
	unsigned int	 dbf = (flags & SHM_CREATE) ? MDB_CREATE : 0;
	int		 rc, i;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		*errstr = strerror(errno);
		return (NULL);
	}
	h->sh_rlcap = (size_t)(map_size / SHM_KEY_BUDGET);
	if ((rc = mdb_env_create(&h->sh_env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_mapsize(h->sh_env, map_size)) != 0 ||
	    (rc = mdb_env_set_maxdbs(h->sh_env, DB_N + 2)) != 0 ||
	    (rc = mdb_env_set_maxreaders(h->sh_env, 1022)) != 0)
		goto fail;
	/*
	 * A cache, not a database of record (DESIGN.md): no fsync.  NOTLS:
	 * reader slots belong to the transaction, not to a thread.
	 */
	if ((rc = mdb_env_open(h->sh_env, dir, MDB_NOSYNC | MDB_NOMETASYNC |
	    MDB_WRITEMAP | MDB_NOTLS | MDB_NORDAHEAD, 0600)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(h->sh_env, NULL, 0, &txn)) != 0)
		goto fail;
	for (i = 0; i < DB_N; i++)
		if ((rc = mdb_dbi_open(txn, db_names[i], dbf,
		    &h->sh_dbi[i])) != 0)
			goto fail;
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	/*
	 * MDB_WRITEMAP writes pages through the mapping of a sparse file: on
	 * a full filesystem the first store to a new page is a SIGBUS in a
	 * worker.  The master reserves the whole map once, and a filesystem
	 * without room refuses the start instead.
	 */
	if ((flags & SHM_CREATE) && (rc = reserve(h->sh_env, map_size)) != 0) {
		txn = NULL;
		goto fail;
	}
	/* The same key budget as LMDB's (see SHM_KEY_BUDGET). */
	if ((h->sh_tab = rltab_open(dir, (size_t)(map_size / SHM_KEY_BUDGET),
	    flags & SHM_CREATE, errstr)) == NULL) {
		mdb_env_close(h->sh_env);
		free(h);
		return (NULL);
	}
	return (h);
 fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	*errstr = mdb_strerror(rc);
	if (h->sh_env != NULL)
		mdb_env_close(h->sh_env);
	free(h);
	return (NULL);
}

void
shm_close(struct shm *h)
{
	if (h == NULL)
		return;
	rltab_close(h->sh_tab);
	if (h->sh_rtxn != NULL)
		mdb_txn_abort(h->sh_rtxn);
	mdb_env_close(h->sh_env);
	free(h);
}

static int
begin(struct shm *h, MDB_txn **txn, unsigned flags)
{
	int	 rc;

	if ((rc = mdb_txn_begin(h->sh_env, NULL, flags, txn)) != 0)
		return (fail(h, rc));
	return (SHM_OK);
}

static int
commit(struct shm *h, MDB_txn *txn)
{
	int	 rc;

	if ((rc = mdb_txn_commit(txn)) != 0)
		return (fail(h, rc));
	return (SHM_OK);
}

static int
abort_fail(struct shm *h, MDB_txn *txn, int rc)
{
	mdb_txn_abort(txn);
	return (fail(h, rc));
}

int
shm_rl_take(struct shm *h, const void *key, size_t klen,
    const struct gcra *g, uint64_t now, struct gcra_res *out)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	MDB_stat	 st;
	uint64_t	 tat = 0;
	int		 rc;

	if (klen == 0 || klen > SHM_KEY_MAX)
		return (fail(h, EINVAL));
	if (klen <= RLT_KEY) {
		if (rltab_take(h->sh_tab, key, klen, g, now, out) == RLT_OK)
			return (SHM_OK);
		return (fail(h, MDB_MAP_FULL));
	}
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_get(txn, h->sh_dbi[DB_RATELIMIT], &k, &v);
	if (rc == 0 && v.mv_size == sizeof(tat))
		memcpy(&tat, v.mv_data, sizeof(tat));
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return (abort_fail(h, txn, rc));
	gcra_take(g, tat, now, out);
	if (!out->gr_allowed) {
		/* Nothing to write: the TAT only moves when a token goes. */
		mdb_txn_abort(txn);
		return (SHM_OK);
	}
	if (rc == 0 && v.mv_size == sizeof(tat)) {
		/*
		 * Fast path for a known key: overwrite the 8 bytes in place
		 * (MDB_WRITEMAP) under the write lock, and abort instead of
		 * committing, so no page is copied.  Writers are serialised
		 * by that lock and the page is the live one, so a later
		 * copy-on-write carries the value along; only a read-only
		 * snapshot may see the previous value, which a cache allows.
		 * One 8-byte store cannot be torn by a kill, and a wild value
		 * is clamped by gcra_take().
		 */
		memcpy(v.mv_data, &out->gr_tat, sizeof(out->gr_tat));
		mdb_txn_abort(txn);
		return (SHM_OK);
	}
	/* A new key: only within the headroom (see SHM_KEY_BUDGET). */
	if ((rc = mdb_stat(txn, h->sh_dbi[DB_RATELIMIT], &st)) != 0)
		return (abort_fail(h, txn, rc));
	if (st.ms_entries >= h->sh_rlcap)
		return (abort_fail(h, txn, MDB_MAP_FULL));
	v.mv_data = &out->gr_tat;
	v.mv_size = sizeof(out->gr_tat);
	if ((rc = mdb_put(txn, h->sh_dbi[DB_RATELIMIT], &k, &v, 0)) != 0)
		return (abort_fail(h, txn, rc));
	return (commit(h, txn));
}

int
shm_rl_get(struct shm *h, const void *key, size_t klen, uint64_t *tat)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	int		 rc;

	*tat = 0;
	if (klen > 0 && klen <= RLT_KEY) {
		*tat = rltab_get(h->sh_tab, key, klen);
		return (SHM_OK);
	}
	if ((rc = begin(h, &txn, MDB_RDONLY)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_get(txn, h->sh_dbi[DB_RATELIMIT], &k, &v);
	if (rc == 0 && v.mv_size == sizeof(*tat))
		memcpy(tat, v.mv_data, sizeof(*tat));
	mdb_txn_abort(txn);
	return (rc == 0 || rc == MDB_NOTFOUND ? SHM_OK : fail(h, rc));
}

int
shm_rl_reset(struct shm *h, const void *key, size_t klen, int *found)
{
	MDB_txn		*txn;
	MDB_val		 k;
	int		 rc;

	*found = 0;
	if (klen == 0 || klen > SHM_KEY_MAX)
		return (fail(h, EINVAL));
	if (klen <= RLT_KEY) {
		*found = rltab_reset(h->sh_tab, key, klen);
		return (SHM_OK);
	}
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	if ((rc = mdb_del(txn, h->sh_dbi[DB_RATELIMIT], &k, NULL)) == 0)
		*found = 1;
	else if (rc != MDB_NOTFOUND)
		return (abort_fail(h, txn, rc));
	return (commit(h, txn));
}

/* Read key's entries into ents; returns how many (0 if none). */
static size_t
conn_read(MDB_val *v, struct conn_ent *ents)
{
	size_t	 n = v->mv_size / sizeof(*ents);

	if (n > CONN_ENTS)
		n = CONN_ENTS;
	memcpy(ents, v->mv_data, n * sizeof(*ents));
	return (n);
}

/* Store n entries under k, or delete k when none is left. */
static int
conn_write(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, struct conn_ent *ents,
    size_t n)
{
	MDB_val	 v;
	int	 rc;

	if (n == 0) {
		rc = mdb_del(txn, dbi, k, NULL);
		return (rc == MDB_NOTFOUND ? 0 : rc);
	}
	v.mv_data = ents;
	v.mv_size = n * sizeof(*ents);
	return (mdb_put(txn, dbi, k, &v, 0));
}

int
shm_conn_acquire(struct shm *h, const void *key, size_t klen, pid_t pid,
    uint32_t limit, int *admitted)
{
	struct conn_ent	 ents[CONN_ENTS];
	MDB_txn		*txn;
	MDB_val		 k, v;
	MDB_dbi		 dbi = h->sh_dbi[DB_CONNS];
	size_t		 n = 0, i, mine = CONN_ENTS;
	uint64_t	 sum = 0;
	int		 rc;

	*admitted = 0;
	if (klen == 0 || klen > SHM_KEY_MAX)
		return (fail(h, EINVAL));
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	if ((rc = mdb_get(txn, dbi, &k, &v)) == 0)
		n = conn_read(&v, ents);
	else if (rc != MDB_NOTFOUND)
		return (abort_fail(h, txn, rc));
	for (i = 0; i < n; i++) {
		sum += ents[i].ce_n;
		if (ents[i].ce_pid == (uint32_t)pid)
			mine = i;
	}
	if (sum >= limit || (mine == CONN_ENTS && n == CONN_ENTS)) {
		mdb_txn_abort(txn);
		return (SHM_OK);
	}
	if (mine == CONN_ENTS) {
		mine = n++;
		ents[mine].ce_pid = (uint32_t)pid;
		ents[mine].ce_n = 0;
	}
	ents[mine].ce_n++;
	if ((rc = conn_write(txn, dbi, &k, ents, n)) != 0)
		return (abort_fail(h, txn, rc));
	if ((rc = commit(h, txn)) == SHM_OK)
		*admitted = 1;
	return (rc);
}

int
shm_conn_release(struct shm *h, const void *key, size_t klen, pid_t pid)
{
	struct conn_ent	 ents[CONN_ENTS];
	MDB_txn		*txn;
	MDB_val		 k, v;
	MDB_dbi		 dbi = h->sh_dbi[DB_CONNS];
	size_t		 n, i;
	int		 rc;

	if (klen == 0 || klen > SHM_KEY_MAX)
		return (fail(h, EINVAL));
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	if ((rc = mdb_get(txn, dbi, &k, &v)) != 0) {
		mdb_txn_abort(txn);
		return (rc == MDB_NOTFOUND ? SHM_OK : fail(h, rc));
	}
	n = conn_read(&v, ents);
	for (i = 0; i < n; i++)
		if (ents[i].ce_pid == (uint32_t)pid)
			break;
	if (i == n) {
		mdb_txn_abort(txn);
		return (SHM_OK);
	}
	if (--ents[i].ce_n == 0)
		ents[i] = ents[--n];
	if ((rc = conn_write(txn, dbi, &k, ents, n)) != 0)
		return (abort_fail(h, txn, rc));
	return (commit(h, txn));
}

int
shm_conn_count(struct shm *h, const void *key, size_t klen, uint32_t *cnt)
{
	struct conn_ent	 ents[CONN_ENTS];
	MDB_txn		*txn;
	MDB_val		 k, v;
	size_t		 n = 0, i;
	int		 rc;

	*cnt = 0;
	if ((rc = begin(h, &txn, MDB_RDONLY)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	if ((rc = mdb_get(txn, h->sh_dbi[DB_CONNS], &k, &v)) == 0)
		n = conn_read(&v, ents);
	mdb_txn_abort(txn);
	for (i = 0; i < n; i++)
		*cnt += ents[i].ce_n;
	return (rc == 0 || rc == MDB_NOTFOUND ? SHM_OK : fail(h, rc));
}

static int
pid_gone(uint32_t pid)
{
	return (kill((pid_t)pid, 0) == -1 && errno == ESRCH);
}

int
shm_conn_purge(struct shm *h, pid_t pid, uint32_t *freed)
{
	struct conn_ent	 ents[CONN_ENTS];
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 k, v, nv;
	unsigned char	 kbuf[SHM_KEY_MAX];
	size_t		 n, i, j;
	int		 rc, op = MDB_FIRST, changed;

	*freed = 0;
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	if ((rc = mdb_cursor_open(txn, h->sh_dbi[DB_CONNS], &cur)) != 0)
		return (abort_fail(h, txn, rc));
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size > sizeof(kbuf))
			continue;
		n = conn_read(&v, ents);
		for (i = j = 0, changed = 0; i < n; i++) {
			if (pid != 0 ? ents[i].ce_pid == (uint32_t)pid :
			    pid_gone(ents[i].ce_pid)) {
				*freed += ents[i].ce_n;
				changed = 1;
			} else
				ents[j++] = ents[i];
		}
		if (!changed)
			continue;
		if (j == 0)
			rc = mdb_cursor_del(cur, 0);
		else {
			/* The key must not point into the page the put
			   rewrites: a resized value is deleted and added. */
			memcpy(kbuf, k.mv_data, k.mv_size);
			k.mv_data = kbuf;
			nv.mv_data = ents;
			nv.mv_size = j * sizeof(ents[0]);
			rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
		}
		if (rc != 0)
			break;
		/* After a delete, MDB_NEXT returns the key that moved into
		   the cursor's place. */
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND && rc != EINVAL)
		return (abort_fail(h, txn, rc));
	return (commit(h, txn));
}

int
shm_reader_check(struct shm *h, int *dead)
{
	int	 rc;

	*dead = 0;
	if ((rc = mdb_reader_check(h->sh_env, dead)) != 0)
		return (fail(h, rc));
	return (SHM_OK);
}

int
shm_sweep(struct shm *h, uint64_t now, size_t max, size_t *deleted,
    int *wrapped)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	uint64_t	 tat;
	size_t		 seen = 0;
	int		 rc, op;

	*deleted = 0;
	*wrapped = 0;
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	if ((rc = mdb_cursor_open(txn, h->sh_dbi[DB_RATELIMIT], &cur)) != 0)
		return (abort_fail(h, txn, rc));
	if (h->sh_curlen > 0) {
		k.mv_data = h->sh_cursor;
		k.mv_size = h->sh_curlen;
		op = MDB_SET_RANGE;
	} else
		op = MDB_FIRST;
	while (seen < max && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		seen++;
		op = MDB_NEXT;
		tat = 0;
		if (v.mv_size == sizeof(tat))
			memcpy(&tat, v.mv_data, sizeof(tat));
		if (tat > now)
			continue;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		(*deleted)++;
	}
	if (rc == 0 && seen == max) {
		/* Resume at this key next time (it has not been judged). */
		if ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0 &&
		    k.mv_size <= sizeof(h->sh_cursor)) {
			memcpy(h->sh_cursor, k.mv_data, k.mv_size);
			h->sh_curlen = k.mv_size;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || rc == EINVAL) {
		*wrapped = 1;
		h->sh_curlen = 0;
		rc = 0;
	}
	if (rc != 0)
		return (abort_fail(h, txn, rc));
	return (commit(h, txn));
}

int
shm_used(struct shm *h, uint64_t *used, uint64_t *mapsize)
{
	MDB_envinfo	 ei;
	MDB_stat	 st;
	int		 rc;

	if ((rc = mdb_env_info(h->sh_env, &ei)) != 0 ||
	    (rc = mdb_env_stat(h->sh_env, &st)) != 0)
		return (fail(h, rc));
	*used = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize;
	*mapsize = ei.me_mapsize;
	return (SHM_OK);
}

/* ------------------------------------------- for shm/ only (shm_int.h) */

MDB_env *
shm_env(struct shm *h)
{
	return (h->sh_env);
}

MDB_dbi
shm_dbi(struct shm *h, int db)
{
	return (h->sh_dbi[db]);
}

int
shm_fail(struct shm *h, int rc)
{
	return (fail(h, rc));
}

/*
 * One read-only transaction per handle, reset after each read and renewed
 * for the next: mdb_txn_renew() neither allocates nor takes a reader slot
 * again, a fraction of mdb_txn_begin() on the request path.  A reset
 * transaction holds no snapshot, so it keeps no page from being reused.
 */
int
shm_read_begin(struct shm *h, MDB_txn **txn)
{
	int	 rc;

	if (h->sh_rtxn != NULL) {
		if ((rc = mdb_txn_renew(h->sh_rtxn)) != 0) {
			mdb_txn_abort(h->sh_rtxn);
			h->sh_rtxn = NULL;
			return (fail(h, rc));
		}
	} else if ((rc = begin(h, &h->sh_rtxn, MDB_RDONLY)) != SHM_OK) {
		h->sh_rtxn = NULL;
		return (rc);
	}
	*txn = h->sh_rtxn;
	return (SHM_OK);
}

void
shm_read_end(struct shm *h)
{
	if (h->sh_rtxn != NULL)
		mdb_txn_reset(h->sh_rtxn);
}

uint64_t
shm_mapsize(struct shm *h)
{
	return ((uint64_t)h->sh_rlcap * SHM_KEY_BUDGET);
}

/* ------------------------------------------------------------ jwks */

/*
 * "jwks" db: "k" + kid -> a key record (the JWKS helper's format, opaque
 * here); "!meta" -> struct shm_jwks_meta; "!want" -> u64 ms, the last
 * time a worker asked for a refresh.
 */
#define JWKS_META	"!meta"
#define JWKS_WANT	"!want"

static int
jwks_put(struct shm *h, MDB_txn *txn, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	MDB_val	 k, v;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)val;
	v.mv_size = vlen;
	return (mdb_put(txn, h->sh_dbi[DB_JWKS], &k, &v, 0));
}

int
shm_jwks_replace(struct shm *h, const struct shm_kv *kv, size_t n,
    uint64_t now_ms, const unsigned char *src)
{
	MDB_txn			*txn;
	MDB_cursor		*cur;
	MDB_val			 k, v;
	struct shm_jwks_meta	 m;
	size_t			 i;
	int			 rc;

	memset(&m, 0, sizeof(m));
	if ((rc = shm_jwks_meta(h, &m)) != SHM_OK)
		return (rc);
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	if ((rc = mdb_cursor_open(txn, h->sh_dbi[DB_JWKS], &cur)) != 0)
		return (abort_fail(h, txn, rc));
	/* Drop every key record; the control records stay. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size > 0 && ((char *)k.mv_data)[0] == 'k' &&
		    (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND && rc != 0)
		return (abort_fail(h, txn, rc));
	for (i = 0; i < n; i++) {
		if (kv[i].kv_klen == 0 || kv[i].kv_klen > SHM_KEY_MAX ||
		    ((const char *)kv[i].kv_k)[0] != 'k')
			return (abort_fail(h, txn, EINVAL));
		if ((rc = jwks_put(h, txn, kv[i].kv_k, kv[i].kv_klen,
		    kv[i].kv_v, kv[i].kv_vlen)) != 0)
			return (abort_fail(h, txn, rc));
	}
	m.jm_gen++;
	m.jm_fetched_ms = now_ms;
	m.jm_nkeys = (uint32_t)n;
	if (src != NULL)
		memcpy(m.jm_src, src, sizeof(m.jm_src));
	else
		memset(m.jm_src, 0, sizeof(m.jm_src));
	if ((rc = jwks_put(h, txn, JWKS_META, sizeof(JWKS_META) - 1, &m,
	    sizeof(m))) != 0)
		return (abort_fail(h, txn, rc));
	return (commit(h, txn));
}

/* A read of key into buf: SHM_OK, 1 when absent, SHM_ERR. */
static int
jwks_get(struct shm *h, const void *key, size_t klen, void *buf,
    size_t cap, size_t *vlen)
{
	MDB_txn	*txn;
	MDB_val	 k, v;
	int	 rc;

	if (klen == 0 || klen > SHM_KEY_MAX)
		return (fail(h, EINVAL));
	if ((rc = begin(h, &txn, MDB_RDONLY)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	rc = mdb_get(txn, h->sh_dbi[DB_JWKS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return (1);
	}
	if (rc != 0)
		return (abort_fail(h, txn, rc));
	*vlen = v.mv_size;
	memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
	mdb_txn_abort(txn);
	return (SHM_OK);
}

int
shm_jwks_meta(struct shm *h, struct shm_jwks_meta *m)
{
	size_t	 len = 0;
	int	 rc;

	memset(m, 0, sizeof(*m));
	rc = jwks_get(h, JWKS_META, sizeof(JWKS_META) - 1, m, sizeof(*m),
	    &len);
	if (rc == SHM_OK && len != sizeof(*m))
		memset(m, 0, sizeof(*m));
	return (rc == 1 ? SHM_OK : rc);
}

int
shm_jwks_key(struct shm *h, const void *key, size_t klen, void *buf,
    size_t cap, size_t *vlen)
{
	int	 rc;

	rc = jwks_get(h, key, klen, buf, cap, vlen);
	if (rc == SHM_OK && *vlen > cap)
		return (1);
	return (rc);
}

int
shm_jwks_want(struct shm *h, uint64_t now_ms, uint64_t gap_ms, int *set)
{
	MDB_txn	*txn;
	MDB_val	 k, v;
	uint64_t last = 0;
	int	 rc;

	*set = 0;
	if ((rc = begin(h, &txn, 0)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)JWKS_WANT;
	k.mv_size = sizeof(JWKS_WANT) - 1;
	rc = mdb_get(txn, h->sh_dbi[DB_JWKS], &k, &v);
	if (rc == 0 && v.mv_size == sizeof(last))
		memcpy(&last, v.mv_data, sizeof(last));
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return (abort_fail(h, txn, rc));
	if (last != 0 && now_ms >= last && now_ms - last < gap_ms) {
		mdb_txn_abort(txn);
		return (SHM_OK);
	}
	if ((rc = jwks_put(h, txn, JWKS_WANT, sizeof(JWKS_WANT) - 1, &now_ms,
	    sizeof(now_ms))) != 0)
		return (abort_fail(h, txn, rc));
	*set = 1;
	return (commit(h, txn));
}

int
shm_jwks_wanted(struct shm *h, uint64_t *ms)
{
	size_t	 len = 0;
	int	 rc;

	*ms = 0;
	rc = jwks_get(h, JWKS_WANT, sizeof(JWKS_WANT) - 1, ms, sizeof(*ms),
	    &len);
	if (rc == SHM_OK && len != sizeof(*ms))
		*ms = 0;
	return (rc == 1 ? SHM_OK : rc);
}
