/*
 * cidr.c: IP addresses and CIDR sets (see cidr.h).  Any process; no I/O.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

int
ipaddr_is_v4(const struct ipaddr *ia)
{
	return (memcmp(ia->ia_b, v4mapped, sizeof(v4mapped)) == 0);
}

int
ipaddr_parse(const char *s, size_t len, struct ipaddr *ia)
{
	char		 buf[INET6_ADDRSTRLEN];
	struct in_addr	 a4;

	if (len == 0 || len >= sizeof(buf))
		return (-1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (memchr(buf, ':', len) == NULL) {
		if (inet_pton(AF_INET, buf, &a4) != 1)
			return (-1);
		memcpy(ia->ia_b, v4mapped, sizeof(v4mapped));
		memcpy(ia->ia_b + 12, &a4, 4);
		return (0);
	}
	return (inet_pton(AF_INET6, buf, ia->ia_b) == 1 ? 0 : -1);
}

int
ipaddr_from_sa(const void *sa, struct ipaddr *ia)
{
	const struct sockaddr_in	*s4 = sa;
	const struct sockaddr_in6	*s6 = sa;

	if (s4->sin_family == AF_INET) {
		memcpy(ia->ia_b, v4mapped, sizeof(v4mapped));
		memcpy(ia->ia_b + 12, &s4->sin_addr, 4);
		return (0);
	}
	if (s6->sin6_family == AF_INET6) {
		memcpy(ia->ia_b, &s6->sin6_addr, 16);
		return (0);
	}
	return (-1);
}

/*
 * Dotted quad into dst (at least 16 bytes).  glibc's inet_ntop() formats
 * IPv4 with sprintf(): 1,800 instructions on every request with a
 * trusted X-Forwarded-For.
 */
static void
format_v4(const uint8_t *b, char *dst)
{
	char	*p = dst;
	int	 i;

	for (i = 0; i < 4; i++) {
		if (b[i] >= 100)
			*p++ = (char)('0' + b[i] / 100);
		if (b[i] >= 10)
			*p++ = (char)('0' + b[i] / 10 % 10);
		*p++ = (char)('0' + b[i] % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

void
ipaddr_format(const struct ipaddr *ia, char *dst, size_t len)
{
	if (ipaddr_is_v4(ia)) {
		if (len >= INET_ADDRSTRLEN)
			format_v4(ia->ia_b + 12, dst);
		else
			snprintf(dst, len, "?");
	} else if (inet_ntop(AF_INET6, ia->ia_b, dst, (socklen_t)len) == NULL)
		snprintf(dst, len, "?");
}

/* Clear the bits past the prefix. */
static void
mask(struct ipaddr *ia, int bits)
{
	int	 i;

	for (i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		ia->ia_b[i] &= (uint8_t)(0xff00 >> bits);
		bits = 0;
	}
}

int
cidr_parse(const char *s, struct cidr *c)
{
	const char	*slash;
	size_t		 alen;
	char		*end;
	long		 bits;
	int		 max;

	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (ipaddr_parse(s, alen, &c->ci_addr) == -1)
		return (-1);
	max = memchr(s, ':', alen) == NULL ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else {
		if (slash[1] < '0' || slash[1] > '9')
			return (-1);
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > max)
			return (-1);
	}
	/* An IPv4 prefix counts over the mapped 128-bit form. */
	c->ci_bits = (int)bits + (max == 32 ? 96 : 0);
	mask(&c->ci_addr, c->ci_bits);
	return (0);
}

int
cidr_match(const struct cidr *c, const struct ipaddr *ia)
{
	struct ipaddr	 m = *ia;

	mask(&m, c->ci_bits);
	return (memcmp(m.ia_b, c->ci_addr.ia_b, 16) == 0);
}

/* The last address of c: its host bits set. */
static void
last(const struct cidr *c, struct ipaddr *hi)
{
	int	 i, bits = c->ci_bits;

	*hi = c->ci_addr;
	for (i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		hi->ia_b[i] |= (uint8_t)(0xff >> bits);
		bits = 0;
	}
}

static int
range_cmp(const void *a, const void *b)
{
	const struct iprange	*x = a, *y = b;

	return (memcmp(x->ir_lo.ia_b, y->ir_lo.ia_b, 16));
}

/* hi + 1 == lo: the two ranges touch and may be merged. */
static int
adjacent(const struct ipaddr *hi, const struct ipaddr *lo)
{
	struct ipaddr	 n = *hi;
	int		 i;

	for (i = 15; i >= 0; i--)
		if (++n.ia_b[i] != 0)
			break;
	if (i < 0)
		return (0);	/* hi is the last address */
	return (memcmp(n.ia_b, lo->ia_b, 16) == 0);
}

int
cidrset_build(struct cidrset *set, const struct strlist *l)
{
	struct iprange	*r;
	struct cidr	 c;
	size_t		 i, n = 0;

	set->cs_r = NULL;
	set->cs_n = 0;
	if (l->n == 0)
		return (0);
	if ((r = calloc(l->n, sizeof(*r))) == NULL)
		return (-1);
	for (i = 0; i < l->n; i++) {
		if (cidr_parse(l->v[i], &c) == -1)
			continue;
		r[n].ir_lo = c.ci_addr;
		last(&c, &r[n].ir_hi);
		n++;
	}
	qsort(r, n, sizeof(*r), range_cmp);
	/* Merge in place: r[0..set->cs_n) is the result so far. */
	for (i = 0; i < n; i++) {
		struct iprange	*t = set->cs_n ? &r[set->cs_n - 1] : NULL;

		if (t != NULL && (memcmp(r[i].ir_lo.ia_b, t->ir_hi.ia_b,
		    16) <= 0 || adjacent(&t->ir_hi, &r[i].ir_lo))) {
			if (memcmp(r[i].ir_hi.ia_b, t->ir_hi.ia_b, 16) > 0)
				t->ir_hi = r[i].ir_hi;
			continue;
		}
		r[set->cs_n++] = r[i];
	}
	set->cs_r = r;
	return (0);
}

void
cidrset_free(struct cidrset *set)
{
	free(set->cs_r);
	set->cs_r = NULL;
	set->cs_n = 0;
}

int
cidrset_match(const struct cidrset *set, const struct ipaddr *ia)
{
	size_t	 lo = 0, hi, mid;

	if (set == NULL || set->cs_n == 0)
		return (0);
	/* The last range whose start is <= ia, then its end. */
	hi = set->cs_n;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (memcmp(set->cs_r[mid].ir_lo.ia_b, ia->ia_b, 16) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return (memcmp(set->cs_r[lo].ir_lo.ia_b, ia->ia_b, 16) <= 0 &&
	    memcmp(ia->ia_b, set->cs_r[lo].ir_hi.ia_b, 16) <= 0);
}
