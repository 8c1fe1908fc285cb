"""Helpers for vibewarden's integration tests (Python 3 stdlib only).

Everything here is bounded in time, binds only loopback addresses and
stops only the processes it started, by PID.
"""

import base64
import grp
import hashlib
import json
import os
import pwd
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import upstream as _up  # noqa: E402  (det_bytes, ws helpers)

det_bytes = _up.det_bytes
det_stream = _up.det_stream
ws_accept = _up.ws_accept
ws_frame = _up.ws_frame
ws_unmask = _up.ws_unmask

VW_BIN = os.environ.get("VW_BIN", "./vibewarden")


# ------------------------------------------------------------------ ports

_used_ports = set()


_PORT_BASE = int(os.environ.get("VW_PORT_BASE", "0"))


def free_port():
    """A loopback TCP port that is free right now (never one handed out
    earlier in this process).  With VW_PORT_BASE (run.sh runs suites side
    by side), a port of this suite's own range of 2000: another suite
    cannot take it between this check and the bind of its server."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", _PORT_BASE + random.randrange(2000)
                        if _PORT_BASE else 0))
            except OSError:
                continue
            p = s.getsockname()[1]
        if p not in _used_ports:
            _used_ports.add(p)
            return p
    raise RuntimeError("no free port")


def wait_port(port, timeout=10.0, proc=None):
    """Wait until 127.0.0.1:port accepts a connection."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            s.close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ------------------------------------------------------------------ YAML

def _yscalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v is None:
        return '""'
    return json.dumps(str(v))


def to_yaml(d, indent=0):
    out = []
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("%s%s:" % (pad, k))
            out.append(to_yaml(v, indent + 1))
        elif isinstance(v, (list, tuple)):
            if not v:
                out.append("%s%s: []" % (pad, k))
            else:
                out.append("%s%s:" % (pad, k))
                for item in v:
                    out.append("%s  - %s" % (pad, _yscalar(item)))
        else:
            out.append("%s%s: %s" % (pad, k, _yscalar(v)))
    return "\n".join(x for x in out if x != "")


def current_user_group():
    return (pwd.getpwuid(os.getuid()).pw_name,
            grp.getgrgid(os.getgid()).gr_name)


def base_config(port, up_port, admin_port=None):
    user, group = current_user_group()
    cfg = {
        "server": {"host": "127.0.0.1", "port": port, "workers": 2,
                   "header_timeout": "2s", "idle_timeout": "5s",
                   "drain_timeout": "5s", "user": user, "group": group},
        "upstream": {"host": "127.0.0.1", "port": up_port,
                     "connect_timeout": "1s"},
        "resilience": {"timeout": "2s"},
        "tls": {"enabled": False},
        "rate_limit": {"enabled": False},
        "log": {"level": "info", "format": "json", "output": "stdout"},
    }
    # The admin process (metrics are on by default) always gets a port of
    # its own, never the default 9443 another run may hold.
    cfg["admin"] = {"listen": "127.0.0.1:%d" % (admin_port or free_port())}
    return cfg


def deep_update(d, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            deep_update(d[k], v)
        else:
            d[k] = v
    return d


# ------------------------------------------------------------------ /proc

def children_of(pid):
    kids = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    if kids:
        return sorted(kids)
    # Fallback: scan every /proc/*/stat for the parent pid.
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            if ppid == pid:
                kids.add(int(d))
        except (OSError, ValueError):
            pass
    return sorted(kids)


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("latin-1").strip()
    except OSError:
        return ""


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2]
    except (OSError, ValueError):
        return None


def sanitized():
    """True when VW_BIN is an ASan build: its quarantine keeps freed
    buffers, so RSS bounds say nothing there."""
    try:
        with open(VW_BIN, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def reads_per_request(pid, client, n=200):
    """read-type system calls (/proc/PID/io syscr) of worker pid per
    keep-alive GET sent over client, after a first request that makes the
    upstream connection."""
    def syscr():
        with open("/proc/%d/io" % pid) as f:
            return int([ln for ln in f if ln.startswith("syscr:")][0]
                       .split()[1])
    r = client.request("GET", "/echo/warm")
    assert r.status == 200, r
    before = syscr()
    for i in range(n):
        r = client.request("GET", "/echo/ka-%d" % i)
        assert r.status == 200, r
    return (syscr() - before) / n


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def listening_inodes(port):
    """Inodes of sockets listening on 127.0.0.1/0.0.0.0:port."""
    inodes = set()
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for ln in f:
                    p = ln.split()
                    if p[3] == "0A" and int(p[1].split(":")[1], 16) == port:
                        inodes.add(p[9])
        except OSError:
            pass
    return inodes


def proc_has_socket(pid, inodes):
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                ln = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if ln.startswith("socket:[") and ln[8:-1] in inodes:
                return True
    except OSError:
        pass
    return False


# ------------------------------------------------------------------ upstream

class Upstream:
    def __init__(self, tmpdir, port=None, tls=None):
        self.port = port or free_port()
        self.tls = tls            # (cert, key): serve https
        self.logdir = os.path.join(tmpdir, "upstream-%d" % self.port)
        os.makedirs(self.logdir, exist_ok=True)
        self.proc = None

    def start(self):
        self.errf = open(os.path.join(self.logdir, "stderr"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "upstream.py"),
             str(self.port), self.logdir] + list(self.tls or ()),
            stdout=subprocess.PIPE, stderr=self.errf)
        line = b""
        end = time.monotonic() + 10
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if line.strip() == b"READY" or not line:
                break
        if line.strip() != b"READY":
            raise RuntimeError("upstream did not start")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc:
            self.proc.stdout.close()
            self.errf.close()

    def requests(self):
        out = []
        try:
            with open(os.path.join(self.logdir, "requests.jsonl")) as f:
                for ln in f:
                    if ln.strip():
                        out.append(json.loads(ln))
        except OSError:
            pass
        return out

    def raw(self):
        """Every byte received by the upstream, all connections."""
        data = b""
        for fn in sorted(os.listdir(self.logdir)):
            if fn.startswith("conn-") and fn.endswith(".raw"):
                with open(os.path.join(self.logdir, fn), "rb") as f:
                    data += f.read()
        return data

    def stats(self):
        try:
            with open(os.path.join(self.logdir, "stats.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"connections": 0, "requests": 0}

    def saw(self, marker):
        if isinstance(marker, str):
            marker = marker.encode()
        return marker in self.raw()


# ------------------------------------------------------------------ daemon

class Vibewarden:
    def __init__(self, tmpdir, cfg, name="vw", binary=None):
        self.tmpdir = tmpdir
        self.cfg = cfg
        self.binary = binary      # None: VW_BIN (e.g. a ulimit wrapper)
        self.port = cfg["server"]["port"]
        self.conf = os.path.join(tmpdir, name + ".yaml")
        self.outpath = os.path.join(tmpdir, name + ".stdout")
        self.errpath = os.path.join(tmpdir, name + ".stderr")
        self.proc = None
        self.write_config()

    def write_config(self, text=None):
        with open(self.conf, "w") as f:
            f.write(text if text is not None else to_yaml(self.cfg) + "\n")

    def start(self, timeout=10.0, args=(), env=None, on_spawn=None):
        self.outf = open(self.outpath, "ab")
        self.errf = open(self.errpath, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([self.binary or VW_BIN, "-c",
                                      self.conf] + list(args),
                                     stdout=self.outf, stderr=self.errf,
                                     stdin=subprocess.DEVNULL, env=e)
        if on_spawn is not None:    # before it listens or serves
            on_spawn(self.proc.pid)
        if not wait_port(self.port, timeout, self.proc):
            rc = self.proc.poll()
            raise RuntimeError("vibewarden did not listen on %d (rc=%s)\n"
                               "stderr: %s\nstdout: %s" %
                               (self.port, rc, self.stderr()[-2000:],
                                self.stdout()[-2000:]))
        want = self.cfg["server"].get("workers", 0)
        end = time.monotonic() + 3
        while want and time.monotonic() < end and \
                len(self.workers()) < want:
            time.sleep(0.02)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        return children_of(self.pid)

    def workers(self):
        """Worker PIDs: children of the master minus the admin process
        (named 'admin' in its cmdline, or holding the admin listen socket)."""
        kids = [k for k in self.children() if proc_state(k) not in ("Z",
                                                                     None)]
        def title(k):   # cmdline without our temp paths (random names)
            return " ".join(t for t in proc_cmdline(k).split()
                            if "vwinteg-" not in t)
        named = [k for k in kids if "worker" in title(k)]
        if named:
            return named
        out = []
        ainodes = set()
        adm = self.cfg.get("admin", {}).get("listen")
        if adm:
            ainodes = listening_inodes(int(adm.rsplit(":", 1)[1]))
        for k in kids:
            cl = title(k)
            if "admin" in cl or "helper" in cl or "acme" in cl:
                continue
            if ainodes and proc_has_socket(k, ainodes):
                continue
            out.append(k)
        return out

    def total_rss_kib(self):
        return rss_kib(self.pid) + sum(rss_kib(k) for k in self.children())

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the master by PID; returns its exit status (None if it had
        to be killed)."""
        if self.proc is None:
            return None
        kids = self.children()
        rc = self.proc.poll()
        if rc is None:
            try:
                os.kill(self.pid, sig)
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                rc = None
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                rc = self.proc.wait(5)
        # Never leave orphans behind: kill leftover children by PID.
        for k in kids:
            if proc_state(k) not in (None, "Z"):
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
        for f in (getattr(self, "outf", None), getattr(self, "errf", None)):
            if f:
                f.close()
        self.outf = self.errf = None
        return rc

    def stdout(self):
        try:
            with open(self.outpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def events(self, event_type=None):
        out = []
        for ln in self.stdout().splitlines():
            ln = ln.strip()
            if not ln.startswith("{"):
                continue
            try:
                ev = json.loads(ln)
            except ValueError:
                continue
            if event_type is None or ev.get("event_type") == event_type:
                out.append(ev)
        return out

    def wait_event(self, event_type, pred=None, timeout=15.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for ev in self.events(event_type):
                if pred is None or pred(ev):
                    return ev
            time.sleep(0.05)
        # A wait that fails says what the daemon said instead.
        tail = [ln for ln in self.stdout().splitlines()
                if ln.startswith("{") and '"request.' not in ln][-12:]
        sys.stderr.write("wait_event(%s): none in %.0f s; last events:\n%s\n"
                         % (event_type, timeout, "\n".join(tail)))
        return None


def run_check(conf, timeout=10):
    """vibewarden -t -c conf → (rc, stdout, stderr)."""
    p = subprocess.run([VW_BIN, "-t", "-c", conf], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------------ HTTP

class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []        # [(name, value)] in order
        self.body = b""
        self.body_len = 0
        self.body_sha256 = None
        self.raw_head = b""
        self.trailers = []
        self.interim = []        # 1xx responses seen before

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %r hdrs=%r body=%r>" % (
            self.status, self.reason, self.headers, self.body[:300])


class ProtocolError(Exception):
    pass


class Client:
    """A raw HTTP/1.1 client connection with a read buffer."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1", src=None):
        self.s = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(src, 0) if src else None)
        self.s.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.s.sendall(data)

    def _fill(self):
        try:
            d = self.s.recv(262144)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _until(self, delim, limit=1 << 20):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = self.buf[:i + len(delim)]
                self.buf = self.buf[i + len(delim):]
                return out
            if len(self.buf) > limit:
                raise ProtocolError("head too long")
            if not self._fill():
                raise ProtocolError("EOF before %r (have %r)" %
                                    (delim, self.buf[:200]))

    def _exact(self, n, sink):
        while n > 0:
            if not self.buf and not self._fill():
                raise ProtocolError("EOF in body, %d bytes missing" % n)
            take = self.buf[:n]
            self.buf = self.buf[len(take):]
            n -= len(take)
            sink(take)

    def read_response(self, method="GET", keep_body=True):
        """Read one final response (1xx are collected in .interim)."""
        try:
            return self._read_response(method, keep_body)
        except ValueError as e:
            raise ProtocolError("unparsable response: %s" % e)

    def _read_response(self, method, keep_body):
        r = Response()
        while True:
            head = self._until(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            sl = lines[0].decode("latin-1")
            parts = sl.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ProtocolError("bad status line %r" % sl)
            status = int(parts[1])
            hdrs = []
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                hdrs.append((k.decode("latin-1"),
                             v.strip(b" \t").decode("latin-1")))
            if 100 <= status < 200 and status != 101:
                r.interim.append((status, hdrs))
                continue
            break
        r.version, r.status = parts[0], status
        r.reason = parts[2] if len(parts) > 2 else ""
        r.headers = hdrs
        r.raw_head = head
        h = hashlib.sha256()
        chunks = []

        def sink(d):
            h.update(d)
            r.body_len += len(d)
            if keep_body:
                chunks.append(d)

        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if method == "HEAD" or status in (101, 204, 304):
            pass
        elif te is not None and "chunked" in te.lower():
            while True:
                line = self._until(b"\r\n", 65536)[:-2]
                sz = int(line.split(b";")[0].strip(), 16)
                if sz == 0:
                    break
                self._exact(sz, sink)
                if self._until(b"\r\n", 2) != b"\r\n":
                    raise ProtocolError("bad chunk end")
            while True:
                line = self._until(b"\r\n", 65536)
                if line == b"\r\n":
                    break
                r.trailers.append(line[:-2].decode("latin-1"))
        elif cl is not None:
            self._exact(int(cl), sink)
        else:
            while True:
                if self.buf:
                    sink(self.buf)
                    self.buf = b""
                if not self._fill():
                    break
        r.body = b"".join(chunks)
        r.body_sha256 = h.hexdigest()
        return r

    def is_closed(self, timeout=2.0):
        """True when the peer closes (EOF or reset) within timeout with no
        further data; False if data arrives or it stays open."""
        if self.buf:
            return False
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(1)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        except OSError:
            return True
        if d:
            self.buf += d
            return False
        return True

    def request(self, method="GET", target="/echo", headers=None, body=None,
                host="example.test", keep_body=True):
        self.send(build_request(method, target, headers, body, host))
        return self.read_response(method, keep_body=keep_body)


def build_request(method="GET", target="/echo", headers=None, body=None,
                  host="example.test", version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    names = set()
    for k, v in (headers or []):
        lines.append("%s: %s" % (k, v))
        names.add(k.lower())
    if body is not None and "content-length" not in names \
            and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode()
    return data


def exchange(port, data, timeout=5.0, method="GET"):
    """Send raw bytes on a fresh connection; return (response or None,
    closed_after, client).  The client is closed."""
    c = Client(port, timeout)
    try:
        c.send(data)
        try:
            r = c.read_response(method)
        except (ProtocolError, socket.timeout, OSError):
            r = None
        closed = c.is_closed(2.0) if r is not None else True
        return r, closed
    finally:
        c.close()


def chunk_encode(body, sizes, ext=False, trailer=None):
    out = b""
    i = 0
    pos = 0
    while pos < len(body):
        sz = sizes[i % len(sizes)]
        i += 1
        c = body[pos:pos + sz]
        pos += len(c)
        out += b"%x" % len(c)
        if ext and i % 2:
            out += b";foo=bar;baz"
        out += b"\r\n" + c + b"\r\n"
    out += b"0\r\n"
    if trailer:
        for t in trailer:
            out += t.encode() + b"\r\n"
    out += b"\r\n"
    return out


# ------------------------------------------------------------------ WebSocket

class WSClient:
    def __init__(self, port, path="/ws", timeout=10.0, extra_headers=None):
        self.c = Client(port, timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self.key),
                ("Sec-WebSocket-Version", "13")]
        hdrs += extra_headers or []
        self.c.send(build_request("GET", path, hdrs))
        self.resp = self.c.read_response("GET")

    def accept_ok(self):
        return (self.resp.status == 101 and
                self.resp.header("Sec-WebSocket-Accept") == ws_accept(self.key))

    def send_frame(self, op, payload, fin=True):
        self.c.send(ws_frame(op, payload, fin=fin, mask_key=os.urandom(4)))

    def recv_frame(self):
        c = self.c
        while len(c.buf) < 2:
            if not c._fill():
                raise ProtocolError("EOF in ws frame")
        b0, b1 = c.buf[0], c.buf[1]
        c.buf = c.buf[2:]
        if b1 & 0x80:
            raise ProtocolError("server frame is masked")
        ln = b1 & 0x7F
        parts = []
        if ln == 126:
            c._exact(2, parts.append)
            ln = int.from_bytes(b"".join(parts), "big")
        elif ln == 127:
            c._exact(8, parts.append)
            ln = int.from_bytes(b"".join(parts), "big")
        data = []
        c._exact(ln, data.append)
        return b0 & 0x0F, bool(b0 & 0x80), b"".join(data)

    def close(self):
        self.c.close()


def new_tmpdir():
    return tempfile.mkdtemp(prefix="vwinteg-")
