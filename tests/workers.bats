#!/usr/bin/env bats
# workers.bats - bcast-hub --workers N: N processes on one port that act as
# one hub. The workers are found as the children of the hub's PID. Lines
# come from bcast-emit (one connection each, so they land on different
# workers) and are read by bcast-tail, which resumes by itself when its
# worker is killed.

load helpers

# workers: the PIDs of the hub's worker processes, one a line.
workers() { pgrep -P "$HUB_PID" | sort -n; }
worker_count() { [ "$(workers | wc -l)" -eq "$1" ]; }

# metric NAME: the value of one sample line of /metrics.
metric() {
	curl -sf --max-time 5 "$BCAST_HUB/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }

# lines_paced TID N: "TID-1".."TID-N", a pause every 50; half way it
# waits (30 s at most) for the file $T/go.
lines_paced() {
	local i
	for i in $(seq 1 "$2"); do
		echo "$1-$i"
		[ $((i % 50)) -ne 0 ] || sleep 0.1
		if [ "$i" -eq $(($2 / 2)) ]; then
			for _ in $(seq 1 300); do [ -e "$T/go" ] && break; sleep 0.1; done
		fi
	done
}

# complete FILE N TID...: FILE (bcast-tail --json) holds TID-1..TID-N of
# each TID, each once, in order.
complete() {
	python3 - "$@" <<'PY'
import sys, json
f, n, tids = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
got = {t: [] for t in tids}
for l in open(f):
    d = json.loads(l)
    got.setdefault(d["thread_id"], []).append(d["line"])
bad = [t for t in tids if got[t] != ["%s-%d" % (t, i) for i in range(1, n + 1)]]
for t in bad:
    print(f, t, len(got[t]), got[t][:3], "...", got[t][-3:])
sys.exit(1 if bad else 0)
PY
}

# busiest_worker: the PID of the worker holding the most connections.
busiest_worker() {
	ss -Htnp state established "sport = :$HUB_PORT" | grep -o 'pid=[0-9]*' |
		sort | uniq -c | sort -rn | awk 'NR == 1 { sub("pid=", "", $2); print $2 }'
}

# A worker a test stopped (SIGSTOP) must go on, to die, after it.
teardown() {
	[ -z "${STOPPED:-}" ] || kill -CONT "$STOPPED" 2>/dev/null || true
	bc_teardown
}

lines_in() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# half_in FILE N: FILE has at least N lines of each of t1 and t2.
half_in() { [ "$(grep -c '"t1-' "$1")" -ge "$2" ] && [ "$(grep -c '"t2-' "$1")" -ge "$2" ]; }

# share_lines KILL [HUB ARGS...]: 8 tails of every thread and one of each
# of 2 threads; 2 emitters post 1000 lines each. With KILL=1 the worker
# holding the most connections is killed with -9 mid-run, while the
# emitters pause half way (bcast-emit drops lines from live delivery while
# it backs off after its own connection is cut: see bcast-emit(1)); its
# tails reconnect to the other workers and resume. Every tail must end
# with every line of its threads once, in order.
share_lines() {
	local kill=$1 n=1000 i t tails=() emits=() victim rc
	shift
	start_hub "$@"
	for i in $(seq 1 8); do
		bg bcast-tail -q --json --count $((2 * n)) --timeout 120 >"$T/all$i"
		tails+=("$BG_PID")
	done
	for t in t1 t2; do
		bg bcast-tail -q --json -n 0 --timeout 120 "$t" >"$T/$t.out"
		tails+=("$BG_PID")
	done
	wait_for 10 metric_is 'bcast_hub_subscribers{stream="global"}' 8
	wait_for 10 metric_is 'bcast_hub_subscribers{stream="thread"}' 2
	[ "$kill" = 1 ] || touch "$T/go"
	for t in t1 t2; do
		bcast-emit -q -t "$t" < <(lines_paced "$t" "$n") &
		BC_PIDS+=($!)
		emits+=($!)
	done
	if [ "$kill" = 1 ]; then
		for i in $(seq 1 8); do wait_for 30 half_in "$T/all$i" $((n / 2)); done
		# An idle emitter ends its streaming POST after 0.5 s.
		sleep 1.5
		victim=$(busiest_worker)
		workers | grep -qx "$victim"
		kill -9 "$victim"
		wait_for 10 worker_count 4
		run kill -0 "$victim"
		[ "$status" -ne 0 ]
		touch "$T/go"
	fi
	for i in "${emits[@]}"; do wait "$i"; done
	for i in "${tails[@]}"; do rc=0; wait "$i" || rc=$?; [ "$rc" -eq 0 ]; done
	for i in $(seq 1 8); do complete "$T/all$i" $n t1 t2; done
	for t in t1 t2; do complete "$T/$t.out" $n "$t"; done
}

@test "workers: --workers 4 is four processes listening on one port; /metrics counts the whole hub" {
	start_hub --workers 4 --redis none
	wait_for 5 worker_count 4
	run ss -Hltnp "sport = :$HUB_PORT"
	[ "$(grep -c 'bcast-hub' <<<"$output")" -eq 4 ]
	grep -q "^bcast-hub: listening on 127.0.0.1:$HUB_PORT, .*, 4 workers" "$HUB_LOG"
	# Each curl is a new connection: the kernel spreads them over the
	# workers, yet every scrape counts all of them (and itself).
	local base
	base=$(metric bcast_hub_http_requests_total)
	for i in $(seq 1 40); do curl -sf "$BCAST_HUB/healthz" >/dev/null; done
	run metric bcast_hub_http_requests_total
	[ "$output" -eq $((base + 41)) ]
	for i in $(seq 1 8); do bg curl -sN --max-time 60 -o /dev/null "$BCAST_HUB/api/logs/stream"; done
	wait_for 5 metric_is 'bcast_hub_subscribers{stream="global"}' 8
}

@test "workers: a worker killed with -9 is replaced; the port answers throughout" {
	start_hub --workers 3 --redis none
	wait_for 5 worker_count 3
	local before victim after
	before=$(workers)
	victim=$(head -1 <<<"$before")
	kill -9 "$victim"
	# The two others still answer while it is restarted.
	for i in $(seq 1 10); do curl -sf "$BCAST_HUB/healthz" >/dev/null; done
	wait_for 5 worker_count 3
	after=$(workers)
	[[ $'\n'"$after"$'\n' != *$'\n'"$victim"$'\n'* ]]
	[ "$(comm -12 <(echo "$before") <(echo "$after") | wc -l)" -eq 2 ]
	grep -q "worker [0-9] (pid $victim) was killed by signal 9; restarting it in 200 ms" "$HUB_LOG"
	run ss -Hltnp "sport = :$HUB_PORT"
	[ "$(grep -c 'bcast-hub' <<<"$output")" -eq 3 ]
}

@test "workers: a restarted worker is prefilled: it serves global cursors from before it started" {
	start_hub --workers 2 --redis none
	wait_for 5 worker_count 2
	local i id3 victim out
	bg curl -sN --max-time 60 -o "$T/g.sse" "$BCAST_HUB/api/logs/stream"
	wait_for 5 grep -q '^: connected' "$T/g.sse"
	for i in $(seq 1 10); do
		printf '{"thread_id":"p","seq":%d,"line":"p-%d"}\n' "$i" "$i" |
			curl -sf -H 'Content-Type: application/x-ndjson' --data-binary @- \
				"$BCAST_HUB/api/runs/p/logs" >/dev/null
	done
	wait_for 5 grep -q '"p-10"' "$T/g.sse"
	id3=$(grep -B1 '"p-3"' "$T/g.sse" | sed -n 's/^id: //p')
	[[ $id3 == @*-*:* ]]
	victim=$(workers | head -1)
	kill -9 "$victim"
	wait_for 10 worker_count 2
	# New connections land on both workers, the new one included: every
	# one is served p-4..p-10 after the cursor, none gets a reset.
	for i in $(seq 1 12); do
		out=$(curl -sN --max-time 0.5 -H "Last-Event-ID: $id3" "$BCAST_HUB/api/logs/stream" || true)
		[[ $out != *"event: reset"* ]]
		[ "$(grep -o '"line":"p-[0-9]*"' <<<"$out" | tr '\n' ' ')" = \
		  "$(printf '"line":"p-%d" ' $(seq 4 10))" ]
	done
}

@test "workers: the parent never waits for a stopped worker: past 64 MiB behind it is killed and replaced" {
	start_hub --workers 2 --redis none --resume-bytes 1K
	wait_for 5 worker_count 2
	local stopped
	stopped=$(workers | head -1)
	# On one connection held by the other worker, stop this one and post
	# 90 MiB (6 POSTs of 480 lines of 32 KiB): the parent must queue all of
	# it for the stopped worker, and kill it past the cap.
	STOPPED=$stopped
	python3 - "$HUB_PORT" "$stopped" <<'PY'
import os, re, signal, socket, subprocess, sys, time
port, stopped = int(sys.argv[1]), int(sys.argv[2])
def owner(lport):
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          "( sport = :%d and dport = :%d )" % (port, lport)],
                         capture_output=True, text=True).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", port))
    lport = s.getsockname()[1]
    for _ in range(20):
        o = owner(lport)
        if o: break
        time.sleep(0.05)
    if o and o != stopped: break
    s.close()
else:
    sys.exit("no connection reached the other worker")
os.kill(stopped, signal.SIGSTOP)
f = s.makefile("rb")
for k in range(6):
    body = b"".join(b'{"thread_id":"big","seq":%d,"line":"%s"}\n' % (k * 480 + i + 1, b"x" * 32768)
                    for i in range(480))
    s.sendall(b"POST /api/runs/big/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    status = f.readline()
    assert b" 200 " in status, status
    n = 0
    while True:
        h = f.readline()
        if h.lower().startswith(b"content-length:"): n = int(h.split(b":")[1])
        if h in (b"\r\n", b""): break
    f.read(n)
PY
	wait_for 20 grep -q "worker [0-9] (pid $stopped) is more than 67110912 bytes behind the relay: killed" "$HUB_LOG"
	wait_for 10 worker_count 2
	run workers
	[[ $'\n'"$output"$'\n' != *$'\n'"$stopped"$'\n'* ]]
	curl -sf "$BCAST_HUB/healthz" >/dev/null
}

@test "workers: SIGTERM to the parent ends every stream cleanly and exits 0" {
	start_hub --workers 3 --redis none
	wait_for 5 worker_count 3
	local i
	for i in 1 2 3 4 5 6; do
		bg curl -sN --max-time 30 -o "$T/s$i" -w '%{exitcode}\n' \
			"$BCAST_HUB/api/logs/stream"
		eval "C$i=\$BG_PID"
	done
	wait_for 5 metric_is 'bcast_hub_subscribers{stream="global"}' 6
	local pids rc=0 p
	pids=$(workers)
	kill -TERM "$HUB_PID"
	wait "$HUB_PID" || rc=$?
	[ "$rc" -eq 0 ]
	for p in $pids; do run kill -0 "$p"; [ "$status" -ne 0 ]; done
	# Every curl saw its stream end with the terminating chunk (exit 0).
	for i in 1 2 3 4 5 6; do
		rc=0
		eval "wait \$C$i" || rc=$?
		[ "$rc" -eq 0 ]
	done
	[ "$(grep -c 'SIGTERM: closing' "$HUB_LOG")" -eq 3 ]
}

@test "workers: a port in use is one error, exit 69, nothing forked" {
	start_hub --workers 1 --redis none
	run bcast-hub --workers 4 --redis none --listen "127.0.0.1:$HUB_PORT"
	[ "$status" -eq 69 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "bcast-hub: cannot listen on 127.0.0.1:$HUB_PORT: Address already in use" ]]
	run bcast-hub --workers 0
	[ "$status" -eq 64 ]
}

@test "workers: without Redis, lines posted to any of 4 workers reach every tail once, in order; across kill -9 of a worker" {
	export BCAST_REDIS=none
	share_lines 1 --workers 4
	grep -q "was killed by signal 9; restarting it in 200 ms" "$HUB_LOG"
}

@test "workers: with Redis, each worker is on the bus; across kill -9 of a worker every tail ends complete" {
	local rp
	rp=$(free_port)
	redis_start "$T/redis" "$rp"
	export BCAST_REDIS="redis://127.0.0.1:$rp"
	share_lines 1 --workers 4
	[ "$(curl -s "$BCAST_HUB/healthz")" = "$(printf 'ok\nbus: redis up')" ]
}

@test "workers: the default is one worker per core, sharing lines" {
	unset BCAST_WORKERS
	export BCAST_REDIS=none
	local n
	n=$(getconf _NPROCESSORS_ONLN)
	share_lines 0
	[ "$n" -eq 1 ] || worker_count "$n"
}
