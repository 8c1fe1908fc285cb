/*
 * h2head.c: an HTTP/2 request's field list (RFC 9113 8.3) turned into the
 * HTTP/1.1 request head the rest of the worker parses, after the checks
 * of RFC 9113 8.2 that HTTP/1.1 parsing cannot make.  Pure code: no I/O,
 * no allocation, no global state, so it is fuzzed on its own
 * (tests/fuzz/fuzz_h2head.c).
 */
#include <string.h>

#include "h2.h"
#include "http_parse.h"

struct out {
	char	*o_p;
	size_t	 o_len, o_cap;
	int	 o_over;
};

static void
put(struct out *o, const char *p, size_t n)
{
	if (o->o_over || n > o->o_cap - o->o_len) {
		o->o_over = 1;
		return;
	}
	memcpy(o->o_p + o->o_len, p, n);
	o->o_len += n;
}

#define PUTS(o, s)	put((o), (s), sizeof(s) - 1)

static int
eq(const struct h2_field *f, const char *s)
{
	size_t	 n = strlen(s);

	return (f->hf_nlen == n && memcmp(f->hf_name, s, n) == 0);
}

/* RFC 9113 8.2.1: no NUL, CR, LF; no leading or trailing SP or HTAB. */
static int
value_ok(const char *v, size_t n)
{
	size_t	 i;

	if (n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
	    v[n - 1] == '\t'))
		return (0);
	for (i = 0; i < n; i++)
		if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
			return (0);
	return (1);
}

/* Lower-case token characters only (RFC 9113 8.2.1, 8.2). */
static int
name_ok(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0)
		return (0);
	for (i = 0; i < n; i++)
		if (!http_is_tchar((unsigned char)p[i]) ||
		    (p[i] >= 'A' && p[i] <= 'Z'))
			return (0);
	return (1);
}

/* A request-target or authority: visible ASCII, no space. */
static int
visible(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return (0);
	return (1);
}

ssize_t
h2_req_head(const struct h2_field *f, size_t n, int endstream, char *buf,
    size_t cap, unsigned *flags)
{
	struct out		 o = { buf, 0, cap, 0 };
	const struct h2_field	*meth = NULL, *path = NULL, *auth = NULL;
	const struct h2_field	*scheme = NULL, *host = NULL;
	size_t			 i, ncookie = 0;
	int			 regular = 0, clen = 0, connect;

	*flags = 0;
	for (i = 0; i < n; i++) {
		const struct h2_field	*x = &f[i];
		const struct h2_field	**slot;

		if (x->hf_nlen > 0 && x->hf_name[0] == ':') {
			/* Pseudo-header fields first, each once (8.3). */
			if (regular)
				return (-1);
			if (eq(x, ":method"))
				slot = &meth;
			else if (eq(x, ":path"))
				slot = &path;
			else if (eq(x, ":authority"))
				slot = &auth;
			else if (eq(x, ":scheme"))
				slot = &scheme;
			else
				return (-1);	/* :status or unknown */
			if (*slot != NULL)
				return (-1);
			*slot = x;
			if (!value_ok(x->hf_value, x->hf_vlen))
				return (-1);
			continue;
		}
		regular = 1;
		if (!name_ok(x->hf_name, x->hf_nlen) ||
		    !value_ok(x->hf_value, x->hf_vlen))
			return (-1);
		/* Connection-specific fields (8.2.2). */
		if (eq(x, "connection") || eq(x, "keep-alive") ||
		    eq(x, "proxy-connection") || eq(x, "transfer-encoding") ||
		    eq(x, "upgrade"))
			return (-1);
		if (eq(x, "te") && !(x->hf_vlen == 8 &&
		    memcmp(x->hf_value, "trailers", 8) == 0))
			return (-1);
		if (eq(x, "host")) {
			if (host != NULL)
				return (-1);
			host = x;
		}
		if (eq(x, "content-length"))
			clen = 1;
		if (eq(x, "cookie"))
			ncookie++;
	}
	if (meth == NULL || meth->hf_vlen == 0)
		return (-1);
	for (i = 0; i < meth->hf_vlen; i++)
		if (!http_is_tchar((unsigned char)meth->hf_value[i]))
			return (-1);
	connect = meth->hf_vlen == 7 && memcmp(meth->hf_value, "CONNECT",
	    7) == 0;
	if (auth != NULL && (auth->hf_vlen == 0 ||
	    !visible(auth->hf_value, auth->hf_vlen) ||
	    memchr(auth->hf_value, '@', auth->hf_vlen) != NULL))
		return (-1);
	/* :authority and Host both present and different (8.3.1). */
	if (auth != NULL && host != NULL && (auth->hf_vlen != host->hf_vlen ||
	    memcmp(auth->hf_value, host->hf_value, auth->hf_vlen) != 0))
		return (-1);
	if (connect) {
		/* 8.5: only :method and :authority; HTTP/1.1 refuses it. */
		if (path != NULL || scheme != NULL || auth == NULL)
			return (-1);
	} else {
		if (path == NULL || scheme == NULL || path->hf_vlen == 0 ||
		    scheme->hf_vlen == 0 ||
		    !visible(path->hf_value, path->hf_vlen) ||
		    !visible(scheme->hf_value, scheme->hf_vlen))
			return (-1);
		if (path->hf_value[0] != '/' && !(path->hf_vlen == 1 &&
		    path->hf_value[0] == '*'))
			return (-1);
	}

	put(&o, meth->hf_value, meth->hf_vlen);
	PUTS(&o, " ");
	if (connect)
		put(&o, auth->hf_value, auth->hf_vlen);
	else
		put(&o, path->hf_value, path->hf_vlen);
	PUTS(&o, " HTTP/1.1\r\n");
	if (auth != NULL) {
		PUTS(&o, "host: ");
		put(&o, auth->hf_value, auth->hf_vlen);
		PUTS(&o, "\r\n");
	}
	for (i = 0; i < n; i++) {
		const struct h2_field	*x = &f[i];

		if (x->hf_name[0] == ':' || eq(x, "cookie") || eq(x, "te") ||
		    (auth != NULL && x == host))
			continue;
		put(&o, x->hf_name, x->hf_nlen);
		PUTS(&o, ": ");
		put(&o, x->hf_value, x->hf_vlen);
		PUTS(&o, "\r\n");
	}
	/* Cookie crumbs joined with "; " (8.2.3). */
	if (ncookie > 0) {
		int	 first = 1;

		PUTS(&o, "cookie: ");
		for (i = 0; i < n; i++) {
			if (!eq(&f[i], "cookie"))
				continue;
			if (!first)
				PUTS(&o, "; ");
			put(&o, f[i].hf_value, f[i].hf_vlen);
			first = 0;
		}
		PUTS(&o, "\r\n");
	}
	if (clen)
		*flags |= H2H_CLEN;
	else if (!endstream) {
		/* A body of unknown length: DATA frames become chunks. */
		PUTS(&o, "transfer-encoding: chunked\r\n");
		*flags |= H2H_CHUNKED;
	}
	PUTS(&o, "\r\n");
	if (o.o_over)
		return (-431);
	return ((ssize_t)o.o_len);
}
