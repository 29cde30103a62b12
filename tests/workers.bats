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
