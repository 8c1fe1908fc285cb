/*
 * worker.h: the per-worker state shared by the worker's modules, and
 * worker_main().  A worker owns one epoll loop; all workers accept on the
 * listening socket the master bound.  Worker only.
 */
#ifndef VW_WORKER_H
#define VW_WORKER_H

#include <sys/socket.h>

#include "config.h"
#include "ev.h"
#include "req.h"

enum tq {
	TQ_HEADER,	/* server.header_timeout -> 408 */
	TQ_BODY,	/* server.body_timeout -> 408 */
	TQ_IDLE,	/* server.idle_timeout: keep-alive */
	TQ_WRITE,	/* server.write_timeout: client not reading */
	TQ_CONNECT,	/* upstream.connect_timeout -> 502 */
	TQ_RESPONSE,	/* resilience.timeout -> 504 */
	TQ_POOL,	/* idle upstream connections */
	TQ_WSIDLE,	/* server.websocket_idle_timeout (0: off) */
	TQ_DRAIN,	/* idle keep-alive grace while draining */
	TQ_LINGER,	/* lingering close: discard client bytes */
	TQ_ACCEPT,	/* accept paused (EMFILE) */
	TQ_N
};

struct worker {
	const struct config	*w_conf;
	int			 w_slot;	/* counters slot */
	int			 w_draining;
	struct tqueue		 w_q[TQ_N];
	struct sockaddr_storage	 w_up;		/* upstream address */
	socklen_t		 w_uplen;
	struct conn		*w_conns;	/* all client connections */
	unsigned		 w_nconns;
	struct upconn		*w_pool;	/* idle upstream connections */
	unsigned		 w_npool;
	const char		*w_scheme;	/* X-Forwarded-Proto */
	const struct endp_ops	*w_client_ops;	/* plain or TLS (tls.c) */
	const struct endp_ops	*w_upstream_ops;
	char			 w_hostname[300]; /* Host for HTTP/1.0 requests
						   without one */
	struct vw_counters	*w_ctr;		/* this worker's slot */
	int			 w_accept_logged; /* EMFILE reported; reset by
						   the next accept */
};

extern struct worker W;

/*
 * Run a worker until it is told to stop and has drained.  lfd is the
 * listening socket, slot the index in the shared counters, up the
 * resolved upstream address.  Never returns; exits 0 after a drain.
 */
void	 worker_main(const struct config *cf, int lfd, int slot,
	    const struct sockaddr *up, socklen_t uplen) __attribute__((noreturn));

/* Client side (conn.c). */
void	 conn_accept(int lfd);
/* Stop accepting for a moment after err (EMFILE ...); logged once. */
void	 worker_pause_accept(int err);
/* The master's PID: a worker whose parent differs has been orphaned. */
extern pid_t	 worker_parent;
/* server.http_redirect_port's listener, set by the master; -1: none. */
extern int	 worker_redirect_fd;
void	 conn_run(struct conn *cn);
void	 conn_close(struct conn *cn, const char *reason);
void	 conn_drain_idle(void);
/* Replace the exchange with rq's own (error) response. */
void	 conn_own_response(struct conn *cn);
/* Emit cn's request event now (once); e.g. when a tunnel opens. */
void	 conn_log_request(struct conn *cn);

#endif /* VW_WORKER_H */
