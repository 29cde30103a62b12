#!/usr/bin/env bats
# ingest.bats - bcast-hub's ingest paths over real sockets: one line per
# POST from 8 publishers at once reaches global and per-thread subscribers
# complete and in order; a line posted at a low rate reaches its
# subscriber within the coalescing bound; the streaming ingest (one
# chunked POST) delivers lines while the request is still open, survives a
# client that vanishes mid-chunk, and refuses malformed chunking, a wrong
# token and a wrong Content-Type with a clear status.

load helpers

# ingest_py: writes $T/ingest.py, the client used below (python3 stdlib).
ingest_py() {
	cat >"$T/ingest.py" <<'PY'
import http.client, json, socket, sys, threading, time

port = int(sys.argv[2])

def sse(path, out, want, ready, stamps=None, timeout=60):
    """Read SSE data lines of path into out until want arrived."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    buf, deadline = b"", time.monotonic() + timeout
    s.settimeout(1)
    while len(out) < want and time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            break
        now = time.monotonic()
        buf += d
        if b": connected" in buf:
            ready.set()
        while True:
            i = buf.find(b"data: ")
            j = buf.find(b"\n", i) if i >= 0 else -1
            if j < 0:
                break
            rec = json.loads(buf[i + 6:j])
            out.append(rec)
            if stamps is not None:
                stamps.append(now)
            buf = buf[j + 1:]
    s.close()

def post(conn, tid, seq, line, token=None):
    body = json.dumps({"thread_id": tid, "seq": seq, "line": line}) + "\n"
    h = {"Content-Type": "application/x-ndjson"}
    conn.request("POST", "/api/runs/%s/logs" % tid, body, h)
    r = conn.getresponse()
    r.read()
    return r.status

mode = sys.argv[1]
if mode == "eight":
    # 8 publishers, each on its own thread and thread id, 150 lines each,
    # one POST per line over a kept-alive connection, all at once.
    n, k = 8, 150
    glob, per = [], [[] for _ in range(n)]
    ready = [threading.Event() for _ in range(n + 1)]
    subs = [threading.Thread(target=sse, args=("/api/logs/stream", glob, n * k, ready[n]))]
    for t in range(n):
        subs.append(threading.Thread(target=sse, args=("/api/runs/p%d/logs/stream" % t, per[t], k, ready[t])))
    for s in subs:
        s.start()
    for e in ready:
        e.wait(10)
    bad = []
    def pub(t):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for seq in range(1, k + 1):
            st = post(c, "p%d" % t, seq, "p%d line %d" % (t, seq))
            if st != 200:
                bad.append(st)
    pubs = [threading.Thread(target=pub, args=(t,)) for t in range(n)]
    for p in pubs:
        p.start()
    for p in pubs:
        p.join()
    for s in subs:
        s.join()
    print("bad_status=%d global=%d" % (len(bad), len(glob)))
    for t in range(n):
        g = [r["seq"] for r in glob if r["thread_id"] == "p%d" % t]
        mine = [r["seq"] for r in per[t]]
        other = [r for r in per[t] if r["thread_id"] != "p%d" % t]
        print("p%d global_in_order=%s thread_in_order=%s foreign=%d" % (
            t, g == list(range(1, k + 1)), mine == list(range(1, k + 1)), len(other)))
elif mode == "gap":
    # 40 lines at 20 lines/s, one POST each; the largest and the median
    # time from sending a POST to the subscriber reading its line.
    k, got, stamps, ready = 40, [], [], threading.Event()
    tid = "slow%d" % time.monotonic_ns()
    sub = threading.Thread(target=sse, args=("/api/runs/%s/logs/stream" % tid, got, k, ready, stamps))
    sub.start()
    ready.wait(10)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = []
    for seq in range(1, k + 1):
        sent.append(time.monotonic())
        post(c, tid, seq, "x")
        time.sleep(0.05)
    sub.join()
    gaps = sorted((stamps[i] - sent[i]) * 1000 for i in range(min(len(stamps), k)))
    print("received=%d max_ms=%.2f median_ms=%.2f" % (len(got), gaps[-1], gaps[len(gaps) // 2]))
elif mode == "stream":
    # One chunked POST: lines reach a subscriber while it is still open.
    got, ready = [], threading.Event()
    sub = threading.Thread(target=sse, args=("/api/runs/st/logs/stream", got, 4, ready, None, 20))
    sub.start()
    ready.wait(10)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /api/runs/st/logs HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
    def chunk(b):
        s.sendall(b"%x\r\n%s\r\n" % (len(b), b))
    rec = lambda n: json.dumps({"thread_id": "st", "seq": n, "line": "l%d" % n}).encode()
    chunk(rec(1) + b"\n" + rec(2)[:10])       # line 2 is cut by the chunk end
    chunk(rec(2)[10:] + b"\n")
    t0 = time.monotonic()
    while len(got) < 2 and time.monotonic() - t0 < 10:
        time.sleep(0.01)
    print("live_before_end=%d" % len(got))
    chunk(rec(3) + b"\n" + rec(4))            # the last line has no newline
    s.sendall(b"0\r\n\r\n")
    resp = s.recv(4096).decode()
    sub.join()
    print("status=%s body=%s lines=%s" % (resp.split()[1], resp.split("\r\n\r\n", 1)[1].strip(),
                                          ",".join(r["line"] for r in got)))
elif mode == "vanish":
    # A client that sends a line and half of the next, then disappears.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /api/runs/gone/logs HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
    one = json.dumps({"thread_id": "gone", "seq": 1, "line": "whole"}).encode() + b"\n"
    half = json.dumps({"thread_id": "gone", "seq": 2, "line": "half"}).encode()[:15]
    s.sendall(b"%x\r\n" % (len(one) + 40) + one + half)
    time.sleep(0.3)
    s.close()
else:
    # Raw request (argv[3], Python escapes) -> the status line and body.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    s.settimeout(10)
    resp = b""
    while True:
        try:
            d = s.recv(4096)
        except socket.timeout:
            break
        if not d:
            break
        resp += d
    head, _, body = resp.decode().partition("\r\n\r\n")
    print(head.split("\r\n")[0] + " " + body.strip())
PY
}

setup() {
	bc_setup
	ingest_py
}

lines_seen() {
	curl -sf --max-time 5 "$BCAST_HUB/metrics" | awk '$1 == "bcast_hub_lines_received_total" { print $2 }'
}

@test "ingest: 8 publishers, one line per POST, reach global and per-thread subscribers complete and in order" {
	start_hub
	run timeout 120 python3 "$T/ingest.py" eight "$HUB_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "bad_status=0 global=1200" ]
	[ "$(grep -c 'global_in_order=True thread_in_order=True foreign=0' <<<"$output")" -eq 8 ]
	[ "$(lines_seen)" = 1200 ]
}

@test "ingest: at a low rate a line reaches its subscriber within the coalescing bound" {
	start_hub
	# The hub adds at most FANOUT_COALESCE_US (2 ms) when busy, nothing
	# when idle. The margins are for a loaded 2-core machine (Python on
	# both ends): every run's median under 2 + 8 ms, and the largest gap
	# under 2 + 38 ms in at least one of three runs (one preempted
	# process can add 100 ms to a single sample). Before TCP_NODELAY,
	# Nagle alone held every line 40 ms.
	local i ok=0
	for i in 1 2 3; do
		run timeout 60 python3 "$T/ingest.py" gap "$HUB_PORT"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ $output == received=40\ * ]]
		awk -v o="$output" 'BEGIN { split(o, f, /[ =]/); exit !(f[6] < 2 + 8) }'
		if awk -v o="$output" 'BEGIN { split(o, f, /[ =]/); exit !(f[4] < 2 + 38) }'; then
			ok=1
			break
		fi
	done
	[ "$ok" = 1 ]
}

@test "ingest: a streaming POST delivers each line while open, the last without newline too" {
	start_hub
	run timeout 60 python3 "$T/ingest.py" stream "$HUB_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "live_before_end=2" ]
	[ "${lines[1]}" = 'status=200 body={"accepted":4} lines=l1,l2,l3,l4' ]
}

@test "ingest: a streaming client that vanishes mid-chunk loses only its cut line; the hub goes on" {
	start_hub
	bg curl -sN --max-time 20 -o "$T/gone.sse" "$BCAST_HUB/api/runs/gone/logs/stream"
	wait_for 5 grep -q connected "$T/gone.sse"
	run timeout 30 python3 "$T/ingest.py" vanish "$HUB_PORT"
	[ "$status" -eq 0 ]
	wait_for 5 grep -q whole "$T/gone.sse"
	[ "$(grep -c '^data:' "$T/gone.sse")" -eq 1 ]
	hub_healthy
	[ "$(printf '{"thread_id":"gone","seq":2,"line":"again"}\n' |
		curl -s -o /dev/null -w '%{http_code}' --data-binary @- \
		-H 'Content-Type: application/x-ndjson' "$BCAST_HUB/api/runs/gone/logs")" = 200 ]
	wait_for 5 grep -q again "$T/gone.sse"
}

@test "ingest: malformed chunking, a wrong token and a wrong Content-Type are refused with a clear status" {
	start_hub --token s3cret
	head='POST /api/runs/bad/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nTransfer-Encoding: chunked\r\n'
	run timeout 20 python3 "$T/ingest.py" raw "$HUB_PORT" "${head}Content-Type: application/x-ndjson\r\n\r\nzz\r\n"
	[ "$output" = 'HTTP/1.1 400 Bad Request {"error":"malformed chunked body: chunk size is not a hex number"}' ]
	run timeout 20 python3 "$T/ingest.py" raw "$HUB_PORT" "${head}Content-Type: application/x-ndjson\r\n\r\n3\r\nabcd\r\n"
	[ "$output" = 'HTTP/1.1 400 Bad Request {"error":"malformed chunked body: chunk data longer than its size"}' ]
	run timeout 20 python3 "$T/ingest.py" raw "$HUB_PORT" "${head}Content-Type: application/x-ndjson\r\n\r\n4\r\n{}\n\n\r\n0\r\n\r\n"
	[[ $output == 'HTTP/1.1 400 Bad Request {"error":"line 1: '* ]]
	run timeout 20 python3 "$T/ingest.py" raw "$HUB_PORT" "${head}Content-Type: text/plain\r\n\r\n0\r\n\r\n"
	[ "$output" = 'HTTP/1.1 415 Unsupported Media Type {"error":"Content-Type must be application/x-ndjson"}' ]
	run timeout 20 python3 "$T/ingest.py" raw "$HUB_PORT" "POST /api/runs/bad/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	[ "$output" = 'HTTP/1.1 401 Unauthorized {"error":"missing or wrong bearer token"}' ]
	[ "$(lines_seen)" = 0 ]
	hub_healthy
}
