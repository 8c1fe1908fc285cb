#!/usr/bin/env python3
"""vibewarden integration tests: the proxy core under attack (issue 6).

    VW_BIN=./vibewarden python3 tests/integ/test_core.py [-v] [Class.test]

Fairness, keepalive_requests, the whole-request deadline, X-Forwarded-For
from trusted proxies only, response-side RFC rules, strict chunk framing,
path rules, truthful logs, connection caps, worker balance and memory that
comes back.  Each test failed against the binary before its fix.  Every
fixture uses its own loopback ports and temp dir, and stops the processes
it started by PID.  Python 3 standard library only.
"""

import base64
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402
from test_proxy import Fixture, up_get  # noqa: E402


def raw_target(resp, **kw):
    """/raw target that makes the test upstream send resp verbatim."""
    q = "b64=" + base64.urlsafe_b64encode(resp).decode()
    for k, v in kw.items():
        q += "&%s=%s" % (k, v)
    return "/raw?" + q


def worker_sockets(pid):
    """Open socket descriptors of a process."""
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) \
                        .startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


class CoreCase(unittest.TestCase):

    def setUp(self):
        self.fx = None

    def tearDown(self):
        if self.fx:
            self.fx.close()

    def start(self, extra=None, **kw):
        self.fx = Fixture(extra, **kw)
        return self.fx

    def assertVwError(self, r, status):
        self.assertIsNotNone(r, "no response (expected %d)" % status)
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("Content-Type") or "")
                        .startswith("application/json"), r)
        j = r.json()
        self.assertEqual(j.get("status"), status, j)
        return j


# ====================================================================== 1
FLOOD = r"""
import socket, sys, threading, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /_vibewarden/health HTTP/1.1\r\nHost: h\r\n\r\n" * 2000
def reader():
    try:
        while s.recv(1 << 20):
            pass
    except OSError:
        pass
threading.Thread(target=reader, daemon=True).start()
end = time.monotonic() + secs
try:
    while time.monotonic() < end:
        s.sendall(req)
except OSError:
    pass
print("done", flush=True)
"""


class TestFairness(CoreCase):

    def test_pipelining_flood_does_not_starve_others(self):
        """One connection pipelines health checks flat out; another
        client on the same worker is still answered at once, and timers
        still fire."""
        self.start({"server": {"workers": 1, "keepalive_requests": 0,
                               "header_timeout": "1s"}})
        fl = subprocess.Popen([sys.executable, "-c", FLOOD,
                               str(self.fx.port), "5"],
                              stdout=subprocess.PIPE)
        try:
            time.sleep(0.5)
            # a silent, half-sent head must still get its 408 on time
            slow = T.Client(self.fx.port, 10)
            slow.send(b"GET /echo/half HTTP/1.1\r\nHost: a\r\n")
            t_slow = time.monotonic()
            got = {}

            def read_slow():
                try:
                    got["r"] = slow.read_response()
                except (T.ProtocolError, OSError) as e:
                    got["r"] = e
                got["t"] = time.monotonic() - t_slow
            th = threading.Thread(target=read_slow)
            th.start()
            lat = []
            for i in range(10):
                t0 = time.monotonic()
                with self.fx.client(5) as c:
                    r = c.request("GET", "/echo/probe-%d" % i)
                lat.append(time.monotonic() - t0)
                self.assertEqual(r.status, 200, r)
                time.sleep(0.1)
            th.join(10)
            slow.close()
            r, waited = got.get("r"), got.get("t", 99)
            self.assertIsInstance(r, T.Response, r)
            self.assertEqual(r.status, 408, r)
            self.assertLess(waited, 2.0, "408 came after %.2f s" % waited)
        finally:
            fl.wait(15)
            fl.stdout.close()
        lat.sort()
        self.assertLess(lat[len(lat) // 2], 0.05,
                        "median latency %.3f s under a flood: %r"
                        % (lat[len(lat) // 2], lat))
        self.assertLess(lat[-1], 0.5, "worst latency %.3f s" % lat[-1])

    def test_keepalive_requests_default_1000(self):
        self.start()
        req = b"GET /_vibewarden/health HTTP/1.1\r\nHost: h\r\n\r\n"
        with self.fx.client(10) as c:
            for _ in range(10):
                c.send(req * 100)
            for i in range(1, 1001):
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                conn = (r.header("Connection") or "").lower()
                if i < 1000:
                    self.assertNotEqual(conn, "close", "response %d" % i)
            self.assertEqual(conn, "close", "1000th response")
            self.assertTrue(c.is_closed(3.0), "still open after the 1000th")

    def test_keepalive_requests_proxied(self):
        self.start({"server": {"keepalive_requests": 3}})
        with self.fx.client() as c:
            for i in range(3):
                r = c.request("GET", "/echo/ka-%d" % i)
                self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Connection"), "close", r)
            self.assertTrue(c.is_closed(3.0))


class TestSyscalls(CoreCase):
    def test_keepalive_request_reads_each_socket_once(self):
        """A read that returns less than asked for leaves the socket
        empty: the worker waits for epoll instead of reading the client
        again after each answer (one failed read per request before)."""
        self.start({"server": {"workers": 1}})
        w = self.fx.vw.workers()[0]
        with self.fx.client() as c:
            per = T.reads_per_request(w, c)
        # One read of the request, one (or two: head, then body) of the
        # answer; 3 or more with a failed read after each answer.
        self.assertLess(per, 2.8, "%.2f reads per request" % per)


    def test_pool_keeps_a_burst_of_connections(self):
        """300 requests in progress at once on one worker, twice: the
        second wave finds the 300 upstream connections of the first in
        the pool (a pool capped at 256 closed 44 of them, which the next
        wave opened again).  Once the burst is over, the 44 beyond 256
        close within 2 s instead of holding the application's connection
        slots for the 30 s pool timeout."""
        self.start({"server": {"workers": 1}})
        n = 300
        w = self.fx.vw.workers()[0]

        def wave(socks, tag):
            for i, s in enumerate(socks):
                s.sendall(b"GET /slow?ms=1000&w=%s%d HTTP/1.1\r\n"
                          b"Host: a\r\n\r\n" % (tag, i))
                if i % 50 == 49:        # connections, not a SYN flood
                    time.sleep(0.05)
            for s in socks:
                got = b""
                while b"\r\n\r\n" not in got or not got.rstrip() \
                        .endswith(b"}"):
                    d = s.recv(65536)
                    self.assertTrue(d, "closed after %r" % got[:200])
                    got += d
                self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
        base_socks = worker_sockets(w)
        socks = []
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", self.fx.port))
                s.settimeout(20)
                socks.append(s)
            base = self.fx.up.stats()["connections"]
            wave(socks, b"a")
            first = self.fx.up.stats()["connections"] - base
            wave(socks, b"b")
            second = self.fx.up.stats()["connections"] - base - first
        finally:
            for s in socks:
                s.close()
        self.assertGreaterEqual(first, n * 0.9, first)
        self.assertLessEqual(second, 5, (first, second))
        time.sleep(3.5)
        pooled = worker_sockets(w) - base_socks
        self.assertLessEqual(pooled, 256 + 5, pooled)
        self.assertGreaterEqual(pooled, 200, pooled)

    def test_urgent_data_does_not_stall(self):
        """Attack: TCP urgent data makes a read stop at its mark with more
        bytes queued, so that short read does not empty the socket.  The
        next head, sent with an urgent byte in its middle while the first
        request is proxied, is answered at once (it waited for the 10 s
        header timeout when a short read always meant empty)."""
        self.start({"server": {"workers": 1}})
        s = socket.create_connection(("127.0.0.1", self.fx.port))
        s.settimeout(8)
        try:
            s.sendall(b"GET /slow?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.1)
            s.send(b"GET /echo/second HTTP/1.1\r\nHost: a\r\nX-A: b")
            s.send(b"!", socket.MSG_OOB)
            s.send(b"c\r\n\r\n")
            t0, got = time.monotonic(), b""
            while got.count(b"HTTP/1.1 ") < 2 or b"/echo/second" not in got:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            took = time.monotonic() - t0
        finally:
            s.close()
        self.assertEqual(got.count(b"HTTP/1.1 200"), 2, got[:300])
        self.assertLess(took, 3.0)


# ====================================================================== 2
class TestReadTimeout(CoreCase):

    def drip(self, clen, secs, out, idx):
        c = T.Client(self.fx.port, 10)
        t0 = time.monotonic()
        try:
            c.send(b"POST /echo/drip HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: %d\r\n\r\n" % clen)
            for _ in range(secs):
                c.send(b"x")
                time.sleep(1)
        except OSError:
            pass
        try:
            r = c.read_response()
        except (T.ProtocolError, OSError):
            r = None
        out[idx] = (r, time.monotonic() - t0)
        c.close()

    def test_dripped_body_gets_408_at_read_timeout(self):
        self.start({"server": {"read_timeout": "2s", "body_timeout": "30s"}})
        out = [None]
        self.drip(100, 6, out, 0)
        r, dt = out[0]
        self.assertVwError(r, 408)
        # the 408 is sent at 2 s; the client sees it at its next read
        ev = self.fx.vw.wait_event("request.blocked",
                                   lambda e: e["payload"]["status"] == 408)
        self.assertIsNotNone(ev)
        self.assertAlmostEqual(ev["payload"]["duration_ms"], 2000,
                               delta=500)
        self.assertIn("read_timeout", ev["payload"]["reason"])

    def test_twenty_slow_clients_hold_no_upstream_connection(self):
        """Small bodies are read before the upstream is connected: 20
        clients dripping them hold 0 upstream connections (the documented
        bound), and each gets its 408."""
        self.start({"server": {"read_timeout": "2s", "body_timeout": "30s"}})
        out = [None] * 20
        th = [threading.Thread(target=self.drip, args=(200, 4, out, i))
              for i in range(20)]
        for t in th:
            t.start()
        time.sleep(1.5)
        self.assertEqual(self.fx.up.stats()["connections"], 0)
        for t in th:
            t.join(20)
        for r, dt in out:
            self.assertVwError(r, 408)
        self.assertEqual(self.fx.up.stats()["connections"], 0)
        # and the service is fine afterwards
        self.assertEqual(self.fx.get("/echo/after").status, 200)

    def test_large_dripped_body_releases_upstream(self):
        """A body too large to buffer streams; read_timeout still ends it
        with 408 and the upstream connection is closed, not pooled."""
        self.start({"server": {"workers": 1, "read_timeout": "2s",
                               "body_timeout": "30s"}})
        out = [None]
        self.drip(100000, 5, out, 0)
        r, dt = out[0]
        self.assertVwError(r, 408)
        self.assertEqual(self.fx.up.stats()["connections"], 1)
        r = self.fx.get("/echo/next")
        self.assertEqual(r.status, 200)
        # the dripped request's connection was not reused
        self.assertEqual(self.fx.up.stats()["connections"], 2)

    def test_small_body_still_forwarded_whole(self):
        self.start({"server": {"read_timeout": "5s"}})
        with self.fx.client() as c:
            c.send(b"POST /echo/split HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: 10\r\n\r\n01234")
            time.sleep(0.3)
            c.send(b"56789")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 10)

    def test_chunked_body_read_before_connecting(self):
        """A chunked body that trickles in: the upstream is connected once
        it has ended, and a framing error later in it is a 400 that never
        reaches the upstream."""
        self.start()
        with self.fx.client() as c:
            c.send(b"POST /echo/ck-ok HTTP/1.1\r\nHost: a\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel")
            for piece in (b"lo\r\n", b"6\r\n wor", b"ld\r\n0\r\n", b"\r\n"):
                time.sleep(0.2)
                self.assertEqual(self.fx.up.stats()["connections"], 0)
                c.send(piece)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 11)
        with self.fx.client() as c:
            c.send(b"POST /echo/ck-bad-later HTTP/1.1\r\nHost: a\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            time.sleep(0.3)
            c.send(b"ZZ\r\nworld\r\n0\r\n\r\n")
            r = c.read_response()
        self.assertVwError(r, 400)
        time.sleep(0.1)
        self.assertFalse(self.fx.up.saw(b"ck-bad-later"))

    def test_bad_chunk_past_16k_in_one_read_never_upstream(self):
        """Attack finding: one read that takes the buffer past 16 KB was
        not scanned, so valid chunks before the error reached the
        upstream with the head."""
        self.start()
        with self.fx.client() as c:
            c.send(b"POST /echo/ck-big-bad HTTP/1.1\r\nHost: a\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
            time.sleep(0.3)
            c.send(b"10\r\n" + b"a" * 16 + b"\r\nZZ\r\n" + b"c" * 20000)
            r = c.read_response()
        self.assertVwError(r, 400)
        time.sleep(0.2)
        self.assertFalse(self.fx.up.saw(b"ck-big-bad"))
        self.assertEqual(self.fx.up.stats()["connections"], 0)

    def test_expect_100_with_buffered_body(self):
        self.start()
        with self.fx.client() as c:
            c.send(b"POST /echo/e100 HTTP/1.1\r\nHost: a\r\nExpect: "
                   b"100-continue\r\nContent-Length: 5\r\n\r\n")
            c.s.settimeout(3)
            got = c._until(b"\r\n\r\n")
            self.assertTrue(got.startswith(b"HTTP/1.1 100"), got)
            c.send(b"hello")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 5)


# ====================================================================== 3
class TestForwardedFor(CoreCase):

    def test_untrusted_peer_replaced_and_logged(self):
        self.start({"server": {"trusted_proxies": ["127.0.0.2/32"]}})
        with T.Client(self.fx.port, src="127.0.0.1") as c:
            r = c.request("GET", "/echo/xff-untrusted",
                          [("X-Forwarded-For", "203.0.113.9"),
                           ("X-Request-Id", "xff-u")])
        self.assertEqual(up_get(r.json(), "X-Forwarded-For"), ["127.0.0.1"])
        ev = self.fx.vw.wait_event("request.proxied",
                                   lambda e: e["request_id"] == "xff-u")
        self.assertEqual(ev["payload"]["client_ip"], "127.0.0.1")

    def test_trusted_peer_appended_and_client_ip_from_list(self):
        self.start({"server": {"trusted_proxies": ["127.0.0.2/32",
                                                   "10.0.0.0/8"]}})
        # sent, client judged, list forwarded (before the peer): what is
        # left of the client is not believed, so not forwarded either
        cases = [
            ("203.0.113.9", "203.0.113.9", "203.0.113.9"),
            ("198.51.100.1, 10.1.2.3", "198.51.100.1",
             "198.51.100.1, 10.1.2.3"),
            ("6.6.6.6, 198.51.100.9", "198.51.100.9", "198.51.100.9"),
            ("garbage, 198.51.100.7", "198.51.100.7", "198.51.100.7"),
            ("10.9.9.9", "10.9.9.9", "10.9.9.9"),  # all trusted: left-most
            ("2001:db8::5", "2001:db8::5", "2001:db8::5"),
            ("1.1.1.1,   ", "1.1.1.1", "1.1.1.1"),
            (" , 5.5.5.5 ,, 10.0.0.7", "5.5.5.5", "5.5.5.5, 10.0.0.7"),
        ]
        for i, (xff, client, fwd) in enumerate(cases):
            rid = "xff-t%d" % i
            with T.Client(self.fx.port, src="127.0.0.2") as c:
                r = c.request("GET", "/echo/" + rid,
                              [("X-Forwarded-For", xff),
                               ("X-Request-Id", rid)])
            self.assertEqual(up_get(r.json(), "X-Forwarded-For"),
                             [fwd + ", 127.0.0.2"], xff)
            ev = self.fx.vw.wait_event("request.proxied",
                                       lambda e: e["request_id"] == rid)
            self.assertIsNotNone(ev)
            self.assertEqual(ev["payload"]["client_ip"], client, xff)

    def test_two_xff_fields_are_one_list(self):
        self.start({"server": {"trusted_proxies": ["127.0.0.2"]}})
        with T.Client(self.fx.port, src="127.0.0.2") as c:
            r = c.request("GET", "/echo/xff2f",
                          [("X-Forwarded-For", "192.0.2.1"),
                           ("X-Forwarded-For", "192.0.2.2"),
                           ("X-Request-Id", "xff-2f")])
        # 192.0.2.2 is the client; 192.0.2.1, left of it, is its claim
        self.assertEqual(up_get(r.json(), "X-Forwarded-For"),
                         ["192.0.2.2, 127.0.0.2"])
        ev = self.fx.vw.wait_event("request.proxied",
                                   lambda e: e["request_id"] == "xff-2f")
        self.assertEqual(ev["payload"]["client_ip"], "192.0.2.2")


# ====================================================================== 4
class SharedFixtureCase(CoreCase):
    """One fixture for the whole class: its tests change no state."""
    EXTRA = None

    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture(cls.EXTRA)

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def setUp(self):
        pass

    def tearDown(self):
        pass


class TestResponseRules(SharedFixtureCase):
    """Table-driven cases over scripted upstream responses."""

    CASES = [
        # name, raw response, method, check(r) -> None
        ("204_with_cl", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n"
         b"X-Mark: a\r\n\r\n", "GET",
         lambda t, r: (t.assertEqual(r.status, 204),
                       t.assertIsNone(r.header("Content-Length")),
                       t.assertIsNone(r.header("Transfer-Encoding")),
                       t.assertEqual(r.header("X-Mark"), "a"))),
        ("bad_chunk_502", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
         b"\r\n\r\nZZ\r\n", "GET",
         lambda t, r: t.assertVwError(r, 502)),
        ("bare_lf_chunk_502", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: "
         b"chunked\r\n\r\n5\nhello\n0\n\n", "GET",
         lambda t, r: t.assertVwError(r, 502)),
        ("conn_names_xfo", b"HTTP/1.1 200 OK\r\nConnection: X-Frame-Options"
         b"\r\nX-Frame-Options: ALLOWALL\r\nContent-Length: 2\r\n\r\nok",
         "GET",
         lambda t, r: t.assertEqual(r.header_all("X-Frame-Options"),
                                    ["DENY"])),
        ("empty_xfo", b"HTTP/1.1 200 OK\r\nX-Frame-Options:\r\n"
         b"Content-Security-Policy: \r\nContent-Length: 2\r\n\r\nok", "GET",
         lambda t, r: (t.assertEqual(r.header_all("X-Frame-Options"),
                                     ["DENY"]),
                       t.assertNotIn("", r.header_all(
                           "Content-Security-Policy")))),
        ("own_xfo_kept", b"HTTP/1.1 200 OK\r\nX-Frame-Options: SAMEORIGIN"
         b"\r\nContent-Length: 2\r\n\r\nok", "GET",
         lambda t, r: t.assertEqual(r.header_all("X-Frame-Options"),
                                    ["SAMEORIGIN"])),
        ("304_keeps_cl", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7"
         b"\r\n\r\n", "GET",
         lambda t, r: (t.assertEqual(r.status, 304),
                       t.assertEqual(r.header("Content-Length"), "7"))),
    ]

    EXTRA = {"server": {"workers": 1}}

    def test_table(self):
        for name, raw, method, check in self.CASES:
            with self.subTest(name):
                with self.fx.client(5) as c:
                    c.send(T.build_request(method, raw_target(raw)))
                    r = c.read_response(method)
                check(self, r)

    def test_head_with_stray_bytes_not_pooled(self):
        before = self.fx.up.stats()["connections"]
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        with self.fx.client() as c:
            c.send(T.build_request("HEAD", raw_target(raw)))
            r = c.read_response("HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "5")
            r2 = c.request("GET", "/echo/after-head")
        self.assertEqual(r2.status, 200, r2)
        # the stray "hello" was never read as the next response, and the
        # connection that carried it was not reused
        self.assertIn("headers", r2.json())
        self.assertEqual(self.fx.up.stats()["connections"], before + 2)


# ====================================================================== 5, 7
class TestFraming(SharedFixtureCase):

    PROBES = [
        ("bare_lf_chunk", b"POST /MARK HTTP/1.1\r\nHost: a\r\nTransfer-"
         b"Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 400),
        ("bare_lf_after_data", b"POST /MARK HTTP/1.1\r\nHost: a\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400),
        ("bare_lf_last", b"POST /MARK HTTP/1.1\r\nHost: a\r\nTransfer-"
         b"Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n", 400),
        ("dotdot_semicolon", b"GET /a/..;/MARK HTTP/1.1\r\nHost: a\r\n\r\n",
         400),
        ("dot_semicolon", b"GET /a/.;x/MARK HTTP/1.1\r\nHost: a\r\n\r\n",
         400),
        ("enc_dotdot_semicolon", b"GET /a/%2e%2e;/MARK HTTP/1.1\r\nHost: "
         b"a\r\n\r\n", 400),
        ("pct_5c", b"GET /a%5CMARK HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("pct_5c_lower", b"GET /a%5cMARK HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("pct_00", b"GET /MARK%00.html HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ]


    def test_probes(self):
        for name, raw, status in self.PROBES:
            with self.subTest(name):
                mark = ("mk%s" % name).encode()
                r, closed = T.exchange(self.fx.port,
                                       raw.replace(b"MARK", mark))
                self.assertVwError(r, status)
                self.assertTrue(closed)
                time.sleep(0.05)
                self.assertFalse(self.fx.up.saw(mark),
                                 "%s reached the upstream" % name)

    def test_paths_normalised_as_forwarded(self):
        for target, path in [("//admin", "/admin"),
                             ("/public//../admin", "/admin"),
                             ("/a;b/c;d=e", "/a;b/c;d=e"),
                             ("/x/..b;y/z", "/x/..b;y/z")]:
            with self.subTest(target):
                r = self.fx.get(target)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["target"], path)

    def test_blocked_event_has_method_and_path(self):
        with self.fx.client() as c:
            c.send(b"TRACE /trace/me HTTP/1.1\r\nHost: a\r\n"
                   b"X-Request-Id: trace-me\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 405)
        ev = self.fx.vw.wait_event(
            "request.blocked",
            lambda e: e["payload"].get("path") == "/trace/me")
        self.assertIsNotNone(ev, "no request.blocked with the path")
        self.assertEqual(ev["payload"]["method"], "TRACE")
        self.assertIn("TRACE /trace/me", ev["ai_summary"])


# ====================================================================== 10
class TestTruthfulLogs(CoreCase):

    def test_reset_mid_body_is_upstream_error(self):
        self.start()
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
        with self.fx.client() as c:
            c.send(T.build_request("GET", raw_target(raw, reset="1",
                                                     wait="0"),
                                   [("X-Request-Id", "cut-rst")]))
            with self.assertRaises((T.ProtocolError, OSError)):
                c.read_response()
        ev = self.fx.vw.wait_event("upstream.error",
                                   lambda e: e["request_id"] == "cut-rst")
        self.assertIsNotNone(ev, self.fx.vw.stdout()[-2000:])
        self.assertEqual(ev["payload"]["bytes"], 10)
        self.assertEqual(ev["outcome"], "failed")
        self.assertFalse([e for e in self.fx.vw.events("request.proxied")
                          if e["request_id"] == "cut-rst"])

    def test_truncated_chunked_is_upstream_error(self):
        self.start()
        raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n")
        with self.fx.client() as c:
            c.send(T.build_request("GET", raw_target(raw, close="1"),
                                   [("X-Request-Id", "cut-ck")]))
            with self.assertRaises((T.ProtocolError, OSError)):
                c.read_response()
        ev = self.fx.vw.wait_event("upstream.error",
                                   lambda e: e["request_id"] == "cut-ck")
        self.assertIsNotNone(ev)
        self.assertEqual(ev["payload"]["bytes"], 5)
        self.assertIn("mid-response", ev["payload"]["reason"])

    def test_out_of_descriptors_is_fd_exhausted(self):
        """A worker whose open-files limit is lowered under it (so its
        reserve is gone) answers 502 and says why: worker.fd_exhausted,
        not 'cannot reach the upstream'."""
        self.start({"server": {"workers": 1}})
        w = self.fx.vw.workers()[0]
        time.sleep(0.3)
        n = len(os.listdir("/proc/%d/fd" % w))
        # room for the client connection, none for the upstream socket
        lim = "--nofile=%d:%d" % (n + 1, n + 1)
        if subprocess.run(["prlimit", "--pid", str(w), lim],
                          capture_output=True).returncode != 0:
            self.skipTest("prlimit cannot lower the worker's limit")
        with self.fx.client(5) as c:
            r = c.request("GET", "/echo/no-fd",
                          [("X-Request-Id", "no-fd")])
        self.assertVwError(r, 502)
        ev = self.fx.vw.wait_event("worker.fd_exhausted",
                                   lambda e: e["request_id"] == "no-fd")
        self.assertIsNotNone(ev, self.fx.vw.stdout()[-1500:])
        self.assertIn("file descriptors", ev["payload"]["reason"])

    def test_max_connections_waits_in_backlog(self):
        self.start({"server": {"workers": 1, "max_connections": 5,
                               "idle_timeout": "30s"}})
        held = []
        try:
            for i in range(5):
                c = self.fx.client(5)
                held.append(c)
                self.assertEqual(c.request("GET", "/echo/h%d" % i).status,
                                 200)
            extra = self.fx.client(5)
            extra.send(T.build_request("GET", "/echo/sixth"))
            extra.s.settimeout(1.0)
            with self.assertRaises(socket.timeout):
                extra.s.recv(1)
            ev = self.fx.vw.wait_event("worker.max_connections")
            self.assertIsNotNone(ev)
            held.pop().close()
            extra.s.settimeout(5)
            r = extra.read_response()
            self.assertEqual(r.status, 200, r)
            extra.close()
            # a client cycling connections against the full worker (4 held
            # + 1) does not flood the log (attack finding): one line per
            # 10 s, not one per cycle
            for i in range(30):
                with self.fx.client(5) as c:
                    self.assertEqual(c.request("GET", "/echo/cyc%d" % i)
                                     .status, 200)
            time.sleep(0.2)
            self.assertEqual(len(self.fx.vw.events(
                "worker.max_connections")), 1)
        finally:
            for c in held:
                c.close()
        self.assertFalse([e for e in self.fx.vw.events()
                          if e.get("payload", {}).get("status") == 502])


# ====================================================================== 9
class TestBalance(CoreCase):

    def shares(self):
        ws = self.fx.vw.workers()
        self.assertEqual(len(ws), 2)
        return [worker_sockets(w) for w in ws]

    def base(self):
        """Socket counts once the start-up probe connection is gone."""
        prev = None
        for _ in range(50):
            cur = self.shares()
            if cur == prev:
                return cur
            prev = cur
            time.sleep(0.1)
        return cur

    def burst_split(self, base):
        """Open 2000 connections at once; the new sockets per worker."""
        socks = []
        try:
            for i in range(2000):
                socks.append(socket.create_connection(
                    ("127.0.0.1", self.fx.port), timeout=5))
            end = time.monotonic() + 5
            while time.monotonic() < end:
                n = [a - b for a, b in zip(self.shares(), base)]
                if sum(n) >= 2000:
                    break
                time.sleep(0.1)
            return n
        finally:
            for s in socks:
                s.close()

    def test_2000_connections_split(self):
        self.start({"server": {"header_timeout": "30s",
                               "idle_timeout": "30s"}})
        # One more burst when the first is off: on a box loaded by other
        # jobs one worker can be off the CPU for a whole burst.  The old
        # binary split 1596/404 every time.
        for attempt in range(2):
            base = self.base()
            n = self.burst_split(base)
            self.assertGreaterEqual(sum(n), 2000, n)
            if all(800 <= k <= 1200 for k in n):
                break
            time.sleep(1)
        for k in n:
            self.assertGreaterEqual(k, 800, n)
            self.assertLessEqual(k, 1200, n)

    def test_50_keepalive_clients_split(self):
        self.start({"server": {"idle_timeout": "30s"}})
        # One more round when the first is off, as for the burst above:
        # with other suites running, one worker can miss a whole round.
        # The old binary split 37/15.
        for attempt in range(2):
            base = self.base()
            cs = []
            try:
                for i in range(50):
                    c = self.fx.client(5)
                    cs.append(c)
                    self.assertEqual(c.request("GET", "/echo/k%d" % i)
                                     .status, 200)
                # each client holds one client and (pooled) upstream
                # socket at most; counted in the health view's counters
                n = [a - b for a, b in zip(self.shares(), base)]
            finally:
                for c in cs:
                    c.close()
            if all(k >= sum(n) * 0.4 for k in n):
                break
            time.sleep(1)
        for k in n:
            self.assertGreaterEqual(k, sum(n) * 0.4, n)


# ====================================================================== 8
class TestMemory(CoreCase):

    def test_rss_levels_off_after_bursts(self):
        if "ASAN_OPTIONS" in os.environ:
            self.skipTest("ASan's allocator keeps freed memory: RSS under "
                          "it says nothing about the worker's")
        self.start({"server": {"workers": 1, "header_timeout": "30s",
                               "idle_timeout": "30s"}})
        w = self.fx.vw.workers()[0]
        rss = []
        for rnd in range(10):
            socks = []
            for i in range(2000):
                s = socket.create_connection(("127.0.0.1", self.fx.port),
                                             timeout=5)
                if i % 2:
                    s.sendall(b"GET /echo/partial HTTP/1.1\r\nHost: a\r\n"
                              b"X-Pad: " + b"p" * 300 + b"\r\n")
                socks.append(s)
            time.sleep(0.3)
            for s in socks:
                s.close()
            end = time.monotonic() + 5
            while time.monotonic() < end and \
                    worker_sockets(w) > 3:
                time.sleep(0.1)
            time.sleep(0.2)
            rss.append(T.rss_kib(w))
        # within 10% of round 2 (and 1.5 MiB: a worker idles at ~4 MiB,
        # where page-level noise alone is a few percent).  The worker
        # trims at most once a second, first when a quarter of the burst
        # is still open: on a loaded machine the last trim can come a
        # second or two after the sockets are gone.
        bound = max(rss[1] * 1.10, rss[1] + 1536)
        end = time.monotonic() + 4
        while rss[9] > bound and time.monotonic() < end:
            time.sleep(0.2)
            rss[9] = T.rss_kib(w)
        self.assertLessEqual(rss[9], bound, "RSS by round (KiB): %r" % rss)


if __name__ == "__main__":
    if not (os.path.isfile(T.VW_BIN) and os.access(T.VW_BIN, os.X_OK)):
        sys.stderr.write("test_core.py: VW_BIN=%s is not an executable\n"
                         % T.VW_BIN)
        sys.exit(1)
    unittest.main(verbosity=int(os.environ.get("VW_VERBOSE", "1")))
