/*
 * session.c: the session cache over the "sessions" database (see
 * session.h).  Value layout, host byte order (the map never leaves the
 * host): u64 until (ns), u8 ok, u8 verified, u16 id, email and session id
 * lengths, then the three strings back to back.  Any process; never
 * includes src/, never logs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "shm_int.h"

#define HDR_LEN		16
#define VAL_MAX		(HDR_LEN + 3 * SESS_STR_MAX)
/*
 * The database's share of the map: an entry is at most ~1 KB with LMDB's
 * overhead, so map_size / SESS_BUDGET entries fill at most an eighth of
 * it, leaving the rate-limit buckets their headroom (shm.c).  A refusal
 * is cached only while the database is less than half full: anyone can
 * mint refused credentials (one garbage cookie each), so they must never
 * be able to crowd the active sessions out of the cache.
 */
#define SESS_BUDGET	8192

static unsigned char	 sw_cursor[SESS_KEY_LEN];	/* sweep position */
static size_t		 sw_curlen;

static size_t
encode(const struct shm_sess *s, unsigned char *v)
{
	uint16_t	 l[3];
	size_t		 off = HDR_LEN;

	memcpy(v, &s->ss_until, 8);
	v[8] = (unsigned char)(s->ss_ok != 0);
	v[9] = (unsigned char)(s->ss_verified == 1);
	l[0] = s->ss_idlen > SESS_STR_MAX ? SESS_STR_MAX : s->ss_idlen;
	l[1] = s->ss_emaillen > SESS_STR_MAX ? SESS_STR_MAX : s->ss_emaillen;
	l[2] = s->ss_sidlen > SESS_STR_MAX ? SESS_STR_MAX : s->ss_sidlen;
	memcpy(v + 10, l, sizeof(l));
	memcpy(v + off, s->ss_id, l[0]);
	off += l[0];
	memcpy(v + off, s->ss_email, l[1]);
	off += l[1];
	memcpy(v + off, s->ss_sid, l[2]);
	return (off + l[2]);
}

/* 0, or -1 for a value that is not ours (treated as absent). */
static int
decode(const MDB_val *mv, struct shm_sess *s)
{
	const unsigned char *v = mv->mv_data;
	uint16_t	 l[3];
	size_t		 off = HDR_LEN;

	if (mv->mv_size < HDR_LEN)
		return (-1);
	memcpy(&s->ss_until, v, 8);
	s->ss_ok = v[8];
	s->ss_verified = v[9];
	memcpy(l, v + 10, sizeof(l));
	if (l[0] > SESS_STR_MAX || l[1] > SESS_STR_MAX ||
	    l[2] > SESS_STR_MAX ||
	    mv->mv_size != HDR_LEN + (size_t)l[0] + l[1] + l[2])
		return (-1);
	s->ss_idlen = l[0];
	s->ss_emaillen = l[1];
	s->ss_sidlen = l[2];
	memcpy(s->ss_id, v + off, l[0]);
	off += l[0];
	memcpy(s->ss_email, v + off, l[1]);
	off += l[1];
	memcpy(s->ss_sid, v + off, l[2]);
	return (0);
}

static uint64_t
until_of(const MDB_val *mv)
{
	uint64_t	 u = 0;

	if (mv->mv_size >= HDR_LEN)
		memcpy(&u, mv->mv_data, 8);
	return (u);
}

int
shm_sess_get(struct shm *h, const unsigned char key[SESS_KEY_LEN],
    uint64_t now, struct shm_sess *out, int *found)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	int		 rc;

	*found = 0;
	if ((rc = shm_read_begin(h, &txn)) != SHM_OK)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = SESS_KEY_LEN;
	rc = mdb_get(txn, shm_dbi(h, SHM_DB_SESSIONS), &k, &v);
	if (rc == 0 && until_of(&v) > now && decode(&v, out) == 0)
		*found = 1;
	shm_read_end(h);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (shm_fail(h, rc));
	return (SHM_OK);
}

int
shm_sess_put(struct shm *h, const unsigned char key[SESS_KEY_LEN],
    const struct shm_sess *s)
{
	unsigned char	 buf[VAL_MAX];
	MDB_txn		*txn;
	MDB_val		 k, v;
	MDB_stat	 st;
	MDB_dbi		 dbi = shm_dbi(h, SHM_DB_SESSIONS);
	size_t		 max = shm_mapsize(h) / SESS_BUDGET;
	int		 rc;

	if ((rc = mdb_txn_begin(shm_env(h), NULL, 0, &txn)) != 0)
		return (shm_fail(h, rc));
	k.mv_data = (void *)key;
	k.mv_size = SESS_KEY_LEN;
	if ((rc = mdb_get(txn, dbi, &k, &v)) == MDB_NOTFOUND) {
		if ((rc = mdb_stat(txn, dbi, &st)) != 0)
			goto fail;
		if (st.ms_entries >= (s->ss_ok ? max : max / 2)) {
			rc = MDB_MAP_FULL;
			goto fail;
		}
	} else if (rc != 0)
		goto fail;
	v.mv_data = buf;
	v.mv_size = encode(s, buf);
	if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
		goto fail;
	if ((rc = mdb_txn_commit(txn)) != 0)
		return (shm_fail(h, rc));
	return (SHM_OK);
 fail:
	mdb_txn_abort(txn);
	return (shm_fail(h, rc));
}

int
shm_sess_del(struct shm *h, const unsigned char key[SESS_KEY_LEN])
{
	MDB_txn		*txn;
	MDB_val		 k;
	int		 rc;

	if ((rc = mdb_txn_begin(shm_env(h), NULL, 0, &txn)) != 0)
		return (shm_fail(h, rc));
	k.mv_data = (void *)key;
	k.mv_size = SESS_KEY_LEN;
	rc = mdb_del(txn, shm_dbi(h, SHM_DB_SESSIONS), &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return (shm_fail(h, rc));
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return (shm_fail(h, rc));
	return (SHM_OK);
}

/*
 * Delete the entries for which match(v, arg) says so, in one write
 * transaction (an admin action: the sessions database is bounded by
 * SESS_BUDGET, so the transaction is too).
 */
static int
delete_if(struct shm *h, int (*match)(const MDB_val *, const void *,
    size_t), const void *arg, size_t alen, size_t *deleted)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	int		 rc;

	*deleted = 0;
	if ((rc = mdb_txn_begin(shm_env(h), NULL, 0, &txn)) != 0)
		return (shm_fail(h, rc));
	if ((rc = mdb_cursor_open(txn, shm_dbi(h, SHM_DB_SESSIONS),
	    &cur)) != 0) {
		mdb_txn_abort(txn);
		return (shm_fail(h, rc));
	}
	/* MDB_NEXT on a fresh cursor is MDB_FIRST; after a delete, the
	   entry behind the deleted one. */
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (!match(&v, arg, alen))
			continue;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		(*deleted)++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		*deleted = 0;
		return (shm_fail(h, rc));
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		*deleted = 0;
		return (shm_fail(h, rc));
	}
	return (SHM_OK);
}

static int
match_all(const MDB_val *v, const void *arg, size_t alen)
{
	(void)v;
	(void)arg;
	(void)alen;
	return (1);
}

static int
match_user(const MDB_val *mv, const void *id, size_t idlen)
{
	const unsigned char *v = mv->mv_data;
	uint16_t	 l[3];

	if (mv->mv_size < HDR_LEN || v[8] == 0)
		return (0);
	memcpy(l, v + 10, sizeof(l));
	return (l[0] == idlen && mv->mv_size >= HDR_LEN + idlen &&
	    memcmp(v + HDR_LEN, id, idlen) == 0);
}

int
shm_sess_flush(struct shm *h, size_t *deleted)
{
	return (delete_if(h, match_all, NULL, 0, deleted));
}

int
shm_sess_revoke_user(struct shm *h, const char *id, size_t idlen,
    size_t *deleted)
{
	if (idlen == 0 || idlen > SESS_STR_MAX) {
		*deleted = 0;
		return (SHM_OK);
	}
	return (delete_if(h, match_user, id, idlen, deleted));
}

int
shm_sess_count(struct shm *h, size_t *n)
{
	MDB_txn		*txn;
	MDB_stat	 st;
	int		 rc;

	*n = 0;
	if ((rc = mdb_txn_begin(shm_env(h), NULL, MDB_RDONLY, &txn)) != 0)
		return (shm_fail(h, rc));
	rc = mdb_stat(txn, shm_dbi(h, SHM_DB_SESSIONS), &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return (shm_fail(h, rc));
	*n = st.ms_entries;
	return (SHM_OK);
}

int
shm_sess_sweep(struct shm *h, uint64_t now, size_t max, size_t *deleted,
    int *wrapped)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	size_t		 seen = 0;
	int		 rc, op;

	*deleted = 0;
	*wrapped = 0;
	if ((rc = mdb_txn_begin(shm_env(h), NULL, 0, &txn)) != 0)
		return (shm_fail(h, rc));
	if ((rc = mdb_cursor_open(txn, shm_dbi(h, SHM_DB_SESSIONS),
	    &cur)) != 0) {
		mdb_txn_abort(txn);
		return (shm_fail(h, rc));
	}
	if (sw_curlen > 0) {
		k.mv_data = sw_cursor;
		k.mv_size = sw_curlen;
		op = MDB_SET_RANGE;
	} else
		op = MDB_FIRST;
	while (seen < max && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		seen++;
		op = MDB_NEXT;
		if (until_of(&v) > now)
			continue;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		(*deleted)++;
	}
	if (rc == 0 && seen == max &&
	    (rc = mdb_cursor_get(cur, &k, &v, op)) == 0 &&
	    k.mv_size <= sizeof(sw_cursor)) {
		/* Resume at this key next time (it has not been judged). */
		memcpy(sw_cursor, k.mv_data, k.mv_size);
		sw_curlen = k.mv_size;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || rc == EINVAL) {
		*wrapped = 1;
		sw_curlen = 0;
		rc = 0;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return (shm_fail(h, rc));
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return (shm_fail(h, rc));
	return (SHM_OK);
}
