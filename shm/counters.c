/*
 * counters.c: shared per-worker counters (see counters.h).  Writers own
 * their slot, so plain stores suffice; readers may see a slot mid-update,
 * which metrics tolerate.
 */
#include <sys/mman.h>

#include <string.h>

#include "counters.h"

struct vw_counters *counters_base;
struct vw_ctr_http *counters_http_base;
struct vw_counters *counters_self;

/* The order of enum http_method (http_parse.h) up to PATCH. */
const char *const counters_method_names[CTR_METHODS] = {
	"OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"
};

/* The codes vibewarden and common upstreams answer, then the classes. */
static const int status_codes[] = {
	100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308,
	400, 401, 403, 404, 405, 408, 409, 410, 411, 413, 414, 415, 417,
	421, 429, 431, 500, 501, 502, 503, 504
};
#define NCODES	(sizeof(status_codes) / sizeof(status_codes[0]))

const char *const counters_status_names[CTR_STATUSES] = {
	"100", "101", "200", "201", "202", "204", "206", "301", "302", "303",
	"304", "307", "308", "400", "401", "403", "404", "405", "408", "409",
	"410", "411", "413", "414", "415", "417", "421", "429", "431", "500",
	"501", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "other"
};

const char *const counters_auth_reasons[CTR_AUTH_REASONS] = {
	"authenticated", "no_credentials", "session_invalid", "token_invalid",
	"invalid_api_key", "insufficient_scope", "provider_unavailable",
	"internal_error", "other"
};

int
counters_auth_reason(const char *why)
{
	int	 i;

	if (why == NULL)
		return (0);
	for (i = 1; i < CTR_AUTH_REASONS - 1; i++)
		if (strcmp(why, counters_auth_reasons[i]) == 0)
			return (i);
	return (CTR_AUTH_REASONS - 1);
}

/* The original's buckets: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 s. */
const unsigned counters_bucket_ms[CTR_BUCKETS - 1] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};
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
	/* Pages are only backed once touched: unused slots cost nothing. */
	p = mmap(NULL, sizeof(struct vw_ctr_http) * CTR_SLOTS,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		munmap(counters_base, sizeof(struct vw_counters) * CTR_SLOTS +
		    sizeof(struct vw_resil));
		counters_base = NULL;
		counters_resil = NULL;
		return (NULL);
	}
	counters_http_base = p;
	return (counters_base);
}

void
counters_claim(struct vw_counters *c, pid_t pid, uint32_t gen)
{
	c->c_conns_open = 0;
	c->c_tunnels = 0;
	c->c_accepting = 0;
	c->c_ready = CTR_READY_UNKNOWN;
	c->c_ready_at = 0;
	c->c_ready_asked = 0;
	c->c_pid = pid;
	c->c_generation = gen;
	counters_self = c;
}

int
counters_method_index(int meth)
{
	return (meth > 0 && meth < CTR_METHODS ? meth : 0);
}

int
counters_status_index(int status)
{
	size_t	 lo = 0, hi = NCODES, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (status_codes[mid] == status)
			return ((int)mid);
		if (status_codes[mid] < status)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (status >= 100 && status < 600)
		return ((int)NCODES + status / 100 - 1);
	return (CTR_STATUSES - 1);
}

void
counters_http(struct vw_counters *c, int meth, int path, int status,
    uint64_t dur_ms)
{
	struct vw_ctr_http	*h;
	int			 m, b;

	if (c == NULL || counters_http_base == NULL || counters_base == NULL)
		return;
	h = &counters_http_base[c - counters_base];
	m = counters_method_index(meth);
	if (path < 0 || path >= CTR_PATHS)
		path = CTR_PATHS - 1;
	h->h_req[m][path][counters_status_index(status)]++;
	for (b = 0; b < CTR_BUCKETS - 1; b++)
		if (dur_ms <= counters_bucket_ms[b])
			break;
	h->h_dur[m][path][b]++;
	h->h_dur_ms[m][path] += dur_ms;
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
		out->c_restarts += base[i].c_restarts;
		out->c_upstream_errors += base[i].c_upstream_errors;
		out->c_upstream_timeouts += base[i].c_upstream_timeouts;
		for (j = 0; j < 3; j++)
			out->c_rl_hits[j] += base[i].c_rl_hits[j];
		for (j = 0; j < 2; j++)
			out->c_tls_handshakes[j] +=
			    base[i].c_tls_handshakes[j];
		for (j = 0; j < 8; j++)
			out->c_retries[j] += base[i].c_retries[j];
		out->c_unavailable += base[i].c_unavailable;
		out->c_ip_blocks += base[i].c_ip_blocks;
		out->c_csrf_blocks += base[i].c_csrf_blocks;
		for (j = 0; j < 4 * CTR_AUTH_REASONS; j++)
			(&out->c_auth[0][0])[j] += (&base[i].c_auth[0][0])[j];
		for (j = 0; j < CTR_WAF_RULES; j++) {
			out->c_waf[0][j] += base[i].c_waf[0][j];
			out->c_waf[1][j] += base[i].c_waf[1][j];
		}
		/* Gauges: a dead owner's last values mean nothing. */
		if (base[i].c_pid > 0) {
			out->c_conns_open += base[i].c_conns_open;
			out->c_tunnels += base[i].c_tunnels;
		}
	}
}

void
counters_http_sum(const struct vw_counters *base,
    const struct vw_ctr_http *hbase, struct vw_ctr_http *out)
{
	const uint64_t	*in;
	uint64_t	*o = (uint64_t *)out;
	size_t		 n = sizeof(*out) / sizeof(uint64_t), k;
	int		 i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < CTR_SLOTS; i++) {
		/* A slot never claimed was never written: do not fault its
		   pages in. */
		if (base[i].c_generation == 0)
			continue;
		in = (const uint64_t *)&hbase[i];
		for (k = 0; k < n; k++)
			o[k] += in[k];
	}
}

int
counters_ready(uint64_t now, uint64_t max_age)
{
	const struct vw_counters	*c;
	uint64_t			 best = 0;
	int				 i, st = CTR_READY_UNKNOWN;

	if (counters_base == NULL)
		return (CTR_READY_UNKNOWN);
	for (i = 1; i < CTR_SLOTS; i++) {
		c = &counters_base[i];
		if (c->c_pid <= 0 || c->c_ready_at == 0 ||
		    c->c_ready_at < best || c->c_ready_at + max_age < now)
			continue;
		best = c->c_ready_at;
		st = c->c_ready;
	}
	return (st);
}

void
counters_ready_asked(struct vw_counters *c, uint64_t now)
{
	if (c != NULL)
		c->c_ready_asked = now;
}

int
counters_ready_wanted(uint64_t since)
{
	int	 i;

	if (counters_base == NULL)
		return (0);
	for (i = 1; i < CTR_SLOTS; i++)
		if (counters_base[i].c_pid > 0 &&
		    counters_base[i].c_ready_asked > since)
			return (1);
	return (0);
}
