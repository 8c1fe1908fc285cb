/*
 * stage_reqid.c: pipeline stage 2 (SPEC.md 5, 11): the request id and the
 * client address.  Worker only; no I/O.
 */
#include <string.h>

#include "cidr.h"
#include "pipe.h"
#include "util.h"
#include "worker.h"

/* SPEC.md 11: 1-128 chars of [A-Za-z0-9._-] are kept, else replaced. */
static int
valid_id(struct vw_str v)
{
	size_t		 i;
	unsigned char	 c;

	if (v.len < 1 || v.len > 128)
		return (0);
	for (i = 0; i < v.len; i++) {
		c = (unsigned char)v.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return (0);
	}
	return (1);
}

/* p[0..len) without leading and trailing OWS. */
static struct vw_str
trim(const char *p, size_t len)
{
	struct vw_str	 e;

	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	e.p = p;
	e.len = len;
	return (e);
}

/*
 * Call fn on each non-empty element of the X-Forwarded-For list (every
 * field in order, RFC 9110 5.3), right to left, until it returns 0.
 */
static void
xff_rwalk(const struct http_msg *m, int (*fn)(struct vw_str, void *),
    void *arg)
{
	const struct http_field	*fl;
	struct vw_str		 v, e;
	size_t			 i, start, end;

	for (i = m->m_nfields; i-- > 0; ) {
		fl = &m->m_fields[i];
		if (fl->f_id != H_X_FORWARDED_FOR ||
		    (fl->f_flags & F_HOPBYHOP))
			continue;
		if ((v = fl->f_value).len == 0)
			continue;
		for (end = v.len;; end = start - 1) {
			for (start = end; start > 0 && v.p[start - 1] != ',';
			    start--)
				;
			e = trim(v.p + start, end - start);
			if (e.len > 0 && !fn(e, arg))
				return;
			if (start == 0)
				break;
		}
	}
}

struct xffwalk {
	struct ipaddr	*xw_client;
	unsigned	 xw_seen;	/* elements walked */
	unsigned	 xw_kept;	/* elements believed, from the right */
};

static int
count_elem(struct vw_str e, void *arg)
{
	(*(unsigned *)arg)++;
	return (1);
}

static int
believe_elem(struct vw_str e, void *arg)
{
	struct xffwalk	*xw = arg;
	struct ipaddr	 ia;

	xw->xw_seen++;
	if (ipaddr_parse(e.p, e.len, &ia) == -1)
		return (0);
	*xw->xw_client = ia;
	xw->xw_kept = xw->xw_seen;
	return (cidrset_match(W.w_trusted, &ia));
}

/*
 * SPEC.md 2 server.trusted_proxies: behind a trusted peer, the client is
 * the right-most X-Forwarded-For hop that is not itself a trusted proxy
 * (every hop to its right was added by one of ours).  Walking stops at an
 * element that is not an address: what is left of it is not believed,
 * and the last address believed is the client.  What is not believed is
 * not forwarded either (rq_xff_skip), so the application can believe
 * every entry it gets, and its left-most one is the client we judged.
 */
static void
client_from_xff(struct req *rq, struct ipaddr *cip)
{
	struct xffwalk	 xw = { cip, 0, 0 };
	unsigned	 n = 0;

	xff_rwalk(&rq->rq_msg, count_elem, &n);
	xff_rwalk(&rq->rq_msg, believe_elem, &xw);
	rq->rq_xff_skip = n - xw.xw_kept;
}

enum verdict
stage_reqid(struct req *rq)
{
	struct vw_str	 v;
	struct ipaddr	 cip;

	v = http_field_get(&rq->rq_msg, H_X_REQUEST_ID);
	if (v.p != NULL && valid_id(v)) {
		memcpy(rq->rq_id, v.p, v.len);
		rq->rq_id[v.len] = '\0';
	} else
		util_request_id(rq->rq_id);
	cip = rq->rq_conn->cn_addr;
	if (cidrset_match(W.w_trusted, &cip)) {
		rq->rq_flags |= RQ_TRUSTED_PEER;
		client_from_xff(rq, &cip);
		ipaddr_format(&cip, rq->rq_cip, sizeof(rq->rq_cip));
	}
	rq->rq_caddr = cip;
	return (V_NEXT);
}
