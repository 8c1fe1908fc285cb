/*
 * h2.c: HTTP/2 client connections (h2.h, SPEC.md 4 "HTTP/2") on an
 * nghttp2 server session.  nghttp2 does framing, HPACK, flow control and
 * the RFC 9113 checks; this file moves bytes between it and the TLS
 * endpoint, and between each stream and the struct conn that serves it
 * (conn_new_stream): the stream's endp_ops read the synthesized request
 * and take the HTTP/1.1 answer, translated into HEADERS and DATA.
 *
 * Memory per stream is bounded: its request bytes by the stream's flow
 * control window (WINDOW_UPDATE only as the stream's conn reads them), its
 * answer by H2_OUTMAX (the conn's writes see EAGAIN beyond it, so the
 * upstream is read no faster than the client's window opens).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>

#include <nghttp2/nghttp2.h>

#include "h2.h"
#include "http_parse.h"
#include "log.h"
#include "req.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define H2_RHMAX	65536	/* answer head */
#define H2_SENDMAX	65536	/* session output held before writing */
#define H2_WINDOW	65535	/* per-stream receive window */
#define H2_EMPTY_MAX	100	/* empty DATA frames per second */
#define H2_CTRL_MAX	1000	/* PING and SETTINGS frames per second */
#define H2_FBMIN	16384	/* nghttp2's frame buffer is 16 KB + 10 */

/* struct h2s.s_rstate */
#define RS_HEAD		0
#define RS_BODY		1
#define RS_DONE		2

struct h2c;

struct h2s {
	struct h2c	*s_c;
	int32_t		 s_id;
	struct conn	*s_conn;	/* NULL once it closed */
	struct h2s	*s_prev, *s_next;

	/* The header block: [nlen][vlen] name value, ... */
	char		*s_hb;
	size_t		 s_hblen, s_hbcap;
	size_t		 s_nf;
	size_t		 s_hbytes;	/* RFC 9113 6.5.2 size */
	unsigned	 s_toolarge:1;
	unsigned	 s_started:1;	/* its conn exists */
	unsigned	 s_chunked:1;	/* DATA become chunks */
	unsigned	 s_endin:1;	/* END_STREAM received */
	unsigned	 s_shut:1;	/* its conn half-closed */
	unsigned	 s_deferred:1;	/* nghttp2 waits for s_out */
	unsigned	 s_eof:1;	/* the whole answer is in s_out */
	unsigned	 s_closing:1;	/* nghttp2 closes it */
	enum http_method s_meth;

	/* Request bytes for the conn. */
	char		*s_in;
	size_t		 s_inoff, s_inlen, s_incap;
	size_t		 s_unacked;	/* DATA payload not yet consumed */

	/* The answer. */
	int		 s_rstate;
	char		*s_rh;
	size_t		 s_rhlen, s_rhscan;
	enum http_body	 s_mode;
	uint64_t	 s_remain;
	struct chunked	 s_ck;
	char		*s_out;
	size_t		 s_outoff, s_outlen;
};

struct h2c {
	nghttp2_session	*c_sess;
	struct conn	*c_cn;
	struct h2s	*c_streams;
	unsigned	 c_nstreams;
	uint32_t	 c_nopened;	/* streams over its lifetime */
	uint64_t	 c_rstwin, c_emptywin, c_ctrlwin;
	unsigned	 c_nrst, c_nempty, c_nctrl;
	char		*c_out;
	size_t		 c_outoff, c_outlen, c_outcap;
	unsigned	 c_goaway:1;	/* graceful GOAWAY sent */
	unsigned	 c_sent:1;	/* answer bytes left since h2_run */
	unsigned	 c_idle:1;	/* idle timer armed, at c_idleopened */
	uint32_t	 c_idleopened;
	unsigned	 c_abuse:1;	/* closing after GOAWAY */
	unsigned	 c_freeing:1;
	unsigned	 c_fbdirty:1;	/* c_fb written since the last trim */
	void		*c_fb;		/* nghttp2's frame buffer */
	size_t		 c_fblen;
	struct timer	 c_trim;	/* TQ_H2TRIM: idle_trim() */
};

static const struct endp_ops	h2s_ops;

int
h2_alpn(const struct endp *ep)
{
	return (ep->ep_ops == &tls_server_ops && tls_alpn_h2(ep));
}

/* ------------------------------------------------------------ memory */

/*
 * nghttp2 allocates through these.  Its frame buffer (16 KB, one per
 * session, always written before it is read) is page-aligned, so that an
 * idle session can give its pages back (idle_trim), as OpenSSL does its
 * record buffers under SSL_MODE_RELEASE_BUFFERS.
 */
static size_t	 pagesz;

static void *
mem_malloc(size_t n, void *u)
{
	(void)u;
	return (malloc(n));
}

static void *
mem_calloc(size_t nmemb, size_t n, void *u)
{
	(void)u;
	return (calloc(nmemb, n));
}

static void
mem_free(void *p, void *u)
{
	struct h2c	*c = u;

	if (p != NULL && p == c->c_fb)
		c->c_fb = NULL;
	free(p);
}

static void *
mem_realloc(void *p, size_t n, void *u)
{
	struct h2c	*c = u;
	void		*q;

	/* nghttp2_buf_reserve(): the frame buffer's one allocation. */
	if (p == NULL && n >= H2_FBMIN && c->c_fb == NULL) {
		if (pagesz == 0)
			pagesz = (size_t)sysconf(_SC_PAGESIZE);
		if (posix_memalign(&q, pagesz, n) != 0)
			return (NULL);
		c->c_fb = q;
		c->c_fblen = n;
		return (q);
	}
	if ((q = realloc(p, n)) != NULL && p != NULL && p == c->c_fb)
		c->c_fb = NULL;		/* not done by nghttp2 1.52 */
	return (q);
}

static int
idle(struct h2c *c)
{
	return (c->c_nstreams == 0 && c->c_outlen == 0 &&
	    !nghttp2_session_want_write(c->c_sess));
}

/*
 * An idle session's frame buffer holds nothing: nghttp2 resets it after
 * each frame, and no frame is queued.  Its whole pages go back to the
 * kernel (MADV_DONTNEED: private anonymous memory reads as zeros when next
 * touched), 16 KB of each idle connection.  malloc's own data lies outside
 * the block, in no page dropped.  A second after the connection first
 * fell idle, if it still is: a busy one, idle for a moment between
 * streams, makes no system call for it.
 */
static void
idle_trim(struct timer *t)
{
	struct h2c	*c = (struct h2c *)(void *)((char *)t -
			    offsetof(struct h2c, c_trim));
	size_t		 len;

	if (c->c_fb == NULL || !c->c_fbdirty || !idle(c))
		return;
	c->c_fbdirty = 0;
	if ((len = c->c_fblen & ~(pagesz - 1)) > 0)
		(void)madvise(c->c_fb, len, MADV_DONTNEED);
}

/* ------------------------------------------------------------ events */

static void
h2_abuse(struct h2c *c, const char *why)
{
	struct logev	 le;

	if (c->c_abuse)
		return;
	c->c_abuse = 1;
	nghttp2_submit_goaway(c->c_sess, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(c->c_sess),
	    NGHTTP2_ENHANCE_YOUR_CALM, NULL, 0);
	logev_init(&le, LOG_LVL_WARN, "high", "policy", "http2.abuse");
	if (!log_enabled(le.le_level))
		return;
	logev_summary(&le, "HTTP/2 connection from %s closed: %s",
	    c->c_cn->cn_ip, why);
	logev_cstr(&le, "client_ip", c->c_cn->cn_ip);
	logev_cstr(&le, "reason", why);
	le.le_actor_ip = c->c_cn->cn_ip;
	le.le_outcome = "blocked";
	logev_emit(&le);
}

static void
stream_error(struct h2c *c, struct h2s *s, uint32_t code, const char *why)
{
	nghttp2_submit_rst_stream(c->c_sess, NGHTTP2_FLAG_NONE, s->s_id,
	    code);
	if (log_enabled(LOG_LVL_INFO)) {
		struct logev	 le;

		logev_init(&le, LOG_LVL_INFO, "low", "policy",
		    "http2.stream_error");
		logev_summary(&le, "HTTP/2 stream %d from %s reset: %s",
		    (int)s->s_id, c->c_cn->cn_ip, why);
		logev_cstr(&le, "client_ip", c->c_cn->cn_ip);
		logev_cstr(&le, "reason", why);
		le.le_actor_ip = c->c_cn->cn_ip;
		le.le_outcome = "blocked";
		logev_emit(&le);
	}
}

/* ------------------------------------------------------------ streams */

static int
grow(char **p, size_t *cap, size_t need)
{
	size_t	 ncap = *cap ? *cap : 1024;
	char	*np;

	if (need <= *cap)
		return (0);
	while (ncap < need)
		ncap *= 2;
	if ((np = realloc(*p, ncap)) == NULL)
		return (-1);
	*p = np;
	*cap = ncap;
	return (0);
}

static int
in_put(struct h2s *s, const char *p, size_t n)
{
	if (s->s_inoff > 0) {
		memmove(s->s_in, s->s_in + s->s_inoff, s->s_inlen);
		s->s_inoff = 0;
	}
	if (grow(&s->s_in, &s->s_incap, s->s_inlen + n) == -1)
		return (-1);
	memcpy(s->s_in + s->s_inlen, p, n);
	s->s_inlen += n;
	return (0);
}

static void
stream_unlink(struct h2c *c, struct h2s *s)
{
	if (s->s_prev)
		s->s_prev->s_next = s->s_next;
	else
		c->c_streams = s->s_next;
	if (s->s_next)
		s->s_next->s_prev = s->s_prev;
	c->c_nstreams--;
}

static void
stream_free(struct h2c *c, struct h2s *s)
{
	s->s_closing = 1;
	if (s->s_conn != NULL)
		conn_close(s->s_conn, "HTTP/2 stream closed");
	stream_unlink(c, s);
	free(s->s_hb);
	free(s->s_in);
	free(s->s_rh);
	blk_put(BLK_H2OUT, s->s_out);
	free(s);
}

/* Request bytes for the stream's conn: it may read again. */
static void
wake_stream(struct h2s *s)
{
	if (s->s_conn != NULL) {
		s->s_conn->cn_ep.ep_readable = 1;
		conn_wake(s->s_conn);
	}
}

/* The header block is complete: build the request and its conn. */
static void
stream_start(struct h2c *c, struct h2s *s, int endstream)
{
	const struct config	*cf = W.w_conf;
	struct h2_field		*f;
	size_t			 i, off, cap = cf->server.max_header_bytes;
	ssize_t			 hl;
	unsigned		 fl = 0;

	/*
	 * Each stream may take an upstream descriptor: within the worker's
	 * budget for clients (worker_may_accept), or refused, which RFC 9113
	 * 8.7 lets the client retry.
	 */
	if (W.w_nconns + W.w_nstreams >= W.w_maxconns) {
		free(s->s_hb);
		s->s_hb = NULL;
		stream_error(c, s, NGHTTP2_REFUSED_STREAM,
		    "server.max_connections reached");
		return;
	}
	if ((f = calloc(s->s_nf + 1, sizeof(*f))) == NULL ||
	    grow(&s->s_in, &s->s_incap, cap + 64) == -1) {
		free(f);
		stream_error(c, s, NGHTTP2_INTERNAL_ERROR, "out of memory");
		return;
	}
	for (i = 0, off = 0; i < s->s_nf; i++) {
		uint32_t	 nl, vl;

		memcpy(&nl, s->s_hb + off, 4);
		memcpy(&vl, s->s_hb + off + 4, 4);
		f[i].hf_name = s->s_hb + off + 8;
		f[i].hf_nlen = nl;
		f[i].hf_value = s->s_hb + off + 8 + nl;
		f[i].hf_vlen = vl;
		off += 8 + nl + vl;
	}
	hl = s->s_toolarge ? -431 : h2_req_head(f, s->s_nf, endstream,
	    s->s_in, cap, &fl);
	for (i = 0; i < s->s_nf; i++)
		if (f[i].hf_nlen == 7 && memcmp(f[i].hf_name, ":method",
		    7) == 0)
			s->s_meth = http_method_id((struct vw_str){
			    f[i].hf_value, f[i].hf_vlen });
	free(f);
	free(s->s_hb);
	s->s_hb = NULL;
	s->s_hblen = s->s_hbcap = 0;
	if (hl == -1) {
		stream_error(c, s, NGHTTP2_PROTOCOL_ERROR,
		    "malformed request (RFC 9113 8.2)");
		return;
	}
	if (hl == -431) {
		/*
		 * Too large: an unfinished head longer than the limit, so
		 * the conn answers 431 exactly as over HTTP/1.1.
		 */
		hl = snprintf(s->s_in, cap, "GET / HTTP/1.1\r\nx-h2: ");
		memset(s->s_in + hl, 'a', cap - (size_t)hl);
		hl = (ssize_t)cap;
		endstream = 1;
		fl = 0;
	}
	s->s_inlen = (size_t)hl;
	s->s_chunked = (fl & H2H_CHUNKED) != 0;
	if (endstream)
		s->s_endin = 1;
	if ((s->s_conn = conn_new_stream(c->c_cn, &h2s_ops, s)) == NULL) {
		stream_error(c, s, NGHTTP2_INTERNAL_ERROR, "out of memory");
		return;
	}
	s->s_started = 1;
	conn_wake(s->s_conn);
}

/* ------------------------------------------------------------ callbacks */

static int
on_begin_headers(nghttp2_session *sess, const nghttp2_frame *fr, void *arg)
{
	struct h2c	*c = arg;
	struct h2s	*s;
	int		 cap = W.w_conf->server.keepalive_requests;

	if (c->c_freeing || fr->hd.type != NGHTTP2_HEADERS ||
	    fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return (0);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
	s->s_c = c;
	s->s_id = fr->hd.stream_id;
	s->s_next = c->c_streams;
	if (c->c_streams)
		c->c_streams->s_prev = s;
	c->c_streams = s;
	c->c_nstreams++;
	nghttp2_session_set_stream_user_data(sess, s->s_id, s);
	/* Streams over a lifetime, as keepalive_requests for HTTP/1.1. */
	if (++c->c_nopened >= (uint32_t)cap && cap > 0 && !c->c_goaway) {
		c->c_goaway = 1;
		nghttp2_submit_goaway(sess, NGHTTP2_FLAG_NONE, s->s_id,
		    NGHTTP2_NO_ERROR, NULL, 0);
	}
	return (0);
}

static int
on_header(nghttp2_session *sess, const nghttp2_frame *fr,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *arg)
{
	struct h2c	*c = arg;
	struct h2s	*s;
	size_t		 max = W.w_conf->server.max_header_bytes;
	uint32_t	 nl = (uint32_t)nlen, vl = (uint32_t)vlen;

	if (c->c_freeing || fr->hd.type != NGHTTP2_HEADERS ||
	    (s = nghttp2_session_get_stream_user_data(sess,
	    fr->hd.stream_id)) == NULL)
		return (0);
	/* Trailers too: dropped, but nghttp2 decodes and checks each. */
	s->s_hbytes += nlen + vlen + 32;
	if (s->s_hbytes > 2 * max) {
		/* Far beyond the limit: a CONTINUATION flood or a bomb. */
		h2_abuse(c, "header block too large");
		return (NGHTTP2_ERR_CALLBACK_FAILURE);
	}
	if (fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return (0);	/* trailers are dropped */
	if (s->s_hbytes > max || s->s_nf >= HTTP_MAX_FIELDS + 4) {
		s->s_toolarge = 1;
		return (0);
	}
	if (grow(&s->s_hb, &s->s_hbcap, s->s_hblen + 8 + nlen + vlen) == -1)
		return (NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
	memcpy(s->s_hb + s->s_hblen, &nl, 4);
	memcpy(s->s_hb + s->s_hblen + 4, &vl, 4);
	memcpy(s->s_hb + s->s_hblen + 8, name, nlen);
	memcpy(s->s_hb + s->s_hblen + 8 + nlen, value, vlen);
	s->s_hblen += 8 + nlen + vlen;
	s->s_nf++;
	return (0);
}

static void
end_input(struct h2s *s)
{
	if (s->s_endin)
		return;
	s->s_endin = 1;
	if (s->s_chunked && s->s_conn != NULL)
		in_put(s, "0\r\n\r\n", 5);
	wake_stream(s);
}

/*
 * A stream reset, by the client or by us for the client's fault: either
 * way the stream stops counting against MAX_CONCURRENT_STREAMS while the
 * work it started (an upstream request) may go on, so both count.
 */
static void
count_reset(struct h2c *c)
{
	unsigned	 lim = 2 * (unsigned)W.w_conf->server.http2_max_streams;

	if (util_now_ms - c->c_rstwin >= 1000) {
		c->c_rstwin = util_now_ms;
		c->c_nrst = 0;
	}
	if (++c->c_nrst > lim)
		h2_abuse(c, "rapid reset");
}

/*
 * Our RST_STREAM for the client's fault (MadeYouReset, CVE-2025-8671: a
 * frame nghttp2 answers with a stream error, such as a WINDOW_UPDATE
 * overflowing the window of a stream whose request was proxied).
 * INTERNAL_ERROR is ours (stream_error on a bad answer, s_close), and a
 * REFUSED_STREAM stream never started: neither counts.
 */
static int
on_frame_send(nghttp2_session *sess, const nghttp2_frame *fr, void *arg)
{
	struct h2c	*c = arg;

	if (!c->c_freeing && fr->hd.type == NGHTTP2_RST_STREAM &&
	    fr->rst_stream.error_code != NGHTTP2_INTERNAL_ERROR &&
	    fr->rst_stream.error_code != NGHTTP2_REFUSED_STREAM)
		count_reset(c);
	return (0);
}

static int
on_frame_recv(nghttp2_session *sess, const nghttp2_frame *fr, void *arg)
{
	struct h2c	*c = arg;
	struct h2s	*s;

	if (c->c_freeing)
		return (0);
	switch (fr->hd.type) {
	case NGHTTP2_PING:
	case NGHTTP2_SETTINGS:
		/*
		 * nghttp2 bounds the acknowledgements it queues, but we stop
		 * reading while output is backed up, so a flood that reads
		 * its acks would never reach that bound: count them.
		 */
		if (fr->hd.flags & NGHTTP2_FLAG_ACK)
			return (0);
		if (util_now_ms - c->c_ctrlwin >= 1000) {
			c->c_ctrlwin = util_now_ms;
			c->c_nctrl = 0;
		}
		if (++c->c_nctrl > H2_CTRL_MAX)
			h2_abuse(c, fr->hd.type == NGHTTP2_PING ?
			    "PING flood" : "SETTINGS flood");
		return (0);
	case NGHTTP2_RST_STREAM:
		/* Rapid reset (CVE-2023-44487). */
		count_reset(c);
		return (0);
	case NGHTTP2_DATA:
		if (fr->hd.length == 0 &&
		    !(fr->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
			if (util_now_ms - c->c_emptywin >= 1000) {
				c->c_emptywin = util_now_ms;
				c->c_nempty = 0;
			}
			if (++c->c_nempty > H2_EMPTY_MAX)
				h2_abuse(c, "empty DATA frame flood");
		}
		break;
	case NGHTTP2_HEADERS:
		break;
	default:
		return (0);
	}
	if ((s = nghttp2_session_get_stream_user_data(sess,
	    fr->hd.stream_id)) == NULL)
		return (0);
	if (fr->hd.type == NGHTTP2_HEADERS &&
	    fr->headers.cat == NGHTTP2_HCAT_REQUEST && !s->s_started)
		stream_start(c, s, (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) !=
		    0);
	else if (fr->hd.flags & NGHTTP2_FLAG_END_STREAM)
		end_input(s);
	return (0);
}

static int
on_data(nghttp2_session *sess, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct h2c	*c = arg;
	struct h2s	*s;
	char		 pre[24];
	int		 pl;

	s = c->c_freeing ? NULL : nghttp2_session_get_stream_user_data(sess,
	    id);
	if (s == NULL || s->s_conn == NULL || s->s_shut || s->s_endin) {
		nghttp2_session_consume(sess, id, len);	/* discarded */
		return (0);
	}
	if (len == 0)
		return (0);
	if (s->s_chunked) {
		pl = snprintf(pre, sizeof(pre), "%zx\r\n", len);
		if (in_put(s, pre, (size_t)pl) == -1)
			return (NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
	}
	if (in_put(s, (const char *)data, len) == -1 ||
	    (s->s_chunked && in_put(s, "\r\n", 2) == -1))
		return (NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
	s->s_unacked += len;
	wake_stream(s);
	return (0);
}

static int
on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *arg)
{
	struct h2c	*c = arg;
	struct h2s	*s;

	if (c->c_freeing ||
	    (s = nghttp2_session_get_stream_user_data(sess, id)) == NULL)
		return (0);
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	stream_free(c, s);
	return (0);
}

/* A frame nghttp2 refused (RFC 9113 8.2 fields, a stream over the limit). */
static int
on_invalid_frame(nghttp2_session *sess, const nghttp2_frame *fr, int err,
    void *arg)
{
	struct h2c	*c = arg;
	struct logev	 le;

	if (c->c_freeing || !log_enabled(LOG_LVL_INFO))
		return (0);
	logev_init(&le, LOG_LVL_INFO, "low", "policy", "http2.stream_error");
	logev_summary(&le, "HTTP/2 frame on stream %d from %s refused: %s",
	    (int)fr->hd.stream_id, c->c_cn->cn_ip, nghttp2_strerror(err));
	logev_cstr(&le, "client_ip", c->c_cn->cn_ip);
	logev_cstr(&le, "reason", nghttp2_strerror(err));
	le.le_actor_ip = c->c_cn->cn_ip;
	le.le_outcome = "blocked";
	logev_emit(&le);
	return (0);
}

static ssize_t
data_read(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
    uint32_t *dflags, nghttp2_data_source *src, void *arg)
{
	struct h2s	*s = src->ptr;
	size_t		 n = s->s_outlen < len ? s->s_outlen : len;

	memcpy(buf, s->s_out + s->s_outoff, n);
	if (n > 0)
		s->s_c->c_sent = 1;
	s->s_outoff += n;
	s->s_outlen -= n;
	if (s->s_outlen == 0)
		s->s_outoff = 0;
	if (n > 0 && s->s_conn != NULL && !s->s_conn->cn_ep.ep_writable) {
		s->s_conn->cn_ep.ep_writable = 1;
		conn_wake(s->s_conn);
	}
	if (s->s_outlen == 0 && s->s_eof) {
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
		return ((ssize_t)n);
	}
	if (n == 0) {
		s->s_deferred = 1;
		return (NGHTTP2_ERR_DEFERRED);
	}
	return ((ssize_t)n);
}

/* ------------------------------------------------------------ the answer */

static void
answer_more(struct h2s *s)
{
	struct h2c	*c = s->s_c;

	if (s->s_deferred) {
		s->s_deferred = 0;
		nghttp2_session_resume_data(c->c_sess, s->s_id);
	}
	conn_wake(c->c_cn);
}

/* The answer's head is s_rh[0..hl): HEADERS.  -1: malformed. */
static int
answer_head(struct h2s *s, size_t hl)
{
	static char		 abuf[32768];
	struct arena		 a;
	struct http_msg		 m;
	nghttp2_nv		*nv;
	nghttp2_data_provider	 dp;
	char			 st[4];
	size_t			 i, j, n = 0;
	int			 rv;

	arena_init(&a, abuf, sizeof(abuf));
	memset(&m, 0, sizeof(m));
	if (http_parse_response(s->s_rh, hl, &m, &a) != 0 ||
	    m.m_status < 100 || m.m_status > 999)
		return (-1);
	if (m.m_status < 200) {
		if (m.m_status == 101)
			return (-1);
		return (0);	/* interim: not forwarded */
	}
	if ((nv = arena_alloc(&a, (m.m_nfields + 1) * sizeof(*nv))) == NULL)
		return (-1);
	snprintf(st, sizeof(st), "%d", m.m_status);
	nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st, 7, 3,
	    NGHTTP2_NV_FLAG_NONE };
	s->s_mode = http_response_body(&m, s->s_meth);
	for (i = 0; i < m.m_nfields; i++) {
		struct http_field	*fl = &m.m_fields[i];
		char			*lc;

		switch (fl->f_id) {
		case H_CONNECTION: case H_KEEP_ALIVE: case H_PROXY:
		case H_TE: case H_TRAILER: case H_UPGRADE:
		case H_TRANSFER_ENCODING:
			continue;	/* connection-specific (8.2.2) */
		case H_CONTENT_LENGTH:
			if (m.m_status == 204)
				continue;
			break;
		default:
			break;
		}
		if (fl->f_flags & F_HOPBYHOP)
			continue;
		if ((lc = arena_alloc(&a, fl->f_name.len + 1)) == NULL)
			return (-1);
		for (j = 0; j < fl->f_name.len; j++)
			lc[j] = (fl->f_name.p[j] >= 'A' &&
			    fl->f_name.p[j] <= 'Z') ? fl->f_name.p[j] + 32 :
			    fl->f_name.p[j];
		/*
		 * A value new in every answer would only churn HPACK's
		 * dynamic table, evicting the security headers that repeat
		 * (nghttp2 itself indexes no content-length, etag, location
		 * or set-cookie).
		 */
		nv[n++] = (nghttp2_nv){ (uint8_t *)lc,
		    (uint8_t *)fl->f_value.p, fl->f_name.len, fl->f_value.len,
		    fl->f_id == H_X_REQUEST_ID ? NGHTTP2_NV_FLAG_NO_INDEX :
		    NGHTTP2_NV_FLAG_NONE };
	}
	if (s->s_mode == HB_LENGTH)
		s->s_remain = m.m_clen;
	chunked_init(&s->s_ck);
	dp.source.ptr = s;
	dp.read_callback = data_read;
	if (s->s_mode == HB_NONE || (s->s_mode == HB_LENGTH &&
	    s->s_remain == 0)) {
		s->s_rstate = RS_DONE;
		s->s_eof = 1;
		rv = nghttp2_submit_response(s->s_c->c_sess, s->s_id, nv, n,
		    NULL);
	} else {
		if (s->s_out == NULL &&
		    (s->s_out = blk_get(BLK_H2OUT)) == NULL)
			return (-1);
		s->s_rstate = RS_BODY;
		rv = nghttp2_submit_response(s->s_c->c_sess, s->s_id, nv, n,
		    &dp);
	}
	return (rv == 0 ? 1 : -1);
}

/* Body bytes of the answer: decode into s_out.  Returns bytes taken. */
static ssize_t
answer_body(struct h2s *s, const char *p, size_t len)
{
	size_t		 room, take, used, doff, dlen;
	enum chunk_rc	 rc;

	if (s->s_outoff > 0) {
		memmove(s->s_out, s->s_out + s->s_outoff, s->s_outlen);
		s->s_outoff = 0;
	}
	room = H2_OUTMAX - s->s_outlen;
	take = len < room ? len : room;
	switch (s->s_mode) {
	case HB_LENGTH:
		if (take > s->s_remain)
			take = (size_t)s->s_remain;
		memcpy(s->s_out + s->s_outlen, p, take);
		s->s_outlen += take;
		if ((s->s_remain -= take) == 0)
			s->s_rstate = RS_DONE;
		return ((ssize_t)take);
	case HB_CHUNKED:
		if (take == 0)
			return (0);
		rc = chunked_step(&s->s_ck, p, take, &used, &doff, &dlen);
		if (rc == CK_ERROR)
			return (-1);
		if (rc == CK_DATA) {
			memcpy(s->s_out + s->s_outlen, p + doff, dlen);
			s->s_outlen += dlen;
		}
		if (rc == CK_DONE)
			s->s_rstate = RS_DONE;
		return ((ssize_t)used);
	default:	/* HB_CLOSE */
		memcpy(s->s_out + s->s_outlen, p, take);
		s->s_outlen += take;
		return ((ssize_t)take);
	}
}

/* ------------------------------------------------------------ stream endp */

static ssize_t
s_recv(struct endp *ep, void *p, size_t n)
{
	struct h2s	*s = ep->ep_tls;

	if (s == NULL || s->s_shut)
		return (0);
	if (s->s_inlen == 0) {
		errno = EAGAIN;
		return (-1);
	}
	if (n > s->s_inlen)
		n = s->s_inlen;
	memcpy(p, s->s_in + s->s_inoff, n);
	s->s_inoff += n;
	s->s_inlen -= n;
	if (s->s_inlen == 0) {
		s->s_inoff = 0;
		/* Read by the conn: the client may send more. */
		if (s->s_unacked > 0) {
			nghttp2_session_consume(s->s_c->c_sess, s->s_id,
			    s->s_unacked);
			s->s_unacked = 0;
			conn_wake(s->s_c->c_cn);
		}
	}
	return ((ssize_t)n);
}

static ssize_t
s_writev(struct endp *ep, const struct iovec *iov, int cnt)
{
	struct h2s	*s = ep->ep_tls;
	size_t		 total = 0, len, take, extra;
	const char	*p;
	ssize_t		 hl, k;
	int		 i, rc, more = 0;

	if (s == NULL) {
		errno = EPIPE;
		return (-1);
	}
	for (i = 0; i < cnt; i++) {
		p = iov[i].iov_base;
		len = iov[i].iov_len;
		while (len > 0) {
			if (s->s_rstate == RS_DONE) {
				total += len;	/* nothing beyond the answer */
				len = 0;
				break;
			}
			if (s->s_rstate == RS_BODY) {
				if ((k = answer_body(s, p, len)) < 0)
					goto bad;
				if (s->s_rstate == RS_DONE)
					s->s_eof = 1;
				more = 1;
				if (k == 0)
					goto full;
				p += k;
				len -= (size_t)k;
				total += (size_t)k;
				continue;
			}
			/* RS_HEAD */
			if (s->s_rh == NULL &&
			    (s->s_rh = malloc(H2_RHMAX)) == NULL)
				goto bad;
			take = H2_RHMAX - s->s_rhlen;
			if (take > len)
				take = len;
			if (take == 0)
				goto bad;
			memcpy(s->s_rh + s->s_rhlen, p, take);
			s->s_rhlen += take;
			hl = http_head_end(s->s_rh, s->s_rhlen, &s->s_rhscan,
			    H2_RHMAX, 0);
			if (hl < 0)
				goto bad;
			if (hl == 0) {
				p += take;
				len -= take;
				total += take;
				continue;
			}
			extra = s->s_rhlen - (size_t)hl;
			take -= extra;
			p += take;
			len -= take;
			total += take;
			if ((rc = answer_head(s, (size_t)hl)) < 0)
				goto bad;
			s->s_rhlen = s->s_rhscan = 0;
			if (rc == 1) {
				more = 1;
				free(s->s_rh);
				s->s_rh = NULL;
			}
		}
	}
	if (more)
		answer_more(s);
	return ((ssize_t)total);
 full:
	/*
	 * As a full socket buffer: not writable until data_read() takes
	 * bytes (the caller waits for that edge after a short write too).
	 */
	ep->ep_writable = 0;
	if (more)
		answer_more(s);
	if (total > 0)
		return ((ssize_t)total);
	errno = EAGAIN;
	return (-1);
 bad:
	stream_error(s->s_c, s, NGHTTP2_INTERNAL_ERROR, "malformed answer");
	conn_wake(s->s_c->c_cn);
	errno = EPROTO;
	return (-1);
}

static void
s_shutdown(struct endp *ep)
{
	struct h2s	*s = ep->ep_tls;

	if (s == NULL)
		return;
	s->s_shut = 1;
	if (s->s_rstate == RS_BODY && s->s_mode == HB_CLOSE) {
		s->s_rstate = RS_DONE;
		s->s_eof = 1;
		answer_more(s);
	}
}

static void
s_close(struct endp *ep)
{
	struct h2s	*s = ep->ep_tls;
	struct h2c	*c;

	if (s == NULL)
		return;
	c = s->s_c;
	if (!s->s_closing && !c->c_freeing)
		s_shutdown(ep);
	ep->ep_tls = NULL;
	s->s_conn = NULL;
	if (s->s_closing || c->c_freeing)
		return;
	if (s->s_rstate != RS_DONE)
		nghttp2_submit_rst_stream(c->c_sess, NGHTTP2_FLAG_NONE,
		    s->s_id, NGHTTP2_INTERNAL_ERROR);
	else if (!s->s_endin) {
		/* Answered before the whole request came (RFC 9113 8.1). */
		nghttp2_session_consume(c->c_sess, s->s_id, s->s_unacked);
		s->s_unacked = 0;
	}
	conn_wake(c->c_cn);
}

static int
s_established(const struct endp *ep)
{
	return (1);
}

static const struct endp_ops h2s_ops = {
	s_recv, s_writev, s_shutdown, s_close, s_established
};

/* ------------------------------------------------------------ connection */

int
h2_start(struct conn *cn)
{
	const struct config		*cf = W.w_conf;
	nghttp2_session_callbacks	*cb;
	nghttp2_option			*opt;
	nghttp2_mem			 mem;
	struct h2c			*c;
	nghttp2_settings_entry		 iv[4];
	uint32_t			 ms;
	int				 rv;

	ms = (uint32_t)cf->server.http2_max_streams;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (-1);
	c->c_cn = cn;
	if (nghttp2_session_callbacks_new(&cb) != 0) {
		free(c);
		return (-1);
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
	    on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    on_stream_close);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb,
	    on_invalid_frame);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		free(c);
		return (-1);
	}
	/* Request bodies are acknowledged as their conn reads them. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	nghttp2_option_set_max_continuations(opt, 8);
	/* Closed streams are kept only for RFC 7540's priority tree, which
	   RFC 9113 deprecates: about 230 bytes each, up to max_streams of
	   them on an idle connection. */
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* nghttp2's own rapid-reset bound, behind ours (on_frame_recv). */
	nghttp2_option_set_stream_reset_rate_limit(opt, 4 * ms, 2 * ms);
	mem = (nghttp2_mem){ c, mem_malloc, mem_free, mem_calloc,
	    mem_realloc };
	rv = nghttp2_session_server_new3(&c->c_sess, cb, c, opt, &mem);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rv != 0) {
		free(c);
		return (-1);
	}
	iv[0] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ms };
	iv[1] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW };
	iv[2] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
	    (uint32_t)cf->server.max_header_bytes };
	iv[3] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096 };
	if (nghttp2_submit_settings(c->c_sess, NGHTTP2_FLAG_NONE, iv, 4) != 0 ||
	    nghttp2_session_set_local_window_size(c->c_sess,
	    NGHTTP2_FLAG_NONE, 0, (int32_t)(ms * H2_WINDOW > (1U << 24) ?
	    (1U << 24) : ms * H2_WINDOW)) != 0) {
		nghttp2_session_del(c->c_sess);
		free(c);
		return (-1);
	}
	cn->cn_h2 = c;
	conn_h2_timer(cn, 1);
	return (0);
}

/* Session output into c_out, then to the client.  -1: close. */
static int
flush(struct h2c *c)
{
	struct endp	*ep = &c->c_cn->cn_ep;
	const uint8_t	*d;
	ssize_t		 n;
	struct iovec	 iov;

	for (;;) {
		while (c->c_outlen < H2_SENDMAX) {
			if ((n = nghttp2_session_mem_send(c->c_sess, &d)) < 0)
				return (-1);
			if (n == 0)
				break;
			c->c_fbdirty = 1;
			if (c->c_outoff > 0) {
				memmove(c->c_out, c->c_out + c->c_outoff,
				    c->c_outlen);
				c->c_outoff = 0;
			}
			if (grow(&c->c_out, &c->c_outcap, c->c_outlen +
			    (size_t)n) == -1)
				return (-1);
			memcpy(c->c_out + c->c_outlen, d, (size_t)n);
			c->c_outlen += (size_t)n;
		}
		if (c->c_outlen == 0 || !ep->ep_writable)
			return (0);
		iov.iov_base = c->c_out + c->c_outoff;
		iov.iov_len = c->c_outlen;
		n = ep->ep_ops->eo_writev(ep, &iov, 1);
		if (n > 0) {
			c->c_outoff += (size_t)n;
			c->c_outlen -= (size_t)n;
			if (c->c_outlen == 0)
				c->c_outoff = 0;
			W.w_budget -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ep->ep_writable = 0;
			return (0);
		}
		return (-1);
	}
}

/*
 * The connection's timer (conn_h2_timer).  A stream with a conn is timed
 * by that conn; a stream without one has no timeout of its own: a header
 * block never finished (header_timeout, as an unfinished HTTP/1.1 head),
 * an answer its conn left in s_out behind a closed window (write_timeout,
 * from the last answer byte sent), an answered stream the client leaves
 * half-open (idle_timeout).  Otherwise one client could hold connections
 * forever with a single frame each.
 */
static int
timer_for(struct h2c *c)
{
	struct h2s	*s;
	int		 live = 0, unstarted = 0, held = c->c_outlen > 0;

	for (s = c->c_streams; s != NULL; s = s->s_next) {
		if (s->s_conn != NULL)
			live = 1;
		else if (s->s_outlen > 0)
			held = 1;
		else if (!s->s_started && s->s_hb != NULL)
			unstarted = 1;
	}
	if (held) {
		if (c->c_sent)
			conn_h2_timer(c->c_cn, 0);	/* progress: rearm */
		c->c_sent = 0;
		return (2);
	}
	c->c_sent = 0;
	if (unstarted)
		return (3);
	return (live ? 0 : 1);
}

void
h2_run(struct conn *cn)
{
	struct h2c	*c = cn->cn_h2;
	struct buf	*b = &cn->cn_ep.ep_in;
	ssize_t		 n, rv;
	int		 which;

	for (;;) {
		if (buf_avail(b) > 0 && !c->c_abuse) {
			rv = nghttp2_session_mem_recv(c->c_sess,
			    (const uint8_t *)b->b_data + b->b_start,
			    buf_avail(b));
			b->b_start = b->b_end = 0;
			if (rv < 0) {
				if (rv == NGHTTP2_ERR_FLOODED ||
				    rv == NGHTTP2_ERR_TOO_MANY_SETTINGS)
					h2_abuse(c, nghttp2_strerror((int)rv));
				else if (!c->c_abuse) {
					conn_close(cn, "HTTP/2 error");
					return;
				}
			}
		}
		if (flush(c) == -1) {
			conn_close(cn, "client write failed");
			return;
		}
		if (c->c_abuse) {
			/*
			 * The GOAWAY is out: a plain close with the client's
			 * flood still unread would make the kernel reset the
			 * connection, and the client would lose the GOAWAY.
			 */
			if (c->c_outlen == 0)
				conn_h2_linger(cn);
			else
				conn_close(cn, "HTTP/2 abuse");
			return;
		}
		/* Output backed up: read no more until it drains. */
		if (c->c_outlen >= H2_SENDMAX || !cn->cn_ep.ep_readable ||
		    W.w_budget <= 0)
			break;
		if (b->b_data == NULL) {
			if ((b->b_data = blk_get(BLK_CLIENT)) == NULL) {
				conn_close(cn, "out of memory");
				return;
			}
			b->b_cap = blk_size(BLK_CLIENT);
			b->b_start = b->b_end = 0;
		}
		n = endp_fill(&cn->cn_ep);
		if (n > 0) {
			W.w_budget -= n;
			continue;
		}
		if (n == 0 || cn->cn_ep.ep_err) {
			conn_close(cn, "client closed");
			return;
		}
		break;
	}
	if (!nghttp2_session_want_read(c->c_sess) &&
	    !nghttp2_session_want_write(c->c_sess) && c->c_outlen == 0) {
		conn_close(cn, "HTTP/2 session over");
		return;
	}
	if (c->c_goaway && c->c_nstreams == 0 && c->c_outlen == 0 &&
	    W.w_draining) {
		conn_close(cn, "drained");
		return;
	}
	/* Idle: hold no buffers, as an idle HTTP/1.1 connection. */
	if (c->c_nstreams == 0 && buf_avail(b) == 0 && b->b_data != NULL) {
		blk_put(BLK_CLIENT, b->b_data);
		b->b_data = NULL;
		b->b_start = b->b_end = b->b_cap = 0;
	}
	if (c->c_nstreams == 0 && c->c_outlen == 0 && c->c_out != NULL) {
		free(c->c_out);
		c->c_out = NULL;
		c->c_outcap = c->c_outoff = 0;
	}
	if (c->c_fbdirty && !timer_armed(&c->c_trim) && idle(c))
		timer_set(&c->c_trim, &W.w_q[TQ_H2TRIM], idle_trim);
	/*
	 * The idle timer runs from the last stream: frames that start no
	 * request (PING, SETTINGS, WINDOW_UPDATE, PRIORITY) do not rearm
	 * it, or one PING a minute would hold a connection forever.
	 */
	which = timer_for(c);
	if (which == 1 && c->c_idle && c->c_idleopened == c->c_nopened)
		return;
	c->c_idle = which == 1;
	c->c_idleopened = c->c_nopened;
	conn_h2_timer(cn, which);
}

void
h2_drain(struct conn *cn)
{
	struct h2c	*c = cn->cn_h2;

	if (c == NULL)
		return;
	c->c_idle = 0;		/* rearmed on the drain grace */
	if (c->c_goaway) {
		conn_wake(cn);
		return;
	}
	c->c_goaway = 1;
	nghttp2_submit_goaway(c->c_sess, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(c->c_sess),
	    NGHTTP2_NO_ERROR, NULL, 0);
	conn_wake(cn);
}

void
h2_free(struct conn *cn)
{
	struct h2c	*c = cn->cn_h2;

	if (c == NULL)
		return;
	c->c_freeing = 1;
	while (c->c_streams != NULL)
		stream_free(c, c->c_streams);
	nghttp2_session_del(c->c_sess);
	timer_del(&c->c_trim);
	free(c->c_out);
	free(c);
	cn->cn_h2 = NULL;
}
