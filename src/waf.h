/*
 * waf.h: the built-in WAF engine (SPEC.md 5 stage 9): the rules of the
 * four categories compiled with PCRE2 (JIT), the decoders that turn each
 * inspected location into the values an application sees, and the walk
 * over them.  Pure code: no I/O, no logging, no global state; a struct
 * waf is built once per configuration generation (worker start) and used
 * by one process only (its match data and scratch buffers are shared by
 * every call).
 *
 * Decoding, once and in this order, never twice:
 *   query string, form body: split on '&', then name and value on the
 *     first '=', then '+' as space, then %XX decoded once;
 *   Cookie: split on ';', name and value on '=', value %XX decoded once;
 *   Referer: %XX decoded once, '+' as space;
 *   User-Agent: inspected as received;
 *   JSON body: each string value (keyed by the nearest member name), its
 *     JSON escapes decoded (\uXXXX to UTF-8); no percent-decoding.
 * A parameter, cookie or member name is inspected as a value too (under
 * its own name), and so is a parameter without '=': applications read
 * keys and raw query strings.
 * Input that was percent-encoded twice therefore reaches the rules with
 * one layer of %XX left, as the application sees it.  The rules match an
 * attack character still written as %XX (or %25XX, %2525XX) as that
 * character: an encoded quote, slash or angle bracket after decoding is
 * only ever sent to evade inspection or to reach an application that
 * decodes twice.
 */
#ifndef VW_WAF_H
#define VW_WAF_H

#include <stddef.h>

#include "vwstr.h"

#define WAF_BODY_MAX	8192	/* body bytes inspected */
#define WAF_VALUE_MAX	16384	/* a longer value: its first bytes only */
#define WAF_NAME_MAX	256	/* a longer name is cut */
#define WAF_RULES_MAX	32	/* counter slots (counters.h) */

enum waf_cat { WC_SQLI, WC_XSS, WC_TRAVERSAL, WC_CMDI, WC__COUNT };

/* The categories a struct waf holds (waf_new()). */
#define WAF_SQLI	(1u << WC_SQLI)
#define WAF_XSS		(1u << WC_XSS)
#define WAF_TRAVERSAL	(1u << WC_TRAVERSAL)
#define WAF_CMDI	(1u << WC_CMDI)
#define WAF_ALL		0xfu

enum waf_loc { WL_QUERY, WL_COOKIE, WL_REFERER, WL_UA, WL_FORM, WL_JSON,
	WL__COUNT };

struct waf_hit {
	int		 h_rule;	/* waf_rule_name() index */
	enum waf_cat	 h_cat;
	enum waf_loc	 h_loc;
	struct vw_str	 h_name;	/* parameter, cookie or member name,
					   decoded; valid during the callback */
	struct vw_str	 h_value;	/* the value as inspected (decoded);
					   valid during the callback */
};

/* Called for each detection; return 1 to stop the walk, 0 to go on. */
typedef int	 waf_hit_fn(void *arg, const struct waf_hit *h);

struct waf;

/*
 * Compile the rules of the categories in cats (WAF_* bits).  Returns a
 * struct the caller owns (waf_free()), or NULL with *errstr set.
 */
struct waf	*waf_new(unsigned cats, const char **errstr);
void		 waf_free(struct waf *w);	/* NULL: no-op */

/*
 * Match one decoded value.  Returns 1 and sets *rule and *cat on a
 * detection, else 0.  A match that reaches PCRE2's match limit counts as
 * a detection of rule "match_limit" (fail closed).
 */
int		 waf_match(struct waf *w, const char *p, size_t len,
		    int *rule, enum waf_cat *cat);

/*
 * Inspect a location: query string or form body (WL_QUERY, WL_FORM),
 * Cookie (WL_COOKIE), Referer or User-Agent (WL_REFERER, WL_UA, name is
 * the header name), JSON body (WL_JSON; a truncated document is walked
 * as far as it goes).  fn gets each detection.  Returns the number of
 * detections reported.
 */
int		 waf_inspect(struct waf *w, enum waf_loc loc, const char *p,
		    size_t len, waf_hit_fn *fn, void *arg);

/*
 * The top-level alternatives of the regular expression re: start offsets
 * in off[] and lengths in len[], at most max; returns how many, 0 when
 * there are more than max or re ends in a lone backslash.  The engine
 * compiles each alternative of a rule alone (faster; same verdicts).
 */
size_t		 waf_split(const char *re, size_t *off, size_t *len,
		    size_t max);
const char	*waf_rule_re(int rule);	/* a rule's whole pattern */

/*
 * Percent-decode in[0..len) once into out (at least len bytes); plus:
 * '+' becomes a space.  A '%' not followed by two hex digits is kept.
 * Returns the decoded length.
 */
size_t		 waf_pct_decode(const char *in, size_t len, char *out,
		    int plus);

/*
 * Names for logs and metrics; NULL for an index out of range.  The last
 * index, "modsecurity", counts the detections of waf.engine: modsecurity.
 */
const char	*waf_rule_name(int rule);
enum waf_cat	 waf_rule_cat(int rule);
int		 waf_rule_count(void);
const char	*waf_cat_name(enum waf_cat c);
const char	*waf_loc_name(enum waf_loc l);

#endif /* VW_WAF_H */
