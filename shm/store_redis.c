/*
 * store_redis.c: the Redis/Valkey rate-limit store (rate_limit.store:
 * redis), so several vibewarden hosts share one bucket per key (SPEC.md
 * 8).  One non-blocking hiredis connection per worker, driven by the
 * worker's own event loop through rc_attach; one atomic Lua script per
 * decision (EVALSHA, EVAL once on NOSCRIPT), computing GCRA on one value
 * per key with the server's clock, and a TTL on every key.
 *
 * Health: any failure (connect, lost connection, a reply slower than
 * rc_timeout_ms, an error reply) marks the store down: so_take() then
 * answers SHM_ERR at once and the caller falls back or fails closed.  A
 * probe every rc_probe_ms reconnects and PINGs; a PONG brings it back.
 * Never logs (rc_event reports transitions); never blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "shm.h"
#include "store.h"

#define RKEY_MAX	(SHM_KEY_MAX + 64)

/*
 * KEYS[1]: the bucket; ARGV[1]: µs per token; ARGV[2]: burst in µs.
 * Returns {allowed, µs to wait, tokens left, µs until full}.  The TAT
 * is clamped like gcra_take() so a clock step never locks a key out.
 */
static const char script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local iv = tonumber(ARGV[1])\n"
    "local tau = tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat > now + tau then tat = now + tau end\n"
    "if tat < now then tat = now end\n"
    "local ntat = tat + iv\n"
    "if ntat - now > tau then\n"
    "  return {0, math.ceil(ntat - now - tau), 0, math.ceil(tat - now)}\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', ntat), 'PX',\n"
    "  math.ceil((ntat - now) / 1000) + 1000)\n"
    "return {1, 0, math.floor((tau - (ntat - now)) / iv),\n"
    "  math.ceil(ntat - now)}\n";

struct rpend {
	struct rstore	*p_st;
	store_done_fn	*p_done;	/* NULL: the health probe */
	void		*p_arg;
	uint64_t	 p_sent;	/* ms */
	int		 p_sha;		/* sent as EVALSHA */
	char		 p_iv[32], p_tau[32];
	char		 p_key[RKEY_MAX];
	size_t		 p_klen;
	struct rpend	*p_prev, *p_next;	/* in flight */
};

struct rstore {
	struct store		 r_st;		/* first: (struct store *) */
	struct store_redis_conf	 r_c;
	redisAsyncContext	*r_ac;
	int			 r_up;
	int			 r_probing;
	uint64_t		 r_next_probe;
	char			 r_sha[41];
	struct rpend		 r_fly;		/* sentinel */
};

static uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static void
fly_add(struct rstore *r, struct rpend *p)
{
	p->p_sent = mono_ms();
	p->p_next = &r->r_fly;
	p->p_prev = r->r_fly.p_prev;
	r->r_fly.p_prev->p_next = p;
	r->r_fly.p_prev = p;
}

static void
fly_del(struct rpend *p)
{
	if (p->p_next == NULL)
		return;
	p->p_prev->p_next = p->p_next;
	p->p_next->p_prev = p->p_prev;
	p->p_prev = p->p_next = NULL;
}

static void
go_down(struct rstore *r, const char *why)
{
	r->r_next_probe = mono_ms() + r->r_c.rc_probe_ms;
	if (!r->r_up)
		return;
	r->r_up = 0;
	if (r->r_c.rc_event != NULL)
		r->r_c.rc_event(0, why);
}

/* Drop the connection; every command in flight is answered SHM_ERR. */
static void
drop(struct rstore *r, const char *why)
{
	redisAsyncContext	*ac = r->r_ac;

	go_down(r, why);
	if (ac == NULL)
		return;
	r->r_ac = NULL;
	ac->data = NULL;
	redisAsyncFree(ac);
}

static void	 on_take(redisAsyncContext *, void *, void *);
static void	 on_probe(redisAsyncContext *, void *, void *);

static int
send_take(struct rstore *r, struct rpend *p)
{
	int	 rc;

	if (p->p_sha)
		rc = redisAsyncCommand(r->r_ac, on_take, p,
		    "EVALSHA %s 1 %b %s %s", r->r_sha, p->p_key, p->p_klen,
		    p->p_iv, p->p_tau);
	else
		rc = redisAsyncCommand(r->r_ac, on_take, p,
		    "EVAL %s 1 %b %s %s", script, p->p_key, p->p_klen,
		    p->p_iv, p->p_tau);
	if (rc != REDIS_OK)
		return (-1);
	fly_add(r, p);
	return (0);
}

static void
on_take(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rpend	*p = priv;
	struct rstore	*r = p->p_st;
	redisReply	*rep = reply;
	struct gcra_res	 res;

	fly_del(p);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && p->p_sha &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0 && r->r_ac == ac) {
		/* First use on this server: EVAL caches the script. */
		p->p_sha = 0;
		if (send_take(r, p) == 0)
			return;
		rep = NULL;
	}
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 4) {
		if (rep != NULL && r->r_ac == ac)
			go_down(r, rep->type == REDIS_REPLY_ERROR ? rep->str :
			    "unexpected script reply");
		p->p_done(p->p_arg, SHM_ERR, NULL);
		free(p);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.gr_allowed = rep->element[0]->integer == 1;
	res.gr_wait = (uint64_t)rep->element[1]->integer * 1000;
	res.gr_remaining = (uint32_t)rep->element[2]->integer;
	res.gr_reset = (uint64_t)rep->element[3]->integer * 1000;
	p->p_done(p->p_arg, SHM_OK, &res);
	free(p);
}

static void
on_probe(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rpend	*p = priv;
	struct rstore	*r = p->p_st;
	redisReply	*rep = reply;

	fly_del(p);
	free(p);
	r->r_probing = 0;
	if (r->r_ac != ac)
		return;
	if (rep != NULL && rep->type == REDIS_REPLY_STATUS &&
	    strcmp(rep->str, "PONG") == 0) {
		if (!r->r_up) {
			r->r_up = 1;
			if (r->r_c.rc_event != NULL)
				r->r_c.rc_event(1, NULL);
		}
		return;
	}
	go_down(r, rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str :
	    "no answer to PING");
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct rstore	*r = ac->data;

	if (r == NULL || status == REDIS_OK)
		return;
	/* hiredis frees ac after this callback. */
	r->r_ac = NULL;
	go_down(r, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rstore	*r = ac->data;

	if (r == NULL)
		return;
	r->r_ac = NULL;
	go_down(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void
on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rstore	*r = priv;
	redisReply	*rep = reply;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && r->r_ac == ac)
		go_down(r, rep->str);
}

static int
rconnect(struct rstore *r)
{
	redisAsyncContext	*ac;

	if ((ac = redisAsyncConnect(r->r_c.rc_host, r->r_c.rc_port)) == NULL)
		return (-1);
	if (ac->err) {
		go_down(r, ac->errstr);
		redisAsyncFree(ac);
		return (-1);
	}
	ac->data = r;
	if (r->r_c.rc_attach(ac) == -1) {
		go_down(r, "cannot watch the socket");
		redisAsyncFree(ac);
		return (-1);
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->r_ac = ac;
	if (r->r_c.rc_password != NULL && r->r_c.rc_user != NULL)
		redisAsyncCommand(ac, on_setup, r, "AUTH %s %s",
		    r->r_c.rc_user, r->r_c.rc_password);
	else if (r->r_c.rc_password != NULL)
		redisAsyncCommand(ac, on_setup, r, "AUTH %s",
		    r->r_c.rc_password);
	if (r->r_c.rc_db != 0)
		redisAsyncCommand(ac, on_setup, r, "SELECT %d", r->r_c.rc_db);
	return (0);
}

static void
probe(struct rstore *r)
{
	struct rpend	*p;

	if (r->r_ac == NULL && rconnect(r) == -1)
		return;
	if (r->r_probing || r->r_ac == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->p_st = r;
	if (redisAsyncCommand(r->r_ac, on_probe, p, "PING") != REDIS_OK) {
		free(p);
		return;
	}
	fly_add(r, p);
	r->r_probing = 1;
}

static int
redis_take(struct store *st, const void *key, size_t klen,
    const struct gcra *g, uint64_t now, struct gcra_res *out,
    store_done_fn *done, void *arg)
{
	struct rstore	*r = (struct rstore *)st;
	struct rpend	*p;
	int		 n;

	if (!r->r_up || r->r_ac == NULL)
		return (SHM_ERR);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (SHM_ERR);
	p->p_st = r;
	p->p_done = done;
	p->p_arg = arg;
	p->p_sha = 1;
	n = snprintf(p->p_key, sizeof(p->p_key), "%s:ratelimit:",
	    r->r_c.rc_prefix);
	if (n < 0 || (size_t)n + klen > sizeof(p->p_key)) {
		free(p);
		return (SHM_ERR);
	}
	memcpy(p->p_key + n, key, klen);
	p->p_klen = (size_t)n + klen;
	snprintf(p->p_iv, sizeof(p->p_iv), "%.3f", g->g_interval / 1000.0);
	snprintf(p->p_tau, sizeof(p->p_tau), "%.3f", g->g_tau / 1000.0);
	if (send_take(r, p) == -1) {
		free(p);
		drop(r, "cannot send a command");
		return (SHM_ERR);
	}
	return (SHM_PENDING);
}

static void
redis_tick(struct store *st, uint64_t now_ms)
{
	struct rstore	*r = (struct rstore *)st;
	struct rpend	*p = r->r_fly.p_next;
	uint64_t	 now = mono_ms();

	/* The oldest command in flight is the first one. */
	if (p != &r->r_fly && now - p->p_sent >= r->r_c.rc_timeout_ms)
		drop(r, "timeout");
	if (now >= r->r_next_probe) {
		r->r_next_probe = now + r->r_c.rc_probe_ms;
		probe(r);
	}
}

static void
redis_free(struct store *st)
{
	struct rstore	*r = (struct rstore *)st;

	r->r_c.rc_event = NULL;
	drop(r, "closing");
	free(r);
}

static const struct store_ops redis_ops = {
	"redis", redis_take, redis_tick, redis_free
};

struct store *
store_redis_new(const struct store_redis_conf *rc)
{
	struct rstore	*r;
	unsigned char	 md[SHA_DIGEST_LENGTH];
	int		 i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->r_st.st_ops = &redis_ops;
	r->r_st.st_ctx = r;
	r->r_c = *rc;
	r->r_fly.p_next = r->r_fly.p_prev = &r->r_fly;
	SHA1((const unsigned char *)script, sizeof(script) - 1, md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(r->r_sha + i * 2, 3, "%02x", md[i]);
	/* Optimistic: commands wait in hiredis until the connect is done;
	   a failure answers them SHM_ERR and marks the store down. */
	r->r_up = 1;
	r->r_next_probe = mono_ms() + r->r_c.rc_probe_ms;
	rconnect(r);
	return (&r->r_st);
}

/* One command on c; 0 when it did not fail. */
static int
sync_ok(redisReply *rep)
{
	int	 ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;

	freeReplyObject(rep);
	return (ok ? 0 : -1);
}

int
store_redis_admin(const struct store_redis_conf *rc, const void *key,
    size_t klen, int del, uint64_t *tat_us, int *found)
{
	struct timeval	 tv;
	redisContext	*c;
	redisReply	*rep;
	char		 k[RKEY_MAX];
	int		 n, rv = -1;

	*tat_us = 0;
	*found = 0;
	n = snprintf(k, sizeof(k), "%s:ratelimit:", rc->rc_prefix);
	if (n < 0 || (size_t)n + klen > sizeof(k))
		return (-1);
	memcpy(k + n, key, klen);
	tv.tv_sec = (time_t)(rc->rc_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(rc->rc_timeout_ms % 1000 * 1000);
	if ((c = redisConnectWithTimeout(rc->rc_host, rc->rc_port, tv)) ==
	    NULL)
		return (-1);
	if (c->err || redisSetTimeout(c, tv) != REDIS_OK)
		goto out;
	if (rc->rc_password != NULL && sync_ok(rc->rc_user != NULL ?
	    redisCommand(c, "AUTH %s %s", rc->rc_user, rc->rc_password) :
	    redisCommand(c, "AUTH %s", rc->rc_password)) == -1)
		goto out;
	if (rc->rc_db != 0 &&
	    sync_ok(redisCommand(c, "SELECT %d", rc->rc_db)) == -1)
		goto out;
	rep = redisCommand(c, del ? "DEL %b" : "GET %b", k, (size_t)n + klen);
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		freeReplyObject(rep);
		goto out;
	}
	if (del)
		*found = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	else if (rep->type == REDIS_REPLY_STRING) {
		*tat_us = strtoull(rep->str, NULL, 10);
		*found = 1;
	}
	freeReplyObject(rep);
	rv = 0;
 out:
	redisFree(c);
	return (rv);
}
