/*
 * stage_maint.c: maintenance mode (original 2.4; its middleware order 4:
 * right after the internal routes, so health and readiness still answer
 * and everything else, whoever sends it, gets the same 503).  A SIGHUP
 * with maintenance.enabled flipped switches it: each worker generation
 * reads its own config.  Worker only; no I/O.
 */
#include <string.h>

#include "pipe.h"

#define PFX	"/_vibewarden/"

enum verdict
stage_maint(struct req *rq)
{
	const struct cf_maintenance *mt = &rq->rq_conf->maintenance;
	struct vw_str	 p = rq->rq_msg.m_path;

	if (!mt->enabled)
		return (V_NEXT);
	if (p.len >= sizeof(PFX) - 1 && memcmp(p.p, PFX, sizeof(PFX) - 1) == 0)
		return (V_NEXT);
	return (req_fail(rq, 503, EV_MAINTENANCE, "maintenance",
	    mt->message != NULL ? mt->message : ""));
}
