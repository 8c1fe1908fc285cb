/*
 * main.c: vibewarden's command line (SPEC.md 1).  Loads and validates the
 * configuration, then hands over to the master.  Exit status: 0 clean
 * stop, 1 configuration error, 2 start-up failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "vw_autoconf.h"
#include "config.h"
#include "master.h"
#include "tls.h"
#include "util.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR	"/run"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vibewarden [-dtVh] [-c file] [-p pidfile]\n"
	    "  -c file     configuration (default %s)\n"
	    "  -t          check the configuration and exit\n"
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

static void
versions(void)
{
	printf("vibewarden %s\n", PACKAGE_VERSION);
	printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  libyaml %s\n", yaml_get_version_string());
	printf("  jansson %s\n", jansson_version_str());
}

int
main(int argc, char *argv[])
{
	struct master_opts	 mo = { NULL, 0, NULL, NULL };
	struct cfg_diags	 d = { 0 };
	struct config		*cf;
	char			 err[512];
	int			 ch, rc, test = 0;

	util_proctitle_init(argc, argv);
	while ((ch = getopt(argc, argv, "c:dhp:tV")) != -1) {
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
	cf = config_load(mo.mo_cfpath, NULL, &d);
	config_diags_print(&d, stderr);
	config_diags_free(&d);
	if (cf == NULL) {
		if (test)
			fprintf(stderr, "vibewarden: configuration %s is "
			    "invalid\n", mo.mo_cfpath ? mo.mo_cfpath :
			    config_default_path());
		return (1);
	}
	if (test && tls_check(cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "vibewarden: %s\n", err);
		fprintf(stderr, "vibewarden: configuration %s is invalid\n",
		    mo.mo_cfpath ? mo.mo_cfpath : config_default_path());
		config_free(cf);
		return (1);
	}
	if (test) {
		fprintf(stderr, "vibewarden: configuration %s is ok\n",
		    mo.mo_cfpath ? mo.mo_cfpath : config_default_path());
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
	if (mo.mo_daemonize && mo.mo_pidfile == NULL &&
	    (mo.mo_pidfile = strdup(RUNSTATEDIR "/vibewarden.pid")) == NULL)
		return (2);
	rc = master_main(cf, &mo);
	free((char *)mo.mo_cfpath);
	free((char *)mo.mo_pidfile);
	freeargv(mo.mo_argv);
	return (rc);
}
