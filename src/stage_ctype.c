/*
 * stage_ctype.c: content-type validation (original 2.4, the first check
 * of its WAF step, SPEC.md 5 step 9): with waf.enabled and
 * waf.content_type_validation.enabled, a POST, PUT or PATCH must carry a
 * Content-Type whose media type (parameters ignored, compared without
 * case, RFC 9110 8.3.1) is in waf.content_type_validation.allowed, else
 * 415 unsupported_media_type.  Content-Type is a singleton field: with
 * two, the check would read one and the application perhaps the other
 * (gunicorn keeps the last), so more than one is 415 too.  Worker only;
 * no I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pipe.h"

static int
token_char(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

/*
 * The media type of a Content-Type value: type "/" subtype, both tokens,
 * then nothing or OWS and ";".  Its length, or 0 when malformed.
 */
static size_t
media_type(struct vw_str v)
{
	size_t	 i = 0, slash = 0;

	while (i < v.len && token_char(v.p[i]))
		i++;
	if (i == 0 || i == v.len || v.p[i] != '/')
		return (0);
	slash = ++i;
	while (i < v.len && token_char(v.p[i]))
		i++;
	if (i == slash)
		return (0);
	slash = i;
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
		i++;
	if (i < v.len && v.p[i] != ';')
		return (0);
	return (slash);
}

enum verdict
stage_ctype(struct req *rq)
{
	const struct cf_waf	*w = &rq->rq_conf->waf;
	const struct strlist	*al = &w->content_type_validation.allowed;
	struct vw_str		 ct;
	size_t			 n, i;
	char			*msg;

	if (!w->enabled || !w->content_type_validation.enabled)
		return (V_NEXT);
	if (rq->rq_meth != HM_POST && rq->rq_meth != HM_PUT &&
	    rq->rq_meth != HM_PATCH)
		return (V_NEXT);
	for (i = n = 0; i < rq->rq_msg.m_nfields; i++)
		n += rq->rq_msg.m_fields[i].f_id == H_CONTENT_TYPE;
	if (n > 1)
		return (req_fail(rq, 415, EV_BLOCKED, "unsupported_media_type",
		    "more than one Content-Type field"));
	ct = http_field_get(&rq->rq_msg, H_CONTENT_TYPE);
	if (ct.len == 0) {
		if ((msg = arena_alloc(&rq->rq_arena, 64)) != NULL)
			snprintf(msg, 64, "Content-Type header is required "
			    "for %s requests", rq->rq_meth == HM_POST ? "POST" :
			    rq->rq_meth == HM_PUT ? "PUT" : "PATCH");
		return (req_fail(rq, 415, EV_BLOCKED, "unsupported_media_type",
		    msg));
	}
	if ((n = media_type(ct)) > 0)
		for (i = 0; i < al->n; i++)
			if (strlen(al->v[i]) == n &&
			    strncasecmp(al->v[i], ct.p, n) == 0)
				return (V_NEXT);
	if ((msg = arena_alloc(&rq->rq_arena, 160)) != NULL)
		snprintf(msg, 160, "Content-Type %.*s is not allowed",
		    (int)(ct.len > 120 ? 120 : ct.len), ct.p);
	return (req_fail(rq, 415, EV_BLOCKED, "unsupported_media_type", msg));
}
