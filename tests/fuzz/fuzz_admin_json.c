/*
 * fuzz_admin_json.c: libFuzzer target for the admin API's request bodies
 * (src/admin_json.c), also driven by replay_main.c under make check.
 * Checks memory safety (sanitizers) and these properties, abort()ing
 * when one fails:
 *  - an accepted email is NUL-terminated inside the buffer, 1..254 bytes,
 *    has exactly one '@' neither first nor last, and no byte <= ' ';
 *  - a refusal names one of the documented codes;
 *  - the same input parses the same way twice (no hidden state);
 *  - admin_is_uuid() only accepts 36 bytes of 8-4-4-4-12 hex.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char		 e1[256], e2[256], *s;
	const char	*c1, *c2, *at;
	int		 r1, r2;
	size_t		 n, i;

	memset(e1, 'x', sizeof(e1));
	r1 = admin_parse_user((const char *)data, len, e1, sizeof(e1), &c1);
	r2 = admin_parse_user((const char *)data, len, e2, sizeof(e2), &c2);
	check(r1 == r2);
	if (r1 == 0) {
		n = strnlen(e1, sizeof(e1));
		check(n > 0 && n <= 254 && n < sizeof(e1));
		check(strcmp(e1, e2) == 0);
		at = strchr(e1, '@');
		check(at != NULL && at != e1 && at[1] != '\0' &&
		    strchr(at + 1, '@') == NULL);
		for (i = 0; i < n; i++)
			check((unsigned char)e1[i] > ' ' && e1[i] != 0x7f);
	} else {
		check(r1 == -1);
		check(strcmp(c1, "invalid_request") == 0 ||
		    strcmp(c1, "invalid_email") == 0);
		check(strcmp(c1, c2) == 0);
	}
	/* The user id of /users/{id}, as a NUL-terminated string. */
	if ((s = malloc(len + 1)) == NULL)
		return (0);
	memcpy(s, data, len);
	s[len] = '\0';
	if (admin_is_uuid(s)) {
		check(strlen(s) == 36);
		for (i = 0; i < 36; i++)
			check(i == 8 || i == 13 || i == 18 || i == 23 ?
			    s[i] == '-' : isxdigit((unsigned char)s[i]) != 0);
	}
	free(s);
	return (0);
}
