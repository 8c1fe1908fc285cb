/*
 * tls.h: TLS with OpenSSL 3 (SPEC.md 10).  The master loads (or, for the
 * self-signed provider, makes) the certificate and key before it forks,
 * and owns the shared session-ticket keys; each worker builds its own
 * SSL_CTX from that material after fork and terminates TLS through a
 * second struct endp_ops, so the connection layer never knows.
 */
#ifndef VW_TLS_H
#define VW_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config.h"
#include "conn.h"

/* A certificate chain and its key, loaded by the master. */
struct tls_cert {
	X509		*tc_leaf;
	STACK_OF(X509)	*tc_chain;	/* intermediates; may be empty */
	EVP_PKEY	*tc_key;
};

/* One session-ticket key (RFC 5077 layout, as OpenSSL uses it). */
struct tls_tkey {
	unsigned char	 tk_name[16];
	unsigned char	 tk_aes[32];
	unsigned char	 tk_hmac[32];
};

/* ---------------------------------------------------------- master side */

/*
 * The certificate chain and key of cf's provider.  create: the
 * self-signed provider may make (and store) a new pair when none is
 * usable; -t passes 0 and only checks.  Logs tls.* events for an
 * expiring certificate.  NULL on failure with a message naming the file
 * in err.  The caller owns the result (tls_cert_free).
 */
struct tls_cert	*tls_cert_load(const struct config *cf, int create,
		    char *err, size_t errlen);
void		 tls_cert_free(struct tls_cert *);

/*
 * Free c's private key (c may be NULL) and leave c->tc_key NULL: for the
 * children that never serve TLS (the helpers), so a memory disclosure
 * in them cannot give the key away.  OpenSSL clears the key's numbers
 * as it frees them.
 */
void		 tls_cert_forget_key(struct tls_cert *c);

/* A random positive serial in minimal DER into serial; 0 or -1. */
int		 tls_cert_random_serial(ASN1_INTEGER *serial);

/*
 * Parse plen bytes of PEM: the leaf, its intermediates and its private
 * key (any order of blocks), checking that the key matches and, when
 * domain is not NULL, that the leaf names it.  For the ACME helper and
 * the workers' swap of its certificates.  NULL with err on failure; the
 * caller owns the result.
 */
struct tls_cert	*tls_cert_from_pem(const char *pem, size_t plen,
		    const char *domain, char *err, size_t errlen);

/*
 * Make c the material workers forked from now on use (NULL: none); the
 * previous one is freed.  Workers already running keep their own copy.
 */
void		 tls_cert_install(struct tls_cert *c);

/*
 * As tls_cert_install(), but c stays its caller's (a master generation
 * owns its material): nothing is freed.
 */
void		 tls_cert_set(const struct tls_cert *c);

/*
 * Every tls.cert_monitoring.check_interval, log the installed
 * certificate's expiry events again (SPEC.md 10).  now in ms; master.
 */
void		 tls_cert_monitor(const struct config *cf, uint64_t now);

/*
 * Check what -t can check without creating anything: the external
 * certificate and key, upstream.tls.ca_file.  0, or -1 with err.
 */
int		 tls_check(const struct config *cf, char *err, size_t errlen);

/*
 * The CA certificates of upstream.tls.ca_file, read by the master so a
 * worker needs no access to the file.  NULL with err[0] == '\0' when no
 * file is configured; NULL with err set on failure.  Caller owns it.
 */
X509_STORE	*tls_ca_load(const struct config *cf, char *err, size_t errlen);

/* As tls_cert_install() and tls_cert_set(), for the CA store. */
void		 tls_ca_install(X509_STORE *st);
void		 tls_ca_set(X509_STORE *st);
X509_STORE	*tls_ca_current(void);

/*
 * Map the shared ticket-key page (before any fork): the one a replaced
 * master passed in VIBEWARDEN_TICKET_FD, else a new one with a fresh
 * key.  0 or -1 with errno.
 */
int		 tls_tickets_init(void);

/* The page's descriptor, for a binary upgrade to pass on; -1: none. */
int		 tls_tickets_fd(void);

/* Unmap and close the ticket keys in a child that never serves TLS. */
void		 tls_tickets_forget(void);

/*
 * Rotate the ticket keys when rot_ms has passed since the last rotation
 * (the previous key stays valid for decryption).  Returns the time in ms
 * until the next rotation is due.
 */
uint64_t	 tls_tickets_tick(uint64_t now_ms, uint64_t rot_ms);

/*
 * Copy the ticket key named name (NULL: the current one, which encrypts)
 * out of the shared page.  Returns 1 for the current key, 2 for the
 * previous one (still accepted; the ticket should be renewed), 0 when no
 * key has that name.  Any process; lock-free.
 */
int		 tls_ticket_key(const unsigned char *name,
		    struct tls_tkey *out);

/* The material installed by tls_cert_install(), for a worker. */
const struct tls_cert *tls_cert_current(void);

/* ---------------------------------------------------------- worker side */

/*
 * Build this worker's contexts: the server one from the installed
 * material when cf->tls.enabled, the client one when the upstream is
 * https://.  Returns 0, or -1 after logging a tls.* event.
 */
int		 tls_worker_init(const struct config *cf);

/*
 * The context for an https:// kratos.public_url whose host is host
 * (SNI and the name or address the certificate must carry).  Once per
 * worker; 0, or -1 after logging tls.context_failed.
 */
int		 tls_kratos_init(const char *host);

/* 1 when the server endpoint ep's ALPN chose "h2". */
int		 tls_alpn_h2(const struct endp *ep);

/*
 * 1 when OpenSSL holds bytes of ep's connection that were not read yet:
 * decrypted, or whole records read ahead from the socket.  0 for a plain
 * endpoint.
 */
int		 tls_pending(const struct endp *ep);

extern const struct endp_ops tls_server_ops;	/* client connections */
extern const struct endp_ops tls_kratos_ops;	/* Kratos whoami calls */
extern const struct endp_ops tls_client_ops;	/* upstream connections */

#endif /* VW_TLS_H */
