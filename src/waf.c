/*
 * waf.c: the built-in WAF engine (see waf.h for what is decoded how).
 * The rules are written from the attack classes, one PCRE2 pattern per
 * rule; each top-level alternative of a rule is compiled as a pattern of
 * its own (a "branch"), so that PCRE2's start-of-match analysis and our
 * byte-set checks can skip each one on its own (match_cat()).  Every
 * repetition is bounded, and the repeated separators are possessive
 * ({0,6}+: nothing to backtrack into), so a match costs time linear in the
 * value; the match limit caps the work of a match whatever the input, and
 * values are at most WAF_VALUE_MAX bytes.  Pure: no I/O, no global state.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "util.h"
#include "waf.h"

#define MATCH_LIMIT	200000	/* backtracking steps per match */
#define DEPTH_LIMIT	1000

/* ---------------------------------------------------------- tokens */

/* A byte still percent-encoded after the one decode, once or more. */
#define P(x)	"%(?:25){0,2}" x
/* White space, '+', an SQL comment: what separates SQL words. */
#define SP	"(?:[\\s+]|" P("(?:20|09|0a|0b|0c|0d|2b|a0)") \
		"|/\\*[^*]{0,40}\\*/)"
/*
 * Between UNION and SELECT: a comment as SQL has it, '*' inside or to the
 * end of the line, bounded (256 bytes a run) so that a value full of
 * "union" and comment openers costs linear time.
 */
#define SPC	"(?:[\\s+]|" P("(?:20|09|0a|0b|0c|0d|2b|a0)") \
		"|/\\*[^*]{0,256}+(?:\\*{1,16}+[^*/][^*]{0,256}+){0,2}+" \
		"\\*{1,16}+/|(?:--|#)[^\\n]{0,256}+\\n)"
#define Q	"(?:['\"`]|" P("(?:27|22|60)") ")"
#define EQ	"(?:=|" P("3d") ")"
#define LT	"(?:<|" P("3c") "|(?:&|" P("26") ")lt(?:;|" P("3b") ")?" \
		"|&#0{0,5}60;?|&#x0{0,5}3c;?" \
		"|\\\\u003c|\\\\x3c)"
#define COLON	"(?::|" P("3a") "|&colon;|&#0{0,5}58;?|&#x0{0,5}3a;?)"
/* Overlong UTF-8 forms count raw too: decoders that accept them. */
#define DOT	"(?:\\.|" P("2e") "|" P("c0") P("ae") "|" P("e0") P("80") \
		P("ae") \
		"|" P("c0") P("2e") "|%u002e|\\xc0[\\xae\\x2e]|\\xe0\\x80\\xae)"
#define SL	"(?:/|\\\\|" P("(?:2f|5c)") "|" P("c0") P("af") "|" P("c1") \
		P("9c") "|" P("c0") P("5c") "|" P("e0") P("80") P("af") \
		"|%u2215|%u2216|\\xc0[\\xaf\\x5c]|\\xc1\\x9c|\\xe0\\x80\\xaf)"
#define BT	"(?:`|" P("60") ")"
/* A file that only a request going astray names. */
#define DOTFILE	DOT "(?:htaccess|htpasswd|bash_history|ssh" SL "|git" SL "config)"
/* A word start: \\b would miss "%20or" (the 0 is a word byte). */
#define WB	"(?:(?<![a-z_])|(?<=%[0-9a-f]{2})|(?<=%25[0-9a-f]{2})" \
		"|(?<=%2525[0-9a-f]{2}))"
#define LP	"(?:\\(|" P("28") ")"
#define RP	"(?:\\)|" P("29") ")"
#define AT	"(?:@|" P("40") ")"
#define BOOL	"(?:" WB "(?:or|and|xor|having)\\b|(?:\\||" P("7c") "){2}" \
		"|(?:&|" P("26") "){2})"
/* What separates shell commands (a backtick is a rule of its own). */
#define SEP	"(?:[;|&\\n]|" P("(?:3b|7c|26|0a|0d)") ")"
#define CMD	"(?:cat|tac|tail|ls|id|whoami|uname|hostname|pwd|ifconfig" \
		"|ipconfig|netstat|ps|wget|curl|nc|ncat|netcat|telnet|bash" \
		"|sh|zsh|ksh|dash|csh|python[23]?|perl|ruby|php|node|ping" \
		"|nslookup|dig|traceroute|rm|mv|cp|chmod|chown|touch|mkdir" \
		"|echo|printf|kill|env|printenv|powershell|pwsh|cmd|dir" \
		"|systeminfo|tasklist|certutil|bitsadmin|wmic|base64|xxd" \
		"|grep|awk|xargs|sudo|crontab|nohup|busybox|tftp|ftp|scp" \
		"|ssh|socat|openssl|mkfifo|useradd)" \
		"(?:\\.exe)?"
/* After a command word: an argument that looks like one, or its end. */
#define CMDARG	"(?:$|" SP "{1,6}+(?:[-/$.~'\"\\\\\\d]|https?" COLON \
		"|[a-z]" COLON SL \
		"|(?:rm|sh|bash|id|cat|ls|curl|wget|nc|python|perl)\\b" \
		"|[a-z0-9_-]{1,64}\\.[a-z]{2,}|" P("(?:2f|24|2d|5c)") ")" \
		"|" SP "{0,6}+(?:[|;&><`]|" P("(?:7c|3b|26|3e|3c|60)") ")" \
		"|(?:\\$|" P("24") ")(?:\\{|" P("7b") ")?IFS)"

struct rule {
	const char	*r_name;
	enum waf_cat	 r_cat;
	const char	*r_re;
};

static const struct rule rules[] = {
	/* SQL injection */
	{ "sqli_union", WC_SQLI,
	  WB "union(?:" SPC "|" LP "){1,6}+(?:(?:all|distinct)(?:" SPC "|"
	  LP "){1,6}+)?select(?:" SP "|" LP "){1,6}+(?:\\*|null\\b|\\d|" AT AT
	  "?\\w|0x|" Q "|\\w{1,64}" SP "{0,6}+(?:,|" LP "|from\\b|" P("2c")
	  "))" },
	{ "sqli_tautology", WC_SQLI,
	  BOOL SP "{1,6}+" LP "?" Q "?(\\w{1,32})" Q "?" SP "{0,6}+(?:" EQ
	  "|" WB "like\\b|<=>)" SP "{0,6}+" LP "?" Q "?\\g{-1}(?!\\w)|" Q SP
	  "{0,6}+" RP "?" SP "{0,6}+" BOOL SP "{0,6}+" LP "?" Q "\\w{0,32}" Q
	  SP "{0,6}+(?:" EQ "|<>|!=|" WB "like\\b|" WB "is\\b|<|>)|(?:" Q
	  "|\\d)" SP "{0,6}+" BOOL SP "{1,6}+\\d{1,10}" SP "{0,6}+(?:[<>]|"
	  P("3[ce]") ")" SP "{0,6}+\\d|" Q SP "{0,6}+" RP "?" SP "{0,6}+" WB
	  "(?:or|and)" SP "{1,6}+(?:true|false|\\d{1,10})" SP "{0,6}+(?:--|#"
	  "|/\\*|;|$)" },
	{ "sqli_comment", WC_SQLI,
	  Q "(?:" SP "|" RP "){0,6}+(?:(?:--|#|" P("23") ")(?:[\\s+-]|"
	  P("20") "){0,3}$|/\\*|" P("2f") P("2a") ")"
	  /* MySQL runs what a versioned comment holds. */
	  "|/\\*!\\d{0,6}+" SP "{0,6}+(?:union|select|and|or|from|where"
	  "|insert|update|delete|drop|sleep|benchmark|concat)\\b" },
	{ "sqli_stacked", WC_SQLI,
	  "(?:" Q "|\\d|" RP ")" SP "{0,6}+(?:;|" P("3b") ")" SP
	  "{0,6}+(?:drop" SP "{1,6}+(?:table|database|schema)|delete" SP
	  "++from|insert" SP "{1,6}+into|update" SP "{1,6}+\\w{1,64}" SP
	  "{1,6}+set|select\\b[^;]{0,80}?" WB "from\\b|select" SP
	  "{1,6}+(?:\\d|" AT AT "|null|version|user|sleep|pg_sleep|benchmark"
	  ")|exec(?:ute)?\\b|shutdown\\b|truncate\\b|alter" SP "{1,6}+(?:tab"
	  "le|user)|create" SP "{1,6}+(?:table|user|database)|declare\\b|wai"
	  "tfor\\b|grant\\b|set" SP "{1,6}+@)" },
	{ "sqli_function", WC_SQLI,
	  WB "(?:pg_)?sleep" SP "{0,6}+" LP SP "{0,6}+\\d{1,10}+(?:\\.\\d{1,6}+)?"
	  SP "{0,6}+(?:" RP "|[-+*/,%])|" WB "benchmark" SP
	  "{0,6}+" LP "|" WB "waitfor" SP "{1,6}+(?:delay|time)\\b|" WB
	  "(?:load_file|extractvalue|updatexml)" SP "{0,6}+" LP "|" WB "into"
	  SP "{1,6}+(?:out|dump)file\\b|" WB "information_schema\\b|" WB
	  "(?:xp_cmdshell|sp_executesql|sp_oacreate|sqlite_master"
	  "|pg_catalog)\\b|" AT AT "(?:version|datadir|hostname)\\b|"
	  WB "char" SP "{0,6}+" LP SP "{0,6}+\\d{1,3}" SP "{0,6}+(?:,|" RP
	  "|" P("2c") ")" },
	{ "sqli_order", WC_SQLI,
	  Q RP "?" SP "{1,6}+(?:order|group)" SP "{1,6}+by" SP "{1,6}+\\d" },

	/* Cross-site scripting */
	{ "xss_script", WC_XSS, LT SP "{0,6}+/?" SP "{0,6}+script\\b" },
	{ "xss_event", WC_XSS,
	  "(?:[\\s/\"'`;+]|" P("(?:20|2f|22|27|09|0a|0c|0d)") ")on[a-z]{3,30"
	  "}" SP "{0,6}+" EQ },
	{ "xss_tag", WC_XSS,
	  LT SP "{0,6}+(?:iframe|frame|frameset|object|embed|applet|svg|math"
	  "|meta|base|link|isindex|xss)\\b" },
	{ "xss_uri", WC_XSS,
	  "(?:java|vb|live)" SP "{0,6}+script" SP "{0,6}+" COLON SP
	  "{0,6}+(?:[\\w.$]{1,40}" SP "{0,6}+(?:\\(|" P("28") "|\\[|=|`)|/[/"
	  "*]|%[0-9a-f]{2}|&#)|" WB "data" SP "{0,6}+" COLON SP "{0,6}+(?:te"
	  "xt" SL "(?:html|xml|javascript)|application" SL "(?:x-)?javascrip"
	  "t|image" SL "svg)" },
	{ "xss_js", WC_XSS,
	  WB "(?:alert|prompt|confirm|eval)(?:" LP "|" BT ")" SP
	  "{0,6}+(?:\\d|" Q "|document|window|this|/|" RP "|string|atob|top|"
	  "self|location)|" WB "document" SP "{0,6}+\\." SP "{0,6}+(?:cookie"
	  "|domain|write)\\b|" WB "window" SP "{0,6}+\\." SP "{0,6}+location"
	  "\\b|" WB "fromcharcode" SP "{0,6}+" LP },

	/* Path traversal */
	{ "traversal_dotdot", WC_TRAVERSAL,
	  DOT DOT "(?:" SL "|(?:;|" P("3b") ")" SL ")|" SL DOT DOT "(?:" SL
	  "|$)" },
	{ "traversal_target", WC_TRAVERSAL,
	  WB "etc" SL "(?:passwd|shadow|group|hosts|issue|sudoers|crontab)\\"
	  "b|" WB "proc" SL "self" SL "|" WB "(?:boot|win|system)" DOT
	  "ini\\b|" WB "windows" SL "(?:system32|win" DOT "ini)|^" DOTFILE
	  "|" SL DOTFILE "|"
	  WB "file" COLON SL SL },
	{ "traversal_nul", WC_TRAVERSAL, "\\x00|" P("00") },

	/* Command injection */
	{ "cmdi_separator", WC_CMDI,
	  SEP SP "{0,6}+\\{?" CMD CMDARG "|" SEP SP "{0,6}+net" SP
	  "{1,6}+(?:user|localgroup|share|view)\\b|" SEP SP "{0,6}+sleep" SP
	  "{1,6}+\\d{1,5}" SP "{0,6}+(?:$|[;|&#`]|" P("(?:3b|7c|26|23)") ")" },
	{ "cmdi_substitution", WC_CMDI,
	  "(?:\\$|" P("24") ")(?:\\(|" P("28") ")" SP "{0,6}+" CMD
	  "\\b|(?<![\\s(\\[*_'\"`])" BT SP "{0,6}+" CMD "\\b[^`]{0,80}" BT
	  "(?:$|[^\\s.,;:)!?`])|\\s" BT SP "{0,6}+" CMD "\\b[^`]{0,80}" BT
	  "$|\\$\\{IFS\\}|\\$IFS\\b" },
	/* A command word the shell puts together again: quotes, '\\',
	   "$@" or an empty expansion inside it, brace expansion, globs. */
	{ "cmdi_obfuscated", WC_CMDI,
	  SEP SP "{0,6}+(?:[a-z]{1,20}+(?:''|\"\")[a-z]{2}|[a-z]{1,20}+"
	  "(?:\\$@|\\$\\{\\w{0,20}+\\}|\\$\\(\\))[a-z]|[a-z]{1,3}+\\\\[a-z]"
	  "|\\$'\\\\x[0-9a-f]|\\{[a-z]{2,20}+,|/\\?{1,4}+/"
	  "|/[a-z]{1,8}+/[a-z]{1,3}+\\?{1,3}+[a-z])" },
	{ "cmdi_shell", WC_CMDI,
	  SL "bin" SL "(?:ba|z|k|da|c)?sh\\b|" SL "dev" SL "(?:tcp|udp)" SL
	  "|" WB "nc(?:at)?" SP "{1,6}+-[a-z]{0,4}e\\b|" WB "bash" SP
	  "{1,6}+-[ci]\\b|" WB "cmd(?:\\.exe)?" SP "{0,6}+/[ck]\\b|" WB
	  "powershell(?:\\.exe)?" SP "{1,6}+-|" WB "iex" SP "{0,6}+" LP "|" WB
	  "mkfifo\\b" },
};

#define NRULES	(sizeof(rules) / sizeof(rules[0]))

static const char *const cat_names[WC__COUNT] = {
	"sqli", "xss", "path_traversal", "command_injection"
};
static const char *const loc_names[WL__COUNT] = {
	"query", "cookie", "referer", "user_agent", "form", "json"
};

/*
 * One top-level alternative of a rule, compiled alone.  A value shorter
 * than b_minlen, or without any of the bytes a match can start with
 * (b_first, PCRE2's own start-of-match analysis; all ones when it has
 * none), or without the byte every match holds (b_req, -1: none), cannot
 * match it, so no call is made.
 */
struct branch {
	pcre2_code		*b_re;
	uint64_t		 b_first[4];
	uint32_t		 b_minlen;
	int16_t			 b_req[2];	/* both cases, or -1 */
	unsigned char		 b_jit;		/* JIT-compiled */
	unsigned char		 b_rule;
};

struct waf {
	struct branch		*w_br;		/* by category, rule order */
	size_t			 w_nbr;
	size_t			 w_cat[WC__COUNT + 1];	/* first branch of
					   category c: w_br[w_cat[c]] */
	pcre2_match_data	*w_md;
	pcre2_match_context	*w_mctx;
	char			 w_val[WAF_VALUE_MAX];
	char			 w_name[WAF_NAME_MAX];
};

/* ------------------------------------------------------------ names */

int
waf_rule_count(void)
{
	return ((int)NRULES + 2);
}

const char *
waf_rule_name(int rule)
{
	if (rule == (int)NRULES)
		return ("match_limit");
	if (rule == (int)NRULES + 1)	/* waf.engine: modsecurity */
		return ("modsecurity");
	if (rule < 0 || rule > (int)NRULES)
		return (NULL);
	return (rules[rule].r_name);
}

const char *
waf_rule_re(int rule)
{
	return (rule >= 0 && rule < (int)NRULES ? rules[rule].r_re : NULL);
}

enum waf_cat
waf_rule_cat(int rule)
{
	if (rule < 0 || rule >= (int)NRULES)
		return (WC_SQLI);
	return (rules[rule].r_cat);
}

const char *
waf_cat_name(enum waf_cat c)
{
	return ((unsigned)c < WC__COUNT ? cat_names[c] : NULL);
}

const char *
waf_loc_name(enum waf_loc l)
{
	return ((unsigned)l < WL__COUNT ? loc_names[l] : NULL);
}

/* ---------------------------------------------------------- compile */

/* Both cases of an ASCII letter: c and c ^ 0x20; otherwise c twice. */
static void
both_cases(uint32_t c, int16_t out[2])
{
	out[0] = out[1] = (int16_t)c;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		out[1] = (int16_t)(c ^ 0x20);
}

static void
set_add(uint64_t set[4], uint32_t c)
{
	set[c / 64] |= 1ull << (c % 64);
}

/* What PCRE2 knows of b->b_re: see struct branch. */
static void
branch_info(struct branch *b)
{
	const uint8_t	*bm = NULL;
	uint32_t	 type = 0, unit = 0;
	int16_t		 cs[2];
	int		 i;

	(void)pcre2_pattern_info(b->b_re, PCRE2_INFO_MINLENGTH, &b->b_minlen);
	(void)pcre2_pattern_info(b->b_re, PCRE2_INFO_FIRSTBITMAP, &bm);
	(void)pcre2_pattern_info(b->b_re, PCRE2_INFO_FIRSTCODETYPE, &type);
	memset(b->b_first, 0, sizeof(b->b_first));
	if (bm != NULL) {
		for (i = 0; i < 256; i++)
			if (bm[i / 8] & (1u << (i % 8)))
				set_add(b->b_first, (uint32_t)i);
	} else if (type == 1 && pcre2_pattern_info(b->b_re,
	    PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 && unit < 256) {
		/* Caseless patterns: both cases, to be sure. */
		both_cases(unit, cs);
		set_add(b->b_first, (uint16_t)cs[0]);
		set_add(b->b_first, (uint16_t)cs[1]);
	} else
		memset(b->b_first, 0xff, sizeof(b->b_first));
	b->b_req[0] = b->b_req[1] = -1;
	if (pcre2_pattern_info(b->b_re, PCRE2_INFO_LASTCODETYPE, &type) == 0 &&
	    type == 1 && pcre2_pattern_info(b->b_re, PCRE2_INFO_LASTCODEUNIT,
	    &unit) == 0 && unit < 256)
		both_cases(unit, b->b_req);
}

/*
 * waf.h.  Escapes, character classes and groups are stepped over; the
 * rules use no \Q...\E, comments or option settings at the top level
 * (which a split would change).
 */
size_t
waf_split(const char *re, size_t *off, size_t *len, size_t max)
{
	const char	*p, *start = re;
	int		 depth = 0, cls = 0;
	size_t		 n = 0;

	for (p = re;; p++) {
		if (*p == '\0' || (*p == '|' && depth == 0 && !cls)) {
			if (n == max)
				return (0);
			off[n] = (size_t)(start - re);
			len[n++] = (size_t)(p - start);
			if (*p == '\0')
				return (n);
			start = p + 1;
		} else if (*p == '\\') {
			if (p[1] == '\0')
				return (0);
			p++;
		} else if (cls) {
			if (*p == ']')
				cls = 0;
		} else if (*p == '[') {
			cls = 1;
			if (p[1] == '^')
				p++;
			if (p[1] == ']')	/* a literal ']' first */
				p++;
		} else if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
	}
}

#define BRANCHES_MAX	16	/* per rule */

static int
add_branch(struct waf *w, size_t r, const char *re, size_t len,
    const char **errstr)
{
	static char	 msg[160];
	struct branch	*b = &w->w_br[w->w_nbr];
	int		 err;
	PCRE2_SIZE	 off;

	/* Bytes, not UTF-8: input may be anything. */
	b->b_re = pcre2_compile((PCRE2_SPTR)re, len, PCRE2_CASELESS, &err,
	    &off, NULL);
	if (b->b_re == NULL) {
		pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof(msg));
		*errstr = msg;
		return (-1);
	}
	w->w_nbr++;
	/* Without JIT (an unsupported CPU) the interpreter runs the same
	   pattern under the same limits. */
	b->b_jit = pcre2_jit_compile(b->b_re, PCRE2_JIT_COMPLETE) == 0;
	b->b_rule = (unsigned char)r;
	branch_info(b);
	return (0);
}

/*
 * Each rule alone, each of its top-level alternatives alone: an
 * alternation of rules behind (*MARK) had no start-of-match optimisation
 * and ran every rule at every byte (27 us for an ordinary request's
 * User-Agent, Referer, query and cookies); one pattern per rule cut that
 * by 3.4, and one per alternative halves what remained on a browser's
 * User-Agent, since each alternative starts with its own keyword.  A rule
 * matches when one of its alternatives does, so the verdicts are the same.
 */
struct waf *
waf_new(unsigned cats, const char **errstr)
{
	size_t		 off[BRANCHES_MAX], len[BRANCHES_MAX], r, i, n;
	struct waf	*w;
	int		 c;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->w_br = calloc(NRULES * BRANCHES_MAX,
	    sizeof(*w->w_br))) == NULL)
		goto nomem;
	for (c = 0; c < WC__COUNT; c++) {
		w->w_cat[c] = w->w_nbr;
		if (!(cats & (1u << c)))
			continue;
		for (r = 0; r < NRULES; r++) {
			if (rules[r].r_cat != (enum waf_cat)c)
				continue;
			if ((n = waf_split(rules[r].r_re, off, len,
			    BRANCHES_MAX)) == 0) {
				*errstr = "rule with too many alternatives";
				goto fail;
			}
			for (i = 0; i < n; i++)
				if (add_branch(w, r, rules[r].r_re + off[i],
				    len[i], errstr) == -1)
					goto fail;
		}
	}
	w->w_cat[WC__COUNT] = w->w_nbr;
	if ((w->w_md = pcre2_match_data_create(8, NULL)) == NULL ||
	    (w->w_mctx = pcre2_match_context_create(NULL)) == NULL)
		goto nomem;
	pcre2_set_match_limit(w->w_mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(w->w_mctx, DEPTH_LIMIT);
	return (w);
 nomem:
	*errstr = "out of memory";
 fail:
	waf_free(w);
	return (NULL);
}

void
waf_free(struct waf *w)
{
	size_t	 i;

	if (w == NULL)
		return;
	for (i = 0; i < w->w_nbr; i++)
		pcre2_code_free(w->w_br[i].b_re);
	free(w->w_br);
	pcre2_match_data_free(w->w_md);
	pcre2_match_context_free(w->w_mctx);
	free(w);
}

/* ------------------------------------------------------------ match */

/* The set of bytes in p[0..len). */
static void
byte_set(const char *p, size_t len, uint64_t set[4])
{
	size_t	 i;

	memset(set, 0, 4 * sizeof(set[0]));
	for (i = 0; i < len; i++)
		set_add(set, (unsigned char)p[i]);
}

static int
set_has(const uint64_t set[4], int16_t c)
{
	return ((set[(uint16_t)c / 64] >> ((uint16_t)c % 64)) & 1);
}

/*
 * Match the rules of category c in order; 1 and *rule on a detection.
 * set: byte_set() of the value.
 */
static int
match_cat(struct waf *w, int c, const char *p, size_t len,
    const uint64_t set[4], int *rule)
{
	const struct branch	*b;
	size_t			 i;
	int			 rc;

	for (i = w->w_cat[c]; i < w->w_cat[c + 1]; i++) {
		b = &w->w_br[i];
		if (len < b->b_minlen ||
		    !((set[0] & b->b_first[0]) | (set[1] & b->b_first[1]) |
		    (set[2] & b->b_first[2]) | (set[3] & b->b_first[3])) ||
		    (b->b_req[0] != -1 && !set_has(set, b->b_req[0]) &&
		    !set_has(set, b->b_req[1])))
			continue;
		/* pcre2_jit_match() skips pcre2_match()'s checks: half
		   the cost of a short value. */
		rc = (b->b_jit ? pcre2_jit_match : pcre2_match)(b->b_re,
		    (PCRE2_SPTR)(len ? p : ""), len, 0, 0, w->w_md, w->w_mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		/* Match or depth limit, or worse: fail closed. */
		*rule = rc < 0 ? (int)NRULES : (int)b->b_rule;
		return (1);
	}
	return (0);
}

int
waf_match(struct waf *w, const char *p, size_t len, int *rule,
    enum waf_cat *cat)
{
	uint64_t set[4];
	int	 c;

	if (len > WAF_VALUE_MAX)
		len = WAF_VALUE_MAX;
	byte_set(p, len, set);
	for (c = 0; c < WC__COUNT; c++)
		if (match_cat(w, c, p, len, set, rule)) {
			*cat = c;
			return (1);
		}
	return (0);
}

/* --------------------------------------------------------- decoding */

size_t
waf_pct_decode(const char *in, size_t len, char *out, int plus)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len &&
		    (hi = util_hexval(in[i + 1])) >= 0 &&
		    (lo = util_hexval(in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && in[i] == '+')
			out[o++] = ' ';
		else
			out[o++] = in[i];
	}
	return (o);
}

/*
 * Match the value in w_val against each category; fn gets one hit per
 * category that matches.  Returns 1 when fn says stop.
 */
static int
check(struct waf *w, enum waf_loc loc, struct vw_str name, size_t vlen,
    waf_hit_fn *fn, void *arg, int *nhits)
{
	struct waf_hit	 h;
	uint64_t	 set[4];
	int		 c;

	byte_set(w->w_val, vlen, set);
	for (c = 0; c < WC__COUNT; c++) {
		if (!match_cat(w, c, w->w_val, vlen, set, &h.h_rule))
			continue;
		h.h_cat = c;
		h.h_loc = loc;
		h.h_name = name;
		h.h_value.p = w->w_val;
		h.h_value.len = vlen;
		(*nhits)++;
		if (fn(arg, &h))
			return (1);
	}
	return (0);
}

static size_t
cap(size_t n, size_t max)
{
	return (n > max ? max : n);
}

/* name=value pairs split on sep; '+' as space when plus. */
static int
pairs(struct waf *w, enum waf_loc loc, const char *p, size_t len, char sep,
    int plus, waf_hit_fn *fn, void *arg)
{
	const char	*end = p + len, *e, *eq;
	struct vw_str	 name;
	size_t		 vlen;
	int		 n = 0;

	while (p < end) {
		if ((e = memchr(p, sep, (size_t)(end - p))) == NULL)
			e = end;
		while (loc == WL_COOKIE && p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((eq = memchr(p, '=', (size_t)(e - p))) == NULL)
			eq = e;
		name.p = w->w_name;
		name.len = waf_pct_decode(p, cap((size_t)(eq - p),
		    WAF_NAME_MAX / 3), w->w_name, plus);
		/* The name is data too (a key the application reads, or
		   the whole of a parameter without '='): inspected as a
		   value, under its own name. */
		vlen = waf_pct_decode(p, cap((size_t)(eq - p),
		    WAF_VALUE_MAX), w->w_val, plus);
		if (vlen > 0 && check(w, loc, name, vlen, fn, arg, &n))
			return (n);
		if (eq < e) {
			vlen = waf_pct_decode(eq + 1, cap((size_t)(e - eq - 1),
			    WAF_VALUE_MAX), w->w_val, plus);
			if (vlen > 0 && check(w, loc, name, vlen, fn, arg, &n))
				return (n);
		}
		p = e + 1;
	}
	return (n);
}

/* ------------------------------------------------------------- JSON */

static size_t
put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return (1);
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return (3);
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return (4);
}

static int
hex4(const char *p, const char *end, uint32_t *v)
{
	int	 i, h;

	if (end - p < 4)
		return (-1);
	for (*v = 0, i = 0; i < 4; i++) {
		if ((h = util_hexval((unsigned char)p[i])) < 0)
			return (-1);
		*v = *v << 4 | (uint32_t)h;
	}
	return (0);
}

/*
 * Decode the JSON string at *pp (just after its opening quote) into
 * out[0..max); *pp ends after the closing quote (or at end).  Returns the
 * decoded length.  Bad escapes are kept as they are.
 */
static size_t
json_string(const char **pp, const char *end, char *out, size_t max)
{
	const char	*p = *pp;
	size_t		 o = 0;
	uint32_t	 cp, lo;
	char		 c;

	while (p < end && *p != '"') {
		if (o + 4 > max) {	/* cut: skip the rest */
			for (; p < end && *p != '"'; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			break;
		}
		if (*p != '\\' || p + 1 >= end) {
			out[o++] = *p++;
			continue;
		}
		c = p[1];
		p += 2;
		switch (c) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (hex4(p, end, &cp) == -1) {
				out[o++] = 'u';
				break;
			}
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u' &&
			    hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;
			o += put_utf8(out + o, cp);
			break;
		default:	/* " \ / and anything else: the byte */
			out[o++] = c;
			break;
		}
	}
	if (p < end)
		p++;		/* the closing quote */
	*pp = p;
	return (o);
}

static int
json(struct waf *w, const char *p, size_t len, waf_hit_fn *fn, void *arg)
{
	const char	*end = p + len, *q;
	struct vw_str	 name = { w->w_name, 0 };
	size_t		 vlen;
	int		 n = 0;

	while (p < end) {
		if (*p++ != '"')
			continue;
		vlen = json_string(&p, end, w->w_val, WAF_VALUE_MAX);
		for (q = p; q < end && (*q == ' ' || *q == '\t' ||
		    *q == '\r' || *q == '\n'); q++)
			;
		if (q < end && *q == ':') {
			/* A member name: the key of what follows. */
			name.len = cap(vlen, WAF_NAME_MAX);
			memcpy(w->w_name, w->w_val, name.len);
			/* Keys reach the application too. */
			if (vlen > 0 && check(w, WL_JSON, name, vlen, fn,
			    arg, &n))
				return (n);
			continue;
		}
		if (vlen > 0 && check(w, WL_JSON, name, vlen, fn, arg, &n))
			return (n);
	}
	return (n);
}

/* ------------------------------------------------------------ walk */

int
waf_inspect(struct waf *w, enum waf_loc loc, const char *p, size_t len,
    waf_hit_fn *fn, void *arg)
{
	struct vw_str	 name;
	size_t		 vlen;
	int		 n = 0;

	if (p == NULL || len == 0)
		return (0);
	switch (loc) {
	case WL_QUERY:
	case WL_FORM:
		return (pairs(w, loc, p, len, '&', 1, fn, arg));
	case WL_COOKIE:
		return (pairs(w, loc, p, len, ';', 0, fn, arg));
	case WL_JSON:
		return (json(w, p, len, fn, arg));
	case WL_REFERER:
		name = VW_STR("Referer");
		vlen = waf_pct_decode(p, cap(len, WAF_VALUE_MAX), w->w_val, 1);
		break;
	case WL_UA:
	default:
		name = VW_STR("User-Agent");
		vlen = cap(len, WAF_VALUE_MAX);
		memcpy(w->w_val, p, vlen);
		break;
	}
	(void)check(w, loc, name, vlen, fn, arg, &n);
	return (n);
}
