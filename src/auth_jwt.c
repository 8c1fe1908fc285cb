/*
 * auth_jwt.c: auth.mode jwt (SPEC.md 6, reference 3.3) in a worker.
 *
 * The token of "Authorization: Bearer" is decoded and checked by jwt.c;
 * the key comes from the shm "jwks" database that the JWKS helper
 * (jwks_job.c) fills: workers never fetch anything.  An unknown kid asks
 * the helper for a refresh through shm (at most once per JWKS_WANT_GAP,
 * across all workers), and is refused meanwhile.
 *
 * Caches, per worker (a token seen by another worker costs that worker
 * one signature check):
 *   keys:   parsed EVP_PKEYs by kid, for the current JWKS generation;
 *   tokens: the identity of a verified token, by the SHA-256 of the
 *           token, until its exp (+ clock_skew); direct-mapped.
 * Both are dropped when the helper writes a new key set (the generation
 * is looked at once a second), so a key removed from the JWKS stops
 * working within a second, cached tokens included.
 * Worker only; no I/O but LMDB reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"
#include "jwt.h"
#include "log.h"
#include "ratelimit.h"
#include "shm.h"
#include "util.h"

#define JWKS_WANT_GAP	10000	/* ms between forced refreshes (SPEC 6) */
#define GEN_CHECK_MS	1000	/* how often the generation is read */
#define NKEYS		16	/* parsed keys kept */
#define NTOKENS		4096	/* verified tokens kept (power of 2) */
#define KEYREC_MAX	4200	/* alg byte + DER */

#define WWW_MISSING	"Bearer realm=\"vibewarden\""
#define WWW_INVALID	"Bearer realm=\"vibewarden\", error=\"invalid_token\""

static const char *const reserved[] = {
	"iss", "aud", "exp", "iat", "nbf", "jti", "typ", NULL
};

struct kslot {
	char		 ks_kid[JWT_KID_MAX + 1];
	EVP_PKEY	*ks_pk;
	enum jwt_alg	 ks_alg;	/* JWA_NONE: the JWK names none */
};

/* A verified token's identity: one malloc, strings after the struct. */
struct tident {
	int		 ti_verified;
	size_t		 ti_nextra;
	struct vw_str	 ti_id, ti_email;
	struct auth_hdr	 ti_extra[AUTH_EXTRA_MAX];
};

struct tslot {
	unsigned char	 ts_hash[32];
	int64_t		 ts_exp;	/* Unix s; 0 = empty */
	struct tident	*ts_ident;
};

static struct {
	const struct config	*cf;
	struct shm		*sh;
	unsigned		 allowed;	/* 1 << enum jwt_alg */
	struct jwt_policy	 pol;
	uint64_t		 gen;
	uint64_t		 gen_read;	/* util_now_ms of the last read */
	uint64_t		 want_ms;	/* our last refresh request */
	struct kslot		 keys[NKEYS];
	unsigned		 nextkey;	/* round-robin victim */
	struct tslot		*tok;
	unsigned char		 src[32];	/* jwks_job_source() */
} J;

static void
flush(void)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++) {
		EVP_PKEY_free(J.keys[i].ks_pk);
		memset(&J.keys[i], 0, sizeof(J.keys[i]));
	}
	for (i = 0; J.tok != NULL && i < NTOKENS; i++) {
		free(J.tok[i].ts_ident);
		memset(&J.tok[i], 0, sizeof(J.tok[i]));
	}
}

int
auth_jwt_worker_init(const struct config *cf)
{
	const struct strlist *al = &cf->auth.jwt.allowed_algorithms;
	enum jwt_alg	 a;
	size_t		 i;

	flush();
	free(J.tok);
	memset(&J, 0, sizeof(J));
	J.cf = cf;
	jwks_job_source(cf, J.src);
	for (i = 0; i < al->n; i++)
		if ((a = jwt_alg_id(al->v[i])) != JWA_NONE)
			J.allowed |= 1u << a;
	J.pol.jp_iss = cf->auth.jwt.issuer;
	J.pol.jp_aud = cf->auth.jwt.audience;
	J.pol.jp_skew = (int64_t)(cf->auth.jwt.clock_skew_ms / 1000);
	if ((J.tok = calloc(NTOKENS, sizeof(*J.tok))) == NULL)
		return (-1);
	/* The worker's one handle, opened by rl_worker_init(). */
	if ((J.sh = rl_shm()) == NULL) {
		log_sys(LOG_LVL_ERROR, "shm.open_failed", "%s: not open; JWT "
		    "authentication fails closed", cf->shm.path);
		return (-1);
	}
	return (0);
}

static uint64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * The current JWKS generation (0: no key set yet), read at most once per
 * GEN_CHECK_MS unless force; a new one empties both caches.  Keys from
 * another source (shm/ outlives a restart with a new jwks_url or
 * issuer_url) count as none: the old IdP's keys must not sign for us
 * until the new source has been fetched.
 */
static uint64_t
generation(int force)
{
	struct shm_jwks_meta m;

	if (!force && J.gen != 0 && util_now_ms - J.gen_read < GEN_CHECK_MS)
		return (J.gen);
	J.gen_read = util_now_ms;
	if (shm_jwks_meta(J.sh, &m) != SHM_OK)
		return (J.gen);
	if (CRYPTO_memcmp(m.jm_src, J.src, sizeof(J.src)) != 0)
		m.jm_gen = 0;
	if (m.jm_gen != J.gen) {
		flush();
		J.gen = m.jm_gen;
	}
	return (J.gen);
}

/* The key of kid: from the cache, else from shm (NULL: none). */
static struct kslot *
find_key(const char *kid)
{
	unsigned char	 rec[KEYREC_MAX], k[1 + JWT_KID_MAX];
	struct kslot	*ks;
	size_t		 i, klen = strlen(kid), vlen = 0;
	EVP_PKEY	*pk;

	for (i = 0; i < NKEYS; i++)
		if (J.keys[i].ks_pk != NULL &&
		    strcmp(J.keys[i].ks_kid, kid) == 0)
			return (&J.keys[i]);
	k[0] = 'k';
	memcpy(k + 1, kid, klen);
	if (shm_jwks_key(J.sh, k, klen + 1, rec, sizeof(rec), &vlen) !=
	    SHM_OK || vlen < 2 ||
	    (pk = jwks_der_key(rec + 1, vlen - 1)) == NULL)
		return (NULL);
	ks = &J.keys[J.nextkey++ % NKEYS];
	EVP_PKEY_free(ks->ks_pk);
	memcpy(ks->ks_kid, kid, klen + 1);
	ks->ks_pk = pk;
	ks->ks_alg = rec[0] < JWA__COUNT ? (enum jwt_alg)rec[0] : JWA__COUNT;
	return (ks);
}

/* An unknown kid: ask the helper for a refresh (rate-limited). */
static void
want_refresh(void)
{
	uint64_t	 now = wall_ms();
	int		 set;

	if (J.want_ms != 0 && now - J.want_ms < JWKS_WANT_GAP)
		return;
	J.want_ms = now;
	shm_jwks_want(J.sh, now, JWKS_WANT_GAP, &set);
}

/* The string form of a claim for a header (reference 3.3). */
static int
claim_str(struct req *rq, json_t *v, struct vw_str *out)
{
	char	 buf[1024], *p;
	size_t	 off = 0, i;
	json_t	*e;

	buf[0] = '\0';
	if (json_is_string(v))
		util_append(buf, sizeof(buf), &off, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		util_append(buf, sizeof(buf), &off, "%s", json_is_true(v) ?
		    "true" : "false");
	else if (json_is_integer(v))
		util_append(buf, sizeof(buf), &off, "%lld",
		    (long long)json_integer_value(v));
	else if (json_is_real(v))
		util_append(buf, sizeof(buf), &off, "%.17g",
		    json_real_value(v));
	else if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				return (-1);
			util_append(buf, sizeof(buf), &off, "%s%s",
			    i > 0 ? "," : "", json_string_value(e));
		}
	} else
		return (-1);
	if (off == 0 || off >= sizeof(buf) - 1 ||
	    (p = arena_strndup(&rq->rq_arena, buf, off)) == NULL)
		return (-1);
	out->p = p;
	out->len = strlen(p);
	return (0);
}

static int
is_reserved(const char *claim)
{
	size_t	 i;

	for (i = 0; reserved[i] != NULL; i++)
		if (strcmp(reserved[i], claim) == 0)
			return (1);
	return (0);
}

/*
 * The identity from verified claims (strings copied to the arena).  -1
 * when a claim that is there (not null) cannot become its header (over
 * 1 KB, an object, an array of non-strings): dropping only that header
 * would hand the application a partial identity, say one without its
 * X-Tenant, so the token is refused as stage_auth refuses a CR in one.
 */
static int
fill(struct req *rq, struct auth_ident *ai, json_t *c)
{
	const struct strmap *m = &rq->rq_conf->auth.jwt.claims_to_headers;
	struct vw_str	 s;
	json_t		*v;
	size_t		 i;

	if (claim_str(rq, json_object_get(c, "sub"), &s) == 0 &&
	    json_is_string(json_object_get(c, "sub")))
		ai->ai_id = s;
	if (json_is_string(v = json_object_get(c, "email"))) {
		if (claim_str(rq, v, &s) == -1)
			return (-1);
		ai->ai_email = s;
	}
	ai->ai_verified = json_is_true(json_object_get(c, "email_verified"));
	for (i = 0; i < m->n; i++) {
		if ((v = json_object_get(c, m->k[i])) == NULL ||
		    json_is_null(v) || is_reserved(m->k[i]))
			continue;
		if (strcasecmp(m->v[i], "X-User-Verified") == 0) {
			if (json_is_boolean(v))
				ai->ai_verified = json_is_true(v);
			continue;
		}
		if (claim_str(rq, v, &s) == -1)
			return (-1);
		if (strcasecmp(m->v[i], "X-User-Id") == 0)
			ai->ai_id = s;
		else if (strcasecmp(m->v[i], "X-User-Email") == 0)
			ai->ai_email = s;
		else if (ai->ai_nextra < AUTH_EXTRA_MAX) {
			ai->ai_extra[ai->ai_nextra].ah_name = m->v[i];
			ai->ai_extra[ai->ai_nextra++].ah_value = s;
		}
	}
	return (0);
}

static struct tslot *
tslot(const unsigned char h[32])
{
	return (&J.tok[(h[0] | (size_t)h[1] << 8) & (NTOKENS - 1)]);
}

/* Remember ai for a token of hash h valid until exp. */
static void
remember(const unsigned char h[32], int64_t exp, const struct auth_ident *ai)
{
	struct tslot	*ts = tslot(h);
	struct tident	*ti;
	size_t		 n = sizeof(*ti) + ai->ai_id.len + ai->ai_email.len, i;
	char		*p;

	for (i = 0; i < ai->ai_nextra; i++)
		n += ai->ai_extra[i].ah_value.len;
	if ((ti = malloc(n)) == NULL)
		return;
	memset(ti, 0, sizeof(*ti));
	p = (char *)(ti + 1);
#define KEEP(dst, src) do {						\
	memcpy(p, (src).p, (src).len);					\
	(dst).p = p;							\
	(dst).len = (src).len;						\
	p += (src).len;							\
} while (0)
	KEEP(ti->ti_id, ai->ai_id);
	KEEP(ti->ti_email, ai->ai_email);
	for (i = 0; i < ai->ai_nextra; i++) {
		ti->ti_extra[i].ah_name = ai->ai_extra[i].ah_name;
		KEEP(ti->ti_extra[i].ah_value, ai->ai_extra[i].ah_value);
	}
#undef KEEP
	ti->ti_nextra = ai->ai_nextra;
	ti->ti_verified = ai->ai_verified;
	free(ts->ts_ident);
	memcpy(ts->ts_hash, h, 32);
	ts->ts_exp = exp;
	ts->ts_ident = ti;
}

static struct vw_str
adup(struct req *rq, struct vw_str s)
{
	struct vw_str	 c = { NULL, 0 };

	if (s.len > 0 && (c.p = arena_strndup(&rq->rq_arena, s.p, s.len)) !=
	    NULL)
		c.len = s.len;
	return (c);
}

/* A cached token: its identity copied into the request (1), or 0. */
static int
recall(struct req *rq, const unsigned char h[32], int64_t now,
    struct auth_ident *ai)
{
	struct tslot	*ts = tslot(h);
	struct tident	*ti = ts->ts_ident;
	size_t		 i;

	if (ti == NULL || CRYPTO_memcmp(ts->ts_hash, h, 32) != 0)
		return (0);
	if (now > ts->ts_exp + J.pol.jp_skew) {
		free(ti);
		memset(ts, 0, sizeof(*ts));
		return (0);
	}
	ai->ai_id = adup(rq, ti->ti_id);
	ai->ai_email = adup(rq, ti->ti_email);
	ai->ai_verified = ti->ti_verified;
	for (i = 0; i < ti->ti_nextra; i++) {
		ai->ai_extra[i].ah_name = ti->ti_extra[i].ah_name;
		ai->ai_extra[i].ah_value = adup(rq, ti->ti_extra[i].ah_value);
	}
	ai->ai_nextra = ti->ti_nextra;
	return (ai->ai_id.len > 0);
}

/* The token of "Authorization: Bearer <token>" (RFC 6750 2.1). */
static int
bearer(const struct http_msg *m, struct vw_str *tok)
{
	struct vw_str	 v = { NULL, 0 };
	unsigned	 i, n = 0;

	for (i = 0; i < m->m_nfields; i++)
		if (m->m_fields[i].f_id == H_AUTHORIZATION) {
			v = m->m_fields[i].f_value;
			n++;
		}
	if (n != 1 || v.len < 8 || strncasecmp(v.p, "bearer ", 7) != 0)
		return (n == 0 ? 0 : -1);
	tok->p = v.p + 7;
	tok->len = v.len - 7;
	while (tok->len > 0 && tok->p[0] == ' ') {
		tok->p++;
		tok->len--;
	}
	return (tok->len > 0 ? 1 : -1);
}

static enum verdict
invalid(struct req *rq, const char *why)
{
	return (auth_reject(rq, why, WWW_INVALID, "invalid or expired token"));
}

enum verdict
auth_jwt(struct req *rq, struct auth_ident *ai)
{
	struct vw_str	 tok;
	struct jwt	 j;
	struct kslot	*ks;
	unsigned char	 h[32];
	const char	*why;
	int64_t		 now = (int64_t)time(NULL), exp;
	int		 rc;

	if ((rc = bearer(&rq->rq_msg, &tok)) == 0)
		return (auth_deny(rq, "no_credentials", WWW_MISSING,
		    "missing or invalid Authorization header"));
	if (rc == -1 || tok.len > JWT_MAX_LEN)
		return (invalid(rq, "invalid_token"));
	if (J.sh == NULL || J.tok == NULL)
		return (auth_unavailable(rq, "provider_unavailable",
		    "the key store is not available"));
	if (generation(0) == 0 && generation(1) == 0)
		return (auth_unavailable(rq, "provider_unavailable",
		    "no signing keys fetched yet"));
	if (util_sha256(tok.p, tok.len, h) == -1)
		return (invalid(rq, "invalid_token"));
	if (recall(rq, h, now, ai))
		return (V_NEXT);
	if (jwt_decode(tok.p, tok.len, &j, &why) == -1)
		return (invalid(rq, why));
	if (!(J.allowed & (1u << j.j_alg))) {
		why = "alg_not_allowed";
		goto bad;
	}
	if (j.j_kid == NULL) {
		why = "missing_kid";
		goto bad;
	}
	if ((ks = find_key(j.j_kid)) == NULL) {
		want_refresh();
		why = "unknown_kid";
		goto bad;
	}
	if ((ks->ks_alg != JWA_NONE && ks->ks_alg != j.j_alg) ||
	    jwt_verify(&j, ks->ks_pk, &why) == -1) {
		why = "invalid_signature";
		goto bad;
	}
	if (jwt_check_claims(&j, &J.pol, now, &exp, &why) == -1)
		goto bad;
	/* RFC 7519 4.1.2: a StringOrURI; the subject is the user id. */
	if (!json_is_string(json_object_get(j.j_claims, "sub"))) {
		why = "token_invalid";
		goto bad;
	}
	rc = fill(rq, ai, j.j_claims);
	jwt_free(&j);
	if (rc == -1 || ai->ai_id.len == 0)
		return (invalid(rq, "token_invalid"));
	remember(h, exp, ai);
	return (V_NEXT);
 bad:
	jwt_free(&j);
	return (invalid(rq, why));
}
