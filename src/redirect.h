/*
 * redirect.h: the plain-HTTP listener of server.http_redirect_port: 308 to
 * the https URL of the same host and target, never the upstream.  Worker
 * only.
 */
#ifndef VW_REDIRECT_H
#define VW_REDIRECT_H

/*
 * Accept on the listening socket fd (shared with the other workers, made
 * by the master) in this worker's event loop.  0, or -1 with errno.
 */
int	 redirect_listen(int fd);

/* Stop accepting and close the listener (drain); no-op when not started. */
void	 redirect_stop(void);

#endif /* VW_REDIRECT_H */
