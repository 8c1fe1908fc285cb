#!/usr/bin/env python3
"""Outside attacks on the admin process (issue 11): slow clients, forged
tokens, hostile request targets, and a hostile admin answer for
vibewardenctl.  Each test failed before its fix.  The fixture is
test_admin's (its own ports and tmpdir); loopback only, every process
started here is stopped by PID.
"""

import json
import os
import socket
import sys
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


if __name__ == "__main__":
    unittest.main()
