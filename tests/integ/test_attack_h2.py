#!/usr/bin/env python3
"""Outside attacks on vibewarden's HTTP/2 (issue 15) with hand-built frames
over TLS: each test is the regression test of a finding.

    VW_BIN=./vibewarden python3 tests/integ/test_attack_h2.py [-v]

Loopback only; every process is stopped by the PID we started.
"""

import json
import os
import shlex
import signal
import socket
import struct
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_h2 as H  # noqa: E402
import vwtest as T  # noqa: E402
import test_proxy as P  # noqa: E402
import test_tls as TT  # noqa: E402

try:
    import hpack
    HAVE_HPACK = True
except ImportError:  # pragma: no cover
    HAVE_HPACK = False

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS = 1, 4


def frame(ftype, flags, sid, payload=b""):
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) +
            struct.pack(">I", sid) + payload)


def req(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "https"),
            (":authority", "localhost"), (":path", path)] + list(extra)


class Raw:
    """An HTTP/2 client that sends whatever frames it is told to."""

    def __init__(self, port, window=None, settle=0.3):
        self.s = H.tls_sock(port)
        assert self.s.selected_alpn_protocol() == "h2"
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        st = b"" if window is None else struct.pack(">HI", 4, window)
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, st))
        self.buf = b""
        self.closed = False
        self.got = []
        self.read(settle)

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            self.closed = True

    def headers(self, sid, hs, end_stream=True, end_headers=True):
        fl = (END_STREAM if end_stream else 0) | \
            (END_HEADERS if end_headers else 0)
        self.send(frame(HEADERS, fl, sid, self.enc.encode(hs)))

    def read(self, timeout, until=None):
        """Frames (type, flags, sid, payload) for up to timeout seconds,
        or until until(frame) is true, or until the server closes."""
        end = time.monotonic() + timeout
        out = []
        while not self.closed:
            left = end - time.monotonic()
            if left <= 0:
                break
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                d = b""
            if not d:
                self.closed = True
                break
            self.buf += d
            stop = False
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                t, fl = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
                pl = self.buf[9:9 + n]
                self.buf = self.buf[9 + n:]
                if t == SETTINGS and not fl & 1:
                    self.send(frame(SETTINGS, 1, 0))
                if t == HEADERS:
                    pl = self.dec.decode(pl)
                f = (t, fl, sid, pl)
                out.append(f)
                if until is not None and until(f):
                    stop = True
            if stop:
                break
        self.got += out
        return out

    def wait_closed(self, timeout):
        t0 = time.monotonic()
        self.read(timeout)
        return self.closed, time.monotonic() - t0


@unittest.skipUnless(H.HAVE_H2 and HAVE_HPACK, "python3-h2 not installed")
class H2Case(unittest.TestCase):
    EXTRA = None

    @classmethod
    def setUpClass(cls):
        cls.fx = P.Fixture(TT.tls_cfg(cls.EXTRA))

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def raw(self, **kw):
        return Raw(self.fx.port, **kw)


class TestStreamsWithoutConn(H2Case):
    """Streams that have no conn (and so none of its timeouts) must not
    hold the connection: the HTTP/1.1 equivalents are all cut."""
    EXTRA = {"server": {"header_timeout": "1s", "idle_timeout": "2s",
                        "write_timeout": "2s", "read_timeout": "3s"},
             "body_size": {"max": "1KB"}}

    def test_unfinished_header_block_cut(self):
        # HEADERS without END_HEADERS and no CONTINUATION: slowloris.
        with self.raw() as c:
            c.headers(1, req("/echo/slowloris"), end_headers=False)
            closed, dt = c.wait_closed(12)
        self.assertTrue(closed, "connection held by a header block")
        self.assertLess(dt, 6)

    def test_answered_half_open_stream_cut(self):
        # 413 before the body; the client never ends its stream.
        with self.raw() as c:
            c.headers(1, req("/echo/half", "POST",
                             [("content-length", "5000")]), end_stream=False)
            fr = c.read(5, lambda f: f[0] == DATA and f[1] & END_STREAM)
            self.assertTrue(any(f[0] == HEADERS and
                                (":status", "413") in f[3] for f in fr), fr)
            closed, dt = c.wait_closed(12)
        self.assertTrue(closed, "connection held by a half-open stream")
        self.assertLess(dt, 6)

    def test_pings_do_not_keep_idle_connection(self):
        # idle_timeout bounds an idle connection as over HTTP/1.1: frames
        # that start no request (PING here, SETTINGS, WINDOW_UPDATE,
        # PRIORITY) are not activity (Go's http2 IdleTimeout agrees), or
        # one PING a minute holds ~35 KiB per connection forever.
        with self.raw() as c:
            t0 = time.monotonic()
            while not c.closed and time.monotonic() - t0 < 10:
                c.send(frame(PING, 0, 0, b"12345678"))
                c.read(0.5)
            dt = time.monotonic() - t0
        self.assertTrue(c.closed, "idle connection kept by PINGs")
        self.assertLess(dt, 5)

    def test_answer_behind_zero_window_cut(self):
        # The whole (small) answer fits in the stream's buffer, so its conn
        # is done; the client never opens its window (slow read).
        with self.raw(window=0) as c:
            c.headers(1, req("/big?n=30000"))
            fr = c.read(3, lambda f: f[0] == HEADERS)
            self.assertTrue(any(f[0] == HEADERS for f in fr), fr)
            closed, dt = c.wait_closed(12)
        self.assertTrue(closed, "connection held by a zero window")
        self.assertLess(dt, 6)


class TestMadeYouReset(H2Case):
    EXTRA = {"server": {"http2_max_streams": 10}}

    def test_server_resets_count_as_rapid_reset(self):
        # CVE-2025-8671: a request proxied, then a frame the server must
        # answer with RST_STREAM (WINDOW_UPDATE overflowing the stream's
        # window, RFC 9113 6.9.1): the stream no longer counts against
        # MAX_CONCURRENT_STREAMS while its upstream request goes on.
        bystander = H.H2(self.fx.port)
        n0 = self.fx.up.stats()["requests"]
        with self.raw() as c:
            sid = 1
            for i in range(200):
                c.headers(sid, req("/slow?ms=2000&myr=%d" % i))
                time.sleep(0.005)
                c.send(frame(WINDOW_UPDATE, 0, sid,
                             struct.pack(">I", 0x7fffffff)))
                sid += 2
                c.read(0.001)
                if c.closed or any(f[0] == GOAWAY for f in c.got):
                    break
            c.read(5, lambda f: f[0] == GOAWAY)
            ga = [f for f in c.got if f[0] == GOAWAY]
            self.assertTrue(ga, "no GOAWAY after %d server resets" % i)
            self.assertEqual(int.from_bytes(ga[0][3][4:8], "big"), 11)
        self.assertLess(i, 60)
        self.assertIsNotNone(self.fx.vw.wait_event(
            "http2.abuse",
            lambda e: e["payload"]["reason"] == "rapid reset"))
        time.sleep(2.5)
        self.assertLess(self.fx.up.stats()["requests"] - n0, 60)
        r = bystander.request("GET", "/echo/by")
        self.assertEqual(H.status(r), 200)
        bystander.close()


class TestStreamsVsDescriptors(unittest.TestCase):
    """Each stream may hold an upstream connection: streams count against
    the worker's descriptor budget (server.max_connections as the open
    files limit allows) like client connections, or one client with a few
    h2 connections takes every descriptor the others need."""

    def test_streams_within_descriptor_budget(self):
        if not (H.HAVE_H2 and HAVE_HPACK):
            self.skipTest("python3-h2 not installed")
        tmp = T.new_tmpdir()
        wrapper = os.path.join(tmp, "vw-lowfd.sh")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nulimit -n 64 || exit 1\nexec %s \"$@\"\n"
                    % shlex.quote(os.path.abspath(T.VW_BIN)))
        os.chmod(wrapper, 0o755)
        # 64 descriptors: the worker takes (64 - 32) / 2 = 16 clients
        fx = P.Fixture(TT.tls_cfg({"server": {"workers": 1,
                                              "http2_max_streams": 100}}),
                       binary=wrapper, tmp=tmp)
        try:
            with H.H2(fx.port) as c:
                sids = [c.send("GET", "/slow?ms=1500&fd=%d" % i)
                        for i in range(60)]
                time.sleep(0.5)
                with TT.TLSClient(fx.port) as h1:
                    r = h1.request("GET", "/echo/h1-during")
                self.assertEqual(r.status, 200, r)
                rs = c.wait(sids, 20)
            sts = [H.status(x) if x["headers"] else ("reset", x["reset"])
                   for x in rs]
            # refused (REFUSED_STREAM, safe to retry) or served; never a
            # 502 for want of a descriptor
            for st in sts:
                self.assertIn(st, (200, ("reset", 7)), sts)
            self.assertGreater(sts.count(200), 0, sts)
        finally:
            fx.close()


class TestGoawayDelivered(H2Case):
    def test_goaway_survives_unread_flood(self):
        # The connection is closed for abuse with the client's flood still
        # unread: a plain close() makes the kernel answer with RST, and
        # the client loses the GOAWAY ENHANCE_YOUR_CALM (it failed about
        # one run in two for a single try).
        for attempt in range(5):
            with self.raw() as c:
                blob = b"".join(frame(PING, 0, 0, b"%08d" % i)
                                for i in range(3000))
                c.send(blob)
                c.read(10, lambda f: f[0] == GOAWAY)
                ga = [f for f in c.got if f[0] == GOAWAY]
                self.assertTrue(ga, "GOAWAY lost (try %d)" % attempt)
                self.assertEqual(int.from_bytes(ga[0][3][4:8], "big"), 11)


class TestIdleMemory(H2Case):
    EXTRA = {"server": {"workers": 1, "idle_timeout": "60s"}}

    # An idle HTTP/2 connection costs ~35 KiB of worker RSS against
    # ~0.6 KiB for an idle HTTP/1.1 one over TLS (which holds no buffers):
    # nghttp2 1.52 allocates ~26 KiB per session (its 16 KiB frame
    # buffer among them) and frees none of it while idle.  10000 idle
    # h2 connections (server.max_connections) are ~350 MB per worker.
    # Fixing it needs a session that can shed memory while idle (not in
    # nghttp2's API) or h2 connections weighed against max_connections:
    # too large for this pass.
    @unittest.expectedFailure
    def test_idle_connections_cost_like_http11(self):
        if T.sanitized():
            self.skipTest("RSS means nothing under ASan")
        vw = self.fx.vw
        with H.H2(self.fx.port) as c:
            c.request("GET", "/echo/warm")
        base = sum(T.rss_kib(p) for p in vw.workers())
        conns = [self.raw(settle=0.01) for i in range(200)]
        time.sleep(1)
        grown = sum(T.rss_kib(p) for p in vw.workers()) - base
        for c in conns:
            c.close()
        self.assertLess(grown / 200.0, 8, "%.1f KiB per idle h2 connection"
                        % (grown / 200.0))


class TestTrailers(H2Case):
    EXTRA = {"server": {"max_header_bytes": "8KB"}}

    def test_trailer_block_bounded_like_head(self):
        # Trailers were dropped without being counted: a trailer block
        # had no size bound (nghttp2 still decodes and checks every field
        # of it: an HPACK bomb of indexed references to a 4 KB entry cost
        # ~35 ms of CPU per 147 KB sent).  The same bound as the request
        # head: over 2 x max_header_bytes closes the connection.
        with self.raw() as c:
            c.headers(1, req("/slow?ms=2000", "POST"), end_stream=False)
            block = c.enc.encode([("x-t%d" % i, "v" * 4000)
                                  for i in range(10)])
            parts = [block[i:i + 16000] for i in range(0, len(block), 16000)]
            out = b""
            for i, p in enumerate(parts):
                fl = (END_HEADERS if i == len(parts) - 1 else 0)
                out += frame(HEADERS if i == 0 else CONTINUATION,
                             fl | (END_STREAM if i == 0 else 0), 1, p)
            c.send(out)
            c.read(5, lambda f: f[0] == GOAWAY)
            ga = [f for f in c.got if f[0] == GOAWAY]
            self.assertTrue(ga, c.got)
            self.assertEqual(int.from_bytes(ga[0][3][4:8], "big"), 11)
        self.assertIsNotNone(self.fx.vw.wait_event(
            "http2.abuse",
            lambda e: e["payload"]["reason"] == "header block too large"))

    def test_small_trailers_still_fine(self):
        with self.raw() as c:
            c.headers(1, req("/echo/tr", "POST"), end_stream=False)
            c.send(frame(DATA, 0, 1, b"abc"))
            c.headers(1, [("x-trailer", "1")], end_stream=True)
            fr = c.read(5, lambda f: f[0] == DATA and f[1] & END_STREAM)
            hs = [f for f in fr if f[0] == HEADERS]
            self.assertTrue(hs and (":status", "200") in hs[0][3], fr)


class TestStalledStreamsMemory(H2Case):
    EXTRA = {"server": {"workers": 1}}

    # A client that opens 100 streams (huge stream windows, but never a
    # connection WINDOW_UPDATE) for 60 KB answers has ~8 MB of worker RSS
    # held for it per connection until write_timeout: each stream's
    # s_out (up to H2_OUTMAX) plus its conn's buffers.  Over HTTP/1.1 the
    # same answers sit in kernel socket buffers (~3 KB of RSS each).  A
    # per-connection budget on s_out (tried: 4 x H2_OUTMAX, with a 4 KB
    # floor per stream so the stream being read is never starved) only
    # took it to ~5.4 MB: the rest is the stream conns' own buffers, as
    # many as streams; a real bound means fewer live stream conns per
    # connection than http2_max_streams, or sharing their buffers: left
    # for the owner of h2.c.
    @unittest.expectedFailure
    def test_stalled_streams_bounded(self):
        if T.sanitized():
            self.skipTest("RSS means nothing under ASan")
        vw = self.fx.vw
        with H.H2(self.fx.port) as c:
            c.request("GET", "/echo/warm")
        time.sleep(0.3)
        base = sum(T.rss_kib(p) for p in vw.workers())
        conns = []
        for k in range(3):
            r = self.raw()
            r.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0x7fffffff)))
            for i in range(100):
                r.headers(1 + 2 * i, req("/big?n=60000&s=%d" % i))
            conns.append(r)
        time.sleep(4)
        grown = sum(T.rss_kib(p) for p in vw.workers()) - base
        for r in conns:
            r.close()
        self.assertLess(grown / 3.0, 2048, "%d KiB held per connection"
                        % (grown / 3))


class TestSameAsHttp11(H2Case):
    """Attacks that found nothing, kept as guards: a request over h2 is
    judged as the same request over HTTP/1.1, and the upstream receives
    exactly one well-formed request per stream."""
    EXTRA = {"body_size": {"max": "1KB"},
             "waf": {"enabled": True, "mode": "block"}}
    CK = ("cookie", "sessionid=abc")

    def test_verdicts_match_http11(self):
        cases = [
            ("POST", "/echo/c1", [self.CK, ("origin", "https://evil.example")],
             b"x=1"),
            ("POST", "/echo/c3", [self.CK, ("sec-fetch-site", "cross-site")],
             b"x=1"),
            ("GET", "/echo/w?id=1'%20OR%20'1'='1", [], None),
            ("POST", "/echo/wb",
             [("content-type", "application/x-www-form-urlencoded")],
             b"q=1' UNION SELECT password FROM users--"),
            ("POST", "/echo/big", [], b"y" * 5000),     # chunked over h2
            ("GET", "/echo/%2e%2e/x", [], None),
            ("TRACE", "/echo/t", [], None),
            ("CONNECT", None, [], None),
        ]
        for m, p, hs, body in cases:
            with TT.TLSClient(self.fx.port) as c:
                h1 = list(hs)
                if body is not None:
                    h1.append(("Content-Length", str(len(body))))
                s1 = c.request(m, p or "localhost:443", h1, body).status
            if m == "CONNECT":
                with self.raw() as c:
                    c.headers(1, [(":method", "CONNECT"),
                                  (":authority", "localhost:443")])
                    fr = c.read(5, lambda f: f[0] in (HEADERS, RST_STREAM))
                    s2 = [int(dict(f[3])[":status"]) for f in fr
                          if f[0] == HEADERS][0]
            else:
                with H.H2(self.fx.port) as c:
                    s2 = H.status(c.request(m, p, hs, body))
            self.assertEqual(s1, s2, (m, p))

    def test_identity_headers_stripped(self):
        with H.H2(self.fx.port) as c:
            r = c.request("GET", "/echo/xu", [("x-user-id", "admin"),
                                              ("x-user-email", "a@b.c")])
        names = {k.lower() for k, _ in json.loads(r["body"])["headers"]}
        self.assertNotIn("x-user-id", names)
        self.assertNotIn("x-user-email", names)

    def test_extended_connect_refused(self):
        # RFC 8441 needs SETTINGS_ENABLE_CONNECT_PROTOCOL, never sent
        with self.raw() as c:
            c.headers(1, [(":method", "CONNECT"), (":protocol", "websocket"),
                          (":scheme", "https"), (":path", "/ws"),
                          (":authority", "localhost")], end_stream=False)
            fr = c.read(5, lambda f: f[0] == RST_STREAM)
        self.assertTrue(any(f[0] == RST_STREAM for f in fr), fr)

    def test_no_smuggling_through_data(self):
        sm = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        with self.raw() as c:
            # DATA past content-length, in a second frame
            c.headers(1, req("/echo/s1", "POST", [("content-length", "5")]),
                      end_stream=False)
            c.send(frame(DATA, 0, 1, b"hello"))
            time.sleep(0.2)
            c.send(frame(DATA, END_STREAM, 1, sm))
            # content-length longer than the DATA
            c.headers(3, req("/echo/s2", "POST",
                             [("content-length", str(5 + len(sm)))]),
                      end_stream=False)
            c.send(frame(DATA, 0, 3, b"hel"))
            time.sleep(0.2)
            c.send(frame(DATA, END_STREAM, 3, b"lo"))
            # a chunk terminator inside a body of unknown length
            c.headers(5, req("/echo/s3", "POST"), end_stream=False)
            c.send(frame(DATA, END_STREAM, 5, b"0\r\n\r\n" + sm))
            c.read(3)
        time.sleep(0.5)
        self.assertFalse(any(q.get("target") == "/smuggled"
                             for q in self.fx.up.requests()))
        # the terminator went as body bytes, inside a chunk
        s3 = [q for q in self.fx.up.requests() if q["target"] == "/echo/s3"]
        self.assertEqual([q["body_len"] for q in s3], [5 + len(sm)])


class TestDrainHalfOpen(H2Case):
    EXTRA = {"server": {"idle_timeout": "30s", "drain_timeout": "20s"},
             "body_size": {"max": "1KB"}}

    def test_reload_closes_half_open_soon(self):
        # An answered stream the client leaves open keeps the connection
        # past its GOAWAY: on reload it gets the drain grace (1 s), as an
        # idle HTTP/1.1 keep-alive connection, not the idle timeout.
        with self.raw() as c:
            c.headers(1, req("/echo/half", "POST",
                             [("content-length", "5000")]), end_stream=False)
            c.read(5, lambda f: f[0] == DATA and f[1] & END_STREAM)
            self.fx.vw.send_signal(signal.SIGHUP)
            t0 = time.monotonic()
            c.read(15)
            dt = time.monotonic() - t0
            self.assertTrue(any(f[0] == GOAWAY for f in c.got), c.got)
        self.assertTrue(c.closed)
        self.assertLess(dt, 5)


if __name__ == "__main__":
    unittest.main()
