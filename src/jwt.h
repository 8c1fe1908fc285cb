/*
 * jwt.h: JSON Web Tokens (RFC 7519) signed with JWS compact serialisation
 * (RFC 7515), and JSON Web Key sets (RFC 7517, OIDC discovery), checked
 * with OpenSSL only.  Pure code: no I/O, no global state, so it can be
 * fuzzed; runs in workers (tokens) and in the JWKS helper (key sets) on
 * untrusted bytes.  JSON is parsed by jansson with duplicate keys refused.
 */
#ifndef VW_JWT_H
#define VW_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#define JWT_MAX_LEN	8000	/* a longer token is refused unread */
#define JWT_KID_MAX	255	/* longest kid, bytes ("k" + kid is an
				   shm key of at most 256) */
#define JWKS_MAX_KEYS	64	/* keys taken from one set */
#define JWKS_MAX_BODY	(1024 * 1024)	/* reference 3.3: 1 MiB */

/* JWA algorithms (RFC 7518 3.1); JWA_NONE = unknown, none or HS*. */
enum jwt_alg {
	JWA_NONE = 0,
	JWA_RS256, JWA_RS384, JWA_RS512,
	JWA_PS256, JWA_PS384, JWA_PS512,
	JWA_ES256, JWA_ES384, JWA_ES512,
	JWA__COUNT
};

struct jwt {
	json_t		*j_header;	/* owned (jwt_free) */
	json_t		*j_claims;	/* owned */
	enum jwt_alg	 j_alg;
	const char	*j_kid;		/* in j_header; NULL = none */
	const char	*j_input;	/* signing input: the token up to the
					   second '.' (borrowed) */
	size_t		 j_inlen;
	unsigned char	 j_sig[512];
	size_t		 j_siglen;
};

/* Name ("RS256") to id; JWA_NONE for anything this code never accepts. */
enum jwt_alg	 jwt_alg_id(const char *name);
const char	*jwt_alg_name(enum jwt_alg);

/*
 * Strict base64url (RFC 4648 5, RFC 7515 2): the URL alphabet only, no
 * padding, no whitespace, unused trailing bits zero.  Decodes s[0..n)
 * into out (cap bytes); 0 with *olen set, or -1.
 */
int		 jwt_b64url_decode(const char *s, size_t n, unsigned char *out,
		    size_t cap, size_t *olen);

/*
 * Split and decode tok[0..len) (not NUL-terminated): three non-empty
 * base64url segments, a JSON object header with an "alg" this code knows
 * (none and HS* are refused), no "crit" (no extension is understood;
 * jku, x5u, jwk and x5c are ignored, never fetched or trusted), a JSON
 * object payload.  0 with j filled (jwt_free it), or -1 with *why a
 * reason code (static storage) and nothing to free.
 */
int		 jwt_decode(const char *tok, size_t len, struct jwt *j,
		    const char **why);

/* Release what jwt_decode took; a zeroed or freed j is fine. */
void		 jwt_free(struct jwt *j);

/*
 * Check j's signature with pk (EVP_DigestVerify).  The key type must fit
 * the algorithm: RSA of 2048 bits or more for RS and PS, EC on the
 * algorithm's curve for ES (whose raw r||s is converted to DER).  0 = good,
 * -1 with *why.
 */
int		 jwt_verify(const struct jwt *j, EVP_PKEY *pk, const char **why);

struct jwt_policy {
	const char	*jp_iss;	/* required "iss"; NULL = any */
	const char	*jp_aud;	/* required in "aud"; NULL = any */
	int64_t		 jp_skew;	/* seconds of leeway */
};

/*
 * The registered claims at now (Unix seconds): "exp" required, "nbf" and
 * "iat" honoured, all within the skew; "iss" equal; "aud" (string or
 * array) containing jp_aud.  0 with *exp set, or -1 with *why.
 */
int		 jwt_check_claims(const struct jwt *j, const struct jwt_policy *p,
		    int64_t now, int64_t *exp, const char **why);

/*
 * One usable key of a JWKS: kid, alg (JWA_NONE when the JWK names none),
 * and the public key as DER SubjectPublicKeyInfo (i2d_PUBKEY).
 */
typedef int	 jwks_key_fn(void *arg, const char *kid, enum jwt_alg alg,
		    const unsigned char *der, size_t derlen);

/*
 * Parse a JWKS document buf[0..len): for each signing key (kty RSA with
 * n >= 2048 bits, or EC on P-256/P-384/P-521; "use" absent or "sig"; a
 * kid) call fn; other keys are skipped.  Returns the number of keys
 * given to fn (fn returning -1 stops with -1), or -1 with *why when the
 * document is not a key set.
 */
int		 jwks_parse(const char *buf, size_t len, jwks_key_fn *fn,
		    void *arg, const char **why);

/*
 * The "jwks_uri" of an OIDC discovery document (http or https; https
 * only when https is non-zero) into out (cap bytes, NUL-terminated); 0
 * or -1.
 */
int		 jwks_discovery_uri(const char *buf, size_t len, int https,
		    char *out, size_t cap);

/* A public key from DER SubjectPublicKeyInfo; NULL when unusable. */
EVP_PKEY	*jwks_der_key(const unsigned char *der, size_t len);

#endif /* VW_JWT_H */
