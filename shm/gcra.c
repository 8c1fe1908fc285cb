/*
 * gcra.c: GCRA arithmetic (see gcra.h).  Pure; no clock, no I/O.
 */
#include <stdint.h>

#include "gcra.h"

#define NS		1000000000ULL
/* Keep burst * interval far from overflow: ~146 years. */
#define TAU_MAX		(1ULL << 62)

void
gcra_init(struct gcra *g, double rate, uint32_t burst)
{
	double		 iv;

	if (burst < 1)
		burst = 1;
	if (rate <= 0)
		iv = (double)TAU_MAX;
	else
		iv = (double)NS / rate;
	if (iv < 1)
		iv = 1;
	if (iv > (double)(TAU_MAX / burst))
		iv = (double)(TAU_MAX / burst);
	g->g_interval = (uint64_t)(iv + 0.5);
	if (g->g_interval == 0)
		g->g_interval = 1;
	g->g_burst = burst;
	g->g_tau = g->g_interval * burst;
}

void
gcra_take(const struct gcra *g, uint64_t tat, uint64_t now,
    struct gcra_res *out)
{
	uint64_t	 ntat, ahead;

	/* An empty bucket is tat == now + tau; more is a clock step. */
	if (tat > now && tat - now > g->g_tau)
		tat = now + g->g_tau;
	if (tat < now)
		tat = now;		/* full (or new): no credit beyond it */
	ntat = tat + g->g_interval;
	ahead = ntat - now;		/* > 0 */
	if (ahead > g->g_tau) {
		out->gr_allowed = 0;
		out->gr_tat = tat;
		out->gr_wait = ahead - g->g_tau;
		out->gr_reset = tat - now;
		out->gr_remaining = 0;
		return;
	}
	out->gr_allowed = 1;
	out->gr_tat = ntat;
	out->gr_wait = 0;
	out->gr_reset = ahead;
	out->gr_remaining = (uint32_t)((g->g_tau - ahead) / g->g_interval);
}

uint64_t
gcra_ceil_sec(uint64_t ns)
{
	return (ns / NS + (ns % NS != 0));
}
