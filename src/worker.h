/*
 * worker.h: the per-worker state shared by the worker's modules, and
 * worker_main().  A worker owns one epoll loop; all workers accept on the
 * listening socket the master bound.  Worker only.
 */
#ifndef VW_WORKER_H
#define VW_WORKER_H

#include <sys/socket.h>

#include <signal.h>

#include "cidr.h"
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
	TQ_POOLX,	/* idle upstream connections beyond POOL_KEEP */
	TQ_WSIDLE,	/* server.websocket_idle_timeout (0: off) */
	TQ_DRAIN,	/* idle keep-alive grace while draining */
	TQ_LINGER,	/* lingering close: discard client bytes */
	TQ_ACCEPT,	/* accept paused (EMFILE), share re-check */
	TQ_READ,	/* server.read_timeout: whole request -> 408 */
	TQ_SHARE,	/* accept left to other workers: look again */
	TQ_BACKOFF,	/* resilience.retry waits (timer_set_at) */
	TQ_H2TRIM,	/* idle HTTP/2 session: its frame buffer's pages */
	TQ_N
};
_Static_assert(TQ_N <= EV_MAXQUEUES, "more timer queues than ev.c scans");

struct worker {
	const struct config	*w_conf;
	int			 w_slot;	/* counters slot */
	int			 w_draining;
	struct tqueue		 w_q[TQ_N];
	struct sockaddr_storage	 w_up;		/* upstream address */
	socklen_t		 w_uplen;
	struct conn		*w_conns;	/* all client connections */
	unsigned		 w_nconns;
	unsigned		 w_nstreams;	/* HTTP/2 stream conns */
	struct upconn		*w_pool;	/* idle upstream connections */
	unsigned		 w_npool;
	const char		*w_scheme;	/* X-Forwarded-Proto */
	const struct cidrset	*w_trusted;	/* server.trusted_proxies */
	const struct endp_ops	*w_client_ops;	/* plain or TLS (tls.c) */
	const struct endp_ops	*w_upstream_ops;
	char			 w_hostname[300]; /* Host for HTTP/1.0 requests
						   without one */
	struct vw_counters	*w_ctr;		/* this worker's slot */
	int			 w_accept_logged; /* EMFILE reported; reset by
						   the next accept */
	size_t			 w_heapin;	/* bytes of client buffers grown
						   for held bodies (HOLD_BUDGET) */
	/*
	 * Fairness: what one connection may still do in this wake-up, in
	 * bytes read (a request counts as WORK_REQ).  At 0 it yields and
	 * waits in the ready list for the next turn of the loop, so one
	 * busy client cannot starve the others or the timers.
	 */
	ssize_t			 w_budget;
	unsigned		 w_maxconns;	/* server.max_connections, as
						   the open files limit allows */
};

#define WORK_BUDGET	(256 * 1024)	/* per connection and wake-up */
#define WORK_REQ	(8 * 1024)	/* the cost of one request */

extern struct worker W;

/*
 * Readiness.  A worker that has dropped privileges, set up its loop and
 * added the listener writes a struct worker_report with wr_ok 1 to
 * worker_readyfd, a pipe the master reads; the master lets the old
 * generation go only once every new worker has.  A worker whose start-up
 * fails writes wr_ok 0 and why, which config.reload_failed quotes.  One
 * record is one write of less than PIPE_BUF: atomic.  A pipe, not a
 * signal: a worker that dropped root may not signal its root master.
 * The master has the kernel raise WORKER_SIG_READY when the pipe turns
 * readable (F_SETSIG), to wake its sigtimedwait().  A new master started
 * by SIGUSR2 runs as the old one's user and kill()s it with the same
 * signal once its own workers are ready.
 */
#define WORKER_SIG_READY	(SIGRTMIN + 1)
extern int	 worker_readyfd;

struct worker_report {
	pid_t		 wr_pid;
	int		 wr_ok;		/* 1 ready; 0 start-up failed */
	char		 wr_why[120];	/* wr_ok 0: the reason */
};

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
/* 1 when this worker may take a new connection now (hard limits). */
int	 worker_may_accept(void);
/*
 * Add or remove the listener as the limits and the balance between
 * workers say; drained: accept() just found the queue empty.
 */
void	 worker_accept_update(int drained);
/* A client connection closed: maybe accept again. */
void	 worker_conn_closed(void);
/* The master's PID: a worker whose parent differs has been orphaned. */
extern pid_t	 worker_parent;
/* server.http_redirect_port's listener, set by the master; -1: none. */
extern int	 worker_redirect_fd;
void	 conn_run(struct conn *cn);
/* 1 when connections yielded and wait to run again (conn_run_ready). */
int	 conn_have_ready(void);
/* Run each connection that yielded its turn once more. */
void	 conn_run_ready(void);
void	 conn_close(struct conn *cn, const char *reason);
void	 conn_drain_idle(void);
/* HTTP/2 (h2.c): a conn for one stream of parent, on endpoint ops/arg. */
struct endp_ops;
struct conn	*conn_new_stream(struct conn *parent,
		    const struct endp_ops *ops, void *arg);
/* Run cn in this loop turn (after the events). */
void	 conn_wake(struct conn *cn);
/* An HTTP/2 connection done after its GOAWAY: lingering close. */
void	 conn_h2_linger(struct conn *cn);
/* An HTTP/2 connection's timer: 0 none, 1 idle, 2 write, 3 header. */
void	 conn_h2_timer(struct conn *cn, int which);
/* The request's body has been read whole: its read deadline is met. */
void	 conn_request_read(struct conn *cn);
/*
 * Give cn's client buffer room for cap bytes from its first unconsumed
 * one: a fresh heap buffer that takes the unconsumed bytes.  The buffer
 * that held the request head stays alive (parked) until the request
 * ends, so the parsed head keeps pointing into valid memory.  0 or -1.
 */
int	 conn_grow_inbuf(struct conn *cn, size_t cap);
/* Replace the exchange with rq's own (error) response. */
void	 conn_own_response(struct conn *cn);
/* Emit cn's request event now (once); e.g. when a tunnel opens. */
void	 conn_log_request(struct conn *cn);
/* Log ip_filter.blocked for a peer closed right after accept. */
void	 log_peer_refused(const struct ipaddr *peer);

#endif /* VW_WORKER_H */
