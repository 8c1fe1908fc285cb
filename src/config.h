/*
 * config.h: the loaded vibewarden.yaml.  Built by the master (libyaml) and
 * immutable afterwards: a reload builds a new struct config; children get
 * their copy through fork().  Workers read it, never write it.
 *
 * Conventions: every YAML key maps to a member of the same name in the
 * struct of its section; durations are uint64_t milliseconds with an _ms
 * suffix; sizes are uint64_t bytes (0 = unlimited); strings are
 * NUL-terminated heap copies (NULL = unset); lists are struct strlist.
 */
#ifndef VW_CONFIG_H
#define VW_CONFIG_H

#include <stdint.h>
#include <stdio.h>

struct strlist {
	char	**v;
	size_t	  n;
};

/* A YAML mapping of string to string, in file order. */
struct strmap {
	char	**k;
	char	**v;
	size_t	  n;
};

struct intlist {
	int	 *v;
	size_t	  n;
};

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };
enum log_format { LOG_FMT_JSON, LOG_FMT_TEXT };
enum tls_provider { TLS_PROV_SELF_SIGNED, TLS_PROV_LETSENCRYPT,
	TLS_PROV_EXTERNAL };
enum tls_profile { TLS_PROF_INTERMEDIATE, TLS_PROF_MODERN };
enum auth_mode { AUTH_NONE, AUTH_KRATOS, AUTH_JWT, AUTH_API_KEY };
enum kratos_down { KRATOS_DOWN_503, KRATOS_DOWN_ALLOW_PUBLIC };
enum rl_store { RL_STORE_MEMORY, RL_STORE_REDIS };
enum ipf_mode { IPF_BLOCKLIST, IPF_ALLOWLIST };
enum waf_mode { WAF_DETECT, WAF_BLOCK };
enum waf_engine { WAF_ENGINE_BUILTIN, WAF_ENGINE_MODSECURITY };
enum otlp_proto { OTLP_HTTP, OTLP_GRPC };

struct cf_server {
	char		*host;			/* 127.0.0.1 */
	int		 port;			/* 8443 */
	int		 workers;		/* 0 = CPU count */
	char		*user;			/* --with-user */
	char		*group;			/* --with-group */
	struct strlist	 trusted_proxies;	/* CIDRs */
	int		 http_redirect_port;	/* 0 = off */
	uint64_t	 read_timeout_ms;	/* 30s */
	uint64_t	 write_timeout_ms;	/* 60s */
	uint64_t	 idle_timeout_ms;	/* 120s */
	uint64_t	 header_timeout_ms;	/* 10s */
	uint64_t	 body_timeout_ms;	/* 30s */
	uint64_t	 drain_timeout_ms;	/* 30s */
	uint64_t	 max_header_bytes;	/* 32KB */
	uint64_t	 websocket_idle_timeout_ms; /* 0 = off (SPEC 9) */
	int		 keepalive_requests;	/* 1000; 0 = no limit */
	int		 max_connections;	/* 10000, per worker */
	int		 http2;			/* true: h2 by ALPN (TLS) */
	int		 http2_max_streams;	/* 100 concurrent streams */
};

struct cf_upstream {
	char		*url;			/* only as written; host/port hold
						   the result */
	char		*host;			/* 127.0.0.1 */
	int		 port;			/* 3000 */
	int		 tls;			/* 1 when url is https:// */
	char		*tls_ca_file;		/* upstream.tls.ca_file; NULL:
						   the system store */
	int		 tls_insecure;		/* upstream.tls.
						   insecure_skip_verify */
	uint64_t	 connect_timeout_ms;	/* 5s */
	struct {
		int		 enabled;		/* false */
		char		*path;			/* /health */
		uint64_t	 interval_ms;		/* 10s */
		uint64_t	 timeout_ms;		/* 5s */
		int		 unhealthy_threshold;	/* 3 */
		int		 healthy_threshold;	/* 2 */
	} health;
};

struct cf_log {
	enum log_level	 level;			/* info */
	enum log_format	 format;		/* json */
	int		 access_log;		/* true */
	char		*output;		/* "stdout" */
	char		*syslog_socket;		/* /dev/log */
};

struct cf_resilience {
	uint64_t	 timeout_ms;		/* 30s; 0 = none: upstream
						   response deadline -> 504 */
	struct {
		int		 enabled;	/* false */
		int		 threshold;	/* 5 (<= 0 in the file: 5) */
		uint64_t	 timeout_ms;	/* 60s */
	} circuit_breaker;
	struct {
		int		 enabled;	/* false */
		int		 max_attempts;	/* 3 (< 2 in the file: 3) */
		uint64_t	 backoff_ms;	/* 100ms */
		uint64_t	 max_backoff_ms; /* 10s */
		struct intlist	 retry_on;	/* 502, 503, 504 */
	} retry;
};

struct cf_tls {
	int		 enabled;		/* true */
	enum tls_provider provider;		/* self-signed; "acme" is
						   letsencrypt */
	char		*domain;
	char		*cert_path;		/* full chain (external) */
	char		*key_path;
	char		*storage_path;		/* LOCALSTATEDIR/lib/vibewarden/
						   acme */
	char		*acme_directory;	/* LE production; "staging" is
						   replaced by LE staging */
	char		*acme_ca_file;		/* CAs for the directory's
						   HTTPS; NULL: system store */
	enum tls_profile profile;		/* intermediate */
	uint64_t	 ticket_key_rotation_ms; /* 12h */
	struct {
		int		 enabled;		/* true */
		uint64_t	 check_interval_ms;	/* 6h */
		uint64_t	 warning_threshold_ms;	/* 720h */
		uint64_t	 critical_threshold_ms;	/* 168h */
	} cert_monitoring;
};

struct cf_kratos {
	char		*public_url;		/* http://127.0.0.1:4433 */
	char		*admin_url;		/* http://127.0.0.1:4434 */
};

struct cf_api_key {				/* auth.api_key.keys[] */
	char		*name;
	char		*hash;			/* SHA-256 hex, lower case */
	struct strlist	 scopes;
};

struct cf_scope_rule {				/* auth.api_key.scope_rules[] */
	char		*path;			/* glob */
	struct strlist	 methods;
	struct strlist	 required_scopes;
};

struct cf_auth {
	int		 enabled;		/* false; mode != none implies
						   it */
	enum auth_mode	 mode;			/* none */
	struct strlist	 public_paths;		/* globs */
	char		*session_cookie_name;	/* ory_kratos_session */
	char		*login_url;		/* /self-service/login/
						   browser */
	enum kratos_down on_kratos_unavailable;	/* 503 */
	uint64_t	 session_cache_ttl_ms;	/* 60s */
	struct {
		char		*jwks_url;
		char		*issuer_url;
		char		*issuer;
		char		*audience;
		struct strmap	 claims_to_headers; /* sub, email,
						   email_verified */
		struct strlist	 allowed_algorithms; /* RS256, ES256 */
		uint64_t	 cache_ttl_ms;		/* 1h */
		uint64_t	 clock_skew_ms;		/* 30s */
	} jwt;
	struct {
		char		*header;		/* X-API-Key */
		struct cf_api_key *keys;
		size_t		 nkeys;
		char		*openbao_path;
		uint64_t	 cache_ttl_ms;		/* 5m */
		struct cf_scope_rule *scope_rules;
		size_t		 nscope_rules;
	} api_key;
};

struct cf_rate {				/* one rate_limit.per_* block */
	double		 requests_per_second;
	int		 burst;
	int		 max_connections;	/* per_ip only; 0 = off */
};

struct cf_rate_limit {
	int		 enabled;		/* true */
	enum rl_store	 store;			/* memory */
	struct {
		char		*url;		/* redis:// or rediss:// */
		char		*address;		/* host:port */
		char		*password;
		int		 db;			/* 0 */
		int		 pool_size;	/* 0 = library default */
		char		*key_prefix;		/* vibewarden */
		int		 fallback;		/* true */
		uint64_t	 health_check_interval_ms; /* 30s */
	} redis;
	struct cf_rate	 per_ip;		/* 10/s, burst 20 */
	struct cf_rate	 per_user;		/* 100/s, burst 200 */
	int		 trust_proxy_headers;	/* false */
	struct strlist	 exempt_paths;		/* globs */
	int		 ipv6_prefix;		/* 64 */
};

struct cf_admin {
	int		 enabled;		/* false */
	char		*token;
	char		*token_file;
	char		*listen;		/* 127.0.0.1:9443 */
};

struct cf_csp {					/* security_headers.csp */
	struct strlist	 default_src, script_src, style_src, img_src,
			 connect_src, font_src, frame_src, media_src,
			 object_src, manifest_src, worker_src, child_src,
			 form_action, frame_ancestors, base_uri;
};

struct cf_security_headers {
	int		 enabled;		/* true */
	int		 hsts_max_age;		/* 31536000 s; 0 = no HSTS */
	int		 hsts_include_subdomains; /* true */
	int		 hsts_preload;		/* false */
	int		 content_type_nosniff;	/* true */
	char		*frame_option;		/* DENY, SAMEORIGIN, NULL */
	char		*content_security_policy; /* NULL: built from csp */
	struct cf_csp	 csp;
	char		*referrer_policy;	/* strict-origin-when-cross-
						   origin */
	char		*permissions_policy;
	char		*cross_origin_opener_policy;	/* same-origin */
	char		*cross_origin_resource_policy;	/* same-origin */
	char		*permitted_cross_domain_policies; /* none */
	int		 suppress_via_header;	/* true */
};

struct cf_telemetry {				/* also the legacy metrics: */
	int		 enabled;		/* true */
	struct strlist	 path_patterns;
	struct {
		int		 enabled;	/* true */
	} prometheus;
	struct {
		int		 enabled;	/* false */
		char		*endpoint;
		struct strmap	 headers;
		uint64_t	 interval_ms;	/* 30s */
		enum otlp_proto	 protocol;	/* http */
	} otlp;
	struct {
		int		 otlp;		/* false */
	} logs;
	struct {
		int		 enabled;	/* false */
	} traces;
};

struct cf_body_override {			/* body_size.overrides[] */
	char		*path;			/* path prefix */
	uint64_t	 max;			/* bytes; 0 = unlimited */
};

struct cf_body_size {
	int		 enabled;		/* true; false = no limits (the
						   plugins.body-size switch) */
	uint64_t	 max;			/* 1MB; 0 = unlimited */
	struct cf_body_override *overrides;
	size_t		 noverrides;
};

struct cf_ip_filter {
	int		 enabled;		/* false */
	enum ipf_mode	 mode;			/* blocklist */
	struct strlist	 addresses;		/* IPs or CIDRs, checked */
	int		 trust_proxy_headers;	/* false */
};

struct cf_cors {
	int		 enabled;		/* false */
	struct strlist	 allowed_origins;
	struct strlist	 allowed_methods;	/* GET POST PUT DELETE
						   OPTIONS */
	struct strlist	 allowed_headers;	/* Content-Type
						   Authorization */
	struct strlist	 exposed_headers;
	int		 allow_credentials;	/* false */
	int		 max_age;		/* seconds; 0 = not sent */
};

struct cf_waf {
	int		 enabled;		/* true */
	enum waf_mode	 mode;			/* detect */
	enum waf_engine	 engine;		/* builtin */
	struct {
		int		 sqli, xss, path_traversal,
				 command_injection;	/* all true */
	} rules;
	struct strlist	 exempt_paths;
	struct {
		struct strlist	 rules;		/* files or globs, in order */
	} modsecurity;
	struct {
		int		 enabled;	/* false */
		struct strlist	 allowed;	/* json, urlencoded,
						   multipart */
	} content_type_validation;
};

struct cf_csrf {
	int		 enabled;		/* true */
	struct strlist	 trusted_origins;	/* scheme://host[:port] */
	struct strlist	 exempt_paths;		/* globs */
};

struct cf_input_override {		/* input_validation.path_overrides[] */
	char		*path;			/* glob */
	int		 max_url_length;	/* 0 = not overridden */
	int		 max_query_string_length;
	int		 max_header_count;
	int		 max_header_size;
};

struct cf_input_validation {
	int		 enabled;		/* false */
	int		 max_url_length;	/* 2048; 0 = no check */
	int		 max_query_string_length; /* 2048 */
	int		 max_header_count;	/* 100 */
	int		 max_header_size;	/* 8192 */
	struct cf_input_override *path_overrides; /* first glob match */
	size_t		 npath_overrides;
};

struct cf_maintenance {
	int		 enabled;		/* false */
	char		*message;		/* Service is under maintenance */
};

struct cf_response_headers {			/* remove, then set, then add */
	struct strmap	 set;
	struct strmap	 add;
	struct strlist	 remove;
};

struct cf_webhook_path {	/* webhooks.signature_verification.paths[] */
	char		*path;			/* exact path */
	char		*provider;		/* stripe github slack twilio
						   generic */
	char		*secret_env_var;	/* names the HMAC secret */
	char		*header;		/* generic: signature header */
};

struct cf_webhooks {
	struct {
		int		 enabled;	/* false */
		struct cf_webhook_path *paths;
		size_t		 npaths;
	} signature_verification;
};

struct cf_shm {
	char		*path;			/* LOCALSTATEDIR/lib/vibewarden/
						   shm */
	uint64_t	 map_size;		/* 64MB */
};

struct cfg_origin;	/* where each value came from; config.c only */

struct config {
	char		*path;			/* file loaded, or NULL */
	struct cfg_origin *origin;		/* for config_key_diag() */
	struct cf_server server;
	struct cf_upstream upstream;
	struct cf_log	 log;
	struct cf_resilience resilience;
	struct cf_tls	 tls;
	struct cf_kratos kratos;
	struct cf_auth	 auth;
	struct cf_rate_limit rate_limit;
	struct cf_admin	 admin;
	struct cf_security_headers security_headers;
	struct cf_telemetry telemetry;
	struct cf_body_size body_size;
	struct cf_ip_filter ip_filter;
	struct cf_cors	 cors;
	struct cf_waf	 waf;
	struct cf_csrf	 csrf;
	struct cf_shm	 shm;
	struct cf_input_validation input_validation;
	struct cf_maintenance maintenance;
	struct cf_response_headers response_headers;
	struct cf_webhooks webhooks;
};

/*
 * One problem found while loading.  Errors make the config unusable;
 * warnings are printed and loading goes on.
 */
struct cfg_diag {
	char	*d_file;
	int	 d_line;	/* 1-based; 0 when not tied to a position */
	int	 d_col;		/* 1-based */
	int	 d_error;	/* 1 error, 0 warning */
	char	*d_msg;
};

struct cfg_diags {
	struct cfg_diag	*v;
	size_t		 n;
	size_t		 nerrors;
};

/*
 * Load path (NULL: the compiled-in default path, which may be absent),
 * apply defaults, ${VAR} expansion and VIBEWARDEN_* environment overrides
 * from envp (NULL = environ), and validate.  Every problem is appended to
 * diags.  Returns a config the caller owns (config_free), or NULL when
 * diags->nerrors > 0.
 */
struct config	*config_load(const char *path, char *const *envp,
		    struct cfg_diags *diags);

/* Print diags as "FILE:LINE:COL: error|warning: message" lines to fp. */
void		 config_diags_print(const struct cfg_diags *, FILE *fp);

/*
 * Append a diag about key path ("server.user") of cf, placed where its
 * value came from: FILE:LINE:COL, env:NAME, or FILE alone for a default.
 * For checks made after loading (vibewarden -t looking at the system).
 */
void		 config_key_diag(const struct config *cf, struct cfg_diags *d,
		    const char *path, int err, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));

/*
 * Print cf as YAML, every key with its effective value, secrets (tokens,
 * passwords, API key hashes, OTLP headers) as "***" (vibewarden -T).
 */
void		 config_dump(const struct config *cf, FILE *fp);

/* Release diags' storage (not the struct itself). */
void		 config_diags_free(struct cfg_diags *);

/* Release a config; NULL is a no-op. */
void		 config_free(struct config *);

/* The compiled-in path: SYSCONFDIR "/vibewarden/vibewarden.yaml". */
const char	*config_default_path(void);

/*
 * Whether feature name ("tls", "acme", "auth", "rate_limit", "ip_filter", "cors",
 * "waf", "csrf", "body_size", "admin", "telemetry", "security_headers",
 * "upstream_tls", "health", "circuit_breaker", "retry", "otlp") is
 * switched on in cfg AND implemented in this build: the question a stage
 * asks before it runs.  Unknown names: 0.
 */
int		 config_feature_on(const struct config *, const char *name);

/*
 * For unit tests only: load configs as if feature name were (not)
 * implemented.  Returns 0, or -1 for an unknown name.  The daemon never
 * calls it; the real answer is the features[] table in config.c.
 */
int		 config_feature_set_implemented(const char *name, int on);

#endif /* VW_CONFIG_H */
