/*
 * fuzz_acme_json.c: libFuzzer target for src/acme_json.c, the parsers of
 * what an ACME CA sends (directory, order, authorization, problem), also
 * driven by replay_main.c under make check.  Checks memory safety
 * (sanitizers, leaks) and what the client relies on, abort()ing when a
 * property fails:
 *  - a parser that fails leaves nothing behind;
 *  - every URL kept is http(s) and holds no byte that could break out of
 *    the JWS header it is copied into (no quote, backslash, control or
 *    space);
 *  - an http-01 token is base64url only, so it cannot leave the
 *    /.well-known/acme-challenge/ path, and comes with its URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
url_ok(const char *u)
{
	size_t	 i;

	if (u == NULL)
		return;
	check(strncasecmp(u, "https://", 8) == 0 ||
	    strncasecmp(u, "http://", 7) == 0);
	for (i = 0; u[i] != '\0'; i++)
		check((unsigned char)u[i] > ' ' && (unsigned char)u[i] < 0x7f &&
		    u[i] != '"' && u[i] != '\\');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*b = (const char *)data;
	struct acme_dir		 d;
	struct acme_order	 o;
	struct acme_authz	 a;
	struct acme_problem	 p;
	size_t			 i;

	if (acme_parse_directory(b, size, &d) == 0) {
		url_ok(d.ad_new_nonce);
		url_ok(d.ad_new_account);
		url_ok(d.ad_new_order);
		check(d.ad_new_nonce && d.ad_new_account && d.ad_new_order);
		acme_dir_free(&d);
	} else
		check(d.ad_new_nonce == NULL && d.ad_new_order == NULL);
	if (acme_parse_order(b, size, &o) == 0) {
		check(o.ao_nauthz > 0 && o.ao_nauthz <= ACME_MAX_AUTHZ);
		for (i = 0; i < o.ao_nauthz; i++) {
			check(o.ao_authz[i] != NULL);
			url_ok(o.ao_authz[i]);
		}
		url_ok(o.ao_finalize);
		url_ok(o.ao_certificate);
		check(o.ao_status != AS_VALID || o.ao_certificate != NULL);
		acme_order_free(&o);
	} else
		check(o.ao_nauthz == 0 && o.ao_finalize == NULL);
	if (acme_parse_authz(b, size, &a) == 0) {
		check(a.az_domain != NULL);
		url_ok(a.az_http_url);
		check((a.az_http_url == NULL) == (a.az_http_token == NULL));
		if (a.az_http_token != NULL) {
			check(strlen(a.az_http_token) <= 128);
			check(strspn(a.az_http_token, "ABCDEFGHIJKLMNOPQRSTUV"
			    "WXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
			    strlen(a.az_http_token));
		}
		acme_authz_free(&a);
	} else
		check(a.az_domain == NULL && a.az_http_url == NULL);
	if (acme_parse_problem(b, size, &p) == 0) {
		check(p.ap_type != NULL);
		check(strchr(p.ap_type, '"') == NULL);
		acme_problem_free(&p);
	}
	(void)acme_status_name((enum acme_status)(size % 12));
	return (0);
}
