/*
 * kratos_parse.c: the pure parts of the Kratos session check (see
 * kratos.h): the kratos.public_url split, an RFC 3339 time, the whoami
 * HTTP response (head through http_parse.c, body by its framing) and the
 * whoami JSON (jansson).  No I/O, no allocation beyond jansson's and the
 * stack, so tests/fuzz/fuzz_kratos.c can drive it.  Any process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "arena.h"
#include "http_parse.h"
#include "kratos.h"

#define NS		1000000000ULL

int
kratos_url_split(const char *url, char *host, size_t hlen, int *port,
    char *path, size_t plen, int *tls)
{
	const char	*p, *h, *he, *ps;
	char		*end;
	long		 n;

	if (strncasecmp(url, "http://", 7) == 0) {
		*tls = 0;
		*port = 80;
		h = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		*tls = 1;
		*port = 443;
		h = url + 8;
	} else
		return (-1);
	ps = h + strcspn(h, "/?#");
	if (*ps == '?' || *ps == '#')
		return (-1);
	if (*h == '[') {
		if ((he = memchr(h, ']', (size_t)(ps - h))) == NULL)
			return (-1);
		p = he + 1;
		h++;
	} else {
		he = memchr(h, ':', (size_t)(ps - h));
		if (he == NULL)
			he = ps;
		p = he;
	}
	if (he == h || (size_t)(he - h) >= hlen || memchr(h, '@',
	    (size_t)(he - h)) != NULL)
		return (-1);
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	if (p < ps) {
		if (*p != ':' || p + 1 == ps)
			return (-1);
		n = strtol(p + 1, &end, 10);
		if (end != ps || n < 1 || n > 65535)
			return (-1);
		*port = (int)n;
	}
	n = (long)strlen(ps);
	while (n > 0 && ps[n - 1] == '/')
		n--;
	if ((size_t)n >= plen || strpbrk(ps, " \t\r\n?#") != NULL)
		return (-1);
	memcpy(path, ps, (size_t)n);
	path[n] = '\0';
	return (0);
}

/* ------------------------------------------------------------ time */

static int
digits(const char *s, int n, int *v)
{
	int	 i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		*v = *v * 10 + (s[i] - '0');
	}
	return (0);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long
days_from_civil(int y, int m, int d)
{
	long long	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

int
kratos_time_parse(const char *s, uint64_t *ns)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int		 y, mo, d, h, mi, se, oh, om, sign, i;
	long long	 t;
	uint64_t	 frac = 0, scale = NS;

	/* RFC 3339 5.6: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &se))
		return (-1);
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || se > 60 || y < 1970)
		return (-1);
	s += 19;
	if (*s == '.') {
		for (i = 0, s++; *s >= '0' && *s <= '9'; s++, i++)
			if (i < 9) {
				scale /= 10;
				frac += (uint64_t)(*s - '0') * scale;
			}
		if (i == 0)
			return (-1);
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		oh = om = sign = 0;
	else if ((*s == '+' || *s == '-') && strlen(s) == 6 &&
	    !digits(s + 1, 2, &oh) && s[3] == ':' && !digits(s + 4, 2, &om) &&
	    oh < 24 && om < 60)
		sign = *s == '+' ? 1 : -1;
	else
		return (-1);
	t = days_from_civil(y, mo, d) * 86400LL + h * 3600 + mi * 60 + se -
	    sign * (oh * 3600 + om * 60);
	if (t < 0 || t > 17179869183LL)		/* year 2514: fits in ns */
		return (-1);
	*ns = (uint64_t)t * NS + frac;
	return (0);
}

/* ------------------------------------------------------------ HTTP */

int
kratos_resp_parse(const char *buf, size_t len, int eof, int *status,
    char *body, size_t cap, size_t *blen)
{
	char		 abuf[HTTP_MAX_FIELDS * sizeof(struct http_field) +
			    1024];
	struct arena	 a;
	struct http_msg	 m;
	struct chunked	 ck;
	size_t		 scan = 0, hl, off, used, doff, dlen;
	ssize_t		 r;
	enum chunk_rc	 rc;

	*blen = 0;
	if ((r = http_head_end(buf, len, &scan, 16384, 0)) < 0)
		return (-1);
	if (r == 0)
		return (eof || len >= 16384 ? -1 : 0);
	hl = (size_t)r;
	arena_init(&a, abuf, sizeof(abuf));
	memset(&m, 0, sizeof(m));
	if (http_parse_response(buf, hl, &m, &a) != 0 || m.m_status < 200)
		return (-1);
	*status = m.m_status;
	switch (http_response_body(&m, HM_GET)) {
	case HB_NONE:
		return (1);
	case HB_LENGTH:
		if (m.m_clen > cap)
			return (-1);
		if (len - hl < m.m_clen)
			return (eof ? -1 : 0);
		memcpy(body, buf + hl, (size_t)m.m_clen);
		*blen = (size_t)m.m_clen;
		return (1);
	case HB_CLOSE:
		if (len - hl > cap)
			return (-1);
		if (!eof)
			return (0);
		memcpy(body, buf + hl, len - hl);
		*blen = len - hl;
		return (1);
	case HB_CHUNKED:
		chunked_init(&ck);
		for (off = hl; off < len; off += used) {
			rc = chunked_step(&ck, buf + off, len - off, &used,
			    &doff, &dlen);
			if (rc == CK_ERROR)
				return (-1);
			if (rc == CK_DATA) {
				if (*blen + dlen > cap)
					return (-1);
				memcpy(body + *blen, buf + off + doff, dlen);
				*blen += dlen;
			}
			if (rc == CK_DONE)
				return (1);
			if (rc == CK_NEED)
				break;
		}
		*blen = 0;
		return (eof ? -1 : 0);
	}
	return (-1);
}

/* ------------------------------------------------------------ JSON */

/* A JSON string of 1..SESS_STR_MAX bytes into dst; 0, or -1. */
static int
str_into(json_t *v, char *dst, uint16_t *dlen)
{
	size_t	 n;

	if (!json_is_string(v) || (n = json_string_length(v)) == 0 ||
	    n > SESS_STR_MAX)
		return (-1);
	memcpy(dst, json_string_value(v), n);
	*dlen = (uint16_t)n;
	return (0);
}

/* SPEC.md 6: the first verifiable address via email, else traits.email. */
static void
email_of(json_t *ident, struct shm_sess *s)
{
	json_t	*va, *e;
	size_t	 i;

	va = json_object_get(ident, "verifiable_addresses");
	if (json_is_array(va))
		json_array_foreach(va, i, e) {
			if (!json_is_object(e) || !json_is_string(
			    json_object_get(e, "via")) || strcmp(
			    json_string_value(json_object_get(e, "via")),
			    "email") != 0)
				continue;
			if (str_into(json_object_get(e, "value"),
			    s->ss_email, &s->ss_emaillen) == 0) {
				s->ss_verified = json_is_true(
				    json_object_get(e, "verified"));
				return;
			}
		}
	s->ss_verified = 0;
	if (str_into(json_object_get(json_object_get(ident, "traits"),
	    "email"), s->ss_email, &s->ss_emaillen) == -1)
		s->ss_emaillen = 0;
}

void
kratos_whoami_parse(const char *body, size_t len, uint64_t now,
    struct kratos_answer *a)
{
	json_t		*root, *ident, *v;
	json_error_t	 jerr;
	struct shm_sess	*s = &a->ka_sess;

	memset(a, 0, sizeof(*a));
	a->ka_result = KR_UNAVAIL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		a->ka_why = "bad_response";
		goto done;
	}
	v = json_object_get(root, "active");
	if (!json_is_boolean(v)) {
		a->ka_why = "bad_response";
		goto done;
	}
	if (!json_is_true(v)) {
		a->ka_result = KR_DENY;
		a->ka_why = "session_inactive";
		goto done;
	}
	/* Present, it must be a date: a number or null bounds nothing. */
	v = json_object_get(root, "expires_at");
	if (v != NULL && (!json_is_string(v) || kratos_time_parse(
	    json_string_value(v), &a->ka_expires) == -1)) {
		a->ka_why = "bad_response";
		goto done;
	}
	if (a->ka_expires != 0 && a->ka_expires <= now) {
		a->ka_result = KR_DENY;
		a->ka_why = "session_expired";
		goto done;
	}
	ident = json_object_get(root, "identity");
	if (!json_is_object(ident) ||
	    str_into(json_object_get(ident, "id"), s->ss_id,
	    &s->ss_idlen) == -1) {
		a->ka_why = "bad_response";
		goto done;
	}
	if (str_into(json_object_get(root, "id"), s->ss_sid,
	    &s->ss_sidlen) == -1)
		s->ss_sidlen = 0;
	email_of(ident, s);
	s->ss_ok = 1;
	a->ka_result = KR_PASS;
	a->ka_why = "ok";
 done:
	json_decref(root);
}
