/*
 * master.c: the master process.  Binds the listening socket, forks
 * server.workers workers that all accept on it, replaces dead ones (with
 * back-off for a crash loop), and handles signals: HUP reload (a new
 * worker generation; the old one drains), TERM/INT graceful stop, QUIT
 * fast stop, USR1 log reopen.  Signals are taken synchronously with
 * sigtimedwait(), so no handler races with the child table.  The master
 * keeps root (to bind and read keys on reload) and never reads a client
 * byte.
 *
 * A reload must never take the service down: the new generation is
 * "pending" until every one of its workers has reported ready on the
 * readiness pipe, once it has dropped privileges, set up its loop and
 * added the listener (worker.h).  Only then is the old generation told
 * to drain.  A pending worker that dies, or a generation not ready within
 * GEN_READY_MS, is torn down and the old one keeps serving, with
 * config.reload_failed naming the cause.  A binary upgrade's new master
 * reports ready to this one (a signal: same user) once its first
 * generation is.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vw_autoconf.h"
#include "certpage.h"
#include "counters.h"
#include "helper.h"
#include "log.h"
#include "master.h"
#include "kratos.h"
#include "preflight.h"
#include "shmkeep.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define MAXCHILD	512
#define QUICK_DEATH_MS	5000	/* a worker dying sooner counts as a crash */
#define BACKOFF_MAX_MS	30000
#define GEN_READY_MS	5000	/* a new generation must be ready by then */
#define UPGRADE_READY_MS (GEN_READY_MS + 5000)	/* its start-up, then that */

struct child {
	pid_t		 ch_pid;	/* 0: free entry */
	uint32_t	 ch_gen;
	int		 ch_idx;	/* worker number within its generation;
					   from g_n on, helper g_hk[idx - g_n] */
	int		 ch_slot;	/* counters slot */
	uint64_t	 ch_started;
	int		 ch_draining;
	int		 ch_ready;	/* reported ready */
};

/* A worker of the current generation waiting to be started again. */
struct respawn {
	int		 rs_active;
	uint64_t	 rs_at;
	int		 rs_fails;	/* consecutive quick deaths */
};

/*
 * A generation: one configuration with its workers.  cur serves; pend is
 * the reload's generation while it starts (pend.g_id == 0: none).
 */
struct gen {
	uint32_t	 g_id;
	struct config	*g_conf;
	int		 g_lfd;		/* may be cur's */
	int		 g_rfd;		/* server.http_redirect_port; may be
					   cur's; -1: none */
	int		 g_rport;
	struct tls_cert	*g_cert;	/* TLS material its workers get */
	X509_STORE	*g_ca;		/* upstream.tls.ca_file */
	struct sockaddr_storage g_up;	/* upstream address */
	socklen_t	 g_uplen;
	struct kratos_target g_kratos;	/* kratos.public_url, resolved */
	struct respawn	*g_rs;		/* one per worker, then per helper */
	int		 g_n;		/* workers */
	const struct helper_kind *g_hk[HELPER_MAX];	/* helper.h */
	int		 g_nh;		/* helpers */
	int		 g_nready;
	uint64_t	 g_deadline;	/* pend: must be ready by then */
	char		 g_cause[256];	/* pend: first failure */
};

static struct child	 children[MAXCHILD];
static struct gen	 cur, pend;
static uint32_t		 gen_last;
static char		*lhost;
static int		 lport;
static uid_t		 run_uid = (uid_t)-1;	/* server.user, when root */
static gid_t		 run_gid = (gid_t)-1;
static char		 self_exe[PATH_MAX];	/* for SIGUSR2 */
static pid_t		 upgrade_pid;	/* new master started by SIGUSR2 */
static int		 upgrade_ready;	/* ... and it reported ready */
static uint64_t		 upgrade_deadline;
static int		 quit_deferred;	/* QUIT came before upgrade_ready */
static pid_t		 upgrade_parent; /* we are that new master: tell it */
static int		 early_hup, early_usr2; /* came before the first
					   generation served: run after */
static const char	*pidfile_main;	/* -p, as given */
static char		*pidfile_cur;	/* ours: -p, or -p.oldbin after
					   an upgrade */
static int		 pidfd = -1;	/* locked while we run */
static int		 startfd = -1;	/* -d: the launcher waits on it */
static int		 readyfd[2] = { -1, -1 };	/* workers -> us */

int
master_resolve(const char *host, int port, struct sockaddr_storage *ss,
    socklen_t *len, const char **errstr)
{
	struct addrinfo	 hints, *res;
	char		 pbuf[16];
	int		 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	if ((rc = getaddrinfo(host, pbuf, &hints, &res)) != 0) {
		*errstr = gai_strerror(rc);
		return (-1);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return (0);
}

static int
bind_listener(const char *host, int port, const char **errstr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, one = 1;

	if (master_resolve(host, port, &ss, &len, errstr) == -1)
		return (-1);
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 4096) == -1) {
		close(fd);
		goto fail;
	}
	return (fd);
 fail:
	*errstr = strerror(errno);
	return (-1);
}

/* Same family, address and port. */
static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;

	if (a->ss_family != b->ss_family)
		return (0);
	if (a->ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return (a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr);
	}
	if (a->ss_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)a;
		b6 = (const struct sockaddr_in6 *)b;
		return (a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0);
	}
	return (0);
}

/*
 * SIGUSR2 hands the listening socket to the new executable in
 * VIBEWARDEN_LISTEN_FD.  It is adopted only if it is a listening socket
 * on the configured address; otherwise it is closed and the new master
 * binds as usual.  Returns the fd or -1.
 */
static int
inherited_listener(const char *env, const char *host, int port)
{
	struct sockaddr_storage	 want, have;
	socklen_t		 wl, hl = sizeof(have), al;
	const char		*s, *err;
	char			*end;
	long			 fd;
	int			 acc = 0;

	if ((s = getenv(env)) == NULL)
		return (-1);
	fd = strtol(s, &end, 10);
	unsetenv(env);
	if (*s == '\0' || *end != '\0' || fd <= STDERR_FILENO || fd > INT_MAX)
		return (-1);
	al = sizeof(acc);
	if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1 ||
	    !acc ||
	    master_resolve(host, port, &want, &wl, &err) == -1 ||
	    getsockname((int)fd, (struct sockaddr *)&have, &hl) == -1 ||
	    !same_addr(&have, &want)) {
		close((int)fd);
		return (-1);
	}
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	util_nonblock((int)fd);
	return ((int)fd);
}

/*
 * SIGUSR2 (SPEC.md 3): start the executable on disk as a new master on
 * the same listening socket, like nginx.  Both serve until the operator
 * sends this (old) master QUIT, which drains it.  Our pidfile becomes
 * PIDFILE.oldbin first, so the new master can write PIDFILE.
 */
static void	 upgrade_failed(int);

static void
upgrade(char *const argv[])
{
	char		 buf[16], *old = NULL;
	sigset_t	 none;
	pid_t		 pid;

	if (upgrade_pid != 0 || self_exe[0] == '\0' || argv == NULL) {
		log_sys(LOG_LVL_WARN, "proxy.upgrade_failed",
		    "binary upgrade already running or not possible");
		return;
	}
	if (pidfile_cur != NULL) {
		if (asprintf(&old, "%s.oldbin", pidfile_main) == -1) {
			log_sys(LOG_LVL_ERROR, "proxy.upgrade_failed",
			    "out of memory; still serving");
			return;
		}
		if (rename(pidfile_cur, old) == -1) {
			log_sys(LOG_LVL_ERROR, "proxy.upgrade_failed",
			    "pidfile %s: rename to %s: %s; still serving",
			    pidfile_cur, old, strerror(errno));
			free(old);
			return;
		}
		free(pidfile_cur);
		pidfile_cur = old;
	}
	if ((pid = fork()) == -1) {
		upgrade_failed(-1);
		return;
	}
	if (pid == 0) {
		snprintf(buf, sizeof(buf), "%d", cur.g_lfd);
		fcntl(cur.g_lfd, F_SETFD, 0);
		setenv("VIBEWARDEN_LISTEN_FD", buf, 1);
		if (cur.g_rfd != -1) {
			snprintf(buf, sizeof(buf), "%d", cur.g_rfd);
			fcntl(cur.g_rfd, F_SETFD, 0);
			setenv("VIBEWARDEN_REDIRECT_FD", buf, 1);
		}
		if (tls_tickets_fd() != -1) {
			snprintf(buf, sizeof(buf), "%d", tls_tickets_fd());
			fcntl(tls_tickets_fd(), F_SETFD, 0);
			setenv("VIBEWARDEN_TICKET_FD", buf, 1);
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(self_exe, argv);
		_exit(127);
	}
	upgrade_pid = pid;
	upgrade_ready = 0;
	upgrade_deadline = util_now_update() + UPGRADE_READY_MS;
	log_sys(LOG_LVL_INFO, "proxy.upgrade_started",
	    "started %s as pid %d on the inherited listener; once it is "
	    "ready, send QUIT to pid %d to drain this one", self_exe, (int)pid,
	    (int)getpid());
}

/*
 * The new master could not start (st -1: fork failed) or died: keep
 * serving, and take the pidfile back.
 */
static void
upgrade_failed(int st)
{
	upgrade_pid = 0;
	upgrade_ready = 0;
	if (quit_deferred)
		log_sys(LOG_LVL_WARN, "proxy.quit_ignored", "the QUIT sent "
		    "during the upgrade is ignored: the new master failed");
	quit_deferred = 0;
	if (st == -1)
		log_sys(LOG_LVL_ERROR, "proxy.upgrade_failed",
		    "fork: %s; still serving", strerror(errno));
	else if (st == -2)
		log_sys(LOG_LVL_ERROR, "proxy.upgrade_failed",
		    "new master not ready within %d ms, killed; still serving",
		    UPGRADE_READY_MS);
	else
		log_sys(LOG_LVL_ERROR, "proxy.upgrade_failed",
		    "new master %s %d; still serving", WIFSIGNALED(st) ?
		    "killed by signal" : "exited with", WIFSIGNALED(st) ?
		    WTERMSIG(st) : WEXITSTATUS(st));
	if (pidfile_cur != NULL && pidfile_main != NULL &&
	    rename(pidfile_cur, pidfile_main) == 0) {
		free(pidfile_cur);
		pidfile_cur = strdup(pidfile_main);
	}
}

static int
slot_alloc(void)
{
	int	 i;

	for (i = 1; i < CTR_SLOTS; i++)
		if (counters_base[i].c_pid == 0)
			return (i);
	return (-1);
}

static struct child *
child_find(pid_t pid)
{
	int	 i;

	for (i = 0; i < MAXCHILD; i++)
		if (children[i].ch_pid == pid)
			return (&children[i]);
	return (NULL);
}

/*
 * In a helper child: helpers never serve the proxy, so they get none of
 * its listeners, no TLS private key and no session-ticket keys.  The
 * admin process parses HTTP from anyone who reaches admin.listen; a hole
 * there must not hand out the proxy's port or its keys.
 */
static void
helper_shed(struct gen *g)
{
	struct gen	*gs[3] = { g, &cur, &pend };
	int		 i;

	for (i = 0; i < 3; i++) {
		tls_cert_forget_key(gs[i]->g_cert);
		/* Above 2: a generation not set up yet holds zeros. */
		if (gs[i]->g_lfd > 2)
			close(gs[i]->g_lfd);
		if (gs[i]->g_rfd > 2)
			close(gs[i]->g_rfd);
		gs[i]->g_lfd = gs[i]->g_rfd = -1;
	}
	tls_tickets_forget();
}

/* "worker 3" or "helper admin": child idx of g, for log lines. */
static const char *
child_what(const struct gen *g, int idx, char *buf, size_t len)
{
	if (idx >= g->g_n && g->g_hk[idx - g->g_n] != NULL)
		snprintf(buf, len, "helper %s", g->g_hk[idx - g->g_n]->hk_name);
	else
		snprintf(buf, len, "worker %d", idx);
	return (buf);
}

/* Start worker (or helper) idx of g; 0, or -1 with the reason logged. */
static int
spawn(struct gen *g, int idx)
{
	struct child	*ch;
	pid_t		 pid;
	int		 slot;

	if ((ch = child_find(0)) == NULL || (slot = slot_alloc()) == -1) {
		/* Draining generations hold the slots. */
		log_sys(LOG_LVL_ERROR, "worker.spawn_failed",
		    "too many processes");
		return (-1);
	}
	counters_base[slot].c_pid = -1;		/* reserved */
	worker_parent = getpid();
	if ((pid = fork()) == -1) {
		counters_base[slot].c_pid = 0;
		log_sys(LOG_LVL_ERROR, "worker.spawn_failed", "fork: %s",
		    strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		/* The pidfile lock is the master's alone. */
		if (pidfd != -1)
			close(pidfd);
		close(readyfd[0]);
		if (idx >= g->g_n) {
			close(readyfd[1]);
			helper_shed(g);
			counters_claim(&counters_base[slot], getpid(),
			    g->g_id);
			helper_run(g->g_hk[idx - g->g_n], g->g_conf, slot);
		}
		worker_readyfd = readyfd[1];
		/* The signal mask stays blocked until worker_main() has its
		   handlers: a TERM right after fork must drain, not kill. */
		counters_claim(&counters_base[slot], getpid(), g->g_id);
		/* This generation's TLS material, in the child's memory. */
		tls_cert_set(g->g_cert);
		tls_ca_set(g->g_ca);
		worker_redirect_fd = g->g_rfd;
		kratos_target_set(&g->g_kratos);
		worker_main(g->g_conf, g->g_lfd, slot,
		    (struct sockaddr *)&g->g_up, g->g_uplen);
		/* NOTREACHED */
	}
	ch->ch_pid = pid;
	ch->ch_gen = g->g_id;
	ch->ch_idx = idx;
	ch->ch_slot = slot;
	ch->ch_started = util_now_update();
	ch->ch_draining = 0;
	ch->ch_ready = 0;
	counters_base[slot].c_pid = pid;
	return (0);
}

/* Start g's workers as the pending generation; 0 or -1. */
static int
start_generation(struct gen *g)
{
	int	 i;

	g->g_n = g->g_conf->server.workers > 0 ? g->g_conf->server.workers :
	    util_ncpu();
	if ((g->g_rs = calloc(g->g_n + HELPER_MAX, sizeof(*g->g_rs))) ==
	    NULL)
		return (-1);
	g->g_id = ++gen_last;
	g->g_nready = 0;
	g->g_cause[0] = '\0';
	g->g_deadline = util_now_update() + GEN_READY_MS;
	for (i = 0; i < g->g_n; i++)
		if (spawn(g, i) == -1) {
			snprintf(g->g_cause, sizeof(g->g_cause), "worker %d "
			    "could not be started", i);
			return (-1);
		}
	return (0);
}

/* Signal generation id's children (0: every child); TERM drains. */
static void
signal_gen(int sig, uint32_t id)
{
	int	 i;

	for (i = 0; i < MAXCHILD; i++) {
		if (children[i].ch_pid == 0)
			continue;
		if (id != 0 && children[i].ch_gen != id)
			continue;
		if (sig == SIGTERM || sig == SIGKILL)
			children[i].ch_draining = 1;
		kill(children[i].ch_pid, sig);
	}
}

static int
nchildren(void)
{
	int	 i, n = 0;

	for (i = 0; i < MAXCHILD; i++)
		if (children[i].ch_pid != 0)
			n++;
	return (n);
}

static void
gen_free(struct gen *g, const struct gen *keep)
{
	if (g->g_lfd != -1 && g->g_lfd != keep->g_lfd)
		close(g->g_lfd);
	if (g->g_rfd != -1 && g->g_rfd != keep->g_rfd)
		close(g->g_rfd);
	if (g->g_cert != keep->g_cert)
		tls_cert_free(g->g_cert);
	if (g->g_ca != keep->g_ca)
		X509_STORE_free(g->g_ca);
	config_free(g->g_conf);
	free(g->g_rs);
	memset(g, 0, sizeof(*g));
	g->g_lfd = g->g_rfd = -1;
}

/*
 * The certificate of cf, loaded (or made) now, as root, before any
 * worker of its generation forks, into g.  0, or -1 with a tls.* event.
 */
static int
load_cert(const struct config *cf, struct gen *g)
{
	char	 err[512];

	if (cf->upstream.tls && cf->upstream.tls_insecure)
		log_sys(LOG_LVL_WARN, "tls.upstream_verify_disabled",
		    "upstream.tls.insecure_skip_verify is on: the upstream's "
		    "certificate is not checked");
	if ((g->g_ca = tls_ca_load(cf, err, sizeof(err))) == NULL &&
	    err[0] != '\0') {
		log_sys(LOG_LVL_ERROR, "tls.ca_file_failed", "%s", err);
		return (-1);
	}
	if (!cf->tls.enabled)
		return (0);
	/* Before the generation forks: the ACME helper's hand-over to its
	   workers (certpage.h); made once, kept by later generations. */
	if (cf->tls.provider == TLS_PROV_LETSENCRYPT &&
	    certpage_init() == -1) {
		log_sys(LOG_LVL_ERROR, "tls.certificate_failed", "ACME "
		    "certificate page: %s", strerror(errno));
		return (-1);
	}
	if ((g->g_cert = tls_cert_load(cf, 1, err, sizeof(err))) == NULL) {
		log_sys(LOG_LVL_ERROR, "tls.certificate_failed", "%s", err);
		return (-1);
	}
	return (0);
}

/*
 * The redirect listener of cf into g: cur's when the address is the
 * same, else a new socket (-1: none configured).  0 or -1 with *errstr.
 */
static int
redirect_listener(const struct config *cf, struct gen *g,
    const char **errstr)
{
	g->g_rport = cf->server.http_redirect_port;
	g->g_rfd = -1;
	if (g->g_rport == 0)
		return (0);
	if (cur.g_id != 0 && g->g_rport == cur.g_rport &&
	    strcmp(cf->server.host, lhost) == 0) {
		g->g_rfd = cur.g_rfd;
		return (0);
	}
	g->g_rfd = bind_listener(cf->server.host, g->g_rport, errstr);
	return (g->g_rfd == -1 ? -1 : 0);
}

/* Look up server.user and server.group for the log file's owner. */
static void
run_ids(const struct config *cf)
{
	struct passwd	*pw;
	struct group	*gr;

	if (geteuid() != 0 || (pw = getpwnam(cf->server.user)) == NULL)
		return;
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	if (cf->server.group != NULL && *cf->server.group != '\0' &&
	    (gr = getgrnam(cf->server.group)) != NULL)
		run_gid = gr->gr_gid;
	log_set_owner(run_uid, run_gid);
}

/*
 * Start-up is over: the -d launcher may exit 0 (a NUL byte ends what it
 * copies from our stderr), and the master that started us for a binary
 * upgrade may let its workers go.
 */
static void
startup_done(void)
{
	int	 fd;

	if (startfd != -1) {
		/* A failed write: the launcher is gone, nobody to tell. */
		(void)!write(startfd, "", 1);
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		startfd = -1;
	}
	if (upgrade_parent > 1 && getppid() == upgrade_parent)
		kill(upgrade_parent, WORKER_SIG_READY);
}

/*
 * Start the helpers that g's configuration wants (helper.h).  One that
 * cannot be forked now is retried like a dead one.
 */
static void
start_helpers(struct gen *g)
{
	const struct helper_kind	*hk;
	struct respawn			*rs;
	int				 i;

	g->g_nh = 0;
	for (hk = helper_kinds; hk->hk_name != NULL && g->g_nh < HELPER_MAX;
	    hk++)
		if (hk->hk_wanted(g->g_conf))
			g->g_hk[g->g_nh++] = hk;
	for (i = 0; i < g->g_nh; i++)
		if (spawn(g, g->g_n + i) == -1) {
			rs = &g->g_rs[g->g_n + i];
			rs->rs_active = 1;
			rs->rs_at = util_now_update() + 1000;
		}
}

/* Every worker of pend is ready: it serves, the old generation drains. */
static void
pend_commit(void)
{
	int	 first = cur.g_id == 0;

	if (!first)
		signal_gen(SIGTERM, cur.g_id);
	free(lhost);
	lhost = strdup(pend.g_conf->server.host);
	lport = pend.g_conf->server.port;
	gen_free(&cur, &pend);
	cur = pend;
	memset(&pend, 0, sizeof(pend));
	pend.g_lfd = pend.g_rfd = -1;
	tls_cert_set(cur.g_cert);	/* what the expiry checks watch */
	tls_ca_set(cur.g_ca);
	run_ids(cur.g_conf);
	start_helpers(&cur);
	if (first) {
		log_sys(LOG_LVL_INFO, "proxy.started", "vibewarden %s "
		    "listening on %s:%d, upstream %s:%d, %d workers ready",
		    PACKAGE_VERSION, cur.g_conf->server.host,
		    cur.g_conf->server.port, cur.g_conf->upstream.host,
		    cur.g_conf->upstream.port, cur.g_n);
		startup_done();
		return;
	}
	if (log_open(cur.g_conf, 0) == -1)
		log_sys(LOG_LVL_ERROR, "log.reopen_failed", "log.output %s: "
		    "%s; still logging to the previous output",
		    cur.g_conf->log.output, strerror(errno));
	log_sys(LOG_LVL_INFO, "config.reloaded", "configuration reloaded; "
	    "generation %u with %d workers ready", cur.g_id, cur.g_n);
}

/*
 * The pending generation failed (cause says why): tear it down and keep
 * the old one.  At start-up there is no old one: 1 means "give up".
 */
static int
pend_fail(const char *cause)
{
	int	 startup = cur.g_id == 0;

	if (pend.g_cause[0] == '\0')
		snprintf(pend.g_cause, sizeof(pend.g_cause), "%s", cause);
	signal_gen(SIGTERM, pend.g_id);
	if (startup) {
		log_sys(LOG_LVL_ERROR, "proxy.start_failed", "%s",
		    pend.g_cause);
		fprintf(stderr, "vibewarden: start-up failed: %s\n",
		    pend.g_cause);
	} else
		log_sys(LOG_LVL_ERROR, "config.reload_failed", "new "
		    "generation %u: %s; still serving the previous "
		    "configuration (generation %u)", pend.g_id, pend.g_cause,
		    cur.g_id);
	gen_free(&pend, &cur);
	return (startup);
}

/* The upgrade's new master kill()ed us with WORKER_SIG_READY. */
static void
upgrade_is_ready(int *quit)
{
	upgrade_ready = 1;
	log_sys(LOG_LVL_INFO, "proxy.upgrade_ready", "new master %d is "
	    "serving; send QUIT to pid %d to drain this one",
	    (int)upgrade_pid, (int)getpid());
	if (quit_deferred)
		*quit = 1;
	quit_deferred = 0;
}

/*
 * Read the pids of workers that are ready.  Called on every loop turn,
 * not only on WORKER_SIG_READY: a lost signal (a full real-time queue)
 * must not fail a generation that is ready.
 */
static void
drain_ready(void)
{
	struct worker_report	 wr[16], *r;
	struct child		*ch;
	ssize_t			 n, i;

	while ((n = read(readyfd[0], wr, sizeof(wr))) > 0)
		for (i = 0; i < n / (ssize_t)sizeof(wr[0]); i++) {
			r = &wr[i];
			if (r->wr_pid <= 0 || (ch = child_find(r->wr_pid)) ==
			    NULL || ch->ch_ready)
				continue;
			if (!r->wr_ok) {
				/* Its exit fails the generation (reap); this
				   says why, first cause first. */
				r->wr_why[sizeof(r->wr_why) - 1] = '\0';
				if (pend.g_id != 0 && ch->ch_gen == pend.g_id &&
				    pend.g_cause[0] == '\0')
					snprintf(pend.g_cause,
					    sizeof(pend.g_cause), "worker %d "
					    "(pid %d) could not start: %s",
					    ch->ch_idx, (int)r->wr_pid,
					    r->wr_why);
				continue;
			}
			ch->ch_ready = 1;
			if (pend.g_id != 0 && ch->ch_gen == pend.g_id &&
			    ++pend.g_nready == pend.g_n)
				pend_commit();
		}
}

/* The readiness pipe: workers write, the kernel wakes us (worker.h). */
static int
ready_pipe(void)
{
	if (pipe2(readyfd, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    fcntl(readyfd[0], F_SETOWN, getpid()) == -1 ||
	    fcntl(readyfd[0], F_SETSIG, WORKER_SIG_READY) == -1 ||
	    fcntl(readyfd[0], F_SETFL, O_NONBLOCK | O_ASYNC) == -1) {
		fprintf(stderr, "vibewarden: readiness pipe: %s\n",
		    strerror(errno));
		return (-1);
	}
	return (0);
}

static void
describe(char *buf, size_t len, const struct child *ch, pid_t pid, int st)
{
	snprintf(buf, len, "worker %d (pid %d) %s %d before its generation "
	    "was ready%s", ch->ch_idx, (int)pid, WIFSIGNALED(st) ?
	    "was killed by signal" :
	    "exited with status", WIFSIGNALED(st) ? WTERMSIG(st) :
	    WEXITSTATUS(st), WIFEXITED(st) && WEXITSTATUS(st) == 2 ?
	    " (see its worker.start_failed event)" : "");
}

/*
 * Reap exited children; schedule replacements for unexpected deaths of
 * the serving generation.  Returns 1 when start-up failed.
 */
static int
reap(int stopping)
{
	struct child	*ch;
	struct respawn	*rs;
	char		 why[256], what[48];
	pid_t		 pid;
	int		 st, helper;
	uint64_t	 lived, delay;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == upgrade_pid) {
			upgrade_failed(st);
			continue;
		}
		if ((ch = child_find(pid)) == NULL)
			continue;
		counters_base[ch->ch_slot].c_pid = 0;
		ch->ch_pid = 0;
		shmkeep_reaped(pid);
		if (stopping || ch->ch_draining)
			continue;
		if (pend.g_id != 0 && ch->ch_gen == pend.g_id) {
			/* No back-off for a generation that never served:
			   it fails now, the old one goes on. */
			describe(why, sizeof(why), ch, pid, st);
			if (pend_fail(why))
				return (1);
			continue;
		}
		if (ch->ch_gen != cur.g_id)
			continue;
		helper = ch->ch_idx >= cur.g_n;
		log_sys(LOG_LVL_ERROR, helper ? "helper.exited" :
		    "worker.exited", "%s (pid %d) %s %d", child_what(&cur,
		    ch->ch_idx, what, sizeof(what)), (int)pid,
		    WIFSIGNALED(st) ? "killed by signal" : "exited with",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		rs = &cur.g_rs[ch->ch_idx];
		lived = util_now_update() - ch->ch_started;
		rs->rs_fails = lived < QUICK_DEATH_MS ? rs->rs_fails + 1 : 0;
		/*
		 * SPEC.md 3: replaced within 1 s; a crash loop (three quick
		 * deaths in a row) backs off exponentially, up to 30 s.
		 */
		delay = 0;
		if (rs->rs_fails >= 3) {
			delay = 1000ULL << (rs->rs_fails - 3 > 5 ? 5 :
			    rs->rs_fails - 3);
			if (delay > BACKOFF_MAX_MS)
				delay = BACKOFF_MAX_MS;
			log_sys(LOG_LVL_ERROR, helper ? "helper.crash_loop" :
			    "worker.crash_loop", "%s died %d times in a row; "
			    "next start in %llu ms", what, rs->rs_fails,
			    (unsigned long long)delay);
		}
		rs->rs_active = 1;
		rs->rs_at = util_now_ms + delay;
		if (!helper)
			counters_base[0].c_restarts++;
	}
	return (0);
}

static uint64_t
run_respawns(void)
{
	uint64_t	 next = UINT64_MAX;
	char		 what[48];
	int		 i;

	util_now_update();
	for (i = 0; i < cur.g_n + cur.g_nh; i++) {
		if (!cur.g_rs[i].rs_active)
			continue;
		if (cur.g_rs[i].rs_at <= util_now_ms) {
			cur.g_rs[i].rs_active = 0;
			if (spawn(&cur, i) == -1) {
				cur.g_rs[i].rs_active = 1;
				cur.g_rs[i].rs_at = util_now_ms + 1000;
			} else
				log_sys(LOG_LVL_INFO, i >= cur.g_n ?
				    "helper.respawned" : "worker.respawned",
				    "%s started again", child_what(&cur, i,
				    what, sizeof(what)));
		}
		if (cur.g_rs[i].rs_active && cur.g_rs[i].rs_at < next)
			next = cur.g_rs[i].rs_at;
	}
	return (next);
}

static void
reload(const char *cfpath)
{
	struct cfg_diags	 d = { 0 };
	struct config		*ncf;
	const char		*err;
	char			 msg[1024], kerr[512];
	size_t			 off = 0, i;

	if (pend.g_id != 0)
		pend_fail("superseded by a newer SIGHUP");
	if ((ncf = config_load(cfpath, NULL, &d)) != NULL &&
	    preflight(ncf, NULL, 0, &d) > 0) {
		config_free(ncf);
		ncf = NULL;
	}
	if (ncf == NULL) {
		for (i = 0; i < d.n; i++)
			if (d.v[i].d_error)
				util_append(msg, sizeof(msg), &off,
				    "%s%s:%d:%d: %s", off ? "; " : "",
				    d.v[i].d_file ? d.v[i].d_file : "",
				    d.v[i].d_line, d.v[i].d_col,
				    d.v[i].d_msg);
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "%s; still serving the previous configuration",
		    off ? msg : "invalid configuration");
		config_diags_free(&d);
		return;
	}
	config_diags_free(&d);
	pend.g_conf = ncf;
	pend.g_lfd = cur.g_lfd;
	/* New certificate files are read here (SPEC.md 3, 10). */
	if (load_cert(ncf, &pend) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "TLS certificate or CA file unusable; still serving the "
		    "previous configuration");
		gen_free(&pend, &cur);
		return;
	}
	if (master_resolve(ncf->upstream.host, ncf->upstream.port,
	    &pend.g_up, &pend.g_uplen, &err) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "upstream %s: %s; still serving the previous "
		    "configuration", ncf->upstream.host, err);
		gen_free(&pend, &cur);
		return;
	}
	if (kratos_resolve(ncf, &pend.g_kratos, kerr, sizeof(kerr)) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "%s; still serving the previous configuration", kerr);
		gen_free(&pend, &cur);
		return;
	}
	if ((strcmp(ncf->server.host, lhost) != 0 ||
	    ncf->server.port != lport) &&
	    (pend.g_lfd = bind_listener(ncf->server.host, ncf->server.port,
	    &err)) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "listen %s:%d: %s; still serving the previous "
		    "configuration", ncf->server.host, ncf->server.port, err);
		gen_free(&pend, &cur);
		return;
	}
	if (redirect_listener(ncf, &pend, &err) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "listen %s:%d (server.http_redirect_port): %s; still "
		    "serving the previous configuration", ncf->server.host,
		    ncf->server.http_redirect_port, err);
		gen_free(&pend, &cur);
		return;
	}
	if (shmkeep_open(ncf, &err) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed", "%s; still "
		    "serving the previous configuration", err);
		gen_free(&pend, &cur);
		return;
	}
	log_sys(LOG_LVL_INFO, "config.reload_started", "starting generation "
	    "%u; generation %u serves until every new worker is ready",
	    gen_last + 1, cur.g_id);
	if (start_generation(&pend) == -1)
		pend_fail(pend.g_cause[0] ? pend.g_cause : "out of memory");
}

/*
 * Lock path and keep it open: a second master given the same -p must not
 * take over (and later delete) the first one's pidfile.  0, or -1 with a
 * message on stderr.
 */
static int
pidfile_lock(const char *path)
{
	char	 buf[32];
	ssize_t	 n;

	if ((pidfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		fprintf(stderr, "vibewarden: pidfile %s: %s\n", path,
		    strerror(errno));
		return (-1);
	}
	if (flock(pidfd, LOCK_EX | LOCK_NB) == 0)
		return (0);
	n = errno == EWOULDBLOCK ? pread(pidfd, buf, sizeof(buf) - 1, 0) : -1;
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (n >= 0)
		fprintf(stderr, "vibewarden: pidfile %s is locked by a running "
		    "vibewarden (pid %s); not starting a second one\n", path,
		    *buf ? buf : "?");
	else
		fprintf(stderr, "vibewarden: pidfile %s: flock: %s\n", path,
		    strerror(errno));
	close(pidfd);
	pidfd = -1;
	return (-1);
}

static int
pidfile_write(void)
{
	char	 buf[32];
	int	 len;

	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(pidfd, 0) == -1 || pwrite(pidfd, buf, len, 0) != len)
		return (-1);
	return (0);
}

/*
 * The launcher (the process the operator started) copies the daemon's
 * stderr until a NUL byte, which says "serving" (exit 0), or EOF, which
 * says the daemon gave up (exit 2): `vibewarden -d` fails like a
 * foreground start would, with the same messages.
 */
static void __attribute__((noreturn))
launcher(int fd)
{
	char	 buf[512];
	ssize_t	 n, i;

	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(2);
		for (i = 0; i < n && buf[i] != '\0'; i++)
			;
		(void)!write(STDERR_FILENO, buf, i);	/* nowhere to say so */
		if (i < n)
			_exit(0);
	}
}

static int
daemonize(void)
{
	pid_t	 pid;
	int	 fd, p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return (-1);
	if (pid > 0) {
		close(p[1]);
		launcher(p[0]);
	}
	close(p[0]);
	if (setsid() == -1)
		return (-1);
	if ((pid = fork()) == -1)
		return (-1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return (-1);
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return (-1);
	/* stdout is never a log in -d (syslog instead, see log_open). */
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(p[1], STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	close(p[1]);
	startfd = STDERR_FILENO;
	return (0);
}

/* Wait for every child, then SIGKILL stragglers after grace_ms. */
static void
wait_children(uint64_t grace_ms)
{
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };
	uint64_t	 deadline = util_now_update() + grace_ms;
	int		 killed = 0;

	while (nchildren() > 0) {
		reap(1);
		if (nchildren() == 0)
			break;
		if (!killed && util_now_update() >= deadline) {
			signal_gen(SIGKILL, 0);
			killed = 1;
		}
		nanosleep(&ts, NULL);
	}
}

static int
is_console(const char *out)
{
	return (out == NULL || strcmp(out, "stdout") == 0 ||
	    strcmp(out, "stderr") == 0);
}

/* Everything before the first generation; 0, or the exit status. */
static int
setup(struct config *cf, const struct master_opts *mo)
{
	const char	*err;
	char		 kerr[512];
	int		 inherited;

	inherited = getenv("VIBEWARDEN_LISTEN_FD") != NULL;
	if (mo->mo_daemonize && !inherited && is_console(cf->log.output)) {
		/* A daemon has no terminal: its lines would be lost. */
		fprintf(stderr, "vibewarden: warning: log.output is %s; with "
		    "-d, logging to syslog (%s) instead\n", cf->log.output ?
		    cf->log.output : "stdout", cf->log.syslog_socket);
		log_daemon();
	}
	run_ids(cf);
	if (log_open(cf, 0) == -1) {
		fprintf(stderr, "vibewarden: log.output %s: %s\n",
		    cf->log.output, strerror(errno));
		return (2);
	}
	if (master_resolve(cf->upstream.host, cf->upstream.port, &pend.g_up,
	    &pend.g_uplen, &err) == -1) {
		fprintf(stderr, "vibewarden: upstream %s: %s\n",
		    cf->upstream.host, err);
		return (2);
	}
	if (kratos_resolve(cf, &pend.g_kratos, kerr, sizeof(kerr)) == -1) {
		fprintf(stderr, "vibewarden: %s\n", kerr);
		return (2);
	}
	pidfile_main = mo->mo_pidfile;
	if (mo->mo_pidfile != NULL && (pidfile_lock(mo->mo_pidfile) == -1 ||
	    (pidfile_cur = strdup(mo->mo_pidfile)) == NULL))
		return (2);
	if (inherited)
		upgrade_parent = getppid();
	if (readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1) == -1)
		self_exe[0] = '\0';
	if (load_cert(cf, &pend) == -1) {
		fprintf(stderr, "vibewarden: TLS certificate or CA file "
		    "unusable (see the tls.* event)\n");
		return (2);
	}
	tls_cert_set(pend.g_cert);
	tls_ca_set(pend.g_ca);
	if (tls_tickets_init() == -1) {
		fprintf(stderr, "vibewarden: session-ticket keys: %s\n",
		    strerror(errno));
		return (2);
	}
	if ((pend.g_lfd = inherited_listener("VIBEWARDEN_LISTEN_FD",
	    cf->server.host, cf->server.port)) == -1 &&
	    (pend.g_lfd = bind_listener(cf->server.host, cf->server.port,
	    &err)) == -1) {
		fprintf(stderr, "vibewarden: listen %s:%d: %s\n",
		    cf->server.host, cf->server.port, err);
		return (2);
	}
	pend.g_rport = cf->server.http_redirect_port;
	if (pend.g_rport != 0 && (pend.g_rfd = inherited_listener(
	    "VIBEWARDEN_REDIRECT_FD", cf->server.host, pend.g_rport)) == -1 &&
	    (pend.g_rfd = bind_listener(cf->server.host, pend.g_rport,
	    &err)) == -1) {
		fprintf(stderr, "vibewarden: listen %s:%d "
		    "(server.http_redirect_port): %s\n", cf->server.host,
		    pend.g_rport, err);
		return (2);
	}
	lhost = strdup(cf->server.host);
	lport = cf->server.port;
	if (counters_create() == NULL) {
		fprintf(stderr, "vibewarden: counters: %s\n", strerror(errno));
		return (2);
	}
	if (shmkeep_open(cf, &err) == -1) {
		fprintf(stderr, "vibewarden: %s\n", err);
		return (2);
	}
	if (ready_pipe() == -1)
		return (2);
	/* A binary upgrade's new master is detached already. */
	if (mo->mo_daemonize && !inherited && daemonize() == -1) {
		fprintf(stderr, "vibewarden: daemonize: %s\n", strerror(errno));
		return (2);
	}
	/* Again in the daemon: syslog lines carry its pid. */
	if (mo->mo_daemonize && !inherited && log_open(cf, 0) == -1) {
		fprintf(stderr, "vibewarden: log.output %s: %s\n",
		    cf->log.output, strerror(errno));
		return (2);
	}
	if (mo->mo_daemonize && !inherited && is_console(cf->log.output))
		log_sys(LOG_LVL_WARN, "log.to_syslog", "log.output is %s, but "
		    "a daemon has no terminal: logging to syslog instead",
		    cf->log.output ? cf->log.output : "stdout");
	counters_base[0].c_pid = getpid();
	if (pidfd != -1 && pidfile_write() == -1) {
		fprintf(stderr, "vibewarden: pidfile %s: %s\n", mo->mo_pidfile,
		    strerror(errno));
		return (2);
	}
	return (0);
}

static void
graceful(int *stopping, uint64_t *deadline)
{
	uint64_t	 ms = cur.g_conf ? cur.g_conf->server.drain_timeout_ms :
	    0;

	if (*stopping)
		return;
	log_sys(LOG_LVL_INFO, "proxy.stopping", "graceful stop: draining "
	    "for up to %llu ms", (unsigned long long)ms);
	*stopping = 1;
	/* Closed once: gen_free() at the end must not close them again. */
	if (cur.g_lfd != -1)
		close(cur.g_lfd);
	if (cur.g_rfd != -1)
		close(cur.g_rfd);
	if (pend.g_lfd == cur.g_lfd)
		pend.g_lfd = -1;
	if (pend.g_rfd == cur.g_rfd)
		pend.g_rfd = -1;
	cur.g_lfd = cur.g_rfd = -1;
	signal_gen(SIGTERM, 0);
	*deadline = util_now_update() + ms + 2000;
}

static uint64_t
next_wakeup(int stopping, uint64_t drain_deadline)
{
	uint64_t	 next;

	if (stopping)
		return (drain_deadline);
	next = run_respawns();
	if (pend.g_id != 0 && pend.g_deadline < next)
		next = pend.g_deadline;
	if (upgrade_pid != 0 && !upgrade_ready && upgrade_deadline < next)
		next = upgrade_deadline;
	return (next);
}

/* Readiness deadlines of a pending generation and of an upgrade. */
static int
check_deadlines(void)
{
	char	 why[128];

	util_now_update();
	if (pend.g_id != 0 && util_now_ms >= pend.g_deadline) {
		snprintf(why, sizeof(why), "not ready within %d ms (%d of %d "
		    "workers ready)", GEN_READY_MS, pend.g_nready, pend.g_n);
		if (pend_fail(why))
			return (1);
	}
	if (upgrade_pid != 0 && !upgrade_ready &&
	    util_now_ms >= upgrade_deadline) {
		kill(upgrade_pid, SIGKILL);	/* its workers follow */
		upgrade_failed(-2);
	}
	return (0);
}

int
master_main(struct config *cf, const struct master_opts *mo)
{
	sigset_t	 set;
	siginfo_t	 si;
	struct timespec	 ts;
	uint64_t	 next, now, drain_deadline = 0;
	int		 sig, rc, stopping = 0, quit = 0, failed = 0;

	cur.g_lfd = pend.g_lfd = cur.g_rfd = pend.g_rfd = -1;
	pend.g_conf = cf;
	/* Blocked before the first fork: a worker may report ready or
	   die before we wait for it. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, WORKER_SIG_READY);
	sigaddset(&set, SIGIO);		/* the RT queue overflowed */
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = setup(cf, mo)) != 0) {
		gen_free(&pend, &cur);
		/* Only a pidfile we locked is ours to remove. */
		if (pidfd != -1) {
			unlink(mo->mo_pidfile);
			close(pidfd);
		}
		free(pidfile_cur);
		free(lhost);
		return (rc);
	}

	util_setproctitle("master");
	if (start_generation(&pend) == -1 && pend_fail(pend.g_cause[0] ?
	    pend.g_cause : "out of memory")) {
		failed = 1;
		wait_children(2000);
		goto out;
	}

	for (;;) {
		next = next_wakeup(stopping, drain_deadline);
		now = util_now_update();
		/* One writer: during an upgrade the new master rotates. */
		if (upgrade_pid == 0)
			tls_tickets_tick(now, (cur.g_conf ? cur.g_conf :
			    pend.g_conf)->tls.ticket_key_rotation_ms);
		if (cur.g_conf != NULL)
			tls_cert_monitor(cur.g_conf, now);
		if (next == UINT64_MAX || next > now + 1000)
			next = now + 1000;
		if (next < now)
			next = now;
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);
		shmkeep_tick();
		if (sig == WORKER_SIG_READY && si.si_code == SI_USER &&
		    upgrade_pid != 0 && si.si_pid == upgrade_pid)
			upgrade_is_ready(&quit);
		/* Before reap(): a failed worker's reason precedes its exit. */
		drain_ready();
		switch (sig) {
		case SIGCHLD:
			failed = reap(stopping);
			break;
		case SIGHUP:
			if (!stopping && cur.g_id != 0)
				reload(mo->mo_cfpath);
			else if (!stopping)
				early_hup = 1;
			break;
		case SIGUSR2:
			if (!stopping && cur.g_id != 0)
				upgrade(mo->mo_argv);
			else if (!stopping)
				early_usr2 = 1;
			break;
		case SIGQUIT:
			/* After an upgrade, QUIT drains the old master
			   (SPEC.md 3), but only once the new one serves;
			   otherwise it is the fast stop. */
			if (upgrade_pid != 0 && !upgrade_ready) {
				quit_deferred = 1;
				log_sys(LOG_LVL_WARN, "proxy.quit_deferred",
				    "QUIT: waiting for the new master %d to "
				    "be ready before draining",
				    (int)upgrade_pid);
				break;
			}
			if (upgrade_pid == 0) {
				signal_gen(SIGQUIT, 0);
				wait_children(2000);
				goto out;
			}
			quit = 1;
			break;
		case SIGTERM:
		case SIGINT:
			quit = 1;
			break;
		case SIGUSR1:
			log_reopen();
			signal_gen(SIGUSR1, 0);
			break;
		default:
			break;
		}
		/* A signal sent while the first workers were still starting
		   is not lost: it runs once they serve. */
		if (!stopping && cur.g_id != 0 && (early_hup | early_usr2)) {
			if (early_hup)
				reload(mo->mo_cfpath);
			if (early_usr2)
				upgrade(mo->mo_argv);
			early_hup = early_usr2 = 0;
		}
		if (quit)
			graceful(&stopping, &drain_deadline);
		if (!failed && !stopping)
			failed = check_deadlines();
		if (failed) {
			wait_children(2000);
			break;
		}
		if (stopping) {
			reap(1);
			if (nchildren() == 0)
				break;
			if (util_now_update() >= drain_deadline) {
				wait_children(0);
				break;
			}
		}
	}
 out:
	log_sys(LOG_LVL_INFO, "proxy.stopped", "vibewarden %s", failed ?
	    "did not start" : "stopped");
	if (pidfile_cur != NULL)
		unlink(pidfile_cur);
	free(pidfile_cur);
	if (pidfd != -1)
		close(pidfd);
	gen_free(&pend, &cur);
	gen_free(&cur, &pend);
	free(lhost);
	shmkeep_close();
	return (failed ? 2 : 0);
}
