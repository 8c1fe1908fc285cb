#!/usr/bin/env python3
"""Integration tests for upstream resilience (issue 13): active health
checks, the circuit breaker shared by all workers, bounded retries.  The
real binary with 2 workers against a scriptable upstream stand-in that
lives in this process (threads): it answers 200, 500, 502 or 503, holds
requests without an answer (black hole), or stops listening (refused),
and counts what reaches it.  Loopback only; every process started here
is stopped by PID.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vwtest as T  # noqa: E402

REASONS = {200: "OK", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class StandIn:
    """A threaded HTTP/1.1 upstream whose answers the test scripts.

    mode: an int status, "blackhole" (read the request, never answer) or
    "refused" (the listener is closed).  script: statuses used first, one
    per request.  delay: seconds to wait before answering.  The health
    path (/health) has its own mode, health_mode, and its own count."""

    def __init__(self):
        self.port = T.free_port()
        self.lock = threading.Lock()
        self.mode = 200
        self.health_mode = 200
        self.script = []
        self.delay = 0.0
        self.body_size = 2
        self.hits = []           # (monotonic time, method, request id, body)
        self.probes = []         # (monotonic time, status answered)
        self.stopping = False
        self.held = []
        self.lsock = None
        self.listen()

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(256)
        self.lsock = s
        threading.Thread(target=self.accept_loop, args=(s,),
                         daemon=True).start()

    def refuse(self):
        with self.lock:
            self.mode = "refused"
            s, self.lsock = self.lsock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def set(self, mode=None, script=None, delay=None, body_size=None,
            health=None):
        with self.lock:
            if mode is not None:
                self.mode = mode
            if script is not None:
                self.script = list(script)
            if delay is not None:
                self.delay = delay
            if body_size is not None:
                self.body_size = body_size
            if health is not None:
                self.health_mode = health
        if self.lsock is None and mode not in (None, "refused"):
            self.listen()

    def count(self):
        with self.lock:
            return len(self.hits)

    def nprobes(self):
        with self.lock:
            return len(self.probes)

    def stop(self):
        self.stopping = True
        if self.lsock is not None:
            self.lsock.close()
        for c in self.held:
            try:
                c.close()
            except OSError:
                pass

    def accept_loop(self, s):
        while not self.stopping:
            try:
                c, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, c):
        buf = b""
        c.settimeout(30)
        try:
            while not self.stopping:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                hdr = {}
                for ln in lines[1:]:
                    k, v = ln.split(":", 1)
                    hdr[k.strip().lower()] = v.strip()
                n = int(hdr.get("content-length", "0"))
                while len(buf) < n:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                body, buf = buf[:n], buf[n:]
                now = time.monotonic()
                with self.lock:
                    if target == "/health":
                        st = self.health_mode
                        self.probes.append((now, st))
                        size = 2
                        delay = 0.0
                    else:
                        st = self.script.pop(0) if self.script else self.mode
                        self.hits.append((now, method,
                                          hdr.get("x-request-id"), body))
                        size = self.body_size
                        delay = self.delay
                if st == "refused":
                    return          # a pooled connection: closed
                if st == "blackhole":
                    self.held.append(c)
                    return
                if delay:
                    time.sleep(delay)
                payload = (b"x" * size) if st != 200 or size != 2 else b"ok"
                if method == "PUT" and st == 200:
                    payload = body
                c.sendall(("HTTP/1.1 %d %s\r\nContent-Length: %d\r\n"
                           "Content-Type: text/plain\r\n\r\n" %
                           (st, REASONS.get(st, "X"), len(payload)))
                          .encode() + (b"" if method == "HEAD" else payload))
        except OSError:
            return
        finally:
            if c not in self.held:
                c.close()


class Fixture:
    def __init__(self, extra):
        self.tmp = T.new_tmpdir()
        self.up = StandIn()
        self.vw = None
        try:
            self.port = T.free_port()
            cfg = T.base_config(self.port, self.up.port)
            T.deep_update(cfg, extra)
            self.vw = T.Vibewarden(self.tmp, cfg)
            self.vw.start()
        except Exception:
            self.close()
            raise

    def close(self):
        if self.vw is not None:
            self.vw.stop()
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def get(self, path="/x", method="GET", body=None, headers=None):
        with T.Client(self.port, timeout=10) as c:
            return c.request(method, path, headers=headers, body=body)


def wait_for(pred, timeout=5.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def in_parallel(n, fn):
    out = [None] * n
    go = threading.Barrier(n)

    def run(i):
        go.wait()
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001  (reported by the caller)
            out[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return out


class TestHealth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Fixture({"upstream": {"health": {
            "enabled": True, "path": "/health", "interval": "200ms",
            "timeout": "300ms", "unhealthy_threshold": 3,
            "healthy_threshold": 2}}})

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def ready(self):
        return self.f.get("/_vibewarden/ready").status

    def test_unhealthy_then_healthy(self):
        f = self.f
        self.assertTrue(wait_for(lambda: f.up.nprobes() >= 2, 3))
        self.assertEqual(self.ready(), 200)
        self.assertEqual(f.get().status, 200)
        # Failed probes: after unhealthy_threshold of them, not ready.
        f.up.set(health=500)
        self.assertTrue(wait_for(lambda: self.ready() == 503, 5))
        with f.up.lock:
            bad = sum(1 for _, st in f.up.probes if st == 500)
        self.assertGreaterEqual(bad, 3)
        ev = f.vw.wait_event("upstream.unhealthy")
        self.assertIsNotNone(ev)
        self.assertIn("status 500", str(ev))
        # Requests: 503 at once, nothing reaches the upstream.
        n0 = f.up.count()
        t0 = time.monotonic()
        for _ in range(5):
            r = f.get()
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"], "upstream_unhealthy")
            self.assertIsNotNone(r.header("Retry-After"))
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertEqual(f.up.count(), n0)
        self.assertIsNotNone(f.vw.wait_event("upstream.unavailable"))
        # healthy_threshold good probes: serving again.
        f.up.set(health=200)
        self.assertTrue(wait_for(lambda: self.ready() == 200, 5))
        with f.up.lock:
            last_bad = max(i for i, (_, st) in enumerate(f.up.probes)
                           if st == 500)
            good = len(f.up.probes) - 1 - last_bad
        self.assertGreaterEqual(good, 2)
        self.assertEqual(f.get().status, 200)
        self.assertIsNotNone(f.vw.wait_event("upstream.healthy"))

    def test_one_prober_for_two_workers(self):
        f = self.f
        self.assertEqual(len(f.vw.workers()), 2)
        n0 = f.up.nprobes()
        time.sleep(2.0)
        n = f.up.nprobes() - n0
        # 200 ms apart: about 10 in 2 s for one prober, 20 for two.
        self.assertGreaterEqual(n, 6)
        self.assertLessEqual(n, 13)


class TestHealthBlackhole(unittest.TestCase):
    def test_probe_timeout_counts_as_failure(self):
        f = Fixture({"upstream": {"health": {
            "enabled": True, "interval": "100ms", "timeout": "200ms",
            "unhealthy_threshold": 2, "healthy_threshold": 1}}})
        try:
            f.up.set(health="blackhole")
            self.assertTrue(wait_for(
                lambda: f.get("/_vibewarden/ready").status == 503, 5))
            ev = f.vw.wait_event("upstream.unhealthy")
            self.assertIn("in time", str(ev))
        finally:
            f.close()


class TestHealthTLS(unittest.TestCase):
    """Probes of an https upstream verify it as the workers do."""

    def setUp(self):
        self.tmp = T.new_tmpdir()
        self.crt = os.path.join(self.tmp, "up.crt")
        key = os.path.join(self.tmp, "up.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", self.crt, "-days", "2",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        self.up = T.Upstream(self.tmp, tls=(self.crt, key)).start()
        self.vw = None

    def tearDown(self):
        if self.vw is not None:
            self.vw.stop()
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, tls):
        port = T.free_port()
        cfg = T.base_config(port, self.up.port)
        T.deep_update(cfg, {"upstream": {
            "url": "https://127.0.0.1:%d" % self.up.port, "tls": tls,
            "health": {"enabled": True, "interval": "100ms",
                       "timeout": "1s", "unhealthy_threshold": 1,
                       "healthy_threshold": 1}}})
        self.vw = T.Vibewarden(self.tmp, cfg, name="vw%d" % port).start()
        return port

    def test_verified(self):
        self.start({"ca_file": self.crt})
        self.assertIsNotNone(self.vw.wait_event("upstream.healthy"))
        self.assertTrue(wait_for(lambda: any(
            r.get("target") == "/health" for r in self.up.requests()), 3))
        self.assertEqual(self.vw.events("upstream.unhealthy"), [])

    def test_unknown_ca_is_unhealthy(self):
        port = self.start({})
        ev = self.vw.wait_event("upstream.unhealthy")
        self.assertIsNotNone(ev)
        self.assertIn("TLS handshake failed", str(ev))
        with T.Client(port) as c:
            self.assertEqual(c.request("GET", "/_vibewarden/ready").status,
                             503)


def breaker_fixture(timeout="1s"):
    return Fixture({"resilience": {"circuit_breaker": {
        "enabled": True, "threshold": 5, "timeout": timeout}}})


class TestBreaker(unittest.TestCase):
    def open_it(self, f):
        f.up.set(mode=502)
        for _ in range(5):
            self.assertEqual(f.get().status, 502)

    def test_open_half_open_close(self):
        f = breaker_fixture()
        try:
            self.open_it(f)
            self.assertEqual(f.up.count(), 5)
            for _ in range(10):
                r = f.get()
                self.assertEqual(r.status, 503)
                self.assertEqual(r.json()["error"], "circuit_breaker_open")
                self.assertIn(r.header("Retry-After"), ("1", "2"))
            self.assertEqual(f.up.count(), 5)
            self.assertEqual(len(f.vw.events("circuit_breaker.opened")), 1)
            # Half-open: of 50 concurrent clients exactly one goes through.
            time.sleep(1.2)
            f.up.set(mode=200, delay=1.0)
            rs = in_parallel(50, lambda i: f.get().status)
            self.assertEqual(f.up.count(), 6, rs)
            self.assertEqual(rs.count(200), 1, rs)
            self.assertEqual(rs.count(503), 49, rs)
            self.assertIsNotNone(f.vw.wait_event("circuit_breaker.half_open"))
            # Its success closed the circuit.
            f.up.set(delay=0.0)
            self.assertIsNotNone(f.vw.wait_event("circuit_breaker.closed"))
            self.assertEqual(f.get().status, 200)
            self.assertEqual(f.up.count(), 7)
        finally:
            f.close()

    def test_probe_failure_reopens(self):
        f = breaker_fixture()
        try:
            self.open_it(f)
            time.sleep(1.2)
            self.assertEqual(f.get().status, 502)     # the probe
            self.assertEqual(f.up.count(), 6)
            r = f.get()
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"], "circuit_breaker_open")
            self.assertEqual(f.up.count(), 6)
            self.assertTrue(wait_for(lambda: len(
                f.vw.events("circuit_breaker.opened")) == 2, 3))
        finally:
            f.close()

    def test_refused_connections_count(self):
        f = breaker_fixture("30s")
        try:
            f.up.refuse()
            for _ in range(5):
                self.assertEqual(f.get().status, 502)
            r = f.get()
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"], "circuit_breaker_open")
        finally:
            f.close()

    def test_streaming_body_cannot_hold_the_probe(self):
        """Attack: the half-open probe is the one request of the host let
        through, and its outcome is known at the response head.  A POST
        whose body is longer than what is buffered before connecting went
        upstream at once and became the probe; its client then drips the
        body, so the upstream cannot answer, and for read_timeout (30 s
        by default) every other client gets 503, and again as soon as it
        sends the next such POST: one client keeps a healthy site down.
        A request whose body still streams from its client is never the
        probe: it gets 503 like the others, and the next request probes."""
        f = breaker_fixture()
        try:
            self.open_it(f)
            time.sleep(1.2)
            f.up.set(mode=200)
            n0 = f.up.count()
            s = socket.create_connection(("127.0.0.1", f.port))
            try:
                s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 100000\r\n\r\n" + b"a" * 10)
                time.sleep(0.3)
                r = f.get()
                self.assertEqual(r.status, 200, r)
                s.settimeout(5)
                head = s.recv(4096)
            finally:
                s.close()
            self.assertTrue(head.startswith(b"HTTP/1.1 503"), head)
            self.assertIn(b"circuit_breaker_open", head)
            self.assertEqual(f.up.count() - n0, 1)
            self.assertIsNotNone(f.vw.wait_event("circuit_breaker.closed"))
        finally:
            f.close()

    def test_shared_by_workers(self):
        """Failures seen by worker A open the circuit for worker B: with B
        stopped, A takes every connection; then A is stopped instead."""
        def stop(pid):
            # Stopped for real before the next connection: a worker
            # still running could take it and stop before answering.
            os.kill(pid, signal.SIGSTOP)
            self.assertTrue(wait_for(lambda: T.proc_state(pid) == "T", 5))

        f = breaker_fixture("30s")
        try:
            a, b = f.vw.workers()
            stop(b)
            try:
                self.open_it(f)
            finally:
                os.kill(b, signal.SIGCONT)
            stop(a)
            try:
                r = f.get()
            finally:
                os.kill(a, signal.SIGCONT)
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"], "circuit_breaker_open")
            self.assertEqual(f.up.count(), 5)
        finally:
            f.close()


def retry_fixture(**kw):
    r = {"enabled": True, "max_attempts": 3, "backoff": "20ms",
         "max_backoff": "1s", "retry_on": [502, 503, 504]}
    r.update(kw)
    return Fixture({"resilience": {"retry": r}})


class TestRetry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = retry_fixture()

    @classmethod
    def tearDownClass(cls):
        cls.f.close()

    def setUp(self):
        self.f.up.set(mode=200, script=[], body_size=2)
        # Plenty of budget for the cases here.
        for _ in range(20):
            self.f.get()
        self.n0 = self.f.up.count()

    def test_get_502_502_200(self):
        f = self.f
        f.up.set(script=[502, 502])
        r = f.get("/again")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ok")
        self.assertEqual(f.up.count() - self.n0, 3)
        evs = [e for e in f.vw.events("upstream.retry")
               if "/again" in str(e)]
        self.assertEqual(len(evs), 2)
        s = str(evs)
        self.assertIn("502", s)

    def test_last_answer_passes_through(self):
        f = self.f
        f.up.set(mode=503)
        r = f.get()
        self.assertEqual(r.status, 503)
        self.assertEqual(f.up.count() - self.n0, 3)

    def test_put_with_body_is_sent_again(self):
        f = self.f
        body = bytes(range(256)) * 100       # 25,600 bytes, held whole
        f.up.set(script=[502])
        r = f.get("/put", method="PUT", body=body)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body)
        with f.up.lock:
            hits = f.up.hits[self.n0:]
        self.assertEqual(len(hits), 2)
        self.assertEqual(hits[0][3], body)
        self.assertEqual(hits[1][3], body)
        self.assertEqual(hits[0][2], hits[1][2])     # same X-Request-Id

    def test_put_60k_is_sent_again(self):
        """Up to 64 KB is held whole for a retry (RESIL_HOLD), not only
        the 16 KB every request buffers before connecting."""
        f = self.f
        body = bytes(range(256)) * 234       # 59,904 bytes
        f.up.set(script=[502])
        r = f.get("/put", method="PUT", body=body)
        self.assertEqual(r.status, 200)
        with f.up.lock:
            hits = f.up.hits[self.n0:]
        self.assertEqual(len(hits), 2)
        self.assertEqual(hits[1][3], body)

    def test_post_never_retried(self):
        f = self.f
        f.up.set(mode=502)
        r = f.get("/post", method="POST", body=b"a=1")
        self.assertEqual(r.status, 502)
        self.assertEqual(f.up.count() - self.n0, 1)

    def test_big_response_never_retried(self):
        f = self.f
        f.up.set(mode=502, body_size=2 << 20)
        with T.Client(f.port, timeout=10) as c:
            r = c.request("GET", "/big", keep_body=False)
        self.assertEqual(r.status, 502)
        self.assertEqual(r.body_len, 2 << 20)
        self.assertEqual(f.up.count() - self.n0, 1)

    def test_upgrade_never_retried(self):
        f = self.f
        f.up.set(mode=502)
        r = f.get("/ws", headers=[
            ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
        self.assertEqual(r.status, 502)
        self.assertEqual(f.up.count() - self.n0, 1)

    def test_connect_failure_retried(self):
        f = self.f
        f.up.refuse()
        try:
            r = f.get("/refused")
            self.assertEqual(r.status, 502)
        finally:
            f.up.set(mode=200)
        evs = [e for e in f.vw.events("upstream.retry")
               if "/refused" in str(e)]
        self.assertEqual(len(evs), 2)


class TestRetryBudget(unittest.TestCase):
    def test_budget_bounds_extra_load(self):
        f = retry_fixture(backoff="1ms", max_backoff="2ms")
        try:
            f.up.set(mode=502)
            n = 200
            clients = 4

            def run(i):
                with T.Client(f.port, timeout=10) as c:
                    for _ in range(n // clients):
                        c.request("GET", "/fail")
            in_parallel(clients, run)
            extra = f.up.count() - n
            self.assertLessEqual(extra, 0.25 * n)
            self.assertGreaterEqual(extra, 0.15 * n)
        finally:
            f.close()

    def test_backoff_jitter(self):
        f = retry_fixture(max_attempts=2, backoff="300ms",
                          max_backoff="1s")
        try:
            for _ in range(100):     # budget for 20 retries
                f.get()
            f.up.set(mode=502)
            n0 = f.up.count()
            in_parallel(20, lambda i: f.get("/jitter").status)
            with f.up.lock:
                hits = f.up.hits[n0:]
            first, delays = {}, []
            for t, _, rid, _ in hits:
                if rid in first:
                    delays.append(t - first[rid])
                else:
                    first[rid] = t
            self.assertEqual(len(delays), 20)
            self.assertLessEqual(max(delays), 0.3 + 0.5)
            self.assertGreaterEqual(max(delays) - min(delays), 0.15)
        finally:
            f.close()


class TestConfig(unittest.TestCase):
    def test_no_not_implemented_warning(self):
        tmp = T.new_tmpdir()
        try:
            cfg = T.base_config(T.free_port(), T.free_port())
            T.deep_update(cfg, {
                "upstream": {"health": {"enabled": True}},
                "resilience": {"circuit_breaker": {"enabled": True},
                               "retry": {"enabled": True}}})
            vw = T.Vibewarden(tmp, cfg)
            rc, out, err = T.run_check(vw.conf)
            self.assertEqual(rc, 0, err)
            for what in ("health checks", "circuit breaker", "retries"):
                self.assertNotIn(what, out + err)
            cfg["upstream"]["health"]["interval"] = "0s"
            vw.write_config()
            rc, out, err = T.run_check(vw.conf)
            self.assertNotEqual(rc, 0)
            self.assertIn("upstream.health.interval", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
