/*
 * acme.h: the RFC 8555 client of the ACME helper process (SPEC.md 10).
 * Everything here runs in the helper, never in a worker: it blocks (on
 * libcurl) and parses what the CA sends.  Three layers:
 *   acme_json.c   the CA's JSON objects into structs (pure; fuzzed);
 *   acme_jws.c    account key, JWS ES256, key authorizations, CSR;
 *   acme_client.c one order from directory to certificate chain;
 *   acme_helper.c the helper's main: storage, schedule, hand-over.
 */
#ifndef VW_ACME_H
#define VW_ACME_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "config.h"

/* RFC 8555 7.1.6 statuses. */
enum acme_status {
	AS_UNKNOWN = 0, AS_PENDING, AS_READY, AS_PROCESSING, AS_VALID,
	AS_INVALID, AS_EXPIRED, AS_DEACTIVATED, AS_REVOKED
};

/* 7.1.1 */
struct acme_dir {
	char		*ad_new_nonce;
	char		*ad_new_account;
	char		*ad_new_order;
};

/* 7.1.3 */
#define ACME_MAX_AUTHZ	16
struct acme_order {
	enum acme_status ao_status;
	char		*ao_authz[ACME_MAX_AUTHZ];
	size_t		 ao_nauthz;
	char		*ao_finalize;
	char		*ao_certificate;	/* once valid */
};

/* 7.1.4, with its http-01 challenge (8.3) */
struct acme_authz {
	enum acme_status az_status;
	char		*az_domain;
	char		*az_http_url;	/* NULL: no http-01 offered */
	char		*az_http_token;
	enum acme_status az_http_status;
	char		*az_http_error;	/* the challenge's problem */
};

/* RFC 7807 problem document (RFC 8555 6.7) */
struct acme_problem {
	char		*ap_type;
	char		*ap_detail;
};

/*
 * Parse len bytes of JSON from the CA into the struct (zeroed first).
 * 0, or -1 when the bytes are not JSON or lack a member the protocol
 * requires; the struct then holds nothing to free.  URLs are kept only
 * when they are http(s); a token only when it is base64url.
 */
int	 acme_parse_directory(const char *buf, size_t len,
	    struct acme_dir *);
int	 acme_parse_order(const char *buf, size_t len, struct acme_order *);
int	 acme_parse_authz(const char *buf, size_t len, struct acme_authz *);
int	 acme_parse_problem(const char *buf, size_t len,
	    struct acme_problem *);
void	 acme_dir_free(struct acme_dir *);
void	 acme_order_free(struct acme_order *);
void	 acme_authz_free(struct acme_authz *);
void	 acme_problem_free(struct acme_problem *);
const char *acme_status_name(enum acme_status);

/* ---------------------------------------------------------- acme_jws.c */

/* base64url without padding (RFC 4648 5), malloc'd; NULL on ENOMEM. */
char	*acme_b64url(const unsigned char *p, size_t len);

/* A new ECDSA P-256 key; NULL on failure. */
EVP_PKEY *acme_key_new(void);

/* The public JWK of an EC P-256 key, members in RFC 7638 order. */
char	*acme_jwk(EVP_PKEY *key);

/* RFC 7638 thumbprint of that JWK, base64url; NULL on failure. */
char	*acme_thumbprint(EVP_PKEY *key);

/*
 * A flattened JWS (RFC 8555 6.2) signed ES256 with key: the header has
 * "kid" when kid is set, else "jwk"; payload "" means POST-as-GET.
 * malloc'd; NULL on failure.
 */
char	*acme_jws(EVP_PKEY *key, const char *kid, const char *nonce,
	    const char *url, const char *payload);

/* A CSR for domain, signed by key, as base64url DER; NULL on failure. */
char	*acme_csr(const char *domain, EVP_PKEY *key);

/* ---------------------------------------------------------- acme_client.c */

struct acme_client;

/*
 * A client for the directory at url, trusting ca_file (NULL: the system
 * store) for its HTTPS, acting for the account key akey (borrowed).
 */
struct acme_client *acme_client_new(const char *url, const char *ca_file,
	    EVP_PKEY *akey);
void	 acme_client_free(struct acme_client *);

/*
 * Run one order for domain: account (found or created), order, http-01
 * (published through certpage), finalize with a CSR for ckey, download.
 * Returns the PEM chain (malloc'd, *len bytes), or NULL with err set to
 * what failed.  Blocks; gives up early when the helper is stopping.
 */
char	*acme_client_issue(struct acme_client *, const char *domain,
	    EVP_PKEY *ckey, size_t *len, char *err, size_t errlen);

/* ---------------------------------------------------------- acme_helper.c */

/* helper_kinds[] entries (helper.h). */
int	 acme_wanted(const struct config *);
void	 acme_main(const struct config *);

/*
 * When to renew a certificate valid from nb to na (seconds since the
 * epoch): at two thirds of its lifetime, less a random jitter of up to a
 * thirtieth of it (jitter01 in [0, 1)).  Seconds since the epoch.
 */
int64_t	 acme_renew_at(int64_t nb, int64_t na, double jitter01);

/* Seconds to wait after the n-th failure in a row (n >= 1). */
uint64_t acme_backoff(unsigned n, double jitter01);

#endif /* VW_ACME_H */
