#!/usr/bin/env python3
"""vibewarden operations tests (issue 7): reloads and upgrades that cannot
take the service down, -t/-T, daemon logging to syslog, the pidfile lock,
log rotation, the build and the docs.

    VW_BIN=./vibewarden python3 tests/integ/test_ops.py [-v] [Class.test]

Same rules as test_proxy.py: loopback only, private temp dirs, processes
stopped by PID.  Runs as root or as an ordinary user.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402

SRCDIR = os.path.abspath(os.environ.get(
    "top_srcdir", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "..", "..")))
ROOT = os.geteuid() == 0


class Load:
    """Client threads, a new connection per request; every failure is
    recorded."""

    def __init__(self, port, n=3):
        self.port = port
        self.stop_ev = threading.Event()
        self.ok = 0
        self.fail = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)

    def run(self):
        while not self.stop_ev.is_set():
            try:
                with T.Client(self.port, 5) as c:
                    c.send(T.build_request("GET", "/echo/ops", headers=[
                        ("Connection", "close")]))
                    r = c.read_response()
                if r.status != 200:
                    raise T.ProtocolError("status %d" % r.status)
                with self.lock:
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 (recorded)
                with self.lock:
                    self.fail.append("%.3f %r" % (time.monotonic(), e))
                time.sleep(0.01)


class Base(unittest.TestCase):
    """An upstream, a temp dir, and whatever daemons the test starts."""

    def setUp(self):
        self.tmp = T.new_tmpdir()
        os.chmod(self.tmp, 0o755)
        self.up = T.Upstream(self.tmp).start()
        self.vws = []
        self.extra_pids = []

    def tearDown(self):
        for vw in self.vws:
            vw.stop(signal.SIGKILL)
        for pid in self.extra_pids:
            if T.proc_state(pid) not in (None, "Z"):
                for k in T.children_of(pid):
                    os.kill(k, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, **extra):
        cfg = T.base_config(T.free_port(), self.up.port)
        T.deep_update(cfg, extra)
        return cfg

    def start(self, cfg, name="vw", args=(), env=None, binary=None):
        vw = T.Vibewarden(self.tmp, cfg, name=name, binary=binary)
        self.vws.append(vw)
        vw.start(args=args, env=env)
        return vw

    def served(self, port, path="/echo/check"):
        with T.Client(port, 5) as c:
            c.send(T.build_request("GET", path))
            return c.read_response().status


# ====================================================================== 1
class TestReloadNeverTakesServiceDown(Base):

    def test_failed_generation_keeps_old_one_serving(self):
        """The new workers fail their start-up (test hook: as if
        server.user vanished after -t): under a client loop no request
        fails, config.reload_failed names the cause, and the old workers
        are the same processes afterwards."""
        hook = os.path.join(self.tmp, "fail-workers")
        vw = self.start(self.config(), env={"VW_TEST_WORKER_FAIL": hook})
        old = sorted(vw.workers())
        self.assertEqual(len(old), 2)
        load = Load(vw.port).start()
        try:
            time.sleep(0.3)
            open(hook, "w").close()
            vw.send_signal(signal.SIGHUP)
            ev = vw.wait_event("config.reload_failed", timeout=8)
            time.sleep(1.0)        # clients keep going on the old workers
        finally:
            load.stop()
        self.assertIsNotNone(ev, "no config.reload_failed; stdout %r"
                             % vw.stdout()[-2000:])
        self.assertIn("could not start: test hook", ev["ai_summary"])
        self.assertIn("still serving", ev["ai_summary"])
        self.assertEqual(load.fail, [], "%d requests failed" % len(load.fail))
        self.assertGreater(load.ok, 20)
        self.assertEqual(sorted(vw.workers()), old,
                         "the old generation was retired")
        self.assertEqual(vw.events("config.reloaded"), [])
        # The cause is gone: the next reload goes through.
        os.unlink(hook)
        vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(vw.wait_event("config.reloaded", timeout=8))
        end = time.monotonic() + 8
        while time.monotonic() < end and (
                set(vw.workers()) & set(old) or len(vw.workers()) != 2):
            time.sleep(0.1)
        self.assertEqual(set(vw.workers()) & set(old), set())
        self.assertEqual(self.served(vw.port), 200)

    @unittest.skipUnless(ROOT, "needs root to drop privileges")
    def test_ready_after_privilege_drop(self):
        """Workers that dropped root still report ready (a worker as
        nobody may not signal a root master): start-up and reload
        complete, and the generation is not torn down after 5 s."""
        nobody = pwd.getpwnam("nobody")
        cfg = self.config()
        cfg["server"]["user"] = "nobody"
        cfg["server"]["group"] = __import__("grp").getgrgid(
            nobody.pw_gid).gr_name
        vw = self.start(cfg)
        self.assertIsNotNone(vw.wait_event("proxy.started", timeout=4),
                             vw.stdout()[-1500:])
        vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(vw.wait_event("config.reloaded", timeout=4),
                             vw.stdout()[-1500:])
        time.sleep(5.5)
        self.assertIsNone(vw.proc.poll())
        self.assertEqual(vw.events("config.reload_failed"), [])
        self.assertEqual(self.served(vw.port), 200)

    def test_unknown_user_rejected_before_any_worker_starts(self):
        vw = self.start(self.config())
        old = sorted(vw.workers())
        vw.cfg["server"]["user"] = "vw-no-such-user-7"
        vw.write_config()
        load = Load(vw.port).start()
        try:
            time.sleep(0.3)
            vw.send_signal(signal.SIGHUP)
            ev = vw.wait_event("config.reload_failed", timeout=5)
            time.sleep(1.0)
        finally:
            load.stop()
        self.assertEqual(load.fail, [], "%d requests failed" % len(load.fail))
        self.assertGreater(load.ok, 20)
        self.assertIsNotNone(ev)
        self.assertIn("no such user", ev["ai_summary"])
        self.assertRegex(ev["ai_summary"], r"vw\.yaml:\d+:\d+")
        self.assertEqual(sorted(vw.workers()), old)
        self.assertEqual(self.served(vw.port), 200)

    def test_startup_fails_when_workers_cannot_start(self):
        """At start-up there is no old generation: exit 2, not a crash
        loop."""
        hook = os.path.join(self.tmp, "fail-workers")
        open(hook, "w").close()
        cfg = self.config()
        vw = T.Vibewarden(self.tmp, cfg)
        p = subprocess.run([T.VW_BIN, "-c", vw.conf], capture_output=True,
                           timeout=20, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, VW_TEST_WORKER_FAIL=hook))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"start-up failed", p.stderr)

    def _upgrade_to(self, script, expect, timeout, quit=False):
        """Start from a copy of the binary, replace the copy with script,
        SIGUSR2 under load."""
        exe = os.path.join(self.tmp, "vibewarden-copy")
        shutil.copy(T.VW_BIN, exe)
        pidf = os.path.join(self.tmp, "vw.pid")
        vw = self.start(self.config(), args=["-p", pidf], binary=exe)
        with open(exe + ".new", "w") as f:
            f.write(script)
        os.chmod(exe + ".new", 0o755)
        os.rename(exe + ".new", exe)
        load = Load(vw.port).start()
        try:
            time.sleep(0.3)
            vw.send_signal(signal.SIGUSR2)
            if quit:
                time.sleep(0.3)
                # the operator's next step; deferred until the new
                # master is ready, which never happens
                vw.send_signal(signal.SIGQUIT)
            ev = vw.wait_event("proxy.upgrade_failed", timeout=timeout)
            time.sleep(0.5)
        finally:
            load.stop()
        self.assertIsNotNone(ev, "no proxy.upgrade_failed; stdout %r"
                             % vw.stdout()[-2000:])
        self.assertIn(expect, ev["ai_summary"])
        if quit:
            self.assertIsNotNone(vw.wait_event("proxy.quit_ignored", timeout=2))
        self.assertEqual(load.fail, [], "%d requests failed" % len(load.fail))
        self.assertGreater(load.ok, 20)
        self.assertIsNone(vw.proc.poll(), "the old master stopped")
        with open(pidf) as f:
            self.assertEqual(int(f.read()), vw.pid)
        self.assertFalse(os.path.exists(pidf + ".oldbin"))
        self.assertEqual(self.served(vw.port), 200)

    def test_upgrade_to_executable_that_exits(self):
        self._upgrade_to("#!/bin/sh\nexit 3\n", "exited with 3", 5)

    def test_upgrade_to_executable_that_never_gets_ready(self):
        self._upgrade_to("#!/bin/sh\nexec sleep 60\n", "not ready", 15,
                         quit=True)


# ====================================================================== 2
class TestHelpers(Base):
    """Helper processes of the master (src/helper.h), through the test
    kind that VW_TEST_HELPER turns on: it only waits for its stop."""

    def helpers(self, vw):
        return [k for k in vw.children()
                if "testjob" in T.proc_cmdline(k)
                and T.proc_state(k) not in (None, "Z")]

    def wait_helpers(self, vw, pred, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            h = self.helpers(vw)
            if pred(h):
                return h
            time.sleep(0.05)
        return self.helpers(vw)

    def test_helper_supervised(self):
        """One helper beside the workers; kill -9 -> respawned within
        1 s (helper.exited, helper.respawned); SIGHUP -> the old
        generation's helper goes and one new one runs; SIGTERM -> all
        gone.  Without VW_TEST_HELPER there is none."""
        vw = self.start(self.config(), env={"VW_TEST_HELPER": "1"})
        h = self.wait_helpers(vw, lambda h: len(h) == 1)
        self.assertEqual(len(h), 1, "children %r" % vw.children())
        self.assertEqual(len(vw.workers()), 2, "a helper counted as worker")
        os.kill(h[0], signal.SIGKILL)
        t0 = time.monotonic()
        h2 = self.wait_helpers(vw, lambda x: len(x) == 1 and x[0] != h[0])
        self.assertEqual(len(h2), 1)
        self.assertNotEqual(h2[0], h[0])
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIsNotNone(vw.wait_event("helper.exited"))
        self.assertIsNotNone(vw.wait_event("helper.respawned"))
        self.assertEqual(self.served(vw.port), 200)
        vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(vw.wait_event("config.reloaded", timeout=8))
        h3 = self.wait_helpers(vw, lambda x: len(x) == 1 and x[0] != h2[0])
        self.assertEqual(len(h3), 1, "after reload: %r" % h3)
        self.assertNotEqual(h3[0], h2[0])
        # The retired helper stopped on its own: no helper.exited for it.
        self.assertEqual(len(vw.events("helper.exited")), 1)
        vw.stop()
        self.assertNotIn(T.proc_state(h3[0]), ("R", "S", "D"))

    def test_no_helper_unless_wanted(self):
        vw = self.start(self.config())
        time.sleep(0.3)
        self.assertEqual(self.helpers(vw), [])


class TestCheck(unittest.TestCase):
    """-t catches what start-up would: exit 1, FILE:LINE:COL."""

    def setUp(self):
        self.tmp = T.new_tmpdir()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, extra=None, args=(), env=None, text=None):
        cfg = T.base_config(T.free_port(), T.free_port())
        T.deep_update(cfg, extra or {})
        path = os.path.join(self.tmp, "c.yaml")
        with open(path, "w") as f:
            f.write(text if text is not None else T.to_yaml(cfg) + "\n")
        p = subprocess.run([T.VW_BIN, "-t", "-c", path] + list(args),
                           capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL,
                           env=dict(os.environ, **(env or {})))
        return p.returncode, p.stderr.decode(), p.stdout.decode(), path

    def assertRejected(self, extra, what, args=()):
        rc, err, _, path = self.check(extra, args)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, re.escape(path) + r":\d+:\d+: error: .*" +
                         re.escape(what))

    def test_baseline_ok(self):
        rc, err, _, _ = self.check()
        self.assertEqual(rc, 0, err)

    def test_unknown_user(self):
        self.assertRejected({"server": {"user": "vw-no-such-user-7"}},
                            "no such user")

    def test_unknown_group(self):
        self.assertRejected({"server": {"group": "vw-no-such-group-7"}},
                            "no such group")

    def test_log_dir_missing(self):
        self.assertRejected({"log": {"output": os.path.join(
            self.tmp, "nodir", "vw.log")}}, "No such file or directory")

    def test_log_dir_not_writable(self):
        if ROOT:
            # root writes anywhere; a file in its place is as fatal
            d = os.path.join(self.tmp, "file")
            open(d, "w").close()
            self.assertRejected({"log": {"output": os.path.join(
                d, "vw.log")}}, "is not a directory")
            return
        d = os.path.join(self.tmp, "ro")
        os.mkdir(d, 0o555)
        self.assertRejected({"log": {"output": os.path.join(d, "vw.log")}},
                            "Permission denied")

    def test_listen_not_an_address(self):
        self.assertRejected({"server": {"host": "999.1.1.1"}},
                            "not an IPv4 address")

    def test_names_that_do_not_resolve(self):
        self.assertRejected({"server": {"host": "vw-nowhere.invalid"}},
                            "does not resolve")
        self.assertRejected({"upstream": {"host": "vw-nowhere.invalid"}},
                            "does not resolve")

    def test_pidfile_dir_missing(self):
        rc, err, _, path = self.check(args=["-p", os.path.join(
            self.tmp, "nodir", "vw.pid")])
        self.assertEqual(rc, 1, err)
        self.assertIn("pidfile", err)
        self.assertIn("nodir", err)

    def test_missing_file_fails(self):
        p = subprocess.run([T.VW_BIN, "-t", "-c", os.path.join(
            self.tmp, "absent.yaml")], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertNotIn(b"is ok", p.stderr)

    def test_env_typo_did_you_mean(self):
        rc, err, _, _ = self.check(env={"VIBEWARDEN_SERVER_PROT": "1"})
        self.assertEqual(rc, 0, err)
        self.assertIn("VIBEWARDEN_SERVER_PROT", err)
        self.assertIn("did you mean VIBEWARDEN_SERVER_PORT", err)

    def test_daemon_stdout_warns(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        path = os.path.join(self.tmp, "log.sock")
        sock.bind(path)
        rc, err, _, _ = self.check({"log": {"syslog_socket": path}},
                                   args=["-d", "-p", os.path.join(
                                       self.tmp, "vw.pid")])
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"warning: .*syslog")

    def test_syslog_socket_missing(self):
        self.assertRejected({"log": {"output": "syslog", "syslog_socket":
                                     os.path.join(self.tmp, "no.sock")}},
                            "is a syslog daemon running")

    def test_dump_parses_back_with_secrets_hidden(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml is not installed")
        secrets = {
            "admin": {"token": "s3cr3t-admin"},
            "rate_limit": {"redis": {"password": "s3cr3t-redis"}},
            "telemetry": {"otlp": {"headers": {
                "Authorization": "Bearer s3cr3t-otlp"}}},
        }
        rc, err, out, _ = self.check(secrets, args=[])
        self.assertEqual(rc, 0, err)
        rc, err, out, _ = self.check(secrets, args=["-T"])
        self.assertEqual(rc, 0, err)
        self.assertNotIn("s3cr3t", out)
        d = yaml.safe_load(out)
        self.assertEqual(d["admin"]["token"], "***")
        self.assertEqual(d["rate_limit"]["redis"]["password"], "***")
        self.assertEqual(d["telemetry"]["otlp"]["headers"],
                         {"Authorization": "***"})
        cfg_port = d["server"]["port"]
        self.assertIsInstance(cfg_port, int)
        self.assertEqual(d["server"]["drain_timeout"], "5s")
        self.assertEqual(d["log"]["output"], "stdout")


# ====================================================================== 3
class TestDaemonLogs(Base):

    def syslog_socket(self):
        path = os.path.join(self.tmp, "log.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        os.chmod(path, 0o666)
        s.settimeout(0.2)
        self.addCleanup(s.close)
        return s, path

    def read_syslog(self, s, want, timeout=10):
        got = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                got.append(s.recv(65536).decode("utf-8", "replace"))
            except socket.timeout:
                continue
            if any(want in g for g in got):
                break
        return got

    def test_daemon_with_stdout_logs_to_syslog(self):
        s, path = self.syslog_socket()
        cfg = self.config(log={"output": "stdout", "syslog_socket": path})
        vw = T.Vibewarden(self.tmp, cfg)
        pidf = os.path.join(self.tmp, "vw.pid")
        p = subprocess.run([T.VW_BIN, "-d", "-c", vw.conf, "-p", pidf],
                           capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        with open(pidf) as f:
            pid = int(f.read())
        self.extra_pids.append(pid)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr.decode(), r"warning: .*syslog")
        self.assertEqual(p.stdout, b"")
        self.assertEqual(self.served(cfg["server"]["port"], "/echo/daemon"),
                         200)
        got = self.read_syslog(s, "/echo/daemon")
        started = [g for g in got if "proxy.started" in g]
        self.assertTrue(started, got[:5])
        self.assertRegex(started[0], r"^<30>vibewarden\[%d\]: \{" % pid)
        self.assertTrue(any("/echo/daemon" in g for g in got), got[-5:])
        self.assertTrue(any('"log.to_syslog"' in g for g in got),
                        "no warning in the log itself: %r" % got[:3])
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 10
        while time.monotonic() < end and T.proc_state(pid) not in (None,
                                                                   "Z"):
            time.sleep(0.05)
        self.assertFalse(os.path.exists(pidf))

    def test_daemon_launcher_fails_when_daemon_does(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        cfg = self.config(log={"output": os.path.join(self.tmp, "vw.log")})
        cfg["server"]["port"] = busy.getsockname()[1]
        vw = T.Vibewarden(self.tmp, cfg)
        p = subprocess.run([T.VW_BIN, "-d", "-c", vw.conf, "-p",
                            os.path.join(self.tmp, "vw.pid")],
                           capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"listen", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "vw.pid")),
                         "a failed start left its pidfile")

    def test_daemon_launcher_reports_failure_after_detaching(self):
        """The workers fail after the daemon detached: the launcher still
        exits 2, with the daemon's message."""
        hook = os.path.join(self.tmp, "fail-workers")
        open(hook, "w").close()
        cfg = self.config(log={"output": os.path.join(self.tmp, "vw.log")})
        vw = T.Vibewarden(self.tmp, cfg)
        pidf = os.path.join(self.tmp, "vw.pid")
        t0 = time.monotonic()
        p = subprocess.run([T.VW_BIN, "-d", "-c", vw.conf, "-p", pidf],
                           capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL,
                           env=dict(os.environ, VW_TEST_WORKER_FAIL=hook))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"start-up failed: worker", p.stderr)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertFalse(T.wait_port(cfg["server"]["port"], 0.3))
        self.assertFalse(os.path.exists(pidf))

    def test_log_reopen_after_mv(self):
        """mv + USR1: the master creates the file for server.user, the
        workers write to it, and the reopen is logged."""
        os.chmod(self.tmp, 0o777)
        logf = os.path.join(self.tmp, "vw.log")
        cfg = self.config(log={"output": logf})
        if ROOT:
            nobody = pwd.getpwnam("nobody")
            cfg["server"]["user"] = "nobody"
            cfg["server"]["group"] = __import__("grp").getgrgid(
                nobody.pw_gid).gr_name
        vw = self.start(cfg)
        end = time.monotonic() + 4     # the generation got ready
        while time.monotonic() < end:
            with open(logf) as f:
                if '"proxy.started"' in f.read():
                    break
            time.sleep(0.05)
        with open(logf) as f:
            self.assertIn('"proxy.started"', f.read())
        self.assertEqual(self.served(vw.port, "/echo/before-mv"), 200)
        os.rename(logf, logf + ".1")
        vw.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        self.assertEqual(self.served(vw.port, "/echo/after-mv"), 200)
        text = ""
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if os.path.exists(logf):
                with open(logf) as f:
                    text = f.read()
                if "/echo/after-mv" in text:
                    break
            time.sleep(0.1)
        self.assertIn("/echo/after-mv", text, "workers did not write the "
                      "new file")
        self.assertIn('"log.reopened"', text)
        if ROOT:
            self.assertEqual(os.stat(logf).st_uid, nobody.pw_uid)
        self.assertNotIn('"log.reopen_failed"', text)

    def test_failed_reopen_is_an_error(self):
        d = os.path.join(self.tmp, "logs")
        os.mkdir(d)
        os.chmod(d, 0o777)
        cfg = self.config(log={"output": os.path.join(d, "vw.log")})
        vw = self.start(cfg)
        os.rename(d, d + ".gone")      # nowhere to create vw.log now
        vw.send_signal(signal.SIGUSR1)
        old = os.path.join(d + ".gone", "vw.log")
        text = ""
        end = time.monotonic() + 5
        while time.monotonic() < end and '"log.reopen_failed"' not in text:
            time.sleep(0.1)
            with open(old) as f:
                text = f.read()
        evs = [json.loads(ln) for ln in text.splitlines()
               if '"log.reopen_failed"' in ln]
        self.assertTrue(evs, text[-1000:])
        self.assertEqual(evs[0]["severity"], "high")
        self.assertIn("No such file or directory", evs[0]["ai_summary"])

    def test_drain_timeout_logs_open_connections(self):
        cfg = self.config()
        cfg["server"]["drain_timeout"] = "1s"
        cfg["server"]["workers"] = 1
        vw = self.start(cfg)
        w = T.WSClient(vw.port, "/ws")
        self.addCleanup(w.close)
        self.assertEqual(w.resp.status, 101)
        vw.send_signal(signal.SIGTERM)
        ev = vw.wait_event("worker.drain_timeout", timeout=8)
        self.assertIsNotNone(ev, vw.stdout()[-1500:])
        self.assertIn("1 connections still open, 1 of them WebSocket",
                      ev["ai_summary"])


# ====================================================================== 5
class TestPidfile(Base):

    def test_second_instance_refused(self):
        pidf = os.path.join(self.tmp, "vw.pid")
        vw = self.start(self.config(), args=["-p", pidf])
        # another port: only the pidfile clashes (a log file: -d below)
        cfg2 = self.config(log={"output": os.path.join(self.tmp, "2.log")})
        vw2 = T.Vibewarden(self.tmp, cfg2, name="vw2")
        p = subprocess.run([T.VW_BIN, "-c", vw2.conf, "-p", pidf],
                           capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"locked by a running vibewarden (pid %d)" % vw.pid,
                      p.stderr)
        self.assertFalse(T.wait_port(cfg2["server"]["port"], 0.2))
        with open(pidf) as f:
            self.assertEqual(int(f.read()), vw.pid)
        # -d: the launcher says so too
        p = subprocess.run([T.VW_BIN, "-d", "-c", vw2.conf, "-p", pidf],
                           capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"locked by a running vibewarden", p.stderr)
        with open(pidf) as f:
            self.assertEqual(int(f.read()), vw.pid)
        self.assertEqual(vw.stop(), 0)
        self.assertFalse(os.path.exists(pidf))

    def test_stale_pidfile_is_taken_over(self):
        pidf = os.path.join(self.tmp, "vw.pid")
        with open(pidf, "w") as f:
            f.write("999999\n")
        vw = self.start(self.config(), args=["-p", pidf])
        with open(pidf) as f:
            self.assertEqual(int(f.read()), vw.pid)


# ====================================================================== 4
class TestBuild(unittest.TestCase):

    def test_version_lists_linked_libraries(self):
        p = subprocess.run([T.VW_BIN, "-V"], capture_output=True,
                           timeout=10)
        listed = set(re.findall(r"^  (lib\w+) ", p.stdout.decode(), re.M))
        ldd = subprocess.run(["ldd", T.VW_BIN], capture_output=True,
                             timeout=10).stdout.decode()
        known = ("libcrypto", "libssl", "libyaml", "libjansson",
                 "libmicrohttpd", "liblmdb", "libhiredis", "libcurl")
        linked = set()
        for name in re.findall(r"^\s*(lib[\w+-]+?)[-.]", ldd, re.M):
            if name in known:
                linked.add(name)
        self.assertTrue(linked, ldd)
        self.assertEqual(listed, linked, "-V says %r, ldd %r"
                         % (listed, linked))

    @unittest.skipUnless(os.environ.get("top_builddir"),
                         "needs make check (top_builddir)")
    def test_reconfigure_rebuilds_paths(self):
        """configure, make, configure --prefix=elsewhere, make: the
        binary's default config path follows."""
        if shutil.which("make") is None or not os.path.exists(
                os.path.join(SRCDIR, "configure")):
            self.skipTest("no make or no configure script")
        if os.path.exists(os.path.join(SRCDIR, "config.status")):
            # autoconf refuses a second build beside an in-tree one;
            # CI builds out of tree (build/), where this runs.
            self.skipTest("source tree configured in place")
        tmp = T.new_tmpdir()
        self.addCleanup(shutil.rmtree, tmp, True)

        # a build of its own, not a sub-make of the make check running us
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}

        def run(*cmd):
            p = subprocess.run(cmd, cwd=tmp, capture_output=True,
                               timeout=900, stdin=subprocess.DEVNULL,
                               env=env)
            self.assertEqual(p.returncode, 0, "%r: %s" % (
                cmd, p.stderr.decode()[-2000:]))

        def default_path():
            p = subprocess.run([os.path.join(tmp, "vibewarden"), "-h"],
                               capture_output=True, timeout=10)
            return re.search(r"default (\S+)\)", p.stdout.decode()).group(1)

        conf = os.path.join(SRCDIR, "configure")
        run(conf, "--prefix=/opt/vw-one", "--without-check")
        run("make", "-j2", "vibewarden")
        self.assertEqual(default_path(),
                         "/opt/vw-one/etc/vibewarden/vibewarden.yaml")
        run(conf, "--prefix=/opt/vw-two", "--without-check")
        run("make", "-j2", "vibewarden")
        self.assertEqual(default_path(),
                         "/opt/vw-two/etc/vibewarden/vibewarden.yaml")


# ====================================================================== 7
def man_examples(path):
    """The .Bd -literal blocks of a man page that are configurations
    (start with a top-level key), with mdoc escapes undone."""
    out, cur = [], None
    with open(path) as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith(".Bd -literal"):
                cur = []
            elif ln.startswith(".Ed") and cur is not None:
                text = "\n".join(cur) + "\n"
                if re.match(r"^[a-z_]+:", text):
                    out.append(text)
                cur = None
            elif cur is not None:
                cur.append(ln.replace("\\e", "\\").replace("\\&", ""))
    return out


class TestDocs(unittest.TestCase):

    def setUp(self):
        self.tmp = T.new_tmpdir()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_man_examples_pass_check(self):
        n = 0
        for page in ("vibewarden.8", "vibewarden.yaml.5"):
            for i, text in enumerate(man_examples(os.path.join(
                    SRCDIR, "man", page))):
                n += 1
                path = os.path.join(self.tmp, "%s-%d.yaml" % (page, i))
                with open(path, "w") as f:
                    f.write(text)
                # The examples name the real accounts and files of an
                # install; the account is the one thing a test box lacks.
                user, group = T.current_user_group()
                env = dict(os.environ, VIBEWARDEN_SERVER_USER=user,
                           VIBEWARDEN_SERVER_GROUP=group)
                p = subprocess.run([T.VW_BIN, "-t", "-c", path],
                                   capture_output=True, timeout=30,
                                   env=env)
                with self.subTest(page=page, example=i):
                    self.assertEqual(p.returncode, 0, "%s\n%s" % (
                        text, p.stderr.decode()))
        self.assertGreaterEqual(n, 2, "no examples found")

    def test_demo_config_has_no_warnings(self):
        user, group = T.current_user_group()
        p = subprocess.run([T.VW_BIN, "-t", "-c", os.path.join(
            SRCDIR, "demo", "demo.yaml")], capture_output=True, timeout=30,
            env=dict(os.environ, VIBEWARDEN_SERVER_USER=user,
                     VIBEWARDEN_SERVER_GROUP=group))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(b"warning", p.stderr)

    def test_demo_app_echoes_bodies(self):
        port = T.free_port()
        app = subprocess.Popen([sys.executable, os.path.join(
            SRCDIR, "demo", "upstream.py"), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.assertTrue(T.wait_port(port, 10, app))
            for m in ("POST", "PUT", "DELETE"):
                with T.Client(port, 5) as c:
                    r = c.request(m, "/things/1", [("Content-Type",
                                                    "text/plain")],
                                  b"hello " + m.encode())
                with self.subTest(method=m):
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.body, b"hello " + m.encode())
        finally:
            app.kill()
            app.wait(5)


if __name__ == "__main__":
    unittest.main()
