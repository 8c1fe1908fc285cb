/*
 * pipe.c: the one table that orders the request pipeline (SPEC.md 5), and
 * the helpers stages use to answer.  Later stages (IP filter, body size,
 * rate limits, CSRF, auth) are added to stages[] and nothing else changes.
 * Worker only; never does I/O.
 */
#include <stddef.h>

#include "pipe.h"

static stage_fn *const stages[] = {
	stage_reqid,		/* 2 request id + client IP */
	stage_connlimit,	/* over per_ip.max_connections: 429 */
	stage_strip,		/* 3 strip client identity headers */
	stage_internal,		/* 4 internal routes */
	stage_maint,		/* maintenance 503: right after the internal
				   routes, as the original (its step 4) */
	stage_ipfilter,		/* 5 IP filter (peers also at accept) */
	stage_cors,		/* 6 CORS preflight */
	stage_upgrade,		/* WebSocket handshake checks (SPEC.md 9) */
	stage_input,		/* input validation 400: after the IP filter
				   (5) and CORS (6), before body size (7), as
				   the original (its step 7) */
	stage_bodysize,		/* 7 body size (declared length) */
	stage_ratelimit_ip,	/* 8 per-IP rate limit */
	stage_ctype,		/* content type 415: the first check of the
				   WAF step (9) */
	stage_waf,		/* 9 WAF (body: stage_waf_body) */
	stage_csrf,		/* 10 CSRF */
	stage_webhook,		/* webhook signature 401: after the WAF and
				   CSRF (10), before auth (11), as the
				   original (its step 10); holds the body */
	stage_auth,		/* 11 authentication + identity headers */
	stage_ratelimit_user,	/* 12 per-user rate limit (once auth, 11,
				   sets rq_uid) */
	stage_health,		/* 13 upstream unhealthy: 503 at once */
	NULL			/* 13 proxy: the driver takes over */
};

enum verdict
pipe_run(struct req *rq)
{
	enum verdict	 v;

	for (; stages[rq->rq_stage] != NULL; rq->rq_stage++) {
		v = stages[rq->rq_stage](rq);
		if (v != V_NEXT)
			return (v);
	}
	return (V_NEXT);
}

enum verdict
pipe_body(struct req *rq, const char *p, size_t len)
{
	if (rq->rq_bodyck & (RB_WAF_FORM | RB_WAF_JSON))
		return (stage_waf_body(rq, p, len));
	return (V_NEXT);
}

enum verdict
req_fail(struct req *rq, int status, enum rq_event ev, const char *code,
    const char *msg)
{
	rq->rq_status = status;
	rq->rq_event = ev;
	rq->rq_errcode = code;
	rq->rq_errmsg = msg;
	rq->rq_body = NULL;
	rq->rq_flags |= RQ_OWNRESP;
	return (V_DONE);
}

enum verdict
req_respond(struct req *rq, int status, const char *ctype, const char *body,
    size_t len)
{
	rq->rq_status = status;
	rq->rq_event = EV_INTERNAL;
	rq->rq_errcode = NULL;
	rq->rq_ctype = ctype;
	rq->rq_body = body;
	rq->rq_blen = len;
	rq->rq_flags |= RQ_OWNRESP;
	return (V_DONE);
}
