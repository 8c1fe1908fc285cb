/*
 * stage_webhook.c: webhook signature verification (original 2.4 and
 * 5.6; its middleware order 10: after the WAF and CSRF, before auth).
 * A request whose path is one of webhooks.signature_verification.paths
 * (wh_path(): also in the spellings routers take for it) needs its
 * whole body: the stage
 * asks the driver to hold it (RQ_HOLD, rq_holdmax bytes at most, V_AGAIN),
 * and runs again once it is held (RQ_HELD).  The body is then forwarded
 * unchanged from the same buffer.  A bad, missing or stale signature is
 * 401 with webhook.signature_invalid.  Worker only; no I/O (the secret
 * comes from the environment the worker inherited).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pipe.h"
#include "webhook.h"

/* The hold when body_size sets no limit. */
#define WEBHOOK_MAX_BODY	(16ULL * 1024 * 1024)

/* The first field called name (any case); p == NULL when absent. */
static struct vw_str
field(const struct http_msg *m, const char *name)
{
	struct vw_str	 none = { NULL, 0 };
	size_t		 i, n;

	if (name == NULL)
		return (none);
	n = strlen(name);
	for (i = 0; i < m->m_nfields; i++)
		if (m->m_fields[i].f_name.len == n &&
		    strncasecmp(m->m_fields[i].f_name.p, name, n) == 0)
			return (m->m_fields[i].f_value);
	return (none);
}

/*
 * The next character of the path s[0..n) from *i as the common routers
 * see it, or -1 at its end: lower case (Express and ASP.NET ignore case),
 * ";params" dropped (Tomcat, Spring) and a final '/' too (Express,
 * Rails).
 */
static int
canon_next(const char *s, size_t n, size_t *i)
{
	size_t	 j;

	while (*i < n && s[*i] == ';')
		while (*i < n && s[*i] != '/')
			(*i)++;
	if (*i >= n)
		return (-1);
	if (s[*i] == '/' && *i > 0) {
		for (j = *i + 1; j < n && s[j] == ';'; )
			while (j < n && s[j] != '/')
				j++;
		if (j >= n) {
			*i = n;
			return (-1);
		}
	}
	return (tolower((unsigned char)s[(*i)++]));
}

/*
 * 1 when path is the webhook path p.  Matching only the exact spelling
 * would let a forged call reach the application's handler unchecked as
 * "/Hook/", "/hook;x" or "/hook/", which its router takes for "/hook";
 * the real provider calls the configured spelling, which still matches.
 */
static int
wh_path(const char *p, struct vw_str path)
{
	size_t	 i = 0, j = 0, pn = strlen(p);
	int	 a, b;

	do {
		a = canon_next(path.p, path.len, &i);
		b = canon_next(p, pn, &j);
		if (a != b)
			return (0);
	} while (a != -1);
	return (1);
}

/* A held chunked body, decoded into a fresh buffer; its length or -1. */
static ssize_t
dechunk(const char *raw, size_t len, char **out)
{
	struct chunked	 ck;
	enum chunk_rc	 rc;
	size_t		 used, doff, dlen, o = 0;

	if ((*out = malloc(len + 1)) == NULL)
		return (-1);
	chunked_init(&ck);
	for (;;) {
		rc = chunked_step(&ck, raw, len, &used, &doff, &dlen);
		if (rc == CK_DONE)
			return ((ssize_t)o);
		if (rc == CK_ERROR || (rc == CK_NEED && used == len))
			break;
		if (rc == CK_DATA) {
			memcpy(*out + o, raw + doff, dlen);
			o += dlen;
		}
		raw += used;
		len -= used;
	}
	free(*out);
	*out = NULL;
	return (-1);
}

/* Twilio signs the URL it called: scheme://Host/target. */
static struct vw_str
full_url(struct req *rq)
{
	const struct http_msg	*m = &rq->rq_msg;
	const char		*scheme = rq->rq_conf->tls.enabled ? "https" :
				    "http";
	struct vw_str		 u = { NULL, 0 };
	size_t			 n = strlen(scheme) + 3 + m->m_host.len +
				    m->m_target.len + 1;
	char			*p;

	if (m->m_flags & M_ABSOLUTE)
		return (m->m_target);
	if ((p = arena_alloc(&rq->rq_arena, n)) == NULL)
		return (u);
	snprintf(p, n, "%s://%.*s%.*s", scheme, (int)m->m_host.len,
	    m->m_host.p, (int)m->m_target.len, m->m_target.p);
	u.p = p;
	u.len = strlen(p);
	return (u);
}

static enum verdict
invalid(struct req *rq, const char *prov, const char *why)
{
	char	*msg;

	if ((msg = arena_alloc(&rq->rq_arena, 112)) != NULL)
		snprintf(msg, 112, "webhook signature verification failed "
		    "(%s: %s)", prov, why);
	return (req_fail(rq, 401, EV_WEBHOOK_INVALID, "unauthorized",
	    msg != NULL ? msg : "webhook signature verification failed"));
}

enum verdict
stage_webhook(struct req *rq)
{
	const struct cf_webhooks *wh = &rq->rq_conf->webhooks;
	const struct cf_webhook_path *wp = NULL;
	const struct http_msg	*m = &rq->rq_msg;
	struct wh_input		 in;
	char			*dec = NULL;
	const char		*why;
	ssize_t			 dl;
	uint64_t		 limit;
	size_t			 i;
	int			 prov, body;

	if (!wh->signature_verification.enabled)
		return (V_NEXT);
	for (i = 0; i < wh->signature_verification.npaths && wp == NULL; i++)
		if (wh->signature_verification.paths[i].path != NULL &&
		    wh_path(wh->signature_verification.paths[i].path,
		    m->m_path))
			wp = &wh->signature_verification.paths[i];
	if (wp == NULL || (prov = webhook_provider(wp->provider)) < 0)
		return (V_NEXT);
	body = (rq->rq_mflags & M_CHUNKED) ||
	    ((rq->rq_mflags & M_CLEN) && m->m_clen > 0);
	/* stage_bodysize has set this path's body_size (0: none). */
	limit = rq->rq_bodymax == 0 || rq->rq_bodymax > WEBHOOK_MAX_BODY ?
	    WEBHOOK_MAX_BODY : rq->rq_bodymax;
	if (body && !(rq->rq_flags & RQ_HELD)) {
		if ((rq->rq_mflags & M_CLEN) && m->m_clen > limit)
			return (req_fail(rq, 413, EV_BLOCKED,
			    "payload_too_large", "webhook body over the body "
			    "size limit"));
		rq->rq_holdmax = limit;
		rq->rq_flags |= RQ_HOLD;
		return (V_AGAIN);
	}
	memset(&in, 0, sizeof(in));
	if (body && (rq->rq_mflags & M_CHUNKED)) {
		if ((dl = dechunk(rq->rq_held, rq->rq_heldlen, &dec)) < 0)
			return (req_fail(rq, 400, EV_BLOCKED, "bad_request",
			    "malformed chunked body"));
		if ((uint64_t)dl > limit) {
			free(dec);
			return (req_fail(rq, 413, EV_BLOCKED,
			    "payload_too_large", "webhook body over the body "
			    "size limit"));
		}
		in.body = dec;
		in.blen = (size_t)dl;
	} else if (body) {
		in.body = rq->rq_held;
		in.blen = (size_t)m->m_clen;
	}
	in.sig = field(m, prov == WH_GENERIC ? wp->header :
	    webhook_sig_field(prov));
	if (prov == WH_SLACK)
		in.ts = field(m, "X-Slack-Request-Timestamp");
	if (prov == WH_TWILIO)
		in.url = full_url(rq);
	if ((in.secret = getenv(wp->secret_env_var)) == NULL)
		in.secret = "";
	in.slen = strlen(in.secret);
	in.now = (int64_t)time(NULL);
	why = in.slen == 0 ? "no secret in the environment" :
	    webhook_verify(prov, &in);
	free(dec);
	if (why != NULL)
		return (invalid(rq, wp->provider, why));
	return (V_NEXT);
}
