#!/usr/bin/env python3
"""gen.py N SECONDS PROGRESS [FIRST] - the paced line source of the fault tests.

Writes the numbered lines FIRST..FIRST+N-1 (FIRST defaults to 1), one number
per line, to stdout in bursts every 10 ms, so the run lasts about SECONDS.
After every write the number of complete lines that entered the pipe so far
is written to the file PROGRESS (fixed width, rewritten in place); the final
value is therefore exactly what the reader was handed. A closed pipe (the
reader was killed) ends it quietly with exit 0. Bounded: N lines, and the
pacing never waits more than SECONDS in total.
"""
import os
import sys
import time


def main():
    n, seconds, progress = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    tick = 0.01
    ticks = max(1, int(seconds / tick))
    per = max(1, -(-n // ticks))
    pfd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def report(k):
        os.pwrite(pfd, b"%12d\n" % k, 0)

    report(0)
    start = time.monotonic()
    done = 0
    t = 0
    while done < n:
        hi = min(n, done + per)
        data = "".join("%d\n" % (first + i) for i in range(done, hi)).encode()
        off = 0
        while off < len(data):
            try:
                off += os.write(1, data[off:])
            except BrokenPipeError:
                report(done + data[:off].count(b"\n"))
                return 0
        done = hi
        report(done)
        t += 1
        delay = start + t * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
