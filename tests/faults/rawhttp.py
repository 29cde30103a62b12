#!/usr/bin/env python3
"""rawhttp.py - raw-socket HTTP abuse for hostile.bats (127.0.0.1 only).

  rawhttp.py req PORT [--shutdown] [--timeout S]
      send stdin's bytes as they are, optionally shut down the write side,
      read until the server closes or S seconds (default 5) pass. Prints
      "status C1,C2,... closed|open elapsed SECONDS" ("status -" when no
      status line came back).
  rawhttp.py bigbody PORT PATH LENGTH SECONDS
      POST with Content-Length: LENGTH, then stream body bytes as fast as the
      server takes them for at most SECONDS. Prints "status C closed|open
      elapsed S sent BYTES" (elapsed: until a response or close came).
  rawhttp.py slow PORT MAXSECS
      send a request that never ends (one header byte per second); prints
      "closed after S" once the server closes it, "open after MAXSECS"
      (exit 1) if it never does.
  rawhttp.py idle PORT N MAXSECS RELEASE
      open N connections and send nothing; print "opened K failed F" at once,
      then hold them until the file RELEASE exists (or MAXSECS), and print
      "still open K" (those the server did not close).
Every wait is bounded.
"""
import os
import re
import select
import socket
import sys
import time

STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


def connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, deadline, stop_at_status=False):
    buf = b""
    closed = False
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, OSError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        if stop_at_status and STATUS.search(buf):
            break
    return buf, closed


def statuses(buf):
    codes = [m.group(1).decode() for m in STATUS.finditer(buf)]
    return ",".join(codes) if codes else "-"


def cmd_req(args):
    port = int(args[0])
    shutdown = "--shutdown" in args
    timeout = 5.0
    if "--timeout" in args:
        timeout = float(args[args.index("--timeout") + 1])
    data = sys.stdin.buffer.read()
    t0 = time.monotonic()
    s = connect(port)
    try:
        s.sendall(data)
    except OSError:
        pass
    if shutdown:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    buf, closed = read_until_close(s, t0 + timeout)
    print("status %s %s elapsed %.2f" % (statuses(buf), "closed" if closed else "open",
                                          time.monotonic() - t0))
    return 0


def cmd_bigbody(args):
    port, path, length, seconds = int(args[0]), args[1], int(args[2]), float(args[3])
    s = connect(port)
    t0 = time.monotonic()
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
            "Content-Length: %d\r\n\r\n" % (path, length)).encode()
    s.sendall(head)
    s.setblocking(False)
    chunk = b"x" * 65536
    sent = 0
    buf = b""
    closed = False
    answered = None
    while time.monotonic() - t0 < seconds and sent < length:
        r, w, _ = select.select([s], [s] if answered is None else [], [], 0.05)
        if r:
            try:
                got = s.recv(65536)
            except OSError:
                got = b""
            if not got:
                closed = True
                break
            buf += got
            if answered is None and STATUS.search(buf):
                answered = time.monotonic() - t0
        if w and answered is None:
            try:
                sent += s.send(chunk[: min(len(chunk), length - sent)])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed = True
                break
        if answered is not None and time.monotonic() - t0 > answered + 0.5:
            break
    elapsed = answered if answered is not None else time.monotonic() - t0
    if not buf and not closed:
        s.setblocking(True)
        more, closed = read_until_close(s, time.monotonic() + 0.5)
        buf += more
    print("status %s %s elapsed %.2f sent %d" % (statuses(buf), "closed" if closed else "open",
                                                 elapsed, sent))
    return 0


def cmd_slow(args):
    port, maxsecs = int(args[0]), float(args[1])
    s = connect(port)
    req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100000
    t0 = time.monotonic()
    for b in req:
        if time.monotonic() - t0 > maxsecs:
            break
        try:
            s.sendall(bytes([b]))
        except OSError:
            print("closed after %.1f" % (time.monotonic() - t0))
            return 0
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            try:
                got = s.recv(65536)
            except OSError:
                got = b""
            if not got:
                print("closed after %.1f" % (time.monotonic() - t0))
                return 0
    print("open after %.1f" % (time.monotonic() - t0))
    return 1


def cmd_idle(args):
    port, n, maxsecs, release = int(args[0]), int(args[1]), float(args[2]), args[3]
    socks = []
    failed = 0
    for _ in range(n):
        try:
            socks.append(connect(port, timeout=2))
        except OSError:
            failed += 1
    print("opened %d failed %d" % (len(socks), failed), flush=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < maxsecs and not os.path.exists(release):
        time.sleep(0.1)
    open_ = 0
    for s in socks:
        s.setblocking(False)
        try:
            got = s.recv(1)
            if got:
                open_ += 1
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
        s.close()
    print("still open %d" % open_, flush=True)
    return 0


def main():
    cmds = {"req": cmd_req, "bigbody": cmd_bigbody, "slow": cmd_slow, "idle": cmd_idle}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 64
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
