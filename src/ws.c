/*
 * ws.c: WebSocket handshake checks (see ws.h).  SHA-1 and base64 come from
 * OpenSSL.  Worker only; no I/O.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws.h"

#define WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int
ws_key_valid(struct vw_str key)
{
	unsigned char	 out[32];
	int		 n;

	if (key.len != 24 || key.p[22] != '=' || key.p[23] != '=')
		return (0);
	n = EVP_DecodeBlock(out, (const unsigned char *)key.p, 24);
	/* EVP_DecodeBlock counts padding as zero bytes: 18 = 16 + 2. */
	return (n == 18);
}

int
ws_accept_valid(struct vw_str key, struct vw_str accept)
{
	unsigned char	 in[64 + sizeof(WS_GUID)], md[SHA_DIGEST_LENGTH];
	char		 b64[32];

	if (key.len > 64 || accept.len != 28)
		return (0);
	memcpy(in, key.p, key.len);
	memcpy(in + key.len, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1(in, key.len + sizeof(WS_GUID) - 1, md);
	EVP_EncodeBlock((unsigned char *)b64, md, sizeof(md));
	return (memcmp(b64, accept.p, 28) == 0);
}
