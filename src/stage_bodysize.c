/*
 * stage_bodysize.c: request body limits (SPEC.md 5 position 7, 7).  The
 * limit of a request is body_size.max, or the max of the longest
 * body_size.overrides path that is a prefix of its normalised path (a
 * plain string prefix, as the original: /upload also covers /uploads; 0 is
 * unlimited).  A declared Content-Length over it is answered 413 here,
 * before any upstream connection.  A chunked body cannot be judged up
 * front: the limit is kept in rq_bodymax and proxy.c counts the body while
 * it reads it (the chunk sizes, so a chunk that would cross the limit is
 * refused before its bytes are read).  A WebSocket tunnel is not a body.
 * Worker only; no I/O.
 */
#include <string.h>

#include "pipe.h"

static uint64_t
limit_for(const struct cf_body_size *bs, struct vw_str path)
{
	const struct cf_body_override	*o, *best = NULL;
	size_t				 i, n, bestlen = 0;

	for (i = 0; i < bs->noverrides; i++) {
		o = &bs->overrides[i];
		if (o->path == NULL)
			continue;
		n = strlen(o->path);
		if (n <= path.len && (best == NULL || n > bestlen) &&
		    memcmp(path.p, o->path, n) == 0) {
			best = o;
			bestlen = n;
		}
	}
	return (best != NULL ? best->max : bs->max);
}

enum verdict
stage_bodysize(struct req *rq)
{
	const struct http_msg	*m = &rq->rq_msg;

	if (!rq->rq_conf->body_size.enabled)	/* max 0: unlimited */
		return (V_NEXT);
	rq->rq_bodymax = limit_for(&rq->rq_conf->body_size, m->m_path);
	if (rq->rq_bodymax != 0 && (m->m_flags & M_CLEN) &&
	    m->m_clen > rq->rq_bodymax)
		return (req_fail(rq, 413, EV_BLOCKED, "payload_too_large",
		    "request body larger than the limit for this path"));
	return (V_NEXT);
}
