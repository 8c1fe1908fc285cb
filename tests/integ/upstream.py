#!/usr/bin/env python3
"""Test upstream for vibewarden's integration tests.

Python 3 standard library only.  Works on raw sockets so that it sees and
records the exact bytes vibewarden forwards.

    upstream.py PORT LOGDIR

Listens on 127.0.0.1:PORT, prints "READY" once listening.  LOGDIR receives:
  requests.jsonl   one JSON object per parsed request (or parse error)
  conn-N.raw       every byte received on connection N (capped)
  stats.json       {"connections": accepted, "requests": parsed}

Behaviour by path (query string after '?'):
  /_stats            JSON stats (also counted as a request)
  /big?n=N           N deterministic bytes, Content-Length; &late=B
                     &latems=MS: then, MS ms later, the bytes of B unasked
  /chunked?n=N       the same bytes, chunked (varied chunk sizes)
  /slow?ms=M         sleeps M ms, then behaves like /echo
  /status/NNN        that status, small JSON body (none for 1xx/204/304)
  /ws                RFC 6455 handshake + frame echo (?hello=TEXT: a text
                     frame sent in the same packet as the 101)
  /ws-badaccept      101 with a wrong Sec-WebSocket-Accept
  /malformed?kind=K  an invalid response (K: barecr [default], badcl,
                     badstatus, nul, space-colon, cl-te, obsfold, dupcl,
                     hugehdr)
  /trickle?ms=M&n=N  headers at once, then N bytes spread over M ms
  /pad?n=N           200 text/html with X-Pad fields of N bytes in all (a
                     response head of a chosen size)
  /headers-out       sets Server, X-Powered-By, Via (+ X-Frame-Options and
                     Content-Security-Policy when ?own=1, Connection-named
                     X-Secret-Hop and Keep-Alive when ?hop=1)
  /close             answers with Connection: close and closes
  /raw?b64=B         sends exactly the bytes base64url-decoded from B (a
                     scripted response); then &close=1 closes, &reset=1
                     resets (RST), &wait=MS sleeps first, &then=B2 sends
                     the bytes of B2 in a second write (a second TLS
                     record) corked into the same TCP segment; otherwise
                     the connection stays open for the next request
  /early103          103 Early Hints, then 200
  /unsolicited101    101 + raw bytes although no upgrade was asked for
  /eof?n=N           N bytes delimited by closing the connection
  /dropafter         answers (keep-alive), then closes the idle connection
  /badchunk          chunked response with an invalid chunk size mid-body
  /short             Content-Length 1000, 10 bytes, close
  /finclose          a keep-alive-looking answer (no Connection: close), and
                     the FIN right behind it
  /early             answers 200 "early" before reading the request body,
                     then reads (discards) the body and keeps the connection
  /ws?eofreply=MS    WebSocket handshake, then collects the client's frames
                     until it half-closes (EOF), waits MS ms, sends one text
                     frame "after-eof:" + the payloads, and closes
  anything else      /echo: JSON description of the request received
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RAW_CAP = 4 * 1024 * 1024          # bytes of raw log kept per connection
HEAD_MAX = 256 * 1024

# 64 KiB deterministic block, shared with vwtest.det_bytes().
BLOCK = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest()
                 for i in range(2048))


def det_stream(n):
    """Yield the n deterministic bytes in pieces (<= 64 KiB each)."""
    left = n
    while left > 0:
        take = min(left, len(BLOCK))
        yield BLOCK[:take]
        left -= take


def det_bytes(n):
    return b"".join(det_stream(n))


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + WS_GUID)
                            .digest()).decode("ascii")


class ParseError(Exception):
    pass


class PeerClosed(Exception):
    pass


class Server:
    def __init__(self, port, logdir, tls=None):
        self.port = port
        self.logdir = logdir
        self.tls = tls          # an ssl.SSLContext: serve https
        self.lock = threading.Lock()
        self.nconn = 0
        self.nreq = 0
        os.makedirs(logdir, exist_ok=True)
        self.reqlog = open(os.path.join(logdir, "requests.jsonl"), "a",
                           encoding="utf-8")
        self.write_stats()

    def write_stats(self):
        tmp = os.path.join(self.logdir, "stats.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"connections": self.nconn, "requests": self.nreq}, f)
        os.replace(tmp, os.path.join(self.logdir, "stats.json"))

    def log_request(self, rec):
        with self.lock:
            if "parse_error" not in rec:
                self.nreq += 1
            self.reqlog.write(json.dumps(rec) + "\n")
            self.reqlog.flush()
            self.write_stats()

    def serve(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(1024)      # bursts of hundreds of connections
        print("READY", flush=True)
        while True:
            s, _ = ls.accept()
            with self.lock:
                self.nconn += 1
                cid = self.nconn
                self.write_stats()
            t = threading.Thread(target=self.handle, args=(s, cid),
                                 daemon=True)
            t.start()

    def handle(self, s, cid):
        if self.tls is not None:
            try:
                s.settimeout(10)
                s = self.tls.wrap_socket(s, server_side=True)
                s.settimeout(None)
            except (OSError, ssl.SSLError) as e:
                self.log_request({"conn": cid, "tls_error": str(e)})
                s.close()
                return
        Conn(self, s, cid).run()


class Conn:
    def __init__(self, srv, sock, cid):
        self.srv = srv
        self.s = sock
        self.cid = cid
        self.buf = b""
        self.rawf = open(os.path.join(srv.logdir, "conn-%d.raw" % cid), "ab")
        self.rawn = 0
        self.seq = 0

    # ---------------------------------------------------------------- input
    def fill(self):
        try:
            d = self.s.recv(65536)
        except (ConnectionResetError, OSError):
            d = b""
        if not d:
            raise PeerClosed()
        if self.rawn < RAW_CAP:
            part = d[:RAW_CAP - self.rawn]
            self.rawf.write(part)
            self.rawf.flush()
        self.rawn += len(d)
        self.buf += d

    def take_body(self, n, sha, keep, blen):
        """Read n body bytes into sha; keep the first 64 KiB."""
        while n:
            d = self.read_some(min(n, 65536))
            n -= len(d)
            sha.update(d)
            blen += len(d)
            if len(keep) < 65536:
                keep += d[:65536 - len(keep)]
        return keep, blen

    def read_until(self, delim, limit):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = self.buf[:i + len(delim)]
                self.buf = self.buf[i + len(delim):]
                return out
            if len(self.buf) > limit:
                raise ParseError("line/head too long")
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out

    def read_some(self, maxn):
        if not self.buf:
            self.fill()
        out = self.buf[:maxn]
        self.buf = self.buf[maxn:]
        return out

    # ---------------------------------------------------------------- output
    def send(self, data):
        self.s.sendall(data)

    def respond(self, status, headers, body=b"", reason=None, head_only=False,
                close=False):
        reason = reason or {200: "OK", 400: "Bad Request", 404: "Not Found",
                            101: "Switching Protocols"}.get(status, "Status")
        lines = ["HTTP/1.1 %d %s" % (status, reason)]
        names = {h[0].lower() for h in headers}
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        nobody = status < 200 or status in (204, 304)
        if "content-length" not in names and "transfer-encoding" not in names \
                and not nobody:
            lines.append("Content-Length: %d" % len(body))
        if close:
            lines.append("Connection: close")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head_only and not nobody:
            out += body
        self.send(out)

    # ---------------------------------------------------------------- main
    def run(self):
        try:
            while True:
                if not self.one_request():
                    break
        except PeerClosed:
            pass
        except ParseError as e:
            self.srv.log_request({"conn": self.cid, "seq": self.seq,
                                  "parse_error": str(e)})
            try:
                self.respond(400, [("Content-Type", "text/plain")],
                             b"upstream parse error\n", close=True)
            except OSError:
                pass
        except OSError:
            pass
        finally:
            try:
                self.s.close()
            except OSError:
                pass
            self.rawf.close()

    def one_request(self):
        # Bare CRLFs before a request line are tolerated (RFC 9112 2.2).
        while True:
            if not self.buf:
                self.fill()
            if self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
                continue
            if self.buf == b"\r":
                self.fill()
                continue
            break
        head = self.read_until(b"\r\n\r\n", HEAD_MAX)
        self.seq += 1
        lines = head[:-4].split(b"\r\n")
        rl = lines[0].decode("latin-1")
        parts = rl.split(" ")
        if len(parts) != 3:
            raise ParseError("bad request line %r" % rl)
        method, target, version = parts
        headers = []
        for ln in lines[1:]:
            if b":" not in ln:
                raise ParseError("bad header line %r" % ln)
            if ln[:1] in (b" ", b"\t"):
                raise ParseError("obs-fold %r" % ln)
            k, v = ln.split(b":", 1)
            headers.append([k.decode("latin-1"),
                            v.strip(b" \t").decode("latin-1")])
        hmap = {}
        for k, v in headers:
            hmap.setdefault(k.lower(), []).append(v)

        def h1(name):
            v = hmap.get(name)
            return v[0] if v else None

        if "100-continue" in (h1("expect") or "").lower():
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if target.partition("?")[0] == "/early":
            # answer first, read the body afterwards (as many apps do)
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 5\r\n\r\nearly")

        # Body.
        te = h1("transfer-encoding")
        cl = h1("content-length")
        framing = "none"
        sha = hashlib.sha256()
        blen = 0
        body_keep = b""
        chunk_ext = False
        chunk_sizes = []
        trailers = []
        if te is not None and cl is not None:
            raise ParseError("both CL and TE")
        if te is not None:
            if te.lower() != "chunked":
                raise ParseError("TE %r" % te)
            framing = "chunked"
            while True:
                line = self.read_until(b"\r\n", 4096)[:-2]
                szs, _, ext = line.partition(b";")
                if ext or b";" in line:
                    chunk_ext = True
                try:
                    sz = int(szs.decode("latin-1").strip(), 16)
                except ValueError:
                    raise ParseError("bad chunk size %r" % line)
                chunk_sizes.append(sz)
                if sz == 0:
                    break
                body_keep, blen = self.take_body(sz, sha, body_keep, blen)
                if self.read_exact(2) != b"\r\n":
                    raise ParseError("bad chunk terminator")
            while True:
                line = self.read_until(b"\r\n", 8192)
                if line == b"\r\n":
                    break
                trailers.append(line[:-2].decode("latin-1"))
        elif cl is not None:
            if len(hmap["content-length"]) != 1 or not cl.isdigit():
                raise ParseError("bad CL %r" % hmap["content-length"])
            framing = "content-length"
            body_keep, blen = self.take_body(int(cl), sha, body_keep, blen)

        rec = {
            "conn": self.cid, "seq": self.seq, "method": method,
            "target": target, "version": version, "headers": headers,
            "head_raw": head.decode("latin-1"), "framing": framing,
            "body_len": blen, "body_sha256": sha.hexdigest(),
            "chunk_ext": chunk_ext, "chunk_sizes": chunk_sizes[:64],
            "trailers": trailers,
            "body_prefix": body_keep[:4096].decode("latin-1"),
            "time": time.time(),
        }
        self.srv.log_request(rec)

        conn_tokens = [t.strip().lower() for v in hmap.get("connection", [])
                       for t in v.split(",")]
        close = version == "HTTP/1.0" and "keep-alive" not in conn_tokens
        close = close or "close" in conn_tokens
        head_only = method == "HEAD"
        path, _, query = target.partition("?")
        q = dict(urllib.parse.parse_qsl(query))
        return self.dispatch(path, q, rec, hmap, close, head_only)

    def dispatch(self, path, q, rec, hmap, close, head_only):
        if path == "/_stats":
            with self.srv.lock:
                st = {"connections": self.srv.nconn,
                      "requests": self.srv.nreq}
            body = json.dumps(st).encode()
            self.respond(200, [("Content-Type", "application/json")], body,
                         head_only=head_only, close=close)
        elif path == "/big":
            n = int(q.get("n", "0"))
            hdr = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
                   "\r\nContent-Length: %d\r\n%s\r\n" %
                   (n, "Connection: close\r\n" if close else ""))
            self.send(hdr.encode())
            if not head_only:
                for piece in det_stream(n):
                    self.send(piece)
            if "late" in q:
                time.sleep(int(q.get("latems", "0")) / 1000.0)
                self.send(base64.urlsafe_b64decode(q["late"]))
        elif path == "/chunked":
            n = int(q.get("n", "0"))
            hdr = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
                   "\r\nTransfer-Encoding: chunked\r\n%s\r\n" %
                   ("Connection: close\r\n" if close else ""))
            self.send(hdr.encode())
            if not head_only:
                sizes = [1, 7, 100, 4096, 333, 65536, 17, 12345]
                i = 0
                for piece in det_stream(n):
                    while piece:
                        sz = sizes[i % len(sizes)]
                        i += 1
                        c, piece = piece[:sz], piece[sz:]
                        self.send(b"%x\r\n%s\r\n" % (len(c), c))
                self.send(b"0\r\n\r\n")
        elif path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.echo(rec, close, head_only)
        elif path.startswith("/status/"):
            st = int(path[len("/status/"):] or "200")
            body = json.dumps({"status": st}).encode()
            self.respond(st, [("Content-Type", "application/json")], body,
                         head_only=head_only, close=close)
        elif path == "/ws":
            return self.websocket(hmap, bad=False, hello=q.get("hello"),
                                  eofreply=q.get("eofreply"))
        elif path == "/ws-badaccept":
            return self.websocket(hmap, bad=True)
        elif path == "/malformed":
            kind = q.get("kind", "barecr")
            bad = {
                "barecr": b"HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\n"
                          b"Content-Length: 2\r\n\r\nok",
                "badcl": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
                "badstatus": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
                "nul": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\n"
                       b"Content-Length: 2\r\n\r\nok",
                "space-colon": b"HTTP/1.1 200 OK\r\nX-Bad : ab\r\n"
                               b"Content-Length: 2\r\n\r\nok",
                "obsfold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n"
                           b"Content-Length: 2\r\n\r\nok",
                "dupcl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                         b"Content-Length: 3\r\n\r\nok",
                "hugehdr": b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 200000 +
                           b"\r\nContent-Length: 2\r\n\r\nok",
                "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"
                         b"0\r\n\r\n",
            }.get(kind)
            self.send(bad)
            return False
        elif path == "/headers-out":
            hdrs = [("Content-Type", "text/plain"), ("Server", "Apache/2.4.1"),
                    ("X-Powered-By", "PHP/5.0"), ("Via", "1.1 secretproxy"),
                    ("X-Custom-Out", "kept")]
            if q.get("hop") == "1":
                hdrs += [("Connection", "X-Secret-Hop"),
                         ("X-Secret-Hop", "must-not-pass"),
                         ("Keep-Alive", "timeout=1")]
            if q.get("own") == "1":
                hdrs += [("X-Frame-Options", "SAMEORIGIN"),
                         ("Content-Security-Policy", "default-src 'self'")]
            self.respond(200, hdrs, b"headers-out\n", head_only=head_only,
                         close=close)
        elif path == "/pad":
            n = int(q.get("n", "0"))
            self.respond(200, [("Content-Type", "text/html")] + [
                ("X-Pad", "p" * min(4000, n - i)) for i in range(0, n, 4000)],
                         b"<p>pad</p>\n", head_only=head_only, close=close)
        elif path == "/dropafter":
            # a normal keep-alive answer, then the upstream silently closes
            # the idle connection (a stale pooled connection for the proxy)
            self.respond(200, [("Content-Type", "text/plain")], b"dropped\n",
                         head_only=head_only)
            time.sleep(0.1)
            return False
        elif path == "/badchunk":
            self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n")
            return False
        elif path == "/finclose":
            # no Connection: close, but the FIN follows the response at once
            self.respond(200, [("Content-Type", "text/plain")], b"ok",
                         head_only=head_only)
            try:
                self.s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        elif path == "/early":
            return not close          # answered before the body was read
        elif path == "/short":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                      b"only-ten!!")
            return False
        elif path == "/trickle":
            ms, n = int(q.get("ms", "3000")), int(q.get("n", "10"))
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n\r\n" % n)
            for i in range(n):
                time.sleep(ms / 1000.0 / n)
                self.send(b"t")
        elif path == "/unsolicited101":
            self.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                      b"\r\nConnection: Upgrade\r\n\r\nRAW-AFTER-101")
            time.sleep(0.5)
            return False
        elif path == "/early103":
            self.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload"
                      b"\r\n\r\n")
            self.respond(200, [("Content-Type", "text/plain")], b"final\n",
                         head_only=head_only, close=close)
        elif path == "/eof":
            n = int(q.get("n", "1000"))
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/"
                      b"octet-stream\r\n\r\n")
            if not head_only:
                for piece in det_stream(n):
                    self.send(piece)
            return False
        elif path == "/raw":
            time.sleep(int(q.get("wait", "0")) / 1000.0)
            if "then" in q:
                # Two writes (two TLS records) in one TCP segment.
                self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            self.send(base64.urlsafe_b64decode(q.get("b64", "")))
            if "then" in q:
                self.send(base64.urlsafe_b64decode(q["then"]))
                self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            if q.get("reset") == "1":
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return False
            return q.get("close") != "1"
        elif path == "/close":
            self.respond(200, [("Content-Type", "text/plain")], b"bye\n",
                         head_only=head_only, close=True)
            return False
        else:
            self.echo(rec, close, head_only)
        return not close

    def echo(self, rec, close, head_only):
        out = {k: rec[k] for k in ("conn", "seq", "method", "target",
                                   "version", "headers", "framing",
                                   "body_len", "body_sha256", "chunk_ext",
                                   "trailers")}
        body = json.dumps(out).encode()
        self.respond(200, [("Content-Type", "application/json"),
                           ("X-Upstream-Conn", str(self.cid))], body,
                     head_only=head_only, close=close)

    # ------------------------------------------------------------ websocket
    def websocket(self, hmap, bad, hello=None, eofreply=None):
        key = (hmap.get("sec-websocket-key") or [None])[0]
        upg = ",".join(hmap.get("upgrade", [])).lower()
        conn = ",".join(hmap.get("connection", [])).lower()
        ver = (hmap.get("sec-websocket-version") or [None])[0]
        if not key or "websocket" not in upg or "upgrade" not in conn \
                or ver != "13":
            self.respond(400, [("Content-Type", "text/plain")],
                         b"not a websocket handshake\n", close=True)
            return False
        acc = ws_accept(key)
        if bad:
            acc = base64.b64encode(b"\x00" * 20).decode()
        out = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
               % acc).encode()
        if hello:        # server-first message in the same packet as 101
            out += ws_frame(0x1, hello.encode())
        self.send(out)
        if eofreply is not None:
            return self.ws_eofreply(int(eofreply))
        while True:
            b0, b1 = self.read_exact(2)
            fin_rsv_op = b0
            op = b0 & 0x0F
            masked = b1 & 0x80
            ln = b1 & 0x7F
            if ln == 126:
                ln = int.from_bytes(self.read_exact(2), "big")
            elif ln == 127:
                ln = int.from_bytes(self.read_exact(8), "big")
            mkey = self.read_exact(4) if masked else None
            data = bytearray(self.read_exact(ln))
            if mkey:
                data = ws_unmask(data, mkey)
            if op == 0x8:            # close: echo and end
                self.send(ws_frame(0x8, bytes(data)))
                return False
            if op == 0x9:            # ping -> pong
                self.send(ws_frame(0xA, bytes(data)))
                continue
            if op == 0xA:
                continue
            self.send(ws_frame(fin_rsv_op & 0x0F, bytes(data),
                               fin=bool(fin_rsv_op & 0x80)))

    def ws_read_frame(self):
        """(opcode, unmasked payload) of the next client frame."""
        b0, b1 = self.read_exact(2)
        ln = b1 & 0x7F
        if ln == 126:
            ln = int.from_bytes(self.read_exact(2), "big")
        elif ln == 127:
            ln = int.from_bytes(self.read_exact(8), "big")
        mkey = self.read_exact(4) if b1 & 0x80 else None
        data = self.read_exact(ln)
        return b0 & 0x0F, (ws_unmask(data, mkey) if mkey else data)

    def ws_eofreply(self, ms):
        """Collect frames until the client half-closes, then answer late."""
        got = b""
        try:
            while True:
                got += self.ws_read_frame()[1]
        except PeerClosed:
            pass
        time.sleep(ms / 1000.0)
        self.send(ws_frame(0x1, b"after-eof:" + got))
        return False


def ws_unmask(data, key):
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")) \
        .to_bytes(n, "little")


def ws_frame(op, payload, fin=True, mask_key=None):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    m = 0x80 if mask_key else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        h = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if mask_key:
        return h + mask_key + ws_unmask(payload, mask_key)
    return h + payload


def main():
    if len(sys.argv) not in (3, 5):
        sys.stderr.write("usage: upstream.py PORT LOGDIR [CERT KEY]\n")
        return 2
    ctx = None
    if len(sys.argv) == 5:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        snilog = os.path.join(sys.argv[2], "sni.log")

        def sni(sslobj, name, c):
            # One line per handshake: the SNI name, or "-" for none.
            with open(snilog, "a") as f:
                f.write("%s\n" % (name or "-"))
        ctx.sni_callback = sni
    Server(int(sys.argv[1]), sys.argv[2], ctx).serve()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
