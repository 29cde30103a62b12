#!/usr/bin/env bats
# emit.bats - bcast-emit against real Redis, SQLite, PostgreSQL and a real
# hub: lines reach Redis or the spool in order with unique seqs, then the
# DB exactly once; odd bytes; command mode, signals, events; a hub, Redis
# or DB that is down.

load helpers
bats_require_minimum_version 1.5.0

# llen_at PORT TID OP N: the length of TID's Redis list on PORT compares
# (test OP) to N, read anew at each call (for wait_for).
llen_at() { [ "$(redis-cli -p "$1" LLEN "logs:queue:$2")" "$3" "$4" ]; }

# A port nothing listens on.
closed_url() { echo "$1://127.0.0.1:$(free_port)"; }

# sse_subscribe URL FILE: follow an SSE stream into FILE until the hub has
# answered with its headers.
sse_subscribe() {
	bg curl -sN --max-time 60 -D "$2.headers" "$1" -o "$2"
	wait_for 10 grep -q '^HTTP/1.1 200' "$2.headers"
}

# sse_data FILE: the data of each event, one per line.
sse_data() { sed -n 's/^data: \{0,1\}//p' "$1"; }

# db_lines DB TID: the lines stored for TID, in seq order.
db_lines() { sql "$1" "SELECT line FROM thread_logs WHERE thread_id='$2' ORDER BY seq"; }

# seqs_increase: stdin holds JSON records; their seqs must strictly increase.
seqs_increase() {
	python3 -c 'import sys, json
s = [json.loads(l)["seq"] for l in sys.stdin]
assert all(a < b for a, b in zip(s, s[1:])), "seq not increasing"
print(len(s))'
}

@test "pipe: 10,000 lines wait in Redis, in order, with increasing seq (--no-flush)" {
	redis_reset
	seq 1 10000 >"$T/in"
	run bcast-emit -t p-redis --redis "$BCAST_TEST_REDIS" --hub "$(closed_url http)" \
		--no-flush <"$T/in"
	[ "$status" -eq 0 ]
	[ "$(redis_cli LLEN logs:queue:p-redis)" -eq 10000 ]
	redis_cli LRANGE logs:queue:p-redis 0 -1 >"$T/recs"
	[ "$(seqs_increase <"$T/recs")" -eq 10000 ]
	python3 -c 'import sys, json
for l in open(sys.argv[1]): print(json.loads(l)["line"])' "$T/recs" | cmp - "$T/in"
}

flush_into() {
	local db=$1
	redis_reset
	seq 1 10000 | sed 's/^/line "q" \\ /' >"$T/in"
	run bcast-emit -t p-db --redis "$BCAST_TEST_REDIS" --db "$db" \
		--hub "$(closed_url http)" <"$T/in"
	[ "$status" -eq 0 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='p-db'")" -eq 10000 ]
	db_lines "$db" p-db | cmp - "$T/in"
	[ "$(redis_cli EXISTS logs:queue:p-db)" -eq 0 ]
	[ "$(sql "$db" "SELECT status || ' ' || exit_code FROM thread_runs WHERE thread_id='p-db'")" = "completed 0" ]
}

@test "pipe: after the flush SQLite holds exactly the lines (with Redis)" { flush_into "$(sqlite_db)"; }
@test "pipe: after the flush PostgreSQL holds exactly the lines (with Redis)" { flush_into "$(pg_new_db)"; }

@test "odd lines: CR, NUL, invalid UTF-8, empty lines, a 200 KiB line, no final newline" {
	local db
	db=$(sqlite_db)
	python3 - "$T/in" <<'PY'
import sys
big = b"x" + "é".encode() * 102399          # 204799 bytes; 65536 falls inside an é
data = (b"crlf\r\n" + b"a\x00b\n" + b"bad \xff\xfe end\n" + b"\n" + b"\r\n" +
        b"mid\rcr\n" + big + b"\n" + b"last, no newline")
open(sys.argv[1], "wb").write(data)
PY
	run bcast-emit -t odd --redis none --db "$db" --hub "$(closed_url http)" <"$T/in"
	[ "$status" -eq 0 ]
	python3 - "${db#sqlite:}" <<'PY'
import sqlite3, sys
rows = [r[0] for r in sqlite3.connect(sys.argv[1]).execute(
    "SELECT line FROM thread_logs WHERE thread_id='odd' ORDER BY seq")]
big = "x" + "é" * 102399
assert rows[:6] == ["crlf", "a\ufffdb", "bad \ufffd\ufffd end", "", "", "mid\rcr"], rows[:6]
pieces = rows[6:10]
assert len(rows) == 11, len(rows)
assert all(len(p.encode()) <= 65536 for p in pieces), [len(p.encode()) for p in pieces]
assert "".join(pieces) == big, "pieces do not join to the line"
assert rows[10] == "last, no newline", rows[10]
PY
}

@test "command mode: exit 3, and run_started then run_error {exit_code:3} on the admin stream" {
	start_hub
	sse_subscribe "$BCAST_HUB/api/admin-events/stream" "$T/admin"
	run bcast-emit -t cmd3 --redis none --db "$(sqlite_db)" -- sh -c 'echo hello; exit 3'
	[ "$status" -eq 3 ]
	wait_for 10 grep -q run_error "$T/admin"
	sse_data "$T/admin" >"$T/events"
	python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ev = [e for e in ev if e["thread_id"] == "cmd3"]
assert [e["type"] for e in ev] == ["run_started", "run_error"], ev
assert ev[0]["data"]["argv"] == ["sh", "-c", "echo hello; exit 3"], ev[0]
assert ev[1]["data"] == {"exit_code": 3}, ev[1]
PY
}

@test "command mode: a command that is not found exits 127 and posts run_error" {
	start_hub
	sse_subscribe "$BCAST_HUB/api/admin-events/stream" "$T/admin"
	run -127 bcast-emit -t nocmd --redis none --db "$(sqlite_db)" -- no-such-command-here
	[ "$status" -eq 127 ]
	[[ "$output" == *"bcast-emit: cannot run 'no-such-command-here'"* ]]
	wait_for 10 grep -q run_error "$T/admin"
	sse_data "$T/admin" | grep run_error | grep -q '"exit_code":127'
}

@test "command mode: stdout and stderr are captured as two streams, in order" {
	local db
	db=$(sqlite_db)
	run bcast-emit -t streams --redis none --db "$db" --hub "$(closed_url http)" -- \
		sh -c 'echo to-out; sleep 0.2; echo to-err >&2; sleep 0.2; echo again-out'
	[ "$status" -eq 0 ]
	[ "$(sql "$db" "SELECT stream || ':' || line FROM thread_logs WHERE thread_id='streams' ORDER BY seq" | tr '\n' ' ')" = \
		"stdout:to-out stderr:to-err stdout:again-out " ]
}

@test "--tee copies the input unchanged; in command mode stdout and stderr apart" {
	printf 'one\r\ntwo \xff\n\nno newline' >"$T/in"
	bcast-emit -t tee1 --tee --redis none --no-flush --hub "$(closed_url http)" \
		<"$T/in" >"$T/out" 2>/dev/null
	cmp "$T/in" "$T/out"
	bcast-emit -t tee2 --tee --redis none --no-flush --hub "$(closed_url http)" -- \
		sh -c 'echo out; echo err >&2' >"$T/o" 2>"$T/e"
	[ "$(cat "$T/o")" = out ]
	grep -qx err "$T/e"
	# Without --tee nothing is copied.
	run bcast-emit -t tee3 --redis none --no-flush --hub "$(closed_url http)" <"$T/in"
	[[ "$output" != *"one"* ]]
}

@test "command mode shows the command's stdout and stderr on emit's own, unless --quiet" {
	local db
	db=$(sqlite_db)
	local rc=0
	bcast-emit -t show1 --redis none --db "$db" --hub "$(closed_url http)" -- \
		sh -c 'echo "make: *** No targets specified and no makefile found.  Stop." >&2; echo out-line; exit 2' \
		>"$T/o" 2>"$T/e" || rc=$?
	[ "$rc" -eq 2 ]
	[ "$(cat "$T/o")" = out-line ]
	grep -qx 'make: \*\*\* No targets specified and no makefile found.  Stop.' "$T/e"
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='show1'")" -eq 2 ]
	bcast-emit -t show2 -q --redis none --db "$db" --hub "$(closed_url http)" -- \
		sh -c 'echo quiet-out; echo quiet-err >&2' >"$T/o" 2>"$T/e"
	[ ! -s "$T/o" ]
	run ! grep -q quiet-err "$T/e"
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='show2'")" -eq 2 ]
	# Pipe mode is unchanged: nothing is copied without --tee.
	echo piped | bcast-emit -t show3 --redis none --no-flush --hub "$(closed_url http)" >"$T/o" 2>/dev/null
	[ ! -s "$T/o" ]
}

@test "a bad or missing thread id exits 64 before anything else" {
	run bcast-emit -t 'a b' --redis "$BCAST_TEST_REDIS" --spool "$T/spool" <<<"x"
	[ "$status" -eq 64 ]
	[[ "$output" == *"invalid thread id"* ]]
	[ ! -e "$T/spool" ]
	run bcast-emit -t "$(printf 'x%.0s' $(seq 1 129))" --spool "$T/spool" <<<"x"
	[ "$status" -eq 64 ]
	run bcast-emit --spool "$T/spool" <<<"x"
	[ "$status" -eq 64 ]
	[[ "$output" == *"Try 'bcast-emit --help'"* ]]
	[ ! -e "$T/spool" ]
	run bcast-emit -t ok --max-line 0 <<<"x"
	[ "$status" -eq 64 ]
	run bcast-emit -t ok --fsync always <<<"x"
	[ "$status" -eq 64 ]
}

@test "hub down: the lines still reach the DB, and one warning line says so" {
	local db
	db=$(sqlite_db)
	# Lines arrive over 1.5 s, so the hub is retried several times.
	(for i in $(seq 1 30); do echo "line $i"; sleep 0.05; done) |
		bcast-emit -t hubdown --redis none --db "$db" --hub "$(closed_url http)" 2>"$T/err"
	[ "$(wc -l <"$T/err")" -eq 1 ]
	grep -q "^bcast-emit: hub at http://127.0.0.1:[0-9]* unreachable (.*); lines are kept in Redis/spool and will reach the DB$" "$T/err"
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='hubdown'")" -eq 30 ]
}

@test "the hub gets every line live, in order, and a wrong token is reported once" {
	start_hub --token s3cret
	sse_subscribe "$BCAST_HUB/api/runs/live1/logs/stream" "$T/live"
	seq 1 3000 >"$T/in"
	run bcast-emit -t live1 --token s3cret --redis none --db "$(sqlite_db)" <"$T/in"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_for 10 grep -q '"line":"3000"' "$T/live"
	sse_data "$T/live" | python3 -c 'import sys, json
for l in sys.stdin: print(json.loads(l)["line"])' | cmp - "$T/in"

	local db
	db=$(sqlite_db)
	seq 1 100 | bcast-emit -t live2 --token wrong --redis none --db "$db" 2>"$T/err"
	[ "$(wc -l <"$T/err")" -eq 1 ]
	grep -q "refused the token" "$T/err"
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='live2'")" -eq 100 ]
}

@test "flat out: 400,000 lines piped as fast as possible all reach a live subscriber, in order" {
	# emit waits for the hub instead of dropping live lines while the hub keeps up
	start_hub
	sse_subscribe "$BCAST_HUB/api/runs/fast/logs/stream" "$T/live"
	seq 1 400000 >"$T/in"
	run bcast-emit -t fast --redis none --no-flush <"$T/in"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_for 30 grep -q '"line":"400000"' "$T/live"
	sse_data "$T/live" | sed -E 's/.*"line":"([0-9]+)".*/\1/' | cmp - "$T/in"
}

@test "a thread id reused after Redis lost everything (counter too) still stores every line" {
	local db
	db=$(sqlite_db)
	redis_reset
	seq 1 500 | bcast-emit -t reuse --redis "$BCAST_TEST_REDIS" --db "$db" --hub "$(closed_url http)" 2>/dev/null
	redis_reset   # a Redis without persistence restarted: logs:seq:reuse is gone
	seq 501 800 | bcast-emit -t reuse --redis "$BCAST_TEST_REDIS" --db "$db" --hub "$(closed_url http)" 2>/dev/null
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='reuse'")" -eq 800 ]
	seq 1 800 | cmp - <(db_lines "$db" reuse)
}

@test "a new thread's seq numbers are 1..N without gaps, from Redis and from the spool" {
	local db r tid
	redis_reset
	for r in "$BCAST_TEST_REDIS" none; do
		db=$(sqlite_db)
		tid="gapless-${r%%:*}"
		seq 1 50 | bcast-emit -t "$tid" --redis "$r" --db "$db" --hub "$(closed_url http)" 2>/dev/null
		[ "$(sql "$db" "SELECT min(seq) || ' ' || max(seq) || ' ' || count(*) FROM thread_logs WHERE thread_id='$tid'")" = "1 50 50" ]
	done
}

@test "Redis down: the spool is used with one warning, and the DB gets the lines" {
	local db
	db=$(sqlite_db)
	seq 1 2000 >"$T/in"
	run bcast-emit -t rdown --redis "$(closed_url redis)" --spool "$T/spool" \
		--hub "$(closed_url http)" --no-flush <"$T/in"
	[ "$status" -eq 0 ]
	[[ "$output" == *"bcast-emit: Redis unavailable (cannot connect to Redis at 127.0.0.1:"*"), spooling to $T/spool"* ]]
	[ -s "$T/spool/rdown.journal" ]
	run bcast-flush -t rdown --redis none --spool "$T/spool" --db "$db"
	[ "$status" -eq 0 ]
	db_lines "$db" rdown | cmp - "$T/in"
}

@test "Redis failing mid-run: the spool takes over, Redis is used again, nothing lost or doubled" {
	local dir=$T/redis port db
	port=$(free_port)
	db=$(sqlite_db)
	redis_start "$dir" "$port" 3>&-
	mkfifo "$T/fifo"
	bcast-emit -t rflap --redis "redis://127.0.0.1:$port" --spool "$T/spool" \
		--hub "$(closed_url http)" --db "$db" <"$T/fifo" 2>"$T/err" 3>&- &
	local pid=$!
	BC_PIDS+=("$pid")
	exec 7>"$T/fifo"
	for i in $(seq 1 100); do echo "a$i" >&7; done
	wait_for 10 llen_at "$port" rflap -eq 100
	# Down without losing what it holds: saved on shutdown, loaded on start.
	redis-cli -p "$port" SHUTDOWN SAVE >/dev/null 2>&1
	wait_for 10 test ! -e "$dir/redis.pid"
	for i in $(seq 1 100); do echo "b$i" >&7; done
	wait_for 10 test -s "$T/spool/rflap.journal"
	redis_start "$dir" "$port" 3>&- 7>&-   # the daemon must not hold the fifo open
	sleep 1.2
	for i in $(seq 1 100); do echo "c$i" >&7; done
	wait_for 10 llen_at "$port" rflap -ge 1
	exec 7>&-
	wait "$pid"
	[ "$(grep -c 'Redis unavailable' "$T/err")" -eq 1 ]
	{ seq 1 100 | sed 's/^/a/'; seq 1 100 | sed 's/^/b/'; seq 1 100 | sed 's/^/c/'; } >"$T/want"
	db_lines "$db" rflap | cmp - "$T/want"
	redis_stop "$dir"
}

@test "two emitters on one thread never share a seq (Redis and spool)" {
	redis_reset
	seq 1 5000 | sed 's/^/x/' | bcast-emit -t shared --redis "$BCAST_TEST_REDIS" --no-flush --hub "$(closed_url http)" 2>/dev/null 3>&- &
	local a=$!
	seq 1 5000 | sed 's/^/y/' | bcast-emit -t shared --redis "$BCAST_TEST_REDIS" --no-flush --hub "$(closed_url http)" 2>/dev/null 3>&- &
	local b=$!
	wait "$a" && wait "$b"
	[ "$(redis_cli LRANGE logs:queue:shared 0 -1 | python3 -c 'import sys, json
print(len({json.loads(l)["seq"] for l in sys.stdin}))')" -eq 10000 ]

	local db
	db=$(sqlite_db)
	seq 1 5000 | bcast-emit -t shared2 --redis none --spool "$T/sp" --no-flush --hub "$(closed_url http)" 2>/dev/null 3>&- &
	a=$!
	seq 1 5000 | bcast-emit -t shared2 --redis none --spool "$T/sp" --no-flush --hub "$(closed_url http)" 2>/dev/null 3>&- &
	b=$!
	wait "$a" && wait "$b"
	bcast-flush -t shared2 --redis none --spool "$T/sp" --db "$db" 2>/dev/null
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='shared2'")" -eq 10000 ]
}

@test "pipe mode: SIGTERM stores what was read, posts run_cancelled, exits 143" {
	start_hub
	sse_subscribe "$BCAST_HUB/api/admin-events/stream" "$T/admin"
	local db
	db=$(sqlite_db)
	mkfifo "$T/fifo"
	bcast-emit -t term1 --redis none --db "$db" <"$T/fifo" 2>/dev/null 3>&- &
	local pid=$!
	BC_PIDS+=("$pid")
	exec 7>"$T/fifo"
	printf 'one\ntwo\npartial' >&7
	wait_for 10 grep -q run_started "$T/admin"
	sleep 0.3
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	exec 7>&-
	[ "$rc" -eq 143 ]
	[ "$(db_lines "$db" term1 | tr '\n' ' ')" = "one two partial " ]
	wait_for 10 grep -q run_cancelled "$T/admin"
	sse_data "$T/admin" | grep run_cancelled | grep -q '"signal":15'
	[ "$(sql "$db" "SELECT status FROM thread_runs WHERE thread_id='term1'")" = cancelled ]
}

@test "command mode: SIGTERM is passed on to the command, whose status is kept" {
	local db
	db=$(sqlite_db)
	bcast-emit -t term2 --redis none --db "$db" --hub "$(closed_url http)" -- \
		sh -c 'trap "echo got-term; exit 5" TERM; echo ready; while :; do sleep 0.1; done' 2>/dev/null 3>&- &
	local pid=$!
	BC_PIDS+=("$pid")
	wait_for 10 grep -q ready "$T/state/bcast/spool/term2.journal"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 5 ]
	[ "$(db_lines "$db" term2 | tr '\n' ' ')" = "ready got-term " ]
}

@test "DB down: the flush fails with a warning, lines stay buffered; pipe exit 75, command keeps its status" {
	redis_reset
	local bad="postgresql://postgres@127.0.0.1:$(free_port)/nope"
	run bcast-emit -t dbdown --redis "$BCAST_TEST_REDIS" --db "$bad" --hub "$(closed_url http)" < <(seq 1 500)
	[ "$status" -eq 75 ]
	[[ "$output" == *"bcast-emit: flush failed ("*"); lines stay buffered, run bcast-flush later"* ]]
	[ "$(redis_cli LLEN logs:queue:dbdown)" -eq 500 ]
	run bcast-emit -t dbdown2 --redis "$BCAST_TEST_REDIS" --db "$bad" --hub "$(closed_url http)" -- sh -c 'echo x; exit 4'
	[ "$status" -eq 4 ]
	[ "$(redis_cli LLEN logs:queue:dbdown2)" -eq 1 ]
}
