/*
 * stage_waf.c: the WAF stage (SPEC.md 5 stage 9) with the built-in
 * engine (waf.c).  The query string, Cookie, Referer and User-Agent are
 * inspected here; a form or JSON body is inspected once proxy.c holds its
 * first WAF_BODY_MAX bytes (stage_waf_body(), before the upstream is
 * connected).  Detect mode records each detection for conn.c to log
 * (audit.waf.detection) and count; block mode answers 403 waf_blocked on
 * the first one.  /_vibewarden/... and waf.exempt_paths are never
 * inspected.  Worker only; never does I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pipe.h"
#include "ratelimit.h"
#include "waf.h"

#define WAF_DET_MAX	16	/* detections recorded per request */
#define WAF_LOG_VALUE	64	/* value bytes kept for the log */
#define PFX		"/_vibewarden/"

static struct waf	*engine;	/* this worker's compiled rules */

int
stage_waf_init(const struct config *cf, const char **errstr)
{
	unsigned	 cats = 0;

	waf_free(engine);
	engine = NULL;
	if (!cf->waf.enabled)
		return (0);
	if (cf->waf.rules.sqli)
		cats |= WAF_SQLI;
	if (cf->waf.rules.xss)
		cats |= WAF_XSS;
	if (cf->waf.rules.path_traversal)
		cats |= WAF_TRAVERSAL;
	if (cf->waf.rules.command_injection)
		cats |= WAF_CMDI;
	if (cats == 0)
		return (0);
	if ((engine = waf_new(cats, errstr)) == NULL)
		return (-1);
	return (0);
}

static int
exempt(const struct config *cf, struct vw_str path)
{
	const struct strlist *x = &cf->waf.exempt_paths;
	size_t		 i;

	if (path.len >= sizeof(PFX) - 1 &&
	    memcmp(path.p, PFX, sizeof(PFX) - 1) == 0)
		return (1);
	for (i = 0; i < x->n; i++)
		if (rl_glob(x->v[i], path))
			return (1);
	return (0);
}

/* Keep a detection for the log (arena copies); 1 stops the walk. */
static int
record(void *arg, const struct waf_hit *h)
{
	struct req	*rq = arg;
	struct waf_det	*d;
	int		 block = rq->rq_conf->waf.mode == WAF_BLOCK;

	if (rq->rq_nwafdet >= WAF_DET_MAX)
		return (block);
	if ((d = arena_alloc(&rq->rq_arena, sizeof(*d))) == NULL)
		return (block);
	memset(d, 0, sizeof(*d));
	d->wd_rule = h->h_rule;
	d->wd_cat = waf_cat_name(h->h_cat);
	d->wd_loc = waf_loc_name(h->h_loc);
	d->wd_name.p = arena_strndup(&rq->rq_arena, h->h_name.p,
	    h->h_name.len > 128 ? 128 : h->h_name.len);
	d->wd_name.len = d->wd_name.p ? h->h_name.len > 128 ? 128 :
	    h->h_name.len : 0;
	d->wd_value.len = h->h_value.len > WAF_LOG_VALUE ? WAF_LOG_VALUE :
	    h->h_value.len;
	if ((d->wd_value.p = arena_alloc(&rq->rq_arena,
	    d->wd_value.len + 1)) != NULL)
		memcpy((char *)d->wd_value.p, h->h_value.p, d->wd_value.len);
	else
		d->wd_value.len = 0;
	d->wd_blocked = block;
	d->wd_next = rq->rq_wafdet;
	rq->rq_wafdet = d;
	rq->rq_nwafdet++;
	return (block);
}

static enum verdict
outcome(struct req *rq)
{
	if (rq->rq_conf->waf.mode == WAF_BLOCK && rq->rq_nwafdet > 0)
		return (req_fail(rq, 403, EV_WAF_BLOCKED, "waf_blocked",
		    "request blocked by the web application firewall"));
	return (V_NEXT);
}

/* RB_WAF_* when the body's Content-Type is one the WAF reads, else 0. */
static unsigned
body_kind(const struct http_msg *m)
{
	struct vw_str	 ct = http_field_get(m, H_CONTENT_TYPE);
	size_t		 n;

	for (n = 0; n < ct.len && ct.p[n] != ';' && ct.p[n] != ' '; n++)
		;
	ct.len = n;
	if (vw_str_caseeq(ct, "application/x-www-form-urlencoded", 33))
		return (RB_WAF_FORM);
	if (vw_str_caseeq(ct, "application/json", 16) || (n > 5 &&
	    strncasecmp(ct.p + n - 5, "+json", 5) == 0))
		return (RB_WAF_JSON);
	return (0);
}

enum verdict
stage_waf(struct req *rq)
{
	const struct http_msg *m = &rq->rq_msg;
	const struct http_field *f;
	unsigned	 i;
	int		 n;

	if (engine == NULL || !rq->rq_conf->waf.enabled ||
	    exempt(rq->rq_conf, m->m_path))
		return (V_NEXT);
	if (waf_inspect(engine, WL_QUERY, m->m_query.p, m->m_query.len,
	    record, rq) && rq->rq_conf->waf.mode == WAF_BLOCK)
		return (outcome(rq));
	for (i = 0; i < m->m_nfields; i++) {
		f = &m->m_fields[i];
		if (f->f_id == H_COOKIE)
			n = waf_inspect(engine, WL_COOKIE, f->f_value.p,
			    f->f_value.len, record, rq);
		else if (f->f_id == H_REFERER)
			n = waf_inspect(engine, WL_REFERER, f->f_value.p,
			    f->f_value.len, record, rq);
		else if (f->f_id == H_USER_AGENT)
			n = waf_inspect(engine, WL_UA, f->f_value.p,
			    f->f_value.len, record, rq);
		else
			continue;
		if (n > 0 && rq->rq_conf->waf.mode == WAF_BLOCK)
			break;
	}
	if (rq->rq_nwafdet > 0 && rq->rq_conf->waf.mode == WAF_BLOCK)
		return (outcome(rq));
	if (((m->m_flags & M_CLEN) && m->m_clen > 0) ||
	    (m->m_flags & M_CHUNKED)) {
		rq->rq_bodyck |= body_kind(m);
	}
	return (V_NEXT);
}

enum verdict
stage_waf_body(struct req *rq, const char *p, size_t len)
{
	if (engine == NULL || !(rq->rq_bodyck & (RB_WAF_FORM | RB_WAF_JSON)))
		return (V_NEXT);
	if (len > WAF_BODY_MAX)
		len = WAF_BODY_MAX;
	(void)waf_inspect(engine, rq->rq_bodyck & RB_WAF_FORM ? WL_FORM :
	    WL_JSON, p, len, record, rq);
	return (outcome(rq));
}
