#!/usr/bin/env python3
"""Outside attacks on the admin process (issue 11): slow clients, forged
tokens, hostile request targets, and a hostile admin answer for
vibewardenctl.  Each test failed before its fix.  The fixture is
test_admin's (its own ports and tmpdir); loopback only, every process
started here is stopped by PID.
"""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_admin as TA  # noqa: E402

TOKEN = TA.TOKEN


def raw(port, data, timeout=5.0):
    """The bytes 127.0.0.1:port answers data with, up to its close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()


def status_of(resp):
    return int(resp.split(b" ", 2)[1])


class AttackAdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = TA.Fixture()

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def test_slowloris_does_not_starve_metrics(self):
        """More slow clients than admin connections, each sending a byte
        well within the idle timeout: MHD's timeout is an idle one, so
        they held every slot for ever and /metrics and /ready (what
        Prometheus and a readiness probe poll) timed out for as long as
        the attack lasted.  A request must now arrive whole within
        ADM_REQUEST_MS (10 s)."""
        fx = self.fx
        socks = []
        try:
            for _ in range(40):
                try:
                    s = socket.create_connection(("127.0.0.1", fx.aport),
                                                 timeout=2)
                    s.sendall(b"GET /_vibewarden/metrics HTTP/1.1\r\nX")
                    socks.append(s)
                except OSError:
                    pass
            self.assertGreaterEqual(len(socks), 32)
            t0 = time.monotonic()
            got = None
            while time.monotonic() - t0 < 20 and got is None:
                for s in socks:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
                try:
                    st, _, _ = TA.http_req(fx.aport, "GET",
                                           "/_vibewarden/ready", timeout=1)
                    got = st
                except OSError:
                    time.sleep(0.5)
            self.assertEqual(got, 200, "the admin port stayed starved")
            self.assertLess(time.monotonic() - t0, 15)
            st, _, _ = TA.http_req(fx.aport, "GET", "/_vibewarden/metrics",
                                   timeout=2)
            self.assertEqual(st, 200)
        finally:
            for s in socks:
                s.close()

    def test_hostile_keys_are_400(self):
        """Keys in the admin paths: a percent-encoded byte that is not
        UTF-8 made the JSON answer (which echoes the key) fail to build,
        and the client got 500 "out of memory"; "ip:" followed by text
        that is no address answered 200 about a bucket that can never
        exist (a reset that silently reset nothing)."""
        fx = self.fx
        for method, path in (
                ("GET", "/_vibewarden/admin/ratelimit/user:%ff%fe"),
                ("DELETE", "/_vibewarden/admin/ratelimit/user:a%c3"),
                ("DELETE", "/_vibewarden/admin/sessions/%ff"),
                ("GET", "/_vibewarden/admin/ratelimit/ip:not-an-ip"),
                ("DELETE", "/_vibewarden/admin/ratelimit/ip:"),
                ("DELETE", "/_vibewarden/admin/ratelimit/ip:1.2.3.4x")):
            st, _, b = fx.admin(method, path)
            self.assertEqual(st, 400, (method, path, b))
            self.assertEqual(json.loads(b)["error"], "invalid_key")
        for key in ("ip:127.0.0.1", "ip:::1", "user:%c3%a9t%c3%a9"):
            st, _, b = fx.admin("GET", "/_vibewarden/admin/ratelimit/" + key)
            self.assertEqual(st, 200, (key, b))

    def test_read_only_endpoints_refuse_other_methods(self):
        """POST, PUT, DELETE (any method) on /health, /ready and /metrics
        answered 200 as a GET: a state-changing method on a read-only
        resource must be 405 with Allow (RFC 9110 15.5.6), and HEAD
        must keep working (9.3.2)."""
        fx = self.fx
        for path in ("/_vibewarden/health", "/_vibewarden/healthz",
                     "/_vibewarden/ready", "/_vibewarden/metrics"):
            for m in ("POST", "PUT", "DELETE", "PATCH", "FOO"):
                st, h, b = TA.http_req(fx.aport, m, path, body=b"{}")
                self.assertEqual(st, 405, (m, path))
                self.assertEqual(h.get("Allow"), "GET, HEAD")
                self.assertEqual(json.loads(b)["error"],
                                 "method_not_allowed")
            for m in ("GET", "HEAD"):
                st, _, _ = TA.http_req(fx.aport, m, path)
                self.assertEqual(st, 200, (m, path))


class ShortTokenTest(unittest.TestCase):
    """A short admin token: the admin API has no lockout, MHD answers a
    401 in well under a millisecond, and 32 connections guess in
    parallel, so any local user could enumerate a token of a few
    characters in minutes.  Such a token now turns the API off."""

    def test_short_token_refused(self):
        for short, src in (("abc123", "token"), ("fifteen-chars-x", "file")):
            extra = {"admin": {"token": short}} if src == "token" else None
            fx = TA.Fixture(token=False, extra=extra)
            try:
                if src == "file":
                    tf = os.path.join(fx.tmp, "short")
                    with open(tf, "w") as f:
                        f.write(short + "\n")
                    fx.close()
                    fx = TA.Fixture(token=False, extra={
                        "admin": {"token_file": tf}})
                st, _, b = fx.admin("GET", "/_vibewarden/admin/status",
                                    token=short)
                self.assertEqual(st, 404, (src, b))
                ev = fx.vw.wait_event("admin.token_error")
                self.assertIsNotNone(ev)
                self.assertNotIn(short, fx.vw.stdout())
            finally:
                fx.close()
        fx = TA.Fixture(token=False, extra={
            "admin": {"token": "sixteen-chars-xx"}})
        try:
            st, _, _ = fx.admin("GET", "/_vibewarden/admin/status",
                                token="sixteen-chars-xx")
            self.assertEqual(st, 200)
        finally:
            fx.close()


def key_scalar(tmp):
    """(cert, key, 32-byte private scalar) of a new P-256 pair."""
    key = os.path.join(tmp, "k.pem")
    crt = os.path.join(tmp, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    txt = subprocess.run(["openssl", "pkey", "-in", key, "-text", "-noout"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", txt)
    return crt, key, bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))[-32:]


def mem_count(pid, needle):
    """How often needle is in pid's readable private memory."""
    n = 0
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for ln in maps:
            a = ln.split()
            if "r" not in a[1] or (len(a) > 5 and a[5].startswith("[v")):
                continue
            lo, hi = (int(x, 16) for x in a[0].split("-"))
            try:
                mem.seek(lo)
                n += mem.read(hi - lo).count(needle)
            except (OSError, ValueError, OverflowError):
                pass
    return n


@unittest.skipUnless(os.geteuid() == 0, "reads another process's memory")
class AdminKeyTest(unittest.TestCase):
    """The admin process is the one that parses HTTP from anyone who can
    reach admin.listen (libmicrohttpd), yet it held the TLS private key:
    forked from the master after the generation's material was loaded.
    A memory disclosure there would have given the key away."""

    @classmethod
    def setUpClass(cls):
        if TA.T.sanitized():
            # ASan maps terabytes of shadow memory and keeps freed
            # blocks in quarantine: a scan of the process says nothing.
            raise unittest.SkipTest("memory scan not meaningful under ASan")
        cls.tmp = TA.T.new_tmpdir()
        crt, key, cls.priv = key_scalar(cls.tmp)
        cls.fx = TA.Fixture(extra={"tls": {
            "enabled": True, "provider": "external", "cert_path": crt,
            "key_path": key}})

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def admin(self):
        pid = self.fx.admin_pid()
        self.assertIsNotNone(pid)
        return pid

    def test_no_live_key_in_admin(self):
        # The key as OpenSSL holds it: a BIGNUM, little-endian limbs.
        # A worker must still have it (it serves TLS).
        w = [k for k in self.fx.vw.children()
             if "worker" in TA.T.proc_cmdline(k)]
        self.assertGreater(mem_count(w[0], self.priv[::-1]), 0)
        self.assertEqual(mem_count(self.admin(), self.priv[::-1]), 0)
        st, _, b = TA.http_req(self.fx.aport, "GET", "/_vibewarden/ready")
        self.assertEqual(st, 200, b)

    def test_no_key_bytes_in_admin(self):
        # The scalar's bytes in any form: PEM_read_bio_PrivateKey() left
        # a copy of the decoded DER in memory freed without clearing,
        # which every child forked later inherited.
        self.assertEqual(mem_count(self.admin(), self.priv), 0)

    def test_no_proxy_listener_or_ticket_keys(self):
        """The admin process inherited the proxy's listening socket (it
        could accept() the proxy's clients) and the session-ticket key
        page (which decrypts every resumed session's secrets)."""
        lst = set()
        with open("/proc/net/tcp") as f:
            for ln in f.readlines()[1:]:
                a = ln.split()
                if a[3] == "0A" and int(a[1].split(":")[1], 16) == \
                        self.fx.port:
                    lst.add("socket:[%s]" % a[9])
        self.assertTrue(lst)
        pid = self.admin()
        fds = set()
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                fds.add(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
            except OSError:
                pass
        self.assertFalse(fds & lst, fds)
        self.assertFalse([x for x in fds if "tickets" in x], fds)
        with open("/proc/%d/maps" % pid) as f:
            self.assertNotIn("vibewarden-tickets", f.read())
        r = TA.T.Client(self.fx.port)
        r.close()


class Hostile:
    """An admin listener that answers vibewardenctl with terminal escapes
    and an endless body, and notes who sent it a token."""

    ESC = "\u001b]0;pwned\u0007\u001b[2J\u009b31m\r"

    def __init__(self):
        self.auth = {}
        ho = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, st, body, ctype="application/json"):
                self.send_response(st)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                ho.auth[self.path] = self.headers.get("Authorization")
                e = ho.ESC
                if self.path == "/_vibewarden/admin/status":
                    return self.send(200, json.dumps(
                        {"version": e, "x" + e: {"y" + e: e},
                         "workers": 2}).encode())
                if self.path.startswith("/_vibewarden/admin/users"):
                    return self.send(200, json.dumps({"users": [
                        {"id": e, "status": e, "created_at": e,
                         "email": e + "@x.test"}]}).encode())
                if self.path == "/_vibewarden/admin/sessions":
                    return self.send(500, json.dumps(
                        {"error": "x", "message": e}).encode())
                if self.path == "/_vibewarden/metrics":
                    return self.send(200, ("# HELP m " + e + "\nm 1\n")
                                     .encode(), "text/plain")
                if self.path == "/_vibewarden/health":
                    return self.send(200, json.dumps(
                        {"status": e + "ok"}).encode())
                if self.path == "/_vibewarden/ready":
                    # An endless answer: vibewardenctl must stop reading.
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    chunk = b"a" * 65536
                    try:
                        while True:
                            self.wfile.write(chunk)
                    except OSError:
                        return
                self.send(404, b"{}")

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def ctl(self, *args, timeout=20):
        e = dict(os.environ)
        e["VIBEWARDEN_ADMIN_TOKEN"] = TOKEN
        p = subprocess.run([TA.CTL, "-u", "http://127.0.0.1:%d" % self.port]
                           + list(args), capture_output=True, env=e,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class HostileAnswerTest(unittest.TestCase):
    """vibewardenctl against a hostile admin listener (another local
    user's process on the admin port while vibewarden is down, or user
    data Kratos stored): escapes reached the operator's terminal as they
    were, an endless answer was read into memory until the 30 s timeout,
    and the token went with health, ready and metrics too."""

    @classmethod
    def setUpClass(cls):
        cls.h = Hostile()

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def clean(self, b, what):
        for bad in (b"\x1b", b"\x07", b"\r", b"\xc2\x9b"):
            self.assertNotIn(bad, b, what)

    def test_escapes_made_harmless(self):
        for args in (("status",), ("users", "list"), ("health",),
                     ("metrics",), ("sessions", "show"),
                     ("--json", "status"), ("--json", "metrics")):
            rc, out, err = self.h.ctl(*args)
            self.clean(out, args)
            self.clean(err, args)
            self.assertTrue(out or err, args)
        rc, out, _ = self.h.ctl("status")
        self.assertEqual(rc, 0)
        self.assertIn(b"workers: 2", out)

    def test_endless_answer_bounded(self):
        t0 = time.monotonic()
        rc, out, err = self.h.ctl("ready", timeout=40)
        self.assertNotEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertIn(b"larger than", err)

    def test_token_only_to_admin_api(self):
        for args in (("health",), ("metrics",), ("status",)):
            self.h.ctl(*args)
        self.assertIsNone(self.h.auth["/_vibewarden/health"])
        self.assertIsNone(self.h.auth["/_vibewarden/metrics"])
        self.assertEqual(self.h.auth["/_vibewarden/admin/status"],
                         "Bearer " + TOKEN)


if __name__ == "__main__":
    unittest.main()
