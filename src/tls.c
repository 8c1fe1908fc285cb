/*
 * tls.c: TLS in a worker (SPEC.md 10), as a second struct endp_ops under
 * the connection layer: client connections (server role) and https://
 * upstream connections (client role).  The SSL object is made on the
 * first I/O of a connection, the handshake runs inside recv/writev, and
 * OpenSSL's wants are mapped onto the endp readiness flags, so conn.c and
 * proxy.c never know whether a socket is encrypted.  Worker only: never
 * blocks, never dies on client input; the contexts are this process's own,
 * built after fork from the material the master loaded.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certpage.h"
#include "counters.h"
#include "log.h"
#include "tls.h"

#define TLS_CHUNK	16384	/* one full record per SSL_write */
#define TRIM_MIN	(8 * 1024 * 1024)

/* Mozilla "intermediate" TLS 1.2 suites: ECDHE with AEAD only. */
#define CIPHERS12	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
			"ECDHE-RSA-AES128-GCM-SHA256:" \
			"ECDHE-ECDSA-AES256-GCM-SHA384:" \
			"ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:" \
			"ECDHE-RSA-CHACHA20-POLY1305"
#define CIPHERS13	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS		"X25519:P-256:P-384"

/* Per connection, behind ep_tls. */
struct tconn {
	SSL		*tc_ssl;
	size_t		 tc_wpend;	/* a write OpenSSL must see again */
	int		 tc_broken;	/* fatal error: no close_notify */
	int		 tc_handshook;	/* the handshake completed once (after
					   a fatal error OpenSSL no longer
					   says so) */
	int		 tc_rshort;	/* the last socket read in this
					   tls_recv() got less than asked */
};

static SSL_CTX		*sctx;		/* client connections */
static const struct config *scf;	/* what sctx was built from */
static uint32_t		 sgen;		/* certpage generation in sctx */
static SSL_CTX		*cctx;		/* upstream connections */
static const char	*up_name;	/* upstream host: SNI, verification */
static int		 up_is_ip;
static int		 up_verify;
static SSL_CTX		*kctx;		/* https:// kratos.public_url */
static char		 kr_name[256];	/* Kratos host: SNI, verification */
static int		 kr_is_ip;

/* The third argument of tconn_get() and friends: whose connection. */
#define ROLE_UPSTREAM	0
#define ROLE_SERVER	1
#define ROLE_KRATOS	2

/* ---------------------------------------------------------- callbacks */

/*
 * ALPN (RFC 7301): h2 (server.http2, SPEC.md 4), then http/1.1; no overlap
 * is a fatal alert (3.2).  The server's order wins.
 */
static int
alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 both[] = "\x02h2\x08http/1.1";
	static const unsigned char	 h11[] = "\x08http/1.1";
	const struct config		*cf = arg;
	unsigned char			*o;

	if (cf != NULL && cf->server.http2 ?
	    SSL_select_next_proto(&o, outlen, both, sizeof(both) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED :
	    SSL_select_next_proto(&o, outlen, h11, sizeof(h11) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return (SSL_TLSEXT_ERR_ALERT_FATAL);
	*out = o;
	return (SSL_TLSEXT_ERR_OK);
}

int
tls_alpn_h2(const struct endp *ep)
{
	const struct tconn	*t = ep->ep_tls;
	const unsigned char	*p;
	unsigned int		 n;

	if (t == NULL || t->tc_ssl == NULL)
		return (0);
	SSL_get0_alpn_selected(t->tc_ssl, &p, &n);
	return (n == 2 && memcmp(p, "h2", 2) == 0);
}

/*
 * Session tickets with the keys of the master's shared page, so a client
 * resumes on any worker; a ticket under the previous key is accepted and
 * renewed (return 2).
 */
static int
ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_tkey	 k;
	OSSL_PARAM	 p[3];
	int		 rc;

	if (enc) {
		if (tls_ticket_key(NULL, &k) != 1)
			return (0);		/* no ticket */
		memcpy(name, k.tk_name, 16);
		if (RAND_bytes(iv, 16) != 1 || !EVP_EncryptInit_ex(ectx,
		    EVP_aes_256_cbc(), NULL, k.tk_aes, iv))
			goto fail;
		rc = 1;
	} else {
		if ((rc = tls_ticket_key(name, &k)) == 0)
			return (0);		/* unknown: full handshake */
		if (!EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL,
		    k.tk_aes, iv))
			goto fail;
	}
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k.tk_hmac, sizeof(k.tk_hmac));
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    "SHA256", 0);
	p[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, p))
		goto fail;
	explicit_bzero(&k, sizeof(k));
	return (rc);
 fail:
	explicit_bzero(&k, sizeof(k));
	return (-1);
}

/* ---------------------------------------------------------- contexts */

static const unsigned long	 ctx_opts = SSL_OP_NO_RENEGOTIATION |
    SSL_OP_NO_COMPRESSION | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
    SSL_OP_NO_TLSv1_1;
static const long		 ctx_mode = SSL_MODE_RELEASE_BUFFERS |
    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

static void
log_ssl(const char *type, const char *what)
{
	unsigned long	 e = ERR_peek_last_error();

	log_sys(LOG_LVL_ERROR, type, "%s: %s", what,
	    e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
	    "openssl error");
	ERR_clear_error();
}

static SSL_CTX *
server_ctx(const struct config *cf, const struct tls_cert *c)
{
	SSL_CTX	*ctx;
	int	 modern = cf->tls.profile == TLS_PROF_MODERN;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	SSL_CTX_set_options(ctx, ctx_opts |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, ctx_mode);
	/* One read(2) per record batch, not a header and then a body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (!SSL_CTX_set_min_proto_version(ctx, modern ? TLS1_3_VERSION :
	    TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, CIPHERS12) ||
	    !SSL_CTX_set_ciphersuites(ctx, CIPHERS13) ||
	    !SSL_CTX_set1_groups_list(ctx, GROUPS))
		goto fail;
	if (SSL_CTX_use_certificate(ctx, c->tc_leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, c->tc_key) != 1 ||
	    SSL_CTX_set1_chain(ctx, c->tc_chain) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, (void *)cf);
	/* Stateless tickets only: a worker's cache would not resume on
	   another worker, and costs memory per client. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb))
		goto fail;
	return (ctx);
 fail:
	log_ssl("tls.context_failed", "server TLS context");
	SSL_CTX_free(ctx);
	return (NULL);
}

static SSL_CTX *
client_ctx(const struct config *cf)
{
	static const unsigned char	 h11[] = "\x08http/1.1";
	const struct cf_upstream	*u = &cf->upstream;
	SSL_CTX				*ctx;
	struct in6_addr			 a;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	SSL_CTX_set_options(ctx, ctx_opts);
	SSL_CTX_set_mode(ctx, ctx_mode);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(ctx, h11, sizeof(h11) - 1) != 0)
		goto fail;
	up_verify = !u->tls_insecure;
	if (!up_verify)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		/* The master read ca_file before fork (tls_ca_load). */
		if (u->tls_ca_file != NULL) {
			if (tls_ca_current() == NULL)
				goto fail;
			SSL_CTX_set1_cert_store(ctx, tls_ca_current());
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			goto fail;
	}
	up_name = u->host;
	up_is_ip = inet_pton(AF_INET, u->host, &a) == 1 ||
	    inet_pton(AF_INET6, u->host, &a) == 1;
	return (ctx);
 fail:
	log_ssl("tls.context_failed", u->tls_ca_file != NULL ?
	    u->tls_ca_file : "upstream TLS context");
	SSL_CTX_free(ctx);
	return (NULL);
}

/*
 * The ACME helper published a new certificate (certpage.h): build a
 * context with it for the connections accepted from now on.  Open
 * connections hold a reference to the context they started with
 * (SSL_new), so freeing ours here takes nothing from them: they keep
 * their certificate and their session until they close.  On failure the
 * old context stays and this generation is not tried again.
 */
static void
maybe_swap(void)
{
	struct tls_cert	*c;
	SSL_CTX		*n;
	uint32_t	 gen;
	size_t		 len;
	char		*pem, err[256];

	if ((gen = certpage_cert_gen()) == sgen)
		return;
	if ((pem = certpage_cert_copy(&len, &gen)) == NULL)
		return;
	sgen = gen;
	c = tls_cert_from_pem(pem, len, scf->tls.domain, err, sizeof(err));
	explicit_bzero(pem, len);
	free(pem);
	if (c == NULL) {
		log_sys(LOG_LVL_ERROR, "tls.certificate_swap_failed",
		    "new ACME certificate: %s; keeping the current one", err);
		return;
	}
	if ((n = server_ctx(scf, c)) != NULL) {
		SSL_CTX_free(sctx);
		sctx = n;
	}
	tls_cert_free(c);
}

int
tls_worker_init(const struct config *cf)
{
	const struct tls_cert	*c = tls_cert_current();

	/*
	 * SSL_MODE_RELEASE_BUFFERS frees each connection's ~17 KB record
	 * buffers when they empty (idle connections stay small) and takes
	 * them again for the next record.  With glibc's default trim
	 * threshold the heap top then shrinks and grows with the traffic,
	 * a brk() and fresh page faults per request: keep 8 MB of free top.
	 */
	if (cf->tls.enabled || cf->upstream.tls)
		mallopt(M_TRIM_THRESHOLD, TRIM_MIN);
	if (cf->tls.enabled) {
		if (c == NULL) {
			log_sys(LOG_LVL_ERROR, "tls.context_failed",
			    "no certificate loaded");
			return (-1);
		}
		if ((sctx = server_ctx(cf, c)) == NULL)
			return (-1);
		scf = cf;
		sgen = 0;
		if (cf->tls.provider == TLS_PROV_LETSENCRYPT)
			maybe_swap();
	}
	if (cf->upstream.tls && (cctx = client_ctx(cf)) == NULL)
		return (-1);
	return (0);
}

/* ---------------------------------------------------------- connections */

/*
 * After each read(2) of the socket BIO: did it get less than asked?  With
 * read-ahead, OpenSSL asks for all the room its buffer has, so a short
 * read means the socket was empty then, as in endp_fill().
 */
static long
rbio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
    int ret, size_t *processed)
{
	struct tconn	*t;

	(void)argp;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
		t = (struct tconn *)BIO_get_callback_arg(b);
		t->tc_rshort = ret > 0 && processed != NULL &&
		    *processed < len;
	}
	return (ret);
}

static struct tconn *
tconn_get(struct endp *ep, int server)
{
	struct tconn	*t = ep->ep_tls;
	SSL		*s;

	if (t != NULL)
		return (t);
	if (server == ROLE_SERVER && scf->tls.provider == TLS_PROV_LETSENCRYPT)
		maybe_swap();
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	if ((s = SSL_new(server == ROLE_SERVER ? sctx :
	    server == ROLE_KRATOS ? kctx : cctx)) == NULL ||
	    !SSL_set_fd(s, ep->ep_io.io_fd))
		goto fail;
	BIO_set_callback_ex(SSL_get_rbio(s), rbio_cb);
	BIO_set_callback_arg(SSL_get_rbio(s), (char *)t);
	if (server == ROLE_SERVER)
		SSL_set_accept_state(s);
	else if (server == ROLE_KRATOS) {
		SSL_set_connect_state(s);
		if (!kr_is_ip && !SSL_set_tlsext_host_name(s, kr_name))
			goto fail;
		if (kr_is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(s), kr_name) : !SSL_set1_host(s, kr_name))
			goto fail;
	} else {
		SSL_set_connect_state(s);
		/* RFC 6066 3: no IP literals in SNI. */
		if (!up_is_ip && !SSL_set_tlsext_host_name(s, up_name))
			goto fail;
		if (up_verify && (up_is_ip ?
		    !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s),
		    up_name) : !SSL_set1_host(s, up_name)))
			goto fail;
	}
	t->tc_ssl = s;
	ep->ep_tls = t;
	return (t);
 fail:
	ERR_clear_error();
	SSL_free(s);
	free(t);
	return (NULL);
}

/* The handshake has completed: count a client's once (metrics). */
static void
handshook(struct tconn *t, int server)
{
	if (!t->tc_handshook && server == ROLE_SERVER && counters_self != NULL)
		counters_self->c_tls_handshakes[0]++;
	t->tc_handshook = 1;
}

static void
handshake_failed(struct tconn *t, int server)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*why = e && ERR_reason_error_string(e) ?
			    ERR_reason_error_string(e) : "connection closed";
	long		 vr;

	if (server == ROLE_KRATOS) {
		if ((vr = SSL_get_verify_result(t->tc_ssl)) != X509_V_OK)
			why = X509_verify_cert_error_string(vr);
		log_sys(LOG_LVL_ERROR, "tls.kratos_handshake_failed",
		    "Kratos %s: %s", kr_name, why);
		return;
	}
	if (server == ROLE_SERVER) {
		if (counters_self != NULL)
			counters_self->c_tls_handshakes[1]++;
		/* Scanners and old clients: not worth more than debug. */
		if (log_enabled(LOG_LVL_DEBUG))
			log_sys(LOG_LVL_DEBUG, "tls.handshake_failed",
			    "client handshake: %s", why);
		return;
	}
	if ((vr = SSL_get_verify_result(t->tc_ssl)) != X509_V_OK)
		log_sys(LOG_LVL_ERROR, "tls.upstream_verify_failed",
		    "upstream %s: certificate rejected: %s", up_name,
		    X509_verify_cert_error_string(vr));
	else
		log_sys(LOG_LVL_ERROR, "tls.upstream_handshake_failed",
		    "upstream %s: %s", up_name, why);
}

/*
 * Map an SSL_ERROR onto the endp contract: -1/EAGAIN with the flag of the
 * direction OpenSSL waits for cleared (and the cross flag set when that is
 * not the direction the caller asked for), 0 at the peer's close_notify,
 * -1 with errno otherwise.
 */
static ssize_t
io_error(struct endp *ep, struct tconn *t, int r, int reading, int server)
{
	int	 saved = errno;

	if (SSL_is_init_finished(t->tc_ssl))
		handshook(t, server);
	switch (SSL_get_error(t->tc_ssl, r)) {
	case SSL_ERROR_WANT_READ:
		/* A write waiting for the peer leaves decrypted bytes
		   OpenSSL may hold readable. */
		if (reading || !SSL_has_pending(t->tc_ssl))
			ep->ep_readable = 0;
		if (!reading)
			ep->ep_wwantr = 1;
		errno = EAGAIN;
		return (-1);
	case SSL_ERROR_WANT_WRITE:
		ep->ep_writable = 0;
		if (reading)
			ep->ep_rwantw = 1;
		errno = EAGAIN;
		return (-1);
	case SSL_ERROR_ZERO_RETURN:
		if (reading)
			return (0);
		errno = EPIPE;
		return (-1);
	case SSL_ERROR_SYSCALL:
		t->tc_broken = 1;
		if (!t->tc_handshook)
			handshake_failed(t, server);
		ERR_clear_error();
		if (saved == 0 && reading)
			return (0);	/* EOF without close_notify */
		errno = saved ? saved : ECONNRESET;
		return (-1);
	default:
		t->tc_broken = 1;
		if (!t->tc_handshook)
			handshake_failed(t, server);
		ERR_clear_error();
		errno = EPROTO;
		return (-1);
	}
}

static ssize_t
tls_recv(struct endp *ep, void *p, size_t n, int server)
{
	struct tconn	*t;
	size_t		 got;

	if ((t = tconn_get(ep, server)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if (t->tc_broken) {
		errno = EPROTO;
		return (-1);
	}
	ep->ep_rwantw = 0;
	t->tc_rshort = 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(t->tc_ssl, p, n, &got) == 1) {
		handshook(t, server);
		/* A write waiting on this read may go on now. */
		if (ep->ep_wwantr) {
			ep->ep_wwantr = 0;
			ep->ep_writable = 1;
		}
		/*
		 * Bytes OpenSSL holds stay "readable", whatever the socket
		 * says.  Otherwise a short socket read in this call means
		 * nothing is left (edge-triggered epoll reports what comes
		 * next), which saves the read that would fail with EAGAIN
		 * after each keep-alive request.  Not after a FIN or urgent
		 * data: see endp_fill().
		 */
		if (t->tc_rshort && got < n && !ep->ep_rdhup && !ep->ep_urg &&
		    !SSL_has_pending(t->tc_ssl))
			ep->ep_readable = 0;
		return ((ssize_t)got);
	}
	return (io_error(ep, t, 0, 1, server));
}

/*
 * writev(2) over SSL_write: at most TLS_CHUNK bytes per SSL_write, so
 * a small head and its body share one record.  A write OpenSSL could not
 * finish must be repeated with the same bytes (tc_wpend); the caller keeps
 * them since it only drops what we report written.
 */
static ssize_t
tls_writev(struct endp *ep, const struct iovec *iov, int cnt, int server)
{
	static unsigned char	 gbuf[TLS_CHUNK];
	struct tconn		*t;
	size_t			 total = 0, done = 0, want, w, k, off;
	const unsigned char	*src;
	int			 i, j;

	if ((t = tconn_get(ep, server)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if (t->tc_broken) {
		errno = EPIPE;
		return (-1);
	}
	ep->ep_wwantr = 0;
	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	/* The bytes of an unfinished write must still be there. */
	if (t->tc_wpend > total) {
		t->tc_broken = 1;
		errno = EPROTO;
		return (-1);
	}
	i = 0;
	off = 0;		/* into iov[i] */
	while (done < total) {
		while (iov[i].iov_len == off) {
			i++;
			off = 0;
		}
		want = t->tc_wpend ? t->tc_wpend : total - done;
		if (want > TLS_CHUNK && !t->tc_wpend)
			want = TLS_CHUNK;
		if (iov[i].iov_len - off >= want)
			src = (const unsigned char *)iov[i].iov_base + off;
		else {
			/* Gather across iovecs. */
			for (k = 0, j = i, w = off; k < want; j++, w = 0) {
				size_t	 m = iov[j].iov_len - w;

				if (m > want - k)
					m = want - k;
				memcpy(gbuf + k, (const char *)iov[j].iov_base +
				    w, m);
				k += m;
			}
			src = gbuf;
		}
		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(t->tc_ssl, src, want, &w) != 1) {
			ssize_t	 r = io_error(ep, t, 0, 0, server);

			if (r == -1 && errno == EAGAIN) {
				t->tc_wpend = want;
				if (done > 0)
					return ((ssize_t)done);
			}
			return (r);
		}
		handshook(t, server);
		t->tc_wpend = 0;
		if (ep->ep_rwantw) {
			ep->ep_rwantw = 0;
			ep->ep_readable = 1;
		}
		done += w;
		/* Advance (i, off) by w. */
		while (w > 0) {
			k = iov[i].iov_len - off;
			if (k > w)
				k = w;
			off += k;
			w -= k;
			if (off == iov[i].iov_len && w > 0) {
				i++;
				off = 0;
			}
		}
	}
	/* A handshake finished here may have left records buffered. */
	if (SSL_has_pending(t->tc_ssl))
		ep->ep_readable = 1;
	return ((ssize_t)done);
}

int
tls_pending(const struct endp *ep)
{
	const struct tconn	*t = ep->ep_tls;

	return (t != NULL && SSL_has_pending(t->tc_ssl));
}

/* close_notify, best effort: never waits for the socket. */
static void
send_close_notify(struct tconn *t)
{
	if (t == NULL || t->tc_broken || t->tc_wpend ||
	    !SSL_is_init_finished(t->tc_ssl) ||
	    (SSL_get_shutdown(t->tc_ssl) & SSL_SENT_SHUTDOWN))
		return;
	ERR_clear_error();
	(void)SSL_shutdown(t->tc_ssl);
	ERR_clear_error();
}

static void
tls_shutdown(struct endp *ep)
{
	send_close_notify(ep->ep_tls);
	shutdown(ep->ep_io.io_fd, SHUT_WR);
}

static void
tls_close(struct endp *ep)
{
	struct tconn	*t = ep->ep_tls;

	if (t != NULL) {
		send_close_notify(t);
		SSL_free(t->tc_ssl);
		free(t);
		ep->ep_tls = NULL;
	}
	close(ep->ep_io.io_fd);
}

static ssize_t
srv_recv(struct endp *ep, void *p, size_t n)
{
	return (tls_recv(ep, p, n, 1));
}

static ssize_t
srv_writev(struct endp *ep, const struct iovec *iov, int cnt)
{
	return (tls_writev(ep, iov, cnt, 1));
}

static ssize_t
kr_recv(struct endp *ep, void *p, size_t n)
{
	return (tls_recv(ep, p, n, ROLE_KRATOS));
}

static ssize_t
kr_writev(struct endp *ep, const struct iovec *iov, int cnt)
{
	return (tls_writev(ep, iov, cnt, ROLE_KRATOS));
}

static ssize_t
cli_recv(struct endp *ep, void *p, size_t n)
{
	return (tls_recv(ep, p, n, 0));
}

static ssize_t
cli_writev(struct endp *ep, const struct iovec *iov, int cnt)
{
	return (tls_writev(ep, iov, cnt, 0));
}

static int
tls_established(const struct endp *ep)
{
	const struct tconn	*t = ep->ep_tls;

	return (t != NULL && t->tc_handshook);
}

const struct endp_ops tls_server_ops = {
	srv_recv, srv_writev, tls_shutdown, tls_close, tls_established
};

const struct endp_ops tls_client_ops = {
	cli_recv, cli_writev, tls_shutdown, tls_close, tls_established
};

const struct endp_ops tls_kratos_ops = {
	kr_recv, kr_writev, tls_shutdown, tls_close, tls_established
};

/*
 * The Kratos client context: TLS 1.2+, http/1.1, the peer verified
 * against the system's trust store (OpenSSL's default paths, so
 * SSL_CERT_FILE / SSL_CERT_DIR name another one) for host.
 */
int
tls_kratos_init(const char *host)
{
	static const unsigned char	 h11[] = "\x08http/1.1";
	struct in6_addr			 a;

	if (kctx != NULL)
		return (0);
	if (strlen(host) >= sizeof(kr_name))
		return (-1);
	strcpy(kr_name, host);
	kr_is_ip = inet_pton(AF_INET, host, &a) == 1 ||
	    inet_pton(AF_INET6, host, &a) == 1;
	if ((kctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	SSL_CTX_set_options(kctx, ctx_opts);
	SSL_CTX_set_mode(kctx, ctx_mode);
	SSL_CTX_set_read_ahead(kctx, 1);
	if (!SSL_CTX_set_min_proto_version(kctx, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(kctx, h11, sizeof(h11) - 1) != 0 ||
	    SSL_CTX_set_default_verify_paths(kctx) != 1)
		goto fail;
	SSL_CTX_set_verify(kctx, SSL_VERIFY_PEER, NULL);
	return (0);
 fail:
	log_ssl("tls.context_failed", "Kratos TLS context");
	SSL_CTX_free(kctx);
	kctx = NULL;
	return (-1);
}
