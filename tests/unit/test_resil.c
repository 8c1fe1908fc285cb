/*
 * test_resil.c: unit tests for src/resil.c (the circuit breaker's state
 * machine, the retry budget, the jittered backoff) and ev.c's
 * timer_set_at(), over a private struct vw_resil (no counter segment).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "ev.h"
#include "log.h"
#include "resil.h"

static struct config	 cf;
static struct vw_resil	 rec;

static void
setup(void)
{
	memset(&cf, 0, sizeof(cf));
	memset(&rec, 0, sizeof(rec));
	counters_resil = &rec;
	cf.upstream.connect_timeout_ms = 1000;
	cf.resilience.timeout_ms = 2000;
	cf.resilience.circuit_breaker.enabled = 1;
	cf.resilience.circuit_breaker.threshold = 3;
	cf.resilience.circuit_breaker.timeout_ms = 10000;
	cf.resilience.retry.backoff_ms = 100;
	cf.resilience.retry.max_backoff_ms = 1000;
}

static int
admit(uint64_t now, uint64_t *tok, uint32_t *ra)
{
	return (resil_cb_admit(&cf, now, 1, tok, ra));
}

/* threshold failures in a row from a closed circuit open it at now. */
static void
open_at(uint64_t now)
{
	int	 i;

	for (i = 0; i < cf.resilience.circuit_breaker.threshold; i++)
		resil_cb_result(&cf, now, 0, 0);
	ck_assert_int_eq(resil_cb_state(), CB_OPEN);
}

START_TEST(t_opens_after_threshold)
{
	uint64_t	 tok;
	uint32_t	 ra = 0;

	resil_cb_result(&cf, 1000, 0, 0);
	resil_cb_result(&cf, 1000, 0, 0);
	resil_cb_result(&cf, 1000, 0, 1);	/* a success resets */
	resil_cb_result(&cf, 1000, 0, 0);
	resil_cb_result(&cf, 1000, 0, 0);
	ck_assert_int_eq(resil_cb_state(), CB_CLOSED);
	ck_assert_int_eq(admit(1000, &tok, &ra), 0);
	ck_assert_uint_eq(tok, 0);
	resil_cb_result(&cf, 1000, 0, 0);
	ck_assert_int_eq(resil_cb_state(), CB_OPEN);
	ck_assert_int_eq(admit(1500, &tok, &ra), -1);
	ck_assert_uint_eq(ra, 10);		/* 9.5 s, rounded up */
	ck_assert_int_eq(admit(10999, &tok, &ra), -1);
	ck_assert_uint_eq(ra, 1);
}
END_TEST

START_TEST(t_one_probe)
{
	uint64_t	 tok, t2;
	uint32_t	 ra;
	int		 i;

	open_at(1000);
	ck_assert_int_eq(admit(11000, &tok, &ra), 0);
	ck_assert_uint_ne(tok, 0);
	ck_assert_int_eq(resil_cb_state(), CB_HALF_OPEN);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(admit(11001 + i, &t2, &ra), -1);
	/* Other requests' outcomes do not close it. */
	resil_cb_result(&cf, 11100, 0, 1);
	ck_assert_int_eq(resil_cb_state(), CB_HALF_OPEN);
	resil_cb_result(&cf, 11200, tok, 1);
	ck_assert_int_eq(resil_cb_state(), CB_CLOSED);
	ck_assert_int_eq(admit(11300, &t2, &ra), 0);
	ck_assert_uint_eq(t2, 0);
}
END_TEST

START_TEST(t_probe_failure_reopens)
{
	uint64_t	 tok;
	uint32_t	 ra;

	open_at(1000);
	ck_assert_int_eq(admit(11000, &tok, &ra), 0);
	resil_cb_result(&cf, 11500, tok, 0);
	ck_assert_int_eq(resil_cb_state(), CB_OPEN);
	ck_assert_int_eq(admit(12000, &tok, &ra), -1);
	ck_assert_uint_eq(ra, 10);		/* a full timeout again */
}
END_TEST

START_TEST(t_lost_probe)
{
	uint64_t	 tok, t2, t3;
	uint32_t	 ra;

	open_at(1000);
	/* Cancelled (no outcome): the next request probes at once. */
	ck_assert_int_eq(admit(11000, &tok, &ra), 0);
	resil_cb_cancel(tok);
	ck_assert_int_eq(admit(11001, &t2, &ra), 0);
	ck_assert_uint_ne(t2, 0);
	ck_assert_uint_ne(t2, tok);
	/* Never heard of (its worker died): another after the deadline,
	   connect + response timeout + 1 s. */
	ck_assert_int_eq(admit(11001 + 3999, &t3, &ra), -1);
	ck_assert_int_eq(admit(11001 + 4000, &t3, &ra), 0);
	ck_assert_uint_ne(t3, 0);
	/* The late one's verdict no longer counts. */
	resil_cb_result(&cf, 15002, t2, 1);
	ck_assert_int_eq(resil_cb_state(), CB_HALF_OPEN);
	resil_cb_result(&cf, 15003, t3, 1);
	ck_assert_int_eq(resil_cb_state(), CB_CLOSED);
}
END_TEST

/*
 * A request whose client still sends its body is never the probe: it
 * could hold the host's one half-open slot for as long as it drips.  It
 * gets 503 (Retry-After 1) and leaves the probe to the next request.
 */
START_TEST(t_streaming_never_probes)
{
	uint64_t	 tok = 1, t2;
	uint32_t	 ra = 0;

	open_at(1000);
	ck_assert_int_eq(resil_cb_admit(&cf, 11000, 0, &tok, &ra), -1);
	ck_assert_uint_eq(tok, 0);
	ck_assert_uint_eq(ra, 1);
	ck_assert_int_eq(resil_cb_state(), CB_OPEN);
	ck_assert_int_eq(admit(11000, &t2, &ra), 0);
	ck_assert_uint_ne(t2, 0);
	/* Nor does it take over an overdue probe. */
	ck_assert_int_eq(resil_cb_admit(&cf, 11000 + 4000, 0, &tok, &ra),
	    -1);
	ck_assert_int_eq(admit(11000 + 4000, &tok, &ra), 0);
	ck_assert_uint_ne(tok, 0);
	ck_assert_uint_ne(tok, t2);
	/* Closed: it goes through like any other. */
	resil_cb_result(&cf, 15100, tok, 1);
	ck_assert_int_eq(resil_cb_admit(&cf, 15200, 0, &t2, &ra), 0);
	ck_assert_uint_eq(t2, 0);
}
END_TEST

START_TEST(t_health_verdict)
{
	cf.upstream.health.enabled = 0;
	rec.h_state = HS_UNHEALTHY;
	ck_assert_int_eq(resil_upstream_down(&cf), 0);
	cf.upstream.health.enabled = 1;
	ck_assert_int_eq(resil_upstream_down(&cf), 1);
	rec.h_state = HS_UNKNOWN;
	ck_assert_int_eq(resil_upstream_down(&cf), 0);
}
END_TEST

START_TEST(t_budget)
{
	uint64_t	 now = 50000;
	int		 i, ok = 0;

	for (i = 0; i < 100; i++) {
		resil_budget_request(now);
		ok += resil_budget_take(now);
		ok += resil_budget_take(now);
	}
	ck_assert_int_eq(ok, 100 * RESIL_BUDGET_PCT / 100 + RESIL_BUDGET_MIN);
	/* Ten seconds later the window is empty: the floor only. */
	now += RB_BUCKETS * 1000;
	for (ok = 0, i = 0; i < 10; i++)
		ok += resil_budget_take(now);
	ck_assert_int_eq(ok, RESIL_BUDGET_MIN);
}
END_TEST

START_TEST(t_backoff)
{
	uint64_t	 r, lo = UINT64_MAX, hi = 0, d;
	int		 i;

	ck_assert_uint_eq(resil_backoff(&cf, 1, 100), 100);
	ck_assert_uint_eq(resil_backoff(&cf, 1, 101), 0);
	ck_assert_uint_eq(resil_backoff(&cf, 2, 200), 200);
	ck_assert_uint_eq(resil_backoff(&cf, 3, 400), 400);
	ck_assert_uint_eq(resil_backoff(&cf, 5, 1000), 1000);	/* capped */
	ck_assert_uint_eq(resil_backoff(&cf, 50, 1001), 0);
	for (i = 0; i < 1000; i++) {
		r = resil_random();
		d = resil_backoff(&cf, 1, r);
		ck_assert_uint_le(d, 100);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ck_assert_uint_le(lo, 5);
	ck_assert_uint_ge(hi, 95);
}
END_TEST

static int	 fired[4], nfired;

static void
cb(struct timer *t)
{
	fired[nfired++] = (int)(t->t_deadline % 100);
}

START_TEST(t_timer_set_at)
{
	struct tqueue	 q;
	struct timer	 t[4];
	struct timer	*x;

	memset(t, 0, sizeof(t));
	tqueue_init(&q, 1);
	timer_set_at(&t[0], &q, 1030, cb);
	timer_set_at(&t[1], &q, 1010, cb);
	timer_set_at(&t[2], &q, 1020, cb);
	timer_set_at(&t[3], &q, 1010, cb);
	for (x = q.q_head.t_next; x != &q.q_head; x = q.q_head.t_next) {
		timer_del(x);
		cb(x);
	}
	ck_assert_int_eq(nfired, 4);
	ck_assert_int_eq(fired[0], 10);
	ck_assert_int_eq(fired[1], 10);
	ck_assert_int_eq(fired[2], 20);
	ck_assert_int_eq(fired[3], 30);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("resil");
	TCase	*tc = tcase_create("resil");
	SRunner	*sr;
	int	 nf;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, t_opens_after_threshold);
	tcase_add_test(tc, t_one_probe);
	tcase_add_test(tc, t_probe_failure_reopens);
	tcase_add_test(tc, t_lost_probe);
	tcase_add_test(tc, t_streaming_never_probes);
	tcase_add_test(tc, t_health_verdict);
	tcase_add_test(tc, t_budget);
	tcase_add_test(tc, t_backoff);
	tcase_add_test(tc, t_timer_set_at);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
