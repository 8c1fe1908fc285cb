/*
 * config_keys.c: what vibewarden.yaml may hold (keys[] with types, defaults
 * and struct members), the compatibility and plugins: names, the
 * features[] table of what this build implements, and the value checkers
 * the tables name.  Data only, plus small pure functions: the loading
 * itself is in config.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vw_autoconf.h"
#include "config.h"
#include "config_keys.h"

static int	 v_cidr(const char *, char *, size_t);
static int	 v_origin(const char *, char *, size_t);
static int	 v_cors_origin(const char *, char *, size_t);
static int	 v_hostport(const char *, char *, size_t);
static int	 v_http_url(const char *, char *, size_t);
static int	 v_redis_url(const char *, char *, size_t);
static int	 v_frame(const char *, char *, size_t);
static int	 v_hexhash(const char *, char *, size_t);
static int	 v_whprov(const char *, char *, size_t);
static int	 v_hname(const char *, char *, size_t);

static const struct ename e_level[] = {
	{ "debug", LOG_LVL_DEBUG }, { "info", LOG_LVL_INFO },
	{ "warn", LOG_LVL_WARN }, { "error", LOG_LVL_ERROR }, { NULL, 0 }
};
static const struct ename e_format[] = {
	{ "json", LOG_FMT_JSON }, { "text", LOG_FMT_TEXT }, { NULL, 0 }
};
static const struct ename e_provider[] = {
	{ "self-signed", TLS_PROV_SELF_SIGNED },
	{ "letsencrypt", TLS_PROV_LETSENCRYPT },
	{ "acme", TLS_PROV_LETSENCRYPT },
	{ "external", TLS_PROV_EXTERNAL }, { NULL, 0 }
};
static const struct ename e_profile[] = {
	{ "intermediate", TLS_PROF_INTERMEDIATE },
	{ "modern", TLS_PROF_MODERN }, { NULL, 0 }
};
static const struct ename e_mode[] = {
	{ "none", AUTH_NONE }, { "kratos", AUTH_KRATOS }, { "jwt", AUTH_JWT },
	{ "api-key", AUTH_API_KEY }, { NULL, 0 }
};
static const struct ename e_down[] = {
	{ "503", KRATOS_DOWN_503 },
	{ "allow_public", KRATOS_DOWN_ALLOW_PUBLIC }, { NULL, 0 }
};
static const struct ename e_store[] = {
	{ "memory", RL_STORE_MEMORY }, { "redis", RL_STORE_REDIS },
	{ NULL, 0 }
};
static const struct ename e_ipf[] = {
	{ "blocklist", IPF_BLOCKLIST }, { "allowlist", IPF_ALLOWLIST },
	{ NULL, 0 }
};
static const struct ename e_waf[] = {
	{ "detect", WAF_DETECT }, { "block", WAF_BLOCK }, { NULL, 0 }
};
static const struct ename e_wafeng[] = {
	{ "builtin", WAF_ENGINE_BUILTIN },
	{ "modsecurity", WAF_ENGINE_MODSECURITY }, { NULL, 0 }
};
static const struct ename e_otlp[] = {
	{ "http", OTLP_HTTP }, { "grpc", OTLP_GRPC }, { NULL, 0 }
};

#define KEY(p, t, o, d, lo, hi, e, v)	\
	{ p, t, o, d, lo, hi, e, v, NULL, 0, 0 }
#define OFF(m)		offsetof(struct config, m)
#define KS(p, m, d)	KEY(p, KT_STR, OFF(m), d, 0, 0, NULL, NULL)
#define KSV(p, m, d, v)	KEY(p, KT_STR, OFF(m), d, 0, 0, NULL, v)
#define KI(p, m, d, lo, hi) KEY(p, KT_INT, OFF(m), d, lo, hi, NULL, NULL)
#define KB(p, m, d)	KEY(p, KT_BOOL, OFF(m), d, 0, 0, NULL, NULL)
#define KD(p, m, d)	KEY(p, KT_DUR, OFF(m), d, 0, 0, NULL, NULL)
#define KZ(p, m, d)	KEY(p, KT_SIZE, OFF(m), d, 0, 0, NULL, NULL)
#define KF(p, m, d, hi)	KEY(p, KT_FLOAT, OFF(m), d, 0, hi, NULL, NULL)
#define KE(p, m, d, e)	KEY(p, KT_ENUM, OFF(m), d, 0, 0, e, NULL)
#define KL(p, m, d)	KEY(p, KT_LIST, OFF(m), d, 0, 0, NULL, NULL)
#define KLV(p, m, d, v)	KEY(p, KT_LIST, OFF(m), d, 0, 0, NULL, v)
#define KM(p, m, d)	KEY(p, KT_MAP, OFF(m), d, 0, 0, NULL, NULL)
#define KO(p, m, n, od)	\
	{ p, KT_OBJS, OFF(m), NULL, 0, 0, NULL, NULL, &od, OFF(n), 0 }
#define CSP(n)		KL("security_headers.csp." #n, security_headers.csp.n, \
			    NULL)

static const struct key f_override[] = {
	{ "path", KT_STR, offsetof(struct cf_body_override, path), NULL,
	    0, 0, NULL, NULL, NULL, 0, 1 },
	{ "max", KT_SIZE, offsetof(struct cf_body_override, max), NULL,
	    0, 0, NULL, NULL, NULL, 0, 0 },
};
static const struct key f_apikey[] = {
	{ "name", KT_STR, offsetof(struct cf_api_key, name), NULL,
	    0, 0, NULL, NULL, NULL, 0, 1 },
	{ "hash", KT_STR, offsetof(struct cf_api_key, hash), NULL,
	    0, 0, NULL, v_hexhash, NULL, 0, 1 },
	{ "scopes", KT_LIST, offsetof(struct cf_api_key, scopes), NULL,
	    0, 0, NULL, NULL, NULL, 0, 0 },
};
static const struct key f_scoperule[] = {
	{ "path", KT_STR, offsetof(struct cf_scope_rule, path), NULL,
	    0, 0, NULL, NULL, NULL, 0, 1 },
	{ "methods", KT_LIST, offsetof(struct cf_scope_rule, methods), NULL,
	    0, 0, NULL, NULL, NULL, 0, 0 },
	{ "required_scopes", KT_LIST,
	    offsetof(struct cf_scope_rule, required_scopes), NULL,
	    0, 0, NULL, NULL, NULL, 0, 0 },
};
#define IVF(n)	{ #n, KT_INT, offsetof(struct cf_input_override, n), NULL, \
	    0, INT_MAX, NULL, NULL, NULL, 0, 0 }
static const struct key f_ivover[] = {
	{ "path", KT_STR, offsetof(struct cf_input_override, path), NULL,
	    0, 0, NULL, NULL, NULL, 0, 1 },
	IVF(max_url_length), IVF(max_query_string_length),
	IVF(max_header_count), IVF(max_header_size),
};
#define WHF(n, v, r) { #n, KT_STR, offsetof(struct cf_webhook_path, n), \
	    NULL, 0, 0, NULL, v, NULL, 0, r }
static const struct key f_whpath[] = {
	WHF(path, NULL, 1), WHF(provider, v_whprov, 1),
	WHF(secret_env_var, NULL, 1), WHF(header, v_hname, 0),
};
static const struct objdesc o_ivover = { sizeof(struct cf_input_override),
    f_ivover, sizeof(f_ivover) / sizeof(f_ivover[0]) };
static const struct objdesc o_whpath = { sizeof(struct cf_webhook_path),
    f_whpath, sizeof(f_whpath) / sizeof(f_whpath[0]) };
static const struct objdesc o_override = { sizeof(struct cf_body_override),
    f_override, sizeof(f_override) / sizeof(f_override[0]) };
static const struct objdesc o_apikey = { sizeof(struct cf_api_key),
    f_apikey, sizeof(f_apikey) / sizeof(f_apikey[0]) };
static const struct objdesc o_scoperule = { sizeof(struct cf_scope_rule),
    f_scoperule, sizeof(f_scoperule) / sizeof(f_scoperule[0]) };

/*
 * Every key, in the order of the man page.  Defaults are written the way an
 * environment variable would be (lists comma-separated, maps k=v) and go
 * through the same parsers as the file.
 */
const struct key config_keys[] = {
	KS("server.host", server.host, "127.0.0.1"),
	KI("server.port", server.port, "8443", 1, 65535),
	KI("server.workers", server.workers, "0", 0, 1024),
	KS("server.user", server.user, VW_DEFAULT_USER),
	KS("server.group", server.group, VW_DEFAULT_GROUP),
	KLV("server.trusted_proxies", server.trusted_proxies, NULL, v_cidr),
	KI("server.http_redirect_port", server.http_redirect_port, "0",
	    0, 65535),
	KD("server.read_timeout", server.read_timeout_ms, "30s"),
	KD("server.write_timeout", server.write_timeout_ms, "60s"),
	KD("server.idle_timeout", server.idle_timeout_ms, "120s"),
	KD("server.header_timeout", server.header_timeout_ms, "10s"),
	KD("server.body_timeout", server.body_timeout_ms, "30s"),
	KD("server.drain_timeout", server.drain_timeout_ms, "30s"),
	KZ("server.max_header_bytes", server.max_header_bytes, "32KB"),
	KD("server.websocket_idle_timeout", server.websocket_idle_timeout_ms,
	    "0"),
	KI("server.keepalive_requests", server.keepalive_requests, "1000", 0,
	    INT32_MAX),
	KI("server.max_connections", server.max_connections, "10000", 1,
	    1000000),
	KB("server.http2", server.http2, "true"),
	KI("server.http2_max_streams", server.http2_max_streams, "100", 1,
	    1000),

	KSV("upstream.url", upstream.url, NULL, v_http_url),
	KS("upstream.host", upstream.host, "127.0.0.1"),
	KI("upstream.port", upstream.port, "3000", 1, 65535),
	KD("upstream.connect_timeout", upstream.connect_timeout_ms, "5s"),
	KS("upstream.tls.ca_file", upstream.tls_ca_file, NULL),
	KB("upstream.tls.insecure_skip_verify", upstream.tls_insecure,
	    "false"),
	KB("upstream.health.enabled", upstream.health.enabled, "false"),
	KS("upstream.health.path", upstream.health.path, "/health"),
	KD("upstream.health.interval", upstream.health.interval_ms, "10s"),
	KD("upstream.health.timeout", upstream.health.timeout_ms, "5s"),
	KI("upstream.health.unhealthy_threshold",
	    upstream.health.unhealthy_threshold, "3", 1, 1000),
	KI("upstream.health.healthy_threshold",
	    upstream.health.healthy_threshold, "2", 1, 1000),

	KE("log.level", log.level, "info", e_level),
	KE("log.format", log.format, "json", e_format),
	KB("log.access_log", log.access_log, "true"),
	KS("log.output", log.output, "stdout"),
	KS("log.syslog_socket", log.syslog_socket, "/dev/log"),

	KB("tls.enabled", tls.enabled, "true"),
	KE("tls.provider", tls.provider, "self-signed", e_provider),
	KS("tls.domain", tls.domain, NULL),
	KS("tls.cert_path", tls.cert_path, NULL),
	KS("tls.key_path", tls.key_path, NULL),
	KS("tls.storage_path", tls.storage_path,
	    LOCALSTATEDIR "/lib/vibewarden/acme"),
	KS("tls.acme_directory", tls.acme_directory, LE_PRODUCTION),
	KS("tls.acme_ca_file", tls.acme_ca_file, NULL),
	KE("tls.profile", tls.profile, "intermediate", e_profile),
	KD("tls.ticket_key_rotation", tls.ticket_key_rotation_ms, "12h"),
	KB("tls.cert_monitoring.enabled", tls.cert_monitoring.enabled,
	    "true"),
	KD("tls.cert_monitoring.check_interval",
	    tls.cert_monitoring.check_interval_ms, "6h"),
	KD("tls.cert_monitoring.warning_threshold",
	    tls.cert_monitoring.warning_threshold_ms, "720h"),
	KD("tls.cert_monitoring.critical_threshold",
	    tls.cert_monitoring.critical_threshold_ms, "168h"),

	KSV("kratos.public_url", kratos.public_url, "http://127.0.0.1:4433",
	    v_http_url),
	KSV("kratos.admin_url", kratos.admin_url, "http://127.0.0.1:4434",
	    v_http_url),

	KB("auth.enabled", auth.enabled, "false"),
	KE("auth.mode", auth.mode, "none", e_mode),
	KL("auth.public_paths", auth.public_paths, NULL),
	KS("auth.session_cookie_name", auth.session_cookie_name,
	    "ory_kratos_session"),
	KS("auth.login_url", auth.login_url, NULL),
	KE("auth.on_kratos_unavailable", auth.on_kratos_unavailable, "503",
	    e_down),
	KD("auth.session_cache_ttl", auth.session_cache_ttl_ms, "60s"),
	KSV("auth.jwt.jwks_url", auth.jwt.jwks_url, NULL, v_http_url),
	KSV("auth.jwt.issuer_url", auth.jwt.issuer_url, NULL, v_http_url),
	KS("auth.jwt.issuer", auth.jwt.issuer, NULL),
	KS("auth.jwt.audience", auth.jwt.audience, NULL),
	KM("auth.jwt.claims_to_headers", auth.jwt.claims_to_headers,
	    "sub=X-User-Id,email=X-User-Email,email_verified=X-User-Verified"),
	KL("auth.jwt.allowed_algorithms", auth.jwt.allowed_algorithms,
	    "RS256,ES256"),
	KD("auth.jwt.cache_ttl", auth.jwt.cache_ttl_ms, "1h"),
	KD("auth.jwt.clock_skew", auth.jwt.clock_skew_ms, "30s"),
	KS("auth.api_key.header", auth.api_key.header, "X-API-Key"),
	KO("auth.api_key.keys", auth.api_key.keys, auth.api_key.nkeys,
	    o_apikey),
	KS("auth.api_key.openbao_path", auth.api_key.openbao_path, NULL),
	KD("auth.api_key.cache_ttl", auth.api_key.cache_ttl_ms, "5m"),
	KO("auth.api_key.scope_rules", auth.api_key.scope_rules,
	    auth.api_key.nscope_rules, o_scoperule),

	KB("rate_limit.enabled", rate_limit.enabled, "true"),
	KE("rate_limit.store", rate_limit.store, "memory", e_store),
	KSV("rate_limit.redis.url", rate_limit.redis.url, NULL, v_redis_url),
	KSV("rate_limit.redis.address", rate_limit.redis.address, NULL,
	    v_hostport),
	KS("rate_limit.redis.password", rate_limit.redis.password, NULL),
	KI("rate_limit.redis.db", rate_limit.redis.db, "0", 0, 65535),
	KI("rate_limit.redis.pool_size", rate_limit.redis.pool_size, "0",
	    0, 10000),
	KS("rate_limit.redis.key_prefix", rate_limit.redis.key_prefix,
	    "vibewarden"),
	KB("rate_limit.redis.fallback", rate_limit.redis.fallback, "true"),
	KD("rate_limit.redis.health_check_interval",
	    rate_limit.redis.health_check_interval_ms, "30s"),
	KF("rate_limit.per_ip.requests_per_second",
	    rate_limit.per_ip.requests_per_second, "10", 1000000000),
	KI("rate_limit.per_ip.burst", rate_limit.per_ip.burst, "20",
	    1, 1000000000),
	KI("rate_limit.per_ip.max_connections",
	    rate_limit.per_ip.max_connections, "0", 0, 1000000000),
	KF("rate_limit.per_user.requests_per_second",
	    rate_limit.per_user.requests_per_second, "100", 1000000000),
	KI("rate_limit.per_user.burst", rate_limit.per_user.burst, "200",
	    1, 1000000000),
	KB("rate_limit.trust_proxy_headers", rate_limit.trust_proxy_headers,
	    "false"),
	KL("rate_limit.exempt_paths", rate_limit.exempt_paths, NULL),
	KI("rate_limit.ipv6_prefix", rate_limit.ipv6_prefix, "64", 1, 128),

	KB("admin.enabled", admin.enabled, "false"),
	KS("admin.token", admin.token, NULL),
	KS("admin.token_file", admin.token_file, NULL),
	KSV("admin.listen", admin.listen, "127.0.0.1:9443", v_hostport),

	KB("security_headers.enabled", security_headers.enabled, "true"),
	KI("security_headers.hsts_max_age", security_headers.hsts_max_age,
	    "31536000", 0, INT_MAX),
	KB("security_headers.hsts_include_subdomains",
	    security_headers.hsts_include_subdomains, "true"),
	KB("security_headers.hsts_preload", security_headers.hsts_preload,
	    "false"),
	KB("security_headers.content_type_nosniff",
	    security_headers.content_type_nosniff, "true"),
	KSV("security_headers.frame_option", security_headers.frame_option,
	    "DENY", v_frame),
	KS("security_headers.content_security_policy",
	    security_headers.content_security_policy, NULL),
	CSP(default_src), CSP(script_src), CSP(style_src), CSP(img_src),
	CSP(connect_src), CSP(font_src), CSP(frame_src), CSP(media_src),
	CSP(object_src), CSP(manifest_src), CSP(worker_src), CSP(child_src),
	CSP(form_action), CSP(frame_ancestors), CSP(base_uri),
	KS("security_headers.referrer_policy",
	    security_headers.referrer_policy,
	    "strict-origin-when-cross-origin"),
	KS("security_headers.permissions_policy",
	    security_headers.permissions_policy, NULL),
	KS("security_headers.cross_origin_opener_policy",
	    security_headers.cross_origin_opener_policy, "same-origin"),
	KS("security_headers.cross_origin_resource_policy",
	    security_headers.cross_origin_resource_policy, "same-origin"),
	KS("security_headers.permitted_cross_domain_policies",
	    security_headers.permitted_cross_domain_policies, "none"),
	KB("security_headers.suppress_via_header",
	    security_headers.suppress_via_header, "true"),

	KB("telemetry.enabled", telemetry.enabled, "true"),
	KL("telemetry.path_patterns", telemetry.path_patterns, NULL),
	KB("telemetry.prometheus.enabled", telemetry.prometheus.enabled,
	    "true"),
	KB("telemetry.otlp.enabled", telemetry.otlp.enabled, "false"),
	KSV("telemetry.otlp.endpoint", telemetry.otlp.endpoint, NULL,
	    v_http_url),
	KM("telemetry.otlp.headers", telemetry.otlp.headers, NULL),
	KD("telemetry.otlp.interval", telemetry.otlp.interval_ms, "30s"),
	KE("telemetry.otlp.protocol", telemetry.otlp.protocol, "http",
	    e_otlp),
	KB("telemetry.logs.otlp", telemetry.logs.otlp, "false"),
	KB("telemetry.traces.enabled", telemetry.traces.enabled, "false"),

	KB("body_size.enabled", body_size.enabled, "true"),
	KZ("body_size.max", body_size.max, "1MB"),
	KO("body_size.overrides", body_size.overrides, body_size.noverrides,
	    o_override),

	KB("ip_filter.enabled", ip_filter.enabled, "false"),
	KE("ip_filter.mode", ip_filter.mode, "blocklist", e_ipf),
	KLV("ip_filter.addresses", ip_filter.addresses, NULL, v_cidr),
	KB("ip_filter.trust_proxy_headers", ip_filter.trust_proxy_headers,
	    "false"),

	KD("resilience.timeout", resilience.timeout_ms, "30s"),
	KB("resilience.circuit_breaker.enabled",
	    resilience.circuit_breaker.enabled, "false"),
	KI("resilience.circuit_breaker.threshold",
	    resilience.circuit_breaker.threshold, "5", INT_MIN, 1000000),
	KD("resilience.circuit_breaker.timeout",
	    resilience.circuit_breaker.timeout_ms, "60s"),
	KB("resilience.retry.enabled", resilience.retry.enabled, "false"),
	KI("resilience.retry.max_attempts", resilience.retry.max_attempts,
	    "3", INT_MIN, 100),
	KD("resilience.retry.backoff", resilience.retry.backoff_ms, "100ms"),
	KD("resilience.retry.max_backoff", resilience.retry.max_backoff_ms,
	    "10s"),
	KEY("resilience.retry.retry_on", KT_INTLIST,
	    OFF(resilience.retry.retry_on), "502,503,504", 100, 599, NULL,
	    NULL),

	KB("cors.enabled", cors.enabled, "false"),
	KLV("cors.allowed_origins", cors.allowed_origins, NULL,
	    v_cors_origin),
	KL("cors.allowed_methods", cors.allowed_methods,
	    "GET,POST,PUT,DELETE,OPTIONS"),
	KL("cors.allowed_headers", cors.allowed_headers,
	    "Content-Type,Authorization"),
	KL("cors.exposed_headers", cors.exposed_headers, NULL),
	KB("cors.allow_credentials", cors.allow_credentials, "false"),
	KI("cors.max_age", cors.max_age, "0", 0, INT_MAX),

	KB("waf.enabled", waf.enabled, "true"),
	KE("waf.mode", waf.mode, "detect", e_waf),
	KE("waf.engine", waf.engine, "builtin", e_wafeng),
	KB("waf.rules.sqli", waf.rules.sqli, "true"),
	KB("waf.rules.xss", waf.rules.xss, "true"),
	KB("waf.rules.path_traversal", waf.rules.path_traversal, "true"),
	KB("waf.rules.command_injection", waf.rules.command_injection,
	    "true"),
	KL("waf.exempt_paths", waf.exempt_paths, NULL),
	KL("waf.modsecurity.rules", waf.modsecurity.rules, NULL),
	KB("waf.content_type_validation.enabled",
	    waf.content_type_validation.enabled, "false"),
	KL("waf.content_type_validation.allowed",
	    waf.content_type_validation.allowed, "application/json,"
	    "application/x-www-form-urlencoded,multipart/form-data"),

	KB("csrf.enabled", csrf.enabled, "true"),
	KLV("csrf.trusted_origins", csrf.trusted_origins, NULL, v_origin),
	KL("csrf.exempt_paths", csrf.exempt_paths, NULL),

	KB("input_validation.enabled", input_validation.enabled, "false"),
	KI("input_validation.max_url_length",
	    input_validation.max_url_length, "2048", 0, INT_MAX),
	KI("input_validation.max_query_string_length",
	    input_validation.max_query_string_length, "2048", 0, INT_MAX),
	KI("input_validation.max_header_count",
	    input_validation.max_header_count, "100", 0, INT_MAX),
	KI("input_validation.max_header_size",
	    input_validation.max_header_size, "8192", 0, INT_MAX),
	KO("input_validation.path_overrides", input_validation.path_overrides,
	    input_validation.npath_overrides, o_ivover),

	KB("maintenance.enabled", maintenance.enabled, "false"),
	KS("maintenance.message", maintenance.message,
	    "Service is under maintenance"),

	KM("response_headers.set", response_headers.set, NULL),
	KM("response_headers.add", response_headers.add, NULL),
	KLV("response_headers.remove", response_headers.remove, NULL,
	    v_hname),

	KB("webhooks.signature_verification.enabled",
	    webhooks.signature_verification.enabled, "false"),
	KO("webhooks.signature_verification.paths",
	    webhooks.signature_verification.paths,
	    webhooks.signature_verification.npaths, o_whpath),

	KS("shm.path", shm.path, LOCALSTATEDIR "/lib/vibewarden/shm"),
	KZ("shm.map_size", shm.map_size, "64MB"),
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

/*
 * Keys of the original's container tooling (SPEC.md 2): accepted with any
 * subtree so an existing file loads, and each one warned about once because
 * vibewarden does nothing with it.
 */
const char *const config_compat[] = {
	"profile", "app", "observability", "database", "overrides",
	"kratos.dsn", "kratos.smtp", "kratos.external",
	"kratos.social_providers", "auth.ui", "auth.social_providers",
	"auth.identity_schema", "secrets", "egress", "webhooks.endpoints",
	"watch", "compression", "error_pages", "audit",
};
const size_t config_ncompat = sizeof(config_compat) /
    sizeof(config_compat[0]);

/* plugins.<name> of seed 001 and ADR-001 -> the flat section. */
const struct plugin config_plugins[] = {
	{ "rate-limiting", "rate_limit" },
	{ "security-headers", "security_headers" },
	{ "user-management", "admin" },
	{ "metrics", "telemetry" },
	{ "tls", "tls" },
	{ "auth", "auth" },
	{ "ip-filter", "ip_filter" },
	{ "body-size", "body_size" },
	{ "cors", "cors" },
	{ "waf", "waf" },
	{ "csrf", "csrf" },
};
const size_t config_nplugins = sizeof(config_plugins) /
    sizeof(config_plugins[0]);

static int
on_sechdr(const struct config *c)
{
	return (c->security_headers.enabled);
}

static int
on_tls(const struct config *c)
{
	return (c->tls.enabled);
}

static int
on_acme(const struct config *c)
{
	return (c->tls.enabled && c->tls.provider == TLS_PROV_LETSENCRYPT);
}

static int
on_uptls(const struct config *c)
{
	return (c->upstream.tls);
}

static int
on_auth(const struct config *c)
{
	return (c->auth.mode != AUTH_NONE);
}

static int
on_auth_kratos(const struct config *c)
{
	return (c->auth.mode == AUTH_KRATOS);
}

static int
on_rate(const struct config *c)
{
	return (c->rate_limit.enabled);
}

static int
on_ipf(const struct config *c)
{
	return (c->ip_filter.enabled);
}

static int
on_cors(const struct config *c)
{
	return (c->cors.enabled);
}

static int
on_waf(const struct config *c)
{
	return (c->waf.enabled && c->waf.mode == WAF_BLOCK);
}

static int
on_modsec(const struct config *c)
{
	return (c->waf.enabled && c->waf.engine == WAF_ENGINE_MODSECURITY);
}

static int
on_csrf(const struct config *c)
{
	return (c->csrf.enabled);
}

static int
on_body(const struct config *c)
{
	size_t	 i;

	if (!c->body_size.enabled)
		return (0);
	if (c->body_size.max != 0)
		return (1);
	for (i = 0; i < c->body_size.noverrides; i++)
		if (c->body_size.overrides[i].max != 0)
			return (1);
	return (0);
}

static int
on_admin(const struct config *c)
{
	return (c->admin.enabled);
}

static int
on_telemetry(const struct config *c)
{
	return (c->telemetry.enabled);
}

static int
on_health(const struct config *c)
{
	return (c->upstream.health.enabled);
}

static int
on_breaker(const struct config *c)
{
	return (c->resilience.circuit_breaker.enabled);
}

static int
on_retry(const struct config *c)
{
	return (c->resilience.retry.enabled);
}

static int
on_otlp(const struct config *c)
{
	return (c->telemetry.otlp.enabled || c->telemetry.logs.otlp ||
	    c->telemetry.traces.enabled);
}

/*
 * What this build implements; later work flips f_implemented.  A security
 * feature (f_security) that is switched on explicitly (file, plugins: or
 * env) but not implemented is an error, because running without it would
 * silently expose the application; switched on only by default it is a
 * warning.  Other features only warn, and only when asked for.  f_keys are
 * the switches, the first one explicitly set names the problem.
 */
struct feature config_features[] = {
	{ "security_headers", { "security_headers.enabled" },
	    "security headers", "security_headers.enabled: false",
	    "responses carry no security headers", 1, 1, on_sechdr },
	{ "tls", { "tls.enabled", "tls.provider" }, "TLS",
	    "tls.enabled: false", "traffic is not encrypted", 1, 1, on_tls },
	{ "acme", { "tls.provider", "tls.enabled" },
	    "ACME certificates (tls.provider letsencrypt)",
	    "tls.provider: self-signed or external",
	    "no certificate can be obtained", 1, 1, on_acme },
	{ "upstream_tls", { "upstream.url" }, "TLS to the upstream",
	    "an http:// upstream.url", "", 1, 1, on_uptls },
	{ "auth", { "auth.mode", "auth.enabled" }, "authentication",
	    "auth.mode: none", "requests are not authenticated", 1, 1,
	    on_auth },
	{ "auth_kratos", { "auth.mode", "auth.enabled" },
	    "Kratos sessions (auth.mode kratos)",
	    "auth.mode: none", "requests are not authenticated",
	    1, 1, on_auth_kratos },
	{ "rate_limit", { "rate_limit.enabled" }, "rate limiting",
	    "rate_limit.enabled: false", "traffic is not rate limited", 1, 1,
	    on_rate },
	{ "ip_filter", { "ip_filter.enabled" }, "the IP filter",
	    "ip_filter.enabled: false", "no address is filtered", 1, 1,
	    on_ipf },
	{ "cors", { "cors.enabled" }, "CORS", "cors.enabled: false",
	    "no CORS headers are sent", 1, 1, on_cors },
	{ "waf", { "waf.mode", "waf.enabled" }, "the WAF block mode",
	    "waf.mode: detect", "attacks are not blocked", 1, 1, on_waf },
	{ "waf_modsecurity", { "waf.engine" }, "the modsecurity WAF engine "
	    "(this build lacks libmodsecurity: configure --with-modsecurity)",
	    "waf.engine: builtin", "the WAF does not run", 1,
	    VW_HAVE_MODSECURITY, on_modsec },
	{ "csrf", { "csrf.enabled" }, "CSRF protection",
	    "csrf.enabled: false", "cross-site requests are not rejected",
	    1, 1, on_csrf },
	{ "body_size", { "body_size.max", "body_size.overrides",
	    "body_size.enabled" }, "request body size limiting",
	    "body_size.max: 0", "request bodies are not limited", 1, 1,
	    on_body },
	{ "admin", { "admin.enabled" }, "the admin API",
	    "admin.enabled: false", "there is no admin API", 1, 1, on_admin },
	{ "telemetry", { "telemetry.enabled" }, "the metrics endpoint",
	    "telemetry.enabled: false", "no metrics are served", 1, 1,
	    on_telemetry },
	{ "health", { "upstream.health.enabled" }, "upstream health checks",
	    NULL, NULL, 0, 1, on_health },
	{ "circuit_breaker", { "resilience.circuit_breaker.enabled" },
	    "the circuit breaker", NULL, NULL, 0, 1, on_breaker },
	{ "retry", { "resilience.retry.enabled" }, "retries", NULL, NULL,
	    0, 1, on_retry },
	{ "otlp", { "telemetry.otlp.enabled", "telemetry.logs.otlp",
	    "telemetry.traces.enabled" }, "OTLP export", NULL, NULL, 0, 0,
	    on_otlp },
};
const size_t config_nfeatures = sizeof(config_features) /
    sizeof(config_features[0]);

int
config_parse_int(const char *s, long lo, long hi, int *out)
{
	char	*end;
	long	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return (-1);
	*out = (int)v;
	return (0);
}

/* A decimal integer from lo to hi, nothing else (no sign). */
static int
num(const char *s, long lo, long hi, int *out)
{
	if (!isdigit((unsigned char)*s))
		return (-1);
	return (config_parse_int(s, lo, hi, out));
}

/* ----------------------------------------------------------- checkers */

static int
v_cidr(const char *s, char *why, size_t wlen)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned char	 addr[sizeof(struct in6_addr)];
	int		 af = strchr(s, ':') ? AF_INET6 : AF_INET, bits;

	if (strlen(s) >= sizeof(buf))
		goto fail;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(af, buf, addr) != 1)
		goto fail;
	if (slash != NULL && num(slash, 0, af == AF_INET ? 32 : 128,
	    &bits) == -1)
		goto fail;
	return (0);
 fail:
	snprintf(why, wlen, "'%s' is not an IP address or CIDR", s);
	return (-1);
}

/* scheme://host[:port] with nothing after: what a browser puts in Origin. */
static int
v_origin(const char *s, char *why, size_t wlen)
{
	const char	*h;

	if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else
		goto fail;
	if (*h == '\0' || strpbrk(h, "/?#@ ") != NULL)
		goto fail;
	return (0);
 fail:
	snprintf(why, wlen, "'%s' is not an origin like https://example.com",
	    s);
	return (-1);
}

static int
v_cors_origin(const char *s, char *why, size_t wlen)
{
	if (strcmp(s, "*") == 0)
		return (0);
	return (v_origin(s, why, wlen));
}

static int
v_hostport(const char *s, char *why, size_t wlen)
{
	const char	*colon = strrchr(s, ':');
	int		 port;

	if (colon == NULL || colon == s ||
	    num(colon + 1, 1, 65535, &port) == -1) {
		snprintf(why, wlen, "expected host:port, got '%s'", s);
		return (-1);
	}
	return (0);
}

/*
 * Split an http(s) URL into host and port; path "" or "/" only when
 * pathok is 0.  host gets the bare name (no brackets).
 */
int
config_split_url(const char *s, int *tls, char *host, size_t hlen, int *port,
    int pathok)
{
	const char	*h, *e, *p;
	size_t		 n;

	if (strncasecmp(s, "http://", 7) == 0) {
		*tls = 0;
		h = s + 7;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		*tls = 1;
		h = s + 8;
	} else
		return (-1);
	if (*h == '[') {
		if ((e = strchr(h, ']')) == NULL)
			return (-1);
		h++;
		p = e + 1;
	} else {
		e = h + strcspn(h, ":/?#");
		p = e;
	}
	n = (size_t)(e - h);
	if (n == 0 || n >= hlen || memchr(h, '@', n) != NULL)
		return (-1);
	memcpy(host, h, n);
	host[n] = '\0';
	*port = *tls ? 443 : 80;
	if (*p == ':') {
		char	 pb[8];
		size_t	 pn = strcspn(p + 1, "/?#");

		if (pn == 0 || pn >= sizeof(pb))
			return (-1);
		memcpy(pb, p + 1, pn);
		pb[pn] = '\0';
		if (num(pb, 1, 65535, port) == -1)
			return (-1);
		p += pn + 1;
	}
	if (!pathok && *p != '\0' && strcmp(p, "/") != 0)
		return (-1);
	return (0);
}

static int
v_http_url(const char *s, char *why, size_t wlen)
{
	char	 host[256];
	int	 tls, port;

	if (config_split_url(s, &tls, host, sizeof(host), &port, 1) == -1) {
		snprintf(why, wlen, "expected an http:// or https:// URL, "
		    "got '%s'", s);
		return (-1);
	}
	return (0);
}

static int
v_redis_url(const char *s, char *why, size_t wlen)
{
	const char	*h;

	if (strncmp(s, "redis://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "rediss://", 9) == 0)
		h = s + 9;
	else
		h = NULL;
	if (h == NULL || *h == '\0' || *h == '/') {
		snprintf(why, wlen, "expected redis://host[:port] or "
		    "rediss://..., got '%s'", s);
		return (-1);
	}
	return (0);
}

static int
v_frame(const char *s, char *why, size_t wlen)
{
	if (strcasecmp(s, "DENY") == 0 || strcasecmp(s, "SAMEORIGIN") == 0)
		return (0);
	snprintf(why, wlen, "expected DENY, SAMEORIGIN or \"\", got '%s'", s);
	return (-1);
}

static int
v_hexhash(const char *s, char *why, size_t wlen)
{
	size_t	 n;

	for (n = 0; isxdigit((unsigned char)s[n]); n++)
		;
	if (n == 64 && s[n] == '\0')
		return (0);
	snprintf(why, wlen, "expected a SHA-256 hash (64 hex digits)");
	return (-1);
}


static int
v_whprov(const char *s, char *why, size_t wlen)
{
	static const char *const prov[] = { "stripe", "github", "slack",
	    "twilio", "generic" };
	size_t	 i;

	for (i = 0; i < sizeof(prov) / sizeof(prov[0]); i++)
		if (strcmp(s, prov[i]) == 0)
			return (0);
	snprintf(why, wlen, "expected stripe, github, slack, twilio or "
	    "generic, got '%s'", s);
	return (-1);
}

/* An HTTP field name (RFC 9110 5.1: a token). */
static int
v_hname(const char *s, char *why, size_t wlen)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			break;
	if (p != s && *p == '\0')
		return (0);
	snprintf(why, wlen, "'%s' is not a header field name", s);
	return (-1);
}
