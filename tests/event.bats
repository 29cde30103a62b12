#!/usr/bin/env bats
# event.bats - bcast-event: type and JSON checks, delivery to an admin
# stream subscriber, the hub down or refusing, and the flush that ends a
# run (lines from Redis and the spool into the DB, the run's status).

load helpers

closed_url() { echo "$1://127.0.0.1:$(free_port)"; }

sse_subscribe() {
	bg curl -sN --max-time 60 -D "$2.headers" "$1" -o "$2"
	wait_for 10 grep -q '^HTTP/1.1 200' "$2.headers"
}

sse_data() { sed -n 's/^data: \{0,1\}//p' "$1"; }

@test "event types must match [a-z][a-z0-9_.]*: else exit 64" {
	local hub
	hub=$(closed_url http)
	for t in Bad 1abc a-b 'a b' '' "$(printf 'a%.0s' $(seq 1 65))"; do
		run bcast-event -t ev --hub "$hub" --no-flush "$t"
		[ "$status" -eq 64 ] || { echo "type '$t': $status"; false; }
	done
	run bcast-event -t ev --hub "$hub"
	[ "$status" -eq 64 ]
	[[ "$output" == *"Try 'bcast-event --help'"* ]]
	run bcast-event -t 'bad id' --hub "$hub" checkpoint
	[ "$status" -eq 64 ]
	run bcast-event -t ev --hub "$hub" checkpoint '{}' extra
	[ "$status" -eq 64 ]
}

@test "the data must be one JSON object: else exit 65, nothing posted" {
	start_hub
	sse_subscribe "$BCAST_HUB/api/admin-events/stream" "$T/admin"
	for d in '[1]' '"x"' '{' '{"a":1} {}' 'null' '{"a":NaN}'; do
		run bcast-event -t ev checkpoint "$d"
		[ "$status" -eq 65 ] || { echo "data '$d': $status"; false; }
		[[ "$output" == *"bcast-event: the event data must be a JSON object"* ]]
	done
	run bcast-event -t ev checkpoint '{"ok":true}'
	[ "$status" -eq 0 ]
	wait_for 10 grep -q checkpoint "$T/admin"
	[ "$(sse_data "$T/admin" | grep -c checkpoint)" -eq 1 ]
}

@test "an event reaches an admin stream subscriber with its type, thread and data" {
	start_hub
	sse_subscribe "$BCAST_HUB/api/admin-events/stream" "$T/admin"
	run bcast-event -t run-7 hitl.ack '{"by":"ana","step":3,"note":"ok \"quoted\" \\ é"}'
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run bcast-event -t run-7 checkpoint
	[ "$status" -eq 0 ]
	wait_for 10 grep -q '"type":"checkpoint"' "$T/admin"
	sse_data "$T/admin" >"$T/events"
	python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert [e["type"] for e in ev] == ["hitl.ack", "checkpoint"], ev
assert all(e["thread_id"] == "run-7" for e in ev)
assert ev[0]["data"] == {"by": "ana", "step": 3, "note": 'ok "quoted" \\ é'}, ev[0]
assert ev[1]["data"] == {}, ev[1]
assert ev[0]["ts"].endswith("Z")
PY
}

@test "hub unreachable: exit 69 with one message" {
	run bcast-event -t ev --hub "$(closed_url http)" checkpoint '{}'
	[ "$status" -eq 69 ]
	[[ "$output" == "bcast-event: hub at http://127.0.0.1:"*" unavailable: "* ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "hub refuses (wrong token): exit 65 with the hub's message" {
	start_hub --token s3cret
	run bcast-event -t ev --token wrong checkpoint
	[ "$status" -eq 65 ]
	[[ "$output" == *"bcast-event: hub at $BCAST_HUB refused the token: HTTP 401"* ]]
	run bcast-event -t ev --token s3cret checkpoint
	[ "$status" -eq 0 ]
	BCAST_TOKEN=s3cret run bcast-event -t ev checkpoint
	[ "$status" -eq 0 ]
}

ends_run() {
	local db=$1
	redis_reset
	start_hub
	# One emitter spooled, the next used Redis: their seqs must not clash.
	seq 1 300 | bcast-emit -t ended --redis none --no-flush 2>/dev/null
	seq 301 500 | bcast-emit -t ended --redis "$BCAST_TEST_REDIS" --no-flush 2>/dev/null
	[ "$(redis_cli LLEN logs:queue:ended)" -eq 200 ]
	run bcast-event -t ended --redis "$BCAST_TEST_REDIS" --db "$db" run_error '{"exit_code":2}'
	[ "$status" -eq 0 ]
	[ "$(sql "$db" "SELECT line FROM thread_logs WHERE thread_id='ended' ORDER BY seq" | tr '\n' ' ')" = "$(seq 1 500 | tr '\n' ' ')" ]
	[ "$(redis_cli EXISTS logs:queue:ended)" -eq 0 ]
	[ "$(sql "$db" "SELECT status || ' ' || exit_code FROM thread_runs WHERE thread_id='ended'")" = "error 2" ]
}

@test "run_error flushes Redis and the spool into SQLite and records the status" { ends_run "$(sqlite_db)"; }
@test "run_error flushes Redis and the spool into PostgreSQL and records the status" { ends_run "$(pg_new_db)"; }

@test "non-terminal types and --no-flush leave the lines buffered" {
	local db
	db=$(sqlite_db)
	start_hub
	seq 1 10 | bcast-emit -t kept --redis none --no-flush 2>/dev/null
	run bcast-event -t kept --redis none --db "$db" checkpoint
	[ "$status" -eq 0 ]
	run bcast-event -t kept --redis none --db "$db" --no-flush run_completed
	[ "$status" -eq 0 ]
	[ ! -e "${db#sqlite:}" ] || [ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='kept'")" -eq 0 ]
	run bcast-event -t kept --redis none --db "$db" run_paused
	[ "$status" -eq 0 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='kept'")" -eq 10 ]
	[ "$(sql "$db" "SELECT status FROM thread_runs WHERE thread_id='kept'")" = paused ]
}

@test "hub down at a run's end: the thread is still flushed, then exit 69" {
	local db
	db=$(sqlite_db)
	seq 1 20 | bcast-emit -t late --redis none --no-flush --hub "$(closed_url http)" 2>/dev/null
	run bcast-event -t late --hub "$(closed_url http)" --redis none --db "$db" run_cancelled
	[ "$status" -eq 69 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='late'")" -eq 20 ]
}

@test "flush failure (DB down, or Redis named but down): exit 75, lines stay buffered" {
	start_hub
	seq 1 20 | bcast-emit -t stuck --redis none --no-flush 2>/dev/null
	run bcast-event -t stuck --redis none --db "postgresql://postgres@127.0.0.1:$(free_port)/x" run_completed
	[ "$status" -eq 75 ]
	[[ "$output" == *"bcast-event: flush failed ("*"); lines stay buffered, run bcast-flush later"* ]]
	[ -s "$T/state/bcast/spool/stuck.journal" ]
	run bcast-event -t stuck --redis "$(closed_url redis)" --db "$(sqlite_db)" run_completed
	[ "$status" -eq 75 ]
	[[ "$output" == *"cannot connect to Redis"* ]]
}
