/*
 * main.c: vibewarden's command line (SPEC.md 1).  Loads and validates the
 * configuration, checks it against the system (preflight.c: the same
 * checks for -t and for a start), then hands over to the master.  Exit
 * status: 0 clean stop, 1 configuration error, 2 start-up failure.
 */
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <lmdb.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "vw_autoconf.h"
#include "vw_paths.h"
#include "admin.h"
#include "config.h"
#include "master.h"
#include "preflight.h"
#include "tls.h"
#include "util.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR	"/run"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vibewarden [-dtTVh] [-c file] [-p pidfile]\n"
	    "  -c file     configuration (default %s)\n"
	    "  -t          check the configuration and exit\n"
	    "  -T          check, then print the effective configuration\n"
	    "  -d          run as a daemon\n"
	    "  -p pidfile  write the master's PID to pidfile\n"
	    "  -V          print versions and exit\n"
	    "  -h          this help\n", config_default_path());
}

static void
freeargv(char *const *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free((void *)v);
}

/* A NULL-terminated deep copy of argv; NULL when memory runs out. */
static char *const *
dupargv(int argc, char *argv[])
{
	char	**v;
	int	  i;

	if ((v = calloc(argc + 1, sizeof(*v))) == NULL)
		return (NULL);
	for (i = 0; i < argc; i++)
		if ((v[i] = strdup(argv[i])) == NULL) {
			freeargv(v);
			return (NULL);
		}
	return (v);
}

/* One shared object of this process: print it if it is a library we link. */
static int
linked(struct dl_phdr_info *info, size_t size, void *arg)
{
	/* The C runtime and sanitizers are the toolchain's, not ours. */
	static const char *const runtime[] = { "libc.so", "libm.so",
	    "libpthread.so", "libdl.so", "librt.so", "libgcc_s.so",
	    "libstdc++.so", "ld-linux", "linux-vdso", "libasan.so",
	    "libubsan.so", "libclang_rt" };
	const char	*name = info->dlpi_name, *base;
	size_t		 i, n;

	if (name == NULL || *name == '\0')
		return (0);		/* the executable itself */
	base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	for (i = 0; i < sizeof(runtime) / sizeof(runtime[0]); i++)
		if (strncmp(base, runtime[i], strlen(runtime[i])) == 0)
			return (0);
	n = strcspn(base, ".");
	if (strncmp(base, "libcrypto", n) == 0 ||
	    strncmp(base, "libssl", n) == 0)
		printf("  %.*s %s\n", (int)n, base,
		    OpenSSL_version(OPENSSL_VERSION));
	else if (strncmp(base, "libyaml", 7) == 0)
		printf("  libyaml %s\n", yaml_get_version_string());
	else if (strncmp(base, "libjansson", n) == 0)
		printf("  libjansson %s\n", jansson_version_str());
	else if (strncmp(base, "liblmdb", n) == 0)
		printf("  liblmdb %s\n", mdb_version(NULL, NULL, NULL));
	else if (strncmp(base, "libmicrohttpd", n) == 0)
		printf("  libmicrohttpd %s\n", admin_mhd_version());
	else if (strncmp(base, "libcurl", n) == 0)
		printf("  libcurl %s\n", admin_curl_version());
	else if (strncmp(base, "libhiredis", n) == 0)
		printf("  libhiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR,
		    HIREDIS_PATCH);
	else
		printf("  %.*s\n", (int)n, base);
	return (0);
}

/*
 * Exactly the libraries the binary links, as the dynamic linker loaded
 * them (whether libssl is among them depends on the linker's
 * --as-needed), each with the version it runs with (hiredis: the one
 * built against; it has no run-time query).  tests/integ/test_ops.py
 * compares this with ldd(1).
 */
static void
versions(void)
{
	printf("vibewarden %s\n", PACKAGE_VERSION);
	printf("linked with:\n");
	dl_iterate_phdr(linked, NULL);
}

int
main(int argc, char *argv[])
{
	struct master_opts	 mo = { NULL, 0, NULL, NULL };
	struct cfg_diags	 d = { 0 };
	struct config		*cf;
	const char		*cfpath;
	char			 err[512];
	int			 ch, rc, test = 0, dump = 0;

	util_proctitle_init(argc, argv);
	while ((ch = getopt(argc, argv, "c:dhp:tTV")) != -1) {
		switch (ch) {
		case 'c':
			mo.mo_cfpath = optarg;
			break;
		case 'd':
			mo.mo_daemonize = 1;
			break;
		case 'p':
			mo.mo_pidfile = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'T':
			test = dump = 1;
			break;
		case 'V':
			versions();
			return (0);
		case 'h':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (1);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (1);
	}
	cfpath = mo.mo_cfpath ? mo.mo_cfpath : config_default_path();
	/*
	 * -t names the file it checked, so that file must exist: reporting
	 * the built-in defaults as "FILE is ok" would mislead.  A start
	 * without the default file runs on defaults and the environment.
	 */
	cf = config_load(test ? cfpath : mo.mo_cfpath, NULL, &d);
	if (mo.mo_daemonize && mo.mo_pidfile == NULL)
		mo.mo_pidfile = RUNSTATEDIR "/vibewarden.pid";
	if (cf != NULL && preflight(cf, mo.mo_pidfile, mo.mo_daemonize,
	    &d) > 0) {
		config_free(cf);
		cf = NULL;
	}
	config_diags_print(&d, stderr);
	config_diags_free(&d);
	if (cf == NULL) {
		if (test)
			fprintf(stderr, "vibewarden: configuration %s is "
			    "invalid\n", cfpath);
		return (1);
	}
	if (test && tls_check(cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "vibewarden: %s\n", err);
		fprintf(stderr, "vibewarden: configuration %s is invalid\n",
		    cfpath);
		config_free(cf);
		return (1);
	}
	if (test) {
		fprintf(stderr, "vibewarden: configuration %s is ok\n",
		    cfpath);
		if (dump)
			config_dump(cf, stdout);
		config_free(cf);
		return (0);
	}
	/* Options are parsed: argv may now hold the process title, so keep
	   a copy for a binary upgrade (SIGUSR2) to exec with. */
	if ((mo.mo_argv = dupargv(argc, argv)) == NULL)
		return (2);
	if (mo.mo_cfpath != NULL && (mo.mo_cfpath = strdup(mo.mo_cfpath)) ==
	    NULL)
		return (2);
	if (mo.mo_pidfile != NULL && (mo.mo_pidfile = strdup(mo.mo_pidfile))
	    == NULL)
		return (2);
	rc = master_main(cf, &mo);
	free((char *)mo.mo_cfpath);
	free((char *)mo.mo_pidfile);
	freeargv(mo.mo_argv);
	return (rc);
}
