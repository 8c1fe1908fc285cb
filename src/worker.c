/*
 * worker.c: a worker process: drops privileges, runs one epoll loop that
 * accepts on the shared listening socket, and drains on SIGTERM.  It must
 * never block in the request path and never die because of client input.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "log.h"
#include "pipe.h"
#include "redirect.h"
#include "tls.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

struct worker W;
pid_t	 worker_parent;
int	 worker_redirect_fd = -1;

static struct ev_io	 lio;		/* the listener */
static struct timer	 accept_timer;
static int		 accept_paused;

static volatile sig_atomic_t	 got_term, got_quit, got_usr1;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGQUIT:
		got_quit = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	}
}

static void
listener_cb(struct ev_io *io, uint32_t events)
{
	conn_accept(io->io_fd);
}

static void
accept_resume(struct timer *t)
{
	accept_paused = 0;
	if (!W.w_draining && ev_add_listener(&lio) == -1)
		worker_pause_accept(errno);
}

void
worker_pause_accept(int err)
{
	if (accept_paused)
		return;
	accept_paused = 1;
	/* Once per episode: retries every 100 ms would flood the log. */
	if (!W.w_accept_logged++)
		log_sys(LOG_LVL_ERROR, "worker.accept_paused",
		    "accept: %s; pausing accept() in %llu ms steps until "
		    "descriptors free up (raise the open files limit?)",
		    strerror(err), (unsigned long long)W.w_q[TQ_ACCEPT].q_ms);
	ev_del(&lio);
	timer_set(&accept_timer, &W.w_q[TQ_ACCEPT], accept_resume);
}

/* Drop root for good before touching the network (DESIGN.md). */
static int
drop_privileges(const struct config *cf)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0)
		return (0);
	if ((pw = getpwnam(cf->server.user)) == NULL) {
		log_sys(LOG_LVL_ERROR, "worker.start_failed",
		    "unknown user %s", cf->server.user);
		return (-1);
	}
	gid = pw->pw_gid;
	if (cf->server.group != NULL && *cf->server.group != '\0') {
		if ((gr = getgrnam(cf->server.group)) == NULL) {
			log_sys(LOG_LVL_ERROR, "worker.start_failed",
			    "unknown group %s", cf->server.group);
			return (-1);
		}
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_sys(LOG_LVL_ERROR, "worker.start_failed",
		    "cannot drop privileges to %s: %s", cf->server.user,
		    strerror(errno));
		return (-1);
	}
	/* Core dumps of a worker could hold request data. */
	prctl(PR_SET_DUMPABLE, 0);
	return (0);
}

static void
setup_queues(const struct config *cf)
{
	const struct cf_server *s = &cf->server;
	int	 i;

	tqueue_init(&W.w_q[TQ_HEADER], s->header_timeout_ms);
	tqueue_init(&W.w_q[TQ_BODY], s->body_timeout_ms);
	tqueue_init(&W.w_q[TQ_IDLE], s->idle_timeout_ms);
	tqueue_init(&W.w_q[TQ_WRITE], s->write_timeout_ms);
	tqueue_init(&W.w_q[TQ_CONNECT], cf->upstream.connect_timeout_ms);
	tqueue_init(&W.w_q[TQ_RESPONSE], cf->resilience.timeout_ms);
	/* Idle upstream connections: below typical app keep-alive (60 s+). */
	tqueue_init(&W.w_q[TQ_POOL], 30000);
	tqueue_init(&W.w_q[TQ_WSIDLE], s->websocket_idle_timeout_ms);
	/*
	 * Draining: a keep-alive client that sends nothing within a second
	 * is idle, not mid-request; closing it then is the ordinary
	 * keep-alive race clients retry, not a failed request.
	 */
	tqueue_init(&W.w_q[TQ_DRAIN], 1000);
	tqueue_init(&W.w_q[TQ_LINGER], 5000);
	tqueue_init(&W.w_q[TQ_ACCEPT], 100);
	for (i = 0; i < TQ_N; i++)
		ev_tqueue_register(&W.w_q[i]);
}

static void
setup_blocks(const struct config *cf)
{
	size_t	 hb = cf->server.max_header_bytes, sz[BLK_NCLASS];

	if (hb < 16384)
		hb = 16384;
	sz[BLK_CLIENT] = hb;
	sz[BLK_UPSTREAM] = 32768;
	/* struct req, arena, upstream head, client head. */
	sz[BLK_REQ] = ((sizeof(struct req) + 63) & ~(size_t)63) + REQ_ARENA +
	    (hb + 4096) + 32768 + 4096;
	blk_init(sz);
}

void
worker_main(const struct config *cf, int lfd, int slot,
    const struct sockaddr *up, socklen_t uplen)
{
	struct sigaction	 sa;
	sigset_t		 block, waitmask;
	uint64_t		 deadline = 0;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	util_setproctitle("worker");
	memset(&W, 0, sizeof(W));
	W.w_conf = cf;
	W.w_slot = slot;
	W.w_ctr = counters_base ? &counters_base[slot] : NULL;
	snprintf(W.w_hostname, sizeof(W.w_hostname), "%s",
	    cf->tls.domain && *cf->tls.domain ? cf->tls.domain :
	    cf->server.host);
	memcpy(&W.w_up, up, uplen);
	W.w_uplen = uplen;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGUSR1);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGQUIT);
	sigdelset(&waitmask, SIGUSR1);

	log_open(cf, 1);
	/*
	 * The master may itself be PID 1 (a container entrypoint), so
	 * compare with its real PID: a different parent means it died
	 * before PR_SET_PDEATHSIG was armed.
	 */
	if (getppid() != worker_parent || drop_privileges(cf) == -1) {
		log_flush();
		_exit(2);
	}
	util_now_update();
	if (ev_init() == -1) {
		log_sys(LOG_LVL_ERROR, "worker.start_failed", "epoll: %s",
		    strerror(errno));
		log_flush();
		_exit(2);
	}
	setup_queues(cf);
	setup_blocks(cf);
	/* Our own SSL_CTX, from the material the master loaded (STYLE). */
	if (tls_worker_init(cf) == -1) {
		log_flush();
		_exit(2);
	}
	W.w_client_ops = cf->tls.enabled ? &tls_server_ops : &endp_plain_ops;
	W.w_upstream_ops = cf->upstream.tls ? &tls_client_ops :
	    &endp_plain_ops;
	W.w_scheme = cf->tls.enabled ? "https" : "http";
	sechdr_init(cf, cf->tls.enabled);
	lio.io_fd = lfd;
	lio.io_cb = listener_cb;
	if (ev_add_listener(&lio) == -1) {
		log_sys(LOG_LVL_ERROR, "worker.start_failed", "listener: %s",
		    strerror(errno));
		log_flush();
		_exit(2);
	}
	if (worker_redirect_fd != -1 &&
	    redirect_listen(worker_redirect_fd) == -1) {
		log_sys(LOG_LVL_ERROR, "worker.start_failed", "redirect "
		    "listener: %s", strerror(errno));
		log_flush();
		_exit(2);
	}

	for (;;) {
		if (ev_run_once(&waitmask, 1000) == -1) {
			log_sys(LOG_LVL_ERROR, "worker.failed", "epoll: %s",
			    strerror(errno));
			break;
		}
		if (got_quit)
			break;
		if (got_usr1) {
			got_usr1 = 0;
			log_reopen();
		}
		if (got_term && !W.w_draining) {
			/*
			 * Stop accepting; the master's new generation (or
			 * nobody, on stop) takes new connections.  Keep-alive
			 * connections finish their next request with
			 * "Connection: close" or go at the deadline.
			 */
			W.w_draining = 1;
			if (!accept_paused)
				ev_del(&lio);
			timer_del(&accept_timer);
			close(lfd);
			redirect_stop();
			conn_drain_idle();
			up_pool_flush();
			deadline = util_now_ms + cf->server.drain_timeout_ms;
		}
		if (W.w_draining && (W.w_nconns == 0 ||
		    util_now_ms >= deadline))
			break;
		log_flush();
	}
	log_flush();
	_exit(0);
}
