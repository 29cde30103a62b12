#!/usr/bin/env bash
# bench/resume.sh - what a resume costs on bcast-hub (SQLite + Redis),
# side by side with the same thing without a resume, as ratios:
#
#  1. Time from connecting to the first live line, for a thread stream
#     resuming from THREAD:0 with 100,000 lines to replay (60,000 in the
#     table, 40,000 still in Redis), against a plain connect (no cursor, no
#     replay). The resuming client is also checked to get all 100,000 lines
#     and the live ones once each, in order.
#  2. Hub throughput while 100 clients resume at once (10,000 lines each
#     from the same thread): lines/s delivered to one live subscriber of
#     another thread while a poster pushes as fast as it can, against the
#     same run without the resuming clients.
#
#   bench/resume.sh [--quick]     (quick: 20,000 lines, 20 clients)
#
# Prints markdown. Bounded: every client and poster has a timeout.
set -eu
cd "$(dirname "$0")/.."
REPO=$PWD
N=100000 CLIENTS=100 EACH=10000
[ "${1:-}" = --quick ] && { N=20000; CLIENTS=20; EACH=2000; }
export PATH="$REPO/bin:$PATH" LC_ALL=C
source "$REPO/tests/services.sh" ""
d=$(mktemp -d /tmp/bcast-bench-resume.XXXXXX)
chmod 755 "$d"
hub=""
cleanup() {
	[ -n "$hub" ] && kill "$hub" 2>/dev/null
	redis_stop "$d" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT
rport=$(svc_free_port)
redis_start "$d" "$rport" >/dev/null
port=$(svc_free_port)
db="$d/db.sqlite"
export BCAST_HUB=http://127.0.0.1:$port XDG_STATE_HOME=$d/state
hub_up() { curl -sf "$BCAST_HUB/healthz" >/dev/null; }
bcast-hub --listen "127.0.0.1:$port" --db "sqlite:$db" --redis "redis://127.0.0.1:$rport" 2>"$d/hub.log" &
hub=$!
for _ in $(seq 1 50); do hub_up && break; sleep 0.1; done

# The history: 60% in the table, 40% in Redis.
python3 - "$N" "$db" "$rport" <<'EOF'
import sqlite3, subprocess, sys
n, db, rport = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cut = n * 6 // 10
rec = '{"thread_id":"bench-r","seq":%d,"ts":"2026-12-03T10:00:00.000000Z","stream":"stdout","line":"line %d of the history, a typical length"}'
c = sqlite3.connect(db)
c.executemany("INSERT INTO thread_logs VALUES ('bench-r', ?, '2026-12-03T10:00:00.000000Z', 'stdout', ?)",
              ((i, "line %d of the history, a typical length" % i) for i in range(1, cut + 1)))
c.commit()
key = b"logs:queue:bench-r"
out = bytearray()
for i in range(cut + 1, n + 1):
    v = (rec % (i, i)).encode()
    out += b"*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(v), v)
subprocess.run(["redis-cli", "-p", rport, "--pipe"], input=bytes(out), stdout=subprocess.DEVNULL, check=True)
EOF

# first_live CURSOR: ms from connect to the first live line (seq > N); the
# live lines are posted every 5 ms from the moment the client connected.
cat >"$d/first.py" <<'EOF'
import http.client, json, sys, threading, time, urllib.parse
hub, n, cursor = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlsplit(hub)
stop = threading.Event()
def poster():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    seq = n
    while not stop.is_set() and seq < n + 20000:
        seq += 1
        body = '{"thread_id":"bench-r","seq":%d,"line":"live %d"}\n' % (seq, seq)
        c.request("POST", "/api/runs/bench-r/logs", body, {"Content-Type": "application/x-ndjson"})
        c.getresponse().read()
        time.sleep(0.005)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
h = {"Last-Event-ID": cursor} if cursor != "-" else {}
t0 = time.monotonic()
c.request("GET", "/api/runs/bench-r/logs/stream", headers=h)
r = c.getresponse()
threading.Thread(target=poster, daemon=True).start()
seqs = []
while True:
    line = r.fp.readline()
    if not line:
        sys.exit("stream ended")
    if line.startswith(b"data: "):
        s = json.loads(line[6:])["seq"]
        seqs.append(s)
        if s > n:
            ms = (time.monotonic() - t0) * 1000
            break
stop.set()
replayed = [s for s in seqs if s <= n]
ok = replayed == list(range(1, n + 1)) if cursor != "-" else replayed == []
print("%.1f %d %s" % (ms, len(replayed), "ok" if ok else "MISMATCH"))
EOF
sleep 0.5
read -r plain_ms _ plain_ok < <(timeout 120 python3 "$d/first.py" "$BCAST_HUB" "$N" -)
read -r resume_ms replayed resume_ok < <(timeout 120 python3 "$d/first.py" "$BCAST_HUB" "$N" "bench-r:0")

# throughput SECONDS RESUMERS: live lines/s one subscriber of another
# thread receives while a poster pushes 100-line bodies flat out.
cat >"$d/tput.py" <<'EOF'
import http.client, sys, threading, time, urllib.parse
hub, secs = sys.argv[1], float(sys.argv[2])
u = urllib.parse.urlsplit(hub)
got = [0]
def sub():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request("GET", "/api/runs/bench-live/logs/stream")
    r = c.getresponse()
    while True:
        line = r.fp.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            got[0] += 1
threading.Thread(target=sub, daemon=True).start()
time.sleep(0.3)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
seq = 0
t0 = time.monotonic()
while time.monotonic() - t0 < secs:
    body = "".join('{"thread_id":"bench-live","seq":%d,"line":"live line %d"}\n' % (seq + i, seq + i) for i in range(1, 101))
    seq += 100
    c.request("POST", "/api/runs/bench-live/logs", body, {"Content-Type": "application/x-ndjson"})
    c.getresponse().read()
time.sleep(0.5)
print("%d %d" % (got[0] / secs, seq / secs))
EOF
read -r base_lps base_posted < <(timeout 60 python3 "$d/tput.py" "$BCAST_HUB" 5)
pids=()
for i in $(seq 1 "$CLIENTS"); do
	curl -sN --max-time 30 -H "Last-Event-ID: bench-r:$((N - EACH))" \
		"$BCAST_HUB/api/runs/bench-r/logs/stream" -o "$d/res.$i" &
	pids+=("$!")
done
read -r storm_lps storm_posted < <(timeout 60 python3 "$d/tput.py" "$BCAST_HUB" 5)
t_end=$(date +%s%N)
complete=0
for i in $(seq 1 "$CLIENTS"); do
	# Each should have its EACH replayed lines (plus live ones from step 1).
	[ "$(grep -c '^data: ' "$d/res.$i" || true)" -ge "$EACH" ] && complete=$((complete + 1))
done
kill "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true

ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%.2f' % (a / b) if b else 'n/a')" "$1" "$2"; }
echo "## Resume (bench/resume.sh)"
echo
echo "bcast-hub with SQLite and Redis on this machine ($(nproc) cores); path: POST -> hub -> thread stream; resume reads table + Redis on the hub's workers."
echo
echo "| measure | plain connect | resume | ratio |"
echo "|---|---:|---:|---:|"
echo "| ms from connect to the first live line ($N lines to replay) | $plain_ms | $resume_ms | $(ratio "$resume_ms" "$plain_ms") |"
echo "| live lines/s to another thread's subscriber (posted flat out, 100 per POST) | $base_lps | $storm_lps (with $CLIENTS clients resuming $EACH lines each) | $(ratio "$storm_lps" "$base_lps") |"
echo
echo "Resuming client got $replayed replayed lines ($resume_ok); $complete of $CLIENTS storm clients got all $EACH lines; lines posted/s: $base_posted alone, $storm_posted during the storm."
