/*
 * preflight.c: the checks vibewarden -t makes beyond the file itself, so
 * that "-t is ok" means "start-up will not fail on this", as with nginx -t:
 * the accounts exist, the log and pidfile directories exist and can be
 * written, and every host name is an address or resolves.  Run by the
 * master (and -t) only; it reads the system and changes nothing.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "master.h"
#include "modsec.h"
#include "preflight.h"

/* The directory part of path ("." when there is none), into buf. */
static void
dir_of(const char *path, char *buf, size_t len)
{
	const char	*sl = strrchr(path, '/');

	if (sl == NULL)
		snprintf(buf, len, ".");
	else if (sl == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(sl - path), path);
}

/*
 * A file this process will create or append to: its directory must
 * exist, and the file (or, when absent, the directory) be writable.
 * NULL, or why not.
 */
static const char *
writable(const char *path, char *why, size_t len)
{
	struct stat	 st;
	char		 dir[4096];

	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &st) == -1) {
		snprintf(why, len, "directory %s: %s", dir, strerror(errno));
		return (why);
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "%s is not a directory", dir);
		return (why);
	}
	if (access(path, F_OK) == 0) {
		if (access(path, W_OK) == -1) {
			snprintf(why, len, "%s: %s", path, strerror(errno));
			return (why);
		}
	} else if (access(dir, W_OK | X_OK) == -1) {
		snprintf(why, len, "directory %s: %s", dir, strerror(errno));
		return (why);
	}
	return (NULL);
}

/*
 * host must be an IP address or a name that resolves.  Something made
 * only of digits and dots is meant as an IPv4 address, and must be one
 * (999.1.1.1 is not: the resolver would look it up as a name).
 */
static const char *
host_ok(const char *host, int port, char *why, size_t len)
{
	struct sockaddr_storage	 ss;
	struct in6_addr		 a6;
	struct in_addr		 a4;
	socklen_t		 sl;
	const char		*err;

	if (*host != '\0' && strspn(host, "0123456789.") == strlen(host)) {
		if (inet_pton(AF_INET, host, &a4) != 1) {
			snprintf(why, len, "'%s' is not an IPv4 address",
			    host);
			return (why);
		}
		return (NULL);
	}
	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			snprintf(why, len, "'%s' is not an IPv6 address",
			    host);
			return (why);
		}
		return (NULL);
	}
	if (master_resolve(host, port, &ss, &sl, &err) == -1) {
		snprintf(why, len, "'%s' does not resolve: %s", host, err);
		return (why);
	}
	return (NULL);
}

static int
accounts(const struct config *cf, struct cfg_diags *d)
{
	int	 n = 0;

	if (getpwnam(cf->server.user) == NULL) {
		config_key_diag(cf, d, "server.user", 1, "server.user: no "
		    "such user '%s'", cf->server.user);
		n++;
	}
	if (cf->server.group != NULL && *cf->server.group != '\0' &&
	    getgrnam(cf->server.group) == NULL) {
		config_key_diag(cf, d, "server.group", 1, "server.group: no "
		    "such group '%s'", cf->server.group);
		n++;
	}
	return (n);
}

static int
log_output(const struct config *cf, int daemon, struct cfg_diags *d)
{
	const char	*out = cf->log.output ? cf->log.output : "stdout";
	char		 why[4200];
	int		 console;

	console = strcmp(out, "stdout") == 0 || strcmp(out, "stderr") == 0;
	if (daemon && console)
		config_key_diag(cf, d, "log.output", 0, "log.output is %s, "
		    "but a daemon (-d) has no terminal: it logs to syslog (%s) "
		    "instead; set log.output to a file or syslog to choose",
		    out, cf->log.syslog_socket);
	/* Start-up fails when it cannot connect: so does -t. */
	if ((strcmp(out, "syslog") == 0 || (daemon && console)) &&
	    access(cf->log.syslog_socket, W_OK) == -1) {
		config_key_diag(cf, d, "log.syslog_socket", 1,
		    "log.syslog_socket %s: %s; is a syslog daemon running? "
		    "(or set log.output to a file)", cf->log.syslog_socket,
		    strerror(errno));
		return (1);
	}
	if (console || strcmp(out, "syslog") == 0)
		return (0);
	if (writable(out, why, sizeof(why)) != NULL) {
		config_key_diag(cf, d, "log.output", 1, "log.output %s cannot "
		    "be written: %s", out, why);
		return (1);
	}
	return (0);
}

/*
 * waf.engine: modsecurity: load the rule files once, as the workers will,
 * so that a file that does not load stops -t, a start or a reload.
 */
static int
modsec_rules(const struct config *cf, struct cfg_diags *d)
{
	struct modsec	*m;
	char		 err[1024];

	if (!cf->waf.enabled || cf->waf.engine != WAF_ENGINE_MODSECURITY ||
	    !modsec_available())
		return (0);
	if (cf->waf.modsecurity.rules.n == 0) {
		config_key_diag(cf, d, "waf.engine", 1, "waf.engine: "
		    "modsecurity needs rule files in waf.modsecurity.rules");
		return (1);
	}
	if ((m = modsec_new(&cf->waf.modsecurity.rules, err,
	    sizeof(err))) == NULL) {
		config_key_diag(cf, d, "waf.modsecurity.rules", 1,
		    "waf.modsecurity.rules: %s", err);
		return (1);
	}
	modsec_free(m);
	return (0);
}

int
preflight(const struct config *cf, const char *pidfile, int daemon,
    struct cfg_diags *d)
{
	char	 why[4200];
	int	 n;

	n = accounts(cf, d);
	n += modsec_rules(cf, d);
	n += log_output(cf, daemon, d);
	if (host_ok(cf->server.host, cf->server.port, why,
	    sizeof(why)) != NULL) {
		config_key_diag(cf, d, "server.host", 1, "server.host: %s",
		    why);
		n++;
	}
	if (host_ok(cf->upstream.host, cf->upstream.port, why,
	    sizeof(why)) != NULL) {
		config_key_diag(cf, d, cf->upstream.url != NULL ?
		    "upstream.url" : "upstream.host", 1, "upstream.host: %s",
		    why);
		n++;
	}
	if (pidfile != NULL && writable(pidfile, why, sizeof(why)) != NULL) {
		/* Not a key: -p or the -d default. */
		config_key_diag(cf, d, "", 1, "pidfile %s cannot be written: "
		    "%s", pidfile, why);
		n++;
	}
	return (n);
}
