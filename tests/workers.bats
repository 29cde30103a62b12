#!/usr/bin/env bats
# workers.bats - bcast-hub --workers N: N processes on one port that act as
# one hub. The workers are found as the children of the hub's PID.

load helpers

# workers: the PIDs of the hub's worker processes, one a line.
workers() { pgrep -P "$HUB_PID" | sort -n; }
worker_count() { [ "$(workers | wc -l)" -eq "$1" ]; }

# metric NAME: the value of one sample line of /metrics.
metric() {
	curl -sf --max-time 5 "$BCAST_HUB/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }

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
