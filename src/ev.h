/*
 * ev.h: a worker's event loop: one epoll instance, edge-triggered fds
 * registered once, and timers.
 *
 * Timers: every timeout vibewarden uses has a fixed duration per config
 * generation (header, body, idle, connect, ...), so each duration gets a
 * FIFO queue; arming appends at the tail, which keeps every queue sorted by
 * deadline.  Arm, disarm and expiry are O(1), with no heap or tree.
 * Runs in workers only; never blocks except in epoll_wait.
 */
#ifndef VW_EV_H
#define VW_EV_H

#include <stdint.h>

struct ev_io;
typedef void	 ev_io_cb(struct ev_io *, uint32_t events);

struct ev_io {
	int		 io_fd;
	ev_io_cb	*io_cb;
};

struct timer;
typedef void	 timer_cb(struct timer *);

struct timer {
	struct timer	*t_prev, *t_next;	/* NULL when not armed */
	struct tqueue	*t_q;
	uint64_t	 t_deadline;
	timer_cb	*t_cb;
};

struct tqueue {
	struct timer	 q_head;		/* sentinel */
	uint64_t	 q_ms;			/* duration; 0 = never fires */
};

/* Create the epoll instance; 0 or -1. */
int	 ev_init(void);

/*
 * Register io (fd, callback) for EPOLLIN|EPOLLOUT|EPOLLRDHUP edge-triggered
 * events; 0 or -1.
 */
int	 ev_add(struct ev_io *io);

/* Register a level-triggered listening socket with EPOLLEXCLUSIVE. */
int	 ev_add_listener(struct ev_io *io);

/*
 * Watch io level-triggered for events (a mask of EPOLLIN/EPOLLOUT; 0 keeps
 * only error and hang-up reports): the first call registers it, later ones
 * change the mask.  For library sockets that ask to be told while they
 * want to read or write (the hiredis adapter).  0 or -1.
 */
int	 ev_watch(struct ev_io *io, uint32_t events, int registered);

/* Remove io from the set (closing the fd also does). */
void	 ev_del(struct ev_io *io);

void	 tqueue_init(struct tqueue *q, uint64_t ms);

/* Arm t on q (re-arming moves it to q's tail).  q_ms 0 disarms. */
void	 timer_set(struct timer *t, struct tqueue *q, timer_cb *cb);

/*
 * Arm t on q to fire at deadline (ms, util_now_ms clock) instead of after
 * q's duration: for waits that differ per timer (a jittered backoff).  It
 * is inserted in deadline order, O(n) in q's length, so keep such queues
 * for such timers only.  q_ms 0 disarms, as for timer_set().
 */
void	 timer_set_at(struct timer *t, struct tqueue *q, uint64_t deadline,
	    timer_cb *cb);

/* Disarm t; a disarmed timer is a no-op. */
void	 timer_del(struct timer *t);

/* 1 when t is armed. */
int	 timer_armed(const struct timer *t);

/*
 * Register the queues the loop scans for expired timers, at most
 * EV_MAXQUEUES (one more aborts: a queue left out would never fire).
 */
#define EV_MAXQUEUES	32

void	 ev_tqueue_register(struct tqueue *q);

/*
 * Free p (with free()) after the current turn's events and timers have been
 * dispatched, so a callback may close an object whose event is still
 * pending in the same batch.  Objects passed here must be marked dead by
 * their owner so late callbacks ignore them.
 */
void	 ev_defer_free(void *p);

/*
 * One turn: wait for events (sigmask unblocked meanwhile, as epoll_pwait),
 * dispatch them, then fire expired timers.  Returns -1 on a fatal epoll
 * error, 0 otherwise (including EINTR).  max_wait_ms caps the wait.
 */
int	 ev_run_once(const void *sigmask, int max_wait_ms);

#endif /* VW_EV_H */
