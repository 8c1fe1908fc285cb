#!/usr/bin/env python3
"""bench/ab/scrape.py HZ [URL]: GET URL (default: the metrics of the
admin listener of the B side, http://127.0.0.1:$AB_ADMIN_PORT/_vibewarden/metrics)
HZ times a second, on one keep-alive-less connection each, until SIGTERM;
then print how many scrapes were made, failed, and their mean size."""
import os
import signal
import sys
import time
import urllib.request

hz = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
url = sys.argv[2] if len(sys.argv) > 2 else \
    "http://127.0.0.1:%s/_vibewarden/metrics" % os.environ["AB_ADMIN_PORT"]
n = bad = size = 0
t0 = time.monotonic()


def done(*_):
    el = time.monotonic() - t0
    print("scrapes=%d failed=%d in %.1fs (%.1f/s), mean %d bytes" %
          (n, bad, el, n / el if el else 0, size / n if n else 0), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, done)
signal.signal(signal.SIGINT, done)
nxt = t0
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read()
            size += len(body)
            if r.status != 200:
                bad += 1
    except Exception:
        bad += 1
    n += 1
    nxt += 1.0 / hz
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
