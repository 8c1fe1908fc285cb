/*
 * cidr.h: IP addresses and CIDR sets (server.trusted_proxies, the IP
 * filter and rate-limit keys use the same code).  Addresses are kept as
 * 16 bytes: IPv4 as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one
 * compare serves both families and a dual-stack peer matches an IPv4
 * entry.  Pure: no I/O, no allocation but cidrset_build().  Any process.
 */
#ifndef VW_CIDR_H
#define VW_CIDR_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct ipaddr {
	uint8_t		 ia_b[16];	/* IPv4 as ::ffff:a.b.c.d */
};

struct cidr {
	struct ipaddr	 ci_addr;	/* host bits cleared */
	int		 ci_bits;	/* prefix over the 128-bit form */
};

/* An inclusive address range [ir_lo, ir_hi]. */
struct iprange {
	struct ipaddr	 ir_lo, ir_hi;
};

/*
 * A set of CIDRs as sorted, disjoint, non-adjacent ranges: a lookup is one
 * binary search, O(log n), so a list of 10,000 entries costs ~14 compares.
 */
struct cidrset {
	struct iprange	*cs_r;
	size_t		 cs_n;		/* ranges after merging */
};

/*
 * Parse the text address s[0..len) ("192.0.2.1", "2001:db8::1"; no port,
 * no brackets, no zone).  Returns 0, or -1 when it is not an address.
 */
int	 ipaddr_parse(const char *s, size_t len, struct ipaddr *ia);

/* From a struct sockaddr (AF_INET or AF_INET6); 0 or -1. */
int	 ipaddr_from_sa(const void *sa, struct ipaddr *ia);

/* 1 when ia is an IPv4 (or IPv4-mapped) address. */
int	 ipaddr_is_v4(const struct ipaddr *ia);

/*
 * Write ia as text into dst (at least 46 bytes): dotted quad for IPv4,
 * RFC 5952 form otherwise.
 */
void	 ipaddr_format(const struct ipaddr *ia, char *dst, size_t len);

/* "a.b.c.d/n", "x::/n" or a bare address (a host route); 0 or -1. */
int	 cidr_parse(const char *s, struct cidr *c);

/* 1 when ia is inside c. */
int	 cidr_match(const struct cidr *c, const struct ipaddr *ia);

/*
 * Build set from a list of CIDR strings (validated at config load, so a
 * bad entry is skipped); overlapping and adjacent entries are merged.
 * Returns 0, or -1 when memory runs out.  The set owns its array:
 * cidrset_free() releases it.
 */
int	 cidrset_build(struct cidrset *set, const struct strlist *l);
void	 cidrset_free(struct cidrset *set);

/*
 * 1 when ia is inside any member of set (0 for an empty or NULL set);
 * O(log n).
 */
int	 cidrset_match(const struct cidrset *set, const struct ipaddr *ia);

#endif /* VW_CIDR_H */
