/*
 * master.h: the master process (DESIGN.md "Processes"): binds, forks and
 * supervises workers, reloads on SIGHUP.  It never reads a client byte.
 */
#ifndef VW_MASTER_H
#define VW_MASTER_H

#include <sys/socket.h>

#include "config.h"

struct master_opts {
	const char	*mo_cfpath;	/* NULL: the default path */
	int		 mo_daemonize;
	const char	*mo_pidfile;	/* NULL: none (foreground) */
	char *const	*mo_argv;	/* a copy of argv, for SIGUSR2 */
};

/*
 * Run until stopped.  Takes ownership of cf.  Returns the exit status:
 * 0 after a clean stop, 2 when start-up failed (bind, files).
 */
int	 master_main(struct config *cf, const struct master_opts *mo);

/*
 * Resolve host:port numerically or through the resolver (master only:
 * workers never resolve).  0 or -1 with *errstr set.
 */
int	 master_resolve(const char *host, int port, struct sockaddr_storage *ss,
	    socklen_t *len, const char **errstr);

#endif /* VW_MASTER_H */
