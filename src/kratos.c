/*
 * kratos.c: the whoami client of a worker (see kratos.h).  One call is
 * one short HTTP/1.1 exchange (Connection: close) on a non-blocking
 * socket in the worker's epoll loop, through the same struct endp as the
 * client and upstream connections; its answer is read whole (at most
 * KRATOS_RESP_MAX) and parsed by kratos_parse.c.  Requests that miss the
 * cache for the same credential while a call runs wait on that call
 * instead of making their own.  The address was resolved by the master
 * (kratos_resolve): a worker never resolves.  Worker only; never blocks,
 * never logs per request (the auth stage does).
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kratos.h"
#include "log.h"
#include "master.h"
#include "ratelimit.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

enum kc_state { KC_CONNECTING, KC_SENDING, KC_READING, KC_DEAD };

struct kcall;

/* A request waiting for a call's answer. */
struct kratos_wait {
	struct conn		*kw_cn;
	struct kcall		*kw_call;	/* NULL once answered */
	struct kratos_wait	*kw_next;	/* the call's waiters */
	int			 kw_done;
	int			 kw_pending;	/* finish() will run it */
	struct kratos_answer	 kw_ans;
};

struct kcall {
	struct endp		 kc_ep;		/* first: the ev_io */
	enum kc_state		 kc_state;
	unsigned char		 kc_key[SESS_KEY_LEN];
	char			*kc_out;	/* the request */
	size_t			 kc_outlen, kc_outoff;
	struct timer		 kc_timer;
	struct kratos_wait	*kc_waiters;
	struct kcall		*kc_prev, *kc_next;
};

static struct kratos_target	 target;	/* set before fork */

static struct {
	const struct config	*conf;
	char			 host[320];	/* Host: field */
	char			 path[1024];	/* public_url's path */
	int			 tls;
	int			 tls_ok;	/* its context is ready */
	struct tqueue		 tq;		/* KRATOS_TIMEOUT_MS */
	struct kcall		*calls;
	unsigned		 ncalls;
	int			 down;		/* last call failed: logged */
} K;

/* ------------------------------------------------------------ master */

int
kratos_resolve(const struct config *cf, struct kratos_target *kt,
    char *err, size_t errlen)
{
	char		 host[300], path[1024];
	const char	*e;
	int		 port, tls;

	memset(kt, 0, sizeof(*kt));
	if (cf->auth.mode != AUTH_KRATOS)
		return (0);
	if (kratos_url_split(cf->kratos.public_url, host, sizeof(host),
	    &port, path, sizeof(path), &tls) == -1) {
		snprintf(err, errlen, "kratos.public_url %s: not an http(s) "
		    "URL", cf->kratos.public_url);
		return (-1);
	}
	if (master_resolve(host, port, &kt->kt_addr, &kt->kt_len,
	    &e) == -1) {
		snprintf(err, errlen, "kratos.public_url %s: %s", host, e);
		kt->kt_len = 0;
		return (-1);
	}
	return (0);
}

void
kratos_target_set(const struct kratos_target *kt)
{
	if (kt == NULL)
		memset(&target, 0, sizeof(target));
	else
		target = *kt;
}

/* ------------------------------------------------------------ worker */

int
kratos_worker_init(const struct config *cf)
{
	char	 host[256];
	int	 port, tls;

	K.conf = cf;
	if (cf->auth.mode != AUTH_KRATOS)
		return (0);
	tqueue_init(&K.tq, KRATOS_TIMEOUT_MS);
	ev_tqueue_register(&K.tq);
	if (kratos_url_split(cf->kratos.public_url, host, sizeof(host),
	    &port, K.path, sizeof(K.path), &tls) == -1)
		return (-1);
	K.tls = tls;
	if (tls && tls_kratos_init(host) == -1)
		return (-1);
	K.tls_ok = 1;
	if (strchr(host, ':') != NULL)
		snprintf(K.host, sizeof(K.host), "[%s]:%d", host, port);
	else
		snprintf(K.host, sizeof(K.host), "%s:%d", host, port);
	return (0);
}

static uint64_t
wall_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Provider state changes are logged once each (reference 3.2). */
static void
provider_state(int up, const char *why)
{
	if (up && K.down) {
		K.down = 0;
		log_sys(LOG_LVL_INFO, "auth.provider_recovered", "Kratos %s "
		    "answers again", K.conf->kratos.public_url);
	} else if (!up && !K.down) {
		K.down = 1;
		log_sys(LOG_LVL_ERROR, "auth.provider_unavailable", "Kratos "
		    "%s: %s; protected paths answer 503",
		    K.conf->kratos.public_url, why);
	}
}

/*
 * SPEC.md 8: an active session for at most auth.session_cache_ttl and
 * never beyond its expires_at; a refusal for KRATOS_NEG_TTL_MS; "Kratos
 * cannot say" never.  A cache that fails only costs calls: logged once.
 */
static void
cache_store(const unsigned char key[SESS_KEY_LEN],
    const struct kratos_answer *a)
{
	static int	 logged;
	struct shm	*h = rl_shm();
	struct shm_sess	 s;
	uint64_t	 now = wall_ns(), ttl = K.conf->auth.session_cache_ttl_ms;
	int		 rc;

	if (h == NULL || a->ka_result == KR_UNAVAIL || a->ka_nocache)
		return;
	if (a->ka_result == KR_PASS) {
		if (ttl == 0)
			return;
		s = a->ka_sess;
		s.ss_until = now + ttl * 1000000ULL;
		if (a->ka_expires != 0 && a->ka_expires < s.ss_until)
			s.ss_until = a->ka_expires;
	} else {
		memset(&s, 0, sizeof(s));
		s.ss_until = now + KRATOS_NEG_TTL_MS * 1000000ULL;
	}
	/* A refusal left out of a half-full cache is by design (session.h). */
	if ((rc = shm_sess_put(h, key, &s)) != SHM_OK && !logged &&
	    (rc != SHM_FULL || s.ss_ok)) {
		logged = 1;
		log_sys(LOG_LVL_WARN, "auth.session_cache_failed", "%s; "
		    "sessions are checked with Kratos more often",
		    rc == SHM_FULL ? "the sessions database is full" :
		    shm_errstr(h));
	}
}

/*
 * The call is over: hand a to every waiter and run their connections.
 * The waiters are detached first, so a connection that closes while it
 * runs (kratos_conn_close) no longer touches this call.
 */
static void
finish(struct kcall *kc, const struct kratos_answer *a)
{
	struct kratos_wait	*w, *next;
	struct conn		*cn;

	if (kc->kc_state == KC_DEAD)
		return;
	provider_state(a->ka_result != KR_UNAVAIL, a->ka_why);
	cache_store(kc->kc_key, a);
	kc->kc_state = KC_DEAD;
	timer_del(&kc->kc_timer);
	free(kc->kc_ep.ep_in.b_data);
	kc->kc_ep.ep_in.b_data = NULL;
	free(kc->kc_out);
	kc->kc_out = NULL;
	kc->kc_ep.ep_ops->eo_close(&kc->kc_ep);
	if (kc->kc_prev)
		kc->kc_prev->kc_next = kc->kc_next;
	else
		K.calls = kc->kc_next;
	if (kc->kc_next)
		kc->kc_next->kc_prev = kc->kc_prev;
	K.ncalls--;
	for (w = kc->kc_waiters; w != NULL; w = w->kw_next) {
		w->kw_call = NULL;
		w->kw_done = 1;
		w->kw_pending = 1;
		w->kw_ans = *a;
	}
	w = kc->kc_waiters;
	kc->kc_waiters = NULL;
	for (; w != NULL; w = next) {
		/*
		 * Running one connection may close another whose waiter is
		 * further down this list: kratos_wait_free() leaves a
		 * pending waiter to this loop.  w itself may be gone after
		 * conn_run() (its request took the answer).
		 */
		next = w->kw_next;
		w->kw_next = NULL;
		w->kw_pending = 0;
		if ((cn = w->kw_cn) == NULL)
			free(w);
		else if (cn->cn_state == CS_PIPE)
			conn_run(cn);
	}
	ev_defer_free(kc);
}

static void
fail(struct kcall *kc, const char *why)
{
	struct kratos_answer	 a;

	memset(&a, 0, sizeof(a));
	a.ka_result = KR_UNAVAIL;
	a.ka_why = why;
	finish(kc, &a);
}

/* A complete response: map it (SPEC.md 6). */
static void
answered(struct kcall *kc, int status, const char *body, size_t blen)
{
	struct kratos_answer	 a;

	memset(&a, 0, sizeof(a));
	if (status == 200)
		kratos_whoami_parse(body, blen, wall_ns(), &a);
	else if (status >= 400 && status < 500) {
		/*
		 * SPEC.md 6: every 4xx refuses the request, but only a 401
		 * says the credential is no good for good.  A refusal cached
		 * for a 429 or a 408 would turn Kratos' passing hiccup into
		 * KRATOS_NEG_TTL_MS of sign-outs for a valid session, and
		 * for a 403 (session_aal2_required) a redirect loop: the
		 * same session passes once its second factor is done.
		 */
		a.ka_result = KR_DENY;
		a.ka_why = "session_invalid";
		a.ka_nocache = status != 401;
	} else {
		a.ka_result = KR_UNAVAIL;
		a.ka_why = status >= 500 ? "provider_error" :
		    "unexpected_status";
	}
	finish(kc, &a);
}

static void
call_read(struct kcall *kc)
{
	static char	 body[KRATOS_RESP_MAX];
	struct buf	*b = &kc->kc_ep.ep_in;
	size_t		 blen;
	ssize_t		 n;
	int		 r, status = 0;

	for (;;) {
		n = endp_fill(&kc->kc_ep);
		if (n == -2) {
			fail(kc, "response_too_large");
			return;
		}
		if (n == -1 && kc->kc_ep.ep_err) {
			fail(kc, "connection_error");
			return;
		}
		r = kratos_resp_parse(b->b_data, b->b_end, kc->kc_ep.ep_eof,
		    &status, body, sizeof(body), &blen);
		if (r == 1) {
			answered(kc, status, body, blen);
			return;
		}
		if (r == -1) {
			fail(kc, kc->kc_ep.ep_eof && b->b_end == 0 ?
			    "connection_closed" : "bad_response");
			return;
		}
		if (n == -1)
			return;		/* wait for more */
	}
}

static void
call_run(struct kcall *kc)
{
	struct iovec	 iov;
	ssize_t		 n;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (kc->kc_state == KC_CONNECTING) {
		if (!kc->kc_ep.ep_writable && !kc->kc_ep.ep_err &&
		    !kc->kc_ep.ep_eof)
			return;
		if (getsockopt(kc->kc_ep.ep_io.io_fd, SOL_SOCKET, SO_ERROR,
		    &err, &len) == -1 || err != 0) {
			fail(kc, "connect_failed");
			return;
		}
		kc->kc_state = KC_SENDING;
	}
	while (kc->kc_state == KC_SENDING) {
		iov.iov_base = kc->kc_out + kc->kc_outoff;
		iov.iov_len = kc->kc_outlen - kc->kc_outoff;
		n = kc->kc_ep.ep_ops->eo_writev(&kc->kc_ep, &iov, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			kc->kc_ep.ep_writable = 0;
			return;
		}
		if (n <= 0) {
			fail(kc, "connection_error");
			return;
		}
		kc->kc_outoff += (size_t)n;
		if (kc->kc_outoff == kc->kc_outlen)
			kc->kc_state = KC_READING;
	}
	if (kc->kc_state == KC_READING)
		call_read(kc);
}

static void
call_io(struct ev_io *io, uint32_t events)
{
	struct kcall	*kc = (struct kcall *)io;

	if (kc->kc_state == KC_DEAD)
		return;
	endp_events(&kc->kc_ep, events);
	call_run(kc);
}

static void
call_timeout(struct timer *t)
{
	struct kcall	*kc = (struct kcall *)((char *)t -
	    offsetof(struct kcall, kc_timer));

	fail(kc, "timeout");
}

#define REQ_FIELDS	"Accept: application/json\r\n" \
			"User-Agent: vibewarden\r\nConnection: close\r\n"

/* The whoami request for the credential; 0 or -1. */
static int
build_request(struct kcall *kc, int token, const char *cred, size_t len)
{
	const char	*name = K.conf->auth.session_cookie_name;
	size_t		 cap = strlen(K.path) + strlen(K.host) + strlen(name) +
			    len + 256;
	int		 n;

	if ((kc->kc_out = malloc(cap)) == NULL)
		return (-1);
	if (token)
		n = snprintf(kc->kc_out, cap, "GET %s/sessions/whoami "
		    "HTTP/1.1\r\nHost: %s\r\n" REQ_FIELDS "X-Session-Token: "
		    "%.*s\r\n\r\n", K.path, K.host, (int)len, cred);
	else
		n = snprintf(kc->kc_out, cap, "GET %s/sessions/whoami "
		    "HTTP/1.1\r\nHost: %s\r\n" REQ_FIELDS "Cookie: %s=%.*s"
		    "\r\n\r\n", K.path, K.host, name, (int)len, cred);
	if (n < 0 || (size_t)n >= cap)
		return (-1);
	kc->kc_outlen = (size_t)n;
	return (0);
}

/* Start a call; NULL with *why when it cannot start. */
static struct kcall *
call_start(const unsigned char key[SESS_KEY_LEN], int token,
    const char *cred, size_t len, const char **why)
{
	struct kcall	*kc;
	int		 fd, one = 1;

	*why = "connect_failed";
	if (target.kt_len == 0 || K.ncalls >= KRATOS_CALLS_MAX) {
		*why = target.kt_len == 0 ? "not_configured" : "overloaded";
		return (NULL);
	}
	if (K.tls && !K.tls_ok) {
		*why = "tls_context_failed";
		return (NULL);
	}
	if ((kc = calloc(1, sizeof(*kc))) == NULL)
		return (NULL);
	memcpy(kc->kc_key, key, SESS_KEY_LEN);
	if (build_request(kc, token, cred, len) == -1 ||
	    (kc->kc_ep.ep_in.b_data = malloc(KRATOS_RESP_MAX)) == NULL)
		goto fail;
	kc->kc_ep.ep_in.b_cap = KRATOS_RESP_MAX;
	fd = socket(target.kt_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	kc->kc_ep.ep_io.io_fd = fd;
	kc->kc_ep.ep_io.io_cb = call_io;
	kc->kc_ep.ep_ops = K.tls ? &tls_kratos_ops : &endp_plain_ops;
	if (ev_add(&kc->kc_ep.ep_io) == -1) {
		close(fd);
		goto fail;
	}
	/*
	 * Connected at once or not, the socket's first EPOLLOUT edge starts
	 * the exchange from the event loop, never from inside the stage.
	 */
	if (connect(fd, (struct sockaddr *)&target.kt_addr,
	    target.kt_len) == -1 && errno != EINPROGRESS) {
		close(fd);
		goto fail;
	}
	kc->kc_state = KC_CONNECTING;
	timer_set(&kc->kc_timer, &K.tq, call_timeout);
	kc->kc_next = K.calls;
	if (K.calls)
		K.calls->kc_prev = kc;
	K.calls = kc;
	K.ncalls++;
	return (kc);
 fail:
	free(kc->kc_ep.ep_in.b_data);
	free(kc->kc_out);
	free(kc);
	return (NULL);
}

int
kratos_whoami(struct conn *cn, const unsigned char key[SESS_KEY_LEN],
    int token, const char *cred, size_t len, struct kratos_wait **wp,
    struct kratos_answer *now)
{
	struct kratos_wait	*w;
	struct kcall		*kc;
	const char		*why = "out_of_memory";

	*wp = NULL;
	kratos_conn_close(cn);		/* a stale waiter: never expected */
	memset(now, 0, sizeof(*now));
	now->ka_result = KR_UNAVAIL;
	for (kc = K.calls; kc != NULL; kc = kc->kc_next)
		if (memcmp(kc->kc_key, key, SESS_KEY_LEN) == 0)
			break;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto fail;
	if (kc == NULL && (kc = call_start(key, token, cred, len,
	    &why)) == NULL) {
		free(w);
		goto fail;
	}
	w->kw_cn = cn;
	w->kw_call = kc;
	w->kw_next = kc->kc_waiters;
	kc->kc_waiters = w;
	cn->cn_kwait = w;
	*wp = w;
	/*
	 * The call's own timeout bounds the wait: the head timer must not
	 * cut the connection first (the proxy arms its own timers).
	 */
	timer_del(&cn->cn_timer);
	return (0);
 fail:
	now->ka_why = why;
	provider_state(0, why);
	return (1);
}

int
kratos_wait_answer(const struct kratos_wait *w, struct kratos_answer *a)
{
	if (!w->kw_done)
		return (0);
	*a = w->kw_ans;
	return (1);
}

static void
unlink_wait(struct kratos_wait *w)
{
	struct kratos_wait	**pp;

	if (w->kw_call == NULL)
		return;
	for (pp = &w->kw_call->kc_waiters; *pp != NULL; pp = &(*pp)->kw_next)
		if (*pp == w) {
			*pp = w->kw_next;
			break;
		}
	w->kw_call = NULL;
}

void
kratos_wait_free(struct kratos_wait *w)
{
	if (w == NULL)
		return;
	unlink_wait(w);
	if (w->kw_cn != NULL && w->kw_cn->cn_kwait == w)
		w->kw_cn->cn_kwait = NULL;
	w->kw_cn = NULL;
	if (!w->kw_pending)
		free(w);
}

void
kratos_conn_close(struct conn *cn)
{
	struct kratos_wait	*w = cn->cn_kwait;

	if (w == NULL)
		return;
	cn->cn_kwait = NULL;
	w->kw_cn = NULL;
	kratos_wait_free(w);
}
