/*
 * worker.c: a worker process: drops privileges, runs one epoll loop that
 * accepts on the shared listening socket, and drains on SIGTERM.  It must
 * never block in the request path and never die because of client input.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "counters.h"
#include "h2.h"
#include "log.h"
#include "pipe.h"
#include "ratelimit.h"
#include "redirect.h"
#include "tls.h"
#include "upstream.h"
#include "util.h"
#include "resil.h"
#include "worker.h"

struct worker W;
pid_t	 worker_parent;
int	 worker_readyfd = -1;
int	 worker_redirect_fd = -1;

static struct ev_io	 lio;		/* the listener */
static struct cidrset	 trusted;	/* server.trusted_proxies */
static struct timer	 accept_timer;

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

/* ------------------------------------------------------------ accepting */

/*
 * Whether this worker takes new connections: not while draining, out of
 * descriptors (EMFILE, retried every TQ_ACCEPT), at its connection cap,
 * or holding clearly more than its share.  The listener is in the epoll
 * set exactly while it does, so the kernel hands new connections to the
 * workers that want them and the rest wait in the listen backlog.
 */
static int		 listening;	/* lio is in the epoll set */
static int		 fd_paused;
static uint64_t		 full_logged;	/* at w_maxconns: said then */
static int		 peers[CTR_SLOTS];	/* counter slots of the other
						   workers of this generation */
static int		 npeers;
static uint64_t		 peers_at;

static void
find_peers(void)
{
	const struct vw_counters	*c;
	int				 i;

	/* A sibling that is still starting has no slot yet: look again
	   soon while none is seen, then once a second. */
	if (peers_at != 0 && util_now_ms - peers_at < (npeers ? 1000 : 10))
		return;
	peers_at = util_now_ms;
	npeers = 0;
	for (i = 1; i < CTR_SLOTS; i++) {
		c = &counters_base[i];
		if (i != W.w_slot && c->c_pid > 0 &&
		    c->c_generation == W.w_ctr->c_generation)
			peers[npeers++] = i;
	}
}

/*
 * nginx's accept_disabled, with every worker's count at hand in the
 * counter segment: EPOLLEXCLUSIVE wakes the worker that waited last,
 * which is the busy one, so left alone one worker takes nearly all.  A
 * worker that holds more than another one that still accepts, by over
 * an eighth (at least 4), leaves new connections to it.
 */
static int
over_share(void)
{
	const struct vw_counters	*c;
	int64_t				 mine = W.w_nconns, slack;
	int				 i;

	if (W.w_ctr == NULL)
		return (0);
	find_peers();
	slack = mine / 8 > 4 ? mine / 8 : 4;
	for (i = 0; i < npeers; i++) {
		c = &counters_base[peers[i]];
		if (c->c_accepting && c->c_conns_open + slack < mine)
			return (1);
	}
	return (0);
}

int
worker_may_accept(void)
{
	if (W.w_draining || fd_paused)
		return (0);
	/* A stream may hold an upstream descriptor, as a client. */
	if (W.w_nconns + W.w_nstreams >= W.w_maxconns) {
		/* At most every 10 s: a client cycling connections against
		   a full worker must not flood the log. */
		if (full_logged == 0 || util_now_ms - full_logged >= 10000) {
			full_logged = util_now_ms ? util_now_ms : 1;
			log_sys(LOG_LVL_WARN, "worker.max_connections",
			    "%u client connections: new ones wait in the "
			    "listen backlog until one closes",
			    W.w_nconns);
		}
		return (0);
	}
	return (1);
}

static void	 accept_recheck(struct timer *);

/*
 * Only leave connections to the others once the accept queue is empty
 * (drained): a worker that was woken for a connection and left it
 * queued would strand it, since EPOLLEXCLUSIVE woke no one else.
 */
void
worker_accept_update(int drained)
{
	int	 want = worker_may_accept();

	if (want && (listening ? drained : 1) && over_share())
		want = 0;
	if (want != listening) {
		if (want && ev_add_listener(&lio) == -1) {
			worker_pause_accept(errno);
			return;
		}
		if (!want)
			ev_del(&lio);
		listening = want;
		if (W.w_ctr != NULL)
			W.w_ctr->c_accepting = listening;
	}
	/* Left to the others: look again soon (a close also does). */
	if (!listening && !W.w_draining && !fd_paused)
		timer_set(&accept_timer, &W.w_q[TQ_SHARE], accept_recheck);
}

static void
accept_recheck(struct timer *t)
{
	worker_accept_update(0);
}

void
worker_conn_closed(void)
{
	if (!listening)
		worker_accept_update(0);
}

static void
accept_resume(struct timer *t)
{
	fd_paused = 0;
	worker_accept_update(0);
}

void
worker_pause_accept(int err)
{
	if (fd_paused)
		return;
	fd_paused = 1;
	/* Once per episode: retries every 100 ms would flood the log. */
	if (!W.w_accept_logged++)
		log_sys(LOG_LVL_ERROR, "worker.accept_paused",
		    "accept: %s; pausing accept() in %llu ms steps until "
		    "descriptors free up (raise the open files limit?)",
		    strerror(err), (unsigned long long)W.w_q[TQ_ACCEPT].q_ms);
	if (listening) {
		ev_del(&lio);
		listening = 0;
		if (W.w_ctr != NULL)
			W.w_ctr->c_accepting = 0;
	}
	timer_set(&accept_timer, &W.w_q[TQ_ACCEPT], accept_resume);
}

/*
 * server.max_connections, within what the open-files limit allows: each
 * client may need a descriptor for the upstream too, and FD_RESERVE stay
 * for the listener, epoll, logs and shared state, so that an accepted
 * client can always reach the upstream (never a 502 for want of one).
 * The soft limit is raised towards the hard one first, as far as the
 * cap needs (nginx's worker_rlimit_nofile, done for the operator).
 */
#define FD_RESERVE	32

static unsigned
max_conns(const struct config *cf)
{
	struct rlimit	 rl;
	rlim_t		 cap = cf->server.max_connections;
	rlim_t		 need = FD_RESERVE + 2 * cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur ==
	    RLIM_INFINITY || rl.rlim_cur >= need)
		return ((unsigned)cap);
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		cap = rl.rlim_cur > FD_RESERVE + 2 ?
		    (rl.rlim_cur - FD_RESERVE) / 2 : 1;
	return ((unsigned)cap);
}

/*
 * Memory comes back after a burst: once the connections (HTTP/2 streams
 * included: each may hold request, upstream and answer blocks) have
 * fallen to a quarter of their peak (of at least TRIM_MIN), the block
 * caches shrink and malloc_trim() hands the free pages inside the heap
 * back to the kernel.  Without it a worker keeps the RSS of its largest
 * burst for good, its free chunks pinned between live ones; with it,
 * memory after a burst does not depend on the bursts before.  At most
 * once a second.
 */
#define TRIM_MIN	256

static void
trim_memory(void)
{
	static unsigned	 peak;
	static uint64_t	 last;
	unsigned	 load = W.w_nconns + W.w_nstreams;

	if (load > peak)
		peak = load;
	if (peak < TRIM_MIN || load > peak / 4 ||
	    util_now_ms - last < 1000)
		return;
	last = util_now_ms;
	peak = load;
	blk_trim(16);
	malloc_trim(0);
}

/* Tell the master this worker can serve, or why it cannot (worker.h). */
static void
report(int ok, const char *why)
{
	struct worker_report	 wr;

	if (worker_readyfd == -1)
		return;
	memset(&wr, 0, sizeof(wr));
	wr.wr_pid = getpid();
	wr.wr_ok = ok;
	snprintf(wr.wr_why, sizeof(wr.wr_why), "%s", why);
	/* A full pipe or a gone master: it times the generation out. */
	(void)!write(worker_readyfd, &wr, sizeof(wr));
	close(worker_readyfd);
	worker_readyfd = -1;
}

/* Start-up failed: log it, tell the master why, and exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
start_failed(const char *fmt, ...)
{
	char	 why[sizeof(((struct worker_report *)0)->wr_why)];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_sys(LOG_LVL_ERROR, "worker.start_failed", "%s", why);
	log_flush();
	report(0, why);
	_exit(2);
}

/* Drop root for good before touching the network (DESIGN.md). */
static int
drop_privileges(const struct config *cf)
{
	char	 why[160];

	if (util_drop_privileges(cf->server.user, cf->server.group, why,
	    sizeof(why)) == -1)
		start_failed("%s", why);
	return (0);
}

/*
 * For the integration tests only: a worker started while the file named
 * by VW_TEST_WORKER_FAIL exists fails its start-up, as one whose
 * server.user vanished between -t and the reload would.  Lets the
 * failed-reload path be tested without root and a deletable user.
 */
static void
test_start_fail(void)
{
	const char	*f = getenv("VW_TEST_WORKER_FAIL");

	if (f != NULL && *f != '\0' && access(f, F_OK) == 0)
		start_failed("test hook: %s exists", f);
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
	tqueue_init(&W.w_q[TQ_POOLX], 2000);
	tqueue_init(&W.w_q[TQ_WSIDLE], s->websocket_idle_timeout_ms);
	/*
	 * Draining: a keep-alive client that sends nothing within a second
	 * is idle, not mid-request; closing it then is the ordinary
	 * keep-alive race clients retry, not a failed request.
	 */
	tqueue_init(&W.w_q[TQ_DRAIN], 1000);
	tqueue_init(&W.w_q[TQ_LINGER], 5000);
	tqueue_init(&W.w_q[TQ_ACCEPT], 100);
	tqueue_init(&W.w_q[TQ_READ], s->read_timeout_ms);
	tqueue_init(&W.w_q[TQ_SHARE], 10);
	tqueue_init(&W.w_q[TQ_BACKOFF], 1);	/* deadlines set per timer */
	tqueue_init(&W.w_q[TQ_H2TRIM], 1000);
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
	/* A retried request's body is held whole in the client buffer. */
	if (cf->resilience.retry.enabled && sz[BLK_CLIENT] < RESIL_HOLD)
		sz[BLK_CLIENT] = RESIL_HOLD;
	sz[BLK_UPSTREAM] = 32768;
	/* struct req, arena, upstream head, client head. */
	sz[BLK_REQ] = ((sizeof(struct req) + 63) & ~(size_t)63) + REQ_ARENA +
	    (hb + 4096) + 32768 + 4096;
	sz[BLK_H2OUT] = H2_OUTMAX;
	blk_init(sz);
}

/* The drain deadline passed with connections open: they are cut. */
static void
drain_timed_out(void)
{
	const struct conn	*cn;
	unsigned		 tunnels = 0;

	for (cn = W.w_conns; cn != NULL; cn = cn->cn_next)
		if (cn->cn_state == CS_TUNNEL)
			tunnels++;
	log_sys(LOG_LVL_WARN, "worker.drain_timeout", "drain timeout (%llu "
	    "ms) reached with %u connections still open, %u of them "
	    "WebSocket tunnels; closing them", (unsigned long long)
	    W.w_conf->server.drain_timeout_ms, W.w_nconns, tunnels);
}

void
worker_main(const struct config *cf, int lfd, int slot,
    const struct sockaddr *up, socklen_t uplen)
{
	struct sigaction	 sa;
	sigset_t		 block, waitmask;
	uint64_t		 deadline = 0;
	const char		*errstr = "?";

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	util_setproctitle("worker");
	memset(&W, 0, sizeof(W));
	W.w_conf = cf;
	W.w_slot = slot;
	W.w_ctr = counters_base ? &counters_base[slot] : NULL;
	snprintf(W.w_hostname, sizeof(W.w_hostname), "%s",
	    cf->tls.domain && *cf->tls.domain ? cf->tls.domain :
	    cf->server.host);
	W.w_trusted = &trusted;
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
	if (ev_init() == -1)
		start_failed("epoll: %s", strerror(errno));
	setup_queues(cf);
	setup_blocks(cf);
	rl_worker_init(cf);	/* a failure fails open, logged */
	/* Authentication fails closed: no worker rather than no checks. */
	if (auth_worker_init(cf) == -1)
		start_failed("authentication (auth.mode) cannot start");
	if (stage_waf_init(cf, &errstr) == -1)
		start_failed("WAF rules: %s", errstr);
	/* Our own SSL_CTX, from the material the master loaded (STYLE). */
	if (tls_worker_init(cf) == -1)
		start_failed("TLS: cannot set up the SSL_CTX");
	W.w_client_ops = cf->tls.enabled ? &tls_server_ops : &endp_plain_ops;
	W.w_upstream_ops = cf->upstream.tls ? &tls_client_ops :
	    &endp_plain_ops;
	W.w_scheme = cf->tls.enabled ? "https" : "http";
	sechdr_init(cf, cf->tls.enabled);
	W.w_maxconns = max_conns(cf);
	if (cidrset_build(&trusted, &cf->server.trusted_proxies) == -1)
		start_failed("out of memory");
	if (ipfilter_init(cf) == -1 || cors_init(cf) == -1)
		start_failed("out of memory");
	lio.io_fd = lfd;
	lio.io_cb = listener_cb;
	if (ev_add_listener(&lio) == -1)
		start_failed("listener: %s", strerror(errno));
	listening = 1;
	if (W.w_ctr != NULL)
		W.w_ctr->c_accepting = 1;
	if (worker_redirect_fd != -1 &&
	    redirect_listen(worker_redirect_fd) == -1)
		start_failed("redirect listener: %s", strerror(errno));
	test_start_fail();
	report(1, "");

	for (;;) {
		if (ev_run_once(&waitmask, conn_have_ready() ? 0 : 1000) ==
		    -1) {
			log_sys(LOG_LVL_ERROR, "worker.failed", "epoll: %s",
			    strerror(errno));
			break;
		}
		conn_run_ready();
		trim_memory();
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
			worker_accept_update(0);
			timer_del(&accept_timer);
			close(lfd);
			redirect_stop();
			conn_drain_idle();
			up_pool_flush();
			deadline = util_now_ms + cf->server.drain_timeout_ms;
		}
		if (W.w_draining && W.w_nconns > 0 &&
		    util_now_ms >= deadline) {
			drain_timed_out();
			break;
		}
		if (W.w_draining && W.w_nconns == 0)
			break;
		rl_report();
		log_flush();
	}
	log_flush();
	_exit(0);
}
