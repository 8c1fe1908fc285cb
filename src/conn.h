/*
 * conn.h: connections of a worker.  A struct endp is one non-blocking
 * socket with its read buffer and readiness flags; recv/writev go through
 * function pointers so TLS slots in under the same interface.  struct conn
 * is a client connection, struct upconn an upstream one.  Worker only.
 */
#ifndef VW_CONN_H
#define VW_CONN_H

#include <sys/types.h>
#include <sys/uio.h>

#include <stdint.h>

#include "ev.h"

struct buf {
	char		*b_data;	/* NULL while the owner is idle */
	size_t		 b_start;	/* first unconsumed byte */
	size_t		 b_end;		/* one past the last byte read */
	size_t		 b_cap;
};

struct endp;
struct endp_ops {
	/* read(2)/writev(2) semantics; -1 with errno EAGAIN when not ready */
	ssize_t	(*eo_recv)(struct endp *, void *, size_t);
	ssize_t	(*eo_writev)(struct endp *, const struct iovec *, int);
	/* Half-close: no more bytes from us (tunnels). */
	void	(*eo_shutdown)(struct endp *);
	/* Release the transport and close the socket. */
	void	(*eo_close)(struct endp *);
	/*
	 * 1 once the transport is set up (TLS: its handshake done).  Until
	 * then an upstream connection is still connecting, for its timeout.
	 */
	int	(*eo_established)(const struct endp *);
};

struct endp {
	struct ev_io		 ep_io;
	const struct endp_ops	*ep_ops;
	void			*ep_tls;	/* transport state (tls.c) */
	struct buf		 ep_in;
	unsigned		 ep_readable:1;	/* may have bytes (ET) */
	unsigned		 ep_writable:1;	/* may accept bytes (ET) */
	unsigned		 ep_eof:1;	/* peer closed its side */
	unsigned		 ep_rdhup:1;	/* peer announced its close
						   (EPOLLRDHUP): not reusable */
	unsigned		 ep_urg:1;	/* TCP urgent data seen
						   (EPOLLPRI): a read may stop
						   at its mark, short though
						   more is queued */
	unsigned		 ep_err:1;	/* socket error */
	unsigned		 ep_rwantw:1;	/* reading waits for the socket
						   to be writable (TLS) */
	unsigned		 ep_wwantr:1;	/* writing waits for the socket
						   to be readable (TLS) */
};

extern const struct endp_ops endp_plain_ops;

/*
 * Read what fits into ep->ep_in (compacting it first).  Returns bytes
 * read (> 0), 0 on EOF (ep_eof set), -1 when nothing is available now or
 * on error (ep_err set), or -2 when the buffer is full.
 */
ssize_t	 endp_fill(struct endp *ep);

/*
 * Set readiness flags from epoll events.  A transport whose read waits
 * for writability (or the reverse) sets ep_rwantw (ep_wwantr): that
 * edge then also wakes the other direction.
 */
void	 endp_events(struct endp *ep, uint32_t events);

/* Buffered bytes not yet consumed. */
static inline size_t
buf_avail(const struct buf *b)
{
	return (b->b_end - b->b_start);
}

/*
 * Block pool: fixed-size buffers recycled within a worker so a request
 * costs no malloc once the worker is warm.  Sizes are set once per
 * generation by conn_pool_init().
 */
void	*blk_get(int cls);
void	 blk_put(int cls, void *);
#define BLK_CLIENT	0	/* client read buffer: max_header_bytes */
#define BLK_UPSTREAM	1	/* upstream read buffer */
#define BLK_REQ		2	/* struct req + arena + head buffers */
#define BLK_H2OUT	3	/* an HTTP/2 stream's answer body (h2.c) */
#define BLK_NCLASS	4
void	 blk_init(const size_t sizes[BLK_NCLASS]);
/* Free cached blocks beyond keep per class (after a burst). */
void	 blk_trim(size_t keep);
size_t	 blk_size(int cls);

#endif /* VW_CONN_H */
