#!/usr/bin/env python3
"""Integration tests for authentication (issue 10): public paths, identity
headers, API keys, JWT with a JWKS server stand-in.  The real binary with
2 workers against the real test upstream; the JWKS stand-in is an
http.server on loopback in this process.  Every process started here is
stopped by PID.
"""

import hashlib
import json
import os
import shutil
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vwtest as T  # noqa: E402

_yscalar = T._yscalar


def _yscalar_flow(v):
    # Lists of mappings (api_key.keys, scope_rules) as JSON flow mappings,
    # which YAML reads as they are.
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return _yscalar(v)


T._yscalar = _yscalar_flow

# Every spelling of a client X-User-Id vibewarden must drop.
SPOOF = ["X-User-Id", "x-user-id", "X-USER-ID", "x-User-iD", "X_User_Id",
         "x_user_id", "X-User_Id", "X_USER-ID"]


class Fixture:
    def __init__(self, auth, extra=None):
        self.tmp = T.new_tmpdir()
        self.up = self.vw = None
        try:
            self.up = T.Upstream(self.tmp).start()
            self.port = T.free_port()
            cfg = T.base_config(self.port, self.up.port)
            cfg["auth"] = auth
            cfg["shm"] = {"path": os.path.join(self.tmp, "shm"),
                          "map_size": "8MB"}
            if extra:
                T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg)
            self.vw.start()
        except Exception:
            self.close()
            raise

    def close(self):
        if self.vw:
            self.vw.stop()
        if self.up:
            self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def get(self, target="/echo", headers=None, method="GET"):
        with T.Client(self.port) as c:
            return c.request(method, target, headers)

    def upstream_saw(self, marker):
        return self.up.saw(marker)

    def nreq(self):
        return len(self.up.requests())


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def upstream_headers(r):
    """The headers the upstream received, from the echo body."""
    return r.json()["headers"]


def hdr(hs, name):
    return [v for k, v in hs if k.lower() == name.lower()]


# ------------------------------------------------------------------ API key

KEY_CI = "ci-key-0123456789abcdefXYZ"
KEY_RO = "read-only-key-zzzzzzzzzzzz"


class TestApiKey(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fixture({
            "mode": "api-key",
            "public_paths": ["/public/*", "/open"],
            "api_key": {
                "keys": [
                    {"name": "ci", "hash": sha(KEY_CI).upper(),
                     "scopes": ["read", "write", "admin"]},
                    {"name": "ro", "hash": sha(KEY_RO),
                     "scopes": ["read"]},
                ],
                "scope_rules": [
                    {"path": "/admin/*", "required_scopes": ["admin"]},
                    {"path": "/echo", "methods": ["POST"],
                     "required_scopes": ["write"]},
                ],
            },
        })

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def test_valid(self):
        r = self.f.get(headers=[("X-API-Key", KEY_CI)])
        self.assertEqual(r.status, 200)
        hs = upstream_headers(r)
        self.assertEqual(hdr(hs, "X-Api-Key-Name"), ["ci"])
        self.assertEqual(hdr(hs, "X-User-Id"), [])

    def test_wrong_and_one_byte_off(self):
        n = self.f.nreq()
        for k in ("nope", KEY_CI[:-1] + "Y", KEY_CI[:-1], KEY_CI + "x",
                  "x" + KEY_CI[1:]):
            r = self.f.get(headers=[("X-API-Key", k)])
            self.assertEqual(r.status, 401, k)
            self.assertEqual(r.json()["error"], "unauthorized")
            self.assertIsNotNone(r.header("WWW-Authenticate"))
        self.assertEqual(self.f.nreq(), n)

    def test_missing(self):
        r = self.f.get()
        self.assertEqual(r.status, 401)
        self.assertIn("realm", r.header("WWW-Authenticate"))

    def test_browser_redirect(self):
        r = self.f.get("/app/page?x=1", headers=[
            ("Accept", "text/html,application/xhtml+xml")])
        self.assertEqual(r.status, 302)
        loc = r.header("Location")
        self.assertTrue(loc.startswith("/self-service/login/browser?"
                                       "return_to="), loc)
        self.assertIn("%2Fapp%2Fpage%3Fx%3D1", loc)
        r = self.f.get("/app/page", headers=[("Sec-Fetch-Mode",
                                              "navigate")])
        self.assertEqual(r.status, 302)
        # An XHR gets 401.
        r = self.f.get("/app/page", headers=[("Accept", "application/json")])
        self.assertEqual(r.status, 401)

    def test_scopes(self):
        r = self.f.get("/admin/x", headers=[("X-API-Key", KEY_RO)])
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error"], "forbidden")
        r = self.f.get("/admin/x", headers=[("X-API-Key", KEY_CI)])
        self.assertEqual(r.status, 200)
        r = self.f.get("/echo", headers=[("X-API-Key", KEY_RO)],
                       method="POST")
        self.assertEqual(r.status, 403)
        r = self.f.get("/echo", headers=[("X-API-Key", KEY_RO)])
        self.assertEqual(r.status, 200)

    def test_key_never_logged(self):
        self.f.get(headers=[("X-API-Key", KEY_CI)])
        self.f.get(headers=[("X-API-Key", KEY_CI[:-1] + "Q")])
        self.f.get("/admin/x", headers=[("X-API-Key", KEY_RO)])
        self.f.vw.wait_event("auth.denied", lambda e: e["payload"].get(
            "reason") == "insufficient_scope")
        out = self.f.vw.stdout() + self.f.vw.stderr()
        self.assertNotIn(KEY_CI, out)
        self.assertNotIn(KEY_CI[:-1], out)
        self.assertNotIn(KEY_RO, out)
        ev = self.f.vw.events("auth.denied")
        self.assertTrue(ev)
        self.assertTrue(all(e["payload"].get("client_ip") == "127.0.0.1"
                            for e in ev))
        reasons = {e["payload"].get("reason") for e in ev}
        self.assertIn("invalid_api_key", reasons)
        self.assertIn("insufficient_scope", reasons)

    def test_public_paths(self):
        r = self.f.get("/public/a.css")
        self.assertEqual(r.status, 200)
        r = self.f.get("/public/deep/er/a.css")
        self.assertEqual(r.status, 200)
        r = self.f.get("/open")
        self.assertEqual(r.status, 200)
        n = self.f.nreq()
        for t in ("/public/../admin", "/public/%2e%2e/admin",
                  "/public/%2E%2E/admin", "/public/..;/admin",
                  "//admin", "/open/../admin", "/public/a/../../admin",
                  "/public/.%2e/admin", "/publicx", "/open/x",
                  "/PUBLIC/a.css"):
            r = self.f.get(t)
            self.assertIn(r.status, (400, 401), t)
        self.assertEqual(self.f.nreq(), n)

    def test_spoofing(self):
        for path, key in (("/public/x", None), ("/echo", KEY_CI)):
            hs = [(s, "admin") for s in SPOOF]
            hs += [("X-Api-Key-Name", "root"), ("x_session_id", "s1")]
            if key:
                hs.append(("X-API-Key", key))
            r = self.f.get(path, headers=hs)
            self.assertEqual(r.status, 200)
            got = upstream_headers(r)
            self.assertEqual(hdr(got, "X-User-Id"), [], path)
            for k, v in got:
                self.assertNotEqual(v, "admin", (path, k))
                self.assertNotEqual(v, "root", (path, k))
                self.assertNotEqual(v, "s1", (path, k))

    def test_websocket(self):
        n = self.f.nreq()
        ws = T.WSClient(self.f.port, "/ws")
        try:
            self.assertEqual(ws.resp.status, 401)
            self.assertFalse(ws.accept_ok())
        finally:
            ws.close()
        self.assertEqual(self.f.nreq(), n)
        ws = T.WSClient(self.f.port, "/ws", extra_headers=[
            ("X-API-Key", KEY_CI)] + [(s, "evil") for s in SPOOF])
        try:
            self.assertTrue(ws.accept_ok())
        finally:
            ws.close()
        recs = [r for r in self.f.up.requests() if r["target"] == "/ws"]
        self.assertTrue(recs)
        self.assertEqual(hdr(recs[-1]["headers"], "X-User-Id"), [])
        self.assertEqual(hdr(recs[-1]["headers"], "X-Api-Key-Name"), ["ci"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
