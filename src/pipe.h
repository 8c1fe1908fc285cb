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
enum verdict	 stage_ratelimit_user(struct req *);	/* per-user limit */
enum verdict	 stage_health(struct req *);	/* upstream unhealthy: 503 */

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

/* Build the header block once per generation from cf; 0 or -1. */
int		 sechdr_init(const struct config *cf, int tls);

#endif /* VW_PIPE_H */
