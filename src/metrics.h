/*
 * metrics.h: the Prometheus text exposition (format 0.0.4) of the counter
 * segment (counters.h), and the path normalisation of its labels.  The
 * workers use metrics_path_index() per request (no I/O, no allocation);
 * the admin process renders.
 */
#ifndef VW_METRICS_H
#define VW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vwstr.h"

struct config;
struct strlist;
struct vw_counters;
struct vw_ctr_http;

/*
 * Index of the first telemetry.path_patterns entry that path matches
 * (segments compared after trimming '/' at both ends; ":name" matches any
 * one segment; the query, if any, is ignored), or CTR_PATHS - 1 (other).
 */
int	 metrics_path_index(const struct strlist *pats, struct vw_str path);

/* What the renderer needs beyond the segment. */
struct metrics_extra {
	int		 me_have_shm;	/* me_shm_* valid */
	uint64_t	 me_shm_used;
	uint64_t	 me_shm_size;
	/* process_* of the master (0 start time: unknown, left out). */
	double		 me_start_time;	/* s since the epoch */
	double		 me_cpu_seconds;
	uint64_t	 me_rss_bytes;
	uint64_t	 me_vsize_bytes;
};

/*
 * The exposition of the segment (base, hbase: CTR_SLOTS slots each) for
 * configuration cf, in a malloc'ed NUL-terminated buffer (*len bytes);
 * NULL when out of memory.
 */
char	*metrics_render(const struct config *cf,
	    const struct vw_counters *base, const struct vw_ctr_http *hbase,
	    const struct metrics_extra *ex, size_t *len);

#endif /* VW_METRICS_H */
