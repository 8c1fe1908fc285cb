/*
 * modsec.h: the optional WAF engine waf.engine: modsecurity, on
 * libmodsecurity 3 (src/modsec.c; src/modsec_none.c when configure found
 * no libmodsecurity).  A struct modsec holds the rules loaded from the
 * files of waf.modsecurity.rules; the master loads them once to check
 * them (preflight, -t), each worker loads its own copy at start.
 *
 * One call runs one ModSecurity transaction over what the built-in
 * engine inspects: the request-target (so the query parameters), the
 * Cookie, Referer and User-Agent headers, plus Host, Content-Type and
 * Content-Length so that the body is parsed and the protocol rules see
 * a well-formed request, and the first WAF_BODY_MAX bytes of a form or
 * JSON body.  ModSecurity's processing is CPU only as long as the rules
 * do no I/O: modsec_new() forces SecAuditEngine Off and refuses rule
 * files that write a debug log or run programs per request.  Worker and
 * master; never logs.
 */
#ifndef VW_MODSEC_H
#define VW_MODSEC_H

#include <stddef.h>

#include "vwstr.h"

struct strlist;

#define MODSEC_HDR_MAX	8	/* headers of one transaction */
#define MODSEC_HIT_MAX	16	/* detections reported per transaction */

struct modsec_req {
	struct vw_str	 mr_method;
	struct vw_str	 mr_target;	/* request-target as received */
	const char	*mr_cip;	/* client address, NUL-terminated */
	struct vw_str	 mr_hname[MODSEC_HDR_MAX];
	struct vw_str	 mr_hval[MODSEC_HDR_MAX];
	size_t		 mr_nhdr;
	const char	*mr_body;	/* NULL: none */
	size_t		 mr_blen;
	int		 mr_json;	/* the body is JSON (else a form) */
};

struct modsec_hit {
	const char	*mh_rule;	/* the rule id, as text */
	const char	*mh_cat;	/* static: sqli, xss, path_traversal,
					   command_injection, or the CRS
					   attack tag without "attack-" */
	const char	*mh_loc;	/* static: query, cookie, referer,
					   user_agent, form, json, header,
					   uri, other */
	struct vw_str	 mh_name;	/* parameter or header name */
	struct vw_str	 mh_value;	/* the matched data (<= 64 bytes) */
};

/* Called for each detection, in the order found; valid during the call. */
typedef void	 modsec_hit_fn(void *arg, const struct modsec_hit *h);

struct modsec;

/* 1 when this build has libmodsecurity, else 0. */
int		 modsec_available(void);

/*
 * Load the rule files (paths or glob(3) patterns, each must match a
 * file) in order, then the settings vibewarden forces.  Returns a struct
 * the caller owns (modsec_free()), or NULL with a message naming the
 * file in err.
 */
struct modsec	*modsec_new(const struct strlist *rules, char *err,
		    size_t errlen);
void		 modsec_free(struct modsec *m);	/* NULL: no-op */

/*
 * Run one transaction.  fn gets each detection (rule matches other than
 * the rules' own verdict, such as the CRS anomaly score check).  Returns
 * 1 when the rules decided to intervene (deny, drop, redirect), 0 when
 * not, -1 when the transaction could not be run (out of memory).
 */
int		 modsec_inspect(struct modsec *m, const struct modsec_req *r,
		    modsec_hit_fn *fn, void *arg);

#endif /* VW_MODSEC_H */
