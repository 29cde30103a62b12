#!/usr/bin/env python3
"""probe.py PORT LIVE_TID HIST_TID STOPFILE - what users of a hub see while
something else (retention) works on its database.

Two readers run until STOPFILE exists:
  - a live viewer: the SSE stream of LIVE_TID; the largest gap between two
    consecutive events (the emitter writes one line every 10 ms);
  - a history reader: GET /admin/runs/HIST_TID/logs in a loop; its slowest
    answer and the answers that were not 200 with a JSON array.
Prints one line: key=value pairs (times in ms)."""
import http.client
import os
import socket
import sys
import threading
import time

port, live, hist, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
res = {"sse_events": 0, "sse_max_gap_ms": 0.0, "sse_errors": 0,
       "hist_requests": 0, "hist_errors": 0, "hist_max_ms": 0.0}


def sse():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(("GET /api/runs/%s/logs/stream HTTP/1.1\r\nHost: x\r\n"
                   "Accept: text/event-stream\r\n\r\n" % live).encode())
        buf, last = b"", None
        while not os.path.exists(stop):
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                res["sse_errors"] += 1
                break
            now = time.monotonic()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                if ln.startswith(b"data:"):
                    if last is not None:
                        res["sse_max_gap_ms"] = max(res["sse_max_gap_ms"], (now - last) * 1000)
                    last = now
                    res["sse_events"] += 1
        s.close()
    except OSError:
        res["sse_errors"] += 1


def history():
    while not os.path.exists(stop):
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/admin/runs/%s/logs" % hist)
            r = c.getresponse()
            body = r.read()
            c.close()
            ok = r.status == 200 and body.startswith(b"[")
        except OSError:
            ok = False
        res["hist_max_ms"] = max(res["hist_max_ms"], (time.monotonic() - t0) * 1000)
        res["hist_requests"] += 1
        res["hist_errors"] += 0 if ok else 1
        time.sleep(0.01)


ts = [threading.Thread(target=sse), threading.Thread(target=history)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(" ".join("%s=%s" % (k, round(v, 1) if isinstance(v, float) else v) for k, v in res.items()))
