/*
 * ratelimit.c: rate limiting in a worker (see ratelimit.h).  With the
 * memory store every decision is one write transaction on this worker's
 * own shm handle, so all workers share one bucket per key; failures fail
 * open and are counted for rl_report().  With the redis store a decision
 * is a script on the worker's Redis connection: the stage waits (V_AGAIN)
 * and the reply wakes its connection; while Redis is down, decisions go
 * to the local store (redis.fallback) or are refused (429, Retry-After 1).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "ratelimit.h"
#include "redis_ev.h"
#include "req.h"
#include "shm.h"
#include "store.h"
#include "util.h"
#include "worker.h"

#define REPORT_MS	10000
#define PFX		"/_vibewarden/"
#define TICK_MS		100	/* Redis timeouts and probes */
#define REDIS_TIMEOUT_MS 1000	/* connect or reply, then down */

/* A decision in flight on the Redis store. */
struct rl_wait {
	struct conn	*w_cn;		/* NULL: the connection went away */
	enum rl_kind	 w_kind;
	size_t		 w_klen;
	unsigned char	 w_key[RL_KEY_MAX];	/* for the fallback */
};

static struct {
	const struct config	*conf;
	struct shm		*shm;
	struct store		*store;		/* local (LMDB) */
	struct store		*remote;	/* Redis, or NULL */
	struct tqueue		 tq;
	struct timer		 tick;
	char			 rhost[NI_MAXHOST];
	int			 rport;
	char			*ruser, *rpass;	/* from redis.url */
	struct gcra		 g[2];		/* by enum rl_kind */
	pid_t			 pid;
	uint64_t		 nfull, nerr;	/* failed open, since report */
	uint64_t		 last_report;
	const char		*lasterr;
	int			 on;		/* rate_limit is on */
} R;

int
rl_needs_shm(const struct config *cf)
{
	/*
	 * The Kratos session cache and the JWKS keys live there too: one
	 * handle per process, this one (LMDB: an environment opened twice
	 * in one process loses its locks when either handle closes).
	 */
	return (config_feature_on(cf, "rate_limit") || auth_needs_shm(cf));
}

struct shm *
rl_shm(void)
{
	return (R.shm);
}

int
rl_on(void)
{
	return (R.on);
}

static void	 tick_cb(struct timer *);
static int	 redis_init(const struct config *);

int
rl_worker_init(const struct config *cf)
{
	const struct cf_rate_limit *r = &cf->rate_limit;
	const char	*err;

	free(R.ruser);
	free(R.rpass);
	memset(&R, 0, sizeof(R));
	R.conf = cf;
	R.pid = getpid();
	if (!rl_needs_shm(cf))
		return (0);
	R.on = config_feature_on(cf, "rate_limit");
	gcra_init(&R.g[RL_IP], r->per_ip.requests_per_second,
	    (uint32_t)r->per_ip.burst);
	gcra_init(&R.g[RL_USER], r->per_user.requests_per_second,
	    (uint32_t)r->per_user.burst);
	if ((R.shm = shm_open(cf->shm.path, cf->shm.map_size, 0,
	    &err)) == NULL) {
		log_sys(LOG_LVL_ERROR, "shm.open_failed", "%s: %s; rate "
		    "limiting fails open", cf->shm.path, err);
		return (-1);
	}
	if ((R.store = store_lmdb_new(R.shm)) == NULL) {
		log_sys(LOG_LVL_ERROR, "shm.open_failed", "out of memory; "
		    "rate limiting fails open");
		return (-1);
	}
	if (r->store == RL_STORE_REDIS && R.on)
		return (redis_init(cf));
	return (0);
}

/* ------------------------------------------------------------ redis */

static void
store_event(int up, const char *why)
{
	const struct cf_rate_limit *r = &R.conf->rate_limit;

	if (up)
		log_sys(LOG_LVL_INFO, "rate_limit.store_recovered",
		    "redis %s:%d answers again; rate limits are shared again",
		    R.rhost, R.rport);
	else
		log_sys(LOG_LVL_WARN, "rate_limit.store_fallback",
		    "redis %s:%d unavailable (%s); %s", R.rhost, R.rport,
		    why ? why : "error",
		    r->redis.fallback ? "using this host's local store until "
		    "it answers" : "refusing requests (429) until it answers");
}

static char *
dupn(const char *p, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return (s);
}

/*
 * redis.url (redis://[[user]:password@]host[:port][/db]) or
 * redis.address (host[:port]) + password + db: host text, port, db.
 */
static int
redis_target(const struct cf_rate_limit *r, char *host, size_t hlen,
    int *port, int *db)
{
	const char	*s, *at, *e, *c, *hs, *he;

	*port = 6379;
	*db = r->redis.db;
	if (r->redis.password != NULL && *r->redis.password != '\0')
		R.rpass = strdup(r->redis.password);
	if (r->redis.url != NULL && *r->redis.url != '\0') {
		if (strncmp(r->redis.url, "redis://", 8) != 0)
			return (-1);
		s = r->redis.url + 8;
		e = s + strcspn(s, "/?");
		if ((at = memchr(s, '@', (size_t)(e - s))) != NULL) {
			c = memchr(s, ':', (size_t)(at - s));
			free(R.rpass);
			R.rpass = c ? dupn(c + 1, (size_t)(at - c - 1)) :
			    dupn(s, (size_t)(at - s));
			if (c != NULL && c > s)
				R.ruser = dupn(s, (size_t)(c - s));
			s = at + 1;
		}
		if (*e == '/' && e[1] >= '0' && e[1] <= '9')
			*db = atoi(e + 1);
	} else if ((s = r->redis.address) != NULL)
		e = s + strlen(s);
	else
		return (-1);
	/* [v6]:port or host:port */
	if (*s == '[') {
		hs = s + 1;
		if ((he = memchr(hs, ']', (size_t)(e - hs))) == NULL)
			return (-1);
		c = he + 1 < e && he[1] == ':' ? he + 1 : NULL;
	} else {
		hs = s;
		c = memchr(s, ':', (size_t)(e - s));
		he = c ? c : e;
	}
	if (c != NULL)
		*port = atoi(c + 1);
	if (he == hs || (size_t)(he - hs) >= hlen || *port <= 0 ||
	    *port > 65535)
		return (-1);
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	return (0);
}

static size_t	 key_text(const unsigned char *, size_t, char *, size_t);

/*
 * rate_limit.redis into rc (its host the numeric R.rhost): the
 * credentials are kept in R (redis_target()).  A blocking lookup: once
 * at a worker's start, or in the admin process.  0, or -1 logged.
 */
static int
redis_conf(const struct config *cf, struct store_redis_conf *rc)
{
	const struct cf_rate_limit *r = &cf->rate_limit;
	struct addrinfo	 hints, *res;
	char		 host[256];
	int		 db, e;

	if (redis_target(r, host, sizeof(host), &R.rport, &db) == -1) {
		log_sys(LOG_LVL_ERROR, "rate_limit.store_error", "cannot "
		    "parse rate_limit.redis.url or .address");
		return (-1);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		log_sys(LOG_LVL_ERROR, "rate_limit.store_error", "redis host "
		    "%s: %s", host, gai_strerror(e));
		return (-1);
	}
	e = getnameinfo(res->ai_addr, res->ai_addrlen, R.rhost,
	    sizeof(R.rhost), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (e != 0)
		return (-1);
	memset(rc, 0, sizeof(*rc));
	rc->rc_host = R.rhost;
	rc->rc_port = R.rport;
	rc->rc_user = R.ruser;
	rc->rc_password = R.rpass;
	rc->rc_db = db;
	rc->rc_prefix = r->redis.key_prefix ? r->redis.key_prefix :
	    "vibewarden";
	rc->rc_timeout_ms = REDIS_TIMEOUT_MS;
	return (0);
}

/*
 * The Redis bucket of key for the admin process (store_redis_admin()):
 * read its TAT (µs) or delete it.  Blocking: never in a worker.
 */
int
rl_redis_admin(const struct config *cf, const void *key, size_t klen,
    int del, uint64_t *tat_us, int *found)
{
	struct store_redis_conf rc;
	char		 tk[RL_KEY_MAX + 64];
	size_t		 tlen;
	int		 rv = -1;

	if (redis_conf(cf, &rc) == 0) {
		/* The workers' Redis keys are the text form (rl_take()). */
		tlen = key_text(key, klen, tk, sizeof(tk));
		rv = store_redis_admin(&rc, tk, tlen, del, tat_us, found);
	}
	/* (redis_conf() kept the credentials in R, as for a worker.) */
	free(R.ruser);
	free(R.rpass);
	R.ruser = R.rpass = NULL;
	return (rv);
}

static int
redis_init(const struct config *cf)
{
	const struct cf_rate_limit *r = &cf->rate_limit;
	struct store_redis_conf rc;

	/* Once, at start-up: never a blocking lookup per request. */
	if (redis_conf(cf, &rc) == -1)
		return (-1);
	rc.rc_probe_ms = r->redis.health_check_interval_ms > 0 ?
	    r->redis.health_check_interval_ms : 30000;
	rc.rc_attach = redis_ev_attach;
	rc.rc_event = store_event;
	if ((R.remote = store_redis_new(&rc)) == NULL)
		return (-1);
	tqueue_init(&R.tq, TICK_MS);
	ev_tqueue_register(&R.tq);
	timer_set(&R.tick, &R.tq, tick_cb);
	return (0);
}

static void
tick_cb(struct timer *t)
{
	if (R.remote != NULL && R.remote->st_ops->so_tick != NULL)
		R.remote->st_ops->so_tick(R.remote, util_now_ms);
	timer_set(&R.tick, &R.tq, tick_cb);
}


void
rl_report(void)
{
	if (R.nfull == 0 && R.nerr == 0)
		return;
	if (R.last_report != 0 && util_now_ms - R.last_report < REPORT_MS)
		return;
	R.last_report = util_now_ms;
	if (R.nfull > 0)
		log_sys(LOG_LVL_ERROR, "shm.map_full", "shm map %s is full "
		    "(shm.map_size %llu): %llu rate-limit decisions failed "
		    "open", R.conf->shm.path,
		    (unsigned long long)R.conf->shm.map_size,
		    (unsigned long long)R.nfull);
	if (R.nerr > 0)
		log_sys(LOG_LVL_ERROR, "rate_limit.store_error", "%s: %llu "
		    "rate-limit decisions failed open", R.lasterr ? R.lasterr :
		    "store unavailable", (unsigned long long)R.nerr);
	R.nfull = R.nerr = 0;
}

/* ------------------------------------------------------------ paths */

/* One pattern byte against one path byte, with ci ASCII case folded. */
static int
glob_eq(int ci, char p, char s)
{
	if (ci && p >= 'A' && p <= 'Z')
		p += 'a' - 'A';
	if (ci && s >= 'A' && s <= 'Z')
		s += 'a' - 'A';
	return (p == s);
}

static int
glob_at(const char *p, const char *s, const char *e, int ci)
{
	for (; *p != '\0'; p++) {
		/* A trailing / * or / ** takes everything below. */
		if (p[0] == '/' && p[1] == '*' && (p[2] == '\0' ||
		    (p[2] == '*' && p[3] == '\0')))
			return (s < e && *s == '/');
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			for (;; s++) {
				if (glob_at(p + 1, s, e, ci))
					return (1);
				if (s == e || *s == '/')
					return (0);
			}
		}
		if (s == e)
			return (0);
		if (*p == '?' ? *s == '/' : !glob_eq(ci, *p, *s))
			return (0);
		s++;
	}
	return (s == e);
}

int
rl_glob(const char *pat, struct vw_str path)
{
	return (glob_at(pat, path.p, path.p + path.len, 0));
}

int
rl_glob_ci(const char *pat, struct vw_str path)
{
	return (glob_at(pat, path.p, path.p + path.len, 1));
}

int
rl_exempt(const struct config *cf, struct vw_str path)
{
	return (rl_exempt_list(&cf->rate_limit.exempt_paths, path));
}

int
rl_exempt_list(const struct strlist *x, struct vw_str path)
{
	size_t		 i;

	if (path.len >= sizeof(PFX) - 1 &&
	    memcmp(path.p, PFX, sizeof(PFX) - 1) == 0)
		return (1);
	for (i = 0; i < x->n; i++)
		if (rl_glob(x->v[i], path))
			return (1);
	return (0);
}

/* ------------------------------------------------------------ keys */

/* scope, family, address bytes (IPv6 cut to plen bits), plen. */
static size_t
addr_key(char scope, int af, const unsigned char *a, int plen,
    unsigned char *out)
{
	size_t	 n = 0;
	int	 i;

	out[n++] = (unsigned char)scope;
	if (af == AF_INET) {
		out[n++] = '4';
		memcpy(out + n, a, 4);
		return (n + 4);
	}
	out[n++] = '6';
	for (i = 0; i < 16; i++) {
		if (plen >= (i + 1) * 8)
			out[n + i] = a[i];
		else if (plen > i * 8)
			out[n + i] = a[i] & (unsigned char)(0xff <<
			    (8 - (plen - i * 8)));
		else
			out[n + i] = 0;
	}
	n += 16;
	out[n++] = (unsigned char)plen;
	return (n);
}

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

size_t
rl_addr_key(char scope, const struct ipaddr *ia, int v6prefix,
    unsigned char *out)
{
	if (memcmp(ia->ia_b, v4mapped, sizeof(v4mapped)) == 0)
		return (addr_key(scope, AF_INET, ia->ia_b + 12, 32, out));
	return (addr_key(scope, AF_INET6, ia->ia_b, v6prefix, out));
}

size_t
rl_ip_key(char scope, const char *ip, int v6prefix, unsigned char *out)
{
	struct ipaddr	 ia;
	size_t		 n;

	if (ipaddr_parse(ip, strlen(ip), &ia) == 0)
		return (rl_addr_key(scope, &ia, v6prefix, out));
	/* Not an address (cannot happen for a socket peer): the text. */
	out[0] = (unsigned char)scope;
	out[1] = '?';
	n = strnlen(ip, RL_KEY_MAX - 2);
	memcpy(out + 2, ip, n);
	return (n + 2);
}

/*
 * 'u' + the id; an id too long for that is 'U' + its SHA-256, never cut:
 * ids that share their first 255 bytes are still different users, and
 * one must not spend the other's bucket.
 */
size_t
rl_user_key(struct vw_str uid, unsigned char *out)
{
	if (uid.len <= RL_KEY_MAX - 1) {
		out[0] = 'u';
		memcpy(out + 1, uid.p, uid.len);
		return (uid.len + 1);
	}
	out[0] = 'U';
	if (util_sha256(uid.p, uid.len, out + 1) == -1)
		memset(out + 1, 0, 32);
	return (1 + 32);
}

/* ------------------------------------------------------------ decisions */

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	/* Wall clock: buckets stay meaningful across a restart or reboot
	   (the files persist); gcra_take() bounds a backwards step. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static void
degraded(int rc)
{
	if (rc == SHM_FULL)
		R.nfull++;
	else {
		R.nerr++;
		R.lasterr = R.shm != NULL ? shm_errstr(R.shm) : NULL;
	}
}

/* Whole seconds for a header, bounded (rate 0 waits "forever"). */
static uint32_t
secs(uint64_t ns)
{
	uint64_t	 s = gcra_ceil_sec(ns);

	return (s > INT32_MAX ? INT32_MAX : (uint32_t)s);
}

static void
answer(struct rl_answer *a, const struct gcra_res *res)
{
	memset(a, 0, sizeof(*a));
	a->ra_allowed = res->gr_allowed;
	a->ra_retry = secs(res->gr_wait);
	a->ra_remaining = res->gr_remaining;
	a->ra_reset = secs(res->gr_reset);
}

/* The local (LMDB) store; fails open. */
static void
local_take(enum rl_kind kind, const unsigned char *key, size_t klen,
    struct rl_answer *a)
{
	struct gcra_res	 res;
	int		 rc;

	memset(a, 0, sizeof(*a));
	a->ra_allowed = 1;
	if (R.store == NULL) {
		degraded(SHM_ERR);
		return;
	}
	rc = R.store->st_ops->so_take(R.store, key, klen, &R.g[kind],
	    now_ns(), &res, NULL, NULL);
	if (rc != SHM_OK) {
		degraded(rc);
		return;
	}
	answer(a, &res);
}

/* Redis is down: the local store, or fail closed (SPEC.md 8). */
static void
fallback(enum rl_kind kind, const unsigned char *key, size_t klen,
    struct rl_answer *a)
{
	if (R.conf->rate_limit.redis.fallback) {
		local_take(kind, key, klen, a);
		return;
	}
	memset(a, 0, sizeof(*a));
	a->ra_retry = 1;
	a->ra_closed = 1;
}

/*
 * The Redis key after "<key_prefix>:ratelimit:", as the original lays it
 * out: "1:<client IP>" (IPv6: "<masked address>/<prefix>") or
 * "2:<user id>".
 */
static size_t
key_text(const unsigned char *k, size_t klen, char *out, size_t cap)
{
	char	 ip[INET6_ADDRSTRLEN];
	size_t	 n;

	if (k[0] == 'u') {
		n = klen - 1 < cap - 3 ? klen - 1 : cap - 3;
		memcpy(out, "2:", 2);
		memcpy(out + 2, k + 1, n);
		return (n + 2);
	}
	if (k[1] == '4' && klen == 6 &&
	    inet_ntop(AF_INET, k + 2, ip, sizeof(ip)) != NULL)
		n = (size_t)snprintf(out, cap, "1:%s", ip);
	else if (k[1] == '6' && klen == 19 &&
	    inet_ntop(AF_INET6, k + 2, ip, sizeof(ip)) != NULL)
		n = (size_t)snprintf(out, cap, "1:%s/%u", ip, k[18]);
	else
		n = (size_t)snprintf(out, cap, "1:%.*s", (int)(klen - 2),
		    (const char *)k + 2);
	return (n < cap ? n : cap - 1);
}

/* A Redis reply (or failure) for a waiting connection: resume it. */
static void
wait_done(void *arg, int rc, const struct gcra_res *res)
{
	struct rl_wait	*w = arg;
	struct conn	*cn = w->w_cn;
	struct req	*rq;
	struct rl_answer a;

	if (cn == NULL) {
		free(w);
		return;
	}
	cn->cn_rlwait = NULL;
	if (rc == SHM_OK)
		answer(&a, res);
	else
		fallback(w->w_kind, w->w_key, w->w_klen, &a);
	free(w);
	if ((rq = cn->cn_req) == NULL || cn->cn_state != CS_PIPE)
		return;
	rq->rq_rlstate = RLS_DONE;
	rq->rq_rlok = a.ra_allowed;
	rq->rq_rlclosed = a.ra_closed;
	rq->rq_rlretry = a.ra_retry;
	conn_run(cn);
}

int
rl_take(struct req *rq, enum rl_kind kind, const unsigned char *key,
    size_t klen, struct rl_answer *a)
{
	struct rl_wait	*w;
	struct gcra_res	 res;
	char		 tk[RL_KEY_MAX + 64];
	size_t		 tlen;
	int		 rc;

	if (R.remote == NULL) {
		local_take(kind, key, klen, a);
		return (0);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		fallback(kind, key, klen, a);
		return (0);
	}
	w->w_cn = rq->rq_conn;
	w->w_kind = kind;
	w->w_klen = klen;
	memcpy(w->w_key, key, klen);
	tlen = key_text(key, klen, tk, sizeof(tk));
	rc = R.remote->st_ops->so_take(R.remote, tk, tlen, &R.g[kind], 0,
	    &res, wait_done, w);
	if (rc == SHM_PENDING) {
		rq->rq_conn->cn_rlwait = w;
		rq->rq_rlstate = RLS_WAIT;
		return (1);
	}
	free(w);
	if (rc == SHM_OK)
		answer(a, &res);
	else
		fallback(kind, key, klen, a);
	return (0);
}

/* ------------------------------------------------------------ connections */

static size_t
conn_key(const struct conn *cn, unsigned char *out)
{
	return (rl_addr_key('c', &cn->cn_addr, R.conf->rate_limit.ipv6_prefix,
	    out));
}

/*
 * Connection slots whose release failed (a full map): kept and released
 * again at the next connection event, so a client that has closed its
 * connections is not refused as if it still held them (attack finding).
 * A worker that exits with some owed has them freed by the master.
 */
#define OWED_MAX	64

static struct {
	unsigned char	 o_key[RL_KEY_MAX];
	size_t		 o_len;
} owed[OWED_MAX];
static size_t	 nowed;

static void
release_owed(void)
{
	while (nowed > 0 && shm_conn_release(R.shm, owed[nowed - 1].o_key,
	    owed[nowed - 1].o_len, R.pid) == SHM_OK)
		nowed--;
}

int
rl_conn_open(struct conn *cn)
{
	unsigned char	 key[RL_KEY_MAX];
	struct logev	 le;
	size_t		 klen;
	int		 rc, ok;
	uint32_t	 lim;

	if (R.shm == NULL || R.conf == NULL ||
	    !R.on ||
	    (lim = (uint32_t)R.conf->rate_limit.per_ip.max_connections) == 0)
		return (0);
	release_owed();
	klen = conn_key(cn, key);
	rc = shm_conn_acquire(R.shm, key, klen, R.pid, lim, &ok);
	if (rc != SHM_OK) {
		degraded(rc);
		return (0);		/* fail open */
	}
	if (ok) {
		cn->cn_rlheld = 1;
		return (0);
	}
	cn->cn_rlover = 1;
	logev_init(&le, LOG_LVL_WARN, "medium", "resilience",
	    "rate_limit.conn_blocked");
	if (log_enabled(le.le_level)) {
		logev_summary(&le, "%s has %u connections open already",
		    cn->cn_ip, lim);
		logev_cstr(&le, "limit_type", "connections");
		logev_cstr(&le, "client_ip", cn->cn_ip);
		logev_int(&le, "max_connections", lim);
		le.le_actor_ip = cn->cn_ip;
		le.le_outcome = "rate_limited";
		logev_emit(&le);
	}
	return (-1);
}

void
rl_conn_close(struct conn *cn)
{
	unsigned char	 key[RL_KEY_MAX];
	size_t		 klen;
	int		 rc;

	/* A Redis reply still on its way finds nobody. */
	if (cn->cn_rlwait != NULL) {
		((struct rl_wait *)cn->cn_rlwait)->w_cn = NULL;
		cn->cn_rlwait = NULL;
	}
	if (!cn->cn_rlheld || R.shm == NULL)
		return;
	cn->cn_rlheld = 0;
	release_owed();
	klen = conn_key(cn, key);
	if ((rc = shm_conn_release(R.shm, key, klen, R.pid)) != SHM_OK) {
		degraded(rc);
		if (nowed < OWED_MAX) {
			memcpy(owed[nowed].o_key, key, klen);
			owed[nowed++].o_len = klen;
		}
	}
}
