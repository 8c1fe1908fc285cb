#!/usr/bin/env python3
"""vibewarden TLS integration tests (issue 8): the real binary, real
handshakes with Python's ssl module and `openssl s_client`.

    VW_BIN=./vibewarden python3 tests/integ/test_tls.py [-v] [Class.test]

The TestOverTLS* classes re-run test_proxy.py's suites with every client
connection wrapped in TLS.  Loopback only; every process is stopped by
the PID we started.  Python 3 standard library plus the openssl CLI.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402
import test_proxy as P  # noqa: E402

OPENSSL = shutil.which("openssl")
MOD_TMP = T.new_tmpdir()


def make_cert(name, cn="localhost", san="DNS:localhost,IP:127.0.0.1",
              days=30, curve="P-256"):
    """A self-signed ECDSA certificate + key in MOD_TMP: (cert, key)."""
    cert = os.path.join(MOD_TMP, name + ".crt")
    key = os.path.join(MOD_TMP, name + ".key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:" + curve, "-nodes", "-keyout", key,
                    "-out", cert, "-days", str(days), "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=" + san],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def make_expired_cert(name):
    """A certificate that expired in 2020 (openssl ca sets the dates)."""
    d = os.path.join(MOD_TMP, name)
    os.makedirs(d)
    with open(os.path.join(d, "index.txt"), "w"):
        pass
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\n"
                "new_certs_dir = .\nserial = serial\ndefault_md = sha256\n"
                "policy = p\ncopy_extensions = copy\n"
                "[p]\ncommonName = supplied\n")
    subprocess.run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", "k.pem",
                    "-out", "r.csr", "-subj", "/CN=localhost"],
                   cwd=d, check=True, capture_output=True, timeout=30)
    subprocess.run([OPENSSL, "ca", "-batch", "-config", "ca.cnf",
                    "-selfsign", "-keyfile", "k.pem", "-in", "r.csr",
                    "-out", "c.pem", "-startdate", "20200101000000Z",
                    "-enddate", "20200201000000Z", "-notext"],
                   cwd=d, check=True, capture_output=True, timeout=30)
    return os.path.join(d, "c.pem"), os.path.join(d, "k.pem")


CERT, KEY = make_cert("main")


def cert_fp(der):
    return hashlib.sha256(der).hexdigest()


def file_fp(path):
    with open(path) as f:
        return cert_fp(ssl.PEM_cert_to_DER_cert(f.read()))


def client_ctx(cafile=None, minv=None, maxv=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile or CERT)
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


_DEFAULT_CTX = []


def default_ctx():
    """One context for all default clients: a saved session can only
    resume through the context it came from."""
    if not _DEFAULT_CTX:
        _DEFAULT_CTX.append(client_ctx())
    return _DEFAULT_CTX[0]


class TLSClient(T.Client):
    """vwtest.Client over TLS (verifying the test certificate)."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1", ctx=None,
                 session=None, sni="localhost"):
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            self.s = (ctx or default_ctx()).wrap_socket(
                raw, server_hostname=sni, session=session)
        except Exception:
            raw.close()
            raise
        self.s.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def _fill(self):
        try:
            d = self.s.recv(262144)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True


def plain_exchange(port, data, timeout=5.0):
    """T.exchange over plain TCP, even while T.Client is TLSClient."""
    c = _PlainClient(port, timeout)
    try:
        c.send(data)
        r = c.read_response("GET")
        return r, c.is_closed(2.0)
    finally:
        c.close()


_PlainClient = T.Client


def tls_cfg(extra=None):
    cfg = {"tls": {"enabled": True, "provider": "external",
                   "cert_path": CERT, "key_path": KEY}}
    if extra:
        T.deep_update(cfg, extra)
    return cfg


def s_client(port, *args, stdin=b"", timeout=15):
    """openssl s_client output (stdout + stderr) and its exit status."""
    p = subprocess.run([OPENSSL, "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-servername", "localhost"] +
                       list(args), input=stdin, capture_output=True,
                       timeout=timeout)
    return p.stdout.decode("latin-1") + p.stderr.decode("latin-1"), \
        p.returncode


class TLSCase(unittest.TestCase):
    EXTRA = None

    @classmethod
    def setUpClass(cls):
        cls.fx = P.Fixture(tls_cfg(cls.EXTRA))

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def tget(self, target="/echo", ctx=None, **kw):
        with TLSClient(self.fx.port, ctx=ctx) as c:
            return c.request("GET", target, **kw), c


# ====================================================================== 1, 3
class TestProtocol(TLSCase):

    def test_tls13_handshake_and_request(self):
        # h2 first would choose HTTP/2 (issue 15, test_h2.py)
        ctx = client_ctx(minv=ssl.TLSVersion.TLSv1_3,
                         alpn=["http/1.1"])
        with TLSClient(self.fx.port, ctx=ctx) as c:
            self.assertEqual(c.s.version(), "TLSv1.3")
            self.assertEqual(c.s.selected_alpn_protocol(), "http/1.1")
            self.assertIsNone(c.s.compression())
            r = c.request("GET", "/echo/t13")
        self.assertEqual(r.status, 200, r)
        rec = r.json()
        self.assertEqual(P.up_get(rec, "X-Forwarded-Proto"), ["https"])
        self.assertIn("max-age=", r.header("Strict-Transport-Security", ""))

    def test_tls12_handshake_ecdhe_aead(self):
        ctx = client_ctx(maxv=ssl.TLSVersion.TLSv1_2)
        with TLSClient(self.fx.port, ctx=ctx) as c:
            self.assertEqual(c.s.version(), "TLSv1.2")
            name = c.s.cipher()[0]
            self.assertTrue(name.startswith("ECDHE-"), name)
            self.assertTrue("GCM" in name or "CHACHA20" in name, name)
            r = c.request("GET", "/echo/t12")
        self.assertEqual(r.status, 200, r)

    def test_tls11_refused(self):
        out, rc = s_client(self.fx.port, "-tls1_1", "-cipher",
                           "DEFAULT@SECLEVEL=0")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Cipher is (NONE)", out)
        self.assertRegex(out, "protocol version|no protocols available|"
                         "unsupported protocol")

    def test_cbc_rsa_kx_suites_refused(self):
        for suite in ("AES128-SHA", "AES256-SHA256", "ECDHE-ECDSA-AES128-SHA",
                      "ECDHE-ECDSA-AES256-SHA384"):
            out, rc = s_client(self.fx.port, "-tls1_2", "-cipher", suite)
            self.assertNotEqual(rc, 0, (suite, out))
            self.assertIn("Cipher is (NONE)", out, suite)

    def test_renegotiation_refused(self):
        # "R" asks s_client to renegotiate; the server must refuse.
        p = subprocess.Popen([OPENSSL, "s_client", "-connect",
                              "127.0.0.1:%d" % self.fx.port, "-tls1_2"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            p.stdin.write(b"R\n")
            p.stdin.flush()
            time.sleep(1.0)
            p.stdin.close()
            out = p.stdout.read().decode("latin-1")
            p.wait(10)
        finally:
            p.stdout.close()
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertIn("RENEGOTIATING", out)
        self.assertIn("no renegotiation", out)

    def test_alpn_without_http11_refused(self):
        # h2 is served since issue 15: no protocol we speak is refused
        ctx = client_ctx(alpn=["spdy/3.1", "http/1.0"])
        with self.assertRaises(ssl.SSLError) as cm:
            TLSClient(self.fx.port, ctx=ctx).close()
        self.assertIn("NO APPLICATION PROTOCOL",
                      str(cm.exception).upper().replace("_", " "))

    def test_group_x25519_and_p256(self):
        for g in ("X25519", "P-256", "P-384"):
            out, rc = s_client(self.fx.port, "-groups", g, stdin=b"Q\n")
            self.assertIn("TLSv1.3", out, g)
            self.assertNotIn("Cipher is (NONE)", out, g)
        out, rc = s_client(self.fx.port, "-groups", "P-521", stdin=b"Q\n")
        self.assertIn("Cipher is (NONE)", out)

    def test_handshake_timeout(self):
        # header_timeout is 2s (base_config): a client that never finishes
        # its handshake is dropped then.
        s = socket.create_connection(("127.0.0.1", self.fx.port), 10)
        try:
            s.sendall(b"\x16\x03\x01\x00\xff\x01")   # half a ClientHello
            t0 = time.monotonic()
            s.settimeout(8)
            try:
                d = s.recv(100)
            except ConnectionResetError:
                d = b""
            took = time.monotonic() - t0
        finally:
            s.close()
        self.assertEqual(d, b"")
        self.assertGreater(took, 1.5)
        self.assertLess(took, 5.0)

    def test_plain_http_on_tls_port_dropped(self):
        s = socket.create_connection(("127.0.0.1", self.fx.port), 5)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            s.settimeout(5)
            try:
                d = s.recv(1000)
            except ConnectionResetError:
                d = b""
        finally:
            s.close()
        self.assertFalse(d.startswith(b"HTTP/"), d)
        # ... and the workers are fine.
        r, _ = self.tget("/echo/after-plain")
        self.assertEqual(r.status, 200)


class TestModernProfile(TLSCase):
    EXTRA = {"tls": {"profile": "modern"}}

    def test_tls13_only(self):
        r, c = self.tget("/echo/modern")
        self.assertEqual(r.status, 200)
        with self.assertRaises(ssl.SSLError):
            TLSClient(self.fx.port, ctx=client_ctx(
                maxv=ssl.TLSVersion.TLSv1_2)).close()


# ====================================================================== split
class TestRecordSplitting(TLSCase):
    """TLS records cut at odd boundaries: the TLS byte stream is written
    to the socket 1, 2, 3, 5 or 7 bytes at a time (ssl.MemoryBIO)."""

    SIZES = (1, 2, 3, 5, 7, 1, 1, 4)

    def _io(self, obj, inc, out, sock, fn):
        k = 0
        while True:
            try:
                res = fn()
            except ssl.SSLWantReadError:
                res = None
            data = out.read()
            i = 0
            while i < len(data):
                n = self.SIZES[k % len(self.SIZES)]
                k += 1
                sock.sendall(data[i:i + n])
                i += n
                if k % 64 == 0:
                    time.sleep(0.001)
            if res is not None:
                return res
            d = sock.recv(65536)
            if not d:
                inc.write_eof()
            else:
                inc.write(d)

    def test_handshake_and_requests_split(self):
        sock = socket.create_connection(("127.0.0.1", self.fx.port), 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_ctx().wrap_bio(inc, out, server_hostname="localhost")
        try:
            self._io(obj, inc, out, sock, lambda: obj.do_handshake() or 1)
            body = T.det_bytes(20000)
            req = T.build_request("POST", "/echo/split", None, body) + \
                T.build_request("GET", "/echo/split2", None, None)
            self._io(obj, inc, out, sock, lambda: obj.write(req))
            buf = b""
            while buf.count(b"HTTP/1.1 200") < 2 or not \
                    buf.rstrip().endswith(b"}"):
                buf += self._io(obj, inc, out, sock,
                                lambda: obj.read(65536))
        finally:
            sock.close()
        self.assertEqual(buf.count(b"HTTP/1.1 200 OK"), 2, buf[:300])
        self.assertIn(hashlib.sha256(body).hexdigest().encode(), buf)
        self.assertIn(b"/echo/split2", buf)


class TestSyscalls(TLSCase):
    EXTRA = {"server": {"workers": 1}}

    def test_keepalive_request_reads_the_client_once(self):
        """OpenSSL reads ahead (one read(2) for a record's header and body)
        and a short socket read marks the client empty, as on plain
        sockets: one read of the request per keep-alive request, where
        there were three (a record header, its body, and a read failing
        with EAGAIN after each answer)."""
        w = self.fx.vw.workers()[0]
        ctx = client_ctx(alpn=["http/1.1"])
        with TLSClient(self.fx.port, ctx=ctx) as c:
            per = T.reads_per_request(w, c)
        # One read of the request, one (or two: head, then body) of the
        # upstream's answer: 4 or more before.
        self.assertLess(per, 2.8, "%.2f reads per request" % per)


# ====================================================================== 5
class TestRedirect(TLSCase):

    @classmethod
    def setUpClass(cls):
        cls.rport = T.free_port()
        cls.EXTRA = {"server": {"http_redirect_port": cls.rport}}
        super().setUpClass()

    def test_308_to_https_same_host_and_target(self):
        n0 = len(self.fx.up.requests())
        for host, want in (("app.example", "app.example"),
                           ("app.example:80", "app.example"),
                           ("[::1]:80", "[::1]")):
            r, closed = plain_exchange(self.rport, T.build_request(
                "GET", "/a/b%20c?x=1&y=2", None, None, host))
            self.assertEqual(r.status, 308, r)
            self.assertEqual(r.header("Location"), "https://%s:%d/a/b%%20c"
                             "?x=1&y=2" % (want, self.fx.port))
            self.assertEqual(r.header("Content-Length"), "0")
            self.assertTrue(closed)
        # A body does not reach anyone either; 308 keeps the method.
        r, _ = plain_exchange(self.rport, T.build_request(
            "POST", "/form", None, b"a=1", "app.example"))
        self.assertEqual(r.status, 308)
        self.assertEqual(len(self.fx.up.requests()), n0)
        # The TLS port is unaffected.
        r, _ = self.tget("/echo/tls-still")
        self.assertEqual(r.status, 200)

    def test_http10_without_host_uses_server_name(self):
        r, _ = plain_exchange(self.rport, b"GET /x HTTP/1.0\r\n\r\n")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("Location"),
                         "https://127.0.0.1:%d/x" % self.fx.port)

    def test_malformed_head_400(self):
        r, closed = plain_exchange(self.rport, b"GET /x HTTP/1.1\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertTrue(closed)
        r, closed = plain_exchange(self.rport, b"GET /x HTTP/1.1\r\n"
                                   b"Host: a\r\nContent-Length: 1\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n")
        self.assertEqual(r.status, 400)

    def test_survives_reload(self):
        n = len(self.fx.vw.events("config.reloaded"))
        self.fx.vw.send_signal(signal.SIGHUP)
        end = time.monotonic() + 5
        while len(self.fx.vw.events("config.reloaded")) <= n and \
                time.monotonic() < end:
            time.sleep(0.05)
        self.assertGreater(len(self.fx.vw.events("config.reloaded")), n)
        for i in range(4):
            r, _ = plain_exchange(self.rport, T.build_request(
                "GET", "/r%d" % i, None, None, "app.example"))
            self.assertEqual(r.status, 308)

    def test_silent_client_closed_after_header_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.rport), 5)
        try:
            t0 = time.monotonic()
            s.settimeout(8)
            self.assertEqual(s.recv(10), b"")
            self.assertGreater(time.monotonic() - t0, 1.5)
        finally:
            s.close()


class TestBigChainAndTinyWrites(TLSCase):
    """A ~40 KB certificate chain (several records of handshake flight)
    to a client with a tiny receive window that reads late, and a client
    that writes one byte per segment.  (On loopback the kernel queues the
    whole flight, so this does not force OpenSSL's read to want a write;
    that path is covered by review, not by a test.)"""

    @classmethod
    def setUpClass(cls):
        other, _ = make_cert("filler")
        with open(other) as f:
            filler = f.read()
        with open(CERT) as f:
            leaf = f.read()
        cls.chain = os.path.join(MOD_TMP, "bigchain.pem")
        with open(cls.chain, "w") as f:
            f.write(leaf + filler * 120)
        cls.EXTRA = {"tls": {"cert_path": cls.chain}}
        super().setUpClass()

    def test_big_chain_slow_reader(self):
        self.assertGreater(os.path.getsize(self.chain), 50000)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", self.fx.port))
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_ctx().wrap_bio(inc, out, server_hostname="localhost")
        split = TestRecordSplitting("test_handshake_and_requests_split")
        split.SIZES = (4096,)
        try:
            with self.assertRaises(ssl.SSLWantReadError):
                obj.do_handshake()
            sock.sendall(out.read())        # the ClientHello
            time.sleep(1.0)                 # the client reads late
            split._io(obj, inc, out, sock, lambda: obj.do_handshake() or 1)
            split._io(obj, inc, out, sock, lambda: obj.write(
                T.build_request("GET", "/echo/bigchain")))
            buf = b""
            while not buf.rstrip().endswith(b"}"):
                buf += split._io(obj, inc, out, sock,
                                 lambda: obj.read(65536))
        finally:
            sock.close()
        self.assertTrue(buf.startswith(b"HTTP/1.1 200 OK"), buf[:100])
        self.assertIn(b"/echo/bigchain", buf)

    def test_one_byte_writes(self):
        sock = socket.create_connection(("127.0.0.1", self.fx.port), 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_ctx().wrap_bio(inc, out, server_hostname="localhost")
        split = TestRecordSplitting("test_handshake_and_requests_split")
        split.SIZES = (1,)
        try:
            split._io(obj, inc, out, sock, lambda: obj.do_handshake() or 1)
            split._io(obj, inc, out, sock, lambda: obj.write(
                T.build_request("POST", "/echo/onebyte", None, b"b" * 300)))
            buf = b""
            while not buf.rstrip().endswith(b"}"):
                buf += split._io(obj, inc, out, sock,
                                 lambda: obj.read(65536))
        finally:
            sock.close()
        self.assertTrue(buf.startswith(b"HTTP/1.1 200 OK"), buf[:100])
        self.assertIn(hashlib.sha256(b"b" * 300).hexdigest().encode(), buf)


class TestUpgradeWithTLSAndRedirect(unittest.TestCase):
    """SIGUSR2 hands the redirect listener and the ticket-key page over
    too, and the new master serves TLS with the same certificate."""

    def test_usr2_keeps_tls_and_redirect(self):
        tmp = T.new_tmpdir()
        up = T.Upstream(tmp).start()
        newpid = None
        vw = None
        try:
            port, rport = T.free_port(), T.free_port()
            cfg = T.base_config(port, up.port)
            cfg.update(tls_cfg())
            cfg["server"]["http_redirect_port"] = rport
            pidf = os.path.join(tmp, "vw.pid")
            vw = T.Vibewarden(tmp, cfg).start(args=["-p", pidf])
            oldpid = vw.pid
            with TLSClient(port) as c:
                self.assertEqual(c.request().status, 200)
                sess = c.s.session
            vw.send_signal(signal.SIGUSR2)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    with open(pidf) as f:
                        newpid = int(f.read().strip())
                    if newpid != oldpid and \
                            len(T.children_of(newpid)) >= 2:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            self.assertNotEqual(newpid, oldpid, "no new master")
            self.assertFalse(vw.events("proxy.upgrade_failed"))
            self.assertTrue(vw.events("proxy.upgrade_started"))
            vw.send_signal(signal.SIGQUIT)
            self.assertEqual(vw.proc.wait(15), 0)
            # The ticket keys came along: the new master's workers resume
            # a session the old master's workers issued.
            with TLSClient(port, session=sess) as c:
                self.assertEqual(c.request("GET", "/echo/new").status, 200)
                self.assertTrue(c.s.session_reused)
            r, _ = plain_exchange(rport, T.build_request(
                "GET", "/x", None, None, "app.example"))
            self.assertEqual(r.status, 308)
            self.assertEqual(r.header("Location"),
                             "https://app.example:%d/x" % port)
        finally:
            if newpid:
                os.kill(newpid, signal.SIGTERM)
                end = time.monotonic() + 10
                while time.monotonic() < end and \
                        T.proc_state(newpid) not in (None, "Z"):
                    time.sleep(0.05)
            if vw:
                vw.stop()
            up.stop()
            shutil.rmtree(tmp, ignore_errors=True)


# ====================================================================== 4
def resume_run(port, n):
    """n reconnects with the first saved session: how many resumed."""
    with TLSClient(port) as c:
        r = c.request("GET", "/echo/first")
        assert r.status == 200
        sess = c.s.session
        assert not c.s.session_reused
    reused = 0
    for i in range(n):
        with TLSClient(port, session=sess) as c:
            r = c.request("GET", "/echo/again%d" % i)
            assert r.status == 200
            reused += bool(c.s.session_reused)
    return reused, sess


class TestResumption(TLSCase):
    EXTRA = {"server": {"workers": 2}}

    def test_20_reconnects_resume_across_workers(self):
        self.assertEqual(len(self.fx.vw.workers()), 2)
        for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = client_ctx(minv=ver, maxv=ver)
            with TLSClient(self.fx.port, ctx=ctx) as c:
                self.assertEqual(c.request().status, 200)
                sess = c.s.session
            reused = 0
            for i in range(20):
                with TLSClient(self.fx.port, ctx=ctx, session=sess) as c:
                    self.assertEqual(c.request().status, 200)
                    reused += bool(c.s.session_reused)
            self.assertGreaterEqual(reused, 19, ver)


def serving_pid(port, c):
    """PID of the process holding the server end of client c."""
    lport = c.s.getsockname()[1]
    out = subprocess.run(["ss", "-tnpH", "state", "established",
                          "( sport = :%d and dport = :%d )" % (port, lport)],
                         capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


@unittest.skipUnless(shutil.which("ss"), "needs ss(8)")
class TestResumptionOtherProcess(TLSCase):
    """The worker that issued a ticket is gone: the worker that takes
    the connection is another process, with nothing in common but the
    master's shared key page."""
    EXTRA = {"server": {"workers": 2}}

    def test_resume_after_issuing_worker_killed(self):
        with TLSClient(self.fx.port) as c:
            self.assertEqual(c.request().status, 200)
            sess = c.s.session
            issuer = serving_pid(self.fx.port, c)
        self.assertIn(issuer, self.fx.vw.workers())
        os.kill(issuer, signal.SIGKILL)     # a worker of ours, by PID
        end = time.monotonic() + 5
        while time.monotonic() < end and (issuer in self.fx.vw.workers() or
                                          len(self.fx.vw.workers()) < 2):
            time.sleep(0.05)
        for i in range(6):
            with TLSClient(self.fx.port, session=sess) as c:
                self.assertEqual(c.request().status, 200)
                pid = serving_pid(self.fx.port, c)
                self.assertNotEqual(pid, issuer)
                self.assertTrue(c.s.session_reused, i)

    def test_resume_on_a_new_generation(self):
        vw = self.fx.vw
        with TLSClient(self.fx.port) as c:
            self.assertEqual(c.request().status, 200)
            sess = c.s.session
        old = set(vw.workers())
        n = len(vw.events("config.reloaded"))
        vw.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10
        while time.monotonic() < end and (
                len(vw.events("config.reloaded")) <= n or
                set(vw.workers()) & old):
            time.sleep(0.05)
        self.assertFalse(set(vw.workers()) & old)
        for i in range(6):
            with TLSClient(self.fx.port, session=sess) as c:
                self.assertEqual(c.request().status, 200)
                self.assertNotIn(serving_pid(self.fx.port, c), old)
                self.assertTrue(c.s.session_reused, i)


class TestTicketRotation(TLSCase):
    EXTRA = {"server": {"workers": 2}, "tls": {"ticket_key_rotation": "3s"}}

    def test_resume_right_after_rotation(self):
        vw = self.fx.vw
        n0 = len(vw.events("tls.ticket_keys_rotated"))
        reused, sess = resume_run(self.fx.port, 3)
        self.assertEqual(reused, 3)
        # Wait for the next rotation, then resume with the old ticket.
        end = time.monotonic() + 8
        while time.monotonic() < end and \
                len(vw.events("tls.ticket_keys_rotated")) <= n0:
            time.sleep(0.05)
        n1 = len(vw.events("tls.ticket_keys_rotated"))
        self.assertGreater(n1, n0, "no rotation logged")
        for i in range(10):
            with TLSClient(self.fx.port, session=sess) as c:
                self.assertEqual(c.request().status, 200)
                self.assertTrue(c.s.session_reused, i)
        # Two rotations later the first key is gone: a full handshake.
        end = time.monotonic() + 10
        while time.monotonic() < end and \
                len(vw.events("tls.ticket_keys_rotated")) <= n1:
            time.sleep(0.05)
        self.assertGreater(len(vw.events("tls.ticket_keys_rotated")), n1)
        with TLSClient(self.fx.port, session=sess) as c:
            self.assertEqual(c.request().status, 200)
            self.assertFalse(c.s.session_reused)


# ====================================================================== 2
class TestExternalCert(unittest.TestCase):

    def setUp(self):
        self.tmp = T.new_tmpdir()
        self.fx = None

    def tearDown(self):
        if self.fx:
            self.fx.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, tls):
        cfg = T.base_config(T.free_port(), T.free_port())
        cfg["tls"] = tls
        path = os.path.join(self.tmp, "t.yaml")
        with open(path, "w") as f:
            f.write(T.to_yaml(cfg) + "\n")
        return T.run_check(path)

    def test_mismatched_key_rejected_by_t(self):
        other_cert, other_key = make_cert("other")
        rc, out, err = self.check({"enabled": True, "provider": "external",
                                   "cert_path": CERT,
                                   "key_path": other_key})
        self.assertEqual(rc, 1, err)
        self.assertIn("tls.key_path %s: the private key does not match "
                      "the certificate in %s" % (other_key, CERT), err)
        rc, out, err = self.check({"enabled": True, "provider": "external",
                                   "cert_path": CERT, "key_path": KEY})
        self.assertEqual(rc, 0, err)

    def test_unreadable_files_named_by_t(self):
        rc, out, err = self.check({"enabled": True, "provider": "external",
                                   "cert_path": CERT,
                                   "key_path": "/nonexistent/k.pem"})
        self.assertEqual(rc, 1)
        self.assertIn("tls.key_path /nonexistent/k.pem: No such file", err)
        rc, out, err = self.check({"enabled": True, "provider": "external",
                                   "cert_path": KEY, "key_path": KEY})
        self.assertEqual(rc, 1)
        self.assertIn("tls.cert_path %s: no PEM certificate" % KEY, err)

    def test_start_with_mismatched_key_fails_cleanly(self):
        _, other_key = make_cert("other2")
        port = T.free_port()
        cfg = T.base_config(port, T.free_port())
        cfg["tls"] = {"enabled": True, "provider": "external",
                      "cert_path": CERT, "key_path": other_key}
        vw = T.Vibewarden(self.tmp, cfg)
        with self.assertRaises(RuntimeError):
            vw.start(timeout=3)
        self.assertEqual(vw.proc.wait(5), 2)
        vw.outf.close()
        vw.errf.close()
        ev = vw.events("tls.certificate_failed")
        self.assertTrue(ev and "does not match" in ev[0]["ai_summary"], ev)

    def test_expiring_and_expired_certificates_logged(self):
        for days, event in ((3, "tls.cert_expiry_critical"),
                            (20, "tls.cert_expiry_warning"),
                            (0, "tls.cert_expired")):
            if days == 0:
                crt, key = make_expired_cert("expired")
                rc, out, err = self.check({"enabled": True,
                                           "provider": "external",
                                           "cert_path": crt,
                                           "key_path": key})
                self.assertEqual(rc, 0, err)
                self.assertIn("the certificate has expired", err)
            else:
                crt, key = make_cert("exp%d" % days, days=days)
            fx = P.Fixture(tls_cfg({"tls": {"cert_path": crt,
                                            "key_path": key}}))
            try:
                ev = fx.vw.wait_event(event)
                self.assertIsNotNone(ev, event)
                self.assertIn(crt, ev["ai_summary"])
                # It still serves (a client may decide to accept it).
                ctx = client_ctx(crt)
                if days == 0:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                with TLSClient(fx.port, ctx=ctx) as c:
                    self.assertEqual(c.request().status, 200)
            finally:
                fx.close()

    def test_expiry_checked_again_every_check_interval(self):
        crt, key = make_cert("exp-periodic", days=5)
        fx = P.Fixture(tls_cfg({"tls": {
            "cert_path": crt, "key_path": key,
            "cert_monitoring": {"check_interval": "1s"}}}))
        try:
            self.assertIsNotNone(fx.vw.wait_event("tls.cert_expiry_critical"))
            end = time.monotonic() + 6
            while time.monotonic() < end and \
                    len(fx.vw.events("tls.cert_expiry_critical")) < 3:
                time.sleep(0.1)
            self.assertGreaterEqual(
                len(fx.vw.events("tls.cert_expiry_critical")), 3)
        finally:
            fx.close()

    def test_cert_swapped_on_sighup(self):
        c1, k1 = make_cert("swap1")
        c2, k2 = make_cert("swap2")
        cp = os.path.join(self.tmp, "live.crt")
        kp = os.path.join(self.tmp, "live.key")
        shutil.copy(c1, cp)
        shutil.copy(k1, kp)
        self.fx = P.Fixture(tls_cfg({"tls": {"cert_path": cp,
                                             "key_path": kp}}),
                            tmp=T.new_tmpdir())
        old = TLSClient(self.fx.port, ctx=client_ctx(c1))
        try:
            self.assertEqual(old.request().status, 200)
            self.assertEqual(cert_fp(old.s.getpeercert(True)), file_fp(c1))
            shutil.copy(c2, cp)
            shutil.copy(k2, kp)
            self.fx.vw.send_signal(signal.SIGHUP)
            self.assertIsNotNone(self.fx.vw.wait_event("config.reloaded"))
            time.sleep(0.3)
            with TLSClient(self.fx.port, ctx=client_ctx(c2)) as c:
                self.assertEqual(c.request().status, 200)
                self.assertEqual(cert_fp(c.s.getpeercert(True)),
                                 file_fp(c2))
            # The open connection keeps its certificate and still works.
            r = old.request("GET", "/echo/old")
            self.assertEqual(r.status, 200)
            self.assertEqual(cert_fp(old.s.getpeercert(True)), file_fp(c1))
        finally:
            old.close()
        # A broken key on reload: the old configuration keeps serving.
        _, k3 = make_cert("swap3")
        shutil.copy(k3, kp)
        self.fx.vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.fx.vw.wait_event("config.reload_failed"))
        self.assertTrue(self.fx.vw.events("tls.certificate_failed"))
        with TLSClient(self.fx.port, ctx=client_ctx(c2)) as c:
            self.assertEqual(c.request().status, 200)


# ====================================================================== 2
class TestSelfSigned(unittest.TestCase):

    def test_default_is_self_signed_tls_and_reused(self):
        tmp = T.new_tmpdir()
        store = os.path.join(tmp, "state", "tls")
        try:
            port = T.free_port()
            up = T.Upstream(tmp).start()
            cfg = T.base_config(port, up.port)
            # No tls.enabled / provider: SPEC 10 defaults (on, self-signed).
            cfg["tls"] = {"storage_path": store, "domain": "app.example"}
            vw = T.Vibewarden(tmp, cfg).start()
            try:
                crt = os.path.join(store, "selfsigned.crt")
                key = os.path.join(store, "selfsigned.key")
                self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
                txt = subprocess.run([OPENSSL, "x509", "-noout", "-text",
                                      "-in", crt], capture_output=True,
                                     check=True).stdout.decode()
                self.assertIn("prime256v1", txt)
                self.assertIn("DNS:app.example", txt)
                self.assertIn("DNS:localhost", txt)
                self.assertIn("IP Address:127.0.0.1", txt)
                for sni in ("localhost", "app.example"):
                    with TLSClient(port, ctx=client_ctx(crt), sni=sni) as c:
                        self.assertEqual(c.request().status, 200)
                fp = file_fp(crt)
                self.assertTrue(vw.events("tls.certificate_issued"))
            finally:
                vw.stop()
            vw2 = T.Vibewarden(tmp, cfg, name="vw2").start()
            try:
                self.assertEqual(file_fp(crt), fp)
                self.assertFalse(vw2.events("tls.certificate_issued"))
                with TLSClient(port, ctx=client_ctx(crt)) as c:
                    self.assertEqual(cert_fp(c.s.getpeercert(True)), fp)
            finally:
                vw2.stop()
            up.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_ip_domain_gets_an_ip_san_and_is_reused(self):
        tmp = T.new_tmpdir()
        store = os.path.join(tmp, "st")
        try:
            cfg = T.base_config(T.free_port(), T.free_port())
            cfg["tls"] = {"enabled": True, "storage_path": store,
                          "domain": "127.0.0.2"}
            vw = T.Vibewarden(tmp, cfg).start()
            vw.stop()
            crt = os.path.join(store, "selfsigned.crt")
            txt = subprocess.run([OPENSSL, "x509", "-noout", "-text",
                                  "-in", crt], capture_output=True,
                                 check=True).stdout.decode()
            self.assertIn("IP Address:127.0.0.2", txt)
            fp = file_fp(crt)
            vw = T.Vibewarden(tmp, cfg, name="vw2").start()
            vw.stop()
            self.assertEqual(file_fp(crt), fp)
            self.assertFalse(vw.events("tls.selfsigned_replaced"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_acme_checked_by_t(self):
        """ACME is built: -t accepts a DNS name, refuses what http-01
        cannot prove, and a redirect port of 0 (pebble runs the rest in
        test_acme.py)."""
        tmp = T.new_tmpdir()
        try:
            path = os.path.join(tmp, "t.yaml")

            def check(tls, server=None):
                cfg = T.base_config(T.free_port(), T.free_port())
                cfg["tls"] = dict({"enabled": True,
                                   "provider": "letsencrypt",
                                   "storage_path": tmp}, **tls)
                cfg["server"].update(server or {})
                with open(path, "w") as f:
                    f.write(T.to_yaml(cfg) + "\n")
                return T.run_check(path)

            rc, out, err = check({"domain": "a.example"},
                                 {"http_redirect_port": T.free_port()})
            self.assertEqual(rc, 0, err)
            rc, out, err = check({"domain": "127.0.0.1"})
            self.assertEqual(rc, 1)
            self.assertIn("ACME http-01 needs a DNS name", err)
            rc, out, err = check({"domain": "*.a.example"})
            self.assertEqual(rc, 1)
            rc, out, err = check({"domain": "a.example"},
                                 {"http_redirect_port": 0})
            self.assertEqual(rc, 1)
            self.assertIn("server.http_redirect_port", err)
            rc, out, err = check({"domain": "a.example",
                                  "acme_ca_file": tmp + "/none.pem"})
            self.assertEqual(rc, 1)
            self.assertIn("tls.acme_ca_file", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ====================================================================== 6
class TestUpstreamTLS(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.new_tmpdir()
        cls.ucert, cls.ukey = make_cert("upstream")
        cls.up = T.Upstream(cls.tmp, tls=(cls.ucert, cls.ukey)).start()

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fixture(self, host, tls, client_tls=False):
        extra = {"upstream": {
            "url": "https://%s:%d" % (host, self.up.port), "tls": tls,
            "host": host, "port": self.up.port}}
        return P.Fixture(tls_cfg(extra) if client_tls else extra,
                         upstream=False)

    def setUp(self):
        self.fx = None

    def tearDown(self):
        if self.fx:
            self.fx.close()

    def test_good_certificate_passes_and_pools(self):
        for host in ("127.0.0.1", "localhost"):
            self.fx = self.fixture(host, {"ca_file": self.ucert})
            n0 = self.up.stats()["connections"]
            with self.fx.client() as c:
                for i in range(3):
                    r = c.request("POST", "/echo/up%d" % i,
                                  body=T.det_bytes(50000))
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json()["body_len"], 50000)
            self.assertEqual(self.up.stats()["connections"] - n0, 1, host)
            self.fx.close()
            self.fx = None

    def test_answer_past_its_framing_not_served_to_the_next(self):
        """Attack: the upstream sends a second, unsolicited answer in its
        own TLS record, in the same TCP segment as the first.  OpenSSL reads
        it ahead into its buffer, where neither our read buffer nor a peek
        at the socket sees it; the connection must not be pooled, or the
        next client gets the smuggled answer (a victim got it after 131 of
        365 answer sizes before)."""
        import base64
        self.fx = self.fixture("127.0.0.1", {"ca_file": self.ucert})
        evil = base64.urlsafe_b64encode(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!").decode()
        hits = []
        for n in list(range(0, 40)) + [100, 1000, 3000]:
            resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + \
                b"p" * n
            q = base64.urlsafe_b64encode(resp).decode()
            r = self.fx.get("/raw?b64=%s&then=%s" % (q, evil))
            self.assertEqual((r.status, len(r.body)), (200, n), r)
            time.sleep(0.01)
            v = self.fx.get("/echo/victim-%d" % n)
            if v.status != 200 or b"EVIL!" in v.body:
                hits.append((n, v.status))
        self.assertEqual(hits, [])

    def sni_names(self):
        try:
            with open(os.path.join(self.up.logdir, "sni.log")) as f:
                return f.read().split()
        except OSError:
            return []

    def test_sni_sent_for_names_only(self):
        for host, want in (("localhost", "localhost"), ("127.0.0.1", "-")):
            self.fx = self.fixture(host, {"ca_file": self.ucert})
            n = len(self.sni_names())
            self.assertEqual(self.fx.get("/echo/sni").status, 200)
            self.assertEqual(self.sni_names()[n:], [want], host)
            self.fx.close()
            self.fx = None

    def test_websocket_through_tls_both_sides(self):
        self.fx = self.fixture("localhost", {"ca_file": self.ucert},
                               client_tls=True)
        saved = T.Client
        T.Client = TLSClient
        try:
            w = T.WSClient(self.fx.port, "/ws")
        finally:
            T.Client = saved
        try:
            self.assertTrue(w.accept_ok(), w.resp)
            for size in (5, 300, 70000):
                payload = T.det_bytes(size)
                w.send_frame(0x2, payload)
                op, fin, data = w.recv_frame()
                self.assertEqual((op, fin, data), (0x2, True, payload))
        finally:
            w.close()

    def test_bad_certificate_502_and_logged(self):
        other, _ = make_cert("not-the-upstream")
        self.fx = self.fixture("127.0.0.1", {"ca_file": other})
        r = self.fx.get("/echo/bad")
        self.assertEqual(r.status, 502, r)
        ev = self.fx.vw.wait_event("tls.upstream_verify_failed")
        self.assertIsNotNone(ev)
        self.assertIn("certificate", ev["ai_summary"])

    def test_wrong_name_502(self):
        # Trusted, but issued for another name than the one we dial.
        crt, key = make_cert("elsewhere", cn="other.example",
                             san="DNS:other.example")
        up = T.Upstream(self.tmp, tls=(crt, key)).start()
        try:
            self.fx = P.Fixture({"upstream": {
                "url": "https://localhost:%d" % up.port,
                "host": "localhost", "port": up.port,
                "tls": {"ca_file": crt}}}, upstream=False)
            r = self.fx.get("/echo/badname")
            self.assertEqual(r.status, 502, r)
            ev = self.fx.vw.wait_event("tls.upstream_verify_failed")
            self.assertIsNotNone(ev)
            self.assertIn("hostname mismatch", ev["ai_summary"])
            # The upstream logs its side of the failed handshake a moment
            # after vibewarden's 502, later still on a loaded machine.
            end = time.monotonic() + 5
            while not (recs := up.requests()) and time.monotonic() < end:
                time.sleep(0.05)
            self.assertEqual([x for x in recs if "tls_error" not in x], [])
            self.assertIn("BAD_CERTIFICATE", recs[0]["tls_error"])
        finally:
            up.stop()

    def test_unusable_ca_file_refused_and_reload_keeps_serving(self):
        cfg = T.base_config(T.free_port(), self.up.port)
        cfg["upstream"] = {"url": "https://127.0.0.1:%d" % self.up.port,
                           "tls": {"ca_file": KEY}}
        path = os.path.join(self.tmp, "ca.yaml")
        with open(path, "w") as f:
            f.write(T.to_yaml(cfg) + "\n")
        rc, out, err = T.run_check(path)
        self.assertEqual(rc, 1)
        self.assertIn("upstream.tls.ca_file %s: no usable CA" % KEY, err)
        # Good at start, broken on reload: the old generation serves on.
        cafile = os.path.join(self.tmp, "live-ca.pem")
        shutil.copy(self.ucert, cafile)
        self.fx = self.fixture("127.0.0.1", {"ca_file": cafile})
        self.assertEqual(self.fx.get("/echo/ca1").status, 200)
        with open(cafile, "w") as f:
            f.write("not a certificate\n")
        self.fx.vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.fx.vw.wait_event("config.reload_failed"))
        self.assertTrue(self.fx.vw.events("tls.ca_file_failed"))
        self.assertEqual(self.fx.get("/echo/ca2").status, 200)

    def test_stalled_handshake_is_a_connect_timeout(self):
        """Attack finding: an upstream that accepts TCP but never answers
        the ClientHello was timed by resilience.timeout (504).  The
        handshake is part of connecting: connect_timeout and 502."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        port = ls.getsockname()[1]
        held = []
        stop = threading.Event()

        def accept():
            ls.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(ls.accept()[0])
                except OSError:
                    pass
        th = threading.Thread(target=accept, daemon=True)
        th.start()
        try:
            self.fx = P.Fixture({"upstream": {
                "url": "https://127.0.0.1:%d" % port, "host": "127.0.0.1",
                "port": port, "connect_timeout": "1s",
                "tls": {"insecure_skip_verify": True}},
                "resilience": {"timeout": "5s"}}, upstream=False)
            t0 = time.monotonic()
            r = self.fx.get("/echo/stall-hs")
            dt = time.monotonic() - t0
            self.assertEqual(r.status, 502, r)
            self.assertLess(dt, 3.0, "502 after %.2f s" % dt)
            self.assertGreaterEqual(dt, 0.9)
        finally:
            stop.set()
            th.join(2)
            for c in held:
                c.close()
            ls.close()

    def test_cut_after_handshake_is_not_a_handshake_failure(self):
        """Attack finding: an upstream that completed its handshake and
        then broke mid-response was logged as tls.upstream_handshake_failed
        (OpenSSL's state after a fatal error no longer says the handshake
        was done)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.ucert, self.ukey)
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        port = ls.getsockname()[1]

        def serve():
            ls.settimeout(10)
            try:
                c, _ = ls.accept()
                t = ctx.wrap_socket(c, server_side=True)
                t.recv(65536)
                t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000"
                          b"\r\n\r\n" + b"x" * 5000)
                time.sleep(0.3)
                c.close()       # TCP close, no close_notify
            except OSError:
                pass
        th = threading.Thread(target=serve, daemon=True)
        th.start()
        try:
            self.fx = P.Fixture({"upstream": {
                "url": "https://127.0.0.1:%d" % port, "host": "127.0.0.1",
                "port": port, "tls": {"ca_file": self.ucert}}},
                upstream=False)
            with self.fx.client() as c:
                c.send(T.build_request("GET", "/cut",
                                       [("X-Request-Id", "tls-cut")]))
                with self.assertRaises((T.ProtocolError, OSError)):
                    c.read_response()
            ev = self.fx.vw.wait_event(
                "upstream.error", lambda e: e["request_id"] == "tls-cut")
            self.assertIsNotNone(ev, self.fx.vw.stdout()[-1500:])
            self.assertEqual(ev["payload"]["bytes"], 5000)
            self.assertEqual(self.fx.vw.events(
                "tls.upstream_handshake_failed"), [])
        finally:
            th.join(5)
            ls.close()

    def test_insecure_skip_verify_warns(self):
        other, _ = make_cert("not-the-upstream2")
        self.fx = self.fixture("127.0.0.1", {"ca_file": other,
                                             "insecure_skip_verify": True})
        self.assertEqual(self.fx.get("/echo/insecure").status, 200)
        self.assertTrue(self.fx.vw.events("tls.upstream_verify_disabled"))


# ====================================================================== suites
# test_proxy.py's suites with every client connection over TLS: T.Client
# (and so T.exchange and T.WSClient) become TLSClient while they run.

_plain_base_config = T.base_config


def _tls_base_config(port, up_port, admin_port=None):
    cfg = _plain_base_config(port, up_port, admin_port)
    cfg["tls"] = {"enabled": True, "provider": "external",
                  "cert_path": CERT, "key_path": KEY}
    return cfg


class OverTLS:
    @classmethod
    def setUpClass(cls):
        cls._saved = (T.Client, T.base_config)
        T.Client = TLSClient
        T.base_config = _tls_base_config
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            T.Client, T.base_config = cls._saved


class TestOverTLSPassThrough(OverTLS, P.TestPassThrough):

    def test_forwarded_headers(self):
        # Over TLS the proto is https, whatever the client claims.
        for hdrs in (None, [("X-Forwarded-Proto", "http")]):
            j = self.fx.get("/echo/xfp", hdrs).json()
            self.assertEqual(P.up_get(j, "X-Forwarded-Proto"), ["https"])
            self.assertEqual(P.up_get(j, "X-Forwarded-For"), ["127.0.0.1"]
                             if hdrs is None else ["127.0.0.1"])


class TestOverTLSBodies(OverTLS, P.TestBodies):

    def test_64mib_streams_with_bounded_memory(self):
        if T.sanitized():
            # OpenSSL frees and re-allocates record buffers (RELEASE_BUFFERS)
            # and ASan's quarantine keeps them all: RSS says nothing there.
            self.skipTest("RSS bound not meaningful under ASan")
        super().test_64mib_streams_with_bounded_memory()


class TestOverTLSSmuggling(OverTLS, P.TestSmuggling):
    pass


class TestOverTLSConnections(OverTLS, P.TestConnections):
    pass


class TestOverTLSWebSocket(OverTLS, P.TestWebSocket):
    pass


class TestOverTLSUpstreamErrors(OverTLS, P.TestUpstreamErrors):
    pass


def load_tests(loader, tests, pattern):
    # Only this file's classes: the imported test_proxy ones run there.
    suite = unittest.TestSuite()
    mod = sys.modules[__name__]
    for name in dir(mod):
        obj = getattr(mod, name)
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase) \
                and obj.__module__ == __name__:
            suite.addTests(loader.loadTestsFromTestCase(obj))
    return suite


if __name__ == "__main__":
    try:
        unittest.main(verbosity=int(os.environ.get("VW_VERBOSE", "1")))
    finally:
        shutil.rmtree(MOD_TMP, ignore_errors=True)
