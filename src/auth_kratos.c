/*
 * auth_kratos.c: auth.mode kratos (SPEC.md 6, 8).  The credential is the
 * session cookie (auth.session_cookie_name) or an X-Session-Token; its
 * SHA-256 keys the shared session cache (shm "sessions", see
 * shm/session.h).  A hit decides at once; a miss asks Kratos' whoami
 * through kratos.c and waits (V_AGAIN) for the answer, which kratos.c
 * also caches.  Worker only; no I/O here beyond one LMDB read.
 */
#include <string.h>
#include <time.h>


#include "auth.h"
#include "kratos.h"
#include "ratelimit.h"
#include "util.h"

/* The value of cookie name in the Cookie field(s) (RFC 6265 4.2.1). */
static struct vw_str
cookie_value(const struct http_msg *m, const char *name)
{
	struct vw_str	 none = { NULL, 0 }, v;
	size_t		 nl = strlen(name), i, s, e;
	unsigned	 f;

	for (f = 0; f < m->m_nfields; f++) {
		if (m->m_fields[f].f_id != H_COOKIE)
			continue;
		v = m->m_fields[f].f_value;
		for (i = 0; i < v.len; i = e + 1) {
			while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
				i++;
			s = i;
			while (i < v.len && v.p[i] != ';')
				i++;
			e = i;
			while (i > s && (v.p[i - 1] == ' ' ||
			    v.p[i - 1] == '\t'))
				i--;
			if (i - s > nl && v.p[s + nl] == '=' &&
			    memcmp(v.p + s, name, nl) == 0) {
				v.p += s + nl + 1;
				v.len = i - s - nl - 1;
				return (v);
			}
		}
	}
	return (none);
}

static struct vw_str
token_value(const struct http_msg *m)
{
	struct vw_str	 none = { NULL, 0 };
	unsigned	 f;

	for (f = 0; f < m->m_nfields; f++)
		if (vw_str_caseeq(m->m_fields[f].f_name, "x-session-token",
		    15))
			return (m->m_fields[f].f_value);
	return (none);
}

/* Printable, no blank, no ';' or ',': safe to send on as it is. */
static int
cred_ok(struct vw_str v)
{
	size_t	 i;

	if (v.len == 0 || v.len > KRATOS_CRED_MAX)
		return (0);
	for (i = 0; i < v.len; i++)
		if ((unsigned char)v.p[i] <= 0x20 ||
		    (unsigned char)v.p[i] >= 0x7f || v.p[i] == ';' ||
		    v.p[i] == ',')
			return (0);
	return (1);
}

static int
cred_key(int token, struct vw_str v, unsigned char key[SESS_KEY_LEN])
{
	/* A cookie and a token of the same bytes are different things. */
	return (util_sha256_2(token ? "token:" : "cookie:", token ? 6 : 7,
	    v.p, v.len, key));
}

static struct vw_str
dup_str(struct req *rq, const char *p, size_t n)
{
	struct vw_str	 s = { NULL, 0 };

	if (n > 0 && (s.p = arena_strndup(&rq->rq_arena, p, n)) != NULL)
		s.len = n;
	return (s);
}

static enum verdict
pass(struct req *rq, struct auth_ident *ai, const struct shm_sess *s)
{
	ai->ai_id = dup_str(rq, s->ss_id, s->ss_idlen);
	if (ai->ai_id.len == 0)
		return (auth_unavailable(rq, "internal_error",
		    "out of request memory"));
	ai->ai_email = dup_str(rq, s->ss_email, s->ss_emaillen);
	ai->ai_verified = s->ss_verified == 1;
	ai->ai_session = dup_str(rq, s->ss_sid, s->ss_sidlen);
	return (V_NEXT);
}

static enum verdict
decide(struct req *rq, struct auth_ident *ai, const struct kratos_answer *a)
{
	switch (a->ka_result) {
	case KR_PASS:
		return (pass(rq, ai, &a->ka_sess));
	case KR_DENY:
		return (auth_deny(rq, a->ka_why, NULL,
		    "authentication required"));
	default:
		return (auth_unavailable(rq, a->ka_why,
		    "the identity provider is unavailable"));
	}
}

static uint64_t
wall_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

enum verdict
auth_kratos(struct req *rq, struct auth_ident *ai)
{
	struct kratos_answer	 a;
	struct kratos_wait	*w = ai->ai_mode;
	struct shm_sess		 s;
	struct shm		*h;
	struct vw_str		 cred;
	unsigned char		 key[SESS_KEY_LEN];
	int			 token = 0, found = 0;

	if (w != NULL) {
		if (!kratos_wait_answer(w, &a))
			return (V_AGAIN);
		kratos_wait_free(w);
		ai->ai_mode = NULL;
		return (decide(rq, ai, &a));
	}
	cred = cookie_value(&rq->rq_msg, rq->rq_conf->auth.session_cookie_name);
	if (cred.len == 0) {
		cred = token_value(&rq->rq_msg);
		token = 1;
	}
	if (cred.len == 0)
		return (auth_deny(rq, "no_credentials", NULL,
		    "authentication required"));
	if (!cred_ok(cred))
		return (auth_deny(rq, "session_invalid", NULL,
		    "authentication required"));
	if (cred_key(token, cred, key) == -1)
		return (auth_unavailable(rq, "internal_error",
		    "cannot hash the credential"));
	/* A cache failure is a miss: Kratos decides. */
	if ((h = rl_shm()) != NULL &&
	    shm_sess_get(h, key, wall_ns(), &s, &found) == SHM_OK && found) {
		if (s.ss_ok)
			return (pass(rq, ai, &s));
		return (auth_deny(rq, "session_invalid", NULL,
		    "authentication required"));
	}
	if (kratos_whoami(rq->rq_conn, key, token, cred.p, cred.len, &w,
	    &a) == 1)
		return (decide(rq, ai, &a));
	ai->ai_mode = w;
	return (V_AGAIN);
}
