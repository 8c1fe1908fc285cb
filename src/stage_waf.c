/*
 * stage_waf.c: the WAF stage (SPEC.md 5 stage 9) with the built-in
 * engine (waf.c).  The query string, Cookie, Referer and User-Agent are
 * inspected here; a form or JSON body is inspected once proxy.c holds its
 * first WAF_BODY_MAX bytes (stage_waf_body(), before the upstream is
 * connected).  Detect mode records each detection for conn.c to log
 * (audit.waf.detection) and count; block mode answers 403 waf_blocked on
 * the first one.  /_vibewarden/... and waf.exempt_paths are never
 * inspected.  With waf.engine: modsecurity (modsec.c) the same inputs
 * go through one ModSecurity transaction instead, run once the body (if
 * any) is held: block mode answers 403 when the rules intervene.  Worker
 * only; never does I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "modsec.h"
#include "pipe.h"
#include "ratelimit.h"
#include "waf.h"

#define WAF_DET_MAX	16	/* detections recorded per request */
#define WAF_LOG_VALUE	64	/* value bytes kept for the log */
/*
 * ModSecurity's time grows with the number of values (each rule looks at
 * each one: about 0.2 ms per value with the CRS); a request with more
 * than this many is not given to it but counted as a detection of rule
 * "arguments_limit" (blocked in block mode: fail closed).
 */
#define MODSEC_ARGS_MAX	256

static struct waf	*engine;	/* this worker's compiled rules */
static struct modsec	*msengine;	/* or its ModSecurity rules */
static char		 mserr[1024];

int
stage_waf_init(const struct config *cf, const char **errstr)
{
	unsigned	 cats = 0;

	waf_free(engine);
	engine = NULL;
	modsec_free(msengine);
	msengine = NULL;
	if (!cf->waf.enabled)
		return (0);
	if (cf->waf.engine == WAF_ENGINE_MODSECURITY) {
		msengine = modsec_new(&cf->waf.modsecurity.rules, mserr,
		    sizeof(mserr));
		*errstr = mserr;
		return (msengine == NULL ? -1 : 0);
	}
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
	return (rl_exempt_list(&cf->waf.exempt_paths, path));
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
	if ((d = arena_alloc(&rq->rq_arena, sizeof(*d))) == NULL) {
		/* Not recorded, but found: block mode still blocks. */
		rq->rq_nwafdet++;
		return (block);
	}
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

/* RB_WAF_* for one media type (up to ',' or the end), else 0. */
static unsigned
media_kind(struct vw_str ct)
{
	size_t		 n;

	while (ct.len > 0 && (*ct.p == ' ' || *ct.p == '\t')) {
		ct.p++;
		ct.len--;
	}
	/* RFC 9110 8.3.1: OWS (SP or HTAB) may stand before the ';'. */
	for (n = 0; n < ct.len && ct.p[n] != ';' && ct.p[n] != ' ' &&
	    ct.p[n] != '\t'; n++)
		;
	ct.len = n;
	if (vw_str_caseeq(ct, "application/x-www-form-urlencoded", 33))
		return (RB_WAF_FORM);
	if (vw_str_caseeq(ct, "application/json", 16) || (n > 5 &&
	    strncasecmp(ct.p + n - 5, "+json", 5) == 0))
		return (RB_WAF_JSON);
	return (0);
}

/*
 * RB_WAF_* when the body's Content-Type is one the WAF reads, else 0.
 * Every Content-Type field and every comma-separated type in one counts:
 * servers and frameworks disagree on which of several an application
 * gets (the first, the last, or all joined with ", "), so a form or JSON
 * type anywhere has the body read as that.
 */
static unsigned
body_kind(const struct http_msg *m)
{
	struct vw_str	 ct;
	const char	*c;
	unsigned	 i, kind = 0;

	for (i = 0; i < m->m_nfields; i++) {
		if (m->m_fields[i].f_id != H_CONTENT_TYPE)
			continue;
		ct = m->m_fields[i].f_value;
		while (ct.len > 0 &&
		    (c = memchr(ct.p, ',', ct.len)) != NULL) {
			kind |= media_kind((struct vw_str){ ct.p,
			    (size_t)(c - ct.p) });
			ct.len -= (size_t)(c - ct.p) + 1;
			ct.p = c + 1;
		}
		kind |= media_kind(ct);
	}
	return (kind);
}

/* Keep a ModSecurity detection for the log (arena copies). */
static void
record_ms(void *arg, const struct modsec_hit *h)
{
	struct req	*rq = arg;
	struct waf_det	*d;
	struct arena	*a = &rq->rq_arena;

	if (rq->rq_nwafdet >= WAF_DET_MAX ||
	    (d = arena_alloc(a, sizeof(*d))) == NULL)
		return;
	memset(d, 0, sizeof(*d));
	d->wd_rule = waf_rule_count() - 1;	/* "modsecurity" */
	d->wd_rname = arena_strndup(a, h->mh_rule, strlen(h->mh_rule));
	d->wd_cat = h->mh_cat;
	d->wd_loc = h->mh_loc;
	d->wd_name.len = h->mh_name.len > 128 ? 128 : h->mh_name.len;
	if (d->wd_name.len == 0 || (d->wd_name.p = arena_strndup(a,
	    h->mh_name.p, d->wd_name.len)) == NULL)
		d->wd_name = VW_STR("");
	d->wd_value.len = h->mh_value.len > WAF_LOG_VALUE ? WAF_LOG_VALUE :
	    h->mh_value.len;
	if (d->wd_value.len == 0 || (d->wd_value.p = arena_strndup(a,
	    h->mh_value.p, d->wd_value.len)) == NULL)
		d->wd_value = VW_STR("");
	d->wd_next = rq->rq_wafdet;
	rq->rq_wafdet = d;
	rq->rq_nwafdet++;
}

/* The number of values a query, form, cookie or JSON text holds, about. */
static size_t
nvalues(const char *p, size_t len, const char *seps)
{
	size_t	 i, n = 1;

	for (i = 0; i < len; i++)
		if (strchr(seps, p[i]) != NULL && p[i] != '\0')
			n++;
	return (n);
}

/*
 * One ModSecurity transaction over the inputs of the built-in engine
 * (modsec.h), with the body bytes held so far (NULL: none).  Block mode:
 * 403 when the rules intervene, every detection counted as blocked.
 */
static enum verdict
run_modsec(struct req *rq, const char *body, size_t blen)
{
	const struct http_msg *m = &rq->rq_msg;
	const struct http_field *f;
	struct modsec_req r;
	struct waf_det	*d;
	struct modsec_hit h;
	unsigned	 i;
	size_t		 nv = 0;
	int		 rc;

	memset(&r, 0, sizeof(r));
	r.mr_method = m->m_method;
	r.mr_target = m->m_target;
	r.mr_cip = rq->rq_cip;
	for (i = 0; i < m->m_nfields && r.mr_nhdr < MODSEC_HDR_MAX; i++) {
		f = &m->m_fields[i];
		if (f->f_id != H_COOKIE && f->f_id != H_REFERER &&
		    f->f_id != H_USER_AGENT && f->f_id != H_HOST &&
		    f->f_id != H_CONTENT_TYPE && f->f_id != H_CONTENT_LENGTH &&
		    f->f_id != H_TRANSFER_ENCODING)
			continue;
		r.mr_hname[r.mr_nhdr] = f->f_name;
		r.mr_hval[r.mr_nhdr++] = f->f_value;
		if (f->f_id == H_COOKIE)
			nv += nvalues(f->f_value.p, f->f_value.len, ";");
	}
	r.mr_body = body;
	r.mr_blen = blen > WAF_BODY_MAX ? WAF_BODY_MAX : blen;
	r.mr_json = (rq->rq_bodyck & RB_WAF_JSON) != 0;
	nv += nvalues(m->m_query.p, m->m_query.len, "&");
	if (body != NULL)
		nv += nvalues(body, r.mr_blen, r.mr_json ? ",:" : "&");
	if (nv > MODSEC_ARGS_MAX) {
		memset(&h, 0, sizeof(h));
		h.mh_rule = "arguments_limit";
		h.mh_cat = "other";
		h.mh_loc = body != NULL ? r.mr_json ? "json" : "form" : "query";
		record_ms(rq, &h);
		rc = 1;
	} else
		rc = modsec_inspect(msengine, &r, record_ms, rq);
	if (rq->rq_conf->waf.mode != WAF_BLOCK || rc == 0)
		return (V_NEXT);
	/* rc -1 (out of memory): fail closed, as a match limit does. */
	for (d = rq->rq_wafdet; d != NULL; d = d->wd_next)
		d->wd_blocked = 1;
	return (req_fail(rq, 403, EV_WAF_BLOCKED, "waf_blocked",
	    "request blocked by the web application firewall"));
}

enum verdict
stage_waf(struct req *rq)
{
	const struct http_msg *m = &rq->rq_msg;
	const struct http_field *f;
	unsigned	 i;
	int		 n;

	if (msengine != NULL && rq->rq_conf->waf.enabled &&
	    !exempt(rq->rq_conf, m->m_path)) {
		/* A form or JSON body: one transaction once it is held. */
		if (((m->m_flags & M_CLEN) && m->m_clen > 0) ||
		    (m->m_flags & M_CHUNKED))
			rq->rq_bodyck |= body_kind(m);
		if (rq->rq_bodyck & (RB_WAF_FORM | RB_WAF_JSON))
			return (V_NEXT);
		return (run_modsec(rq, NULL, 0));
	}
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
	if (msengine != NULL && (rq->rq_bodyck & (RB_WAF_FORM | RB_WAF_JSON)))
		return (run_modsec(rq, p, len));
	if (engine == NULL || !(rq->rq_bodyck & (RB_WAF_FORM | RB_WAF_JSON)))
		return (V_NEXT);
	if (len > WAF_BODY_MAX)
		len = WAF_BODY_MAX;
	/* Both when the Content-Type fields disagree (body_kind()). */
	if (rq->rq_bodyck & RB_WAF_FORM &&
	    waf_inspect(engine, WL_FORM, p, len, record, rq) > 0 &&
	    rq->rq_conf->waf.mode == WAF_BLOCK)
		return (outcome(rq));
	if (rq->rq_bodyck & RB_WAF_JSON)
		(void)waf_inspect(engine, WL_JSON, p, len, record, rq);
	return (outcome(rq));
}
