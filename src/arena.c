/*
 * arena.c: bounded bump allocator (see arena.h).  Pure; no I/O.
 */
#include <stdint.h>
#include <string.h>

#include "arena.h"

void
arena_init(struct arena *a, void *buf, size_t cap)
{
	a->a_base = buf;
	a->a_used = 0;
	a->a_cap = cap;
}

void
arena_reset(struct arena *a)
{
	a->a_used = 0;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	size_t	 off;

	off = (a->a_used + 7) & ~(size_t)7;
	if (off > a->a_cap || n > a->a_cap - off)
		return (NULL);
	a->a_used = off + n;
	return (a->a_base + off);
}

char *
arena_strndup(struct arena *a, const char *p, size_t n)
{
	char	*s;

	if ((s = arena_alloc(a, n + 1)) == NULL)
		return (NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	return (s);
}
