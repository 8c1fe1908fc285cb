/*
 * errresp.c: vibewarden's own answers (SPEC.md 11).  Errors are JSON
 * {"error","status","message","request_id"} with X-Request-Id and the
 * security headers; the client learns nothing about the upstream.
 * Worker only; no I/O (conn.c writes the result).
 */
#include <stdio.h>
#include <string.h>

#include "errresp.h"
#include "pipe.h"
#include "util.h"

const char *
errresp_code(int status)
{
	switch (status) {
	case 400:
		return ("bad_request");
	case 401:
		return ("unauthorized");
	case 403:
		return ("forbidden");
	case 404:
		return ("not_found");
	case 405:
		return ("method_not_allowed");
	case 408:
		return ("request_timeout");
	case 413:
		return ("payload_too_large");
	case 414:
		return ("uri_too_long");
	case 417:
		return ("expectation_failed");
	case 429:
		return ("rate_limit_exceeded");
	case 431:
		return ("request_header_fields_too_large");
	case 501:
		return ("not_implemented");
	case 502:
		return ("bad_gateway");
	case 503:
		return ("service_unavailable");
	case 504:
		return ("upstream_timeout");
	case 505:
		return ("http_version_not_supported");
	default:
		return (status >= 500 ? "internal_error" : "bad_request");
	}
}

/*
 * A rate limit's 429 (SPEC.md 8): Retry-After, and the IETF draft's
 * RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-
 * headers: quota q per window w seconds; r remaining, t seconds to wait).
 */
static void
limit_headers(const struct req *rq, char *d, size_t cap, size_t *off)
{
	util_append(d, cap, off, "Retry-After: %u\r\n", rq->rq_rlretry);
	if (rq->rq_rlquota > 0)
		util_append(d, cap, off, "RateLimit-Policy: \"%s\";q=%u;w=%u"
		    "\r\n", rq->rq_rlkind, rq->rq_rlquota, rq->rq_rlwindow);
	util_append(d, cap, off, "RateLimit: \"%s\";r=0;t=%u\r\n",
	    rq->rq_rlkind, rq->rq_rlretry);
}

void
errresp_render(struct req *rq, int close)
{
	char		*d = rq->rq_clhead, body[1024];
	size_t		 cap = rq->rq_clhead_cap, off = 0, blen = 0;
	const char	*b, *ctype;
	const char	*reason = http_reason(rq->rq_status);

	if (rq->rq_errcode != NULL) {
		util_append(body, sizeof(body), &blen,
		    "{\"error\":\"%s\",\"status\":%d,\"message\":\"",
		    rq->rq_errcode, rq->rq_status);
		if (rq->rq_errmsg)
			util_json_esc(body, sizeof(body) - 64, &blen,
			    rq->rq_errmsg, strlen(rq->rq_errmsg));
		util_append(body, sizeof(body), &blen,
		    "\",\"request_id\":\"%s\"", rq->rq_id);
		if (rq->rq_rlkind != NULL)
			util_append(body, sizeof(body), &blen,
			    ",\"retry_after_seconds\":%u", rq->rq_rlretry);
		util_append(body, sizeof(body), &blen, "}\n");
		b = body;
		ctype = "application/json";
	} else {
		b = rq->rq_body;
		blen = rq->rq_blen;
		ctype = rq->rq_ctype;
	}
	util_append(d, cap, &off, "HTTP/1.1 %d %s\r\n", rq->rq_status,
	    reason ? reason : "Unknown");
	if (ctype != NULL && !rhdr_drops("Content-Type", 12))
		util_append(d, cap, &off, "Content-Type: %s\r\n", ctype);
	/* RFC 9110 8.6: never a Content-Length on a 204 (a preflight). */
	if (rq->rq_status != 204)
		util_append(d, cap, &off, "Content-Length: %zu\r\n", blen);
	if (!rhdr_drops("Cache-Control", 13))
		util_append(d, cap, &off, "Cache-Control: no-store\r\n");
	sechdr_append(d, cap, &off, 0);
	cors_append(rq, d, cap, &off);
	rhdr_append(d, cap, &off);
	if (rq->rq_rlkind != NULL)
		limit_headers(rq, d, cap, &off);
	else if (rq->rq_retry_after > 0)
		util_append(d, cap, &off, "Retry-After: %u\r\n",
		    rq->rq_retry_after);
	if (rq->rq_xhdr.len > 0)
		util_append(d, cap, &off, "%.*s", (int)rq->rq_xhdr.len,
		    rq->rq_xhdr.p);
	util_append(d, cap, &off, "X-Request-Id: %s\r\n%s\r\n", rq->rq_id,
	    close ? "Connection: close\r\n" : "");
	if (off + blen >= cap) {
		/* Cannot happen with today's bodies; never send a head that
		   promises a body it lacks. */
		off = 0;
		util_append(d, cap, &off, "HTTP/1.1 500 Internal Server Error"
		    "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		rq->rq_conn->cn_close = 1;
		blen = 0;
	}
	/* HEAD: the length of what GET would carry, and no body. */
	if (rq->rq_meth != HM_HEAD && blen > 0) {
		memcpy(d + off, b, blen);
		off += blen;
	}
	memset(&rq->rq_back, 0, sizeof(rq->rq_back));
	rq->rq_back.fl_head = d;
	rq->rq_back.fl_hlen = off;
	rq->rq_back.fl_mode = FL_NONE;
}
