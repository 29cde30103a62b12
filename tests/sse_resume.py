#!/usr/bin/env python3
"""sse_resume.py - an SSE client that resumes like a browser's EventSource.

    sse_resume.py URL OUT LAST [TIMEOUT_S] [FIRST_ID]

Reads the stream at URL (chunked transfer decoded: a proxy may cut chunks
anywhere); on every event it appends "ID SEQ LINE" to OUT
(from the data's "seq" and "line"; "reset DATA" for an event: reset); when the
connection drops or fails it waits 0.2 s and reconnects with the header
Last-Event-ID set to the last id seen (or FIRST_ID when given and nothing
was seen yet). Exits 0 once an event whose line is LAST has arrived, 1
after TIMEOUT_S seconds (default 60). Standard library only.
"""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, out, last = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    last_id = sys.argv[5] if len(sys.argv) > 5 else None
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    deadline = time.time() + timeout
    connects = 0
    with open(out, "w") as f:
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                headers = {"Accept": "text/event-stream"}
                if last_id is not None:
                    headers["Last-Event-ID"] = last_id
                c.request("GET", path, headers=headers)
                r = c.getresponse()
                connects += 1
                if r.status != 200:
                    f.write("status %d\n" % r.status)
                    f.flush()
                    time.sleep(0.2)
                    continue
                ev_id, ev_name, data = None, "", []
                while time.time() < deadline:
                    line = r.readline()   # chunked decoding: a proxy may re-chunk
                    if not line:
                        break
                    line = line.decode().rstrip("\r\n")
                    if line == "":
                        if data:
                            if ev_id is not None:
                                last_id = ev_id
                            if ev_name == "reset":
                                f.write("reset %s\n" % "\n".join(data))
                            else:
                                obj = json.loads("\n".join(data))
                                line = str(obj.get("line", obj.get("type", "")))
                                f.write("%s %d %s\n" % (ev_id, obj.get("seq", -1), line))
                                if line == last:
                                    f.flush()
                                    print("connects %d" % connects)
                                    return 0
                            f.flush()
                        ev_id, ev_name, data = ev_id, "", []
                        continue
                    if line.startswith(":"):
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        ev_id = value
                    elif field == "event":
                        ev_name = value
                    elif field == "data":
                        data.append(value)
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
    print("connects %d" % connects)
    return 1


if __name__ == "__main__":
    sys.exit(main())
