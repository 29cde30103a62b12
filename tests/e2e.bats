#!/usr/bin/env bats
# e2e.bats - the whole pipeline as a user runs it, in the four set-ups a team
# can choose: SQLite or PostgreSQL, with or without Redis.
#
# Two runs emit at the same time (10,000 and 5,000 lines); bcast-tail
# watches one thread, the global stream and the admin stream; afterwards the
# table, the history endpoint and a second flush are checked.

load helpers

# subscribers STREAM: how many subscribers the hub counts on STREAM.
subscribers() {
	curl -sf "$BCAST_HUB/metrics" |
		sed -nE "s/^bcast_hub_subscribers\{stream=\"$1\"\} ([0-9]+)$/\1/p"
}
subscribed() { [ "$(subscribers "$1")" -ge "$2" ]; }

# lines_of FILE: the "line" field of each NDJSON record, one per line.
lines_of() {
	python3 -c 'import sys, json
for l in open(sys.argv[1]):
    print(json.loads(l)["line"])' "$1"
}

pipeline() {
	unset BCAST_WORKERS   # the default: one hub process per core
	local db=$1 redis=$2
	export BCAST_DB=$db BCAST_REDIS=$redis
	[ "$redis" = none ] || redis_reset
	start_hub --db "$db"

	bcast-tail -t e2e-a --json --count 10000 --timeout 60 >"$T/a.ndjson" 2>"$T/tail-a.err" &
	local tail_a=$!
	bcast-tail --json --count 15000 --timeout 60 >"$T/all.ndjson" 2>"$T/tail-all.err" &
	local tail_all=$!
	bcast-tail --admin --json --count 4 --timeout 60 >"$T/admin.ndjson" 2>/dev/null &
	local tail_admin=$!
	curl -sN --max-time 60 "$BCAST_HUB/api/admin-events/stream?type=run_completed&thread_id=e2e-b" \
		>"$T/admin-b.sse" &
	local curl_b=$!
	BC_PIDS+=("$tail_a" "$tail_all" "$tail_admin" "$curl_b")
	wait_for 10 subscribed thread 1
	wait_for 10 subscribed global 1
	wait_for 10 subscribed admin 2

	seq 1 10000 | sed 's/^/line a "quoted" \\ /' >"$T/a.txt"
	seq 1 5000 | sed 's/^/line b /' >"$T/b.txt"
	bcast-emit -t e2e-a <"$T/a.txt" 2>"$T/emit-a.err" &
	local emit_a=$!
	bcast-emit -t e2e-b <"$T/b.txt" 2>"$T/emit-b.err" &
	local emit_b=$!
	wait "$emit_a"; local rc_a=$?
	wait "$emit_b"; local rc_b=$?
	[ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ] || { cat "$T"/emit-*.err; false; }
	wait "$tail_a" "$tail_all" "$tail_admin"

	# Live: the thread stream is complete and in order.
	lines_of "$T/a.ndjson" >"$T/a.live"
	cmp "$T/a.txt" "$T/a.live"
	# Live: the global stream holds both threads, each complete and in order.
	python3 - "$T/all.ndjson" e2e-a >"$T/all-a.live" <<'PY'
import sys, json
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["thread_id"] == sys.argv[2]: print(r["line"])
PY
	python3 - "$T/all.ndjson" e2e-b >"$T/all-b.live" <<'PY'
import sys, json
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["thread_id"] == sys.argv[2]: print(r["line"])
PY
	cmp "$T/a.txt" "$T/all-a.live"
	cmp "$T/b.txt" "$T/all-b.live"
	# Admin stream: run_started and run_completed of both runs.
	[ "$(grep -c '"type":"run_started"' "$T/admin.ndjson")" -eq 2 ]
	[ "$(grep -c '"type":"run_completed"' "$T/admin.ndjson")" -eq 2 ]
	# The filtered admin stream saw only e2e-b's run_completed.
	wait_for 5 grep -q run_completed "$T/admin-b.sse"
	kill "$curl_b" 2>/dev/null
	[ "$(grep -c '^data:' "$T/admin-b.sse")" -eq 1 ]
	grep '^data:' "$T/admin-b.sse" | grep -q '"thread_id":"e2e-b"'

	# The table holds exactly those lines, in seq order.
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='e2e-a'")" -eq 10000 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='e2e-b'")" -eq 5000 ]
	sql "$db" "SELECT line FROM thread_logs WHERE thread_id='e2e-a' ORDER BY seq" >"$T/a.db"
	cmp "$T/a.txt" "$T/a.db"
	# History over REST returns them, oldest first.
	curl -sf "$BCAST_HUB/admin/runs/e2e-a/logs?limit=10000" >"$T/a.hist"
	python3 -c 'import sys, json
for r in json.load(open(sys.argv[1])): print(r["line"])' "$T/a.hist" >"$T/a.hist.txt"
	cmp "$T/a.txt" "$T/a.hist.txt"
	# Nothing is left buffered, and a second drain moves and doubles nothing.
	if [ "$redis" != none ]; then
		[ "$(redis_cli EXISTS logs:queue:e2e-a)" -eq 0 ]
	fi
	run bcast-flush --all
	[ "$status" -eq 0 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs")" -eq 15000 ]
	run bcast-flush --all
	[ "$status" -eq 0 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs")" -eq 15000 ]
}

@test "pipeline: SQLite, no Redis" { pipeline "$(sqlite_db)" none; }
@test "pipeline: SQLite, with Redis" { pipeline "$(sqlite_db)" "$BCAST_TEST_REDIS"; }
@test "pipeline: PostgreSQL, no Redis" { pipeline "$(pg_new_db)" none; }
@test "pipeline: PostgreSQL, with Redis" { pipeline "$(pg_new_db)" "$BCAST_TEST_REDIS"; }

run_error() {
	export BCAST_DB=$1 BCAST_REDIS=$2
	start_hub --db "$1"
	bcast-tail --admin --json --count 2 --timeout 30 >"$T/admin.ndjson" &
	BC_PIDS+=($!)
	local tail_pid=$!
	wait_for 10 subscribed admin 1
	run bcast-emit -t e2e-err -- sh -c 'echo about to fail; exit 3'
	[ "$status" -eq 3 ]
	wait "$tail_pid"
	grep -q '"type":"run_started"' "$T/admin.ndjson"
	grep '"type":"run_error"' "$T/admin.ndjson" | grep -q '"exit_code":3'
	[ "$(sql "$1" "SELECT line FROM thread_logs WHERE thread_id='e2e-err'")" = "about to fail" ]
}

@test "a failing command: exit 3 and run_error (SQLite, no Redis)" { run_error "$(sqlite_db)" none; }
@test "a failing command: exit 3 and run_error (PostgreSQL, Redis)" { run_error "$(pg_new_db)" "$BCAST_TEST_REDIS"; }

@test "a bad thread id is refused: exit 64 and HTTP 400, nothing stored" {
	local db
	db=$(sqlite_db)
	start_hub --db "$db"
	run bcast-emit -t 'bad/../id' --redis none --db "$db" <<<"x"
	[ "$status" -eq 64 ]
	[[ "$output" == *"bcast-emit: "*"thread"* ]]
	run curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-ndjson' \
		--data-binary '{"thread_id":"a b","seq":1,"line":"x"}' \
		"$BCAST_HUB/api/runs/a%20b/logs"
	[ "$output" = 400 ]
	run curl -s -o /dev/null -w '%{http_code}' "$BCAST_HUB/admin/runs/a'b/logs"
	[ "$output" = 400 ]
	run bcast-tail -t "x'; DROP TABLE thread_logs; --"
	[ "$status" -eq 64 ]
	run bcast-flush -t '..' --db "$db" --redis none
	[ "$status" -eq 64 ]
}
