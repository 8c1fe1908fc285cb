/*
 * stage_internal.c: pipeline stage 4 (SPEC.md 5): /_vibewarden/health and
 * /_vibewarden/ready are answered by the worker itself; metrics and the
 * admin API live only on the admin listener, so the public port says 404.
 * Worker only; no I/O.
 */
#include <string.h>

#include "vw_autoconf.h"
#include "pipe.h"
#include "resil.h"

#define PFX	"/_vibewarden/"

static const char health_body[] =
    "{\"status\":\"ok\",\"version\":\"" PACKAGE_VERSION "\","
    "\"components\":{\"proxy\":\"ok\"}}\n";
static const char ready_body[] = "{\"ready\":true}\n";
static const char unready_body[] =
    "{\"ready\":false,\"upstream\":\"unhealthy\"}\n";

enum verdict
stage_internal(struct req *rq)
{
	struct vw_str	 p = rq->rq_msg.m_path;
	struct vw_str	 rest;

	if (p.len < sizeof(PFX) - 1 || memcmp(p.p, PFX, sizeof(PFX) - 1) != 0)
		return (V_NEXT);
	rest.p = p.p + sizeof(PFX) - 1;
	rest.len = p.len - (sizeof(PFX) - 1);
	if (vw_str_eq(rest, "health", 6))
		return (req_respond(rq, 200, "application/json", health_body,
		    sizeof(health_body) - 1));
	/* Not ready while the health prober finds the upstream down. */
	if (vw_str_eq(rest, "ready", 5) && resil_upstream_down(rq->rq_conf))
		return (req_respond(rq, 503, "application/json", unready_body,
		    sizeof(unready_body) - 1));
	if (vw_str_eq(rest, "ready", 5))
		return (req_respond(rq, 200, "application/json", ready_body,
		    sizeof(ready_body) - 1));
	return (req_fail(rq, 404, EV_INTERNAL, "not_found",
	    "no such vibewarden endpoint on this listener"));
}
