/*
 * acme_client.c: one RFC 8555 order, from the directory to the
 * certificate chain, over libcurl.  ACME helper only: it blocks, and so
 * must never be linked into a worker's path.  Every request after the
 * directory is a JWS POST (6.2) with a fresh nonce (6.5); a badNonce
 * answer is retried with the nonce it carries (6.5).  The http-01 key
 * authorizations are published through certpage for the workers'
 * redirect listener, and withdrawn when the order ends.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "acme.h"
#include "certpage.h"
#include "helper.h"
#include "log.h"

#define BODY_MAX	(256 * 1024)	/* a chain is a few KB */
#define HDR_MAX		2048
#define NONCE_TRIES	5
#define POLL_MS		1000
#define POLL_MAX	90		/* polls of an authorization, order */

struct acme_client {
	CURL		*ac_curl;
	char		*ac_url;	/* the directory */
	char		*ac_ca;
	EVP_PKEY	*ac_key;	/* account key, borrowed */
	char		*ac_kid;	/* account URL */
	char		*ac_nonce;
	char		*ac_thumb;
	struct acme_dir	 ac_dir;
	int		 ac_have_dir;
};

struct resp {
	long		 r_status;
	char		*r_body;
	size_t		 r_len;
	char		*r_location;
	char		*r_nonce;
	int		 r_overflow;
};

static void
resp_free(struct resp *r)
{
	free(r->r_body);
	free(r->r_location);
	free(r->r_nonce);
	memset(r, 0, sizeof(*r));
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp	*r = arg;
	char		*nb;

	n *= sz;
	if (r->r_len + n > BODY_MAX) {
		r->r_overflow = 1;
		return (0);
	}
	if ((nb = realloc(r->r_body, r->r_len + n + 1)) == NULL)
		return (0);
	memcpy(nb + r->r_len, p, n);
	r->r_body = nb;
	r->r_len += n;
	nb[r->r_len] = '\0';
	return (n);
}

/* The header's value, trimmed, if it has only printable characters. */
static char *
hdr_value(const char *p, size_t n, const char *name)
{
	size_t	 k = strlen(name), i;
	char	*v;

	if (n <= k || n > HDR_MAX || strncasecmp(p, name, k) != 0 ||
	    p[k] != ':')
		return (NULL);
	p += k + 1;
	n -= k + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == '"' ||
		    p[i] == '\\' || p[i] == 0x7f)
			return (NULL);
	if (n == 0 || (v = malloc(n + 1)) == NULL)
		return (NULL);
	memcpy(v, p, n);
	v[n] = '\0';
	return (v);
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp	*r = arg;
	char		*v;

	n *= sz;
	if ((v = hdr_value(p, n, "Replay-Nonce")) != NULL) {
		free(r->r_nonce);
		r->r_nonce = v;
	} else if ((v = hdr_value(p, n, "Location")) != NULL) {
		free(r->r_location);
		r->r_location = v;
	}
	return (n);
}

/* GET (body NULL, head 0), HEAD (head 1) or POST of a JWS. */
static int
http(struct acme_client *ac, const char *url, const char *body, int head,
    const char *accept, struct resp *r, char *err, size_t errlen)
{
	struct curl_slist	*h = NULL;
	CURL			*c = ac->ac_curl;
	CURLcode		 cc;
	char			 ab[128];

	memset(r, 0, sizeof(*r));
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vibewarden-acme/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (ac->ac_ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ac->ac_ca);
	if (head)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/jose+json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (accept != NULL) {
		snprintf(ab, sizeof(ab), "Accept: %s", accept);
		h = curl_slist_append(h, ab);
	}
	if (h != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, r->r_overflow ?
		    "answer too large" : curl_easy_strerror(cc));
		resp_free(r);
		return (-1);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->r_status);
	/* A nonce from any answer serves the next request (6.5). */
	if (r->r_nonce != NULL) {
		free(ac->ac_nonce);
		ac->ac_nonce = strdup(r->r_nonce);
	}
	return (0);
}

/* "url: status type: detail" into err. */
static void
problem(const struct resp *r, const char *what, char *err, size_t errlen)
{
	struct acme_problem	 p;

	if (r->r_body != NULL && acme_parse_problem(r->r_body, r->r_len,
	    &p) == 0) {
		snprintf(err, errlen, "%s: HTTP %ld %s%s%s", what,
		    r->r_status, p.ap_type, p.ap_detail ? ": " : "",
		    p.ap_detail ? p.ap_detail : "");
		acme_problem_free(&p);
	} else
		snprintf(err, errlen, "%s: HTTP %ld", what, r->r_status);
}

static int
is_bad_nonce(const struct resp *r)
{
	struct acme_problem	 p;
	int			 bad;

	if (r->r_status != 400 || r->r_body == NULL ||
	    acme_parse_problem(r->r_body, r->r_len, &p) == -1)
		return (0);
	bad = strcmp(p.ap_type, "urn:ietf:params:acme:error:badNonce") == 0;
	acme_problem_free(&p);
	return (bad);
}

static int
directory(struct acme_client *ac, char *err, size_t errlen)
{
	struct resp	 r;

	if (ac->ac_have_dir)
		return (0);
	if (http(ac, ac->ac_url, NULL, 0, NULL, &r, err, errlen) == -1)
		return (-1);
	if (r.r_status != 200 || r.r_body == NULL ||
	    acme_parse_directory(r.r_body, r.r_len, &ac->ac_dir) == -1) {
		snprintf(err, errlen, "directory %s: HTTP %ld, not an ACME "
		    "directory", ac->ac_url, r.r_status);
		resp_free(&r);
		return (-1);
	}
	resp_free(&r);
	ac->ac_have_dir = 1;
	return (0);
}

static int
fresh_nonce(struct acme_client *ac, char *err, size_t errlen)
{
	struct resp	 r;

	if (ac->ac_nonce != NULL)
		return (0);
	if (http(ac, ac->ac_dir.ad_new_nonce, NULL, 1, NULL, &r, err,
	    errlen) == -1)
		return (-1);
	resp_free(&r);
	if (ac->ac_nonce == NULL) {
		snprintf(err, errlen, "newNonce %s: no Replay-Nonce",
		    ac->ac_dir.ad_new_nonce);
		return (-1);
	}
	return (0);
}

/*
 * A JWS POST of payload ("" for POST-as-GET) to url, by kid once we have
 * an account (use_jwk forces the key itself, for newAccount).  A
 * badNonce answer is retried.  The answer is the caller's to free.
 */
static int
post(struct acme_client *ac, const char *url, const char *payload,
    int use_jwk, const char *accept, struct resp *r, char *err,
    size_t errlen)
{
	char	*jws, *nonce;
	int	 i, rc;

	for (i = 0; i < NONCE_TRIES; i++) {
		if (fresh_nonce(ac, err, errlen) == -1)
			return (-1);
		nonce = ac->ac_nonce;
		ac->ac_nonce = NULL;	/* each nonce is used once */
		jws = acme_jws(ac->ac_key, use_jwk ? NULL : ac->ac_kid, nonce,
		    url, payload);
		free(nonce);
		if (jws == NULL) {
			snprintf(err, errlen, "cannot sign a request");
			return (-1);
		}
		rc = http(ac, url, jws, 0, accept, r, err, errlen);
		free(jws);
		if (rc == -1)
			return (-1);
		if (!is_bad_nonce(r))
			return (0);
		resp_free(r);
	}
	snprintf(err, errlen, "%s: badNonce %d times in a row", url,
	    NONCE_TRIES);
	return (-1);
}

static int
account(struct acme_client *ac, char *err, size_t errlen)
{
	struct resp	 r;

	if (ac->ac_kid != NULL)
		return (0);
	if (post(ac, ac->ac_dir.ad_new_account,
	    "{\"termsOfServiceAgreed\":true}", 1, NULL, &r, err, errlen) == -1)
		return (-1);
	if ((r.r_status != 200 && r.r_status != 201) ||
	    r.r_location == NULL) {
		problem(&r, "newAccount", err, errlen);
		resp_free(&r);
		return (-1);
	}
	ac->ac_kid = r.r_location;
	r.r_location = NULL;
	if (r.r_status == 201)
		log_sys(LOG_LVL_INFO, "tls.acme_account", "ACME account %s "
		    "registered", ac->ac_kid);
	resp_free(&r);
	return (0);
}

/* POST-as-GET url and parse it as an order or authorization. */
static int
fetch_order(struct acme_client *ac, const char *url, struct acme_order *o,
    char *err, size_t errlen)
{
	struct resp	 r;

	if (post(ac, url, "", 0, NULL, &r, err, errlen) == -1)
		return (-1);
	if (r.r_status != 200 || r.r_body == NULL ||
	    acme_parse_order(r.r_body, r.r_len, o) == -1) {
		problem(&r, "order", err, errlen);
		resp_free(&r);
		return (-1);
	}
	resp_free(&r);
	return (0);
}

static int
fetch_authz(struct acme_client *ac, const char *url, struct acme_authz *az,
    char *err, size_t errlen)
{
	struct resp	 r;

	if (post(ac, url, "", 0, NULL, &r, err, errlen) == -1)
		return (-1);
	if (r.r_status != 200 || r.r_body == NULL ||
	    acme_parse_authz(r.r_body, r.r_len, az) == -1) {
		problem(&r, "authorization", err, errlen);
		resp_free(&r);
		return (-1);
	}
	resp_free(&r);
	return (0);
}

/* One authorization: publish the key authorization, tell the CA, wait. */
static int
authorize(struct acme_client *ac, const char *url, char *err, size_t errlen)
{
	struct acme_authz	 az;
	struct resp		 r;
	char			 ka[CP_KEYAUTH_MAX + 1];
	char			 tok[CP_TOKEN_MAX + 1] = "";
	int			 i, rc = -1;

	if (fetch_authz(ac, url, &az, err, errlen) == -1)
		return (-1);
	if (az.az_status == AS_VALID) {
		acme_authz_free(&az);
		return (0);
	}
	if (az.az_status != AS_PENDING || az.az_http_url == NULL) {
		snprintf(err, errlen, "authorization for %s is %s%s",
		    az.az_domain, acme_status_name(az.az_status),
		    az.az_http_url == NULL ? " and offers no http-01" : "");
		goto out;
	}
	/* RFC 8555 8.1 */
	if ((size_t)snprintf(ka, sizeof(ka), "%s.%s", az.az_http_token,
	    ac->ac_thumb) >= sizeof(ka) ||
	    certpage_challenge_set(az.az_http_token, ka) == -1) {
		snprintf(err, errlen, "cannot publish the http-01 answer");
		goto out;
	}
	snprintf(tok, sizeof(tok), "%s", az.az_http_token);
	if (post(ac, az.az_http_url, "{}", 0, NULL, &r, err, errlen) == -1)
		goto out;
	if (r.r_status != 200) {
		problem(&r, "challenge", err, errlen);
		resp_free(&r);
		goto out;
	}
	resp_free(&r);
	for (i = 0; i < POLL_MAX && !helper_stopping(); i++) {
		acme_authz_free(&az);
		if (fetch_authz(ac, url, &az, err, errlen) == -1)
			goto out;
		if (az.az_status == AS_VALID) {
			rc = 0;
			goto out;
		}
		if (az.az_status != AS_PENDING) {
			snprintf(err, errlen, "http-01 for %s: authorization "
			    "%s%s%s", az.az_domain,
			    acme_status_name(az.az_status),
			    az.az_http_error ? ": " : "",
			    az.az_http_error ? az.az_http_error : "");
			goto out;
		}
		helper_sleep(POLL_MS);
	}
	snprintf(err, errlen, "http-01 for %s: still pending", az.az_domain);
 out:
	if (tok[0] != '\0')
		certpage_challenge_set(tok, NULL);
	acme_authz_free(&az);
	return (rc);
}

/* Poll the order at url until it leaves want_leave. */
static int
poll_order(struct acme_client *ac, const char *url, struct acme_order *o,
    enum acme_status leave, char *err, size_t errlen)
{
	int	 i;

	for (i = 0; i < POLL_MAX && o->ao_status == leave &&
	    !helper_stopping(); i++) {
		helper_sleep(POLL_MS);
		acme_order_free(o);
		if (fetch_order(ac, url, o, err, errlen) == -1)
			return (-1);
	}
	return (0);
}

char *
acme_client_issue(struct acme_client *ac, const char *domain,
    EVP_PKEY *ckey, size_t *len, char *err, size_t errlen)
{
	struct acme_order	 o;
	struct resp		 r;
	char			*ourl = NULL, *csr = NULL, *pl = NULL;
	char			*pem = NULL;
	size_t			 i, n;

	memset(&o, 0, sizeof(o));
	if (directory(ac, err, errlen) == -1 ||
	    account(ac, err, errlen) == -1)
		return (NULL);
	n = strlen(domain) + 64;
	if ((pl = malloc(n)) == NULL)
		goto oom;
	/* The domain passed config checks: a host name, JSON-safe. */
	snprintf(pl, n, "{\"identifiers\":[{\"type\":\"dns\",\"value\":"
	    "\"%s\"}]}", domain);
	if (post(ac, ac->ac_dir.ad_new_order, pl, 0, NULL, &r, err, errlen)
	    == -1)
		goto out;
	if (r.r_status != 201 || r.r_location == NULL || r.r_body == NULL ||
	    acme_parse_order(r.r_body, r.r_len, &o) == -1) {
		problem(&r, "newOrder", err, errlen);
		resp_free(&r);
		goto out;
	}
	ourl = r.r_location;
	r.r_location = NULL;
	resp_free(&r);
	for (i = 0; i < o.ao_nauthz; i++)
		if (authorize(ac, o.ao_authz[i], err, errlen) == -1)
			goto out;
	acme_order_free(&o);
	if (fetch_order(ac, ourl, &o, err, errlen) == -1 ||
	    poll_order(ac, ourl, &o, AS_PENDING, err, errlen) == -1)
		goto out;
	if (o.ao_status != AS_READY) {
		snprintf(err, errlen, "order is %s, not ready, after its "
		    "authorizations", acme_status_name(o.ao_status));
		goto out;
	}
	if ((csr = acme_csr(domain, ckey)) == NULL)
		goto oom;
	free(pl);
	n = strlen(csr) + 16;
	if ((pl = malloc(n)) == NULL)
		goto oom;
	snprintf(pl, n, "{\"csr\":\"%s\"}", csr);
	if (post(ac, o.ao_finalize, pl, 0, NULL, &r, err, errlen) == -1)
		goto out;
	if (r.r_status != 200) {
		problem(&r, "finalize", err, errlen);
		resp_free(&r);
		goto out;
	}
	resp_free(&r);
	acme_order_free(&o);
	if (fetch_order(ac, ourl, &o, err, errlen) == -1 ||
	    poll_order(ac, ourl, &o, AS_PROCESSING, err, errlen) == -1)
		goto out;
	if (o.ao_status != AS_VALID) {
		snprintf(err, errlen, "order is %s after finalize",
		    acme_status_name(o.ao_status));
		goto out;
	}
	if (post(ac, o.ao_certificate, "", 0,
	    "application/pem-certificate-chain", &r, err, errlen) == -1)
		goto out;
	if (r.r_status != 200 || r.r_body == NULL ||
	    strstr(r.r_body, "-----BEGIN CERTIFICATE-----") == NULL) {
		problem(&r, "certificate download", err, errlen);
		resp_free(&r);
		goto out;
	}
	pem = r.r_body;
	*len = r.r_len;
	r.r_body = NULL;
	resp_free(&r);
	goto out;
 oom:
	snprintf(err, errlen, "out of memory");
 out:
	if (helper_stopping() && pem == NULL)
		snprintf(err, errlen, "stopped");
	acme_order_free(&o);
	free(ourl);
	free(csr);
	free(pl);
	return (pem);
}

struct acme_client *
acme_client_new(const char *url, const char *ca_file, EVP_PKEY *akey)
{
	struct acme_client	*ac;

	if ((ac = calloc(1, sizeof(*ac))) == NULL)
		return (NULL);
	ac->ac_key = akey;
	if ((ac->ac_curl = curl_easy_init()) == NULL ||
	    (ac->ac_url = strdup(url)) == NULL ||
	    (ca_file != NULL && (ac->ac_ca = strdup(ca_file)) == NULL) ||
	    (ac->ac_thumb = acme_thumbprint(akey)) == NULL) {
		acme_client_free(ac);
		return (NULL);
	}
	return (ac);
}

void
acme_client_free(struct acme_client *ac)
{
	if (ac == NULL)
		return;
	if (ac->ac_curl != NULL)
		curl_easy_cleanup(ac->ac_curl);
	acme_dir_free(&ac->ac_dir);
	free(ac->ac_url);
	free(ac->ac_ca);
	free(ac->ac_kid);
	free(ac->ac_nonce);
	free(ac->ac_thumb);
	free(ac);
}
