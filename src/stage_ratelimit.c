/*
 * stage_ratelimit.c: the rate-limit stages (SPEC.md 5, 8).
 *   stage_connlimit: a connection accepted over
 *     rate_limit.per_ip.max_connections whose head is already there is
 *     answered 429 (conn.c closes it after the answer).
 *   stage_ratelimit_ip (position 8): one token of the client IP's bucket
 *     (rq_cip; IPv6 grouped by rate_limit.ipv6_prefix).
 *   stage_ratelimit_user (position 12): one token of the user's bucket,
 *     when the auth stage has set rq_uid.
 * /_vibewarden/... and rate_limit.exempt_paths cost nothing.  A WebSocket
 * upgrade is one request, so one token; frames never reach a stage.
 * Worker only.  A decision is one LMDB transaction on the shared map, not
 * socket I/O; with the Redis store the stage returns V_AGAIN and
 * ratelimit.c runs the connection again when the reply is in.
 */
#include "pipe.h"
#include "ratelimit.h"

static enum verdict
refuse(struct req *rq, const char *kind, uint32_t retry,
    const struct cf_rate *r, const char *msg)
{
	double	 w;

	rq->rq_rlkind = kind;
	rq->rq_rlretry = retry > 0 ? retry : 1;
	if (r != NULL) {
		rq->rq_rlquota = (uint32_t)r->burst;
		/* The window in which the whole burst refills, whole s. */
		w = r->requests_per_second > 0 ?
		    r->burst / r->requests_per_second : 0;
		rq->rq_rlwindow = w >= 1 && w < 4e9 ?
		    (uint32_t)w + (w > (uint32_t)w) : 1;
	}
	return (req_fail(rq, 429, EV_RATE_LIMITED, "rate_limit_exceeded",
	    msg));
}

enum verdict
stage_connlimit(struct req *rq)
{
	if (rq->rq_conn->cn_rlover)
		return (refuse(rq, "connections", 1, NULL,
		    "too many connections from this client"));
	return (V_NEXT);
}

/*
 * One token of kind.  With the Redis store the answer comes later: wait
 * (V_AGAIN) until the reply has run the connection again.
 */
static enum verdict
take(struct req *rq, enum rl_kind kind, const unsigned char *key,
    size_t klen)
{
	const struct cf_rate_limit *r = &rq->rq_conf->rate_limit;
	struct rl_answer a;

	switch (rq->rq_rlstate) {
	case RLS_WAIT:
		return (V_AGAIN);
	case RLS_DONE:
		rq->rq_rlstate = RLS_NONE;
		a.ra_allowed = rq->rq_rlok;
		a.ra_closed = rq->rq_rlclosed;
		a.ra_retry = rq->rq_rlretry;
		break;
	default:
		if (rl_take(rq, kind, key, klen, &a) == 1)
			return (V_AGAIN);
		break;
	}
	if (a.ra_allowed)
		return (V_NEXT);
	return (refuse(rq, kind == RL_IP ? "ip" : "user", a.ra_retry,
	    kind == RL_IP ? &r->per_ip : &r->per_user, a.ra_closed ?
	    "rate limit store unavailable" : "too many requests"));
}

enum verdict
stage_ratelimit_ip(struct req *rq)
{
	unsigned char	 key[RL_KEY_MAX];
	size_t		 klen;

	if (!rl_on() || rl_exempt(rq->rq_conf, rq->rq_msg.m_path))
		return (V_NEXT);
	klen = rl_addr_key('i', &rq->rq_caddr,
	    rq->rq_conf->rate_limit.ipv6_prefix, key);
	return (take(rq, RL_IP, key, klen));
}

enum verdict
stage_ratelimit_user(struct req *rq)
{
	unsigned char	 key[RL_KEY_MAX];

	if (rq->rq_uid.len == 0 || !rl_on() ||
	    rl_exempt(rq->rq_conf, rq->rq_msg.m_path))
		return (V_NEXT);
	return (take(rq, RL_USER, key, rl_user_key(rq->rq_uid, key)));
}
