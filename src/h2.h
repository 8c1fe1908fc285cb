/*
 * h2.h: HTTP/2 to clients over TLS (SPEC.md 4 "HTTP/2"), with nghttp2.
 *
 * A client connection whose ALPN chose "h2" hands its endpoint to an
 * nghttp2 server session (h2.c), driven by the worker's loop through the
 * connection's TLS endp_ops.  Each stream becomes a struct conn of its
 * own whose endpoint is the stream: its request head is the HTTP/1.1 head
 * h2_req_head() builds from the stream's fields, its body the DATA frames,
 * and the HTTP/1.1 answer conn.c/proxy.c write to it goes back as HEADERS
 * and DATA under HTTP/2 flow control.  So one stream runs exactly the
 * parsing, stages, proxying and log event of an HTTP/1.1 request.
 * Worker only.
 */
#ifndef VW_H2_H
#define VW_H2_H

#include <sys/types.h>

#include <stddef.h>

struct conn;
struct endp;

#define H2_OUTMAX	16384	/* answer body bytes held per stream: the
				   size of a BLK_H2OUT block */

/* One field of an HTTP/2 header block, as decoded by HPACK. */
struct h2_field {
	const char	*hf_name;
	size_t		 hf_nlen;
	const char	*hf_value;
	size_t		 hf_vlen;
};

#define H2H_CLEN	0x01	/* content-length given: body as is */
#define H2H_CHUNKED	0x02	/* body framed as chunks of DATA */

/*
 * The HTTP/1.1 request head (request line to blank line) for the fields
 * f[0..n) of a request whose header block did (endstream) or did not end
 * the stream, into buf[0..cap).  Returns its length, -1 when RFC 9113 8.2
 * makes the request malformed (a stream error PROTOCOL_ERROR), or -431
 * when it does not fit in cap.  Pure.
 */
ssize_t	 h2_req_head(const struct h2_field *f, size_t n, int endstream,
	    char *buf, size_t cap, unsigned *flags);

/* 1 when ep is a TLS client endpoint whose ALPN chose h2. */
int	 h2_alpn(const struct endp *ep);

/*
 * Turn cn (state CS_H2, its first bytes in cn_ep.ep_in) into an HTTP/2
 * server connection.  -1 on failure (the caller closes cn).
 */
int	 h2_start(struct conn *cn);

/* Run an HTTP/2 connection: read, process, write.  May close cn. */
void	 h2_run(struct conn *cn);

/* Drain: GOAWAY, in-flight streams finish, then close. */
void	 h2_drain(struct conn *cn);

/* Timeout of an HTTP/2 connection (idle, or nothing could be written). */
void	 h2_timeout(struct conn *cn);

/* Release the session and every stream of cn (from conn_close). */
void	 h2_free(struct conn *cn);

#endif /* VW_H2_H */
