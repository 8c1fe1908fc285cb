/*
 * test_tls.c: the TLS transport (src/tls.c) over a socketpair, with the
 * server side driven exactly as the connection layer drives it: recv and
 * writev through tls_server_ops, readiness through endp_events().  The
 * send buffer of the server's socket is made tiny so the handshake, which
 * runs inside recv, has to wait for writability: the cross-direction wake
 * (ep_rwantw) that loopback TCP never forces in the integration tests.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "conn.h"
#include "tls.h"

static char		 tmpdir[] = "/tmp/vwtlstestXXXXXX";
static struct config	 cf;
static int		 sv[2];		/* [0] server (ours), [1] client */
static struct endp	 ep;
static SSL_CTX		*cctx;
static SSL		*cl;

static void
setup(void)
{
	struct tls_cert	*c;
	char		 err[256];
	int		 i, small = 1024;

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&cf, 0, sizeof(cf));
	cf.tls.enabled = 1;
	cf.tls.provider = TLS_PROV_SELF_SIGNED;
	cf.tls.profile = TLS_PROF_INTERMEDIATE;
	cf.tls.storage_path = tmpdir;
	c = tls_cert_load(&cf, 1, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	/* A long chain: a handshake flight far above the send buffer. */
	for (i = 0; i < 40; i++) {
		X509_up_ref(c->tc_leaf);
		ck_assert(sk_X509_push(c->tc_chain, c->tc_leaf));
	}
	tls_cert_install(c);
	ck_assert_int_eq(tls_tickets_init(), 0);
	ck_assert_int_eq(tls_worker_init(&cf), 0);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	memset(&ep, 0, sizeof(ep));
	ep.ep_io.io_fd = sv[0];
	ep.ep_ops = &tls_server_ops;
	ep.ep_readable = ep.ep_writable = 1;

	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	cl = SSL_new(cctx);
	SSL_set_fd(cl, sv[1]);
	SSL_set_connect_state(cl);
}

static void
teardown(void)
{
	char	 p[sizeof(tmpdir) + 32];

	SSL_free(cl);
	SSL_CTX_free(cctx);
	if (ep.ep_ops != NULL && ep.ep_io.io_fd != -1)
		ep.ep_ops->eo_close(&ep);
	close(sv[1]);
	tls_cert_install(NULL);
	snprintf(p, sizeof(p), "%s/selfsigned.crt", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/selfsigned.key", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	memcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX", 6);
}

static uint32_t
readiness(int fd)
{
	struct pollfd	 p = { fd, POLLIN | POLLOUT, 0 };
	uint32_t	 ev = 0;

	ck_assert_int_ge(poll(&p, 1, 0), 0);
	if (p.revents & POLLIN)
		ev |= EPOLLIN;
	if (p.revents & POLLOUT)
		ev |= EPOLLOUT;
	return (ev);
}

/* The client side: one non-blocking handshake step; 1 when done. */
static int
client_step(void)
{
	int	 r = SSL_do_handshake(cl);

	if (r == 1)
		return (1);
	r = SSL_get_error(cl, r);
	ck_assert_msg(r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE,
	    "client handshake error %d", r);
	ERR_clear_error();
	return (0);
}

START_TEST(t_handshake_read_waits_for_write)
{
	char	 buf[64];
	ssize_t	 n;
	int	 i, saw_rwantw = 0, done = 0;

	ck_assert_int_eq(client_step(), 0);	/* ClientHello out */
	for (i = 0; i < 10000 && !done; i++) {
		if (ep.ep_readable) {
			n = ep.ep_ops->eo_recv(&ep, buf, sizeof(buf));
			ck_assert_int_eq(n, -1);
			ck_assert_int_eq(errno, EAGAIN);
			ep.ep_readable = 0;	/* as endp_fill() does */
			if (ep.ep_rwantw) {
				/* The read waits for writability. */
				saw_rwantw = 1;
				ck_assert(!ep.ep_writable);
			}
		}
		done = client_step() && SSL_is_init_finished(cl);
		/* Tell the server what its socket really is now, as epoll
		   would: while the client only reads, that is EPOLLOUT
		   alone, which must resume the waiting read. */
		endp_events(&ep, readiness(sv[0]));
	}
	ck_assert_msg(saw_rwantw, "the handshake never waited for a write");
	ck_assert(done);
	/* Once done, a request flows both ways through the same ops. */
	ck_assert_int_eq(SSL_write(cl, "ping", 4), 4);
	ep.ep_readable = 1;
	n = ep.ep_ops->eo_recv(&ep, buf, sizeof(buf));
	ck_assert_int_eq(n, 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
}
END_TEST

START_TEST(t_cross_wake_only_when_waiting)
{
	struct endp	 e;

	memset(&e, 0, sizeof(e));
	endp_events(&e, EPOLLOUT);
	ck_assert(e.ep_writable && !e.ep_readable);
	e.ep_writable = 0;
	e.ep_rwantw = 1;
	endp_events(&e, EPOLLOUT);
	ck_assert(e.ep_writable && e.ep_readable);
	memset(&e, 0, sizeof(e));
	e.ep_wwantr = 1;
	endp_events(&e, EPOLLIN);
	ck_assert(e.ep_writable && e.ep_readable);
}
END_TEST

START_TEST(t_ticket_keys_rotate_and_keep_previous)
{
	struct tls_tkey	 k0, k1, k;

	ck_assert_int_eq(tls_ticket_key(NULL, &k0), 1);
	tls_tickets_tick(1000, 5000);		/* starts the clock */
	ck_assert_int_eq(tls_ticket_key(NULL, &k), 1);
	ck_assert(memcmp(&k, &k0, sizeof(k)) == 0);
	tls_tickets_tick(7000, 5000);		/* due: rotate */
	ck_assert_int_eq(tls_ticket_key(NULL, &k1), 1);
	ck_assert(memcmp(&k1, &k0, sizeof(k1)) != 0);
	ck_assert_int_eq(tls_ticket_key(k0.tk_name, &k), 2);
	ck_assert(memcmp(&k, &k0, sizeof(k)) == 0);
	tls_tickets_tick(13000, 5000);		/* again: k0 is gone */
	ck_assert_int_eq(tls_ticket_key(k0.tk_name, &k), 0);
	ck_assert_int_eq(tls_ticket_key(k1.tk_name, &k), 2);
}
END_TEST

/*
 * The self-signed certificate's serial parses back: before, one in 256
 * began 00 then a byte below 80 (padded DER), and clients refused the
 * certificate.  4096 serials: the old code failed this about 16 times.
 */
START_TEST(t_serial_minimal_der)
{
	ASN1_INTEGER		*s, *back;
	unsigned char		*der;
	const unsigned char	*p;
	int			 i, n;

	for (i = 0; i < 4096; i++) {
		ck_assert_ptr_nonnull(s = ASN1_INTEGER_new());
		ck_assert_int_eq(tls_cert_random_serial(s), 0);
		der = NULL;
		ck_assert_int_gt(n = i2d_ASN1_INTEGER(s, &der), 0);
		p = der;
		back = d2i_ASN1_INTEGER(NULL, &p, n);
		ck_assert_msg(back != NULL, "serial %d does not parse", i);
		ck_assert_int_eq(ASN1_INTEGER_cmp(s, back), 0);
		ASN1_INTEGER_free(back);
		ASN1_INTEGER_free(s);
		OPENSSL_free(der);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tc = tcase_create("tls");
	SRunner	*sr;
	int	 nf;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_handshake_read_waits_for_write);
	tcase_add_test(tc, t_cross_wake_only_when_waiting);
	tcase_add_test(tc, t_ticket_keys_rotate_and_keep_previous);
	tcase_add_test(tc, t_serial_minimal_der);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nf == 0 ? 0 : 1);
}
