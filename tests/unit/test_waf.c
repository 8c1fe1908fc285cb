/*
 * test_waf.c: unit tests for src/waf.c: the decoders, the rules measured
 * on the corpora of tests/waf/ (detection and false-positive rates per
 * category, printed), pathological inputs under a time bound, and the
 * engine's split of each rule into alternatives against the whole rule.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <check.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "waf.h"

static struct waf	*w;

static void
setup(void)
{
	const char	*err = NULL;

	w = waf_new(WAF_ALL, &err);
	ck_assert_msg(w != NULL, "waf_new: %s", err ? err : "?");
}

static void
teardown(void)
{
	waf_free(w);
	w = NULL;
}

static const char *
corpus(const char *name)
{
	static char	 path[1024];
	const char	*top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/tests/waf/%s", top ? top : ".",
	    name);
	return (path);
}

static enum waf_loc
loc_of(const char *s)
{
	int	 l;

	for (l = 0; l < WL__COUNT; l++)
		if (strcmp(waf_loc_name(l), s) == 0)
			return (l);
	ck_abort_msg("unknown location %s", s);
	return (WL_QUERY);
}

/* Record every category that hit. */
static int
collect(void *arg, const struct waf_hit *h)
{
	unsigned	*cats = arg;

	*cats |= 1u << h->h_cat;
	ck_assert_ptr_nonnull(waf_rule_name(h->h_rule));
	return (0);
}

static unsigned
inspect(enum waf_loc loc, const char *p, size_t len)
{
	unsigned	 cats = 0;

	(void)waf_inspect(w, loc, p, len, collect, &cats);
	return (cats);
}

static unsigned
inspect_s(enum waf_loc loc, const char *s)
{
	return (inspect(loc, s, strlen(s)));
}

START_TEST(t_decode)
{
	char	 out[64];
	size_t	 n;

	n = waf_pct_decode("a%27b+c%2", 9, out, 1);
	ck_assert_int_eq(n, 7);
	ck_assert(memcmp(out, "a'b c%2", 7) == 0);
	n = waf_pct_decode("a+b%252e", 8, out, 0);
	ck_assert(n == 6 && memcmp(out, "a+b%2e", 6) == 0);	/* once */
	n = waf_pct_decode("%zz%4", 5, out, 0);
	ck_assert(n == 5 && memcmp(out, "%zz%4", 5) == 0);
}
END_TEST

struct one {
	enum waf_loc	 loc;
	char		 name[64];
	char		 value[64];
	int		 n;
};

static int
first(void *arg, const struct waf_hit *h)
{
	struct one	*o = arg;

	o->loc = h->h_loc;
	snprintf(o->name, sizeof(o->name), "%.*s", (int)h->h_name.len,
	    h->h_name.p);
	snprintf(o->value, sizeof(o->value), "%.*s", (int)h->h_value.len,
	    h->h_value.p);
	o->n++;
	return (1);
}

START_TEST(t_locations)
{
	struct one	 o;
	const char	*js;

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(waf_inspect(w, WL_QUERY, "a=1&id=1%27+or+%271%27%3D"
	    "%271&b=2", 35, first, &o), 1);
	ck_assert_str_eq(o.name, "id");
	ck_assert_str_eq(o.value, "1' or '1'='1");
	/* JSON: escapes decoded once, the member name is the key. */
	memset(&o, 0, sizeof(o));
	js = "{\"a\":{\"bio\":\"\\u003cscript\\u003ex\"}}";
	ck_assert_int_eq(waf_inspect(w, WL_JSON, js, strlen(js), first, &o),
	    1);
	ck_assert_str_eq(o.name, "bio");
	ck_assert_str_eq(o.value, "<script>x");
	/* A JSON string is not percent-decoded, but %3C still counts. */
	ck_assert(inspect_s(WL_JSON, "{\"q\":\"%3Cscript%3E\"}") & WAF_XSS);
	/* A cut document is walked as far as it goes. */
	ck_assert(inspect_s(WL_JSON, "{\"q\":\"x\",\"p\":\"../../etc/pa") &
	    WAF_TRAVERSAL);
	/* Cookie values, not names; no '+' decoding. */
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(waf_inspect(w, WL_COOKIE, "a=1; pref=%3Bid",
	    15, first, &o), 1);
	ck_assert_str_eq(o.name, "pref");
	ck_assert_int_eq(inspect_s(WL_COOKIE, "_ga=GA1.2.3; theme=dark"), 0);
	/* Double encoding reaches the rules once decoded. */
	ck_assert(inspect_s(WL_QUERY, "f=%252e%252e%252fetc%252fpasswd") &
	    WAF_TRAVERSAL);
	ck_assert_int_eq(inspect_s(WL_QUERY, "q=o%27brien&x=%2B1"), 0);
	/* Names too, and a parameter without '=': the application reads
	   keys and raw query strings (attack-waf). */
	ck_assert(inspect_s(WL_QUERY, "%3Cscript%3E=1") & WAF_XSS);
	ck_assert(inspect_s(WL_QUERY, "a=1&%3Cscript%3Ealert(1)") & WAF_XSS);
	ck_assert(inspect_s(WL_COOKIE, "a=b; <script>alert(1)") & WAF_XSS);
	ck_assert(inspect_s(WL_JSON, "{\"1 union select password from "
	    "users--\":1}") & WAF_SQLI);
	ck_assert_int_eq(inspect_s(WL_JSON, "{\"select\":\"union\"}"), 0);
}
END_TEST

/* Evasions an outside tester found (attack-waf). */
START_TEST(t_evasions)
{
	/* Overlong UTF-8 still raw after the one decode. */
	ck_assert(inspect_s(WL_QUERY, "f=..%c0%af..%c0%afvar") &
	    WAF_TRAVERSAL);
	ck_assert(inspect_s(WL_QUERY, "f=%c0%ae%c0%ae/x") & WAF_TRAVERSAL);
	/* MySQL versioned comments run their content. */
	ck_assert(inspect_s(WL_QUERY, "id=1 /*!50000UNION*/ /*!50000SELECT*/"
	    " 1,2") & WAF_SQLI);
	/* Any comment between UNION and SELECT: long, with '*', by line. */
	ck_assert(inspect_s(WL_QUERY, "id=1 UNION/*xxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxx*/SELECT password FROM users") &
	    WAF_SQLI);
	ck_assert(inspect_s(WL_QUERY, "id=1 UNION/* a*b */SELECT password,"
	    "2") & WAF_SQLI);
	ck_assert(inspect_s(WL_QUERY, "id=1 UNION--%0aSELECT password,2") &
	    WAF_SQLI);
	ck_assert(inspect_s(WL_QUERY, "id=1 UNION%23x%0aSELECT password,2") &
	    WAF_SQLI);
	/* Tautologies without spaces. */
	ck_assert(inspect_s(WL_QUERY, "id=1'or'1'='1") & WAF_SQLI);
	ck_assert(inspect_s(WL_QUERY, "id=1'||'1'='1") & WAF_SQLI);
	/* Command words the shell puts together again. */
	ck_assert(inspect_s(WL_QUERY, "h=x;w\\ho\\ami") & WAF_CMDI);
	ck_assert(inspect_s(WL_QUERY, "h=x;c''at /tmp/x") & WAF_CMDI);
	ck_assert(inspect_s(WL_QUERY, "h=x;who${x}ami") & WAF_CMDI);
	ck_assert(inspect_s(WL_QUERY, "h=x;ca$@t x") & WAF_CMDI);
	ck_assert(inspect_s(WL_QUERY, "h=x;{ls,-la}") & WAF_CMDI);
	ck_assert(inspect_s(WL_QUERY, "h=x;/??\?/c?t /??\?/p??s??") & WAF_CMDI);
	ck_assert(inspect_s(WL_QUERY, "h=x;/bin/c?t x") & WAF_CMDI);
	ck_assert_int_eq(inspect_s(WL_JSON, "{\"css\":\"a { color: red; "
	    "/* note */ }\"}"), 0);
	ck_assert_int_eq(inspect_s(WL_QUERY, "q=see; /faq? ok"), 0);
	/* False positive found on outside benign text: prose about sleep. */
	ck_assert_int_eq(inspect_s(WL_QUERY, "q=Note: sleep(8 hours) is "
	    "important :)"), 0);
	ck_assert(inspect_s(WL_QUERY, "q=1 and sleep( 5 )") & WAF_SQLI);
	ck_assert(inspect_s(WL_QUERY, "q=sleep(0.5)") & WAF_SQLI);
	/* A minified script's licence comment is not SQL. */
	ck_assert_int_eq(inspect_s(WL_JSON, "{\"js\":\"/*! jQuery v3.7.1 | "
	    "(c) OpenJS Foundation */\"}"), 0);
}
END_TEST

START_TEST(t_categories_off)
{
	const char	*err;
	struct waf	*x = waf_new(WAF_XSS, &err);
	int		 rule;
	enum waf_cat	 cat;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(waf_match(x, "' or 1=1--", 10, &rule, &cat), 0);
	ck_assert_int_eq(waf_match(x, "<script>", 8, &rule, &cat), 1);
	ck_assert_int_eq(cat, WC_XSS);
	ck_assert_str_eq(waf_rule_name(rule), "xss_script");
	waf_free(x);
}
END_TEST

/*
 * The corpora: every attack line must be caught in its own category (a
 * hit in another category also counts as blocked, but the rate printed
 * is per category); every benign line must pass.
 */
START_TEST(t_corpora)
{
	FILE		*f;
	char		 line[65536], *cat, *loc, *form, *sent, *nl;
	int		 c, tot[WC__COUNT] = { 0 }, hit[WC__COUNT] = { 0 };
	int		 btot = 0, bfp[WC__COUNT] = { 0 }, ball = 0, shown = 0;
	unsigned	 got;
	double		 rate;

	ck_assert_msg((f = fopen(corpus("attack.tsv"), "r")) != NULL,
	    "open %s", corpus("attack.tsv"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		cat = strtok(line, "\t");
		loc = strtok(NULL, "\t");
		form = strtok(NULL, "\t");
		sent = strtok(NULL, "");
		ck_assert(cat && loc && form && sent);
		for (c = 0; c < WC__COUNT; c++)
			if (strcmp(waf_cat_name(c), cat) == 0)
				break;
		ck_assert_int_lt(c, WC__COUNT);
		tot[c]++;
		got = inspect(loc_of(loc), sent, strlen(sent));
		if (got & (1u << c))
			hit[c]++;
		else if (shown++ < 400)
			printf("  missed %s %s %s: %s\n", cat, loc, form, sent);
	}
	fclose(f);
	ck_assert((f = fopen(corpus("benign.tsv"), "r")) != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		loc = strtok(line, "\t");
		sent = strtok(NULL, "");
		ck_assert(loc && sent);
		btot++;
		got = inspect(loc_of(loc), sent, strlen(sent));
		for (c = 0; c < WC__COUNT; c++)
			if (got & (1u << c))
				bfp[c]++;
		if (got) {
			ball++;
			printf("  false positive %s: %s\n", loc, sent);
		}
	}
	fclose(f);
	printf("WAF builtin engine on tests/waf corpora:\n");
	for (c = 0; c < WC__COUNT; c++) {
		printf("  %-18s detection %4d/%4d = %6.2f%%   false positives "
		    "%d/%d = %.2f%%\n", waf_cat_name(c), hit[c], tot[c],
		    100.0 * hit[c] / tot[c], bfp[c], btot,
		    100.0 * bfp[c] / btot);
	}
	printf("  benign requests flagged by any category: %d/%d\n", ball,
	    btot);
	fflush(stdout);
	for (c = 0; c < WC__COUNT; c++) {
		rate = (double)hit[c] / tot[c];
		ck_assert_msg(rate >= 0.95, "%s detection %.3f < 0.95",
		    waf_cat_name(c), rate);
		ck_assert_msg(bfp[c] * 100 <= btot, "%s false positives %d/%d",
		    waf_cat_name(c), bfp[c], btot);
	}
	ck_assert_int_ge(btot, 300);
}
END_TEST

START_TEST(t_split)
{
	static const struct {
		const char	*re;
		size_t		 n;
	} cases[] = {
		{ "a", 1 }, { "a|b", 2 }, { "(a|b)|c", 2 }, { "[|]|x", 2 },
		{ "\\||y", 2 }, { "[]|]z", 1 }, { "[^]|]|q", 2 },
		{ "(?:x(?<!a|b))|y|z", 3 }, { "a\\", 0 },
	};
	size_t	 off[4], len[4], i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(waf_split(cases[i].re, off, len, 4) ==
		    cases[i].n, "%s", cases[i].re);
	ck_assert_int_eq(waf_split("a|b", off, len, 4), 2);
	ck_assert_int_eq(off[1], 2);
	ck_assert_int_eq(len[0], 1);
	ck_assert_int_eq(waf_split("a|b|c|d|e", off, len, 4), 0);
}
END_TEST

/*
 * The engine compiles each alternative of a rule alone.  Its verdict on
 * every corpus line, raw and decoded, must be the one the whole rules give
 * in order: same category, same rule.
 */
START_TEST(t_split_same_verdicts)
{
	static const char *const files[] = { "attack.tsv", "benign.tsv" };
	pcre2_code		*re[WAF_RULES_MAX] = { NULL };
	pcre2_match_data	*md = pcre2_match_data_create(8, NULL);
	FILE			*f;
	char			 line[65536], dec[65536], *v, *nl;
	const char		*val;
	size_t			 fi, vlen, k;
	int			 n = waf_rule_count() - 2, r, c, err, rule, want;
	int			 lines = 0, hits = 0;
	enum waf_cat		 cat, wcat = WC_SQLI;
	PCRE2_SIZE		 off;

	ck_assert_int_le(n, WAF_RULES_MAX);
	for (r = 0; r < n; r++)
		ck_assert((re[r] = pcre2_compile((PCRE2_SPTR)waf_rule_re(r),
		    PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &err, &off,
		    NULL)) != NULL);
	for (fi = 0; fi < 2; fi++) {
		ck_assert((f = fopen(corpus(files[fi]), "r")) != NULL);
		while (fgets(line, sizeof(line), f) != NULL) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl = '\0';
			/* The value: the last field. */
			v = strrchr(line, '\t');
			v = v ? v + 1 : line;
			for (k = 0; k < 2; k++) {
				val = k ? dec : v;
				vlen = k ? waf_pct_decode(v, strlen(v), dec, 1) :
				    strlen(v);
				want = -1;
				for (c = 0; c < WC__COUNT && want < 0; c++)
					for (r = 0; r < n && want < 0; r++)
						if ((int)waf_rule_cat(r) == c &&
						    pcre2_match(re[r],
						    (PCRE2_SPTR)val, vlen, 0, 0,
						    md, NULL) >= 0) {
							want = r;
							wcat = c;
						}
				rule = -1;
				if (waf_match(w, val, vlen, &rule, &cat)) {
					ck_assert_msg(want == rule &&
					    cat == wcat, "%s: engine %s, "
					    "rules %s", val,
					    waf_rule_name(rule), want < 0 ?
					    "none" : waf_rule_name(want));
					hits++;
				} else
					ck_assert_msg(want < 0, "%s: engine "
					    "none, rules %s", val,
					    waf_rule_name(want));
				lines++;
			}
		}
		fclose(f);
	}
	ck_assert_int_gt(hits, 3000);
	ck_assert_int_gt(lines, 8000);
	for (r = 0; r < n; r++)
		pcre2_code_free(re[r]);
	pcre2_match_data_free(md);
}
END_TEST

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/*
 * Inputs built to make a backtracking matcher work hard: long runs of
 * the tokens the rules repeat.  Each must be decided (hit or not) within
 * a bound that linear matching meets by orders of magnitude.
 */
START_TEST(t_pathological)
{
	static const char *const unit[] = {
		"' or ", "/**/", "%20", "union ", "<", "../", "..", "%25",
		"a", " ", "'", "or 1=", "`id", "$(", "&#x3c", "\\u00", "on",
		"select ", "\"", "%2e%2e", "data:", "javascript",
	};
	size_t		 big = 1 << 20, i, k, ul;
	char		*p = malloc(big + 1);
	double		 t0, t, worst = 0;
	int		 rule;
	enum waf_cat	 cat;

	ck_assert_ptr_nonnull(p);
	for (k = 0; k < sizeof(unit) / sizeof(unit[0]); k++) {
		ul = strlen(unit[k]);
		for (i = 0; i < big; i++)
			p[i] = unit[k][i % ul];
		t0 = now_s();
		/* The whole MiB goes through the walk (cut at
		   WAF_VALUE_MAX) and straight to the matcher. */
		(void)inspect(WL_UA, p, big);
		(void)waf_match(w, p, big, &rule, &cat);
		t = now_s() - t0;
		if (t > worst)
			worst = t;
		ck_assert_msg(t < 2.0, "input %zu took %.3f s", k, t);
	}
	/* 10,000 parameters in one query string. */
	for (i = 0, k = 0; k < 10000; k++)
		i += (size_t)snprintf(p + i, big - i, "p%zu=%s&", k,
		    k % 2 ? "%27%20or" : "..%2");
	t0 = now_s();
	(void)inspect(WL_QUERY, p, i);
	(void)inspect(WL_FORM, p, i);
	(void)inspect(WL_COOKIE, p, i);
	t = now_s() - t0;
	ck_assert_msg(t < 2.0, "10,000 parameters took %.3f s", t);
	printf("pathological inputs: slowest 1 MiB value %.4f s, 10,000 "
	    "parameters %.4f s\n", worst, t);
	free(p);
}
END_TEST

/* The admin process reads detections by rule index and mode. */
START_TEST(t_counters)
{
	static struct vw_counters slots[CTR_SLOTS], sum;
	int		 r;

	ck_assert_int_le(waf_rule_count(), CTR_WAF_RULES);
	for (r = 0; r < waf_rule_count(); r++)
		ck_assert_ptr_nonnull(waf_rule_name(r));
	ck_assert_ptr_null(waf_rule_name(waf_rule_count()));
	counters_waf(&slots[1], 3, 0);
	counters_waf(&slots[2], 3, 0);
	counters_waf(&slots[2], 3, 1);
	counters_waf(&slots[2], CTR_WAF_RULES, 1);	/* ignored */
	counters_waf(NULL, 3, 1);			/* no slot: no-op */
	counters_sum(slots, &sum);
	ck_assert_uint_eq(sum.c_waf[0][3], 2);
	ck_assert_uint_eq(sum.c_waf[1][3], 1);
}
END_TEST

static Suite *
waf_suite(void)
{
	Suite	*s = suite_create("waf");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_decode);
	tcase_add_test(tc, t_locations);
	tcase_add_test(tc, t_evasions);
	tcase_add_test(tc, t_categories_off);
	tcase_add_test(tc, t_corpora);
	tcase_add_test(tc, t_pathological);
	tcase_add_test(tc, t_split);
	tcase_add_test(tc, t_split_same_verdicts);
	tcase_add_test(tc, t_counters);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(waf_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
