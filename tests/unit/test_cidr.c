/*
 * test_cidr.c: unit tests for src/cidr.c (addresses, CIDRs, sets), which
 * decide whose X-Forwarded-For is believed.
 */
#include <arpa/inet.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cidr.h"

static int
in(const char *net, const char *addr)
{
	struct cidr	 c;
	struct ipaddr	 ia;

	ck_assert_msg(cidr_parse(net, &c) == 0, "parse %s", net);
	ck_assert_msg(ipaddr_parse(addr, strlen(addr), &ia) == 0, "addr %s",
	    addr);
	return (cidr_match(&c, &ia));
}

START_TEST(t_match)
{
	ck_assert(in("10.0.0.0/8", "10.255.1.2"));
	ck_assert(!in("10.0.0.0/8", "11.0.0.1"));
	ck_assert(in("192.0.2.7", "192.0.2.7"));
	ck_assert(!in("192.0.2.7", "192.0.2.8"));
	ck_assert(in("192.0.2.7/32", "192.0.2.7"));
	ck_assert(in("0.0.0.0/0", "203.0.113.1"));
	ck_assert(!in("0.0.0.0/0", "2001:db8::1"));	/* IPv4 rules only */
	ck_assert(in("::/0", "2001:db8::1"));
	ck_assert(in("::/0", "203.0.113.1"));		/* mapped */
	ck_assert(in("2001:db8::/32", "2001:db8:ffff::1"));
	ck_assert(!in("2001:db8::/32", "2001:db9::1"));
	ck_assert(in("::1", "::1"));
	ck_assert(in("::1/128", "::1"));
	ck_assert(in("10.1.2.3/16", "10.1.99.99"));	/* host bits */
	ck_assert(in("172.16.0.0/12", "172.31.255.255"));
	ck_assert(!in("172.16.0.0/12", "172.32.0.0"));
	/* An IPv4-mapped peer on a dual-stack socket matches IPv4 rules. */
	ck_assert(in("127.0.0.0/8", "::ffff:127.0.0.2"));
}
END_TEST

START_TEST(t_parse_errors)
{
	struct cidr	 c;
	struct ipaddr	 ia;
	const char	*bad[] = { "", "10.0.0.0/33", "::/129", "10.0.0.0/",
	    "10.0.0.0/-1", "10.0.0.0/8x", "1.2.3", "1.2.3.4.5", "256.0.0.1",
	    "x", "1.2.3.4:80", "[::1]", "::1%lo", "10.0.0.0/ 8" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cidr_parse(bad[i], &c) == -1, "%s", bad[i]);
	ck_assert_int_eq(ipaddr_parse("1.2.3.4 ", 8, &ia), -1);
	ck_assert_int_eq(ipaddr_parse("", 0, &ia), -1);
	/* Not NUL-terminated input is read by length only. */
	ck_assert_int_eq(ipaddr_parse("10.0.0.1999", 8, &ia), 0);
}
END_TEST

START_TEST(t_format)
{
	struct ipaddr	 ia;
	char		 b[46];

	ck_assert_int_eq(ipaddr_parse("192.0.2.1", 9, &ia), 0);
	ck_assert(ipaddr_is_v4(&ia));
	ipaddr_format(&ia, b, sizeof(b));
	ck_assert_str_eq(b, "192.0.2.1");
	{
		/* Every octet value, against the C library. */
		char		 want[16];
		unsigned	 v;

		for (v = 0; v < 256; v++) {
			ia.ia_b[12] = (uint8_t)v;
			ia.ia_b[13] = (uint8_t)(255 - v);
			ia.ia_b[14] = (uint8_t)(v / 10);
			ia.ia_b[15] = (uint8_t)(v % 100);
			ck_assert_ptr_nonnull(inet_ntop(AF_INET, ia.ia_b + 12,
			    want, sizeof(want)));
			ipaddr_format(&ia, b, sizeof(b));
			ck_assert_str_eq(b, want);
		}
		ipaddr_format(&ia, b, 8);	/* too small: no overflow */
		ck_assert_str_eq(b, "?");
	}
	ck_assert_int_eq(ipaddr_parse("2001:DB8:0:0::1", 15, &ia), 0);
	ck_assert(!ipaddr_is_v4(&ia));
	ipaddr_format(&ia, b, sizeof(b));
	ck_assert_str_eq(b, "2001:db8::1");
}
END_TEST

START_TEST(t_set)
{
	static char		*nets[] = { "10.0.0.0/8", "2001:db8::/32" };
	struct strlist		 l = { nets, 2 };
	struct cidrset		 s;
	struct ipaddr		 ia;

	ck_assert_int_eq(cidrset_build(&s, &l), 0);
	ck_assert_uint_eq(s.cs_n, 2);
	ck_assert_int_eq(ipaddr_parse("10.9.9.9", 8, &ia), 0);
	ck_assert(cidrset_match(&s, &ia));
	ck_assert_int_eq(ipaddr_parse("2001:db8::9", 11, &ia), 0);
	ck_assert(cidrset_match(&s, &ia));
	ck_assert_int_eq(ipaddr_parse("127.0.0.1", 9, &ia), 0);
	ck_assert(!cidrset_match(&s, &ia));
	ck_assert(!cidrset_match(NULL, &ia));
	cidrset_free(&s);
	ck_assert(!cidrset_match(&s, &ia));
}
END_TEST

START_TEST(t_set_merge)
{
	static char		*nets[] = { "10.0.0.0/9", "10.128.0.0/9",
	    "10.1.0.0/16", "192.0.2.0/25", "192.0.2.128/25", "::1",
	    "192.0.2.255", "::/0" };
	struct strlist		 l = { nets, 7 };
	struct cidrset		 s;
	struct ipaddr		 ia;

	/* Adjacent and nested entries collapse: 10/8, 192.0.2/24, ::1. */
	ck_assert_int_eq(cidrset_build(&s, &l), 0);
	ck_assert_uint_eq(s.cs_n, 3);
	ck_assert_int_eq(ipaddr_parse("10.200.0.1", 10, &ia), 0);
	ck_assert(cidrset_match(&s, &ia));
	ck_assert_int_eq(ipaddr_parse("11.0.0.0", 8, &ia), 0);
	ck_assert(!cidrset_match(&s, &ia));
	ck_assert_int_eq(ipaddr_parse("::2", 3, &ia), 0);
	ck_assert(!cidrset_match(&s, &ia));
	cidrset_free(&s);
	/* ::/0 swallows everything, up to the last address. */
	l.n = 8;
	ck_assert_int_eq(cidrset_build(&s, &l), 0);
	ck_assert_uint_eq(s.cs_n, 1);
	ck_assert_int_eq(ipaddr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff", 39, &ia), 0);
	ck_assert(cidrset_match(&s, &ia));
	cidrset_free(&s);
}
END_TEST

static uint32_t
rnd(uint32_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 17;
	*st ^= *st << 5;
	return (*st);
}

static void
rnd_addr(uint32_t *st, struct ipaddr *ia, int v4)
{
	uint32_t	 x;
	int		 i;

	for (i = 0; i < 16; i += 4) {
		x = rnd(st);
		memcpy(ia->ia_b + i, &x, 4);
	}
	if (v4) {
		memset(ia->ia_b, 0, 10);
		ia->ia_b[10] = ia->ia_b[11] = 0xff;
		ia->ia_b[12] = 10 + (ia->ia_b[12] & 3);	/* dense: many hits */
	} else {
		ia->ia_b[0] = 0x20;
		ia->ia_b[1] = 0x01;
		ia->ia_b[2] = 0x0d;
		ia->ia_b[3] = 0xb8;
		ia->ia_b[4] &= 0x0f;
	}
}

/*
 * ip_filter.addresses may hold 10,000 entries (issue 12): the set agrees
 * with a linear scan of every CIDR, and a million lookups stay far below
 * a second (a linear scan would do 10^10 compares).
 */
START_TEST(t_set_10000)
{
	enum { N = 10000, CHECK = 4000, TIMED = 1000000 };
	struct cidr	*v;
	char		**txt, a[48];
	struct strlist	 l;
	struct cidrset	 s;
	struct ipaddr	 ia;
	struct timespec	 t0, t1;
	uint32_t	 st = 12345;
	size_t		 i, j, hits = 0;
	int		 lin;
	double		 secs;

	ck_assert((v = calloc(N, sizeof(*v))) != NULL);
	ck_assert((txt = calloc(N, sizeof(*txt))) != NULL);
	for (i = 0; i < N; i++) {
		rnd_addr(&st, &ia, i % 2);
		ipaddr_format(&ia, a, sizeof(a));
		ck_assert((txt[i] = malloc(80)) != NULL);
		snprintf(txt[i], 80, "%s/%u", a, i % 2 ?
		    16 + (unsigned)(rnd(&st) % 17) :
		    40 + (unsigned)(rnd(&st) % 89));
		ck_assert_int_eq(cidr_parse(txt[i], &v[i]), 0);
	}
	l.v = txt;
	l.n = N;
	ck_assert_int_eq(cidrset_build(&s, &l), 0);
	for (i = 0; i < CHECK; i++) {
		rnd_addr(&st, &ia, i % 2);
		for (lin = 0, j = 0; j < N && !lin; j++)
			lin = cidr_match(&v[j], &ia);
		ck_assert_int_eq(cidrset_match(&s, &ia), lin);
		hits += lin;
	}
	ck_assert(hits > 0 && hits < CHECK);	/* both answers seen */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0, hits = 0; i < TIMED; i++) {
		ia.ia_b[15] = (uint8_t)i;
		ia.ia_b[13] = (uint8_t)(i >> 8);
		hits += cidrset_match(&s, &ia);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* ~14 compares each: a few ms; 2 s leaves room for ASan on a
	   loaded machine and still fails a linear scan by far. */
	ck_assert_msg(secs < 2.0, "1e6 lookups in 10,000 CIDRs took %.3f s",
	    secs);
	cidrset_free(&s);
	for (i = 0; i < N; i++)
		free(txt[i]);
	free(txt);
	free(v);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("cidr");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 nf;

	tcase_add_test(tc, t_match);
	tcase_add_test(tc, t_parse_errors);
	tcase_add_test(tc, t_format);
	tcase_add_test(tc, t_set);
	tcase_add_test(tc, t_set_merge);
	tcase_add_test(tc, t_set_10000);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
