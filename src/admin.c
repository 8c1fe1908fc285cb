/*
 * admin.c: the admin process (SPEC.md 11; see admin.h).  The only file
 * that includes <microhttpd.h>.
 *
 * One thread per admin connection (at most ADM_CONNS, each cut after
 * ADM_TIMEOUT_S idle, or when a whole request has not arrived within
 * ADM_REQUEST_S), so a slow client or a slow Kratos delays only its
 * own answer; the workers never wait on this process at all: they read
 * the readiness it publishes in its counter slot.  The main thread probes
 * readiness once a second.  Shared state (the shm handle, the log) is
 * used under one mutex.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "vw_autoconf.h"
#include "admin.h"
#include "certpage.h"
#include "cidr.h"
#include "config_keys.h"
#include "counters.h"
#include "gcra.h"
#include "helper.h"
#include "log.h"
#include "metrics.h"
#include "pipe.h"
#include "ratelimit.h"
#include "session.h"
#include "shm.h"
#include "tls.h"
#include "util.h"

#define ADM_CONNS	32
#define ADM_TIMEOUT_S	10
#define ADM_BODY_MAX	65536
#define ADM_REQUEST_MS	10000	/* to send a whole request */
#define BIND_TRIES	50	/* x 100 ms: a reload's old admin leaves */
#define PROBE_MS	1000	/* one probe a second at most */
#define PROBE_TICK_MS	100
#define PROBE_WANTED_MS	10000	/* ... while /ready was asked lately */
#define TOKEN_MAX	4096
#define TOKEN_MIN	16	/* bytes: nothing to guess online below */

#define PFX		"/_vibewarden/"
#define ADMIN_PFX	"/_vibewarden/admin/"

static struct {
	const struct config	*cf;
	pthread_mutex_t		 mu;		/* shm, log */
	struct shm		*shm;
	unsigned char		 tok[32];	/* SHA-256 of the token */
	int			 have_tok;	/* the admin API is on */
	struct aconn		*conns;		/* under mu */
} A;

/*
 * One admin connection: MHD's timeout is an idle one, so a client that
 * sends a byte every few seconds would hold its slot for ever, and
 * ADM_CONNS of them would starve /metrics and /ready.  The main thread
 * shuts down a connection whose request is not complete by ac_deadline.
 * MHD tells on_conn() it closed before it closes the fd, and both run
 * under A.mu, so the fd shut down is never another connection's.
 */
struct aconn {
	int		 ac_fd;
	uint64_t	 ac_deadline;	/* monotonic ms; 0: answering */
	struct aconn	*ac_next;
};

/* One admin request: its body as it arrives. */
struct areq {
	char		*body;
	size_t		 len;
	int		 over;
};

const char *
admin_mhd_version(void)
{
	return (MHD_get_version());
}

const char *
admin_curl_version(void)
{
	return (curl_version_info(CURLVERSION_NOW)->version);
}

int
admin_wanted(const struct config *cf)
{
	return (cf->admin.enabled || (cf->telemetry.enabled &&
	    cf->telemetry.prometheus.enabled));
}

int
adm_error(struct adm_reply *r, int status, const char *code,
    const char *msg)
{
	json_decref(r->ar_json);
	r->ar_status = status;
	r->ar_json = json_pack("{s:s, s:s}", "error", code, "message", msg);
	return (0);
}

/* ---------------------------------------------------------------- token */

/*
 * The admin API has no lockout (a lockout anyone can trigger is a denial
 * of service), so the token itself must be beyond online guessing: a
 * short one turns the API off, loudly.
 */
static int
token_long(size_t len, const char *from)
{
	if (len >= TOKEN_MIN)
		return (1);
	log_sys(LOG_LVL_ERROR, "admin.token_error", "the admin token (%s) "
	    "has %zu characters, fewer than %d; the admin API is off",
	    from, len, TOKEN_MIN);
	return (0);
}

/*
 * admin.token (or VIBEWARDEN_ADMIN_TOKEN, which config.c maps onto it),
 * else admin.token_file, read before privileges are dropped.
 */
static void
load_token(const struct config *cf)
{
	char		 buf[TOKEN_MAX + 1];
	struct stat	 st;
	ssize_t		 n;
	size_t		 len;
	int		 fd;

	if (!cf->admin.enabled)
		return;
	if (cf->admin.token != NULL && cf->admin.token[0] != '\0') {
		if (!token_long(strlen(cf->admin.token), "admin.token"))
			return;
		A.have_tok = util_sha256(cf->admin.token,
		    strlen(cf->admin.token), A.tok) == 0;
		return;
	}
	if (cf->admin.token_file == NULL || cf->admin.token_file[0] == '\0')
		return;
	if ((fd = open(cf->admin.token_file, O_RDONLY | O_CLOEXEC)) == -1) {
		log_sys(LOG_LVL_ERROR, "admin.token_error", "admin.token_file "
		    "%s: %s; the admin API is off", cf->admin.token_file,
		    strerror(errno));
		return;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IRWXO) != 0)
		log_sys(LOG_LVL_WARN, "admin.token_file_mode", "admin.token_file "
		    "%s is accessible to others (mode %03o): chmod o-rwx",
		    cf->admin.token_file, (unsigned)(st.st_mode & 0777));
	n = read(fd, buf, TOKEN_MAX);
	close(fd);
	len = n > 0 ? (size_t)n : 0;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (len == 0) {
		log_sys(LOG_LVL_ERROR, "admin.token_error", "admin.token_file "
		    "%s is empty or unreadable; the admin API is off",
		    cf->admin.token_file);
		return;
	}
	if (token_long(len, cf->admin.token_file))
		A.have_tok = util_sha256(buf, len, A.tok) == 0;
	OPENSSL_cleanse(buf, sizeof(buf));
}

/*
 * Authorization: Bearer <token>, or X-Admin-Key (the original's header).
 * Both sides are hashed first, so the comparison takes the same time
 * whatever the length or the first differing byte.
 */
static int
authorized(struct MHD_Connection *mc)
{
	const char	*h, *t = NULL;
	unsigned char	 d[32];

	h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0)
		t = h + 7;
	else
		t = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    "X-Admin-Key");
	if (t == NULL || *t == '\0')
		return (0);
	/* A hash that fails admits nobody. */
	return (util_sha256(t, strlen(t), d) == 0 &&
	    CRYPTO_memcmp(d, A.tok, sizeof(d)) == 0);
}

/* ------------------------------------------------------------ readiness */

/* 1 when host:port accepts a TCP connection within timeout ms. */
static int
reachable(const char *host, int port, int timeout)
{
	struct addrinfo	 hints, *res, *ai;
	struct pollfd	 pfd;
	char		 pb[16];
	socklen_t	 sl;
	int		 fd, ok = 0, err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(pb, sizeof(pb), "%d", port);
	if (getaddrinfo(host, pb, &hints, &res) != 0)
		return (0);
	for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			ok = 1;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			sl = sizeof(err);
			if (poll(&pfd, 1, timeout) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &sl) == 0 && err == 0)
				ok = 1;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return (ok);
}

/* host and port of an http(s):// URL; 0 or -1. */
static int
url_hostport(const char *url, char *host, size_t hlen, int *port)
{
	const char	*p, *e, *c;
	size_t		 n;

	*port = strncmp(url, "https://", 8) == 0 ? 443 : 80;
	if ((p = strstr(url, "://")) == NULL)
		return (-1);
	p += 3;
	e = p + strcspn(p, "/?#");
	if (*p == '[') {
		if ((c = memchr(p, ']', (size_t)(e - p))) == NULL)
			return (-1);
		n = (size_t)(c - p - 1);
		p++;
		c = c + 1 < e && c[1] == ':' ? c + 1 : NULL;
	} else {
		c = memchr(p, ':', (size_t)(e - p));
		n = (size_t)((c ? c : e) - p);
	}
	if (n == 0 || n >= hlen)
		return (-1);
	memcpy(host, p, n);
	host[n] = '\0';
	if (c != NULL)
		*port = atoi(c + 1);
	return (*port > 0 && *port < 65536 ? 0 : -1);
}

static void
probe(const struct config *cf)
{
	char	 host[256];
	int	 port, st = CTR_READY_OK;

	/* A certificate of the generation, or one ACME published since. */
	if (cf->tls.enabled && tls_cert_current() == NULL &&
	    certpage_cert_gen() == 0)
		st = CTR_READY_NO_CERT;
	else if (!reachable(cf->upstream.host, cf->upstream.port, 1000))
		st = CTR_READY_UPSTREAM;
	else if (cf->auth.mode == AUTH_KRATOS && cf->kratos.public_url !=
	    NULL && url_hostport(cf->kratos.public_url, host, sizeof(host),
	    &port) == 0 && !reachable(host, port, 1000))
		st = CTR_READY_KRATOS;
	if (counters_self == NULL)
		return;
	counters_self->c_ready = st;
	__atomic_store_n(&counters_self->c_ready_at, util_now_update(),
	    __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ endpoints */

static void
status(struct adm_reply *r)
{
	struct vw_counters	 s;
	int			 i, workers = 0, rs;
	uint64_t		 req = 0;
	const char		*rb;

	counters_sum(counters_base, &s);
	for (i = 0; i < 6; i++)
		req += s.c_requests[i];
	for (i = 1; i < CTR_SLOTS; i++)
		if (counters_base[i].c_pid > 0 && counters_base[i].c_accepting)
			workers++;
	rb = internal_ready(A.cf, &rs);
	r->ar_status = 200;
	r->ar_json = json_pack("{s:s, s:i, s:i, s:b, s:o?, s:I, s:I, s:I, "
	    "s:I}", "version", PACKAGE_VERSION, "master_pid", (int)getppid(),
	    "workers", workers, "ready", rs == 200, "readiness",
	    json_loads(rb, 0, NULL), "requests_total", (json_int_t)req,
	    "active_connections", (json_int_t)s.c_conns_open,
	    "websocket_tunnels", (json_int_t)s.c_tunnels,
	    "worker_restarts", (json_int_t)s.c_restarts);
	r->ar_event = "admin.status";
}

static void
config(struct adm_reply *r)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	r->ar_event = "admin.config_shown";
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		adm_error(r, 500, "internal_error", "out of memory");
		return;
	}
	config_dump(A.cf, fp);	/* secrets redacted, as vibewarden -T */
	fclose(fp);
	r->ar_status = 200;
	r->ar_json = json_pack("{s:s, s:s%}", "format", "yaml", "config",
	    buf ? buf : "", len);
	free(buf);
}

static void
reload(struct adm_reply *r)
{
	pid_t	 m = getppid();

	r->ar_event = "admin.reload";
	if (m <= 1 || kill(m, SIGHUP) == -1) {
		adm_error(r, 503, "service_unavailable",
		    "the master process is not reachable");
		return;
	}
	r->ar_status = 200;
	r->ar_json = json_pack("{s:b, s:s}", "success", 1, "message",
	    "reload requested; the master checks the configuration and "
	    "logs config.reloaded or config.reload_failed");
}

/*
 * "ip:ADDR" or "user:ID" as the rate limiter's key; kind 'i'/'u'.  ADDR
 * must be an address: the limiter only ever keys on a peer's, so any
 * other text names a bucket that cannot exist.
 */
static size_t
rl_key(const char *k, unsigned char *out, const struct cf_rate **rate)
{
	struct ipaddr	 ia;
	struct vw_str	 u;

	if (strncmp(k, "ip:", 3) == 0 && ipaddr_parse(k + 3, strlen(k + 3),
	    &ia) == 0) {
		*rate = &A.cf->rate_limit.per_ip;
		return (rl_ip_key('i', k + 3, A.cf->rate_limit.ipv6_prefix,
		    out));
	}
	if (strncmp(k, "user:", 5) == 0 && k[5] != '\0') {
		*rate = &A.cf->rate_limit.per_user;
		u.p = k + 5;
		u.len = strlen(k + 5);
		return (rl_user_key(u, out));
	}
	return (0);
}

static pthread_mutex_t	 redis_mu = PTHREAD_MUTEX_INITIALIZER;

static void
ratelimit(const char *method, const char *key, struct adm_reply *r)
{
	unsigned char		 k[RL_KEY_MAX];
	const struct cf_rate	*rate = NULL;
	struct gcra		 g;
	struct gcra_res		 res;
	struct timespec		 ts;
	uint64_t		 tat = 0, now;
	size_t			 klen;
	int			 del = strcmp(method, "DELETE") == 0, rc,
				 found = 0;
	uint32_t		 left;

	r->ar_event = del ? "admin.ratelimit_reset" : "admin.ratelimit_shown";
	if (!del && strcmp(method, "GET") != 0) {
		adm_error(r, 405, "method_not_allowed", "GET or DELETE");
		return;
	}
	if (!A.cf->rate_limit.enabled) {
		adm_error(r, 404, "not_found", "rate limiting is off");
		return;
	}
	if (A.cf->rate_limit.store == RL_STORE_MEMORY && A.shm == NULL) {
		adm_error(r, 503, "service_unavailable",
		    "the shared rate-limit store is not open");
		return;
	}
	if ((klen = rl_key(key, k, &rate)) == 0) {
		adm_error(r, 400, "invalid_key",
		    "the key is ip:<address> or user:<id>");
		return;
	}
	if (A.cf->rate_limit.store == RL_STORE_REDIS) {
		/* Blocking, in this process only; the TAT is in µs.  One
		   call at a time (connection threads): not under A.mu, so
		   a slow Redis never holds up the metrics. */
		pthread_mutex_lock(&redis_mu);
		rc = rl_redis_admin(A.cf, k, klen, del, &tat, &found) == 0 ?
		    SHM_OK : SHM_ERR;
		pthread_mutex_unlock(&redis_mu);
		tat *= 1000;
	} else {
		pthread_mutex_lock(&A.mu);
		rc = del ? shm_rl_reset(A.shm, k, klen, &found) :
		    shm_rl_get(A.shm, k, klen, &tat);
		pthread_mutex_unlock(&A.mu);
	}
	if (rc != SHM_OK) {
		adm_error(r, 503, "service_unavailable",
		    "the shared rate-limit store failed");
		return;
	}
	if (del) {
		r->ar_status = 200;
		r->ar_json = json_pack("{s:s, s:b}", "key", key, "reset",
		    found);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	gcra_init(&g, rate->requests_per_second, (uint32_t)rate->burst);
	gcra_take(&g, tat, now, &res);
	left = res.gr_allowed ? res.gr_remaining + 1 : 0;
	r->ar_status = 200;
	r->ar_json = json_pack("{s:s, s:s, s:b, s:i, s:i, s:f, s:b, s:I}",
	    "key", key, "limit_type", rate == &A.cf->rate_limit.per_ip ?
	    "ip" : "user", "known", tat != 0, "remaining", (int)left,
	    "burst", rate->burst, "requests_per_second",
	    rate->requests_per_second, "limited", !res.gr_allowed,
	    "retry_after_seconds", (json_int_t)(res.gr_allowed ? 0 :
	    gcra_ceil_sec(res.gr_wait)));
}

/*
 * The Kratos session cache (shm "sessions"): GET sessions counts its
 * entries, DELETE sessions empties it, DELETE sessions/{user id} drops
 * the cached sessions of one identity, so their next request asks Kratos.
 */
static void
sessions(const char *method, const char *user, struct adm_reply *r)
{
	size_t	 n = 0;
	int	 rc, get = strcmp(method, "GET") == 0,
		 del = strcmp(method, "DELETE") == 0;

	r->ar_event = user != NULL ? "admin.sessions_revoked" : get ?
	    "admin.sessions_shown" : "admin.sessions_flushed";
	if ((user == NULL && !get && !del) || (user != NULL && !del)) {
		adm_error(r, 405, "method_not_allowed",
		    user != NULL ? "DELETE" : "GET or DELETE");
		return;
	}
	if (A.cf->auth.mode != AUTH_KRATOS || A.shm == NULL) {
		adm_error(r, 404, "not_found", "there is no session cache "
		    "(auth.mode is not kratos)");
		return;
	}
	pthread_mutex_lock(&A.mu);
	if (user != NULL)
		rc = shm_sess_revoke_user(A.shm, user, strlen(user), &n);
	else if (get)
		rc = shm_sess_count(A.shm, &n);
	else
		rc = shm_sess_flush(A.shm, &n);
	pthread_mutex_unlock(&A.mu);
	if (rc != SHM_OK) {
		adm_error(r, 503, "service_unavailable",
		    "the shared session cache failed");
		return;
	}
	r->ar_status = 200;
	if (user != NULL)
		r->ar_json = json_pack("{s:s, s:I}", "user_id", user,
		    "revoked", (json_int_t)n);
	else
		r->ar_json = json_pack("{s:I}", get ? "entries" : "flushed",
		    (json_int_t)n);
}

static int
utf8(const char *s)
{
	json_t	*j = json_string(s);	/* NULL unless valid UTF-8 */

	json_decref(j);
	return (j != NULL);
}

static int
qint(struct MHD_Connection *mc, const char *name)
{
	const char	*v = MHD_lookup_connection_value(mc,
			    MHD_GET_ARGUMENT_KIND, name);
	int		 n;

	if (v == NULL || config_parse_int(v, 1, 1000000, &n) == -1)
		return (0);
	return (n);
}

/* Everything under the token: the admin API. */
static void
admin_api(struct MHD_Connection *mc, const char *url, const char *method,
    struct areq *q, struct adm_reply *r)
{
	const char	*rest;
	int		 get = strcmp(method, "GET") == 0;
	int		 post = strcmp(method, "POST") == 0;

	if (strcmp(url, "/_vibewarden/config") == 0)
		rest = "config";
	else if (strcmp(url, "/_vibewarden/config/reload") == 0)
		rest = "reload";
	else
		rest = url + sizeof(ADMIN_PFX) - 1;
	if (!utf8(rest)) {
		/* The answers echo the key, in JSON: UTF-8 only. */
		r->ar_event = "admin.request";
		adm_error(r, 400, "invalid_key", "the path is not UTF-8");
		return;
	}
	if (strcmp(rest, "status") == 0 && get)
		status(r);
	else if (strcmp(rest, "config") == 0 && get)
		config(r);
	else if (strcmp(rest, "reload") == 0 && post)
		reload(r);
	else if (strcmp(rest, "users") == 0)
		admin_users(A.cf, method, NULL, q->body, q->len,
		    qint(mc, "page"), qint(mc, "per_page"), r);
	else if (strncmp(rest, "users/", 6) == 0 && rest[6] != '\0')
		admin_users(A.cf, method, rest + 6, NULL, 0, 0, 0, r);
	else if (strcmp(rest, "sessions") == 0)
		sessions(method, NULL, r);
	else if (strncmp(rest, "sessions/", 9) == 0 && rest[9] != '\0')
		sessions(method, rest + 9, r);
	else if (strncmp(rest, "ratelimit/", 10) == 0 && rest[10] != '\0')
		ratelimit(method, rest + 10, r);
	else if (strcmp(rest, "status") == 0 || strcmp(rest, "config") == 0 ||
	    strcmp(rest, "reload") == 0) {
		r->ar_event = "admin.request";
		adm_error(r, 405, "method_not_allowed",
		    "method not allowed on this resource");
	} else {
		r->ar_event = "admin.request";
		adm_error(r, 404, "not_found", "no such admin endpoint");
	}
}

/*
 * process_* of the master from /proc/<ppid>/stat (world-readable, so it
 * works after the privileges are gone); left out when it cannot be read.
 */
static void
master_stat(struct metrics_extra *ex)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st, start, vsize, btime = 0;
	long			 rss, tck = sysconf(_SC_CLK_TCK),
				 pg = sysconf(_SC_PAGESIZE);
	FILE			*fp;
	int			 n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)getppid());
	if ((fp = fopen(path, "r")) == NULL)
		return;
	n = fgets(buf, sizeof(buf), fp) != NULL;
	fclose(fp);
	/* After the name, which may hold spaces and ')': field 3 on. */
	if (!n || (p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
	    "%*d %*d %*d %*d %llu %llu %ld", &ut, &st, &start, &vsize,
	    &rss) != 5 || tck <= 0)
		return;
	if ((fp = fopen("/proc/stat", "r")) == NULL)
		return;
	while (fgets(buf, sizeof(buf), fp) != NULL)
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	fclose(fp);
	if (btime == 0)
		return;
	ex->me_start_time = (double)btime + (double)start / tck;
	ex->me_cpu_seconds = (double)(ut + st) / tck;
	ex->me_rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)pg : 0;
	ex->me_vsize_bytes = vsize;
}

static void
metrics(struct adm_reply *r)
{
	struct metrics_extra	 ex;

	memset(&ex, 0, sizeof(ex));
	master_stat(&ex);
	if (A.shm != NULL) {
		pthread_mutex_lock(&A.mu);
		ex.me_have_shm = shm_used(A.shm, &ex.me_shm_used,
		    &ex.me_shm_size) == SHM_OK;
		pthread_mutex_unlock(&A.mu);
	}
	r->ar_text = metrics_render(A.cf, counters_base, counters_http_base,
	    &ex, &r->ar_tlen);
	if (r->ar_text == NULL) {
		adm_error(r, 500, "internal_error", "out of memory");
		return;
	}
	r->ar_status = 200;
	r->ar_ctype = "text/plain; version=0.0.4; charset=utf-8";
}

static void
dispatch(struct MHD_Connection *mc, const char *url, const char *method,
    struct areq *q, struct adm_reply *r)
{
	const char	*b;
	int		 st;

	if ((strcmp(url, PFX "health") == 0 || strcmp(url, PFX "healthz") ==
	    0 || strcmp(url, PFX "ready") == 0 || (strcmp(url, PFX "metrics") ==
	    0 && A.cf->telemetry.enabled &&
	    A.cf->telemetry.prometheus.enabled)) &&
	    strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		/* Read-only resources (RFC 9110 15.5.6: 405 with Allow). */
		r->ar_allow = "GET, HEAD";
		adm_error(r, 405, "method_not_allowed", "GET or HEAD");
		return;
	}
	if (strcmp(url, PFX "health") == 0 || strcmp(url, PFX "healthz") ==
	    0 || strcmp(url, PFX "ready") == 0) {
		if (strcmp(url, PFX "ready") == 0)
			b = internal_ready(A.cf, &st);
		else {
			b = internal_health();
			st = 200;
		}
		r->ar_status = st;
		r->ar_text = strdup(b);
		r->ar_tlen = strlen(b);
		r->ar_ctype = "application/json";
		return;
	}
	if (strcmp(url, PFX "metrics") == 0 && A.cf->telemetry.enabled &&
	    A.cf->telemetry.prometheus.enabled) {
		metrics(r);
		return;
	}
	if (strncmp(url, ADMIN_PFX, sizeof(ADMIN_PFX) - 1) == 0 ||
	    strcmp(url, PFX "config") == 0 ||
	    strcmp(url, PFX "config/reload") == 0) {
		if (!A.have_tok) {
			adm_error(r, 404, "not_found", "not found");
			return;
		}
		if (!authorized(mc)) {
			r->ar_event = "admin.unauthorized";
			adm_error(r, 401, "unauthorized",
			    "missing or invalid admin key");
			return;
		}
		if (q->over) {
			r->ar_event = "admin.request";
			adm_error(r, 413, "payload_too_large",
			    "the request body is too large");
			return;
		}
		admin_api(mc, url, method, q, r);
		return;
	}
	adm_error(r, 404, "not_found", "not found");
}

/* ------------------------------------------------------------ MHD glue */

static uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* A request of mc is complete (0) or awaited from now on (1). */
static void
conn_arm(struct MHD_Connection *mc, int on)
{
	const union MHD_ConnectionInfo	*ci;
	struct aconn			*ac;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (ac = ci->socket_context) == NULL)
		return;
	pthread_mutex_lock(&A.mu);
	ac->ac_deadline = on ? mono_ms() + ADM_REQUEST_MS : 0;
	pthread_mutex_unlock(&A.mu);
}

static void
on_conn(void *cls, struct MHD_Connection *mc, void **sctx,
    enum MHD_ConnectionNotificationCode what)
{
	const union MHD_ConnectionInfo	*ci;
	struct aconn			*ac = *sctx, **pp;

	(void)cls;
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (ac = calloc(1, sizeof(*ac))) == NULL)
			return;
		ac->ac_fd = ci->connect_fd;
		pthread_mutex_lock(&A.mu);
		ac->ac_deadline = mono_ms() + ADM_REQUEST_MS;
		ac->ac_next = A.conns;
		A.conns = ac;
		pthread_mutex_unlock(&A.mu);
		*sctx = ac;
		return;
	}
	if (ac == NULL)
		return;
	pthread_mutex_lock(&A.mu);
	for (pp = &A.conns; *pp != NULL; pp = &(*pp)->ac_next)
		if (*pp == ac) {
			*pp = ac->ac_next;
			break;
		}
	pthread_mutex_unlock(&A.mu);
	free(ac);
	*sctx = NULL;
}

/* Cut the connections whose request is late (main thread). */
static void
conns_reap(void)
{
	struct aconn	*ac;
	uint64_t	 now = mono_ms();

	pthread_mutex_lock(&A.mu);
	for (ac = A.conns; ac != NULL; ac = ac->ac_next)
		if (ac->ac_deadline != 0 && now > ac->ac_deadline) {
			shutdown(ac->ac_fd, SHUT_RDWR);
			ac->ac_deadline = 0;
		}
	pthread_mutex_unlock(&A.mu);
}

static void
log_call(struct MHD_Connection *mc, const char *method, const char *url,
    const struct adm_reply *r)
{
	const union MHD_ConnectionInfo	*ci;
	struct logev			 le;
	char				 ip[64] = "";

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL)
		getnameinfo(ci->client_addr, ci->client_addr->sa_family ==
		    AF_INET6 ? sizeof(struct sockaddr_in6) :
		    sizeof(struct sockaddr_in), ip, sizeof(ip), NULL, 0,
		    NI_NUMERICHOST);
	pthread_mutex_lock(&A.mu);
	logev_init(&le, r->ar_status >= 400 ? LOG_LVL_WARN : LOG_LVL_INFO,
	    r->ar_status == 401 ? "medium" : "info", "admin", r->ar_event);
	le.le_outcome = r->ar_status < 400 ? "allowed" : r->ar_status == 401 ?
	    "blocked" : "failed";
	le.le_actor_ip = ip[0] ? ip : NULL;
	logev_summary(&le, "admin %s %.120s -> %d", method, url,
	    r->ar_status);
	logev_cstr(&le, "method", method);
	logev_str(&le, "path", url, strnlen(url, 512));
	logev_int(&le, "status", r->ar_status);
	logev_emit(&le);
	log_flush();
	pthread_mutex_unlock(&A.mu);
}

static enum MHD_Result
send_reply(struct MHD_Connection *mc, struct adm_reply *r)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 rc;
	char			*txt;
	size_t			 len;

	if (r->ar_json != NULL) {
		txt = json_dumps(r->ar_json, JSON_COMPACT);
		len = txt ? strlen(txt) : 0;
		r->ar_ctype = "application/json";
	} else {
		txt = r->ar_text;
		len = r->ar_tlen;
		r->ar_text = NULL;
	}
	if (txt == NULL)
		return (MHD_NO);
	resp = MHD_create_response_from_buffer(len, txt, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(txt);
		return (MHD_NO);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    r->ar_ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	if (r->ar_status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"vibewarden-admin\"");
	if (r->ar_allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    r->ar_allow);
	rc = MHD_queue_response(mc, (unsigned)r->ar_status, resp);
	MHD_destroy_response(resp);
	return (rc);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *up, size_t *upsz,
    void **ctx)
{
	struct areq		*q = *ctx;
	struct adm_reply	 r;
	enum MHD_Result		 rc;
	char			*nb;

	(void)cls;
	(void)version;
	if (q == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return (MHD_NO);
		*ctx = q;
		return (MHD_YES);
	}
	if (*upsz > 0) {
		if (!q->over && q->len + *upsz <= ADM_BODY_MAX &&
		    (nb = realloc(q->body, q->len + *upsz + 1)) != NULL) {
			q->body = nb;
			memcpy(q->body + q->len, up, *upsz);
			q->len += *upsz;
			q->body[q->len] = '\0';
		} else
			q->over = 1;
		*upsz = 0;
		return (MHD_YES);
	}
	conn_arm(mc, 0);
	memset(&r, 0, sizeof(r));
	dispatch(mc, url, method, q, &r);
	if (r.ar_json == NULL && r.ar_text == NULL)
		adm_error(&r, 500, "internal_error", "out of memory");
	if (r.ar_event != NULL)
		log_call(mc, method, url, &r);
	rc = send_reply(mc, &r);
	json_decref(r.ar_json);
	free(r.ar_text);
	return (rc);
}

static void
on_done(void *cls, struct MHD_Connection *mc, void **ctx,
    enum MHD_RequestTerminationCode why)
{
	struct areq	*q = *ctx;

	(void)cls;
	(void)why;
	conn_arm(mc, 1);	/* the next request on this connection */
	if (q != NULL) {
		free(q->body);
		free(q);
		*ctx = NULL;
	}
}

/*
 * A socket on admin.listen.  SO_REUSEADDR, and a few seconds of retries:
 * after a reload the old generation's admin process still holds the port
 * until it has finished.  Not SO_REUSEPORT, which would let a second
 * vibewarden share the port silently.
 */
static int
listen_on(const char *hp)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	const char	*c, *port;
	int		 fd, on = 1, i, rc;

	if ((c = strrchr(hp, ':')) == NULL || (size_t)(c - hp) >= sizeof(host))
		return (-1);
	if (hp[0] == '[' && c > hp + 1 && c[-1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(c - hp - 2), hp + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)(c - hp), hp);
	port = c + 1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) !=
	    0) {
		log_sys(LOG_LVL_ERROR, "admin.listen_failed", "admin.listen %s: "
		    "%s", hp, gai_strerror(rc));
		return (-1);
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	for (i = 0; i < BIND_TRIES; i++) {
		if (bind(fd, res->ai_addr, res->ai_addrlen) == 0)
			break;
		if (errno != EADDRINUSE || helper_stopping())
			goto fail;
		helper_sleep(100);
	}
	if (i == BIND_TRIES || listen(fd, 64) == -1)
		goto fail;
	freeaddrinfo(res);
	return (fd);
 fail:
	log_sys(LOG_LVL_ERROR, "admin.listen_failed", "admin.listen %s: %s",
	    hp, strerror(errno));
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return (-1);
}

void
admin_main(const struct config *cf)
{
	struct MHD_Daemon	*d;
	const char		*err;
	uint64_t		 now, last = 0;
	int			 fd;

	A.cf = cf;
	pthread_mutex_init(&A.mu, NULL);
	load_token(cf);
	if ((fd = listen_on(cf->admin.listen)) == -1)
		return;
	if (helper_drop_privileges(cf) == -1)
		return;
	if (rl_needs_shm(cf) && (A.shm = shm_open(cf->shm.path,
	    cf->shm.map_size, 0, &err)) == NULL)
		log_sys(LOG_LVL_WARN, "admin.shm_failed", "shm %s: %s; no "
		    "rate-limit endpoints or shm metrics", cf->shm.path, err);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL,
	    on_request, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADM_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADM_TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, on_conn, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		log_sys(LOG_LVL_ERROR, "admin.listen_failed", "admin.listen %s: "
		    "libmicrohttpd did not start", cf->admin.listen);
		close(fd);
		return;
	}
	pthread_mutex_lock(&A.mu);
	log_sys(LOG_LVL_INFO, "admin.started", "admin listener on %s (admin "
	    "API %s, metrics %s)", cf->admin.listen, A.have_tok ? "on" : "off",
	    cf->telemetry.enabled && cf->telemetry.prometheus.enabled ? "on" :
	    "off");
	log_flush();
	pthread_mutex_unlock(&A.mu);
	/* Probe once a second while /ready was asked in the last 10 s. */
	while (!helper_stopping()) {
		helper_sleep(PROBE_TICK_MS);
		conns_reap();
		now = util_now_update();
		if (!helper_stopping() && now - last >= PROBE_MS &&
		    counters_ready_wanted(now > PROBE_WANTED_MS ?
		    now - PROBE_WANTED_MS : 0)) {
			probe(cf);
			last = now;
		}
	}
	/*
	 * Give the port up at once (the next generation's admin process is
	 * waiting for it), then let the connections still open finish.
	 */
	if (MHD_quiesce_daemon(d) != MHD_INVALID_SOCKET)
		close(fd);
	MHD_stop_daemon(d);
	shm_close(A.shm);
	curl_global_cleanup();
}
