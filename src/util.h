/*
 * util.h: small helpers shared by every process: clocks, fd flags, random
 * ids, JSON string escaping.  No allocation except where noted.
 */
#ifndef VW_UTIL_H
#define VW_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds, as cached by util_now_update(). */
extern uint64_t	 util_now_ms;

/* Re-read CLOCK_MONOTONIC_COARSE into util_now_ms; returns it. */
uint64_t	 util_now_update(void);

/* Wall-clock time as RFC 3339 UTC with milliseconds into buf (>= 32). */
void		 util_rfc3339(char *buf, size_t len);

/* O_NONBLOCK on fd; 0 or -1. */
int		 util_nonblock(int fd);

/*
 * Fill out[0..16) with "req_" + 12 base32 characters of fresh randomness
 * (SPEC.md 11) and NUL-terminate it (out must hold 17 bytes).
 */
void		 util_request_id(char out[17]);

/*
 * Append s[0..len) to dst (capacity cap, *off in/out) escaped for a JSON
 * string body, without quotes.  Truncates at cap; never overflows.
 */
void		 util_json_esc(char *dst, size_t cap, size_t *off,
		    const char *s, size_t len);

/* Append the NUL-terminated printf-style output; truncates at cap. */
void		 util_append(char *dst, size_t cap, size_t *off,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Process titles for ps(1): remember the argv area once in main(), then
 * util_setproctitle("worker") shows "vibewarden: worker".  The title is
 * truncated to the space argv had; comm (top, pgrep) gets it too.
 */
void		 util_proctitle_init(int argc, char *argv[]);
void		 util_setproctitle(const char *what);

/*
 * Become user (and group, when non-empty; else the user's group) for
 * good, when running as root; a no-op otherwise.  Also makes the process
 * non-dumpable: its core could hold request data.  0, or -1 with the
 * reason in why.
 */
int		 util_drop_privileges(const char *user, const char *group,
		    char *why, size_t whylen);

/* The value of hex digit c (either case), or -1. */
int		 util_hexval(int c);

/* SHA-256 of p[0..len) into out; 0, or -1 when OpenSSL fails. */
int		 util_sha256(const void *p, size_t len, unsigned char out[32]);
/* SHA-256 of a[0..alen) followed by b[0..blen). */
int		 util_sha256_2(const void *a, size_t alen, const void *b,
		    size_t blen, unsigned char out[32]);

/* Number of online CPUs, at least 1. */
int		 util_ncpu(void);

#endif /* VW_UTIL_H */
