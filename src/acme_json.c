/*
 * acme_json.c: the CA's JSON objects (RFC 8555 7.1) into structs.  Pure:
 * no I/O, bounded, never trusts the CA's bytes (a fuzz target feeds it
 * arbitrary input).  ACME helper and tests only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "acme.h"

#define URL_MAX		2048
#define TEXT_MAX	1024

static const char *const status_names[] = {
	"unknown", "pending", "ready", "processing", "valid", "invalid",
	"expired", "deactivated", "revoked"
};

const char *
acme_status_name(enum acme_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		return ("unknown");
	return (status_names[s]);
}

static enum acme_status
status_of(json_t *o)
{
	const char	*s = json_string_value(json_object_get(o, "status"));
	size_t		 i;

	if (s == NULL)
		return (AS_UNKNOWN);
	for (i = 1; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0)
			return ((enum acme_status)i);
	return (AS_UNKNOWN);
}

/* A copy of an http(s) URL without controls or spaces; NULL otherwise. */
static char *
url_of(json_t *v)
{
	const char	*s = json_string_value(v);
	size_t		 i, n;

	if (s == NULL || (n = json_string_length(v)) == 0 || n > URL_MAX)
		return (NULL);
	if (strncasecmp(s, "https://", 8) != 0 &&
	    strncasecmp(s, "http://", 7) != 0)
		return (NULL);
	/* It goes into a JWS header as is (acme_jws): no quote, no
	   backslash, nothing JSON would escape. */
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    s[i] == '"' || s[i] == '\\')
			return (NULL);
	return (strdup(s));
}

/* Printable ASCII text, shortened; for logs. */
static char *
text_of(json_t *v)
{
	const char	*s = json_string_value(v);
	char		*t;
	size_t		 i, n;

	if (s == NULL)
		return (NULL);
	if ((n = json_string_length(v)) > TEXT_MAX)
		n = TEXT_MAX;
	if ((t = malloc(n + 1)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		t[i] = (unsigned char)s[i] >= ' ' && (unsigned char)s[i] <
		    0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	t[n] = '\0';
	return (t);
}

/* RFC 8555 8.1: the token is base64url, at least 128 bits of it. */
static char *
token_of(json_t *v)
{
	const char	*s = json_string_value(v);
	size_t		 i, n;

	if (s == NULL || (n = json_string_length(v)) < 22 || n > 128)
		return (NULL);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return (NULL);
	return (strdup(s));
}

static json_t *
load(const char *buf, size_t len)
{
	json_t	*o;

	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

void
acme_dir_free(struct acme_dir *d)
{
	free(d->ad_new_nonce);
	free(d->ad_new_account);
	free(d->ad_new_order);
	memset(d, 0, sizeof(*d));
}

int
acme_parse_directory(const char *buf, size_t len, struct acme_dir *d)
{
	json_t	*o;

	memset(d, 0, sizeof(*d));
	if ((o = load(buf, len)) == NULL)
		return (-1);
	d->ad_new_nonce = url_of(json_object_get(o, "newNonce"));
	d->ad_new_account = url_of(json_object_get(o, "newAccount"));
	d->ad_new_order = url_of(json_object_get(o, "newOrder"));
	json_decref(o);
	if (d->ad_new_nonce == NULL || d->ad_new_account == NULL ||
	    d->ad_new_order == NULL) {
		acme_dir_free(d);
		return (-1);
	}
	return (0);
}

void
acme_order_free(struct acme_order *o)
{
	size_t	 i;

	for (i = 0; i < o->ao_nauthz; i++)
		free(o->ao_authz[i]);
	free(o->ao_finalize);
	free(o->ao_certificate);
	memset(o, 0, sizeof(*o));
}

int
acme_parse_order(const char *buf, size_t len, struct acme_order *ord)
{
	json_t	*o, *a, *v;
	size_t	 i, na = 0;

	memset(ord, 0, sizeof(*ord));
	if ((o = load(buf, len)) == NULL)
		return (-1);
	ord->ao_status = status_of(o);
	ord->ao_finalize = url_of(json_object_get(o, "finalize"));
	ord->ao_certificate = url_of(json_object_get(o, "certificate"));
	a = json_object_get(o, "authorizations");
	na = json_array_size(a);
	if (json_is_array(a) && na <= ACME_MAX_AUTHZ)
		json_array_foreach(a, i, v) {
			if ((ord->ao_authz[ord->ao_nauthz] = url_of(v)) ==
			    NULL)
				break;
			ord->ao_nauthz++;
		}
	json_decref(o);
	if (ord->ao_status == AS_UNKNOWN || ord->ao_finalize == NULL ||
	    ord->ao_nauthz == 0 || ord->ao_nauthz != na ||
	    (ord->ao_status == AS_VALID && ord->ao_certificate == NULL)) {
		acme_order_free(ord);
		return (-1);
	}
	return (0);
}

void
acme_authz_free(struct acme_authz *az)
{
	free(az->az_domain);
	free(az->az_http_url);
	free(az->az_http_token);
	free(az->az_http_error);
	memset(az, 0, sizeof(*az));
}

/* The challenge's error, "type: detail", for the log. */
static char *
chal_error(json_t *c)
{
	json_t	*e = json_object_get(c, "error");
	char	*t, *d, *s = NULL;
	size_t	 n;

	if (!json_is_object(e))
		return (NULL);
	t = text_of(json_object_get(e, "type"));
	d = text_of(json_object_get(e, "detail"));
	n = (t ? strlen(t) : 0) + (d ? strlen(d) : 0) + 3;
	if ((s = malloc(n)) != NULL)
		snprintf(s, n, "%s%s%s", t ? t : "", t && d ? ": " : "",
		    d ? d : "");
	free(t);
	free(d);
	return (s);
}

int
acme_parse_authz(const char *buf, size_t len, struct acme_authz *az)
{
	json_t		*o, *id, *a, *c;
	const char	*type;
	size_t		 i;

	memset(az, 0, sizeof(*az));
	if ((o = load(buf, len)) == NULL)
		return (-1);
	az->az_status = status_of(o);
	id = json_object_get(o, "identifier");
	if (json_is_object(id) && (type = json_string_value(
	    json_object_get(id, "type"))) != NULL && strcmp(type, "dns") == 0)
		az->az_domain = text_of(json_object_get(id, "value"));
	a = json_object_get(o, "challenges");
	if (json_is_array(a))
		json_array_foreach(a, i, c) {
			if (!json_is_object(c) || (type = json_string_value(
			    json_object_get(c, "type"))) == NULL ||
			    strcmp(type, "http-01") != 0)
				continue;
			az->az_http_url = url_of(json_object_get(c, "url"));
			az->az_http_token = token_of(json_object_get(c,
			    "token"));
			az->az_http_status = status_of(c);
			az->az_http_error = chal_error(c);
			break;
		}
	json_decref(o);
	if (az->az_status == AS_UNKNOWN || az->az_domain == NULL ||
	    (az->az_http_url == NULL) != (az->az_http_token == NULL)) {
		acme_authz_free(az);
		return (-1);
	}
	return (0);
}

void
acme_problem_free(struct acme_problem *p)
{
	free(p->ap_type);
	free(p->ap_detail);
	memset(p, 0, sizeof(*p));
}

int
acme_parse_problem(const char *buf, size_t len, struct acme_problem *p)
{
	json_t	*o;

	memset(p, 0, sizeof(*p));
	if ((o = load(buf, len)) == NULL)
		return (-1);
	p->ap_type = text_of(json_object_get(o, "type"));
	p->ap_detail = text_of(json_object_get(o, "detail"));
	json_decref(o);
	if (p->ap_type == NULL) {
		acme_problem_free(p);
		return (-1);
	}
	return (0);
}
