/*
 * stage_csrf.c: header-based CSRF protection (SPEC.md 5 position 10, 7),
 * the seeds' scheme instead of form tokens.  A request is subject when its
 * method is unsafe (anything but GET, HEAD, OPTIONS and TRACE, compared
 * case-sensitively as RFC 9110 9.1 says: `get` is unsafe), it carries a
 * Cookie (a browser's ambient credential; API clients with bearer tokens
 * or API keys are not subject) and its path is not under
 * csrf.exempt_paths.  Then, in order:
 *   Sec-Fetch-Site cross-site or same-site  -> 403
 *   an Origin not trusted                   -> 403
 *   neither header, and a Referer absent or not trusted -> 403
 * Trusted: csrf.trusted_origins and the request's own origin (the scheme
 * of the listener, or X-Forwarded-Proto from a trusted proxy, + Host).
 * 403 body error csrf_rejected, event csrf.blocked.  Worker only; no I/O.
 */
#include <string.h>

#include "origin.h"
#include "pipe.h"
#include "ratelimit.h"
#include "worker.h"

static int
safe_method(struct vw_str m)
{
	return (vw_str_eq(m, "GET", 3) || vw_str_eq(m, "HEAD", 4) ||
	    vw_str_eq(m, "OPTIONS", 7) || vw_str_eq(m, "TRACE", 5));
}

static int
exempt(const struct config *cf, struct vw_str path)
{
	size_t	 i;

	for (i = 0; i < cf->csrf.exempt_paths.n; i++)
		if (rl_glob(cf->csrf.exempt_paths.v[i], path))
			return (1);
	return (0);
}

/*
 * The scheme the browser used: the listener's, or what a trusted proxy
 * in front says it terminated (TLS offloaded there, plain HTTP here).
 */
static int
own_tls(const struct req *rq)
{
	struct vw_str	 p;

	if (rq->rq_flags & RQ_TRUSTED_PEER) {
		p = http_field_get(&rq->rq_msg, H_X_FORWARDED_PROTO);
		if (vw_str_caseeq(p, "https", 5))
			return (1);
		if (vw_str_caseeq(p, "http", 4))
			return (0);
	}
	return (W.w_scheme[4] == 's');
}

/* 1 when v (an Origin, or a Referer when url) names a trusted origin. */
static int
trusted(const struct req *rq, struct vw_str v, int url)
{
	const struct strlist	*l = &rq->rq_conf->csrf.trusted_origins;
	struct origin		 o, t;
	size_t			 i;

	if (v.p == NULL || origin_parse(v.p, v.len, url, &o) == -1)
		return (0);	/* absent, "null", or not an origin */
	if (origin_from_host(rq->rq_msg.m_host, own_tls(rq), &t) == 0 &&
	    origin_eq(&o, &t))
		return (1);
	for (i = 0; i < l->n; i++)
		if (origin_parse(l->v[i], strlen(l->v[i]), 0, &t) == 0 &&
		    origin_eq(&o, &t))
			return (1);
	return (0);
}

static enum verdict
reject(struct req *rq, const char *why)
{
	return (req_fail(rq, 403, EV_CSRF_BLOCKED, "csrf_rejected", why));
}

enum verdict
stage_csrf(struct req *rq)
{
	const struct http_msg	*m = &rq->rq_msg;
	struct vw_str		 sfs, org;

	if (!rq->rq_conf->csrf.enabled || safe_method(m->m_method) ||
	    http_field_get(m, H_COOKIE).p == NULL ||
	    exempt(rq->rq_conf, m->m_path))
		return (V_NEXT);
	sfs = origin_field(m, "sec-fetch-site");
	if (vw_str_caseeq(sfs, "cross-site", 10) ||
	    vw_str_caseeq(sfs, "same-site", 9))
		return (reject(rq, "cross-site request refused "
		    "(Sec-Fetch-Site)"));
	org = http_field_get(m, H_ORIGIN);
	if (org.p != NULL)
		return (trusted(rq, org, 0) ? V_NEXT : reject(rq,
		    "cross-site request refused (Origin not trusted)"));
	if (sfs.p != NULL)
		return (V_NEXT);
	if (!trusted(rq, http_field_get(m, H_REFERER), 1))
		return (reject(rq, "cross-site request refused (no Origin, "
		    "Referer absent or not trusted)"));
	return (V_NEXT);
}
