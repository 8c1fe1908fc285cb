/*
 * util.c: clocks, fd flags, request ids, JSON escaping (see util.h).
 * Runs in every process; never blocks.
 */
#include <sys/prctl.h>
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"

uint64_t util_now_ms;

uint64_t
util_now_update(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	util_now_ms = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return (util_now_ms);
}

void
util_rfc3339(char *buf, size_t len)
{
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

int
util_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

/*
 * Request ids need to be unique, not secret; getrandom() refills a small
 * pool so that a request costs no syscall.
 */
void
util_request_id(char out[17])
{
	static const char	 b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static unsigned char	 pool[256];
	static size_t		 left;
	unsigned char		*r;
	uint64_t		 v = 0;
	int			 i;

	if (left < 8) {
		if (getrandom(pool, sizeof(pool), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(pool)) {
			/* Entropy not ready at boot: fall back to time. */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			memcpy(pool, &ts, sizeof(ts));
		}
		left = sizeof(pool);
	}
	r = pool + sizeof(pool) - left;
	left -= 8;
	for (i = 0; i < 8; i++)
		v = (v << 8) | r[i];
	memcpy(out, "req_", 4);
	for (i = 0; i < 12; i++) {
		out[4 + i] = b32[v >> 59];
		v <<= 5;
	}
	out[16] = '\0';
}

void
util_json_esc(char *dst, size_t cap, size_t *off, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t		 o = *off, i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
			if (o + 1 >= cap)
				break;
			dst[o++] = c;
			continue;
		}
		if (o + 6 >= cap)
			break;
		dst[o++] = '\\';
		switch (c) {
		case '"':
		case '\\':
			dst[o++] = c;
			break;
		case '\n':
			dst[o++] = 'n';
			break;
		case '\r':
			dst[o++] = 'r';
			break;
		case '\t':
			dst[o++] = 't';
			break;
		default:
			/* Non-ASCII bytes are escaped too: logs stay ASCII
			   and valid JSON whatever a client sent. */
			dst[o++] = 'u';
			dst[o++] = '0';
			dst[o++] = '0';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
			break;
		}
	}
	*off = o;
}

void
util_append(char *dst, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (*off >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(dst + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*off += (size_t)n < cap - *off ? (size_t)n : cap - *off - 1;
}

int
util_ncpu(void)
{
	long	 n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	return (n < 1 ? 1 : (int)n);
}

static char	*title_base;
static size_t	 title_len;

void
util_proctitle_init(int argc, char *argv[])
{
	int	 i;

	if (argc < 1 || argv[0] == NULL)
		return;
	title_base = argv[0];
	title_len = strlen(argv[0]);
	/* Use the following argv strings while they are contiguous. */
	for (i = 1; i < argc; i++) {
		if (argv[i] != title_base + title_len + 1)
			break;
		title_len += 1 + strlen(argv[i]);
	}
}

void
util_setproctitle(const char *what)
{
	char	 t[64];

	snprintf(t, sizeof(t), "vibewarden: %s", what);
	prctl(PR_SET_NAME, t + 12);
	if (title_base == NULL || title_len == 0)
		return;
	memset(title_base, '\0', title_len);
	memcpy(title_base, t, strlen(t) < title_len ? strlen(t) : title_len);
}

int
util_drop_privileges(const char *user, const char *group, char *why,
    size_t whylen)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0)
		return (0);
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(why, whylen, "unknown user %s", user);
		return (-1);
	}
	gid = pw->pw_gid;
	if (group != NULL && *group != '\0') {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(why, whylen, "unknown group %s", group);
			return (-1);
		}
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		snprintf(why, whylen, "cannot drop privileges to %s: %s",
		    user, strerror(errno));
		return (-1);
	}
	prctl(PR_SET_DUMPABLE, 0);
	return (0);
}

int
util_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

static EVP_MD		*sha256_md;
static pthread_key_t	 sha256_key;	/* the thread's EVP_MD_CTX */
static int		 sha256_keyok;

static void
sha256_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	/* A thread's context is freed when it exits: the admin process
	   runs a thread per connection. */
	sha256_keyok = pthread_key_create(&sha256_key, sha256_ctx_free) == 0;
}

/*
 * With a digest fetched once per process and a context kept per thread:
 * EVP_sha256() makes OpenSSL 3 look the implementation up again on every
 * call (locks, a hash table), and EVP_Digest() allocates and frees a
 * context; together three times the hashing of a short key.
 */
int
util_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
    unsigned char out[32])
{
	static pthread_once_t	 once = PTHREAD_ONCE_INIT;
	EVP_MD_CTX		*ctx;
	unsigned int		 n = 0;

	(void)pthread_once(&once, sha256_fetch);
	if (sha256_md == NULL || !sha256_keyok)
		return (-1);
	if ((ctx = pthread_getspecific(sha256_key)) == NULL) {
		if ((ctx = EVP_MD_CTX_new()) == NULL)
			return (-1);
		if (pthread_setspecific(sha256_key, ctx) != 0) {
			EVP_MD_CTX_free(ctx);
			return (-1);
		}
	}
	if (EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32)
		return (-1);
	return (0);
}

int
util_sha256(const void *p, size_t len, unsigned char out[32])
{
	return (util_sha256_2(p, len, NULL, 0, out));
}
