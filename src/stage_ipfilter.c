/*
 * stage_ipfilter.c: the IP filter (SPEC.md 5 position 5, 7): ip_filter.mode
 * allowlist (only listed addresses pass) or blocklist (listed addresses are
 * refused), over IPv4/IPv6 addresses and CIDRs, looked up in O(log n)
 * (cidr.c: sorted ranges).
 *
 * Two places judge, both with the same set:
 *   - ipfilter_peer_refused(), by conn.c right after accept(): a refused
 *     peer is closed before any TLS or HTTP work, so it costs one accept
 *     and one close.  A peer in server.trusted_proxies is not judged there
 *     when ip_filter.trust_proxy_headers is on: the client behind it is
 *     known only once its request head has been read.
 *   - stage_ipfilter, on each request: with trust_proxy_headers the
 *     client address decided through server.trusted_proxies (stage_reqid),
 *     else the peer; a refused one gets 403 and ip_filter.blocked.
 * Worker only; no I/O.
 */
#include "cidr.h"
#include "pipe.h"
#include "worker.h"

static struct cidrset	 ipf;		/* ip_filter.addresses */
static int		 ipf_on;
static int		 ipf_allow;	/* allowlist mode */
static int		 ipf_xff;	/* trust_proxy_headers */

int
ipfilter_init(const struct config *cf)
{
	cidrset_free(&ipf);
	ipf_on = config_feature_on(cf, "ip_filter");
	ipf_allow = cf->ip_filter.mode == IPF_ALLOWLIST;
	ipf_xff = cf->ip_filter.trust_proxy_headers;
	if (!ipf_on)
		return (0);
	return (cidrset_build(&ipf, &cf->ip_filter.addresses));
}

/* 1 when the filter refuses address ia. */
static int
refused(const struct ipaddr *ia)
{
	return (cidrset_match(&ipf, ia) != ipf_allow);
}

int
ipfilter_peer_refused(const struct ipaddr *peer)
{
	if (!ipf_on)
		return (0);
	if (ipf_xff && cidrset_match(W.w_trusted, peer))
		return (0);	/* judged per request, on its client */
	return (refused(peer));
}

enum verdict
stage_ipfilter(struct req *rq)
{
	if (!ipf_on)
		return (V_NEXT);
	if (!refused(ipf_xff ? &rq->rq_caddr : &rq->rq_conn->cn_addr))
		return (V_NEXT);
	return (req_fail(rq, 403, EV_IP_BLOCKED, "forbidden",
	    "your IP address is not permitted to access this resource"));
}

const char *
ipfilter_mode(void)
{
	return (ipf_allow ? "allowlist" : "blocklist");
}
