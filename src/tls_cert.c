/*
 * tls_cert.c: the master's side of TLS (SPEC.md 10): loading and checking
 * the certificate of the external provider, making and keeping the
 * self-signed one, and the session-ticket keys every worker shares.  Runs
 * in the master (and in -t) before any fork, as root when started so:
 * workers only get the parsed material through fork, so a key file may
 * stay readable by root alone.  Never reads a client byte.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

#define SS_CERT		"selfsigned.crt"
#define SS_KEY		"selfsigned.key"
#define SS_DAYS		365
#define DAY_S		86400

static struct tls_cert	*installed;
static X509_STORE	*ca_installed;	/* upstream.tls.ca_file */

static void
seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list		 ap;
	unsigned long	 e;
	size_t		 n;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	/* The deepest OpenSSL reason says most ("no start line" ...). */
	if ((e = ERR_peek_last_error()) != 0 && (n = strlen(err)) + 3 < len)
		snprintf(err + n, len - n, " (%s)", ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "openssl error");
	ERR_clear_error();
}

void
tls_cert_free(struct tls_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->tc_leaf);
	sk_X509_pop_free(c->tc_chain, X509_free);
	EVP_PKEY_free(c->tc_key);
	free(c);
}

void
tls_cert_forget_key(struct tls_cert *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->tc_key);
	c->tc_key = NULL;
}

void
tls_cert_install(struct tls_cert *c)
{
	if (installed != c)
		tls_cert_free(installed);
	installed = c;
}

void
tls_cert_set(const struct tls_cert *c)
{
	installed = (struct tls_cert *)c;
}

const struct tls_cert *
tls_cert_current(void)
{
	return (installed);
}

/*
 * path for reading.  A file of tls.storage_path (stored set) is read as
 * it is: that directory belongs to server.user while the master reading
 * it is root, so a link there could hand the workers a key that only
 * root may read, and a FIFO would hang the master.  An operator's
 * cert_path may be a link (certbot's live/ directory is made of them).
 */
static BIO *
pem_open(const char *path, int stored)
{
	struct stat	 st;
	FILE		*fp;
	BIO		*b;
	int		 fd;

	if (!stored)
		return (BIO_new_file(path, "r"));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return (NULL);
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (NULL);
	}
	if ((b = BIO_new_fp(fp, BIO_CLOSE)) == NULL)
		fclose(fp);
	return (b);
}

/*
 * The private key of the PEM in b, or NULL.  The DER is decoded into
 * OpenSSL's secure heap (cleared when freed): PEM_read_bio_PrivateKey()
 * left a copy of the key's bytes in freed memory, which every child
 * forked later inherited.
 */
static EVP_PKEY *
pem_key(BIO *b)
{
	EVP_PKEY		*k = NULL;
	const unsigned char	*p;
	unsigned char		*der = NULL;
	char			*name = NULL, *hdr = NULL;
	long			 len = 0;

	while (k == NULL && PEM_read_bio_ex(b, &name, &hdr, &der, &len,
	    PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) == 1) {
		p = der;
		if (strcmp(name, "PRIVATE KEY") == 0)
			k = d2i_AutoPrivateKey(NULL, &p, len);
		else if (strcmp(name, "EC PRIVATE KEY") == 0)
			k = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, len);
		else if (strcmp(name, "RSA PRIVATE KEY") == 0)
			k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
		OPENSSL_secure_clear_free(der, (size_t)len);
		OPENSSL_free(name);
		OPENSSL_free(hdr);
		der = NULL;
		name = hdr = NULL;
	}
	ERR_clear_error();
	return (k);
}

/* The full chain in path: the leaf first, then its intermediates. */
static struct tls_cert *
read_chain(const char *path, int stored, const char *what, char *err,
    size_t len)
{
	struct tls_cert	*c;
	BIO		*b;
	X509		*x;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->tc_chain = sk_X509_new_null()) == NULL) {
		free(c);
		seterr(err, len, "out of memory");
		return (NULL);
	}
	if ((b = pem_open(path, stored)) == NULL) {
		ERR_clear_error();
		seterr(err, len, "%s %s: %s", what, path, strerror(errno));
		goto fail;
	}
	if ((c->tc_leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		seterr(err, len, "%s %s: no PEM certificate", what, path);
		BIO_free(b);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(c->tc_chain, x)) {
			X509_free(x);
			BIO_free(b);
			seterr(err, len, "out of memory");
			goto fail;
		}
	ERR_clear_error();	/* the end of the file */
	BIO_free(b);
	return (c);
 fail:
	tls_cert_free(c);
	return (NULL);
}

static int
read_key(struct tls_cert *c, const char *path, int stored,
    const char *cpath, const char *what, char *err, size_t len)
{
	BIO	*b;

	if ((b = pem_open(path, stored)) == NULL) {
		ERR_clear_error();
		seterr(err, len, "%s %s: %s", what, path, strerror(errno));
		return (-1);
	}
	c->tc_key = pem_key(b);
	BIO_free(b);
	if (c->tc_key == NULL) {
		seterr(err, len, "%s %s: no PEM private key", what, path);
		return (-1);
	}
	if (X509_check_private_key(c->tc_leaf, c->tc_key) != 1) {
		seterr(err, len, "%s %s: the private key does not match the "
		    "certificate in %s", what, path, cpath);
		return (-1);
	}
	return (0);
}

/* stored: the pair is in tls.storage_path (pem_open()). */
static struct tls_cert *
load_pair(const char *cpath, const char *kpath, int stored,
    const char *cwhat, const char *kwhat, char *err, size_t len)
{
	struct tls_cert	*c;

	if ((c = read_chain(cpath, stored, cwhat, err, len)) == NULL)
		return (NULL);
	if (read_key(c, kpath, stored, cpath, kwhat, err, len) == -1) {
		tls_cert_free(c);
		return (NULL);
	}
	return (c);
}

/* Seconds until the leaf expires (negative: expired). */
static long long
expires_in(const X509 *x)
{
	int	 days, secs;

	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
		return (0);
	return ((long long)days * DAY_S + secs);
}

/* SPEC.md 10: tls.cert_expiry_warning / _critical, and expired. */
static void
expiry_events(const struct config *cf, const struct tls_cert *c,
    const char *path)
{
	long long	 left = expires_in(c->tc_leaf);
	const struct cf_tls *t = &cf->tls;

	if (left <= 0)
		log_sys(LOG_LVL_WARN, "tls.cert_expired",
		    "certificate %s expired %lld days ago; clients will "
		    "refuse it", path, -left / DAY_S);
	else if (!t->cert_monitoring.enabled)
		return;
	else if ((uint64_t)left * 1000 <= t->cert_monitoring.
	    critical_threshold_ms)
		log_sys(LOG_LVL_ERROR, "tls.cert_expiry_critical",
		    "certificate %s expires in %lld days", path,
		    left / DAY_S);
	else if ((uint64_t)left * 1000 <= t->cert_monitoring.
	    warning_threshold_ms)
		log_sys(LOG_LVL_WARN, "tls.cert_expiry_warning",
		    "certificate %s expires in %lld days", path,
		    left / DAY_S);
}

void
tls_cert_monitor(const struct config *cf, uint64_t now)
{
	static uint64_t	 next;
	static const struct tls_cert *seen;
	char		 path[PATH_MAX];

	/* The ACME helper watches its own certificate (acme_helper.c). */
	if (installed == NULL || !cf->tls.cert_monitoring.enabled ||
	    cf->tls.cert_monitoring.check_interval_ms == 0 ||
	    cf->tls.provider == TLS_PROV_LETSENCRYPT)
		return;
	/* A new certificate was checked when it was loaded. */
	if (seen != installed) {
		seen = installed;
		next = now + cf->tls.cert_monitoring.check_interval_ms;
		return;
	}
	if (now < next)
		return;
	next = now + cf->tls.cert_monitoring.check_interval_ms;
	if (cf->tls.provider == TLS_PROV_EXTERNAL)
		snprintf(path, sizeof(path), "%s", cf->tls.cert_path);
	else
		snprintf(path, sizeof(path), "%s/" SS_CERT,
		    cf->tls.storage_path);
	expiry_events(cf, installed, path);
}

/* ---------------------------------------------------------- self-signed */

static int
mkdirs(const char *path)
{
	char	 p[PATH_MAX], *s;

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return (-1);
		*s = '/';
	}
	if (mkdir(p, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

static int
add_ext(X509 *x, int nid, const char *val)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*e;
	int		 ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, val)) == NULL)
		return (-1);
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return (ok ? 0 : -1);
}

static int
is_ip(const char *s)
{
	struct in6_addr	 a;

	return (inet_pton(AF_INET, s, &a) == 1 ||
	    inet_pton(AF_INET6, s, &a) == 1);
}

/*
 * 16 random bytes as a positive serial (RFC 5280 4.1.2.2) in minimal
 * DER: the first byte is never 0.  With only its top bit cleared, one
 * serial in 256 began 00 then a byte below 80, a padded INTEGER that
 * every OpenSSL 3 client refuses to parse (the certificate, so the
 * handshake, failed).  0 or -1.
 */
int
tls_cert_random_serial(ASN1_INTEGER *serial)
{
	unsigned char	 sb[16];

	if (RAND_bytes(sb, sizeof(sb)) != 1)
		return (-1);
	sb[0] &= 0x7f;
	if (sb[0] == 0)
		sb[0] = 0x01;
	return (ASN1_STRING_set(serial, sb, sizeof(sb)) == 1 ? 0 : -1);
}

/* An ECDSA P-256 certificate for domain, localhost and 127.0.0.1. */
static struct tls_cert *
make_selfsigned(const char *domain, char *err, size_t len)
{
	struct tls_cert	*c;
	X509_NAME	*nm;
	ASN1_INTEGER	*serial;
	char		 san[600];
	const char	*cn = domain != NULL && *domain ? domain : "localhost";

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->tc_chain = sk_X509_new_null()) == NULL) {
		free(c);
		seterr(err, len, "out of memory");
		return (NULL);
	}
	if ((c->tc_key = EVP_EC_gen("P-256")) == NULL ||
	    (c->tc_leaf = X509_new()) == NULL)
		goto fail;
	serial = X509_get_serialNumber(c->tc_leaf);
	if (tls_cert_random_serial(serial) == -1 ||
	    !X509_set_version(c->tc_leaf, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(c->tc_leaf), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c->tc_leaf),
	    (long)SS_DAYS * DAY_S) == NULL)
		goto fail;
	nm = X509_get_subject_name(c->tc_leaf);
	if (!X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8,
	    (const unsigned char *)"vibewarden self-signed", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(c->tc_leaf, nm) ||
	    !X509_set_pubkey(c->tc_leaf, c->tc_key))
		goto fail;
	if (domain != NULL && *domain && strcmp(domain, "localhost") != 0 &&
	    strcmp(domain, "127.0.0.1") != 0)
		snprintf(san, sizeof(san), "%s:%s,DNS:localhost,IP:127.0.0.1",
		    is_ip(domain) ? "IP" : "DNS", domain);
	else
		snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1");
	if (add_ext(c->tc_leaf, NID_subject_alt_name, san) == -1 ||
	    add_ext(c->tc_leaf, NID_key_usage, "critical,digitalSignature")
	    == -1 || add_ext(c->tc_leaf, NID_ext_key_usage, "serverAuth") ==
	    -1 || add_ext(c->tc_leaf, NID_subject_key_identifier, "hash") ==
	    -1 || !X509_sign(c->tc_leaf, c->tc_key, EVP_sha256()))
		goto fail;
	return (c);
 fail:
	seterr(err, len, "cannot make a self-signed certificate");
	tls_cert_free(c);
	return (NULL);
}

/* Write to path.tmp, then rename: a crash never leaves half a file. */
static int
store_pem(const char *path, const struct tls_cert *c, int key)
{
	char	 tmp[PATH_MAX];
	FILE	*fp;
	int	 fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return (-1);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    key ? 0600 : 0644)) == -1)
		return (-1);
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		return (-1);
	}
	ok = key ? PEM_write_PrivateKey(fp, c->tc_key, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_X509(fp, c->tc_leaf);
	if (fclose(fp) != 0 || !ok || rename(tmp, path) == -1) {
		unlink(tmp);
		return (-1);
	}
	return (0);
}

/* 1 when c can keep serving: valid for a day more, names the domain. */
static int
reusable(const struct tls_cert *c, const char *domain)
{
	if (expires_in(c->tc_leaf) < DAY_S)
		return (0);
	if (domain != NULL && *domain && (is_ip(domain) ?
	    X509_check_ip_asc(c->tc_leaf, domain, 0) :
	    X509_check_host(c->tc_leaf, domain, 0, 0, NULL)) != 1)
		return (0);
	return (1);
}

static struct tls_cert *
selfsigned(const struct config *cf, int create, int temporary, char *err,
    size_t len)
{
	const char	*dir = cf->tls.storage_path;
	char		 cp[PATH_MAX], kp[PATH_MAX], why[256];
	struct tls_cert	*c;

	if (snprintf(cp, sizeof(cp), "%s/" SS_CERT, dir) >= (int)sizeof(cp) ||
	    snprintf(kp, sizeof(kp), "%s/" SS_KEY, dir) >= (int)sizeof(kp)) {
		seterr(err, len, "tls.storage_path %s: too long", dir);
		return (NULL);
	}
	if (access(cp, F_OK) == 0 || access(kp, F_OK) == 0) {
		c = load_pair(cp, kp, 1, "self-signed certificate",
		    "self-signed key", why, sizeof(why));
		if (c != NULL && reusable(c, cf->tls.domain))
			return (c);
		if (c != NULL)
			snprintf(why, sizeof(why), "the stored self-signed "
			    "certificate expires soon or names another "
			    "domain");
		tls_cert_free(c);
		if (!create) {
			snprintf(err, len, "%s", why);
			return (NULL);
		}
		log_sys(LOG_LVL_WARN, "tls.selfsigned_replaced",
		    "%s; making a new self-signed certificate", why);
	} else if (!create) {
		snprintf(err, len, "no self-signed certificate in %s yet", dir);
		return (NULL);
	}
	if (mkdirs(dir) == -1) {
		seterr(err, len, "tls.storage_path %s: %s", dir,
		    strerror(errno));
		return (NULL);
	}
	if ((c = make_selfsigned(cf->tls.domain, err, len)) == NULL)
		return (NULL);
	if (store_pem(kp, c, 1) == -1 || store_pem(cp, c, 0) == -1) {
		seterr(err, len, "tls.storage_path %s: cannot store the "
		    "self-signed certificate: %s", dir, strerror(errno));
		tls_cert_free(c);
		return (NULL);
	}
	log_sys(LOG_LVL_INFO, temporary ? "tls.acme_temporary" :
	    "tls.certificate_issued", "%sself-signed ECDSA P-256 "
	    "certificate for %s stored in %s", temporary ? "temporary " : "",
	    cf->tls.domain && *cf->tls.domain ? cf->tls.domain : "localhost",
	    dir);
	return (c);
}

struct tls_cert *
tls_cert_from_pem(const char *pem, size_t plen, const char *domain,
    char *err, size_t len)
{
	struct tls_cert	*c;
	BIO		*b;
	X509		*x;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->tc_chain = sk_X509_new_null()) == NULL) {
		free(c);
		seterr(err, len, "out of memory");
		return (NULL);
	}
	/* PEM readers skip blocks of another kind: one pass for the
	   certificates, one for the key. */
	if ((b = BIO_new_mem_buf(pem, (int)plen)) == NULL)
		goto fail;
	c->tc_leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	while (c->tc_leaf != NULL &&
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(c->tc_chain, x)) {
			X509_free(x);
			break;
		}
	BIO_free(b);
	ERR_clear_error();
	if (c->tc_leaf == NULL) {
		seterr(err, len, "no PEM certificate");
		goto out;
	}
	if ((b = BIO_new_mem_buf(pem, (int)plen)) == NULL)
		goto fail;
	c->tc_key = pem_key(b);
	BIO_free(b);
	if (c->tc_key == NULL) {
		seterr(err, len, "no PEM private key");
		goto out;
	}
	if (X509_check_private_key(c->tc_leaf, c->tc_key) != 1) {
		seterr(err, len, "the private key does not match the "
		    "certificate");
		goto out;
	}
	if (domain != NULL && X509_check_host(c->tc_leaf, domain, 0, 0,
	    NULL) != 1) {
		seterr(err, len, "the certificate does not name %s", domain);
		goto out;
	}
	return (c);
 fail:
	seterr(err, len, "out of memory");
 out:
	tls_cert_free(c);
	return (NULL);
}

/*
 * The ACME provider: the certificate the helper stored for tls.domain,
 * or until there is one, a temporary self-signed certificate (made like
 * the self-signed provider's and kept beside it), so the TLS port serves
 * from the first start; the helper swaps the real one in when issued.
 */
static struct tls_cert *
acme_stored(const struct config *cf, int create, char *err, size_t len)
{
	const char	*dir = cf->tls.storage_path;
	char		 cp[PATH_MAX], kp[PATH_MAX], why[256];
	struct tls_cert	*c;

	if (snprintf(cp, sizeof(cp), "%s/%s.crt", dir, cf->tls.domain) >=
	    (int)sizeof(cp) || snprintf(kp, sizeof(kp), "%s/%s.key", dir,
	    cf->tls.domain) >= (int)sizeof(kp)) {
		seterr(err, len, "tls.storage_path %s: too long", dir);
		return (NULL);
	}
	if (access(cp, F_OK) == 0) {
		c = load_pair(cp, kp, 1, "ACME certificate", "ACME key", why,
		    sizeof(why));
		if (c != NULL && X509_check_host(c->tc_leaf, cf->tls.domain,
		    0, 0, NULL) == 1)
			return (c);
		if (c != NULL)
			snprintf(why, sizeof(why), "%.120s does not name "
			    "%.120s", cp, cf->tls.domain);
		tls_cert_free(c);
		if (create)
			log_sys(LOG_LVL_WARN, "tls.acme_stored_unusable",
			    "%s; serving a temporary self-signed certificate "
			    "until a new one is issued", why);
	} else if (create)
		log_sys(LOG_LVL_INFO, "tls.acme_pending", "no ACME "
		    "certificate for %s in %s yet; serving a temporary "
		    "self-signed one until it is issued", cf->tls.domain, dir);
	return (selfsigned(cf, create, 1, err, len));
}

struct tls_cert *
tls_cert_load(const struct config *cf, int create, char *err, size_t len)
{
	struct tls_cert	*c;

	err[0] = '\0';
	switch (cf->tls.provider) {
	case TLS_PROV_EXTERNAL:
		c = load_pair(cf->tls.cert_path, cf->tls.key_path, 0,
		    "tls.cert_path", "tls.key_path", err, len);
		if (c != NULL && create)
			expiry_events(cf, c, cf->tls.cert_path);
		return (c);
	case TLS_PROV_SELF_SIGNED:
		return (selfsigned(cf, create, 0, err, len));
	default:
		return (acme_stored(cf, create, err, len));
	}
}

X509_STORE *
tls_ca_load(const struct config *cf, char *err, size_t len)
{
	X509_STORE	*st;

	err[0] = '\0';
	if (!cf->upstream.tls || cf->upstream.tls_ca_file == NULL)
		return (NULL);
	if ((st = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(st, cf->upstream.tls_ca_file) != 1) {
		seterr(err, len, "upstream.tls.ca_file %s: no usable CA "
		    "certificate", cf->upstream.tls_ca_file);
		X509_STORE_free(st);
		return (NULL);
	}
	return (st);
}

void
tls_ca_install(X509_STORE *st)
{
	if (ca_installed != st)
		X509_STORE_free(ca_installed);
	ca_installed = st;
}

void
tls_ca_set(X509_STORE *st)
{
	ca_installed = st;
}

X509_STORE *
tls_ca_current(void)
{
	return (ca_installed);
}

int
tls_check(const struct config *cf, char *err, size_t len)
{
	struct tls_cert	*c;
	X509_STORE	*st;

	err[0] = '\0';
	if (cf->tls.enabled && cf->tls.provider == TLS_PROV_EXTERNAL) {
		if ((c = tls_cert_load(cf, 0, err, len)) == NULL)
			return (-1);
		if (expires_in(c->tc_leaf) <= 0)
			fprintf(stderr, "vibewarden: warning: tls.cert_path "
			    "%s: the certificate has expired\n",
			    cf->tls.cert_path);
		tls_cert_free(c);
	}
	st = tls_ca_load(cf, err, len);
	if (st == NULL && err[0] != '\0')
		return (-1);
	X509_STORE_free(st);
	return (0);
}

/* ---------------------------------------------------------- ticket keys */

/*
 * One shared page, mapped before the first fork and inherited by every
 * generation.  Only the master writes, under a sequence count (odd while
 * writing); workers copy a key out and retry when the count moved.
 */
struct tkpage {
	uint32_t	 tp_seq;
	uint32_t	 tp_nkeys;		/* 1 or 2 */
	struct tls_tkey	 tp_key[2];		/* [0] current, [1] previous */
};

static struct tkpage	*tkp;
static int		 tk_fd = -1;
static uint64_t		 tk_last_ms;

static void
tk_write_begin(void)
{
	__atomic_add_fetch(&tkp->tp_seq, 1, __ATOMIC_SEQ_CST);
}

static void
tk_write_end(void)
{
	__atomic_add_fetch(&tkp->tp_seq, 1, __ATOMIC_SEQ_CST);
}

static int
tk_new(struct tls_tkey *k)
{
	return (RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -1);
}

/* The page of a master we replace (SIGUSR2): its keys stay valid. */
static int
tk_inherit(void)
{
	struct stat	 st;
	const char	*s;
	char		*end;
	long		 fd;
	void		*p;

	if ((s = getenv("VIBEWARDEN_TICKET_FD")) == NULL)
		return (-1);
	fd = strtol(s, &end, 10);
	unsetenv("VIBEWARDEN_TICKET_FD");
	if (*s == '\0' || *end != '\0' || fd <= STDERR_FILENO || fd > INT_MAX)
		return (-1);
	if (fstat((int)fd, &st) == -1 || st.st_size != sizeof(*tkp) ||
	    (p = mmap(NULL, sizeof(*tkp), PROT_READ | PROT_WRITE, MAP_SHARED,
	    (int)fd, 0)) == MAP_FAILED) {
		close((int)fd);
		return (-1);
	}
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	tkp = p;
	tk_fd = (int)fd;
	return (0);
}

int
tls_tickets_init(void)
{
	struct tls_tkey	 k;
	void		*p;
	int		 fd;

	tk_last_ms = 0;
	if (tk_inherit() == 0)
		return (0);
	/* A memfd rather than anonymous memory: a binary upgrade can pass
	   it on, so tickets survive the new master too. */
	if ((fd = memfd_create("vibewarden-tickets", MFD_CLOEXEC)) == -1)
		return (-1);
	if (ftruncate(fd, sizeof(*tkp)) == -1 ||
	    (p = mmap(NULL, sizeof(*tkp), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		close(fd);
		return (-1);
	}
	tkp = p;
	tk_fd = fd;
	if (tk_new(&k) == -1)
		return (-1);
	tk_write_begin();
	tkp->tp_key[0] = k;
	tkp->tp_nkeys = 1;
	tk_write_end();
	explicit_bzero(&k, sizeof(k));
	return (0);
}

void
tls_tickets_forget(void)
{
	if (tkp != NULL)
		munmap(tkp, sizeof(*tkp));
	if (tk_fd != -1)
		close(tk_fd);
	tkp = NULL;
	tk_fd = -1;
}

int
tls_tickets_fd(void)
{
	return (tk_fd);
}

uint64_t
tls_tickets_tick(uint64_t now, uint64_t rot_ms)
{
	struct tls_tkey	 k;

	if (tkp == NULL || rot_ms == 0)
		return (UINT64_MAX);
	if (tk_last_ms == 0)
		tk_last_ms = now;
	if (now - tk_last_ms < rot_ms)
		return (rot_ms - (now - tk_last_ms));
	if (tk_new(&k) == -1) {
		log_sys(LOG_LVL_ERROR, "tls.ticket_rotation_failed",
		    "no random bytes for a session-ticket key; keeping the "
		    "current one");
		return (1000);
	}
	tk_write_begin();
	tkp->tp_key[1] = tkp->tp_key[0];
	tkp->tp_key[0] = k;
	tkp->tp_nkeys = 2;
	tk_write_end();
	explicit_bzero(&k, sizeof(k));
	tk_last_ms = now;
	log_sys(LOG_LVL_INFO, "tls.ticket_keys_rotated",
	    "session-ticket key rotated; the previous one is still accepted");
	return (rot_ms);
}

int
tls_ticket_key(const unsigned char *name, struct tls_tkey *out)
{
	uint32_t	 s0, n, i;
	int		 found;

	if (tkp == NULL)
		return (0);
	for (;;) {
		s0 = __atomic_load_n(&tkp->tp_seq, __ATOMIC_ACQUIRE);
		if (s0 & 1)
			continue;
		found = 0;
		n = tkp->tp_nkeys;
		for (i = 0; i < n && i < 2 && !found; i++)
			if (name == NULL || memcmp(name,
			    tkp->tp_key[i].tk_name, 16) == 0) {
				memcpy(out, &tkp->tp_key[i], sizeof(*out));
				found = (int)i + 1;
			}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&tkp->tp_seq, __ATOMIC_RELAXED) == s0)
			return (found);
	}
}
