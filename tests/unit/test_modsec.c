/*
 * test_modsec.c: unit tests for src/modsec.c (waf.engine: modsecurity):
 * rule files that do not load or hold refused directives, the inputs of
 * a transaction, and the corpora of tests/waf/ through ModSecurity with
 * the OWASP CRS, its detection and false-positive rates printed per
 * category beside the built-in engine's (no threshold for ModSecurity:
 * it reports what it gets).  Skips (exit 77) with a message in a build
 * without libmodsecurity or without the CRS files (modsecurity-crs).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "modsec.h"
#include "waf.h"

#define CRS_SETUP	"/etc/modsecurity/crs/crs-setup.conf"
#define CRS_RULES	"/usr/share/modsecurity-crs/rules/*.conf"

static struct modsec	*ms;
static struct waf	*bw;

static struct strlist
list2(const char *a, const char *b)
{
	static char	*v[2];
	struct strlist	 l;

	v[0] = (char *)a;
	v[1] = (char *)b;
	l.v = v;
	l.n = b ? 2 : 1;
	return (l);
}

static void
setup(void)
{
	struct strlist	 l = list2(CRS_SETUP, CRS_RULES);
	const char	*e = NULL;
	char		 err[1024];

	ms = modsec_new(&l, err, sizeof(err));
	ck_assert_msg(ms != NULL, "modsec_new: %s", err);
	bw = waf_new(WAF_ALL, &e);
	ck_assert_ptr_nonnull(bw);
}

static void
teardown(void)
{
	modsec_free(ms);
	ms = NULL;
	waf_free(bw);
	bw = NULL;
}

static const char *
tmpfile_with(const char *text)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	snprintf(path, sizeof(path), "/tmp/vw-modsec-XXXXXX");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fputs(text, f);
	fclose(f);
	return (path);
}

/* A file that does not parse, a glob that matches nothing, refusals. */
START_TEST(t_bad_rules)
{
	struct strlist	 l;
	struct modsec	*m;
	const char	*p;
	char		 err[1024];

	p = tmpfile_with("SecRule ARGS \"@rx a\" \"id:1,phase:2,deny\"\n"
	    "SecRuleNoSuchDirective On\n");
	l = list2(p, NULL);
	ck_assert_ptr_null(m = modsec_new(&l, err, sizeof(err)));
	ck_assert_msg(strstr(err, p) != NULL, "no file name in: %s", err);
	unlink(p);
	l = list2("/nonexistent/vw-*.conf", NULL);
	ck_assert_ptr_null(modsec_new(&l, err, sizeof(err)));
	ck_assert_msg(strstr(err, "/nonexistent/vw-*.conf: no such file"),
	    "%s", err);
	p = tmpfile_with("# a comment: SecDebugLog /x\n"
	    "  SecDebugLog /tmp/vw-debug.log\n");
	l = list2(p, NULL);
	ck_assert_ptr_null(modsec_new(&l, err, sizeof(err)));
	ck_assert_msg(strstr(err, ":2: refused: SecDebugLog"), "%s", err);
	unlink(p);
	p = tmpfile_with("SecRule ARGS \"@rx a\" \"id:1,phase:2,pass,"
	    "exec:/bin/true\"\n");
	l = list2(p, NULL);
	ck_assert_ptr_null(modsec_new(&l, err, sizeof(err)));
	ck_assert_msg(strstr(err, "exec action"), "%s", err);
	unlink(p);
	l.n = 0;
	ck_assert_ptr_null(modsec_new(&l, err, sizeof(err)));
}
END_TEST

struct got {
	unsigned	 cats;		/* WAF_* bits of the four categories */
	int		 n;
	char		 rule[16], loc[16], name[64], cat[32];
};

static void
collect(void *arg, const struct modsec_hit *h)
{
	struct got	*g = arg;
	int		 c;

	for (c = 0; c < WC__COUNT; c++)
		if (strcmp(h->mh_cat, waf_cat_name(c)) == 0)
			g->cats |= 1u << c;
	if (g->n++ == 0) {
		snprintf(g->rule, sizeof(g->rule), "%s", h->mh_rule);
		snprintf(g->loc, sizeof(g->loc), "%s", h->mh_loc);
		snprintf(g->cat, sizeof(g->cat), "%s", h->mh_cat);
		snprintf(g->name, sizeof(g->name), "%.*s",
		    (int)h->mh_name.len, h->mh_name.p);
	}
}

/* One request with the payload in loc, as the stage builds it. */
static int
run(const char *loc, const char *sent, struct got *g)
{
	static char	 target[70000], clen[24];
	struct modsec_req r;
	size_t		 n = 0;

	memset(&r, 0, sizeof(r));
	memset(g, 0, sizeof(*g));
	r.mr_cip = "127.0.0.1";
	r.mr_method = VW_STR("GET");
	r.mr_target = VW_STR("/echo");
	r.mr_hname[n] = VW_STR("Host");
	r.mr_hval[n++] = VW_STR("app.example");
	if (strcmp(loc, "query") == 0) {
		snprintf(target, sizeof(target), "/echo?%s", sent);
		r.mr_target.p = target;
		r.mr_target.len = strlen(target);
	} else if (strcmp(loc, "form") == 0 || strcmp(loc, "json") == 0) {
		r.mr_method = VW_STR("POST");
		r.mr_json = loc[0] == 'j';
		r.mr_hname[n] = VW_STR("Content-Type");
		r.mr_hval[n++] = r.mr_json ? VW_STR("application/json") :
		    VW_STR("application/x-www-form-urlencoded");
		r.mr_body = sent;
		r.mr_blen = strlen(sent);
		snprintf(clen, sizeof(clen), "%zu", r.mr_blen);
		r.mr_hname[n] = VW_STR("Content-Length");
		r.mr_hval[n].p = clen;
		r.mr_hval[n++].len = strlen(clen);
	} else {
		r.mr_hname[n].p = strcmp(loc, "cookie") == 0 ? "Cookie" :
		    strcmp(loc, "referer") == 0 ? "Referer" : "User-Agent";
		r.mr_hname[n].len = strlen(r.mr_hname[n].p);
		r.mr_hval[n].p = sent;
		r.mr_hval[n++].len = strlen(sent);
	}
	r.mr_nhdr = n;
	return (modsec_inspect(ms, &r, collect, g));
}

START_TEST(t_inputs)
{
	struct got	 g;

	ck_assert_int_eq(run("query", "q=hello+world", &g), 0);
	ck_assert_int_eq(g.n, 0);
	ck_assert_int_eq(run("query", "id=1%27+union+select+password+from+"
	    "users--", &g), 1);
	ck_assert(g.cats & WAF_SQLI);
	ck_assert_str_eq(g.loc, "query");
	ck_assert_str_eq(g.name, "id");
	ck_assert_int_eq(run("form", "a=1&bio=%3Cscript%3Ealert(1)%3C/script"
	    "%3E", &g), 1);
	ck_assert(g.cats & WAF_XSS);
	ck_assert_str_eq(g.loc, "form");
	ck_assert_str_eq(g.name, "bio");
	ck_assert_int_eq(run("json", "{\"cmd\":\"; cat /etc/passwd\"}", &g),
	    1);
	ck_assert_str_eq(g.loc, "json");
	ck_assert_int_eq(run("cookie", "sess=../../../../etc/passwd", &g), 1);
	ck_assert(g.cats & WAF_TRAVERSAL);
	ck_assert_str_eq(g.loc, "cookie");
	ck_assert_int_eq(run("user_agent", "Mozilla/5.0 (X11; Linux x86_64) "
	    "Firefox/120.0", &g), 0);
	/* The first 8 KiB only is ever given: a cut JSON still runs. */
	ck_assert_int_ge(run("json", "{\"a\":\"b", &g), 0);
}
END_TEST

static int
bcollect(void *arg, const struct waf_hit *h)
{
	unsigned	*cats = arg;

	*cats |= 1u << h->h_cat;
	return (0);
}

/* The built-in engine on the same line, for the table. */
static unsigned
builtin(const char *loc, const char *sent)
{
	unsigned	 cats = 0;
	int		 l;

	for (l = 0; l < WL__COUNT; l++)
		if (strcmp(waf_loc_name(l), loc) == 0)
			break;
	ck_assert_int_lt(l, WL__COUNT);
	(void)waf_inspect(bw, l, sent, strlen(sent), bcollect, &cats);
	return (cats);
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

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/*
 * The corpora through both engines.  ModSecurity "detects" an attack
 * line when a rule of its category matched; "blocks" it when the rules
 * intervene (the CRS anomaly score: what block mode does).  A benign
 * line is a false positive of a category when a rule of it matched.
 * Printed, not asserted: the CRS is not ours to tune.
 */
START_TEST(t_corpora)
{
	FILE		*f;
	char		 line[65536], *cat, *loc, *form, *sent, *nl;
	int		 c, tot[WC__COUNT] = { 0 }, mhit[WC__COUNT] = { 0 };
	int		 mblk[WC__COUNT] = { 0 }, bhit[WC__COUNT] = { 0 };
	int		 btot = 0, mfp[WC__COUNT] = { 0 }, bfp[WC__COUNT] = { 0 };
	int		 mball = 0, mbblk = 0, bball = 0, ntx = 0, rc;
	struct got	 g;
	double		 t0, tms = 0;

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
		t0 = now_s();
		rc = run(loc, sent, &g);
		tms += now_s() - t0;
		ntx++;
		ck_assert_int_ge(rc, 0);
		if (g.cats & (1u << c))
			mhit[c]++;
		if (rc == 1)
			mblk[c]++;
		if (builtin(loc, sent) & (1u << c))
			bhit[c]++;
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
		t0 = now_s();
		rc = run(loc, sent, &g);
		tms += now_s() - t0;
		ntx++;
		ck_assert_int_ge(rc, 0);
		for (c = 0; c < WC__COUNT; c++) {
			if (g.cats & (1u << c))
				mfp[c]++;
			if (builtin(loc, sent) & (1u << c))
				bfp[c]++;
		}
		if (g.n > 0) {
			mball++;
			printf("  modsecurity flags benign %s (rule %s, %s, "
			    "%s %s): %.100s\n", loc, g.rule, g.cat, g.loc,
			    g.name, sent);
		}
		mbblk += rc == 1;
		bball += builtin(loc, sent) != 0;
	}
	fclose(f);
	printf("WAF engines on tests/waf corpora (%d attack and %d benign "
	    "requests):\n", ntx - btot, btot);
	printf("  %-18s %-22s %-22s %-22s %-11s %s\n", "category",
	    "builtin detection", "modsec detection", "modsec blocked",
	    "builtin FP", "modsec FP");
	for (c = 0; c < WC__COUNT; c++)
		printf("  %-18s %4d/%4d = %6.2f%%   %4d/%4d = %6.2f%%   "
		    "%4d/%4d = %6.2f%%   %5.2f%%      %5.2f%%\n",
		    waf_cat_name(c), bhit[c], tot[c], 100.0 * bhit[c] / tot[c],
		    mhit[c], tot[c], 100.0 * mhit[c] / tot[c], mblk[c],
		    tot[c], 100.0 * mblk[c] / tot[c], 100.0 * bfp[c] / btot,
		    100.0 * mfp[c] / btot);
	printf("  benign flagged by any rule: builtin %d/%d, modsecurity %d/%d"
	    " (blocked in block mode: %d/%d)\n", bball, btot, mball, btot,
	    mbblk, btot);
	printf("  modsecurity: %.1f us per transaction (%d, this process, "
	    "CRS)\n", 1e6 * tms / ntx, ntx);
	fflush(stdout);
	ck_assert_int_ge(btot, 300);
}
END_TEST

static Suite *
modsec_suite(void)
{
	Suite	*s = suite_create("modsec");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_bad_rules);
	tcase_add_test(tc, t_inputs);
	tcase_add_test(tc, t_corpora);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 nf;

	if (!modsec_available()) {
		printf("SKIP: this build lacks libmodsecurity (configure "
		    "--with-modsecurity; Debian: libmodsecurity-dev)\n");
		return (77);
	}
	if (access(CRS_SETUP, R_OK) != 0 ||
	    access("/usr/share/modsecurity-crs/rules", R_OK) != 0) {
		printf("SKIP: the OWASP CRS is not installed (Debian: "
		    "modsecurity-crs)\n");
		return (77);
	}
	sr = srunner_create(modsec_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
