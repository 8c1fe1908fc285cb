/*
 * ratelimit.c: rate limiting in a worker (see ratelimit.h).  Every
 * decision is one write transaction on this worker's own shm handle, so
 * all workers share one bucket per key.  Nothing here touches a socket;
 * failures of the store fail open and are counted for rl_report().
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ratelimit.h"
#include "req.h"
#include "shm.h"
#include "store.h"
#include "util.h"

#define REPORT_MS	10000
#define PFX		"/_vibewarden/"

static struct {
	const struct config	*conf;
	struct shm		*shm;
	struct store		*store;
	struct gcra		 g[2];		/* by enum rl_kind */
	pid_t			 pid;
	uint64_t		 nfull, nerr;	/* failed open, since report */
	uint64_t		 last_report;
	const char		*lasterr;
} R;

int
rl_needs_shm(const struct config *cf)
{
	return (config_feature_on(cf, "rate_limit"));
}

int
rl_worker_init(const struct config *cf)
{
	const struct cf_rate_limit *r = &cf->rate_limit;
	const char	*err;

	memset(&R, 0, sizeof(R));
	R.conf = cf;
	R.pid = getpid();
	if (!rl_needs_shm(cf))
		return (0);
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
	return (0);
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

static int
glob_at(const char *p, const char *s, const char *e)
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
				if (glob_at(p + 1, s, e))
					return (1);
				if (s == e || *s == '/')
					return (0);
			}
		}
		if (s == e)
			return (0);
		if (*p == '?' ? *s == '/' : *p != *s)
			return (0);
		s++;
	}
	return (s == e);
}

int
rl_glob(const char *pat, struct vw_str path)
{
	return (glob_at(pat, path.p, path.p + path.len));
}

int
rl_exempt(const struct config *cf, struct vw_str path)
{
	const struct strlist *x = &cf->rate_limit.exempt_paths;
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
rl_ip_key(char scope, const char *ip, int v6prefix, unsigned char *out)
{
	unsigned char	 a[16];
	size_t		 n;

	if (inet_pton(AF_INET, ip, a) == 1)
		return (addr_key(scope, AF_INET, a, 32, out));
	if (inet_pton(AF_INET6, ip, a) == 1) {
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0)
			return (addr_key(scope, AF_INET, a + 12, 32, out));
		return (addr_key(scope, AF_INET6, a, v6prefix, out));
	}
	/* Not an address (cannot happen for a socket peer): the text. */
	out[0] = (unsigned char)scope;
	out[1] = '?';
	n = strnlen(ip, RL_KEY_MAX - 2);
	memcpy(out + 2, ip, n);
	return (n + 2);
}

size_t
rl_user_key(struct vw_str uid, unsigned char *out)
{
	size_t	 n = uid.len > RL_KEY_MAX - 1 ? RL_KEY_MAX - 1 : uid.len;

	out[0] = 'u';
	memcpy(out + 1, uid.p, n);
	return (n + 1);
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

void
rl_take(enum rl_kind kind, const unsigned char *key, size_t klen,
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
	    now_ns(), &res);
	if (rc != SHM_OK) {
		degraded(rc);
		return;
	}
	a->ra_allowed = res.gr_allowed;
	a->ra_retry = (uint32_t)gcra_ceil_sec(res.gr_wait);
	a->ra_remaining = res.gr_remaining;
	a->ra_reset = (uint32_t)gcra_ceil_sec(res.gr_reset);
}

/* ------------------------------------------------------------ connections */

static size_t
conn_key(const struct conn *cn, unsigned char *out)
{
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;

	if (cn->cn_peer.ss_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)&cn->cn_peer;
		if (memcmp(&s6->sin6_addr, v4mapped, sizeof(v4mapped)) == 0)
			return (addr_key('c', AF_INET,
			    (const unsigned char *)&s6->sin6_addr + 12, 32,
			    out));
		return (addr_key('c', AF_INET6,
		    (const unsigned char *)&s6->sin6_addr,
		    R.conf->rate_limit.ipv6_prefix, out));
	}
	s4 = (const struct sockaddr_in *)&cn->cn_peer;
	return (addr_key('c', AF_INET, (const unsigned char *)&s4->sin_addr,
	    32, out));
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
	    (lim = (uint32_t)R.conf->rate_limit.per_ip.max_connections) == 0)
		return (0);
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
	int		 rc;

	if (!cn->cn_rlheld || R.shm == NULL)
		return;
	cn->cn_rlheld = 0;
	if ((rc = shm_conn_release(R.shm, key, conn_key(cn, key), R.pid)) !=
	    SHM_OK)
		degraded(rc);
}
