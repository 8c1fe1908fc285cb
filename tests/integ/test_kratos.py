#!/usr/bin/env python3
"""Integration tests for auth.mode kratos (issue 10): the whoami call from
the worker's event loop, identity headers, 302 vs 401, fail closed (503)
when Kratos is down, slow or answers 500, the shared session cache (no
call from any worker for a cached session, expiry honoured) and one call
per worker for a burst of first requests.  The Kratos stand-in is a
threaded http.server on loopback in this process, counting its calls.
Every process started here is stopped by PID.
"""

import datetime
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vwtest as T  # noqa: E402

SPOOF = ["X-User-Id", "x-user-id", "X_User_Id", "X-USER-EMAIL",
         "x_user_verified", "X-Session-Id", "x-session_id"]


def rfc3339(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Kratos:
    """A Kratos stand-in: GET /sessions/whoami.  sessions maps a cookie
    value or token to (identity id, email, verified, expires_at epoch).
    mode: "ok", "slow" (answers after 3 s), "500", "down" (not
    listening)."""

    def __init__(self, tls=None):
        self.tls = tls              # (cert, key): https
        self.port = T.free_port()
        self.sessions = {}
        self.mode = "ok"
        self.delay = 0.0
        self.calls = []
        self.lock = threading.Lock()
        self.srv = None
        self.start()

    def start(self):
        kr = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with kr.lock:
                    kr.calls.append((self.path, dict(self.headers)))
                    mode, delay = kr.mode, kr.delay
                if mode == "slow":
                    time.sleep(3.0)
                elif delay:
                    time.sleep(delay)
                if self.path != "/sessions/whoami":
                    return self.answer(404, {"error": "not found"})
                if mode == "500":
                    return self.answer(500, {"error": "boom"})
                cred = self.headers.get("X-Session-Token")
                for part in (self.headers.get("Cookie") or "").split(";"):
                    k, _, v = part.strip().partition("=")
                    if k == "ory_kratos_session":
                        cred = v
                s = kr.sessions.get(cred)
                if s is None:
                    return self.answer(401, {"error": {"code": 401}})
                uid, email, verified, exp = s
                body = {
                    "id": "sess-" + uid, "active": exp > time.time(),
                    "expires_at": rfc3339(exp),
                    "authenticated_at": rfc3339(time.time() - 10),
                    "identity": {
                        "id": uid, "schema_id": "default",
                        "traits": {"email": "traits-" + email},
                        "verifiable_addresses": [
                            {"value": "phone", "via": "sms",
                             "verified": True},
                            {"value": email, "via": "email",
                             "verified": verified}],
                    },
                    # Bulk, so the answer is chunked or long.
                    "devices": [{"user_agent": "x" * 300}] * 8,
                }
                self.answer(200, body, chunked=uid.endswith("c"))

            def answer(self, status, obj, chunked=False):
                b = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(b), 700):
                        c = b[i:i + 700]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(b)))
                    self.end_headers()
                    self.wfile.write(b)

        class S(http.server.ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass    # vibewarden gave up on a slow answer: expected

        self.srv = S(("127.0.0.1", self.port), H)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.srv.socket = ctx.wrap_socket(self.srv.socket,
                                              server_side=True)
        self.srv.daemon_threads = True
        self.thr = threading.Thread(target=self.srv.serve_forever,
                                    kwargs={"poll_interval": 0.05},
                                    daemon=True)
        self.thr.start()

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def ncalls(self):
        with self.lock:
            return len(self.calls)


class Fixture:
    def __init__(self, kratos, extra=None, env=None):
        self.tmp = T.new_tmpdir()
        self.up = self.vw = None
        try:
            self.up = T.Upstream(self.tmp).start()
            self.port = T.free_port()
            cfg = T.base_config(self.port, self.up.port)
            cfg["kratos"] = {"public_url": "%s://127.0.0.1:%d/" % (
                "https" if kratos.tls else "http", kratos.port)}
            cfg["auth"] = {"mode": "kratos",
                           "public_paths": ["/public/*"],
                           "session_cache_ttl": "60s"}
            cfg["shm"] = {"path": os.path.join(self.tmp, "shm"),
                          "map_size": "8MB"}
            if extra:
                T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg)
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

    def get(self, target="/echo", headers=None, cookie=None):
        hs = list(headers or [])
        if cookie is not None:
            hs.append(("Cookie", "a=b; ory_kratos_session=%s; c=d" % cookie))
        with T.Client(self.port) as c:
            return c.request("GET", target, hs)

    def nreq(self):
        return len(self.up.requests())


def upstream_headers(r):
    return r.json()["headers"]


def hdr(hs, name):
    return [v for k, v in hs if k.lower() == name.lower()]


def worker_sockets(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith(
                    "socket:"):
                n += 1
        except OSError:
            pass
    return n


def spread(port, n, raw):
    """Send raw on n connections at once; the responses' first lines."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
    for s in socks:
        s.sendall(raw)
    out = []
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                break
            data += d
        out.append(data.split(b"\r\n", 1)[0])
        s.close()
    return out


class TestKratos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k = Kratos()
        cls.f = Fixture(cls.k)

    @classmethod
    def tearDownClass(cls):
        cls.f.close()
        cls.k.stop()

    def setUp(self):
        self.k.mode = "ok"
        self.k.delay = 0.0

    def new_session(self, name, ttl=3600, verified=True):
        cookie = "%s-%d-%f" % (name, os.getpid(), time.time())
        uid = "uid-" + name
        self.k.sessions[cookie] = (uid, name + "@example.com", verified,
                                   time.time() + ttl)
        return cookie, uid

    def test_pass_identity_headers(self):
        for name in ("alice", "bob-c"):     # -c: a chunked answer
            cookie, uid = self.new_session(name)
            r = self.f.get(cookie=cookie,
                           headers=[(s, "evil") for s in SPOOF])
            self.assertEqual(r.status, 200, r)
            hs = upstream_headers(r)
            self.assertEqual(hdr(hs, "X-User-Id"), [uid])
            self.assertEqual(hdr(hs, "X-User-Email"),
                             [name + "@example.com"])
            self.assertEqual(hdr(hs, "X-User-Verified"), ["true"])
            self.assertEqual(hdr(hs, "X-Session-Id"), ["sess-" + uid])
            for k, v in hs:
                self.assertNotEqual(v, "evil", k)
        path, h = self.k.calls[-1]
        self.assertEqual(path, "/sessions/whoami")
        self.assertEqual(h.get("Accept"), "application/json")
        self.assertIn("ory_kratos_session=", h.get("Cookie"))
        # An X-Session-Token works too, unverified email says false.
        tok, uid = self.new_session("carol", verified=False)
        r = self.f.get(headers=[("X-Session-Token", tok)])
        self.assertEqual(r.status, 200, r)
        hs = upstream_headers(r)
        self.assertEqual(hdr(hs, "X-User-Id"), [uid])
        self.assertEqual(hdr(hs, "X-User-Verified"), ["false"])

    def test_unauthenticated_302_vs_401(self):
        n = self.f.nreq()
        for cookie in (None, "no-such-session"):
            r = self.f.get("/app?x=1", cookie=cookie,
                           headers=[("Accept", "text/html")])
            self.assertEqual(r.status, 302, r)
            self.assertTrue(r.header("Location").startswith(
                "/self-service/login/browser?return_to="))
            r = self.f.get("/app", cookie=cookie,
                           headers=[("Accept", "application/json")])
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.json()["error"], "unauthorized")
            self.assertIsNotNone(r.header("WWW-Authenticate"))
        self.assertEqual(self.f.nreq(), n)
        ev = self.f.vw.wait_event(
            "auth.denied", lambda e: "session_invalid" in json.dumps(e))
        self.assertIsNotNone(ev)
        self.assertIn("127.0.0.1", json.dumps(ev))
        # A public path needs no session and costs no call.
        c = self.k.ncalls()
        self.assertEqual(self.f.get("/public/x").status, 200)
        self.assertEqual(self.k.ncalls(), c)

    def check_503(self):
        cookie, _ = self.new_session("u503")
        n = self.f.nreq()
        t0 = time.monotonic()
        r = self.f.get(cookie=cookie)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["error"], "auth_provider_unavailable")
        self.assertEqual(self.f.nreq(), n)
        return time.monotonic() - t0

    def test_503_down_slow_500(self):
        self.k.mode = "500"
        self.check_503()
        self.k.mode = "slow"
        el = self.check_503()
        self.assertGreater(el, 1.5)
        self.assertLess(el, 2.9)
        self.k.mode = "ok"
        self.k.stop()
        try:
            self.check_503()
        finally:
            self.k.start()
        self.assertIsNotNone(self.f.vw.wait_event(
            "auth.provider_unavailable"))
        # And it recovers; unavailability was not cached.
        cookie, uid = self.new_session("back")
        self.assertEqual(self.f.get(cookie=cookie).status, 200)

    def test_cached_no_call_from_any_worker(self):
        cookie, uid = self.new_session("cached")
        self.assertEqual(self.f.get(cookie=cookie).status, 200)
        c = self.k.ncalls()
        # Many keep-alive connections, held open, so both workers serve
        # some: each worker then holds more sockets than before.
        pids = self.f.vw.workers()
        self.assertEqual(len(pids), 2)
        before = [worker_sockets(p) for p in pids]
        clients = []
        try:
            for _ in range(40):
                cl = T.Client(self.f.port)
                clients.append(cl)
                r = cl.request("GET", "/echo", [
                    ("Cookie", "ory_kratos_session=" + cookie)])
                self.assertEqual(r.status, 200, r)
            after = [worker_sockets(p) for p in pids]
        finally:
            for cl in clients:
                cl.close()
        self.assertEqual(self.k.ncalls(), c)
        for b, a in zip(before, after):
            self.assertGreater(a, b, (before, after))
        # A refusal is cached too (briefly).
        self.assertEqual(self.f.get(cookie="bogus-x").status, 401)
        c = self.k.ncalls()
        self.assertEqual(self.f.get(cookie="bogus-x").status, 401)
        self.assertEqual(self.k.ncalls(), c)

    def test_expiry_honoured(self):
        cookie, uid = self.new_session("short", ttl=1.5)
        self.assertEqual(self.f.get(cookie=cookie).status, 200)
        c = self.k.ncalls()
        self.assertEqual(self.f.get(cookie=cookie).status, 200)
        self.assertEqual(self.k.ncalls(), c)
        time.sleep(1.8)
        # Past expires_at: the cache no longer vouches; Kratos says no.
        r = self.f.get(cookie=cookie, headers=[("Accept", "*/*")])
        self.assertEqual(r.status, 401, r)
        self.assertGreater(self.k.ncalls(), c)

    def test_burst_one_call_per_worker(self):
        cookie, uid = self.new_session("burst")
        self.k.delay = 0.5
        c = self.k.ncalls()
        lines = spread(self.f.port, 50,
                       b"GET /echo HTTP/1.1\r\nHost: x\r\nCookie: "
                       b"ory_kratos_session=" + cookie.encode() +
                       b"\r\nConnection: close\r\n\r\n")
        for line in lines:
            self.assertIn(b" 200 ", line)
        self.assertGreaterEqual(self.k.ncalls() - c, 1)
        self.assertLessEqual(self.k.ncalls() - c, 2)

    def test_client_gone_while_waiting(self):
        cookie, uid = self.new_session("gone")
        self.k.delay = 0.5
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.f.port))
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nCookie: "
                      b"ory_kratos_session=" + cookie.encode() +
                      b"\r\n\r\n")
            s.close()
        time.sleep(0.8)
        self.k.delay = 0.0
        r = self.f.get(cookie=cookie)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(self.f.vw.workers()), 2)


OPENSSL = shutil.which("openssl")


@unittest.skipIf(OPENSSL is None, "no openssl CLI")
class TestKratosTLS(unittest.TestCase):
    """kratos.public_url https://: the call goes through TLS, verified
    against the system trust store (here SSL_CERT_FILE)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.new_tmpdir()
        cls.cert = os.path.join(cls.tmp, "k.crt")
        cls.key = os.path.join(cls.tmp, "k.key")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", cls.key, "-out", cls.cert, "-days", "2",
                        "-subj", "/CN=kratos",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        cls.k = Kratos(tls=(cls.cert, cls.key))

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_https_trusted(self):
        f = Fixture(self.k, env={"SSL_CERT_FILE": self.cert})
        try:
            self.k.sessions["tls-cookie"] = ("uid-tls", "t@example.com",
                                             True, time.time() + 600)
            r = f.get(cookie="tls-cookie")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(hdr(upstream_headers(r), "X-User-Id"),
                             ["uid-tls"])
        finally:
            f.close()

    def test_https_untrusted_fails_closed(self):
        empty = os.path.join(self.tmp, "empty.pem")
        open(empty, "w").close()
        f = Fixture(self.k, env={"SSL_CERT_FILE": empty,
                                 "SSL_CERT_DIR": self.tmp})
        try:
            self.k.sessions["tls-cookie2"] = ("uid-tls", "t@example.com",
                                              True, time.time() + 600)
            r = f.get(cookie="tls-cookie2")
            self.assertEqual(r.status, 503, r)
            self.assertIsNotNone(f.vw.wait_event(
                "tls.kratos_handshake_failed"))
        finally:
            f.close()


class TestKratosConfig(unittest.TestCase):
    def test_mode_accepted(self):
        tmp = T.new_tmpdir()
        try:
            cfg = T.base_config(T.free_port(), T.free_port())
            cfg["kratos"] = {"public_url": "http://127.0.0.1:4433"}
            cfg["auth"] = {"mode": "kratos"}
            p = os.path.join(tmp, "c.yaml")
            with open(p, "w") as f:
                f.write(T.to_yaml(cfg) + "\n")
            rc, out, err = T.run_check(p)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("Kratos", err)
            self.assertNotIn("authentication", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
