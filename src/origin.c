/*
 * origin.c: web origins for CSRF and CORS (see origin.h).  Any process;
 * no I/O.
 */
#include <string.h>
#include <strings.h>

#include "origin.h"

/* host[:port] at s[0..len); the port defaults from tls. */
static int
authority(const char *s, size_t len, int tls, struct origin *o)
{
	const char	*e = s + len, *h = s, *p;
	long		 port = 0;

	if (len == 0 || memchr(s, '@', len) != NULL)
		return (-1);
	if (*s == '[') {
		/* An IPv6 literal: hex digits, colons, a dotted IPv4 tail. */
		for (p = s + 1; p < e && *p != ']'; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL ||
			    *p == '\0')
				return (-1);
		if (p == e)
			return (-1);
		p++;
	} else
		for (p = s; p < e && *p != ':'; p++)
			if (strchr(" \t[]/?#\\", *p) != NULL)
				return (-1);
	o->or_host.p = h;
	o->or_host.len = (size_t)(p - h);
	if (o->or_host.len == 0)
		return (-1);
	o->or_tls = tls;
	o->or_port = tls ? 443 : 80;
	if (p == e)
		return (0);
	if (*p++ != ':' || p == e)
		return (-1);
	for (; p < e; p++) {
		if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) >
		    65535)
			return (-1);
	}
	o->or_port = (int)port;
	return (0);
}

int
origin_parse(const char *s, size_t len, int url, struct origin *o)
{
	const char	*a, *e = s + len;
	int		 tls;

	if (len >= 7 && strncasecmp(s, "http://", 7) == 0) {
		tls = 0;
		a = s + 7;
	} else if (len >= 8 && strncasecmp(s, "https://", 8) == 0) {
		tls = 1;
		a = s + 8;
	} else
		return (-1);
	if (url) {
		const char	*q;

		for (q = a; q < e && *q != '/' && *q != '?' && *q != '#'; q++)
			;
		e = q;
	}
	return (authority(a, (size_t)(e - a), tls, o));
}

int
origin_from_host(struct vw_str host, int tls, struct origin *o)
{
	if (host.p == NULL)
		return (-1);
	return (authority(host.p, host.len, tls, o));
}

int
origin_eq(const struct origin *a, const struct origin *b)
{
	return (a->or_tls == b->or_tls && a->or_port == b->or_port &&
	    a->or_host.len == b->or_host.len &&
	    strncasecmp(a->or_host.p, b->or_host.p, a->or_host.len) == 0);
}

struct vw_str
origin_field(const struct http_msg *m, const char *name)
{
	struct vw_str	 none = { NULL, 0 };
	size_t		 i, n = strlen(name);

	for (i = 0; i < m->m_nfields; i++)
		if (vw_str_caseeq(m->m_fields[i].f_name, name, n))
			return (m->m_fields[i].f_value);
	return (none);
}
