/*
 * ev.c: epoll loop and FIFO timer queues (see ev.h).  Worker processes
 * only.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>

#include "ev.h"
#include "util.h"

#define EV_MAXEVENTS	256
static int		 ev_fd = -1;
static struct tqueue	*ev_queues[EV_MAXQUEUES];
static int		 ev_nqueues;
static void		**ev_dead;
static size_t		 ev_ndead, ev_capdead;

int
ev_init(void)
{
	ev_fd = epoll_create1(EPOLL_CLOEXEC);
	ev_nqueues = 0;
	return (ev_fd == -1 ? -1 : 0);
}

int
ev_add(struct ev_io *io)
{
	struct epoll_event	 e;

	/* EPOLLPRI: TCP urgent data, after which a short read proves
	   nothing (endp_fill()). */
	e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
	e.data.ptr = io;
	return (epoll_ctl(ev_fd, EPOLL_CTL_ADD, io->io_fd, &e));
}

int
ev_add_listener(struct ev_io *io)
{
	struct epoll_event	 e;

	/* EPOLLEXCLUSIVE: one worker wakes per connection, no herd. */
	e.events = EPOLLIN | EPOLLEXCLUSIVE;
	e.data.ptr = io;
	return (epoll_ctl(ev_fd, EPOLL_CTL_ADD, io->io_fd, &e));
}

int
ev_watch(struct ev_io *io, uint32_t events, int registered)
{
	struct epoll_event	 e;

	e.events = events;
	e.data.ptr = io;
	return (epoll_ctl(ev_fd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    io->io_fd, &e));
}

void
ev_del(struct ev_io *io)
{
	epoll_ctl(ev_fd, EPOLL_CTL_DEL, io->io_fd, NULL);
}

void
tqueue_init(struct tqueue *q, uint64_t ms)
{
	q->q_head.t_prev = q->q_head.t_next = &q->q_head;
	q->q_ms = ms;
}

int
timer_armed(const struct timer *t)
{
	return (t->t_next != NULL);
}

void
timer_del(struct timer *t)
{
	if (t->t_next == NULL)
		return;
	t->t_prev->t_next = t->t_next;
	t->t_next->t_prev = t->t_prev;
	t->t_prev = t->t_next = NULL;
	t->t_q = NULL;
}

void
timer_set(struct timer *t, struct tqueue *q, timer_cb *cb)
{
	timer_del(t);
	if (q->q_ms == 0)
		return;
	t->t_cb = cb;
	t->t_q = q;
	t->t_deadline = util_now_ms + q->q_ms;
	t->t_prev = q->q_head.t_prev;
	t->t_next = &q->q_head;
	q->q_head.t_prev->t_next = t;
	q->q_head.t_prev = t;
}

void
timer_set_at(struct timer *t, struct tqueue *q, uint64_t deadline,
    timer_cb *cb)
{
	struct timer	*after;

	timer_del(t);
	if (q->q_ms == 0)
		return;
	t->t_cb = cb;
	t->t_q = q;
	t->t_deadline = deadline;
	/* From the tail: the latest deadline not after ours. */
	for (after = q->q_head.t_prev; after != &q->q_head &&
	    after->t_deadline > deadline; after = after->t_prev)
		;
	t->t_prev = after;
	t->t_next = after->t_next;
	after->t_next->t_prev = t;
	after->t_next = t;
}

void
ev_tqueue_register(struct tqueue *q)
{
	/* A queue left out would never fire: a build error in spirit. */
	if (ev_nqueues >= EV_MAXQUEUES)
		abort();
	ev_queues[ev_nqueues++] = q;
}

/* Milliseconds until the earliest deadline, capped at cap. */
static int
next_wait(int cap)
{
	uint64_t	 best = UINT64_MAX;
	struct timer	*t;
	int		 i;

	for (i = 0; i < ev_nqueues; i++) {
		t = ev_queues[i]->q_head.t_next;
		if (t != &ev_queues[i]->q_head && t->t_deadline < best)
			best = t->t_deadline;
	}
	if (best == UINT64_MAX)
		return (cap);
	if (best <= util_now_ms)
		return (0);
	/* +1: the coarse clock must have passed the deadline on wake-up. */
	return (best - util_now_ms + 1 < (uint64_t)cap ?
	    (int)(best - util_now_ms + 1) : cap);
}

void
ev_defer_free(void *p)
{
	void	**nv;
	size_t	  ncap;

	if (ev_ndead == ev_capdead) {
		ncap = ev_capdead ? ev_capdead * 2 : 64;
		if ((nv = realloc(ev_dead, ncap * sizeof(*nv))) == NULL) {
			/* Leaking beats a use-after-free. */
			return;
		}
		ev_dead = nv;
		ev_capdead = ncap;
	}
	ev_dead[ev_ndead++] = p;
}

static void
reap_dead(void)
{
	while (ev_ndead > 0)
		free(ev_dead[--ev_ndead]);
}

static void
fire_timers(void)
{
	struct tqueue	*q;
	struct timer	*t;
	int		 i;

	for (i = 0; i < ev_nqueues; i++) {
		q = ev_queues[i];
		while ((t = q->q_head.t_next) != &q->q_head &&
		    t->t_deadline <= util_now_ms) {
			timer_del(t);
			t->t_cb(t);
		}
	}
}

int
ev_run_once(const void *sigmask, int max_wait_ms)
{
	struct epoll_event	 evs[EV_MAXEVENTS];
	struct ev_io		*io;
	int			 n, i;

	n = epoll_pwait(ev_fd, evs, EV_MAXEVENTS, next_wait(max_wait_ms),
	    sigmask);
	util_now_update();
	if (n == -1)
		return (errno == EINTR ? 0 : -1);
	for (i = 0; i < n; i++) {
		io = evs[i].data.ptr;
		io->io_cb(io, evs[i].events);
	}
	fire_timers();
	reap_dead();
	return (0);
}
