/*
 * test_metrics.c: unit tests for src/metrics.c and the per-request
 * counters of shm/counters.c: the path_pattern label, the status index,
 * and the exposition's sums over slots.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "counters.h"
#include "metrics.h"

static char		*pv[] = { "/api/:resource", "/users/:id/posts",
			    "/health", "/a\"b" };
static struct strlist	 pats = { pv, 4 };

static int
idx(const char *path)
{
	struct vw_str	 s = { path, strlen(path) };

	return (metrics_path_index(&pats, s));
}

START_TEST(t_path_index)
{
	ck_assert_int_eq(idx("/api/things"), 0);
	ck_assert_int_eq(idx("/api/things/"), 0);
	ck_assert_int_eq(idx("/api/things?x=/y/z"), 0);
	ck_assert_int_eq(idx("/api"), CTR_PATHS - 1);
	ck_assert_int_eq(idx("/api/a/b"), CTR_PATHS - 1);
	ck_assert_int_eq(idx("/users/7/posts"), 1);
	ck_assert_int_eq(idx("/users/7/comments"), CTR_PATHS - 1);
	ck_assert_int_eq(idx("/health"), 2);
	ck_assert_int_eq(idx("/healthz"), CTR_PATHS - 1);
	ck_assert_int_eq(idx("/"), CTR_PATHS - 1);
	ck_assert_int_eq(idx(""), CTR_PATHS - 1);
	ck_assert_int_eq(metrics_path_index(&pats, (struct vw_str){ NULL, 0 }),
	    CTR_PATHS - 1);
}
END_TEST

START_TEST(t_status_index)
{
	ck_assert_str_eq(counters_status_names[counters_status_index(200)],
	    "200");
	ck_assert_str_eq(counters_status_names[counters_status_index(429)],
	    "429");
	ck_assert_str_eq(counters_status_names[counters_status_index(504)],
	    "504");
	ck_assert_str_eq(counters_status_names[counters_status_index(100)],
	    "100");
	ck_assert_str_eq(counters_status_names[counters_status_index(418)],
	    "4xx");
	ck_assert_str_eq(counters_status_names[counters_status_index(599)],
	    "5xx");
	ck_assert_str_eq(counters_status_names[counters_status_index(0)],
	    "other");
	ck_assert_str_eq(counters_status_names[counters_status_index(600)],
	    "other");
	ck_assert_str_eq(counters_method_names[counters_method_index(1)],
	    "GET");
	ck_assert_str_eq(counters_method_names[counters_method_index(9)],
	    "OTHER");
}
END_TEST

static int
has(const char *text, const char *line)
{
	return (strstr(text, line) != NULL);
}

START_TEST(t_render)
{
	struct config	*cf = calloc(1, sizeof(*cf));
	char		*t;
	size_t		 len;

	ck_assert_ptr_nonnull(cf);
	cf->telemetry.path_patterns = pats;
	ck_assert_ptr_nonnull(counters_create());
	/* Two workers and a dead one's slot: all summed. */
	counters_claim(&counters_base[1], 100, 1);
	counters_claim(&counters_base[2], 101, 1);
	counters_claim(&counters_base[3], 102, 1);
	counters_http(&counters_base[1], 1, 0, 200, 3);
	counters_http(&counters_base[2], 1, 0, 200, 30);
	counters_http(&counters_base[3], 1, 0, 200, 20000);
	counters_http(&counters_base[2], 3, 3, 502, 7);
	counters_base[3].c_pid = 0;		/* reaped */
	counters_base[3].c_conns_open = 5;	/* its last gauge: ignored */
	counters_base[1].c_conns_open = 2;
	counters_base[2].c_upstream_errors = 4;
	t = metrics_render(cf, counters_base, counters_http_base, NULL, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), len);
	ck_assert(has(t, "vibewarden_requests_total{method=\"GET\","
	    "status_code=\"200\",path_pattern=\"/api/:resource\"} 3\n"));
	ck_assert(has(t, "vibewarden_requests_total{method=\"POST\","
	    "status_code=\"502\",path_pattern=\"/a\\\"b\"} 1\n"));
	ck_assert(has(t, "vibewarden_request_duration_seconds_bucket{"
	    "method=\"GET\",path_pattern=\"/api/:resource\",le=\"0.005\"} 1\n"));
	ck_assert(has(t, "vibewarden_request_duration_seconds_bucket{"
	    "method=\"GET\",path_pattern=\"/api/:resource\",le=\"0.05\"} 2\n"));
	ck_assert(has(t, "vibewarden_request_duration_seconds_bucket{"
	    "method=\"GET\",path_pattern=\"/api/:resource\",le=\"10\"} 2\n"));
	ck_assert(has(t, "vibewarden_request_duration_seconds_bucket{"
	    "method=\"GET\",path_pattern=\"/api/:resource\",le=\"+Inf\"} 3\n"));
	ck_assert(has(t, "vibewarden_request_duration_seconds_sum{"
	    "method=\"GET\",path_pattern=\"/api/:resource\"} 20.033\n"));
	ck_assert(has(t, "vibewarden_request_duration_seconds_count{"
	    "method=\"GET\",path_pattern=\"/api/:resource\"} 3\n"));
	ck_assert(has(t, "\nvibewarden_active_connections 2\n"));
	ck_assert(has(t, "\nvibewarden_upstream_errors_total 4\n"));
	/* Features that are off: absent, not zero. */
	ck_assert(!has(t, "vibewarden_rate_limit_hits_total"));
	ck_assert(!has(t, "vibewarden_tls_handshakes_total"));
	ck_assert(!has(t, "vibewarden_shm_used_bytes"));
	free(t);
	cf->rate_limit.enabled = 1;
	cf->tls.enabled = 1;
	t = metrics_render(cf, counters_base, counters_http_base, NULL, &len);
	ck_assert(has(t, "vibewarden_rate_limit_hits_total{limit_type=\"ip\"}"
	    " 0\n"));
	ck_assert(has(t, "vibewarden_tls_handshakes_total{result=\"ok\"} 0\n"));
	free(t);
	/* A respawned owner keeps adding to the slot: monotonic. */
	counters_claim(&counters_base[3], 103, 2);
	counters_http(&counters_base[3], 1, 0, 200, 1);
	t = metrics_render(cf, counters_base, counters_http_base, NULL, &len);
	ck_assert(has(t, "vibewarden_requests_total{method=\"GET\","
	    "status_code=\"200\",path_pattern=\"/api/:resource\"} 4\n"));
	free(t);
	free(cf);
}
END_TEST

static Suite *
suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("metrics");

	tcase_add_test(tc, t_path_index);
	tcase_add_test(tc, t_status_index);
	tcase_add_test(tc, t_render);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
