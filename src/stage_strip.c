/*
 * stage_strip.c: pipeline stage 3 (SPEC.md 6): every client-sent identity
 * header (X-User-*, X-Session-Id, X-Api-Key-Name, and every target of
 * auth.jwt.claims_to_headers, in any case and with '_' for '-') is dropped
 * before anything else looks at the request, so the application never
 * sees a forged identity.
 *
 * Every other field whose name contains '_' goes too, as nginx does by
 * default (underscores_in_headers off): CGI and WSGI servers fold '_' and
 * '-' into one variable, so X_Forwarded_For or X_Request_Id would shadow
 * the values vibewarden sets.  Worker only; no I/O.
 */
#include <string.h>

#include "auth.h"
#include "pipe.h"

enum verdict
stage_strip(struct req *rq)
{
	struct http_msg	*m = &rq->rq_msg;
	unsigned	 i;

	for (i = 0; i < m->m_nfields; i++)
		if (m->m_fields[i].f_id == H_IDENTITY ||
		    memchr(m->m_fields[i].f_name.p, '_',
		    m->m_fields[i].f_name.len) != NULL ||
		    (m->m_fields[i].f_id == H_OTHER &&
		    auth_is_claim_header(rq->rq_conf, m->m_fields[i].f_name)))
			m->m_fields[i].f_flags |= F_HOPBYHOP;
	return (V_NEXT);
}
