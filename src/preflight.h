/*
 * preflight.h: what start-up would find wrong on this system with a
 * configuration that loaded fine (accounts, directories, addresses).
 * Run by vibewarden -t, at start-up and before a reload starts a new
 * generation, so -t fails on what start-up would fail on.  Master only.
 */
#ifndef VW_PREFLIGHT_H
#define VW_PREFLIGHT_H

#include "config.h"

/*
 * Check cf against this system; pidfile (NULL: none) is -p's file,
 * daemon says -d.  Every problem is appended to d, placed at the key it
 * concerns.  Returns the number of errors added (warnings do not count).
 * May block in the resolver: never call it from a worker.
 */
int	 preflight(const struct config *cf, const char *pidfile, int daemon,
	    struct cfg_diags *d);

#endif /* VW_PREFLIGHT_H */
