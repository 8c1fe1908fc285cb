#!/usr/bin/env python3
"""Integration tests for issue 12 items 5-8: input and content-type
validation, maintenance mode, response-header rules and webhook signature
verification, against the real binary and the real test upstream.
Signatures are computed here with hmac/hashlib.  Loopback only; every
process started here is stopped by PID.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vwtest as T  # noqa: E402

SECRETS = {"VW_T_STRIPE": "whsec_stripe_test", "VW_T_GITHUB": "gh-secret",
           "VW_T_SLACK": "slack-signing", "VW_T_TWILIO": "twilio-token",
           "VW_T_GENERIC": "generic-key"}


class Fixture:
    def __init__(self, extra, env=None):
        self.tmp = T.new_tmpdir()
        self.up = self.vw = None
        try:
            self.up = T.Upstream(self.tmp).start()
            self.port = T.free_port()
            cfg = T.base_config(self.port, self.up.port)
            cfg["server"]["workers"] = 1
            T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg)
            # JSON is YAML too, and holds lists of mappings.
            self.vw.write_config(json.dumps(cfg, indent=1) + "\n")
            self.vw.start(env=env)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.vw:
            self.vw.stop()
        if self.up:
            self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def req(self, method="GET", target="/echo", headers=None, body=None):
        with T.Client(self.port) as c:
            return c.request(method, target, headers, body)

    def upstream_count(self):
        return len(self.up.requests())


# ------------------------------------------------------------ validation

class TestInputValidation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fixture({
            "input_validation": {
                "enabled": True, "max_url_length": 100,
                "max_query_string_length": 50, "max_header_count": 20,
                "max_header_size": 200,
                "path_overrides": [{"path": "/big/*",
                                    "max_url_length": 300,
                                    "max_header_size": 400}]},
            "waf": {"content_type_validation": {"enabled": True}},
        })

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def refused(self, r, msg):
        self.assertEqual(r.status, 400, r)
        j = r.json()
        self.assertEqual(j["error"], "input_validation_failed")
        self.assertEqual(j["message"], msg)

    def test_url_length_boundary(self):
        n0 = self.f.upstream_count()
        self.assertEqual(self.f.req(target="/u" + "a" * 98).status, 200)
        self.refused(self.f.req(target="/u" + "a" * 99),
                     "request URI length 101 exceeds maximum 100")
        self.assertEqual(self.f.upstream_count(), n0 + 1)

    def test_query_length_boundary(self):
        self.assertEqual(self.f.req(target="/q?" + "b" * 50).status, 200)
        self.refused(self.f.req(target="/q?" + "b" * 51),
                     "query string length 51 exceeds maximum 50")

    def test_header_count_boundary(self):
        hs = [("X-H-%d" % i, "v") for i in range(20)]
        self.assertEqual(self.f.req(headers=hs).status, 200)
        # Repeated names count once, as distinct names.
        self.assertEqual(self.f.req(headers=hs + hs[:5]).status, 200)
        self.refused(self.f.req(headers=hs + [("X-H-20", "v")]),
                     "header count 21 exceeds maximum 20")

    def test_header_size_boundary(self):
        self.assertEqual(self.f.req(headers=[("X-Long", "v" * 200)]).status,
                         200)
        self.refused(self.f.req(headers=[("X-Long", "v" * 201)]),
                     "header value length 201 exceeds maximum 200")

    def test_path_override(self):
        t = "/big/" + "c" * 295
        self.assertEqual(self.f.req(target=t).status, 200)
        self.refused(self.f.req(target=t + "c"),
                     "request URI length 301 exceeds maximum 300")
        self.assertEqual(self.f.req(target="/big/x", headers=[
            ("X-Long", "v" * 400)]).status, 200)
        self.refused(self.f.req(target="/big/x", headers=[
            ("X-Long", "v" * 401)]),
            "header value length 401 exceeds maximum 400")
        # Fields the override leaves at 0 keep the global limit.
        self.refused(self.f.req(target="/big/x?" + "q" * 51),
                     "query string length 51 exceeds maximum 50")

    def test_internal_routes_exempt(self):
        r = self.f.req(target="/_vibewarden/health", headers=[
            ("X-Long", "v" * 500)])
        self.assertEqual(r.status, 200)

    def test_content_type(self):
        n0 = self.f.upstream_count()
        r = self.f.req("POST", "/echo", [("Content-Type", "text/plain")],
                       b"x")
        self.assertEqual(r.status, 415, r)
        self.assertEqual(r.json()["error"], "unsupported_media_type")
        self.assertEqual(r.json()["message"],
                         "Content-Type text/plain is not allowed")
        r = self.f.req("PATCH", "/echo", None, b"x")
        self.assertEqual(r.status, 415, r)
        self.assertEqual(r.json()["message"],
                         "Content-Type header is required for PATCH "
                         "requests")
        self.assertEqual(self.f.upstream_count(), n0)
        for ct in ("application/json; charset=utf-8", "Application/JSON",
                   "multipart/form-data; boundary=x",
                   "application/x-www-form-urlencoded"):
            r = self.f.req("PUT", "/echo", [("Content-Type", ct)], b"{}")
            self.assertEqual(r.status, 200, (ct, r))
        # Methods without a body are not checked.
        self.assertEqual(self.f.req("GET", "/echo").status, 200)
        self.assertEqual(self.f.req("DELETE", "/echo").status, 200)

    def test_content_type_twice(self):
        """Attack: an allowed Content-Type followed by a refused one
        passed (the check read the first) and both were forwarded; an
        application that keeps the last (gunicorn) parsed the body as the
        refused type (XML, say).  Two Content-Type fields are 415."""
        n0 = self.f.upstream_count()
        for cts in (("application/json", "text/xml"),
                    ("text/xml", "application/json"),
                    ("application/json", "application/json")):
            with self.subTest(cts=cts):
                r = self.f.req("POST", "/echo", [("Content-Type", ct)
                                                 for ct in cts], b"{}")
                self.assertEqual(r.status, 415, r)
                self.assertEqual(r.json()["message"],
                                 "more than one Content-Type field")
        self.assertEqual(self.f.upstream_count(), n0)


# ------------------------------------------------------------ maintenance

class TestMaintenance(unittest.TestCase):
    def test_on_and_off_by_sighup(self):
        f = Fixture({"maintenance": {"enabled": False,
                                     "message": "back at noon"}})
        try:
            self.assertEqual(f.req().status, 200)
            f.vw.cfg["maintenance"]["enabled"] = True
            f.vw.write_config()
            f.vw.send_signal(signal.SIGHUP)
            self.assertIsNotNone(f.vw.wait_event("config.reloaded", timeout=8))
            r = self.wait_status(f, 503)
            j = r.json()
            self.assertEqual(j["error"], "maintenance")
            self.assertEqual(j["message"], "back at noon")
            self.assertEqual(r.header("Content-Type"), "application/json")
            n0 = f.upstream_count()
            self.assertEqual(f.req("POST", "/x", None, b"abc").status, 503)
            self.assertEqual(f.upstream_count(), n0)
            # Health and readiness still answer.
            self.assertEqual(f.req(target="/_vibewarden/health").status, 200)
            self.assertEqual(f.req(target="/_vibewarden/ready").status, 200)
            self.assertIsNotNone(f.vw.wait_event(
                "maintenance.request_blocked"))
            f.vw.cfg["maintenance"]["enabled"] = False
            f.vw.write_config()
            f.vw.send_signal(signal.SIGHUP)
            self.wait_status(f, 200)
        finally:
            f.close()

    def wait_status(self, f, want):
        end = time.monotonic() + 8
        r = None
        while time.monotonic() < end:
            r = f.req()
            if r.status == want:
                return r
            time.sleep(0.1)
        self.fail("never got %d: %r" % (want, r))


# ------------------------------------------------------------ response hdrs

class TestResponseHeaders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fixture({"response_headers": {
            "set": {"X-Frame-Options": "SAMEORIGIN",
                    "Content-Type": "text/plain"},
            "add": {"X-Upstream-Conn": "extra", "X-Added": "yes"},
            "remove": ["Referrer-Policy", "X-Secret"]}})

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def test_rules_on_proxied(self):
        r = self.f.req(target="/echo")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header_all("Content-Type"), ["text/plain"])
        self.assertEqual(r.header_all("X-Frame-Options"), ["SAMEORIGIN"])
        self.assertIsNone(r.header("Referrer-Policy"))
        self.assertEqual(len(r.header_all("X-Upstream-Conn")), 2)
        self.assertIn("extra", r.header_all("X-Upstream-Conn"))
        self.assertEqual(r.header_all("X-Added"), ["yes"])
        # Other security headers stay.
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        # The upstream's own X-Frame-Options is replaced too.
        r = self.f.req(target="/headers-out?own=1")
        self.assertEqual(r.header_all("X-Frame-Options"), ["SAMEORIGIN"])

    def test_rules_on_own_answers(self):
        r = self.f.req(target="/_vibewarden/health")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header_all("Content-Type"), ["text/plain"])
        self.assertEqual(r.header_all("X-Frame-Options"), ["SAMEORIGIN"])
        self.assertIsNone(r.header("Referrer-Policy"))
        self.assertEqual(r.header_all("X-Added"), ["yes"])

    def test_framing_fields_refused(self):
        tmp = T.new_tmpdir()
        try:
            for k, v in (("set", {"Content-Length": "1"}),
                         ("add", {"Transfer-Encoding": "chunked"}),
                         ("remove", ["Connection"]),
                         ("set", {"Bad Name": "x"})):
                cfg = T.base_config(T.free_port(), T.free_port())
                cfg["response_headers"] = {k: v}
                p = os.path.join(tmp, "c.yaml")
                with open(p, "w") as fh:
                    fh.write(T.to_yaml(cfg) + "\n")
                rc, _, err = T.run_check(p)
                self.assertEqual(rc, 1, (k, v, err))
                self.assertIn("response_headers.", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class TestHeadersNeverSilentlyDropped(unittest.TestCase):
    """Security headers and rules reach the client whole, or not at all."""
    CSP = "default-src 'self' " + " ".join(
        "https://cdn%d.example.com" % i for i in range(200))

    @classmethod
    def setUpClass(cls):
        cls.f = Fixture({
            "security_headers": {"content_security_policy": cls.CSP},
            "response_headers": {"set": {"X-Rule": "r" * 200}}})

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def test_long_policy_whole(self):
        """A policy over 4 KB was cut at 4 KB (its later directives,
        frame-ancestors among them, lost) and lost its CRLF, so the
        X-Frame-Options line after it joined its value."""
        r = self.f.req(target="/echo")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header_all("Content-Security-Policy"), [self.CSP])
        self.assertEqual(r.header_all("X-Frame-Options"), ["DENY"])
        # Built from the csp lists: frame-ancestors comes last.
        hosts = ["https://s%d.example.com" % i for i in range(200)]
        f = Fixture({"security_headers": {"csp": {
            "default_src": ["'self'"], "script_src": hosts,
            "frame_ancestors": ["'none'"]}}})
        try:
            r = f.req(target="/_vibewarden/health")
            self.assertEqual(r.header_all("Content-Security-Policy"), [
                "default-src 'self'; script-src " + " ".join(hosts) +
                "; frame-ancestors 'none'"])
            self.assertEqual(r.header_all("X-Frame-Options"), ["DENY"])
        finally:
            f.close()

    def test_all_or_502(self):
        """Attack: an upstream answer whose head nearly fills the client
        head buffer (an application reflecting input into a header can be
        made to send one of a chosen size) went out 200 without the
        security headers, CORS or response_headers lines that no longer
        fit: they were skipped silently.  Now such an answer is 502."""
        seen = set()
        for pad in range(28000, 33000, 100):
            r = self.f.req(target="/pad?n=%d" % pad)
            seen.add(r.status)
            if r.status == 200:
                self.assertEqual(r.header("Content-Security-Policy"),
                                 self.CSP, pad)
                self.assertEqual(r.header("X-Rule"), "r" * 200, pad)
                self.assertEqual(r.header("X-Content-Type-Options"),
                                 "nosniff", pad)
            else:
                self.assertEqual(r.status, 502, pad)
        self.assertEqual(seen, {200, 502})


# ------------------------------------------------------------ webhooks

def hexmac(secret, data, alg=hashlib.sha256):
    return hmac.new(secret.encode(), data, alg).hexdigest()


class TestWebhooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        paths = [
            {"path": "/wh/stripe", "provider": "stripe",
             "secret_env_var": "VW_T_STRIPE"},
            {"path": "/wh/github", "provider": "github",
             "secret_env_var": "VW_T_GITHUB"},
            {"path": "/wh/slack", "provider": "slack",
             "secret_env_var": "VW_T_SLACK"},
            {"path": "/wh/twilio", "provider": "twilio",
             "secret_env_var": "VW_T_TWILIO"},
            {"path": "/wh/generic", "provider": "generic",
             "secret_env_var": "VW_T_GENERIC", "header": "X-Signature"},
        ]
        cls.f = Fixture({"webhooks": {"signature_verification": {
            "enabled": True, "paths": paths}},
            "server": {"body_timeout": "1s"}}, env=SECRETS)

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    BODY = b'{"id":"evt_1","data":{"amount":4200,"note":"caf\xc3\xa9 \\n"}}'

    def sign(self, prov, body, ts=None, bad=False):
        """Signature headers for prov over body (bad: a wrong secret)."""
        sec = SECRETS["VW_T_" + prov.upper()] + ("x" if bad else "")
        ts = str(int(time.time()) if ts is None else ts)
        if prov == "stripe":
            return [("Stripe-Signature", "t=%s,v1=%s,v0=zz" % (
                ts, hexmac(sec, ts.encode() + b"." + body)))]
        if prov == "github":
            return [("X-Hub-Signature-256", "sha256=" + hexmac(sec, body))]
        if prov == "slack":
            return [("X-Slack-Request-Timestamp", ts),
                    ("X-Slack-Signature", "v0=" + hexmac(
                        sec, b"v0:" + ts.encode() + b":" + body))]
        if prov == "twilio":
            return [("X-Twilio-Signature", self.twilio(sec, body))]
        return [("X-Signature", hexmac(sec, body))]

    @staticmethod
    def twilio(sec, body):
        from urllib.parse import parse_qsl
        first = {}
        for k, v in parse_qsl(body.decode(), keep_blank_values=True):
            first.setdefault(k, v)
        data = "http://example.test/wh/twilio" + "".join(
            k + first[k] for k in sorted(first))
        return base64.b64encode(hmac.new(sec.encode(), data.encode(),
                                         hashlib.sha1).digest()).decode()

    def body_for(self, prov):
        if prov in ("slack", "twilio"):
            return b"To=%2B1555&From=%2B1666&Body=hi+there&Body=second&a="
        return self.BODY

    def ctype(self, prov):
        return ("application/x-www-form-urlencoded"
                if prov in ("slack", "twilio") else "application/json")

    def post(self, prov, body, sig, target=None):
        return self.f.req("POST", target or "/wh/" + prov,
                          [("Content-Type", self.ctype(prov))] + sig, body)

    def assert_forwarded(self, r, body):
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["body_len"], len(body))
        self.assertEqual(j["body_sha256"], hashlib.sha256(body).hexdigest())

    def assert_refused(self, r, n0, why):
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "unauthorized")
        self.assertIn(why, r.json()["message"])
        self.assertEqual(self.f.upstream_count(), n0)

    def test_providers(self):
        for prov in ("stripe", "github", "slack", "twilio", "generic"):
            with self.subTest(prov=prov):
                body = self.body_for(prov)
                self.assert_forwarded(self.post(prov, body, self.sign(
                    prov, body)), body)
                n0 = self.f.upstream_count()
                self.assert_refused(self.post(prov, body, self.sign(
                    prov, body, bad=True)), n0,
                    "(%s: signature mismatch)" % prov)
                self.assert_refused(self.post(prov, body, []), n0,
                                    "(%s: signature header missing)" % prov)
                # The signature of another body does not do.
                self.assert_refused(self.post(prov, body + b"1", self.sign(
                    prov, body)), n0, "signature mismatch")
        self.assertIsNotNone(self.f.vw.wait_event(
            "webhook.signature_invalid"))

    def test_twilio_json_and_forged_bodies(self):
        """Twilio signs a JSON body's URL with its bodySHA256 parameter:
        forwarded when the body hashes to it, refused otherwise.  A
        signature of the URL alone (a request without a body) does not
        carry another body that is no form (the original let one
        captured signature carry any such body)."""
        sec = SECRETS["VW_T_TWILIO"]
        body = b'{"To": "+1555", "Body": "hi"}'
        target = "/wh/twilio?bodySHA256=" + hashlib.sha256(body).hexdigest()

        def sig(url):
            return [("X-Twilio-Signature", base64.b64encode(hmac.new(
                sec.encode(), ("http://example.test" + url).encode(),
                hashlib.sha1).digest()).decode())]
        j = ("Content-Type", "application/json")
        r = self.f.req("POST", target, [j] + sig(target), body)
        self.assert_forwarded(r, body)
        n0 = self.f.upstream_count()
        self.assert_refused(self.f.req("POST", target, [j] + sig(target),
                                       body.replace(b"hi", b"ho")), n0,
                            "signature mismatch")
        url_only = sig("/wh/twilio")
        self.assert_forwarded(self.f.req("POST", "/wh/twilio", url_only,
                                         b""), b"")
        n0 = self.f.upstream_count()
        for forged in (b"Body=evil;From=x", b"Body=%zz", body):
            self.assert_refused(self.f.req("POST", "/wh/twilio", [
                ("Content-Type", "application/x-www-form-urlencoded")] +
                url_only, forged), n0, "signature mismatch")

    def test_stale_timestamps(self):
        for prov in ("stripe", "slack"):
            with self.subTest(prov=prov):
                body = self.body_for(prov)
                n0 = self.f.upstream_count()
                old = int(time.time()) - 301 - 5
                self.assert_refused(self.post(prov, body, self.sign(
                    prov, body, ts=old)), n0, "timestamp outside tolerance")
                future = int(time.time()) + 301 + 5
                self.assert_refused(self.post(prov, body, self.sign(
                    prov, body, ts=future)), n0,
                    "timestamp outside tolerance")
                # Within the tolerance: accepted.
                self.assert_forwarded(self.post(prov, body, self.sign(
                    prov, body, ts=int(time.time()) - 200)), body)

    def test_other_paths_untouched(self):
        r = self.f.req("POST", "/wh/github/sub", [("Content-Type",
                                                   "application/json")],
                       b"{}")
        self.assertEqual(r.status, 200)

    def test_path_spellings_checked(self):
        """Attack: a forged call to another spelling of a webhook path,
        which the application's router takes for the same route (Express
        and Rails ignore a final '/', Express and ASP.NET case, Tomcat and
        Spring ";params"), was forwarded unchecked.  Each is checked now;
        the real provider's spelling still passes, other paths do not."""
        body = self.BODY
        for p in ("/wh/github/", "/WH/GitHub", "/wh/github;jsessionid=1",
                  "/wh;x/github", "/wh/github;x/", "/Wh/GitHub/"):
            with self.subTest(path=p):
                n0 = self.f.upstream_count()
                self.assert_refused(self.post("github", body, [],
                                              target=p), n0,
                                    "signature header missing")
                self.assert_forwarded(self.post("github", body, self.sign(
                    "github", body), target=p), body)
        for p in ("/wh/githubx", "/wh/git", "/wh/github/x", "/wh/github;x/y",
                  "/wh//github/x"):
            with self.subTest(other=p):
                r = self.post("github", body, [], target=p)
                self.assertEqual(r.status, 200, r)

    def test_chunked_body(self):
        body = bytes(range(256)) * 40
        with T.Client(self.f.port) as c:
            c.send(T.build_request("POST", "/wh/github", [
                ("Content-Type", "application/json"),
                ("Transfer-Encoding", "chunked")] + self.sign("github", body),
                T.chunk_encode(body, [1, 100, 5000, 3000])))
            self.assert_forwarded(c.read_response("POST"), body)

    def test_large_body_and_keepalive(self):
        """A body far larger than the client buffer is held whole, then
        forwarded unchanged; the connection serves the next request."""
        body = os.urandom(300 * 1024)
        with T.Client(self.f.port) as c:
            c.send(T.build_request("POST", "/wh/generic", [
                ("Content-Type", "application/json")] +
                self.sign("generic", body), body) +
                T.build_request("GET", "/echo/next"))
            self.assert_forwarded(c.read_response("POST"), body)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["target"], "/echo/next")

    def test_expect_continue(self):
        body = self.BODY
        with T.Client(self.f.port) as c:
            head = T.build_request("POST", "/wh/stripe", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Expect", "100-continue")] + self.sign("stripe", body))
            c.send(head)
            c._until(b"\r\n\r\n")       # 100 Continue before the body
            c.send(body)
            self.assert_forwarded(c.read_response("POST"), body)

    def test_body_over_limit(self):
        """The hold is bounded by body_size (default 1MB): a declared
        length over it is 413 at once, a chunked body once it crosses."""
        n0 = self.f.upstream_count()
        with T.Client(self.f.port) as c:
            c.send(T.build_request("POST", "/wh/github", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(1024 * 1024 + 1))]))
            self.assertEqual(c.read_response("POST").status, 413)
        body = b"x" * (1024 * 1024 + 20 * 1024)
        with T.Client(self.f.port) as c:
            try:
                c.send(T.build_request("POST", "/wh/github", [
                    ("Content-Type", "application/json"),
                    ("Transfer-Encoding", "chunked")] + self.sign(
                        "github", body),
                    T.chunk_encode(body, [65536])))
            except OSError:
                pass        # closed while we still sent: the answer is in
            self.assertEqual(c.read_response("POST").status, 413)
        self.assertEqual(self.f.upstream_count(), n0)

    def test_slow_body_times_out(self):
        n0 = self.f.upstream_count()
        with T.Client(self.f.port) as c:
            c.send(T.build_request("POST", "/wh/github", [
                ("Content-Type", "application/json"),
                ("Content-Length", "100")]) + b"0123456789")
            r = c.read_response("POST")
        self.assertEqual(r.status, 408, r)
        self.assertEqual(self.f.upstream_count(), n0)

    def test_client_gone_mid_body(self):
        with T.Client(self.f.port) as c:
            c.send(T.build_request("POST", "/wh/generic", [
                ("Content-Type", "application/json"),
                ("Content-Length", "100000")]) + b"x" * 50000)
        time.sleep(0.2)
        body = self.BODY
        self.assert_forwarded(self.post("generic", body, self.sign(
            "generic", body)), body)

    def test_missing_secret_refused_by_check(self):
        rc, _, err = T.run_check(self.f.vw.conf)
        self.assertEqual(rc, 1)
        self.assertIn("VW_T_STRIPE is not set", err)


class TestWebhookHoldBudget(unittest.TestCase):
    """Held bodies share a per-worker memory budget."""
    BODY = TestWebhooks.BODY
    sign = TestWebhooks.sign
    twilio = staticmethod(TestWebhooks.twilio)
    ctype = TestWebhooks.ctype
    post = TestWebhooks.post
    assert_forwarded = TestWebhooks.assert_forwarded

    def test_many_holds_bounded(self):
        """Attack: many clients each sending most of a webhook body and
        then stalling made the worker hold every body in memory at once
        (150 holds of ~1 MB: +156 MB; max_connections 10000: ~10 GB, or
        ~160 GB with body_size off).  Held buffers now share a per-worker
        budget (64 MB); a hold past it is 503 with Retry-After, and the
        budget comes back when the connections close."""
        import socket
        self.f = Fixture({"webhooks": {"signature_verification": {
            "enabled": True, "paths": [{
                "path": "/wh/generic", "provider": "generic",
                "secret_env_var": "VW_T_GENERIC",
                "header": "X-Signature"}]}},
            "server": {"body_timeout": "20s"}}, env=SECRETS)
        self.addCleanup(self.f.close)
        pid = self.f.vw.workers()[0]
        rss0 = T.rss_kib(pid)
        socks = []
        head = T.build_request("POST", "/wh/generic", [
            ("Content-Type", "application/json"),
            ("X-Signature", "00"), ("Content-Length", str(1024 * 1024))])
        part = b"x" * (600 * 1024)
        try:
            for _ in range(100):
                s = socket.create_connection(("127.0.0.1", self.f.port),
                                             timeout=5)
                socks.append(s)
                try:
                    s.sendall(head + part)
                except OSError:
                    pass        # answered 503 and closed while we sent
            time.sleep(0.5)
            statuses = []
            for s in socks:
                s.settimeout(0.05)
                try:
                    d = s.recv(200)
                except (socket.timeout, OSError):
                    d = b""
                statuses.append(d[:12])
            busy = [d for d in statuses if d == b"HTTP/1.1 503"]
            self.assertGreater(len(busy), 10, statuses)
            grown = T.rss_kib(pid) - rss0
            if not T.sanitized():
                self.assertLess(grown, 110 * 1024, grown)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        body = self.BODY
        self.assert_forwarded(self.post("generic", body, self.sign(
            "generic", body)), body)
        # Budget given back: a large body is held again.
        big = os.urandom(900 * 1024)
        self.assert_forwarded(self.post("generic", big, self.sign(
            "generic", big)), big)


class TestStageOrder(unittest.TestCase):
    """Which of these stages answers when several would: maintenance,
    then input validation, then content type, then the signature."""

    CFG = {"input_validation": {"enabled": True, "max_header_size": 100},
           "waf": {"content_type_validation": {"enabled": True}},
           "webhooks": {"signature_verification": {"enabled": True,
                        "paths": [{"path": "/wh", "provider": "generic",
                                   "secret_env_var": "VW_T_GENERIC",
                                   "header": "X-Signature"}]}}}
    BODY = b'{"k":"v"}'

    def rows(self):
        good = hexmac(SECRETS["VW_T_GENERIC"], self.BODY)
        long_h = ("X-Long", "v" * 101)
        return [
            # headers, expected status
            ([long_h, ("Content-Type", "text/plain"),
              ("X-Signature", "00")], 400),
            ([("Content-Type", "text/plain"), ("X-Signature", "00")], 415),
            ([("Content-Type", "application/json"),
              ("X-Signature", "00")], 401),
            ([("Content-Type", "application/json"),
              ("X-Signature", good)], 200),
        ]

    def test_order(self):
        import copy
        for maint in (False, True):
            cfg = copy.deepcopy(self.CFG)
            cfg["maintenance"] = {"enabled": maint}
            f = Fixture(cfg, env=SECRETS)
            try:
                for hs, want in self.rows():
                    with self.subTest(maintenance=maint, want=want):
                        r = f.req("POST", "/wh", hs, self.BODY)
                        self.assertEqual(r.status, 503 if maint else want,
                                         r)
            finally:
                f.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
