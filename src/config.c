/*
 * config.c: load vibewarden.yaml (SPEC.md 2) into a struct config.
 *
 * Run by the master at start-up, for -t and on every SIGHUP.  It must never
 * exit or abort on bad input: every problem becomes a cfg_diag and the
 * caller decides what to do.  It reads one file and the environment and
 * touches nothing else.
 *
 * The tables live in config_keys.c: config_keys[] names every key the
 * file may hold with its type, default and place in struct config.
 * Defaults, file values (flat and plugins: shapes), VIBEWARDEN_* overrides
 * and config_free() are all driven by it, so a new key is one line there
 * plus its struct member.  config_features[] says which security features
 * this build implements.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "auth.h"
#include "config.h"
#include "config_keys.h"
#include "http_parse.h"

/* Bounds that keep a hostile file from costing more than a few MB. */
#define CF_MAX_FILE	(4 * 1024 * 1024)
#define CF_MAX_DEPTH	32
#define CF_MAX_NODES	200000
#define CF_MAX_SCALAR	65536
#define CF_MAX_DIAGS	200
#define CF_PATH_MAX	256

#define LOGIN_DEFAULT	"/self-service/login/browser"

#define ALIAS_METRICS	(config_nplugins + 1)

extern char **environ;

/* Where a key's value came from; higher wins (env > file > alias). */
enum src { SRC_DEFAULT, SRC_INFERRED, SRC_ALIAS, SRC_FILE, SRC_ENV };

/* What the loader knows about one key of config_keys[] while loading. */
struct kstate {
	unsigned char	 ks_src;
	unsigned char	 ks_alias;	/* SRC_ALIAS: config_plugins[] index
					   + 1, or ALIAS_METRICS */
	int		 ks_line, ks_col;
};

struct cfg_origin {
	char		*o_file;
	struct kstate	*o_ks;		/* config_nkeys + 1 */
};

struct node {
	enum { N_NULL, N_SCALAR, N_SEQ, N_MAP } n_type;
	int		 n_line, n_col;
	char		*n_val;
	struct node	**n_kids;	/* map: key, value, key, value ... */
	size_t		 n_nkids;
	size_t		 n_cap;
};

struct ctx {
	struct config	*cfg;
	struct cfg_diags *diags;
	char *const	*envp;
	const char	*file;		/* name used in diagnostics */
	struct kstate	*ks;
	unsigned char	*compat_warned;
	size_t		 nnodes;
	int		 oom;
};

/* ---------------------------------------------------------- diagnostics */

static void
diag_add(struct ctx *c, const char *file, int line, int col, int err,
    const char *msg)
{
	struct cfg_diags	*d = c->diags;
	struct cfg_diag		*nv, *g;

	if (err)
		d->nerrors++;
	if (d->n > CF_MAX_DIAGS)
		return;
	if (d->n == CF_MAX_DIAGS) {
		/* One last entry says why the rest are missing. */
		file = c->file;
		line = col = 0;
		err = 1;
		msg = "too many problems; stopped reporting";
	}
	nv = realloc(d->v, (d->n + 1) * sizeof(*nv));
	if (nv == NULL) {
		c->oom = 1;
		return;
	}
	d->v = nv;
	g = &d->v[d->n];
	g->d_file = strdup(file);
	g->d_msg = strdup(msg);
	if (g->d_file == NULL || g->d_msg == NULL) {
		free(g->d_file);
		free(g->d_msg);
		c->oom = 1;
		return;
	}
	g->d_line = line;
	g->d_col = line > 0 ? col : 0;
	g->d_error = err;
	d->n++;
}

static void __attribute__((format(printf, 6, 7)))
diag(struct ctx *c, const char *file, int line, int col, int err,
    const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diag_add(c, file, line, col, err, buf);
}

/* "VIBEWARDEN_" + the path upper-cased, dots and dashes as _. */
static void
env_name(const char *path, char *buf, size_t len)
{
	size_t	 i;

	snprintf(buf, len, "VIBEWARDEN_%s", path);
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] == '.' || buf[i] == '-')
			buf[i] = '_';
		else
			buf[i] = toupper((unsigned char)buf[i]);
	}
}

/* A problem with config_keys[i], placed where its value came from. */
static void __attribute__((format(printf, 4, 5)))
key_diag(struct ctx *c, size_t i, int err, const char *fmt, ...)
{
	char		 buf[1024], env[CF_PATH_MAX + 16];
	struct kstate	*ks = &c->ks[i];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ks->ks_src == SRC_ENV) {
		char	 name[CF_PATH_MAX + 12];

		env_name(config_keys[i].k_path, name, sizeof(name));
		snprintf(env, sizeof(env), "env:%s", name);
		diag_add(c, env, 0, 0, err, buf);
	} else
		diag_add(c, c->file, ks->ks_line, ks->ks_col, err, buf);
}

/* config_keys[i] as the file spelled it: plugins.rate-limiting.enabled. */
static const char *
key_name(struct ctx *c, size_t i, char *buf, size_t len)
{
	const struct kstate	*ks = &c->ks[i];
	const char		*path = config_keys[i].k_path;
	const char		*rest = path + strcspn(path, ".");

	if (ks->ks_src != SRC_ALIAS || ks->ks_alias == 0)
		return (path);
	if (ks->ks_alias == ALIAS_METRICS)
		snprintf(buf, len, "metrics%s", rest);
	else
		snprintf(buf, len, "plugins.%s%s",
		    config_plugins[ks->ks_alias - 1].p_name, rest);
	return (buf);
}

/* A value quoted in a message, cut short so one line stays readable. */
static const char *
shorten(const char *s, char *buf, size_t len)
{
	size_t	 n = strlen(s);

	if (n < len)
		return (s);
	snprintf(buf, len, "%.*s...", (int)(len - 4), s);
	return (buf);
}

/* Where config_keys[i] lives in cfg. */
static void *
member(struct config *cfg, size_t i)
{
	return ((char *)cfg + config_keys[i].k_off);
}

static size_t
key_find(const char *path)
{
	size_t	 i;

	for (i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].k_path, path) == 0)
			return (i);
	return (config_nkeys);
}

static struct kstate *
kst(struct ctx *c, const char *path)
{
	return (&c->ks[key_find(path)]);
}

static int
explicit(struct ctx *c, const char *path)
{
	return (kst(c, path)->ks_src >= SRC_ALIAS);
}

/* ------------------------------------------------------------- values */

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return (s);
}

/*
 * s without leading and trailing blanks, in buf (s may be buf).  "?" when
 * it does not fit: far too long for any number, and "?" parses as none.
 */
static const char *
trim(const char *s, char *buf, size_t len)
{
	size_t	 n;

	s = skip_ws(s);
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= len)
		return ("?");
	memmove(buf, s, n);
	buf[n] = '\0';
	return (buf);
}

static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return (0);
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return (0);
		}
	}
	return (-1);
}

/*
 * Digits with an optional fraction: *ip the integer part, *fp the first 9
 * fraction digits scaled to 1e9.  Returns the end, or NULL.
 */
static const char *
parse_decimal(const char *s, uint64_t *ip, uint64_t *fp)
{
	uint64_t	 i = 0, f = 0, scale = 100000000;
	int		 digits = 0;

	for (; isdigit((unsigned char)*s); s++, digits++) {
		if (i > (UINT64_MAX - 9) / 10)
			return (NULL);
		i = i * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, digits++) {
			f += (uint64_t)(*s - '0') * scale;
			scale /= 10;
		}
	}
	if (digits == 0)
		return (NULL);
	*ip = i;
	*fp = f;
	return (s);
}

/* i.f units of mult each, added to *acc; -1 on overflow. */
static int
add_units(uint64_t *acc, uint64_t i, uint64_t f, uint64_t mult)
{
	uint64_t	 v;

	if (mult != 0 && i > UINT64_MAX / mult)
		return (-1);
	v = i * mult;
	/* f < 1e9, so split mult to keep f * mult in range. */
	v += f * (mult / 1000000000) + f * (mult % 1000000000) / 1000000000;
	if (v < i * mult || *acc > UINT64_MAX - v)
		return (-1);
	*acc += v;
	return (0);
}

/* Go time.ParseDuration syntax, no sign: 500ms, 30s, 1h30m, 1.5h; "0". */
static int
parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char	*u;
		uint64_t	 ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000ULL },
		{ "m", 60000000000ULL }, { "h", 3600000000000ULL },
	};
	uint64_t	 ns = 0, i, f;
	size_t		 u, len;

	if (*s == '\0' || strcmp(s, "0") == 0) {
		*ms = 0;
		return (0);
	}
	while (*s != '\0') {
		if ((s = parse_decimal(s, &i, &f)) == NULL)
			return (-1);
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			len = strlen(units[u].u);
			/* "m" must not eat the m of "ms". */
			if (strncmp(s, units[u].u, len) == 0 &&
			    !(len == 1 && *s == 'm' && s[1] == 's'))
				break;
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return (-1);
		if (add_units(&ns, i, f, units[u].ns) == -1)
			return (-1);
		s += len;
	}
	/* A non-zero duration must not round down to 0, which means off. */
	*ms = ns / 1000000;
	if (ns > 0 && *ms == 0)
		*ms = 1;
	return (0);
}

/* The original's ParseBodySize: 512KB, 1 mb, 1048576; binary units. */
static int
parse_size(const char *s, uint64_t *out)
{
	static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
	uint64_t	 i, f, mult = 1, v = 0;
	size_t		 u;
	char		 buf[64];

	s = trim(s, buf, sizeof(buf));
	if (*s == '\0') {
		*out = 0;
		return (0);
	}
	if ((s = parse_decimal(s, &i, &f)) == NULL)
		return (-1);
	s = skip_ws(s);
	if (*s != '\0') {
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			if (strcasecmp(s, units[u]) == 0)
				break;
			mult *= 1024;
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return (-1);
	}
	if (add_units(&v, i, f, mult) == -1)
		return (-1);
	*out = v;
	return (0);
}

static int
parse_float(const char *s, double hi, double *out)
{
	const char	*p;
	char		*end;
	double		 v;

	/* Plain decimals only: strtod would also take inf, nan and hex. */
	for (p = s; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return (-1);
	if (*s == '\0')
		return (-1);
	v = strtod(s, &end);
	if (*end != '\0' || v > hi)
		return (-1);
	*out = v;
	return (0);
}

static int
parse_enum(const struct ename *e, const char *s, int *out)
{
	for (; e->e_name != NULL; e++)
		if (strcasecmp(s, e->e_name) == 0) {
			*out = e->e_val;
			return (0);
		}
	return (-1);
}

static void
enum_names(const struct ename *e, char *buf, size_t len)
{
	size_t	 n = 0;

	buf[0] = '\0';
	for (; e->e_name != NULL && n < len; e++) {
		n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
		    e->e_name);
	}
}

/*
 * One scalar of key k into the member at p.  On error, why says what was
 * expected, and the member is untouched.
 */
static int
set_scalar(const struct key *k, void *p, const char *s, char *why,
    size_t wlen)
{
	char		 names[128], sb[64], tb[64];
	const char	*t = trim(s, tb, sizeof(tb));
	char		*dup;
	double		 d;
	uint64_t	 u;
	int		 i;

	switch (k->k_type) {
	case KT_STR:
		if (k->k_valid != NULL && *s != '\0' &&
		    k->k_valid(s, why, wlen) == -1)
			return (-1);
		dup = NULL;
		if (*s != '\0' && (dup = strdup(s)) == NULL) {
			snprintf(why, wlen, "out of memory");
			return (-1);
		}
		free(*(char **)p);
		*(char **)p = dup;
		return (0);
	case KT_INT:
		if (config_parse_int(t, k->k_min, k->k_max, &i) == -1)
			break;
		*(int *)p = i;
		return (0);
	case KT_BOOL:
		if (parse_bool(t, &i) == -1) {
			snprintf(why, wlen, "expected true or false, got '%s'",
			    shorten(s, sb, sizeof(sb)));
			return (-1);
		}
		*(int *)p = i;
		return (0);
	case KT_DUR:
		if (parse_duration(t, &u) == -1) {
			snprintf(why, wlen, "expected a duration like 30s, "
			    "got '%s'", shorten(s, sb, sizeof(sb)));
			return (-1);
		}
		*(uint64_t *)p = u;
		return (0);
	case KT_SIZE:
		if (parse_size(s, &u) == -1) {
			snprintf(why, wlen, "expected a size like 512KB or "
			    "1MB, got '%s'", shorten(s, sb, sizeof(sb)));
			return (-1);
		}
		*(uint64_t *)p = u;
		return (0);
	case KT_FLOAT:
		if (parse_float(t, (double)k->k_max, &d) == -1) {
			snprintf(why, wlen, "expected a number from 0 to %ld, "
			    "got '%s'", k->k_max, shorten(s, sb, sizeof(sb)));
			return (-1);
		}
		*(double *)p = d;
		return (0);
	case KT_ENUM:
		if (parse_enum(k->k_enum, t, &i) == -1) {
			enum_names(k->k_enum, names, sizeof(names));
			snprintf(why, wlen, "expected one of %s; got '%s'",
			    names, shorten(s, sb, sizeof(sb)));
			return (-1);
		}
		*(int *)p = i;
		return (0);
	default:
		snprintf(why, wlen, "expected a list");
		return (-1);
	}
	if (k->k_min == INT_MIN)
		snprintf(why, wlen, "expected an integer up to %ld, got '%s'",
		    k->k_max, shorten(s, sb, sizeof(sb)));
	else
		snprintf(why, wlen, "expected an integer from %ld to %ld, "
		    "got '%s'", k->k_min, k->k_max, shorten(s, sb, sizeof(sb)));
	return (-1);
}

static void
strlist_free(struct strlist *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
strlist_add(struct strlist *l, const char *s)
{
	char	**nv;

	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		return (-1);
	l->v = nv;
	if ((l->v[l->n] = strdup(s)) == NULL)
		return (-1);
	l->n++;
	return (0);
}

static void
strmap_free(struct strmap *m)
{
	size_t	 i;

	for (i = 0; i < m->n; i++) {
		free(m->k[i]);
		free(m->v[i]);
	}
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static int
strmap_add(struct strmap *m, const char *k, const char *v)
{
	char	**nk, **nv;

	if ((nk = realloc(m->k, (m->n + 1) * sizeof(*nk))) == NULL)
		return (-1);
	m->k = nk;
	if ((nv = realloc(m->v, (m->n + 1) * sizeof(*nv))) == NULL)
		return (-1);
	m->v = nv;
	m->k[m->n] = strdup(k);
	m->v[m->n] = strdup(v);
	if (m->k[m->n] == NULL || m->v[m->n] == NULL) {
		free(m->k[m->n]);
		free(m->v[m->n]);
		return (-1);
	}
	m->n++;
	return (0);
}

static int
intlist_add(struct intlist *l, int v)
{
	int	*nv;

	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		return (-1);
	l->v = nv;
	l->v[l->n++] = v;
	return (0);
}

/* The pointer and count of a KT_OBJS member; memcpy keeps types apart. */
static void *
objs_get(const struct key *k, void *base, size_t *n)
{
	void	*v;

	memcpy(&v, (char *)base + k->k_off, sizeof(v));
	memcpy(n, (char *)base + k->k_noff, sizeof(*n));
	return (v);
}

static void
objs_put(const struct key *k, void *base, void *v, size_t n)
{
	memcpy((char *)base + k->k_off, &v, sizeof(v));
	memcpy((char *)base + k->k_noff, &n, sizeof(n));
}

static void	value_free(const struct key *, void *);

static void
objs_free(const struct key *k, void *base)
{
	const struct objdesc	*o = k->k_obj;
	char			*v;
	size_t			 n, i, f;

	v = objs_get(k, base, &n);
	for (i = 0; i < n; i++)
		for (f = 0; f < o->o_nfields; f++)
			value_free(&o->o_fields[f],
			    v + i * o->o_size + o->o_fields[f].k_off);
	free(v);
	objs_put(k, base, NULL, 0);
}

/* Free whatever key k owns at p (p is the member itself). */
static void
value_free(const struct key *k, void *p)
{
	switch (k->k_type) {
	case KT_STR:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	case KT_LIST:
		strlist_free(p);
		break;
	case KT_INTLIST:
		free(((struct intlist *)p)->v);
		memset(p, 0, sizeof(struct intlist));
		break;
	case KT_MAP:
		strmap_free(p);
		break;
	default:
		break;
	}
}

/*
 * A list, int list or map given as one string (a default or an env
 * value): comma-separated items, maps as k=v.  Replaces the member only
 * when every item is good.
 */
static int
set_split(const struct key *k, void *p, const char *s, char *why, size_t wlen)
{
	struct strlist	 l = { NULL, 0 };
	struct intlist	 il = { NULL, 0 };
	struct strmap	 m = { NULL, NULL, 0 };
	char		 item[1024], sb[64], *eq;
	const char	*e;
	size_t		 n;
	int		 i, rc = -1;

	while (*s != '\0') {
		e = strchr(s, ',');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n >= sizeof(item)) {
			snprintf(why, wlen, "an item is longer than %zu bytes",
			    sizeof(item) - 1);
			goto fail;
		}
		memcpy(item, s, n);
		item[n] = '\0';
		s += e ? n + 1 : n;
		if (trim(item, item, sizeof(item)) != item || item[0] == '\0')
			continue;
		if (k->k_type == KT_INTLIST) {
			if (config_parse_int(item, k->k_min, k->k_max, &i) == -1) {
				snprintf(why, wlen, "expected integers from "
				    "%ld to %ld, got '%s'", k->k_min, k->k_max,
				    shorten(item, sb, sizeof(sb)));
				goto fail;
			}
			if (intlist_add(&il, i) == -1)
				goto oom;
		} else if (k->k_type == KT_MAP) {
			if ((eq = strchr(item, '=')) == NULL) {
				snprintf(why, wlen, "expected key=value, got "
				    "'%s'", shorten(item, sb, sizeof(sb)));
				goto fail;
			}
			*eq = '\0';
			if (strmap_add(&m, item, eq + 1) == -1)
				goto oom;
		} else {
			if (k->k_valid != NULL &&
			    k->k_valid(item, why, wlen) == -1)
				goto fail;
			if (strlist_add(&l, item) == -1)
				goto oom;
		}
	}
	value_free(k, p);
	if (k->k_type == KT_INTLIST)
		*(struct intlist *)p = il;
	else if (k->k_type == KT_MAP)
		*(struct strmap *)p = m;
	else
		*(struct strlist *)p = l;
	return (0);
 oom:
	snprintf(why, wlen, "out of memory");
 fail:
	strlist_free(&l);
	strmap_free(&m);
	free(il.v);
	return (rc);
}

/* A value written as a string (default or env), any type but KT_OBJS. */
static int
set_string(const struct key *k, void *p, const char *s, char *why,
    size_t wlen)
{
	switch (k->k_type) {
	case KT_LIST:
	case KT_INTLIST:
	case KT_MAP:
		return (set_split(k, p, s, why, wlen));
	case KT_OBJS:
		snprintf(why, wlen, "cannot be set from the environment");
		return (-1);
	default:
		return (set_scalar(k, p, s, why, wlen));
	}
}

/* ------------------------------------------------------- ${VAR} syntax */

static const char *
env_get(char *const *envp, const char *name, size_t len)
{
	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return (*envp + len + 1);
	return (NULL);
}

static int
buf_add(char **b, size_t *n, size_t *cap, const char *s, size_t len)
{
	char	*nb;

	if (*n + len + 1 > CF_MAX_SCALAR)
		return (-1);
	if (*n + len + 1 > *cap) {
		*cap = (*n + len + 1) * 2;
		if ((nb = realloc(*b, *cap)) == NULL)
			return (-1);
		*b = nb;
	}
	memcpy(*b + *n, s, len);
	*n += len;
	(*b)[*n] = '\0';
	return (0);
}

/*
 * Expand ${VAR}, ${VAR:-default} (default also when VAR is empty, as in
 * sh) and $$ (a literal $).  Any other $ is kept.  *out is the caller's.
 */
static int
expand(struct ctx *c, const char *s, char **out, char *why, size_t wlen)
{
	char		*b = NULL, name[128];
	const char	*e, *v, *def;
	size_t		 n = 0, cap = 0, nl;

	if (buf_add(&b, &n, &cap, "", 0) == -1)
		goto big;
	while (*s != '\0') {
		if (s[0] != '$' || (s[1] != '$' && s[1] != '{')) {
			nl = strcspn(s + 1, "$") + 1;
			if (buf_add(&b, &n, &cap, s, nl) == -1)
				goto big;
			s += nl;
			continue;
		}
		if (s[1] == '$') {
			if (buf_add(&b, &n, &cap, "$", 1) == -1)
				goto big;
			s += 2;
			continue;
		}
		if ((e = strchr(s + 2, '}')) == NULL) {
			snprintf(why, wlen, "unterminated ${ in value");
			goto fail;
		}
		nl = strspn(s + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		    "qrstuvwxyz0123456789_");
		def = s + 2 + nl;
		if (nl == 0 || nl >= sizeof(name) || isdigit((unsigned char)
		    s[2]) || (def != e && strncmp(def, ":-", 2) != 0)) {
			snprintf(why, wlen, "bad variable reference '%.*s'",
			    (int)(e - s + 1 > 60 ? 60 : e - s + 1), s);
			goto fail;
		}
		memcpy(name, s + 2, nl);
		name[nl] = '\0';
		v = env_get(c->envp, name, nl);
		if (def != e && (v == NULL || *v == '\0'))
			v = def + 2;
		else if (v == NULL) {
			snprintf(why, wlen, "environment variable %s is not "
			    "set (write ${%s:-default} for a fallback)", name,
			    name);
			goto fail;
		}
		if (buf_add(&b, &n, &cap, v, v == def + 2 ? (size_t)(e - v) :
		    strlen(v)) == -1)
			goto big;
		s = e + 1;
	}
	*out = b;
	return (0);
 big:
	snprintf(why, wlen, "value longer than %d bytes after expansion",
	    CF_MAX_SCALAR);
 fail:
	free(b);
	return (-1);
}

/* -------------------------------------------------------- YAML -> tree */

static void
node_free(struct node *n)
{
	size_t	 i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_nkids; i++)
		node_free(n->n_kids[i]);
	free(n->n_kids);
	free(n->n_val);
	free(n);
}

static int
node_add(struct node *parent, struct node *kid)
{
	struct node	**nk;

	if (parent->n_nkids == parent->n_cap) {
		parent->n_cap = parent->n_cap ? parent->n_cap * 2 : 8;
		nk = realloc(parent->n_kids, parent->n_cap * sizeof(*nk));
		if (nk == NULL)
			return (-1);
		parent->n_kids = nk;
	}
	parent->n_kids[parent->n_nkids++] = kid;
	return (0);
}

/* Plain ~, null and nothing are YAML's null: the key is as if absent. */
static int
is_null(const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (0);
	return (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

/*
 * A node for a scalar or collection start event, or NULL with a diag.
 * Anchors and aliases are refused: nothing in vibewarden.yaml needs them
 * and they are how a small file becomes a huge one.
 */
static struct node *
node_new(struct ctx *c, const yaml_event_t *ev)
{
	const yaml_char_t	*anchor;
	struct node		*n;
	int			 line = (int)ev->start_mark.line + 1;
	int			 col = (int)ev->start_mark.column + 1;

	if (ev->type == YAML_SCALAR_EVENT)
		anchor = ev->data.scalar.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		anchor = ev->data.sequence_start.anchor;
	else
		anchor = ev->data.mapping_start.anchor;
	if (anchor != NULL) {
		diag(c, c->file, line, col, 1, "YAML anchors (&%.40s) and "
		    "aliases are not supported", (const char *)anchor);
		return (NULL);
	}
	if (++c->nnodes > CF_MAX_NODES) {
		diag(c, c->file, line, col, 1, "more than %d YAML nodes",
		    CF_MAX_NODES);
		return (NULL);
	}
	if (ev->type == YAML_SCALAR_EVENT &&
	    ev->data.scalar.length >= CF_MAX_SCALAR) {
		diag(c, c->file, line, col, 1, "value longer than %d bytes",
		    CF_MAX_SCALAR);
		return (NULL);
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		goto oom;
	n->n_line = line;
	n->n_col = col;
	if (ev->type == YAML_SEQUENCE_START_EVENT)
		n->n_type = N_SEQ;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		n->n_type = N_MAP;
	else if (is_null(ev))
		n->n_type = N_NULL;
	else {
		n->n_type = N_SCALAR;
		/* libyaml allows NUL inside quoted scalars; strdup stops. */
		n->n_val = strdup((const char *)ev->data.scalar.value);
		if (n->n_val == NULL)
			goto oom;
	}
	return (n);
 oom:
	free(n);
	c->oom = 1;
	return (NULL);
}

static void
yaml_problem(struct ctx *c, const yaml_parser_t *p)
{
	const yaml_mark_t	*m = &p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		c->oom = 1;
		return;
	}
	diag(c, c->file, (int)m->line + 1, (int)m->column + 1, 1,
	    "YAML syntax error: %s%s%s", p->problem ? p->problem : "unknown",
	    p->context ? " " : "", p->context ? p->context : "");
}

/*
 * Parse buf into a tree with the event API (so anchors, depth and size
 * can be refused as they come).  Returns the root mapping, an empty
 * N_NULL root for an empty file, or NULL after a diag.
 */
static struct node *
yaml_tree(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t	 p;
	yaml_event_t	 ev;
	struct node	*stack[CF_MAX_DEPTH], *root = NULL, *n;
	int		 depth = 0, done = 0, ndocs = 0;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			yaml_problem(c, &p);
			goto fail;
		}
		n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				diag(c, c->file, (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1, 1,
				    "only one YAML document is allowed");
				goto fail_ev;
			}
			break;
		case YAML_ALIAS_EVENT:
			diag(c, c->file, (int)ev.start_mark.line + 1,
			    (int)ev.start_mark.column + 1, 1, "YAML aliases "
			    "(*%.40s) are not supported",
			    (const char *)ev.data.alias.anchor);
			goto fail_ev;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if ((n = node_new(c, &ev)) == NULL)
				goto fail_ev;
			if (depth == 0 && root == NULL)
				root = n;
			else if (depth == 0 || node_add(stack[depth - 1],
			    n) == -1) {
				node_free(n);
				c->oom = 1;
				goto fail_ev;
			}
			if (n->n_type != N_SEQ && n->n_type != N_MAP)
				break;
			if (depth == CF_MAX_DEPTH) {
				diag(c, c->file, n->n_line, n->n_col, 1,
				    "nested deeper than %d levels",
				    CF_MAX_DEPTH);
				goto fail_ev;
			}
			stack[depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (root == NULL && (root = calloc(1, sizeof(*root))) == NULL)
		c->oom = 1;
	return (root);
 fail_ev:
	yaml_event_delete(&ev);
 fail:
	yaml_parser_delete(&p);
	node_free(root);
	return (NULL);
}

/* ---------------------------------------------------------- tree walk */

static int
lev(const char *a, const char *b)
{
	int	 row[64], i, j, prev, tmp, la = (int)strlen(a);
	int	 lb = (int)strlen(b);

	if (la >= 63 || lb >= 63)
		return (99);
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return (row[lb]);
}

/* The component of path right below canon ("" = top), into buf. */
static int
child_of(const char *path, const char *canon, char *buf, size_t len)
{
	size_t	 cl = strlen(canon), n;

	if (cl > 0) {
		if (strncmp(path, canon, cl) != 0 || path[cl] != '.')
			return (0);
		path += cl + 1;
	}
	n = strcspn(path, ".");
	if (n >= len)
		return (0);
	memcpy(buf, path, n);
	buf[n] = '\0';
	return (1);
}

static void
consider(const char *name, const char *cand, int *best, char *out,
    size_t len)
{
	int	 d = lev(name, cand);

	if (d <= 2 && d < *best && strcmp(name, cand) != 0) {
		*best = d;
		snprintf(out, len, "%s", cand);
	}
}

/* The known key below canon nearest to name, or "" when none is close. */
static void
suggest(const char *canon, const char *name, char *out, size_t len)
{
	char	 comp[CF_PATH_MAX];
	int	 best = 3;
	size_t	 i;

	out[0] = '\0';
	for (i = 0; i < config_nkeys; i++)
		if (child_of(config_keys[i].k_path, canon, comp, sizeof(comp)))
			consider(name, comp, &best, out, len);
	for (i = 0; i < config_ncompat; i++)
		if (child_of(config_compat[i], canon, comp, sizeof(comp)))
			consider(name, comp, &best, out, len);
	if (*canon == '\0') {
		consider(name, "plugins", &best, out, len);
		consider(name, "metrics", &best, out, len);
	}
}

static void
unknown(struct ctx *c, const struct node *kn, const char *shown,
    const char *name, const char *hint)
{
	char	 sb[80];

	if (hint[0] != '\0')
		diag(c, c->file, kn->n_line, kn->n_col, 1, "unknown key "
		    "'%s%s%s'; did you mean '%s%s%s'?", shown,
		    *shown ? "." : "", shorten(name, sb, sizeof(sb)), shown,
		    *shown ? "." : "",
		    hint);
	else
		diag(c, c->file, kn->n_line, kn->n_col, 1, "unknown key "
		    "'%s%s%s'", shown, *shown ? "." : "",
		    shorten(name, sb, sizeof(sb)));
}

static int
is_section(const char *path)
{
	size_t	 i, n = strlen(path);

	for (i = 0; i < config_nkeys; i++)
		if (strncmp(config_keys[i].k_path, path, n) == 0 &&
		    config_keys[i].k_path[n] == '.')
			return (1);
	return (0);
}

static const char *
kind(const struct node *n)
{
	if (n->n_type == N_MAP)
		return ("a mapping");
	if (n->n_type == N_SEQ)
		return ("a list");
	return ("a single value");
}

/* A scalar node's value with ${VAR} expanded; NULL after a diag. */
static char *
node_str(struct ctx *c, const struct node *n, const char *shown)
{
	char	 why[512], *out;

	if (expand(c, n->n_val, &out, why, sizeof(why)) == -1) {
		diag(c, c->file, n->n_line, n->n_col, 1, "%s: %s", shown, why);
		return (NULL);
	}
	return (out);
}

static int	set_node(struct ctx *, const struct key *, void *,
		    const struct node *, const char *);

static int
set_list_node(struct ctx *c, const struct key *k, void *p,
    const struct node *n, const char *shown)
{
	struct strlist	 l = { NULL, 0 };
	struct intlist	 il = { NULL, 0 };
	struct strmap	 m = { NULL, NULL, 0 };
	const struct node *e;
	char		 why[512], sb[64], *s;
	size_t		 i;
	int		 v, bad = 0;

	for (i = 0; i < n->n_nkids; i++) {
		e = n->n_kids[i];
		if (k->k_type == KT_MAP && i % 2 == 0) {
			if (e->n_type != N_SCALAR) {
				diag(c, c->file, e->n_line, e->n_col, 1,
				    "%s: keys must be plain values", shown);
				bad = 1;
			}
			continue;
		}
		if (e->n_type == N_NULL && k->k_type == KT_MAP)
			s = strdup("");
		else if (e->n_type != N_SCALAR) {
			diag(c, c->file, e->n_line, e->n_col, 1, "%s: expected "
			    "a single value in the list, got %s", shown,
			    kind(e));
			bad = 1;
			continue;
		} else if ((s = node_str(c, e, shown)) == NULL) {
			bad = 1;
			continue;
		}
		if (s == NULL) {
			c->oom = 1;
			continue;
		}
		if (k->k_type == KT_INTLIST) {
			if (config_parse_int(s, k->k_min, k->k_max, &v) == -1) {
				diag(c, c->file, e->n_line, e->n_col, 1, "%s: "
				    "expected an integer from %ld to %ld, got "
				    "'%s'", shown, k->k_min, k->k_max,
				    shorten(s, sb, sizeof(sb)));
				bad = 1;
			} else if (intlist_add(&il, v) == -1)
				c->oom = 1;
		} else if (k->k_type == KT_MAP) {
			if (!bad && strmap_add(&m, n->n_kids[i - 1]->n_val,
			    s) == -1)
				c->oom = 1;
		} else if (k->k_valid != NULL &&
		    k->k_valid(s, why, sizeof(why)) == -1) {
			diag(c, c->file, e->n_line, e->n_col, 1, "%s: %s",
			    shown, why);
			bad = 1;
		} else if (strlist_add(&l, s) == -1)
			c->oom = 1;
		free(s);
	}
	if (!bad) {
		value_free(k, p);
		if (k->k_type == KT_INTLIST)
			*(struct intlist *)p = il;
		else if (k->k_type == KT_MAP)
			*(struct strmap *)p = m;
		else
			*(struct strlist *)p = l;
		return (0);
	}
	strlist_free(&l);
	strmap_free(&m);
	free(il.v);
	return (-1);
}

/* One item of a KT_OBJS list: a mapping of the fields of k->k_obj. */
static int
set_obj(struct ctx *c, const struct objdesc *o, char *item,
    const struct node *n, const char *shown)
{
	char		 fshown[CF_PATH_MAX + 64], hint[CF_PATH_MAX];
	const struct key *f;
	const char	*name;
	unsigned int	 seen = 0;
	size_t		 i, j;
	int		 rc = 0;

	if (n->n_type != N_MAP) {
		diag(c, c->file, n->n_line, n->n_col, 1, "%s: expected a "
		    "mapping, got %s", shown, kind(n));
		return (-1);
	}
	for (i = 0; i + 1 < n->n_nkids; i += 2) {
		name = n->n_kids[i]->n_val ? n->n_kids[i]->n_val : "";
		for (j = 0; j < o->o_nfields; j++)
			if (strcmp(o->o_fields[j].k_path, name) == 0)
				break;
		if (j == o->o_nfields) {
			hint[0] = '\0';
			for (j = 0; j < o->o_nfields; j++)
				if (lev(name, o->o_fields[j].k_path) <= 2)
					snprintf(hint, sizeof(hint), "%s",
					    o->o_fields[j].k_path);
			unknown(c, n->n_kids[i], shown, name, hint);
			rc = -1;
			continue;
		}
		f = &o->o_fields[j];
		snprintf(fshown, sizeof(fshown), "%s.%s", shown, f->k_path);
		if (n->n_kids[i + 1]->n_type == N_NULL)
			continue;
		seen |= 1U << j;
		if (set_node(c, f, item + f->k_off, n->n_kids[i + 1],
		    fshown) == -1)
			rc = -1;
	}
	for (j = 0; j < o->o_nfields; j++)
		if (o->o_fields[j].k_req && !(seen & (1U << j))) {
			diag(c, c->file, n->n_line, n->n_col, 1, "%s: '%s' is "
			    "required", shown, o->o_fields[j].k_path);
			rc = -1;
		}
	return (rc);
}

static int
set_objs_node(struct ctx *c, const struct key *k, void *base,
    const struct node *n, const char *shown)
{
	const struct objdesc	*o = k->k_obj;
	char			*v, ishown[CF_PATH_MAX + 32];
	size_t			 i;
	int			 rc = 0;

	if (n->n_type != N_SEQ) {
		diag(c, c->file, n->n_line, n->n_col, 1, "%s: expected a "
		    "list, got %s", shown, kind(n));
		return (-1);
	}
	if ((v = calloc(n->n_nkids + 1, o->o_size)) == NULL) {
		c->oom = 1;
		return (-1);
	}
	objs_free(k, base);
	/* Put the items in place first so config_free() owns them. */
	objs_put(k, base, v, n->n_nkids);
	for (i = 0; i < n->n_nkids; i++) {
		snprintf(ishown, sizeof(ishown), "%s[%zu]", shown, i);
		if (set_obj(c, o, v + i * o->o_size, n->n_kids[i],
		    ishown) == -1)
			rc = -1;
	}
	return (rc);
}

/*
 * The value node n of key k into the member at p (base of struct config
 * minus k_off for KT_OBJS).  -1 after a diag.
 */
static int
set_node(struct ctx *c, const struct key *k, void *p, const struct node *n,
    const char *shown)
{
	char	 why[512], *s;
	int	 rc;

	switch (k->k_type) {
	case KT_OBJS:
		return (set_objs_node(c, k, (char *)p - k->k_off, n, shown));
	case KT_MAP:
		if (n->n_type != N_MAP)
			break;
		return (set_list_node(c, k, p, n, shown));
	case KT_LIST:
	case KT_INTLIST:
		if (n->n_type != N_SEQ)
			break;
		return (set_list_node(c, k, p, n, shown));
	default:
		if (n->n_type != N_SCALAR)
			break;
		if ((s = node_str(c, n, shown)) == NULL)
			return (-1);
		rc = set_scalar(k, p, s, why, sizeof(why));
		if (rc == -1)
			diag(c, c->file, n->n_line, n->n_col, 1, "%s: %s",
			    shown, why);
		free(s);
		return (rc);
	}
	diag(c, c->file, n->n_line, n->n_col, 1, "%s: expected %s, got %s",
	    shown, k->k_type == KT_MAP ? "a mapping" : (k->k_type == KT_LIST ||
	    k->k_type == KT_INTLIST) ? "a list" : "a single value", kind(n));
	return (-1);
}

/* config_keys[i] from the file: flat (SRC_FILE) or an alias (SRC_ALIAS). */
static void
set_key(struct ctx *c, size_t i, const struct node *kn, const struct node *v,
    const char *shown, int alias)
{
	struct kstate	*ks = &c->ks[i];
	enum src	 src = alias ? SRC_ALIAS : SRC_FILE;

	if (src == SRC_FILE && ks->ks_src == SRC_FILE) {
		diag(c, c->file, kn->n_line, kn->n_col, 1, "duplicate key "
		    "'%s' (first at line %d)", shown, ks->ks_line);
		return;
	}
	/* A flat key wins over its plugins: alias (SPEC.md 2). */
	if (src == SRC_ALIAS && ks->ks_src == SRC_FILE)
		return;
	if (v->n_type == N_NULL)
		return;
	if (set_node(c, &config_keys[i], member(c->cfg, i), v, shown) == -1)
		return;
	ks->ks_src = src;
	ks->ks_alias = alias;
	ks->ks_line = v->n_line;
	ks->ks_col = v->n_col;
}

static void
compat_key(struct ctx *c, size_t i, const struct node *kn, const char *shown)
{
	if (c->compat_warned[i])
		return;
	c->compat_warned[i] = 1;
	diag(c, c->file, kn->n_line, kn->n_col, 0, "key '%s' is accepted for "
	    "compatibility and ignored by vibewarden", shown);
}

static void	walk_plugins(struct ctx *, const struct node *);

/*
 * The mapping m whose canonical path is canon ("" = top) and which the
 * file spells shown (differs under plugins: and metrics:).
 */
static void
walk_map(struct ctx *c, const struct node *m, const char *canon,
    const char *shown, int alias)
{
	char		 cpath[CF_PATH_MAX], spath[CF_PATH_MAX];
	char		 hint[CF_PATH_MAX];
	const struct node *kn, *v;
	const char	*name;
	size_t		 i, k;

	for (i = 0; i + 1 < m->n_nkids; i += 2) {
		kn = m->n_kids[i];
		v = m->n_kids[i + 1];
		if (kn->n_type != N_SCALAR) {
			diag(c, c->file, kn->n_line, kn->n_col, 1,
			    "keys must be plain names, not %s", kind(kn));
			continue;
		}
		name = kn->n_val;
		if (strcmp(name, "<<") == 0) {
			diag(c, c->file, kn->n_line, kn->n_col, 1,
			    "YAML merge keys (<<) are not supported");
			continue;
		}
		if ((size_t)snprintf(cpath, sizeof(cpath), "%s%s%s", canon,
		    *canon ? "." : "", name) >= sizeof(cpath) ||
		    (size_t)snprintf(spath, sizeof(spath), "%s%s%s", shown,
		    *shown ? "." : "", name) >= sizeof(spath) ||
		    strchr(name, '.') != NULL) {
			unknown(c, kn, shown, name, "");
			continue;
		}
		if (*canon == '\0' && strcmp(name, "plugins") == 0) {
			walk_plugins(c, v);
			continue;
		}
		if (*canon == '\0' && strcmp(name, "metrics") == 0) {
			/* The original's deprecated block, as telemetry. */
			diag(c, c->file, kn->n_line, kn->n_col, 0, "'metrics' "
			    "is deprecated; its keys are read as 'telemetry'");
			if (v->n_type == N_MAP)
				walk_map(c, v, "telemetry", "metrics",
				    ALIAS_METRICS);
			continue;
		}
		if ((k = key_find(cpath)) < config_nkeys) {
			set_key(c, k, kn, v, spath, alias);
			continue;
		}
		for (k = 0; k < config_ncompat; k++)
			if (strcmp(config_compat[k], cpath) == 0)
				break;
		if (k < config_ncompat) {
			compat_key(c, k, kn, spath);
			continue;
		}
		if (!is_section(cpath)) {
			suggest(canon, name, hint, sizeof(hint));
			unknown(c, kn, shown, name, hint);
		} else if (v->n_type == N_MAP)
			walk_map(c, v, cpath, spath, alias);
		else if (v->n_type != N_NULL)
			diag(c, c->file, v->n_line, v->n_col, 1, "%s: expected "
			    "a mapping, got %s", spath, kind(v));
	}
}

static void
walk_plugins(struct ctx *c, const struct node *m)
{
	char		 shown[CF_PATH_MAX], hint[CF_PATH_MAX], sb[64];
	const struct node *kn, *v;
	const struct plugin *pl;
	size_t		 i, p;
	int		 best;

	if (m->n_type == N_NULL)
		return;
	if (m->n_type != N_MAP) {
		diag(c, c->file, m->n_line, m->n_col, 1, "plugins: expected "
		    "a mapping, got %s", kind(m));
		return;
	}
	for (i = 0; i + 1 < m->n_nkids; i += 2) {
		kn = m->n_kids[i];
		v = m->n_kids[i + 1];
		for (p = 0; kn->n_val != NULL && p < config_nplugins; p++)
			if (strcmp(config_plugins[p].p_name, kn->n_val) == 0)
				break;
		if (kn->n_val == NULL || p == config_nplugins) {
			hint[0] = '\0';
			best = 3;
			/* The flat section's name suggests its plugin. */
			for (p = 0; kn->n_val != NULL && p < config_nplugins;
			    p++) {
				pl = &config_plugins[p];
				consider(kn->n_val, pl->p_name, &best, hint,
				    sizeof(hint));
				if (strcmp(kn->n_val, pl->p_section) == 0 &&
				    best > 0) {
					best = 0;
					snprintf(hint, sizeof(hint), "%s",
					    pl->p_name);
				}
			}
			diag(c, c->file, kn->n_line, kn->n_col, 1, "unknown "
			    "plugin '%s'%s%s%s", kn->n_val ? shorten(kn->n_val,
			    sb, sizeof(sb)) : "", *hint ? "; did you mean '" :
			    "", hint, *hint ? "'?" : "");
			continue;
		}
		snprintf(shown, sizeof(shown), "plugins.%s",
		    config_plugins[p].p_name);
		if (v->n_type == N_MAP)
			walk_map(c, v, config_plugins[p].p_section, shown,
			    (int)p + 1);
		else if (v->n_type != N_NULL)
			diag(c, c->file, v->n_line, v->n_col, 1, "%s: expected "
			    "a mapping, got %s", shown, kind(v));
	}
}

/* -------------------------------------------------------- environment */

/*
 * A VIBEWARDEN_* variable that names no key is almost always a typo, and
 * silently ignoring it is how an override that "does nothing" ships: warn,
 * with the nearest key's name when one is close (the same did-you-mean as
 * for the file's keys).  VIBEWARDEN_LISTEN_FD is the binary upgrade's.
 */
static void
env_unknown(struct ctx *c)
{
	char		 name[CF_PATH_MAX + 12], want[CF_PATH_MAX + 12];
	char		 hint[CF_PATH_MAX + 12], shown[CF_PATH_MAX + 20];
	char *const	*e;
	size_t		 i, n;
	int		 best, known;

	for (e = c->envp; *e != NULL; e++) {
		if (strncmp(*e, "VIBEWARDEN_", 11) != 0 ||
		    (n = strcspn(*e, "=")) >= sizeof(want) || (*e)[n] != '=')
			continue;
		memcpy(want, *e, n);
		want[n] = '\0';
		if (strcmp(want, "VIBEWARDEN_LISTEN_FD") == 0)
			continue;
		best = 3;
		hint[0] = '\0';
		for (i = 0, known = 0; i < config_nkeys && !known; i++) {
			if (config_keys[i].k_type == KT_OBJS)
				continue;
			env_name(config_keys[i].k_path, name, sizeof(name));
			if (strcmp(name, want) == 0)
				known = 1;
			else	/* past the prefix: lev() stops at 63 bytes */
				consider(want + 11, name + 11, &best, hint,
				    sizeof(hint));
		}
		if (known)
			continue;
		snprintf(shown, sizeof(shown), "env:%s", want);
		if (hint[0] != '\0')
			diag(c, shown, 0, 0, 0, "unknown variable %s is "
			    "ignored; did you mean VIBEWARDEN_%s?", want, hint);
		else
			diag(c, shown, 0, 0, 0, "unknown variable %s is "
			    "ignored", want);
	}
}

/*
 * VIBEWARDEN_<PATH> for every key but object lists.  The names are made
 * from config_keys[] and looked up, never parsed back, because keys contain _
 * themselves (rate_limit.per_ip.burst).
 */
static void
apply_env(struct ctx *c)
{
	char		 name[CF_PATH_MAX + 12], why[512];
	const char	*v;
	size_t		 i;

	env_unknown(c);

	for (i = 0; i < config_nkeys; i++) {
		if (config_keys[i].k_type == KT_OBJS)
			continue;
		env_name(config_keys[i].k_path, name, sizeof(name));
		if ((v = env_get(c->envp, name, strlen(name))) == NULL)
			continue;
		if (set_string(&config_keys[i], member(c->cfg, i), v, why,
		    sizeof(why)) == -1) {
			/* Reported as env:NAME; the value stays as it was. */
			c->ks[i].ks_src = SRC_ENV;
			key_diag(c, i, 1, "%s: %s", config_keys[i].k_path, why);
			continue;
		}
		c->ks[i].ks_src = SRC_ENV;
		c->ks[i].ks_line = c->ks[i].ks_col = 0;
	}
}

static int
apply_defaults(struct ctx *c)
{
	char	 why[512];
	size_t	 i;

	for (i = 0; i < config_nkeys; i++) {
		if (config_keys[i].k_def == NULL)
			continue;
		if (set_string(&config_keys[i], member(c->cfg, i),
		    config_keys[i].k_def, why, sizeof(why)) == -1) {
			/* A broken table, or out of memory. */
			diag(c, c->file, 0, 0, 1, "default of %s: %s",
			    config_keys[i].k_path, why);
			return (-1);
		}
	}
	return (0);
}

/* ------------------------------------------------- derived values, checks */

static void
replace_str(struct ctx *c, char **p, const char *s)
{
	char	*dup;

	if ((dup = strdup(s)) == NULL) {
		c->oom = 1;
		return;
	}
	free(*p);
	*p = dup;
}

/*
 * upstream.url sets host and port.  When host or port was also given, the
 * one from the stronger source wins (env beats file); from the same
 * source and different, the file is ambiguous.
 */
static void
derive_upstream(struct ctx *c)
{
	struct cf_upstream	*u = &c->cfg->upstream;
	struct kstate		*ku = kst(c, "upstream.url");
	struct kstate		*kh = kst(c, "upstream.host");
	struct kstate		*kp = kst(c, "upstream.port");
	size_t			 iu = key_find("upstream.url");
	char			 host[256];
	int			 tls, port;

	if (u->url == NULL)
		return;
	if (config_split_url(u->url, &tls, host, sizeof(host), &port,
	    0) == -1) {
		key_diag(c, iu, 1, "upstream.url: expected http://host[:port] "
		    "with no path, got '%s'", u->url);
		return;
	}
	u->tls = tls;
	if (strcasecmp(host, u->host) != 0) {
		if (kh->ks_src == ku->ks_src)
			key_diag(c, iu, 1, "upstream.url: host '%s' disagrees "
			    "with upstream.host '%s'; give only one of them",
			    host, u->host);
		else if (kh->ks_src < ku->ks_src)
			replace_str(c, &u->host, host);
	}
	if (port != u->port) {
		if (kp->ks_src == ku->ks_src)
			key_diag(c, iu, 1, "upstream.url: port %d disagrees "
			    "with upstream.port %d; give only one of them",
			    port, u->port);
		else if (kp->ks_src < ku->ks_src)
			u->port = port;
	}
}

/*
 * Seed 000 sets kratos.public_url and auth.public_paths but no auth.mode:
 * the original meant Kratos auth there (SPEC.md 2).  The mode counts as
 * inferred, not explicit, so in a build without Kratos auth it is the
 * "on by default" warning rather than an error: the seed must load.
 */
static void
derive_auth(struct ctx *c)
{
	struct cf_auth	*a = &c->cfg->auth;
	struct kstate	*km = kst(c, "auth.mode");

	if (km->ks_src == SRC_DEFAULT && explicit(c, "kratos.public_url") &&
	    (explicit(c, "auth.public_paths") ||
	    explicit(c, "auth.login_url"))) {
		a->mode = AUTH_KRATOS;
		km->ks_src = SRC_INFERRED;
		key_diag(c, key_find("kratos.public_url"), 0, "auth.mode is "
		    "not set; kratos.public_url with auth.public_paths or "
		    "auth.login_url means auth.mode: kratos");
	}
	if (a->enabled && a->mode == AUTH_NONE)
		key_diag(c, key_find("auth.enabled"), 1, "auth.enabled: true "
		    "needs auth.mode kratos, jwt or api-key");
	if (a->mode != AUTH_NONE)
		a->enabled = 1;
	if (a->login_url == NULL)
		replace_str(c, &a->login_url, LOGIN_DEFAULT);
}

static void
derive(struct ctx *c)
{
	struct config	*cfg = c->cfg;

	derive_upstream(c);
	derive_auth(c);
	if (strcasecmp(cfg->tls.acme_directory, "staging") == 0)
		replace_str(c, &cfg->tls.acme_directory, LE_STAGING);
	else if (strcasecmp(cfg->tls.acme_directory, "production") == 0)
		replace_str(c, &cfg->tls.acme_directory, LE_PRODUCTION);
	/* The original's fallbacks for values that make no sense. */
	if (cfg->resilience.circuit_breaker.threshold <= 0)
		cfg->resilience.circuit_breaker.threshold = 5;
	if (cfg->resilience.retry.max_attempts < 2)
		cfg->resilience.retry.max_attempts = 3;
}

static int
is_loopback(const char *hostport)
{
	char		 host[128];
	const char	*colon = strrchr(hostport, ':');
	size_t		 n;
	struct in_addr	 a4;

	n = colon ? (size_t)(colon - hostport) : strlen(hostport);
	if (n > 1 && hostport[0] == '[' && hostport[n - 1] == ']') {
		hostport++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return (0);
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return (1);
	return (inet_pton(AF_INET, host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127);
}

/*
 * ACME (SPEC.md 10): http-01 proves one DNS name (no wildcard, no IP);
 * its file names under tls.storage_path come from it.  The challenge is
 * answered on server.http_redirect_port, which is 80 unless set, as the
 * original's port 80 listener was.
 */
static void
check_acme(struct ctx *c)
{
	struct cf_tls	*t = &c->cfg->tls;
	const char	*d = t->domain, *s;
	int		 ok = d != NULL && *d != '\0' && *d != '.' &&
			    *d != '-' && strlen(d) <= 253;

	for (s = d; ok && *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			ok = 0;
	if (d != NULL && (!ok || strchr(d, '.') == NULL ||
	    strspn(d, "0123456789.") == strlen(d)))
		key_diag(c, key_find("tls.domain"), 1, "tls.domain %s: ACME "
		    "http-01 needs a DNS name (no wildcard, no IP address)", d);
	if (!explicit(c, "server.http_redirect_port"))
		c->cfg->server.http_redirect_port = 80;
	else if (c->cfg->server.http_redirect_port == 0)
		key_diag(c, key_find("server.http_redirect_port"), 1,
		    "tls.provider letsencrypt answers the http-01 challenge "
		    "on server.http_redirect_port: it cannot be 0");
	if (t->acme_directory == NULL || (strncmp(t->acme_directory,
	    "https://", 8) != 0 && strncmp(t->acme_directory, "http://", 7)
	    != 0))
		key_diag(c, key_find("tls.acme_directory"), 1,
		    "tls.acme_directory: a URL, \"staging\" or \"production\"");
	if (t->acme_ca_file != NULL && access(t->acme_ca_file, R_OK) == -1)
		key_diag(c, key_find("tls.acme_ca_file"), 1,
		    "tls.acme_ca_file %s: %s", t->acme_ca_file,
		    strerror(errno));
}

static void
check_tls(struct ctx *c)
{
	struct cf_tls	*t = &c->cfg->tls;
	size_t		 i = key_find("tls.provider");

	if (!t->enabled)
		return;
	if (t->provider == TLS_PROV_EXTERNAL &&
	    (t->cert_path == NULL || t->key_path == NULL))
		key_diag(c, i, 1, "tls.provider external needs tls.cert_path "
		    "and tls.key_path");
	if (t->provider == TLS_PROV_LETSENCRYPT && t->domain == NULL)
		key_diag(c, i, 1, "tls.provider letsencrypt needs tls.domain");
	if (t->provider == TLS_PROV_LETSENCRYPT)
		check_acme(c);
}

static void
check_rate(struct ctx *c)
{
	struct cf_rate_limit	*r = &c->cfg->rate_limit;

	if (r->store == RL_STORE_REDIS &&
	    (r->redis.url == NULL || *r->redis.url == '\0') &&
	    (r->redis.address == NULL || *r->redis.address == '\0'))
		key_diag(c, key_find("rate_limit.store"), 1, "rate_limit.store "
		    "redis needs rate_limit.redis.url or .address");
	if (!r->enabled)
		return;
	/*
	 * hiredis has a TLS client from 1.0 on; Debian 12 ships 0.14.  Never
	 * talk to a rediss:// server in clear instead.
	 */
	if (r->store == RL_STORE_REDIS && r->redis.url != NULL &&
	    strncmp(r->redis.url, "rediss://", 9) == 0)
		key_diag(c, key_find("rate_limit.redis.url"), 1,
		    "rate_limit.redis.url: rediss:// (TLS) needs hiredis 1.0 "
		    "or later, this build has no TLS client for Redis; reach "
		    "it through a local TLS tunnel (stunnel, spiped) with "
		    "redis:// on loopback");
	if (r->store == RL_STORE_REDIS && r->redis.pool_size > 1)
		key_diag(c, key_find("rate_limit.redis.pool_size"), 0,
		    "rate_limit.redis.pool_size is ignored: each worker keeps "
		    "one pipelined connection");
	if (r->per_user.requests_per_second < r->per_ip.requests_per_second)
		key_diag(c, key_find("rate_limit.per_user.requests_per_second"),
		    0, "rate_limit.per_user.requests_per_second (%g) is below "
		    "per_ip (%g): signed-in users get less than anonymous "
		    "clients", r->per_user.requests_per_second,
		    r->per_ip.requests_per_second);
	if (r->per_user.burst < r->per_ip.burst)
		key_diag(c, key_find("rate_limit.per_user.burst"), 0,
		    "rate_limit.per_user.burst (%d) is below per_ip (%d)",
		    r->per_user.burst, r->per_ip.burst);
}

static void
check_proxies(struct ctx *c)
{
	static const char *const tp[] = { "rate_limit.trust_proxy_headers",
	    "ip_filter.trust_proxy_headers" };
	size_t	 i, k;

	if (c->cfg->server.trusted_proxies.n > 0)
		return;
	for (i = 0; i < sizeof(tp) / sizeof(tp[0]); i++) {
		k = key_find(tp[i]);
		if (*(int *)member(c->cfg, k))
			key_diag(c, k, 0, "%s has no effect without "
			    "server.trusted_proxies: X-Forwarded-For is "
			    "believed only from those", tp[i]);
	}
}

/*
 * auth.jwt.claims_to_headers targets: header names (letters, digits,
 * '-') that vibewarden does not set or frame itself, so an identity
 * header can never stand for Host, Content-Length, X-Forwarded-For, ...
 */
static void
check_claim_headers(struct ctx *c)
{
	const struct strmap *m = &c->cfg->auth.jwt.claims_to_headers;
	struct vw_str	 n;
	size_t		 i, j, extra;
	int		 bad;

	for (i = 0, extra = 0; i < m->n; i++) {
		n.p = m->v[i];
		n.len = strlen(m->v[i]);
		/* auth_ident holds AUTH_EXTRA_MAX more: never drop one. */
		if (strcasecmp(m->v[i], "X-User-Id") != 0 &&
		    strcasecmp(m->v[i], "X-User-Email") != 0 &&
		    strcasecmp(m->v[i], "X-User-Verified") != 0 &&
		    ++extra == AUTH_EXTRA_MAX + 1)
			key_diag(c, key_find("auth.jwt.claims_to_headers"), 1,
			    "auth.jwt.claims_to_headers: at most %d headers "
			    "besides X-User-Id, X-User-Email and X-User-Verified",
			    AUTH_EXTRA_MAX);
		bad = n.len == 0 || n.len > 64;
		for (j = 0; j < n.len && !bad; j++)
			bad = !isalnum((unsigned char)n.p[j]) && n.p[j] != '-';
		if (!bad && http_hdr_id(n) != H_OTHER &&
		    http_hdr_id(n) != H_IDENTITY)
			bad = 1;
		if (bad)
			key_diag(c, key_find("auth.jwt.claims_to_headers"), 1,
			    "auth.jwt.claims_to_headers: '%s' cannot carry a "
			    "claim (a header name of letters, digits and '-' "
			    "that vibewarden does not set itself)", m->v[i]);
	}
}

/*
 * auth.jwt.allowed_algorithms: the JWA names jwt.c verifies.  none and
 * HS* are never accepted: a shared secret cannot come from a JWKS, and
 * HS256 "keyed" with a public key is the classic confusion attack.
 */
static void
check_jwt_algs(struct ctx *c)
{
	static const char *const ok[] = { "RS256", "RS384", "RS512", "PS256",
	    "PS384", "PS512", "ES256", "ES384", "ES512", NULL };
	const struct strlist *al = &c->cfg->auth.jwt.allowed_algorithms;
	size_t		 i, j;

	for (i = 0; i < al->n; i++) {
		for (j = 0; ok[j] != NULL; j++)
			if (strcmp(al->v[i], ok[j]) == 0)
				break;
		if (ok[j] == NULL)
			key_diag(c, key_find("auth.jwt.allowed_algorithms"), 1,
			    "auth.jwt.allowed_algorithms: '%s' is not "
			    "accepted (RS256, RS384, RS512, PS256, PS384, "
			    "PS512, ES256, ES384, ES512; never none or HS*)",
			    al->v[i]);
	}
	if (al->n == 0 && c->cfg->auth.mode == AUTH_JWT)
		key_diag(c, key_find("auth.jwt.allowed_algorithms"), 1,
		    "auth.jwt.allowed_algorithms is empty");
	check_claim_headers(c);
}

static void
check_misc(struct ctx *c)
{
	struct config	*cfg = c->cfg;
	size_t		 i;

	/*
	 * A smaller map is mostly LMDB's fixed pages: it can fill before the
	 * key budget (shm/shm.c SHM_KEY_BUDGET) keeps room for the sweep.
	 */
	if (cfg->shm.map_size < 256 * 1024)
		key_diag(c, key_find("shm.map_size"), 1, "shm.map_size: at "
		    "least 256KB, so that expired entries can always be "
		    "swept");
	if (cfg->cors.allow_credentials)
		for (i = 0; i < cfg->cors.allowed_origins.n; i++)
			if (strcmp(cfg->cors.allowed_origins.v[i], "*") == 0)
				key_diag(c, key_find("cors.allow_credentials"),
				    1, "cors.allow_credentials: true cannot be "
				    "used with allowed_origins '*'");
	if ((cfg->admin.token != NULL || cfg->admin.token_file != NULL) &&
	    !is_loopback(cfg->admin.listen) && !cfg->tls.enabled)
		key_diag(c, key_find("admin.listen"), 0, "admin.listen %s is "
		    "not loopback and TLS is off: the admin token crosses the "
		    "network in clear text", cfg->admin.listen);
	if (cfg->server.http_redirect_port == cfg->server.port)
		key_diag(c, key_find("server.http_redirect_port"), 1,
		    "server.http_redirect_port is the same as server.port");
	else if (cfg->server.http_redirect_port != 0 && !cfg->tls.enabled)
		key_diag(c, key_find("server.http_redirect_port"), 0,
		    "server.http_redirect_port redirects to https, but "
		    "tls.enabled is false");
	if ((cfg->telemetry.otlp.enabled || cfg->telemetry.logs.otlp) &&
	    cfg->telemetry.otlp.endpoint == NULL)
		key_diag(c, key_find("telemetry.otlp.endpoint"), 1,
		    "telemetry.otlp.endpoint is required for OTLP export");
	if (cfg->auth.mode == AUTH_JWT && (cfg->auth.jwt.jwks_url != NULL ||
	    cfg->auth.jwt.issuer_url != NULL) && (cfg->auth.jwt.issuer ==
	    NULL || cfg->auth.jwt.audience == NULL))
		key_diag(c, key_find("auth.mode"), 1, "auth.mode jwt needs "
		    "auth.jwt.issuer and auth.jwt.audience");
	if (cfg->auth.mode == AUTH_JWT && cfg->auth.jwt.jwks_url == NULL &&
	    cfg->auth.jwt.issuer_url == NULL)
		key_diag(c, key_find("auth.mode"), 1, "auth.mode jwt needs "
		    "auth.jwt.jwks_url or auth.jwt.issuer_url (the original's "
		    "development key pair is not supported)");
	check_jwt_algs(c);
	if (cfg->auth.mode == AUTH_API_KEY &&
	    cfg->auth.api_key.openbao_path != NULL)
		key_diag(c, key_find("auth.api_key.openbao_path"), 0,
		    "auth.api_key.openbao_path is not supported in this "
		    "build; only auth.api_key.keys authenticate");
	if (cfg->upstream.health.enabled && cfg->upstream.health.path == NULL)
		key_diag(c, key_find("upstream.health.path"), 1,
		    "upstream.health.path is required when health checks are "
		    "enabled");
	if (cfg->upstream.health.enabled && cfg->upstream.health.path !=
	    NULL && (cfg->upstream.health.path[0] != '/' ||
	    strpbrk(cfg->upstream.health.path, " \t\r\n") != NULL))
		key_diag(c, key_find("upstream.health.path"), 1,
		    "upstream.health.path must start with '/' and hold no "
		    "white space");
	if (cfg->upstream.health.enabled &&
	    cfg->upstream.health.interval_ms == 0)
		key_diag(c, key_find("upstream.health.interval"), 1,
		    "upstream.health.interval must be more than 0");
	if (cfg->upstream.health.enabled &&
	    cfg->upstream.health.timeout_ms == 0)
		key_diag(c, key_find("upstream.health.timeout"), 1,
		    "upstream.health.timeout must be more than 0");
	for (i = 0; i < cfg->body_size.noverrides; i++)
		if (cfg->body_size.overrides[i].path != NULL &&
		    cfg->body_size.overrides[i].path[0] != '/')
			key_diag(c, key_find("body_size.overrides"), 1,
			    "body_size.overrides[%zu].path must start with /",
			    i);
}

/*
 * response_headers: field names must be tokens, values single lines, and
 * the framing of the message is vibewarden's (a rule on Content-Length or
 * Connection would desynchronise the client).
 */
static void
check_rhdr_name(struct ctx *c, const char *key, const char *name)
{
	static const char *const framing[] = { "content-length",
	    "transfer-encoding", "connection", "keep-alive", "upgrade",
	    "trailer", "te", "proxy-connection" };
	const char	*p;
	size_t		 i;

	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			break;
	if (p == name || *p != '\0') {
		key_diag(c, key_find(key), 1, "%s: '%s' is not a header field "
		    "name", key, name);
		return;
	}
	for (i = 0; i < sizeof(framing) / sizeof(framing[0]); i++)
		if (strcasecmp(name, framing[i]) == 0)
			key_diag(c, key_find(key), 1, "%s: %s is part of the "
			    "message framing and cannot be changed", key,
			    name);
}

static void
check_rhdr(struct ctx *c)
{
	const struct cf_response_headers *rh = &c->cfg->response_headers;
	const struct strmap	*m[2] = { &rh->set, &rh->add };
	const char		*kn[2] = { "response_headers.set",
				    "response_headers.add" };
	size_t			 i, j;

	for (j = 0; j < 2; j++)
		for (i = 0; i < m[j]->n; i++) {
			check_rhdr_name(c, kn[j], m[j]->k[i]);
			if (strpbrk(m[j]->v[i], "\r\n") != NULL)
				key_diag(c, key_find(kn[j]), 1, "%s.%s: a "
				    "value cannot span lines", kn[j],
				    m[j]->k[i]);
		}
	for (i = 0; i < rh->remove.n; i++)
		check_rhdr_name(c, "response_headers.remove", rh->remove.v[i]);
}

/*
 * The other values that become response header lines as they are (the
 * security headers, the CSP lists, the CORS lists): a CR or LF in one
 * would end its line and start another, a header the operator never
 * wrote, on every response.
 */
static void
one_line(struct ctx *c, const char *key, const char *v)
{
	if (v != NULL && strpbrk(v, "\r\n") != NULL)
		key_diag(c, key_find(key), 1, "%s: a value cannot span lines",
		    key);
}

static void
one_line_list(struct ctx *c, const char *key, const struct strlist *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		one_line(c, key, l->v[i]);
}

static void
check_header_values(struct ctx *c)
{
	const struct cf_security_headers *sh = &c->cfg->security_headers;
	const struct cf_csp	*p = &sh->csp;
	const struct cf_cors	*co = &c->cfg->cors;

	one_line(c, "security_headers.content_security_policy",
	    sh->content_security_policy);
	one_line(c, "security_headers.referrer_policy", sh->referrer_policy);
	one_line(c, "security_headers.permissions_policy",
	    sh->permissions_policy);
	one_line(c, "security_headers.cross_origin_opener_policy",
	    sh->cross_origin_opener_policy);
	one_line(c, "security_headers.cross_origin_resource_policy",
	    sh->cross_origin_resource_policy);
	one_line(c, "security_headers.permitted_cross_domain_policies",
	    sh->permitted_cross_domain_policies);
#define CSPL(n)	one_line_list(c, "security_headers.csp." #n, &p->n)
	CSPL(default_src);
	CSPL(script_src);
	CSPL(style_src);
	CSPL(img_src);
	CSPL(connect_src);
	CSPL(font_src);
	CSPL(frame_src);
	CSPL(media_src);
	CSPL(object_src);
	CSPL(manifest_src);
	CSPL(worker_src);
	CSPL(child_src);
	CSPL(form_action);
	CSPL(frame_ancestors);
	CSPL(base_uri);
#undef CSPL
	one_line_list(c, "cors.allowed_origins", &co->allowed_origins);
	one_line_list(c, "cors.allowed_methods", &co->allowed_methods);
	one_line_list(c, "cors.allowed_headers", &co->allowed_headers);
	one_line_list(c, "cors.exposed_headers", &co->exposed_headers);
}

/*
 * webhooks.signature_verification: each secret is read from the
 * environment at start-up and on reload, so a missing one is found by -t.
 */
static void
check_webhooks(struct ctx *c)
{
	const struct cf_webhooks *wh = &c->cfg->webhooks;
	const struct cf_webhook_path *p;
	size_t		 i, k;
	const char	*v;

	if (!wh->signature_verification.enabled)
		return;
	k = key_find("webhooks.signature_verification.paths");
	for (i = 0; i < wh->signature_verification.npaths; i++) {
		p = &wh->signature_verification.paths[i];
		if (p->path != NULL && p->path[0] != '/')
			key_diag(c, k, 1, "webhooks.signature_verification."
			    "paths[%zu].path must start with /", i);
		if (p->provider != NULL && strcmp(p->provider, "generic") ==
		    0 && p->header == NULL)
			key_diag(c, k, 1, "webhooks.signature_verification."
			    "paths[%zu].header is required for the generic "
			    "provider", i);
		if (p->secret_env_var == NULL)
			continue;
		v = env_get(c->envp, p->secret_env_var,
		    strlen(p->secret_env_var));
		if (v == NULL || *v == '\0')
			key_diag(c, k, 1, "webhooks.signature_verification."
			    "paths[%zu].secret_env_var: %s is not set in the "
			    "environment", i, p->secret_env_var);
	}
}

static void
check_features(struct ctx *c)
{
	const struct feature	*f;
	char			 nb[CF_PATH_MAX];
	size_t			 i, j, k;

	for (i = 0; i < config_nfeatures; i++) {
		f = &config_features[i];
		if (f->f_implemented || !f->f_on(c->cfg))
			continue;
		k = config_nkeys;
		for (j = 0; j < 3 && f->f_keys[j] != NULL; j++)
			if (explicit(c, f->f_keys[j])) {
				k = key_find(f->f_keys[j]);
				break;
			}
		if (k < config_nkeys && f->f_security)
			key_diag(c, k, 1, "%s: %s is not implemented in this "
			    "build; set %s", key_name(c, k, nb, sizeof(nb)),
			    f->f_what, f->f_fix);
		else if (k < config_nkeys)
			key_diag(c, k, 0, "%s: %s is not implemented in this "
			    "build and is ignored", key_name(c, k, nb,
			    sizeof(nb)), f->f_what);
		else if (f->f_security)
			diag(c, c->file, 0, 0, 0, "%s is on by default but not "
			    "implemented in this build; %s (set %s)", f->f_what,
			    f->f_lost, f->f_fix);
	}
}

/* ---------------------------------------------------------------- API */

const char *
config_default_path(void)
{
	return (SYSCONFDIR "/vibewarden/vibewarden.yaml");
}

/*
 * The file into *buf.  1: the default file is absent, which is fine (the
 * defaults and the environment may be all an operator needs).
 */
static int
read_file(struct ctx *c, int given, char **buf, size_t *len)
{
	FILE	*fp;
	char	*b;
	size_t	 n;

	if ((fp = fopen(c->file, "r")) == NULL) {
		if (errno == ENOENT && !given)
			return (1);
		diag(c, c->file, 0, 0, 1, "cannot open: %s", strerror(errno));
		return (-1);
	}
	if ((b = malloc(CF_MAX_FILE + 1)) == NULL) {
		fclose(fp);
		c->oom = 1;
		return (-1);
	}
	n = fread(b, 1, CF_MAX_FILE + 1, fp);
	if (ferror(fp) || n > CF_MAX_FILE) {
		if (n > CF_MAX_FILE)
			diag(c, c->file, 0, 0, 1, "larger than %d bytes",
			    CF_MAX_FILE);
		else
			diag(c, c->file, 0, 0, 1, "cannot read: %s",
			    strerror(errno));
		fclose(fp);
		free(b);
		return (-1);
	}
	fclose(fp);
	*buf = b;
	*len = n;
	return (0);
}

static void
load_file(struct ctx *c, int given)
{
	struct node	*root;
	char		*buf = NULL;
	size_t		 len;

	if (read_file(c, given, &buf, &len) != 0)
		return;
	if ((c->cfg->path = strdup(c->file)) == NULL)
		c->oom = 1;
	root = yaml_tree(c, buf, len);
	free(buf);
	if (root == NULL)
		return;
	if (root->n_type == N_MAP)
		walk_map(c, root, "", "", 0);
	else if (root->n_type != N_NULL)
		diag(c, c->file, root->n_line, root->n_col, 1, "expected a "
		    "mapping of sections at the top, got %s", kind(root));
	node_free(root);
}

struct config *
config_load(const char *path, char *const *envp, struct cfg_diags *diags)
{
	struct ctx	 c;
	size_t		 nerrors = diags->nerrors;

	memset(&c, 0, sizeof(c));
	c.diags = diags;
	c.envp = envp != NULL ? envp : environ;
	c.file = path != NULL ? path : config_default_path();
	c.cfg = calloc(1, sizeof(*c.cfg));
	/* One spare kstate: kst() of a missing key lands there. */
	c.ks = calloc(config_nkeys + 1, sizeof(*c.ks));
	c.compat_warned = calloc(config_ncompat, 1);
	if (c.cfg == NULL || c.ks == NULL || c.compat_warned == NULL) {
		c.oom = 1;
		goto done;
	}
	if (apply_defaults(&c) == -1)
		goto done;
	load_file(&c, path != NULL);
	if (diags->nerrors > nerrors)
		goto done;	/* checks on a half-read file only add noise */
	apply_env(&c);
	derive(&c);
	check_tls(&c);
	check_rate(&c);
	check_proxies(&c);
	check_misc(&c);
	check_rhdr(&c);
	check_header_values(&c);
	check_webhooks(&c);
	check_features(&c);
 done:
	if (!c.oom && diags->nerrors == nerrors) {
		/* Kept for checks made after loading (config_key_diag). */
		if ((c.cfg->origin = calloc(1, sizeof(*c.cfg->origin))) ==
		    NULL || (c.cfg->origin->o_file = strdup(c.file)) == NULL)
			c.oom = 1;
		else {
			c.cfg->origin->o_ks = c.ks;
			c.ks = NULL;
		}
	}
	if (c.oom)
		diag(&c, c.file, 0, 0, 1, "out of memory");
	free(c.ks);
	free(c.compat_warned);
	if (diags->nerrors > nerrors) {
		config_free(c.cfg);
		return (NULL);
	}
	return (c.cfg);
}

void
config_key_diag(const struct config *cf, struct cfg_diags *d,
    const char *path, int err, const char *fmt, ...)
{
	struct ctx	 c;
	char		 buf[1024];
	size_t		 i;
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memset(&c, 0, sizeof(c));
	c.diags = d;
	c.cfg = (struct config *)cf;
	c.file = cf->origin != NULL ? cf->origin->o_file :
	    config_default_path();
	i = key_find(path);
	if (cf->origin == NULL || i == config_nkeys)
		diag_add(&c, c.file, 0, 0, err, buf);
	else {
		c.ks = cf->origin->o_ks;
		key_diag(&c, i, err, "%s", buf);
	}
}

void
config_free(struct config *cfg)
{
	size_t	 i;

	if (cfg == NULL)
		return;
	for (i = 0; i < config_nkeys; i++) {
		if (config_keys[i].k_type == KT_OBJS)
			objs_free(&config_keys[i], cfg);
		else
			value_free(&config_keys[i], member(cfg, i));
	}
	if (cfg->origin != NULL) {
		free(cfg->origin->o_file);
		free(cfg->origin->o_ks);
		free(cfg->origin);
	}
	free(cfg->path);
	free(cfg);
}

void
config_diags_print(const struct cfg_diags *d, FILE *fp)
{
	const struct cfg_diag	*g;
	size_t			 i;

	for (i = 0; i < d->n; i++) {
		g = &d->v[i];
		if (g->d_line > 0)
			fprintf(fp, "%s:%d:%d: %s: %s\n", g->d_file, g->d_line,
			    g->d_col, g->d_error ? "error" : "warning",
			    g->d_msg);
		else
			fprintf(fp, "%s: %s: %s\n", g->d_file,
			    g->d_error ? "error" : "warning", g->d_msg);
	}
}

void
config_diags_free(struct cfg_diags *d)
{
	size_t	 i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].d_file);
		free(d->v[i].d_msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static struct feature *
feature_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < config_nfeatures; i++)
		if (strcmp(config_features[i].f_name, name) == 0)
			return (&config_features[i]);
	return (NULL);
}

int
config_feature_on(const struct config *cfg, const char *name)
{
	const struct feature	*f = feature_find(name);

	return (f != NULL && f->f_implemented && f->f_on(cfg));
}

int
config_feature_set_implemented(const char *name, int on)
{
	struct feature	*f = feature_find(name);

	if (f == NULL)
		return (-1);
	f->f_implemented = on;
	return (0);
}
