/*
 * redirect.c: the plain-HTTP listener of server.http_redirect_port
 * (SPEC.md 2).  Each request head is read and checked by the same strict
 * parser as on the main port, then answered with 308 to the https URL of
 * the same host and target, and the connection is closed; the ACME
 * helper's http-01 challenges are answered instead.  Nothing here
 * contacts the upstream.  Worker only: non-blocking, fixed buffers, and
 * bounded by server.header_timeout.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "certpage.h"
#include "http_parse.h"
#include "log.h"
#include "pipe.h"
#include "redirect.h"
#include "worker.h"

#define RD_HEAD		8192	/* a redirect needs no more */
#define RD_OUT		(RD_HEAD + 512)

struct rconn {
	struct ev_io	 rc_io;		/* first: the callback casts */
	struct timer	 rc_timer;
	int		 rc_dead;
	size_t		 rc_len, rc_scan;
	size_t		 rc_off, rc_outlen;	/* answer being written */
	char		 rc_in[RD_HEAD];
	char		 rc_out[RD_OUT];
};

static struct ev_io	 rlio = { -1, NULL };
static struct timer	 rpause;
static int		 ractive;

static void	 rconn_io(struct ev_io *, uint32_t);

static void
rconn_close(struct rconn *rc)
{
	if (rc->rc_dead)
		return;
	rc->rc_dead = 1;
	timer_del(&rc->rc_timer);
	close(rc->rc_io.io_fd);
	ev_defer_free(rc);
}

static void
rconn_timeout(struct timer *t)
{
	rconn_close((struct rconn *)((char *)t -
	    offsetof(struct rconn, rc_timer)));
}

/* The authority without its port; IPv6 literals keep their brackets. */
static size_t
host_only(const struct vw_str *h)
{
	size_t	 i;

	if (h->len > 0 && h->p[0] == '[') {
		for (i = 0; i < h->len; i++)
			if (h->p[i] == ']')
				return (i + 1);
		return (h->len);
	}
	for (i = 0; i < h->len; i++)
		if (h->p[i] == ':')
			return (i);
	return (h->len);
}

/*
 * RFC 8555 8.3: the ACME helper's pending http-01 challenges (certpage.h)
 * are answered here with their key authorization; an unknown token is a
 * 404, so the CA sees a clear failure rather than a redirect.  1 when
 * the answer is built, 0 when path is no challenge (or ACME is off).
 */
static int
acme_answer(struct rconn *rc, const struct http_msg *m)
{
	static const char pfx[] = "/.well-known/acme-challenge/";
	static const char nf[] = "{\"error\":\"not_found\",\"status\":404,"
			    "\"message\":\"no such ACME challenge\"}\n";
	char		 ka[CP_KEYAUTH_MAX + 1];
	const struct vw_str *p = &m->m_path;
	int		 n, klen;

	if (!certpage_active() || p->len < sizeof(pfx) - 1 ||
	    memcmp(p->p, pfx, sizeof(pfx) - 1) != 0 ||
	    (m->m_meth != HM_GET && m->m_meth != HM_HEAD))
		return (0);
	klen = certpage_challenge(p->p + sizeof(pfx) - 1, p->len -
	    (sizeof(pfx) - 1), ka, sizeof(ka));
	if (klen < 0)
		n = snprintf(rc->rc_out, sizeof(rc->rc_out),
		    "HTTP/1.1 404 Not Found\r\nContent-Type: "
		    "application/json\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n%s", strlen(nf),
		    m->m_meth == HM_HEAD ? "" : nf);
	else
		n = snprintf(rc->rc_out, sizeof(rc->rc_out),
		    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		    klen, m->m_meth == HM_HEAD ? "" : ka);
	rc->rc_outlen = n > 0 && (size_t)n < sizeof(rc->rc_out) ? (size_t)n :
	    0;
	return (1);
}

/* Build the answer for the head in rc_in[0..hl). */
static void
answer(struct rconn *rc, size_t hl)
{
	static const char bad[] = "{\"error\":\"bad_request\",\"status\":"
			    "400,\"message\":\"malformed request\"}\n";
	static char	 abuf[16384];
	struct arena	 a;
	struct http_msg	 m;
	struct vw_str	 host, path, query;
	char		 port[8] = "";
	int		 st, n;

	arena_init(&a, abuf, sizeof(abuf));
	memset(&m, 0, sizeof(m));
	st = http_parse_request(rc->rc_in, hl, &m, &a);
	host = m.m_host;
	if (st == 0 && host.len == 0) {
		host.p = W.w_hostname;
		host.len = strlen(W.w_hostname);
	}
	if (st != 0 || host.len == 0 || (m.m_flags & M_ASTERISK)) {
		n = snprintf(rc->rc_out, sizeof(rc->rc_out),
		    "HTTP/1.1 400 Bad Request\r\nContent-Type: "
		    "application/json\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n%s", strlen(bad), bad);
		rc->rc_outlen = (size_t)n;
		return;
	}
	if (acme_answer(rc, &m))
		return;
	if (W.w_conf->server.port != 443)
		snprintf(port, sizeof(port), ":%d", W.w_conf->server.port);
	/* The target as sent; an absolute-form one by its parts. */
	if (m.m_target.len > 0 && m.m_target.p[0] == '/') {
		path = m.m_target;
		query.len = 0;
		query.p = "";
	} else {
		path = m.m_path;
		query = m.m_query;
	}
	/* RFC 9110 15.4.9: 308 keeps the method and body. */
	n = snprintf(rc->rc_out, sizeof(rc->rc_out),
	    "HTTP/1.1 308 Permanent Redirect\r\n"
	    "Location: https://%.*s%s%.*s%s%.*s\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n",
	    (int)host_only(&host), host.p, port, (int)path.len, path.p,
	    query.len ? "?" : "", (int)query.len, query.p);
	if (n < 0 || (size_t)n >= sizeof(rc->rc_out)) {
		rc->rc_outlen = 0;
		return;
	}
	rc->rc_outlen = (size_t)n;
}

static void
rconn_run(struct rconn *rc)
{
	ssize_t	 n, hl;

	while (rc->rc_outlen == 0) {
		n = read(rc->rc_io.io_fd, rc->rc_in + rc->rc_len,
		    sizeof(rc->rc_in) - rc->rc_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			rconn_close(rc);
			return;
		}
		rc->rc_len += (size_t)n;
		hl = http_head_end(rc->rc_in, rc->rc_len, &rc->rc_scan,
		    sizeof(rc->rc_in), 1);
		if (hl < 0 || (hl == 0 && rc->rc_len == sizeof(rc->rc_in))) {
			rconn_close(rc);
			return;
		}
		if (hl > 0) {
			answer(rc, (size_t)hl);
			if (rc->rc_outlen == 0) {
				rconn_close(rc);
				return;
			}
		}
	}
	while (rc->rc_off < rc->rc_outlen) {
		n = write(rc->rc_io.io_fd, rc->rc_out + rc->rc_off,
		    rc->rc_outlen - rc->rc_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			rconn_close(rc);
			return;
		}
		rc->rc_off += (size_t)n;
	}
	shutdown(rc->rc_io.io_fd, SHUT_WR);
	rconn_close(rc);
}

static void
rconn_io(struct ev_io *io, uint32_t events)
{
	struct rconn	*rc = (struct rconn *)io;

	if (!rc->rc_dead)
		rconn_run(rc);
}

static void
resume(struct timer *t)
{
	if (ractive && ev_add_listener(&rlio) == -1)
		timer_set(&rpause, &W.w_q[TQ_ACCEPT], resume);
}

static void
raccept(struct ev_io *io, uint32_t events)
{
	struct sockaddr_storage	 ss;
	struct ipaddr	 peer;
	struct rconn	*rc;
	socklen_t	 sl;
	int		 fd, i;

	for (i = 0; i < 16; i++) {
		sl = sizeof(ss);
		fd = accept4(io->io_fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				ev_del(&rlio);
				timer_set(&rpause, &W.w_q[TQ_ACCEPT], resume);
			}
			return;
		}
		if (ipaddr_from_sa(&ss, &peer) == 0 &&
		    ipfilter_peer_refused(&peer)) {
			close(fd);	/* the IP filter, as on the TLS port */
			log_peer_refused(&peer);
			continue;
		}
		if ((rc = calloc(1, sizeof(*rc))) == NULL) {
			close(fd);
			continue;
		}
		rc->rc_io.io_fd = fd;
		rc->rc_io.io_cb = rconn_io;
		if (ev_add(&rc->rc_io) == -1) {
			close(fd);
			free(rc);
			continue;
		}
		timer_set(&rc->rc_timer, &W.w_q[TQ_HEADER], rconn_timeout);
		rconn_run(rc);
	}
}

int
redirect_listen(int fd)
{
	rlio.io_fd = fd;
	rlio.io_cb = raccept;
	if (ev_add_listener(&rlio) == -1)
		return (-1);
	ractive = 1;
	return (0);
}

void
redirect_stop(void)
{
	if (!ractive)
		return;
	ractive = 0;
	timer_del(&rpause);
	ev_del(&rlio);
	close(rlio.io_fd);
}
