#!/usr/bin/env python3
"""Regression tests for attacks on authentication (issue 10) by an outside
tester: each class is one attack that once worked.  Same harness as
test_auth.py (the real binary, the test upstream, stand-ins on loopback);
every process started here is stopped by PID.
"""

import http.server
import json
import os
import shutil
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_auth as A  # noqa: E402
import vwtest as T  # noqa: E402


class _Server:
    """A one-handler http.server on a loopback address, in a thread."""

    def __init__(self, host, handler):
        self.port = T.free_port()
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer((host, self.port),
                                                     handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def down(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@unittest.skipUnless(A.HAVE_CRYPTO, "python3-cryptography not installed")
class TestJWKSRedirect(unittest.TestCase):
    """Attack: the JWKS URL answers 302 to another host (an open redirect,
    a hijacked path, or https -> http for a man in the middle), whose set
    holds the attacker's key.  libcurl followed it, so tokens signed by the
    attacker passed.  The manual says "status 200 only": a redirect is a
    failed fetch, and no key comes from anywhere but the configured URL."""

    def test_redirect_not_followed(self):
        evil = A.Key("RSA", "evil-1")
        fetched = []

        class Evil(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fetched.append(self.path)
                body = json.dumps({"keys": [evil.jwk]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        es = _Server("127.0.0.2", Evil)

        class Redir(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.2:%d/jwks.json"
                                 % es.port)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        rs = _Server("127.0.0.1", Redir)
        f = None
        try:
            f = A.Fixture({"mode": "jwt", "jwt": {
                "jwks_url": "http://127.0.0.1:%d/jwks.json" % rs.port,
                "issuer": A.ISS, "audience": A.AUD}})
            self.assertTrue(A.wait_for(lambda: f.vw.events(
                "auth.jwks_error"), 10))
            self.assertEqual(f.vw.events("auth.jwks_refresh"), [])
            self.assertEqual(fetched, [])
            n = f.nreq()
            r = f.get(headers=A.bearer(A.token(evil)))
            self.assertNotEqual(r.status, 200)
            self.assertEqual(f.nreq(), n)
        finally:
            if f:
                f.close()
            rs.down()
            es.down()


class TestScopeRuleSpelling(unittest.TestCase):
    """Attack: a scope rule is a glob on the path as sent, but the
    application may route another spelling of it to the same handler:
    servlet containers drop ";params" ("/admin;x/users" is /admin/users),
    Express and ASP.NET match case-insensitively and ignore a trailing
    slash.  A read-only key reached /admin/* and POST /echo that way."""

    @classmethod
    def setUpClass(cls):
        cls.f = A.Fixture({
            "mode": "api-key",
            "public_paths": ["/public/*", "/*.css"],
            "api_key": {
                "keys": [{"name": "ro", "hash": A.sha(A.KEY_RO),
                          "scopes": ["read"]}],
                "scope_rules": [
                    {"path": "/admin/*", "required_scopes": ["admin"]},
                    {"path": "/echo", "methods": ["POST"],
                     "required_scopes": ["write"]},
                    {"path": "/items/*", "methods": ["DELETE"],
                     "required_scopes": ["admin"]},
                    {"path": "/report", "methods": ["GET"],
                     "required_scopes": ["admin"]},
                ],
            },
        })

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def test_rule_spellings(self):
        ro = [("X-API-Key", A.KEY_RO)]
        n = self.f.nreq()
        for meth, t in (("GET", "/admin;x/users"), ("GET", "/admin;/users"),
                        ("GET", "/Admin/users"), ("GET", "/ADMIN/users"),
                        ("POST", "/echo;x"), ("POST", "/echo/"),
                        ("POST", "/ECHO"), ("POST", "/echo;a=b/")):
            r = self.f.get(t, headers=ro, method=meth)
            self.assertEqual(r.status, 403, (meth, t))
        self.assertEqual(self.f.nreq(), n)
        # What the rules do not cover still passes.
        for meth, t in (("GET", "/echo"), ("GET", "/echo/"),
                        ("GET", "/administrator"), ("GET", "/x;y")):
            r = self.f.get(t, headers=ro, method=meth)
            self.assertEqual(r.status, 200, (meth, t))

    def test_method_spellings(self):
        """Attack: a rule names methods, but Rack, Symfony, Laravel and
        Express's method-override run POST with X-HTTP-Method-Override:
        DELETE (or ?_method=DELETE) as DELETE, and every framework runs
        HEAD through the GET handler.  The rules were checked for the
        request line's method only."""
        ro = [("X-API-Key", A.KEY_RO)]
        n = self.f.nreq()
        for meth, t, extra in (
                ("POST", "/items/1", [("X-HTTP-Method-Override", "DELETE")]),
                ("POST", "/items/1", [("X-HTTP-Method", "DELETE")]),
                ("POST", "/items/1", [("x-method-override", "delete")]),
                ("POST", "/items/1?_method=DELETE", []),
                ("POST", "/items/1?a=b&_method=delete", []),
                ("GET", "/echo", [("X-HTTP-Method-Override", "POST")]),
                ("HEAD", "/report", [])):
            r = self.f.get(t, headers=ro + extra, method=meth)
            self.assertEqual(r.status, 403, (meth, t, extra))
        self.assertEqual(self.f.nreq(), n)
        for meth, t, extra in (
                ("POST", "/items/1", []),
                ("POST", "/items/1", [("X-HTTP-Method-Override", "PATCH")]),
                ("POST", "/items/1?x_method=DELETE", []),
                ("HEAD", "/echo", [])):
            r = self.f.get(t, headers=ro + extra, method=meth)
            self.assertEqual(r.status, 200, (meth, t, extra))

    def test_public_glob_and_params(self):
        # "/*.css" is public, but a servlet reads "/echo;.css" as /echo.
        n = self.f.nreq()
        for t in ("/echo;.css", "/echo;x.css", "/admin;/x.css"):
            r = self.f.get(t)
            self.assertIn(r.status, (400, 401), t)
        self.assertEqual(self.f.nreq(), n)
        for t in ("/a.css", "/public/x", "/public/x;y"):
            self.assertEqual(self.f.get(t).status, 200, t)


@unittest.skipUnless(A.HAVE_CRYPTO, "python3-cryptography not installed")
class TestPartialIdentity(unittest.TestCase):
    """Attack: a mapped claim that cannot become a header (over 1 KB, an
    object, an array with a number) was silently left out, and the token
    passed: the application got X-User-Id without the X-Tenant or role it
    relies on (an absent tenant often means a default one).  Whoever can
    lengthen a claim (a profile field the IdP copies) could strip it.
    The manual says such a value refuses the token; now it does."""

    @classmethod
    def setUpClass(cls):
        cls.key = A.Key("RSA", "p-1")
        cls.jwks = A.JWKSServer([cls.key])
        try:
            cls.f = A.Fixture({"mode": "jwt", "jwt": {
                "jwks_url": cls.jwks.url(), "issuer": A.ISS,
                "audience": A.AUD,
                "claims_to_headers": {"role": "X-User-Role",
                                      "tenant": "X-Tenant"}}})
        except Exception:
            cls.jwks.down()
            raise
        assert A.wait_for(lambda: cls.f.vw.events("auth.jwks_refresh"), 10)

    @classmethod
    def tearDownClass(cls):
        cls.f.close()
        cls.jwks.down()

    def test_unrenderable_claim_refuses(self):
        n = self.f.nreq()
        for kw in ({"role": "r" * 1100}, {"tenant": {"id": "t1"}},
                   {"role": ["user", 7]}, {"tenant": ["t" * 600] * 2},
                   {"email": "e" * 1100 + "@example.test"}):
            r = self.f.get(headers=A.bearer(A.token(
                self.key, body=A.claims(**kw))))
            self.assertEqual(r.status, 401, kw)
        self.assertEqual(self.f.nreq(), n)
        r = self.f.get(headers=A.bearer(A.token(self.key, body=A.claims(
            role=["user", "dev"], tenant=None))))
        self.assertEqual(r.status, 200, r.body)
        got = A.upstream_headers(r)
        self.assertEqual(A.hdr(got, "X-User-Role"), ["user,dev"])
        self.assertEqual(A.hdr(got, "X-Tenant"), [])


@unittest.skipUnless(A.HAVE_CRYPTO, "python3-cryptography not installed")
class TestStaleKeysOtherSource(unittest.TestCase):
    """Attack: the shm "jwks" database outlives a restart.  An operator
    moves jwks_url to a new key server (a compromised key, another IdP)
    and restarts; until the new server is fetched, which may be never
    if it is unreachable, the old server's keys stayed in shm and tokens
    signed with them passed.  Keys are now stamped with their source and
    a worker uses only its own source's keys (503 until they come)."""

    def test_old_source_keys_ignored(self):
        old = A.Key("RSA", "old-1")
        new = A.Key("EC", "new-1")
        srv_old = A.JWKSServer([old])
        srv_new = None
        tmp = T.new_tmpdir()
        up = T.Upstream(tmp).start()
        vw = None
        try:
            port = T.free_port()

            def cfg(url):
                c = T.base_config(port, up.port)
                c["auth"] = {"mode": "jwt", "jwt": {
                    "jwks_url": url, "issuer": A.ISS, "audience": A.AUD,
                    "cache_ttl": "1s"}}
                c["shm"] = {"path": os.path.join(tmp, "shm"),
                            "map_size": "8MB"}
                return c

            def get(tok):
                with T.Client(port) as c:
                    return c.request("GET", "/echo", A.bearer(tok))

            vw = T.Vibewarden(tmp, cfg(srv_old.url()))
            vw.start()
            self.assertTrue(A.wait_for(lambda: vw.events(
                "auth.jwks_refresh"), 10))
            self.assertEqual(get(A.token(old)).status, 200)
            vw.stop()
            vw = None
            srv_old.down()
            new_port = T.free_port()
            vw = T.Vibewarden(tmp, cfg("http://127.0.0.1:%d/jwks.json" %
                                       new_port))
            vw.start()
            self.assertTrue(A.wait_for(lambda: vw.events(
                "auth.jwks_error"), 10))
            n = len(up.requests())
            r = get(A.token(old))
            self.assertEqual(r.status, 503, r.body)
            self.assertEqual(len(up.requests()), n)
            # The new source, once up, is used.
            srv_new = A.JWKSServer([new])
            srv_new.down()
            srv_new.port = new_port
            srv_new.up()
            self.assertTrue(A.wait_for(lambda: get(A.token(new)).status ==
                                       200, 15))
            self.assertEqual(get(A.token(old)).status, 401)
        finally:
            if vw:
                vw.stop()
            if srv_new:
                srv_new.down()
            up.stop()
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(A.HAVE_CRYPTO, "python3-cryptography not installed")
class TestUserBucketLongIds(unittest.TestCase):
    """Attack: the per-user bucket was keyed by the first 255 bytes of
    the user id, so users whose ids share them (long subjects, or a
    user-chosen claim mapped to X-User-Id) shared one bucket: one could
    exhaust it and lock the other out, or a victim's own traffic counted
    against a lookalike.  Long ids are now keyed by their SHA-256."""

    def test_long_ids_own_buckets(self):
        key = A.Key("EC", "l-1")
        jwks = A.JWKSServer([key])
        f = None
        try:
            f = A.Fixture({"mode": "jwt", "jwt": {
                "jwks_url": jwks.url(), "issuer": A.ISS, "audience": A.AUD}},
                extra={"rate_limit": {
                    "enabled": True,
                    "per_ip": {"requests_per_second": 1000, "burst": 1000},
                    "per_user": {"requests_per_second": 0.01, "burst": 2}}})
            self.assertTrue(A.wait_for(lambda: f.vw.events(
                "auth.jwks_refresh"), 10))
            common = "u" * 300

            def get(sub):
                return f.get(headers=A.bearer(A.token(
                    key, body=A.claims(sub=sub)))).status

            self.assertEqual([get(common + "-a") for _ in range(3)],
                             [200, 200, 429])
            self.assertEqual(get(common + "-b"), 200)
            self.assertEqual(get("short"), 200)
        finally:
            if f:
                f.close()
            jwks.down()


class TestClaimHeaderCount(unittest.TestCase):
    """Attack: claims_to_headers beyond the 16 extra headers a request's
    identity holds were silently never set (their client copies stripped,
    so the application just saw them missing: a partial identity).  Such
    a config is now refused at load."""

    def check(self, n):
        tmp = T.new_tmpdir()
        try:
            cfg = T.base_config(T.free_port(), T.free_port())
            ch = {"sub": "X-User-Id", "email": "X-User-Email"}
            ch.update({"c%d" % i: "X-Claim-%d" % i for i in range(n)})
            cfg["auth"] = {"mode": "jwt", "jwt": {
                "jwks_url": "http://127.0.0.1:9/jwks.json",
                "issuer": A.ISS, "audience": A.AUD,
                "claims_to_headers": ch}}
            conf = os.path.join(tmp, "vw.yaml")
            with open(conf, "w") as fh:
                fh.write(T.to_yaml(cfg) + "\n")
            return T.run_check(conf)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_too_many_refused(self):
        rc, out, err = self.check(16)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.check(17)
        self.assertNotEqual(rc, 0)
        self.assertIn("at most 16", out + err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
