/*
 * helper.h: helper processes of the master: the admin process and the
 * background jobs of DESIGN.md (ACME, JWKS refresh, health probes).
 *
 * The master forks one process per kind whose hk_wanted() says yes, once
 * a generation's workers are all ready; respawns it with the workers'
 * crash-loop back-off when it dies; and sends it SIGTERM when the
 * generation ends (a reload starts a new one beside it, so a helper that
 * binds a port must allow a second binder for a moment).  hk_main() runs
 * as root when the master is root: it calls helper_drop_privileges() once
 * it has done what needs root.  It owns a counter slot (counters.h) and
 * opens shm/ itself, after fork, as LMDB requires.
 */
#ifndef VW_HELPER_H
#define VW_HELPER_H

#include <stdint.h>

#include "config.h"

struct helper_kind {
	const char	*hk_name;	/* process title, log events */
	int		(*hk_wanted)(const struct config *);
	void		(*hk_main)(const struct config *);	/* returns once
							   helper_stopping() */
};

#define HELPER_MAX	8

/* The kinds, NULL-terminated (helper.c): a new kind is one line there. */
extern const struct helper_kind	 helper_kinds[];

/* In the child after fork: run hk; never returns (exit 0, or 2). */
void	 helper_run(const struct helper_kind *hk, const struct config *cf,
	    int slot) __attribute__((noreturn));

/* SIGTERM, SIGINT or SIGQUIT has arrived. */
int	 helper_stopping(void);

/* Sleep ms, or less when a stop signal arrives. */
void	 helper_sleep(uint64_t ms);

/* Become server.user (and server.group) for good; 0, or -1 logged. */
int	 helper_drop_privileges(const struct config *cf);

/* This helper's counter slot (counters.h), or -1. */
int	 helper_slot(void);

#endif /* VW_HELPER_H */
