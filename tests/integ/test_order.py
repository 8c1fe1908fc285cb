#!/usr/bin/env python3
"""The pipeline order of SPEC.md 5, end to end: one daemon with every
request stage on, and requests that each break the rules of one stage
and of every stage after it.  The stage that answers must be the first
one, so each row names the answer it expects (status and error code).

Order under test: IP filter (at accept) > CORS preflight > input
validation > body size > per-IP rate limit > content type > WAF > CSRF >
webhook signature > authentication > per-user rate limit > proxy."""
import hashlib
import hmac
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vwtest as T  # noqa: E402

KEY = "order-test-key-0123456789"
SECRET = "order-webhook-secret"
EVIL = "https://evil.example"
ATTACK = "/api?q=%27%20OR%201%3D1--"


class TestPipelineOrder(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.new_tmpdir()
        cls.up = T.Upstream(cls.tmp).start()
        cls.port = T.free_port()
        cfg = T.base_config(cls.port, cls.up.port)
        cfg["server"]["workers"] = 1
        T.deep_update(cfg, {
            "shm": {"path": os.path.join(cls.tmp, "shm"),
                    "map_size": "8MB"},
            "ip_filter": {"enabled": True, "mode": "blocklist",
                          "addresses": ["127.0.0.3"]},
            "cors": {"enabled": True,
                     "allowed_origins": ["https://app.example"]},
            "input_validation": {"enabled": True, "max_header_size": 200},
            "body_size": {"max": 1000},
            "rate_limit": {"enabled": True,
                           "per_ip": {"requests_per_second": 0.01,
                                      "burst": 3},
                           "per_user": {"requests_per_second": 0.01,
                                        "burst": 2}},
            "waf": {"enabled": True, "mode": "block",
                    "content_type_validation": {"enabled": True}},
            "csrf": {"enabled": True},
            "webhooks": {"signature_verification": {"enabled": True,
                         "paths": [{"path": "/wh", "provider": "generic",
                                    "secret_env_var": "VW_T_ORDER",
                                    "header": "X-Signature"}]}},
            "auth": {"enabled": True, "mode": "api-key",
                     "public_paths": ["/wh"],
                     "api_key": {"keys": [{
                         "name": "order",
                         "hash": hashlib.sha256(KEY.encode()).hexdigest(),
                         "scopes": ["all"]}]}},
        })
        cls.vw = T.Vibewarden(cls.tmp, cfg)
        # JSON is YAML too, and holds lists of mappings.
        cls.vw.write_config(json.dumps(cfg, indent=1) + "\n")
        cls.vw.start(env={"VW_T_ORDER": SECRET})
        cls.src = 10

    @classmethod
    def tearDownClass(cls):
        cls.vw.stop()
        cls.up.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fresh_src(self):
        """A source address of its own, so that rows do not share a
        per-IP bucket."""
        type(self).src += 1
        return "127.0.0.%d" % type(self).src

    def send(self, method, target, headers, body=None, src=None):
        with T.Client(self.port, src=src or self.fresh_src()) as c:
            return c.request(method, target, headers, body)

    def expect(self, r, status, code):
        self.assertEqual(r.status, status, r)
        if code is not None:
            self.assertEqual(r.json()["error"], code, r)

    # Faults, from the last stage to the first: each row adds one.
    def faults(self, upto):
        hs = []
        if upto <= 10:          # CSRF: a cookie and a foreign Origin
            hs += [("Cookie", "sid=1"), ("Origin", EVIL)]
        if upto <= 6:           # content type: not one a form sends
            hs += [("Content-Type", "text/plain")]
        else:
            hs += [("Content-Type", "application/json")]
        if upto <= 3:           # input validation: one header too long
            hs += [("X-Long", "v" * 300)]
        return hs

    def test_01_ip_filter_first(self):
        """A blocked peer is closed before anything is read."""
        with self.assertRaises((T.ProtocolError, OSError)):
            self.send("POST", ATTACK, self.faults(1), b"x" * 2000,
                      src="127.0.0.3")

    def test_02_cors_preflight(self):
        hs = self.faults(2) + [("Access-Control-Request-Method", "POST")]
        r = self.send("OPTIONS", ATTACK, hs)
        self.expect(r, 403, "cors_origin_not_allowed")

    def test_03_input_validation(self):
        r = self.send("POST", ATTACK, self.faults(3), b"x" * 2000)
        self.expect(r, 400, "input_validation_failed")

    def test_04_body_size(self):
        r = self.send("POST", ATTACK, self.faults(4), b"x" * 2000)
        self.expect(r, 413, None)

    def test_05_rate_limit_per_ip(self):
        src = self.fresh_src()
        for _ in range(3):      # the burst, whatever the answers
            self.send("POST", ATTACK, self.faults(5), b"x", src=src)
        r = self.send("POST", ATTACK, self.faults(5), b"x", src=src)
        self.expect(r, 429, "rate_limit_exceeded")

    def test_06_content_type(self):
        r = self.send("POST", ATTACK, self.faults(6), b"x")
        self.expect(r, 415, None)

    def test_07_waf(self):
        r = self.send("POST", ATTACK, self.faults(7), b"{}")
        self.expect(r, 403, "waf_blocked")

    def test_08_csrf(self):
        r = self.send("POST", "/api", self.faults(8), b"{}")
        self.expect(r, 403, "csrf_rejected")

    def test_09_webhook(self):
        hs = self.faults(11) + [("X-Signature", "00")]
        r = self.send("POST", "/wh", hs, b"{}")
        self.assertEqual(r.status, 401, r)
        self.assertIn("signature", r.body.decode().lower())

    def test_10_auth(self):
        r = self.send("POST", "/api", self.faults(11), b"{}")
        self.expect(r, 401, None)
        self.assertIsNotNone(r.header("WWW-Authenticate"))

    def test_11_rate_limit_per_user(self):
        hs = self.faults(12) + [("X-API-Key", KEY)]
        got = [self.send("POST", "/api", hs, b"{}").status
               for _ in range(3)]
        self.assertEqual(got[:2], [200, 200], got)
        self.assertEqual(got[2], 429, got)

    def test_12_nothing_wrong_reaches_the_upstream(self):
        sig = hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest()
        hs = self.faults(12) + [("X-Signature", sig)]
        r = self.send("POST", "/wh", hs, b"{}")
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
