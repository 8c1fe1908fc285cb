#!/usr/bin/env python3
"""Attacks on the WAF stage (issue 14) from outside: inputs the inspection
missed or mishandled.  Each test sends what an attacker would and expects
the request to be blocked (block mode) or the event to stay one line.
Loopback only; every process started here is stopped by PID.
"""

import hashlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vwtest as T  # noqa: E402
import test_proxy as P  # noqa: E402

FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON = ("Content-Type", "application/json")
CHUNKED = ("Transfer-Encoding", "chunked")


class Fixture(P.Fixture):
    def __init__(self, waf, log=None):
        super().__init__(dict({"waf": waf}, **({"log": log} if log else {})))


def blocked(r):
    return r.status == 403 and r.json().get("error") == "waf_blocked"


class TestBlockEvasion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture({"enabled": True, "mode": "block"})

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def assertBlocked(self, r, what):
        self.assertTrue(blocked(r), "%s: not blocked: %r" % (what, r))

    def test_parameter_without_value(self):
        # "?<script>..." has no '=': the application that reads the raw
        # query string (or its keys) gets the attack; it was never
        # inspected.
        fx = self.fx
        n0 = fx.upstream_count()
        self.assertBlocked(fx.req("GET", "/echo?%3Cscript%3Ealert(1)%3C/"
                                  "script%3E"), "valueless query")
        self.assertBlocked(fx.req("GET", "/echo?a=1&..%2F..%2Fetc%2Fpasswd"),
                           "valueless second parameter")
        self.assertBlocked(fx.req("POST", "/echo", [FORM],
                                  b"a=1&%27%20union%20select%20password%20"
                                  b"from%20users--"), "valueless form")
        self.assertBlocked(fx.req("GET", "/echo", [("Cookie",
                                  "a=b; <script>alert(1)</script>")]),
                           "valueless cookie")
        self.assertEqual(fx.upstream_count(), n0)

    def test_parameter_name(self):
        # Keys are data too: frameworks hand them to the application
        # (PHP's $_GET keys, ORMs' dynamic columns).
        fx = self.fx
        self.assertBlocked(fx.req("GET", "/echo?x%3Cscript%3Ealert(1)%3C/"
                                  "script%3E=1"), "attack in a query name")
        self.assertBlocked(fx.req("POST", "/echo", [JSON],
                                  b'{"1 union select password from users'
                                  b'--": 1}'), "attack in a JSON key")

    def test_content_type_with_whitespace(self):
        # "type \t; charset" is the same media type to every framework
        # (RFC 9110 8.3.1 allows OWS before ';'); it was not read.
        fx = self.fx
        for ct in ("application/x-www-form-urlencoded\t; charset=utf-8",
                   "application/x-www-form-urlencoded ;charset=utf-8",
                   "Application/X-WWW-Form-Urlencoded;Charset=UTF-8"):
            r = fx.req("POST", "/echo", [("Content-Type", ct)],
                       b"q=%3Cscript%3Ealert(1)%3C/script%3E")
            self.assertBlocked(r, ct)
        r = fx.req("POST", "/echo", [("Content-Type",
                                      "application/json\t; charset=utf-8")],
                   b'{"q":"<script>alert(1)</script>"}')
        self.assertBlocked(r, "json with a tab")

    def test_content_type_twice(self):
        # Two Content-Type fields, or two types in one: the WAF read the
        # first (text/plain: not inspected) while servers hand the
        # application the last, or both joined with ", ".
        fx = self.fx
        n0 = fx.upstream_count()
        b = b"q=%3Cscript%3Ealert(1)%3C/script%3E"
        for hs in ([("Content-Type", "text/plain"), FORM],
                   [("Content-Type", "text/plain, application/"
                     "x-www-form-urlencoded")],
                   [("Content-Type", "text/plain"), JSON]):
            body = b if hs[-1] != JSON else b'{"q":"<script>alert(1)"}'
            self.assertBlocked(fx.req("POST", "/echo", hs, body), hs)
        self.assertEqual(fx.upstream_count(), n0)

    def test_chunked_small_chunks_within_8k(self):
        # The hold before connecting counted wire bytes: with one-byte
        # chunks (6 wire bytes each) only what fits in the read buffer
        # (~5 KiB of payload) was inspected, not the first 8 KiB.
        fx = self.fx
        n0 = fx.upstream_count()
        body = b'{"pad":"' + b"x" * 7000 + b'","q":"<script>alert(1)' \
            b'</script>"}'
        self.assertLess(len(body), 8192)
        r = fx.req("POST", "/echo", [JSON, CHUNKED],
                   T.chunk_encode(body, [1]))
        self.assertBlocked(r, "attack at payload byte 7000 in 1-byte chunks")
        self.assertEqual(fx.upstream_count(), n0)

    def test_chunked_small_chunks_benign_intact(self):
        # The buffer grows to hold 8 KiB of payload in small chunks; the
        # body still reaches the upstream whole, byte-identical.
        fx = self.fx
        body = b'{"text":"' + b"plain words " * 1500 + b'"}'
        r = fx.req("POST", "/echo", [JSON, CHUNKED],
                   T.chunk_encode(body, [1, 2, 3]))
        self.assertEqual(r.status, 200, r)
        rec = fx.up.requests()[-1]
        self.assertEqual(rec["body_sha256"],
                         hashlib.sha256(body).hexdigest())

    def test_chunked_dense_framing_refused(self):
        # One payload byte per 1 KiB of chunk extensions: 8 KiB of
        # payload would need 8 MiB held.  Refused, never passed on.
        fx = self.fx
        n0 = fx.upstream_count()
        ext = b";e=" + b"v" * 1000
        body = b"".join(b"1" + ext + b"\r\n" + bytes([c]) + b"\r\n"
                        for c in b"q=" + b"x" * 200) + b"0\r\n\r\n"
        r = fx.req("POST", "/echo", [FORM, CHUNKED], body)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(fx.upstream_count(), n0)

    def test_overlong_and_comment_evasions(self):
        fx = self.fx
        for q in ("f=..%c0%af..%c0%afvar%c0%aflog",
                  "id=1%20/*!50000UNION*/%20/*!50000SELECT*/%201,2",
                  "id=1%20UNION--%0aSELECT%20password%20FROM%20users",
                  "id=1%20UNION%23x%0aSELECT%20password%20FROM%20users",
                  "id=1%20UNION/*" + "x" * 60 +
                  "*/SELECT%20password%20FROM%20users",
                  "id=1'or'1'='1", "h=x;w%5Cho%5Cami",
                  "h=x;c''at%20/tmp/x", "h=x;/???/c?t%20/???/p??s??"):
            self.assertBlocked(fx.req("GET", "/echo?" + q), q)


class TestTextLog(unittest.TestCase):
    def test_name_cannot_forge_a_log_line(self):
        # The text log's summary carried the decoded parameter name raw:
        # "%0a" in a name started a forged line.
        fx = Fixture({"enabled": True, "mode": "detect"},
                     {"format": "text"})
        try:
            r = fx.req("GET", "/echo?x%0a2030-01-01T00:00:00Z%20INFO%20"
                       "forged.event%20ok%0d=%3Cscript%3E")
            self.assertEqual(r.status, 200, r)
            fx.vw.stop()
            out = fx.vw.stdout() + fx.vw.stderr()
            self.assertIn("audit.waf.detection", out)
            for line in out.splitlines():
                self.assertFalse(line.startswith("2030-01-01"),
                                 "forged log line: %r" % line)
                self.assertNotIn("\r", line)
        finally:
            fx.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
