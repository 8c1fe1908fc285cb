/*
 * certpage.h: the page through which the ACME helper hands the workers
 * what they serve (SPEC.md 10): the key authorizations of pending http-01
 * challenges, answered by the redirect listener, and each newly issued
 * certificate with its key, which a worker swaps in for new connections.
 *
 * One shared mapping of a memfd, made by the master before any fork (like
 * the session-ticket keys), so only vibewarden's own processes reach it:
 * no file the worker user could read, no LMDB record.  Writers (ACME
 * helpers; two may overlap for a moment across a reload) take a POSIX
 * record lock on the memfd; readers copy under a sequence count and
 * retry, so they never block.
 */
#ifndef VW_CERTPAGE_H
#define VW_CERTPAGE_H

#include <stddef.h>
#include <stdint.h>

#define CP_TOKENS	8		/* challenges pending at once */
#define CP_TOKEN_MAX	128		/* RFC 8555 8.1: base64url; CAs
					   send 43 characters */
#define CP_KEYAUTH_MAX	256		/* token "." thumbprint */
#define CP_PEM_MAX	(60 * 1024)	/* chain + key, PEM */

/* Master, before the first fork; 0 or -1 with errno.  Idempotent. */
int		 certpage_init(void);

/* 1 when the page exists (the ACME provider is in use). */
int		 certpage_active(void);

/*
 * Helper: publish (keyauth != NULL) or withdraw (NULL) the answer for
 * token.  0, or -1 when the token is too long or every slot is taken.
 */
int		 certpage_challenge_set(const char *token,
		    const char *keyauth);

/* Helper: withdraw every challenge. */
void		 certpage_challenge_clear(void);

/*
 * Worker: copy the key authorization for token (tlen bytes, not
 * NUL-terminated) into out (NUL-terminated).  Its length, or -1 when no
 * challenge has that token.  Never blocks.
 */
int		 certpage_challenge(const char *token, size_t tlen,
		    char *out, size_t outlen);

/*
 * Helper: publish a certificate chain followed by its private key, both
 * PEM (len bytes).  Bumps the generation workers watch.  0, or -1 when
 * it does not fit.
 */
int		 certpage_cert_set(const char *pem, size_t len);

/* Any process: the certificate's generation (0: none yet).  Cheap. */
uint32_t	 certpage_cert_gen(void);

/*
 * Worker: a copy of the published PEM (malloc, NUL-terminated; the
 * caller frees it), with its generation in *gen.  NULL when none.
 */
char		*certpage_cert_copy(size_t *len, uint32_t *gen);

#endif /* VW_CERTPAGE_H */
