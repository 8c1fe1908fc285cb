#!/usr/bin/env python3
"""Integration tests for the request hardening stages of issue 12, items
1-4: body size limits, CSRF, the IP filter and CORS.  The real binary
against the real test upstream; clients bound to 127.0.0.2 / 127.0.0.3 /
::1 as source addresses.  Loopback only; every process started here is
stopped by PID.

    VW_BIN=./vibewarden python3 tests/integ/test_stages.py [-v] [Class.test]
"""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import vwtest as T  # noqa: E402

OPENSSL = shutil.which("openssl")


class SrcClient(T.Client):
    """T.Client from a chosen source address (127.0.0.2, ::1, ...)."""

    def __init__(self, port, src="127.0.0.2", timeout=10.0):
        fam = socket.AF_INET6 if ":" in src else socket.AF_INET
        dst = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        try:
            self.s.bind((src, 0))
            self.s.connect((dst, port))
        except OSError:
            self.s.close()
            raise
        self.buf = b""
        self.eof = False


def wait_port6(port, timeout=10.0, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("::1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Fixture:
    """Upstream + vibewarden (1 worker) in a private temp dir."""

    def __init__(self, extra=None, host="127.0.0.1", raw=""):
        self.tmp = T.new_tmpdir()
        self.up = self.vw = None
        try:
            self.up = T.Upstream(self.tmp).start()
            self.port = T.free_port()
            cfg = T.base_config(self.port, self.up.port)
            cfg["server"]["host"] = host
            cfg["server"]["workers"] = 1
            if extra:
                T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg)
            if raw:     # what to_yaml cannot say (lists of mappings)
                self.vw.write_config(T.to_yaml(cfg) + "\n" + raw)
            if ":" in host:
                saved = T.wait_port
                T.wait_port = wait_port6
                try:
                    self.vw.start()
                finally:
                    T.wait_port = saved
            else:
                self.vw.start()
        except Exception:
            self.close()
            raise

    def close(self):
        if self.vw:
            self.vw.stop()
        if self.up:
            self.up.stop()
        if os.environ.get("VW_KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def req(self, method="GET", target="/echo", headers=None, body=None,
            src="127.0.0.2", host="example.test"):
        with SrcClient(self.port, src) as c:
            return c.request(method, target, headers, body, host)


class Case(unittest.TestCase):
    EXTRA = None
    HOST = "127.0.0.1"
    RAW = ""

    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture(cls.EXTRA, cls.HOST, cls.RAW)

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def assertVwError(self, r, status, code):
        self.assertIsNotNone(r)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        j = r.json()
        self.assertEqual(j["error"], code, j)
        self.assertEqual(j["status"], status, j)
        self.assertEqual(j["request_id"], r.header("X-Request-Id"), j)
        return j

    def upstream_saw(self, marker):
        return self.fx.up.saw(marker)

    def marker(self):
        return "m%x%x" % (os.getpid(), int(time.monotonic() * 1e6))


# ====================================================================== 1
class TestBodySize(Case):
    """body_size.max 64KB, /upload 1MB: declared and chunked bodies."""
    RAW = ("body_size:\n  max: 64KB\n  overrides:\n"
           "    - path: /upload\n      max: 1MB\n"
           "    - path: /upload/tiny\n      max: 10\n")

    def test_declared_over_limit_413_upstream_never_contacted(self):
        m = self.marker()
        before = self.fx.up.stats()["connections"]
        with SrcClient(self.fx.port) as c:
            # Only the head: the answer must not wait for the body.
            c.send(T.build_request("POST", "/echo/" + m,
                                   [("Content-Length", "65537")]))
            r = c.read_response("POST")
            self.assertVwError(r, 413, "payload_too_large")
            self.assertEqual(r.header("Connection"), "close")
        time.sleep(0.2)
        self.assertFalse(self.upstream_saw(m))
        self.assertEqual(self.fx.up.stats()["connections"], before)
        self.assertIsNotNone(self.fx.vw.wait_event(
            "request.blocked", lambda e: m in e["payload"].get("path", "")
            and e["payload"]["status"] == 413))

    def test_declared_at_limit_passes(self):
        r = self.fx.req("POST", "/echo", body=b"a" * 65536)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 65536)

    def test_override_on_upload_only(self):
        body = b"u" * (200 * 1024)
        r = self.fx.req("POST", "/upload/file", body=body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], len(body))
        r = self.fx.req("POST", "/echo", body=body)
        self.assertVwError(r, 413, "payload_too_large")
        # The longest prefix wins: /upload/tiny allows 10 bytes.
        r = self.fx.req("POST", "/upload/tiny/x", body=b"x" * 11)
        self.assertVwError(r, 413, "payload_too_large")
        r = self.fx.req("POST", "/upload/tiny/x", body=b"x" * 10)
        self.assertEqual(r.status, 200, r)

    def test_chunked_announced_over_limit_before_connect(self):
        m = self.marker()
        before = self.fx.up.stats()["connections"]
        with SrcClient(self.fx.port) as c:
            c.send(T.build_request("POST", "/echo/" + m,
                                   [("Transfer-Encoding", "chunked")]))
            c.send(b"%x\r\n" % (100 * 1024) + b"z" * 1000)
            r = c.read_response("POST")
            self.assertVwError(r, 413, "payload_too_large")
        time.sleep(0.2)
        self.assertFalse(self.upstream_saw(m))
        self.assertEqual(self.fx.up.stats()["connections"], before)

    def test_chunked_within_limit_passes(self):
        body = T.det_bytes(60000)
        r = self.fx.req("POST", "/echo", [("Transfer-Encoding", "chunked")],
                        T.chunk_encode(body, [4096, 100, 9000]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], len(body))

    def test_chunked_mid_stream_413_upstream_aborted(self):
        m = self.marker()
        piece = b"%x\r\n" % 8192 + b"c" * 8192 + b"\r\n"
        with SrcClient(self.fx.port) as c:
            c.send(T.build_request("POST", "/echo/" + m,
                                   [("Transfer-Encoding", "chunked")]))
            # 24 KiB: past the 16 KiB read before connecting, so the
            # request is streaming to the upstream already.
            for _ in range(3):
                c.send(piece)
            end = time.monotonic() + 5
            while not self.upstream_saw(m) and time.monotonic() < end:
                time.sleep(0.05)
            self.assertTrue(self.upstream_saw(m), "not streaming yet")
            r = None
            for _ in range(10):          # crosses 64 KiB at the 8th
                try:
                    c.send(piece)
                except OSError:
                    break
                time.sleep(0.02)
            r = c.read_response("POST")
            self.assertVwError(r, 413, "payload_too_large")
            self.assertTrue(c.is_closed(3.0))
        # The upstream never got a whole request: its connection was cut.
        time.sleep(0.3)
        recs = [x for x in self.fx.up.requests()
                if m in x.get("target", "")]
        self.assertEqual(recs, [])
        # And it was not reused: the next request gets a fresh one.
        aborted = []
        for fn in os.listdir(self.fx.up.logdir):
            if fn.startswith("conn-"):
                with open(os.path.join(self.fx.up.logdir, fn), "rb") as f:
                    if m.encode() in f.read():
                        aborted.append(fn)
        self.assertEqual(len(aborted), 1)
        r = self.fx.req("GET", "/echo")
        self.assertEqual(r.status, 200)
        self.assertNotEqual("conn-%d.raw" % r.json()["conn"], aborted[0])

    def test_websocket_tunnel_not_limited(self):
        ws = T.WSClient(self.fx.port)
        try:
            self.assertTrue(ws.accept_ok(), ws.resp)
            payload = os.urandom(100 * 1024)
            ws.send_frame(0x2, payload)
            op, fin, data = ws.recv_frame()
            self.assertEqual((op, data), (0x2, payload))
        finally:
            ws.close()


# ====================================================================== 2
class TestCSRF(Case):
    EXTRA = {"csrf": {"trusted_origins": ["https://trusted.example"],
                      "exempt_paths": ["/hooks/*"]}}
    CK = ("Cookie", "sessionid=abc")

    def post(self, headers, method="POST", target="/echo", cookie=True):
        h = ([self.CK] if cookie else []) + headers
        return self.fx.req(method, target, h, b"x=1")

    def blocked(self, r):
        j = self.assertVwError(r, 403, "csrf_rejected")
        self.assertIsNotNone(self.fx.vw.wait_event(
            "csrf.blocked", lambda e: e["request_id"] == j["request_id"]))

    def test_cross_site_with_cookie_403(self):
        self.blocked(self.post([("Sec-Fetch-Site", "cross-site"),
                                ("Origin", "https://evil.example")]))
        self.blocked(self.post([("Sec-Fetch-Site", "same-site"),
                                ("Origin", "http://sub.example.test")]))
        self.blocked(self.post([("Origin", "https://evil.example")]))
        self.blocked(self.post([("Origin", "null")]))
        # Same host, other scheme or port: another origin.
        self.blocked(self.post([("Origin", "https://example.test")]))
        self.blocked(self.post([("Origin", "http://example.test:8080")]))

    def test_same_origin_passes(self):
        for h in ([("Origin", "http://example.test")],
                  [("Origin", "http://EXAMPLE.test:80")],
                  [("Sec-Fetch-Site", "same-origin"),
                   ("Origin", "http://example.test")],
                  [("Sec-Fetch-Site", "same-origin")],
                  [("Sec-Fetch-Site", "none")],
                  [("Referer", "http://example.test/form?a=1")]):
            r = self.post(h)
            self.assertEqual(r.status, 200, (h, r))
            self.assertEqual(r.json()["method"], "POST")

    def test_trusted_origin_passes(self):
        r = self.post([("Sec-Fetch-Site", "cross-site")] and
                      [("Origin", "https://trusted.example")])
        self.assertEqual(r.status, 200, r)
        r = self.post([("Referer", "https://trusted.example/page")])
        self.assertEqual(r.status, 200, r)

    def test_no_cookie_not_subject(self):
        r = self.post([("Sec-Fetch-Site", "cross-site"),
                       ("Origin", "https://evil.example"),
                       ("Authorization", "Bearer t")], cookie=False)
        self.assertEqual(r.status, 200, r)

    def test_methods_case_sensitive(self):
        for meth in ("FOO", "foo", "PUT", "DELETE", "PATCH", "PROPFIND"):
            self.blocked(self.post([("Origin", "https://evil.example")],
                                   method=meth))
        # "get" is not GET (RFC 9110 9.1): the parser refuses case
        # variants of methods it knows, and never as a safe GET.
        m = self.marker()
        r = self.post([("Origin", "https://evil.example")], method="get",
                      target="/echo/" + m)
        self.assertIn(r.status, (400, 403), r)
        self.assertFalse(self.upstream_saw(m))
        for meth in ("GET", "HEAD", "OPTIONS"):
            with SrcClient(self.fx.port) as c:
                r = c.request(meth, "/echo", [self.CK, ("Origin",
                                                        "https://e.example")])
            self.assertEqual(r.status, 200, (meth, r))

    def test_foreign_referer_only_403(self):
        self.blocked(self.post([("Referer", "https://evil.example/x")]))
        self.blocked(self.post([]))       # no header at all
        self.blocked(self.post([("Referer", "http://example.test.evil/")]))

    def test_exempt_path(self):
        r = self.post([("Origin", "https://evil.example")],
                      target="/hooks/stripe")
        self.assertEqual(r.status, 200, r)


class TestCSRFBehindTLSProxy(Case):
    """Plain listener behind a trusted TLS-terminating proxy: the browser's
    origin is https, as X-Forwarded-Proto says."""
    EXTRA = {"server": {"trusted_proxies": ["127.0.0.0/8"]}}

    def test_forwarded_proto(self):
        h = [("Cookie", "a=b"), ("Origin", "https://example.test"),
             ("X-Forwarded-Proto", "https")]
        self.assertEqual(self.fx.req("POST", "/echo", h, b"").status, 200)
        h[2] = ("X-Forwarded-Proto", "http")
        self.assertEqual(self.fx.req("POST", "/echo", h, b"").status, 403)


class TestCSRFOff(Case):
    EXTRA = {"csrf": {"enabled": False}}

    def test_off(self):
        r = self.fx.req("POST", "/echo", [("Cookie", "a=b"),
                                          ("Origin", "https://evil.example")],
                        b"")
        self.assertEqual(r.status, 200, r)


# ====================================================================== 3
def refused_at_accept(port, src, timeout=3.0):
    """True when a connection from src is closed by the server without a
    byte having been sent by either side."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("::1" if fam == socket.AF_INET6 else "127.0.0.1", port))
        try:
            return s.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
    finally:
        s.close()


class TestIPBlocklist(Case):
    EXTRA = {"ip_filter": {"enabled": True, "mode": "blocklist",
                           "addresses": ["127.0.0.3", "10.0.0.0/8",
                                         "2001:db8::/32"]}}

    def test_allowed_peer(self):
        self.assertEqual(self.fx.req(src="127.0.0.2").status, 200)

    def test_blocked_peer_closed_at_accept(self):
        self.assertTrue(refused_at_accept(self.fx.port, "127.0.0.3"))
        with self.assertRaises((T.ProtocolError, OSError)):
            self.fx.req(src="127.0.0.3")
        ev = self.fx.vw.wait_event("ip_filter.blocked")
        self.assertIsNotNone(ev)
        self.assertEqual(ev["payload"]["client_ip"], "127.0.0.3")
        self.assertEqual(ev["payload"]["mode"], "blocklist")


class TestIPAllowlist(Case):
    EXTRA = {"ip_filter": {"enabled": True, "mode": "allowlist",
                           "addresses": ["127.0.0.2/32", "::1"]}}

    def test_listed_passes_other_closed(self):
        self.assertEqual(self.fx.req(src="127.0.0.2").status, 200)
        self.assertTrue(refused_at_accept(self.fx.port, "127.0.0.3"))
        self.assertFalse(refused_at_accept(self.fx.port, "127.0.0.2", 0.5))


class TestIPv6Allowlist(Case):
    HOST = "::1"
    EXTRA = {"ip_filter": {"enabled": True, "mode": "allowlist",
                           "addresses": ["::1/128"]}}

    def test_v6_allowed(self):
        self.assertEqual(self.fx.req(src="::1").status, 200)


class TestIPv6Blocklist(Case):
    HOST = "::1"
    EXTRA = {"ip_filter": {"enabled": True, "mode": "blocklist",
                           "addresses": ["192.0.2.1", "::1"]}}

    def test_v6_blocked(self):
        self.assertTrue(refused_at_accept(self.fx.port, "::1"))


class TestIPFilterForwarded(Case):
    """Behind a trusted proxy the client decided from X-Forwarded-For is
    judged per request (403); other peers still at accept."""
    EXTRA = {"server": {"trusted_proxies": ["127.0.0.2"]},
             "ip_filter": {"enabled": True, "mode": "blocklist",
                           "trust_proxy_headers": True,
                           "addresses": ["192.0.2.0/24", "127.0.0.3"]}}

    def test_forwarded_client_403(self):
        r = self.fx.req(headers=[("X-Forwarded-For", "192.0.2.7")])
        j = self.assertVwError(r, 403, "forbidden")
        ev = self.fx.vw.wait_event(
            "ip_filter.blocked",
            lambda e: e.get("request_id") == j["request_id"])
        self.assertIsNotNone(ev)
        self.assertEqual(ev["payload"]["client_ip"], "192.0.2.7")
        r = self.fx.req(headers=[("X-Forwarded-For", "198.51.100.1")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.fx.req().status, 200)
        self.assertTrue(refused_at_accept(self.fx.port, "127.0.0.3"))


class TestIPBlockedLogFlood(Case):
    """Attack: a blocked peer reconnecting in a loop made the worker write
    one ip_filter.blocked line per connect (a line per SYN, with no
    request needed), flooding the log.  The accept-time event is now
    written at most once every 10 s per worker, with a count; the
    per-request 403 events are unchanged."""
    EXTRA = {"ip_filter": {"enabled": True, "mode": "blocklist",
                           "addresses": ["127.0.0.3"]}}

    def accept_events(self):
        return [e for e in self.fx.vw.events("ip_filter.blocked")
                if e["payload"].get("stage") == "accept"]

    def test_flood_logged_once_per_interval_with_count(self):
        n = 300
        for _ in range(n):
            self.assertTrue(refused_at_accept(self.fx.port, "127.0.0.3"))
        self.assertIsNotNone(self.fx.vw.wait_event("ip_filter.blocked"))
        time.sleep(0.3)
        evs = self.accept_events()
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["payload"]["client_ip"], "127.0.0.3")
        self.assertEqual(evs[0]["payload"]["count"], 1)
        # After the interval, the next refusal logs the silent ones too.
        time.sleep(10.2)
        self.assertTrue(refused_at_accept(self.fx.port, "127.0.0.3"))
        self.assertIsNotNone(self.fx.vw.wait_event(
            "ip_filter.blocked", lambda e: e["payload"].get("count", 1) > 1))
        evs = self.accept_events()
        self.assertEqual(len(evs), 2)
        self.assertEqual(sum(e["payload"]["count"] for e in evs), n + 1)


def make_cert(tmp):
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


@unittest.skipIf(OPENSSL is None, "openssl CLI not found")
class TestIPFilterBeforeTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ctmp = T.new_tmpdir()
        cls.cert, key = make_cert(cls.ctmp)
        cls.fx = Fixture({"tls": {"enabled": True, "provider": "external",
                                  "cert_path": cls.cert, "key_path": key},
                          "ip_filter": {"enabled": True,
                                        "addresses": ["127.0.0.3"]}})

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()
        shutil.rmtree(cls.ctmp, ignore_errors=True)

    def tls(self, src):
        raw = socket.socket()
        raw.settimeout(5)
        raw.bind((src, 0))
        raw.connect(("127.0.0.1", self.fx.port))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.cert)
        try:
            return ctx.wrap_socket(raw, server_hostname="localhost")
        except Exception:
            raw.close()
            raise

    def test_blocked_closed_before_handshake(self):
        # A TLS server waits for the ClientHello; a blocked peer is closed
        # without it: EOF with nothing sent.
        self.assertTrue(refused_at_accept(self.fx.port, "127.0.0.3"))
        self.assertFalse(refused_at_accept(self.fx.port, "127.0.0.2", 0.5))
        with self.assertRaises((ssl.SSLError, OSError)):
            self.tls("127.0.0.3").close()
        s = self.tls("127.0.0.2")
        try:
            s.sendall(T.build_request("GET", "/echo"))
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 200"))
        finally:
            s.close()


# ====================================================================== 4
class TestCORS(Case):
    EXTRA = {"cors": {"enabled": True,
                      "allowed_origins": ["https://app.example",
                                          "http://localhost:3000"],
                      "allowed_methods": ["GET", "POST", "PATCH"],
                      "allowed_headers": ["Content-Type", "X-Csrf"],
                      "exposed_headers": ["X-Upstream-Conn"],
                      "allow_credentials": True, "max_age": 600},
             "body_size": {"max": "1KB"}}

    def preflight(self, origin, target="/api/x"):
        m = self.marker()
        r = self.fx.req("OPTIONS", target + "?" + m,
                        [("Origin", origin),
                         ("Access-Control-Request-Method", "PATCH"),
                         ("Access-Control-Request-Headers", "x-csrf")])
        return r, m

    def test_preflight_allowed(self):
        r, m = self.preflight("https://app.example")
        self.assertEqual(r.status, 204, r)
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://app.example")
        self.assertEqual(r.header("Access-Control-Allow-Methods"),
                         "GET, POST, PATCH")
        self.assertEqual(r.header("Access-Control-Allow-Headers"),
                         "Content-Type, X-Csrf")
        self.assertEqual(r.header("Access-Control-Allow-Credentials"),
                         "true")
        self.assertEqual(r.header("Access-Control-Max-Age"), "600")
        self.assertIn("Origin", r.header_all("Vary"))
        time.sleep(0.1)
        self.assertFalse(self.upstream_saw(m))   # answered, not proxied
        r, _ = self.preflight("http://localhost:3000")
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "http://localhost:3000")

    def test_preflight_refused(self):
        for o in ("https://evil.example", "https://app.example:8443",
                  "http://app.example", "null"):
            r, m = self.preflight(o)
            self.assertVwError(r, 403, "cors_origin_not_allowed")
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
            self.assertFalse(self.upstream_saw(m))

    def test_actual_response_headers(self):
        r = self.fx.req("GET", "/echo", [("Origin", "https://app.example")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://app.example")
        self.assertEqual(r.header("Access-Control-Allow-Credentials"),
                         "true")
        self.assertEqual(r.header("Access-Control-Expose-Headers"),
                         "X-Upstream-Conn")
        self.assertIsNone(r.header("Access-Control-Allow-Methods"))
        self.assertIn("Origin", r.header_all("Vary"))
        # The security headers are still there.
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        # An origin not listed is never echoed.
        r = self.fx.req("GET", "/echo", [("Origin", "https://evil.example")])
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        r = self.fx.req("GET", "/echo")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_vary_without_cors_headers(self):
        """Attack: answers without CORS headers (no Origin, or one not
        listed) had no Vary: Origin, so a shared cache that stored one
        served it to the listed origins too: priming a cache with a plain
        request broke the application's cross-origin reads for everyone
        (Fetch 3.2.5 asks for Vary: Origin on those answers as well)."""
        for hdrs in ([], [("Origin", "https://evil.example")]):
            r = self.fx.req("GET", "/echo", hdrs)
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
            self.assertIn("Origin", r.header_all("Vary"), hdrs)
            r = self.fx.req("GET", "/_vibewarden/health", hdrs)
            self.assertIn("Origin", r.header_all("Vary"), hdrs)

    def test_own_error_carries_headers(self):
        r = self.fx.req("POST", "/echo", [("Origin", "https://app.example")],
                        b"x" * 2000)
        self.assertVwError(r, 413, "payload_too_large")
        self.assertEqual(r.header("Access-Control-Allow-Origin"),
                         "https://app.example")

    def test_plain_options_proxied(self):
        r = self.fx.req("OPTIONS", "/echo", [("Origin", "https://app.example")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["method"], "OPTIONS")

    def test_upstream_cors_fields_dropped(self):
        import base64
        raw = (b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\n"
               b"access-control-allow-credentials: false\r\n"
               b"Content-Length: 2\r\n\r\nok")
        b64 = base64.urlsafe_b64encode(raw).decode()
        r = self.fx.req("GET", "/raw?b64=" + b64,
                        [("Origin", "https://app.example")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header_all("Access-Control-Allow-Origin"),
                         ["https://app.example"])
        self.assertEqual(r.header_all("Access-Control-Allow-Credentials"),
                         ["true"])


class TestCORSWildcard(Case):
    EXTRA = {"cors": {"enabled": True, "allowed_origins": ["*"]}}

    def test_star(self):
        r = self.fx.req("GET", "/echo", [("Origin", "https://any.example")])
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertNotIn("Origin", r.header_all("Vary"))
        self.assertIsNone(r.header("Access-Control-Allow-Credentials"))
        # Without an Origin there is no "*": a cache must know that.
        r = self.fx.req("GET", "/echo")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertIn("Origin", r.header_all("Vary"))


# ====================================================================== config
class TestConfig(unittest.TestCase):
    def check(self, extra):
        tmp = T.new_tmpdir()
        try:
            cfg = T.base_config(T.free_port(), T.free_port())
            T.deep_update(cfg, extra)
            path = os.path.join(tmp, "c.yaml")
            with open(path, "w") as f:
                f.write(T.to_yaml(cfg) + "\n")
            return T.run_check(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_credentials_with_star_is_error(self):
        rc, out, err = self.check({"cors": {
            "enabled": True, "allowed_origins": ["*"],
            "allow_credentials": True}})
        self.assertEqual(rc, 1, err)
        self.assertIn("allow_credentials", err)

    def test_header_values_one_line(self):
        """Attack (config-sourced header injection): a CR or LF in a CORS
        list or a security header value (a CSP templated from the
        environment, say) was accepted and written as is, so it started
        a header line of its own, Set-Cookie say, on every response.  As
        for response_headers, such a value is a configuration error."""
        inj = "x\r\nSet-Cookie: injected=1"
        for extra, key in (
                ({"security_headers": {"content_security_policy": inj}},
                 "security_headers.content_security_policy"),
                ({"security_headers": {"referrer_policy": inj}},
                 "security_headers.referrer_policy"),
                ({"security_headers": {"permissions_policy": inj}},
                 "security_headers.permissions_policy"),
                ({"security_headers": {"csp": {"script_src": [inj]}}},
                 "security_headers.csp.script_src"),
                ({"cors": {"enabled": True, "allowed_origins": ["https://a.b"],
                           "allowed_headers": [inj]}},
                 "cors.allowed_headers"),
                ({"cors": {"enabled": True, "allowed_origins": ["https://a.b"],
                           "exposed_headers": ["X-A\nX-B: 1"]}},
                 "cors.exposed_headers")):
            with self.subTest(key=key):
                rc, out, err = self.check(extra)
                self.assertEqual(rc, 1, err)
                self.assertIn(key + ": a value cannot span lines", err)

    def test_features_implemented(self):
        rc, out, err = self.check({
            "cors": {"enabled": True, "allowed_origins": ["https://a.b"]},
            "ip_filter": {"enabled": True, "addresses": ["10.0.0.0/8"]},
            "csrf": {"enabled": True},
            "body_size": {"max": "2MB"}})
        self.assertEqual(rc, 0, err)
        for ln in (err + out).splitlines():
            if "not implemented" in ln:
                for what in ("CSRF", "CORS", "IP filter", "body size",
                             "csrf", "cors", "ip_filter", "body_size"):
                    self.assertNotIn(what, ln)


# ====================================================================== order
class TestStageOrder(Case):
    """SPEC.md 5: IP filter (5) before CORS (6) before body size (7)
    before CSRF (10): which stage answers when several would."""
    EXTRA = {"server": {"trusted_proxies": ["127.0.0.2"]},
             "ip_filter": {"enabled": True, "trust_proxy_headers": True,
                           "addresses": ["192.0.2.0/24"]},
             "cors": {"enabled": True,
                      "allowed_origins": ["https://app.example"]},
             "body_size": {"max": "1KB"}}

    def test_order(self):
        bad_ip = ("X-Forwarded-For", "192.0.2.1")
        evil = ("Origin", "https://evil.example")
        ck = ("Cookie", "a=b")
        acrm = ("Access-Control-Request-Method", "POST")
        big = ("Content-Length", "5000")
        table = [
            # headers, method, expected status, expected error
            ([bad_ip, evil, acrm], "OPTIONS", 403, "forbidden"),
            ([bad_ip, evil, ck, big], "POST", 403, "forbidden"),
            ([evil, acrm, big], "OPTIONS", 403, "cors_origin_not_allowed"),
            ([evil, ck, big], "POST", 413, "payload_too_large"),
            ([evil, ck], "POST", 403, "csrf_rejected"),
        ]
        for hdrs, meth, st, code in table:
            with SrcClient(self.fx.port) as c:
                c.send(T.build_request(meth, "/echo", hdrs))
                r = c.read_response(meth)
            self.assertVwError(r, st, code)


if __name__ == "__main__":
    unittest.main()
