/*
 * admin_json.c: the admin API's request bodies (untrusted bytes; see
 * tests/fuzz/fuzz_admin_json.c).  jansson parses; nothing here does I/O.
 */
#include <ctype.h>
#include <string.h>

#include <jansson.h>

#include "admin.h"

#define BODY_MAX	65536

int
admin_parse_user(const char *body, size_t len, char *email, size_t elen,
    const char **code)
{
	json_error_t	 err;
	json_t		*root, *e;
	const char	*s, *at;
	size_t		 n, i;

	*code = "invalid_request";
	if (body == NULL || len == 0 || len > BODY_MAX)
		return (-1);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return (-1);
	if (!json_is_object(root) || (e = json_object_get(root, "email")) ==
	    NULL || !json_is_string(e)) {
		json_decref(root);
		return (-1);
	}
	*code = "invalid_email";
	s = json_string_value(e);
	n = json_string_length(e);
	at = memchr(s, '@', n);
	if (n == 0 || n > 254 || n >= elen || strlen(s) != n || at == NULL ||
	    at == s || at == s + n - 1 || memchr(at + 1, '@',
	    (size_t)(s + n - at - 1)) != NULL) {
		json_decref(root);
		return (-1);
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) {
			json_decref(root);
			return (-1);
		}
	memcpy(email, s, n + 1);
	json_decref(root);
	return (0);
}

int
admin_is_uuid(const char *s)
{
	int	 i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!isxdigit((unsigned char)s[i]))
			return (0);
	}
	return (s[36] == '\0');
}
