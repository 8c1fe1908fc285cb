/*
 * metrics.c: Prometheus text exposition 0.0.4 of the counter segment
 * (SPEC.md 11, the original's names), and the path_pattern label.
 *
 * The simple counters and gauges are one table, metrics[]: a feature
 * adds its counter as a field of struct vw_counters (counters.h), one
 * line here and one increment where it happens.  An array field is one
 * series per element: with m_label, element i is m_label="m_lv[i]";
 * without, m_lv[i] is the whole label set (`mode="jwt",reason="expired"`)
 * for counters with several labels.  A line whose m_on says the feature
 * is off is left out: a metric of something not running is absent, never
 * a fake zero.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "counters.h"
#include "metrics.h"
#include "resil.h"
#include "waf.h"

/* ------------------------------------------------------- path_pattern */

/* The next segment of s (from *pos, '/' separated); 0 at the end. */
static int
seg_next(const char *s, size_t len, size_t *pos, const char **sp,
    size_t *sl)
{
	size_t	 i = *pos;

	while (i < len && s[i] == '/')
		i++;
	if (i >= len)
		return (0);
	*sp = s + i;
	while (i < len && s[i] != '/')
		i++;
	*sl = (size_t)(s + i - *sp);
	*pos = i;
	return (1);
}

static int
pat_match(const char *pat, struct vw_str path)
{
	size_t		 pp = 0, xp = 0, plen = strlen(pat), pl, xl;
	const char	*ps, *xs;
	int		 hp, hx;

	for (;;) {
		hp = seg_next(pat, plen, &pp, &ps, &pl);
		hx = seg_next(path.p, path.len, &xp, &xs, &xl);
		if (!hp || !hx)
			return (hp == hx);
		if (ps[0] == ':')
			continue;
		if (pl != xl || memcmp(ps, xs, pl) != 0)
			return (0);
	}
}

int
metrics_path_index(const struct strlist *pats, struct vw_str path)
{
	const char	*q;
	size_t		 i;

	if (path.p == NULL)
		return (CTR_PATHS - 1);
	if ((q = memchr(path.p, '?', path.len)) != NULL)
		path.len = (size_t)(q - path.p);
	for (i = 0; i < pats->n && i < CTR_PATTERNS_MAX; i++)
		if (pat_match(pats->v[i], path))
			return ((int)i);
	return (CTR_PATHS - 1);
}

/* ------------------------------------------------------------- buffer */

struct mbuf {
	char	*b;
	size_t	 len, cap;
	int	 oom;
};

static void
mb_printf(struct mbuf *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mb_printf(struct mbuf *m, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*nb;

	for (;;) {
		if (m->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(m->b + m->len, m->cap - m->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->oom = 1;
			return;
		}
		if ((size_t)n < m->cap - m->len) {
			m->len += (size_t)n;
			return;
		}
		if ((nb = realloc(m->b, m->cap * 2 + (size_t)n)) == NULL) {
			m->oom = 1;
			return;
		}
		m->b = nb;
		m->cap = m->cap * 2 + (size_t)n;
	}
}

/* A label value with \, " and newline escaped (the format's rule). */
static const char *
esc(const char *s, char *buf, size_t len)
{
	size_t	 o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else
			buf[o++] = *s;
	}
	buf[o] = '\0';
	return (buf);
}

/* ------------------------------------------------------------ the table */

enum mkind { MK_COUNTER, MK_GAUGE };

struct metric {
	const char		*m_name;
	enum mkind		 m_kind;
	const char		*m_help;
	size_t			 m_off;		/* in struct vw_counters */
	int			 m_n;		/* values (label values) */
	const char		*m_label;	/* label name, or NULL */
	const char *const	*m_lv;		/* m_n label values (sets) */
	int			(*m_on)(const struct config *);
};

#define CTR(f)	offsetof(struct vw_counters, f)

static const char *const lv_limit[] = { "ip", "user", "connections" };
static const char *const lv_tls[] = { "ok", "failed" };

static int
on_rate(const struct config *cf)
{
	return (cf->rate_limit.enabled);
}

static int
on_tls(const struct config *cf)
{
	return (cf->tls.enabled);
}

static int
on_retry(const struct config *cf)
{
	return (cf->resilience.retry.enabled);
}

static int
on_unavail(const struct config *cf)
{
	return (cf->upstream.health.enabled ||
	    cf->resilience.circuit_breaker.enabled);
}

static int
on_ipf(const struct config *cf)
{
	return (config_feature_on(cf, "ip_filter"));
}

static int
on_csrf(const struct config *cf)
{
	return (config_feature_on(cf, "csrf"));
}

static const struct metric metrics[] = {
	{ "vibewarden_rate_limit_hits_total", MK_COUNTER,
	    "Requests refused by a rate limit (429).", CTR(c_rl_hits), 3,
	    "limit_type", lv_limit, on_rate },
	{ "vibewarden_upstream_errors_total", MK_COUNTER,
	    "Requests answered 502 because the upstream failed.",
	    CTR(c_upstream_errors), 1, NULL, NULL, NULL },
	{ "vibewarden_upstream_timeouts_total", MK_COUNTER,
	    "Requests answered 504 because the upstream was too slow.",
	    CTR(c_upstream_timeouts), 1, NULL, NULL, NULL },
	{ "vibewarden_connections_total", MK_COUNTER,
	    "Client connections accepted.", CTR(c_conns_total), 1, NULL,
	    NULL, NULL },
	{ "vibewarden_active_connections", MK_GAUGE,
	    "Client connections open now.", CTR(c_conns_open), 1, NULL, NULL,
	    NULL },
	{ "vibewarden_websocket_tunnels", MK_GAUGE,
	    "WebSocket tunnels open now.", CTR(c_tunnels), 1, NULL, NULL,
	    NULL },
	{ "vibewarden_response_bytes_total", MK_COUNTER,
	    "Response payload bytes sent to clients.", CTR(c_bytes_out), 1,
	    NULL, NULL, NULL },
	{ "vibewarden_tls_handshakes_total", MK_COUNTER,
	    "TLS handshakes with clients, by result.", CTR(c_tls_handshakes),
	    2, "result", lv_tls, on_tls },
	{ "vibewarden_upstream_retries_total", MK_COUNTER,
	    "Requests sent to the upstream again, by method.", CTR(c_retries),
	    CTR_METHODS, "method", counters_method_names, on_retry },
	{ "vibewarden_upstream_unavailable_total", MK_COUNTER,
	    "Requests answered 503 without trying the upstream (health "
	    "checks, circuit breaker).", CTR(c_unavailable), 1, NULL, NULL,
	    on_unavail },
	{ "vibewarden_ip_filter_blocks_total", MK_COUNTER,
	    "Connections (closed at once) and requests (403) refused by "
	    "the IP filter.", CTR(c_ip_blocks), 1,
	    NULL, NULL, on_ipf },
	{ "vibewarden_csrf_blocks_total", MK_COUNTER,
	    "Requests refused by the CSRF check (403).", CTR(c_csrf_blocks),
	    1, NULL, NULL, on_csrf },
	{ "vibewarden_worker_restarts_total", MK_COUNTER,
	    "Workers started again after an unexpected exit.",
	    CTR(c_restarts), 1, NULL, NULL, NULL },
};

static void
render_table(struct mbuf *m, const struct config *cf,
    const struct vw_counters *sum)
{
	const struct metric	*mt;
	const char		*p;
	size_t			 i;
	int			 j;

	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		mt = &metrics[i];
		if (mt->m_on != NULL && !mt->m_on(cf))
			continue;
		mb_printf(m, "# HELP %s %s\n# TYPE %s %s\n", mt->m_name,
		    mt->m_help, mt->m_name, mt->m_kind == MK_GAUGE ? "gauge" :
		    "counter");
		p = (const char *)sum + mt->m_off;
		for (j = 0; j < mt->m_n; j++, p += sizeof(uint64_t)) {
			if (mt->m_label != NULL)
				mb_printf(m, "%s{%s=\"%s\"}", mt->m_name,
				    mt->m_label, mt->m_lv[j]);
			else if (mt->m_lv != NULL)
				mb_printf(m, "%s{%s}", mt->m_name,
				    mt->m_lv[j]);
			else
				mb_printf(m, "%s", mt->m_name);
			if (mt->m_kind == MK_GAUGE)
				mb_printf(m, " %lld\n",
				    (long long)*(const int64_t *)p);
			else
				mb_printf(m, " %llu\n", (unsigned long long)
				    *(const uint64_t *)p);
		}
	}
}

/* ------------------------------------------------- requests, durations */

static const char *
path_name(const struct config *cf, int i, char *buf, size_t len)
{
	if (i < CTR_PATHS - 1 && (size_t)i < cf->telemetry.path_patterns.n)
		return (esc(cf->telemetry.path_patterns.v[i], buf, len));
	return ("other");
}

static void
render_http(struct mbuf *m, const struct config *cf,
    const struct vw_ctr_http *h)
{
	char		 pb[512];
	const char	*pn;
	uint64_t	 cum, n;
	int		 mi, pi, si, b;

	mb_printf(m, "# HELP vibewarden_requests_total Requests answered, "
	    "by method, status code and normalised path.\n"
	    "# TYPE vibewarden_requests_total counter\n");
	for (mi = 0; mi < CTR_METHODS; mi++)
		for (pi = 0; pi < CTR_PATHS; pi++)
			for (si = 0; si < CTR_STATUSES; si++) {
				if ((n = h->h_req[mi][pi][si]) == 0)
					continue;
				pn = path_name(cf, pi, pb, sizeof(pb));
				mb_printf(m, "vibewarden_requests_total{"
				    "method=\"%s\",status_code=\"%s\","
				    "path_pattern=\"%s\"} %llu\n",
				    counters_method_names[mi],
				    counters_status_names[si], pn,
				    (unsigned long long)n);
			}
	mb_printf(m, "# HELP vibewarden_request_duration_seconds Time from "
	    "the request's arrival to its answer.\n"
	    "# TYPE vibewarden_request_duration_seconds histogram\n");
	for (mi = 0; mi < CTR_METHODS; mi++)
		for (pi = 0; pi < CTR_PATHS; pi++) {
			for (n = 0, b = 0; b < CTR_BUCKETS; b++)
				n += h->h_dur[mi][pi][b];
			if (n == 0)
				continue;
			pn = path_name(cf, pi, pb, sizeof(pb));
			for (cum = 0, b = 0; b < CTR_BUCKETS; b++) {
				cum += h->h_dur[mi][pi][b];
				if (b < CTR_BUCKETS - 1)
					mb_printf(m, "vibewarden_request_"
					    "duration_seconds_bucket{method="
					    "\"%s\",path_pattern=\"%s\",le="
					    "\"%g\"} %llu\n",
					    counters_method_names[mi], pn,
					    counters_bucket_ms[b] / 1000.0,
					    (unsigned long long)cum);
				else
					mb_printf(m, "vibewarden_request_"
					    "duration_seconds_bucket{method="
					    "\"%s\",path_pattern=\"%s\",le="
					    "\"+Inf\"} %llu\n",
					    counters_method_names[mi], pn,
					    (unsigned long long)cum);
			}
			mb_printf(m, "vibewarden_request_duration_seconds_sum{"
			    "method=\"%s\",path_pattern=\"%s\"} %.3f\n"
			    "vibewarden_request_duration_seconds_count{"
			    "method=\"%s\",path_pattern=\"%s\"} %llu\n",
			    counters_method_names[mi], pn,
			    h->h_dur_ms[mi][pi] / 1000.0,
			    counters_method_names[mi], pn,
			    (unsigned long long)n);
		}
}

/* vibewarden_waf_detections_total{rule,mode} (the original's labels). */
static void
render_waf(struct mbuf *m, const struct config *cf,
    const struct vw_counters *sum)
{
	const char	*name;
	int		 i, j, n = waf_rule_count();

	if (!cf->waf.enabled)
		return;
	mb_printf(m, "# HELP vibewarden_waf_detections_total Requests the WAF "
	    "matched, by rule and mode (detect or block).\n"
	    "# TYPE vibewarden_waf_detections_total counter\n");
	for (i = 0; i < 2; i++)
		for (j = 0; j < n && j < CTR_WAF_RULES; j++)
			if (sum->c_waf[i][j] != 0 &&
			    (name = waf_rule_name(j)) != NULL)
				mb_printf(m, "vibewarden_waf_detections_total{"
				    "rule=\"%s\",mode=\"%s\"} %llu\n", name,
				    i ? "block" : "detect",
				    (unsigned long long)sum->c_waf[i][j]);
}

/* vibewarden_auth_decisions_total{mode,decision,reason}, when auth is on. */
static void
render_auth(struct mbuf *m, const struct config *cf,
    const struct vw_counters *sum)
{
	static const char *const modes[4] = { "none", "kratos", "jwt",
	    "api-key" };
	int	 i, j;

	if (!config_feature_on(cf, "auth"))
		return;
	mb_printf(m, "# HELP vibewarden_auth_decisions_total Requests let in "
	    "with an identity, and refused, by auth.mode and reason.\n"
	    "# TYPE vibewarden_auth_decisions_total counter\n");
	for (i = 1; i < 4; i++)
		for (j = 0; j < CTR_AUTH_REASONS; j++)
			if (sum->c_auth[i][j] != 0 || (i == (int)cf->auth.mode &&
			    j == 0))
				mb_printf(m, "vibewarden_auth_decisions_total{"
				    "mode=\"%s\",decision=\"%s\",reason=\"%s\"} "
				    "%llu\n", modes[i], j == 0 ? "allow" :
				    "deny", counters_auth_reasons[j],
				    (unsigned long long)sum->c_auth[i][j]);
}

/* The resilience record (counters.h) shared with the health prober. */
static void
render_resil(struct mbuf *m, const struct config *cf)
{
	struct resil_health	 h;

	if (cf->resilience.circuit_breaker.enabled)
		mb_printf(m, "# HELP vibewarden_circuit_breaker_state The "
		    "upstream circuit breaker: 0 closed, 1 open, 2 half-open.\n"
		    "# TYPE vibewarden_circuit_breaker_state gauge\n"
		    "vibewarden_circuit_breaker_state %d\n", resil_cb_state());
	if (!cf->upstream.health.enabled)
		return;
	resil_health_read(&h);
	mb_printf(m, "# HELP vibewarden_health_probes_total Health probes "
	    "sent to the upstream.\n"
	    "# TYPE vibewarden_health_probes_total counter\n"
	    "vibewarden_health_probes_total %llu\n",
	    (unsigned long long)h.rh_probes);
	/* No verdict yet: no sample rather than a guess. */
	if (h.rh_state == HS_HEALTHY || h.rh_state == HS_UNHEALTHY)
		mb_printf(m, "# HELP vibewarden_upstream_healthy The health "
		    "checks' verdict: 1 healthy, 0 unhealthy.\n"
		    "# TYPE vibewarden_upstream_healthy gauge\n"
		    "vibewarden_upstream_healthy %d\n",
		    h.rh_state == HS_HEALTHY);
}

char *
metrics_render(const struct config *cf, const struct vw_counters *base,
    const struct vw_ctr_http *hbase, const struct metrics_extra *ex,
    size_t *len)
{
	struct mbuf		 m;
	struct vw_counters	 sum;
	struct vw_ctr_http	*h;

	memset(&m, 0, sizeof(m));
	m.cap = 16384;
	if ((m.b = malloc(m.cap)) == NULL)
		return (NULL);
	m.b[0] = '\0';
	if ((h = malloc(sizeof(*h))) == NULL) {
		free(m.b);
		return (NULL);
	}
	counters_sum(base, &sum);
	counters_http_sum(base, hbase, h);
	render_http(&m, cf, h);
	free(h);
	render_table(&m, cf, &sum);
	render_auth(&m, cf, &sum);
	render_waf(&m, cf, &sum);
	render_resil(&m, cf);
	if (ex != NULL && ex->me_have_shm)
		mb_printf(&m, "# HELP vibewarden_shm_used_bytes Bytes of the "
		    "shared-state map in use.\n"
		    "# TYPE vibewarden_shm_used_bytes gauge\n"
		    "vibewarden_shm_used_bytes %llu\n"
		    "# HELP vibewarden_shm_size_bytes Size of the shared-state "
		    "map (shm.map_size).\n"
		    "# TYPE vibewarden_shm_size_bytes gauge\n"
		    "vibewarden_shm_size_bytes %llu\n",
		    (unsigned long long)ex->me_shm_used,
		    (unsigned long long)ex->me_shm_size);
	if (ex != NULL && ex->me_start_time > 0)
		mb_printf(&m, "# HELP process_start_time_seconds Start time "
		    "of the master process since the Unix epoch.\n"
		    "# TYPE process_start_time_seconds gauge\n"
		    "process_start_time_seconds %.2f\n"
		    "# HELP process_cpu_seconds_total CPU time of the master "
		    "process.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.2f\n"
		    "# HELP process_resident_memory_bytes Resident memory of the "
		    "master process.\n"
		    "# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes %llu\n"
		    "# HELP process_virtual_memory_bytes Virtual memory of the "
		    "master process.\n"
		    "# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes %llu\n", ex->me_start_time,
		    ex->me_cpu_seconds, (unsigned long long)ex->me_rss_bytes,
		    (unsigned long long)ex->me_vsize_bytes);
	if (m.oom) {
		free(m.b);
		return (NULL);
	}
	*len = m.len;
	return (m.b);
}
