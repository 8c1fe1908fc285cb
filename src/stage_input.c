/*
 * stage_input.c: input validation (original 2.4, its middleware order 7:
 * after the IP filter, before body size and the WAF, so that oversized
 * input is refused before anything scans it).  Limits on the raw
 * request-target, the raw query string, the number of distinct field
 * names and the length of each field value; input_validation.
 * path_overrides change them per path glob, the first match winning and
 * only its non-zero fields counting.  /_vibewarden/ paths are exempt.  A
 * violation is 400 input_validation_failed.  Worker only; no I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pipe.h"
#include "ratelimit.h"

#define PFX	"/_vibewarden/"

struct limits {
	int	 url, query, count, size;
};

static void
resolve(const struct cf_input_validation *iv, struct vw_str path,
    struct limits *l)
{
	const struct cf_input_override *o;
	size_t	 i;

	l->url = iv->max_url_length;
	l->query = iv->max_query_string_length;
	l->count = iv->max_header_count;
	l->size = iv->max_header_size;
	for (i = 0; i < iv->npath_overrides; i++) {
		o = &iv->path_overrides[i];
		if (o->path == NULL || !rl_glob(o->path, path))
			continue;
		if (o->max_url_length)
			l->url = o->max_url_length;
		if (o->max_query_string_length)
			l->query = o->max_query_string_length;
		if (o->max_header_count)
			l->count = o->max_header_count;
		if (o->max_header_size)
			l->size = o->max_header_size;
		return;
	}
}

/*
 * Distinct field names, case-insensitively, as the original counts its
 * header map (which never holds Host).  Quadratic, but only reached when
 * the field lines alone exceed the limit.
 */
static size_t
distinct_names(const struct http_msg *m)
{
	const struct http_field	*a, *b;
	size_t			 i, j, n = 0;

	for (i = 0; i < m->m_nfields; i++) {
		a = &m->m_fields[i];
		if (a->f_id == H_HOST)
			continue;
		for (j = 0; j < i; j++) {
			b = &m->m_fields[j];
			if (a->f_name.len == b->f_name.len &&
			    strncasecmp(a->f_name.p, b->f_name.p,
			    a->f_name.len) == 0)
				break;
		}
		if (j == i)
			n++;
	}
	return (n);
}

static enum verdict
refuse(struct req *rq, const char *what, size_t len, int max)
{
	char	*msg;

	if ((msg = arena_alloc(&rq->rq_arena, 160)) != NULL)
		snprintf(msg, 160, "%s length %zu exceeds maximum %d", what,
		    len, max);
	return (req_fail(rq, 400, EV_BLOCKED, "input_validation_failed",
	    msg != NULL ? msg : "request input exceeds a limit"));
}

enum verdict
stage_input(struct req *rq)
{
	const struct cf_input_validation *iv = &rq->rq_conf->input_validation;
	const struct http_msg	*m = &rq->rq_msg;
	const struct http_field	*fl;
	struct limits		 l;
	size_t			 i, n;
	char			*msg;

	if (!iv->enabled)
		return (V_NEXT);
	if (m->m_path.len >= sizeof(PFX) - 1 &&
	    memcmp(m->m_path.p, PFX, sizeof(PFX) - 1) == 0)
		return (V_NEXT);
	resolve(iv, m->m_path, &l);
	if (l.url > 0 && m->m_target.len > (size_t)l.url)
		return (refuse(rq, "request URI", m->m_target.len, l.url));
	if (l.query > 0 && m->m_query.len > (size_t)l.query)
		return (refuse(rq, "query string", m->m_query.len, l.query));
	if (l.count > 0 && m->m_nfields > (unsigned)l.count &&
	    (n = distinct_names(m)) > (size_t)l.count) {
		if ((msg = arena_alloc(&rq->rq_arena, 96)) != NULL)
			snprintf(msg, 96, "header count %zu exceeds maximum %d",
			    n, l.count);
		return (req_fail(rq, 400, EV_BLOCKED,
		    "input_validation_failed", msg != NULL ? msg :
		    "too many header fields"));
	}
	if (l.size <= 0)
		return (V_NEXT);
	for (i = 0; i < m->m_nfields; i++) {
		fl = &m->m_fields[i];
		if (fl->f_id != H_HOST && fl->f_value.len > (size_t)l.size)
			return (refuse(rq, "header value", fl->f_value.len,
			    l.size));
	}
	return (V_NEXT);
}
