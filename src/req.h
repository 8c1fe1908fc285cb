/*
 * req.h: the request context every pipeline stage works on, and the
 * client/upstream connection structures that carry it.  Worker only.
 *
 * Ownership: a struct req and everything it points to (arena, head
 * buffers) live in one BLK_REQ block taken when a request head is complete
 * and returned when its exchange ends.  An idle keep-alive client holds
 * only its struct conn.
 */
#ifndef VW_REQ_H
#define VW_REQ_H

#include <sys/socket.h>

#include <stdint.h>

#include "arena.h"
#include "cidr.h"
#include "config.h"
#include "conn.h"
#include "ev.h"
#include "http_parse.h"

/* What a stage tells the driver (STYLE.md "Request pipeline"). */
enum verdict {
	V_NEXT,		/* run the next stage */
	V_DONE,		/* a response is ready in the req */
	V_AGAIN		/* waiting on I/O: run this stage again later */
};

/* Log events a request can end with (SPEC.md 11). */
enum rq_event {
	EV_PROXIED = 0,		/* request.proxied */
	EV_BLOCKED,		/* request.blocked: framing/parse reject */
	EV_INTERNAL,		/* request.internal: /_vibewarden/... */
	EV_UPSTREAM_TIMEOUT,	/* upstream.timeout */
	EV_UPSTREAM_ERROR,	/* upstream.error (502, or a cut answer) */
	EV_FD_EXHAUSTED,	/* worker.fd_exhausted: no descriptor left for
				   the upstream connection (502) */
	EV_RATE_LIMITED,	/* rate_limit.blocked (429) */
	EV_UNAVAILABLE,		/* upstream.unavailable: 503 without a
				   connect attempt (health, breaker) */
	EV_IP_BLOCKED,		/* ip_filter.blocked (403) */
	EV_CSRF_BLOCKED,	/* csrf.blocked (403) */
	EV_MAINTENANCE,		/* maintenance.request_blocked (503) */
	EV_WEBHOOK_INVALID,	/* webhook.signature_invalid (401) */
	EV_AUTH_DENIED,		/* auth.denied: 401, 302 to login, 403,
				   503 provider unavailable */
	EV_WAF_BLOCKED,		/* audit.waf.blocked (403) */
	EV__COUNT
};

/* One direction of a proxied exchange (see proxy.c). */
enum fl_mode {
	FL_NONE = 0,	/* no body: done once the head is written */
	FL_LENGTH,	/* fl_remain bytes */
	FL_CHUNKED,	/* decode, re-frame as fresh chunks */
	FL_CLOSE,	/* until the source closes */
	FL_RAW		/* tunnel: raw bytes until either side closes */
};

struct flow {
	enum fl_mode	 fl_mode;
	uint64_t	 fl_remain;
	struct chunked	 fl_ck;
	const char	*fl_head;	/* head bytes still to write */
	size_t		 fl_hlen;
	char		 fl_pre[24];	/* chunk-size line still to write */
	size_t		 fl_preoff, fl_prelen;
	size_t		 fl_dlen;	/* payload bytes at src b_start */
	const char	*fl_post;	/* CRLF or last-chunk still to write */
	size_t		 fl_postlen;
	size_t		 fl_skip;	/* source bytes to drop after the
					   pending payload (chunk CRLF) */
	uint64_t	 fl_bytes;	/* payload bytes forwarded */
	uint64_t	 fl_max;	/* chunked payload limit (body_size),
					   0: none */
	unsigned	 fl_chunkout:1;	/* emit chunk framing */
	unsigned	 fl_shut:1;	/* tunnel: destination half-closed */
	unsigned	 fl_srcdone:1;	/* source framing complete */
	unsigned	 fl_started:1;	/* any byte written */
	unsigned	 fl_done:1;	/* everything written */
};

struct upconn;
struct req;
struct auth_ident;
struct kratos_wait;

/* A WAF detection kept for the log (stage_waf.c; arena copies). */
struct waf_det {
	struct waf_det	*wd_next;	/* newest first */
	int		 wd_rule;	/* waf_rule_name() index */
	const char	*wd_rname;	/* the rule's name (ModSecurity: its
					   id); NULL: waf_rule_name() */
	int		 wd_blocked;	/* block mode: the 403's cause */
	const char	*wd_cat;	/* static */
	const char	*wd_loc;	/* static */
	struct vw_str	 wd_name;	/* parameter name (<= 128 bytes) */
	struct vw_str	 wd_value;	/* first 64 bytes of the value */
};

enum cn_state {
	CS_HEAD,	/* reading a request head (or idle keep-alive) */
	CS_PIPE,	/* pipeline stage waiting (V_AGAIN) */
	CS_PROXY,	/* exchanging with the upstream */
	CS_RESP,	/* writing vibewarden's own response */
	CS_TUNNEL,	/* WebSocket tunnel */
	CS_LINGER,	/* answered and half-closed: discarding input */
	CS_DEAD,
	CS_H2		/* an HTTP/2 connection (h2.c): its streams are
			   conns of their own (conn_new_stream) */
};

struct conn {
	struct endp	 cn_ep;
	enum cn_state	 cn_state;
	struct req	*cn_req;
	struct upconn	*cn_up;
	struct timer	 cn_timer;
	struct timer	 cn_rtimer;	/* server.read_timeout: from the
					   first byte of a head to the last
					   byte of its body */
	size_t		 cn_scan;	/* http_head_end() cursor */
	uint32_t	 cn_nreq;
	uint64_t	 cn_linger_until;	/* CS_LINGER deadline */
	unsigned	 cn_close:1;	/* close after the current response */
	unsigned	 cn_rlheld:1;	/* holds a max_connections slot */
	unsigned	 cn_rlover:1;	/* over max_connections: 429 + close */
	unsigned	 cn_bigin:1;	/* ep_in is a heap buffer (grown for a
					   held body), not a BLK_CLIENT */
	unsigned	 cn_parkbig:1;	/* cn_parked is a heap buffer */
	char		*cn_parked;	/* the buffer the request head is in,
					   when ep_in grew (conn_grow_inbuf) */
	size_t		 cn_parkcap;	/* its size, when cn_parkbig */
	void		*cn_rlwait;	/* a Redis decision in flight */
	struct kratos_wait *cn_kwait;	/* a Kratos answer awaited
					   (kratos.c) */
	struct conn	*cn_prev, *cn_next;	/* worker's list */
	struct conn	*cn_rprev, *cn_rnext;	/* ready list (yielded) */
	unsigned	 cn_ready:1;		/* on the ready list */
	unsigned	 cn_stream:1;	/* an HTTP/2 stream (h2.c): no socket,
					   not on the worker's list */
	void		*cn_h2;		/* CS_H2: its session (h2.c) */
	struct sockaddr_storage cn_peer;
	struct ipaddr	 cn_addr;	/* peer address */
	char		 cn_ip[46];	/* peer address as text */
};

enum up_state { UP_CONNECTING, UP_ACTIVE, UP_IDLE, UP_DEAD };

struct upconn {
	struct endp	 up_ep;
	enum up_state	 up_state;
	struct conn	*up_owner;	/* NULL when idle */
	struct timer	 up_timer;
	uint32_t	 up_nreq;	/* requests carried */
	struct upconn	*up_prev, *up_next;	/* idle pool */
};

/*
 * Request arena: the request's fields (100 x 40 B), its normalised path (up
 * to 8 KB), log copies, then the response's fields.
 */
#define REQ_ARENA	32768

/* struct req.rq_rlstate */
#define RLS_NONE	0
#define RLS_WAIT	1	/* Redis decision in flight */
#define RLS_DONE	2	/* answer in rq_rlok/rq_rlretry */

/* struct req.rq_flags */
#define RQ_WS		0x01	/* WebSocket upgrade requested */
#define RQ_RESP_HEAD	0x02	/* upstream response head parsed */
#define RQ_RETRIED	0x04	/* re-sent once on a fresh upstream conn */
#define RQ_OWNRESP	0x08	/* vibewarden answers itself */
#define RQ_LOGGED	0x10	/* its log event is out */
#define RQ_BADHEAD	0x20	/* rejected before its framing was known */
#define RQ_BUFFERING	0x80	/* reading a small body before
				   connecting (proxy.c buffer_body) */
/* struct req.rq_bodyck: who reads the held body (proxy.c, pipe_body) */
#define RB_WAF_FORM	0x01	/* the WAF, as a form */
#define RB_WAF_JSON	0x02	/* the WAF, as JSON */

#define RQ_TRUSTED_PEER	0x40	/* peer in server.trusted_proxies: its
				   X-Forwarded-For is appended to */
#define RQ_BACKOFF	0x100	/* waiting for a retry (rq_btimer) */
#define RQ_BODY_HELD	0x200	/* the whole body is in the client
				   buffer from rq_body_start: re-sendable */
#define RQ_CB_PENDING	0x400	/* an attempt's outcome is owed to the
				   circuit breaker */
#define RQ_HOLD		0x1000	/* a stage waits for the whole body
				   (rq_holdmax): the driver reads it
				   (proxy_hold) before running it again */
#define RQ_HELD		0x2000	/* the whole body is in the client buffer
				   after the head: rq_held */

struct req {
	struct conn		*rq_conn;
	const struct config	*rq_conf;
	struct arena		 rq_arena;
	struct http_msg		 rq_msg;	/* the client's request */
	struct http_msg		 rq_resp;	/* the upstream's response */
	unsigned		 rq_flags;
	int			 rq_stage;	/* pipeline position */

	/* Outcome. */
	int			 rq_status;
	enum rq_event		 rq_event;
	const char		*rq_errcode;	/* JSON "error" */
	const char		*rq_errmsg;	/* JSON "message" */
	const char		*rq_ctype;	/* own response body type */
	const char		*rq_body;	/* own response body */
	size_t			 rq_blen;

	/*
	 * Copies of what outlives the request head: the head bytes are
	 * consumed from the client buffer once forwarded, so rq_msg's
	 * strings are valid only until proxy_start().
	 */
	enum http_method	 rq_meth;
	int			 rq_version;	/* 10 or 11 */
	unsigned		 rq_mflags;	/* rq_msg.m_flags */
	struct vw_str		 rq_lmethod;	/* arena copies for the log */
	struct vw_str		 rq_lpath;
	struct vw_str		 rq_lua;
	struct vw_str		 rq_wskey;	/* Sec-WebSocket-Key */

	size_t			 rq_headlen;	/* head bytes still at the
						   client buffer's start */
	char			 rq_id[129];	/* X-Request-Id */
	char			 rq_cip[46];	/* client IP (stage_reqid):
						   the peer, or the right-most
						   untrusted X-Forwarded-For
						   hop behind a trusted proxy */
	struct ipaddr		 rq_caddr;	/* the same, binary */
	unsigned		 rq_xff_skip;	/* X-Forwarded-For elements, from
						   the left, not believed (and
						   not forwarded) */
	/*
	 * The authenticated user id (arena or config storage), set by the
	 * auth stage; empty for anonymous requests.  The per-user rate
	 * limit (stage_ratelimit_user) keys on it.
	 */
	struct vw_str		 rq_uid;
	uint64_t		 rq_bodymax;	/* body_size limit of this path
						   (stage_bodysize); 0: none */
	struct vw_str		 rq_cors;	/* an allowed Origin to answer
						   with CORS headers (arena;
						   stage_cors); empty: none */
	int			 rq_corspre;	/* answered as a preflight */
	/* The auth stage (stage_auth.c, auth.h). */
	struct auth_ident	*rq_ident;	/* arena; NULL before auth */
	struct vw_str		 rq_authhdr;	/* identity header lines for
						   the upstream (arena) */
	struct vw_str		 rq_xhdr;	/* extra header lines of an own
						   answer (WWW-Authenticate,
						   Location) */
	const char		*rq_authwhy;	/* auth.denied reason */
	/* A decision from Redis (stage_ratelimit waits with V_AGAIN). */
	int			 rq_rlstate;	/* RLS_* */
	int			 rq_rlok;	/* RLS_DONE: allowed */
	int			 rq_rlclosed;	/* RLS_DONE: refused, store
						   down */
	/* A 429 of a rate limit: which one, and its answer headers. */
	const char		*rq_rlkind;	/* "ip", "user",
						   "connections" */
	uint32_t		 rq_rlretry;	/* Retry-After, s */
	uint32_t		 rq_rlquota;	/* burst */
	uint32_t		 rq_rlwindow;	/* s to refill the burst */
	uint64_t		 rq_start_ms;
	uint64_t		 rq_up_start_ms;
	uint64_t		 rq_up_ms;	/* time to response head */

	/* Resilience (proxy.c, resil.h). */
	size_t			 rq_hold;	/* body bytes to read before
						   connecting (buffer_body) */
	size_t			 rq_body_start;	/* RQ_BODY_HELD: its offset */
	size_t			 rq_amark;	/* arena use before the first
						   response head */
	uint64_t		 rq_cbtoken;	/* half-open probe, or 0 */
	int			 rq_attempt;	/* upstream attempts, from 1 */
	uint32_t		 rq_retry_after; /* Retry-After of a 503 */
	struct timer		 rq_btimer;	/* retry backoff */

	/*
	 * A body held for a stage (stage_webhook): at most rq_holdmax bytes
	 * of payload; once RQ_HELD, its raw bytes (chunk framing included)
	 * are rq_held[0..rq_heldlen), right after the head in the client
	 * buffer, valid until proxy_start().
	 */
	uint64_t		 rq_holdmax;
	const char		*rq_held;
	size_t			 rq_heldlen;

	/*
	 * Who reads the first body bytes that buffer_body() holds before
	 * connecting (RB_*, pipe_body()), and the WAF's detections.
	 */
	unsigned		 rq_bodyck;
	struct waf_det		*rq_wafdet;	/* WAF detections to log */
	unsigned		 rq_nwafdet;

	struct chunked		 rq_preck;	/* chunked body read before
						   connecting (proxy.c) */
	size_t			 rq_prescan;	/* its bytes walked so far */
	struct flow		 rq_fwd;	/* client -> upstream */
	struct flow		 rq_back;	/* -> client */
	char			*rq_uphead;	/* head sent upstream */
	size_t			 rq_uphead_len;
	size_t			 rq_uphead_cap;
	char			*rq_clhead;	/* head (+ own body) to client */
	size_t			 rq_clhead_cap;
};

/*
 * Stage helper: record an error answer (status, log event, JSON error code
 * and message).  Returns V_DONE so a stage can `return (req_fail(...));`.
 */
enum verdict	 req_fail(struct req *rq, int status, enum rq_event ev,
		    const char *code, const char *msg);

/*
 * Stage helper: answer with status and a body (static storage or rq's
 * arena) of content type ctype.
 */
enum verdict	 req_respond(struct req *rq, int status, const char *ctype,
		    const char *body, size_t len);

/*
 * Drop the request head from the client buffer once nothing points into it
 * any more (rq_msg's strings die here).  Idempotent.
 */
void		 req_consume_head(struct req *rq);

#endif /* VW_REQ_H */
