#!/usr/bin/env python3
"""vibewarden HTTP/2 integration tests (issue 15): the real binary over TLS
with ALPN h2, driven by the h2 state machine of python3-h2 (Debian), and
h2load (nghttp2-client) when installed.

    VW_BIN=./vibewarden python3 tests/integ/test_h2.py [-v] [Class.test]

Loopback only; every process is stopped by the PID we started.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402
import test_proxy as P  # noqa: E402
import test_tls as TT  # noqa: E402

try:
    import h2  # noqa: F401
except ImportError:
    # python3-h2 is pure Python: a python3 other than Debian's (pyenv,
    # venv) can use the Debian package too.
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
    HAVE_H2 = True
except ImportError:  # pragma: no cover
    HAVE_H2 = False

H2LOAD = shutil.which("h2load")


def tls_sock(port, alpn=("h2", "http/1.1"), timeout=10.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


class H2:
    """A blocking HTTP/2 client on python3-h2: enough for the tests."""

    def __init__(self, port, timeout=10.0, validate=True):
        self.sock = tls_sock(port, timeout=timeout)
        assert self.sock.selected_alpn_protocol() == "h2", \
            self.sock.selected_alpn_protocol()
        cfg = h2.config.H2Configuration(
            client_side=True, header_encoding=None,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
            validate_inbound_headers=True)
        self.c = h2.connection.H2Connection(config=cfg)
        self.c.initiate_connection()
        self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                                1 << 20})
        self.c.increment_flow_control_window(1 << 24)
        self.flush()
        self.resp = {}      # stream id -> dict(headers, body, ended, reset)
        self.goaway = None
        self.closed = False
        self.rbuf = b""

    def flush(self):
        d = self.c.data_to_send()
        if d:
            try:
                self.sock.sendall(d)
            except OSError:
                self.closed = True      # the server closed: seen by pump

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, method, path, headers=(), body=None, authority="localhost",
             end=True):
        sid = self.c.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"),
                (":authority", authority), (":path", path)] + list(headers)
        self.c.send_headers(sid, hdrs, end_stream=(body is None and end))
        self.resp[sid] = {"headers": None, "body": b"", "ended": False,
                          "reset": None}
        self.flush()
        if body is not None:
            self.send_body(sid, body, end)
        return sid

    def send_body(self, sid, body, end=True):
        """DATA within the peer's flow control windows."""
        off = 0
        while off < len(body) or (off == 0 and not body):
            win = min(self.c.local_flow_control_window(sid),
                      self.c.max_outbound_frame_size)
            if win <= 0 and body:
                self.pump(lambda: self.done(sid) or self.closed or
                          self.c.local_flow_control_window(sid) > 0)
                if self.done(sid) or self.closed:
                    return
                continue
            chunk = body[off:off + win]
            off += len(chunk)
            self.c.send_data(sid, chunk, end_stream=end and off >= len(body))
            self.flush()
            if not body:
                break

    def pump(self, until, timeout=10.0):
        end = time.monotonic() + timeout
        while not until():
            if time.monotonic() > end:
                raise TimeoutError("h2 wait")
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                return
            self.rbuf += data
            while len(self.rbuf) >= 9:
                n = int.from_bytes(self.rbuf[:3], "big") + 9
                if len(self.rbuf) < n:
                    break
                fr, self.rbuf = self.rbuf[:n], self.rbuf[n:]
                if self.goaway is None:
                    for ev in self.c.receive_data(fr):
                        self.on_event(ev)
                else:
                    self.after_goaway(fr)
            if self.goaway is None:
                self.flush()

    def after_goaway(self, fr):
        """python3-h2 stops at GOAWAY; RFC 9113 6.8 lets the streams it
        covers finish, so read those frames here."""
        ftype, flags = fr[3], fr[4]
        sid = int.from_bytes(fr[5:9], "big") & 0x7fffffff
        payload = fr[9:]
        r = self.resp.get(sid)
        if r is None:
            return
        if ftype == 1:          # HEADERS (no padding/priority from nghttp2)
            r["headers"] = [(k.decode(), v.decode()) for k, v in
                            self.c.decoder.decode(payload, raw=True)]
        elif ftype == 0:
            r["body"] += payload
        elif ftype == 3:
            r["reset"] = int.from_bytes(payload[:4], "big")
        if ftype in (0, 1) and flags & 1:
            r["ended"] = True

    def on_event(self, ev):
        sid = getattr(ev, "stream_id", None)
        r = self.resp.get(sid)
        if isinstance(ev, h2.events.ResponseReceived):
            r["headers"] = [(k.decode(), v.decode()) for k, v in ev.headers]
            r["raw_headers"] = ev.headers   # HPACK's tuple classes kept
        elif isinstance(ev, h2.events.DataReceived):
            r["body"] += ev.data
            self.c.acknowledge_received_data(ev.flow_controlled_length, sid)
        elif isinstance(ev, h2.events.StreamEnded):
            r["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            if r is not None:
                r["reset"] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev.error_code

    def done(self, sid):
        r = self.resp[sid]
        return r["ended"] or r["reset"] is not None

    def wait(self, sids, timeout=10.0):
        self.pump(lambda: self.closed or all(self.done(s) for s in sids),
                  timeout)
        return [self.resp[s] for s in sids]

    def request(self, method, path, headers=(), body=None, **kw):
        sid = self.send(method, path, headers, body, **kw)
        return self.wait([sid])[0]


def hget(r, name):
    for k, v in r["headers"] or ():
        if k == name:
            return v
    return None


def status(r):
    return int(hget(r, ":status")) if r["headers"] else None


@unittest.skipUnless(HAVE_H2, "python3-h2 not installed")
class H2Case(unittest.TestCase):
    EXTRA = None

    @classmethod
    def setUpClass(cls):
        cls.fx = P.Fixture(TT.tls_cfg(cls.EXTRA))

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def h2(self, **kw):
        return H2(self.fx.port, **kw)


class TestBasics(H2Case):
    def test_alpn_and_get(self):
        with self.h2() as c:
            r = c.request("GET", "/echo/a?x=1", [("user-agent", "h2test")])
        self.assertEqual(status(r), 200)
        j = json.loads(r["body"])
        self.assertEqual(j["target"], "/echo/a?x=1")
        self.assertEqual(j["version"], "HTTP/1.1")
        hd = {k.lower(): v for k, v in j["headers"]}
        self.assertEqual(hd["host"], "localhost")
        self.assertEqual(hd["x-forwarded-proto"], "https")
        self.assertTrue(hd.get("x-request-id"))
        self.assertEqual(hget(r, "x-request-id"), hd["x-request-id"])
        # security headers are added on the way back
        self.assertIsNotNone(hget(r, "x-content-type-options"))
        # one event per stream, as over HTTP/1.1
        self.assertIsNotNone(self.fx.vw.wait_event(
            "request.proxied", lambda e: e["payload"]["path"] == "/echo/a"))

    def test_head(self):
        with self.h2() as c:
            r = c.request("HEAD", "/big?n=5000")
        self.assertEqual(status(r), 200)
        self.assertEqual(hget(r, "content-length"), "5000")
        self.assertEqual(r["body"], b"")
        self.assertTrue(r["ended"])

    def test_post_body(self):
        body = bytes(range(256)) * 300          # 76800 B: several windows
        with self.h2() as c:
            r = c.request("POST", "/echo/post",
                          [("content-type", "application/octet-stream"),
                           ("content-length", str(len(body)))], body)
        self.assertEqual(status(r), 200, r)
        j = json.loads(r["body"])
        self.assertEqual(j["body_len"], len(body))
        import hashlib
        self.assertEqual(j["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_post_without_length(self):
        with self.h2() as c:
            r = c.request("POST", "/echo/nolen", [], b"hello h2")
        self.assertEqual(status(r), 200, r)
        self.assertEqual(json.loads(r["body"])["body_len"], 8)

    def test_big_and_chunked_response(self):
        with self.h2() as c:
            a = c.send("GET", "/big?n=300000")
            b = c.send("GET", "/chunked?n=200000")
            ra, rb = c.wait([a, b], 20)
        self.assertEqual(ra["body"], T.det_bytes(300000))
        self.assertEqual(rb["body"], T.det_bytes(200000))
        self.assertIsNone(hget(rb, "transfer-encoding"))

    def test_100_concurrent_streams(self):
        with self.h2() as c:
            sids = [c.send("GET", "/echo/n%d" % i) for i in range(100)]
            rs = c.wait(sids, 30)
        for i, r in enumerate(rs):
            self.assertEqual(status(r), 200, (i, r))
            self.assertEqual(json.loads(r["body"])["target"], "/echo/n%d" % i)

    def test_hop_by_hop(self):
        with self.h2() as c:
            r = c.request("GET", "/headers-out?hop=1")
        names = [k for k, _ in r["headers"]]
        for bad in ("connection", "keep-alive", "x-secret-hop",
                    "transfer-encoding", "server", "x-powered-by"):
            self.assertNotIn(bad, names)
        self.assertEqual(hget(r, "x-custom-out"), "kept")
        # request side: te: trailers is allowed and not forwarded
        with self.h2() as c:
            r = c.request("GET", "/echo/te", [("te", "trailers")])
        hd = {k.lower() for k, _ in json.loads(r["body"])["headers"]}
        self.assertNotIn("te", hd)

    def test_request_id_not_indexed(self):
        """X-Request-Id is new in every answer: sent as a literal never
        indexed, so HPACK's dynamic table keeps the fields that repeat
        (the security headers) instead of filling with request ids."""
        import hpack
        with self.h2() as c:
            for i in range(80):
                r = c.request("GET", "/echo/rid-%d" % i)
                self.assertEqual(status(r), 200, r)
                rid = [h for h in r["raw_headers"] if h[0] == b"x-request-id"]
                self.assertEqual(len(rid), 1, r["headers"])
                self.assertIsInstance(rid[0], hpack.NeverIndexedHeaderTuple)
            table = [n for n, _ in c.c.decoder.header_table.dynamic_entries]
        self.assertNotIn(b"x-request-id", table)
        self.assertIn(b"x-frame-options", table)

    def test_cookie_crumbs_joined(self):
        with self.h2() as c:
            r = c.request("GET", "/echo/c", [("cookie", "a=1"),
                                             ("cookie", "b=2"),
                                             ("cookie", "c=3")])
        hs = [v for k, v in json.loads(r["body"])["headers"]
              if k.lower() == "cookie"]
        self.assertEqual(hs, ["a=1; b=2; c=3"])

    def test_http11_same_listener(self):
        with TT.TLSClient(self.fx.port) as c:
            r = c.request("GET", "/echo/h1")
        self.assertEqual(r.status, 200)
        s = tls_sock(self.fx.port, alpn=("http/1.1",))
        self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        s.close()


class TestVerdicts(H2Case):
    EXTRA = {"server": {"max_header_bytes": "8KB"},
             "body_size": {"max": "1KB"}}

    def reset_or_status(self, r):
        return r["reset"] if r["reset"] is not None else status(r)

    def test_malformed_are_stream_errors(self):
        cases = [
            [("connection", "close")],
            [("transfer-encoding", "chunked")],
            [("te", "gzip")],
            [("upgrade", "websocket")],
            [("host", "other.example")],        # differs from :authority
        ]
        with self.h2(validate=False) as c:
            for extra in cases:
                r = c.request("GET", "/echo/bad", extra)
                self.assertEqual(r["reset"], 1, (extra, r))   # PROTOCOL_ERROR
            # the connection still serves
            r = c.request("GET", "/echo/after")
            self.assertEqual(status(r), 200)

    def test_nghttp2_refusals_logged(self):
        with self.h2(validate=False) as c:
            r = c.request("GET", "/echo/upper", [("X-Upper", "1")])
            self.assertEqual(r["reset"], 1, r)
        self.assertIsNotNone(self.fx.vw.wait_event(
            "http2.stream_error",
            lambda e: "/echo/upper" not in e["ai_summary"] and
            not e["payload"]["reason"].startswith("malformed")))

    def test_400_like_http11(self):
        with self.h2(validate=False) as c:
            r = c.request("GET", "/echo/x", [("content-length", "abc")])
        self.assertIn(self.reset_or_status(r), (400, 1))
        with self.h2() as c:
            r = c.request("GET", "/a/%2F/b")
        self.assertEqual(status(r), 400)
        self.assertEqual(hget(r, "content-type"), "application/json")

    def test_413_like_http11(self):
        with self.h2() as c:
            r = c.request("POST", "/echo/big", [("content-length", "5000")],
                          b"x" * 5000)
        self.assertEqual(status(r), 413, r)
        self.assertEqual(json.loads(r["body"])["error"], "payload_too_large")

    def test_431_like_http11(self):
        with self.h2() as c:
            r = c.request("GET", "/echo/big",
                          [("x-big%d" % i, "v" * 1000) for i in range(12)])
        self.assertEqual(status(r), 431, r)
        self.assertTrue(self.fx.up.requests() == [] or all(
            q.get("target") != "/echo/big" for q in self.fx.up.requests()))

    def test_content_length_mismatch(self):
        with self.h2(validate=False) as c:
            sid = c.send("POST", "/echo/cl", [("content-length", "10")],
                         b"abc")
            r = c.wait([sid])[0]
        self.assertEqual(r["reset"], 1, r)
        for q in self.fx.up.requests():
            self.assertNotEqual(q.get("target"), "/echo/cl")


class TestAttacks(H2Case):
    EXTRA = {"server": {"http2_max_streams": 10}}

    def test_rapid_reset(self):
        bystander = self.h2()
        self.assertEqual(status(bystander.request("GET", "/echo/by")), 200)
        with self.h2() as c:
            for i in range(200):
                sid = c.send("GET", "/slow?ms=500")
                c.c.reset_stream(sid)
                try:
                    c.flush()
                except OSError:
                    break
            c.pump(lambda: c.closed, 10)
            self.assertTrue(c.closed)
            self.assertEqual(c.goaway, 11)   # ENHANCE_YOUR_CALM
        self.assertIsNotNone(self.fx.vw.wait_event(
            "http2.abuse",
            lambda e: e["payload"]["reason"] == "rapid reset"))
        self.assertEqual(status(bystander.request("GET", "/echo/by2")), 200)
        bystander.close()

    def test_max_streams_advertised(self):
        with self.h2() as c:
            c.pump(lambda: c.c.remote_settings.max_concurrent_streams == 10,
                   5)

    def test_header_flood_closes(self):
        with self.h2(validate=False) as c:
            c.request("GET", "/echo/x",
                      [("x-f%d" % i, "v" * 4000) for i in range(40)])
            c.pump(lambda: c.closed, 10)
            self.assertTrue(c.closed)
        self.assertIsNotNone(self.fx.vw.wait_event(
            "http2.abuse",
            lambda e: e["payload"]["reason"] == "header block too large"))

    def test_ping_flood(self):
        with self.h2() as c:
            for i in range(5000):
                c.c.ping(b"%08d" % i)
            try:
                c.flush()
            except OSError:
                pass
            c.pump(lambda: c.closed, 10)
            self.assertTrue(c.closed)
            self.assertEqual(c.goaway, 11)
        self.assertIsNotNone(self.fx.vw.wait_event(
            "http2.abuse", lambda e: e["payload"]["reason"] == "PING flood"))

    def test_settings_flood(self):
        with self.h2() as c:
            for i in range(3000):
                c.c.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
            try:
                c.flush()
            except OSError:
                pass
            c.pump(lambda: c.closed, 10)
            self.assertTrue(c.closed)

    def test_empty_data_flood(self):
        bystander = self.h2()
        with self.h2() as c:
            sid = c.send("POST", "/echo/empty", [("content-length", "1")],
                         end=False)
            for i in range(500):
                c.c.send_data(sid, b"", end_stream=False)
            try:
                c.flush()
            except OSError:
                pass
            c.pump(lambda: c.closed, 10)
            self.assertTrue(c.closed)
            self.assertEqual(c.goaway, 11)
        self.assertEqual(status(bystander.request("GET", "/echo/by")), 200)
        bystander.close()


class TestFlowControl(H2Case):
    EXTRA = {"server": {"write_timeout": "2s", "workers": 1}}

    def test_64mib_bounded_rss(self):
        n = 64 << 20
        vw = self.fx.vw
        with self.h2() as c:
            c.request("GET", "/echo/warm")
            base = sum(T.rss_kib(p) for p in vw.workers())
            sid = c.send("GET", "/big?n=%d" % n)
            peak = base
            count = 0
            end = time.monotonic() + 50
            while not c.done(sid) and time.monotonic() < end:
                c.pump(lambda: c.done(sid) or
                       len(c.resp[sid]["body"]) > (4 << 20), 20)
                count += len(c.resp[sid]["body"])
                c.resp[sid]["body"] = b""
                peak = max(peak, sum(T.rss_kib(p) for p in vw.workers()))
            self.assertTrue(c.resp[sid]["ended"])
        self.assertEqual(count, n)
        # the worker holds a few buffers, never the answer; under ASan
        # its quarantine keeps freed buffers: RSS says nothing there
        if not T.sanitized():
            self.assertLess(peak - base, 16 << 10, (base, peak))

    def test_zero_window_stall_cut(self):
        other = self.h2()
        c = self.h2()
        c.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        c.flush()
        sid = c.send("GET", "/big?n=200000")
        t0 = time.monotonic()
        c.pump(lambda: c.done(sid) or c.closed, 10)
        self.assertIsNotNone(c.resp[sid]["reset"], c.resp[sid])
        self.assertLess(time.monotonic() - t0, 6)
        self.assertEqual(status(other.request("GET", "/echo/alive")), 200)
        c.close()
        other.close()


class TestUpstreamLateBytes(H2Case):
    EXTRA = {"server": {"workers": 1}}

    def test_late_answer_not_served_to_the_next(self):
        """Attack: the upstream sends a second, unsolicited answer 300 ms
        after the first, while the first still waits in vibewarden for a
        client whose window is shut (16 KB in the stream, the rest in the
        upstream buffer).  Its read event came while the connection was in
        use; the pool must not take it, or the next request gets the
        smuggled answer (it did, 5 times of 5)."""
        import base64
        evil = base64.urlsafe_b64encode(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!").decode()
        for i in range(3):
            with self.h2() as c:
                c.c.update_settings(
                    {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
                c.flush()
                sid = c.send("GET", "/big?n=30000&latems=300&late=" + evil)
                time.sleep(0.8)
                c.c.increment_flow_control_window(1 << 20, stream_id=sid)
                c.flush()
                r = c.wait([sid])[0]
            self.assertEqual(r["body"], T.det_bytes(30000))
            time.sleep(0.05)
            with self.h2() as v:
                rv = v.request("GET", "/echo/victim-%d" % i)
            self.assertEqual(status(rv), 200, rv)
            self.assertEqual(json.loads(rv["body"])["target"],
                             "/echo/victim-%d" % i)


class TestIdleMemory(unittest.TestCase):
    """An idle HTTP/2 connection gives its 16 KB frame buffer back (a
    second after it falls idle): each costs little more than an idle
    HTTP/1.1 connection over TLS (both hold OpenSSL's ~15 KB).  Measured
    on fresh workers, so no connection reuses memory an earlier one
    freed."""
    N = 150

    def idle_kib(self, opener):
        fx = P.Fixture(TT.tls_cfg({"server": {"workers": 1}}))
        conns = []
        try:
            w = fx.vw.workers()[0]
            opener(fx.port).close()     # first-use allocations
            time.sleep(0.2)
            base = T.rss_kib(w)
            for _ in range(self.N):
                conns.append(opener(fx.port))
            time.sleep(1.6)     # the trim comes 1 s after a session idles
            return (T.rss_kib(w) - base) / self.N
        finally:
            for c in conns:
                c.close()
            fx.close()

    @staticmethod
    def h1(port):
        c = TT.TLSClient(port, ctx=TT.client_ctx(alpn=["http/1.1"]))
        r = c.request("GET", "/echo/idle")
        assert r.status == 200, r
        return c

    @staticmethod
    def h2(port):
        c = H2(port)
        r = c.request("GET", "/echo/idle")
        assert status(r) == 200, r
        return c

    def test_answers_after_idle_trim(self):
        """The frame buffer's pages, given back when the session idles, are
        written again from scratch: answers of several frames, and HEADERS
        with the dynamic table in use, all intact."""
        fx = P.Fixture(TT.tls_cfg())
        try:
            with H2(fx.port) as c:
                for i in range(6):
                    r = c.request("GET", "/big?n=%d" % (40000 + i * 7))
                    self.assertEqual(status(r), 200, r)
                    self.assertEqual(r["body"], T.det_bytes(40000 + i * 7))
                    r = c.request("GET", "/echo/after-%d" % i)
                    self.assertEqual(json.loads(r["body"])["target"],
                                     "/echo/after-%d" % i)
                    time.sleep(0.05 if i % 2 else 1.2)
        finally:
            fx.close()

    def test_stream_burst_memory_comes_back(self):
        """300 streams in progress at once on 3 connections (each holds a
        request block, an upstream connection and its buffer, and an
        answer buffer), then all closed: the worker trims its block caches
        as it does after a burst of connections.  It kept them for good
        while only client connections counted towards a burst."""
        if T.sanitized():
            self.skipTest("ASan's quarantine: RSS says nothing")
        fx = P.Fixture(TT.tls_cfg({"server": {"workers": 1},
                                   "upstream": {"connect_timeout": "5s"},
                                   "resilience": {"timeout": "20s"}}))
        try:
            w = fx.vw.workers()[0]
            with H2(fx.port) as c:
                c.request("GET", "/echo/warm")
            time.sleep(0.3)
            base = T.rss_kib(w)
            conns = [H2(fx.port) for _ in range(3)]
            try:
                sids = [[] for _ in conns]
                for i in range(100):
                    for c, ss in zip(conns, sids):
                        ss.append(c.send("GET", "/slow?ms=3000&i=%d" % i))
                    if i % 16 == 15:    # connections, not a SYN flood
                        time.sleep(0.05)
                time.sleep(1.5)
                peak = T.rss_kib(w)
                for c, ss in zip(conns, sids):
                    for r in c.wait(ss, 60):
                        self.assertEqual(status(r), 200, r)
            finally:
                for c in conns:
                    c.close()
            time.sleep(2.5)
            after = T.rss_kib(w)
        finally:
            fx.close()
        print("RSS KiB: base %d, with 300 streams %d, after %d" %
              (base, peak, after), file=sys.stderr)
        # Here: +7 MB at the peak, +3 MB after the trim, +9 MB untrimmed.
        self.assertGreater(peak - base, 4 << 10, (base, peak, after))
        self.assertLess(after - base, 0.75 * (peak - base),
                        (base, peak, after))

    def test_idle_h2_close_to_h1(self):
        if T.sanitized():
            self.skipTest("ASan's quarantine: RSS says nothing")
        h1 = self.idle_kib(self.h1)
        h2 = self.idle_kib(self.h2)
        print("idle KiB per connection: h1 %.1f, h2 %.1f" % (h1, h2),
              file=sys.stderr)
        # nghttp2's session: 12 KB more here, 26 KB while it kept its
        # frame buffer (16 KB).
        self.assertLess(h2 - h1, 18, (h1, h2))


class TestLifetime(H2Case):
    EXTRA = {"server": {"keepalive_requests": 5}}

    def test_goaway_after_keepalive_requests_streams(self):
        with self.h2() as c:
            for i in range(5):
                r = c.request("GET", "/echo/l%d" % i)
                self.assertEqual(status(r), 200, (i, r))
            c.pump(lambda: c.goaway is not None or c.closed, 5)
            self.assertEqual(c.goaway, 0)
            c.pump(lambda: c.closed, 5)
            self.assertTrue(c.closed)


class TestNoH2(H2Case):
    EXTRA = {"server": {"http2": False}}

    def test_alpn_http11_only(self):
        s = tls_sock(self.fx.port)
        self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        s.close()
        with self.assertRaises(ssl.SSLError):
            tls_sock(self.fx.port, alpn=("h2",)).close()


@unittest.skipUnless(H2LOAD, "h2load not installed")
class TestH2load(H2Case):
    # 40 streams at once on the threaded test upstream: on a loaded
    # machine one answer may take longer than the base 2 s (504).
    EXTRA = {"resilience": {"timeout": "15s"}}

    def test_h2load_no_errors(self):
        p = subprocess.run([H2LOAD, "-n", "2000", "-c", "4", "-m", "10",
                            "https://127.0.0.1:%d/echo" % self.fx.port],
                           capture_output=True, timeout=60)
        out = p.stdout.decode()
        self.assertIn("2000 succeeded, 0 failed, 0 errored", out, out)
        self.assertIn("status codes: 2000 2xx", out, out)


class TestDrain(H2Case):
    def test_reload_goaway_inflight_completes(self):
        with self.h2() as c:
            sid = c.send("GET", "/slow?ms=1000")
            time.sleep(0.3)
            self.fx.vw.send_signal(__import__("signal").SIGHUP)
            c.pump(lambda: c.goaway is not None or c.closed, 10)
            self.assertEqual(c.goaway, 0)       # NO_ERROR, graceful
            r = c.wait([sid], 10)[0]
            self.assertEqual(status(r), 200, r)
            self.assertEqual(json.loads(r["body"])["target"], "/slow?ms=1000")
            c.pump(lambda: c.closed, 10)
            self.assertTrue(c.closed)
        with self.h2() as c:
            self.assertEqual(status(c.request("GET", "/echo/new")), 200)


if __name__ == "__main__":
    unittest.main()
