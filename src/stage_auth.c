/*
 * stage_auth.c: pipeline stage 11 (SPEC.md 5, 6): public paths, the
 * dispatch by auth.mode, the answers of a refused request (401 with
 * WWW-Authenticate, 302 to the login page for a browser, 403, 503), and
 * the identity headers for the upstream, built from the verified identity
 * only (stage_strip dropped every client copy).  See auth.h for the
 * contract with the modes.  Worker only; no I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "kratos.h"
#include "pipe.h"
#include "ratelimit.h"
#include "util.h"
#include "worker.h"

#define PFX_INTERNAL	"/_vibewarden/"
#define AUTH_HDR_MAX	2048	/* identity header lines, bytes (inside
				   the 4 KB the upstream head has on top
				   of the client's) */
#define AUTH_LOC_MAX	4096	/* Location of a login redirect (longer:
				   401 instead) */

#define AUTH_CLAIMS_MAX	32	/* claims_to_headers targets looked at */

/* What the stages ask on every request, decided once per worker. */
static struct {
	int			 on;	/* auth is on and implemented */
	const struct config	*cf;	/* the claims[] below are its */
	struct vw_str		 claims[AUTH_CLAIMS_MAX]; /* targets that are
					   not H_IDENTITY already */
	size_t			 nclaims;
} A;

static int
has_prefix(struct vw_str p, const char *pfx)
{
	size_t	 n = strlen(pfx);

	return (p.len >= n && memcmp(p.p, pfx, n) == 0);
}

struct vw_str
auth_path_alias(struct arena *a, struct vw_str path, int loose)
{
	struct vw_str	 out = { NULL, 0 };
	char		*d;
	size_t		 i, o = 0;
	int		 skip = 0;

	if (memchr(path.p, ';', path.len) == NULL && (!loose ||
	    path.len < 2 || path.p[path.len - 1] != '/'))
		return (path);
	if ((d = arena_alloc(a, path.len + 1)) == NULL)
		return (out);
	for (i = 0; i < path.len; i++) {
		if (path.p[i] == '/')
			skip = 0;
		else if (path.p[i] == ';')
			skip = 1;
		if (!skip)
			d[o++] = path.p[i];
	}
	if (loose && o > 1 && d[o - 1] == '/')
		o--;
	d[o] = '\0';
	out.p = d;
	out.len = o;
	return (out);
}

static int
public_glob(const struct config *cf, struct vw_str path)
{
	const struct strlist *pp = &cf->auth.public_paths;
	size_t		 i;

	/*
	 * path is the core's normalised path (dot segments and ";params"
	 * dot segments resolved, "//" merged, %2F refused): the upstream
	 * sees the same one, so "/public/../admin" is "/admin" here too.
	 */
	for (i = 0; i < pp->n; i++)
		if (rl_glob(pp->v[i], path))
			return (1);
	return (0);
}

int
auth_public_path(const struct config *cf, struct arena *a,
    struct vw_str path)
{
	struct vw_str	 alias;

	if (has_prefix(path, PFX_INTERNAL))
		return (1);
	/* The Kratos self-service flows must be reachable signed out. */
	if (cf->auth.mode == AUTH_KRATOS && (has_prefix(path,
	    "/self-service/") || has_prefix(path, "/.ory/")))
		return (1);
	if (!public_glob(cf, path))
		return (0);
	alias = auth_path_alias(a, path, 0);
	return (alias.p == path.p || (alias.p != NULL &&
	    public_glob(cf, alias)));
}

int
auth_header_value_ok(struct vw_str v)
{
	size_t	 i;

	if (v.len == 0 || v.len > 1024 || v.p[0] == ' ' || v.p[0] == '\t' ||
	    v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t')
		return (0);
	for (i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return (0);
	}
	return (1);
}

/* Header names equal ignoring case, '_' standing for '-' (SPEC.md 6). */
static int
name_eq(struct vw_str a, const char *b)
{
	size_t	 i;
	int	 x, y;

	if (strlen(b) != a.len)
		return (0);
	for (i = 0; i < a.len; i++) {
		x = (unsigned char)a.p[i] == '_' ? '-' : (unsigned char)a.p[i];
		y = (unsigned char)b[i] == '_' ? '-' : (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return (0);
	}
	return (1);
}

int
auth_is_claim_header(const struct config *cf, struct vw_str n)
{
	const struct strmap *m = &cf->auth.jwt.claims_to_headers;
	size_t		 i;

	/* A worker: the default targets are all X-User-*, so nothing. */
	if (cf == A.cf && m->n <= AUTH_CLAIMS_MAX) {
		for (i = 0; i < A.nclaims; i++)
			if (A.claims[i].len == n.len &&
			    name_eq(n, A.claims[i].p))
				return (1);
		return (0);
	}
	for (i = 0; i < m->n; i++)
		if (name_eq(n, m->v[i]))
			return (1);
	return (0);
}

/* ------------------------------------------------------------ answers */

/* SPEC.md 6: GET/HEAD accepting text/html, or Sec-Fetch-Mode: navigate. */
static int
browser_navigation(const struct req *rq)
{
	const struct http_msg *m = &rq->rq_msg;
	struct vw_str	 v;
	unsigned	 i;
	size_t		 j;

	if (rq->rq_flags & RQ_WS)
		return (0);
	for (i = 0; i < m->m_nfields; i++)
		if (vw_str_caseeq(m->m_fields[i].f_name, "sec-fetch-mode",
		    14) && vw_str_caseeq(m->m_fields[i].f_value, "navigate",
		    8))
			return (1);
	if (m->m_meth != HM_GET && m->m_meth != HM_HEAD)
		return (0);
	v = http_field_get(m, H_ACCEPT);
	for (j = 0; j + 9 <= v.len; j++)
		if (strncasecmp(v.p + j, "text/html", 9) == 0)
			return (1);
	return (0);
}

static const char *
default_www(const struct config *cf)
{
	switch (cf->auth.mode) {
	case AUTH_JWT:
		return ("Bearer realm=\"vibewarden\"");
	case AUTH_API_KEY:
		return ("ApiKey realm=\"vibewarden\"");
	default:
		return ("Session realm=\"vibewarden\"");
	}
}

/* The challenge for a presented credential that is refused. */
static const char *
bad_www(const struct req *rq)
{
	if (rq->rq_conf->auth.mode == AUTH_JWT)
		return ("Bearer realm=\"vibewarden\", error=\"invalid_token\"");
	return (default_www(rq->rq_conf));
}

static void
set_xhdr(struct req *rq, const char *name, const char *value, size_t vlen)
{
	size_t	 n = strlen(name) + vlen + 4;
	char	*p;

	if ((p = arena_alloc(&rq->rq_arena, n + 1)) == NULL)
		return;
	snprintf(p, n + 1, "%s: %.*s\r\n", name, (int)vlen, value);
	rq->rq_xhdr.p = p;
	rq->rq_xhdr.len = strlen(p);
}

/* RFC 3986 2.3: everything but unreserved characters percent-encoded. */
static void
pct_enc(char *d, size_t cap, size_t *off, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n && *off + 4 < cap; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			d[(*off)++] = (char)c;
		else {
			d[(*off)++] = '%';
			d[(*off)++] = hex[c >> 4];
			d[(*off)++] = hex[c & 15];
		}
	}
	d[*off] = '\0';
}

/*
 * 302 to auth.login_url?return_to=<this request's URL>.  The URL is built
 * from the normalised path and the Host the parser validated; the login
 * flow (Kratos allowed_return_urls) decides whether to honour it.
 */
static enum verdict
redirect_login(struct req *rq)
{
	const struct http_msg *m = &rq->rq_msg;
	const char	*login = rq->rq_conf->auth.login_url;
	char		*loc;
	size_t		 off = 0, cap;

	if (login == NULL)
		login = "/self-service/login/browser";
	/* Every byte of the URL may take three. */
	cap = strlen(login) + 16 + 3 * (16 + m->m_host.len + m->m_path.len +
	    m->m_query.len);
	if (cap > AUTH_LOC_MAX ||
	    (loc = arena_alloc(&rq->rq_arena, cap)) == NULL)
		return (auth_reject(rq, rq->rq_authwhy, NULL, NULL));
	util_append(loc, cap, &off, "%s%creturn_to=", login,
	    strchr(login, '?') != NULL ? '&' : '?');
	if (m->m_host.len > 0) {
		pct_enc(loc, cap, &off, W.w_scheme ? W.w_scheme :
		    "http", strlen(W.w_scheme ? W.w_scheme : "http"));
		pct_enc(loc, cap, &off, "://", 3);
		pct_enc(loc, cap, &off, m->m_host.p, m->m_host.len);
	}
	pct_enc(loc, cap, &off, m->m_path.p, m->m_path.len);
	if (m->m_query.len > 0) {
		pct_enc(loc, cap, &off, "?", 1);
		pct_enc(loc, cap, &off, m->m_query.p,
		    m->m_query.len);
	}
	req_respond(rq, 302, NULL, NULL, 0);
	rq->rq_event = EV_AUTH_DENIED;
	set_xhdr(rq, "Location", loc, off);
	return (V_DONE);
}

enum verdict
auth_reject(struct req *rq, const char *reason, const char *www,
    const char *msg)
{
	if (www == NULL)
		www = default_www(rq->rq_conf);
	rq->rq_authwhy = reason;
	req_fail(rq, 401, EV_AUTH_DENIED, "unauthorized",
	    msg != NULL ? msg : "authentication required");
	set_xhdr(rq, "WWW-Authenticate", www, strlen(www));
	return (V_DONE);
}

enum verdict
auth_deny(struct req *rq, const char *reason, const char *www,
    const char *msg)
{
	if (browser_navigation(rq)) {
		rq->rq_authwhy = reason;
		return (redirect_login(rq));
	}
	return (auth_reject(rq, reason, www, msg));
}

enum verdict
auth_forbid(struct req *rq, const char *reason, const char *msg)
{
	rq->rq_authwhy = reason;
	return (req_fail(rq, 403, EV_AUTH_DENIED, "forbidden",
	    msg != NULL ? msg : "forbidden"));
}

enum verdict
auth_unavailable(struct req *rq, const char *reason, const char *msg)
{
	rq->rq_authwhy = reason;
	return (req_fail(rq, 503, EV_AUTH_DENIED, "auth_provider_unavailable",
	    msg != NULL ? msg : "the identity provider is unavailable"));
}

/* ------------------------------------------------------------ identity */

/* "name: v\r\n" at d + *off, copied rather than formatted (every
   authenticated request); *off ends at cap - 1 when it does not fit. */
static void
put_hdr(char *d, size_t cap, size_t *off, const char *name, struct vw_str v)
{
	size_t	 nl = strlen(name), o = *off;

	if (!auth_header_value_ok(v) || o >= cap)
		return;
	if (nl + v.len + 4 >= cap - o) {
		*off = cap - 1;
		return;
	}
	memcpy(d + o, name, nl);
	o += nl;
	d[o++] = ':';
	d[o++] = ' ';
	memcpy(d + o, v.p, v.len);
	o += v.len;
	d[o++] = '\r';
	d[o++] = '\n';
	d[o] = '\0';
	*off = o;
}

/*
 * The identity header lines for the upstream, into the arena.  -1 when
 * they do not fit (the request is then refused: an identity that cannot
 * be passed on must not turn into an anonymous request).
 */
static int
render_identity(struct req *rq, const struct auth_ident *ai)
{
	char	*d;
	size_t	 off = 0, i, cap;

	/* Room for every line at most (values are <= 1 KB each). */
	cap = ai->ai_id.len + ai->ai_email.len + ai->ai_session.len +
	    ai->ai_keyname.len + 128;
	for (i = 0; i < ai->ai_nextra && i < AUTH_EXTRA_MAX; i++)
		cap += strlen(ai->ai_extra[i].ah_name) +
		    ai->ai_extra[i].ah_value.len + 4;
	if (cap > AUTH_HDR_MAX ||
	    (d = arena_alloc(&rq->rq_arena, cap)) == NULL)
		return (-1);
	d[0] = '\0';
	put_hdr(d, cap, &off, "X-User-Id", ai->ai_id);
	put_hdr(d, cap, &off, "X-User-Email", ai->ai_email);
	if (ai->ai_verified >= 0)
		put_hdr(d, cap, &off, "X-User-Verified", ai->ai_verified ?
		    VW_STR("true") : VW_STR("false"));
	put_hdr(d, cap, &off, "X-Session-Id", ai->ai_session);
	put_hdr(d, cap, &off, "X-Api-Key-Name", ai->ai_keyname);
	for (i = 0; i < ai->ai_nextra && i < AUTH_EXTRA_MAX; i++)
		put_hdr(d, cap, &off, ai->ai_extra[i].ah_name,
		    ai->ai_extra[i].ah_value);
	if (off + 1 >= cap)
		return (-1);
	rq->rq_authhdr.p = d;
	rq->rq_authhdr.len = off;
	return (0);
}

/*
 * Every identity value can go into a header line as it is.  A value that
 * cannot (CR, LF, NUL, over 1 KB) refuses the credential: dropping just
 * that header would hand the application a partial identity.
 */
static int
ident_ok(const struct auth_ident *ai)
{
	size_t	 i;

	if ((ai->ai_id.len > 0 && !auth_header_value_ok(ai->ai_id)) ||
	    (ai->ai_email.len > 0 && !auth_header_value_ok(ai->ai_email)) ||
	    (ai->ai_session.len > 0 &&
	    !auth_header_value_ok(ai->ai_session)) ||
	    (ai->ai_keyname.len > 0 && !auth_header_value_ok(ai->ai_keyname)))
		return (0);
	for (i = 0; i < ai->ai_nextra && i < AUTH_EXTRA_MAX; i++)
		if (!auth_header_value_ok(ai->ai_extra[i].ah_value))
			return (0);
	return (1);
}

static enum verdict
run_mode(struct req *rq, struct auth_ident *ai)
{
	switch (rq->rq_conf->auth.mode) {
	case AUTH_API_KEY:
		return (auth_apikey(rq, ai));
	case AUTH_JWT:
		return (auth_jwt(rq, ai));
	case AUTH_KRATOS:
		return (auth_kratos(rq, ai));
	default:
		return (auth_unavailable(rq, "internal_error",
		    "unknown auth.mode"));
	}
}

enum verdict
stage_auth(struct req *rq)
{
	struct auth_ident *ai = rq->rq_ident;
	enum verdict	 v;

	if (!A.on || auth_public_path(rq->rq_conf, &rq->rq_arena,
	    rq->rq_msg.m_path))
		return (V_NEXT);
	if (ai == NULL) {
		if ((ai = arena_alloc(&rq->rq_arena, sizeof(*ai))) == NULL)
			return (auth_unavailable(rq, "internal_error",
			    "out of request memory"));
		memset(ai, 0, sizeof(*ai));
		ai->ai_verified = -1;
		rq->rq_ident = ai;
	}
	if ((v = run_mode(rq, ai)) != V_NEXT)
		return (v);
	if (ai->ai_id.len == 0 && ai->ai_ratekey.len == 0)
		return (auth_reject(rq, "token_invalid", bad_www(rq),
		    "the credential names no subject"));
	if (!ident_ok(ai))
		return (auth_reject(rq, "token_invalid", bad_www(rq),
		    "the identity cannot be passed on"));
	if (render_identity(rq, ai) == -1)
		return (auth_reject(rq, "token_invalid", bad_www(rq),
		    "identity too large"));
	rq->rq_uid = ai->ai_ratekey.len > 0 ? ai->ai_ratekey : ai->ai_id;
	return (V_NEXT);
}

int
auth_worker_init(const struct config *cf)
{
	const struct strmap *m = &cf->auth.jwt.claims_to_headers;
	struct vw_str	 t;
	size_t		 i;

	A.on = config_feature_on(cf, "auth");
	A.nclaims = 0;
	for (i = 0; i < m->n && i < AUTH_CLAIMS_MAX; i++) {
		t.p = m->v[i];
		t.len = strlen(m->v[i]);
		if (http_hdr_id(t) != H_IDENTITY)
			A.claims[A.nclaims++] = t;
	}
	A.cf = cf;
	if (cf->auth.mode == AUTH_JWT)
		return (auth_jwt_worker_init(cf));
	if (cf->auth.mode == AUTH_KRATOS)
		return (kratos_worker_init(cf));
	return (0);
}

int
auth_needs_shm(const struct config *cf)
{
	return (config_feature_on(cf, "auth") && (cf->auth.mode == AUTH_JWT ||
	    cf->auth.mode == AUTH_KRATOS));
}
