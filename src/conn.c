/*
 * conn.c: client connections of a worker: accept, read and parse request
 * heads, run the pipeline, send vibewarden's own answers, keep-alive and
 * pipelining, timeouts.  The exchange with the upstream is proxy.c's.
 * Worker only: nothing here blocks, and no client input can kill the
 * process (bad input is answered and the connection closed).
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "kratos.h"
#include "errresp.h"
#include "h2.h"
#include "log.h"
#include "metrics.h"
#include "pipe.h"
#include "proxy.h"
#include "ratelimit.h"
#include "upstream.h"
#include "util.h"
#include "waf.h"
#include "worker.h"

#define ACCEPT_BATCH	32
#define POOL_MAX	256	/* cached blocks per class */

/* ------------------------------------------------------------ endpoints */

static ssize_t
plain_recv(struct endp *ep, void *p, size_t n)
{
	return (read(ep->ep_io.io_fd, p, n));
}

static ssize_t
plain_writev(struct endp *ep, const struct iovec *iov, int n)
{
	return (writev(ep->ep_io.io_fd, iov, n));
}

static void
plain_shutdown(struct endp *ep)
{
	shutdown(ep->ep_io.io_fd, SHUT_WR);
}

static void
plain_close(struct endp *ep)
{
	close(ep->ep_io.io_fd);
}

static int
plain_established(const struct endp *ep)
{
	return (1);
}

const struct endp_ops endp_plain_ops = {
	plain_recv, plain_writev, plain_shutdown, plain_close,
	plain_established
};

void
endp_events(struct endp *ep, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ep->ep_readable = 1;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ep->ep_rdhup = 1;
	if (events & EPOLLPRI)
		ep->ep_urg = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		ep->ep_writable = 1;
	if (ep->ep_rwantw && ep->ep_writable)
		ep->ep_readable = 1;
	if (ep->ep_wwantr && ep->ep_readable)
		ep->ep_writable = 1;
}

ssize_t
endp_fill(struct endp *ep)
{
	struct buf	*b = &ep->ep_in;
	ssize_t		 n;

	if (b->b_start == b->b_end)
		b->b_start = b->b_end = 0;
	else if (b->b_end == b->b_cap && b->b_start > 0) {
		memmove(b->b_data, b->b_data + b->b_start, buf_avail(b));
		b->b_end -= b->b_start;
		b->b_start = 0;
	}
	if (b->b_end == b->b_cap)
		return (-2);
	for (;;) {
		n = ep->ep_ops->eo_recv(ep, b->b_data + b->b_end,
		    b->b_cap - b->b_end);
		if (n > 0) {
			/*
			 * A socket that gave less than was asked for is empty:
			 * with edge-triggered epoll, anything that arrives
			 * after raises a new event.  Without this, the read for
			 * the next keep-alive request came right after each
			 * answer and found nothing (one EAGAIN per request).
			 * Not after a FIN (the 0 of the next read is the EOF),
			 * nor after TCP urgent data (a read stops at its mark
			 * with more queued behind it), nor under TLS or
			 * HTTP/2, whose layers buffer.
			 */
			if ((size_t)n < b->b_cap - b->b_end && !ep->ep_rdhup &&
			    !ep->ep_urg && ep->ep_ops == &endp_plain_ops)
				ep->ep_readable = 0;
			b->b_end += (size_t)n;
			return (n);
		}
		if (n == 0) {
			ep->ep_eof = 1;
			ep->ep_readable = 0;
			return (0);
		}
		if (errno == EINTR)
			continue;
		ep->ep_readable = 0;
		if (errno != EAGAIN)
			ep->ep_err = 1;
		return (-1);
	}
}

/* ------------------------------------------------------------ block pool */

static struct {
	size_t	  size;
	void	**free;
	size_t	  nfree;
} pools[BLK_NCLASS];

void
blk_init(const size_t sizes[BLK_NCLASS])
{
	int	 i;

	for (i = 0; i < BLK_NCLASS; i++) {
		while (pools[i].nfree > 0)
			free(pools[i].free[--pools[i].nfree]);
		free(pools[i].free);
		pools[i].size = sizes[i];
		pools[i].free = calloc(POOL_MAX, sizeof(void *));
	}
}

void
blk_trim(size_t keep)
{
	int	 i;

	for (i = 0; i < BLK_NCLASS; i++)
		while (pools[i].nfree > keep)
			free(pools[i].free[--pools[i].nfree]);
}

size_t
blk_size(int cls)
{
	return (pools[cls].size);
}

void *
blk_get(int cls)
{
	if (pools[cls].nfree > 0)
		return (pools[cls].free[--pools[cls].nfree]);
	return (malloc(pools[cls].size));
}

void
blk_put(int cls, void *p)
{
	if (p == NULL)
		return;
	if (pools[cls].free != NULL && pools[cls].nfree < POOL_MAX)
		pools[cls].free[pools[cls].nfree++] = p;
	else
		free(p);
}

/* ------------------------------------------------------------ requests */

/*
 * A fresh request context in one BLK_REQ block: struct req, then the
 * arena, then the upstream head buffer, then the client head buffer.
 */
static struct req *
req_new(struct conn *cn)
{
	struct req	*rq;
	char		*p;
	size_t		 total = blk_size(BLK_REQ), hdr;
	size_t		 arena_sz = REQ_ARENA;

	if ((p = blk_get(BLK_REQ)) == NULL)
		return (NULL);
	rq = (struct req *)p;
	memset(rq, 0, sizeof(*rq));
	rq->rq_conn = cn;
	rq->rq_conf = W.w_conf;
	rq->rq_start_ms = util_now_ms;
	memcpy(rq->rq_cip, cn->cn_ip, sizeof(rq->rq_cip));
	hdr = (sizeof(*rq) + 63) & ~(size_t)63;
	arena_init(&rq->rq_arena, p + hdr, arena_sz);
	rq->rq_uphead = p + hdr + arena_sz;
	rq->rq_uphead_cap = W.w_conf->server.max_header_bytes + 4096;
	rq->rq_clhead = rq->rq_uphead + rq->rq_uphead_cap;
	rq->rq_clhead_cap = total - hdr - arena_sz - rq->rq_uphead_cap;
	cn->cn_req = rq;
	return (rq);
}

void
req_consume_head(struct req *rq)
{
	rq->rq_conn->cn_ep.ep_in.b_start += rq->rq_headlen;
	rq->rq_headlen = 0;
}

static void
unpark(struct conn *cn)
{
	if (cn->cn_parked == NULL)
		return;
	if (cn->cn_parkbig) {
		free(cn->cn_parked);
		W.w_heapin -= cn->cn_parkcap;
	} else
		blk_put(BLK_CLIENT, cn->cn_parked);
	cn->cn_parked = NULL;
	cn->cn_parkbig = 0;
}

static void
req_free(struct conn *cn)
{
	proxy_req_done(cn->cn_req);
	blk_put(BLK_REQ, cn->cn_req);
	cn->cn_req = NULL;
	unpark(cn);
}

int
conn_grow_inbuf(struct conn *cn, size_t cap)
{
	struct buf	*b = &cn->cn_ep.ep_in;
	char		*nb;

	if (cap < buf_avail(b) || (nb = malloc(cap)) == NULL)
		return (-1);
	W.w_heapin += cap;
	memcpy(nb, b->b_data + b->b_start, buf_avail(b));
	if (cn->cn_parked == NULL) {
		cn->cn_parked = b->b_data;
		cn->cn_parkbig = cn->cn_bigin;
		cn->cn_parkcap = b->b_cap;
	} else if (cn->cn_bigin) {
		free(b->b_data);	/* an earlier growth of this request */
		W.w_heapin -= b->b_cap;
	} else
		blk_put(BLK_CLIENT, b->b_data);
	b->b_data = nb;
	b->b_end = buf_avail(b);
	b->b_start = 0;
	b->b_cap = cap;
	cn->cn_bigin = 1;
	return (0);
}

static void	 emit_log(struct conn *, struct req *);
static void	 waf_fields(struct logev *, struct req *,
		    const struct waf_det *);

/* The request's counters in this worker's slot (counters.h): no locks. */
static void
count_request(struct req *rq, int st, uint64_t dur)
{
	struct vw_counters	*c = W.w_ctr;
	int			 m;

	if (c == NULL)
		return;
	counters_request(c, st, rq->rq_back.fl_bytes, dur);
	counters_http(c, rq->rq_meth, metrics_path_index(
	    &W.w_conf->telemetry.path_patterns, rq->rq_lpath), st, dur);
	if (rq->rq_event == EV_UPSTREAM_ERROR ||
	    rq->rq_event == EV_FD_EXHAUSTED)
		c->c_upstream_errors++;
	else if (rq->rq_event == EV_UPSTREAM_TIMEOUT)
		c->c_upstream_timeouts++;
	else if (rq->rq_event == EV_UNAVAILABLE)
		c->c_unavailable++;
	else if (rq->rq_event == EV_IP_BLOCKED)
		c->c_ip_blocks++;
	else if (rq->rq_event == EV_CSRF_BLOCKED)
		c->c_csrf_blocks++;
	else if (rq->rq_event == EV_RATE_LIMITED && rq->rq_rlkind != NULL)
		c->c_rl_hits[rq->rq_rlkind[0] == 'i' ? 0 :
		    rq->rq_rlkind[0] == 'u' ? 1 : 2]++;
	/*
	 * Authentication: refusals by reason, and requests let in with an
	 * identity, whatever came after (public paths are no decision).
	 */
	m = W.w_conf->auth.mode;
	if (m > 0 && m < 4 && rq->rq_event == EV_AUTH_DENIED)
		c->c_auth[m][counters_auth_reason(rq->rq_authwhy != NULL ?
		    rq->rq_authwhy : "other")]++;
	else if (m > 0 && m < 4 && rq->rq_uid.len > 0)
		c->c_auth[m][0]++;
}

static const char *const ev_names[EV__COUNT] = {
	"request.proxied", "request.blocked", "request.internal",
	"upstream.timeout", "upstream.error", "worker.fd_exhausted",
	"rate_limit.blocked", "upstream.unavailable", "ip_filter.blocked",
	"csrf.blocked", "maintenance.request_blocked",
	"webhook.signature_invalid", "auth.denied", "audit.waf.blocked"
};

/* SPEC.md 11: one event per request, then the counters. */
static void
req_log(struct conn *cn, struct req *rq)
{
	if (rq->rq_flags & RQ_LOGGED)
		return;
	rq->rq_flags |= RQ_LOGGED;
	emit_log(cn, rq);
}

void
conn_log_request(struct conn *cn)
{
	if (cn->cn_req != NULL)
		req_log(cn, cn->cn_req);
}

/*
 * One audit.waf.detection per detection of a request in detect mode
 * (before its own event), and the counters by rule and mode.  A blocked
 * request's one detection goes in its audit.waf.blocked event instead.
 */
static void
emit_waf(struct req *rq)
{
	struct logev	 le;
	struct waf_det	*d, *rev = NULL, *next;

	/* Oldest first, as found. */
	for (d = rq->rq_wafdet; d != NULL; d = next) {
		next = d->wd_next;
		d->wd_next = rev;
		rev = d;
	}
	rq->rq_wafdet = rev;
	for (d = rq->rq_wafdet; d != NULL; d = d->wd_next) {
		counters_waf(W.w_ctr, d->wd_rule, d->wd_blocked);
		if (d->wd_blocked)
			continue;
		logev_init(&le, LOG_LVL_WARN, "medium", "policy",
		    "audit.waf.detection");
		if (!log_enabled(le.le_level))
			continue;
		logev_summary(&le, "WAF %s in %s %.*s (detect mode)",
		    d->wd_rname ? d->wd_rname : waf_rule_name(d->wd_rule),
		    d->wd_loc,
		    (int)(d->wd_name.len > 64 ? 64 : d->wd_name.len),
		    d->wd_name.p ? d->wd_name.p : "");
		waf_fields(&le, rq, d);
		logev_str(&le, "method", rq->rq_lmethod.p, rq->rq_lmethod.len);
		logev_str(&le, "path", rq->rq_lpath.p, rq->rq_lpath.len);
		logev_cstr(&le, "client_ip", rq->rq_cip);
		le.le_request_id = rq->rq_id[0] ? rq->rq_id : NULL;
		le.le_actor_ip = rq->rq_cip;
		le.le_outcome = "allowed";
		logev_emit(&le);
	}
}

static void
waf_fields(struct logev *le, struct req *rq, const struct waf_det *d)
{
	logev_cstr(le, "rule", d->wd_rname ? d->wd_rname :
	    waf_rule_name(d->wd_rule));
	logev_cstr(le, "category", d->wd_cat);
	logev_cstr(le, "location", d->wd_loc);
	logev_str(le, "parameter", d->wd_name.p, d->wd_name.len);
	logev_str(le, "value", d->wd_value.p, d->wd_value.len);
}

static void
emit_log(struct conn *cn, struct req *rq)
{
	struct logev	 le;
	uint64_t	 dur = util_now_ms - rq->rq_start_ms;
	int		 st = rq->rq_status;
	int		 bad = st >= 500 || rq->rq_event == EV_UPSTREAM_ERROR ||
			    rq->rq_event == EV_UPSTREAM_TIMEOUT ||
			    rq->rq_event == EV_FD_EXHAUSTED;
	const char	*sev = bad || rq->rq_event == EV_RATE_LIMITED ||
			    rq->rq_event == EV_IP_BLOCKED ||
			    rq->rq_event == EV_CSRF_BLOCKED ||
			    rq->rq_event == EV_WAF_BLOCKED ? "medium" : "info";

	count_request(rq, st, dur);
	if (rq->rq_wafdet != NULL)
		emit_waf(rq);
	if (!W.w_conf->log.access_log && rq->rq_event == EV_PROXIED &&
	    st < 500)
		return;
	logev_init(&le, bad ? LOG_LVL_WARN : LOG_LVL_INFO, sev,
	    rq->rq_event == EV_PROXIED ? "network" :
	    rq->rq_event == EV_RATE_LIMITED ||
	    rq->rq_event == EV_UNAVAILABLE ? "resilience" :
	    rq->rq_event == EV_AUTH_DENIED ? "auth" : "policy",
	    ev_names[rq->rq_event]);
	if (!log_enabled(le.le_level))
		return;
	logev_summary(&le, "%.*s %.*s -> %d in %llu ms",
	    (int)(rq->rq_lmethod.len > 16 ? 16 : rq->rq_lmethod.len),
	    rq->rq_lmethod.p ? rq->rq_lmethod.p : "",
	    (int)(rq->rq_lpath.len > 120 ? 120 : rq->rq_lpath.len),
	    rq->rq_lpath.p ? rq->rq_lpath.p : "", st,
	    (unsigned long long)dur);
	logev_str(&le, "method", rq->rq_lmethod.p, rq->rq_lmethod.len);
	logev_str(&le, "path", rq->rq_lpath.p, rq->rq_lpath.len);
	logev_int(&le, "status", st);
	logev_int(&le, "duration_ms", (long long)dur);
	logev_cstr(&le, "client_ip", rq->rq_cip);
	logev_int(&le, "bytes", (long long)rq->rq_back.fl_bytes);
	logev_str(&le, "user_agent", rq->rq_lua.p, rq->rq_lua.len);
	if (rq->rq_up_start_ms)
		logev_int(&le, "upstream_ms", (long long)rq->rq_up_ms);
	if (rq->rq_authwhy)
		logev_cstr(&le, "reason", rq->rq_authwhy);
	else if (rq->rq_errmsg)
		logev_cstr(&le, "reason", rq->rq_errmsg);
	if (rq->rq_rlkind)
		logev_cstr(&le, "limit_type", rq->rq_rlkind);
	if (rq->rq_event == EV_IP_BLOCKED)
		logev_cstr(&le, "mode", ipfilter_mode());
	if (rq->rq_event == EV_WAF_BLOCKED && rq->rq_wafdet != NULL)
		waf_fields(&le, rq, rq->rq_wafdet);
	le.le_request_id = rq->rq_id[0] ? rq->rq_id : NULL;
	le.le_actor_ip = rq->rq_cip;
	le.le_outcome = rq->rq_event == EV_BLOCKED ||
	    rq->rq_event == EV_IP_BLOCKED ||
	    rq->rq_event == EV_CSRF_BLOCKED ||
	    rq->rq_event == EV_MAINTENANCE ||
	    rq->rq_event == EV_WEBHOOK_INVALID ||
	    rq->rq_event == EV_AUTH_DENIED ||
	    rq->rq_event == EV_WAF_BLOCKED ? "blocked" :
	    rq->rq_event == EV_RATE_LIMITED ? "rate_limited" :
	    bad ? "failed" : "allowed";
	logev_emit(&le);
}

/*
 * An arena copy of at most max bytes of v (log fields, the WebSocket
 * key); empty for none.
 */
static struct vw_str
log_copy(struct arena *a, struct vw_str v, size_t max)
{
	struct vw_str	 c = { NULL, 0 };

	if (v.p != NULL && (c.p = arena_strndup(a, v.p, v.len > max ? max :
	    v.len)) != NULL)
		c.len = strlen(c.p);
	return (c);
}

/*
 * The method and path of a head the parser refused, as far as it got
 * (the raw target when the path did not normalise): request.blocked
 * says what was refused.
 */
static void
req_keep_partial(struct req *rq)
{
	struct http_msg	*m = &rq->rq_msg;

	rq->rq_lmethod = log_copy(&rq->rq_arena, m->m_method, 32);
	rq->rq_lpath = log_copy(&rq->rq_arena, m->m_path.p ? m->m_path :
	    m->m_target, 512);
}

/* Copy what the log and the response phase need out of the head. */
static void
req_keep(struct req *rq)
{
	struct http_msg	*m = &rq->rq_msg;
	struct arena	*a = &rq->rq_arena;

	rq->rq_meth = m->m_meth;
	rq->rq_version = m->m_version;
	rq->rq_mflags = m->m_flags;
	rq->rq_lmethod = log_copy(a, m->m_method, 32);
	rq->rq_lpath = log_copy(a, m->m_path, 512);
	rq->rq_lua = log_copy(a, http_field_get(m, H_USER_AGENT), 256);
	rq->rq_wskey = log_copy(a, http_field_get(m, H_SEC_WS_KEY), 64);
}

/* ------------------------------------------------------------ lifecycle */

static void	 conn_timeout(struct timer *);
static void	 read_deadline(struct timer *);
static void	 linger_read(struct conn *);

/*
 * As nginx's lingering_time/lingering_timeout: bounded by time, not bytes,
 * so a client that sends a whole upload before reading still gets the
 * answer.
 */
#define LINGER_TIME_MS	30000

/* Keep-alive wait: idle_timeout, or the short grace of a drain. */
static struct tqueue *
idle_q(void)
{
	return (&W.w_q[W.w_draining ? TQ_DRAIN : TQ_IDLE]);
}

static void
conn_io_cb(struct ev_io *io, uint32_t events)
{
	struct conn	*cn = (struct conn *)io;

	if (cn->cn_state == CS_DEAD)
		return;
	endp_events(&cn->cn_ep, events);
	conn_run(cn);
}

static void
release_inbuf(struct conn *cn)
{
	struct buf	*b = &cn->cn_ep.ep_in;

	if (cn->cn_bigin) {
		free(b->b_data);
		W.w_heapin -= b->b_cap;
	} else
		blk_put(BLK_CLIENT, b->b_data);
	cn->cn_bigin = 0;
	b->b_data = NULL;
	b->b_start = b->b_end = 0;
}

/* ------------------------------------------------------------ fairness */

/*
 * Connections that used up their budget (WORK_BUDGET) with work left.
 * Edge-triggered epoll will not report them again, so the worker runs
 * them once per loop turn, after the events of that turn: round-robin,
 * whatever one client pipelines or streams.
 */
static struct conn	*ready_head, *ready_tail;
static unsigned		 nready;

static void
ready_add(struct conn *cn)
{
	if (cn->cn_ready)
		return;
	cn->cn_ready = 1;
	cn->cn_rnext = NULL;
	cn->cn_rprev = ready_tail;
	if (ready_tail)
		ready_tail->cn_rnext = cn;
	else
		ready_head = cn;
	ready_tail = cn;
	nready++;
}

static void
ready_del(struct conn *cn)
{
	if (!cn->cn_ready)
		return;
	if (cn->cn_rprev)
		cn->cn_rprev->cn_rnext = cn->cn_rnext;
	else
		ready_head = cn->cn_rnext;
	if (cn->cn_rnext)
		cn->cn_rnext->cn_rprev = cn->cn_rprev;
	else
		ready_tail = cn->cn_rprev;
	cn->cn_rprev = cn->cn_rnext = NULL;
	cn->cn_ready = 0;
	nready--;
}

int
conn_have_ready(void)
{
	return (ready_head != NULL);
}

void
conn_run_ready(void)
{
	struct conn	*cn;
	unsigned	 n;

	/* Only those queued before this call: a re-queued one waits. */
	for (n = nready; n > 0 && (cn = ready_head) != NULL; n--) {
		ready_del(cn);
		conn_run(cn);
	}
}

void
conn_close(struct conn *cn, const char *reason)
{
	if (cn->cn_state == CS_DEAD)
		return;
	if (log_enabled(LOG_LVL_DEBUG))
		log_sys(LOG_LVL_DEBUG, "connection.closed", "%s: %s",
		    cn->cn_ip, reason);
	if (cn->cn_up != NULL)
		proxy_finish(cn, 0);
	/* A request torn down with its connection still gets its event. */
	if (cn->cn_req != NULL) {
		req_log(cn, cn->cn_req);
		req_free(cn);
	}
	timer_del(&cn->cn_timer);
	timer_del(&cn->cn_rtimer);
	ready_del(cn);
	release_inbuf(cn);
	rl_conn_close(cn);
	kratos_conn_close(cn);
	if (cn->cn_h2 != NULL)
		h2_free(cn);
	cn->cn_ep.ep_ops->eo_close(&cn->cn_ep);
	cn->cn_state = CS_DEAD;
	if (cn->cn_stream) {
		W.w_nstreams--;
		ev_defer_free(cn);
		worker_conn_closed();
		return;
	}
	if (cn->cn_prev)
		cn->cn_prev->cn_next = cn->cn_next;
	else
		W.w_conns = cn->cn_next;
	if (cn->cn_next)
		cn->cn_next->cn_prev = cn->cn_prev;
	W.w_nconns--;
	counters_conn(W.w_ctr, -1);
	ev_defer_free(cn);
	worker_conn_closed();
}

/*
 * ip_filter.blocked for a connection closed at accept: no request, so no
 * method or path (SPEC.md 7: before TLS where possible).  A refused peer
 * pays one connect for each line it would make us write, so the event is
 * logged at most once every PEER_LOG_MS per worker, and count says how
 * many connections it stands for (those refused silently since the last
 * one, and this one).
 */
#define PEER_LOG_MS	10000

void
log_peer_refused(const struct ipaddr *peer)
{
	static uint64_t		 logged;	/* util_now_ms, 0: never */
	static long long	 quiet;		/* refused since, unlogged */
	struct logev		 le;
	char			 ip[46];

	logev_init(&le, LOG_LVL_INFO, "medium", "policy",
	    "ip_filter.blocked");
	if (!log_enabled(le.le_level))
		return;
	if (logged != 0 && util_now_ms - logged < PEER_LOG_MS) {
		quiet++;
		return;
	}
	logged = util_now_ms ? util_now_ms : 1;
	ipaddr_format(peer, ip, sizeof(ip));
	logev_summary(&le, "connection from %s closed by the IP filter", ip);
	logev_cstr(&le, "client_ip", ip);
	logev_cstr(&le, "mode", ipfilter_mode());
	logev_cstr(&le, "stage", "accept");
	logev_int(&le, "count", quiet + 1);
	quiet = 0;
	le.le_actor_ip = ip;
	le.le_outcome = "blocked";
	logev_emit(&le);
}

void
conn_accept(int lfd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct conn		*cn;
	struct ipaddr		 peer;
	int			 fd, i, one = 1, drained = 0;

	for (i = 0; i < ACCEPT_BATCH && worker_may_accept(); i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* Out of descriptors: the level-triggered listener
			   would wake us forever, so stop listening briefly. */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				worker_pause_accept(errno);
			drained = errno == EAGAIN;
			break;
		}
		W.w_accept_logged = 0;
		if (ipaddr_from_sa(&ss, &peer) == 0 &&
		    ipfilter_peer_refused(&peer)) {
			if (W.w_ctr != NULL)	/* counted before the
						   peer can see it */
				W.w_ctr->c_ip_blocks++;
			close(fd);	/* before any TLS or HTTP */
			log_peer_refused(&peer);
			continue;
		}
		if ((cn = calloc(1, sizeof(*cn))) == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cn->cn_ep.ep_io.io_fd = fd;
		cn->cn_ep.ep_io.io_cb = conn_io_cb;
		cn->cn_ep.ep_ops = W.w_client_ops;
		cn->cn_ep.ep_readable = 1;
		cn->cn_ep.ep_writable = 1;
		cn->cn_peer = ss;
		ipaddr_from_sa(&ss, &cn->cn_addr);
		ipaddr_format(&cn->cn_addr, cn->cn_ip, sizeof(cn->cn_ip));
		cn->cn_state = CS_HEAD;
		if (ev_add(&cn->cn_ep.ep_io) == -1) {
			close(fd);
			free(cn);
			continue;
		}
		cn->cn_next = W.w_conns;
		if (W.w_conns)
			W.w_conns->cn_prev = cn;
		W.w_conns = cn;
		W.w_nconns++;
		counters_conn(W.w_ctr, 1);
		timer_set(&cn->cn_timer, &W.w_q[TQ_HEADER], conn_timeout);
		/* Over per_ip.max_connections: 429 if a head is here, and
		   closed either way (stage_connlimit). */
		if (rl_conn_open(cn) == -1) {
			conn_run(cn);
			if (cn->cn_state == CS_HEAD)
				conn_close(cn, "connection limit");
			continue;
		}
		conn_run(cn);
	}
	worker_accept_update(drained);
}

/*
 * Answer with rq's own response (already decided by a stage or the
 * parser).  Errors always close the connection (SPEC.md 4).
 */
static void
own_response(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	int		 close_after;

	close_after = rq->rq_status >= 400 || cn->cn_close ||
	    W.w_draining ||
	    (rq->rq_mflags & (M_CLOSE | M_CHUNKED)) ||
	    ((rq->rq_mflags & M_CLEN) && rq->rq_msg.m_clen > 0);
	if (close_after)
		cn->cn_close = 1;
	if (rq->rq_id[0] == '\0')
		util_request_id(rq->rq_id);
	req_consume_head(rq);
	errresp_render(rq, close_after);
	cn->cn_state = CS_RESP;
	timer_set(&cn->cn_timer, &W.w_q[TQ_WRITE], conn_timeout);
}

/* An error found before or while parsing the head. */
static void
head_error(struct conn *cn, int status, const char *msg)
{
	struct req	*rq = cn->cn_req;

	if (rq == NULL && (rq = req_new(cn)) == NULL) {
		conn_close(cn, "out of memory");
		return;
	}
	req_fail(rq, status, EV_BLOCKED, errresp_code(status), msg);
	rq->rq_flags |= RQ_BADHEAD;
	cn->cn_close = 1;
	own_response(cn);
}

static const char *
parse_msg(int status)
{
	switch (status) {
	case 400:
		return ("malformed request");
	case 405:
		return ("method not allowed");
	case 414:
		return ("request line too long");
	case 417:
		return ("unsupported expectation");
	case 431:
		return ("request header fields too large");
	case 501:
		return ("unsupported transfer coding");
	case 505:
		return ("HTTP version not supported");
	default:
		return ("request rejected");
	}
}

/*
 * Read until a complete head is buffered, then parse it and run the
 * pipeline.  Returns 0 to wait for I/O, 1 when the state changed.
 */
static int
read_head(struct conn *cn)
{
	struct buf	*b = &cn->cn_ep.ep_in;
	struct req	*rq;
	ssize_t		 hl, n;
	int		 st;

	for (;;) {
		if (buf_avail(b) > 0) {
			if (!timer_armed(&cn->cn_rtimer))
				timer_set(&cn->cn_rtimer, &W.w_q[TQ_READ],
				    read_deadline);
			hl = http_head_end(b->b_data + b->b_start,
			    buf_avail(b), &cn->cn_scan,
			    W.w_conf->server.max_header_bytes, 1);
			if (hl < 0) {
				head_error(cn, (int)-hl, parse_msg((int)-hl));
				return (1);
			}
			if (hl > 0)
				break;
		}
		if (!cn->cn_ep.ep_readable)
			goto wait;
		if (b->b_data == NULL) {
			if ((b->b_data = blk_get(BLK_CLIENT)) == NULL) {
				conn_close(cn, "out of memory");
				return (1);
			}
			b->b_cap = blk_size(BLK_CLIENT);
			b->b_start = b->b_end = 0;
		}
		n = endp_fill(&cn->cn_ep);
		if (n > 0 && cn->cn_nreq == 0 && !cn->cn_stream &&
		    h2_alpn(&cn->cn_ep)) {
			/* ALPN chose h2 (SPEC.md 4): h2.c takes over. */
			W.w_budget -= n;
			cn->cn_state = CS_H2;
			if (h2_start(cn) == -1)
				conn_close(cn, "out of memory");
			return (1);
		}
		if (n > 0) {
			W.w_budget -= n;
			/* A new head started: its deadline runs from now. */
			if (timer_armed(&cn->cn_timer) &&
			    (cn->cn_timer.t_q == &W.w_q[TQ_IDLE] ||
			    cn->cn_timer.t_q == &W.w_q[TQ_DRAIN]))
				timer_set(&cn->cn_timer, &W.w_q[TQ_HEADER],
				    conn_timeout);
			continue;
		}
		if (n == 0 || cn->cn_ep.ep_err) {
			conn_close(cn, "client closed");
			return (1);
		}
		if (n == -2) {
			/* Cannot happen: head_end limits the head. */
			head_error(cn, 431, parse_msg(431));
			return (1);
		}
		goto wait;
	}

	cn->cn_scan = 0;
	if ((rq = cn->cn_req) == NULL && (rq = req_new(cn)) == NULL) {
		conn_close(cn, "out of memory");
		return (1);
	}
	W.w_budget -= WORK_REQ;
	/* server.keepalive_requests: this one's answer says "close". */
	if (++cn->cn_nreq >= (uint32_t)W.w_conf->server.keepalive_requests &&
	    W.w_conf->server.keepalive_requests > 0)
		cn->cn_close = 1;
	st = http_parse_request(b->b_data + b->b_start, (size_t)hl,
	    &rq->rq_msg, &rq->rq_arena);
	if (st != 0) {
		req_keep_partial(rq);
		head_error(cn, st, parse_msg(st));
		return (1);
	}
	rq->rq_headlen = (size_t)hl;
	req_keep(rq);
	if (!(rq->rq_mflags & M_CHUNKED) &&
	    !((rq->rq_mflags & M_CLEN) && rq->rq_msg.m_clen > 0))
		timer_del(&cn->cn_rtimer);	/* read whole */
	if (rq->rq_mflags & M_CLOSE)
		cn->cn_close = 1;
	cn->cn_state = CS_PIPE;
	return (1);

 wait:
	if (buf_avail(b) == 0) {
		/* Idle keep-alive: hold no buffer (SPEC bench: KB/conn). */
		release_inbuf(cn);
		if (!timer_armed(&cn->cn_timer) ||
		    (cn->cn_nreq > 0 && cn->cn_timer.t_q != idle_q()))
			timer_set(&cn->cn_timer, cn->cn_nreq ?
			    idle_q() : &W.w_q[TQ_HEADER], conn_timeout);
	}
	return (0);
}

/* 1 when the client may still be sending bytes of this request. */
static int
body_unread(const struct req *rq)
{
	if (rq->rq_flags & RQ_BADHEAD)
		return (1);
	if ((rq->rq_mflags & M_CHUNKED) ||
	    ((rq->rq_mflags & M_CLEN) && rq->rq_msg.m_clen > 0))
		return (!rq->rq_fwd.fl_done);
	return (0);
}

/*
 * Close after an answer.  If the client may still be sending (a body we
 * did not read, pipelined requests), a plain close() would make the
 * kernel reset the connection and the client could lose the answer.  So
 * half-close, discard what still arrives for a bounded time and size, then
 * close: nginx's lingering close.
 */
static void
conn_linger(struct conn *cn, int unread)
{
	if (!unread || cn->cn_ep.ep_eof || cn->cn_ep.ep_err) {
		conn_close(cn, "close requested");
		return;
	}
	cn->cn_ep.ep_ops->eo_shutdown(&cn->cn_ep);
	release_inbuf(cn);
	cn->cn_state = CS_LINGER;
	cn->cn_linger_until = util_now_ms + LINGER_TIME_MS;
	timer_set(&cn->cn_timer, &W.w_q[TQ_LINGER], conn_timeout);
	linger_read(cn);
}

static void
linger_read(struct conn *cn)
{
	static char	 sink[16384];
	ssize_t		 n;

	for (;;) {
		n = cn->cn_ep.ep_ops->eo_recv(&cn->cn_ep, sink, sizeof(sink));
		if (n > 0) {
			if (util_now_ms >= cn->cn_linger_until)
				break;
			timer_set(&cn->cn_timer, &W.w_q[TQ_LINGER],
			    conn_timeout);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		break;
	}
	conn_close(cn, "lingering close done");
}

/* The exchange is over: log it, then serve the next request or close. */
static void
req_end(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	int		 unread;

	req_log(cn, rq);
	unread = body_unread(rq) || buf_avail(&cn->cn_ep.ep_in) > 0;
	req_free(cn);
	timer_del(&cn->cn_rtimer);
	/*
	 * cn_close is set exactly when the head just sent said "Connection:
	 * close" (or the exchange cannot continue); a drain that began
	 * after that head went out serves the next request, which says so.
	 */
	if (cn->cn_close) {
		conn_linger(cn, unread);
		return;
	}
	cn->cn_state = CS_HEAD;
	cn->cn_scan = 0;
	timer_set(&cn->cn_timer, buf_avail(&cn->cn_ep.ep_in) ?
	    &W.w_q[TQ_HEADER] : idle_q(), conn_timeout);
}

/* The connection's state machine, until it waits for I/O or yields. */
static void
run(struct conn *cn)
{
	enum verdict	 v;
	enum pr		 r;
	int		 rc;

	for (;;) {
		switch (cn->cn_state) {
		case CS_HEAD:
			if (W.w_budget <= 0)
				return;		/* conn_run() queues a turn */
			if (!read_head(cn))
				return;
			break;
		case CS_PIPE:
			if (cn->cn_req->rq_flags & RQ_HOLD) {
				/* A stage waits for the whole body. */
				rc = proxy_hold(cn);
				if (rc == 0)
					return;
				if (rc < 0) {
					conn_close(cn, "client went away");
					return;
				}
				if (rc == 2) {
					own_response(cn);
					break;
				}
			}
			v = pipe_run(cn->cn_req);
			if (v == V_AGAIN && (cn->cn_req->rq_flags & RQ_HOLD))
				break;	/* proxy_hold() reads it */
			if (v == V_AGAIN)
				return;
			if (v == V_DONE) {
				own_response(cn);
				break;
			}
			r = proxy_start(cn);
			goto proxied;
		case CS_PROXY:
		case CS_TUNNEL:
			r = proxy_run(cn);
 proxied:
			if (r == PR_AGAIN)
				return;
			if (r == PR_ABORT) {
				conn_close(cn, "exchange aborted");
				return;
			}
			if (cn->cn_state == CS_RESP)
				break;	/* proxy turned it into our answer */
			req_end(cn);
			break;
		case CS_RESP:
			rc = flow_pump(&cn->cn_req->rq_back, NULL, &cn->cn_ep);
			if (rc == 0)
				return;
			if (rc < 0) {
				conn_close(cn, "client write failed");
				return;
			}
			req_end(cn);
			break;
		case CS_LINGER:
			linger_read(cn);
			return;
		case CS_H2:
			h2_run(cn);
			return;
		case CS_DEAD:
			return;
		}
		if (cn->cn_state == CS_DEAD)
			return;
	}
}

void
conn_run(struct conn *cn)
{
	W.w_budget = WORK_BUDGET;
	run(cn);
	if (cn->cn_state != CS_DEAD && W.w_budget <= 0)
		ready_add(cn);
}

static void
conn_timeout(struct timer *t)
{
	struct conn	*cn = (struct conn *)((char *)t -
	    offsetof(struct conn, cn_timer));
	struct req	*rq = cn->cn_req;

	switch (cn->cn_state) {
	case CS_HEAD:
		/*
		 * Nothing received: close quietly.  A 408 would reach a
		 * browser's preconnect or a keep-alive client as a stray
		 * response; only a started head is answered (SPEC.md 4).
		 */
		if (buf_avail(&cn->cn_ep.ep_in) == 0) {
			conn_close(cn, "idle timeout");
			return;
		}
		head_error(cn, 408, "request head not received in time");
		conn_run(cn);
		return;
	case CS_PROXY:
		/* The client stopped sending its body or reading ours. */
		if (rq != NULL && !(rq->rq_flags & RQ_RESP_HEAD) &&
		    proxy_fail(cn, 408, EV_BLOCKED,
		    "request body not received in time") == PR_DONE) {
			conn_run(cn);
			return;
		}
		conn_close(cn, "client timeout");
		return;
	case CS_LINGER:
		conn_close(cn, "lingering close timeout");
		return;
	case CS_PIPE:
		/* A body held for a stage stopped arriving. */
		if (rq != NULL && (rq->rq_flags & RQ_HOLD)) {
			req_fail(rq, 408, EV_BLOCKED, "request_timeout",
			    "request body not received in time");
			own_response(cn);
			conn_run(cn);
			return;
		}
		conn_close(cn, "timeout");
		return;
	default:
		conn_close(cn, "timeout");
		return;
	}
}

void
conn_request_read(struct conn *cn)
{
	timer_del(&cn->cn_rtimer);
}

/*
 * server.read_timeout (SPEC.md 2): the whole request, first byte of the
 * head to the last byte of the body, or 408 and close; a slow client
 * cannot hold a connection (and an upstream connection) by dripping a
 * byte at a time within the idle timeouts.  Once the response has
 * started, a 408 cannot be sent: the connection is closed.
 */
static void
read_deadline(struct timer *t)
{
	struct conn	*cn = (struct conn *)((char *)t -
	    offsetof(struct conn, cn_rtimer));
	struct req	*rq = cn->cn_req;
	const char	*msg = "request not received within server.read_timeout";

	switch (cn->cn_state) {
	case CS_HEAD:
		head_error(cn, 408, msg);
		conn_run(cn);
		return;
	case CS_PROXY:
		if (!(rq->rq_flags & RQ_RESP_HEAD) &&
		    proxy_fail(cn, 408, EV_BLOCKED, msg) == PR_DONE) {
			conn_run(cn);
			return;
		}
		conn_close(cn, "read timeout");
		return;
	case CS_PIPE:
		if (rq->rq_flags & RQ_HOLD) {	/* reading a held body */
			req_fail(rq, 408, EV_BLOCKED, "request_timeout", msg);
			own_response(cn);
			conn_run(cn);
		}
		return;
	default:
		/* Not reading the request (a stage waits, or we answer). */
		return;
	}
}

/*
 * Drain: answers built from now on say "Connection: close" (own_response
 * and start_response look at w_draining); an answer already on its way
 * completes normally and its connection serves one more request.  Idle
 * keep-alive connections get a short grace (TQ_DRAIN) instead of the
 * idle timeout, so the old generation exits soon after its last request.
 */
void
conn_drain_idle(void)
{
	struct conn	*cn;

	for (cn = W.w_conns; cn != NULL; cn = cn->cn_next)
		if (cn->cn_state == CS_H2)
			h2_drain(cn);
		else if (cn->cn_state == CS_HEAD && cn->cn_nreq > 0 &&
		    buf_avail(&cn->cn_ep.ep_in) == 0)
			timer_set(&cn->cn_timer, &W.w_q[TQ_DRAIN],
			    conn_timeout);
}

void
conn_own_response(struct conn *cn)
{
	own_response(cn);
}

/* ------------------------------------------------------------ HTTP/2 */

struct conn *
conn_new_stream(struct conn *parent, const struct endp_ops *ops, void *arg)
{
	struct conn	*cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return (NULL);
	cn->cn_ep.ep_io.io_fd = -1;
	cn->cn_ep.ep_ops = ops;
	cn->cn_ep.ep_tls = arg;
	cn->cn_ep.ep_readable = 1;
	cn->cn_ep.ep_writable = 1;
	cn->cn_peer = parent->cn_peer;
	cn->cn_addr = parent->cn_addr;
	memcpy(cn->cn_ip, parent->cn_ip, sizeof(cn->cn_ip));
	cn->cn_state = CS_HEAD;
	cn->cn_stream = 1;
	cn->cn_close = 1;	/* one request per stream */
	W.w_nstreams++;
	timer_set(&cn->cn_timer, &W.w_q[TQ_HEADER], conn_timeout);
	return (cn);
}

void
conn_wake(struct conn *cn)
{
	if (cn->cn_state != CS_DEAD)
		ready_add(cn);
}

void
conn_h2_linger(struct conn *cn)
{
	h2_free(cn);
	conn_linger(cn, 1);
}

void
conn_h2_timer(struct conn *cn, int which)
{
	if (which == 0)
		timer_del(&cn->cn_timer);
	else if (which == 1)
		timer_set(&cn->cn_timer, idle_q(), conn_timeout);
	else if (which == 3) {
		if (!timer_armed(&cn->cn_timer) ||
		    cn->cn_timer.t_q != &W.w_q[TQ_HEADER])
			timer_set(&cn->cn_timer, &W.w_q[TQ_HEADER],
			    conn_timeout);
	} else if (!timer_armed(&cn->cn_timer) ||
	    cn->cn_timer.t_q != &W.w_q[TQ_WRITE])
		timer_set(&cn->cn_timer, &W.w_q[TQ_WRITE], conn_timeout);
}
