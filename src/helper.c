/*
 * helper.c: the kinds of helper processes, and what every helper does
 * between fork and its kind's main: signals, log, process title, the
 * counter slot (see helper.h).  Master and helpers only.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "admin.h"
#include "auth.h"
#include "counters.h"
#include "health.h"
#include "helper.h"
#include "log.h"
#include "util.h"

static volatile sig_atomic_t	 got_stop, got_usr1;
static int			 my_slot = -1;

/*
 * For the integration tests only: with VW_TEST_HELPER set in the master's
 * environment, a helper that does nothing but wait is started, so that
 * the supervision of helpers (respawn, reload, stop) is tested apart
 * from what any real helper does.
 */
static int
test_wanted(const struct config *cf)
{
	(void)cf;
	return (getenv("VW_TEST_HELPER") != NULL);
}

static void
test_main(const struct config *cf)
{
	if (helper_drop_privileges(cf) == -1)
		return;
	while (!helper_stopping())
		helper_sleep(1000);
}

const struct helper_kind	 helper_kinds[] = {
	{ "testjob", test_wanted, test_main },
	{ "admin", admin_wanted, admin_main },
	{ "health", health_wanted, health_main },
	{ "jwks", jwks_job_wanted, jwks_job_main },
	{ "acme", acme_wanted, acme_main },
	{ NULL, NULL, NULL }
};

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_stop = 1;
}

int
helper_stopping(void)
{
	return (got_stop);
}

int
helper_slot(void)
{
	return (my_slot);
}

void
helper_sleep(uint64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	/* A signal ends the sleep early (EINTR); the caller looks. */
	if (!got_stop)
		nanosleep(&ts, NULL);
	if (got_usr1) {
		got_usr1 = 0;
		log_reopen();
	}
}

int
helper_drop_privileges(const struct config *cf)
{
	char	 why[160];

	if (util_drop_privileges(cf->server.user, cf->server.group, why,
	    sizeof(why)) == -1) {
		log_sys(LOG_LVL_ERROR, "helper.start_failed", "%s", why);
		return (-1);
	}
	return (0);
}

void
helper_run(const struct helper_kind *hk, const struct config *cf, int slot)
{
	struct sigaction	 sa;
	sigset_t		 none;

	/* The master's death must not leave helpers behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	util_setproctitle(hk->hk_name);
	my_slot = slot;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_signal;	/* no SA_RESTART: sleeps end early */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	log_open(cf, 0);
	hk->hk_main(cf);
	log_flush();
	_exit(got_stop ? 0 : 2);
}
