#!/usr/bin/env python3
"""bench/ab/standin.py: stand-ins for the auth benchmarks of bench/ab.sh.

  standin.py make DIR        makes an ES256 key pair, DIR/jwks.json and a
                             valid token DIR/token (1 day), as
                             tests/integ/test_auth.py does
  standin.py serve PORT DIR  serves DIR/jwks.json at /jwks.json and an
                             active Kratos session at /sessions/whoami (any
                             credential; the Kratos stand-in of
                             tests/integ/test_kratos.py, reduced)

Issuer and audience: https://issuer.bench/ and vibewarden-bench (as in
bench/ab/auth-jwt.yaml)."""
import base64
import datetime
import http.server
import json
import os
import sys
import time

ISS, AUD = "https://issuer.bench/", "vibewarden-bench"


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make(d):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import \
        decode_dss_signature
    os.makedirs(d, exist_ok=True)
    k = ec.generate_private_key(ec.SECP256R1())
    pn = k.public_key().public_numbers()
    jwk = {"kty": "EC", "kid": "bench-1", "crv": "P-256", "use": "sig",
           "x": b64u(pn.x.to_bytes(32, "big")),
           "y": b64u(pn.y.to_bytes(32, "big"))}
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump({"keys": [jwk]}, f)
    now = int(time.time())
    si = b64u(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "bench-1"})) \
        + "." + b64u(json.dumps({"sub": "user-42", "iss": ISS, "aud": AUD,
                                 "exp": now + 86400, "iat": now - 5,
                                 "email": "u42@example.test",
                                 "email_verified": True}))
    r, s = decode_dss_signature(k.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    with open(os.path.join(d, "token"), "w") as f:
        f.write(si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def serve(port, d):
    with open(os.path.join(d, "jwks.json"), "rb") as f:
        jwks = f.read()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path == "/jwks.json":
                body = jwks
            elif self.path == "/sessions/whoami":
                now = time.time()
                body = json.dumps({
                    "id": "sess-bench", "active": True,
                    "expires_at": rfc3339(now + 86400),
                    "authenticated_at": rfc3339(now - 10),
                    "identity": {"id": "user-42", "schema_id": "default",
                                 "traits": {"email": "u42@example.test"},
                                 "verifiable_addresses": [
                                     {"value": "u42@example.test",
                                      "via": "email", "verified": True}]},
                }).encode()
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)
