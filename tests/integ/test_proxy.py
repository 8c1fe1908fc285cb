#!/usr/bin/env python3
"""vibewarden integration tests: the real binary against a real upstream.

    VW_BIN=./vibewarden python3 tests/integ/test_proxy.py [-v] [Class.test]

Every fixture uses its own loopback ports and temp dir and stops the
processes it started by PID.  Python 3 standard library only.
"""

import hashlib
import http.client
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True     # never write __pycache__ into srcdir
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402

MiB = 1024 * 1024
REQID_GEN = re.compile(r"^req_[A-Z2-7]{12}$")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-permitted-cross-domain-policies": "none",
}


def up_headers(rec):
    """Upstream-recorded headers as [(name, value)]."""
    return [(k, v) for k, v in rec["headers"]]


def up_names(rec):
    return [k.lower() for k, _ in rec["headers"]]


def up_get(rec, name):
    return [v for k, v in rec["headers"] if k.lower() == name.lower()]


class Fixture:
    """Upstream + vibewarden pair in a private temp dir."""

    def __init__(self, extra=None, upstream=True, upstream_port=None,
                 binary=None, tmp=None):
        self.tmp = tmp or T.new_tmpdir()
        self.up = None
        self.vw = None
        try:
            if upstream:
                self.up = T.Upstream(self.tmp).start()
                up_port = self.up.port
            else:
                up_port = upstream_port or T.free_port()
            self.port = T.free_port()
            self.admin_port = T.free_port()
            cfg = T.base_config(self.port, up_port, self.admin_port)
            if extra:
                T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg, binary=binary)
            self.vw.start()
        except Exception:
            self.close()
            raise

    def close(self):
        rc = None
        if self.vw:
            rc = self.vw.stop()
        if self.up:
            self.up.stop()
        if os.environ.get("VW_KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return rc

    def client(self, timeout=10.0):
        return T.Client(self.port, timeout)

    def req(self, method="GET", target="/echo", headers=None, body=None):
        with self.client() as c:
            return c.request(method, target, headers, body)

    def upstream_count(self):
        return self.up.stats().get("requests", 0)

    def get(self, target="/echo", headers=None, method="GET", body=None,
            host="example.test"):
        with self.client() as c:
            return c.request(method, target, headers, body, host)


class ClassFixtureCase(unittest.TestCase):
    """One fixture per class (the tests in it do not change its state)."""
    EXTRA = None

    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture(cls.EXTRA)

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def assertVwError(self, r, status, code=None):
        """vibewarden's own error response (SPEC 11)."""
        self.assertIsNotNone(r, "no response at all (expected %d)" % status)
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("Content-Type") or "")
                        .startswith("application/json"), r)
        try:
            j = r.json()
        except ValueError:
            self.fail("error body is not JSON: %r" % r.body)
        self.assertIsInstance(j.get("error"), str, j)
        self.assertEqual(j.get("status"), status, j)
        self.assertIn("request_id", j)
        self.assertEqual(r.header("X-Request-Id"), j["request_id"], r)
        if code:
            self.assertEqual(j["error"], code, j)
        return j


# ====================================================================== 1, 2
class TestPassThrough(ClassFixtureCase):

    def test_methods(self):
        fx = self.fx
        for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                  "OPTIONS"):
            with self.subTest(method=m):
                marker = "/echo/method-%s-%d" % (m, random.randrange(1 << 30))
                body = b"payload-" + m.encode() \
                    if m in ("POST", "PUT", "PATCH") else None
                r = fx.get(marker, method=m, body=body)
                self.assertEqual(r.status, 200, r)
                recs = [x for x in fx.up.requests()
                        if x.get("target") == marker]
                self.assertEqual(len(recs), 1, "upstream saw %r" % recs)
                self.assertEqual(recs[0]["method"], m)
                if body is not None:
                    self.assertEqual(recs[0]["body_sha256"],
                                     hashlib.sha256(body).hexdigest())
                if m == "HEAD":
                    self.assertEqual(r.body, b"")
                else:
                    self.assertEqual(r.json()["method"], m)

    def test_custom_headers_byte_identical_and_ordered(self):
        sent = [("X-Custom-One", "Value  with   inner spaces"),
                ("x-lower-case", "abc"),
                ("X-MiXeD", "\"quoted\", token; q=0.5"),
                ("X-Utf8", "caf\xe9"),
                ("X-Custom-One", "second instance")]
        r = self.fx.get("/echo/custom", sent)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        got = [(k, v) for k, v in j["headers"]
               if k.lower().startswith(("x-custom", "x-lower", "x-mixed",
                                        "x-utf8"))]
        self.assertEqual(got, sent)
        raw = [x for x in self.fx.up.requests()
               if x.get("target") == "/echo/custom"][0]["head_raw"]
        for k, v in sent:
            self.assertIn("\r\n%s: %s\r\n" % (k, v), raw)

    def test_hop_by_hop_removed(self):
        sent = [("Connection", "keep-alive, X-Hop-Secret"),
                ("X-Hop-Secret", "must-not-pass"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Trailer", "X-Trail"),
                ("Proxy-Connection", "keep-alive"),
                ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
                ("X-Survivor", "yes")]
        r = self.fx.get("/echo/hop", sent)
        self.assertEqual(r.status, 200, r)
        names = [k.lower() for k, _ in r.json()["headers"]]
        for h in ("x-hop-secret", "keep-alive", "te", "trailer",
                  "proxy-connection", "proxy-authorization"):
            self.assertNotIn(h, names, "hop-by-hop %s forwarded" % h)
        for k, v in r.json()["headers"]:
            if k.lower() == "connection":
                self.assertNotIn("x-hop-secret", v.lower())
        self.assertIn("x-survivor", names)

    def test_forwarded_headers(self):
        r = self.fx.get("/echo/xff1", host="app.example.test:8080")
        j = r.json()
        self.assertEqual(up_get(j, "X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(up_get(j, "X-Forwarded-Proto"), ["http"])
        self.assertEqual(up_get(j, "X-Forwarded-Host"),
                         ["app.example.test:8080"])
        r = self.fx.get("/echo/xff2",
                        [("X-Forwarded-For", "203.0.113.7"),
                         ("X-Forwarded-Proto", "https"),
                         ("X-Forwarded-Host", "evil.test")])
        j = r.json()
        # SPEC 4: from an untrusted peer a client's list is replaced
        self.assertEqual(up_get(j, "X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(up_get(j, "X-Forwarded-Proto"), ["http"])
        self.assertEqual(up_get(j, "X-Forwarded-Host"), ["example.test"])

    def test_multiple_xff_headers_replaced(self):
        r = self.fx.get("/echo/xff3", [("X-Forwarded-For", "192.0.2.1"),
                                       ("X-Forwarded-For", "192.0.2.2")])
        self.assertEqual(up_get(r.json(), "X-Forwarded-For"),
                         ["127.0.0.1"])

    def test_request_id(self):
        valid = "abc-123_X.y"
        r = self.fx.get("/echo/rid", [("X-Request-Id", valid)])
        self.assertEqual(r.header("X-Request-Id"), valid)
        self.assertEqual(up_get(r.json(), "X-Request-Id"), [valid])
        for bad in ("bad id!", "x" * 129, "", "a/b"):
            with self.subTest(bad=bad):
                hdrs = [("X-Request-Id", bad)] if bad else []
                r = self.fx.get("/echo/rid2", hdrs)
                rid = r.header("X-Request-Id")
                self.assertIsNotNone(rid, r)
                self.assertRegex(rid, REQID_GEN)
                self.assertEqual(up_get(r.json(), "X-Request-Id"), [rid])
        r1 = self.fx.get("/echo/rid3")
        r2 = self.fx.get("/echo/rid3")
        self.assertNotEqual(r1.header("X-Request-Id"),
                            r2.header("X-Request-Id"))

    def test_query_string(self):
        for tgt in ("/echo?a=1&b=%20x&c=&d=%2F%3F", "/echo/p?x=y=z&&q",
                    "/echo?"):
            with self.subTest(target=tgt):
                r = self.fx.get(tgt)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["target"], tgt)

    def test_content_length_leading_zeros(self):
        r = self.fx.get("/echo/cl005", [("Content-Length", "005")],
                        method="POST", body=b"hello")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(up_get(r.json(), "Content-Length"), ["5"])
        self.assertEqual(r.json()["body_len"], 5)

    def test_identity_headers_stripped(self):
        sent = [("X-User-Id", "forged-id"), ("x-user-email", "evil@x.test"),
                ("X_User_Verified", "true"), ("X-Session-Id", "forged-sess"),
                ("X-Api-Key-Name", "forged-key"), ("X-USER-ID", "forged2"),
                ("x_session_id", "forged3"), ("X-Fine", "ok")]
        r = self.fx.get("/echo/ident", sent)
        self.assertEqual(r.status, 200, r)
        names = [k.lower().replace("_", "-") for k, _ in r.json()["headers"]]
        for h in ("x-user-id", "x-user-email", "x-user-verified",
                  "x-session-id", "x-api-key-name"):
            self.assertNotIn(h, names, "client %s reached upstream" % h)
        self.assertIn("x-fine", names)
        raw = self.fx.up.raw()
        for v in (b"forged-id", b"evil@x.test", b"forged-sess",
                  b"forged-key", b"forged2", b"forged3"):
            self.assertNotIn(v, raw)


# ====================================================================== 3
class TestBodies(ClassFixtureCase):
    EXTRA = {"body_size": {"max": 0}}

    def test_upload_content_length_1mib(self):
        body = os.urandom(MiB)
        r = self.fx.get("/echo/up-cl", method="POST", body=body)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["framing"], "content-length")
        self.assertEqual(up_get(j, "Content-Length"), [str(MiB)])
        self.assertEqual(j["body_len"], MiB)
        self.assertEqual(j["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_upload_chunked_reframed(self):
        body = os.urandom(MiB + 12345)
        rnd = random.Random(7)
        sizes = [rnd.randint(1, 70000) for _ in range(200)]
        data = T.build_request("POST", "/echo/up-chunked",
                               [("Transfer-Encoding", "chunked"),
                                ("Trailer", "X-Trail")])
        data += T.chunk_encode(body, sizes, ext=True,
                               trailer=["X-Trail: trailer-secret"])
        with self.fx.client() as c:
            c.send(data)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["body_len"], len(body))
        self.assertEqual(j["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertIn(j["framing"], ("chunked", "content-length"))
        self.assertFalse(j["chunk_ext"], "chunk extensions forwarded")
        self.assertEqual(j["trailers"], [], "request trailers forwarded")
        self.assertNotIn("x-trail", up_names(j))
        self.assertFalse(self.fx.up.saw(b"trailer-secret"))
        self.assertFalse(self.fx.up.saw(b"foo=bar"))

    def test_download_content_length_1mib(self):
        with self.fx.client() as c:
            r = c.request("GET", "/big?n=%d" % MiB, keep_body=False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body_len, MiB)
        self.assertEqual(r.body_sha256,
                         hashlib.sha256(T.det_bytes(MiB)).hexdigest())

    def test_download_chunked_1mib(self):
        n = MiB + 3
        with self.fx.client() as c:
            r = c.request("GET", "/chunked?n=%d" % n, keep_body=False)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body_len, n)
            self.assertEqual(r.body_sha256,
                             hashlib.sha256(T.det_bytes(n)).hexdigest())
            # connection still usable afterwards
            r2 = c.request("GET", "/echo/after-chunked")
            self.assertEqual(r2.status, 200, r2)

    def _rss_sampler(self, stop, peak):
        while not stop.is_set():
            peak[0] = max(peak[0], self.fx.vw.total_rss_kib())
            time.sleep(0.05)

    def test_64mib_streams_with_bounded_memory(self):
        n = 64 * MiB
        base = self.fx.vw.total_rss_kib()
        stop = threading.Event()
        peak = [base]
        th = threading.Thread(target=self._rss_sampler, args=(stop, peak))
        th.start()
        try:
            with self.fx.client(timeout=25) as c:
                c.send(T.build_request("POST", "/echo/up64",
                                       [("Content-Length", str(n))]))
                h = hashlib.sha256()
                for piece in T.det_stream(n):
                    c.send(piece)
                    h.update(piece)
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["body_len"], n)
                self.assertEqual(r.json()["body_sha256"], h.hexdigest())
                r = c.request("GET", "/big?n=%d" % n, keep_body=False)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body_len, n)
                self.assertEqual(r.body_sha256, h.hexdigest())
        finally:
            stop.set()
            th.join()
        growth = (peak[0] - base) / 1024.0
        self.assertLess(growth, 64, "RSS of master+workers grew by %.1f MiB"
                        % growth)


# ====================================================================== 4
# (name, raw request bytes, expected status).  "MARK" is replaced by a
# unique marker so the upstream's raw log can prove nothing arrived.
H = "Host: example.test\r\n"
PROBES = [
    ("cl_and_te", "POST /MARK HTTP/1.1\r\n" + H + "Content-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_then_cl", "POST /MARK HTTP/1.1\r\n" + H + "Transfer-Encoding: "
     "chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("duplicate_differing_cl", "POST /MARK HTTP/1.1\r\n" + H +
     "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl_list_5_6", "POST /MARK HTTP/1.1\r\n" + H +
     "Content-Length: 5, 6\r\n\r\nhello!", 400),
    ("cl_plus5", "POST /MARK HTTP/1.1\r\n" + H +
     "Content-Length: +5\r\n\r\nhello", 400),
    ("cl_negative", "POST /MARK HTTP/1.1\r\n" + H +
     "Content-Length: -1\r\n\r\n", 400),
    ("cl_overflow", "POST /MARK HTTP/1.1\r\n" + H +
     "Content-Length: 99999999999999999999999\r\n\r\nhello", 400),
    ("te_chunked_gzip", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("te_gzip", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: gzip\r\n\r\n", 501),
    ("te_http10", "POST /MARK HTTP/1.0\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("bad_chunk_size_zz", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff1\r\nhello\r\n"
     "0\r\n\r\n", 400),
    ("obs_fold", "GET /MARK HTTP/1.1\r\n" + H + "X-A: a\r\n b\r\n\r\n", 400),
    ("bare_cr_in_value", "GET /MARK HTTP/1.1\r\n" + H +
     "X-A: a\rb\r\n\r\n", 400),
    ("nul_in_value", "GET /MARK HTTP/1.1\r\n" + H +
     "X-A: a\x00b\r\n\r\n", 400),
    ("space_before_colon", "GET /MARK HTTP/1.1\r\n" + H +
     "X-A : b\r\n\r\n", 400),
    ("no_colon", "GET /MARK HTTP/1.1\r\n" + H + "X-A b\r\n\r\n", 400),
    ("space_before_first_header", "GET /MARK HTTP/1.1\r\n " + H + "\r\n",
     400),
    ("missing_host", "GET /MARK HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two_hosts", "GET /MARK HTTP/1.1\r\n" + H + "Host: other.test\r\n\r\n",
     400),
    ("absolute_form_mismatch", "GET http://other.test/MARK HTTP/1.1\r\n" + H
     + "\r\n", 400),
    ("http09", "GET /MARK\r\n\r\n", 400),
    ("version_1x", "GET /MARK HTTP/1.x\r\n" + H + "\r\n", 400),
    ("version_lowercase", "GET /MARK http/1.1\r\n" + H + "\r\n", 400),
    ("double_space", "GET  /MARK HTTP/1.1\r\n" + H + "\r\n", 400),
    ("hash_in_target", "GET /MARK#frag HTTP/1.1\r\n" + H + "\r\n", 400),
    ("asterisk_get", "GET * HTTP/1.1\r\n" + H + "X-M: MARK\r\n\r\n", 400),
    ("http20", "GET /MARK HTTP/2.0\r\n" + H + "\r\n", 505),
    ("http99", "GET /MARK HTTP/9.9\r\n" + H + "\r\n", 505),
    ("target_9k", "GET /MARK?" + "a" * 9216 + " HTTP/1.1\r\n" + H + "\r\n",
     414),
    ("header_line_9k", "GET /MARK HTTP/1.1\r\n" + H + "X-Big: " +
     "b" * 9216 + "\r\n\r\n", 431),
    ("fields_101", "GET /MARK HTTP/1.1\r\n" + H +
     "".join("X-F%d: v\r\n" % i for i in range(100)) + "\r\n", 431),
    ("te_chunked_twice", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\n", 400),
    ("te_xchunked", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501),
    ("bad_chunk_terminator", "POST /MARK HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
    ("bare_lf_in_value", "GET /MARK HTTP/1.1\r\n" + H +
     "X-A: a\nb\r\n\r\n", 400),
    ("space_in_host", "GET /MARK HTTP/1.1\r\nHost: exa mple.test\r\n\r\n",
     400),
    ("head_over_32k", "GET /MARK HTTP/1.1\r\n" + H +
     "".join("X-H%d: %s\r\n" % (i, "h" * 7000) for i in range(5)) + "\r\n",
     431),
    ("connect", "CONNECT example.test:443 HTTP/1.1\r\nHost: "
     "example.test:443\r\nX-M: MARK\r\n\r\n", 405),
    ("trace", "TRACE /MARK HTTP/1.1\r\n" + H + "\r\n", 405),
    ("expect_foo", "POST /MARK HTTP/1.1\r\n" + H + "Expect: foo\r\n"
     "Content-Length: 5\r\n\r\nhello", 417),
]


class TestSmuggling(ClassFixtureCase):
    """SPEC 4: status, JSON error, connection closed, upstream untouched."""

    def run_probe(self, raw, status):
        marker = "probe%08x" % random.randrange(1 << 32)
        data = raw.replace("MARK", marker).encode("latin-1")
        r, closed = T.exchange(self.fx.port, data, timeout=6)
        self.assertVwError(r, status)
        self.assertTrue(closed, "connection left open after %d" % status)
        time.sleep(0.05)
        self.assertFalse(self.fx.up.saw(marker),
                         "the rejected request reached the upstream")

    def test_header_timeout_408(self):
        marker = "probe408%06x" % random.randrange(1 << 24)
        with self.fx.client(timeout=8) as c:
            t0 = time.monotonic()
            c.send("GET /%s HTTP/1.1\r\nHost: example.test\r\nX-Half: "
                   % marker)
            try:
                r = c.read_response()
            except (T.ProtocolError, OSError) as e:
                self.fail("no 408 response: %s" % e)
            dt = time.monotonic() - t0
            self.assertVwError(r, 408)
            self.assertTrue(1.5 <= dt <= 4.5, "408 after %.2fs" % dt)
            self.assertTrue(c.is_closed(2))
        self.assertFalse(self.fx.up.saw(marker))

    def test_header_timeout_slowloris(self):
        """Trickling header bytes does not extend header_timeout."""
        with self.fx.client(timeout=8) as c:
            c.send("GET /echo HTTP/1.1\r\nHost: example.test\r\n")
            t0 = time.monotonic()
            got = None
            while time.monotonic() - t0 < 5:
                try:
                    c.send("X-Drip: x\r\n")
                except OSError:
                    break
                c.s.settimeout(0.3)
                try:
                    d = c.s.recv(65536)
                    got = d
                    break
                except socket.timeout:
                    continue
                except OSError:
                    break
            dt = time.monotonic() - t0
            self.assertLess(dt, 4.5, "connection kept open %.1fs" % dt)
            if got:
                self.assertTrue(got.startswith(b"HTTP/1.1 408"), got[:100])

    def test_smuggled_request_in_chunked_body(self):
        marker = "smug%08x" % random.randrange(1 << 32)
        inner = ("GET /%s HTTP/1.1\r\nHost: example.test\r\n\r\n"
                 % marker).encode()
        data = T.build_request("POST", "/echo/outer-" + marker,
                               [("Transfer-Encoding", "chunked")])
        data += T.chunk_encode(inner, [len(inner)])
        with self.fx.client() as c:
            c.send(data)
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["body_sha256"],
                             hashlib.sha256(inner).hexdigest())
        time.sleep(0.1)
        recs = [x for x in self.fx.up.requests() if marker in
                x.get("target", "") or marker in x.get("parse_error", "")]
        self.assertEqual([x.get("target") for x in recs],
                         ["/echo/outer-" + marker])

    def test_smuggled_request_in_cl_body(self):
        marker = "smugcl%08x" % random.randrange(1 << 32)
        inner = ("GET /%s HTTP/1.1\r\nHost: example.test\r\n\r\n"
                 % marker).encode()
        r = self.fx.get("/echo/outercl-" + marker, method="POST", body=inner)
        self.assertEqual(r.status, 200, r)
        time.sleep(0.1)
        recs = [x for x in self.fx.up.requests() if marker in
                x.get("target", "") or marker in x.get("parse_error", "")]
        self.assertEqual([x.get("target") for x in recs],
                         ["/echo/outercl-" + marker])

    def test_boundaries_accepted(self):
        """Just inside the limits: 100 fields, ~8 KB target and line."""
        hdrs = [("X-F%d" % i, "v") for i in range(99)]      # + Host = 100
        r = self.fx.get("/echo/100fields", hdrs)
        self.assertEqual(r.status, 200, r)
        tgt = "/echo/long?" + "a" * 8000
        self.assertEqual(self.fx.get(tgt).json()["target"], tgt)
        r = self.fx.get("/echo/longhdr", [("X-Long", "l" * 8000)])
        self.assertEqual(up_get(r.json(), "X-Long"), ["l" * 8000])

    def test_transfer_coding_case_insensitive(self):
        data = T.build_request("POST", "/echo/TEcase",
                               [("Transfer-Encoding", "Chunked")])
        data += T.chunk_encode(b"hello world", [5])
        r, _ = T.exchange(self.fx.port, data)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], 11)

    def test_bare_lf_line_endings(self):
        """Bare LF: rejected (400) or treated as CRLF, never passed on raw."""
        m = "barelf%06x" % random.randrange(1 << 24)
        r, closed = T.exchange(self.fx.port, ("GET /echo/%s HTTP/1.1\nHost: "
                                              "example.test\n\n" % m)
                               .encode())
        self.assertIsNotNone(r)
        self.assertIn(r.status, (200, 400), r)
        if r.status == 200:
            self.assertNotIn("\n", r.json()["head_raw"].replace("\r\n", "")
                             if "head_raw" in r.json() else "")
            for rec in self.fx.up.requests():
                if m in rec.get("target", ""):
                    self.assertNotIn("\n", rec["head_raw"]
                                     .replace("\r\n", ""))
        else:
            self.assertFalse(self.fx.up.saw(m))

    def test_bad_chunk_after_valid_chunks(self):
        """A framing error mid-body: the upstream must never get a complete
        (truncated) request; the client gets a 400 or a closed connection."""
        m = "midchunk%06x" % random.randrange(1 << 24)
        data = T.build_request("POST", "/echo/" + m,
                               [("Transfer-Encoding", "chunked")])
        data += b"%x\r\n" % 100000 + b"a" * 100000 + b"\r\nzz\r\n"
        c = self.fx.client()
        try:
            c.send(data)
            try:
                r = c.read_response()
            except (T.ProtocolError, OSError):
                r = None
            if r is not None:
                self.assertVwError(r, 400)
            self.assertTrue(c.is_closed(3))
        finally:
            c.close()
        time.sleep(0.3)
        done = [x for x in self.fx.up.requests()
                if m in x.get("target", "")]
        self.assertEqual(done, [], "upstream got a complete request")

    def test_short_cl_body_then_close(self):
        m = "shortbody%06x" % random.randrange(1 << 24)
        c = self.fx.client()
        c.send(T.build_request("POST", "/echo/" + m,
                               [("Content-Length", "100000")]) + b"x" * 1000)
        time.sleep(0.2)
        c.close()
        time.sleep(0.3)
        done = [x for x in self.fx.up.requests()
                if m in x.get("target", "")]
        self.assertEqual(done, [], "upstream got a complete request")

    def test_pipeline_stops_at_rejected_request(self):
        m = "afterbad%06x" % random.randrange(1 << 24)
        data = (T.build_request("GET", "/echo/first-" + m) +
                b"GET /x HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n" +
                T.build_request("GET", "/echo/never-" + m))
        with self.fx.client() as c:
            c.send(data)
            r1 = c.read_response()
            self.assertEqual(r1.json()["target"], "/echo/first-" + m)
            r2 = c.read_response()
            self.assertVwError(r2, 400)
            self.assertTrue(c.is_closed(3))
        time.sleep(0.2)
        self.assertFalse(self.fx.up.saw("never-" + m))

    def test_absolute_form_matching_host(self):
        r = self.fx.get("http://example.test/echo/abs?q=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["target"], "/echo/abs?q=1")

    def test_proxy_still_serves_after_probes(self):
        r = self.fx.get("/echo/alive")
        self.assertEqual(r.status, 200, r)


def _make_probe(raw, status):
    def t(self):
        self.run_probe(raw, status)
    return t


for _name, _raw, _st in PROBES:
    setattr(TestSmuggling, "test_probe_%s_%d" % (_name, _st),
            _make_probe(_raw, _st))


# ====================================================================== 5
class TestConnections(ClassFixtureCase):

    def test_pipelining_three_in_one_send(self):
        data = b"".join(T.build_request("GET", "/echo/pipe?i=%d" % i)
                        for i in range(3))
        with self.fx.client() as c:
            c.send(data)
            got = [c.read_response() for _ in range(3)]
        self.assertEqual([r.status for r in got], [200] * 3)
        self.assertEqual([r.json()["target"] for r in got],
                         ["/echo/pipe?i=%d" % i for i in range(3)])

    def test_pipelined_post_bodies(self):
        data = b"".join(T.build_request("POST", "/echo/pp?i=%d" % i,
                                        body=b"b%d" % i * (i + 1))
                        for i in range(3))
        with self.fx.client() as c:
            c.send(data)
            got = [c.read_response() for _ in range(3)]
        for i, r in enumerate(got):
            self.assertEqual(r.json()["target"], "/echo/pp?i=%d" % i)
            self.assertEqual(r.json()["body_sha256"], hashlib.sha256(
                b"b%d" % i * (i + 1)).hexdigest())

    def test_keepalive_upstream_pool_reuse(self):
        with self.fx.client() as c:
            c.request("GET", "/echo/warm")
            before = self.fx.up.stats()["connections"]
            for i in range(20):
                r = c.request("GET", "/echo/ka?i=%d" % i)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["target"], "/echo/ka?i=%d" % i)
            after = self.fx.up.stats()["connections"]
        self.assertLessEqual(after - before, 2,
                             "20 requests opened %d upstream connections"
                             % (after - before))

    def test_keepalive_after_bodyless_responses(self):
        with self.fx.client() as c:
            for st in (204, 304):
                r = c.request("GET", "/status/%d" % st)
                self.assertEqual(r.status, st, r)
            r = c.request("HEAD", "/big?n=5000")
            self.assertEqual((r.status, r.header("Content-Length")),
                             (200, "5000"))
            r = c.request("HEAD", "/chunked?n=5000")
            self.assertEqual(r.status, 200, r)
            r = c.request("GET", "/echo/after-bodyless")
            self.assertEqual(r.json()["target"], "/echo/after-bodyless")

    def test_expect_100_continue(self):
        body = os.urandom(50000)
        with self.fx.client() as c:
            c.send(T.build_request("POST", "/echo/expect",
                                   [("Expect", "100-continue"),
                                    ("Content-Length", str(len(body)))]))
            c.s.settimeout(3)
            try:
                c._until(b"\r\n\r\n")
                head = c.buf
            except (T.ProtocolError, OSError) as e:
                self.fail("no 100 Continue within 3s: %s" % e)
            del head
            c.s.settimeout(10)
            c.send(body)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_sha256"],
                         hashlib.sha256(body).hexdigest())

    def test_http10_client_gets_no_chunked(self):
        r, closed = T.exchange(self.fx.port, b"GET /chunked?n=70000 HTTP/1.0"
                               b"\r\nHost: example.test\r\n\r\n")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Transfer-Encoding"),
                          "chunked sent to an HTTP/1.0 client")
        self.assertEqual(r.body, T.det_bytes(70000))

    def test_stale_pooled_connection(self):
        """The upstream closes an idle pooled connection: the next request
        must not fail (retry on a fresh connection, like nginx)."""
        for i in range(3):
            with self.fx.client() as c:
                self.assertEqual(c.request("GET", "/dropafter").status, 200)
            time.sleep(0.4)
            r = self.fx.get("/echo/after-drop?i=%d" % i)
            self.assertEqual(r.status, 200, r)

    def test_idle_timeout(self):
        with self.fx.client() as c:
            self.assertEqual(c.request("GET", "/echo/idle").status, 200)
            time.sleep(4.0)
            self.assertFalse(c.is_closed(0.1), "closed before idle_timeout")
            t0 = time.monotonic()
            self.assertTrue(c.is_closed(3.0), "still open after 7s idle "
                            "(idle_timeout 5s)")
            self.assertLess(time.monotonic() - t0, 3.0)

    def test_client_abort_mid_transfer(self):
        pids = sorted(self.fx.vw.workers())
        for _ in range(3):
            c = self.fx.client()
            c.send(T.build_request("GET", "/big?n=%d" % (32 * MiB)))
            c.s.recv(100000)
            c.close()
            c = self.fx.client()
            c.send(T.build_request("POST", "/echo/abort",
                                   [("Content-Length", str(8 * MiB))]))
            c.send(b"x" * 300000)
            c.close()
        time.sleep(0.3)
        self.assertEqual(self.fx.get("/echo/after-abort").status, 200)
        self.assertEqual(sorted(self.fx.vw.workers()), pids,
                         "a worker died")

    def test_concurrent_connections(self):
        n = 100
        results = [None] * n

        def one(i):
            try:
                with T.Client(self.fx.port, 10) as c:
                    results[i] = c.request("GET", "/echo/conc?i=%d" % i) \
                        .json()["target"]
            except Exception as e:     # noqa: BLE001 (recorded)
                results[i] = repr(e)
        ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(20)
        self.assertEqual(results, ["/echo/conc?i=%d" % i for i in range(n)])

    def test_http10_closes(self):
        r, closed = T.exchange(self.fx.port, b"GET /echo/h10 HTTP/1.0\r\n"
                               b"Host: example.test\r\n\r\n")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(closed)

    def test_connection_close_honoured(self):
        r, closed = T.exchange(self.fx.port, T.build_request(
            "GET", "/echo/cc", [("Connection", "close")]))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(closed)


# ====================================================================== 6
class TestUpstreamErrors(ClassFixtureCase):

    def test_malformed_response_502(self):
        for kind in ("barecr", "badcl", "badstatus", "nul", "space-colon",
                     "cl-te", "obsfold", "dupcl", "hugehdr"):
            with self.subTest(kind=kind):
                r = self.fx.get("/malformed?kind=" + kind)
                self.assertVwError(r, 502, "bad_gateway")
        self.assertEqual(self.fx.get("/echo/after-malformed").status, 200)

    def _assert_aborted(self, target, forbidden):
        c = self.fx.client()
        try:
            c.send(T.build_request("GET", target))
            try:
                r = c.read_response()
            except (T.ProtocolError, OSError):
                r = None
            if r is not None:
                # only acceptable as vibewarden's own 502 (nothing sent yet)
                self.assertEqual(r.status, 502, "truncated/invalid upstream "
                                 "body passed on as complete: %r" % r)
                self.assertNotIn(forbidden, r.body)
            self.assertTrue(c.is_closed(3), "client connection kept open")
        finally:
            c.close()

    def test_bad_chunk_mid_body_aborts(self):
        self._assert_aborted("/badchunk", b"world")

    def test_short_body_aborts(self):
        self._assert_aborted("/short", b"only-ten!!")

    def test_slow_body_after_fast_headers_not_cut(self):
        """resilience.timeout (2s) bounds the wait for the response, not a
        body that started in time and streams longer."""
        t0 = time.monotonic()
        r = self.fx.get("/trickle?ms=3000&n=10")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"t" * 10)
        self.assertGreater(time.monotonic() - t0, 2.5)

    def test_103_early_hints_then_200(self):
        with self.fx.client() as c:
            r = c.request("GET", "/early103")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, b"final\n")
            self.assertEqual(c.request("GET", "/echo/after103").status, 200)

    def test_close_delimited_response(self):
        n = 300000
        with self.fx.client() as c:
            r = c.request("GET", "/eof?n=%d" % n)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, T.det_bytes(n))

    def test_response_hop_by_hop_stripped(self):
        r = self.fx.get("/headers-out?hop=1")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("X-Secret-Hop"), r)
        self.assertIsNone(r.header("Keep-Alive"), r)

    def test_slow_upstream_504(self):
        t0 = time.monotonic()
        r = self.fx.get("/slow?ms=3000")
        dt = time.monotonic() - t0
        self.assertVwError(r, 504, "upstream_timeout")
        self.assertTrue(1.5 <= dt <= 2.9, "504 after %.2fs" % dt)

    def test_status_passthrough(self):
        for st in (201, 204, 301, 404, 418, 500, 503):
            with self.subTest(status=st):
                r = self.fx.get("/status/%d" % st)
                self.assertEqual(r.status, st, r)


class TestUpstreamDown(unittest.TestCase):

    def test_closed_port_502(self):
        fx = Fixture(upstream=False)
        try:
            t0 = time.monotonic()
            r = fx.get("/echo/down")
            self.assertLess(time.monotonic() - t0, 3)
            ClassFixtureCase.assertVwError(self, r, 502, "bad_gateway")
        finally:
            fx.close()


# ====================================================================== 7, 8
class TestResponseHeaders(ClassFixtureCase):

    def check_security_headers(self, r):
        for k, v in SECURITY_HEADERS.items():
            self.assertEqual(r.header(k), v, "%s on %r" % (k, r))
        self.assertIsNone(r.header("Strict-Transport-Security"),
                          "HSTS over plain HTTP")
        self.assertIsNotNone(r.header("X-Request-Id"))

    def test_stripped_and_security_headers(self):
        r = self.fx.get("/headers-out")
        self.assertEqual(r.status, 200, r)
        for h in ("Server", "X-Powered-By", "Via"):
            self.assertIsNone(r.header(h), "%s leaked: %r" % (h, r))
        self.assertEqual(r.header("X-Custom-Out"), "kept")
        self.check_security_headers(r)
        self.assertEqual(r.body, b"headers-out\n")

    def test_upstream_own_xfo_and_csp_kept(self):
        r = self.fx.get("/headers-out?own=1")
        self.assertEqual(r.header_all("X-Frame-Options"), ["SAMEORIGIN"])
        self.assertEqual(r.header("Content-Security-Policy"),
                         "default-src 'self'")

    def test_security_headers_on_errors(self):
        r, _ = T.exchange(self.fx.port, b"GET /x HTTP/1.1\r\n\r\n")
        self.assertEqual(r.status, 400, r)
        self.check_security_headers(r)
        r = self.fx.get("/_vibewarden/metrics")
        self.check_security_headers(r)

    def test_health_internal(self):
        r = self.fx.get("/_vibewarden/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("status"), "ok")
        self.check_security_headers(r)
        self.assertFalse(self.fx.up.saw(b"/_vibewarden"))

    def test_ready_internal(self):
        r = self.fx.get("/_vibewarden/ready")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json().get("ready"), True, r)
        self.assertFalse(self.fx.up.saw(b"/_vibewarden"))

    def test_metrics_and_admin_404(self):
        for p in ("/_vibewarden/metrics", "/_vibewarden/admin/x",
                  "/_vibewarden/admin/users"):
            with self.subTest(path=p):
                r = self.fx.get(p, [("Authorization", "Bearer x")])
                self.assertEqual(r.status, 404, r)
        self.assertFalse(self.fx.up.saw(b"/_vibewarden"))


# ====================================================================== 9
class TestWebSocket(ClassFixtureCase):

    def test_handshake_and_echo(self):
        w = T.WSClient(self.fx.port, "/ws")
        try:
            self.assertEqual(w.resp.status, 101, w.resp)
            self.assertTrue(w.accept_ok(), "bad Sec-WebSocket-Accept: %r"
                            % w.resp)
            for n in (0, 125, 126, 65535, 65536, 64 * 1024 + 1, MiB):
                with self.subTest(size=n):
                    pl = os.urandom(n)
                    w.send_frame(0x2, pl)
                    op, fin, data = w.recv_frame()
                    self.assertEqual((op, fin), (0x2, True))
                    self.assertEqual(len(data), n)
                    self.assertTrue(data == pl, "payload differs")
            w.send_frame(0x1, "héllo".encode())
            self.assertEqual(w.recv_frame(), (0x1, True, "héllo".encode()))
            w.send_frame(0x9, b"ping!")
            self.assertEqual(w.recv_frame(), (0xA, True, b"ping!"))
            w.send_frame(0x8, b"\x03\xe8")
            self.assertEqual(w.recv_frame()[0], 0x8)
            self.assertTrue(w.c.is_closed(3))
        finally:
            w.close()
        rec = [x for x in self.fx.up.requests() if x.get("target") == "/ws"]
        self.assertTrue(rec)
        self.assertEqual([v.lower() for v in up_get(rec[-1], "Upgrade")],
                         ["websocket"])
        self.assertIn("upgrade",
                      ",".join(up_get(rec[-1], "Connection")).lower())

    def test_client_frame_in_handshake_packet(self):
        c = self.fx.client()
        try:
            key = "dGhlIHNhbXBsZSBub25jZQ=="
            c.send(T.build_request("GET", "/ws", [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
                + T.ws_frame(0x2, b"early bird", mask_key=b"abcd"))
            r = c.read_response()
            self.assertEqual(r.status, 101, r)
            w = T.WSClient.__new__(T.WSClient)
            w.c = c
            self.assertEqual(w.recv_frame(), (0x2, True, b"early bird"))
        finally:
            c.close()

    def test_optimistic_data_after_refused_upgrade(self):
        """RFC 9931: bytes sent after an Upgrade request the upstream refuses
        (no 101) must never reach the upstream raw: either the connection is
        closed, or they are parsed as a request and run the whole pipeline
        (identity headers stripped, X-Forwarded-For added)."""
        m = "optimistic%06x" % random.randrange(1 << 24)
        up = T.build_request("GET", "/echo/refused-upgrade", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")])
        with self.fx.client() as c:
            c.send(up + T.build_request("GET", "/echo/" + m,
                                        [("X-User-Id", "forged-" + m)]))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            try:
                c.read_response()
            except (T.ProtocolError, OSError):
                pass
        time.sleep(0.2)
        self.assertFalse(self.fx.up.saw("forged-" + m))
        for rec in self.fx.up.requests():
            if m in rec.get("target", ""):
                self.assertEqual(up_get(rec, "X-Forwarded-For"),
                                 ["127.0.0.1"], rec["head_raw"])

    def test_server_first_message(self):
        w = T.WSClient(self.fx.port, "/ws?hello=welcome")
        try:
            self.assertTrue(w.accept_ok(), w.resp)
            self.assertEqual(w.recv_frame(), (0x1, True, b"welcome"))
        finally:
            w.close()

    def test_ws_not_subject_to_request_timeout(self):
        w = T.WSClient(self.fx.port, "/ws")
        try:
            self.assertEqual(w.resp.status, 101)
            time.sleep(2.5)      # > resilience.timeout (2s)
            w.send_frame(0x2, b"still here")
            self.assertEqual(w.recv_frame()[2], b"still here")
        finally:
            w.close()

    def test_h2c_not_honoured(self):
        r = self.fx.get("/echo/h2c", [("Connection", "Upgrade, HTTP2-Settings"),
                                      ("Upgrade", "h2c"),
                                      ("HTTP2-Settings", "AAMAAABkAAQAAP__")])
        self.assertEqual(r.status, 200, r)
        names = up_names(r.json())
        self.assertNotIn("upgrade", names)
        self.assertNotIn("http2-settings", names)

    def test_ws_without_key_400(self):
        m = "/ws?nokey%06x" % random.randrange(1 << 24)
        r, closed = T.exchange(self.fx.port, T.build_request(
            "GET", m, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                       ("Sec-WebSocket-Version", "13")]))
        self.assertVwError(r, 400)
        self.assertFalse(self.fx.up.saw(m.encode()))

    def test_ws_version_12_400(self):
        m = "/ws?v12%06x" % random.randrange(1 << 24)
        r, closed = T.exchange(self.fx.port, T.build_request(
            "GET", m, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                       ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                       ("Sec-WebSocket-Version", "12")]))
        self.assertVwError(r, 400)
        self.assertFalse(self.fx.up.saw(m.encode()))

    def test_bad_accept_no_tunnel(self):
        w = T.WSClient(self.fx.port, "/ws-badaccept")
        try:
            self.assertNotEqual(w.resp.status, 101, w.resp)
            self.assertVwError(w.resp, 502)
        finally:
            w.close()


# ====================================================================== 10
class Load:
    """Threads sending requests; failures are counted and described.

    fresh=True: one connection per request (Connection: close).
    fresh=False: keep-alive; an EOF/reset on a reused connection before any
    response byte is retried once on a new connection (what browsers do),
    everything else is a failure."""

    def __init__(self, port, nthreads=3, fresh=False):
        self.port = port
        self.stop_ev = threading.Event()
        self.ok = 0
        self.fail = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i, fresh))
                        for i in range(nthreads)]
        self.ok_times = []

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)

    def one(self, c, i, n):
        r = c.request("GET", "/echo/load?t=%d&n=%d" % (i, n))
        if r.status != 200:
            raise T.ProtocolError("status %d: %r" % (r.status, r.body[:200]))
        return r

    def run(self, i, fresh):
        n = 0
        c = None
        while not self.stop_ev.is_set():
            n += 1
            try:
                if fresh or c is None:
                    if c:
                        c.close()
                    c = T.Client(self.port, 5)
                    reused = False
                else:
                    reused = True
                try:
                    self.one(c, i, n)
                except (T.ProtocolError, OSError) as e:
                    if reused and not c.buf and "EOF before" in str(e) \
                            and "have b''" in str(e):
                        c.close()
                        c = T.Client(self.port, 5)
                        self.one(c, i, n)
                    else:
                        raise
                with self.lock:
                    self.ok += 1
                    self.ok_times.append(time.monotonic())
            except Exception as e:        # noqa: BLE001 (recorded)
                with self.lock:
                    self.fail.append("%.3f %s" % (time.monotonic(), e))
                if c:
                    c.close()
                c = None
                time.sleep(0.01)
        if c:
            c.close()


class TestProcesses(unittest.TestCase):

    def setUp(self):
        self.fx = Fixture()

    def tearDown(self):
        self.fx.close()

    def test_two_workers(self):
        ws = self.fx.vw.workers()
        self.assertEqual(len(ws), 2, "workers %r (children %r)"
                         % (ws, self.fx.vw.children()))

    def test_worker_kill_replaced_under_load(self):
        vw = self.fx.vw
        old = vw.workers()
        self.assertEqual(len(old), 2, old)
        load = Load(self.fx.port, 3).start()
        try:
            time.sleep(0.5)
            victim = old[0]
            os.kill(victim, signal.SIGKILL)
            t0 = time.monotonic()
            new = None
            while time.monotonic() - t0 < 3:
                cur = vw.workers()
                if victim not in cur and len(cur) == 2:
                    new = time.monotonic() - t0
                    break
                time.sleep(0.02)
            self.assertIsNotNone(new, "no replacement worker: %r" % cur)
            self.assertLessEqual(new, 1.0, "replaced after %.2fs" % new)
            time.sleep(1.0)
            k = time.monotonic()
        finally:
            load.stop()
        after = [t for t in load.ok_times if t > k - 0.5]
        self.assertGreater(len(after), 10, "load stalled after kill; "
                           "failures %r" % load.fail[-5:])
        self.assertEqual(vw.proc.poll(), None, "master died")

    def test_sighup_under_load_no_failures(self):
        vw = self.fx.vw
        loads = [Load(self.fx.port, 2, fresh=True).start(),
                 Load(self.fx.port, 2, fresh=False).start()]
        try:
            time.sleep(0.5)
            vw.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            vw.send_signal(signal.SIGHUP)
            time.sleep(1.5)
        finally:
            for ld in loads:
                ld.stop()
        fails = loads[0].fail + loads[1].fail
        self.assertEqual(fails, [], "%d failed requests during reload"
                         % len(fails))
        self.assertGreater(loads[0].ok + loads[1].ok, 50)
        self.assertIsNotNone(vw.wait_event("config.reloaded", timeout=3),
                             "no config.reloaded event")
        # old generations drain and exit: back to 2 workers
        end = time.monotonic() + 8
        while time.monotonic() < end and len(vw.workers()) != 2:
            time.sleep(0.1)
        self.assertEqual(len(vw.workers()), 2, vw.workers())

    def test_sighup_broken_config_keeps_serving(self):
        vw = self.fx.vw
        with open(vw.conf) as f:
            good = f.read()
        vw.write_config(good + "server_typo_key:\n  nonsense: [\n")
        vw.send_signal(signal.SIGHUP)
        ev = vw.wait_event("config.reload_failed", timeout=5)
        self.assertIsNotNone(ev, "no config.reload_failed event; stdout %r"
                             % vw.stdout()[-1500:])
        self.assertRegex(json.dumps(ev), re.escape(os.path.basename(vw.conf))
                         + r":\d+:\d+")
        for i in range(5):
            self.assertEqual(self.fx.get("/echo/after-bad-hup").status, 200)
        self.assertIsNone(vw.proc.poll())
        self.assertEqual(len(vw.workers()), 2)

    def test_reload_applies_new_upstream_and_workers(self):
        vw = self.fx.vw
        up2 = T.Upstream(self.fx.tmp).start()
        try:
            slow = {}

            def inflight():
                try:
                    slow["r"] = self.fx.get("/slow?ms=1500")
                except Exception as e:     # noqa: BLE001
                    slow["e"] = e
            th = threading.Thread(target=inflight)
            th.start()
            time.sleep(0.3)
            vw.cfg["upstream"]["port"] = up2.port
            vw.cfg["server"]["workers"] = 3
            vw.write_config()
            vw.send_signal(signal.SIGHUP)
            self.assertIsNotNone(vw.wait_event("config.reloaded", timeout=5))
            th.join(10)
            self.assertIn("r", slow, "in-flight request failed across "
                          "reload: %r" % slow.get("e"))
            self.assertEqual(slow["r"].status, 200)
            end = time.monotonic() + 3
            while time.monotonic() < end:
                if self.fx.get("/echo/where").json()["conn"] and \
                        up2.requests():
                    break
                time.sleep(0.1)
            for i in range(5):
                self.fx.get("/echo/new-upstream-%d" % i)
            self.assertEqual(len([x for x in up2.requests() if "new-upstream"
                                  in x.get("target", "")]), 5)
            end = time.monotonic() + 8
            while time.monotonic() < end and len(vw.workers()) != 3:
                time.sleep(0.1)
            self.assertEqual(len(vw.workers()), 3, vw.workers())
        finally:
            up2.stop()

    def test_sigterm_with_open_websocket(self):
        vw = self.fx.vw
        w = T.WSClient(self.fx.port, "/ws")
        try:
            self.assertEqual(w.resp.status, 101)
            t0 = time.monotonic()
            vw.send_signal(signal.SIGTERM)
            try:
                rc = vw.proc.wait(7)
            except subprocess.TimeoutExpired:
                rc = "timeout"
            dt = time.monotonic() - t0
            self.assertEqual(rc, 0, "exit %r after %.1fs (drain_timeout 5s)"
                             % (rc, dt))
        finally:
            w.close()

    def test_websocket_survives_reload(self):
        w = T.WSClient(self.fx.port, "/ws")
        try:
            self.assertEqual(w.resp.status, 101)
            self.fx.vw.send_signal(signal.SIGHUP)
            self.assertIsNotNone(self.fx.vw.wait_event("config.reloaded",
                                                       timeout=5))
            time.sleep(0.5)
            w.send_frame(0x2, b"after reload")
            self.assertEqual(w.recv_frame()[2], b"after reload")
        finally:
            w.close()

    def test_sigterm_graceful(self):
        vw = self.fx.vw
        kids = vw.children()
        res = {}

        def slow():
            try:
                res["r"] = self.fx.get("/slow?ms=1000")
            except Exception as e:      # noqa: BLE001
                res["e"] = e
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        vw.send_signal(signal.SIGTERM)
        try:
            rc = vw.proc.wait(6.5)
        except Exception:               # noqa: BLE001
            rc = "timeout"
        dt = time.monotonic() - t0
        th.join(5)
        self.assertEqual(rc, 0, "master exit status %r after %.1fs"
                         % (rc, dt))
        self.assertIn("r", res, "in-flight request failed: %r"
                      % res.get("e"))
        self.assertEqual(res["r"].status, 200)
        time.sleep(0.2)
        left = [k for k in kids if T.proc_state(k) not in (None, "Z")]
        self.assertEqual(left, [], "children survived the master")
        self.assertFalse(T.wait_port(self.fx.port, 0.3))

    def test_bind_failure_exit_2(self):
        cfg = dict(self.fx.vw.cfg)
        cfg["admin"] = {"listen": "127.0.0.1:%d" % T.free_port()}
        vw2 = T.Vibewarden(self.fx.tmp, cfg, name="vw2")  # same port: in use
        vw2.outf = open(vw2.outpath, "ab")
        vw2.errf = open(vw2.errpath, "ab")
        vw2.proc = subprocess.Popen([T.VW_BIN, "-c", vw2.conf],
                                    stdout=vw2.outf, stderr=vw2.errf,
                                    stdin=subprocess.DEVNULL)
        try:
            rc = vw2.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = "still running"
        vw2.stop(signal.SIGKILL)
        self.assertEqual(rc, 2, "second instance on a busy port: %r; "
                         "stderr %r" % (rc, vw2.stderr()[-500:]))


# ====================================================================== 11
class TestLogs(ClassFixtureCase):

    def test_request_proxied_events(self):
        ids = []
        for i in range(4):
            rid = "logtest-%d-%06x" % (i, random.randrange(1 << 24))
            ids.append(rid)
            r = self.fx.get("/echo/log?i=%d" % i,
                            [("X-Request-Id", rid),
                             ("User-Agent", "vwtest-agent/1.0"),
                             ("Cookie", "session=COOKIESECRET%d" % i),
                             # same-origin: CSRF (on by default) lets it by
                             ("Origin", "http://example.test"),
                             ("Authorization", "Bearer TOKENSECRET%d" % i)],
                            method="POST" if i % 2 else "GET",
                            body=b"x" * 10 if i % 2 else None)
            self.assertEqual(r.status, 200)
        vw = self.fx.vw
        for i, rid in enumerate(ids):
            ev = vw.wait_event("request.proxied",
                               lambda e: e.get("request_id") == rid, 5)
            self.assertIsNotNone(ev, "no request.proxied for %s" % rid)
            evs = [e for e in vw.events("request.proxied")
                   if e.get("request_id") == rid]
            self.assertEqual(len(evs), 1, evs)
            for k in ("schema_version", "event_type", "timestamp",
                      "severity", "category", "ai_summary", "payload"):
                self.assertIn(k, ev)
            self.assertEqual(ev["schema_version"], "v1")
            self.assertRegex(ev["timestamp"],
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
            p = ev["payload"]
            for k in ("method", "path", "status", "duration_ms",
                      "client_ip", "bytes", "user_agent", "upstream_ms"):
                self.assertIn(k, p, "payload lacks %s: %r" % (k, p))
            self.assertEqual(p["method"], "POST" if i % 2 else "GET")
            self.assertEqual(p["path"], "/echo/log")
            self.assertEqual(p["status"], 200)
            self.assertEqual(p["client_ip"], "127.0.0.1")
            self.assertEqual(p["user_agent"], "vwtest-agent/1.0")
            self.assertIsInstance(p["duration_ms"], (int, float))
            self.assertIsInstance(p["bytes"], int)
        out = vw.stdout()
        self.assertNotIn("COOKIESECRET", out)
        self.assertNotIn("TOKENSECRET", out)

    def test_rejected_request_logged_once(self):
        rid = "rejlog-%06x" % random.randrange(1 << 24)
        T.exchange(self.fx.port, ("POST /x HTTP/1.1\r\nHost: a\r\n"
                                  "X-Request-Id: %s\r\nContent-Length: 1\r\n"
                                  "Content-Length: 2\r\n\r\nab" % rid)
                   .encode())
        time.sleep(0.5)
        evs = [e for e in self.fx.vw.events()
               if e.get("request_id") == rid
               and e.get("event_type") == "request.proxied"]
        self.assertLessEqual(len(evs), 1, evs)

    def test_every_line_is_json(self):
        self.fx.get("/echo/jsonlines")
        time.sleep(0.2)
        for ln in self.fx.vw.stdout().splitlines():
            if ln.strip():
                try:
                    json.loads(ln)
                except ValueError:
                    self.fail("non-JSON log line: %r" % ln)


# ====================================================================== 12
class TestConfigCheck(unittest.TestCase):

    def setUp(self):
        self.tmp = T.new_tmpdir()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_valid(self):
        p = self.write("ok.yaml", T.to_yaml(T.base_config(
            T.free_port(), T.free_port(), T.free_port())) + "\n")
        rc, out, err = T.run_check(p)
        self.assertEqual(rc, 0, err)

    def test_unknown_key(self):
        cfg = T.base_config(T.free_port(), T.free_port(), T.free_port())
        text = T.to_yaml(cfg).replace("  port: %d" % cfg["server"]["port"],
                                      "  prot: %d" % cfg["server"]["port"], 1)
        self.assertIn("prot:", text)
        p = self.write("bad.yaml", text + "\n")
        rc, out, err = T.run_check(p)
        self.assertEqual(rc, 1, err)
        # server: is line 1, prot is on line 3, column 3
        self.assertRegex(err, re.escape(p) + r":3:3: ")
        self.assertIn("port", err.split("prot", 1)[-1],
                      "no 'did you mean port': %r" % err)

    def test_no_side_effects(self):
        port = T.free_port()
        p = self.write("ok2.yaml", T.to_yaml(T.base_config(
            port, T.free_port(), T.free_port())) + "\n")
        rc, _, _ = T.run_check(p)
        self.assertEqual(rc, 0)
        self.assertFalse(T.wait_port(port, 0.2), "-t left a listener")


class TestLogOutput(unittest.TestCase):

    def test_text_format(self):
        fx = Fixture({"log": {"format": "text"}})
        try:
            fx.get("/echo/textlog")
            time.sleep(0.5)
            lines = [ln for ln in fx.vw.stdout().splitlines() if ln.strip()]
            self.assertTrue(lines)
            self.assertFalse(any(ln.lstrip().startswith("{")
                                 for ln in lines), lines[:5])
            self.assertTrue(any("/echo/textlog" in ln for ln in lines),
                            lines[-5:])
        finally:
            fx.close()

    def test_file_output_reopened_on_sigusr1(self):
        tmp = T.new_tmpdir()
        logf = os.path.join(tmp, "vw.log")
        os.chmod(tmp, 0o777)
        fx = Fixture({"log": {"output": logf}})
        try:
            fx.get("/echo/before-rotate")
            time.sleep(0.5)
            with open(logf) as f:
                self.assertIn("/echo/before-rotate", f.read())
            os.rename(logf, logf + ".1")
            fx.vw.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            fx.get("/echo/after-rotate")
            end = time.monotonic() + 3
            text = ""
            while time.monotonic() < end:
                if os.path.exists(logf):
                    with open(logf) as f:
                        text = f.read()
                    if "/echo/after-rotate" in text:
                        break
                time.sleep(0.1)
            self.assertIn("/echo/after-rotate", text,
                          "no new log file after SIGUSR1")
            with open(logf + ".1") as f:
                self.assertNotIn("/echo/after-rotate", f.read())
        finally:
            fx.close()
            shutil.rmtree(tmp, ignore_errors=True)


class TestCLI(unittest.TestCase):

    def setUp(self):
        self.tmp = T.new_tmpdir()
        self.vw = None

    def tearDown(self):
        if self.vw:
            self.vw.stop(signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_version(self):
        p = subprocess.run([T.VW_BIN, "-V"], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"vibewarden", (p.stdout + p.stderr).lower())

    def test_syntax_error(self):
        p = os.path.join(self.tmp, "syn.yaml")
        with open(p, "w") as f:
            f.write("server:\n  port: 8080\n  host: [unclosed\n")
        rc, _, err = T.run_check(p)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, re.escape(p) + r":\d+:\d+:")

    def test_pidfile_and_env_override(self):
        up = T.free_port()
        file_port, env_port = T.free_port(), T.free_port()
        cfg = T.base_config(file_port, up, T.free_port())
        pidf = os.path.join(self.tmp, "vw.pid")
        self.vw = T.Vibewarden(self.tmp, dict(cfg, server=dict(
            cfg["server"], port=env_port)))
        self.vw.write_config(T.to_yaml(cfg) + "\n")
        self.vw.start(args=["-p", pidf],
                      env={"VIBEWARDEN_SERVER_PORT": str(env_port)})
        self.assertFalse(T.wait_port(file_port, 0.2),
                         "env override ignored")
        with open(pidf) as f:
            self.assertEqual(int(f.read().strip()), self.vw.pid)
        rc = self.vw.stop()
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists(pidf), "pidfile left behind")


    def test_binary_upgrade_usr2(self):
        """SIGUSR2 (SPEC 3): a new master from the executable on disk takes
        over the inherited socket, the old pidfile becomes .oldbin, QUIT
        drains the old master, and no request fails on the way."""
        up = T.Upstream(self.tmp).start()
        done = threading.Event()
        newpid = None
        th = None
        try:
            port = T.free_port()
            pidf = os.path.join(self.tmp, "vw.pid")
            self.vw = T.Vibewarden(self.tmp, T.base_config(
                port, up.port, T.free_port()))
            self.vw.start(args=["-p", pidf])
            oldpid = self.vw.pid
            failures, served = [], [0]

            def load():
                while not done.is_set():
                    try:
                        with T.Client(port, 5) as c:
                            c.send(T.build_request(
                                "GET", "/echo/upgrade",
                                headers=[("Connection", "close")]))
                            r = c.read_response()
                        if r.status != 200:
                            failures.append(r.status)
                        served[0] += 1
                    except Exception as e:  # noqa: BLE001
                        failures.append(repr(e))
            th = threading.Thread(target=load)
            th.start()
            time.sleep(0.3)
            self.vw.send_signal(signal.SIGUSR2)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    with open(pidf) as f:
                        newpid = int(f.read().strip())
                    if newpid != oldpid:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            self.assertNotEqual(newpid, oldpid, "no new master")
            with open(pidf + ".oldbin") as f:
                self.assertEqual(int(f.read().strip()), oldpid)
            def workers():   # the admin process is a child too
                return [k for k in T.children_of(newpid)
                        if "admin" not in T.proc_cmdline(k)]
            end = time.monotonic() + 5
            while time.monotonic() < end and len(workers()) < 2:
                time.sleep(0.05)
            self.assertEqual(len(workers()), 2,
                             "new master has no workers")
            time.sleep(0.3)
            self.vw.send_signal(signal.SIGQUIT)   # drains the old one
            self.assertEqual(self.vw.proc.wait(15), 0)
            time.sleep(0.5)
            done.set()
            th.join(10)
            self.assertEqual(failures, [])
            self.assertGreater(served[0], 20)
            self.assertFalse(os.path.exists(pidf + ".oldbin"))
            self.assertNotIn(T.proc_state(newpid), (None, "Z"))
            with T.Client(port, 5) as c:
                c.send(T.build_request("GET", "/echo/after"))
                self.assertEqual(c.read_response().status, 200)
            os.kill(newpid, signal.SIGTERM)
            end = time.monotonic() + 10
            while time.monotonic() < end and \
                    T.proc_state(newpid) not in (None, "Z"):
                time.sleep(0.05)
            self.assertIn(T.proc_state(newpid), (None, "Z"))
            newpid = None
            self.assertFalse(os.path.exists(pidf), "pidfile left behind")
        finally:
            done.set()
            if th is not None:
                th.join(10)
            if newpid and T.proc_state(newpid) not in (None, "Z"):
                for k in T.children_of(newpid):
                    os.kill(k, signal.SIGKILL)
                os.kill(newpid, signal.SIGKILL)
            up.stop()


    def _serves_then_stops(self, port):
        """The master still answers on port, then stops cleanly."""
        with T.Client(port, 5) as c:
            c.send(T.build_request("GET", "/echo/still"))
            self.assertEqual(c.read_response().status, 200)
        self.assertEqual(self.vw.stop(), 0)

    def _signal_while_starting(self, sig):
        """Returns an on_spawn hook: send sig as soon as the master blocks
        it, which is before its first workers serve."""
        def hook(pid):
            bit = 1 << (sig - 1)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    with open("/proc/%d/status" % pid) as f:
                        blk = [ln for ln in f if ln.startswith("SigBlk:")]
                except OSError:
                    return
                if blk and int(blk[0].split()[1], 16) & bit:
                    os.kill(pid, sig)
                    return
                time.sleep(0.001)
        return hook

    def test_signal_during_startup_not_lost(self):
        """A HUP that reaches the master while its first workers are
        still starting is acted on once they serve, not dropped (an init
        script or a test that signals right after start).  USR2 takes the
        same path (early_hup, early_usr2 in master.c)."""
        up = T.Upstream(self.tmp).start()
        try:
            port = T.free_port()
            self.vw = T.Vibewarden(self.tmp, T.base_config(
                port, up.port, T.free_port()))
            self.vw.start(on_spawn=self._signal_while_starting(
                signal.SIGHUP))
            ev = self.vw.wait_event("config.reloaded")
            self.assertIsNotNone(ev, "early HUP was dropped")
            names = [e["event_type"] for e in self.vw.events()]
            self.assertLess(names.index("proxy.started"),
                            names.index("config.reloaded"))
            self.assertEqual(self.vw.stop(), 0)
        finally:
            up.stop()

    def _start_with_pidfile(self, up):
        """Start self.vw with -p; returns (port, pidfile)."""
        port = T.free_port()
        pidf = os.path.join(self.tmp, "vw.pid")
        self.vw = T.Vibewarden(self.tmp, T.base_config(
            port, up.port, T.free_port()))
        self.vw.start(args=["-p", pidf])
        return port, pidf

    def test_binary_upgrade_without_pidfile_says_why(self):
        """USR2 when the pidfile cannot be moved to PIDFILE.oldbin (here:
        someone deleted it) starts no new master, and says so instead of
        doing nothing in silence."""
        up = T.Upstream(self.tmp).start()
        try:
            port, pidf = self._start_with_pidfile(up)
            os.unlink(pidf)
            self.vw.send_signal(signal.SIGUSR2)
            ev = self.vw.wait_event("proxy.upgrade_failed", timeout=10)
            self.assertIsNotNone(ev, "USR2 ignored in silence")
            self.assertIn("rename", json.dumps(ev))
            self.assertEqual(self.vw.events("proxy.upgrade_started"), [])
            self._serves_then_stops(port)
        finally:
            up.stop()

    def test_binary_upgrade_failure_keeps_serving(self):
        """A new master that cannot start (here: the file is now invalid)
        leaves the old one serving, with its pidfile given back."""
        up = T.Upstream(self.tmp).start()
        try:
            port, pidf = self._start_with_pidfile(up)
            self.vw.write_config("server: {bogus_key: 1}\n")
            self.vw.send_signal(signal.SIGUSR2)
            self.assertIsNotNone(
                self.vw.wait_event("proxy.upgrade_failed", timeout=10),
                "no proxy.upgrade_failed event")
            with open(pidf) as f:
                self.assertEqual(int(f.read().strip()), self.vw.pid)
            self.assertFalse(os.path.exists(pidf + ".oldbin"))
            self.assertGreaterEqual(len(T.children_of(self.vw.pid)), 1)
            self._serves_then_stops(port)
        finally:
            up.stop()


# ====================================================================== review
class TestRegressions(unittest.TestCase):
    """Runtime bugs found in review (commit "Runtime fixes from review");
    each test failed against the binary before that commit."""

    def setUp(self):
        self.fx = None

    def tearDown(self):
        if self.fx:
            self.fx.close()

    def start(self, extra=None, **kw):
        self.fx = Fixture(extra, **kw)
        return self.fx

    # -- drain (SIGHUP) must not cost a keep-alive client a request -------
    def _drain_first(self, c):
        """/trickle's head is out (without Connection: close) when the
        reload starts; its body is still coming."""
        time.sleep(0.5)
        self.fx.vw.send_signal(signal.SIGHUP)
        r1 = c.read_response()
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r1.body, b"t" * 10, r1)
        return r1

    def test_drain_pipelined_request_answered(self):
        self.start({"server": {"workers": 1, "drain_timeout": "10s"}})
        with self.fx.client(8) as c:
            c.send(T.build_request("GET", "/trickle?ms=2500&n=10") +
                   T.build_request("GET", "/echo/pipelined"))
            self._drain_first(c)
            try:
                r2 = c.read_response()
            except (T.ProtocolError, OSError) as e:
                self.fail("pipelined request lost in the drain: %r" % e)
            self.assertEqual(r2.status, 200, r2)
            self.assertEqual(r2.json()["target"], "/echo/pipelined")

    def test_drain_keepalive_next_request_answered(self):
        self.start({"server": {"workers": 1, "drain_timeout": "10s"}})
        with self.fx.client(8) as c:
            c.send(T.build_request("GET", "/trickle?ms=2500&n=10"))
            self._drain_first(c)
            try:
                r2 = c.request("POST", "/echo/next", body=b"hello")
            except (T.ProtocolError, OSError) as e:
                self.fail("next keep-alive request lost in the drain: %r"
                          % e)
            self.assertEqual(r2.status, 200, r2)
            self.assertEqual(r2.json()["body_len"], 5)

    # -- an upstream connection that got its FIN must not be pooled -------
    def test_upstream_fin_with_response_not_reused(self):
        self.start({"server": {"workers": 1}})
        for i in range(5):
            r = self.fx.get("/finclose")
            self.assertEqual((r.status, r.body), (200, b"ok"), r)
            # The FIN leaves the (Python) upstream right after the answer;
            # give it time to be on the wire, so that this tests a FIN the
            # proxy has received, not the race no proxy can win (a close
            # crossing a new request on the wire).
            time.sleep(0.05)
            r2 = self.fx.get("/echo/after-fin-%d" % i, method="POST",
                             body=b"payload-%d" % i)
            self.assertEqual(r2.status, 200, "round %d: POST after an "
                             "upstream FIN got %r" % (i, r2))
            self.assertEqual(r2.json()["body_len"], len(b"payload-%d" % i))

    # -- resilience.timeout must not cut a steadily progressing upload ----
    def test_slow_upload_longer_than_upstream_timeout(self):
        self.start({"server": {"workers": 1, "body_timeout": "30s"},
                    "resilience": {"timeout": "2s"}})
        n = 8
        with self.fx.client(10) as c:
            c.send(b"POST /echo/slow-upload HTTP/1.1\r\nHost: a\r\n"
                   b"Content-Length: %d\r\n\r\n" % (n * 1000))
            t0 = time.monotonic()
            err = None
            try:
                for i in range(n):      # 4 s in all, never idle > 0.5 s
                    c.send(b"a" * 1000)
                    time.sleep(0.5)
            except OSError as e:
                err = e
            dt = time.monotonic() - t0
            try:
                r = c.read_response()
            except (T.ProtocolError, OSError) as e:
                r = e
            self.assertIsNone(err, "upload cut after %.1fs: %r (answer %r)"
                              % (dt, err, r))
            self.assertIsInstance(r, T.Response, "no answer: %r" % r)
            self.assertEqual(r.status, 200, "after %.1fs: %r" % (dt, r))
            self.assertEqual(r.json()["body_len"], n * 1000)

    # -- early answers reach a client that uploads before reading ---------
    def test_early_answer_no_reset_for_sequential_client(self):
        self.start({"body_size": {"max": 0}})   # a 32 MiB upload
        body = b"a" * (32 * MiB)
        for path, status in (("/early", 200), ("/_vibewarden/nope", 404),
                             ("/early", 200), ("/_vibewarden/nope", 404)):
            h = http.client.HTTPConnection("127.0.0.1", self.fx.port,
                                           timeout=10)
            try:
                h.request("POST", path, body=body)
                r = h.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException) as e:
                self.fail("%s: client error instead of the early answer: "
                          "%r" % (path, e))
            finally:
                h.close()
            self.assertEqual(r.status, status, (path, data[:200]))
            if path == "/early":
                self.assertEqual(data, b"early")

    # -- a WebSocket tunnel half-closes instead of ending -----------------
    def test_websocket_half_close_reply_arrives(self):
        self.start()
        w = T.WSClient(self.fx.port, "/ws?eofreply=500", timeout=8)
        try:
            self.assertTrue(w.accept_ok(), w.resp)
            w.send_frame(0x1, b"bye-frame")
            w.c.s.shutdown(socket.SHUT_WR)
            try:
                op, fin, data = w.recv_frame()
            except (T.ProtocolError, OSError) as e:
                self.fail("upstream reply after client half-close lost: %r"
                          % e)
            self.assertEqual((op, data), (0x1, b"after-eof:bye-frame"))
            self.assertTrue(w.c.is_closed(3.0), "tunnel not closed after "
                            "both sides finished")
        finally:
            w.close()

    # -- SIGTERM must not wait drain_timeout for an idle keep-alive -------
    def test_sigterm_idle_keepalive_exits_fast(self):
        self.start({"server": {"drain_timeout": "8s",
                               "idle_timeout": "120s"}})
        with self.fx.client(5) as c:
            self.assertEqual(c.request("GET", "/echo/idle").status, 200)
            t0 = time.monotonic()
            rc = self.fx.vw.stop(timeout=10)
            dt = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit status %r after %.1fs" % (rc, dt))
        self.assertLess(dt, 3.0, "stop took %.1fs with one idle keep-alive "
                        "client (drain_timeout 8s)" % dt)

    # -- out of descriptors: back off, do not spin ------------------------
    def test_stalled_log_reader_does_not_block(self):
        """stdout is a pipe nobody reads (a stalled journald or docker
        logger): requests keep flowing, and the loss is reported."""
        tmp = T.new_tmpdir()
        fifo = os.path.join(tmp, "log.fifo")
        os.mkfifo(fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        wrapper = os.path.join(tmp, "vw-fifo.sh")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec %s "$@" > %s\n' % (
                shlex.quote(os.path.abspath(T.VW_BIN)), shlex.quote(fifo)))
        os.chmod(wrapper, 0o755)

        def drain():
            out = b""
            while True:
                try:
                    chunk = os.read(rfd, 65536)
                except BlockingIOError:
                    return out
                if not chunk:
                    return out
                out += chunk
        try:
            self.start({"server": {"workers": 1, "keepalive_requests": 0}},
                       binary=wrapper, tmp=tmp)
            t0 = time.monotonic()
            # one access-log line each: far more than a 64 KiB pipe holds
            with self.fx.client(5) as c:
                for i in range(3000):
                    c.send(T.build_request("GET", "/echo/%d" % i))
                    r = c.read_response()
                    self.assertEqual(r.status, 200, r)
            self.assertLess(time.monotonic() - t0, 20)
            seen = drain()
            self.assertIn(b"request.proxied", seen)
            for _ in range(20):
                self.assertEqual(self.fx.get("/echo/after").status, 200)
                time.sleep(0.1)
                seen += drain()
                if b"log.dropped" in seen:
                    break
            self.assertIn(b"log.dropped", seen)
            # lines are dropped whole: every line is valid JSON
            for line in seen.splitlines():
                json.loads(line)
        finally:
            os.close(rfd)

    def test_upstream_stall_mid_body_is_logged(self):
        """An upstream that stops mid-body past resilience.timeout: the
        client connection is closed (part of the answer is out) and the
        request still gets its one log event."""
        self.start({"resilience": {"timeout": "1s"}})
        with self.fx.client(10) as c:
            c.send(T.build_request("GET", "/trickle?ms=6000&n=2",
                                   headers=[("X-Request-Id", "stall-mid")]))
            with self.assertRaises((T.ProtocolError, OSError)):
                c.read_response()
        ev = self.fx.vw.wait_event(
            "upstream.timeout", lambda e: e.get("request_id") == "stall-mid",
            timeout=5)
        self.assertIsNotNone(ev, "aborted request left no log event")
        # the head went out as 200; the log says the answer was cut
        self.assertEqual(ev["payload"]["status"], 200)
        self.assertEqual(ev["severity"], "medium")
        self.assertEqual(ev["outcome"], "failed")
        self.assertEqual(len([e for e in self.fx.vw.events()
                              if e.get("request_id") == "stall-mid"]), 1)

    def test_emfile_no_spin(self):
        tmp = T.new_tmpdir()
        wrapper = os.path.join(tmp, "vw-lowfd.sh")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nulimit -n 48 || exit 1\nexec %s \"$@\"\n"
                    % shlex.quote(os.path.abspath(T.VW_BIN)))
        os.chmod(wrapper, 0o755)
        # long header/idle timeouts: the connections must stay open
        self.start({"server": {"workers": 1, "header_timeout": "30s",
                               "idle_timeout": "30s"}},
                   binary=wrapper, tmp=tmp)
        vw = self.fx.vw
        w = vw.workers()
        self.assertEqual(len(w), 1, w)
        w = w[0]
        hz = os.sysconf("SC_CLK_TCK")

        def ticks():
            with open("/proc/%d/stat" % w) as f:
                st = f.read().rsplit(")", 1)[1].split()
            return int(st[11]) + int(st[12])
        socks = []
        try:
            for i in range(80):
                socks.append(socket.create_connection(
                    ("127.0.0.1", self.fx.port), timeout=5))
            # With 48 descriptors the worker caps itself at (48 - 32) / 2
            # clients, so that each can still reach the upstream; the
            # rest wait in the backlog.  Either way it must not spin.
            def paused():
                out = vw.stdout()
                return out.count("worker.accept_paused") + \
                    out.count("worker.max_connections")
            end = time.monotonic() + 3
            while time.monotonic() < end and not paused():
                time.sleep(0.05)
            c0 = ticks()
            n0 = paused()
            time.sleep(2)
            c1 = ticks()
            n1 = paused()
        finally:
            for s in socks:
                s.close()
        self.assertLess(c1 - c0, hz // 2, "worker used %d CPU ticks in 2 s "
                        "(%d/s = one core) while out of descriptors"
                        % (c1 - c0, hz))
        self.assertGreaterEqual(n1, 1, "never ran out of descriptors?")
        # logged once per episode, not per 100 ms retry or loop turn
        self.assertLessEqual(n1 - n0, 1, "%d accept_paused lines in 2 s"
                             % (n1 - n0))
        end = time.monotonic() + 5
        r = None
        while time.monotonic() < end:
            try:
                r = self.fx.get("/echo/after-emfile")
                break
            except (T.ProtocolError, OSError):
                time.sleep(0.2)
        self.assertIsNotNone(r, "no answer after the descriptors came back")
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    if not (os.path.isfile(T.VW_BIN) and os.access(T.VW_BIN, os.X_OK)):
        sys.stderr.write("test_proxy.py: VW_BIN=%s is not an executable\n"
                         % T.VW_BIN)
        sys.exit(1)
    unittest.main(verbosity=int(os.environ.get("VW_VERBOSE", "1")))
