#!/usr/bin/env python3
"""lines.py - reference views of lines for hostile.bats.

  lines.py expect FILE
      the records DESIGN.md says bcast-emit makes of FILE, one per output
      line as "x" and the lowercase hex of their UTF-8 text: a line is the bytes up to
      '\\n' (a final line without '\\n' counts), one trailing '\\r' dropped,
      invalid UTF-8 and NUL replaced by U+FFFD. (Lines here are short: no
      64 KiB split.)
  lines.py sse FILE TID
      parse FILE as an SSE stream the way EventSource does (lines end at
      CRLF, CR or LF; data: fields; a blank line dispatches) and print, for
      each event of thread TID, "x" and the hex of its "line". Exit 1 if any event's
      data is not one JSON object (the framing broke).
  lines.py sse-concat FILE TID
      "COUNT SHA256" of the concatenated lines of TID's events.
  lines.py sqlite-concat PATH TID
      "COUNT SHA256 MAXBYTES ALLCHARS" over the thread's rows by seq
      (MAXBYTES: the longest row in UTF-8 bytes; ALLCHARS: 1 when every
      row is valid UTF-8 text).
"""
import hashlib
import json
import re
import sqlite3
import sys


def expect(path):
    data = open(path, "rb").read()
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for p in parts:
        if p.endswith(b"\r"):
            p = p[:-1]
        text = p.decode("utf-8", "replace").replace("\x00", "\ufffd")
        print("x" + text.encode("utf-8").hex())
    return 0


def sse_events(path):
    raw = open(path, "rb").read().decode("utf-8", "replace")
    data = []
    for line in re.split(r"\r\n|\r|\n", raw):
        if line == "":
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            v = line[5:]
            data.append(v[1:] if v.startswith(" ") else v)


def sse_records(path, tid):
    bad = 0
    out = []
    for d in sse_events(path):
        try:
            obj = json.loads(d)
        except ValueError:
            bad += 1
            sys.stderr.write("not JSON: %r\n" % d[:200])
            continue
        if not isinstance(obj, dict):
            bad += 1
            continue
        if obj.get("thread_id") == tid and "line" in obj:
            out.append(obj["line"])
    return out, bad


def sse(path, tid):
    recs, bad = sse_records(path, tid)
    for r in recs:
        print("x" + r.encode("utf-8").hex())
    return 1 if bad else 0


def sse_concat(path, tid):
    recs, bad = sse_records(path, tid)
    h = hashlib.sha256("".join(recs).encode("utf-8")).hexdigest()
    print(len(recs), h)
    return 1 if bad else 0


def sqlite_concat(path, tid):
    db = sqlite3.connect(path)
    db.text_factory = bytes
    h = hashlib.sha256()
    n = 0
    longest = 0
    valid = 1
    for (line,) in db.execute("SELECT line FROM thread_logs WHERE thread_id=? ORDER BY seq", (tid,)):
        n += 1
        longest = max(longest, len(line))
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            valid = 0
        h.update(line)
    print(n, h.hexdigest(), longest, valid)
    return 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "expect":
        return expect(sys.argv[2])
    if cmd == "sse":
        return sse(sys.argv[2], sys.argv[3])
    if cmd == "sse-concat":
        return sse_concat(sys.argv[2], sys.argv[3])
    if cmd == "sqlite-concat":
        return sqlite_concat(sys.argv[2], sys.argv[3])
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main())
