#!/usr/bin/env python3
"""bench/h2/idle_h2.py URL N [--hold SECONDS]: hold N idle HTTP/2
connections (TLS, ALPN h2) open against URL, the HTTP/2 twin of the
harness's idle_conns.py.  Each connection does one full TLS handshake, the
HTTP/2 preface and SETTINGS exchange, one GET (stream 1) read to its end,
and then stays open and idle.  Prints "READY n" when all are established,
then waits until killed or --hold seconds pass.  Needs python3-h2 (Debian's
package is found from another python3 too)."""
import argparse
import socket
import ssl
import sys
import time
import urllib.parse

try:
    import h2.connection  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402


def one(host, port, path, ctx):
    s = socket.create_connection((host, port), timeout=10)
    s = ctx.wrap_socket(s, server_hostname=host)
    if s.selected_alpn_protocol() != "h2":
        raise ConnectionError("ALPN gave %r" % s.selected_alpn_protocol())
    c = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                       (":authority", "%s:%d" % (host, port)),
                       (":path", path)], end_stream=True)
    s.sendall(c.data_to_send())
    status, done = None, False
    while not done:
        data = s.recv(65536)
        if not data:
            raise ConnectionError("closed")
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(":status")
            elif isinstance(ev, h2.events.DataReceived):
                c.acknowledge_received_data(ev.flow_controlled_length,
                                            ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
        out = c.data_to_send()
        if out:
            s.sendall(out)
    if status != "200":
        raise ConnectionError("status %r" % status)
    return s, c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("n", type=int)
    ap.add_argument("--hold", type=float, default=60.0)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    conns = [one(u.hostname, u.port or 443, u.path or "/", ctx)
             for _ in range(a.n)]
    print("READY %d" % len(conns), flush=True)
    time.sleep(a.hold)
    print("DONE %d" % len(conns), flush=True)


if __name__ == "__main__":
    main()
