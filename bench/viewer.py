#!/usr/bin/env python3
"""viewer.py - drive the viewer benchmark (bench/viewer.sh starts the hub
and Chromium, then runs this).

    viewer.py HUB_URL CHROME_DIR THREAD LINES RATE CHROME_PGID

POSTs LINES log records to HUB_URL/api/runs/THREAD/logs at RATE lines/s
(batches every 10 ms on one keep-alive connection, the time of each POST
kept), while the page /runs/THREAD is open in Chromium (CHROME_DIR is its
--user-data-dir). Every second it samples the page's JS heap
(Runtime.getHeapUsage over the DevTools protocol), the number of DOM
elements and the PSS of all of Chromium's processes (process group
CHROME_PGID). When every line is in the page's store, it reads the page's
paint records (window.bcastViewer.frames(): the seq of the newest line and
the time the frame that drew it was painted) and computes, per POST, the
time from the POST to the paint of its last line. Prints key=value pairs.
"""
import bisect
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
import cdp  # noqa: E402

BATCH_S = 0.010


def js(chrome, expr):
    return json.loads(cdp.evaluate(chrome, "JSON.stringify(" + expr + ")"))


def browser_pss(pgid):
    """PSS in bytes of every process in the process group pgid (Chromium's
    browser, renderers, GPU and utility processes): DOM memory lives
    outside the JS heap, so this is what a page really costs."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                if int(f.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            with open("/proc/%s/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))]


def main():
    hub, chrome, tid, nlines, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    pgid = int(sys.argv[6])
    per = max(1, int(rate * BATCH_S))
    u = urllib.parse.urlsplit(hub)
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                h = cdp.command(chrome, "Runtime.getHeapUsage")
                nodes = js(chrome, "document.getElementsByTagName('*').length")
                samples.append((time.time(), h["usedSize"], browser_pss(pgid), nodes))
            except (OSError, RuntimeError, ValueError, KeyError):
                pass
            stop.wait(1.0)

    # Every body is built first, so the loop below only sends.
    pad = "x" * 40
    bodies = []
    for first in range(1, nlines + 1, per):
        body = []
        for i in range(first, min(first + per, nlines + 1)):
            line = ("\x1b[32mok\x1b[0m " if i % 10 == 0 else "") + "line %07d %s" % (i, pad)
            body.append(json.dumps({"thread_id": tid, "seq": i, "line": line,
                                    "stream": "stderr" if i % 50 == 0 else "stdout"}))
        bodies.append((("\n".join(body) + "\n").encode(), i))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = "/api/runs/" + urllib.parse.quote(tid, safe="") + "/logs"
    posts = []          # (epoch ms of the POST, last seq in it)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.time()
    for k, (data, last_seq) in enumerate(bodies):
        due = t0 + k * BATCH_S
        now = time.time()
        if due > now:
            time.sleep(due - now)
        sent = time.time()
        conn.request("POST", path, data, {"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.stderr.write("viewer.py: POST answered %d\n" % r.status)
            return 1
        posts.append((sent * 1000.0, last_seq))
    post_s = time.time() - t0

    # Wait (bounded) for the page to hold the last line.
    deadline = time.time() + 120
    last = None
    while time.time() < deadline:
        try:
            last = js(chrome, "bcastViewer.store.lastSeq")
        except (OSError, RuntimeError, ValueError):
            last = None
        if last == nlines:
            break
        time.sleep(0.5)
    time.sleep(1.5)
    stop.set()
    sampler.join(5)
    frames = js(chrome, "bcastViewer.frames()")
    kept = js(chrome, "bcastViewer.store.seq.length")
    dropped = js(chrome, "bcastViewer.store.dropped")
    received = js(chrome, "bcastViewer.store.received")
    cap = js(chrome, "bcastViewer.cap")
    try:
        cdp.command(chrome, "HeapProfiler.collectGarbage")
        heap_after_gc = cdp.command(chrome, "Runtime.getHeapUsage")["usedSize"]
    except (OSError, RuntimeError, KeyError):
        heap_after_gc = -1

    fseq = frames[0::2]
    ftime = frames[1::2]
    lat = []
    missing = 0
    for sent_ms, s in posts:
        i = bisect.bisect_left(fseq, s)
        if i >= len(fseq):
            missing += 1
            continue
        lat.append(ftime[i] - sent_ms)
    lat.sort()
    heap = [x[1] for x in samples]
    nodes = [x[3] for x in samples]
    pss = [x[2] for x in samples]
    out = {
        "lines": nlines, "rate": rate, "post_s": round(post_s, 2),
        "achieved_rate": int(nlines / post_s) if post_s > 0 else 0,
        "page_last_seq": last, "page_received": received, "page_kept": kept,
        "page_dropped": dropped, "cap": cap, "frames": len(fseq),
        "posts": len(posts), "posts_unpainted": missing,
        "p50_ms": round(pct(lat, 50), 1), "p99_ms": round(pct(lat, 99), 1),
        "max_ms": round(lat[-1], 1) if lat else float("nan"),
        "heap_peak_mb": round(max(heap) / 1048576, 1) if heap else -1,
        "heap_end_mb": round(heap[-1] / 1048576, 1) if heap else -1,
        "heap_after_gc_mb": round(heap_after_gc / 1048576, 1),
        "dom_elements_max": max(nodes) if nodes else -1,
        "browser_pss_peak_mb": round(max(pss) / 1048576, 1) if pss else -1,
        "samples": len(samples),
    }
    print(" ".join("%s=%s" % kv for kv in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
