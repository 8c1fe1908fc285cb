/*
 * http_parse.h: strict HTTP/1.1 message parsing (RFC 9112, RFC 9110).
 *
 * Pure code: no I/O, no malloc, no global state.  Every allocation comes
 * from the caller's arena, so the parser can be fuzzed on its own.  Run by
 * workers on untrusted bytes from clients and upstreams; it must never
 * read past len, never loop without consuming input, never crash.
 */
#ifndef VW_HTTP_PARSE_H
#define VW_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "vwstr.h"

#define HTTP_MAX_FIELDS		100	/* SPEC.md 4: more fields -> 431 */
#define HTTP_MAX_LINE		8192	/* request line -> 414, field line -> 431 */

enum http_method {
	HM_OTHER = 0,
	HM_GET,
	HM_HEAD,
	HM_POST,
	HM_PUT,
	HM_DELETE,
	HM_OPTIONS,
	HM_PATCH,
	HM_CONNECT,
	HM_TRACE
};

/* Field names the proxy acts on; everything else is H_OTHER. */
enum http_hdr_id {
	H_OTHER = 0,
	H_HOST,
	H_CONTENT_LENGTH,
	H_TRANSFER_ENCODING,
	H_CONNECTION,
	H_KEEP_ALIVE,
	H_PROXY,		/* any Proxy-* field (Proxy-Connection, ...) */
	H_TE,
	H_TRAILER,
	H_UPGRADE,
	H_EXPECT,
	H_X_FORWARDED_FOR,
	H_X_FORWARDED_PROTO,
	H_X_FORWARDED_HOST,
	H_X_REQUEST_ID,
	H_IDENTITY,		/* X-User-*, X-Session-Id, X-Api-Key-Name (any
				   case, '_' for '-') */
	H_SEC_WS_KEY,
	H_SEC_WS_VERSION,
	H_SEC_WS_ACCEPT,
	H_COOKIE,
	H_ACCEPT,
	H_ORIGIN,
	H_REFERER,
	H_USER_AGENT,
	H_AUTHORIZATION,
	H_SERVER,
	H_VIA,
	H_X_POWERED_BY,
	H_DATE,
	H_CONTENT_TYPE,
	H_X_FRAME_OPTIONS,
	H_CSP,			/* Content-Security-Policy */
	H__COUNT
};

/* struct http_field.f_flags */
#define F_HOPBYHOP	0x01	/* hop-by-hop or named in Connection: never
				   forwarded */

struct http_field {
	struct vw_str	 f_name;	/* as received */
	struct vw_str	 f_value;	/* OWS trimmed on both sides */
	uint16_t	 f_id;		/* enum http_hdr_id */
	uint16_t	 f_flags;
};

/* struct http_msg.m_flags */
#define M_CHUNKED	0x0001	/* Transfer-Encoding: chunked */
#define M_CLEN		0x0002	/* Content-Length present (m_clen valid) */
#define M_CLOSE		0x0004	/* Connection: close, or HTTP/1.0 without
				   keep-alive: close after this message */
#define M_UPGRADE_WS	0x0008	/* Connection: upgrade + Upgrade: websocket */
#define M_UPGRADE_OTHER	0x0010	/* an Upgrade we will not honour (h2c, ...) */
#define M_EXPECT_100	0x0020	/* Expect: 100-continue */
#define M_ABSOLUTE	0x0040	/* absolute-form target */
#define M_ASTERISK	0x0080	/* "*" target (OPTIONS only) */

struct http_msg {
	/* Request line (requests only). */
	struct vw_str	 m_method;
	enum http_method m_meth;
	struct vw_str	 m_target;	/* raw request-target */
	struct vw_str	 m_path;	/* normalised path: dot segments
					   removed, %XX of unreserved chars
					   decoded, other %XX upper-cased;
					   always starts with '/' ("*" for
					   M_ASTERISK) */
	struct vw_str	 m_query;	/* after '?', without it; len 0 = none */
	struct vw_str	 m_host;	/* authority to forward: from an
					   absolute-form target, else Host */

	/* Status line (responses only). */
	int		 m_status;
	struct vw_str	 m_reason;

	int		 m_version;	/* 10 or 11 */
	struct http_field *m_fields;	/* arena; m_nfields entries */
	unsigned	 m_nfields;
	uint64_t	 m_clen;	/* valid when M_CLEN */
	unsigned	 m_flags;
	int		 m_idx[H__COUNT]; /* index+1 of the first field with
					   that id, 0 = absent */
	size_t		 m_head_len;	/* bytes of the head incl. the blank
					   line (and any leading CRLFs) */
};

/*
 * Find the end of a message head in buf[0..len).  *scan is the caller's
 * cursor (start at 0, keep it between calls so bytes are looked at once).
 * Returns the head length (> 0) when the blank line ending the head is in
 * buf, 0 when more bytes are needed, or -status when the head can never be
 * valid: -414 when the first line exceeds HTTP_MAX_LINE (requests), -431
 * when the head exceeds max_head or a field line exceeds HTTP_MAX_LINE,
 * -400 for a NUL or bare CR.  Leading empty lines (RFC 9112 2.2) are
 * counted in the head.
 */
ssize_t	 http_head_end(const char *buf, size_t len, size_t *scan,
	    size_t max_head, int is_request);

/*
 * Parse a complete request head (buf[0..len), len as returned by
 * http_head_end()) into m.  Field storage and the normalised path come
 * from a; m points into buf, so buf must outlive m.  Returns 0 when the
 * request may proceed, else the HTTP status to answer with before closing
 * (400, 405, 414, 417, 431, 501, 505) as listed in SPEC.md 4.
 */
int	 http_parse_request(const char *buf, size_t len, struct http_msg *m,
	    struct arena *a);

/*
 * Parse a complete response head from an upstream.  req_meth is the method
 * of the request it answers (HEAD responses have no body).  Returns 0, or
 * -1 for anything malformed (the caller answers 502 and closes the
 * upstream connection).
 */
int	 http_parse_response(const char *buf, size_t len, struct http_msg *m,
	    struct arena *a);

/*
 * Body framing of a parsed response (RFC 9112 6.3): HB_NONE (HEAD, 1xx,
 * 204, 304), HB_CHUNKED, HB_LENGTH (m_clen bytes) or HB_CLOSE (until the
 * upstream closes).
 */
enum http_body { HB_NONE, HB_LENGTH, HB_CHUNKED, HB_CLOSE };
enum http_body http_response_body(const struct http_msg *m,
	    enum http_method req_meth);

/* The value of the first field with id, or a {NULL, 0} vw_str. */
struct vw_str http_field_get(const struct http_msg *m, enum http_hdr_id id);

/*
 * Incremental chunked-body decoder (RFC 9112 7.1).  Chunk extensions are
 * validated and dropped (total extension bytes per chunk are limited);
 * trailers are validated and dropped.
 */
struct chunked {
	int		 ck_state;
	uint64_t	 ck_remain;	/* data bytes left in the current chunk */
	size_t		 ck_linelen;	/* bytes of the current size/ext/trailer
					   line, bounded */
	uint64_t	 ck_total;	/* payload bytes decoded so far */
};

enum chunk_rc {
	CK_NEED = 0,	/* all of buf consumed, need more */
	CK_DATA,	/* payload span [*doff, *doff + *dlen) of buf */
	CK_DONE,	/* last-chunk and trailer section consumed */
	CK_ERROR	/* malformed: 400 (request) / 502 (response) */
};

void	 chunked_init(struct chunked *);

/*
 * Consume bytes from buf[0..len).  *used is set to the bytes consumed by
 * this call (always > 0 unless len == 0 or CK_ERROR).  On CK_DATA the
 * payload span lies within the consumed bytes.  Call again with the
 * remaining bytes until CK_NEED or CK_DONE.
 */
enum chunk_rc chunked_step(struct chunked *, const char *buf, size_t len,
	    size_t *used, size_t *doff, size_t *dlen);

/* Lower-case-insensitive method name to enum; HM_OTHER when unknown. */
enum http_method http_method_id(struct vw_str);

/*
 * Field name to enum http_hdr_id (case-insensitive; '_' matches '-' for
 * the H_IDENTITY names only); H_OTHER when not one we act on.
 */
enum http_hdr_id http_hdr_id(struct vw_str name);

/* RFC 9110 token character. */
int	 http_is_tchar(unsigned char);

/* Reason phrase for the statuses vibewarden itself sends. */
const char *http_reason(int status);

#endif /* VW_HTTP_PARSE_H */
