/*
 * admin_users.c: /_vibewarden/admin/users[/{id}] (the original's users
 * API, reference 6.1), backed by the Kratos admin API at kratos.admin_url.
 * Admin process only: libcurl blocks its connection's thread, never a
 * worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "admin.h"

#define KRATOS_TIMEOUT_MS	5000
#define KRATOS_BODY_MAX		(4 * 1024 * 1024)

struct kbuf {
	char	*b;
	size_t	 len;
	int	 over;
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct kbuf	*k = arg;
	size_t		 add = sz * n;
	char		*nb;

	if (k->len + add > KRATOS_BODY_MAX) {
		k->over = 1;
		return (0);
	}
	if ((nb = realloc(k->b, k->len + add + 1)) == NULL)
		return (0);
	k->b = nb;
	memcpy(k->b + k->len, p, add);
	k->len += add;
	k->b[k->len] = '\0';
	return (add);
}

/*
 * One call to the Kratos admin API: method path (with query) and an
 * optional JSON body.  Returns the HTTP status with *out the parsed JSON
 * answer (or NULL), or -1 when Kratos could not be reached.
 */
static int
kratos(const struct config *cf, const char *method, const char *path,
    json_t *body, json_t **out)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	struct kbuf		 k = { NULL, 0, 0 };
	char			 url[2048], *txt = NULL;
	const char		*base = cf->kratos.admin_url;
	size_t			 bl = strlen(base);
	long			 code = -1;
	CURLcode		 rc;

	*out = NULL;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if ((size_t)snprintf(url, sizeof(url), "%.*s%s", (int)bl, base,
	    path) >= sizeof(url))
		return (-1);
	if ((c = curl_easy_init()) == NULL)
		return (-1);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)KRATOS_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85: the string form */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP |
	    CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	h = curl_slist_append(h, "Accept: application/json");
	if (body != NULL) {
		txt = json_dumps(body, JSON_COMPACT);
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, txt ? txt : "");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(txt);
	if (rc == CURLE_OK && k.b != NULL)
		*out = json_loadb(k.b, k.len, 0, NULL);
	free(k.b);
	return (rc == CURLE_OK ? (int)code : -1);
}

/* A Kratos identity as the original's user object. */
static json_t *
user_of(json_t *id)
{
	json_t		*traits = json_object_get(id, "traits");
	const char	*state = json_string_value(json_object_get(id,
			    "state"));
	const char	*email = json_string_value(json_object_get(traits,
			    "email"));
	const char	*cr = json_string_value(json_object_get(id,
			    "created_at"));
	const char	*uid = json_string_value(json_object_get(id, "id"));

	return (json_pack("{s:s, s:s, s:s, s:s}", "id", uid ? uid : "",
	    "email", email ? email : "", "status", state != NULL &&
	    strcmp(state, "inactive") == 0 ? "inactive" : "active",
	    "created_at", cr ? cr : ""));
}

static void
unavailable(struct adm_reply *r)
{
	adm_error(r, 503, "service_unavailable",
	    "the Kratos admin API is not reachable");
}

static void
list(const struct config *cf, int page, int per_page, struct adm_reply *r)
{
	json_t	*ans, *users, *v;
	char	 path[128];
	size_t	 i;
	int	 st;

	if (page < 1)
		page = 1;
	if (per_page < 1)
		per_page = 20;
	if (per_page > 100)
		per_page = 100;
	snprintf(path, sizeof(path), "/admin/identities?page=%d&per_page=%d",
	    page, per_page);
	r->ar_event = "admin.users_listed";
	if ((st = kratos(cf, "GET", path, NULL, &ans)) < 0) {
		unavailable(r);
		return;
	}
	if (st != 200 || !json_is_array(ans)) {
		json_decref(ans);
		adm_error(r, 500, "internal_error",
		    "unexpected answer from the Kratos admin API");
		return;
	}
	users = json_array();
	json_array_foreach(ans, i, v)
		json_array_append_new(users, user_of(v));
	json_decref(ans);
	r->ar_status = 200;
	r->ar_json = json_pack("{s:o, s:i, s:i, s:i}", "users", users,
	    "total", -1, "page", page, "per_page", per_page);
}

static void
create(const struct config *cf, const char *body, size_t blen,
    struct adm_reply *r)
{
	json_t		*req, *ans, *link = NULL;
	char		 email[256], path[128];
	const char	*code, *id, *rl = NULL;
	int		 st;

	r->ar_event = "admin.user_created";
	if (admin_parse_user(body, blen, email, sizeof(email), &code) == -1) {
		adm_error(r, 400, code, strcmp(code, "invalid_email") == 0 ?
		    "email is not a valid address" :
		    "the body must be {\"email\":\"...\"}");
		return;
	}
	req = json_pack("{s:s, s:{s:s}, s:s}", "schema_id", "default",
	    "traits", "email", email, "state", "active");
	st = kratos(cf, "POST", "/admin/identities", req, &ans);
	json_decref(req);
	if (st < 0) {
		unavailable(r);
		return;
	}
	if (st == 409) {
		json_decref(ans);
		adm_error(r, 409, "user_exists", "a user with this email "
		    "exists");
		return;
	}
	if ((st != 200 && st != 201) || (id = json_string_value(
	    json_object_get(ans, "id"))) == NULL) {
		json_decref(ans);
		adm_error(r, st == 400 ? 400 : 500, st == 400 ?
		    "invalid_request" : "internal_error",
		    "the Kratos admin API refused the identity");
		return;
	}
	req = json_pack("{s:s}", "identity_id", id);
	snprintf(path, sizeof(path), "/admin/recovery/link");
	if (kratos(cf, "POST", path, req, &link) / 100 == 2)
		rl = json_string_value(json_object_get(link,
		    "recovery_link"));
	json_decref(req);
	r->ar_status = 201;
	r->ar_json = json_pack("{s:s, s:s, s:s?}", "id", id, "email", email,
	    "recovery_link", rl);
	json_decref(link);
	json_decref(ans);
}

static void
one(const struct config *cf, const char *method, const char *id,
    struct adm_reply *r)
{
	json_t	*ans, *patch;
	char	 path[128];
	int	 del = strcmp(method, "DELETE") == 0, st;

	r->ar_event = del ? "admin.user_deactivated" : "admin.user_shown";
	if (!admin_is_uuid(id)) {
		adm_error(r, 400, "invalid_uuid", "the user id is not a UUID");
		return;
	}
	snprintf(path, sizeof(path), "/admin/identities/%s", id);
	if (del) {
		/* The original soft-deactivates: state inactive. */
		patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path",
		    "/state", "value", "inactive");
		st = kratos(cf, "PATCH", path, patch, &ans);
		json_decref(patch);
	} else
		st = kratos(cf, "GET", path, NULL, &ans);
	if (st < 0) {
		unavailable(r);
		return;
	}
	if (st == 404) {
		json_decref(ans);
		adm_error(r, 404, "user_not_found", "no such user");
		return;
	}
	if (st != 200 || !json_is_object(ans)) {
		json_decref(ans);
		adm_error(r, 500, "internal_error",
		    "unexpected answer from the Kratos admin API");
		return;
	}
	r->ar_status = 200;
	r->ar_json = del ? json_pack("{s:s, s:s}", "id", id, "status",
	    "deactivated") : user_of(ans);
	json_decref(ans);
}

void
admin_users(const struct config *cf, const char *method, const char *id,
    const char *body, size_t blen, int page, int per_page,
    struct adm_reply *r)
{
	if (id == NULL && strcmp(method, "GET") == 0)
		list(cf, page, per_page, r);
	else if (id == NULL && strcmp(method, "POST") == 0)
		create(cf, body, blen, r);
	else if (id != NULL && (strcmp(method, "GET") == 0 ||
	    strcmp(method, "DELETE") == 0))
		one(cf, method, id, r);
	else
		adm_error(r, 405, "method_not_allowed",
		    "method not allowed on this resource");
}
