/*
 * proxy.h: moving a request to the upstream and its response back, and
 * the WebSocket tunnel (SPEC.md 4, 9).  Worker only.
 */
#ifndef VW_PROXY_H
#define VW_PROXY_H

#include "req.h"

enum pr {
	PR_AGAIN,	/* waiting on a socket */
	PR_DONE,	/* exchange complete; the client may send the next */
	PR_ABORT	/* close the client connection now */
};

/*
 * Push a flow's pending bytes to dst and refill it from src (NULL: the
 * flow has no source).  Returns 1 when the flow is complete, 0 when
 * blocked on a socket, -1 on a source error (bad framing, premature EOF),
 * -2 when dst failed and -3 when a chunked body passes f->fl_max.
 */
int	 flow_pump(struct flow *f, struct endp *src, struct endp *dst);

/* Start proxying cn's parsed request; see enum pr. */
enum pr	 proxy_start(struct conn *cn);

/*
 * A stage asked for the whole body (RQ_HOLD): read it into the client
 * buffer behind the head, which stays where it is, growing the buffer
 * (conn_grow_inbuf) up to rq_holdmax bytes of payload (chunked: plus
 * HOLD_FRAMING of framing).  Returns 1 when it is held (RQ_HELD,
 * rq_held), 0 to wait for the client, -1 when the client went away, 2
 * when the request got an error answer instead (413, 400, 503).
 */
int	 proxy_hold(struct conn *cn);
#define HOLD_FRAMING	16384
/*
 * What the client buffers grown for held bodies may take in one worker
 * (W.w_heapin); a hold that would pass it is answered 503 with
 * Retry-After (providers send webhooks again), so that many clients each
 * holding a body open cannot take the machine's memory.
 */
#define HOLD_BUDGET	(64 * 1024 * 1024)

/* Make progress on cn's exchange or tunnel; see enum pr. */
enum pr	 proxy_run(struct conn *cn);

/*
 * Replace cn's exchange with vibewarden's own error answer (status, log
 * event, message) and release the upstream side.  PR_DONE: the answer is
 * queued (cn is in CS_RESP); PR_ABORT: part of a response already went
 * out, so the connection can only be closed.
 */
enum pr	 proxy_fail(struct conn *cn, int status, enum rq_event ev,
	    const char *msg);

/* The upstream connection's timer fired (connect or response). */
void	 proxy_up_timeout(struct conn *cn);

/*
 * The request is freed: stop its retry timer, and give back a circuit
 * breaker probe that never got an outcome.
 */
void	 proxy_req_done(struct req *rq);

/* Forget cn's upstream side: close it, or pool it when reusable. */
void	 proxy_finish(struct conn *cn, int reusable);

#endif /* VW_PROXY_H */
