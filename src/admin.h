/*
 * admin.h: the admin process (SPEC.md 11), a helper of the master
 * (helper.h).  It serves admin.listen with libmicrohttpd: health,
 * readiness, metrics, and the token-guarded admin API.  admin.c is the
 * only file that includes <microhttpd.h>; admin_users.c talks to the
 * Kratos admin API with libcurl; admin_json.c parses request bodies.
 */
#ifndef VW_ADMIN_H
#define VW_ADMIN_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"

/* helper.h's hooks: wanted when admin.enabled or telemetry.enabled. */
int	 admin_wanted(const struct config *cf);
void	 admin_main(const struct config *cf);

/* Versions of the admin process's libraries, for vibewarden -V. */
const char	*admin_mhd_version(void);
const char	*admin_curl_version(void);

/* The answer to one admin call. */
struct adm_reply {
	int		 ar_status;
	json_t		*ar_json;	/* owned; or ar_text */
	char		*ar_text;	/* malloc'ed */
	size_t		 ar_tlen;
	const char	*ar_ctype;	/* with ar_text */
	const char	*ar_event;	/* admin.* log event */
	const char	*ar_allow;	/* Allow, with a 405 */
};

/* {"error":code,"message":msg} with status; returns 0. */
int	 adm_error(struct adm_reply *r, int status, const char *code,
	    const char *msg);

/*
 * Request bodies (untrusted: fuzzed).  admin_parse_user() takes
 * {"email":"..."} (1..254 bytes, one '@', no space or control); 0, or -1
 * with *code ("invalid_request", "invalid_email") set.
 */
int	 admin_parse_user(const char *body, size_t len, char *email,
	    size_t elen, const char **code);

/* 1 when s is a canonical UUID (8-4-4-4-12 hex). */
int	 admin_is_uuid(const char *s);

/*
 * The Kratos-backed users API (admin_users.c).  id is NULL for the
 * collection; page/per_page from the query (0: default).
 */
void	 admin_users(const struct config *cf, const char *method,
	    const char *id, const char *body, size_t blen, int page,
	    int per_page, struct adm_reply *r);

#endif /* VW_ADMIN_H */
