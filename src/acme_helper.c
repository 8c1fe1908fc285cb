/*
 * acme_helper.c: the ACME helper process of the master (helper.h) for
 * tls.provider letsencrypt (SPEC.md 10).  It keeps the certificate of
 * tls.domain under tls.storage_path, orders a new one when there is none
 * or two thirds of its lifetime have passed (less a jitter), backs off
 * after a failure while the old certificate keeps serving, and hands
 * every new certificate to the workers through certpage, which swap it
 * in for new connections (open ones keep theirs).  Runs as server.user
 * once it has made storage_path its own; blocks freely (libcurl); never
 * touches a client byte.
 *
 * Files in tls.storage_path:
 *   account.key        the ACME account's ECDSA P-256 key (0600)
 *   <domain>.crt       the issued chain, leaf first
 *   <domain>.key       its ECDSA P-256 key (0600)
 *   acme.lock          held while an order runs: the helpers of two
 *                      generations (a reload) never order at once
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "acme.h"
#include "certpage.h"
#include "helper.h"
#include "log.h"
#include "tls.h"

#define BACKOFF_BASE_S	30
#define BACKOFF_MAX_S	(6 * 3600)
#define LOCK_WAIT_MS	1000

int
acme_wanted(const struct config *cf)
{
	return (cf->tls.enabled && cf->tls.provider == TLS_PROV_LETSENCRYPT);
}

int64_t
acme_renew_at(int64_t nb, int64_t na, double jitter01)
{
	int64_t	 life = na - nb;

	if (life <= 0)
		return (nb);
	return (nb + life * 2 / 3 - (int64_t)(jitter01 * (double)life / 30));
}

uint64_t
acme_backoff(unsigned n, double jitter01)
{
	uint64_t	 s = BACKOFF_BASE_S;

	while (n > 1 && s < BACKOFF_MAX_S) {
		s *= 2;
		n--;
	}
	if (s > BACKOFF_MAX_S)
		s = BACKOFF_MAX_S;
	/* Up to a tenth more, so many hosts do not retry in step. */
	return (s + (uint64_t)(jitter01 * (double)s / 10));
}

static double
jitter(void)
{
	uint32_t	 r;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return (0.5);
	return ((double)r / 4294967296.0);
}

static int64_t
asn1_epoch(const ASN1_TIME *t)
{
	struct tm	 tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return (0);
	return ((int64_t)timegm(&tm));
}

/* t as RFC 3339 UTC, for log lines; buf of at least 32 bytes. */
static const char *
rfc3339(int64_t t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return (buf);
}

/* Write len bytes to path through path.tmp and a rename. */
static int
store_file(const char *path, const void *p, size_t len, mode_t mode)
{
	char	 tmp[PATH_MAX];
	int	 fd;
	ssize_t	 n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return (-1);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) ==
	    -1)
		return (-1);
	n = write(fd, p, len);
	if (n != (ssize_t)len || fsync(fd) == -1 || close(fd) == -1) {
		if (n != (ssize_t)len)
			close(fd);
		unlink(tmp);
		return (-1);
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return (-1);
	}
	return (0);
}

/* The key in path, or a new one stored there. */
static EVP_PKEY *
account_key(const char *dir)
{
	char		 path[PATH_MAX];
	EVP_PKEY	*k = NULL;
	BIO		*b;
	char		*pem;
	long		 n;

	if (snprintf(path, sizeof(path), "%s/account.key", dir) >=
	    (int)sizeof(path))
		return (NULL);
	if ((b = BIO_new_file(path, "r")) != NULL) {
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		if (k != NULL)
			return (k);
		log_sys(LOG_LVL_WARN, "tls.acme_account",
		    "%s is not a usable key; making a new account key", path);
	}
	ERR_clear_error();
	if ((k = acme_key_new()) == NULL || (b = BIO_new(BIO_s_mem())) ==
	    NULL)
		goto fail;
	if (!PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0 ||
	    store_file(path, pem, (size_t)n, 0600) == -1) {
		BIO_free(b);
		goto fail;
	}
	BIO_free(b);
	return (k);
 fail:
	log_sys(LOG_LVL_ERROR, "tls.acme_failed", "cannot make or store the "
	    "ACME account key %s: %s", path, strerror(errno));
	EVP_PKEY_free(k);
	ERR_clear_error();
	return (NULL);
}

/* The stored chain + key as one PEM (key last), for certpage. */
static char *
stored_pem(const char *crt, const char *key, size_t *len)
{
	char	*buf = NULL;
	FILE	*fp;
	size_t	 n = 0, r;
	int	 i;
	const char *paths[2] = { crt, key };

	if ((buf = malloc(CP_PEM_MAX)) == NULL)
		return (NULL);
	for (i = 0; i < 2; i++) {
		if ((fp = fopen(paths[i], "re")) == NULL)
			goto fail;
		r = fread(buf + n, 1, CP_PEM_MAX - 1 - n, fp);
		if (ferror(fp) || !feof(fp)) {
			fclose(fp);
			goto fail;
		}
		fclose(fp);
		n += r;
		if (n > 0 && buf[n - 1] != '\n' && n < CP_PEM_MAX - 1)
			buf[n++] = '\n';
	}
	buf[n] = '\0';
	*len = n;
	return (buf);
 fail:
	free(buf);
	return (NULL);
}

/* SPEC.md 10: tls.cert_expiry_warning / _critical for the ACME cert. */
static void
expiry_events(const struct config *cf, int64_t na, const char *path)
{
	int64_t		 left = na - (int64_t)time(NULL);
	const struct cf_tls *t = &cf->tls;

	if (!t->cert_monitoring.enabled)
		return;
	if (left <= 0)
		log_sys(LOG_LVL_WARN, "tls.cert_expired", "certificate %s "
		    "has expired", path);
	else if ((uint64_t)left * 1000 <= t->cert_monitoring.
	    critical_threshold_ms)
		log_sys(LOG_LVL_ERROR, "tls.cert_expiry_critical",
		    "certificate %s expires in %lld s", path,
		    (long long)left);
	else if ((uint64_t)left * 1000 <= t->cert_monitoring.
	    warning_threshold_ms)
		log_sys(LOG_LVL_WARN, "tls.cert_expiry_warning",
		    "certificate %s expires in %lld s", path,
		    (long long)left);
}

struct state {
	const struct config *st_cf;
	char		 st_dir[PATH_MAX];
	char		 st_crt[PATH_MAX];
	char		 st_key[PATH_MAX];
	char		 st_lock[PATH_MAX];
	EVP_PKEY	*st_akey;
	int64_t		 st_nb, st_na;	/* its validity; 0: none */
	int64_t		 st_renew;
	double		 st_jit;	/* this certificate's jitter */
	unsigned	 st_fails;
	int64_t		 st_next_check;
};

/*
 * Read the stored certificate; publish it to the workers when publish is
 * set.  0 when there is one for the domain, -1 when not.
 */
static int
load_stored(struct state *st, int publish)
{
	struct tls_cert	*c;
	char		 err[256], *pem;
	size_t		 len;

	st->st_nb = st->st_na = 0;
	if ((pem = stored_pem(st->st_crt, st->st_key, &len)) == NULL)
		return (-1);
	c = tls_cert_from_pem(pem, len, st->st_cf->tls.domain, err,
	    sizeof(err));
	if (c == NULL) {
		log_sys(LOG_LVL_WARN, "tls.acme_stored_unusable", "%s: %s; "
		    "ordering a new certificate", st->st_crt, err);
		free(pem);
		return (-1);
	}
	st->st_nb = asn1_epoch(X509_get0_notBefore(c->tc_leaf));
	st->st_na = asn1_epoch(X509_get0_notAfter(c->tc_leaf));
	st->st_renew = acme_renew_at(st->st_nb, st->st_na, st->st_jit);
	tls_cert_free(c);
	if (publish && certpage_cert_set(pem, len) == -1)
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "%s: chain too "
		    "large to hand to the workers", st->st_crt);
	free(pem);
	return (0);
}

/* Order a certificate; store and publish it.  0 or -1 with err. */
static int
issue(struct state *st, char *err, size_t errlen)
{
	const struct cf_tls	*t = &st->st_cf->tls;
	struct acme_client	*ac = NULL;
	struct tls_cert		*c = NULL;
	EVP_PKEY		*ck = NULL;
	BIO			*b = NULL;
	char			*chain = NULL, *kpem, *all = NULL;
	char			 t1[32], t2[32];
	size_t			 clen = 0;
	long			 klen;
	int			 rc = -1;

	if ((ck = acme_key_new()) == NULL ||
	    (ac = acme_client_new(t->acme_directory, t->acme_ca_file,
	    st->st_akey)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((chain = acme_client_issue(ac, t->domain, ck, &clen, err,
	    errlen)) == NULL)
		goto out;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PrivateKey(b, ck, NULL, NULL, 0, NULL, NULL) ||
	    (klen = BIO_get_mem_data(b, &kpem)) <= 0 ||
	    (all = malloc(clen + (size_t)klen + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(all, chain, clen);
	if (clen > 0 && all[clen - 1] != '\n')
		all[clen++] = '\n';
	memcpy(all + clen, kpem, (size_t)klen);
	/* What the CA sent must be a chain for our key and our domain. */
	if ((c = tls_cert_from_pem(all, clen + (size_t)klen, t->domain, err,
	    errlen)) == NULL)
		goto out;
	if (store_file(st->st_key, kpem, (size_t)klen, 0600) == -1 ||
	    store_file(st->st_crt, chain, clen, 0644) == -1) {
		snprintf(err, errlen, "cannot store the certificate in "
		    "%.200s: %s", st->st_dir, strerror(errno));
		goto out;
	}
	if (certpage_cert_set(all, clen + (size_t)klen) == -1) {
		snprintf(err, errlen, "chain too large to hand to the "
		    "workers");
		goto out;
	}
	st->st_nb = asn1_epoch(X509_get0_notBefore(c->tc_leaf));
	st->st_na = asn1_epoch(X509_get0_notAfter(c->tc_leaf));
	st->st_jit = jitter();
	st->st_renew = acme_renew_at(st->st_nb, st->st_na, st->st_jit);
	log_sys(LOG_LVL_INFO, "tls.certificate_issued", "certificate for %s "
	    "issued by %s, valid until %s, stored in %s and installed for "
	    "new connections; renewal at %s", t->domain, t->acme_directory,
	    rfc3339(st->st_na, t1, sizeof(t1)), st->st_crt,
	    rfc3339(st->st_renew, t2, sizeof(t2)));
	rc = 0;
 out:
	tls_cert_free(c);
	BIO_free(b);
	free(all);
	free(chain);
	EVP_PKEY_free(ck);
	acme_client_free(ac);
	ERR_clear_error();
	return (rc);
}

/* storage_path, made and handed to server.user while we are root. */
static int
own_storage(const struct config *cf, const char *dir)
{
	struct passwd	*pw;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "tls.storage_path "
		    "%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (geteuid() == 0 && (pw = getpwnam(cf->server.user)) != NULL &&
	    chown(dir, pw->pw_uid, pw->pw_gid) == -1) {
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "tls.storage_path "
		    "%s: chown to %s: %s", dir, cf->server.user,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* The order lock; 0 taken, -1 held by another helper (or error). */
static int
take_lock(const char *path, int *fd)
{
	struct flock	 fl;

	if (*fd == -1 && (*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return (-1);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	return (fcntl(*fd, F_SETLK, &fl) == -1 ? -1 : 0);
}

static void
drop_lock(int fd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fcntl(fd, F_SETLK, &fl);
}

/* One round: renew when due.  Returns seconds until the next round. */
static uint64_t
round_once(struct state *st)
{
	const struct config	*cf = st->st_cf;
	char			 err[512], t1[32];
	int64_t			 now = (int64_t)time(NULL), next;
	uint64_t		 wait;

	if (st->st_na != 0 && now < st->st_renew) {
		if (now >= st->st_next_check) {
			expiry_events(cf, st->st_na, st->st_crt);
			st->st_next_check = now + (int64_t)(cf->tls.
			    cert_monitoring.check_interval_ms / 1000) + 1;
		}
		next = st->st_renew < st->st_next_check ? st->st_renew :
		    st->st_next_check;
		return ((uint64_t)(next - now));
	}
	if (issue(st, err, sizeof(err)) == 0) {
		st->st_fails = 0;
		certpage_challenge_clear();
		st->st_next_check = now + (int64_t)(cf->tls.cert_monitoring.
		    check_interval_ms / 1000) + 1;
		return (st->st_renew > now ? (uint64_t)(st->st_renew - now) :
		    1);
	}
	if (helper_stopping())
		return (0);
	certpage_challenge_clear();
	wait = acme_backoff(++st->st_fails, jitter());
	if (st->st_na != 0)
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "renewal of %s "
		    "failed: %s; the current certificate (valid until %s) "
		    "keeps serving; next attempt in %llu s", cf->tls.domain,
		    err, rfc3339(st->st_na, t1, sizeof(t1)),
		    (unsigned long long)wait);
	else
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "certificate for "
		    "%s not issued: %s; the temporary self-signed one keeps "
		    "serving; next attempt in %llu s", cf->tls.domain, err,
		    (unsigned long long)wait);
	return (wait);
}

void
acme_main(const struct config *cf)
{
	struct state	 st;
	uint64_t	 wait;
	int		 lockfd = -1, first = 1;

	memset(&st, 0, sizeof(st));
	st.st_cf = cf;
	st.st_jit = jitter();
	snprintf(st.st_dir, sizeof(st.st_dir), "%s", cf->tls.storage_path);
	if (snprintf(st.st_crt, sizeof(st.st_crt), "%s/%s.crt", st.st_dir,
	    cf->tls.domain) >= (int)sizeof(st.st_crt) ||
	    snprintf(st.st_key, sizeof(st.st_key), "%s/%s.key", st.st_dir,
	    cf->tls.domain) >= (int)sizeof(st.st_key) ||
	    snprintf(st.st_lock, sizeof(st.st_lock), "%s/acme.lock",
	    st.st_dir) >= (int)sizeof(st.st_lock)) {
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "tls.storage_path "
		    "too long");
		return;
	}
	if (own_storage(cf, st.st_dir) == -1 ||
	    helper_drop_privileges(cf) == -1)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_sys(LOG_LVL_ERROR, "tls.acme_failed", "libcurl does not "
		    "initialise");
		return;
	}
	if ((st.st_akey = account_key(st.st_dir)) == NULL)
		goto out;
	while (!helper_stopping()) {
		/* Another generation's helper may be ordering right now. */
		if (take_lock(st.st_lock, &lockfd) == -1) {
			helper_sleep(LOCK_WAIT_MS);
			continue;
		}
		/* Each round starts from what is stored: the other helper
		   may have renewed meanwhile. */
		(void)load_stored(&st, first);
		first = 0;
		wait = round_once(&st);
		drop_lock(lockfd);
		/* Whole seconds; at least one, so a clock step cannot spin. */
		if (wait == 0)
			wait = 1;
		while (wait > 0 && !helper_stopping()) {
			helper_sleep(wait > 60 ? 60000 : wait * 1000);
			wait = wait > 60 ? wait - 60 : 0;
		}
	}
 out:
	EVP_PKEY_free(st.st_akey);
	if (lockfd != -1)
		close(lockfd);
	curl_global_cleanup();
}
