/*
 * redis_ev.h: hiredis's async API on a worker's own event loop (ev.h).
 * Worker only.
 */
#ifndef VW_REDIS_EV_H
#define VW_REDIS_EV_H

/*
 * Hook ac (a redisAsyncContext *, void * so callers need not include
 * hiredis) into this process's epoll loop: hiredis's addRead/addWrite
 * become a level-triggered interest mask, and its socket events call
 * redisAsyncHandleRead/Write.  0, or -1 (ac untouched).
 */
int	 redis_ev_attach(void *ac);

#endif /* VW_REDIS_EV_H */
