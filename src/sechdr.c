/*
 * sechdr.c: response phase (SPEC.md 7): the security header block, built
 * once per config generation and appended to every response head with one
 * memcpy.  An upstream's own Content-Security-Policy and X-Frame-Options
 * win over ours, if they are forwarded: the caller decides that on the
 * response as it goes out (SPEC.md 4), so an upstream field that is empty
 * or named in Connection leaves our default in place.  Worker only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipe.h"
#include "util.h"

static char	*blk;		/* every header but CSP and XFO */
static size_t	 blklen;
static char	*csp;		/* "Content-Security-Policy: ...\r\n" */
static size_t	 csplen;
static char	*xfo;
static size_t	 xfolen;

/*
 * "name: value\r\n" as a fresh string, or NULL when value is empty.  Of
 * any length: a Content-Security-Policy cut short is a weaker one, and
 * loses its CRLF, so the next header line joins its value.
 */
static char *
line(const char *name, const char *value, size_t *len)
{
	char	*p;
	size_t	 n;

	if (value == NULL || *value == '\0')
		return (NULL);
	n = strlen(name) + 2 + strlen(value) + 2;
	if ((p = malloc(n + 1)) == NULL)
		return (NULL);
	snprintf(p, n + 1, "%s: %s\r\n", name, value);
	*len = n;
	return (p);
}

/*
 * security_headers.csp lists, joined as "name src src; name src", in a
 * fresh string of the size they need; NULL when out of memory.
 */
static char *
csp_build(const struct cf_csp *c)
{
	const struct { const char *n; const struct strlist *l; } d[] = {
		{ "default-src", &c->default_src },
		{ "script-src", &c->script_src },
		{ "style-src", &c->style_src },
		{ "img-src", &c->img_src },
		{ "connect-src", &c->connect_src },
		{ "font-src", &c->font_src },
		{ "frame-src", &c->frame_src },
		{ "media-src", &c->media_src },
		{ "object-src", &c->object_src },
		{ "manifest-src", &c->manifest_src },
		{ "worker-src", &c->worker_src },
		{ "child-src", &c->child_src },
		{ "form-action", &c->form_action },
		{ "frame-ancestors", &c->frame_ancestors },
		{ "base-uri", &c->base_uri },
	};
	char	*dst;
	size_t	 off = 0, cap = 1, i, j;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		if (d[i].l->n == 0)
			continue;
		cap += 2 + strlen(d[i].n);
		for (j = 0; j < d[i].l->n; j++)
			cap += 1 + strlen(d[i].l->v[j]);
	}
	if ((dst = malloc(cap)) == NULL)
		return (NULL);
	dst[0] = '\0';
	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		if (d[i].l->n == 0)
			continue;
		util_append(dst, cap, &off, "%s%s", off ? "; " : "", d[i].n);
		for (j = 0; j < d[i].l->n; j++)
			util_append(dst, cap, &off, " %s", d[i].l->v[j]);
	}
	return (dst);
}

/* Drop the lines of b[0..*len) that response_headers rules replace. */
static void
filter(char *b, size_t *len)
{
	size_t	 i = 0, e, n;

	while (i < *len) {
		e = i;
		while (e + 1 < *len && !(b[e] == '\r' && b[e + 1] == '\n'))
			e++;
		e += 2;
		n = strcspn(b + i, ":");
		if (rhdr_drops(b + i, n)) {
			memmove(b + i, b + e, *len - e);
			*len -= e - i;
			b[*len] = '\0';
		} else
			i = e;
	}
}

int
sechdr_init(const struct config *cf, int tls)
{
	const struct cf_security_headers *sh = &cf->security_headers;
	char	 b[8192], *pol;
	size_t	 off = 0, n;

	free(blk);
	free(csp);
	free(xfo);
	blk = csp = xfo = NULL;
	blklen = csplen = xfolen = 0;
	if (rhdr_init(cf) == -1)
		return (-1);
	if (!sh->enabled)
		return (0);
	/* RFC 6797 7.2: HSTS is ignored over plain HTTP, so never sent. */
	if (tls && sh->hsts_max_age > 0)
		util_append(b, sizeof(b), &off,
		    "Strict-Transport-Security: max-age=%d%s%s\r\n",
		    sh->hsts_max_age,
		    sh->hsts_include_subdomains ? "; includeSubDomains" : "",
		    sh->hsts_preload ? "; preload" : "");
	if (sh->content_type_nosniff)
		util_append(b, sizeof(b), &off,
		    "X-Content-Type-Options: nosniff\r\n");
	if (sh->referrer_policy && *sh->referrer_policy)
		util_append(b, sizeof(b), &off, "Referrer-Policy: %s\r\n",
		    sh->referrer_policy);
	if (sh->permissions_policy && *sh->permissions_policy)
		util_append(b, sizeof(b), &off, "Permissions-Policy: %s\r\n",
		    sh->permissions_policy);
	if (sh->cross_origin_opener_policy &&
	    *sh->cross_origin_opener_policy)
		util_append(b, sizeof(b), &off,
		    "Cross-Origin-Opener-Policy: %s\r\n",
		    sh->cross_origin_opener_policy);
	if (sh->cross_origin_resource_policy &&
	    *sh->cross_origin_resource_policy)
		util_append(b, sizeof(b), &off,
		    "Cross-Origin-Resource-Policy: %s\r\n",
		    sh->cross_origin_resource_policy);
	if (sh->permitted_cross_domain_policies &&
	    *sh->permitted_cross_domain_policies)
		util_append(b, sizeof(b), &off,
		    "X-Permitted-Cross-Domain-Policies: %s\r\n",
		    sh->permitted_cross_domain_policies);
	filter(b, &off);
	if (off > 0 && (blk = strdup(b)) == NULL)
		return (-1);
	blklen = off;
	if (sh->content_security_policy && *sh->content_security_policy)
		csp = line("Content-Security-Policy",
		    sh->content_security_policy, &csplen);
	else {
		pol = csp_build(&sh->csp);
		csp = line("Content-Security-Policy", pol, &csplen);
		free(pol);
	}
	xfo = line("X-Frame-Options", sh->frame_option, &n);
	xfolen = xfo ? n : 0;
	if (rhdr_drops("Content-Security-Policy", 23)) {
		free(csp);
		csp = NULL;
	}
	if (rhdr_drops("X-Frame-Options", 15)) {
		free(xfo);
		xfo = NULL;
	}
	return (0);
}

/*
 * Append s; when it does not fit, *off = cap + 1, the callers' overflow
 * mark: a head without all its security headers is never sent.
 */
static void
put(char *dst, size_t cap, size_t *off, const char *s, size_t len)
{
	if (s == NULL)
		return;
	if (*off + len > cap) {
		*off = cap + 1;
		return;
	}
	memcpy(dst + *off, s, len);
	*off += len;
}

void
sechdr_append(char *dst, size_t cap, size_t *off, unsigned have)
{
	put(dst, cap, off, blk, blklen);
	if (!(have & SH_HAVE_CSP))
		put(dst, cap, off, csp, csplen);
	if (!(have & SH_HAVE_XFO))
		put(dst, cap, off, xfo, xfolen);
}
