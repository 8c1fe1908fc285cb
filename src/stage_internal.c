/*
 * stage_internal.c: pipeline stage 4 (SPEC.md 5): /_vibewarden/health and
 * /_vibewarden/ready are answered by the worker itself; metrics and the
 * admin API live only on the admin listener, so the public port says 404.
 * The admin process answers health and ready with the same bodies
 * (internal_health(), internal_ready()).  Worker only; no I/O.
 */
#include <string.h>

#include "vw_autoconf.h"
#include "counters.h"
#include "pipe.h"
#include "resil.h"
#include "util.h"

#define PFX	"/_vibewarden/"

/*
 * Readiness is what the admin process last probed (counters_ready(): the
 * upstream, Kratos in kratos mode, a certificate with TLS on), at most
 * INTERNAL_READY_AGE_MS old.  It probes once a second while /ready is
 * asked (counters_ready_asked()), so the first answer after a quiet spell
 * may be that old.  Without a probe (no admin process, or none yet) the
 * upstream is "unknown" and the answer 200, as before there was a probe.
 */
static const char *const health_bodies[] = {
	[CTR_READY_UNKNOWN] = "{\"status\":\"ok\",\"version\":\""
	    PACKAGE_VERSION "\",\"components\":{\"proxy\":\"ok\","
	    "\"upstream\":\"unknown\"}}\n",
	[CTR_READY_OK] = "{\"status\":\"ok\",\"version\":\"" PACKAGE_VERSION
	    "\",\"components\":{\"proxy\":\"ok\",\"upstream\":\"reachable\"}}\n",
	[CTR_READY_UPSTREAM] = "{\"status\":\"ok\",\"version\":\""
	    PACKAGE_VERSION "\",\"components\":{\"proxy\":\"ok\","
	    "\"upstream\":\"unreachable\"}}\n",
	[CTR_READY_KRATOS] = "{\"status\":\"ok\",\"version\":\""
	    PACKAGE_VERSION "\",\"components\":{\"proxy\":\"ok\","
	    "\"upstream\":\"reachable\",\"kratos\":\"unreachable\"}}\n",
	[CTR_READY_NO_CERT] = "{\"status\":\"ok\",\"version\":\""
	    PACKAGE_VERSION "\",\"components\":{\"proxy\":\"ok\","
	    "\"tls\":\"no_certificate\"}}\n",
};

static const char *const ready_bodies[] = {
	[CTR_READY_UNKNOWN] = "{\"ready\":true,\"upstream\":\"unknown\"}\n",
	[CTR_READY_OK] = "{\"ready\":true,\"upstream\":\"reachable\"}\n",
	[CTR_READY_UPSTREAM] = "{\"ready\":false,\"upstream\":"
	    "\"unreachable\",\"reason\":\"upstream_unreachable\"}\n",
	[CTR_READY_KRATOS] = "{\"ready\":false,\"upstream\":\"reachable\","
	    "\"reason\":\"kratos_unreachable\"}\n",
	[CTR_READY_NO_CERT] = "{\"ready\":false,\"reason\":"
	    "\"no_certificate\"}\n",
};

/* The health prober's verdict (upstream.health) comes first. */
static const char unhealthy_body[] = "{\"ready\":false,\"upstream\":"
    "\"unhealthy\",\"reason\":\"upstream_unhealthy\"}\n";

static int
state(void)
{
	int	 st = counters_ready(util_now_ms, INTERNAL_READY_AGE_MS);

	return (st < 0 || st > CTR_READY_NO_CERT ? CTR_READY_UNKNOWN : st);
}

const char *
internal_health(void)
{
	return (health_bodies[state()]);
}

const char *
internal_ready(const struct config *cf, int *status)
{
	int	 st;

	if (resil_upstream_down(cf)) {
		*status = 503;
		return (unhealthy_body);
	}
	counters_ready_asked(counters_self, util_now_ms);
	st = state();
	*status = st == CTR_READY_OK || st == CTR_READY_UNKNOWN ? 200 : 503;
	return (ready_bodies[st]);
}

enum verdict
stage_internal(struct req *rq)
{
	struct vw_str	 p = rq->rq_msg.m_path;
	struct vw_str	 rest;
	const char	*b;
	int		 status;

	if (p.len < sizeof(PFX) - 1 || memcmp(p.p, PFX, sizeof(PFX) - 1) != 0)
		return (V_NEXT);
	rest.p = p.p + sizeof(PFX) - 1;
	rest.len = p.len - (sizeof(PFX) - 1);
	/* healthz: the name the original's docs use (reference 6.2). */
	if (vw_str_eq(rest, "health", 6) || vw_str_eq(rest, "healthz", 7)) {
		b = internal_health();
		return (req_respond(rq, 200, "application/json", b,
		    strlen(b)));
	}
	if (vw_str_eq(rest, "ready", 5)) {
		b = internal_ready(rq->rq_conf, &status);
		return (req_respond(rq, status, "application/json", b,
		    strlen(b)));
	}
	return (req_fail(rq, 404, EV_INTERNAL, "not_found",
	    "no such vibewarden endpoint on this listener"));
}
