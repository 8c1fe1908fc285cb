/*
 * errresp.h: vibewarden's own responses (SPEC.md 11): JSON error bodies
 * with X-Request-Id, and internal answers such as health.  Worker only.
 */
#ifndef VW_ERRRESP_H
#define VW_ERRRESP_H

#include "req.h"

/* The JSON "error" code for a status (bad_request, bad_gateway, ...). */
const char	*errresp_code(int status);

/*
 * Render rq's own response (rq_status, rq_errcode/rq_errmsg or
 * rq_body/rq_ctype) into rq_clhead and point rq_back at it.  close: add
 * "Connection: close".
 */
void		 errresp_render(struct req *rq, int close);

#endif /* VW_ERRRESP_H */
