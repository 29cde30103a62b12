#!/usr/bin/env bats
# tail.bats - bcast-tail against a real bcast-hub on a private port: the
# three output forms, --json, admin filters, --count/--timeout, duplicates,
# reconnection across a hub restart, signals, closed pipes and usage.
#
# The hub never replays, so each test waits until the hub counts the
# tail's subscription (bcast_hub_subscribers in /metrics) before POSTing.

load helpers

# post_lines TID FIRST_SEQ LINE...: POST one NDJSON record per LINE.
post_lines() {
	local tid=$1 seq=$2
	shift 2
	python3 -c '
import json, sys
tid, seq = sys.argv[1], int(sys.argv[2])
for i, line in enumerate(sys.argv[3:]):
    print(json.dumps({"thread_id": tid, "seq": seq + i, "stream": "stdout", "line": line}))
' "$tid" "$seq" "$@" >"$T/body.ndjson"
	curl -sf -X POST -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$T/body.ndjson" "$BCAST_HUB/api/runs/$tid/logs" >/dev/null
}

# post_event TID TYPE [DATA]
post_event() {
	curl -sf -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"type\":\"$2\",\"thread_id\":\"$1\",\"data\":${3:-{\}}}" \
		"$BCAST_HUB/api/admin-events" >/dev/null
}

# subs KIND: open subscriptions of KIND (global, thread, admin).
subs() {
	curl -sf "$BCAST_HUB/metrics" |
		sed -n "s/^bcast_hub_subscribers{stream=\"$1\"} \([0-9]*\)$/\1/p"
}
subs_are() { [ "$(subs "$1")" = "$2" ]; }

# wait_exit PID TIMEOUT_S: wait for a background process; sets EXIT_STATUS.
wait_exit() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "process $1 still running after $2 s"
		return 1
	fi
	EXIT_STATUS=0
	wait "$1" || EXIT_STATUS=$?
}

has_lines() { [ "$(wc -l <"$1")" -ge "$2" ]; }

@test "one thread: the lines themselves, other threads left out, BCAST_HUB used" {
	start_hub
	bg bcast-tail -t run-a --count 3 >"$T/out" 2>"$T/err"
	wait_for 10 subs_are thread 1
	post_lines run-a 1 "one" "two"
	post_lines run-b 1 "other thread"
	post_lines run-a 3 "three"
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'one\ntwo\nthree')" ]
	[ ! -s "$T/err" ]
}

@test "all threads: 'THREAD | line' in arrival order; --hub beats BCAST_HUB" {
	start_hub
	hub=$BCAST_HUB
	BCAST_HUB=http://127.0.0.1:1 bg bcast-tail --hub "$hub" --count 3 >"$T/out"
	wait_for 10 subs_are global 1
	post_lines run-a 1 "a1"
	post_lines run-b 7 "b7"
	post_lines run-a 2 "a2 | with a bar"
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'run-a | a1\nrun-b | b7\nrun-a | a2 | with a bar')" ]
}

@test "a pipe sees each line while bcast-tail is still running" {
	start_hub
	bg bcast-tail -t live >"$T/out"
	wait_for 10 subs_are thread 1
	post_lines live 1 "first"
	wait_for 5 grep -qx first "$T/out"
	kill -0 "$BG_PID"
	post_lines live 2 "second"
	wait_for 5 grep -qx second "$T/out"
	kill -TERM "$BG_PID"
	wait_exit "$BG_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'first\nsecond')" ]
}

@test "--json prints each record as one JSON object per line, odd bytes intact" {
	start_hub
	bg bcast-tail -t j --json --count 4 >"$T/out"
	wait_for 10 subs_are thread 1
	post_lines j 10 'say "hi"' 'back\slash' $'tab\there' 'unicode: é 日本 🎉'
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(wc -l <"$T/out")" -eq 4 ]
	python3 -c '
import json, sys
want = ["say \"hi\"", "back\\slash", "tab\there", "unicode: \u00e9 \u65e5\u672c \U0001f389"]
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert [r["line"] for r in recs] == want, recs
assert [r["seq"] for r in recs] == [10, 11, 12, 13], recs
assert all(r["thread_id"] == "j" and r["stream"] == "stdout" and r["ts"] for r in recs), recs
' "$T/out"
}

@test "--admin --type and -t filter admin events; plain 'THREAD TYPE DATA'" {
	start_hub
	bg bcast-tail --admin --type checkpoint,run_completed -t run-a --count 2 >"$T/out"
	wait_for 10 subs_are admin 1
	post_event run-a run_started
	post_event run-b checkpoint '{"step":0}'
	post_event run-a checkpoint '{"step":1}'
	post_event run-a hitl_ack '{"by":"ann"}'
	post_event run-a run_completed '{"exit_code":0}'
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf '%s\n%s' 'run-a checkpoint {"step":1}' 'run-a run_completed {"exit_code":0}')" ]
}

@test "--admin --json prints the event objects" {
	start_hub
	bg bcast-tail --admin --json --count 2 >"$T/out"
	wait_for 10 subs_are admin 1
	post_event run-a run_started
	post_event run-b run_error '{"exit_code":3}'
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert [(e["thread_id"], e["type"]) for e in evs] == [("run-a", "run_started"), ("run-b", "run_error")], evs
assert evs[1]["data"] == {"exit_code": 3}, evs
' "$T/out"
}

@test "a record POSTed twice is printed once; --count counts printed lines" {
	start_hub
	bg bcast-tail -t dup --count 3 >"$T/out"
	wait_for 10 subs_are thread 1
	post_lines dup 1 "x"
	post_lines dup 1 "x"
	post_lines dup 2 "y"
	post_lines dup 1 "x"
	post_lines dup 3 "z"
	post_lines dup 4 "after count"
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'x\ny\nz')" ]
}

@test "an event over 4 MiB is skipped with a message; the next one is printed" {
	start_hub
	bg bcast-tail -t big --count 1 >"$T/out" 2>"$T/err"
	wait_for 10 subs_are thread 1
	python3 -c '
import json
print(json.dumps({"thread_id": "big", "seq": 1, "line": "\x01" * 900000}))
print(json.dumps({"thread_id": "big", "seq": 2, "line": "small"}))' >"$T/big.ndjson"
	curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @"$T/big.ndjson" "$BCAST_HUB/api/runs/big/logs" >/dev/null
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "small" ]
	[ "$(cat "$T/err")" = "bcast-tail: skipping an event: larger than 4 MiB" ]
}

@test "reconnects when the hub restarts on the same port, without duplicates" {
	db=$(sqlite_db)
	start_hub --db "$db"
	bg bcast-tail -t re --count 4 >"$T/out" 2>"$T/err"
	tail_pid=$BG_PID
	wait_for 10 subs_are thread 1
	post_lines re 1 "before 1" "before 2"
	wait_for 5 has_lines "$T/out" 2
	stop_hub
	sleep 1.5
	kill -0 "$tail_pid"
	bcast-hub --listen "127.0.0.1:$HUB_PORT" --db "$db" 2>>"$HUB_LOG" &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	wait_for 10 hub_healthy
	wait_for 10 subs_are thread 1
	post_lines re 1 "before 1" "before 2" "after 3"
	post_lines re 4 "after 4"
	wait_exit "$tail_pid" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'before 1\nbefore 2\nafter 3\nafter 4')" ]
	[ "$(grep -c "hub at $BCAST_HUB unreachable (.*), retrying" "$T/err")" -eq 1 ]
	grep -q "connected to hub at $BCAST_HUB again" "$T/err"
}

@test "a hub that is not up yet: retries quietly with -q, reports once without" {
	port=$(free_port)
	run timeout 10 bcast-tail -q --hub "http://127.0.0.1:$port" --timeout 1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run timeout 10 bcast-tail --hub "http://127.0.0.1:$port" --timeout 1.5
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "bcast-tail: hub at http://127.0.0.1:$port unreachable ("*"), retrying" ]]
}

@test "a hub that starts late is picked up" {
	port=$(free_port)
	bg bcast-tail -q -t late --count 1 --hub "http://127.0.0.1:$port" >"$T/out"
	sleep 0.5
	bcast-hub --listen "127.0.0.1:$port" --db "$(sqlite_db)" 2>"$T/hub.log" &
	BC_PIDS+=($!)
	HUB_PORT=$port BCAST_HUB="http://127.0.0.1:$port"
	wait_for 10 hub_healthy
	wait_for 10 subs_are thread 1
	post_lines late 1 "finally"
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "finally" ]
}

@test "--once: 69 when the hub cannot be reached; 4xx or a non-SSE answer is 69, not retried" {
	port=$(free_port)
	run timeout 10 bcast-tail --once --hub "http://127.0.0.1:$port"
	[ "$status" -eq 69 ]
	[[ "$output" == "bcast-tail: hub at http://127.0.0.1:$port unreachable ("* ]]
	start_hub
	run timeout 10 bcast-tail --hub "$BCAST_HUB/no/such/prefix"
	[ "$status" -eq 69 ]
	[[ "$output" == *"refused"*"HTTP 404"* ]]
	mkdir -p "$T/www/api/logs"
	echo "not a stream" >"$T/www/api/logs/stream"
	port=$(free_port)
	bg python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$port" 2>/dev/null
	wait_for 10 curl -sf "http://127.0.0.1:$port/api/logs/stream"
	run timeout 10 bcast-tail --hub "http://127.0.0.1:$port"
	[ "$status" -eq 69 ]
	[[ "$output" == *"HTTP 200, not an event stream"* ]]
}

@test "--timeout exits 0 when nothing came" {
	start_hub
	start=$(date +%s%N)
	run timeout 10 bcast-tail -t quiet --timeout 0.5
	end=$(date +%s%N)
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ $(((end - start) / 1000000)) -ge 400 ]
	[ $(((end - start) / 1000000)) -lt 5000 ]
}

@test "SIGTERM ends it at once with 0, SIGINT (Ctrl-C) with 130, also while retrying" {
	start_hub
	for sig in TERM:0 INT:130; do
		bg bcast-tail -t sig >"$T/out"
		wait_for 10 subs_are thread 1
		kill -"${sig%:*}" "$BG_PID"
		wait_exit "$BG_PID" 3
		[ "$EXIT_STATUS" -eq "${sig#*:}" ] || { echo "$sig: $EXIT_STATUS"; false; }
		wait_for 10 subs_are thread 0
	done
	bg bcast-tail -q --hub "http://127.0.0.1:$(free_port)" -t x
	sleep 0.5
	kill -TERM "$BG_PID"
	wait_exit "$BG_PID" 3
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "a closed pipe ends it quietly with 0; a full disk is exit 74" {
	start_hub
	bash -c 'bcast-tail -t pipe 2>"$1/err" | head -1 >"$1/out"; echo "${PIPESTATUS[0]}" >"$1/rc"' _ "$T" &
	BC_PIDS+=($!)
	wait_for 10 subs_are thread 1
	for i in $(seq 1 50); do
		[ -f "$T/rc" ] && break
		post_lines pipe "$i" "line $i"
		sleep 0.1
	done
	[ "$(cat "$T/rc")" = 0 ]
	[ "$(cat "$T/out")" = "line 1" ]
	[ ! -s "$T/err" ]

	bg bcast-tail -t full >/dev/full 2>"$T/err"
	wait_for 10 subs_are thread 1
	post_lines full 1 "no room"
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 74 ]
	grep -q "^bcast-tail: write error on stdout: No space left on device" "$T/err"
}

@test "bad thread id, bad options and misuse exit 64 with a hint" {
	for args in "-t bad/id" "-t ''" "--type checkpoint" "--admin --type Bad" \
		"--admin --type a,,b" "--count 0" "--count x" "--timeout -1" \
		"--hub ftp://x" "-t a extra" "a b" "--no-such" "-n -1" "-n x t" "-n 5" \
		"--since 5 t" "--since yesterday t" "--since 2026-13-01 t" "--no-follow" \
		"--exit-status" "--color sometimes" "--grep '(' t" "--invert t" \
		"--admin -n 5" "--admin --grep x" "--list t" "--list --grep x" \
		"--status running" "--list --status done" "--read-token-file /nonexistent t"; do
		eval "run bcast-tail $args"
		[ "$status" -eq 64 ] || { echo "$args: $status"; false; }
		[[ "$output" == *"Try 'bcast-tail --help' for more information."* ]]
	done
	run bcast-tail -t "$(printf 'x%.0s' $(seq 1 129))"
	[ "$status" -eq 64 ]
	[[ "$output" == *"invalid thread id"* ]]
}

@test "--help and --version" {
	run bcast-tail --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "Usage: bcast-tail "* ]]
	for o in --thread --lines --since --follow --no-follow --exit-status \
		--timestamps --color --grep --invert --admin --type --list --status \
		--json --hub --read-token-file --count --timeout --once --quiet; do
		[[ "$output" == *"$o"* ]]
	done
	run bcast-tail -h
	[ "$status" -eq 0 ]
	run bcast-tail --version
	[ "$status" -eq 0 ]
	[ "$output" = "bcast-tail $(cat "$REPO/VERSION")" ]
}

# --- history, follow-to-the-end, output options (issue 7) ---

# emit_run TID N: a finished run of N lines "line 1".."line N" on the hub's DB.
emit_run() {
	seq 1 "$2" | sed 's/^/line /' | bcast-emit -t "$1" 2>"$T/emit-$1.err"
}

@test "--no-follow prints the last N lines and exits; default 10, -n all, -n 0, --json" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB"
	emit_run done1 30
	run bcast-tail -n 3 --no-follow done1
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'line 28\nline 29\nline 30')" ]
	run bcast-tail --no-follow -t done1
	[ "$status" -eq 0 ]
	[ "$output" = "$(seq 21 30 | sed 's/^/line /')" ]
	run bcast-tail -n all --no-follow done1
	[ "$output" = "$(seq 1 30 | sed 's/^/line /')" ]
	run bcast-tail -n 0 --no-follow done1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run bcast-tail -n 2 --no-follow --json done1
	python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [(r["thread_id"], r["seq"], r["line"]) for r in recs] == [("done1", 29, "line 29"), ("done1", 30, "line 30")], recs
assert all(r["ts"] and r["stream"] == "stdout" for r in recs), recs
' "$output"
	run bcast-tail -n 5 --no-follow never-ran
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "--grep and --invert select lines (POSIX extended); --timestamps puts ts first" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB"
	emit_run g 30
	run bcast-tail -n all --no-follow --grep '^line (1|2)5$' g
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'line 15\nline 25')" ]
	run bcast-tail -n all --no-follow --grep '[05]$' --invert g
	[ "${#lines[@]}" -eq 24 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '[05]$')" -eq 0 ]
	run bcast-tail -n 10 --no-follow --grep 'line 2' g   # -n counts before --grep
	[ "$output" = "$(printf 'line 21\nline 22\nline 23\nline 24\nline 25\nline 26\nline 27\nline 28\nline 29')" ]
	run bcast-tail -n 1 --no-follow --timestamps g
	[[ "$output" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]+Z\ line\ 30$ ]]
}

@test "--since: a duration back from now or a time, with and without -n" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB"
	emit_run since 1
	old=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%S.000000Z)
	mid=$(date -u -d '-30 minutes' +%Y-%m-%dT%H:%M:%S.000000Z)
	now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
	sql "$BCAST_DB" "DELETE FROM thread_logs WHERE thread_id = 'since';
		INSERT INTO thread_logs (thread_id, seq, ts, stream, line) VALUES
		('since', 1, '$old', 'stdout', 'two hours ago'),
		('since', 2, '$mid', 'stdout', 'half an hour ago'),
		('since', 3, '$now', 'stderr', 'just now')"
	run bcast-tail --since 1h --no-follow since
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'half an hour ago\njust now')" ]
	run bcast-tail --since "$(date -u -d '-45 minutes' +%Y-%m-%dT%H:%M:%SZ)" --no-follow since
	[ "$output" = "$(printf 'half an hour ago\njust now')" ]
	run bcast-tail --since "$(date -d '-3 hours' '+%Y-%m-%d %H:%M')" --no-follow since
	[ "${#lines[@]}" -eq 3 ]
	run bcast-tail --since 1.5h -n 1 --no-follow since
	[ "$output" = "just now" ]
	run bcast-tail --since 1d --no-follow since
	[ "${#lines[@]}" -eq 3 ]
	run bcast-tail --since 10s --no-follow since
	[ "$output" = "just now" ]
}

@test "--color: one stable colour per thread, stderr lines red; never on a pipe by default" {
	start_hub
	bg bcast-tail --color always --count 4 >"$T/out"
	wait_for 10 subs_are global 1
	post_lines run-a 1 "a1"
	post_lines run-b 1 "b1"
	post_lines run-a 2 "a2"
	printf '%s\n' '{"thread_id":"run-a","seq":3,"stream":"stderr","line":"oops"}' |
		curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- \
			"$BCAST_HUB/api/runs/run-a/logs" >/dev/null
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	mapfile -t got <"$T/out"
	esc=$'\033'
	[[ "${got[0]}" =~ ^${esc}\[([0-9]+)m"run-a"${esc}\[0m\ \|\ a1$ ]]
	ca=${BASH_REMATCH[1]}
	[[ "${got[1]}" =~ ^${esc}\[([0-9]+)m"run-b"${esc}\[0m\ \|\ b1$ ]]
	[ "${got[2]}" = "${esc}[${ca}mrun-a${esc}[0m | a2" ]
	[ "${got[3]}" = "${esc}[${ca}mrun-a${esc}[0m | ${esc}[31moops${esc}[0m" ]
	[ "$ca" != 31 ]
	# Same thread, same colour in another run of the program.
	bg bcast-tail --color always --count 1 >"$T/out2"
	wait_for 10 subs_are global 1
	post_lines run-a 4 "a4"
	wait_exit "$BG_PID" 10
	[ "$(cat "$T/out2")" = "${esc}[${ca}mrun-a${esc}[0m | a4" ]
	# --color auto on a pipe, and never: no escapes at all.
	bg bcast-tail --count 1 >"$T/out3"
	wait_for 10 subs_are global 1
	post_lines run-a 5 "a5"
	wait_exit "$BG_PID" 10
	[ "$(cat "$T/out3")" = "run-a | a5" ]
}

@test "following one thread: the run's end on stderr, exit 0; --exit-status gives its status" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB"
	bg bcast-tail -n 0 --exit-status ends >"$T/out" 2>"$T/err"
	wait_for 10 subs_are thread 1
	wait_for 10 subs_are admin 1
	bcast-emit -t ends -- sh -c 'echo one; echo two >&2; exit 3' >/dev/null 2>&1 || true
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 3 ]
	[ "$(cat "$T/out")" = "$(printf 'one\ntwo')" ]
	[ "$(cat "$T/err")" = "bcast-tail: run ends error, exit 3" ]

	bg bcast-tail -n 0 ends2 >"$T/out" 2>"$T/err"
	wait_for 10 subs_are thread 1
	wait_for 10 subs_are admin 1
	bcast-emit -t ends2 -- sh -c 'echo fine' >/dev/null
	wait_exit "$BG_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "fine" ]
	[ "$(cat "$T/err")" = "bcast-tail: run ends2 completed, exit 0" ]
}

# --- against a run in progress, on every store (the hub's history merges
# the DB with Redis or the spool) ---

# has_history TID N: the hub's history of TID ends at seq N.
has_history() {
	curl -sf "$BCAST_HUB/admin/runs/$1/logs?tail=1" | grep -q "\"seq\":$2[,}]"
}

# midrun DB REDIS: a run prints 500 lines and waits; two tails start then,
# -n 100000 and -n 5; the run prints 100 more and exits 3.
midrun() {
	export BCAST_DB=$1 BCAST_REDIS=$2
	[ "$2" = none ] || redis_reset
	start_hub --db "$1"
	bg bcast-emit -t mid -- sh -c 'seq 1 500 | sed "s/^/line /"
		while [ ! -f "$0" ]; do sleep 0.1; done
		seq 501 600 | sed "s/^/line /"; echo "to stderr" >&2; exit 3' "$T/go" \
		>/dev/null 2>"$T/emit.err"
	emit_pid=$BG_PID
	wait_for 20 has_history mid 500
	bg bcast-tail -n 100000 mid >"$T/all" 2>"$T/all.err"
	all_pid=$BG_PID
	bg bcast-tail -n 5 --exit-status mid >"$T/five" 2>"$T/five.err"
	five_pid=$BG_PID
	wait_for 10 subs_are thread 2
	wait_for 10 has_lines "$T/all" 500
	wait_for 10 has_lines "$T/five" 5
	# Waiting: nothing more while the run waits.
	sleep 0.5
	[ "$(wc -l <"$T/all")" -eq 500 ]
	[ "$(cat "$T/five")" = "$(seq 496 500 | sed 's/^/line /')" ]
	touch "$T/go"
	wait_exit "$emit_pid" 30
	[ "$EXIT_STATUS" -eq 3 ]
	wait_exit "$all_pid" 20
	[ "$EXIT_STATUS" -eq 0 ]
	wait_exit "$five_pid" 20
	[ "$EXIT_STATUS" -eq 3 ]
	{ seq 1 600 | sed 's/^/line /'; echo "to stderr"; } >"$T/want"
	diff "$T/want" "$T/all"
	diff <(tail -n 106 "$T/want") "$T/five"
	[ "$(cat "$T/all.err")" = "bcast-tail: run mid error, exit 3" ]
	[ "$(cat "$T/five.err")" = "bcast-tail: run mid error, exit 3" ]
	# After the end: the last lines, the end, at once.
	run timeout 10 bcast-tail -n 2 --exit-status mid
	[ "$status" -eq 3 ]
	[ "$output" = "$(printf 'line 600\nto stderr\nbcast-tail: run mid error, exit 3')" ]
}

@test "mid-run: -n 100000 prints every line once in order, -n 5 the last 5 then live; exit at the end (SQLite, no Redis)" {
	midrun "$(sqlite_db)" none
}

@test "mid-run: -n 100000 and -n 5 (SQLite, Redis)" {
	midrun "$(sqlite_db)" "$BCAST_TEST_REDIS"
}

@test "mid-run: -n 100000 and -n 5 (PostgreSQL, no Redis)" {
	midrun "$(pg_new_db)" none
}

@test "mid-run: -n 100000 and -n 5 (PostgreSQL, Redis)" {
	midrun "$(pg_new_db)" "$BCAST_TEST_REDIS"
}

@test "-n past the hub's page: 25,000 lines read page by page, each once" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB"
	seq 1 25000 | bcast-emit -t big 2>"$T/emit.err"
	run timeout 30 bcast-tail -n 100000 --no-follow big
	[ "$status" -eq 0 ]
	[ "$output" = "$(seq 1 25000)" ]
	run timeout 30 bcast-tail -n 12345 --no-follow big
	[ "$output" = "$(seq 12656 25000)" ]
}

@test "--list: completed, error (exit 3) and running runs; --status, -n, --json" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB"
	bcast-emit -t ok-run -- sh -c 'echo a; echo b' >/dev/null
	bcast-emit -t bad-run -- sh -c 'echo x; exit 3' >/dev/null 2>&1 || true
	bg bcast-emit -t live-run -- sh -c 'echo started; exec sleep 30' >/dev/null
	wait_for 10 has_history live-run 1
	run bcast-tail --list
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^THREAD\ +STATUS\ +STARTED\ +DURATION\ +EXIT\ +LINES$ ]]
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[1]}" =~ ^live-run\ +running\ +20[0-9-]+\ [0-9:]+\ +[0-9]+s\ +-\ +1$ ]]
	[[ "${lines[2]}" =~ ^bad-run\ +error\ +20[0-9-]+\ [0-9:]+\ +[0-9]+s\ +3\ +1$ ]]
	[[ "${lines[3]}" =~ ^ok-run\ +completed\ +20[0-9-]+\ [0-9:]+\ +[0-9]+s\ +0\ +2$ ]]
	run bcast-tail --list --status error,completed
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[1]}" == bad-run* && "${lines[2]}" == ok-run* ]]
	run bcast-tail --list -n 1
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == live-run* ]]
	run bcast-tail --list --json
	python3 -c '
import json, sys
runs = [json.loads(l) for l in sys.argv[1].splitlines()]
got = [(r["thread_id"], r["status"], r["exit_code"], r["lines"]) for r in runs]
assert got == [("live-run", "running", None, 1), ("bad-run", "error", 3, 1), ("ok-run", "completed", 0, 2)], got
assert runs[0]["ended_at"] is None and runs[1]["ended_at"], runs
' "$output"
}

# paced TID N: N lines "line I", about 1 ms apart, through bcast-emit.
paced() {
	python3 -c '
import sys, time
for i in range(1, int(sys.argv[1]) + 1):
    print("line %d" % i, flush=True)
    time.sleep(0.001)
' "$2" | bcast-emit -t "$1" 2>"$T/emit.err"
}

# restart_resume REDIS: kill -9 the hub while a paced 5,000-line run flows,
# start it again; bcast-tail ends with every line once, in order.
restart_resume() {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=$1
	[ "$1" = none ] || redis_reset
	start_hub --db "$BCAST_DB"
	bg bcast-tail -n all res >"$T/out" 2>"$T/err"
	tail_pid=$BG_PID
	wait_for 10 subs_are thread 1
	paced res 5000 &
	emit_pid=$!
	BC_PIDS+=("$emit_pid")
	wait_for 20 has_lines "$T/out" 1000
	kill -9 "$HUB_PID"
	wait "$HUB_PID" 2>/dev/null || true
	sleep 1
	bcast-hub --listen "127.0.0.1:$HUB_PORT" --db "$BCAST_DB" 2>>"$HUB_LOG" &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	wait_for 10 hub_healthy
	wait "$emit_pid" || true
	wait_exit "$tail_pid" 60
	[ "$EXIT_STATUS" -eq 0 ]
	diff <(seq 1 5000 | sed 's/^/line /') "$T/out"
	grep -q "unreachable" "$T/err"
	grep -q "connected to hub at $BCAST_HUB again" "$T/err"
	[ "$(tail -n 1 "$T/err")" = "bcast-tail: run res completed, exit 0" ]
}

@test "hub kill -9 and restart during a paced 5,000-line run: every line once, in order (Redis)" {
	restart_resume "$BCAST_TEST_REDIS"
}

@test "hub kill -9 and restart during a paced 5,000-line run: every line once, in order (spool)" {
	restart_resume none
}

# The README tour's background steps run in sessions of their own: stop
# each whole session (a command and whatever it started).
teardown() {
	local g
	for g in ${TOUR_GROUPS[@]+"${TOUR_GROUPS[@]}"}; do kill -- -"$g" 2>/dev/null; done
	bc_teardown
}

# tour_steps: the command lines of the README's tour, comments dropped.
tour_steps() {
	sed -n '/^## A tour/,/^## [^A]/p' "$REPO/README.md" |
		sed -n '/^```sh$/,/^```$/p' | grep -v '^```' | sed -E 's/ +# .*$//'
}

@test "the README tour works as written, in order, also after the runs end" {
	port=$(free_port)
	export BCAST_LISTEN="127.0.0.1:$port" BCAST_HUB="http://127.0.0.1:$port" BCAST_REDIS=none
	mapfile -t steps < <(tour_steps | sed "s/127\.0\.0\.1:8090/127.0.0.1:$port/g")
	TOUR_GROUPS=()
	[ "${#steps[@]}" -ge 14 ]
	cd "$REPO"
	for i in "${!steps[@]}"; do
		step=${steps[$i]}
		case $step in
		*'&')
			# A session of its own, so the whole step (a command and what
			# it started) is stopped at the end.
			setsid bash -c "${step%&}" >"$T/step$i" 2>&1 3>&- &
			BC_PIDS+=($!)
			TOUR_GROUPS+=($!)
			eval "pid$i=$!"
			[[ $step == bcast-hub* ]] && wait_for 10 curl -sf "$BCAST_HUB/healthz"
			[[ $step == bcast-tail* ]] && wait_for 10 subs_are thread 1
			[[ $step == *run-44* ]] && wait_for 10 has_history run-44 2
			;;
		*'curl -N'* | *'| jq'*)
			# Streams never end by themselves: Ctrl-C after 4 s. The
			# timeout is on the first command of a pipeline, so the rest
			# ends at EOF.
			run bash -c "{ timeout -s INT 4 $step; } 2>\"\$0\"" "$T/step$i.err"
			[ "$status" -eq 124 ] || [ "$status" -eq 0 ] ||
				{ echo "step $i: $step: $status"; false; }
			echo "$output" >"$T/step$i"
			;;
		*)
			run timeout 60 bash -c "{ $step; } 2>\"\$0\"" "$T/step$i.err"
			echo "$output" >"$T/step$i"
			case $step in
			*'exit 3'*) [ "$status" -eq 3 ] ;;
			*) [ "$status" -eq 0 ] || { echo "step $i: $step: $status: $output"; cat "$T/step$i.err"; false; } ;;
			esac
			;;
		esac
	done
	# bcast-tail run-42 & printed the run and its end, and exited 0.
	wait_exit "$pid2" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(grep -c '^step [0-9]/8' "$T/step2")" -eq 16 ]
	[ "$(tail -n 1 "$T/step2")" = "bcast-tail: run run-42 completed, exit 0" ]
	# --list: both runs, right status and exit code.
	grep -Eq '^run-43 +error .* 3 +19$' "$T/step5"
	grep -Eq '^run-42 +completed .* 0 +19$' "$T/step5"
	# -n all --no-follow: all 19 lines.
	[ "$(wc -l <"$T/step6")" -eq 19 ]
	# -n 5 --timestamps --exit-status; echo $?: 5 stamped lines, then 3.
	[ "$(grep -cE '^20[0-9-]+T[0-9:.]+Z ' "$T/step7")" -eq 5 ]
	[ "$(tail -n 1 "$T/step7")" = 3 ]
	python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))
assert [r["line"] for r in h][-1].startswith("workflow: done"), h
assert len(h) == 3, h
runs = json.load(open(sys.argv[2]))
assert {r["thread_id"]: r["status"] for r in runs} == {"run-42": "completed", "run-43": "error"}, runs
' "$T/step8" "$T/step9"
	# The streams: the live run's lines came through curl -N and the tail.
	grep -q '^id: run-44:[0-9]*$' "$T/step13"
	grep -q '^step [0-9]*/100' "$T/step15"
}

@test "read access: no or a wrong credential is a clear 69; BCAST_READ_TOKEN, --read-token-file and BCAST_TOKEN read" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	start_hub --db "$BCAST_DB" --read-token sekrit-read --token sekrit-pub
	BCAST_TOKEN=sekrit-pub bcast-emit -t auth -- sh -c 'echo one; echo two' >/dev/null
	run bcast-tail -n all --no-follow auth
	[ "$status" -eq 69 ]
	[[ "$output" == "bcast-tail: hub at $BCAST_HUB refused access to /admin/runs/auth/logs?after=0&limit=1000 (HTTP 401: "*"): set BCAST_READ_TOKEN or --read-token-file" ]]
	run bcast-tail --list
	[ "$status" -eq 69 ]
	[[ "$output" == *"refused access to /admin/runs"*"HTTP 401"* ]]
	run timeout 10 bcast-tail --count 1
	[ "$status" -eq 69 ]
	[[ "$output" == *"refused access to /api/logs/stream (HTTP 401): set BCAST_READ_TOKEN or --read-token-file" ]]
	BCAST_READ_TOKEN=wrong run bcast-tail -n all --no-follow auth
	[ "$status" -eq 69 ]
	[[ "$output" == *"refused access"* ]]
	BCAST_READ_TOKEN=sekrit-read run bcast-tail -n all --no-follow auth
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'one\ntwo')" ]
	printf 'sekrit-read\n' >"$T/tok"
	run bcast-tail --read-token-file "$T/tok" -n all --no-follow auth
	[ "$output" = "$(printf 'one\ntwo')" ]
	BCAST_TOKEN=sekrit-pub run bcast-tail -n all --no-follow auth
	[ "$output" = "$(printf 'one\ntwo')" ]
	# Following needs the watch and the run list too: all with the token.
	BCAST_READ_TOKEN=sekrit-read run timeout 10 bcast-tail -n 1 auth
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'two\nbcast-tail: run auth completed, exit 0')" ]
	BCAST_READ_TOKEN=sekrit-read run bcast-tail --list
	[[ "${lines[1]}" == auth*completed* ]]
}

# kill_and_restart_hub DB: kill -9 the hub, start a new one on the same
# port and DB (a new epoch), and wait until it answers.
kill_and_restart_hub() {
	kill -9 "$HUB_PID"
	wait "$HUB_PID" 2>/dev/null || true
	bcast-hub --listen "127.0.0.1:$HUB_PORT" --db "$1" 2>>"$HUB_LOG" &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	wait_for 10 hub_healthy
}

@test "every thread across a hub kill -9: one reset notice with what was missed, then live" {
	db=$(sqlite_db)
	start_hub --db "$db"
	bg bcast-tail --count 3 >"$T/out" 2>"$T/err"
	tail_pid=$BG_PID
	wait_for 10 subs_are global 1
	post_lines r 1 "before"
	wait_for 5 has_lines "$T/out" 1
	kill_and_restart_hub "$db"
	wait_for 15 subs_are global 1
	post_lines r 2 "after 1" "after 2"
	wait_exit "$tail_pid" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'r | before\nr | after 1\nr | after 2')" ]
	[ "$(grep -c '^bcast-tail: reset: ' "$T/err")" -eq 1 ]
	grep -Eq "^bcast-tail: reset: the hub could not resume the stream from '@[^']+' \(it restarted\): (an unknown number of|[0-9]+) lines missed$" "$T/err"
}

@test "--admin across a hub kill -9: one reset notice for admin events" {
	db=$(sqlite_db)
	start_hub --db "$db"
	bg bcast-tail --admin --count 2 >"$T/out" 2>"$T/err"
	tail_pid=$BG_PID
	wait_for 10 subs_are admin 1
	post_event a checkpoint '{"n":1}'
	wait_for 5 has_lines "$T/out" 1
	kill_and_restart_hub "$db"
	wait_for 15 subs_are admin 1
	post_event a checkpoint '{"n":2}'
	wait_exit "$tail_pid" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$T/out")" = "$(printf 'a checkpoint {"n":1}\na checkpoint {"n":2}')" ]
	[ "$(grep -c "^bcast-tail: reset: the hub could not resume admin events from '@" "$T/err")" -eq 1 ]
}
