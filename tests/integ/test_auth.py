#!/usr/bin/env python3
"""Integration tests for authentication (issue 10): public paths, identity
headers, API keys, JWT with a JWKS server stand-in.  The real binary with
2 workers against the real test upstream; the JWKS stand-in is an
http.server on loopback in this process.  Every process started here is
stopped by PID.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import sys
import threading
import time
import unittest

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature)
    HAVE_CRYPTO = True
except ImportError:          # the JWT tests need python3-cryptography
    HAVE_CRYPTO = False

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
        for why in ("insufficient_scope", "invalid_api_key"):
            self.f.vw.wait_event("auth.denied", lambda e: e["payload"].get(
                "reason") == why)
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


class TestPerUserLimit(unittest.TestCase):
    """Stage 12 keys on the identity stage 11 verified."""

    def test_api_key_bucket(self):
        f = Fixture({"mode": "api-key", "api_key": {"keys": [
            {"name": "ci", "hash": sha(KEY_CI)},
            {"name": "ro", "hash": sha(KEY_RO)}]}},
            extra={"rate_limit": {
                "enabled": True,
                "per_ip": {"requests_per_second": 1000, "burst": 1000},
                "per_user": {"requests_per_second": 0.01, "burst": 3}}})
        try:
            st = [f.get(headers=[("X-API-Key", KEY_CI)]).status
                  for _ in range(4)]
            self.assertEqual(st, [200, 200, 200, 429])
            r = f.get(headers=[("X-API-Key", KEY_CI)])
            self.assertEqual(r.status, 429)
            self.assertIn('"user"', r.header("RateLimit", ""))
            # Another key, same client IP: its own bucket.
            self.assertEqual(f.get(headers=[("X-API-Key", KEY_RO)]).status,
                             200)
            # A wrong key costs no user bucket: 401, not 429.
            self.assertEqual(f.get(headers=[("X-API-Key", "x")]).status,
                             401)
        finally:
            f.close()


# ------------------------------------------------------------------ JWT

def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_int(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Key:
    """A signing key and its JWK."""

    def __init__(self, kind, kid):
        self.kind, self.kid = kind, kid
        if kind == "RSA":
            self.priv = rsa.generate_private_key(65537, 2048)
            pn = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig",
                        "n": b64u_int(pn.n), "e": b64u_int(pn.e)}
        else:
            self.priv = ec.generate_private_key(ec.SECP256R1())
            pn = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "crv": "P-256",
                        "x": b64u(pn.x.to_bytes(32, "big")),
                        "y": b64u(pn.y.to_bytes(32, "big"))}
        self.pem = self.priv.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data, alg):
        if alg.startswith("RS"):
            return self.priv.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if alg.startswith("PS"):
            return self.priv.sign(data, padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()),
                salt_length=32), hashes.SHA256())
        der = self.priv.sign(data, ec.ECDSA(hashes.SHA256()))
        r, s_ = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s_.to_bytes(32, "big")


ISS = "https://issuer.test/"
AUD = "vibewarden-tests"


def claims(**kw):
    now = int(time.time())
    c = {"sub": "user-42", "iss": ISS, "aud": AUD, "exp": now + 600,
         "iat": now - 5, "email": "u42@example.test",
         "email_verified": True}
    for k, v in kw.items():
        if v is DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


DROP = object()


def token(key, alg=None, hdr=None, body=None, kid=None, raw_hdr=None):
    alg = alg or ("RS256" if key.kind == "RSA" else "ES256")
    h = {"alg": alg, "typ": "JWT", "kid": kid or key.kid}
    h.update(hdr or {})
    hs = raw_hdr if raw_hdr is not None else json.dumps(h)
    si = b64u(hs) + "." + b64u(json.dumps(body if body is not None
                                          else claims()))
    return si + "." + b64u(key.sign(si.encode(), alg))


class JWKSServer:
    """The JWKS stand-in: counts fetches, rotates keys, goes down."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.fetches = []           # monotonic times
        self.paths = []
        self.port = T.free_port()
        self.httpd = None
        self.up()

    def up(self):
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                srv.paths.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": ISS, "jwks_uri":
                                       "http://127.0.0.1:%d/jwks.json" %
                                       srv.port}).encode()
                elif self.path == "/jwks.json":
                    srv.fetches.append(time.monotonic())
                    body = json.dumps({"keys": [k.jwk for k in
                                                srv.keys]}).encode()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1",
                                                      self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def down(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def url(self):
        return "http://127.0.0.1:%d/jwks.json" % self.port


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


@unittest.skipUnless(HAVE_CRYPTO, "python3-cryptography not installed")
class TestJWT(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rsa = Key("RSA", "rsa-1")
        cls.ec = Key("EC", "ec-1")
        cls.evil = Key("RSA", "rsa-1")     # same kid, other key
        cls.jwks = JWKSServer([cls.rsa, cls.ec])
        try:
            cls.f = Fixture({
                "mode": "jwt",
                "public_paths": ["/public/*"],
                "jwt": {"jwks_url": cls.jwks.url(), "issuer": ISS,
                        "audience": AUD,
                        "claims_to_headers": {
                            "sub": "X-User-Id", "email": "X-User-Email",
                            "email_verified": "X-User-Verified",
                            "role": "X-User-Role", "tenant": "X-Tenant"}},
            })
        except Exception:
            cls.jwks.down()
            raise
        assert wait_for(lambda: cls.f.vw.events("auth.jwks_refresh"), 10)

    @classmethod
    def tearDownClass(cls):
        cls.f.close()
        cls.jwks.down()

    def ok(self, tok, path="/echo"):
        r = self.f.get(path, headers=bearer(tok))
        self.assertEqual(r.status, 200, r.body)
        return upstream_headers(r)

    def test_valid_rs256_es256(self):
        for key in (self.rsa, self.ec):
            hs = self.ok(token(key, body=claims(sub="sub-" + key.kid,
                                                role="admin")))
            self.assertEqual(hdr(hs, "X-User-Id"), ["sub-" + key.kid])
            self.assertEqual(hdr(hs, "X-User-Email"), ["u42@example.test"])
            self.assertEqual(hdr(hs, "X-User-Verified"), ["true"])
            self.assertEqual(hdr(hs, "X-User-Role"), ["admin"])
        # Again: the verified-token cache answers, same identity.
        tok = token(self.rsa, body=claims(sub="cached", tenant="t1"))
        for _ in range(3):
            hs = self.ok(tok)
            self.assertEqual(hdr(hs, "X-User-Id"), ["cached"])
            self.assertEqual(hdr(hs, "X-Tenant"), ["t1"])
        # RFC 6750: the scheme is case-insensitive.
        r = self.f.get(headers=[("Authorization", "bearer " + tok)])
        self.assertEqual(r.status, 200)

    def test_claim_header_spoofing(self):
        tok = token(self.rsa, body=claims(sub="alice"))
        hs = [(s, "mallory") for s in SPOOF]
        hs += [("X-Tenant", "evil"), ("x-tenant", "evil"),
               ("X-USER-ROLE", "evil"), ("X-User-Email", "evil")]
        for path, extra in (("/public/x", []), ("/echo", bearer(tok))):
            r = self.f.get(path, headers=hs + extra)
            self.assertEqual(r.status, 200)
            got = upstream_headers(r)
            for k, v in got:
                self.assertNotIn(v, ("mallory", "evil"), (path, k))
        self.assertEqual(hdr(got, "X-User-Id"), ["alice"])

    def attack_tokens(self):
        now = int(time.time())
        rsa, ec_ = self.rsa, self.ec
        good = token(rsa)
        h, p, sig = good.split(".")
        pem = rsa.pem

        def hs(alg, key, body=None):
            hd = b64u(json.dumps({"alg": alg, "kid": rsa.kid}))
            si = hd + "." + b64u(json.dumps(body or claims()))
            dig = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
                   "HS512": hashlib.sha512}[alg]
            return si + "." + b64u(hmac.new(key, si.encode(), dig).digest())

        def unsigned(alg):
            return (b64u(json.dumps({"alg": alg, "kid": rsa.kid})) + "." +
                    p + ".")

        def flip(s_, i=5):
            c = "A" if s_[i] != "A" else "B"
            return s_[:i] + c + s_[i + 1:]

        # Over JWT_MAX_LEN (8000) but within one 8 KB field line.
        pad = 5500
        while len(token(rsa, body=claims(pad="x" * pad))) <= 8020:
            pad += 10
        big = claims(pad="x" * pad)
        t = {
            "alg none": unsigned("none"),
            "alg None": unsigned("None"),
            "alg NONE": unsigned("NONE"),
            "alg none with sig": b64u(json.dumps({"alg": "none"})) + "." +
            p + "." + sig,
            "HS256 keyed with the public key": hs("HS256", pem),
            "HS384 keyed with the public key": hs("HS384", pem),
            "HS512 keyed with the public key": hs("HS512", pem),
            "HS256 keyed with the JWK n": hs("HS256", rsa.jwk["n"].encode()),
            "stripped signature": h + "." + p + ".",
            "two segments": h + "." + p,
            "four segments": good + ".x",
            "tampered signature": h + "." + p + "." + flip(sig),
            "signature cut": h + "." + p + "." + sig[:-4],
            "tampered payload": h + "." + b64u(json.dumps(
                claims(sub="admin"))) + "." + sig,
            "tampered header": b64u(json.dumps({"alg": "RS256",
                                                "kid": rsa.kid,
                                                "x": 1})) + "." + p + "." +
            sig,
            "signed by another key, known kid": token(self.evil),
            "wrong kid": token(rsa, kid="nope"),
            "kid traversal": token(rsa, kid="../../etc/passwd"),
            "no kid": token(rsa, raw_hdr=json.dumps({"alg": "RS256"})),
            "kid not a string": token(rsa, raw_hdr=json.dumps(
                {"alg": "RS256", "kid": 7})),
            "RS256 header on the EC key": token(rsa, kid=ec_.kid),
            "ES256 header on the RSA key": token(ec_, kid=rsa.kid),
            "PS256 not allowed": token(rsa, alg="PS256"),
            "ES256 DER signature": (lambda si: si + "." + b64u(
                ec_.priv.sign(si.encode(), ec.ECDSA(hashes.SHA256()))))(
                b64u(json.dumps({"alg": "ES256", "kid": ec_.kid})) + "." +
                b64u(json.dumps(claims()))),
            "expired": token(rsa, body=claims(exp=now - 3600)),
            "expired past the skew": token(rsa, body=claims(exp=now - 90)),
            "future nbf": token(rsa, body=claims(nbf=now + 3600)),
            "future iat": token(rsa, body=claims(iat=now + 3600)),
            "missing exp": token(rsa, body=claims(exp=DROP)),
            "exp a string": token(rsa, body=claims(exp=str(now + 600))),
            "exp null": token(rsa, body=claims(exp=None)),
            "exp huge": token(rsa, body=claims(exp=1e300)),
            "nbf a string": token(rsa, body=claims(nbf="0")),
            "wrong iss": token(rsa, body=claims(iss="https://evil.test/")),
            "iss with a trailing space": token(rsa, body=claims(iss=ISS +
                                                                " ")),
            "missing iss": token(rsa, body=claims(iss=DROP)),
            "wrong aud": token(rsa, body=claims(aud="someone-else")),
            "aud array without ours": token(rsa, body=claims(
                aud=["a", "b"])),
            "missing aud": token(rsa, body=claims(aud=DROP)),
            "aud a number": token(rsa, body=claims(aud=7)),
            "missing sub": token(rsa, body=claims(sub=DROP)),
            "sub a number": token(rsa, body=claims(sub=12345)),
            "sub with CRLF": token(rsa, body=claims(sub="a\r\nX-Evil: 1")),
            "unknown crit": token(rsa, hdr={"crit": ["exp"], "exp": 1}),
            "crit b64": token(rsa, hdr={"crit": ["b64"], "b64": False}),
            "crit empty": token(rsa, hdr={"crit": []}),
            "jku to elsewhere, unknown kid": token(
                self.evil, kid="attacker", hdr={
                    "jku": "http://127.0.0.1:%d/evil.json" % self.jwks.port}),
            "embedded jwk": token(self.evil, kid="attacker",
                                  hdr={"jwk": self.evil.jwk}),
            "x5u": token(self.evil, kid="attacker", hdr={
                "x5u": "http://127.0.0.1:%d/x5u.pem" % self.jwks.port}),
            "padded header": h + "==." + p + "." + sig,
            "standard base64 alphabet": h + "." + p + "." +
            sig.replace("-", "+").replace("_", "/") + "+/",
            "header not JSON": b64u("{alg") + "." + p + "." + sig,
            "header a JSON array": b64u('["RS256"]') + "." + p + "." + sig,
            "payload not JSON": h + "." + b64u("nope") + "." + sig,
            "payload a JSON string": h + "." + b64u('"x"') + "." + sig,
            "duplicate alg": token(rsa, raw_hdr='{"alg":"RS256","kid":"%s",'
                                   '"alg":"none"}' % rsa.kid),
            "duplicate sub": h + "." + b64u(json.dumps(claims())[:-1] +
                                            ', "sub": "admin"}') + "." + sig,
            "empty segments": "..",
            "garbage": "abc",
            "whitespace inside": h + ". " + p + "." + sig,
            "oversized": token(rsa, body=big),
        }
        self.assertTrue(8000 < len(t["oversized"]) < 8100)
        return t

    def test_attack_corpus(self):
        toks = self.attack_tokens()
        self.assertGreaterEqual(len(toks), 40)
        n = self.f.nreq()
        for name, tok in toks.items():
            r = self.f.get("/echo", headers=bearer(tok))
            self.assertEqual(r.status, 401, name)
            self.assertIn('error="invalid_token"',
                          r.header("WWW-Authenticate", ""), name)
            self.assertEqual(r.json()["error"], "unauthorized")
        # Also the shapes of the header itself.
        good = token(self.rsa)
        for hs in ([("Authorization", "Bearer")],
                   [("Authorization", "Basic dXNlcjpwYXNz")],
                   [("Authorization", "Bearer " + good),
                    ("Authorization", "Bearer x.y.z")],
                   [("Authorization", "Token " + good)],
                   []):
            r = self.f.get("/echo", headers=hs)
            self.assertEqual(r.status, 401, hs)
            self.assertTrue(r.header("WWW-Authenticate", "").startswith(
                "Bearer"))
        self.assertEqual(self.f.nreq(), n)
        self.assertNotIn("/evil.json", self.jwks.paths)
        self.assertNotIn("/x5u.pem", self.jwks.paths)
        ev = self.f.vw.wait_event("auth.denied", lambda e: e["payload"].get(
            "reason") == "token_expired")
        self.assertIsNotNone(ev)
        self.assertEqual(ev["payload"]["client_ip"], "127.0.0.1")
        self.assertNotIn(good[-40:], self.f.vw.stdout())

    def test_websocket(self):
        n = self.f.nreq()
        ws = T.WSClient(self.f.port, "/ws", extra_headers=bearer(
            token(self.rsa, body=claims(exp=int(time.time()) - 3600))))
        try:
            self.assertEqual(ws.resp.status, 401)
        finally:
            ws.close()
        self.assertEqual(self.f.nreq(), n)
        ws = T.WSClient(self.f.port, "/ws", extra_headers=bearer(
            token(self.ec, body=claims(sub="ws-user"))) +
            [(s, "mallory") for s in SPOOF])
        try:
            self.assertTrue(ws.accept_ok())
        finally:
            ws.close()
        rec = [r for r in self.f.up.requests() if r["target"] == "/ws"][-1]
        self.assertEqual(hdr(rec["headers"], "X-User-Id"), ["ws-user"])

    def test_zz_unknown_kid_storm_and_rotation(self):
        # Last: it rotates the key set away from rsa-1.
        # 1,000 tokens with unknown kids, from several clients at once:
        # at most one forced fetch per 10 s interval.
        stranger = Key("RSA", "stranger")
        toks = [token(stranger, kid="k%d" % i) for i in range(1000)]
        before = len(self.jwks.fetches)
        statuses = []

        def run(part):
            for t in part:     # a 401 closes its connection (SPEC.md 4)
                with T.Client(self.f.port) as c:
                    statuses.append(c.request("GET", "/echo",
                                              bearer(t)).status)

        ths = [threading.Thread(target=run, args=(toks[i::4],))
               for i in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60)
        self.assertEqual(statuses, [401] * 1000)
        # The forced refresh comes (at most JWKS_FORCE_GAP after the last).
        self.assertTrue(wait_for(lambda: len(self.jwks.fetches) > before,
                                 12))
        # Rotation: a new key set with a new key and without rsa-1.
        new = Key("RSA", "rsa-2")
        self.jwks.keys = [new, self.ec]
        old_tok = token(self.rsa, body=claims(sub="old"))
        self.ok(old_tok)           # cached from now on
        new_tok = token(new, body=claims(sub="rotated"))
        self.assertEqual(self.f.get(headers=bearer(new_tok)).status, 401)
        self.assertTrue(wait_for(lambda: self.f.get(
            headers=bearer(new_tok)).status == 200, 12))
        self.assertEqual(hdr(self.ok(new_tok), "X-User-Id"), ["rotated"])
        # The removed key is gone, its cached token too (within 1 s).
        self.assertTrue(wait_for(lambda: self.f.get(
            headers=bearer(old_tok)).status == 401, 3))
        # No two fetches closer than the forced-refresh interval.
        f = self.jwks.fetches
        for a, b in zip(f, f[1:]):
            self.assertGreater(b - a, 9.0, f)


@unittest.skipUnless(HAVE_CRYPTO, "python3-cryptography not installed")
class TestJWKSOutage(unittest.TestCase):
    """OIDC discovery, a short cache_ttl, and the JWKS server down."""

    def test_outage_keeps_last_keys(self):
        rsa_ = Key("RSA", "o-1")
        srv = JWKSServer([rsa_])
        f = None
        try:
            f = Fixture({"mode": "jwt", "jwt": {
                "issuer_url": "http://127.0.0.1:%d" % srv.port,
                "issuer": ISS, "audience": AUD, "cache_ttl": "1s"}})
            self.assertTrue(wait_for(lambda: f.vw.events(
                "auth.jwks_refresh"), 10))
            self.assertIn("/.well-known/openid-configuration", srv.paths)
            r = f.get(headers=bearer(token(rsa_)))
            self.assertEqual(r.status, 200)
            self.assertTrue(wait_for(lambda: len(srv.fetches) >= 2, 5))
            srv.down()
            self.assertTrue(wait_for(lambda: f.vw.events(
                "auth.jwks_error"), 10))
            time.sleep(1.5)
            # A token never seen before: its key comes from shm.
            r = f.get(headers=bearer(token(rsa_, body=claims(sub="new"))))
            self.assertEqual(r.status, 200)
            self.assertEqual(hdr(upstream_headers(r), "X-User-Id"), ["new"])
        finally:
            if f:
                f.close()
            try:
                srv.down()
            except Exception:
                pass

    def test_no_keys_yet_fails_closed(self):
        k = Key("EC", "never")
        f = Fixture({"mode": "jwt", "jwt": {
            "jwks_url": "http://127.0.0.1:%d/jwks.json" % T.free_port(),
            "issuer": ISS, "audience": AUD}})
        try:
            self.assertTrue(wait_for(lambda: f.vw.events(
                "auth.jwks_error"), 10))
            n = f.nreq()
            r = f.get(headers=bearer(token(k)))
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"], "auth_provider_unavailable")
            self.assertEqual(f.nreq(), n)
        finally:
            f.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
