/*
 * proxy.c: the exchange between a client and the upstream (SPEC.md 4, 9).
 * Requests are re-serialised, never relayed raw: hop-by-hop fields and
 * the client's identity headers are dropped, X-Forwarded-* and
 * X-Request-Id are set, bodies are re-framed (Content-Length as parsed,
 * or fresh chunks without extensions).  Responses are parsed as strictly
 * as requests.  Bodies stream through one buffer per side: a full
 * destination stops reads from the source (back-pressure), so memory per
 * exchange is bounded whatever the body size.  Worker only.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "errresp.h"
#include "log.h"
#include "pipe.h"
#include "proxy.h"
#include "resil.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"
#include "ws.h"

static const char crlf[] = "\r\n";
static const char lastchunk[] = "0\r\n\r\n";
static const char continue100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/*
 * Request bodies up to this size are read before connecting; a request
 * that may be retried raises its rq_hold to RESIL_HOLD (resil.h).
 */
#define BODY_BUFFER	16384
/* Body bytes a body check (pipe_body(): the WAF) sees. */
#define BODY_CHECK	8192

/* ------------------------------------------------------------ flows */

/*
 * body_size on a chunked request body (stage_bodysize set the limit): the
 * payload decoded so far plus the rest of the current chunk, as its size
 * line announced, is over max.  The one check both decoders of a request
 * body (the pre-scan while buffering, the flow while streaming) make.
 */
static int
body_over(const struct chunked *ck, uint64_t max)
{
	return (max != 0 && (ck->ck_total > max ||
	    ck->ck_remain > max - ck->ck_total));
}

/* Write what the flow has pending; 1 all written, 0 blocked, -1 error. */
static int
flow_write(struct flow *f, struct endp *src, struct endp *dst)
{
	struct iovec	 iov[4];
	ssize_t		 n;
	size_t		 k;
	int		 cnt = 0;

	if (f->fl_hlen) {
		iov[cnt].iov_base = (void *)f->fl_head;
		iov[cnt++].iov_len = f->fl_hlen;
	}
	if (f->fl_prelen > f->fl_preoff) {
		iov[cnt].iov_base = f->fl_pre + f->fl_preoff;
		iov[cnt++].iov_len = f->fl_prelen - f->fl_preoff;
	}
	if (f->fl_dlen) {
		iov[cnt].iov_base = src->ep_in.b_data + src->ep_in.b_start;
		iov[cnt++].iov_len = f->fl_dlen;
	}
	if (f->fl_postlen) {
		iov[cnt].iov_base = (void *)f->fl_post;
		iov[cnt++].iov_len = f->fl_postlen;
	}
	if (cnt == 0)
		return (1);
	if (!dst->ep_writable)
		return (0);
	n = dst->ep_ops->eo_writev(dst, iov, cnt);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			dst->ep_writable = 0;
			return (0);
		}
		dst->ep_err = 1;
		return (-1);
	}
	f->fl_started = 1;
	/* Pointers are advanced only by k > 0: NULL + 0 is undefined. */
	if ((k = (size_t)n < f->fl_hlen ? (size_t)n : f->fl_hlen) > 0) {
		f->fl_head += k;
		f->fl_hlen -= k;
	}
	n -= k;
	k = (size_t)n < f->fl_prelen - f->fl_preoff ? (size_t)n :
	    f->fl_prelen - f->fl_preoff;
	f->fl_preoff += k;
	n -= k;
	k = (size_t)n < f->fl_dlen ? (size_t)n : f->fl_dlen;
	f->fl_dlen -= k;
	f->fl_bytes += k;
	if (k)
		src->ep_in.b_start += k;
	n -= k;
	if ((k = (size_t)n < f->fl_postlen ? (size_t)n : f->fl_postlen) > 0) {
		f->fl_post += k;
		f->fl_postlen -= k;
	}
	return (f->fl_hlen || f->fl_prelen > f->fl_preoff || f->fl_dlen ||
	    f->fl_postlen ? 0 : 1);
}

/*
 * Turn buffered source bytes into pending output.  Returns 1 when output
 * is pending or the source is done, 0 when more input is needed, -1 on a
 * framing error, -3 when a chunked body passes fl_max.
 */
static int
flow_produce(struct flow *f, struct endp *src)
{
	struct buf	*b;
	size_t		 avail, used, doff, dlen;
	enum chunk_rc	 rc;

	if (f->fl_mode == FL_NONE) {
		f->fl_srcdone = 1;
		return (1);
	}
	if (src == NULL)
		return (-1);
	b = &src->ep_in;
	while ((avail = buf_avail(b)) > 0) {
		switch (f->fl_mode) {
		case FL_LENGTH:
			f->fl_dlen = avail < f->fl_remain ? avail :
			    (size_t)f->fl_remain;
			f->fl_remain -= f->fl_dlen;
			if (f->fl_remain == 0)
				f->fl_srcdone = 1;
			return (1);
		case FL_CLOSE:
		case FL_RAW:
			f->fl_dlen = avail;
			return (1);
		case FL_CHUNKED:
			rc = chunked_step(&f->fl_ck, b->b_data + b->b_start,
			    avail, &used, &doff, &dlen);
			if (rc == CK_ERROR)
				return (-1);
			if (body_over(&f->fl_ck, f->fl_max))
				return (-3);
			if (rc == CK_NEED) {
				b->b_start += used;
				continue;
			}
			if (rc == CK_DONE) {
				b->b_start += used;
				f->fl_srcdone = 1;
				if (f->fl_chunkout) {
					f->fl_post = lastchunk;
					f->fl_postlen = sizeof(lastchunk) - 1;
				}
				return (1);
			}
			/* CK_DATA: skip the size line, keep the payload at
			   b_start, skip the rest after it is written. */
			b->b_start += doff;
			f->fl_dlen = dlen;
			f->fl_skip = used - doff - dlen;
			if (f->fl_chunkout) {
				f->fl_prelen = (size_t)snprintf(f->fl_pre,
				    sizeof(f->fl_pre), "%zx\r\n", dlen);
				f->fl_preoff = 0;
				f->fl_post = crlf;
				f->fl_postlen = 2;
			}
			return (1);
		default:
			return (-1);
		}
	}
	return (0);
}

int
flow_pump(struct flow *f, struct endp *src, struct endp *dst)
{
	ssize_t	 n;
	int	 rc;

	for (;;) {
		/* Coalesce a pending head with the first body bytes. */
		if (f->fl_hlen && !f->fl_dlen && !f->fl_srcdone && src &&
		    buf_avail(&src->ep_in) > 0 &&
		    (rc = flow_produce(f, src)) < 0)
			return (rc == -3 ? -3 : -1);
		if ((rc = flow_write(f, src, dst)) <= 0)
			return (rc < 0 ? -2 : 0);
		if (f->fl_skip) {
			src->ep_in.b_start += f->fl_skip;
			f->fl_skip = 0;
		}
		if (f->fl_srcdone) {
			f->fl_done = 1;
			return (1);
		}
		if ((rc = flow_produce(f, src)) < 0)
			return (rc == -3 ? -3 : -1);
		if (rc > 0)
			continue;
		if (!src->ep_readable || W.w_budget <= 0)
			return (0);	/* at 0, conn_run() queues a turn */
		n = endp_fill(src);
		if (n > 0) {
			W.w_budget -= n;
			continue;
		}
		if (n == 0) {
			if (f->fl_mode == FL_CLOSE || f->fl_mode == FL_RAW) {
				f->fl_srcdone = 1;
				continue;
			}
			return (-1);	/* premature end of body */
		}
		return (src->ep_err ? -1 : 0);
	}
}

/* ------------------------------------------------------------ heads */

static void
app(char *dst, size_t cap, size_t *off, const char *s, size_t len)
{
	if (*off + len > cap) {
		*off = cap + 1;		/* overflow marker */
		return;
	}
	memcpy(dst + *off, s, len);
	*off += len;
}

#define APPS(d, c, o, lit)	app(d, c, o, lit, sizeof(lit) - 1)
#define APPV(d, c, o, v)	app(d, c, o, (v).p, (v).len)

/* v in decimal, at least mindig digits: snprintf() costs ~800
   instructions on every response head. */
static void
app_num(char *dst, size_t cap, size_t *off, uint64_t v, int mindig)
{
	char	 b[24];
	int	 i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 || (int)sizeof(b) - i < mindig);
	app(dst, cap, off, b + i, sizeof(b) - i);
}

/* "name: value\r\n" as received (value OWS-trimmed). */
static void
put_field(char *d, size_t cap, size_t *off, const struct http_field *fl)
{
	APPV(d, cap, off, fl->f_name);
	APPS(d, cap, off, ": ");
	APPV(d, cap, off, fl->f_value);
	APPS(d, cap, off, "\r\n");
}

/*
 * A trusted proxy's X-Forwarded-For elements that stage_reqid believed,
 * left to right, each followed by ", ": empty elements and those left of
 * the client (rq_xff_skip) are dropped.
 */
static void
put_xff(const struct req *rq, char *d, size_t cap, size_t *off)
{
	const struct http_msg	*m = &rq->rq_msg;
	const struct http_field	*fl;
	const char		*p, *e, *c;
	unsigned		 skip = rq->rq_xff_skip;
	size_t			 i;

	for (i = 0; i < m->m_nfields; i++) {
		fl = &m->m_fields[i];
		if (fl->f_id != H_X_FORWARDED_FOR || fl->f_value.len == 0 ||
		    (fl->f_flags & F_HOPBYHOP))
			continue;
		for (p = fl->f_value.p, e = p + fl->f_value.len; p < e;
		    p = c + 1) {
			if ((c = memchr(p, ',', (size_t)(e - p))) == NULL)
				c = e;
			while (p < c && (*p == ' ' || *p == '\t'))
				p++;
			while (c > p && (c[-1] == ' ' || c[-1] == '\t'))
				c--;
			if (p < c && skip > 0)
				skip--;
			else if (p < c) {
				app(d, cap, off, p, (size_t)(c - p));
				APPS(d, cap, off, ", ");
			}
			if ((c = memchr(c, ',', (size_t)(e - c))) == NULL)
				break;
		}
	}
}

/* Serialise the request for the upstream (SPEC.md 4 "Forwarding"). */
static int
build_uphead(struct req *rq)
{
	struct http_msg	*m = &rq->rq_msg;
	struct conn	*cn = rq->rq_conn;
	char		*d = rq->rq_uphead;
	size_t		 cap = rq->rq_uphead_cap, off = 0, i;
	struct http_field *fl;
	struct vw_str	 host = m->m_host;

	/*
	 * HTTP/1.0 may omit Host; HTTP/1.1 upstreams require one (RFC 9112
	 * 3.2), so the listener's own name stands in, as nginx's $host does.
	 */
	if (host.len == 0) {
		host.p = W.w_hostname;
		host.len = strlen(W.w_hostname);
	}
	APPV(d, cap, &off, m->m_method);
	APPS(d, cap, &off, " ");
	APPV(d, cap, &off, m->m_path);
	if (m->m_query.p != NULL) {	/* RFC 3986 6.2.3: keep an empty "?" */
		APPS(d, cap, &off, "?");
		APPV(d, cap, &off, m->m_query);
	}
	APPS(d, cap, &off, " HTTP/1.1\r\nHost: ");
	APPV(d, cap, &off, host);
	APPS(d, cap, &off, "\r\n");
	for (i = 0; i < m->m_nfields; i++) {
		fl = &m->m_fields[i];
		if (fl->f_flags & F_HOPBYHOP)
			continue;
		switch (fl->f_id) {
		case H_HOST:
		case H_CONTENT_LENGTH:
		case H_TRANSFER_ENCODING:
		case H_X_FORWARDED_PROTO:
		case H_X_FORWARDED_HOST:
		case H_X_REQUEST_ID:
		case H_EXPECT:		/* 100-continue is answered here */
			continue;
		case H_X_FORWARDED_FOR:
			continue;	/* joined below */
		default:
			break;
		}
		put_field(d, cap, &off, fl);
	}
	/*
	 * X-Forwarded-For (SPEC.md 4): a trusted proxy's list, then the
	 * peer; from anyone else only the peer, so that every entry the
	 * application receives is one it can believe.
	 */
	APPS(d, cap, &off, "X-Forwarded-For: ");
	if (rq->rq_flags & RQ_TRUSTED_PEER)
		put_xff(rq, d, cap, &off);
	app(d, cap, &off, cn->cn_ip, strlen(cn->cn_ip));
	APPS(d, cap, &off, "\r\nX-Forwarded-Proto: ");
	app(d, cap, &off, W.w_scheme, strlen(W.w_scheme));
	APPS(d, cap, &off, "\r\nX-Forwarded-Host: ");
	APPV(d, cap, &off, host);
	APPS(d, cap, &off, "\r\nX-Request-Id: ");
	app(d, cap, &off, rq->rq_id, strlen(rq->rq_id));
	APPS(d, cap, &off, "\r\n");
	/* The verified identity (stage_auth); client copies are gone. */
	if (rq->rq_authhdr.len > 0)
		APPV(d, cap, &off, rq->rq_authhdr);
	if (m->m_flags & M_CHUNKED)
		APPS(d, cap, &off, "Transfer-Encoding: chunked\r\n");
	else if (m->m_flags & M_CLEN) {
		APPS(d, cap, &off, "Content-Length: ");
		app_num(d, cap, &off, m->m_clen, 1);
		APPS(d, cap, &off, "\r\n");
	}
	if (rq->rq_flags & RQ_WS)
		APPS(d, cap, &off,
		    "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	APPS(d, cap, &off, "\r\n");
	if (off > cap)
		return (-1);
	rq->rq_uphead_len = off;
	return (0);
}

/* Serialise the upstream's response for the client. */
static int
build_clhead(struct req *rq, enum http_body hb)
{
	struct http_msg	*m = &rq->rq_resp;
	char		*d = rq->rq_clhead;
	size_t		 cap = rq->rq_clhead_cap, off = 0, i;
	struct http_field *fl;
	struct conn	*cn = rq->rq_conn;
	unsigned	 have = 0;

	APPS(d, cap, &off, "HTTP/1.1 ");
	app_num(d, cap, &off, (uint64_t)m->m_status, 3);
	APPS(d, cap, &off, " ");
	APPV(d, cap, &off, m->m_reason);
	APPS(d, cap, &off, "\r\n");
	for (i = 0; i < m->m_nfields; i++) {
		fl = &m->m_fields[i];
		if (fl->f_flags & F_HOPBYHOP)
			continue;
		if (rhdr_drops(fl->f_name.p, fl->f_name.len))
			continue;	/* response_headers remove/set */
		switch (fl->f_id) {
		case H_CONTENT_LENGTH:
			/* HEAD/304: the entity's length; never on a 1xx or
			   204 (RFC 9110 8.6). */
			if (hb == HB_NONE && m->m_status >= 200 &&
			    m->m_status != 204)
				break;
			continue;
		case H_CSP:
		case H_X_FRAME_OPTIONS:
			/* An empty one is dropped: ours stands in. */
			if (fl->f_value.len == 0)
				continue;
			have |= fl->f_id == H_CSP ? SH_HAVE_CSP : SH_HAVE_XFO;
			break;
		case H_TRANSFER_ENCODING:
		case H_SERVER:
		case H_X_POWERED_BY:
		case H_VIA:
		case H_X_REQUEST_ID:
			continue;
		case H_OTHER:
			if (cors_upstream_field(fl->f_name))
				continue;
			break;
		default:
			break;
		}
		put_field(d, cap, &off, fl);
	}
	if (cap > off) {
		sechdr_append(d, cap, &off, have);
		cors_append(rq, d, cap, &off);
		rhdr_append(d, cap, &off);
	}
	APPS(d, cap, &off, "X-Request-Id: ");
	app(d, cap, &off, rq->rq_id, strlen(rq->rq_id));
	APPS(d, cap, &off, "\r\n");
	if (hb == HB_LENGTH) {
		APPS(d, cap, &off, "Content-Length: ");
		app_num(d, cap, &off, m->m_clen, 1);
		APPS(d, cap, &off, "\r\n");
	} else if (hb == HB_CHUNKED && rq->rq_version == 11)
		APPS(d, cap, &off, "Transfer-Encoding: chunked\r\n");
	if (m->m_status == 101)
		APPS(d, cap, &off,
		    "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	else if (cn->cn_close)
		APPS(d, cap, &off, "Connection: close\r\n");
	else if (rq->rq_version == 10)
		APPS(d, cap, &off, "Connection: keep-alive\r\n");
	APPS(d, cap, &off, "\r\n");
	if (off > cap)
		return (-1);
	rq->rq_back.fl_head = d;
	rq->rq_back.fl_hlen = off;
	return (0);
}

/* ------------------------------------------------------------ exchange */

static void	 up_timeout_cb(struct timer *);
static void	 rearm(struct timer *, struct tqueue *, timer_cb *, int);

static void	 outcome(struct conn *, int);

enum pr
proxy_fail(struct conn *cn, int status, enum rq_event ev, const char *msg)
{
	struct req	*rq = cn->cn_req;

	/* Only the upstream's own failures count against it. */
	outcome(cn, ev == EV_UPSTREAM_ERROR || ev == EV_UPSTREAM_TIMEOUT ?
	    0 : -1);
	timer_del(&rq->rq_btimer);
	rq->rq_flags &= ~RQ_BACKOFF;
	proxy_finish(cn, 0);
	if (rq->rq_back.fl_started) {
		rq->rq_status = rq->rq_status ? rq->rq_status : status;
		return (PR_ABORT);
	}
	req_fail(rq, status, ev, errresp_code(status), msg);
	conn_own_response(cn);
	return (PR_DONE);
}

void
proxy_finish(struct conn *cn, int reusable)
{
	struct upconn	*up = cn->cn_up;

	if (up == NULL)
		return;
	cn->cn_up = NULL;
	up->up_owner = NULL;
	if (reusable && !W.w_draining)
		up_release(up);
	else
		up_close(up, "exchange ended");
}

static int	 retryable(const struct req *);
static int	 retry_method(const struct req *);
static int	 want_retry(struct conn *, int);
static enum pr	 schedule_retry(struct conn *, int);

/*
 * No upstream connection could be made.  Out of descriptors is the
 * worker's own trouble, not the application's, and the log says so.
 */
static enum pr
attach_failed(struct conn *cn)
{
	if (errno == EMFILE || errno == ENFILE)
		return (proxy_fail(cn, 502, EV_FD_EXHAUSTED,
		    "the worker is out of file descriptors"));
	return (proxy_fail(cn, 502, EV_UPSTREAM_ERROR,
	    "cannot reach the upstream"));
}

static int
attach_upstream(struct conn *cn)
{
	struct upconn	*up;

	if ((up = up_acquire(cn, !retryable(cn->cn_req))) == NULL)
		return (-1);
	cn->cn_up = up;
	up->up_owner = cn;
	timer_set(&up->up_timer, &W.w_q[up->up_state == UP_CONNECTING ?
	    TQ_CONNECT : TQ_RESPONSE], up_timeout_cb);
	cn->cn_req->rq_up_start_ms = util_now_ms;
	return (0);
}

/*
 * Go on walking a buffered chunked body from where the last call left
 * (rq_prescan bytes past b_start, state in rq_preck), so a body that
 * trickles in is scanned once, not once per byte.  CK_ERROR also when the
 * body passes body_size (*toobig set).
 */
static enum chunk_rc
chunks_more(struct req *rq, const struct buf *b, int *toobig)
{
	size_t		 used, doff, dlen;
	enum chunk_rc	 rc;

	/* At least one step: a body that ended in an earlier call (or
	   nothing buffered yet) gets its verdict again from the state. */
	do {
		rc = chunked_step(&rq->rq_preck, b->b_data + b->b_start +
		    rq->rq_prescan, buf_avail(b) - rq->rq_prescan, &used,
		    &doff, &dlen);
		rq->rq_prescan += used;
		if (rc != CK_ERROR &&
		    (*toobig = body_over(&rq->rq_preck, rq->rq_fwd.fl_max)))
			return (CK_ERROR);
		if (rc == CK_ERROR || rc == CK_DONE)
			return (rc);
	} while (rq->rq_prescan < buf_avail(b));
	return (CK_NEED);
}

/*
 * One attempt at the upstream: 0 when a connection is on its way, -1 with
 * *r set otherwise (an error answer, or a retry waiting for its timer).
 */
static int
attempt(struct conn *cn, enum pr *r)
{
	struct req	*rq = cn->cn_req;
	uint32_t	 ra = 1;

	/*
	 * The half-open probe holds the host's one way upstream until its
	 * response head: never a request whose body its client drips, which
	 * could keep every other request at 503 (read_timeout, then again).
	 */
	if (rq->rq_conf->resilience.circuit_breaker.enabled &&
	    resil_cb_admit(rq->rq_conf, util_now_ms, rq->rq_fwd.fl_mode ==
	    FL_NONE || (rq->rq_flags & RQ_BODY_HELD), &rq->rq_cbtoken,
	    &ra) == -1) {
		/* Open: nothing is sent upstream. */
		proxy_finish(cn, 0);
		rq->rq_retry_after = ra;
		req_fail(rq, 503, EV_UNAVAILABLE, "circuit_breaker_open",
		    "upstream is currently unavailable; try again later");
		conn_own_response(cn);
		*r = PR_DONE;
		return (-1);
	}
	if (rq->rq_conf->resilience.circuit_breaker.enabled)
		rq->rq_flags |= RQ_CB_PENDING;
	rq->rq_flags &= ~RQ_RETRIED;
	if (attach_upstream(cn) == 0)
		return (0);
	if (errno != EMFILE && errno != ENFILE) {
		outcome(cn, 0);
		if (want_retry(cn, 0)) {
			*r = schedule_retry(cn, 0);
			return (-1);
		}
	}
	*r = attach_failed(cn);
	return (-1);
}

/*
 * The first attempt, once the body is read as far as it will be before
 * connecting: note whether it is held whole (then it can be re-sent).
 */
static int
first_attempt(struct conn *cn, enum pr *r)
{
	struct req	*rq = cn->cn_req;
	struct flow	*f = &rq->rq_fwd;
	struct buf	*b = &cn->cn_ep.ep_in;
	int		 toobig;

	rq->rq_attempt = 1;
	rq->rq_amark = rq->rq_arena.a_used;
	/* (buffer_body() has already judged the size of what is here.) */
	if ((f->fl_mode == FL_LENGTH && buf_avail(b) >= f->fl_remain) ||
	    (f->fl_mode == FL_CHUNKED && chunks_more(rq, b, &toobig) ==
	    CK_DONE)) {
		rq->rq_flags |= RQ_BODY_HELD;
		rq->rq_body_start = b->b_start;
	}
	if (rq->rq_conf->resilience.retry.enabled)
		resil_budget_request(util_now_ms);
	return (attempt(cn, r));
}

/*
 * A chunked body passed body_size: 413 while the client has no answer
 * yet, else its connection is closed (proxy_fail); either way the
 * upstream request, if it began, is aborted and that connection closed.
 */
static enum pr
body_too_large(struct conn *cn)
{
	return (proxy_fail(cn, 413, EV_BLOCKED,
	    "request body larger than the limit for this path"));
}

enum pr
proxy_start(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct http_msg	*m = &rq->rq_msg;
	struct flow	*f = &rq->rq_fwd;
	struct buf	*b = &cn->cn_ep.ep_in;
	enum pr		 r;

	if (build_uphead(rq) == -1)
		return (proxy_fail(cn, 431, EV_BLOCKED,
		    "request head too large to forward"));
	memset(f, 0, sizeof(*f));
	f->fl_head = rq->rq_uphead;
	f->fl_hlen = rq->rq_uphead_len;
	if (m->m_flags & M_CHUNKED) {
		f->fl_mode = FL_CHUNKED;
		f->fl_chunkout = 1;
		f->fl_max = rq->rq_bodymax;
		chunked_init(&f->fl_ck);
	} else if ((m->m_flags & M_CLEN) && m->m_clen > 0) {
		f->fl_mode = FL_LENGTH;
		f->fl_remain = m->m_clen;
	} else
		f->fl_mode = FL_NONE;
	/* The head is copied out: consume it from the client buffer. */
	req_consume_head(rq);
	/*
	 * SPEC.md 4: a rejected request never reaches the upstream.  Chunk
	 * framing that arrived with the head is checked before connecting;
	 * framing that breaks later aborts the upstream mid-request.
	 */
	if (f->fl_mode == FL_CHUNKED) {
		int	 toobig = 0;

		chunked_init(&rq->rq_preck);
		rq->rq_prescan = 0;
		if (chunks_more(rq, b, &toobig) == CK_ERROR)
			return (toobig ? body_too_large(cn) : proxy_fail(cn,
			    400, EV_BLOCKED, "malformed chunked body"));
	}
	/*
	 * RFC 9110 10.1.1: Expect is not forwarded; vibewarden asks for the
	 * body itself, through the client flow, before anything else goes
	 * back to the client.
	 */
	memset(&rq->rq_back, 0, sizeof(rq->rq_back));
	if ((rq->rq_mflags & M_EXPECT_100) && f->fl_mode != FL_NONE &&
	    rq->rq_version == 11 && buf_avail(b) == 0) {
		rq->rq_back.fl_head = continue100;
		rq->rq_back.fl_hlen = sizeof(continue100) - 1;
	}
	cn->cn_state = CS_PROXY;
	rq->rq_hold = BODY_BUFFER;
	if (rq->rq_conf->resilience.retry.enabled && retry_method(rq))
		rq->rq_hold = RESIL_HOLD;
	/* The chunked pre-scan above goes on where it stopped. */
	if (f->fl_mode != FL_NONE && (f->fl_mode == FL_CHUNKED ||
	    f->fl_remain <= rq->rq_hold || rq->rq_bodyck))
		rq->rq_flags |= RQ_BUFFERING;
	else if (first_attempt(cn, &r) == -1)
		return (r);
	return (proxy_run(cn));
}

/*
 * The first BODY_CHECK payload bytes of the held body for pipe_body(): in
 * place for Content-Length, an arena copy without the chunk framing for
 * a chunked body.  *len is 0 when nothing is held (or no memory).
 */
static const char *
held_body(struct req *rq, const struct buf *b, size_t *len)
{
	const char	*p = b->b_data + b->b_start;
	size_t		 avail = buf_avail(b), off = 0, used, doff, dlen;
	struct chunked	 ck;
	enum chunk_rc	 rc;
	char		*out;

	*len = 0;
	if (rq->rq_fwd.fl_mode == FL_LENGTH) {
		*len = avail < rq->rq_fwd.fl_remain ? avail :
		    (size_t)rq->rq_fwd.fl_remain;
		if (*len > BODY_CHECK)
			*len = BODY_CHECK;
		return (p);
	}
	if ((out = arena_alloc(&rq->rq_arena, BODY_CHECK)) == NULL)
		return (NULL);
	chunked_init(&ck);
	while (off < avail && *len < BODY_CHECK) {
		rc = chunked_step(&ck, p + off, avail - off, &used, &doff,
		    &dlen);
		if (rc == CK_DATA) {
			if (dlen > BODY_CHECK - *len)
				dlen = BODY_CHECK - *len;
			memcpy(out + *len, p + off + doff, dlen);
			*len += dlen;
		}
		if (rc != CK_DATA && rc != CK_NEED)
			break;
		off += used;
		if (used == 0)
			break;
	}
	return (out);
}

/*
 * A small body is read whole before the upstream connection is taken,
 * as nginx's proxy_request_buffering does, so that a client dripping it
 * holds no upstream connection: a Content-Length up to rq_hold, and a
 * chunked body until it ends or rq_hold bytes of it are here (a longer
 * one streams from then on).  rq_hold is BODY_BUFFER, or RESIL_HOLD for a
 * request that may be retried, so that its body can be sent again.  A
 * stage that reads the first body bytes (rq_bodyck: the WAF) has a longer
 * Content-Length body held the same way, up to rq_hold, and pipe_body()
 * sees its first BODY_CHECK bytes before anything is connected.
 * Returns 1 when the upstream may be connected, 0 to wait for the client,
 * -1 when the client went away, -2 for malformed chunk framing, -3 for a
 * chunked body over body_size.
 */
static int
buffer_body(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct flow	*f = &rq->rq_fwd;
	struct buf	*b = &cn->cn_ep.ep_in;
	ssize_t		 n;
	int		 rc, toobig = 0;

	if (rq->rq_back.fl_hlen) {
		/* "100 Continue" first: the client waits for it. */
		if ((rc = flow_write(&rq->rq_back, NULL, &cn->cn_ep)) <= 0)
			return (rc);
		rq->rq_back.fl_started = 0;
	}
	for (;;) {
		/* Everything read is checked, even past rq_hold: a
		   framing error in it never reaches the upstream. */
		if (f->fl_mode == FL_CHUNKED && (rc = chunks_more(rq, b,
		    &toobig)) != CK_NEED)
			return (rc == CK_DONE ? 1 : toobig ? -3 : -2);
		if (buf_avail(b) >= rq->rq_hold || (f->fl_mode == FL_LENGTH &&
		    buf_avail(b) >= f->fl_remain))
			return (1);
		if (!cn->cn_ep.ep_readable || W.w_budget <= 0)
			return (0);
		if ((n = endp_fill(&cn->cn_ep)) > 0) {
			W.w_budget -= n;
			rearm(&cn->cn_timer, &W.w_q[TQ_BODY],
			    cn->cn_timer.t_cb, 1);
			continue;
		}
		if (n == -2)
			return (1);	/* the buffer is full: stream on */
		if (n == 0 || cn->cn_ep.ep_err)
			return (-1);
		return (0);
	}
}

/*
 * proxy_hold(): the stage-requested extension of buffer_body().  The head
 * is still at the buffer's start (stages read it), so the body is
 * counted from b_start + rq_headlen and the buffer grows rather than
 * compacts.
 */
int
proxy_hold(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct buf	*b = &cn->cn_ep.ep_in;
	size_t		 hl = rq->rq_headlen, want, cap;
	uint64_t	 clen = rq->rq_msg.m_clen;
	int		 chunked = (rq->rq_mflags & M_CHUNKED) != 0, rc;
	int		 toobig = 0;
	enum chunk_rc	 ck;
	ssize_t		 n;

	if (!(rq->rq_flags & RQ_BUFFERING)) {
		/* First call: the chunk walk starts after the head. */
		rq->rq_flags |= RQ_BUFFERING;
		chunked_init(&rq->rq_preck);
		rq->rq_prescan = hl;
		/* RFC 9110 10.1.1: the client waits for "100 Continue". */
		if ((rq->rq_mflags & M_EXPECT_100) && rq->rq_version == 11 &&
		    buf_avail(b) == hl) {
			rq->rq_back.fl_head = continue100;
			rq->rq_back.fl_hlen = sizeof(continue100) - 1;
		}
	}
	if (rq->rq_back.fl_hlen) {
		if ((rc = flow_write(&rq->rq_back, NULL, &cn->cn_ep)) <= 0)
			return (rc);
		rq->rq_back.fl_started = 0;
	}
	want = chunked ? hl + rq->rq_holdmax + HOLD_FRAMING : hl + clen;
	for (;;) {
		if (chunked && (ck = chunks_more(rq, b, &toobig)) != CK_NEED) {
			if (ck == CK_ERROR && toobig) {
				req_fail(rq, 413, EV_BLOCKED,
				    "payload_too_large", "request body larger "
				    "than the limit for this path");
				return (2);
			}
			if (ck == CK_ERROR) {
				req_fail(rq, 400, EV_BLOCKED, "bad_request",
				    "malformed chunked body");
				return (2);
			}
			rq->rq_heldlen = rq->rq_prescan - hl;
			break;
		}
		if (!chunked && buf_avail(b) >= want) {
			rq->rq_heldlen = clen;
			break;
		}
		if (buf_avail(b) >= want) {
			req_fail(rq, 413, EV_BLOCKED, "payload_too_large",
			    "webhook body over the body size limit");
			return (2);
		}
		if (b->b_start + want > b->b_cap && b->b_end == b->b_cap) {
			/* Grow: double, up to what may be held. */
			cap = 2 * b->b_cap > want ? want : 2 * b->b_cap;
			if (cap < b->b_cap)
				cap = b->b_cap;	/* room for a next head */
			if (W.w_heapin + cap > HOLD_BUDGET) {
				rq->rq_retry_after = 1;
				req_fail(rq, 503, EV_BLOCKED,
				    "service_unavailable", "too many request "
				    "bodies held for verification; try again "
				    "later");
				return (2);
			}
			if (cap < buf_avail(b) + 1 ||
			    conn_grow_inbuf(cn, cap) == -1)
				return (-1);
		}
		if (!cn->cn_ep.ep_readable || W.w_budget <= 0)
			return (0);
		if ((n = endp_fill(&cn->cn_ep)) > 0) {
			W.w_budget -= n;
			rearm(&cn->cn_timer, &W.w_q[TQ_BODY],
			    cn->cn_timer.t_cb, 1);
			continue;
		}
		if (n == -2)
			continue;	/* full: grows above */
		if (n == 0 || cn->cn_ep.ep_err)
			return (-1);
		if (!timer_armed(&cn->cn_timer) ||
		    cn->cn_timer.t_q != &W.w_q[TQ_BODY])
			timer_set(&cn->cn_timer, &W.w_q[TQ_BODY],
			    cn->cn_timer.t_cb);
		return (0);
	}
	rq->rq_held = b->b_data + b->b_start + hl;
	rq->rq_flags &= ~(RQ_HOLD | RQ_BUFFERING);
	rq->rq_flags |= RQ_HELD;
	return (1);
}

/* RFC 9110 9.2.2: the idempotent methods that may be sent again. */
static int
retry_method(const struct req *rq)
{
	switch (rq->rq_meth) {
	case HM_GET:
	case HM_HEAD:
	case HM_OPTIONS:
	case HM_PUT:
	case HM_DELETE:
		return (1);
	default:
		return (0);
	}
}

/*
 * An idempotent request without a body, or with one still held whole
 * in the client buffer, may be sent again: when a pooled connection dies
 * before answering, and for resilience.retry.
 */
static int
retryable(const struct req *rq)
{
	return (retry_method(rq) && (rq->rq_fwd.fl_mode == FL_NONE ||
	    (rq->rq_flags & RQ_BODY_HELD)));
}

/* Set the request up to be sent again from its first byte. */
static void
rewind_request(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct flow	*f = &rq->rq_fwd;
	enum fl_mode	 mode = f->fl_mode;

	memset(f, 0, sizeof(*f));
	f->fl_head = rq->rq_uphead;
	f->fl_hlen = rq->rq_uphead_len;
	f->fl_mode = mode;
	if (mode == FL_LENGTH)
		f->fl_remain = rq->rq_msg.m_clen;
	else if (mode == FL_CHUNKED) {
		f->fl_chunkout = 1;
		chunked_init(&f->fl_ck);
	}
	if (rq->rq_flags & RQ_BODY_HELD)
		cn->cn_ep.ep_in.b_start = rq->rq_body_start;
}

static int
can_retry(struct req *rq, struct upconn *up)
{
	return (retryable(rq) && up->up_nreq > 1 &&
	    !(rq->rq_flags & RQ_RETRIED) && !(rq->rq_flags & RQ_RESP_HEAD) &&
	    buf_avail(&up->up_ep.ep_in) == 0);
}

static enum pr
retry(struct conn *cn)
{
	struct req	*rq = cn->cn_req;

	proxy_finish(cn, 0);
	rq->rq_flags |= RQ_RETRIED;
	rewind_request(cn);
	if (attach_upstream(cn) == -1)
		return (attach_failed(cn));
	return (proxy_run(cn));
}

/* ------------------------------------------------------------ resilience */

/*
 * Tell the circuit breaker how the attempt went (ok 1 or 0), or that it
 * ended without a verdict (-1: the client left, or vibewarden refused it),
 * which hands a half-open probe over to the next request.
 */
static void
outcome(struct conn *cn, int ok)
{
	struct req	*rq = cn->cn_req;

	if (!(rq->rq_flags & RQ_CB_PENDING))
		return;
	rq->rq_flags &= ~RQ_CB_PENDING;
	if (ok < 0)
		resil_cb_cancel(rq->rq_cbtoken);
	else
		resil_cb_result(rq->rq_conf, util_now_ms, rq->rq_cbtoken, ok);
	rq->rq_cbtoken = 0;
}

static int
in_list(const struct intlist *l, int v)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return (1);
	return (0);
}

/*
 * resilience.retry: may this attempt be followed by another?  status is
 * the upstream's answer, or 0 when no connection could be made.  Never an
 * Upgrade, never a half-open probe, never once a byte of the answer went
 * to the client, never an answer longer than RESIL_RESP_HOLD (it is not
 * held back), and only within the retry budget.
 */
static int
want_retry(struct conn *cn, int status)
{
	struct req			*rq = cn->cn_req;
	const struct cf_resilience	*r = &rq->rq_conf->resilience;
	struct http_msg			*m = &rq->rq_resp;
	enum http_body			 hb;

	if (!r->retry.enabled || rq->rq_attempt >= r->retry.max_attempts ||
	    !retryable(rq) || rq->rq_cbtoken != 0 ||
	    (rq->rq_flags & RQ_WS) ||
	    (rq->rq_mflags & (M_UPGRADE_WS | M_UPGRADE_OTHER)) ||
	    rq->rq_back.fl_started || rq->rq_back.fl_hlen)
		return (0);
	if (status != 0) {
		if (!in_list(&r->retry.retry_on, status) ||
		    !rq->rq_fwd.fl_done)
			return (0);
		hb = http_response_body(m, rq->rq_meth);
		if (hb == HB_CHUNKED || hb == HB_CLOSE ||
		    (hb == HB_LENGTH && m->m_clen > RESIL_RESP_HOLD))
			return (0);
	}
	if (r->circuit_breaker.enabled && resil_cb_state() != CB_CLOSED)
		return (0);
	return (resil_budget_take(util_now_ms));
}

static void
backoff_cb(struct timer *t)
{
	struct req	*rq = (struct req *)((char *)t -
	    offsetof(struct req, rq_btimer));

	rq->rq_flags &= ~RQ_BACKOFF;
	conn_run(rq->rq_conn);
}

/*
 * Drop the attempt's answer (nothing of it reached the client) and its
 * connection, and wait a jittered backoff (resil_backoff) on a timer of
 * the event loop before the next attempt.
 */
static enum pr
schedule_retry(struct conn *cn, int status)
{
	struct req	*rq = cn->cn_req;
	struct logev	 le;
	uint64_t	 delay;

	proxy_finish(cn, 0);
	rq->rq_arena.a_used = rq->rq_amark;
	rq->rq_flags &= ~(RQ_RESP_HEAD | RQ_RETRIED);
	rewind_request(cn);
	delay = resil_backoff(rq->rq_conf, rq->rq_attempt, resil_random());
	rq->rq_attempt++;
	logev_init(&le, LOG_LVL_INFO, "low", "resilience", "upstream.retry");
	if (log_enabled(le.le_level)) {
		logev_summary(&le, "%.*s %.*s: attempt %d after %s%d, in %llu "
		    "ms", (int)(rq->rq_lmethod.len > 16 ? 16 :
		    rq->rq_lmethod.len), rq->rq_lmethod.p ? rq->rq_lmethod.p :
		    "", (int)(rq->rq_lpath.len > 120 ? 120 : rq->rq_lpath.len),
		    rq->rq_lpath.p ? rq->rq_lpath.p : "", rq->rq_attempt,
		    status ? "status " : "a connect failure", status ? status :
		    0, (unsigned long long)delay);
		logev_str(&le, "method", rq->rq_lmethod.p, rq->rq_lmethod.len);
		logev_str(&le, "path", rq->rq_lpath.p, rq->rq_lpath.len);
		logev_int(&le, "attempt", rq->rq_attempt);
		logev_int(&le, "status_code", status);
		logev_int(&le, "delay_ms", (long long)delay);
		logev_cstr(&le, "client_ip", rq->rq_cip);
		le.le_request_id = rq->rq_id[0] ? rq->rq_id : NULL;
		le.le_actor_ip = rq->rq_cip;
		logev_emit(&le);
	}
	timer_del(&cn->cn_timer);
	rq->rq_flags |= RQ_BACKOFF;
	timer_set_at(&rq->rq_btimer, &W.w_q[TQ_BACKOFF], util_now_ms + delay,
	    backoff_cb);
	return (PR_AGAIN);
}

void
proxy_req_done(struct req *rq)
{
	if (rq == NULL)
		return;
	timer_del(&rq->rq_btimer);
	if (rq->rq_flags & RQ_CB_PENDING) {
		rq->rq_flags &= ~RQ_CB_PENDING;
		resil_cb_cancel(rq->rq_cbtoken);
	}
}

/*
 * Read and check the response head.  Returns 1 when parsed, 0 to wait,
 * -1 on a malformed or missing response, -2 when a retry is in order.
 */
static int
read_resp_head(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct upconn	*up = cn->cn_up;
	struct buf	*b = &up->up_ep.ep_in;
	struct http_msg	*m = &rq->rq_resp;
	size_t		 scan, mark = rq->rq_arena.a_used;
	ssize_t		 hl, n;

	for (;;) {
		if (buf_avail(b) > 0) {
			/* Each interim response reuses the same space. */
			rq->rq_arena.a_used = mark;
			scan = 0;
			hl = http_head_end(b->b_data + b->b_start,
			    buf_avail(b), &scan, b->b_cap, 0);
			if (hl < 0)
				return (-1);
			if (hl > 0) {
				if (http_parse_response(b->b_data + b->b_start,
				    (size_t)hl, m, &rq->rq_arena) == -1)
					return (-1);
				/* Interim 1xx (not 101): not forwarded. */
				if (m->m_status >= 100 && m->m_status < 200 &&
				    m->m_status != 101) {
					b->b_start += (size_t)hl;
					continue;
				}
				return (1);
			}
		}
		if (!up->up_ep.ep_readable)
			return (0);
		n = endp_fill(&up->up_ep);
		if (n > 0)
			continue;
		if (n == -1 && !up->up_ep.ep_err)
			return (0);
		if (n == -2)
			return (-1);
		return (can_retry(rq, up) && buf_avail(b) == 0 ? -2 : -1);
	}
}

/* Parsed response head: decide framing, tunnel or not, build our head. */
static int
start_response(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct http_msg	*m = &rq->rq_resp;
	struct flow	*f = &rq->rq_back;
	enum http_body	 hb;

	rq->rq_flags |= RQ_RESP_HEAD;
	rq->rq_status = m->m_status;
	rq->rq_up_ms = util_now_ms - rq->rq_up_start_ms;
	memset(f, 0, sizeof(*f));
	if (m->m_status == 101) {
		/* SPEC.md 9: only a correct handshake opens a tunnel. */
		if (!(rq->rq_flags & RQ_WS) ||
		    !vw_str_caseeq(http_field_get(m, H_UPGRADE),
		    "websocket", 9) ||
		    !ws_accept_valid(rq->rq_wskey,
		    http_field_get(m, H_SEC_WS_ACCEPT)))
			return (-1);
		hb = HB_NONE;
	} else {
		hb = http_response_body(m, rq->rq_meth);
		/*
		 * A refused upgrade: the client may already have sent
		 * optimistic tunnel bytes (RFC 9931), which must not be read
		 * as a next request.  Close after this response.
		 */
		if (rq->rq_mflags & (M_UPGRADE_WS | M_UPGRADE_OTHER))
			cn->cn_close = 1;
	}
	if (hb == HB_CLOSE || (hb == HB_CHUNKED && rq->rq_version == 10))
		cn->cn_close = 1;
	if (W.w_draining && m->m_status != 101)
		cn->cn_close = 1;
	if (build_clhead(rq, hb) == -1)
		return (-1);
	cn->cn_up->up_ep.ep_in.b_start += m->m_head_len;
	switch (hb) {
	case HB_NONE:
		f->fl_mode = FL_NONE;
		break;
	case HB_LENGTH:
		f->fl_mode = m->m_clen ? FL_LENGTH : FL_NONE;
		f->fl_remain = m->m_clen;
		break;
	case HB_CHUNKED:
		f->fl_mode = FL_CHUNKED;
		f->fl_chunkout = rq->rq_version == 11;
		chunked_init(&f->fl_ck);
		break;
	case HB_CLOSE:
		f->fl_mode = FL_CLOSE;
		break;
	}
	return (0);
}

static void
open_tunnel(struct conn *cn)
{
	struct req	*rq = cn->cn_req;

	cn->cn_state = CS_TUNNEL;
	cn->cn_close = 1;
	memset(&rq->rq_fwd, 0, sizeof(rq->rq_fwd));
	rq->rq_fwd.fl_mode = FL_RAW;
	rq->rq_back.fl_mode = FL_RAW;
	rq->rq_back.fl_srcdone = 0;
	rq->rq_back.fl_done = 0;
	timer_del(&cn->cn_timer);
	timer_del(&cn->cn_up->up_timer);
	counters_tunnel(W.w_ctr, 1);
	/* Original 8.1: request.proxied with 101 when the tunnel opens. */
	conn_log_request(cn);
}

static void	 tunnel_timeout(struct timer *);

/*
 * Raw bytes both ways.  When one side stops sending, its peer is
 * half-closed and the other direction goes on (a WebSocket close
 * handshake, a final frame); the tunnel ends when both are done or either
 * fails.  server.websocket_idle_timeout bounds silence (off by default,
 * SPEC.md 9); after a half-close, idle_timeout bounds the rest.
 */
static enum pr
tunnel_run(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct upconn	*up = cn->cn_up;
	uint64_t	 moved = rq->rq_fwd.fl_bytes + rq->rq_back.fl_bytes;
	int		 a, b;

	a = flow_pump(&rq->rq_fwd, &cn->cn_ep, &up->up_ep);
	b = flow_pump(&rq->rq_back, &up->up_ep, &cn->cn_ep);
	if (a == 1 && !rq->rq_fwd.fl_shut) {
		up->up_ep.ep_ops->eo_shutdown(&up->up_ep);
		rq->rq_fwd.fl_shut = 1;
	}
	if (b == 1 && !rq->rq_back.fl_shut) {
		cn->cn_ep.ep_ops->eo_shutdown(&cn->cn_ep);
		rq->rq_back.fl_shut = 1;
	}
	if (a < 0 || b < 0 || (a == 1 && b == 1)) {
		counters_tunnel(W.w_ctr, -1);
		proxy_finish(cn, 0);
		return (PR_DONE);
	}
	if (a == 1 || b == 1)
		rearm(&cn->cn_timer, &W.w_q[TQ_IDLE], tunnel_timeout,
		    moved != rq->rq_fwd.fl_bytes + rq->rq_back.fl_bytes);
	else
		rearm(&cn->cn_timer, &W.w_q[TQ_WSIDLE], tunnel_timeout,
		    moved != rq->rq_fwd.fl_bytes + rq->rq_back.fl_bytes);
	return (PR_AGAIN);
}

static void
tunnel_timeout(struct timer *t)
{
	struct conn	*cn = (struct conn *)((char *)t -
	    offsetof(struct conn, cn_timer));

	counters_tunnel(W.w_ctr, -1);
	conn_close(cn, "tunnel idle timeout");
}

/* Output of f not yet accepted by its destination. */
static int
flow_pending(const struct flow *f)
{
	return (f->fl_hlen || f->fl_prelen > f->fl_preoff || f->fl_dlen ||
	    f->fl_postlen);
}

static void
rearm(struct timer *t, struct tqueue *q, timer_cb *cb, int progress)
{
	if (progress || !timer_armed(t) || t->t_q != q)
		timer_set(t, q, cb);
}

/*
 * One timer per side, charged to whoever we wait for (SPEC.md 2): the
 * client not reading our answer (write_timeout) or not sending its body
 * (body_timeout, 408), the upstream not taking the request or not
 * answering (resilience.timeout, 504).  Progress re-arms, so each is an
 * idle gap, never a cap on a long transfer.
 */
static void
arm_timers(struct conn *cn, uint64_t fwd0, uint64_t back0)
{
	struct req	*rq = cn->cn_req;
	struct upconn	*up = cn->cn_up;
	struct flow	*fw = &rq->rq_fwd, *bk = &rq->rq_back;
	int		 on_client_write = flow_pending(bk);
	int		 on_client_body = !fw->fl_done && !flow_pending(fw) &&
			    !on_client_write;
	int		 progress = fw->fl_bytes != fwd0 || bk->fl_bytes != back0;

	if (on_client_write)
		rearm(&cn->cn_timer, &W.w_q[TQ_WRITE], cn->cn_timer.t_cb,
		    bk->fl_bytes != back0);
	else if (on_client_body)
		rearm(&cn->cn_timer, &W.w_q[TQ_BODY], cn->cn_timer.t_cb,
		    fw->fl_bytes != fwd0);
	else
		timer_del(&cn->cn_timer);
	if (up == NULL)
		return;
	/* A TLS handshake is part of connecting: connect_timeout, 502. */
	if (up->up_state == UP_CONNECTING ||
	    !up->up_ep.ep_ops->eo_established(&up->up_ep))
		rearm(&up->up_timer, &W.w_q[TQ_CONNECT], up_timeout_cb, 0);
	else if (on_client_write || on_client_body)
		timer_del(&up->up_timer);
	else
		rearm(&up->up_timer, &W.w_q[TQ_RESPONSE], up_timeout_cb,
		    progress);
}

/*
 * The response body broke: malformed framing, a reset, or an EOF before
 * its end.  SPEC.md 4: 502 while nothing has reached the client;
 * otherwise its connection is closed, and the log says what happened to
 * the answer it got (upstream.error with the bytes sent, not a 200).
 */
static enum pr
upstream_broke(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct upconn	*up = cn->cn_up;
	const char	*why;

	if (up->up_ep.ep_err)
		why = "upstream connection failed mid-response";
	else if (up->up_ep.ep_eof)
		why = "upstream closed the connection mid-response";
	else
		why = "invalid response body from the upstream";
	if (!rq->rq_back.fl_started)
		return (proxy_fail(cn, 502, EV_UPSTREAM_ERROR, why));
	rq->rq_event = EV_UPSTREAM_ERROR;
	rq->rq_errmsg = why;
	proxy_finish(cn, 0);
	return (PR_ABORT);
}

enum pr
proxy_run(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct upconn	*up = cn->cn_up;
	uint64_t	 fwd0 = rq->rq_fwd.fl_bytes, back0 = rq->rq_back.fl_bytes;
	enum pr		 r;
	int		 rc, st;

	if (cn->cn_state == CS_TUNNEL)
		return (tunnel_run(cn));
	if (rq->rq_flags & RQ_BACKOFF)
		return (PR_AGAIN);	/* backoff_cb() comes back */
	if (up == NULL && !(rq->rq_flags & RQ_BUFFERING)) {
		/* The backoff is over: the next attempt. */
		if (attempt(cn, &r) == -1)
			return (r);
		up = cn->cn_up;
	}
	if (rq->rq_flags & RQ_BUFFERING) {
		if ((rc = buffer_body(cn)) == -2)
			return (proxy_fail(cn, 400, EV_BLOCKED,
			    "malformed chunked body"));
		if (rc == -3)
			return (body_too_large(cn));
		if (rc < 0) {
			proxy_finish(cn, 0);
			return (PR_ABORT);	/* the client went away */
		}
		if (rc == 0) {
			if (!timer_armed(&cn->cn_timer) ||
			    cn->cn_timer.t_q != &W.w_q[TQ_BODY])
				timer_set(&cn->cn_timer, &W.w_q[TQ_BODY],
				    cn->cn_timer.t_cb);
			return (PR_AGAIN);
		}
		rq->rq_flags &= ~RQ_BUFFERING;
		if (rq->rq_bodyck) {
			const char	*p;
			size_t		 n;

			p = held_body(rq, &cn->cn_ep.ep_in, &n);
			if (pipe_body(rq, p, n) == V_DONE) {
				/* Answered (req_fail): no upstream. */
				conn_own_response(cn);
				return (PR_DONE);
			}
		}
		if (first_attempt(cn, &r) == -1)
			return (r);
		up = cn->cn_up;
	}
	if (up->up_state == UP_CONNECTING) {
		if (!up->up_ep.ep_writable)
			goto again;
		if (up_connect_result(up) == -1) {
			outcome(cn, 0);
			if (want_retry(cn, 0))
				return (schedule_retry(cn, 0));
			return (proxy_fail(cn, 502, EV_UPSTREAM_ERROR,
			    "upstream connection refused"));
		}
		up->up_state = UP_ACTIVE;	/* arm_timers() moves the timer */
	}
	if (!rq->rq_fwd.fl_done) {
		int had_head = rq->rq_fwd.fl_hlen > 0;

		rc = flow_pump(&rq->rq_fwd, &cn->cn_ep, &up->up_ep);
		if (rc == -3)
			return (body_too_large(cn));
		if (rc == -1) {
			if (cn->cn_ep.ep_eof || cn->cn_ep.ep_err) {
				/* The client went away mid-body. */
				proxy_finish(cn, 0);
				return (PR_ABORT);
			}
			return (proxy_fail(cn, 400, EV_BLOCKED,
			    "malformed chunked body"));
		}
		if (rc == -2) {
			if (can_retry(rq, up))
				return (retry(cn));
			return (proxy_fail(cn, 502, EV_UPSTREAM_ERROR,
			    "upstream write failed"));
		}
		if (rq->rq_fwd.fl_done)
			conn_request_read(cn);
		/* The request is out: the answer cannot be buffered yet. */
		if (had_head && rq->rq_fwd.fl_hlen == 0 &&
		    buf_avail(&up->up_ep.ep_in) == 0 && !up->up_ep.ep_eof)
			up->up_ep.ep_readable = 0;
	}
	if (!(rq->rq_flags & RQ_RESP_HEAD) && rq->rq_back.fl_hlen) {
		/* A pending "100 Continue" goes out whole before any answer. */
		if ((rc = flow_write(&rq->rq_back, NULL, &cn->cn_ep)) < 0)
			return (PR_ABORT);
		if (rc == 0)
			goto again;
		rq->rq_back.fl_started = 0;
	}
	if (!(rq->rq_flags & RQ_RESP_HEAD)) {
		rc = read_resp_head(cn);
		if (rc == -2)
			return (retry(cn));
		if (rc == -1)
			return (proxy_fail(cn, 502, EV_UPSTREAM_ERROR,
			    "invalid or no response from the upstream"));
		if (rc == 0)
			goto again;
		/* resilience: 502, 503 and 504 count against the upstream. */
		st = rq->rq_resp.m_status;
		outcome(cn, st != 502 && st != 503 && st != 504);
		if (want_retry(cn, st))
			return (schedule_retry(cn, st));
		if (start_response(cn) == -1)
			return (proxy_fail(cn, 502, EV_UPSTREAM_ERROR,
			    "invalid response from the upstream"));
	}
	rc = flow_pump(&rq->rq_back, &up->up_ep, &cn->cn_ep);
	if (rc == -1)
		return (upstream_broke(cn));
	if (rc < 0)
		return (PR_ABORT);	/* the client stopped reading */
	if (rc == 0)
		goto again;
	if (rq->rq_status == 101) {
		open_tunnel(cn);
		return (tunnel_run(cn));
	}
	if (!rq->rq_fwd.fl_done) {
		/* Answered before the whole body arrived: stop here. */
		cn->cn_close = 1;
		proxy_finish(cn, 0);
		return (PR_DONE);
	}
	/* Framing allows reuse; up_release() checks the socket itself. */
	proxy_finish(cn, rq->rq_back.fl_mode != FL_CLOSE &&
	    !(rq->rq_resp.m_flags & M_CLOSE));
	return (PR_DONE);
 again:
	arm_timers(cn, fwd0, back0);
	return (PR_AGAIN);
}

void
proxy_up_timeout(struct conn *cn)
{
	struct req	*rq = cn->cn_req;
	struct upconn	*up = cn->cn_up;
	enum pr		 r;

	if (up->up_state == UP_CONNECTING ||
	    !up->up_ep.ep_ops->eo_established(&up->up_ep)) {
		outcome(cn, 0);
		if (want_retry(cn, 0)) {
			schedule_retry(cn, 0);
			return;
		}
		r = proxy_fail(cn, 502, EV_UPSTREAM_ERROR,
		    "upstream connect timed out");
	} else if (!(rq->rq_flags & RQ_RESP_HEAD))
		r = proxy_fail(cn, 504, EV_UPSTREAM_TIMEOUT,
		    "the upstream application did not respond in time");
	else {
		/* Part of the answer is out: the log says it was cut. */
		rq->rq_event = EV_UPSTREAM_TIMEOUT;
		rq->rq_errmsg = "the upstream stalled mid-response";
		r = PR_ABORT;
	}
	if (r == PR_ABORT) {
		conn_close(cn, "upstream stalled");
		return;
	}
	conn_run(cn);
}

static void
up_timeout_cb(struct timer *t)
{
	struct upconn	*up = (struct upconn *)((char *)t -
	    offsetof(struct upconn, up_timer));

	if (up->up_owner != NULL)
		proxy_up_timeout(up->up_owner);
	else
		up_close(up, "pool idle timeout");
}
