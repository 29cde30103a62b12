#!/usr/bin/env python3
"""verify.py MODE N < lines - check the lines a thread holds in thread_logs.

stdin holds the stored lines of one thread ordered by seq, one per line, each
a number written by gen.py. Prints one summary line
  "sent N stored S distinct D duplicates X missing M disorder O prefix K"
(K: the length of the longest prefix 1..K of the stored lines) and, on
failure, the first few problems. MODE:
  exact   the stored lines are exactly 1..N       (nothing lost, no dup)
  prefix  the stored lines are exactly 1..K, K<=N (a killed emitter)
Exit 0 when the MODE holds, 1 otherwise.
"""
import sys


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    stored = []
    bad = []
    for raw in sys.stdin:
        s = raw.rstrip("\n")
        try:
            stored.append(int(s))
        except ValueError:
            bad.append(s[:40])
    seen = set()
    dups = []
    for v in stored:
        if v in seen:
            dups.append(v)
        seen.add(v)
    disorder = sum(1 for a, b in zip(stored, stored[1:]) if b <= a)
    k = 0
    for i, v in enumerate(stored):
        if v != i + 1:
            break
        k = i + 1
    top = n if mode == "exact" else k
    missing = [v for v in range(1, top + 1) if v not in seen]
    beyond = [v for v in stored if v < 1 or v > n]
    print("sent %d stored %d distinct %d duplicates %d missing %d disorder %d prefix %d"
          % (n, len(stored), len(seen), len(dups), len(missing), disorder, k))
    ok = not bad and not dups and not beyond and disorder == 0
    if mode == "exact":
        ok = ok and k == n and len(stored) == n
    else:
        ok = ok and k == len(stored)
    if not ok:
        if bad:
            print("not numbers:", bad[:5])
        if dups:
            print("first duplicates:", dups[:10])
        if missing:
            runs = []
            start = prev = missing[0]
            for v in missing[1:] + [None]:
                if v is not None and v == prev + 1:
                    prev = v
                    continue
                runs.append("%d-%d" % (start, prev) if start != prev else str(start))
                if v is not None:
                    start = prev = v
            print("missing ranges:", " ".join(runs[:20]))
        if beyond:
            print("out of range:", beyond[:10])
        if k < len(stored):
            print("first out-of-place record at position %d: %r" % (k + 1, stored[k:k + 5]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
