#!/usr/bin/env python3
"""Attacks on the ACME helper (issue 8) from a CA that misbehaves.

    VW_BIN=./vibewarden python3 tests/integ/test_attack_acme.py [-v]

A small fake RFC 8555 CA made here (plain HTTP on loopback, which
tls.acme_directory allows for internal CAs) answers every step; its
authorizations are already valid, so no http-01 round trip is needed,
and it signs the CSR with the openssl command line, with the validity
a case asks for.  Loopback only; every process is stopped by the PID we
started (the CA is a thread of this process).
"""

import base64
import hashlib
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

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vwtest as T  # noqa: E402

OPENSSL = shutil.which("openssl")
DOMAIN = "acme.test"
TOKEN = "Tok-_0123456789abcdefghijklmnopqrstuvwxyzAB"


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass        # vibewarden hanging up on a huge answer is expected


class FakeCA:
    """An ACME server that issues whatever certificate self.sign makes.
    days: the openssl x509 -days argument (-1: already expired)."""

    def __init__(self, tmp, days=1, mode="ok"):
        self.tmp = tmp
        self.days = days
        self.mode = mode
        self.orders = 0
        self.plain = 0
        self.chal_posts = 0
        # A CA whose URLs are long, as real ones are.
        self.dir_path = "/" + "d" * 150 + "/dir" if mode == "longurl" \
            else "/dir"
        self.lock = threading.Lock()
        self.cakey = os.path.join(tmp, "fakeca.key")
        self.cacrt = os.path.join(tmp, "fakeca.crt")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", self.cakey, "-out", self.cacrt,
                        "-days", "2", "-subj", "/CN=fake ACME CA"],
                       check=True, capture_output=True, timeout=30)
        self.cert = None
        ca = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", ctype="application/json",
                     loc=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Replay-Nonce", "n%d" % time.time_ns())
                if loc:
                    self.send_header("Location", ca.url(loc))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                ca.count(self)
                self.send(200)

            def do_GET(self):
                if ca.mode == "huge":
                    self.send(200, b"{" + b" " * (1 << 20) + b"}")
                elif ca.mode == "badjson":
                    self.send(200, b'{"newNonce": "http://x/", [')
                elif self.path == ca.dir_path:
                    self.send(200, json.dumps({
                        "newNonce": ca.url("/nonce"),
                        "newAccount": ca.url("/acct"),
                        "newOrder": ca.url("/order")}).encode())
                else:
                    self.send(404)

            def do_POST(self):
                ca.count(self)
                n = int(self.headers.get("Content-Length", "0"))
                jws = json.loads(self.rfile.read(n))
                pl = b64d(jws["payload"])
                if ca.mode == "badnonce":
                    self.send(400, json.dumps({
                        "type": "urn:ietf:params:acme:error:badNonce",
                        "detail": "try again"}).encode(),
                        "application/problem+json")
                    return
                order = {"status": "ready",
                         "authorizations": [ca.url("/authz")],
                         "finalize": ca.url("/finalize")}
                if self.path == "/acct":
                    self.send(201, b"{}", loc="/acct/1")
                elif self.path == "/order":
                    with ca.lock:
                        ca.orders += 1
                        ca.cert = None
                    self.send(201, json.dumps(order).encode(),
                              loc="/order/1")
                elif self.path == "/authz" and ca.mode == "pending":
                    # Never validated: the answer stays published.
                    self.send(200, json.dumps({
                        "status": "pending",
                        "identifier": {"type": "dns", "value": DOMAIN},
                        "challenges": [{"type": "http-01",
                                        "url": ca.url("/chal"),
                                        "token": TOKEN,
                                        "status": "pending"}]}).encode())
                elif self.path == "/chal":
                    with ca.lock:
                        ca.chal_posts += 1
                    self.send(200, b"{}")
                elif self.path == "/authz":
                    self.send(200, json.dumps({
                        "status": "valid",
                        "identifier": {"type": "dns", "value": DOMAIN},
                        "challenges": []}).encode())
                elif self.path == "/finalize":
                    ca.sign(b64d(json.loads(pl)["csr"]))
                    self.send(200, json.dumps(order).encode())
                elif self.path == "/order/1":
                    if ca.cert is not None:
                        order["status"] = "valid"
                        order["certificate"] = ca.url("/cert")
                    self.send(200, json.dumps(order).encode())
                elif self.path == "/cert":
                    self.send(200, ca.cert,
                              "application/pem-certificate-chain")
                else:
                    self.send(404)

        self.srv = Server(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.servers = [self.srv]
        self.https_port = None
        if mode == "downgrade":
            # The directory over HTTPS (its certificate is the CA's own,
            # for 127.0.0.1), naming plain-http endpoints.
            self.tlscrt = os.path.join(tmp, "fakeca-https.crt")
            tlskey = os.path.join(tmp, "fakeca-https.key")
            subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec",
                            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", tlskey, "-out", self.tlscrt, "-days",
                            "2", "-subj", "/CN=fake ACME CA https",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=30)
            hs = Server(("127.0.0.1", 0), H)
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(self.tlscrt, tlskey)
            hs.socket = sctx.wrap_socket(hs.socket, server_side=True)
            self.https_port = hs.server_address[1]
            self.servers.append(hs)
        for srv in self.servers:
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def count(self, handler):
        """Requests after the directory that came over plain HTTP."""
        if handler.server is self.srv and self.https_port:
            with self.lock:
                self.plain += 1

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def dir_url(self):
        if self.https_port:
            return "https://127.0.0.1:%d%s" % (self.https_port,
                                                self.dir_path)
        return self.url(self.dir_path)

    def sign(self, der):
        """mode: "ok"; "otherkey" (for a key of the CA's making);
        "otherdomain" (for another name); "bigchain" (the chain padded
        with copies of the CA's certificate to some 70 KB)."""
        csr = os.path.join(self.tmp, "req.der")
        crt = os.path.join(self.tmp, "leaf.crt")
        with open(csr, "wb") as f:
            f.write(der)
        extra = ["-copy_extensions", "copy"]
        if self.mode == "otherkey":
            subprocess.run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                            os.path.join(self.tmp, "other.key"), "-outform",
                            "DER", "-out", csr, "-subj", "/CN=" + DOMAIN,
                            "-addext", "subjectAltName=DNS:" + DOMAIN],
                           check=True, capture_output=True, timeout=30)
        elif self.mode == "otherdomain":
            extra = ["-subj", "/CN=other.test"]
        subprocess.run([OPENSSL, "x509", "-req", "-inform", "DER", "-in",
                        csr, "-CA", self.cacrt, "-CAkey", self.cakey,
                        "-days", str(self.days), "-out", crt] + extra,
                       check=True, capture_output=True, timeout=30)
        with open(crt, "rb") as f, open(self.cacrt, "rb") as g:
            leaf, root = f.read(), g.read()
        n = 70000 // len(root) + 1 if self.mode == "bigchain" else 1
        self.cert = leaf + root * n
        if self.mode == "nonewline":
            self.cert = self.cert.rstrip(b"\n")

    def stop(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()


@unittest.skipUnless(OPENSSL, "openssl is not installed")
class TestBadCA(unittest.TestCase):

    def start(self, ca_days, mode="ok"):
        self.tmp = T.new_tmpdir()
        self.ca = FakeCA(self.tmp, ca_days, mode)
        self.addCleanup(self.ca.stop)
        self.up = T.Upstream(self.tmp).start()
        self.addCleanup(self.up.stop)
        self.port = T.free_port()
        cfg = T.base_config(self.port, self.up.port)
        cfg["server"]["http_redirect_port"] = T.free_port()
        cfg["tls"] = {"enabled": True, "provider": "letsencrypt",
                      "domain": DOMAIN,
                      "storage_path": os.path.join(self.tmp, "acme"),
                      "acme_directory": self.ca.dir_url()}
        if self.ca.https_port:
            cfg["tls"]["acme_ca_file"] = self.ca.tlscrt
        self.vw = T.Vibewarden(self.tmp, cfg).start()
        self.addCleanup(self.vw.stop)

    def served_org(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
            der = s.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der)
        out = subprocess.run([OPENSSL, "x509", "-noout", "-issuer"],
                             input=pem.encode(), capture_output=True,
                             check=True, timeout=10).stdout.decode()
        return out

    def test_expired_certificate_refused(self):
        """The CA issues a certificate that has already expired.  Before
        the fix the helper stored and installed it (every new client got
        an expired certificate) and, its renewal time being past, ordered
        again every second, without back-off, for as long as the CA
        played along.  Now it is refused like any failed order: the
        current certificate keeps serving, and the next try backs off."""
        self.start(-1)
        ev = self.vw.wait_event("tls.acme_failed", timeout=15)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        self.assertIn("expired", json.dumps(ev))
        time.sleep(4)
        self.assertEqual(self.vw.events("tls.certificate_issued"), [])
        self.assertEqual(self.ca.orders, 1)
        self.assertIn("vibewarden self-signed", self.served_org())
        self.assertFalse(os.path.exists(os.path.join(
            self.tmp, "acme", DOMAIN + ".crt")))

    def refused(self, mode, why):
        self.start(1, mode)
        ev = self.vw.wait_event("tls.acme_failed", timeout=15)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        self.assertIn(why, json.dumps(ev))
        time.sleep(2)
        self.assertEqual(self.vw.events("tls.certificate_issued"), [])
        self.assertEqual(self.ca.orders, 1)
        self.assertIn("vibewarden self-signed", self.served_org())
        for f in (DOMAIN + ".crt", DOMAIN + ".key"):
            self.assertFalse(os.path.exists(os.path.join(
                self.tmp, "acme", f)), f)

    def test_chain_too_large_not_stored(self):
        """A chain too large for the page that hands it to the workers
        (some 70 KB).  Before the fix the helper wrote it and its key to
        storage_path first and only then found that it did not fit: the
        workers kept the old certificate while the files held the new
        one, which the next start served; and since the helper cannot
        read back a stored chain that large, each later round ordered
        yet another certificate.  Now it is refused before anything is
        stored."""
        self.refused("bigchain", "too large")

    def test_broken_ca_answers(self):
        """Not a finding: a directory of 1 MB, a directory that is not
        JSON, and a CA that answers badNonce to every request each end
        the attempt with a clear tls.acme_failed, and back off."""
        for mode, why in (("huge", "answer too large"),
                          ("badjson", "not an ACME directory"),
                          ("badnonce", "badNonce 5 times in a row")):
            with self.subTest(mode=mode):
                self.start(1, mode)
                ev = self.vw.wait_event("tls.acme_failed", timeout=15)
                self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
                self.assertIn(why, json.dumps(ev))
                self.assertIn("next attempt in", json.dumps(ev))
                self.vw.stop()

    def test_certificate_for_another_key_refused(self):
        """Not a finding: a certificate for a key that is not the CSR's
        is refused, and nothing is stored."""
        self.refused("otherkey", "does not match")

    def test_certificate_for_another_domain_refused(self):
        """Not a finding: a certificate that does not name tls.domain is
        refused, and nothing is stored."""
        self.refused("otherdomain", "does not name")

    def test_chain_without_final_newline(self):
        """A chain whose last line has no newline (RFC 7468 does not
        require one).  Before the fix the helper appended one in its
        copy but stored the CA's bytes with the length of that copy: the
        stored <domain>.crt ended in the NUL byte after the body, which
        other programs reading the file trip over.  Now the file holds
        the chain and its final newline."""
        self.start(1, "nonewline")
        ev = self.vw.wait_event("tls.certificate_issued", timeout=15)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        with open(os.path.join(self.tmp, "acme", DOMAIN + ".crt"),
                  "rb") as f:
            stored = f.read()
        self.assertNotIn(b"\0", stored)
        self.assertEqual(stored, self.ca.cert + b"\n")

    def test_events_keep_their_outcome(self):
        """Log events carry at most 200 characters (log.h le_summary).
        With a directory URL of some 170 characters, tls.acme_failed
        lost its end (that the current certificate keeps serving, and
        when the next attempt comes) and tls.certificate_issued its
        renewal time: what an operator reads them for.  The outcome now
        comes first and the long parts (URL, path, error) last."""
        self.start(1, "longurl")
        ev = self.vw.wait_event("tls.certificate_issued", timeout=15)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        self.assertRegex(ev["payload"]["message"],
                         r"renewal at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        tmp = T.new_tmpdir()
        up = T.Upstream(tmp).start()
        self.addCleanup(up.stop)
        port = T.free_port()
        cfg = T.base_config(port, up.port)
        cfg["server"]["http_redirect_port"] = T.free_port()
        cfg["tls"] = {"enabled": True, "provider": "letsencrypt",
                      "domain": DOMAIN,
                      "storage_path": os.path.join(tmp, "acme"),
                      "acme_directory": "http://127.0.0.1:%d/%s/dir" %
                      (T.free_port(), "d" * 150)}
        vw = T.Vibewarden(tmp, cfg).start()
        self.addCleanup(vw.stop)
        ev = vw.wait_event("tls.acme_failed", timeout=10)
        self.assertIsNotNone(ev, vw.stdout()[-3000:])
        self.assertRegex(ev["payload"]["message"],
                         r"temporary self-signed one keeps serving; next "
                         r"attempt in \d+ s")

    def test_https_directory_no_plain_http(self):
        """An https directory names plain-http endpoints.  Before the fix
        the helper followed them: every signed request, the CSR and the
        certificate went over the network unencrypted, where anyone on
        the path could swap the answer (say, a chain from another issuer
        for our key, which every client then refuses).  RFC 8555 6.1
        wants HTTPS for every request; a directory given as https now
        holds the whole order to https (an http:// directory, for a
        test CA, still works: the other cases here use one)."""
        self.start(1, "downgrade")
        ev = self.vw.wait_event("tls.acme_failed", timeout=15)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        self.assertEqual(self.ca.plain, 0)
        self.assertEqual(self.vw.events("tls.certificate_issued"), [])

    def test_challenge_endpoint(self):
        """Not a finding: the http-01 answers on the redirect port.  Only
        the exact token of a pending challenge gets its key
        authorization; a prefix, an extension, another token, dot
        segments that leave the directory, encoded NUL, CR or LF, and a
        very long token get no key authorization (404, 400, or the
        connection closed), so the account thumbprint is not handed out
        for arbitrary tokens."""
        self.start(1, "pending")
        rport = self.vw.cfg["server"]["http_redirect_port"]
        end = time.monotonic() + 15
        while self.ca.chal_posts == 0:
            self.assertLess(time.monotonic(), end, self.vw.stdout()[-3000:])
            time.sleep(0.1)
        pfx = "/.well-known/acme-challenge/"

        def get(target, method="GET"):
            try:
                r, _ = T.exchange(rport, ("%s %s HTTP/1.1\r\nHost: %s\r\n"
                                          "\r\n" % (method, target, DOMAIN)
                                          ).encode(), method=method)
            except (T.ProtocolError, OSError):
                r = None
            return (r.status, r.body) if r else (None, b"")

        st, body = get(pfx + TOKEN)
        self.assertEqual(st, 200)
        self.assertTrue(body.startswith((TOKEN + ".").encode()), body)
        thumb = body.split(b".", 1)[1]
        self.assertEqual(get(pfx + TOKEN, "HEAD")[0], 200)
        self.assertEqual(get(pfx + "x/../" + TOKEN)[0], 200)
        for bad in (TOKEN[:-1], TOKEN + "A", TOKEN + "/", TOKEN + "%00",
                    TOKEN + "%0d%0aX:y", "A" * 43, "../" + TOKEN,
                    pfx + "../" + TOKEN, TOKEN + "A" * 200,
                    "A" * 7000, "%2e%2e/" + TOKEN, TOKEN.lower()):
            target = bad if bad.startswith(pfx) else pfx + bad
            st, body = get(target)
            self.assertIn(st, (None, 400, 404, 308, 431), bad)
            self.assertNotIn(thumb, body, bad)

    def test_valid_certificate_installed(self):
        """The same CA with a valid certificate: the control case."""
        self.start(1)
        ev = self.vw.wait_event("tls.certificate_issued", timeout=15)
        self.assertIsNotNone(ev, self.vw.stdout()[-3000:])
        deadline = time.monotonic() + 5
        while "fake ACME CA" not in self.served_org():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)
        self.assertEqual(self.ca.orders, 1)


@unittest.skipUnless(OPENSSL and os.geteuid() == 0,
                     "needs openssl, and root to run as nobody")
class TestAccountKeyKept(unittest.TestCase):

    def test_unreadable_account_key_not_replaced(self):
        """account.key exists but server.user cannot read it (it was
        made by another user: server.user changed, or a restore as
        root).  Before the fix the helper took it for a bad key, made a
        new one and renamed it over the old file: the ACME account was
        lost without a word beyond "not a usable key".  Now only a
        missing file gets a new key; one that cannot be opened is an
        error (tls.acme_failed) and stays as it was."""
        tmp = T.new_tmpdir()
        os.chmod(tmp, 0o755)
        store = os.path.join(tmp, "acme")
        os.mkdir(store, 0o700)
        akey = os.path.join(store, "account.key")
        subprocess.run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", akey],
                       check=True, capture_output=True, timeout=30)
        os.chmod(akey, 0o600)       # root's
        with open(akey, "rb") as f:
            before = f.read()
        ca = FakeCA(tmp)
        self.addCleanup(ca.stop)
        up = T.Upstream(tmp).start()
        self.addCleanup(up.stop)
        port = T.free_port()
        cfg = T.base_config(port, up.port)
        cfg["server"]["user"] = "nobody"
        cfg["server"]["group"] = __import__("grp").getgrgid(
            __import__("pwd").getpwnam("nobody").pw_gid).gr_name
        cfg["server"]["http_redirect_port"] = T.free_port()
        cfg["tls"] = {"enabled": True, "provider": "letsencrypt",
                      "domain": DOMAIN, "storage_path": store,
                      "acme_directory": ca.dir_url()}
        vw = T.Vibewarden(tmp, cfg).start()
        self.addCleanup(vw.stop)
        ev = vw.wait_event("tls.acme_failed", timeout=10)
        self.assertIsNotNone(ev, vw.stdout()[-3000:])
        self.assertIn("account.key", json.dumps(ev))
        with open(akey, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(ca.orders, 0)


@unittest.skipUnless(OPENSSL, "openssl is not installed")
class TestAccountKeyKind(unittest.TestCase):

    def test_rsa_account_key_kept(self):
        """account.key holds an RSA key (another ACME client's account,
        moved over).  Before the fix every round failed with "out of
        memory" (the JWK of a key that is not P-256 cannot be made),
        which says nothing of the cause.  Now the event names the file
        and the kind of key wanted, and the key is left as it is."""
        tmp = T.new_tmpdir()
        store = os.path.join(tmp, "acme")
        os.mkdir(store, 0o700)
        akey = os.path.join(store, "account.key")
        subprocess.run([OPENSSL, "genpkey", "-algorithm", "RSA",
                        "-pkeyopt", "rsa_keygen_bits:2048", "-out", akey],
                       check=True, capture_output=True, timeout=60)
        with open(akey, "rb") as f:
            before = f.read()
        ca = FakeCA(tmp)
        self.addCleanup(ca.stop)
        up = T.Upstream(tmp).start()
        self.addCleanup(up.stop)
        port = T.free_port()
        cfg = T.base_config(port, up.port)
        cfg["server"]["http_redirect_port"] = T.free_port()
        cfg["tls"] = {"enabled": True, "provider": "letsencrypt",
                      "domain": DOMAIN, "storage_path": store,
                      "acme_directory": ca.dir_url()}
        vw = T.Vibewarden(tmp, cfg).start()
        self.addCleanup(vw.stop)
        ev = vw.wait_event("tls.acme_failed", timeout=10)
        self.assertIsNotNone(ev, vw.stdout()[-3000:])
        self.assertIn("P-256", json.dumps(ev))
        self.assertIn("account.key", json.dumps(ev))
        with open(akey, "rb") as f:
            self.assertEqual(f.read(), before)


@unittest.skipUnless(OPENSSL, "openssl is not installed")
class TestStorageLinks(unittest.TestCase):
    """tls.storage_path belongs to server.user (the ACME helper hands it
    over), but the master, which stays root, reads the certificate and
    key stored there at every start and reload."""

    def test_master_does_not_follow_links(self):
        """Attack: whoever runs as server.user (a compromised worker or
        helper) replaces acme.test.key with a symlink to a private key
        that only root may read, and acme.test.crt with a certificate
        for that key's public half naming tls.domain (its signature is
        never checked, so any key can sign it).  Before the fix the root
        master followed the link at the next start or reload and handed
        the other service's private key to the workers, which run as
        server.user: the TLS port served the forged certificate with
        it.  The files of storage_path are now opened without following
        links (and must be regular files: a FIFO would hang the master),
        by the master and by the helper (which would otherwise hand the
        pair to the workers through the certificate page whenever it
        can read more than they should get); such a pair is unusable,
        and the temporary certificate serves."""
        tmp = T.new_tmpdir()
        run = lambda *a: subprocess.run([OPENSSL] + list(a), check=True,
                                        capture_output=True, timeout=30)
        secret = os.path.join(tmp, "secret")
        os.mkdir(secret, 0o700)
        vkey = os.path.join(secret, "victim.key")
        run("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", vkey)
        os.chmod(vkey, 0o600)
        vpub = os.path.join(tmp, "victim.pub")
        run("pkey", "-in", vkey, "-pubout", "-out", vpub)
        akey = os.path.join(tmp, "attacker.key")
        acrt = os.path.join(tmp, "attacker.crt")
        run("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", akey, "-out",
            acrt, "-days", "2", "-subj", "/CN=attacker")
        csr = os.path.join(tmp, "a.csr")
        run("req", "-new", "-key", akey, "-subj", "/CN=" + DOMAIN,
            "-addext", "subjectAltName=DNS:" + DOMAIN, "-out", csr)
        store = os.path.join(tmp, "acme")
        os.mkdir(store, 0o700)
        forged = os.path.join(store, DOMAIN + ".crt")
        run("x509", "-req", "-in", csr, "-CA", acrt, "-CAkey", akey,
            "-days", "1", "-force_pubkey", vpub, "-copy_extensions",
            "copy", "-out", forged)
        os.symlink(vkey, os.path.join(store, DOMAIN + ".key"))
        with open(forged) as f:
            forged_der = ssl.PEM_cert_to_DER_cert(f.read())

        up = T.Upstream(tmp).start()
        self.addCleanup(up.stop)
        port = T.free_port()
        cfg = T.base_config(port, up.port)
        cfg["server"]["http_redirect_port"] = T.free_port()
        cfg["tls"] = {"enabled": True, "provider": "letsencrypt",
                      "domain": DOMAIN, "storage_path": store,
                      "acme_directory": "http://127.0.0.1:%d/dir" %
                      T.free_port()}
        vw = T.Vibewarden(tmp, cfg).start()
        self.addCleanup(vw.stop)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
            der = s.getpeercert(binary_form=True)
        self.assertNotEqual(hashlib.sha256(der).hexdigest(),
                            hashlib.sha256(forged_der).hexdigest(),
                            "the root-only key was loaded through a link")
        self.assertTrue(vw.events("tls.acme_stored_unusable"),
                        vw.stdout()[-3000:])


if __name__ == "__main__":
    unittest.main()
