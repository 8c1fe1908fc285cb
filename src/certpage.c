/*
 * certpage.c: the shared page of ACME challenges and issued certificates
 * (certpage.h).  Made by the master, written by the ACME helper, read by
 * the workers.  Readers never block and never trust a length they read
 * without bounding it: a torn copy is retried.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certpage.h"

/*
 * Readers give up after this many tries (the page is then "empty" for
 * this call): a writer is never inside for long, and one that died
 * inside must not make a worker spin.
 */
#define SPIN_MAX	100000

struct cp_chal {
	uint32_t	 ch_used;
	char		 ch_token[CP_TOKEN_MAX + 1];
	char		 ch_keyauth[CP_KEYAUTH_MAX + 1];
};

struct cpage {
	uint32_t	 cp_seq;	/* odd while a writer is inside */
	uint32_t	 cp_gen;	/* certificate generation */
	uint32_t	 cp_pemlen;
	struct cp_chal	 cp_chal[CP_TOKENS];
	char		 cp_pem[CP_PEM_MAX];
};

static struct cpage	*cp;
static int		 cp_fd = -1;

int
certpage_init(void)
{
	void	*p;
	int	 fd;

	if (cp != NULL)
		return (0);
	if ((fd = memfd_create("vibewarden-certs", MFD_CLOEXEC)) == -1)
		return (-1);
	if (ftruncate(fd, sizeof(*cp)) == -1 ||
	    (p = mmap(NULL, sizeof(*cp), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		close(fd);
		return (-1);
	}
	cp = p;
	cp_fd = fd;
	return (0);
}

int
certpage_active(void)
{
	return (cp != NULL);
}

/*
 * A POSIX record lock is per process, so it keeps apart the helpers of
 * two generations although they share the memfd's file description.
 */
static void
wlock(int type)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	while (fcntl(cp_fd, F_SETLKW, &fl) == -1 && errno == EINTR)
		;
	if (type != F_WRLCK)
		return;
	/* A writer killed inside left the count odd: even it out first
	   (its lock went with it). */
	if (__atomic_load_n(&cp->cp_seq, __ATOMIC_SEQ_CST) & 1)
		__atomic_add_fetch(&cp->cp_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&cp->cp_seq, 1, __ATOMIC_SEQ_CST);
}

static void
wunlock(void)
{
	__atomic_add_fetch(&cp->cp_seq, 1, __ATOMIC_SEQ_CST);
	wlock(F_UNLCK);
}

int
certpage_challenge_set(const char *token, const char *keyauth)
{
	struct cp_chal	*c, *free_slot = NULL;
	int		 i, rc = -1;

	if (cp == NULL || strlen(token) > CP_TOKEN_MAX ||
	    (keyauth != NULL && strlen(keyauth) > CP_KEYAUTH_MAX))
		return (-1);
	wlock(F_WRLCK);
	for (i = 0; i < CP_TOKENS; i++) {
		c = &cp->cp_chal[i];
		if (c->ch_used && strcmp(c->ch_token, token) == 0) {
			free_slot = c;
			break;
		}
		if (!c->ch_used && free_slot == NULL)
			free_slot = c;
	}
	if (free_slot != NULL) {
		if (keyauth == NULL)
			memset(free_slot, 0, sizeof(*free_slot));
		else {
			strcpy(free_slot->ch_token, token);
			strcpy(free_slot->ch_keyauth, keyauth);
			free_slot->ch_used = 1;
		}
		rc = 0;
	}
	wunlock();
	return (rc);
}

void
certpage_challenge_clear(void)
{
	if (cp == NULL)
		return;
	wlock(F_WRLCK);
	memset(cp->cp_chal, 0, sizeof(cp->cp_chal));
	wunlock();
}

int
certpage_challenge(const char *token, size_t tlen, char *out, size_t outlen)
{
	struct cp_chal	*c;
	uint32_t	 s0;
	size_t		 n;
	int		 i, found, tries;

	if (cp == NULL || tlen == 0 || tlen > CP_TOKEN_MAX || outlen == 0)
		return (-1);
	for (tries = 0; tries < SPIN_MAX; tries++) {
		s0 = __atomic_load_n(&cp->cp_seq, __ATOMIC_ACQUIRE);
		if (s0 & 1)
			continue;
		found = -1;
		for (i = 0; i < CP_TOKENS && found == -1; i++) {
			c = &cp->cp_chal[i];
			if (!c->ch_used || strncmp(c->ch_token, token, tlen) !=
			    0 || c->ch_token[tlen] != '\0')
				continue;
			n = strnlen(c->ch_keyauth, CP_KEYAUTH_MAX);
			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, c->ch_keyauth, n);
			out[n] = '\0';
			found = (int)n;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&cp->cp_seq, __ATOMIC_RELAXED) == s0)
			return (found);
	}
	return (-1);
}

int
certpage_cert_set(const char *pem, size_t len)
{
	if (cp == NULL || len >= CP_PEM_MAX)
		return (-1);
	wlock(F_WRLCK);
	memcpy(cp->cp_pem, pem, len);
	cp->cp_pem[len] = '\0';
	cp->cp_pemlen = (uint32_t)len;
	cp->cp_gen++;
	if (cp->cp_gen == 0)
		cp->cp_gen = 1;
	wunlock();
	return (0);
}

uint32_t
certpage_cert_gen(void)
{
	if (cp == NULL)
		return (0);
	return (__atomic_load_n(&cp->cp_gen, __ATOMIC_ACQUIRE));
}

char *
certpage_cert_copy(size_t *len, uint32_t *gen)
{
	char		*buf;
	uint32_t	 s0, n = 0;
	int		 tries;

	if (cp == NULL || (buf = malloc(CP_PEM_MAX)) == NULL)
		return (NULL);
	*gen = 0;
	for (tries = 0; tries < SPIN_MAX; tries++) {
		s0 = __atomic_load_n(&cp->cp_seq, __ATOMIC_ACQUIRE);
		if (s0 & 1)
			continue;
		*gen = cp->cp_gen;
		n = cp->cp_pemlen;
		if (n >= CP_PEM_MAX)
			n = 0;
		memcpy(buf, cp->cp_pem, n);
		buf[n] = '\0';
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&cp->cp_seq, __ATOMIC_RELAXED) == s0)
			break;
	}
	if (tries == SPIN_MAX || *gen == 0 || n == 0) {
		free(buf);
		return (NULL);
	}
	*len = n;
	return (buf);
}
