/*
 * stage_reqid.c: pipeline stage 2 (SPEC.md 5, 11): the request id and the
 * client address.  Worker only; no I/O.
 */
#include <string.h>

#include "pipe.h"
#include "util.h"

/* SPEC.md 11: 1-128 chars of [A-Za-z0-9._-] are kept, else replaced. */
static int
valid_id(struct vw_str v)
{
	size_t		 i;
	unsigned char	 c;

	if (v.len < 1 || v.len > 128)
		return (0);
	for (i = 0; i < v.len; i++) {
		c = (unsigned char)v.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return (0);
	}
	return (1);
}

enum verdict
stage_reqid(struct req *rq)
{
	struct vw_str	 v;

	v = http_field_get(&rq->rq_msg, H_X_REQUEST_ID);
	if (v.p != NULL && valid_id(v)) {
		memcpy(rq->rq_id, v.p, v.len);
		rq->rq_id[v.len] = '\0';
	} else
		util_request_id(rq->rq_id);
	/*
	 * The client IP is the peer address (cn_ip, set at accept).  Trusted
	 * proxies' X-Forwarded-For arrives with the IP filter and rate-limit
	 * issues, which are its only consumers.
	 */
	return (V_NEXT);
}
