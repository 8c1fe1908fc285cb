/*
 * auth_apikey.c: auth.mode api-key (reference 3.4, SPEC.md 6).  The key in
 * auth.api_key.header is hashed with SHA-256 and compared with every
 * configured hash in constant time (CRYPTO_memcmp, no early exit); then
 * the first scope rule whose path glob and methods match must be covered
 * by the key's scopes (403 otherwise).  The key itself is never copied,
 * logged or echoed.  Worker only; no I/O.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "ratelimit.h"
#include "util.h"

/* 64 hex digits (either case; checked at config load) into 32 bytes. */
static int
unhex32(const char *s, unsigned char out[32])
{
	int	 i, h, l;

	for (i = 0; i < 32; i++) {
		if ((h = util_hexval((unsigned char)s[2 * i])) < 0 ||
		    (l = util_hexval((unsigned char)s[2 * i + 1])) < 0)
			return (-1);
		out[i] = (unsigned char)(h << 4 | l);
	}
	return (0);
}

/* The one field named name; -1 when absent, -2 when given twice. */
static int
find_field(const struct http_msg *m, const char *name)
{
	size_t	 n = strlen(name);
	unsigned i;
	int	 at = -1;

	for (i = 0; i < m->m_nfields; i++)
		if (vw_str_caseeq(m->m_fields[i].f_name, name, n)) {
			if (at != -1)
				return (-2);
			at = (int)i;
		}
	return (at);
}

static int
has_scope(const struct cf_api_key *k, const char *scope)
{
	size_t	 i;

	for (i = 0; i < k->scopes.n; i++)
		if (strcmp(k->scopes.v[i], scope) == 0)
			return (1);
	return (0);
}

/*
 * reference 3.4: the first rule whose path and method match decides;
 * none = allowed.  A rule matches the path, or any spelling the
 * application may route to the same handler (auth_path_alias, case
 * ignored): "/Admin;x/users/" is /admin/users to some application
 * servers, and must not dodge the rule for /admin/ *.
 */
static int
rules_allow(const struct req *rq, const struct cf_api_key *k,
    struct vw_str alias, struct vw_str meth)
{
	const struct cf_auth *a = &rq->rq_conf->auth;
	const struct cf_scope_rule *r;
	const struct http_msg *m = &rq->rq_msg;
	size_t		 i, j;
	int		 hit;

	for (i = 0; i < a->api_key.nscope_rules; i++) {
		r = &a->api_key.scope_rules[i];
		if (r->path == NULL || (!rl_glob(r->path, m->m_path) &&
		    !rl_glob_ci(r->path, alias)))
			continue;
		hit = r->methods.n == 0;
		for (j = 0; j < r->methods.n && !hit; j++)
			hit = vw_str_caseeq(meth, r->methods.v[j],
			    strlen(r->methods.v[j]));
		if (!hit)
			continue;
		for (j = 0; j < r->required_scopes.n; j++)
			if (!has_scope(k, r->required_scopes.v[j]))
				return (0);
		return (1);
	}
	return (1);
}

/* Method-override headers that Rack, Symfony, Laravel and Express honour. */
static const char *const overrides[] = {
	"x-http-method-override", "x-http-method", "x-method-override"
};

/*
 * The rules must allow the request under every method the application
 * may run it as: its own; GET for HEAD (frameworks route HEAD to the GET
 * handler); and each method-override header and "_method" query
 * parameter, so that POST with "X-HTTP-Method-Override: DELETE" meets
 * the rule for DELETE.  (A "_method" in a form body is not seen here.)
 * 0 also when the arena is full.
 */
static int
scopes_ok(struct req *rq, const struct cf_api_key *k)
{
	const struct http_msg *m = &rq->rq_msg;
	struct vw_str	 alias, v, get = { "GET", 3 };
	const char	*q, *e, *amp;
	size_t		 i, j;

	if ((alias = auth_path_alias(&rq->rq_arena, m->m_path, 1)).p == NULL)
		return (0);
	if (!rules_allow(rq, k, alias, m->m_method) ||
	    (m->m_meth == HM_HEAD && !rules_allow(rq, k, alias, get)))
		return (0);
	for (i = 0; i < m->m_nfields; i++)
		for (j = 0; j < sizeof(overrides) / sizeof(overrides[0]); j++)
			if (vw_str_caseeq(m->m_fields[i].f_name, overrides[j],
			    strlen(overrides[j])) && !rules_allow(rq, k, alias,
			    m->m_fields[i].f_value))
				return (0);
	if ((q = m->m_query.p) == NULL)
		return (1);
	for (e = q + m->m_query.len; q < e; q = amp + 1) {
		if ((amp = memchr(q, '&', (size_t)(e - q))) == NULL)
			amp = e;
		if ((size_t)(amp - q) > 8 && strncmp(q, "_method=", 8) == 0) {
			v.p = q + 8;
			v.len = (size_t)(amp - q) - 8;
			if (!rules_allow(rq, k, alias, v))
				return (0);
		}
	}
	return (1);
}

/* name, and the scopes comma-joined, into the identity (arena). */
static int
fill(struct req *rq, struct auth_ident *ai, const struct cf_api_key *k)
{
	size_t	 n, i, off;
	char	*p;

	ai->ai_keyname.p = k->name;
	ai->ai_keyname.len = strlen(k->name);
	n = sizeof("apikey:") + ai->ai_keyname.len;
	if ((p = arena_alloc(&rq->rq_arena, n)) == NULL)
		return (-1);
	memcpy(p, "apikey:", 7);
	memcpy(p + 7, k->name, ai->ai_keyname.len);
	ai->ai_ratekey.p = p;
	ai->ai_ratekey.len = n - 1;
	for (n = 1, i = 0; i < k->scopes.n; i++)
		n += strlen(k->scopes.v[i]) + 1;
	if ((p = arena_alloc(&rq->rq_arena, n)) == NULL)
		return (-1);
	for (off = 0, i = 0; i < k->scopes.n; i++) {
		if (i > 0)
			p[off++] = ',';
		memcpy(p + off, k->scopes.v[i], strlen(k->scopes.v[i]));
		off += strlen(k->scopes.v[i]);
	}
	ai->ai_scopes.p = p;
	ai->ai_scopes.len = off;
	return (0);
}

enum verdict
auth_apikey(struct req *rq, struct auth_ident *ai)
{
	const struct cf_auth *a = &rq->rq_conf->auth;
	const struct cf_api_key *hit = NULL;
	const struct http_field *f;
	unsigned char	 dig[32], want[32];
	size_t		 i;
	int		 at;

	at = find_field(&rq->rq_msg, a->api_key.header != NULL ?
	    a->api_key.header : "X-API-Key");
	if (at == -1)
		return (auth_deny(rq, "no_credentials", NULL,
		    "API key required"));
	if (at == -2)
		return (auth_reject(rq, "invalid_api_key", NULL,
		    "invalid or inactive API key"));
	f = &rq->rq_msg.m_fields[at];
	if (f->f_value.len == 0 ||
	    util_sha256(f->f_value.p, f->f_value.len, dig) == -1)
		return (auth_reject(rq, "invalid_api_key", NULL,
		    "invalid or inactive API key"));
	/* Every configured key is compared, whichever matches. */
	for (i = 0; i < a->api_key.nkeys; i++) {
		if (a->api_key.keys[i].hash == NULL ||
		    unhex32(a->api_key.keys[i].hash, want) == -1)
			continue;
		if (CRYPTO_memcmp(dig, want, sizeof(dig)) == 0 && hit == NULL)
			hit = &a->api_key.keys[i];
	}
	OPENSSL_cleanse(dig, sizeof(dig));
	if (hit == NULL)
		return (auth_reject(rq, "invalid_api_key", NULL,
		    "invalid or inactive API key"));
	if (fill(rq, ai, hit) == -1)
		return (auth_unavailable(rq, "internal_error",
		    "out of request memory"));
	if (!scopes_ok(rq, hit))
		return (auth_forbid(rq, "insufficient_scope",
		    "insufficient scopes"));
	return (V_NEXT);
}
