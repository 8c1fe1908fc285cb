/*
 * modsec.c: waf.engine: modsecurity on libmodsecurity 3 (see modsec.h).
 * The rules decide whether to intervene (with the OWASP CRS: the anomaly
 * score check, 949110); each rule match that ModSecurity reports through
 * its log callback is a detection, named by its rule id, its category
 * taken from the CRS "attack-..." tag (or the CRS range of its id: 942
 * sqli, 941 xss, 930 path_traversal, 932 command_injection, ...) and its
 * location from the variable it matched.  Those come from ModSecurity's message text, so a request
 * crafted to look like that text can mislabel its own detection in the
 * log; whether it is blocked does not depend on the text.  No I/O per
 * request as long as the rules do none (modsec.h); never logs.
 */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include "config.h"
#include "modsec.h"

#define VALUE_MAX	64

/*
 * Appended after the operator's files (a later setting wins): the engine
 * runs on (detect mode ignores its verdict), nothing is written per
 * request, and bodies are read, JSON ones with the JSON processor.
 */
static const char forced[] =
    "SecRuleEngine On\n"
    "SecAuditEngine Off\n"
    "SecRequestBodyAccess On\n"
    "SecResponseBodyAccess Off\n"
    "SecRule REQUEST_HEADERS:Content-Type "
    "\"@rx (?i)^application/(?:[a-z0-9.-]*\\+)?json\" "
    "\"id:99001,phase:1,pass,nolog,t:none,"
    "ctl:requestBodyProcessor=JSON\"\n";

/* What a rule file must not hold: I/O in the request path. */
static const struct {
	const char	*rf_what;	/* lower case */
	int		 rf_directive;	/* first word of a line */
	const char	*rf_why;
} refused[] = {
	{ "secdebuglog", 1, "SecDebugLog writes a file in the request path" },
	{ "sechttpblkey", 1, "SecHttpBlKey makes @rbl DNS lookups in the "
	    "request path" },
	{ "secremoterules", 1, "SecRemoteRules fetches rules over the "
	    "network" },
	{ "exec:", 0, "the exec action runs a program per request" },
	{ "@inspectfile", 0, "@inspectFile runs a program per request" },
};

struct modsec {
	ModSecurity	*m_msc;
	RulesSet	*m_rules;
};

struct txctx {
	const struct modsec_req	*x_req;
	modsec_hit_fn		*x_fn;
	void			*x_arg;
	int			 x_nhits;
};

static void	 logcb(void *, const void *);

int
modsec_available(void)
{
	return (1);
}

/* ---------------------------------------------------------- loading */

/* 0 when the file holds nothing refused, else -1 with err set. */
static int
scan(const char *path, char *err, size_t errlen)
{
	FILE	*f;
	char	 line[8192], *p, *q;
	size_t	 i, n, lineno = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot be read", path);
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '#')
			continue;
		for (q = p; *q != '\0'; q++)
			*q = (char)tolower((unsigned char)*q);
		for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			n = strlen(refused[i].rf_what);
			if (refused[i].rf_directive ? strncmp(p,
			    refused[i].rf_what, n) != 0 || (p[n] != ' ' &&
			    p[n] != '\t') : strstr(p, refused[i].rf_what) ==
			    NULL)
				continue;
			snprintf(err, errlen, "%s:%zu: refused: %s", path,
			    lineno, refused[i].rf_why);
			fclose(f);
			return (-1);
		}
	}
	fclose(f);
	return (0);
}

static int
load_file(struct modsec *m, const char *path, char *err, size_t errlen)
{
	const char	*e = NULL;

	if (scan(path, err, errlen) == -1)
		return (-1);
	if (msc_rules_add_file(m->m_rules, path, &e) < 0) {
		snprintf(err, errlen, "%s: %s", path, e ? e : "cannot load");
		free((void *)e);
		return (-1);
	}
	free((void *)e);
	return (0);
}

struct modsec *
modsec_new(const struct strlist *rules, char *err, size_t errlen)
{
	struct modsec	*m;
	glob_t		 g;
	const char	*e = NULL;
	size_t		 i, j;
	int		 rc;

	if (rules == NULL || rules->n == 0) {
		snprintf(err, errlen, "no rule files (waf.modsecurity.rules)");
		return (NULL);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->m_msc = msc_init()) == NULL ||
	    (m->m_rules = msc_create_rules_set()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	msc_set_connector_info(m->m_msc, "vibewarden");
	msc_set_log_cb(m->m_msc, logcb);
	for (i = 0; i < rules->n; i++) {
		memset(&g, 0, sizeof(g));
		rc = glob(rules->v[i], GLOB_ERR, NULL, &g);
		if (rc != 0) {
			snprintf(err, errlen, "%s: %s", rules->v[i],
			    rc == GLOB_NOSPACE ? "out of memory" :
			    "no such file (or a directory cannot be read)");
			globfree(&g);
			goto fail;
		}
		for (j = 0; j < g.gl_pathc; j++)
			if (load_file(m, g.gl_pathv[j], err, errlen) == -1) {
				globfree(&g);
				goto fail;
			}
		globfree(&g);
	}
	if (msc_rules_add(m->m_rules, forced, &e) < 0) {
		snprintf(err, errlen, "vibewarden's own settings after the "
		    "rule files: %s", e ? e : "cannot load");
		free((void *)e);
		goto fail;
	}
	free((void *)e);
	return (m);
 fail:
	modsec_free(m);
	return (NULL);
}

void
modsec_free(struct modsec *m)
{
	if (m == NULL)
		return;
	if (m->m_rules != NULL)
		msc_rules_cleanup(m->m_rules);
	if (m->m_msc != NULL)
		msc_cleanup(m->m_msc);
	free(m);
}

/* ------------------------------------------------- reading messages */

/* The text of the first [key "..."] field after p, as (ptr, len). */
static struct vw_str
field(const char *p, const char *key)
{
	struct vw_str	 v = { NULL, 0 };
	const char	*e;

	if ((p = strstr(p, key)) == NULL)
		return (v);
	p += strlen(key);
	if ((e = strstr(p, "\"]")) == NULL)
		e = p + strlen(p);
	v.p = p;
	v.len = (size_t)(e - p);
	return (v);
}

static int
is(struct vw_str s, const char *lit)
{
	return (s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0);
}

/* The category from the first CRS attack tag, NULL for none. */
static const char *
category(const char *msg)
{
	static const char *const known[] = { "protocol", "reputation-ip",
	    "reputation-scanner", "reputation-crawler", "dos", "multipart",
	    "rfi", "php", "injection-php", "nodejs", "java", "fixation",
	    "disclosure", "generic", "injection-generic", "leakage" };
	struct vw_str	 t;
	const char	*p = msg;
	size_t		 i;

	while ((t = field(p, "[tag \"attack-")).p != NULL) {
		p = t.p;
		if (is(t, "sqli"))
			return ("sqli");
		if (is(t, "xss"))
			return ("xss");
		if (is(t, "lfi"))
			return ("path_traversal");
		if (is(t, "rce"))
			return ("command_injection");
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (is(t, known[i]))
				return (known[i]);
	}
	return (NULL);
}

/* A CRS rule without its tags in the message: its id's range. */
static const char *
category_by_id(struct vw_str id)
{
	static const struct {
		const char	*pfx, *cat;
	} crs[] = { { "942", "sqli" }, { "941", "xss" },
	    { "930", "path_traversal" }, { "932", "command_injection" },
	    { "931", "rfi" }, { "933", "php" }, { "934", "nodejs" },
	    { "943", "fixation" }, { "944", "java" }, { "920", "protocol" },
	    { "921", "protocol" }, { "922", "multipart" },
	    { "913", "reputation-scanner" }, { "910", "reputation-ip" },
	    { "911", "method" }, { "912", "dos" } };
	size_t	 i;

	if (id.len != 6)
		return ("other");
	for (i = 0; i < sizeof(crs) / sizeof(crs[0]); i++)
		if (strncmp(id.p, crs[i].pfx, 3) == 0)
			return (crs[i].cat);
	return ("other");
}

/* Where ModSecurity's variable (ARGS:q, REQUEST_HEADERS:Referer) is. */
static const char *
location(const struct modsec_req *r, struct vw_str coll, struct vw_str name)
{
	const char	*body = r->mr_body == NULL ? NULL : r->mr_json ?
			    "json" : "form";
	struct vw_str	 q = r->mr_target;
	const char	*s;

	if (is(coll, "REQUEST_COOKIES") || is(coll, "REQUEST_COOKIES_NAMES"))
		return ("cookie");
	if (is(coll, "REQUEST_HEADERS"))
		return (is(name, "User-Agent") ? "user_agent" :
		    is(name, "Referer") ? "referer" : is(name, "Cookie") ?
		    "cookie" : "header");
	if (is(coll, "ARGS_GET") || is(coll, "ARGS_GET_NAMES"))
		return ("query");
	if (is(coll, "ARGS_POST") || is(coll, "ARGS_POST_NAMES") ||
	    is(coll, "REQUEST_BODY"))
		return (body ? body : "other");
	if (is(coll, "ARGS") || is(coll, "ARGS_NAMES")) {
		if (body == NULL)
			return ("query");
		if (name.len > 5 && strncmp(name.p, "json.", 5) == 0)
			return ("json");
		/* In the query string when it has that name. */
		if ((s = memchr(q.p, '?', q.len)) != NULL && name.len > 0 &&
		    memmem(s, q.len - (size_t)(s - q.p), name.p, name.len))
			return ("query");
		return (body);
	}
	if (is(coll, "REQUEST_URI") || is(coll, "REQUEST_FILENAME") ||
	    is(coll, "REQUEST_BASENAME") || is(coll, "QUERY_STRING") ||
	    is(coll, "REQUEST_LINE") || is(coll, "REQUEST_URI_RAW"))
		return ("uri");
	return ("other");
}

/* The CRS rules that give the verdict (949), or correlate (959, 980). */
static int
verdict_rule(struct vw_str id)
{
	return (id.len == 6 && (strncmp(id.p, "949", 3) == 0 ||
	    strncmp(id.p, "959", 3) == 0 || strncmp(id.p, "980", 3) == 0));
}

/*
 * ModSecurity's log callback: one message per rule match.  The matched
 * variable comes from "Matched Data: X found within VAR: value" (the CRS
 * logdata), else from "against variable `VAR'".
 */
static void
logcb(void *data, const void *msgp)
{
	struct txctx		*x = data;
	const char		*msg = msgp, *p, *e, *c;
	struct modsec_hit	 h;
	struct vw_str		 id, d, var = { NULL, 0 }, coll, name;
	char			 rid[24];

	if (x == NULL || msg == NULL || x->x_nhits >= MODSEC_HIT_MAX)
		return;
	id = field(msg, "[id \"");
	if (id.p == NULL || id.len == 0 || id.len >= sizeof(rid) ||
	    verdict_rule(id))
		return;
	memcpy(rid, id.p, id.len);
	rid[id.len] = '\0';
	memset(&h, 0, sizeof(h));
	h.mh_rule = rid;
	if ((h.mh_cat = category(msg)) == NULL)
		h.mh_cat = category_by_id(id);
	d = field(msg, "[data \"Matched Data: ");
	if (d.p != NULL && (p = strstr(d.p, " found within ")) != NULL &&
	    p < d.p + d.len) {
		h.mh_value.p = d.p;
		h.mh_value.len = (size_t)(p - d.p);
		var.p = p + 14;
		e = strstr(var.p, ": ");
		var.len = e != NULL && e < d.p + d.len ? (size_t)(e - var.p) :
		    (size_t)(d.p + d.len - var.p);
	} else if ((p = strstr(msg, "against variable `")) != NULL) {
		var.p = p + 18;
		e = strchr(var.p, '\'');
		var.len = e != NULL ? (size_t)(e - var.p) : strlen(var.p);
	}
	coll = var;
	name.p = "";
	name.len = 0;
	if (var.p != NULL && (c = memchr(var.p, ':', var.len)) != NULL) {
		coll.len = (size_t)(c - var.p);
		name.p = c + 1;
		name.len = var.len - coll.len - 1;
	}
	h.mh_loc = var.p != NULL ? location(x->x_req, coll, name) : "other";
	h.mh_name = name.len > 0 ? name : coll;
	if (h.mh_value.len > VALUE_MAX)
		h.mh_value.len = VALUE_MAX;
	x->x_nhits++;
	x->x_fn(x->x_arg, &h);
}

/* ------------------------------------------------------ transaction */

/* 1 when the rules want to intervene; frees what ModSecurity made. */
static int
intervenes(Transaction *t)
{
	ModSecurityIntervention	 it;
	int			 rc;

	memset(&it, 0, sizeof(it));
	it.status = 200;
	rc = msc_intervention(t, &it);
	free(it.url);
	free(it.log);
	return (rc > 0 && it.disruptive);
}

int
modsec_inspect(struct modsec *m, const struct modsec_req *r,
    modsec_hit_fn *fn, void *arg)
{
	struct txctx	 x = { r, fn, arg, 0 };
	Transaction	*t;
	char		 uri[16384], meth[32];
	size_t		 i, n;
	int		 rc = 0;

	if ((t = msc_new_transaction(m->m_msc, m->m_rules, &x)) == NULL)
		return (-1);
	n = r->mr_target.len < sizeof(uri) - 1 ? r->mr_target.len :
	    sizeof(uri) - 1;
	memcpy(uri, r->mr_target.p, n);
	uri[n] = '\0';
	n = r->mr_method.len < sizeof(meth) - 1 ? r->mr_method.len :
	    sizeof(meth) - 1;
	memcpy(meth, r->mr_method.p, n);
	meth[n] = '\0';
	msc_process_connection(t, r->mr_cip ? r->mr_cip : "127.0.0.1", 0,
	    "127.0.0.1", 0);
	msc_process_uri(t, uri, meth, "1.1");
	if ((rc = intervenes(t)) != 0)
		goto done;
	for (i = 0; i < r->mr_nhdr && i < MODSEC_HDR_MAX; i++)
		msc_add_n_request_header(t,
		    (const unsigned char *)r->mr_hname[i].p,
		    r->mr_hname[i].len,
		    (const unsigned char *)r->mr_hval[i].p,
		    r->mr_hval[i].len);
	msc_process_request_headers(t);
	if ((rc = intervenes(t)) != 0)
		goto done;
	if (r->mr_body != NULL && r->mr_blen > 0)
		msc_append_request_body(t, (const unsigned char *)r->mr_body,
		    r->mr_blen);
	msc_process_request_body(t);
	rc = intervenes(t);
 done:
	msc_transaction_cleanup(t);
	return (rc);
}
