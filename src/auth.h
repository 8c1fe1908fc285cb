/*
 * auth.h: the authentication stage (SPEC.md 5 stage 11, SPEC.md 6) and
 * the contract between it and the auth modes.  Worker only; no mode does
 * blocking I/O (Kratos waits with V_AGAIN, JWT keys come from shm/).
 *
 * How a request goes through stage_auth (stage_auth.c):
 *   1. public path (auth.public_paths, /_vibewarden/..., and in kratos mode
 *      /self-service/... and /.ory/...) on the normalised path: pass, with no
 *      identity at all;
 *   2. else the mode function of auth.mode runs with a zeroed
 *      struct auth_ident (kept in the request arena across V_AGAIN):
 *        V_NEXT   the credential is good and ident is filled;
 *        V_DONE   the mode answered through auth_deny(), auth_reject(),
 *                 auth_forbid() or auth_unavailable();
 *        V_AGAIN  waiting on I/O: the stage runs the mode again later with
 *                 the same ident;
 *   3. on V_NEXT the stage renders the identity headers for the upstream
 *      (rq_authhdr, appended by proxy.c) from ident only (client copies
 *      were dropped by stage_strip) and sets rq_uid for the per-user
 *      rate limit.
 */
#ifndef VW_AUTH_H
#define VW_AUTH_H

#include <stddef.h>

#include "req.h"

#define AUTH_EXTRA_MAX	16	/* claims_to_headers beyond the defaults */

/* One extra identity header: name (config storage), value. */
struct auth_hdr {
	const char	*ah_name;
	struct vw_str	 ah_value;
};

/*
 * What a mode found out about the caller.  Strings live in the request
 * arena or config storage; len 0 = not sent.  Values are checked by the
 * stage before they become header values (no CTL bytes), so a mode may
 * copy them from a verified token as they are.
 */
struct auth_ident {
	struct vw_str	 ai_id;		/* X-User-Id; per-user rate key */
	struct vw_str	 ai_email;	/* X-User-Email */
	int		 ai_verified;	/* X-User-Verified: -1 not sent,
					   0 "false", 1 "true" */
	struct vw_str	 ai_session;	/* X-Session-Id (Kratos) */
	struct vw_str	 ai_keyname;	/* X-Api-Key-Name (API key) */
	struct vw_str	 ai_scopes;	/* API key scopes, comma-joined
					   (logged, not forwarded) */
	struct auth_hdr	 ai_extra[AUTH_EXTRA_MAX];
	size_t		 ai_nextra;
	struct vw_str	 ai_ratekey;	/* per-user rate key when not
					   ai_id (apikey:<name>) */
	void		*ai_mode;	/* the mode's own state across
					   V_AGAIN (NULL at first) */
};

/* The mode functions (one file each). */
enum verdict	 auth_apikey(struct req *, struct auth_ident *);
enum verdict	 auth_jwt(struct req *, struct auth_ident *);
/*
 * Kratos (auth_kratos.c, the kratos branch): whoami on a session-cache
 * miss through a non-blocking client, V_AGAIN while it runs.
 */
enum verdict	 auth_kratos(struct req *, struct auth_ident *);

/*
 * Per-worker set-up after fork, before the first request: the modes'
 * state (the shm/ handle for the JWKS, caches).  0, or -1 (logged: the
 * mode then fails closed).
 */
int		 auth_worker_init(const struct config *cf);
int		 auth_jwt_worker_init(const struct config *cf);

/* The JWKS helper (jwks_job.c, helper.h): wanted, main. */
int		 jwks_job_wanted(const struct config *cf);
void		 jwks_job_main(const struct config *cf);

/*
 * The SHA-256 that names cf's key source (jwks_url, else issuer_url)
 * into out: the helper stamps it on the keys it stores in shm/, and a
 * worker uses only keys stamped with its own.
 */
void		 jwks_job_source(const struct config *cf, unsigned char out[32]);

/* Whether cf's auth mode keeps state in shm/ (the master creates it). */
int		 auth_needs_shm(const struct config *cf);

/*
 * Answers.  reason is the machine reason logged in auth.denied
 * ("no_credentials", "invalid_signature", ...); msg the JSON message.
 * Never pass a credential in either.
 *
 * auth_deny: not signed in.  A browser navigation (GET/HEAD with Accept
 *   text/html, or Sec-Fetch-Mode: navigate; never a WebSocket upgrade)
 *   gets 302 to auth.login_url with return_to; anything else 401 JSON
 *   with WWW-Authenticate: www (static storage; NULL: the mode's default
 *   challenge).
 * auth_reject: a presented credential is bad: always 401 JSON.
 * auth_forbid: signed in, but not allowed (missing scope): 403.
 * auth_unavailable: the identity provider cannot answer: 503
 *   auth_provider_unavailable (fail closed).
 * All return V_DONE.
 */
enum verdict	 auth_deny(struct req *rq, const char *reason,
		    const char *www, const char *msg);
enum verdict	 auth_reject(struct req *rq, const char *reason,
		    const char *www, const char *msg);
enum verdict	 auth_forbid(struct req *rq, const char *reason,
		    const char *msg);
enum verdict	 auth_unavailable(struct req *rq, const char *reason,
		    const char *msg);

/*
 * Whether the normalised path is public for cf (step 1 above): the path
 * and its alias (auth_path_alias, not loose) must both match, so that an
 * application that drops ";params" never gets a protected path through a
 * public glob ("/admin;.css" and "/ *.css").  a holds the alias.
 */
int		 auth_public_path(const struct config *cf, struct arena *a,
		    struct vw_str path);

/*
 * Another spelling under which an application may route the normalised
 * path: every segment's ";params" dropped (servlet containers do this,
 * RFC 3986 3.3 leaves it to them), and with loose a trailing '/' too
 * (Express, Spring, ASP.NET ignore it; they also ignore case, which the
 * caller handles with rl_glob_ci).  An arena copy, path itself when
 * nothing changes, or { NULL, 0 } when the arena is full.
 */
struct vw_str	 auth_path_alias(struct arena *a, struct vw_str path,
		    int loose);

/*
 * Whether value may go into a header line as it is: 1..1024 bytes of
 * VCHAR, SP or HTAB, no leading/trailing blank.
 */
int		 auth_header_value_ok(struct vw_str value);

/*
 * Whether field name n is one of the identity headers vibewarden sets
 * from cf (claims_to_headers targets; X-User-* and the like are already
 * H_IDENTITY): stage_strip drops client copies.
 */
int		 auth_is_claim_header(const struct config *cf, struct vw_str n);

#endif /* VW_AUTH_H */
