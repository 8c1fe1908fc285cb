/*
 * test_config.c: unit tests of the vibewarden.yaml loader (src/config.c).
 * Files under tests/unit/data/config/ are found through $top_srcdir; small
 * cases are written to a temporary t.yaml so diagnostics can be compared
 * as the exact lines "vibewarden -t" prints.
 */
#include <sys/stat.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vw_autoconf.h"
#include "config.h"

static char	 tmpdir[] = "/tmp/vwcfgtestXXXXXX";
static char	 tfile[sizeof(tmpdir) + 16];
static char	*lines;		/* the last load's diagnostics, as printed */
static char	 strip[1200];	/* directory cut from file names in lines */
static struct cfg_diags diags;

static const char *const no_features[] = {
	"acme", "waf_modsecurity", "admin", "telemetry", "otlp", NULL
};

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(tfile, sizeof(tfile), "%s/t.yaml", tmpdir);
}

static void
teardown(void)
{
	unlink(tfile);
	rmdir(tmpdir);
	memcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX", 6);
	free(lines);
	lines = NULL;
	config_diags_free(&diags);
}

/* Pretend every feature is implemented (on = 1) or restore the build. */
static void
all_features(int on)
{
	size_t	 i;

	for (i = 0; no_features[i] != NULL; i++)
		ck_assert_int_eq(config_feature_set_implemented(no_features[i],
		    on), 0);
}

/* The printed diagnostics with the temporary directory cut out. */
static void
collect(void)
{
	char	*buf = NULL, *p, *q;
	size_t	 len = 0, dl = strlen(strip);
	FILE	*fp;

	free(lines);
	fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	config_diags_print(&diags, fp);
	fclose(fp);
	for (p = q = buf; *p != '\0';) {
		if (dl > 0 && strncmp(p, strip, dl) == 0)
			p += dl;
		else
			*q++ = *p++;
	}
	*q = '\0';
	lines = buf;
}

static struct config *
load_path(const char *path, char *const *envp)
{
	struct config	*cfg;
	static char	*empty[] = { NULL };

	config_diags_free(&diags);
	cfg = config_load(path, envp ? envp : empty, &diags);
	collect();
	return (cfg);
}

static struct config *
load_env(const char *yaml, char *const *envp)
{
	FILE	*fp = fopen(tfile, "w");

	ck_assert_ptr_nonnull(fp);
	snprintf(strip, sizeof(strip), "%s/", tmpdir);
	fputs(yaml, fp);
	fclose(fp);
	return (load_path(tfile, envp));
}

static struct config *
load(const char *yaml)
{
	return (load_env(yaml, NULL));
}

static struct config *
load_data(const char *name)
{
	char		 path[1024];
	const char	*top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", name);
	snprintf(strip, sizeof(strip), "%s/tests/unit/data/config/",
	    top ? top : ".");
	return (load_path(path, NULL));
}

/* Whether the last load printed exactly this line. */
static int
has(const char *line)
{
	const char	*p = lines;
	size_t		 n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == lines || p[-1] == '\n') && p[n] == '\n')
			return (1);
		p++;
	}
	return (0);
}

#define HAS(l)	ck_assert_msg(has(l), "missing \"%s\" in:\n%s", l, lines)
#define NERR(n)	ck_assert_msg(diags.nerrors == (n), \
		    "want %d errors, got:\n%s", (n), lines)
#define QUIET()	ck_assert_msg(diags.n == 0, "want no diagnostics, got:\n%s", \
		    lines)

/* Silences the default-on warnings of this build in small cases. */
#define OFF	"tls: {enabled: false}\nrate_limit: {enabled: false}\n" \
		"csrf: {enabled: false}\nbody_size: {enabled: false}\n" \
		"telemetry: {enabled: false}\n"

START_TEST(t_missing_files)
{
	ck_assert_ptr_null(load_path("/nonexistent/vw.yaml", NULL));
	HAS("/nonexistent/vw.yaml: error: cannot open: No such file or "
	    "directory");
	NERR(1);
	ck_assert_ptr_nonnull(strstr(config_default_path(),
	    "/vibewarden/vibewarden.yaml"));
}
END_TEST

START_TEST(t_defaults)
{
	struct config	*c = load("");

	ck_assert_ptr_nonnull(c);
	NERR(0);
	ck_assert_ptr_null(strstr(lines, "TLS is on by default"));
	ck_assert_ptr_null(strstr(lines, "rate limiting is on by default"));
	/* csrf, body_size and telemetry: on by default, all built */
	ck_assert_int_eq(diags.n, 0);
	ck_assert_ptr_null(strstr(lines, "CSRF"));
	ck_assert_ptr_null(strstr(lines, "body size"));
	ck_assert_ptr_null(strstr(lines, "metrics endpoint"));
	ck_assert_str_eq(c->server.host, "127.0.0.1");
	ck_assert_int_eq(c->server.port, 8443);
	ck_assert_int_eq(c->server.workers, 0);
	ck_assert_ptr_nonnull(c->server.user);
	ck_assert_uint_eq(c->server.read_timeout_ms, 30000);
	ck_assert_uint_eq(c->server.write_timeout_ms, 60000);
	ck_assert_uint_eq(c->server.idle_timeout_ms, 120000);
	ck_assert_uint_eq(c->server.header_timeout_ms, 10000);
	ck_assert_uint_eq(c->server.max_header_bytes, 32768);
	ck_assert_str_eq(c->upstream.host, "127.0.0.1");
	ck_assert_int_eq(c->upstream.port, 3000);
	ck_assert_uint_eq(c->upstream.connect_timeout_ms, 5000);
	ck_assert_int_eq(c->log.level, LOG_LVL_INFO);
	ck_assert_int_eq(c->log.format, LOG_FMT_JSON);
	ck_assert_int_eq(c->log.access_log, 1);
	ck_assert_str_eq(c->log.output, "stdout");
	ck_assert_uint_eq(c->resilience.timeout_ms, 30000);
	ck_assert_int_eq(c->tls.enabled, 1);
	ck_assert_int_eq(c->tls.provider, TLS_PROV_SELF_SIGNED);
	ck_assert_ptr_nonnull(strstr(c->tls.storage_path,
	    "/lib/vibewarden/acme"));
	ck_assert_ptr_nonnull(strstr(c->shm.path, "/lib/vibewarden/shm"));
	ck_assert_uint_eq(c->shm.map_size, 64 * 1024 * 1024);
	ck_assert_int_eq(c->auth.mode, AUTH_NONE);
	ck_assert_str_eq(c->auth.login_url, "/self-service/login/browser");
	ck_assert_uint_eq(c->auth.jwt.claims_to_headers.n, 3);
	ck_assert_str_eq(c->auth.jwt.claims_to_headers.v[0], "X-User-Id");
	ck_assert_uint_eq(c->body_size.max, 1048576);
	ck_assert_uint_eq(c->cors.allowed_methods.n, 5);
	ck_assert_uint_eq(c->resilience.retry.retry_on.n, 3);
	ck_assert_int_eq(c->resilience.retry.retry_on.v[2], 504);
	ck_assert_str_eq(c->admin.listen, "127.0.0.1:9443");
	ck_assert_ptr_null(c->admin.token);
	ck_assert_int_eq(c->security_headers.hsts_max_age, 31536000);
	ck_assert_str_eq(c->security_headers.frame_option, "DENY");
	ck_assert_int_eq(config_feature_on(c, "security_headers"), 1);
	ck_assert_int_eq(config_feature_on(c, "tls"), 1);
	ck_assert_int_eq(config_feature_on(c, "acme"), 0);
	ck_assert_int_eq(config_feature_on(c, "nonsense"), 0);
	config_free(c);
}
END_TEST

START_TEST(t_sample)
{
	struct config	*c = load_data("etc/vibewarden.yaml");

	ck_assert_ptr_nonnull(c);
	QUIET();
	ck_assert_str_eq(c->server.host, "127.0.0.1");
	ck_assert_int_eq(c->server.port, 8443);
	ck_assert_int_eq(c->upstream.port, 3000);
	config_free(c);
}
END_TEST

START_TEST(t_seed000_this_build)
{
	struct config	*c;

	/* Everything the seed turns on is built now: it loads. */
	c = load_data("tests/unit/data/config/seed000_flat.yaml");
	ck_assert_ptr_nonnull(c);
	config_free(c);
	NERR(0);
	/* body_size is implemented: its 10MB is taken, not refused. */
	ck_assert_ptr_null(strstr(lines, "body_size"));
	/* So are the admin API and the metrics; the seed has no token. */
	ck_assert_ptr_null(strstr(lines, "the admin API is not implemented"));
	ck_assert_ptr_null(strstr(lines, "metrics endpoint"));
	HAS("seed000_flat.yaml:53:12: warning: admin.enabled without "
	    "admin.token or admin.token_file: the admin API stays off (404)");
	HAS("seed000_flat.yaml:56:1: warning: 'metrics' is deprecated; its "
	    "keys are read as 'telemetry'");
	HAS("seed000_flat.yaml:15:15: warning: auth.mode is not set; "
	    "kratos.public_url with auth.public_paths or auth.login_url means "
	    "auth.mode: kratos");
}
END_TEST

START_TEST(t_seed000)
{
	struct config	*c;

	all_features(1);
	c = load_data("tests/unit/data/config/seed000_flat.yaml");
	ck_assert_ptr_nonnull(c);
	NERR(0);
	ck_assert_str_eq(c->server.host, "0.0.0.0");
	ck_assert_int_eq(c->server.port, 443);
	ck_assert_str_eq(c->upstream.host, "django");
	ck_assert_int_eq(c->upstream.port, 8000);
	ck_assert_int_eq(c->tls.provider, TLS_PROV_LETSENCRYPT);
	ck_assert_str_eq(c->tls.domain, "myapp.example.com");
	ck_assert_str_eq(c->kratos.public_url, "http://kratos:4433");
	ck_assert_int_eq(c->auth.mode, AUTH_KRATOS);
	ck_assert_int_eq(c->auth.enabled, 1);
	ck_assert_uint_eq(c->auth.public_paths.n, 9);
	ck_assert_str_eq(c->auth.public_paths.v[4], "/static/*");
	ck_assert_str_eq(c->auth.login_url, "/login");
	ck_assert_uint_eq(c->body_size.max, 10 * 1048576);
	ck_assert_uint_eq(c->body_size.noverrides, 1);
	ck_assert_str_eq(c->body_size.overrides[0].path, "/api/upload");
	ck_assert_uint_eq(c->body_size.overrides[0].max, 50 * 1048576);
	ck_assert_double_eq(c->rate_limit.per_ip.requests_per_second, 20);
	ck_assert_int_eq(c->rate_limit.per_user.burst, 400);
	ck_assert_uint_eq(c->telemetry.path_patterns.n, 4);
	ck_assert_str_eq(c->security_headers.content_security_policy,
	    "default-src 'self'");
	ck_assert_ptr_null(c->admin.token);
	ck_assert_int_eq(config_feature_on(c, "tls"), 1);
	all_features(0);
	ck_assert_int_eq(config_feature_on(c, "acme"), 0);
	config_free(c);
}
END_TEST

START_TEST(t_seed001)
{
	struct config	*c;

	/* The admin API is built: the plugins file loads as it is. */
	c = load_data("tests/unit/data/config/seed001_plugins.yaml");
	ck_assert_ptr_nonnull(c);
	NERR(0);
	config_free(c);
	all_features(1);
	c = load_data("tests/unit/data/config/seed001_plugins.yaml");
	all_features(0);
	ck_assert_ptr_nonnull(c);
	NERR(0);
	ck_assert_str_eq(c->upstream.url, "http://localhost:3000");
	ck_assert_str_eq(c->upstream.host, "localhost");
	ck_assert_int_eq(c->upstream.port, 3000);
	ck_assert_int_eq(c->upstream.tls, 0);
	ck_assert_int_eq(c->rate_limit.enabled, 1);
	ck_assert_int_eq(c->admin.enabled, 1);
	config_free(c);
}
END_TEST

START_TEST(t_plugin_precedence)
{
	struct config	*c;

	c = load(OFF "plugins:\n  rate-limiting:\n    per_ip:\n"
	    "      burst: 9\n      requests_per_second: 3\n"
	    "rate_limit:\n  per_ip:\n    burst: 5\n");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->rate_limit.per_ip.burst, 5);
	ck_assert_double_eq(c->rate_limit.per_ip.requests_per_second, 3);
	config_free(c);
	/* The same with the flat key first. */
	c = load(OFF "rate_limit:\n  per_ip:\n    burst: 5\n"
	    "plugins:\n  rate-limiting:\n    per_ip: {burst: 9}\n"
	    "  security-headers:\n    frame_option: SAMEORIGIN\n");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->rate_limit.per_ip.burst, 5);
	ck_assert_str_eq(c->security_headers.frame_option, "SAMEORIGIN");
	config_free(c);
}
END_TEST

START_TEST(t_plugin_unknown)
{
	ck_assert_ptr_null(load("plugins:\n  rate_limit:\n    enabled: false\n"
	    "  bogus:\n    enabled: true\n  cors:\n    enabeld: true\n"));
	HAS("t.yaml:2:3: error: unknown plugin 'rate_limit'; did you mean "
	    "'rate-limiting'?");
	HAS("t.yaml:4:3: error: unknown plugin 'bogus'");
	HAS("t.yaml:7:5: error: unknown key 'plugins.cors.enabeld'; did you "
	    "mean 'plugins.cors.enabled'?");
	NERR(3);
}
END_TEST

START_TEST(t_unknown_keys)
{
	ck_assert_ptr_null(load("server:\n  prot: 80\n  frobnicate: 1\n"
	    "sever:\n  port: 1\nupstream:\n  health:\n    intreval: 5s\n"));
	HAS("t.yaml:2:3: error: unknown key 'server.prot'; did you mean "
	    "'server.port'?");
	HAS("t.yaml:3:3: error: unknown key 'server.frobnicate'");
	HAS("t.yaml:4:1: error: unknown key 'sever'; did you mean 'server'?");
	HAS("t.yaml:8:5: error: unknown key 'upstream.health.intreval'; did "
	    "you mean 'upstream.health.interval'?");
	NERR(4);
}
END_TEST

START_TEST(t_type_errors)
{
	ck_assert_ptr_null(load("server:\n  port: abc\n  read_timeout: abc\n"
	    "  workers: -1\n  max_header_bytes: 5XB\n"
	    "log:\n  level: verbose\n  access_log: maybe\n"
	    "rate_limit:\n  per_ip:\n    requests_per_second: fast\n"
	    "server2: 1\ntls: [1, 2]\n"));
	HAS("t.yaml:2:9: error: server.port: expected an integer from 1 to "
	    "65535, got 'abc'");
	HAS("t.yaml:3:17: error: server.read_timeout: expected a duration "
	    "like 30s, got 'abc'");
	HAS("t.yaml:4:12: error: server.workers: expected an integer from 0 "
	    "to 1024, got '-1'");
	HAS("t.yaml:5:21: error: server.max_header_bytes: expected a size "
	    "like 512KB or 1MB, got '5XB'");
	HAS("t.yaml:7:10: error: log.level: expected one of debug, info, "
	    "warn, error; got 'verbose'");
	HAS("t.yaml:8:15: error: log.access_log: expected true or false, got "
	    "'maybe'");
	HAS("t.yaml:11:26: error: rate_limit.per_ip.requests_per_second: "
	    "expected a number from 0 to 1000000000, got 'fast'");
	HAS("t.yaml:12:1: error: unknown key 'server2'; did you mean "
	    "'server'?");
	HAS("t.yaml:13:6: error: tls: expected a mapping, got a list");
	NERR(9);
}
END_TEST

START_TEST(t_shape_errors)
{
	ck_assert_ptr_null(load("server:\n  port: [1]\n  trusted_proxies: "
	    "10.0.0.0/8\n  host:\n    a: b\n"));
	HAS("t.yaml:2:9: error: server.port: expected a single value, got a "
	    "list");
	HAS("t.yaml:3:20: error: server.trusted_proxies: expected a list, "
	    "got a single value");
	HAS("t.yaml:5:5: error: server.host: expected a single value, got a "
	    "mapping");
	ck_assert_ptr_null(load("- a\n- b\n"));
	HAS("t.yaml:1:1: error: expected a mapping of sections at the top, "
	    "got a list");
	ck_assert_ptr_null(load("server:\n  port: 1\n  port: 2\n"));
	HAS("t.yaml:3:3: error: duplicate key 'server.port' (first at line "
	    "2)");
}
END_TEST

START_TEST(t_yaml_errors)
{
	ck_assert_ptr_null(load("server:\n  port: 1\n bad\n"));
	ck_assert_int_eq(diags.n, 1);
	ck_assert_int_eq(diags.v[0].d_line, 3);
	ck_assert_ptr_nonnull(strstr(diags.v[0].d_msg, "YAML syntax error"));
	ck_assert_ptr_null(load("a: &x {port: 1}\nserver: *x\n"));
	HAS("t.yaml:1:4: error: YAML anchors (&x) and aliases are not "
	    "supported");
	ck_assert_ptr_null(load("server:\n  <<: {port: 1}\n"));
	HAS("t.yaml:2:3: error: YAML merge keys (<<) are not supported");
	ck_assert_ptr_null(load("server: {}\n---\nserver: {}\n"));
	HAS("t.yaml:2:1: error: only one YAML document is allowed");
	ck_assert_ptr_null(load("a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"));
	HAS("t.yaml:1:35: error: nested deeper than 32 levels");
}
END_TEST

START_TEST(t_env)
{
	char		*env[] = { "VIBEWARDEN_SERVER_PORT=9000",
	    "VIBEWARDEN_RATE_LIMIT_PER_IP_BURST=7",
	    "VIBEWARDEN_SERVER_TRUSTED_PROXIES=10.0.0.0/8, ::1/128,",
	    "VIBEWARDEN_LOG_LEVEL=debug", "VIBEWARDEN_ADMIN_TOKEN=s3cret",
	    "VIBEWARDEN_TLS_ENABLED=no", NULL };
	char		*bad[] = { "VIBEWARDEN_SERVER_PORT=x",
	    "VIBEWARDEN_CSRF_TRUSTED_ORIGINS=https://a.example,ftp://b",
	    NULL };
	char		*tls[] = { "VIBEWARDEN_TLS_ENABLED=true", NULL };
	struct config	*c;

	c = load_env("server:\n  port: 8000\n", env);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->server.port, 9000);
	ck_assert_int_eq(c->rate_limit.per_ip.burst, 7);
	ck_assert_uint_eq(c->server.trusted_proxies.n, 2);
	ck_assert_str_eq(c->server.trusted_proxies.v[1], "::1/128");
	ck_assert_int_eq(c->log.level, LOG_LVL_DEBUG);
	ck_assert_str_eq(c->admin.token, "s3cret");
	ck_assert_int_eq(c->tls.enabled, 0);
	config_free(c);
	ck_assert_ptr_null(load_env("", bad));
	HAS("env:VIBEWARDEN_SERVER_PORT: error: server.port: expected an "
	    "integer from 1 to 65535, got 'x'");
	HAS("env:VIBEWARDEN_CSRF_TRUSTED_ORIGINS: error: csrf.trusted_origins: "
	    "'ftp://b' is not an origin like https://example.com");
	NERR(2);
	/* The environment switches TLS on: ACME, with its http-01 port. */
	c = load_env("tls:\n  enabled: false\n"
	    "  provider: acme\n  domain: a.example\n", tls);
	ck_assert_ptr_nonnull(c);
	NERR(0);
	ck_assert_int_eq(c->tls.enabled, 1);
	ck_assert_int_eq(c->tls.provider, TLS_PROV_LETSENCRYPT);
	ck_assert_int_eq(c->server.http_redirect_port, 80);
	config_free(c);
}
END_TEST

/* A VIBEWARDEN_* variable naming no key: a warning, with a did-you-mean. */
START_TEST(t_env_unknown)
{
	char		*env[] = { "VIBEWARDEN_SERVER_PROT=9000",
	    "VIBEWARDEN_NOTHING_LIKE_IT=1", "VIBEWARDEN_LISTEN_FD=5",
	    "VIBEWARDEN_SERVER_PORT=9001", "OTHER_SERVER_PROT=1", NULL };
	struct config	*c;

	c = load_env(OFF, env);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->server.port, 9001);
	HAS("env:VIBEWARDEN_SERVER_PROT: warning: unknown variable "
	    "VIBEWARDEN_SERVER_PROT is ignored; did you mean "
	    "VIBEWARDEN_SERVER_PORT?");
	HAS("env:VIBEWARDEN_NOTHING_LIKE_IT: warning: unknown variable "
	    "VIBEWARDEN_NOTHING_LIKE_IT is ignored");
	ck_assert_uint_eq(diags.n, 2);	/* not LISTEN_FD, not OTHER_ */
	NERR(0);
	config_free(c);
}
END_TEST

/* Checks made after loading are placed where each value came from. */
START_TEST(t_key_diag)
{
	char		*env[] = { "VIBEWARDEN_SERVER_GROUP=staff", NULL };
	struct config	*c;

	c = load_env(OFF "server:\n  user: someone\n", env);
	ck_assert_ptr_nonnull(c);
	config_diags_free(&diags);
	config_key_diag(c, &diags, "server.user", 1, "user %s", "x");
	config_key_diag(c, &diags, "server.group", 1, "group");
	config_key_diag(c, &diags, "server.port", 0, "port");
	collect();
	HAS("t.yaml:7:9: error: user x");
	HAS("env:VIBEWARDEN_SERVER_GROUP: error: group");
	HAS("t.yaml: warning: port");
	NERR(2);
	config_free(c);
}
END_TEST

/* -T: every section, durations in whole units, secrets hidden. */
START_TEST(t_dump)
{
	struct config	*c;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*fp;

	c = load(OFF "admin: {token: t0psecret}\n"
	    "rate_limit:\n  redis: {password: pw-secret}\n"
	    "body_size:\n  overrides: [{path: /up, max: 10MB}]\n"
	    "server: {drain_timeout: 90s}\n");
	ck_assert_ptr_nonnull(c);
	fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	config_dump(c, fp);
	fclose(fp);
	ck_assert_ptr_null(strstr(buf, "secret"));
	ck_assert_ptr_nonnull(strstr(buf, "\nadmin:\n  enabled: false\n"
	    "  token: \"***\"\n"));
	ck_assert_ptr_nonnull(strstr(buf, "    password: \"***\"\n"));
	ck_assert_ptr_nonnull(strstr(buf, "  drain_timeout: 90s\n"));
	ck_assert_ptr_nonnull(strstr(buf, "  overrides:\n    - path: \"/up\"\n"
	    "      max: 10485760\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\nshm:\n"));
	free(buf);
	config_free(c);
}
END_TEST

START_TEST(t_expand)
{
	char		*env[] = { "HOST=app.internal", "EMPTY=", "TOK=abc",
	    NULL };
	struct config	*c;

	c = load_env(OFF "upstream:\n  host: ${HOST}\n  port: ${PORT:-8080}\n"
	    "admin:\n  token: \"x${TOK}y$$z${EMPTY:-d}$\"\n", env);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->upstream.host, "app.internal");
	ck_assert_int_eq(c->upstream.port, 8080);
	ck_assert_str_eq(c->admin.token, "xabcy$zd$");
	config_free(c);
	ck_assert_ptr_null(load_env("admin:\n  token: ${NOPE}\n"
	    "upstream:\n  host: ${HOST\n  url: ${1X}\n", env));
	HAS("t.yaml:2:10: error: admin.token: environment variable NOPE is "
	    "not set (write ${NOPE:-default} for a fallback)");
	HAS("t.yaml:4:9: error: upstream.host: unterminated ${ in value");
	HAS("t.yaml:5:8: error: upstream.url: bad variable reference '${1X}'");
	NERR(3);
}
END_TEST

/* server.read_timeout in ms after VIBEWARDEN_SERVER_READ_TIMEOUT=v. */
static int64_t
dur(const char *v)
{
	char		 e[128], *env[] = { e, NULL };
	struct config	*c;
	int64_t		 ms;

	snprintf(e, sizeof(e), "VIBEWARDEN_SERVER_READ_TIMEOUT=%s", v);
	if ((c = load_env("", env)) == NULL)
		return (-1);
	ms = (int64_t)c->server.read_timeout_ms;
	config_free(c);
	return (ms);
}

static int64_t
size(const char *v)
{
	char		 e[128], *env[] = { e, NULL };
	struct config	*c;
	int64_t		 n;

	/* max_header_bytes: a size key with no lower bound of its own. */
	snprintf(e, sizeof(e), "VIBEWARDEN_SERVER_MAX_HEADER_BYTES=%s", v);
	if ((c = load_env("", env)) == NULL)
		return (-1);
	n = (int64_t)c->server.max_header_bytes;
	config_free(c);
	return (n);
}

START_TEST(t_durations)
{
	ck_assert_int_eq(dur("500ms"), 500);
	ck_assert_int_eq(dur("30s"), 30000);
	ck_assert_int_eq(dur("6h"), 6 * 3600000);
	ck_assert_int_eq(dur("1h30m"), 5400000);
	ck_assert_int_eq(dur("1.5s"), 1500);
	ck_assert_int_eq(dur("2m3s4ms"), 123004);
	ck_assert_int_eq(dur("0"), 0);
	ck_assert_int_eq(dur("10us"), 1);	/* never rounds down to off */
	ck_assert_int_eq(dur("1000000ns"), 1);
	ck_assert_int_eq(dur("5"), -1);
	ck_assert_int_eq(dur("-5s"), -1);
	ck_assert_int_eq(dur("5x"), -1);
	ck_assert_int_eq(dur("s"), -1);
	ck_assert_int_eq(dur("99999999999999999999h"), -1);
	HAS("env:VIBEWARDEN_SERVER_READ_TIMEOUT: error: server.read_timeout: "
	    "expected a duration like 30s, got '99999999999999999999h'");
}
END_TEST

START_TEST(t_sizes)
{
	ck_assert_int_eq(size("512KB"), 524288);
	ck_assert_int_eq(size("1mb"), 1048576);
	ck_assert_int_eq(size(" 2 GB "), 2147483648LL);
	ck_assert_int_eq(size("1TB"), 1099511627776LL);
	ck_assert_int_eq(size("1.5KB"), 1536);
	ck_assert_int_eq(size("10"), 10);
	ck_assert_int_eq(size("10B"), 10);
	ck_assert_int_eq(size("0"), 0);
	ck_assert_int_eq(size(""), 0);
	ck_assert_int_eq(size("-1MB"), -1);
	ck_assert_int_eq(size("5XB"), -1);
	ck_assert_int_eq(size("MB"), -1);
	ck_assert_int_eq(size("99999999999TB"), -1);
}
END_TEST

START_TEST(t_bools_ints)
{
	struct config	*c;

	c = load(OFF "log:\n  access_log: off\nwaf:\n  enabled: No\n"
	    "server:\n  port: 65535\n");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->log.access_log, 0);
	ck_assert_int_eq(c->waf.enabled, 0);
	ck_assert_int_eq(c->server.port, 65535);
	config_free(c);
	ck_assert_ptr_null(load("server:\n  port: 65536\n  workers: 1.5\n"));
	NERR(2);
}
END_TEST

START_TEST(t_upstream_url)
{
	struct config	*c;

	c = load(OFF "upstream:\n  url: http://[::1]:8081/\n  port: 8081\n");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->upstream.host, "::1");
	ck_assert_int_eq(c->upstream.port, 8081);
	config_free(c);
	ck_assert_ptr_null(load("upstream:\n  url: http://a:3000\n"
	    "  host: b\n"));
	HAS("t.yaml:2:8: error: upstream.url: host 'a' disagrees with "
	    "upstream.host 'b'; give only one of them");
	ck_assert_ptr_null(load("upstream:\n  url: http://a:3000/app\n"));
	HAS("t.yaml:2:8: error: upstream.url: expected http://host[:port] "
	    "with no path, got 'http://a:3000/app'");
	ck_assert_ptr_null(load("upstream:\n  url: ftp://a\n"));
	HAS("t.yaml:2:8: error: upstream.url: expected an http:// or https:// "
	    "URL, got 'ftp://a'");
	c = load(OFF "upstream:\n  url: https://a\n");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->upstream.tls, 1);
	ck_assert_int_eq(c->upstream.port, 443);
	config_free(c);
}
END_TEST

START_TEST(t_compat)
{
	struct config	*c;

	c = load(OFF "profile: prod\ndatabase:\n  url: postgres://x\n"
	    "  pool: {max_conns: 3}\nkratos:\n  dsn: x\n  smtp: {host: h}\n"
	    "plugins:\n  auth:\n    ui: {mode: custom}\n");
	ck_assert_ptr_nonnull(c);
	NERR(0);
	HAS("t.yaml:6:1: warning: key 'profile' is accepted for compatibility "
	    "and ignored by vibewarden");
	HAS("t.yaml:7:1: warning: key 'database' is accepted for "
	    "compatibility and ignored by vibewarden");
	HAS("t.yaml:11:3: warning: key 'kratos.dsn' is accepted for "
	    "compatibility and ignored by vibewarden");
	HAS("t.yaml:15:5: warning: key 'plugins.auth.ui' is accepted for "
	    "compatibility and ignored by vibewarden");
	ck_assert_int_eq(diags.n, 5);
	config_free(c);
}
END_TEST

/* Issue 12 items 5-8: keys that were compatibility keys now do work. */
START_TEST(t_stages2_keys)
{
	struct config	*c;
	char *const	 env[] = { "WH_S=s3cret", NULL };

	c = load_env(OFF "input_validation:\n  enabled: true\n"
	    "  path_overrides: [{path: /a/*, max_url_length: 9}]\n"
	    "maintenance: {enabled: true}\n"
	    "response_headers: {set: {X-A: b}, add: {X-C: d}, remove: [X-E]}\n"
	    "webhooks:\n  endpoints: [{url: http://x}]\n"
	    "  signature_verification:\n    enabled: true\n    paths:\n"
	    "      - {path: /wh, provider: github, secret_env_var: WH_S}\n",
	    env);
	ck_assert_ptr_nonnull(c);
	NERR(0);
	HAS("t.yaml:12:3: warning: key 'webhooks.endpoints' is accepted for "
	    "compatibility and ignored by vibewarden");
	ck_assert_int_eq(c->input_validation.max_url_length, 2048);
	ck_assert_int_eq(c->input_validation.path_overrides[0].max_url_length,
	    9);
	ck_assert_str_eq(c->maintenance.message,
	    "Service is under maintenance");
	ck_assert_str_eq(c->response_headers.set.v[0], "b");
	ck_assert_str_eq(c->webhooks.signature_verification.paths[0].provider,
	    "github");
	config_free(c);

	c = load(OFF "webhooks:\n  signature_verification:\n"
	    "    enabled: true\n    paths:\n"
	    "      - {path: /w, provider: gitlab, secret_env_var: WH_NONE}\n"
	    "response_headers: {remove: ['a b']}\n");
	ck_assert_ptr_null(c);
	HAS("t.yaml:10:30: error: webhooks.signature_verification.paths[0]."
	    "provider: expected stripe, github, slack, twilio or generic, got "
	    "'gitlab'");
	HAS("t.yaml:11:29: error: response_headers.remove: 'a b' is not a "
	    "header field name");

	/* Checks of the whole file: only once every value parsed. */
	c = load(OFF "webhooks:\n  signature_verification:\n"
	    "    enabled: true\n    paths:\n"
	    "      - {path: wh, provider: github, secret_env_var: WH_NONE}\n"
	    "      - {path: /g, provider: generic, secret_env_var: WH_NONE}\n"
	    "response_headers:\n  set: {Content-Length: '1'}\n"
	    "  remove: [Transfer-Encoding]\n");
	ck_assert_ptr_null(c);
	NERR(6);
	HAS("t.yaml:13:8: error: response_headers.set: Content-Length is "
	    "part of the message framing and cannot be changed");
	HAS("t.yaml:14:11: error: response_headers.remove: Transfer-Encoding "
	    "is part of the message framing and cannot be changed");
	HAS("t.yaml:10:7: error: webhooks.signature_verification.paths[0]."
	    "path must start with /");
	HAS("t.yaml:10:7: error: webhooks.signature_verification.paths[1]."
	    "header is required for the generic provider");
	HAS("t.yaml:10:7: error: webhooks.signature_verification.paths[1]."
	    "secret_env_var: WH_NONE is not set in the environment");
}
END_TEST

START_TEST(t_semantics)
{
	struct config	*c;

	ck_assert_ptr_null(load("cors:\n  allowed_origins: ['*']\n"
	    "  allow_credentials: true\n"));
	HAS("t.yaml:3:22: error: cors.allow_credentials: true cannot be used "
	    "with allowed_origins '*'");
	ck_assert_ptr_null(load("server:\n  trusted_proxies:\n"
	    "    - 10.0.0.0/8\n    - 10.0.0.0/33\n    - nothost\n"));
	HAS("t.yaml:4:7: error: server.trusted_proxies: '10.0.0.0/33' is not "
	    "an IP address or CIDR");
	HAS("t.yaml:5:7: error: server.trusted_proxies: 'nothost' is not an "
	    "IP address or CIDR");
	all_features(1);
	c = load("tls:\n  provider: external\n  cert_path: /c.pem\n"
	    "admin:\n  token: t\n  listen: 0.0.0.0:9443\n"
	    "rate_limit:\n  trust_proxy_headers: true\n"
	    "  per_user: {requests_per_second: 5}\n");
	ck_assert_ptr_null(c);
	HAS("t.yaml:2:13: error: tls.provider external needs tls.cert_path "
	    "and tls.key_path");
	c = load("tls:\n  enabled: false\nadmin:\n  token: t\n"
	    "  listen: 0.0.0.0:9443\nrate_limit:\n"
	    "  trust_proxy_headers: true\n"
	    "  per_user: {requests_per_second: 5}\n"
	    "auth:\n  enabled: true\n");
	all_features(0);
	ck_assert_ptr_null(c);
	HAS("t.yaml:5:11: warning: admin.listen 0.0.0.0:9443 is not loopback "
	    "and the admin listener has no TLS: the admin token crosses the "
	    "network in clear text");
	HAS("t.yaml:7:24: warning: rate_limit.trust_proxy_headers has no "
	    "effect without server.trusted_proxies: X-Forwarded-For is "
	    "believed only from those");
	HAS("t.yaml:8:35: warning: rate_limit.per_user.requests_per_second "
	    "(5) is below per_ip (10): signed-in users get less than "
	    "anonymous clients");
	HAS("t.yaml:10:12: error: auth.enabled: true needs auth.mode kratos, "
	    "jwt or api-key");
	NERR(1);
}
END_TEST

START_TEST(t_objects)
{
	struct config	*c;

	ck_assert_ptr_null(load("body_size:\n  overrides:\n    - max: 5MB\n"
	    "    - {path: /u, max: 1XB, maxx: 3}\n"));
	HAS("t.yaml:3:7: error: body_size.overrides[0]: 'path' is required");
	HAS("t.yaml:4:23: error: body_size.overrides[1].max: expected a size "
	    "like 512KB or 1MB, got '1XB'");
	HAS("t.yaml:4:28: error: unknown key 'body_size.overrides[1].maxx'; "
	    "did you mean 'body_size.overrides[1].max'?");
	NERR(3);
	all_features(1);
	c = load("auth:\n  mode: api-key\n  api_key:\n    keys:\n"
	    "      - name: ci\n        hash: 0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n        scopes: [read, write]\n"
	    "    scope_rules:\n      - path: /admin/*\n"
	    "        required_scopes: [admin]\n");
	all_features(0);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->auth.api_key.nkeys, 1);
	ck_assert_str_eq(c->auth.api_key.keys[0].name, "ci");
	ck_assert_uint_eq(c->auth.api_key.keys[0].scopes.n, 2);
	ck_assert_uint_eq(c->auth.api_key.nscope_rules, 1);
	ck_assert_str_eq(c->auth.api_key.scope_rules[0].required_scopes.v[0],
	    "admin");
	config_free(c);
}
END_TEST

/* JWT mode: a key source, no none/HS*, claim headers that are safe. */
START_TEST(t_jwt_checks)
{
	ck_assert_ptr_null(load("auth:\n  mode: jwt\n  jwt:\n"
	    "    issuer: i\n    audience: a\n"));
	HAS("t.yaml:2:9: error: auth.mode jwt needs auth.jwt.jwks_url or "
	    "auth.jwt.issuer_url (the original's development key pair is not "
	    "supported)");
	ck_assert_ptr_null(load("auth:\n  mode: jwt\n  jwt:\n"
	    "    jwks_url: http://127.0.0.1:9/k\n    issuer: i\n"
	    "    audience: a\n    allowed_algorithms: [RS256, HS256, none]\n"
	    "    claims_to_headers: {sub: X-User-Id, r: Content-Length, "
	    "t: X-Tenant}\n"));
	NERR(3);
	HAS("t.yaml:7:25: error: auth.jwt.allowed_algorithms: 'HS256' is not "
	    "accepted (RS256, RS384, RS512, PS256, PS384, PS512, ES256, "
	    "ES384, ES512; never none or HS*)");
	HAS("t.yaml:8:24: error: auth.jwt.claims_to_headers: 'Content-Length' "
	    "cannot carry a claim (a header name of letters, digits and '-' "
	    "that vibewarden does not set itself)");
}
END_TEST

START_TEST(t_features)
{
	/* As in a build without libmodsecurity (configure decides). */
	ck_assert_int_eq(config_feature_set_implemented("waf_modsecurity", 0),
	    0);
	ck_assert_ptr_null(load("tls:\n  provider: letsencrypt\n"
	    "  domain: a.example\nwaf:\n  engine: modsecurity\n"
	    "ip_filter:\n  enabled: true\n"));
	HAS("t.yaml:5:11: error: waf.engine: the modsecurity WAF engine "
	    "(this build lacks libmodsecurity: configure --with-modsecurity) "
	    "is not implemented in this build; set waf.engine: builtin");
	/* Implemented: no diagnostic about the IP filter or ACME. */
	NERR(1);
	ck_assert_ptr_null(strstr(lines, "ip_filter"));
	ck_assert_int_eq(config_feature_set_implemented("nope", 1), -1);
	ck_assert_int_eq(config_feature_set_implemented("waf_modsecurity",
	    VW_HAVE_MODSECURITY), 0);
}
END_TEST

START_TEST(t_seed_inference)
{
	struct config	*c;

	c = load(OFF "kratos:\n  public_url: http://kratos:4433\n"
	    "auth:\n  login_url: /login\n");
	ck_assert_ptr_nonnull(c);
	HAS("t.yaml:7:15: warning: auth.mode is not set; kratos.public_url "
	    "with auth.public_paths or auth.login_url means auth.mode: "
	    "kratos");
	/* Kratos sessions are implemented: the seed is authenticated. */
	ck_assert_ptr_null(strstr(lines, "not implemented"));
	ck_assert_int_eq(c->auth.mode, AUTH_KRATOS);
	ck_assert_int_eq(config_feature_on(c, "auth_kratos"), 1);
	config_free(c);
	c = load(OFF "kratos:\n  public_url: http://kratos:4433\n"
	    "auth:\n  mode: none\n  login_url: /login\n");
	ck_assert_ptr_nonnull(c);
	QUIET();
	ck_assert_int_eq(c->auth.mode, AUTH_NONE);
	config_free(c);
}
END_TEST

/* Nothing a file can hold may crash the loader or leak. */
START_TEST(t_garbage)
{
	static const char *const bits[] = { "server:", "  port: 1", "- x",
	    "{", "}", "[", "]", "&a", "*a", "!!str", "\"", "'", ":", "? x",
	    "---", "...", "  ", "\t", "${", "plugins:", "  tls:", "    x: y",
	    "%YAML 1.1", "<<: {}", "\xff\xfe", "\\u0000", "csp:", "    - a",
	    "metrics:", "  enabled: yes" };
	char		 buf[4096];
	size_t		 i, j, n;
	unsigned int	 seed = 1;
	struct config	*c;

	for (i = 0; i < 300; i++) {
		buf[0] = '\0';
		n = 1 + rand_r(&seed) % 12;
		for (j = 0; j < n; j++) {
			strcat(buf, bits[rand_r(&seed) % (sizeof(bits) /
			    sizeof(bits[0]))]);
			strcat(buf, rand_r(&seed) % 3 ? "\n" : " ");
		}
		c = load(buf);
		config_free(c);
	}
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	buf[0] = 'x';
	buf[1] = ':';
	buf[2] = ' ';
	config_free(load(buf));
	NERR(1);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_missing_files);
	tcase_add_test(tc, t_defaults);
	tcase_add_test(tc, t_sample);
	tcase_add_test(tc, t_seed000_this_build);
	tcase_add_test(tc, t_seed000);
	tcase_add_test(tc, t_seed001);
	tcase_add_test(tc, t_plugin_precedence);
	tcase_add_test(tc, t_plugin_unknown);
	tcase_add_test(tc, t_unknown_keys);
	tcase_add_test(tc, t_type_errors);
	tcase_add_test(tc, t_shape_errors);
	tcase_add_test(tc, t_yaml_errors);
	tcase_add_test(tc, t_env);
	tcase_add_test(tc, t_env_unknown);
	tcase_add_test(tc, t_key_diag);
	tcase_add_test(tc, t_dump);
	tcase_add_test(tc, t_expand);
	tcase_add_test(tc, t_durations);
	tcase_add_test(tc, t_sizes);
	tcase_add_test(tc, t_bools_ints);
	tcase_add_test(tc, t_upstream_url);
	tcase_add_test(tc, t_compat);
	tcase_add_test(tc, t_stages2_keys);
	tcase_add_test(tc, t_semantics);
	tcase_add_test(tc, t_objects);
	tcase_add_test(tc, t_features);
	tcase_add_test(tc, t_jwt_checks);
	tcase_add_test(tc, t_seed_inference);
	tcase_add_test(tc, t_garbage);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(config_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
