/*
 * master.c: the master process.  Binds the listening socket, forks
 * server.workers workers that all accept on it, replaces dead ones (with
 * back-off for a crash loop), and handles signals: HUP reload (a new
 * worker generation; the old one drains), TERM/INT graceful stop, QUIT
 * fast stop, USR1 log reopen.  Signals are taken synchronously with
 * sigtimedwait(), so no handler races with the child table.  The master
 * keeps root (to bind and read keys on reload) and never reads a client
 * byte.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
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
#include "counters.h"
#include "log.h"
#include "master.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define MAXCHILD	512
#define QUICK_DEATH_MS	5000	/* a worker dying sooner counts as a crash */
#define BACKOFF_MAX_MS	30000

struct child {
	pid_t		 ch_pid;	/* 0: free entry */
	uint32_t	 ch_gen;
	int		 ch_idx;	/* worker number within its generation */
	int		 ch_slot;	/* counters slot */
	uint64_t	 ch_started;
	int		 ch_draining;
};

/* A worker of the current generation waiting to be started again. */
struct respawn {
	int		 rs_active;
	uint64_t	 rs_at;
	int		 rs_fails;	/* consecutive quick deaths */
};

static struct child	 children[MAXCHILD];
static struct respawn	*respawns;	/* one per worker index */
static int		 nworkers;
static uint32_t		 generation;
static struct config	*conf;
static int		 lfd = -1;
static int		 rfd = -1;	/* server.http_redirect_port */
static int		 rport;
static char		*lhost;
static int		 lport;
static struct sockaddr_storage up_ss;
static socklen_t	 up_len;
static char		 self_exe[PATH_MAX];	/* for SIGUSR2 */
static pid_t		 upgrade_pid;	/* new master started by SIGUSR2 */
static const char	*pidfile_main;	/* -p, as given */
static char		*pidfile_cur;	/* ours: -p, or -p.oldbin after
					   an upgrade */

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
		if (asprintf(&old, "%s.oldbin", pidfile_main) == -1)
			return;
		if (rename(pidfile_cur, old) == -1) {
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
		snprintf(buf, sizeof(buf), "%d", lfd);
		fcntl(lfd, F_SETFD, 0);
		setenv("VIBEWARDEN_LISTEN_FD", buf, 1);
		if (rfd != -1) {
			snprintf(buf, sizeof(buf), "%d", rfd);
			fcntl(rfd, F_SETFD, 0);
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
	log_sys(LOG_LVL_INFO, "proxy.upgrade_started",
	    "started %s as pid %d on the inherited listener; send QUIT to "
	    "pid %d to drain this one", self_exe, (int)pid, (int)getpid());
}

/*
 * The new master could not start (st -1: fork failed) or died: keep
 * serving, and take the pidfile back.
 */
static void
upgrade_failed(int st)
{
	upgrade_pid = 0;
	if (st == -1)
		log_sys(LOG_LVL_ERROR, "proxy.upgrade_failed",
		    "fork: %s; still serving", strerror(errno));
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

static void
spawn(int idx)
{
	struct child	*ch = NULL;
	pid_t		 pid;
	int		 i, slot;

	for (i = 0; i < MAXCHILD; i++)
		if (children[i].ch_pid == 0) {
			ch = &children[i];
			break;
		}
	if (ch == NULL || (slot = slot_alloc()) == -1) {
		/* Draining generations hold the slots: try again soon. */
		log_sys(LOG_LVL_ERROR, "worker.spawn_failed",
		    "too many processes; retrying in 1 s");
		respawns[idx].rs_active = 1;
		respawns[idx].rs_at = util_now_update() + 1000;
		return;
	}
	counters_base[slot].c_pid = -1;		/* reserved */
	worker_parent = getpid();
	if ((pid = fork()) == -1) {
		counters_base[slot].c_pid = 0;
		log_sys(LOG_LVL_ERROR, "worker.spawn_failed", "fork: %s",
		    strerror(errno));
		respawns[idx].rs_active = 1;
		respawns[idx].rs_at = util_now_update() + 1000;
		return;
	}
	if (pid == 0) {
		/* The signal mask stays blocked until worker_main() has its
		   handlers: a TERM right after fork must drain, not kill. */
		counters_claim(&counters_base[slot], getpid(), generation);
		worker_redirect_fd = rfd;
		worker_main(conf, lfd, slot, (struct sockaddr *)&up_ss,
		    up_len);
		/* NOTREACHED */
	}
	ch->ch_pid = pid;
	ch->ch_gen = generation;
	ch->ch_idx = idx;
	ch->ch_slot = slot;
	ch->ch_started = util_now_update();
	ch->ch_draining = 0;
	counters_base[slot].c_pid = pid;
}

static int
start_generation(void)
{
	struct respawn	*rs;
	int		 i, n;

	n = conf->server.workers > 0 ? conf->server.workers : util_ncpu();
	if ((rs = calloc(n, sizeof(*rs))) == NULL)
		return (-1);
	free(respawns);
	respawns = rs;
	nworkers = n;
	generation++;
	for (i = 0; i < n; i++)
		spawn(i);
	return (0);
}

static void
signal_children(int sig, int old_only)
{
	int	 i;

	for (i = 0; i < MAXCHILD; i++) {
		if (children[i].ch_pid == 0)
			continue;
		if (old_only && children[i].ch_gen == generation)
			continue;
		if (sig == SIGTERM)
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

/* Reap exited children; schedule replacements for unexpected deaths. */
static void
reap(int stopping)
{
	struct child	*ch;
	struct respawn	*rs;
	pid_t		 pid;
	int		 st, i;
	uint64_t	 lived, delay;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == upgrade_pid) {
			upgrade_failed(st);
			continue;
		}
		for (i = 0, ch = NULL; i < MAXCHILD; i++)
			if (children[i].ch_pid == pid) {
				ch = &children[i];
				break;
			}
		if (ch == NULL)
			continue;
		counters_base[ch->ch_slot].c_pid = 0;
		ch->ch_pid = 0;
		if (stopping || ch->ch_draining || ch->ch_gen != generation)
			continue;
		log_sys(LOG_LVL_ERROR, "worker.exited",
		    "worker %d (pid %d) %s %d", ch->ch_idx, (int)pid,
		    WIFSIGNALED(st) ? "killed by signal" : "exited with",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		rs = &respawns[ch->ch_idx];
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
			log_sys(LOG_LVL_ERROR, "worker.crash_loop",
			    "worker %d died %d times in a row; next start in "
			    "%llu ms", ch->ch_idx, rs->rs_fails,
			    (unsigned long long)delay);
		}
		rs->rs_active = 1;
		rs->rs_at = util_now_ms + delay;
		counters_base[0].c_restarts++;
	}
}

static uint64_t
run_respawns(void)
{
	uint64_t	 next = UINT64_MAX;
	int		 i;

	util_now_update();
	for (i = 0; i < nworkers; i++) {
		if (!respawns[i].rs_active)
			continue;
		if (respawns[i].rs_at <= util_now_ms) {
			respawns[i].rs_active = 0;
			spawn(i);
			log_sys(LOG_LVL_INFO, "worker.respawned",
			    "worker %d started again", i);
		} else if (respawns[i].rs_at < next)
			next = respawns[i].rs_at;
	}
	return (next);
}

/*
 * The certificate of cf, loaded (or made) now, as root, before any
 * worker of its generation forks.  NULL (with a tls.* event) on error.
 */
static struct tls_cert *
load_cert(const struct config *cf, X509_STORE **ca, int *failed)
{
	struct tls_cert	*c;
	char		 err[512];

	*failed = 0;
	if (cf->upstream.tls && cf->upstream.tls_insecure)
		log_sys(LOG_LVL_WARN, "tls.upstream_verify_disabled",
		    "upstream.tls.insecure_skip_verify is on: the upstream's "
		    "certificate is not checked");
	if ((*ca = tls_ca_load(cf, err, sizeof(err))) == NULL &&
	    err[0] != '\0') {
		log_sys(LOG_LVL_ERROR, "tls.ca_file_failed", "%s", err);
		*failed = 1;
		return (NULL);
	}
	if (!cf->tls.enabled)
		return (NULL);
	if ((c = tls_cert_load(cf, 1, err, sizeof(err))) == NULL) {
		log_sys(LOG_LVL_ERROR, "tls.certificate_failed", "%s", err);
		X509_STORE_free(*ca);
		*ca = NULL;
		*failed = 1;
	}
	return (c);
}

static void
reload(const char *cfpath)
{
	struct tls_cert		*ncert;
	X509_STORE		*nca;
	int			 cfail;
	struct cfg_diags	 d = { 0 };
	struct config		*ncf;
	struct sockaddr_storage	 nup;
	socklen_t		 nuplen;
	const char		*err;
	char			 msg[1024];
	size_t			 off = 0, i;
	int			 nfd = lfd, nrfd;

	if ((ncf = config_load(cfpath, NULL, &d)) == NULL) {
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
	/* New certificate files are read here: SPEC.md 3, issue 8 (7). */
	ncert = load_cert(ncf, &nca, &cfail);
	if (cfail) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "TLS certificate or CA file unusable; still serving the "
		    "previous configuration");
		config_free(ncf);
		return;
	}
	if (master_resolve(ncf->upstream.host, ncf->upstream.port, &nup,
	    &nuplen, &err) == -1) {
		log_sys(LOG_LVL_ERROR, "config.reload_failed",
		    "upstream %s: %s; still serving the previous "
		    "configuration", ncf->upstream.host, err);
		tls_cert_free(ncert);
		X509_STORE_free(nca);
		config_free(ncf);
		return;
	}
	if (strcmp(ncf->server.host, lhost) != 0 ||
	    ncf->server.port != lport) {
		if ((nfd = bind_listener(ncf->server.host, ncf->server.port,
		    &err)) == -1) {
			log_sys(LOG_LVL_ERROR, "config.reload_failed",
			    "listen %s:%d: %s; still serving the previous "
			    "configuration", ncf->server.host,
			    ncf->server.port, err);
			tls_cert_free(ncert);
			X509_STORE_free(nca);
			config_free(ncf);
			return;
		}
	}
	if (ncf->server.http_redirect_port != rport ||
	    (rport != 0 && strcmp(ncf->server.host, lhost) != 0)) {
		nrfd = -1;
		if (ncf->server.http_redirect_port != 0 &&
		    (nrfd = bind_listener(ncf->server.host,
		    ncf->server.http_redirect_port, &err)) == -1) {
			log_sys(LOG_LVL_ERROR, "config.reload_failed",
			    "listen %s:%d (server.http_redirect_port): %s; "
			    "still serving the previous configuration",
			    ncf->server.host, ncf->server.http_redirect_port,
			    err);
			if (nfd != lfd)
				close(nfd);
			tls_cert_free(ncert);
			X509_STORE_free(nca);
			config_free(ncf);
			return;
		}
		if (rfd != -1)
			close(rfd);
		rfd = nrfd;
		rport = ncf->server.http_redirect_port;
	}
	signal_children(SIGTERM, 0);	/* the whole old generation drains */
	if (nfd != lfd) {
		close(lfd);
		lfd = nfd;
		free(lhost);
		lhost = strdup(ncf->server.host);
		lport = ncf->server.port;
	}
	up_ss = nup;
	up_len = nuplen;
	tls_cert_install(ncert);	/* old workers keep their copy */
	tls_ca_install(nca);
	config_free(conf);
	conf = ncf;
	log_open(conf, 0);
	start_generation();
	log_sys(LOG_LVL_INFO, "config.reloaded",
	    "configuration reloaded; generation %u with %d workers",
	    generation, nworkers);
}

static int
write_pidfile(const char *path)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL)
		return (-1);
	fprintf(fp, "%d\n", (int)getpid());
	return (fclose(fp));
}

static int
daemonize(void)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) == -1)
		return (-1);
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return (-1);
	if ((pid = fork()) == -1)
		return (-1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return (-1);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		if (conf->log.output == NULL ||
		    strcmp(conf->log.output, "stdout") == 0 ||
		    strcmp(conf->log.output, "stderr") == 0) {
			/* A daemon has no terminal: log lines to stdout
			   would be lost, so the operator must choose a file. */
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (fd > STDERR_FILENO)
			close(fd);
	}
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
			signal_children(SIGKILL, 0);
			killed = 1;
		}
		nanosleep(&ts, NULL);
	}
}

int
master_main(struct config *cf, const struct master_opts *mo)
{
	sigset_t	 set;
	siginfo_t	 si;
	struct timespec	 ts;
	struct passwd	*pw = NULL;
	const char	*err;
	uint64_t	 next, now, drain_deadline = 0;
	int		 sig, stopping = 0, inherited, cfail;
	struct tls_cert	*cert;
	X509_STORE	*ca;

	conf = cf;
	if (log_open(conf, 0) == -1) {
		fprintf(stderr, "vibewarden: log.output %s: %s\n",
		    conf->log.output, strerror(errno));
		return (2);
	}
	if (geteuid() == 0 && (pw = getpwnam(conf->server.user)) == NULL) {
		fprintf(stderr, "vibewarden: server.user %s: no such user\n",
		    conf->server.user);
		return (2);
	}
	/* Workers reopen the log on SIGUSR1 after dropping root. */
	if (geteuid() == 0 && conf->log.output != NULL &&
	    strcmp(conf->log.output, "stdout") != 0 &&
	    strcmp(conf->log.output, "stderr") != 0 &&
	    chown(conf->log.output, pw->pw_uid, (gid_t)-1) == -1)
		fprintf(stderr, "vibewarden: log.output %s: chown: %s\n",
		    conf->log.output, strerror(errno));
	if (master_resolve(conf->upstream.host, conf->upstream.port, &up_ss,
	    &up_len, &err) == -1) {
		fprintf(stderr, "vibewarden: upstream %s: %s\n",
		    conf->upstream.host, err);
		return (2);
	}
	cert = load_cert(conf, &ca, &cfail);
	if (cfail) {
		fprintf(stderr, "vibewarden: TLS certificate or CA file "
		    "unusable (see the tls.* event)\n");
		return (2);
	}
	tls_cert_install(cert);
	tls_ca_install(ca);
	if (tls_tickets_init() == -1) {
		fprintf(stderr, "vibewarden: session-ticket keys: %s\n",
		    strerror(errno));
		return (2);
	}
	inherited = getenv("VIBEWARDEN_LISTEN_FD") != NULL;
	if (readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1) == -1)
		self_exe[0] = '\0';
	if ((lfd = inherited_listener("VIBEWARDEN_LISTEN_FD",
	    conf->server.host, conf->server.port)) == -1 &&
	    (lfd = bind_listener(conf->server.host, conf->server.port,
	    &err)) == -1) {
		fprintf(stderr, "vibewarden: listen %s:%d: %s\n",
		    conf->server.host, conf->server.port, err);
		return (2);
	}
	rport = conf->server.http_redirect_port;
	if (rport != 0 && (rfd = inherited_listener("VIBEWARDEN_REDIRECT_FD",
	    conf->server.host, rport)) == -1 &&
	    (rfd = bind_listener(conf->server.host, rport, &err)) == -1) {
		fprintf(stderr, "vibewarden: listen %s:%d "
		    "(server.http_redirect_port): %s\n", conf->server.host,
		    rport, err);
		return (2);
	}
	lhost = strdup(conf->server.host);
	lport = conf->server.port;
	if (counters_create() == NULL) {
		fprintf(stderr, "vibewarden: counters: %s\n", strerror(errno));
		return (2);
	}
	counters_base[0].c_pid = getpid();
	/* A binary upgrade's new master is detached already. */
	if (mo->mo_daemonize && !inherited && daemonize() == -1) {
		fprintf(stderr, "vibewarden: daemonize: %s\n", strerror(errno));
		return (2);
	}
	counters_base[0].c_pid = getpid();
	pidfile_main = mo->mo_pidfile;
	if (mo->mo_pidfile && (pidfile_cur = strdup(mo->mo_pidfile)) == NULL)
		return (2);
	if (mo->mo_pidfile && write_pidfile(mo->mo_pidfile) == -1) {
		fprintf(stderr, "vibewarden: pidfile %s: %s\n", mo->mo_pidfile,
		    strerror(errno));
		return (2);
	}

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	util_setproctitle("master");
	if (start_generation() == -1)
		return (2);
	log_sys(LOG_LVL_INFO, "proxy.started",
	    "vibewarden %s listening on %s:%d, upstream %s:%d, %d workers",
	    PACKAGE_VERSION, conf->server.host, conf->server.port,
	    conf->upstream.host, conf->upstream.port, nworkers);

	for (;;) {
		next = stopping ? drain_deadline : run_respawns();
		now = util_now_update();
		/* One writer: during an upgrade the new master rotates. */
		if (upgrade_pid == 0)
			tls_tickets_tick(now, conf->tls.ticket_key_rotation_ms);
		tls_cert_monitor(conf, now);
		if (next == UINT64_MAX || next > now + 1000)
			next = now + 1000;
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);
		switch (sig) {
		case SIGCHLD:
			reap(stopping);
			break;
		case SIGHUP:
			if (!stopping)
				reload(mo->mo_cfpath);
			break;
		case SIGUSR2:
			if (!stopping)
				upgrade(mo->mo_argv);
			break;
		case SIGQUIT:
			/* After an upgrade, QUIT drains the old master
			   (SPEC.md 3); otherwise it is the fast stop. */
			if (upgrade_pid == 0) {
				signal_children(SIGQUIT, 0);
				wait_children(2000);
				goto out;
			}
			/* FALLTHROUGH */
		case SIGTERM:
		case SIGINT:
			if (!stopping) {
				log_sys(LOG_LVL_INFO, "proxy.stopping",
				    "graceful stop: draining for up to %llu ms",
				    (unsigned long long)
				    conf->server.drain_timeout_ms);
				stopping = 1;
				close(lfd);
				if (rfd != -1)
					close(rfd);
				signal_children(SIGTERM, 0);
				drain_deadline = util_now_update() +
				    conf->server.drain_timeout_ms + 2000;
			}
			break;
		case SIGUSR1:
			log_reopen();
			signal_children(SIGUSR1, 0);
			break;
		default:
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
	log_sys(LOG_LVL_INFO, "proxy.stopped", "vibewarden stopped");
	if (pidfile_cur != NULL)
		unlink(pidfile_cur);
	free(pidfile_cur);
	tls_cert_install(NULL);
	tls_ca_install(NULL);
	config_free(conf);
	return (0);
}
