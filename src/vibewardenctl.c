/*
 * vibewardenctl: the command-line client of the admin listener (SPEC.md
 * 11; vibewardenctl(8)).  One blocking request per run with libcurl;
 * human output, or the server's JSON with --json.
 *
 * Exit codes: 0 done; 1 the server refused or failed (4xx, 5xx, or not
 * ready); 2 usage; 3 the admin listener could not be reached; 4 the
 * token is missing or wrong (401), or the admin API is off (404 on a
 * token-guarded path).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define EX_OK		0
#define EX_FAIL		1
#define EX_USAGE	2
#define EX_CONN		3
#define EX_AUTH		4

#define DEFAULT_URL	"http://127.0.0.1:9443"
#define TOKEN_MAX	4096
#define ANSWER_MAX	(16 * 1024 * 1024)
#define ADMIN_PFX	"/_vibewarden/admin/"

static int	 opt_json;
static char	 token[TOKEN_MAX + 1];
static const char *base_url = DEFAULT_URL;

struct buf {
	char	*b;
	size_t	 len;
	int	 over;	/* longer than ANSWER_MAX */
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: vibewardenctl [--json] [-u url] [-t token_file] command\n"
	    "commands:\n"
	    "  status | health | ready | metrics | reload\n"
	    "  users list [page [per_page]] | users show id |\n"
	    "  users add email | users delete id\n"
	    "  sessions show | sessions flush | sessions revoke user_id\n"
	    "  ratelimit show key | ratelimit reset key   (key: ip:ADDR, "
	    "user:ID)\n");
	exit(EX_USAGE);
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct buf	*b = arg;
	char		*nb;

	if (b->len + sz * n > ANSWER_MAX) {
		b->over = 1;
		return (0);
	}
	if ((nb = realloc(b->b, b->len + sz * n + 1)) == NULL)
		return (0);
	b->b = nb;
	memcpy(b->b + b->len, p, sz * n);
	b->len += sz * n;
	b->b[b->len] = '\0';
	return (sz * n);
}

/* Token: VIBEWARDEN_ADMIN_TOKEN, else the file (trailing blanks cut). */
static void
load_token(const char *file)
{
	const char	*e = getenv("VIBEWARDEN_ADMIN_TOKEN");
	FILE		*fp;
	size_t		 n;

	if (file == NULL && e != NULL) {
		snprintf(token, sizeof(token), "%s", e);
		return;
	}
	if (file == NULL)
		file = getenv("VIBEWARDEN_ADMIN_TOKEN_FILE");
	if (file == NULL)
		return;
	if ((fp = fopen(file, "r")) == NULL) {
		fprintf(stderr, "vibewardenctl: %s: %s\n", file,
		    strerror(errno));
		exit(EX_USAGE);
	}
	n = fread(token, 1, TOKEN_MAX, fp);
	fclose(fp);
	token[n] = '\0';
	while (n > 0 && strchr(" \t\r\n", token[n - 1]) != NULL)
		token[--n] = '\0';
}

/*
 * method path [body]: the status, *out the answer body (NUL-terminated).
 * Exits with EX_CONN when the listener cannot be reached.
 */
static long
call(const char *method, const char *path, const char *body,
    struct buf *out)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	char			 url[4096], auth[TOKEN_MAX + 32];
	long			 code = 0;
	CURLcode		 rc;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	if ((c = curl_easy_init()) == NULL) {
		fprintf(stderr, "vibewardenctl: curl_easy_init failed\n");
		exit(EX_CONN);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	/* Only the admin API needs the token: never spend it elsewhere. */
	if (token[0] != '\0' && strncmp(path, ADMIN_PFX,
	    sizeof(ADMIN_PFX) - 1) == 0) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (out->over) {
		fprintf(stderr, "vibewardenctl: %s: the answer is larger than "
		    "%d bytes\n", base_url, ANSWER_MAX);
		exit(EX_FAIL);
	}
	if (rc != CURLE_OK) {
		fprintf(stderr, "vibewardenctl: %s: %s\n", base_url,
		    curl_easy_strerror(rc));
		exit(EX_CONN);
	}
	if (out->b == NULL)
		out->b = strdup("");
	return (code);
}

/*
 * printf to fp with the answer's control characters made harmless: what
 * the server sends (and what Kratos stored for a user) reaches a
 * terminal, where ESC, CSI (U+009B) or CR could rewrite the screen or
 * what the operator sees.  Tab and newline stay; CR is a blank, the rest
 * '?'.
 */
static void
cprintf(FILE *fp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cprintf(FILE *fp, const char *fmt, ...)
{
	va_list		 ap;
	char		*s = NULL;
	unsigned char	*p;
	int		 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	for (p = (unsigned char *)s; *p != '\0'; p++)
		if (*p == '\r')
			*p = ' ';
		else if ((*p < ' ' && *p != '\n' && *p != '\t') || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*p++ = '?';	/* a C1 control in UTF-8 */
			*p = '?';
		}
	fputs(s, fp);
	free(s);
}

/* The exit code for status st of a token-guarded call; prints errors. */
static int
outcome(long st, json_t *j, int guarded)
{
	const char	*msg;

	if (st >= 200 && st < 300)
		return (EX_OK);
	msg = json_string_value(json_object_get(j, "message"));
	if (!opt_json)
		cprintf(stderr, "vibewardenctl: %ld %s\n", st, msg ? msg :
		    "error");
	if (st == 401 || (guarded && st == 404 && j != NULL &&
	    strcmp(msg ? msg : "", "not found") == 0))
		return (EX_AUTH);
	return (EX_FAIL);
}

static void
print_json(const char *txt)
{
	cprintf(stdout, "%s", txt);
	if (txt[0] != '\0' && txt[strlen(txt) - 1] != '\n')
		putchar('\n');
}

/* Human form of a flat object: "key: value" lines. */
static void
print_obj(json_t *o, const char *pfx)
{
	const char	*k;
	json_t		*v;
	char		*s, np[128];

	json_object_foreach(o, k, v) {
		if (json_is_object(v)) {
			snprintf(np, sizeof(np), "%s%s.", pfx, k);
			print_obj(v, np);
			continue;
		}
		if (json_is_string(v))
			cprintf(stdout, "%s%s: %s\n", pfx, k,
			    json_string_value(v));
		else {
			s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			cprintf(stdout, "%s%s: %s\n", pfx, k, s ? s : "?");
			free(s);
		}
	}
}

/* A string member of o, or "-". */
static const char *
str(json_t *o, const char *k)
{
	const char	*v = json_string_value(json_object_get(o, k));

	return (v != NULL ? v : "-");
}

static void
print_users(json_t *j)
{
	json_t	*u;
	size_t	 i;

	printf("%-36s  %-8s  %-20s  %s\n", "ID", "STATUS", "CREATED", "EMAIL");
	json_array_foreach(json_object_get(j, "users"), i, u)
		cprintf(stdout, "%-36s  %-8s  %-20s  %s\n", str(u, "id"),
		    str(u, "status"), str(u, "created_at"), str(u, "email"));
}

/*
 * Metrics as JSON: [{"name","labels":{},"value"}] from the text
 * exposition (comments skipped).
 */
static void
metrics_json(const char *txt)
{
	json_t		*arr = json_array(), *m, *lab;
	const char	*l = txt, *e, *sp, *br;
	char		 line[4096], *p, *q, *eq, *v;
	char		*s;

	for (; *l != '\0'; l = *e ? e + 1 : e) {
		e = l + strcspn(l, "\n");
		if (*l == '#' || e == l || (size_t)(e - l) >= sizeof(line))
			continue;
		memcpy(line, l, (size_t)(e - l));
		line[e - l] = '\0';
		if ((sp = strrchr(line, ' ')) == NULL)
			continue;
		m = json_object();
		lab = json_object();
		br = strchr(line, '{');
		json_object_set_new(m, "name", json_stringn(line, (size_t)((br &&
		    br < sp ? br : sp) - line)));
		if (br != NULL && br < sp) {
			for (p = (char *)br + 1; (eq = strchr(p, '=')) != NULL &&
			    eq[1] == '"'; p = q + 2) {
				*eq = '\0';
				v = eq + 2;
				for (q = v; *q != '\0' && *q != '"'; q++)
					if (*q == '\\' && q[1] != '\0')
						q++;
				if (*q == '\0')
					break;
				json_object_set_new(lab, p, json_stringn(v,
				    (size_t)(q - v)));
				if (q[1] != ',')
					break;
			}
		}
		json_object_set_new(m, "labels", lab);
		json_object_set_new(m, "value", json_real(strtod(sp + 1,
		    NULL)));
		json_array_append_new(arr, m);
	}
	s = json_dumps(arr, JSON_COMPACT);
	print_json(s ? s : "[]");
	free(s);
	json_decref(arr);
}

/* Percent-encode one path segment. */
static const char *
seg(const char *s, char *buf, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;

	for (; *s != '\0' && o + 4 < len; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~:@", *s) != NULL)
			buf[o++] = *s;
		else {
			buf[o++] = '%';
			buf[o++] = hex[(unsigned char)*s >> 4];
			buf[o++] = hex[(unsigned char)*s & 15];
		}
	}
	buf[o] = '\0';
	return (buf);
}

int
main(int argc, char *argv[])
{
	static const struct option	 lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "url", required_argument, NULL, 'u' },
		{ "token-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct buf	 b;
	json_t		*j, *req;
	char		 path[2048], enc[1024], *body = NULL;
	const char	*tfile = NULL, *cmd, *sub = NULL, *arg = NULL, *e;
	long		 st;
	int		 ch, rc, guarded = 1;

	if ((e = getenv("VIBEWARDEN_ADMIN_URL")) != NULL && *e != '\0')
		base_url = e;
	while ((ch = getopt_long(argc, argv, "jt:u:h", lo, NULL)) != -1)
		switch (ch) {
		case 'j':
			opt_json = 1;
			break;
		case 'u':
			base_url = optarg;
			break;
		case 't':
			tfile = optarg;
			break;
		default:
			usage();
		}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cmd = argv[0];
	if (argc > 1)
		sub = argv[1];
	if (argc > 2)
		arg = argv[2];
	load_token(tfile);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	if (strcmp(cmd, "health") == 0 || strcmp(cmd, "ready") == 0) {
		snprintf(path, sizeof(path), "/_vibewarden/%s", cmd);
		st = call("GET", path, NULL, &b);
		j = json_loads(b.b, 0, NULL);
		if (opt_json)
			print_json(b.b);
		else if (j != NULL)
			print_obj(j, "");
		json_decref(j);
		free(b.b);
		return (st == 200 ? EX_OK : EX_FAIL);
	}
	if (strcmp(cmd, "metrics") == 0) {
		st = call("GET", "/_vibewarden/metrics", NULL, &b);
		if (st != 200) {
			fprintf(stderr, "vibewardenctl: metrics: %ld\n", st);
			free(b.b);
			return (EX_FAIL);
		}
		if (opt_json)
			metrics_json(b.b);
		else
			cprintf(stdout, "%s", b.b);
		free(b.b);
		return (EX_OK);
	}

	if (strcmp(cmd, "status") == 0 && argc == 1)
		st = call("GET", "/_vibewarden/admin/status", NULL, &b);
	else if (strcmp(cmd, "reload") == 0 && argc == 1)
		st = call("POST", "/_vibewarden/admin/reload", NULL, &b);
	else if (strcmp(cmd, "users") == 0 && sub != NULL &&
	    strcmp(sub, "list") == 0 && argc <= 4) {
		snprintf(path, sizeof(path), "/_vibewarden/admin/users?page=%d"
		    "&per_page=%d", arg ? atoi(arg) : 1, argc > 3 ?
		    atoi(argv[3]) : 20);
		st = call("GET", path, NULL, &b);
	} else if (strcmp(cmd, "users") == 0 && sub != NULL && arg != NULL &&
	    argc == 3 && (strcmp(sub, "show") == 0 ||
	    strcmp(sub, "delete") == 0)) {
		snprintf(path, sizeof(path), "/_vibewarden/admin/users/%s",
		    seg(arg, enc, sizeof(enc)));
		st = call(strcmp(sub, "show") == 0 ? "GET" : "DELETE", path,
		    NULL, &b);
	} else if (strcmp(cmd, "users") == 0 && sub != NULL && arg != NULL &&
	    argc == 3 && strcmp(sub, "add") == 0) {
		req = json_pack("{s:s}", "email", arg);
		body = json_dumps(req, JSON_COMPACT);
		json_decref(req);
		st = call("POST", "/_vibewarden/admin/users", body, &b);
		free(body);
	} else if (strcmp(cmd, "sessions") == 0 && sub != NULL &&
	    strcmp(sub, "show") == 0 && argc == 2)
		st = call("GET", "/_vibewarden/admin/sessions", NULL, &b);
	else if (strcmp(cmd, "sessions") == 0 && sub != NULL &&
	    strcmp(sub, "flush") == 0 && argc == 2)
		st = call("DELETE", "/_vibewarden/admin/sessions", NULL, &b);
	else if (strcmp(cmd, "sessions") == 0 && sub != NULL && arg != NULL &&
	    strcmp(sub, "revoke") == 0 && argc == 3) {
		snprintf(path, sizeof(path), "/_vibewarden/admin/sessions/%s",
		    seg(arg, enc, sizeof(enc)));
		st = call("DELETE", path, NULL, &b);
	} else if (strcmp(cmd, "ratelimit") == 0 && sub != NULL &&
	    arg != NULL && argc == 3 && (strcmp(sub, "show") == 0 ||
	    strcmp(sub, "reset") == 0)) {
		snprintf(path, sizeof(path), "/_vibewarden/admin/ratelimit/%s",
		    seg(arg, enc, sizeof(enc)));
		st = call(strcmp(sub, "show") == 0 ? "GET" : "DELETE", path,
		    NULL, &b);
	} else {
		usage();
		return (EX_USAGE);
	}

	j = json_loads(b.b, 0, NULL);
	rc = outcome(st, j, guarded);
	if (opt_json)
		print_json(b.b);
	else if (rc == EX_OK && strcmp(cmd, "users") == 0 &&
	    strcmp(sub, "list") == 0)
		print_users(j);
	else if (rc == EX_OK && strcmp(cmd, "reload") == 0)
		printf("reload requested\n");
	else if (rc == EX_OK && j != NULL)
		print_obj(j, "");
	json_decref(j);
	free(b.b);
	curl_global_cleanup();
	return (rc);
}
