/*
 * arena.h: bounded bump allocator.  A request's parsed data and a
 * connection's scratch space live in one arena each and are released in one
 * call.  Used by workers; never by the master.
 */
#ifndef VW_ARENA_H
#define VW_ARENA_H

#include <stddef.h>

struct arena {
	char	*a_base;
	size_t	 a_used;
	size_t	 a_cap;
};

/*
 * Point the arena at caller-owned memory buf of cap bytes.  The arena never
 * grows: arena_alloc() returns NULL once cap is used up, which callers turn
 * into a 431/500 answer, never a crash.
 */
void	 arena_init(struct arena *, void *buf, size_t cap);

/* Forget every allocation (the memory stays with its owner). */
void	 arena_reset(struct arena *);

/* n bytes aligned to 8, or NULL when the arena is full. */
void	*arena_alloc(struct arena *, size_t n);

/* A NUL-terminated copy of (p, n), or NULL when the arena is full. */
char	*arena_strndup(struct arena *, const char *p, size_t n);

#endif /* VW_ARENA_H */
