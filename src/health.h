/*
 * health.h: the upstream health prober, a helper process (helper.h) that
 * publishes its verdict in the shared struct vw_resil (counters.h).
 * Helper process only: it blocks, within upstream.health.timeout.
 */
#ifndef VW_HEALTH_H
#define VW_HEALTH_H

#include <stddef.h>

#include "config.h"

/* helper_kind: wanted when upstream.health.enabled. */
int	 health_wanted(const struct config *cf);

/* helper_kind: probe every interval until helper_stopping(). */
void	 health_main(const struct config *cf);

/*
 * One probe: GET upstream.health.path.  0 for a 2xx or 3xx answer within
 * upstream.health.timeout; -1 otherwise, with the reason in err.
 */
int	 health_probe(const struct config *cf, char *err, size_t elen);

#endif /* VW_HEALTH_H */
