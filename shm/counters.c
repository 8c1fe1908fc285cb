/*
 * counters.c: shared per-worker counters (see counters.h).  Writers own
 * their slot, so plain stores suffice; readers may see a slot mid-update,
 * which metrics tolerate.
 */
#include <sys/mman.h>

#include <string.h>

#include "counters.h"

struct vw_counters *counters_base;
struct vw_resil *counters_resil;

struct vw_counters *
counters_create(void)
{
	void	*p;

	p = mmap(NULL, sizeof(struct vw_counters) * CTR_SLOTS +
	    sizeof(struct vw_resil), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (NULL);
	counters_base = p;
	counters_resil = (struct vw_resil *)(counters_base + CTR_SLOTS);
	return (p);
}

void
counters_claim(struct vw_counters *c, pid_t pid, uint32_t gen)
{
	c->c_conns_open = 0;
	c->c_tunnels = 0;
	c->c_accepting = 0;
	c->c_pid = pid;
	c->c_generation = gen;
}

void
counters_request(struct vw_counters *c, int status, uint64_t bytes,
    uint64_t dur_ms)
{
	int	 cls = status / 100;

	if (c == NULL)
		return;
	c->c_requests[cls >= 1 && cls <= 5 ? cls - 1 : 5]++;
	c->c_bytes_out += bytes;
	c->c_duration_ms += dur_ms;
}

void
counters_conn(struct vw_counters *c, int delta)
{
	if (c == NULL)
		return;
	c->c_conns_open += delta;
	if (delta > 0)
		c->c_conns_total++;
}

void
counters_tunnel(struct vw_counters *c, int delta)
{
	if (c != NULL)
		c->c_tunnels += delta;
}

void
counters_waf(struct vw_counters *c, int rule, int blocked)
{
	if (c != NULL && rule >= 0 && rule < CTR_WAF_RULES)
		c->c_waf[blocked ? 1 : 0][rule]++;
}

void
counters_sum(const struct vw_counters *base, struct vw_counters *out)
{
	int	 i, j;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < CTR_SLOTS; i++) {
		for (j = 0; j < 6; j++)
			out->c_requests[j] += base[i].c_requests[j];
		out->c_bytes_out += base[i].c_bytes_out;
		out->c_duration_ms += base[i].c_duration_ms;
		out->c_conns_total += base[i].c_conns_total;
		out->c_conns_open += base[i].c_conns_open;
		out->c_tunnels += base[i].c_tunnels;
		out->c_restarts += base[i].c_restarts;
		for (j = 0; j < CTR_WAF_RULES; j++) {
			out->c_waf[0][j] += base[i].c_waf[0][j];
			out->c_waf[1][j] += base[i].c_waf[1][j];
		}
	}
}
