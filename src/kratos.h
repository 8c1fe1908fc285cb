/*
 * kratos.h: the Ory Kratos session check (SPEC.md 6): the target of
 * kratos.public_url (resolved by the master), the pure parsers of a
 * whoami answer (kratos_parse.c, fuzzed), and the non-blocking whoami
 * client of a worker (kratos.c) that shares one call among the requests
 * waiting for the same credential.
 */
#ifndef VW_KRATOS_H
#define VW_KRATOS_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "session.h"

#define KRATOS_TIMEOUT_MS	2000	/* SPEC.md 6: connect to answer */
#define KRATOS_NEG_TTL_MS	5000	/* SPEC.md 8: a refused credential */
#define KRATOS_RESP_MAX		65536	/* whoami answer, head and body */
#define KRATOS_CALLS_MAX	512	/* calls in flight per worker */
#define KRATOS_CRED_MAX		4096	/* longest credential sent on */

/* ------------------------------------------------------ target (master) */

/* Where whoami is asked: kratos.public_url, resolved. */
struct kratos_target {
	struct sockaddr_storage	 kt_addr;
	socklen_t		 kt_len;	/* 0: none (not kratos mode) */
};

/*
 * Resolve cf's kratos.public_url when auth.mode is kratos (kt_len 0
 * otherwise).  Master only: it may block on DNS.  0, or -1 with err.
 */
int	 kratos_resolve(const struct config *cf, struct kratos_target *kt,
	    char *err, size_t errlen);

/* The target the workers forked from now on use (master, before fork). */
void	 kratos_target_set(const struct kratos_target *kt);

/*
 * Split an http:// or https:// URL into host (brackets removed), port
 * and path prefix (without a trailing '/', "" for none).  Pure.  0, or -1
 * for anything else.
 */
int	 kratos_url_split(const char *url, char *host, size_t hlen, int *port,
	    char *path, size_t plen, int *tls);

/* ------------------------------------------------------ parsers (pure) */

enum kr_result {
	KR_PASS,	/* an active session: identity in ka_sess */
	KR_DENY,	/* not signed in (4xx, inactive, expired) */
	KR_UNAVAIL	/* Kratos cannot say: 5xx, timeout, bad answer */
};

struct kratos_answer {
	enum kr_result	 ka_result;
	const char	*ka_why;	/* static: reason, for the log */
	uint64_t	 ka_expires;	/* KR_PASS: expires_at, ns since the
					   epoch; 0 when not given */
	int		 ka_nocache;	/* KR_DENY that may not last (a 4xx
					   but 401: 403 step-up, 429...):
					   not cached */
	struct shm_sess	 ka_sess;	/* KR_PASS: id, email, verified,
					   session id (ss_until unset) */
};

/*
 * The whoami JSON body (len bytes, not NUL-terminated) of a 200 answer
 * into a: KR_PASS for an active session with an identity id, KR_DENY for
 * active false, KR_UNAVAIL for JSON that is not a whoami answer.  now:
 * ns since the epoch; a session whose expires_at is not after it is
 * KR_DENY.
 */
void	 kratos_whoami_parse(const char *body, size_t len, uint64_t now,
	    struct kratos_answer *a);

/* RFC 3339 date-time to ns since the epoch; 0, or -1 when malformed. */
int	 kratos_time_parse(const char *s, uint64_t *ns);

/*
 * A whoami HTTP/1.1 response in buf[0..len), read so far (eof: the
 * connection has closed).  Returns 0 when more bytes are needed, 1 when
 * it is complete (*status, and the decoded body in body[0..*blen) of cap
 * bytes), -1 when it is malformed or larger than cap.
 */
int	 kratos_resp_parse(const char *buf, size_t len, int eof, int *status,
	    char *body, size_t cap, size_t *blen);

/* ------------------------------------------------------ client (worker) */

struct conn;
struct kratos_wait;

/* Per-worker set-up after fork: the timeout queue.  0 or -1. */
int	 kratos_worker_init(const struct config *cf);

/*
 * Ask whoami for a credential on behalf of cn: key is its SHA-256 (the
 * cache key, also the key calls are shared by), token 1 for an
 * X-Session-Token, 0 for the session cookie's value cred[0..len).
 * Returns 0 with *wp set: the answer comes later, cn runs again
 * (conn_run) once kratos_wait_answer() has it; or 1 with *now filled
 * (the call could not even start).  The waiter is cn's (cn_kwait) until
 * kratos_wait_free() or the connection closes.
 */
int	 kratos_whoami(struct conn *cn, const unsigned char key[SESS_KEY_LEN],
	    int token, const char *cred, size_t len, struct kratos_wait **wp,
	    struct kratos_answer *now);

/* 1 with *a filled when w's answer is in, 0 while it is still coming. */
int	 kratos_wait_answer(const struct kratos_wait *w,
	    struct kratos_answer *a);

/* Release w (and cn's reference to it); NULL is a no-op. */
void	 kratos_wait_free(struct kratos_wait *w);

/* cn closes: forget its waiter, the call goes on for the others. */
void	 kratos_conn_close(struct conn *cn);

#endif /* VW_KRATOS_H */
