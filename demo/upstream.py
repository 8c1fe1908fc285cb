#!/usr/bin/env python3
"""vibewarden demo application: shows what vibewarden forwards.

    python3 demo/upstream.py [PORT]      (default 3000, on 127.0.0.1)

GET /      an HTML page listing the request line and every header received
           (look for X-Forwarded-For/-Proto/-Host and X-Request-Id, and the
           absence of any X-User-* header you tried to forge)
GET /ws    a WebSocket echo (the page has a button to try it through the
           proxy)
POST, PUT, PATCH, DELETE /anything
           echo the request body back (Content-Type kept), so
           `curl -X POST -d hello http://127.0.0.1:8080/` answers "hello"
"""

import base64
import hashlib
import html
import http.server
import sys

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>vibewarden demo</title>
<style>body{font-family:sans-serif;margin:2em}td{padding:2px 8px;
border-bottom:1px solid #ddd;font-family:monospace}</style></head>
<body><h1>Behind vibewarden</h1>
<p>The application received this request:</p>
<p><code>%(line)s</code> from <code>%(peer)s</code></p>
<table><tr><th>Header</th><th>Value</th></tr>%(rows)s</table>
<h2>WebSocket</h2>
<button onclick="ws()">Open /ws and send a message</button>
<pre id="out"></pre>
<script>
function ws() {
  var out = document.getElementById("out");
  var s = new WebSocket((location.protocol == "https:" ? "wss://" : "ws://")
                        + location.host + "/ws");
  s.onopen = function () { out.textContent += "open\\n"; s.send("hello"); };
  s.onmessage = function (e) { out.textContent += "echo: " + e.data + "\\n";
                               s.close(); };
  s.onclose = function () { out.textContent += "closed\\n"; };
  s.onerror = function () { out.textContent += "error\\n"; };
}
</script></body></html>
"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-app/1.0"   # vibewarden strips Server

    def do_GET(self):
        if self.path.split("?")[0] == "/ws":
            return self.websocket()
        rows = "".join("<tr><td>%s</td><td>%s</td></tr>" %
                       (html.escape(k), html.escape(v))
                       for k, v in self.headers.items())
        body = (PAGE % {"line": html.escape(self.requestline),
                        "peer": html.escape(self.client_address[0]),
                        "rows": rows}).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def echo(self):
        """Send the request body back.  The proxy gives a Content-Length
        or chunked body; the demo reads either."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n",
                                                        b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length")
                                       or 0))
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get(
            "Content-Type", "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = echo

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or "websocket" not in \
                self.headers.get("Upgrade", "").lower():
            self.send_error(400, "WebSocket handshake expected")
            return
        acc = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", acc.decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        rf, wf = self.rfile, self.wfile
        while True:
            hdr = rf.read(2)
            if len(hdr) < 2:
                return
            op, n = hdr[0] & 0x0F, hdr[1] & 0x7F
            if n == 126:
                n = int.from_bytes(rf.read(2), "big")
            elif n == 127:
                n = int.from_bytes(rf.read(8), "big")
            mask = rf.read(4) if hdr[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(rf.read(n)))
            if op == 0x9:
                op = 0xA
            elif op == 0xA:
                continue
            if len(data) < 126:
                out = bytes([0x80 | op, len(data)])
            elif len(data) < 65536:
                out = bytes([0x80 | op, 126]) + len(data).to_bytes(2, "big")
            else:
                out = bytes([0x80 | op, 127]) + len(data).to_bytes(8, "big")
            wf.write(out + data)
            wf.flush()
            if op == 0x8:
                return

    def log_message(self, fmt, *args):
        sys.stderr.write("demo-app: %s\n" % (fmt % args))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("demo app listening on http://127.0.0.1:%d/" % port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
