/*
 * stage_upgrade.c: WebSocket opening handshake checks (SPEC.md 9): a
 * websocket upgrade without a valid Sec-WebSocket-Key or with a version
 * other than 13 is a 400; other upgrades (h2c) are ignored, because the
 * parser already marks Upgrade hop-by-hop.  Worker only; no I/O.
 */
#include "pipe.h"
#include "ws.h"

enum verdict
stage_upgrade(struct req *rq)
{
	struct http_msg	*m = &rq->rq_msg;
	struct vw_str	 v;

	if (!(m->m_flags & M_UPGRADE_WS))
		return (V_NEXT);
	if (!ws_key_valid(http_field_get(m, H_SEC_WS_KEY)))
		return (req_fail(rq, 400, EV_BLOCKED, "bad_request",
		    "invalid or missing Sec-WebSocket-Key"));
	v = http_field_get(m, H_SEC_WS_VERSION);
	if (!vw_str_eq(v, "13", 2))
		return (req_fail(rq, 400, EV_BLOCKED, "bad_request",
		    "unsupported Sec-WebSocket-Version (need 13)"));
	rq->rq_flags |= RQ_WS;
	return (V_NEXT);
}
