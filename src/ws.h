/*
 * ws.h: the WebSocket opening handshake checks (RFC 6455 4).  Frames are
 * never inspected: after a valid 101 the worker tunnels raw bytes.
 * Worker only.
 */
#ifndef VW_WS_H
#define VW_WS_H

#include "vwstr.h"

/* 1 when key is 24 base64 chars decoding to 16 bytes (RFC 6455 4.1). */
int	 ws_key_valid(struct vw_str key);

/*
 * 1 when accept equals base64(SHA-1(key + RFC 6455 GUID)), the only 101
 * that opens a tunnel (SPEC.md 9).
 */
int	 ws_accept_valid(struct vw_str key, struct vw_str accept);

#endif /* VW_WS_H */
