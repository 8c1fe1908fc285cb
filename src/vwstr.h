/*
 * vwstr.h: borrowed byte strings.  A vw_str never owns its bytes and is
 * never assumed NUL-terminated.  Used by every process.
 */
#ifndef VW_VWSTR_H
#define VW_VWSTR_H

#include <stddef.h>
#include <string.h>
#include <strings.h>

struct vw_str {
	const char	*p;
	size_t		 len;
};

#define VW_STR(lit)	((struct vw_str){ (lit), sizeof(lit) - 1 })

/* Exact byte comparison. */
static inline int
vw_str_eq(struct vw_str a, const char *lit, size_t litlen)
{
	return (a.len == litlen && memcmp(a.p, lit, litlen) == 0);
}

/* ASCII case-insensitive comparison (header names, tokens). */
static inline int
vw_str_caseeq(struct vw_str a, const char *lit, size_t litlen)
{
	return (a.len == litlen && strncasecmp(a.p, lit, litlen) == 0);
}

#endif /* VW_VWSTR_H */
