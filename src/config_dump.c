/*
 * config_dump.c: print a loaded configuration as YAML (vibewarden -T),
 * the way nginx -T shows what it would run.  Run by the command line only,
 * after the file passed every check.  It must never print a secret: the
 * values in redacted[] come out as "***", so the output can be pasted into
 * a bug report.  Driven by config_keys[], like the loader, so a new key is
 * dumped without a line here.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_keys.h"

#define DUMP_DEPTH	8

/* Keys (and object fields, as path.field) whose values are secrets. */
static const char *const redacted[] = {
	"admin.token",
	"rate_limit.redis.password",
	"rate_limit.redis.url",		/* redis://user:password@host */
	"auth.api_key.keys.hash",
	"telemetry.otlp.headers",	/* Authorization, API keys */
};

static int
is_secret(const char *path, const char *field)
{
	char	 buf[300];
	size_t	 i;

	snprintf(buf, sizeof(buf), "%s%s%s", path, field ? "." : "",
	    field ? field : "");
	for (i = 0; i < sizeof(redacted) / sizeof(redacted[0]); i++)
		if (strcmp(redacted[i], buf) == 0)
			return (1);
	return (0);
}

/* A YAML double-quoted scalar (JSON escapes are valid YAML ones). */
static void
quoted(FILE *fp, const char *s)
{
	const unsigned char	*p;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\x%02x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

static const char *
enum_name(const struct ename *e, int v)
{
	for (; e->e_name != NULL; e++)
		if (e->e_val == v)
			return (e->e_name);
	return ("?");
}

/* ms in the largest unit that keeps it whole: 30s, not 30000ms. */
static void
duration(FILE *fp, uint64_t ms)
{
	if (ms != 0 && ms % 3600000 == 0)
		fprintf(fp, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		fprintf(fp, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		fprintf(fp, "%llus", (unsigned long long)(ms / 1000));
	else
		fprintf(fp, "%llums", (unsigned long long)ms);
}

/* The value of key k stored at p, on the rest of the current line. */
static void
value(FILE *fp, const struct key *k, const void *p, int secret)
{
	const struct strlist	*l;
	const struct intlist	*il;
	const struct strmap	*m;
	size_t			 i;

	if (secret && k->k_type != KT_MAP) {
		fputs(*(char *const *)p == NULL && k->k_type == KT_STR ?
		    "null" : "\"***\"", fp);
		return;
	}
	switch (k->k_type) {
	case KT_STR:
		quoted(fp, *(char *const *)p);
		break;
	case KT_INT:
		fprintf(fp, "%d", *(const int *)p);
		break;
	case KT_BOOL:
		fputs(*(const int *)p ? "true" : "false", fp);
		break;
	case KT_DUR:
		duration(fp, *(const uint64_t *)p);
		break;
	case KT_SIZE:
		fprintf(fp, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case KT_FLOAT:
		fprintf(fp, "%g", *(const double *)p);
		break;
	case KT_ENUM:
		quoted(fp, enum_name(k->k_enum, *(const int *)p));
		break;
	case KT_LIST:
		l = p;
		fputc('[', fp);
		for (i = 0; i < l->n; i++) {
			fputs(i ? ", " : "", fp);
			quoted(fp, l->v[i]);
		}
		fputc(']', fp);
		break;
	case KT_INTLIST:
		il = p;
		fputc('[', fp);
		for (i = 0; i < il->n; i++)
			fprintf(fp, "%s%d", i ? ", " : "", il->v[i]);
		fputc(']', fp);
		break;
	case KT_MAP:
		m = p;
		fputc('{', fp);
		for (i = 0; i < m->n; i++) {
			fputs(i ? ", " : "", fp);
			quoted(fp, m->k[i]);
			fputs(": ", fp);
			quoted(fp, secret ? "***" : m->v[i]);
		}
		fputc('}', fp);
		break;
	case KT_OBJS:
		break;
	}
}

/* A list of objects (body_size.overrides ...) as a block sequence. */
static void
objects(FILE *fp, const struct key *k, const struct config *cf, int depth)
{
	const struct objdesc	*o = k->k_obj;
	const char		*base;
	size_t			 n, i, f;
	int			 ind = depth * 2;

	memcpy(&base, (const char *)cf + k->k_off, sizeof(base));
	memcpy(&n, (const char *)cf + k->k_noff, sizeof(n));
	if (n == 0) {
		fputs(" []\n", fp);
		return;
	}
	fputc('\n', fp);
	for (i = 0; i < n; i++)
		for (f = 0; f < o->o_nfields; f++) {
			fprintf(fp, "%*s%s %s: ", ind, "", f == 0 ? "-" : " ",
			    o->o_fields[f].k_path);
			value(fp, &o->o_fields[f], base + i * o->o_size +
			    o->o_fields[f].k_off, is_secret(k->k_path,
			    o->o_fields[f].k_path));
			fputc('\n', fp);
		}
}

void
config_dump(const struct config *cf, FILE *fp)
{
	char		 prev[DUMP_DEPTH][64], comp[DUMP_DEPTH][64];
	const struct key *k;
	const char	*s;
	size_t		 i, n, nprev = 0, same, j, len;

	fprintf(fp, "# vibewarden -T: the effective configuration%s%s\n",
	    cf->path ? " of " : " (built-in defaults)", cf->path ? cf->path :
	    "");
	for (i = 0; i < config_nkeys; i++) {
		k = &config_keys[i];
		/* Split the dotted path into components. */
		for (n = 0, s = k->k_path; n < DUMP_DEPTH; n++) {
			len = strcspn(s, ".");
			snprintf(comp[n], sizeof(comp[n]), "%.*s", (int)len, s);
			s += len;
			if (*s++ == '\0') {
				n++;
				break;
			}
		}
		/* Open the mappings this key's parents need. */
		for (same = 0; same < nprev && same + 1 < n &&
		    strcmp(prev[same], comp[same]) == 0; same++)
			;
		for (j = same; j + 1 < n; j++)
			fprintf(fp, "%*s%s:\n", (int)j * 2, "", comp[j]);
		fprintf(fp, "%*s%s:", (int)(n - 1) * 2, "", comp[n - 1]);
		if (k->k_type == KT_OBJS)
			objects(fp, k, cf, (int)n);
		else {
			fputc(' ', fp);
			value(fp, k, (const char *)cf + k->k_off,
			    is_secret(k->k_path, NULL));
			fputc('\n', fp);
		}
		memcpy(prev, comp, sizeof(prev));
		nprev = n - 1;
	}
}
