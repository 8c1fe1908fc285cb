/*
 * config_keys.h: the tables behind the config loader, shared by config.c
 * (the engine) and config_keys.c (the tables).  Private to those two
 * files; everything else uses config.h.
 */
#ifndef VW_CONFIG_KEYS_H
#define VW_CONFIG_KEYS_H

#include <stddef.h>

#include "config.h"
#include "vw_paths.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif
#ifndef VW_DEFAULT_USER
#define VW_DEFAULT_USER	"nobody"
#endif
#ifndef VW_DEFAULT_GROUP
#define VW_DEFAULT_GROUP "nogroup"
#endif

#define LE_PRODUCTION	"https://acme-v02.api.letsencrypt.org/directory"
#define LE_STAGING	"https://acme-staging-v02.api.letsencrypt.org/directory"

enum ktype {
	KT_STR, KT_INT, KT_BOOL, KT_DUR, KT_SIZE, KT_FLOAT, KT_ENUM,
	KT_LIST, KT_INTLIST, KT_MAP, KT_OBJS
};

struct ename {
	const char	*e_name;
	int		 e_val;
};

struct objdesc;

/* Checks one string value (a scalar or a list element). */
typedef int	 (*validator)(const char *, char *, size_t);

struct key {
	const char	*k_path;
	enum ktype	 k_type;
	size_t		 k_off;		/* member in struct config (or item) */
	const char	*k_def;		/* default in env syntax; NULL: zero */
	long		 k_min, k_max;	/* KT_INT, KT_INTLIST */
	const struct ename *k_enum;	/* KT_ENUM */
	validator	 k_valid;
	const struct objdesc *k_obj;	/* KT_OBJS */
	size_t		 k_noff;	/* KT_OBJS: the item count member */
	int		 k_req;		/* object field that must be given */
};

struct objdesc {
	size_t		 o_size;
	const struct key *o_fields;
	size_t		 o_nfields;
};

/* plugins.<name> of the original's plugins: shape -> a flat section. */
struct plugin {
	const char	*p_name;
	const char	*p_section;
};

struct feature {
	const char	*f_name;
	const char	*f_keys[3];
	const char	*f_what;
	const char	*f_fix;
	const char	*f_lost;	/* what traffic goes without */
	int		 f_security;
	int		 f_implemented;
	int		(*f_on)(const struct config *);
};

extern const struct key		 config_keys[];
extern const size_t		 config_nkeys;
extern const char *const	 config_compat[];
extern const size_t		 config_ncompat;
extern const struct plugin	 config_plugins[];
extern const size_t		 config_nplugins;
extern struct feature		 config_features[];
extern const size_t		 config_nfeatures;

/*
 * Split an http(s) URL into host (no brackets) and port; *tls says https.
 * A path other than "" or "/" fails unless pathok.  0 or -1.
 */
/*
 * A decimal integer (strtol syntax, sign allowed) from lo to hi with
 * nothing around it; 0, or -1 when s is anything else.
 */
int	config_parse_int(const char *s, long lo, long hi, int *out);

int	config_split_url(const char *, int *tls, char *host, size_t hlen,
	    int *port, int pathok);

#endif /* VW_CONFIG_KEYS_H */
