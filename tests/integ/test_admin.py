#!/usr/bin/env python3
"""Integration tests for the admin process, the metrics and vibewardenctl
(issue 11): the real binary with 2 workers, the real test upstream, and a
Kratos admin API stand-in in this process.  Loopback only; every process
started here is stopped by PID.
"""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vwtest as T  # noqa: E402
import test_ratelimit as TR  # noqa: E402

TOKEN = "s3cret-admin-token-0123456789"
CTL = os.environ.get("VW_CTL") or os.path.join(
    os.path.dirname(os.path.abspath(T.VW_BIN)), "vibewardenctl")


# ------------------------------------------------------------ Kratos stand-in

class Kratos:
    """The part of the Kratos admin API the users endpoints use."""

    def __init__(self):
        self.ids = {}
        self.calls = []
        kr = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, st, obj):
                b = json.dumps(obj).encode()
                self.send_response(st)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"null")

            def do_GET(self):
                kr.calls.append(("GET", self.path))
                p = self.path.split("?")[0]
                if p == "/admin/identities":
                    return self.reply(200, list(kr.ids.values()))
                m = re.match(r"^/admin/identities/([^/]+)$", p)
                if m and m.group(1) in kr.ids:
                    return self.reply(200, kr.ids[m.group(1)])
                self.reply(404, {"error": {"code": 404}})

            def do_POST(self):
                kr.calls.append(("POST", self.path))
                b = self.body()
                if self.path == "/admin/identities":
                    em = b["traits"]["email"]
                    if any(i["traits"]["email"] == em
                           for i in kr.ids.values()):
                        return self.reply(409, {"error": {"code": 409}})
                    i = {"id": str(uuid.uuid4()), "schema_id": b["schema_id"],
                         "state": "active", "traits": {"email": em},
                         "created_at": "2026-01-02T03:04:05Z"}
                    kr.ids[i["id"]] = i
                    return self.reply(201, i)
                if self.path == "/admin/recovery/link":
                    return self.reply(200, {
                        "recovery_link": "http://kratos.test/recover?i=" +
                        b["identity_id"]})
                self.reply(404, {})

            def do_PATCH(self):
                kr.calls.append(("PATCH", self.path))
                b = self.body()
                m = re.match(r"^/admin/identities/([^/]+)$", self.path)
                if not m or m.group(1) not in kr.ids:
                    return self.reply(404, {"error": {"code": 404}})
                for op in b:
                    if op["path"] == "/state":
                        kr.ids[m.group(1)]["state"] = op["value"]
                self.reply(200, kr.ids[m.group(1)])

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


# ------------------------------------------------------------ helpers

def http_req(port, method, path, token=None, body=None, headers=None,
             timeout=5.0):
    """(status, headers dict, body bytes) from 127.0.0.1:port."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    rq = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(rq, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', ln)
        assert m, ln
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                                      m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())), 0.0)


def settled(fx, check, timeout=3.0):
    """Metrics once check(metrics) passes: a worker counts a request
    right after its answer is written, so a scrape that races the last
    answer may be a moment early.  The last failure is raised."""
    end = time.monotonic() + timeout
    while True:
        ms = parse_metrics(fx.metrics())
        try:
            check(ms)
            return ms
        except AssertionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


class Fixture:
    def __init__(self, token=True, upstream=True, extra=None, env=None):
        self.tmp = T.new_tmpdir()
        self.up = self.vw = self.kratos = None
        try:
            self.kratos = Kratos()
            if upstream:
                self.up = T.Upstream(self.tmp).start()
                up_port = self.up.port
            else:
                up_port = T.free_port()
            self.port = T.free_port()
            self.aport = T.free_port()
            cfg = T.base_config(self.port, up_port, self.aport)
            cfg["admin"]["enabled"] = True
            if token:
                self.tokfile = os.path.join(self.tmp, "token")
                with open(self.tokfile, "w") as f:
                    f.write(TOKEN + "\n")
                os.chmod(self.tokfile, 0o644)
                cfg["admin"]["token_file"] = self.tokfile
            cfg["kratos"] = {"admin_url": "http://127.0.0.1:%d" %
                             self.kratos.port}
            cfg["telemetry"] = {"path_patterns": ["/status/:code",
                                                  "/malformed"]}
            cfg["rate_limit"] = {"enabled": True, "per_ip": {
                "requests_per_second": 0.01, "burst": 8}}
            cfg["shm"] = {"path": os.path.join(self.tmp, "shm"),
                          "map_size": "8MB"}
            cfg["body_size"] = {"max": "1KB"}
            cfg["ip_filter"] = {"enabled": True, "mode": "blocklist",
                                "addresses": ["127.0.7.1"]}
            if extra:
                T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg)
            self.started = time.time()
            self.vw.start(env=env)
            if not T.wait_port(self.aport, 10):
                raise RuntimeError("admin listener did not come up: %s" %
                                   self.vw.stdout()[-2000:])
        except Exception:
            self.close()
            raise

    def close(self):
        if self.vw:
            self.vw.stop()
        if self.up:
            self.up.stop()
        if self.kratos:
            self.kratos.stop()
        if os.environ.get("VW_KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def admin(self, method, path, token=TOKEN, **kw):
        return http_req(self.aport, method, path, token, **kw)

    def metrics(self, timeout=10.0):
        end = time.monotonic() + timeout
        while True:
            try:
                st, _, b = http_req(self.aport, "GET", "/_vibewarden/metrics")
                if st == 200:
                    return b.decode()
            except OSError:
                pass
            if time.monotonic() > end:
                raise AssertionError("no metrics")
            time.sleep(0.05)

    def get(self, target, src="127.0.0.1"):
        with T.Client(self.port, src=src) as c:
            return c.request("GET", target)

    def admin_pid(self):
        for k in self.vw.children():
            if "admin" in T.proc_cmdline(k) and \
                    T.proc_state(k) not in (None, "Z"):
                return k
        return None

    def ctl(self, *args, env=None, token=True):
        e = dict(os.environ)
        e.pop("VIBEWARDEN_ADMIN_TOKEN", None)
        if token:
            e["VIBEWARDEN_ADMIN_TOKEN"] = TOKEN
        e.update(env or {})
        p = subprocess.run([CTL, "-u", "http://127.0.0.1:%d" % self.aport] +
                           list(args), capture_output=True, env=e,
                           timeout=20, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()


class AdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture()

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    # ------------------------------------------------------------ token

    def test_token(self):
        fx = self.fx
        p = "/_vibewarden/admin/status"
        st, h, b = fx.admin("GET", p, token=None)
        self.assertEqual(st, 401)
        self.assertEqual(h.get("WWW-Authenticate"),
                         'Bearer realm="vibewarden-admin"')
        self.assertEqual(json.loads(b)["error"], "unauthorized")
        for bad in ("wrong", TOKEN[:-1] + "X", TOKEN[:-1], TOKEN + "x", ""):
            st, _, b = fx.admin("GET", p, token=bad)
            self.assertEqual(st, 401, bad)
            self.assertEqual(json.loads(b)["error"], "unauthorized")
        st, _, b = fx.admin("GET", p)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b)["workers"], 2)
        st, _, _ = fx.admin("GET", p, token=None,
                            headers={"X-Admin-Key": TOKEN})
        self.assertEqual(st, 200)
        # Logged as admin.* events, never with the token.
        self.assertIsNotNone(fx.vw.wait_event("admin.unauthorized"))
        self.assertIsNotNone(fx.vw.wait_event("admin.status"))
        self.assertNotIn(TOKEN, fx.vw.stdout())
        self.assertNotIn(TOKEN[:-1], fx.vw.stdout())
        # The token file is readable by others: a warning.
        self.assertIsNotNone(fx.vw.wait_event("admin.token_file_mode"))

    # ------------------------------------------------------- public port

    def test_public_port_404(self):
        fx = self.fx
        before = len(fx.up.requests())
        for path in ("/_vibewarden/metrics", "/_vibewarden/admin/status",
                     "/_vibewarden/admin/users", "/_vibewarden/admin/",
                     "/_vibewarden/config"):
            with T.Client(fx.port, src="127.0.0.4") as c:
                r = c.request("GET", path, headers=[
                    ("Authorization", "Bearer " + TOKEN)])
            self.assertEqual(r.status, 404, path)
            self.assertEqual(r.json()["error"], "not_found")
        self.assertEqual(len(fx.up.requests()), before)

    # ---------------------------------------------------- health, ready

    def test_health_ready_both_listeners(self):
        fx = self.fx
        st, _, b = http_req(fx.aport, "GET", "/_vibewarden/health")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b)["status"], "ok")
        r = fx.get("/_vibewarden/health", src="127.0.0.5")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "ok")
        r = fx.get("/_vibewarden/healthz", src="127.0.0.5")
        self.assertEqual(r.status, 200)
        # The first ask starts the probe; then both say "reachable".
        end = time.monotonic() + 5
        while True:
            st, _, b = http_req(fx.aport, "GET", "/_vibewarden/ready")
            r = fx.get("/_vibewarden/ready", src="127.0.0.5")
            if json.loads(b).get("upstream") == "reachable" and \
                    r.json().get("upstream") == "reachable":
                break
            self.assertLess(time.monotonic(), end, (b, r.body))
            time.sleep(0.2)
        self.assertEqual(st, 200)
        self.assertEqual(r.status, 200)

    # ------------------------------------------------------------ metrics

    def test_promtool(self):
        text = self.fx.metrics()
        self.assertIn("vibewarden_requests_total", text)
        ms = parse_metrics(text)
        st = val(ms, "process_start_time_seconds")
        self.assertLess(abs(st - self.fx.started), 5, st)
        self.assertGreater(val(ms, "process_resident_memory_bytes"), 0)
        self.assertGreater(val(ms, "vibewarden_shm_size_bytes"), 0)
        if shutil.which("promtool") is None:
            self.skipTest("promtool not installed (Debian package "
                          "prometheus); CI installs it")
        p = subprocess.run(["promtool", "check", "metrics"],
                           input=text.encode(), capture_output=True,
                           timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def burst(self, n=5):
        """n requests of each kind, each batch from its own source."""
        fx = self.fx
        for i in range(n):
            self.assertEqual(fx.get("/status/200", "127.0.1.1").status, 200)
            self.assertEqual(fx.get("/status/404", "127.0.1.2").status, 404)
            self.assertEqual(fx.get("/malformed", "127.0.1.3").status, 502)
            with T.Client(fx.port, src="127.0.1.5") as c:
                r = c.request("POST", "/status/200", headers=[
                    ("Content-Length", "4096")])
            self.assertEqual(r.status, 413)
        # 8 tokens of burst, then 429s.
        for i in range(8 + n):
            r = fx.get("/status/201", "127.0.1.4")
            self.assertEqual(r.status, 200 + (i < 8 and 1 or 229), i)
        # Reset the keys for the next round (admin API).
        for ip in ("127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4",
                   "127.0.1.5"):
            st, _, b = fx.admin("DELETE", "/_vibewarden/admin/ratelimit/ip:" +
                                ip)
            self.assertEqual(st, 200, b)

    def check_deltas(self, m0, m1, n):
        R = "vibewarden_requests_total"
        self.assertEqual(val(m1, R, method="GET", status_code="200",
                             path_pattern="/status/:code") -
                         val(m0, R, method="GET", status_code="200",
                             path_pattern="/status/:code"), n)
        self.assertEqual(val(m1, R, method="GET", status_code="404",
                             path_pattern="/status/:code") -
                         val(m0, R, method="GET", status_code="404",
                             path_pattern="/status/:code"), n)
        self.assertEqual(val(m1, R, method="GET", status_code="502",
                             path_pattern="/malformed") -
                         val(m0, R, method="GET", status_code="502",
                             path_pattern="/malformed"), n)
        self.assertEqual(val(m1, R, method="GET", status_code="429",
                             path_pattern="/status/:code") -
                         val(m0, R, method="GET", status_code="429",
                             path_pattern="/status/:code"), n)
        self.assertEqual(val(m1, R, method="GET", status_code="201",
                             path_pattern="/status/:code") -
                         val(m0, R, method="GET", status_code="201",
                             path_pattern="/status/:code"), 8)
        self.assertEqual(val(m1, R, method="POST", status_code="413",
                             path_pattern="/status/:code") -
                         val(m0, R, method="POST", status_code="413",
                             path_pattern="/status/:code"), n)
        self.assertEqual(val(m1, "vibewarden_upstream_errors_total") -
                         val(m0, "vibewarden_upstream_errors_total"), n)
        self.assertEqual(val(m1, "vibewarden_rate_limit_hits_total",
                             limit_type="ip") -
                         val(m0, "vibewarden_rate_limit_hits_total",
                             limit_type="ip"), n)
        H = "vibewarden_request_duration_seconds_count"
        self.assertEqual(val(m1, H, method="GET",
                             path_pattern="/malformed") -
                         val(m0, H, method="GET", path_pattern="/malformed"),
                         n)

    def test_block_counters(self):
        fx = self.fx
        m0 = parse_metrics(fx.metrics())
        for _ in range(3):
            # A listed peer is closed right after accept, unanswered.
            with T.Client(fx.port, src="127.0.7.1") as c:
                c.send(T.build_request("GET", "/status/200"))
                self.assertTrue(c.is_closed())
            with T.Client(fx.port, src="127.0.7.2") as c:
                r = c.request("POST", "/status/200", headers=[
                    ("Cookie", "a=b"), ("Sec-Fetch-Site", "cross-site"),
                    ("Content-Length", "0")])
            self.assertEqual(r.status, 403)
            self.assertEqual(r.json()["error"], "csrf_rejected")
        # The WAF (on by default, detect mode) lets an attack through.
        r = fx.get("/status/200?id=1%27%20OR%20%271%27%3D%271%27--",
                   "127.0.7.3")
        self.assertEqual(r.status, 200)

        def waf(ms):
            return sum(v for (n, lab), v in ms.items()
                       if n == "vibewarden_waf_detections_total" and
                       ("mode", "detect") in lab)

        def check(m1):
            self.assertEqual(waf(m1) - waf(m0), 1)
            for name in ("vibewarden_ip_filter_blocks_total",
                         "vibewarden_csrf_blocks_total"):
                self.assertEqual(val(m1, name) - val(m0, name), 3, name)
            R = "vibewarden_requests_total"
            self.assertEqual(val(m1, R, method="POST", status_code="403",
                                 path_pattern="/status/:code") -
                             val(m0, R, method="POST", status_code="403",
                                 path_pattern="/status/:code"), 3)
        settled(fx, check)

    def assert_monotonic(self, m0, m1, why):
        for k, v in m0.items():
            if k[0] in ("vibewarden_active_connections",
                        "vibewarden_websocket_tunnels",
                        "vibewarden_shm_used_bytes"):
                continue
            self.assertGreaterEqual(m1.get(k, 0.0), v, (why, k))

    def test_counters_exact_and_monotonic(self):
        fx = self.fx
        n = 5
        m0 = parse_metrics(fx.metrics())
        self.burst(n)
        m1 = settled(fx, lambda m: self.check_deltas(m0, m, n))

        # kill -9 of a worker: its slot's counts stay.
        w = fx.vw.workers()
        self.assertEqual(len(w), 2)
        os.kill(w[0], signal.SIGKILL)
        end = time.monotonic() + 5
        while True:
            ws = fx.vw.workers()
            if len(ws) == 2 and w[0] not in ws:
                break
            self.assertLess(time.monotonic(), end)
            time.sleep(0.05)
        m2 = parse_metrics(fx.metrics())
        self.assert_monotonic(m1, m2, "worker killed")
        self.assertEqual(val(m2, "vibewarden_worker_restarts_total") -
                         val(m1, "vibewarden_worker_restarts_total"), 1)
        time.sleep(0.3)
        self.burst(n)
        m3 = settled(fx, lambda m: self.check_deltas(m2, m, n))

        # SIGHUP: a new generation and a new admin process.
        old_admin = fx.admin_pid()
        fx.vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(fx.vw.wait_event("config.reloaded",
                                              timeout=10))
        end = time.monotonic() + 10
        while fx.admin_pid() in (None, old_admin):
            self.assertLess(time.monotonic(), end)
            time.sleep(0.05)
        m4 = parse_metrics(fx.metrics())
        self.assert_monotonic(m3, m4, "reload")
        time.sleep(0.3)
        self.burst(n)
        settled(fx, lambda m: self.check_deltas(m4, m, n))

    # ------------------------------------------------------------ users

    def test_users(self):
        fx = self.fx
        U = "/_vibewarden/admin/users"
        st, _, b = fx.admin("POST", U, body={"email": "ann@example.test"})
        self.assertEqual(st, 201, b)
        u = json.loads(b)
        self.assertEqual(u["email"], "ann@example.test")
        self.assertTrue(u["recovery_link"].endswith(u["id"]))
        st, _, b = fx.admin("POST", U, body={"email": "ann@example.test"})
        self.assertEqual((st, json.loads(b)["error"]), (409, "user_exists"))
        st, _, b = fx.admin("POST", U, body={"email": "not-an-email"})
        self.assertEqual((st, json.loads(b)["error"]), (400, "invalid_email"))
        st, _, b = fx.admin("POST", U, body=b"{nope")
        self.assertEqual((st, json.loads(b)["error"]),
                         (400, "invalid_request"))
        st, _, b = fx.admin("GET", U + "?page=1&per_page=10")
        self.assertEqual(st, 200)
        lst = json.loads(b)
        self.assertIn(u["id"], [x["id"] for x in lst["users"]])
        self.assertEqual((lst["page"], lst["per_page"]), (1, 10))
        st, _, b = fx.admin("GET", U + "/" + u["id"])
        self.assertEqual((st, json.loads(b)["status"]), (200, "active"))
        st, _, b = fx.admin("DELETE", U + "/" + u["id"])
        self.assertEqual((st, json.loads(b)["status"]), (200, "deactivated"))
        st, _, b = fx.admin("GET", U + "/" + u["id"])
        self.assertEqual((st, json.loads(b)["status"]), (200, "inactive"))
        st, _, b = fx.admin("GET", U + "/not-a-uuid")
        self.assertEqual((st, json.loads(b)["error"]), (400, "invalid_uuid"))
        st, _, b = fx.admin("GET", U + "/" + str(uuid.uuid4()))
        self.assertEqual((st, json.loads(b)["error"]),
                         (404, "user_not_found"))
        self.assertIn(("PATCH", "/admin/identities/" + u["id"]),
                      fx.kratos.calls)
        self.assertIsNotNone(fx.vw.wait_event("admin.user_created"))
        self.assertIsNotNone(fx.vw.wait_event("admin.user_deactivated"))

    def test_config_redacted(self):
        st, _, b = self.fx.admin("GET", "/_vibewarden/admin/config")
        self.assertEqual(st, 200)
        c = json.loads(b)["config"]
        self.assertIn("token_file:", c)
        self.assertNotIn(TOKEN, c)

    def test_ratelimit_show_reset(self):
        fx = self.fx
        for _ in range(3):
            fx.get("/status/200", "127.0.2.1")
        st, _, b = fx.admin("GET", "/_vibewarden/admin/ratelimit/"
                            "ip:127.0.2.1")
        j = json.loads(b)
        self.assertEqual((st, j["known"], j["remaining"], j["burst"]),
                         (200, True, 5, 8))
        st, _, b = fx.admin("DELETE", "/_vibewarden/admin/ratelimit/"
                            "ip:127.0.2.1")
        self.assertEqual((st, json.loads(b)["reset"]), (200, True))
        st, _, b = fx.admin("GET", "/_vibewarden/admin/ratelimit/"
                            "ip:127.0.2.1")
        self.assertEqual(json.loads(b)["remaining"], 8)
        st, _, b = fx.admin("GET", "/_vibewarden/admin/ratelimit/bogus")
        self.assertEqual((st, json.loads(b)["error"]), (400, "invalid_key"))

    # ------------------------------------------------------ vibewardenctl

    def test_ctl(self):
        fx = self.fx
        rc, out, err = fx.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertIn("workers: 2", out)
        rc, out, _ = fx.ctl("--json", "status")
        self.assertEqual((rc, json.loads(out)["workers"]), (0, 2))
        rc, out, _ = fx.ctl("health")
        self.assertEqual(rc, 0)
        self.assertIn("status: ok", out)
        rc, out, _ = fx.ctl("--json", "health")
        self.assertEqual(json.loads(out)["status"], "ok")
        rc, out, _ = fx.ctl("metrics")
        self.assertEqual(rc, 0)
        self.assertIn("# TYPE vibewarden_requests_total counter", out)
        rc, out, _ = fx.ctl("--json", "metrics")
        self.assertEqual(rc, 0)
        self.assertIn("vibewarden_connections_total",
                      [m["name"] for m in json.loads(out)])
        rc, out, err = fx.ctl("users", "add", "bob@example.test")
        self.assertEqual(rc, 0, err)
        self.assertIn("recovery_link: http://kratos.test/", out)
        rc, out, _ = fx.ctl("--json", "users", "add", "cy@example.test")
        cy = json.loads(out)["id"]
        rc, out, _ = fx.ctl("users", "list")
        self.assertEqual(rc, 0)
        self.assertIn("bob@example.test", out)
        self.assertIn("EMAIL", out.splitlines()[0])
        rc, out, _ = fx.ctl("--json", "users", "list")
        self.assertIn(cy, [u["id"] for u in json.loads(out)["users"]])
        rc, out, _ = fx.ctl("users", "show", cy)
        self.assertEqual((rc, "email: cy@example.test" in out), (0, True))
        rc, out, _ = fx.ctl("--json", "users", "show", cy)
        self.assertEqual(json.loads(out)["status"], "active")
        rc, out, _ = fx.ctl("ready")
        self.assertEqual(rc, 0)
        self.assertIn("ready: true", out)
        rc, out, _ = fx.ctl("--json", "ready")
        self.assertIs(json.loads(out)["ready"], True)
        rc, out, _ = fx.ctl("users", "delete", cy)
        self.assertEqual((rc, "status: deactivated" in out), (0, True))
        rc, out, _ = fx.ctl("--json", "users", "delete", cy)
        self.assertEqual(json.loads(out)["status"], "deactivated")
        rc, _, _ = fx.ctl("users", "delete", str(uuid.uuid4()))
        self.assertEqual(rc, 1)
        fx.get("/status/200", "127.0.3.1")
        rc, out, _ = fx.ctl("ratelimit", "show", "ip:127.0.3.1")
        self.assertEqual(rc, 0)
        self.assertIn("remaining: 7", out)
        rc, out, _ = fx.ctl("--json", "ratelimit", "reset", "ip:127.0.3.1")
        self.assertEqual((rc, json.loads(out)["reset"]), (0, True))
        rc, out, _ = fx.ctl("ratelimit", "reset", "ip:127.0.3.1")
        self.assertEqual((rc, "reset: false" in out), (0, True))
        rc, out, _ = fx.ctl("--json", "ratelimit", "show", "ip:127.0.3.1")
        self.assertEqual(json.loads(out)["remaining"], 8)
        # Sessions: no session cache without auth.mode kratos (404).
        rc, _, err = fx.ctl("sessions", "flush")
        self.assertEqual(rc, 1, err)
        self.assertIn("no session cache", err)
        rc, out, err = fx.ctl("--json", "sessions", "revoke", "someone")
        self.assertEqual((rc, json.loads(out)["error"]), (1, "not_found"))
        # Exit codes: bad token 4, usage 2, unreachable 3.
        rc, _, _ = fx.ctl("status", env={"VIBEWARDEN_ADMIN_TOKEN": "nope"})
        self.assertEqual(rc, 4)
        rc, _, _ = fx.ctl("status", token=False)
        self.assertEqual(rc, 4)
        tf = os.path.join(fx.tmp, "ctl-token")
        with open(tf, "w") as f:
            f.write(TOKEN + "\n")
        rc, _, _ = fx.ctl("-t", tf, "status", token=False)
        self.assertEqual(rc, 0)
        rc, _, _ = fx.ctl("frobnicate")
        self.assertEqual(rc, 2)
        p = subprocess.run([CTL, "-u", "http://127.0.0.1:%d" % T.free_port(),
                            "health"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 3)

    def test_ctl_reload(self):
        fx = self.fx
        n = len(fx.vw.events("config.reloaded"))
        old_admin = fx.admin_pid()
        # A stuck admin client must not hold the port over the handover.
        stuck = socket.create_connection(("127.0.0.1", fx.aport), timeout=2)
        stuck.sendall(b"GET /_vibewarden/metrics HTTP/1.1\r\n")
        try:
            rc, out, _ = fx.ctl("reload")
            self.assertEqual((rc, out.strip()), (0, "reload requested"))
            end = time.monotonic() + 10
            while len(fx.vw.events("config.reloaded")) <= n:
                self.assertLess(time.monotonic(), end)
                time.sleep(0.05)
            t0 = time.monotonic()
            while fx.admin_pid() in (None, old_admin):
                self.assertLess(time.monotonic() - t0, 3.0)
                time.sleep(0.05)
            fx.metrics(timeout=3.0)
            self.assertLess(time.monotonic() - t0, 3.0)
        finally:
            stuck.close()
        self.assertIsNotNone(fx.vw.wait_event("admin.reload"))
        rc, out, _ = fx.ctl("--json", "reload")
        self.assertEqual((rc, json.loads(out)["success"]), (0, True))
        end = time.monotonic() + 10
        while len(fx.vw.events("config.reloaded")) <= n + 1:
            self.assertLess(time.monotonic(), end)
            time.sleep(0.05)
        fx.metrics()

    # ------------------------------------------------------ faults

    def test_zz_admin_kill9_respawn(self):
        fx = self.fx
        pid = fx.admin_pid()
        self.assertIsNotNone(pid)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                st, _, _ = http_req(fx.aport, "GET", "/_vibewarden/health",
                                    timeout=0.5)
                if st == 200 and fx.admin_pid() not in (None, pid):
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic() - t0, 1.0)
            time.sleep(0.02)

    def test_slow_admin_clients(self):
        fx = self.fx
        socks = []
        try:
            for _ in range(40):
                try:
                    s = socket.create_connection(("127.0.0.1", fx.aport),
                                                 timeout=2)
                    s.sendall(b"GET /_vibewarden/metrics HTTP/1.1\r\nHo")
                    socks.append(s)
                except OSError:
                    pass
            for i in range(10):
                t0 = time.monotonic()
                r = fx.get("/status/200", "127.0.4.%d" % (i + 1))
                self.assertEqual(r.status, 200)
                self.assertLess(time.monotonic() - t0, 0.5)
        finally:
            for s in socks:
                s.close()


class NoTokenTest(unittest.TestCase):
    """admin.enabled without a token, and no upstream at all."""

    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture(token=False, upstream=False)

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()

    def test_admin_off_404(self):
        for tok in (None, TOKEN, ""):
            st, _, b = self.fx.admin("GET", "/_vibewarden/admin/status",
                                     token=tok)
            self.assertEqual(st, 404)
            self.assertEqual(json.loads(b)["error"], "not_found")
        st, _, _ = self.fx.admin("GET", "/_vibewarden/metrics", token=None)
        self.assertEqual(st, 200)

    def test_ready_503_without_upstream(self):
        fx = self.fx
        end = time.monotonic() + 5
        while True:
            st, _, b = http_req(fx.aport, "GET", "/_vibewarden/ready")
            r = fx.get("/_vibewarden/ready")
            if st == 503 and r.status == 503:
                break
            self.assertLess(time.monotonic(), end, (st, b, r))
            time.sleep(0.2)
        self.assertEqual(json.loads(b)["reason"], "upstream_unreachable")
        self.assertEqual(r.json()["reason"], "upstream_unreachable")
        st, _, b = http_req(fx.aport, "GET", "/_vibewarden/health")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b)["components"]["upstream"],
                         "unreachable")
        rc, out, _ = fx.ctl("ready", token=False)
        self.assertEqual(rc, 1)
        self.assertIn("reason: upstream_unreachable", out)


@unittest.skipUnless(os.access(TR.REDIS, os.X_OK), "no redis-server")
class RedisRateLimitTest(unittest.TestCase):
    """ratelimit show/reset with rate_limit.store: redis: the admin
    process reads and deletes the bucket in Redis itself."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.new_tmpdir()
        cls.redis = TR.Redis(cls.tmp).start()
        try:
            cls.fx = Fixture(extra={"rate_limit": {
                "store": "redis",
                "redis": {"url": "redis://127.0.0.1:%d/0" % cls.redis.port,
                          "key_prefix": "vwadm", "fallback": False}}})
        except Exception:
            cls.redis.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()
        cls.redis.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_show_reset_in_redis(self):
        fx = self.fx
        path = "/_vibewarden/admin/ratelimit/ip:127.0.2.9"
        st, _, b = fx.admin("GET", path)
        j = json.loads(b)
        self.assertEqual((st, j["known"], j["remaining"]), (200, False, 8))
        for _ in range(3):
            self.assertEqual(fx.get("/status/200", "127.0.2.9").status, 200)
        self.assertEqual(len(self.redis.cmd("KEYS", "vwadm:*")), 1)
        st, _, b = fx.admin("GET", path)
        j = json.loads(b)
        self.assertEqual((st, j["known"], j["remaining"]), (200, True, 5))
        st, _, b = fx.admin("DELETE", path)
        self.assertEqual((st, json.loads(b)["reset"]), (200, True))
        self.assertEqual(self.redis.cmd("KEYS", "vwadm:*"), [])
        st, _, b = fx.admin("DELETE", path)
        self.assertEqual((st, json.loads(b)["reset"]), (200, False))
        # Redis gone: 503, never a hang or a stale answer.
        self.redis.stop()
        try:
            st, _, b = fx.admin("GET", path)
            self.assertEqual((st, json.loads(b)["error"]),
                             (503, "service_unavailable"))
        finally:
            self.redis.start()


class ResilMetricsTest(unittest.TestCase):
    """Health checks, circuit breaker and retries on: their metrics."""

    def test_resil_metrics(self):
        fx = Fixture(extra={
            "upstream": {"health": {"enabled": True, "path": "/status/200",
                                    "interval": "100ms", "timeout": "1s",
                                    "healthy_threshold": 1}},
            "resilience": {"circuit_breaker": {"enabled": True},
                           "retry": {"enabled": True, "max_attempts": 3,
                                     "backoff": "10ms"}}})
        try:
            end = time.monotonic() + 5
            while True:
                ms = parse_metrics(fx.metrics())
                if val(ms, "vibewarden_upstream_healthy") == 1:
                    break
                self.assertLess(time.monotonic(), end)
                time.sleep(0.1)
            self.assertGreater(val(ms, "vibewarden_health_probes_total"), 0)
            self.assertEqual(val(ms, "vibewarden_circuit_breaker_state"), 0)
            r0 = val(ms, "vibewarden_upstream_retries_total", method="GET")
            self.assertEqual(fx.get("/status/503", "127.0.5.1").status, 503)
            settled(fx, lambda m: self.assertEqual(val(
                m, "vibewarden_upstream_retries_total", method="GET") - r0,
                2))
        finally:
            fx.close()

    def test_absent_when_off(self):
        fx = Fixture(token=False)
        try:
            text = fx.metrics()
        finally:
            fx.close()
        self.assertIn("vibewarden_upstream_errors_total", text)
        for name in ("vibewarden_upstream_healthy",
                     "vibewarden_circuit_breaker_state",
                     "vibewarden_upstream_retries_total",
                     "vibewarden_tls_handshakes_total"):
            self.assertNotIn(name, text)


class SessionsTest(unittest.TestCase):
    """The Kratos session cache: count, revoke one user, flush."""

    def test_sessions(self):
        import test_kratos as K
        kr = K.Kratos()
        u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())
        kr.sessions = {"c1": (u1, "one@example.test", True,
                              time.time() + 600),
                       "c2": (u2, "two@example.test", True,
                              time.time() + 600)}
        fx = Fixture(extra={
            "kratos": {"public_url": "http://127.0.0.1:%d/" % kr.port},
            "auth": {"mode": "kratos", "session_cache_ttl": "60s"}})
        S = "/_vibewarden/admin/sessions"

        def get(cookie):
            with T.Client(fx.port, src="127.0.8.1") as c:
                return c.request("GET", "/echo", [
                    ("Cookie", "ory_kratos_session=" + cookie)]).status
        try:
            m0 = parse_metrics(fx.metrics())
            self.assertEqual((get("c1"), get("c2")), (200, 200))
            n = kr.ncalls()
            st, _, b = fx.admin("GET", S)
            self.assertEqual((st, json.loads(b)["entries"]), (200, 2))
            self.assertEqual(get("c1"), 200)
            self.assertEqual(kr.ncalls(), n)            # cached
            st, _, b = fx.admin("DELETE", S + "/" + u1)
            self.assertEqual((st, json.loads(b)["revoked"]), (200, 1))
            self.assertEqual((get("c1"), get("c2")), (200, 200))
            self.assertEqual(kr.ncalls(), n + 1)        # c1 asked again
            st, _, b = fx.admin("DELETE", S)
            self.assertEqual((st, json.loads(b)["flushed"]), (200, 2))
            self.assertEqual(get("c2"), 200)
            self.assertEqual(kr.ncalls(), n + 2)        # c2 asked again
            st, _, b = fx.admin("POST", S)
            self.assertEqual(st, 405)
            # vibewardenctl, text and --json.
            rc, out, _ = fx.ctl("sessions", "show")
            self.assertEqual((rc, "entries: 1" in out), (0, True), out)
            rc, out, _ = fx.ctl("--json", "sessions", "show")
            self.assertEqual(json.loads(out)["entries"], 1)
            rc, out, _ = fx.ctl("sessions", "revoke", u2)
            self.assertEqual((rc, "revoked: 1" in out), (0, True), out)
            rc, out, _ = fx.ctl("--json", "sessions", "revoke", u2)
            self.assertEqual((rc, json.loads(out)["revoked"]), (0, 0))
            get("c1")
            rc, out, _ = fx.ctl("sessions", "flush")
            self.assertEqual((rc, "flushed: 1" in out), (0, True), out)
            rc, out, _ = fx.ctl("--json", "sessions", "flush")
            self.assertEqual((rc, json.loads(out)["flushed"]), (0, 0))
            self.assertIsNotNone(fx.vw.wait_event("admin.sessions_flushed"))
            self.assertIsNotNone(fx.vw.wait_event("admin.sessions_revoked"))
            # Auth decisions: 7 requests let in above, then one refused.
            self.assertEqual(get("nope"), 401)
            A = "vibewarden_auth_decisions_total"

            def check(m1):
                self.assertEqual(val(m1, A, mode="kratos", decision="allow",
                                     reason="authenticated") -
                                 val(m0, A, mode="kratos", decision="allow",
                                     reason="authenticated"), 7)
                self.assertEqual(val(m1, A, mode="kratos", decision="deny",
                                     reason="session_invalid") -
                                 val(m0, A, mode="kratos", decision="deny",
                                     reason="session_invalid"), 1)
            settled(fx, check)
        finally:
            fx.close()
            kr.stop()


class EnvTokenTest(unittest.TestCase):
    """VIBEWARDEN_ADMIN_TOKEN is admin.token, which wins over the file."""

    def test_env_token(self):
        # 16 characters at least (a shorter token turns the API off).
        fx = Fixture(env={"VIBEWARDEN_ADMIN_TOKEN": "from-the-env-0123456"})
        try:
            p = "/_vibewarden/admin/status"
            self.assertEqual(fx.admin("GET", p,
                                      token="from-the-env-0123456")[0], 200)
            self.assertEqual(fx.admin("GET", p)[0], 401)
            self.assertNotIn("from-the-env-0123456", fx.vw.stdout())
        finally:
            fx.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
