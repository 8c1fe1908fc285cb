/*
 * stage_health.c: the last stage before the proxy (SPEC.md 5, 13):
 * while upstream.health is on and the prober (health.c) has found the
 * upstream unhealthy, a request is answered 503 at once, without a
 * connect attempt that would only wait for a timeout.  With health
 * checks off, it never answers.  Worker only; reads the shared verdict,
 * no I/O.
 */
#include "pipe.h"
#include "resil.h"

enum verdict
stage_health(struct req *rq)
{
	const struct config	*cf = rq->rq_conf;
	uint64_t		 s = cf->upstream.health.interval_ms / 1000;

	if (!resil_upstream_down(cf))
		return (V_NEXT);
	rq->rq_retry_after = s > 0 ? (uint32_t)s : 1;
	return (req_fail(rq, 503, EV_UNAVAILABLE, "upstream_unhealthy",
	    "the upstream application is failing its health checks"));
}
