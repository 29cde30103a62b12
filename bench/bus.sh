# bench/bus.sh - the issue-10 rows of bench/run (sourced by it): bcast-hub
# on a Redis bus next to nginx+nchan on Redis storage, the same number of
# processes on each side.
#
#   bcast  `bcast-hub --workers N --redis URL` (N processes on one port,
#          SO_REUSEPORT), or three `bcast-hub --workers 1 --redis URL` on
#          three ports ("3 hubs"); every hub on the same throwaway Redis.
#   nchan  nginx with `worker_processes N` and `listen ... reuseport`, or
#          three nginx instances on three ports, all with Redis storage
#          (`nchan_redis_storage_mode distributed`, bench/nchan.conf.in).
#
# Every run gets a fresh Redis and fresh server processes, and only one
# side runs at a time (bcast, then nchan, REPS times). Lines go one per
# POST on both sides (loadgen --publish post for bcast: one pipelined
# POST /api/runs/CH/logs per line, 32 in flight, like nchan's
# POST /pub?id=CH&all=G), so the publish path and the batch size (1 line)
# are the same. Subscribers are spread round-robin over the hubs (or
# instances); lines go to the first one, or with "post spread" thread c
# goes to hub c%3. No CPU pinning on either side. The Redis figures of
# each run (commands, bus messages, bytes, CPU) are added to its result
# line and shown in a second table.
#
# Uses bench/run's variables and functions: HUB, W, CMDS, RES, NOTES,
# LG, ONLY, MATCH, REPS, NOFILE, note, die, wait_http, svc_free_port,
# redis_start, redis_stop.

B10_PIDS=() B10_URLS=() B10_REDIS_DIR="" B10_REDIS_PORT="" B10_N=0
BUS_WORKERS=0 BUS_ON=0 BUS_PROBED=0

# What the built hub can do, tried rather than read from --help (an option
# may be accepted before it works): BUS_WORKERS=1 when `--workers 2` starts
# two worker processes, BUS_ON=1 when a line posted to one hub reaches a
# subscriber of another hub on the same Redis.
bus_probe() {
	[ "$BUS_PROBED" = 0 ] || return 0
	BUS_PROBED=1
	local out=$W/probe.out
	bus_redis_start
	if "$HUB" --help 2>/dev/null | grep -q -- '--read-threads'; then
		bus_start_bcast 1 2 quiet
		[ "$(workers_of "${B10_PIDS[0]}" | wc -l)" -ge 2 ] && BUS_WORKERS=1
		bus_stop_servers
	fi
	BUS_ON=1
	bus_start_bcast 2 1
	BUS_ON=0
	timeout 4 curl -sN -H 'Accept: text/event-stream' "${B10_URLS[1]}/api/logs/stream" >"$out" 2>/dev/null &
	local cpid=$! i
	sleep 1
	curl -s -o /dev/null -X POST -H 'Content-Type: application/x-ndjson' \
		--data '{"thread_id":"busprobe-0","seq":1,"line":"bus probe"}' "${B10_URLS[0]}/api/runs/busprobe-0/logs"
	for i in $(seq 1 30); do grep -q 'bus probe' "$out" && break; sleep 0.1; done
	grep -q 'bus probe' "$out" && BUS_ON=1
	kill "$cpid" 2>/dev/null
	wait "$cpid" 2>/dev/null
	bus_stop_servers
	bus_redis_stop
	[ "$BUS_WORKERS" = 1 ] || note "bus rows: this bcast-hub does not run --workers as processes: bcast rows with more than one process not measured"
	[ "$BUS_ON" = 1 ] || note "bus rows: on this bcast-hub a line posted to one hub does not reach the subscribers of another hub on the same Redis (no bus): bcast '3 hubs' rows not measured, and bcast runs with --redis none (one process alone$([ "$BUS_WORKERS" = 1 ] && echo ", or workers relayed by their parent"))"
}

bus_redis_start() {
	B10_N=$((B10_N + 1))
	B10_REDIS_DIR=$W/redis10-$B10_N
	B10_REDIS_PORT=$(svc_free_port) || die "no free port"
	redis_start "$B10_REDIS_DIR" "$B10_REDIS_PORT" || die "redis-server did not start"
	echo "redis-server --port $B10_REDIS_PORT --save '' (tests/services.sh redis_start)" >>"$CMDS"
}

bus_redis_stop() {
	[ -n "$B10_REDIS_DIR" ] && redis_stop "$B10_REDIS_DIR"
	B10_REDIS_DIR=""
}

# workers PID: PID's child processes of its own name (its workers; not the
# log filter that the shell's process substitution made its child).
workers_of() {
	pgrep -P "$1" -x "$(cat "/proc/$1/comm" 2>/dev/null)"
}

# wait_children PID N: until PID has N workers, at most 10 s.
wait_children() {
	local i
	for i in $(seq 1 100); do
		[ "$(workers_of "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# bus_start_bcast HUBS WORKERS [quiet]: quiet = do not note missing workers.
bus_start_bcast() {
	local hubs=$1 workers=$2 quiet=${3:-} h port redis cmd pid st
	redis=redis://127.0.0.1:$B10_REDIS_PORT
	[ "$BUS_ON" = 1 ] || redis=none
	for h in $(seq 1 "$hubs"); do
		port=$(svc_free_port) || die "no free port"
		B10_N=$((B10_N + 1))
		st=$W/state10-$B10_N
		mkdir -p "$st"
		cmd=("$HUB" --listen "127.0.0.1:$port" --db "sqlite:$st/hub.db" --redis "$redis"
			--max-clients 100000)
		"$HUB" --help 2>/dev/null | grep -q -- '--read-threads' && cmd+=(--workers "$workers")
		echo "XDG_STATE_HOME=$st ${cmd[*]}" >>"$CMDS"
		XDG_STATE_HOME=$st "${cmd[@]}" 2> >(awk -v cap=2000 'NR <= cap { print; fflush() }
			END { if (NR > cap) printf "bench/run: %d more hub log lines dropped\n", NR - cap }' >>"$W/hub10.log") &
		pid=$!
		B10_PIDS+=("$pid")
		B10_URLS+=("http://127.0.0.1:$port")
		wait_http "http://127.0.0.1:$port/healthz" || { tail -5 "$W/hub10.log" >&2; die "bcast-hub did not start"; }
		if [ "$workers" -gt 1 ] && ! wait_children "$pid" "$workers" && [ -z "$quiet" ]; then
			note "bcast-hub --workers $workers: not all workers up after 10 s"
		fi
	done
}

# bus_start_nchan INSTANCES WORKERS
bus_start_nchan() {
	local n=$1 workers=$2 i pfx port user="" reuse="" redis
	[ "$(id -u)" = 0 ] && user="user root root;"
	[ "$workers" -gt 1 ] && reuse=reuseport
	# (nchan_redis_pass to an upstream block at http level is not inherited
	# by the locations: nchan 1.3.6 then silently uses its memory store.)
	redis="nchan_redis_url redis://127.0.0.1:$B10_REDIS_PORT; nchan_use_redis on; nchan_redis_storage_mode distributed;"
	for i in $(seq 1 "$n"); do
		B10_N=$((B10_N + 1))
		pfx=$W/nginx10-$B10_N
		port=$(svc_free_port) || die "no free port"
		mkdir -p "$pfx"
		sed -e "s|@PREFIX@|$pfx|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$workers|g" \
			-e "s|@NOFILE@|$NOFILE|g" -e "s|@USER@|$user|g" -e "s|@REUSEPORT@|$reuse|g" \
			-e "s|@REDIS@|$redis|g" "$REPO/bench/nchan.conf.in" >"$pfx/nginx.conf"
		echo "nginx -p $pfx -c $pfx/nginx.conf   # bench/nchan.conf.in, worker_processes $workers, Redis storage (distributed) on port $B10_REDIS_PORT" >>"$CMDS"
		nginx -p "$pfx" -c "$pfx/nginx.conf" -e "$pfx/error.log" -g "pid $pfx/nginx.pid;" 2>>"$pfx/error.log" ||
			die "nginx did not start: $(tail -3 "$pfx/error.log")"
		wait_http "http://127.0.0.1:$port/healthz" || die "nginx did not answer: $(tail -3 "$pfx/error.log")"
		B10_PIDS+=("$(cat "$pfx/nginx.pid")")
		B10_URLS+=("http://127.0.0.1:$port")
		wait_children "${B10_PIDS[-1]}" "$workers" || note "nginx: not all $workers workers up after 10 s"
	done
}

bus_stop_servers() {
	local p i
	for p in "${B10_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${B10_PIDS[@]}"; do
		for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	B10_PIDS=() B10_URLS=()
}

# Redis INFO figures as "cmds bus cpu_us in_b out_b": commands processed,
# bus messages (XADD for bcast, PUBLISH for nchan), CPU, network bytes.
bus_redis_info() {
	redis-cli -p "$B10_REDIS_PORT" info all 2>/dev/null | tr -d '\r' | awk -F'[:,=]' '
		$1 == "total_commands_processed" { c = $2 }
		$1 == "used_cpu_sys" || $1 == "used_cpu_user" { cpu += $2 }
		$1 == "total_net_input_bytes" { i = $2 }
		$1 == "total_net_output_bytes" { o = $2 }
		$1 == "cmdstat_xadd" || $1 == "cmdstat_publish" || $1 == "cmdstat_spublish" { b += $3 }
		END { printf "%d %d %.0f %d %d\n", c, b, cpu * 1e6, i, o }'
}

# bus_run SCENARIO SERVER HUBS WORKERS LOADGEN-ARGS...: one run on fresh
# servers and a fresh Redis; the result line gets the Redis figures.
bus_run() {
	local scen=$1 srv=$2 hubs=$3 workers=$4; shift 4
	local args=() p c line rc r0 r1 span
	bus_redis_start
	if [ "$srv" = bcast ]; then bus_start_bcast "$hubs" "$workers"; else bus_start_nchan "$hubs" "$workers"; fi
	sleep 0.5
	for p in "${B10_URLS[@]}"; do args+=(--url "$p"); done
	for p in "${B10_PIDS[@]}"; do
		args+=(--server-pid "$p")
		for c in $(workers_of "$p"); do args+=(--server-pid "$c"); done
	done
	args+=(--aux-pid "$(cat "$B10_REDIS_DIR/redis.pid")")
	[ "$srv" = bcast ] && args+=(--publish post)
	local cmd=("$LG" --target "$srv" "${args[@]}" "$@")
	echo "${cmd[*]}" >>"$CMDS"
	RUN_N=$((RUN_N + 1))
	r0=$(bus_redis_info)
	line=$(timeout 300 "${cmd[@]}" 2>>"$W/loadgen.err")
	rc=$?
	r1=$(bus_redis_info)
	[ -n "$line" ] || line="status=loadgen-failed($rc)"
	span=$(sed -n 's/.* span_s=\([0-9.]*\).*/\1/p' <<<"$line")
	line="$line $(awk -v a="$r0" -v b="$r1" -v s="${span:-0}" -v h="$hubs" -v w="$workers" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		printf "hubs=%d workers=%d redis_cmds=%d redis_bus=%d redis_cpu_ms=%.0f redis_in_b=%d redis_out_b=%d redis_cmd_ps=%.0f redis_bus_ps=%.0f",
			h, w, y[1] - x[1], y[2] - x[2], (y[3] - x[3]) / 1000, y[4] - x[4], y[5] - x[5],
			(s > 0 ? (y[1] - x[1]) / s : 0), (s > 0 ? (y[2] - x[2]) / s : 0) }')"
	printf '%s\t%s\t%s\n' "$scen" "$srv" "$line" >>"$RES"
	printf 'bench/run: [%d] %-28s %-5s %s\n' "$RUN_N" "$scen" "$srv" \
		"$(echo "$line" | tr ' ' '\n' | grep -E '^(ready|received|lost|dup|ooo|evps|p99_us|per_conn_b|aux_cpu_pct|redis_bus_ps|status)=' | tr '\n' ' ')" >&2
	local p2
	for p2 in "${B10_PIDS[@]}"; do
		kill -0 "$p2" 2>/dev/null || note "$srv server process $p2 DIED during '$scen'"
	done
	bus_stop_servers
	bus_redis_stop
}

# bus_scenario NAME HUBS WORKERS LOADGEN-ARGS...
bus_scenario() {
	local scen=$1 hubs=$2 workers=$3 r reps=$REPS; shift 3
	[ -z "$MATCH" ] || [[ $scen =~ $MATCH ]] || return 0
	[ "${SCEN_REPS:-}" ] && reps=$SCEN_REPS
	[ "$ONLY" = nchan ] || bus_probe
	local do_bcast=1
	[ "$ONLY" = nchan ] && do_bcast=0
	[ "$BUS_WORKERS" = 1 ] || [ "$workers" = 1 ] || do_bcast=0
	[ "$BUS_ON" = 1 ] || [ "$hubs" = 1 ] || do_bcast=0
	for r in $(seq 1 "$reps"); do
		[ "$do_bcast" = 1 ] && bus_run "$scen" bcast "$hubs" "$workers" "$@"
		[ "$ONLY" = bcast ] || bus_run "$scen" nchan "$hubs" "$workers" "$@"
	done
}

# The rows. QUICK=1: small counts, about 3 minutes.
bus_rows() {
	local n w d subs ct
	if [ "$QUICK" = 1 ]; then
		d=2
		for w in 1 2 4; do
			bus_scenario "bus x1000, $w proc$([ $w = 1 ] || echo s)" 1 "$w" --subs 1000 \
				--lines 100000 --duration $d --window "$(win 1000)"
		done
		bus_scenario "bus x1000, 3 hubs" 3 1 --subs 1000 --lines 100000 --duration $d --window "$(win 1000)"
		bus_scenario "bus x1000, 3 hubs, post spread" 3 1 --subs 1000 --threads 3 --pub-spread \
			--lines 100000 --duration $d --window "$(win 1000)"
		bus_scenario "bus 100 lines/s x2000, 2 procs" 1 2 --subs 2000 --rate 100 --lines 200 --timeout 40
		SCEN_REPS=1 bus_scenario "bus 20000 held, 2 procs" 1 2 --subs 20000 --rate 2 --lines 4 \
			--connect-timeout 60
		return 0
	fi
	d=5
	for n in 1000 10000; do
		ct=(); [ "$n" = 10000 ] && ct=(--connect-timeout 60)
		for w in 1 2 4; do
			bus_scenario "bus x$n, $w proc$([ $w = 1 ] || echo s)" 1 "$w" --subs "$n" \
				--lines $((40000000 / n)) --duration $d --window "$(win "$n")" "${ct[@]}"
		done
		bus_scenario "bus x$n, 3 hubs" 3 1 --subs "$n" --lines $((40000000 / n)) \
			--duration $d --window "$(win "$n")" "${ct[@]}"
		bus_scenario "bus x$n, 3 hubs, post spread" 3 1 --subs "$n" --threads 3 --pub-spread \
			--lines $((40000000 / n)) --duration $d --window "$(win "$n")" "${ct[@]}"
	done
	# 1M events/s to receive: the loadgen's subscribers in two processes
	# (one per core), or its own receive ceiling sets the latency.
	# The bus's own rate: few subscribers, so publishing, not fan-out, is
	# the limit (bus messages/s and Redis CPU per message).
	bus_scenario "bus x10, 3 hubs, post spread" 3 1 --subs 10 --threads 3 --pub-spread \
		--lines 2000000 --duration $d --window "$(win 10)"
	bus_scenario "bus 100 lines/s x10000, 2 procs" 1 2 --subs 10000 --rate 100 --lines 500 --procs 2 \
		--connect-timeout 60 --timeout 60 --drain 10
	subs=50000
	SCEN_REPS=1 bus_scenario "bus $subs held, 4 procs" 1 4 --subs "$subs" --rate 2 --lines 10 \
		--connect-timeout 90
}

# What the bus rows are, for the report's header.
bus_header() {
	echo "  'bus' rows (issue 10, bench/bus.sh): bcast-hub --workers N (or 3 hubs of one worker) on"
	echo "  one Redis bus vs nginx worker_processes N reuseport (or 3 nginx) on nchan's Redis storage"
	echo "  (distributed), a fresh Redis per run, one side at a time, no pinning; both sides publish"
	echo "  one line per POST, 32 in flight per connection (bcast POST /api/runs/CH/logs, nchan"
	echo "  POST /pub); subscribers round-robin over the hubs; RSS and CPU summed over all processes."
}

# The Redis side of the bus rows: one line per run.
bus_table() {
	grep -q $'^bus [^\t]*\t' "$RES" || return 0
	echo
	echo "Redis under the bus rows (one line per run; bus msgs = XADD for bcast, PUBLISH for nchan;"
	echo "Redis CPU % of one core over the run; procs = hubs x workers):"
	echo
	echo "| scenario | server | procs | events/s | Redis cmds/s | bus msgs/s | Redis CPU % | Redis out MB/s | server KiB/conn | status |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
	awk -F'\t' '$1 ~ /^bus / {
		n = split($3, f, " "); delete a
		for (i = 1; i <= n; i++) { p = index(f[i], "="); if (p) a[substr(f[i], 1, p - 1)] = substr(f[i], p + 1) }
		printf "| %s | %s | %dx%d | %.0f | %.0f | %.0f | %s | %.2f | %s | %s |\n", $1, $2, a["hubs"], a["workers"],
			a["evps"], a["redis_cmd_ps"], a["redis_bus_ps"], a["aux_cpu_pct"],
			(a["span_s"] > 0 ? a["redis_out_b"] / a["span_s"] / 1e6 : 0),
			(a["per_conn_b"] > 0 ? sprintf("%.1f", a["per_conn_b"] / 1024) : ""), a["status"] }' "$RES"
}
