/*
 * jwks_job.c: the JWKS helper of the master (helper.h, SPEC.md 6): fetches
 * auth.jwt.jwks_url (or the jwks_uri of issuer_url's OIDC discovery
 * document) with libcurl, every auth.jwt.cache_ttl, and when a worker
 * asks through shm (an unknown kid) at most once per JWKS_FORCE_GAP; the
 * keys go into the shm "jwks" database, which workers read.  A failed
 * fetch changes nothing there: the last good keys keep working through
 * an outage.  Helper process only: it may block, workers never do this.
 * Events: auth.jwks_refresh {jwks_url, key_count}, auth.jwks_error
 * {jwks_url, detail}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "vw_autoconf.h"
#include "auth.h"
#include "helper.h"
#include "jwt.h"
#include "log.h"
#include "shm.h"
#include "util.h"

#define JWKS_FORCE_GAP	10000	/* ms between forced refreshes */
#define JWKS_POLL_MS	200	/* how often worker requests are looked at */
#define JWKS_TIMEOUT_MS	5000	/* reference 3.3 */
#define JWKS_RETRY_MS	5000	/* first retry after a failure */
#define JWKS_URL_MAX	2048

struct body {
	char	*b;
	size_t	 len;
	int	 over;
};

struct keyset {
	struct shm_kv	 kv[JWKS_MAX_KEYS];
	size_t		 n;
};

static uint64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static void
event(int ok, const char *url, const char *detail, int nkeys)
{
	struct logev	 le;

	logev_init(&le, ok ? LOG_LVL_INFO : LOG_LVL_WARN, ok ? "info" :
	    "medium", "auth", ok ? "auth.jwks_refresh" : "auth.jwks_error");
	if (!log_enabled(le.le_level))
		return;
	if (ok)
		logev_summary(&le, "JWKS fetched: %d keys", nkeys);
	else
		logev_summary(&le, "JWKS fetch failed: %s", detail);
	logev_cstr(&le, "jwks_url", url);
	if (ok)
		logev_int(&le, "key_count", nkeys);
	else
		logev_cstr(&le, "detail", detail);
	le.le_outcome = ok ? "success" : "failed";
	logev_emit(&le);
	log_flush();
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct body	*b = arg;
	char		*nb;

	n *= sz;
	if (b->len + n > JWKS_MAX_BODY) {
		b->over = 1;
		return (0);
	}
	if ((nb = realloc(b->b, b->len + n + 1)) == NULL)
		return (0);
	b->b = nb;
	memcpy(b->b + b->len, p, n);
	b->len += n;
	b->b[b->len] = '\0';
	return (n);
}

/* GET url into b (200 only); 0, or -1 with detail in err. */
static int
fetch(const char *url, struct body *b, char *err, size_t elen)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	CURLcode		 rc;
	long			 st = 0;

	memset(b, 0, sizeof(*b));
	if ((c = curl_easy_init()) == NULL) {
		snprintf(err, elen, "curl_easy_init failed");
		return (-1);
	}
	h = curl_slist_append(h, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/*
	 * No redirects: keys come from the configured URL only.  A 3xx to
	 * another host (or from https to http) would let whoever answers
	 * there sign tokens; it is a failed fetch like any non-200.
	 */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)JWKS_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vibewarden/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(err, elen, "%s", b->over ? "body over 1 MiB" :
		    curl_easy_strerror(rc));
		goto fail;
	}
	if (st != 200) {
		snprintf(err, elen, "HTTP status %ld", st);
		goto fail;
	}
	if (b->b == NULL) {
		snprintf(err, elen, "empty body");
		goto fail;
	}
	return (0);
 fail:
	free(b->b);
	b->b = NULL;
	return (-1);
}

void
jwks_job_source(const struct config *cf, unsigned char out[32])
{
	const char	*u = cf->auth.jwt.jwks_url;
	char		 buf[JWKS_URL_MAX + 8];

	/* jwks_url wins when both are set (jwks_url() below). */
	snprintf(buf, sizeof(buf), "%s%s", u != NULL ? "jwks " : "iss ",
	    u != NULL ? u : cf->auth.jwt.issuer_url != NULL ?
	    cf->auth.jwt.issuer_url : "");
	if (util_sha256(buf, strlen(buf), out) == -1)
		memset(out, 0, 32);
}

static int
add_key(void *arg, const char *kid, enum jwt_alg alg,
    const unsigned char *der, size_t derlen)
{
	struct keyset	*ks = arg;
	unsigned char	*k, *v;
	size_t		 klen = strlen(kid) + 1;

	if (ks->n >= JWKS_MAX_KEYS || derlen + 1 > 4096 || klen > SHM_KEY_MAX)
		return (0);
	if ((k = malloc(klen)) == NULL || (v = malloc(derlen + 1)) == NULL) {
		free(k);
		return (-1);
	}
	k[0] = 'k';
	memcpy(k + 1, kid, klen - 1);
	v[0] = (unsigned char)alg;
	memcpy(v + 1, der, derlen);
	ks->kv[ks->n].kv_k = k;
	ks->kv[ks->n].kv_klen = klen;
	ks->kv[ks->n].kv_v = v;
	ks->kv[ks->n].kv_vlen = derlen + 1;
	ks->n++;
	return (0);
}

static void
keyset_free(struct keyset *ks)
{
	size_t	 i;

	for (i = 0; i < ks->n; i++) {
		free((void *)ks->kv[i].kv_k);
		free((void *)ks->kv[i].kv_v);
	}
	ks->n = 0;
}

/* The JWKS URL: jwks_url, else discovery from issuer_url. */
static int
jwks_url(const struct config *cf, char *out, size_t cap, char *err,
    size_t elen)
{
	const char	*iss = cf->auth.jwt.issuer_url;
	char		 disc[JWKS_URL_MAX];
	struct body	 b;
	int		 rc;

	if (cf->auth.jwt.jwks_url != NULL) {
		snprintf(out, cap, "%s", cf->auth.jwt.jwks_url);
		return (0);
	}
	snprintf(disc, sizeof(disc), "%s%s.well-known/openid-configuration",
	    iss, iss[0] != '\0' && iss[strlen(iss) - 1] == '/' ? "" : "/");
	snprintf(out, cap, "%s", disc);
	if (fetch(disc, &b, err, elen) == -1)
		return (-1);
	/*
	 * An https issuer's keys must not come over http: the discovery
	 * document cannot be forged, but an http jwks_uri it names can be
	 * answered by anyone on the path.
	 */
	rc = jwks_discovery_uri(b.b, b.len, strncmp(iss, "https://", 8) ==
	    0, out, cap);
	free(b.b);
	if (rc == -1) {
		snprintf(out, cap, "%s", disc);
		snprintf(err, elen, "no %s jwks_uri in the discovery document",
		    strncmp(iss, "https://", 8) == 0 ? "https" : "http(s)");
	}
	return (rc);
}

/* One refresh: 0 when shm holds the fetched keys, -1 (logged). */
static int
refresh(const struct config *cf, struct shm *sh)
{
	char		 url[JWKS_URL_MAX], err[256];
	unsigned char	 src[32];
	const char	*why;
	struct body	 b;
	struct keyset	 ks;
	int		 n, rc;

	memset(&ks, 0, sizeof(ks));
	if (jwks_url(cf, url, sizeof(url), err, sizeof(err)) == -1 ||
	    fetch(url, &b, err, sizeof(err)) == -1) {
		event(0, url, err, 0);
		return (-1);
	}
	n = jwks_parse(b.b, b.len, add_key, &ks, &why);
	free(b.b);
	if (n <= 0) {
		event(0, url, n == 0 ? "no usable signing key in the set" :
		    why, 0);
		keyset_free(&ks);
		return (-1);
	}
	jwks_job_source(cf, src);
	rc = shm_jwks_replace(sh, ks.kv, ks.n, wall_ms(), src);
	keyset_free(&ks);
	if (rc != SHM_OK) {
		event(0, url, shm_errstr(sh), 0);
		return (-1);
	}
	event(1, url, NULL, n);
	return (0);
}

int
jwks_job_wanted(const struct config *cf)
{
	return (config_feature_on(cf, "auth") && cf->auth.mode == AUTH_JWT &&
	    (cf->auth.jwt.jwks_url != NULL ||
	    cf->auth.jwt.issuer_url != NULL));
}

void
jwks_job_main(const struct config *cf)
{
	struct shm	*sh;
	const char	*err;
	uint64_t	 now, next = 0, last = 0, handled = 0, want = 0;
	uint64_t	 retry = JWKS_RETRY_MS, ttl = cf->auth.jwt.cache_ttl_ms;

	if (helper_drop_privileges(cf) == -1)
		return;
	if ((sh = shm_open(cf->shm.path, cf->shm.map_size, 0, &err)) ==
	    NULL) {
		log_sys(LOG_LVL_ERROR, "shm.open_failed", "%s: %s; no JWKS "
		    "refresh", cf->shm.path, err);
		return;
	}
	if (ttl < 1000)
		ttl = 1000;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	while (!helper_stopping()) {
		now = wall_ms();
		shm_jwks_wanted(sh, &want);
		if (now >= next || (want > handled &&
		    now - last >= JWKS_FORCE_GAP)) {
			handled = want;
			last = now;
			if (refresh(cf, sh) == 0) {
				next = now + ttl;
				retry = JWKS_RETRY_MS;
			} else {
				/* Back off, but never past the TTL. */
				next = now + (retry < ttl ? retry : ttl);
				retry = retry * 2 > 60000 ? 60000 : retry * 2;
			}
		}
		helper_sleep(JWKS_POLL_MS);
	}
	curl_global_cleanup();
	shm_close(sh);
}
