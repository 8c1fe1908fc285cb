/*
 * health.c: the active upstream health prober (upstream.health), one
 * helper process per host (helper.h), never one per worker.  Every
 * interval it sends GET upstream.health.path over a fresh connection
 * (TLS with the workers' verification settings for an https upstream)
 * and publishes the verdict in the shared struct vw_resil (counters.h),
 * where workers and the admin process read it without locks.  It may
 * block: a probe has a deadline (upstream.health.timeout) and nothing
 * else waits on this process.  Helper process only.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "counters.h"
#include "health.h"
#include "helper.h"
#include "log.h"
#include "master.h"
#include "tls.h"
#include "util.h"

static SSL_CTX	*ctx;

static uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static uint64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The workers' client settings (tls.c client_ctx): verify unless told. */
static SSL_CTX *
probe_ctx(const struct config *cf)
{
	SSL_CTX	*c;

	if ((c = SSL_CTX_new(TLS_client_method())) == NULL)
		return (NULL);
	if (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION))
		goto fail;
	if (cf->upstream.tls_insecure)
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
		if (cf->upstream.tls_ca_file != NULL) {
			if (tls_ca_current() == NULL)
				goto fail;
			SSL_CTX_set1_cert_store(c, tls_ca_current());
		} else if (SSL_CTX_set_default_verify_paths(c) != 1)
			goto fail;
	}
	return (c);
 fail:
	SSL_CTX_free(c);
	return (NULL);
}

/* Milliseconds left before deadline, at least 1 while any is left. */
static int
left(uint64_t deadline)
{
	uint64_t	 now = mono_ms();

	return (now >= deadline ? 0 : (int)(deadline - now));
}

static int
wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd	 p;
	int		 ms;

	p.fd = fd;
	p.events = ev;
	if ((ms = left(deadline)) == 0)
		return (-1);
	return (poll(&p, 1, ms) == 1 ? 0 : -1);
}

static int
connect_to(const struct config *cf, uint64_t deadline, char *err,
    size_t elen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*why;
	int			 fd, e = 0;
	socklen_t		 el = sizeof(e);

	if (master_resolve(cf->upstream.host, cf->upstream.port, &ss, &len,
	    &why) == -1) {
		snprintf(err, elen, "cannot resolve %s: %s", cf->upstream.host,
		    why);
		return (-1);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		snprintf(err, elen, "socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(err, elen, "connect: %s", strerror(errno));
		goto fail;
	}
	if (wait_fd(fd, POLLOUT, deadline) == -1) {
		snprintf(err, elen, "connect timed out");
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1 || e != 0) {
		snprintf(err, elen, "connect: %s", strerror(e ? e : errno));
		goto fail;
	}
	return (fd);
 fail:
	close(fd);
	return (-1);
}

/* Plain or TLS I/O on a non-blocking socket, bounded by deadline. */
static ssize_t
io(int fd, SSL *s, void *p, size_t n, int wr, uint64_t deadline)
{
	ssize_t	 r;
	int	 e;

	for (;;) {
		if (s == NULL) {
			r = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
			if (r >= 0)
				return (r);
			if (errno != EAGAIN && errno != EINTR)
				return (-1);
			e = wr ? POLLOUT : POLLIN;
		} else {
			r = wr ? SSL_write(s, p, (int)n) : SSL_read(s, p, (int)n);
			if (r > 0)
				return (r);
			switch (SSL_get_error(s, (int)r)) {
			case SSL_ERROR_WANT_READ:
				e = POLLIN;
				break;
			case SSL_ERROR_WANT_WRITE:
				e = POLLOUT;
				break;
			case SSL_ERROR_ZERO_RETURN:
				return (0);
			default:
				return (-1);
			}
		}
		if (wait_fd(fd, (short)e, deadline) == -1) {
			errno = ETIMEDOUT;
			return (-1);
		}
	}
}

static int
tls_start(const struct config *cf, int fd, SSL **sp, uint64_t deadline,
    char *err, size_t elen)
{
	struct in6_addr	 a;
	SSL		*s;
	int		 r, isip;

	if ((s = SSL_new(ctx)) == NULL || !SSL_set_fd(s, fd))
		goto fail;
	isip = inet_pton(AF_INET, cf->upstream.host, &a) == 1 ||
	    inet_pton(AF_INET6, cf->upstream.host, &a) == 1;
	if (!isip && !SSL_set_tlsext_host_name(s, cf->upstream.host))
		goto fail;
	if (!cf->upstream.tls_insecure && (isip ?
	    !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s),
	    cf->upstream.host) : !SSL_set1_host(s, cf->upstream.host)))
		goto fail;
	*sp = s;
	for (;;) {
		if ((r = SSL_connect(s)) == 1)
			return (0);
		r = SSL_get_error(s, r);
		if ((r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE) ||
		    wait_fd(fd, r == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    deadline) == -1)
			break;
	}
	snprintf(err, elen, "TLS handshake failed: %s",
	    SSL_get_verify_result(s) != X509_V_OK ?
	    X509_verify_cert_error_string(SSL_get_verify_result(s)) :
	    "no handshake");
	ERR_clear_error();
	return (-1);
 fail:
	snprintf(err, elen, "TLS setup failed");
	ERR_clear_error();
	SSL_free(s);
	*sp = NULL;
	return (-1);
}

int
health_probe(const struct config *cf, char *err, size_t elen)
{
	const struct cf_upstream *u = &cf->upstream;
	uint64_t	 deadline = mono_ms() + u->health.timeout_ms;
	char		 req[1024], resp[256];
	size_t		 len, got = 0;
	ssize_t		 n;
	SSL		*s = NULL;
	int		 fd, status = -1, ipv6;

	if ((fd = connect_to(cf, deadline, err, elen)) == -1)
		return (-1);
	if (u->tls && (ctx == NULL ||
	    tls_start(cf, fd, &s, deadline, err, elen) == -1))
		goto done;
	ipv6 = strchr(u->host, ':') != NULL;
	len = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n"
	    "Host: %s%s%s:%d\r\nUser-Agent: vibewarden-health\r\n"
	    "Accept: */*\r\nConnection: close\r\n\r\n", u->health.path,
	    ipv6 ? "[" : "", u->host, ipv6 ? "]" : "", u->port);
	if (len >= sizeof(req)) {
		snprintf(err, elen, "health check path too long");
		goto done;
	}
	for (got = 0; got < len; got += (size_t)n)
		if ((n = io(fd, s, req + got, len - got, 1, deadline)) <= 0) {
			snprintf(err, elen, "sending the probe: %s",
			    errno == ETIMEDOUT ? "timed out" : strerror(errno));
			goto done;
		}
	/* The status line is all that matters: "HTTP/1.x NNN". */
	for (got = 0; got < 12; got += (size_t)n)
		if ((n = io(fd, s, resp + got, sizeof(resp) - 1 - got, 0,
		    deadline)) <= 0) {
			snprintf(err, elen, "%s", n == 0 ?
			    "connection closed without a response" :
			    errno == ETIMEDOUT ? "no response in time" :
			    "reading the response failed");
			goto done;
		}
	resp[got] = '\0';
	if (memcmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ' ||
	    sscanf(resp + 9, "%3d", &status) != 1) {
		snprintf(err, elen, "not an HTTP response");
		status = -1;
		goto done;
	}
	if (status < 200 || status > 399)
		snprintf(err, elen, "status %d from %s", status, u->health.path);
 done:
	if (s != NULL) {
		SSL_free(s);
		ERR_clear_error();
	}
	close(fd);
	return (status >= 200 && status <= 399 ? 0 : -1);
}

static void
publish(const struct config *cf, uint32_t st, const char *why)
{
	struct vw_resil	*r = counters_resil;
	struct logev	 le;
	int		 bad = st == HS_UNHEALTHY;

	/* h_error keeps the last failure, also once healthy again. */
	if (bad) {
		__atomic_add_fetch(&r->h_seq, 1, __ATOMIC_ACQ_REL);
		snprintf(r->h_error, sizeof(r->h_error), "%.127s", why);
		__atomic_add_fetch(&r->h_seq, 1, __ATOMIC_ACQ_REL);
	}
	__atomic_store_n(&r->h_since, wall_ms(), __ATOMIC_RELEASE);
	__atomic_store_n(&r->h_state, st, __ATOMIC_RELEASE);
	logev_init(&le, bad ? LOG_LVL_ERROR : LOG_LVL_INFO,
	    bad ? "high" : "info", "resilience",
	    bad ? "upstream.unhealthy" : "upstream.healthy");
	logev_summary(&le, "upstream %s:%d is %s%s%s", cf->upstream.host,
	    cf->upstream.port, bad ? "unhealthy" : "healthy",
	    bad ? ": " : "", bad ? why : "");
	logev_cstr(&le, "reason", why);
	logev_cstr(&le, "path", cf->upstream.health.path);
	logev_int(&le, "threshold", bad ? cf->upstream.health.
	    unhealthy_threshold : cf->upstream.health.healthy_threshold);
	logev_emit(&le);
	log_flush();
}

int
health_wanted(const struct config *cf)
{
	return (cf->upstream.health.enabled);
}

void
health_main(const struct config *cf)
{
	const struct cf_upstream *u = &cf->upstream;
	struct vw_resil	*r = counters_resil;
	char		 err[128], why[160];
	int		 good = 0, bad = 0;
	uint64_t	 t0, spent;
	uint32_t	 st;

	if (u->tls && (ctx = probe_ctx(cf)) == NULL)
		log_sys(LOG_LVL_ERROR, "upstream.health_failed",
		    "cannot set up TLS for health probes");
	if (helper_drop_privileges(cf) == -1 || r == NULL)
		return;
	while (!helper_stopping()) {
		t0 = mono_ms();
		err[0] = '\0';
		__atomic_add_fetch(&r->h_probes, 1, __ATOMIC_ACQ_REL);
		st = __atomic_load_n(&r->h_state, __ATOMIC_ACQUIRE);
		if (health_probe(cf, err, sizeof(err)) == 0) {
			bad = 0;
			if (++good >= u->health.healthy_threshold &&
			    st != HS_HEALTHY) {
				snprintf(why, sizeof(why), "%d good probes "
				    "in a row", good);
				publish(cf, HS_HEALTHY, why);
			}
		} else {
			good = 0;
			if (++bad >= u->health.unhealthy_threshold &&
			    st != HS_UNHEALTHY) {
				snprintf(why, sizeof(why), "%d failed probes "
				    "in a row, last: %s", bad, err);
				publish(cf, HS_UNHEALTHY, why);
			} else if (st == HS_UNHEALTHY) {
				__atomic_add_fetch(&r->h_seq, 1,
				    __ATOMIC_ACQ_REL);
				snprintf(r->h_error, sizeof(r->h_error), "%s",
				    err);
				__atomic_add_fetch(&r->h_seq, 1,
				    __ATOMIC_ACQ_REL);
			}
		}
		spent = mono_ms() - t0;
		if (spent < u->health.interval_ms)
			helper_sleep(u->health.interval_ms - spent);
	}
	SSL_CTX_free(ctx);
	ctx = NULL;
}
