/*
 * session.h: the shared session cache, the "sessions" database of shm.h
 * (SPEC.md 8).  Key: the SHA-256 of a Kratos credential (the caller
 * hashes); value: what Kratos said about it and until when the answer may
 * be used.  Workers read and write it (auth_kratos.c); the master sweeps
 * expired entries (shmkeep.c); the admin process may flush it or revoke
 * the sessions of one user.  Any process with its own handle (shm.h);
 * never logs.
 */
#ifndef VW_SHM_SESSION_H
#define VW_SHM_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "shm.h"

#define SESS_KEY_LEN	32	/* SHA-256 */
#define SESS_STR_MAX	320	/* longest id, email or session id */

/* One cached answer.  Strings are not NUL-terminated; lengths say. */
struct shm_sess {
	uint64_t	 ss_until;	/* ns, CLOCK_REALTIME: usable before */
	int		 ss_ok;		/* 1 an active session, 0 refused
					   (a negative answer) */
	int		 ss_verified;	/* email verified: 0 or 1 */
	uint16_t	 ss_idlen, ss_emaillen, ss_sidlen;
	char		 ss_id[SESS_STR_MAX];		/* identity.id */
	char		 ss_email[SESS_STR_MAX];
	char		 ss_sid[SESS_STR_MAX];		/* session id */
};

/*
 * Look key up at now (ns).  SHM_OK with *found 1 and *out filled when an
 * entry exists and now < ss_until; *found 0 otherwise (an expired entry
 * is left to the sweep).  SHM_ERR on failure.
 */
int	 shm_sess_get(struct shm *h, const unsigned char key[SESS_KEY_LEN],
	    uint64_t now, struct shm_sess *out, int *found);

/*
 * Store s under key (replacing any entry).  SHM_OK, SHM_ERR, or SHM_FULL
 * when the database holds its share of the map already, or half of it
 * for a refusal (ss_ok 0), so refusals never crowd out active sessions
 * (the answer is then simply not cached).
 */
int	 shm_sess_put(struct shm *h, const unsigned char key[SESS_KEY_LEN],
	    const struct shm_sess *s);

/* Delete key; SHM_OK whether or not it existed. */
int	 shm_sess_del(struct shm *h, const unsigned char key[SESS_KEY_LEN]);

/* Admin: delete every entry; *deleted says how many. */
int	 shm_sess_flush(struct shm *h, size_t *deleted);

/*
 * Admin: delete every positive entry of identity id (idlen bytes), so the
 * next request of each of its sessions asks Kratos again.
 */
int	 shm_sess_revoke_user(struct shm *h, const char *id, size_t idlen,
	    size_t *deleted);

/* Entries (live or expired, positive or negative); admin, tests. */
int	 shm_sess_count(struct shm *h, size_t *n);

/*
 * One bounded step of the sweep, as shm_sweep(): up to max entries from
 * where the last step of this process stopped, deleting those with
 * ss_until <= now.  *wrapped 1 when the pass is complete.  One sweeper
 * per process (the master).
 */
int	 shm_sess_sweep(struct shm *h, uint64_t now, size_t max,
	    size_t *deleted, int *wrapped);

#endif /* VW_SHM_SESSION_H */
