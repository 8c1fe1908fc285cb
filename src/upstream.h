/*
 * upstream.h: connections to the application, with a keep-alive pool per
 * worker.  Connects are non-blocking to an address resolved by the master
 * (no DNS in a worker).  Worker only.
 */
#ifndef VW_UPSTREAM_H
#define VW_UPSTREAM_H

#include "req.h"

/*
 * A connection for cn: an idle pooled one (up_nreq > 1) or a new one in
 * UP_CONNECTING.  check: the request cannot be re-sent if the connection
 * turns out dead (RFC 9110 9.2.2), so a pooled one is verified first.
 * NULL when no socket could be made (errno set).
 */
struct upconn	*up_acquire(struct conn *cn, int check);

/* Return a healthy connection to the idle pool. */
void		 up_release(struct upconn *up);

/* Close and forget up (deferred free); reason is for debug logs. */
void		 up_close(struct upconn *up, const char *reason);

/* Close every idle pooled connection (drain, exit). */
void		 up_pool_flush(void);

/*
 * 0 when a non-blocking connect finished, -1 with errno when it failed.
 */
int		 up_connect_result(struct upconn *up);

#endif /* VW_UPSTREAM_H */
