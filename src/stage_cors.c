/*
 * stage_cors.c: CORS with the original's keys (SPEC.md 5 position 6 and
 * 14, 7; original 5.2 with its "C:" corrections).
 *   stage_cors: a request with an Origin that cors.allowed_origins lists
 *     (the same scheme, host and port; or the list holds "*") is marked
 *     for CORS headers.  A preflight (OPTIONS with
 *     Access-Control-Request-Method) is answered here, 204, never
 *     proxied; from an origin not listed it is refused, 403
 *     cors_origin_not_allowed.  Any other OPTIONS is proxied.
 *   cors_append (response phase, next to the security headers): the
 *     headers for a marked request, on the upstream's answers and on
 *     vibewarden's own (a 401 or 429 a script must be able to read).  An
 *     unlisted Origin is never echoed.  With CORS on, vibewarden answers
 *     for CORS alone: the upstream's Access-Control-* fields are dropped
 *     (cors_upstream_field), so a browser never sees two answers.
 * Worker only; no I/O.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "origin.h"
#include "pipe.h"
#include "util.h"

static int	 cors_on;
static int	 cors_any;	/* allowed_origins holds "*" */
static char	*pre;		/* preflight-only headers */
static size_t	 prelen;
static char	*act;		/* headers of actual responses only */
static size_t	 actlen;
static char	*cred;		/* Allow-Credentials, both */
static size_t	 credlen;

/* "Name: a, b, c\r\n" for a non-empty list l. */
static void
list_line(char *d, size_t cap, size_t *off, const char *name,
    const struct strlist *l)
{
	size_t	 i;

	if (l->n == 0)
		return;
	util_append(d, cap, off, "%s: ", name);
	for (i = 0; i < l->n; i++)
		util_append(d, cap, off, "%s%s", i ? ", " : "", l->v[i]);
	util_append(d, cap, off, "\r\n");
}

static char *
dup_block(const char *b, size_t len, size_t *outlen)
{
	char	*p;

	*outlen = 0;
	if (len == 0)
		return (NULL);
	if ((p = malloc(len)) == NULL)
		return (NULL);
	memcpy(p, b, len);
	*outlen = len;
	return (p);
}

int
cors_init(const struct config *cf)
{
	const struct cf_cors	*c = &cf->cors;
	char			 b[8192];
	size_t			 off, i;

	free(pre);
	free(act);
	free(cred);
	pre = act = cred = NULL;
	prelen = actlen = credlen = 0;
	cors_on = config_feature_on(cf, "cors");
	cors_any = 0;
	for (i = 0; i < c->allowed_origins.n; i++)
		if (strcmp(c->allowed_origins.v[i], "*") == 0)
			cors_any = 1;
	if (!cors_on)
		return (0);
	off = 0;
	list_line(b, sizeof(b), &off, "Access-Control-Allow-Methods",
	    &c->allowed_methods);
	list_line(b, sizeof(b), &off, "Access-Control-Allow-Headers",
	    &c->allowed_headers);
	if (c->max_age > 0)
		util_append(b, sizeof(b), &off,
		    "Access-Control-Max-Age: %d\r\n", c->max_age);
	if (off > 0 && (pre = dup_block(b, off, &prelen)) == NULL)
		return (-1);
	off = 0;
	list_line(b, sizeof(b), &off, "Access-Control-Expose-Headers",
	    &c->exposed_headers);
	if (off > 0 && (act = dup_block(b, off, &actlen)) == NULL)
		return (-1);
	if (c->allow_credentials) {
		off = 0;
		util_append(b, sizeof(b), &off,
		    "Access-Control-Allow-Credentials: true\r\n");
		if ((cred = dup_block(b, off, &credlen)) == NULL)
			return (-1);
	}
	return (0);
}

/* 1 when cors.allowed_origins lists the origin v exactly. */
static int
listed(const struct cf_cors *c, struct vw_str v)
{
	struct origin	 o, t;
	size_t		 i;

	if (origin_parse(v.p, v.len, 0, &o) == -1)
		return (0);	/* "null", garbage */
	for (i = 0; i < c->allowed_origins.n; i++)
		if (origin_parse(c->allowed_origins.v[i],
		    strlen(c->allowed_origins.v[i]), 0, &t) == 0 &&
		    origin_eq(&o, &t))
			return (1);
	return (0);
}

enum verdict
stage_cors(struct req *rq)
{
	const struct http_msg	*m = &rq->rq_msg;
	struct vw_str		 org;
	int			 preflight;
	char			*p;

	if (!cors_on || (org = http_field_get(m, H_ORIGIN)).p == NULL)
		return (V_NEXT);
	preflight = vw_str_eq(m->m_method, "OPTIONS", 7) &&
	    origin_field(m, "access-control-request-method").p != NULL;
	if (!cors_any && !listed(&rq->rq_conf->cors, org)) {
		if (!preflight)
			return (V_NEXT);	/* no CORS headers */
		return (req_fail(rq, 403, EV_BLOCKED,
		    "cors_origin_not_allowed",
		    "origin not allowed by the CORS policy"));
	}
	if (cors_any) {
		rq->rq_cors.p = "*";
		rq->rq_cors.len = 1;
	} else {
		/* rq_msg dies once forwarded: keep a copy to answer with. */
		if ((p = arena_strndup(&rq->rq_arena, org.p, org.len)) == NULL)
			return (req_fail(rq, 500, EV_BLOCKED, "internal_error",
			    "out of request memory"));
		rq->rq_cors.p = p;
		rq->rq_cors.len = org.len;
	}
	if (!preflight)
		return (V_NEXT);
	rq->rq_corspre = 1;
	return (req_respond(rq, 204, NULL, "", 0));
}

/* Append s, or mark an overflow (*off = cap + 1) as sechdr.c does. */
static void
put(char *dst, size_t cap, size_t *off, const char *s, size_t len)
{
	if (s == NULL)
		return;
	if (*off + len > cap) {
		*off = cap + 1;
		return;
	}
	memcpy(dst + *off, s, len);
	*off += len;
}

void
cors_append(const struct req *rq, char *dst, size_t cap, size_t *off)
{
	/* Fetch 3.2.5: an answer that would differ for another Origin says
	   so even when it has no CORS headers, or a shared cache that kept
	   it (asked without Origin, say) serves it to the listed origins. */
	if (rq->rq_cors.len == 0) {
		if (cors_on)	/* with "*" too: no Origin, no header */
			put(dst, cap, off, "Vary: Origin\r\n", 14);
		return;
	}
	put(dst, cap, off, "Access-Control-Allow-Origin: ", 29);
	put(dst, cap, off, rq->rq_cors.p, rq->rq_cors.len);
	put(dst, cap, off, "\r\n", 2);
	/* A reflected origin makes the answer depend on Origin (Fetch). */
	if (!cors_any)
		put(dst, cap, off, "Vary: Origin\r\n", 14);
	put(dst, cap, off, cred, credlen);
	if (rq->rq_corspre)
		put(dst, cap, off, pre, prelen);
	else
		put(dst, cap, off, act, actlen);
}

int
cors_upstream_field(struct vw_str name)
{
	return (cors_on && name.len > 15 &&
	    strncasecmp(name.p, "access-control-", 15) == 0);
}
