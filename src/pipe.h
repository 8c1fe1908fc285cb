/*
 * pipe.h: the ordered request pipeline (SPEC.md 5).  Stages are
 * `enum verdict stage_x(struct req *)`; they never write, log or close.
 * Worker only.
 */
#ifndef VW_PIPE_H
#define VW_PIPE_H

#include "req.h"

typedef enum verdict	 stage_fn(struct req *);

/*
 * Run the stages from rq->rq_stage on.  V_NEXT: every stage passed, proxy
 * the request.  V_DONE: a response is ready.  V_AGAIN: a stage waits on
 * I/O; rq->rq_stage remembers it and pipe_run() resumes there.
 */
enum verdict	 pipe_run(struct req *rq);

/* The stages, in pipe.c's table order. */
enum verdict	 stage_reqid(struct req *);	/* request id, client IP */
enum verdict	 stage_strip(struct req *);	/* client identity headers */
enum verdict	 stage_internal(struct req *);	/* /_vibewarden/... */
enum verdict	 stage_upgrade(struct req *);	/* WebSocket handshake */

/* The health and ready bodies (static), shared with the admin process. */
#define INTERNAL_READY_AGE_MS	60000	/* an older probe: unknown */
const char	*internal_health(void);
const char	*internal_ready(const struct config *cf, int *status);
enum verdict	 stage_connlimit(struct req *);	/* max_connections 429 */
enum verdict	 stage_ratelimit_ip(struct req *);	/* per-IP limit */
enum verdict	 stage_auth(struct req *);	/* authentication */
enum verdict	 stage_ratelimit_user(struct req *);	/* per-user limit */
enum verdict	 stage_health(struct req *);	/* upstream unhealthy: 503 */
enum verdict	 stage_ipfilter(struct req *);	/* ip_filter 403 */
enum verdict	 stage_cors(struct req *);	/* CORS preflight */
enum verdict	 stage_bodysize(struct req *);	/* declared length 413 */
enum verdict	 stage_csrf(struct req *);	/* CSRF 403 */

/*
 * IP filter (stage_ipfilter.c).  ipfilter_init(): build this generation's
 * set from cf in the worker; 0, or -1 when memory runs out.
 * ipfilter_peer_refused(): 1 when a connection from peer is to be closed
 * right after accept, before any TLS or HTTP.  ipfilter_mode(): "allowlist"
 * or "blocklist", for the log.
 */
int		 ipfilter_init(const struct config *cf);
int		 ipfilter_peer_refused(const struct ipaddr *peer);
const char	*ipfilter_mode(void);

/*
 * CORS (stage_cors.c), response phase: append the CORS headers of an
 * actual response for rq (nothing unless stage_cors allowed its Origin)
 * to a head at dst[*off..cap).  cors_init() builds this generation's
 * header text from cf; 0 or -1.
 */
void		 cors_append(const struct req *rq, char *dst, size_t cap,
		    size_t *off);
int		 cors_init(const struct config *cf);
/* 1 when an upstream response field name is dropped: CORS is ours. */
int		 cors_upstream_field(struct vw_str name);
enum verdict	 stage_maint(struct req *);	/* maintenance 503 */
enum verdict	 stage_input(struct req *);	/* input validation 400 */
enum verdict	 stage_ctype(struct req *);	/* content type 415 */
enum verdict	 stage_webhook(struct req *);	/* webhook signature 401 */
enum verdict	 stage_waf(struct req *);	/* 9 WAF: query, headers */

/*
 * Body checks a stage asked for (rq->rq_bodyck): run once proxy.c
 * buffer_body() holds the first bytes of the body (at least 8 KiB, or the
 * whole body when shorter), before the upstream is connected; p is the
 * payload without chunk framing.  V_NEXT or V_DONE.
 */
enum verdict	 pipe_body(struct req *rq, const char *p, size_t len);
enum verdict	 stage_waf_body(struct req *, const char *, size_t);

/* Compile this worker's WAF rules from cf; 0, or -1 with *errstr. */
int		 stage_waf_init(const struct config *cf, const char **errstr);

/*
 * Response phase: append the configured security headers to a response
 * head at dst[*off..cap).  have says which of the application's own
 * headers the head already forwards (SH_HAVE_*: 0 for vibewarden's own
 * answers); those are kept instead of ours (SPEC.md 7).
 */
#define SH_HAVE_CSP	0x01	/* a non-empty Content-Security-Policy */
#define SH_HAVE_XFO	0x02	/* a non-empty X-Frame-Options */
void		 sechdr_append(char *dst, size_t cap, size_t *off,
		    unsigned have);

/*
 * Build the header block once per generation from cf, without the fields
 * response_headers rules replace (it calls rhdr_init() first); 0 or -1.
 */
int		 sechdr_init(const struct config *cf, int tls);

/*
 * Response phase, after the security headers: response_headers rules.
 * rhdr_init() builds them from cf, which must outlive them (0 or -1).
 * rhdr_drops() says whether a field name (name[0..len), any case) is
 * removed or set by a rule, so the field must not be forwarded or
 * generated.  rhdr_append() appends the set and add fields at
 * dst[*off..cap) (nothing when they do not fit).
 */
int		 rhdr_init(const struct config *cf);
int		 rhdr_drops(const char *name, size_t len);
void		 rhdr_append(char *dst, size_t cap, size_t *off);

#endif /* VW_PIPE_H */
