/*
 * rhdr.c: response phase, the operator's response_headers rules
 * (original 5.6): remove, then set, then add, after the security
 * headers so that a rule can override one of them.  A name in remove or
 * set drops every field of that name, the upstream's and vibewarden's
 * (security headers included); set then adds its one value and add its
 * own, whatever else is there.  The rules reach vibewarden's own answers
 * too, as the security headers do.  Framing fields are refused by the
 * config (config.c check_rhdr).  Built once per generation; worker only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipe.h"
#include "util.h"

static char	*blk;		/* "Name: value\r\n" of set, then add */
static size_t	 blklen;
static const char *const *rm;	/* remove names */
static size_t	 nrm;
static const char *const *st;	/* set names */
static size_t	 nst;

int
rhdr_init(const struct config *cf)
{
	const struct cf_response_headers *rh = &cf->response_headers;
	size_t	 len = 0, i, off = 0;

	free(blk);
	blk = NULL;
	blklen = 0;
	rm = (const char *const *)rh->remove.v;
	nrm = rh->remove.n;
	st = (const char *const *)rh->set.k;
	nst = rh->set.n;
	for (i = 0; i < rh->set.n; i++)
		len += strlen(rh->set.k[i]) + strlen(rh->set.v[i]) + 4;
	for (i = 0; i < rh->add.n; i++)
		len += strlen(rh->add.k[i]) + strlen(rh->add.v[i]) + 4;
	if (len == 0)
		return (0);
	if ((blk = malloc(len + 1)) == NULL)
		return (-1);
	for (i = 0; i < rh->set.n; i++)
		util_append(blk, len + 1, &off, "%s: %s\r\n", rh->set.k[i],
		    rh->set.v[i]);
	for (i = 0; i < rh->add.n; i++)
		util_append(blk, len + 1, &off, "%s: %s\r\n", rh->add.k[i],
		    rh->add.v[i]);
	blklen = off;
	return (0);
}

static int
in(const char *const *v, size_t n, const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strncasecmp(v[i], name, len) == 0 && v[i][len] == '\0')
			return (1);
	return (0);
}

int
rhdr_drops(const char *name, size_t len)
{
	if (nrm == 0 && nst == 0)
		return (0);
	return (in(rm, nrm, name, len) || in(st, nst, name, len));
}

/* The rules' lines, or an overflow mark (*off = cap + 1): never a head
   without them. */
void
rhdr_append(char *dst, size_t cap, size_t *off)
{
	if (blk == NULL)
		return;
	if (*off + blklen > cap) {
		*off = cap + 1;
		return;
	}
	memcpy(dst + *off, blk, blklen);
	*off += blklen;
}
