/*
 * redis_ev.c: the hiredis event adapter over ev.h (see redis_ev.h).
 * The socket is watched level-triggered, unlike client sockets: hiredis
 * asks for write readiness only while it has output queued, and an
 * edge-triggered registration could have consumed that edge already.
 * Worker only; never blocks.
 */
#include <sys/epoll.h>

#include <stdlib.h>

#include <hiredis/async.h>

#include "ev.h"
#include "redis_ev.h"

struct rev {
	struct ev_io		 rv_io;		/* first: the ev_io callback */
	redisAsyncContext	*rv_ac;
	uint32_t		 rv_mask;
	int			 rv_reg;	/* known to epoll */
	int			 rv_dead;	/* cleaned up; freed later */
};

static void
rev_set(struct rev *rv, uint32_t set, uint32_t clr)
{
	uint32_t	 m = (rv->rv_mask | set) & ~clr;

	if (rv->rv_dead || (rv->rv_reg && m == rv->rv_mask))
		return;
	if (ev_watch(&rv->rv_io, m, rv->rv_reg) == 0) {
		rv->rv_reg = 1;
		rv->rv_mask = m;
	}
}

static void
add_read(void *p)
{
	rev_set(p, EPOLLIN, 0);
}

static void
del_read(void *p)
{
	rev_set(p, 0, EPOLLIN);
}

static void
add_write(void *p)
{
	rev_set(p, EPOLLOUT, 0);
}

static void
del_write(void *p)
{
	rev_set(p, 0, EPOLLOUT);
}

/* hiredis frees the context: stop watching, free after this turn. */
static void
cleanup(void *p)
{
	struct rev	*rv = p;

	if (rv->rv_reg)
		ev_del(&rv->rv_io);
	rv->rv_dead = 1;
	rv->rv_ac->ev.data = NULL;
	ev_defer_free(rv);
}

static void
rev_cb(struct ev_io *io, uint32_t events)
{
	struct rev	*rv = (struct rev *)io;

	if (rv->rv_dead)
		return;
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
	    (rv->rv_mask & EPOLLIN))
		redisAsyncHandleRead(rv->rv_ac);
	if (rv->rv_dead)
		return;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
	    (rv->rv_mask & EPOLLOUT))
		redisAsyncHandleWrite(rv->rv_ac);
}

int
redis_ev_attach(void *p)
{
	redisAsyncContext	*ac = p;
	struct rev		*rv;

	if (ac->ev.data != NULL || (rv = calloc(1, sizeof(*rv))) == NULL)
		return (-1);
	rv->rv_io.io_fd = ac->c.fd;
	rv->rv_io.io_cb = rev_cb;
	rv->rv_ac = ac;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.data = rv;
	/* Errors and hang-ups are reported from the start. */
	rev_set(rv, 0, 0);
	return (0);
}
