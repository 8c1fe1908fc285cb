/*
 * origin.h: web origins (RFC 6454) as CSRF and CORS compare them: scheme,
 * host and port, from an Origin or Referer value, a Host field or a
 * configured "https://app.example.com".  Pure: no I/O, no allocation.
 * Worker (stages) and tests.
 */
#ifndef VW_ORIGIN_H
#define VW_ORIGIN_H

#include "http_parse.h"
#include "vwstr.h"

struct origin {
	int		 or_tls;	/* https */
	struct vw_str	 or_host;	/* borrowed; IPv6 with brackets */
	int		 or_port;	/* explicit, else 80 or 443 */
};

/*
 * Parse "scheme://host[:port]" (http or https, scheme in any case) from
 * s[0..len).  url 0: nothing may follow (an Origin value); url 1: a path,
 * query or fragment may follow (a Referer).  Userinfo, an empty host or
 * port, or a port over 65535 fail.  Returns 0, or -1.  o borrows s.
 */
int		 origin_parse(const char *s, size_t len, int url,
		    struct origin *o);

/*
 * The origin a request was sent to: host[:port] from its Host field, the
 * scheme given by tls.  Returns 0, or -1 for an empty or invalid Host.
 */
int		 origin_from_host(struct vw_str host, int tls,
		    struct origin *o);

/* 1 when a and b are the same origin (host compared without case). */
int		 origin_eq(const struct origin *a, const struct origin *b);

/*
 * The value of the first field of m named name (any case), for fields the
 * parser has no id for (Sec-Fetch-Site, Access-Control-Request-Method);
 * {NULL, 0} when absent.
 */
struct vw_str	 origin_field(const struct http_msg *m, const char *name);

#endif /* VW_ORIGIN_H */
