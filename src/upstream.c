/*
 * upstream.c: connections to the application and the per-worker
 * keep-alive pool (see upstream.h).  Idle pooled connections stay in the
 * epoll set: any event on one (the application closed it) closes it here,
 * so a dead connection is rarely handed out; proxy.c retries the rare one
 * that dies in flight.  Worker only; non-blocking connects only.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

/*
 * Idle connections kept per worker.  POOL_KEEP of them wait up to 30 s
 * for a request (TQ_POOL), like nginx's "keepalive N".  Beyond that, up
 * to as many as may be in use at once wait 2 s (TQ_POOLX): an HTTP/2
 * client with 640 streams in flight finishes and starts them in bursts,
 * and with a hard cap of 256, 17 % of its requests paid for a new
 * connection, closed a moment before the next burst.  A burst that ends
 * does not hold the application's connection slots for long: its extra
 * connections are gone two seconds later.  Every upstream connection was
 * opened for a request in progress, and those are bounded by
 * server.max_connections (streams included), so the pool never holds
 * more descriptors than max_conns() in worker.c budgets.
 */
#define POOL_KEEP	256
#define POOL_CAP	(W.w_maxconns)

static void
up_io_cb(struct ev_io *io, uint32_t events)
{
	struct upconn	*up = (struct upconn *)io;

	if (up->up_state == UP_DEAD)
		return;
	if (up->up_state == UP_IDLE) {
		/* Data or EOF on an idle connection: it is unusable. */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			up_close(up, "closed while idle");
		return;
	}
	endp_events(&up->up_ep, events);
	if (up->up_owner != NULL)
		conn_run(up->up_owner);
}

static void
pool_unlink(struct upconn *up)
{
	if (up->up_prev)
		up->up_prev->up_next = up->up_next;
	else
		W.w_pool = up->up_next;
	if (up->up_next)
		up->up_next->up_prev = up->up_prev;
	up->up_prev = up->up_next = NULL;
	W.w_npool--;
}

static int
take_inbuf(struct upconn *up)
{
	struct buf	*b = &up->up_ep.ep_in;

	if ((b->b_data = blk_get(BLK_UPSTREAM)) == NULL)
		return (-1);
	b->b_cap = blk_size(BLK_UPSTREAM);
	b->b_start = b->b_end = 0;
	return (0);
}

/* 1 when a pooled connection has nothing queued (no FIN, no bytes). */
static int
still_open(struct upconn *up)
{
	char	 c;
	ssize_t	 n;

	n = recv(up->up_ep.ep_io.io_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return (n == -1 && (errno == EAGAIN || errno == EINTR));
}

struct upconn *
up_acquire(struct conn *cn, int check)
{
	struct upconn	*up;
	int		 fd, one = 1, err;

	/*
	 * The application's FIN may sit in this very event batch, unseen:
	 * a request that can be retried finds out by trying; one that
	 * cannot pays a peek.
	 */
	while ((up = W.w_pool) != NULL && check && !still_open(up))
		up_close(up, "closed while idle");
	if ((up = W.w_pool) != NULL) {
		pool_unlink(up);
		timer_del(&up->up_timer);
		if (take_inbuf(up) == -1) {
			up_close(up, "out of memory");
			return (NULL);
		}
		up->up_state = UP_ACTIVE;
		up->up_nreq++;
		up->up_ep.ep_writable = 1;
		return (up);
	}
	if ((up = calloc(1, sizeof(*up))) == NULL)
		return (NULL);
	fd = socket(W.w_up.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		err = errno;
		free(up);
		errno = err;	/* EMFILE tells the caller what went wrong */
		return (NULL);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	up->up_ep.ep_io.io_fd = fd;
	up->up_ep.ep_io.io_cb = up_io_cb;
	up->up_ep.ep_ops = W.w_upstream_ops;
	up->up_nreq = 1;
	if (take_inbuf(up) == -1 || ev_add(&up->up_ep.ep_io) == -1)
		goto fail;
	if (connect(fd, (struct sockaddr *)&W.w_up, W.w_uplen) == 0) {
		up->up_state = UP_ACTIVE;
		up->up_ep.ep_writable = 1;
	} else if (errno == EINPROGRESS)
		up->up_state = UP_CONNECTING;
	else
		goto fail;
	return (up);
 fail:
	err = errno;
	blk_put(BLK_UPSTREAM, up->up_ep.ep_in.b_data);
	close(fd);
	free(up);
	errno = err;
	return (NULL);
}

int
up_connect_result(struct upconn *up)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(up->up_ep.ep_io.io_fd, SOL_SOCKET, SO_ERROR, &err,
	    &len) == -1)
		return (-1);
	if (err != 0) {
		errno = err;
		return (-1);
	}
	return (0);
}

/*
 * 1 when nothing is waiting, so the connection may be pooled: no bytes
 * left in our buffer (a response longer than its framing said) or in
 * OpenSSL's, and none on the socket.  Edge-triggered epoll reports
 * anything that arrives after the last epoll_wait() as a new event (an
 * idle connection is then closed by up_io_cb), and a FIN that came before
 * it shows as EPOLLRDHUP in that event.  What stays unseen is data queued
 * behind a read that filled the buffer, or that arrived while the
 * connection was still in use: only then is a peek needed, so the common
 * case (the answer's last read came up short) costs no syscall.
 */
static int
quiet(struct upconn *up)
{
	char	 c;
	ssize_t	 n;

	if (up->up_ep.ep_rdhup || up->up_ep.ep_eof || up->up_ep.ep_err ||
	    buf_avail(&up->up_ep.ep_in) > 0)
		return (0);
	/* Over TLS, bytes may wait inside OpenSSL (a record read ahead
	   behind the answer's). */
	if (up->up_ep.ep_tls != NULL && tls_pending(&up->up_ep))
		return (0);
	/*
	 * A read that came up short cleared ep_readable (endp_fill(),
	 * tls_recv()); set, it means a full read, or an event that came
	 * after the last read (bytes the application sent while the answer
	 * still waited in our buffers for a slow client).
	 */
	if (!up->up_ep.ep_readable)
		return (1);
	n = recv(up->up_ep.ep_io.io_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		up->up_ep.ep_readable = 0;
		return (1);
	}
	return (0);
}

void
up_release(struct upconn *up)
{
	if (W.w_npool >= POOL_CAP || !quiet(up)) {
		up_close(up, "not reusable");
		return;
	}
	blk_put(BLK_UPSTREAM, up->up_ep.ep_in.b_data);
	up->up_ep.ep_in.b_data = NULL;
	up->up_ep.ep_in.b_start = up->up_ep.ep_in.b_end = 0;
	up->up_state = UP_IDLE;
	up->up_owner = NULL;
	up->up_next = W.w_pool;
	up->up_prev = NULL;
	if (W.w_pool)
		W.w_pool->up_prev = up;
	W.w_pool = up;
	W.w_npool++;
	timer_set(&up->up_timer, &W.w_q[W.w_npool > POOL_KEEP ? TQ_POOLX :
	    TQ_POOL], up->up_timer.t_cb);
}

void
up_close(struct upconn *up, const char *reason)
{
	if (up->up_state == UP_DEAD)
		return;
	if (log_enabled(LOG_LVL_DEBUG))
		log_sys(LOG_LVL_DEBUG, "upstream.closed", "%s", reason);
	if (up->up_state == UP_IDLE)
		pool_unlink(up);
	timer_del(&up->up_timer);
	blk_put(BLK_UPSTREAM, up->up_ep.ep_in.b_data);
	up->up_ep.ep_in.b_data = NULL;
	up->up_ep.ep_ops->eo_close(&up->up_ep);
	up->up_state = UP_DEAD;
	ev_defer_free(up);
}

void
up_pool_flush(void)
{
	while (W.w_pool != NULL)
		up_close(W.w_pool, "flush");
}
