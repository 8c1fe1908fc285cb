#!/usr/bin/env python3
"""vibewarden ACME integration tests (issue 8) against pebble, the ACME
test CA of the Debian package `pebble`.

    VW_BIN=./vibewarden python3 tests/integ/test_acme.py [-v]

pebble listens on loopback with an HTTPS certificate made here (which
vibewarden trusts through tls.acme_ca_file), asks pebble-challtestsrv
for DNS so that the test domain resolves to 127.0.0.1, and validates
http-01 on vibewarden's redirect listener (pebble's httpPort).  pebble
issues certificates valid for CERT_LIFE seconds, so vibewarden renews at
two thirds of that.  The cases run in order on one daemon: first
issuance, a reload, renewal with a hot swap while a connection stays
open, the CA going away, a restart on the stored certificate.  Skipped
without pebble.  Loopback only; every process is stopped by the PID we
started.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import unittest
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402

PEBBLE = shutil.which("pebble")
CHALLSRV = shutil.which("pebble-challtestsrv")
OPENSSL = shutil.which("openssl")
DOMAIN = "acme.test"
CERT_LIFE = 24          # seconds: renewal at 16 s, less up to 0.8 s


def fp(der):
    return hashlib.sha256(der).hexdigest()


def pem_fp(path):
    """The fingerprint of the first certificate (the leaf) in path."""
    with open(path) as f:
        pem = f.read()
    end = "-----END CERTIFICATE-----"
    return fp(ssl.PEM_cert_to_DER_cert(pem[:pem.index(end) + len(end)]))


class Proc:
    """A background process with its output in a file."""

    def __init__(self, argv, logpath, env=None):
        self.log = open(logpath, "wb")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.log,
                                  stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=e)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.log.close()


@unittest.skipUnless(PEBBLE and CHALLSRV and OPENSSL,
                     "pebble (Debian package pebble) is not installed")
class TestACME(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.new_tmpdir()
        cls.procs = []
        cls.vw = cls.up = None
        try:
            cls._start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        tmp = cls.tmp
        # pebble's own HTTPS certificate, for the directory.
        cls.pcert = os.path.join(tmp, "pebble.crt")
        pkey = os.path.join(tmp, "pebble.key")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", pkey, "-out", cls.pcert, "-days", "2",
                        "-subj", "/CN=pebble",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        dns = T.free_port()
        cmgmt = T.free_port()
        cls.pport = T.free_port()
        cls.pmgmt = T.free_port()
        cls.rport = T.free_port()
        # DNS: every A query answers 127.0.0.1, no AAAA (vibewarden
        # listens on 127.0.0.1 only).
        cls.procs.append(Proc([CHALLSRV, "-defaultIPv4", "127.0.0.1",
                               "-defaultIPv6", "", "-dns01",
                               "127.0.0.1:%d" % dns, "-http01", "",
                               "-https01", "", "-tlsalpn01", "",
                               "-management", "127.0.0.1:%d" % cmgmt],
                              os.path.join(tmp, "challtestsrv.log")))
        conf = os.path.join(tmp, "pebble.json")
        with open(conf, "w") as f:
            json.dump({"pebble": {
                "listenAddress": "127.0.0.1:%d" % cls.pport,
                "managementListenAddress": "127.0.0.1:%d" % cls.pmgmt,
                "certificate": cls.pcert, "privateKey": pkey,
                "httpPort": cls.rport, "tlsPort": T.free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "certificateValidityPeriod": CERT_LIFE}}, f)
        # A nonce in five is refused: the badNonce retry is exercised.
        cls.pebble = Proc([PEBBLE, "-config", conf, "-dnsserver",
                           "127.0.0.1:%d" % dns],
                          os.path.join(tmp, "pebble.log"),
                          env={"PEBBLE_VA_NOSLEEP": "1",
                               "PEBBLE_WFE_NONCEREJECT": "20"})
        cls.procs.append(cls.pebble)
        if not T.wait_port(cls.pport, 10, cls.pebble.p) or \
                not T.wait_port(cmgmt, 10):
            raise RuntimeError("pebble did not start: " +
                               open(os.path.join(tmp, "pebble.log")).read())
        cls.up = T.Upstream(tmp).start()
        cls.port = T.free_port()
        cls.store = os.path.join(tmp, "acme")
        cfg = T.base_config(cls.port, cls.up.port)
        cfg["server"]["http_redirect_port"] = cls.rport
        # The connection held open across the renewal must not idle out.
        cfg["server"]["idle_timeout"] = "120s"
        cfg["tls"] = {"enabled": True, "provider": "letsencrypt",
                      "domain": DOMAIN, "storage_path": cls.store,
                      "acme_directory":
                          "https://127.0.0.1:%d/dir" % cls.pport,
                      "acme_ca_file": cls.pcert}
        cls.vw = T.Vibewarden(tmp, cfg).start()

    @classmethod
    def tearDownClass(cls):
        if cls.vw:
            cls.vw.stop()
        if cls.up:
            cls.up.stop()
        for p in cls.procs:
            p.stop()

    # -------------------------------------------------------------- helpers

    def root_ctx(self):
        """A client context trusting pebble's issuing root."""
        mctx = ssl.create_default_context(cafile=self.pcert)
        with urllib.request.urlopen("https://127.0.0.1:%d/roots/0" %
                                    self.pmgmt, context=mctx,
                                    timeout=5) as r:
            root = r.read().decode()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=root)
        return ctx

    def connect(self, ctx=None):
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname=DOMAIN)
        s.settimeout(5)
        return s

    def request(self, s, path="/echo"):
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" %
                   (path, DOMAIN)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        n = 0
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(body) < n:
            d = s.recv(65536)
            if not d:
                break
            body += d
        return int(head.split(b" ")[1]) if head else 0

    def issued(self, n, timeout):
        """Wait until n tls.certificate_issued events were logged."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.vw.events("tls.certificate_issued")) >= n:
                return True
            time.sleep(0.1)
        return False

    def plain(self, path):
        r, _ = T.exchange(self.rport, ("GET %s HTTP/1.1\r\nHost: %s\r\n"
                                       "\r\n" % (path, DOMAIN)).encode())
        return r

    # -------------------------------------------------------------- cases

    def test_1_first_issuance(self):
        self.assertTrue(self.issued(1, 30), self.vw.stdout()[-3000:])
        ev = self.vw.events("tls.certificate_issued")[0]
        self.assertIn(DOMAIN, json.dumps(ev))
        # A verified handshake: pebble's chain for the domain.
        s = self.connect(self.root_ctx())
        try:
            self.assertEqual(self.request(s), 200)
            der = s.getpeercert(binary_form=True)
        finally:
            s.close()
        crt = os.path.join(self.store, DOMAIN + ".crt")
        self.assertEqual(fp(der), pem_fp(crt))
        for k in ("account.key", DOMAIN + ".key"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.store, k)).st_mode)
            self.assertEqual(mode, 0o600, k)
        # The challenge was withdrawn: an unknown token is a 404 on the
        # redirect port, and other paths still redirect.
        r = self.plain("/.well-known/acme-challenge/"
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        self.assertEqual(r.status, 404)
        r = self.plain("/x")
        self.assertEqual(r.status, 308)
        self.assertEqual(self.vw.events("tls.acme_failed"), [])

    def test_2_reload_keeps_certificate(self):
        """SIGHUP: the new generation's workers and helper take the
        stored certificate; nothing is ordered again."""
        self.assertTrue(self.issued(1, 30))
        before = pem_fp(os.path.join(self.store, DOMAIN + ".crt"))
        n0 = len(self.vw.events("config.reloaded"))
        self.vw.send_signal(signal.SIGHUP)
        self.assertIsNotNone(self.vw.wait_event(
            "config.reloaded",
            lambda e: len(self.vw.events("config.reloaded")) > n0, 10))
        time.sleep(1)
        for _ in range(4):
            s = self.connect(self.root_ctx())
            try:
                self.assertEqual(fp(s.getpeercert(binary_form=True)),
                                 before)
            finally:
                s.close()
        self.assertEqual(len(self.vw.events("tls.certificate_issued")), 1)
        self.assertEqual(self.vw.events("tls.certificate_swap_failed"), [])

    def test_3_renewal_hot_swap(self):
        self.assertTrue(self.issued(1, 30))
        n0 = len(self.vw.events("tls.certificate_issued"))
        ctx = self.root_ctx()
        old = self.connect(ctx)
        try:
            self.assertEqual(self.request(old), 200)
            fp_old = fp(old.getpeercert(binary_form=True))
            # Renewal at two thirds of CERT_LIFE.
            self.assertTrue(self.issued(n0 + 1, CERT_LIFE),
                            self.vw.stdout()[-3000:])
            new = self.connect(ctx)
            try:
                self.assertEqual(self.request(new), 200)
                fp_new = fp(new.getpeercert(binary_form=True))
            finally:
                new.close()
            self.assertNotEqual(fp_old, fp_new)
            self.assertEqual(fp_new, pem_fp(os.path.join(
                self.store, DOMAIN + ".crt")))
            # The connection opened before the swap goes on, on its
            # certificate.
            self.assertEqual(self.request(old), 200)
            self.assertEqual(fp(old.getpeercert(binary_form=True)), fp_old)
        finally:
            old.close()
        # Every worker serves the new one (several handshakes).
        for _ in range(6):
            s = self.connect()
            try:
                self.assertEqual(fp(s.getpeercert(binary_form=True)),
                                 fp_new)
            finally:
                s.close()

    def test_4_ca_gone(self):
        self.assertTrue(self.issued(2, 30 + CERT_LIFE))
        crt = os.path.join(self.store, DOMAIN + ".crt")
        before = pem_fp(crt)
        self.pebble.stop()
        ev = self.vw.wait_event("tls.acme_failed", timeout=CERT_LIFE + 5)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        self.assertIn("keeps serving", json.dumps(ev))
        s = self.connect()
        try:
            self.assertEqual(self.request(s), 200)
            self.assertEqual(fp(s.getpeercert(binary_form=True)), before)
        finally:
            s.close()
        self.assertEqual(pem_fp(crt), before)

    def test_5_restart_serves_stored(self):
        """A restart serves the stored certificate from the first
        connection (the master loads it), not a temporary one."""
        self.assertTrue(self.issued(2, 30 + CERT_LIFE))
        crt = os.path.join(self.store, DOMAIN + ".crt")
        stored = pem_fp(crt)
        self.vw.stop()
        self.vw.start()
        s = self.connect()
        try:
            self.assertEqual(fp(s.getpeercert(binary_form=True)), stored)
        finally:
            s.close()
        self.assertEqual(len(self.vw.events("tls.acme_pending")), 1)
        self.assertEqual(len(self.vw.events("tls.acme_temporary")), 1)


class TestACMEUnreachable(unittest.TestCase):
    """No CA answers: the TLS port serves the temporary self-signed
    certificate, and the failure is logged with the next attempt."""

    def test_temporary_certificate(self):
        tmp = T.new_tmpdir()
        up = T.Upstream(tmp).start()
        vw = None
        try:
            port = T.free_port()
            cfg = T.base_config(port, up.port)
            cfg["server"]["http_redirect_port"] = T.free_port()
            cfg["tls"] = {"enabled": True, "provider": "acme",
                          "domain": DOMAIN,
                          "storage_path": os.path.join(tmp, "acme"),
                          "acme_directory":
                              "https://127.0.0.1:%d/dir" % T.free_port()}
            vw = T.Vibewarden(tmp, cfg).start()
            ev = vw.wait_event("tls.acme_failed", timeout=10)
            self.assertIsNotNone(ev, vw.stdout()[-2000:])
            self.assertIn("temporary self-signed one keeps serving",
                          json.dumps(ev))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(os.path.join(tmp, "acme",
                                                   "selfsigned.crt"))
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            with ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
                subj = dict(x[0] for x in s.getpeercert()["subject"])
            self.assertEqual(subj["commonName"], DOMAIN)
            self.assertEqual(subj["organizationName"],
                             "vibewarden self-signed")
            self.assertFalse(os.path.exists(os.path.join(
                tmp, "acme", DOMAIN + ".crt")))
        finally:
            if vw:
                vw.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main()
