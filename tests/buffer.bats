#!/usr/bin/env bats
# buffer.bats - the durable buffer's promises, end to end with bcast-emit,
# bcast-flush and bcast-event against real Redis, SQLite and PostgreSQL:
# a seq is never reused for a different line (Redis lost everything, the
# DB down at the start, Redis and spool emitters on one thread), a stored
# row that differs is reported with both lines, no Redis on the default
# address is no error, and a malformed URL stops a program before it
# reads any input.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	bc_setup
	redis_reset
}
teardown() { bc_teardown; }

closed_url() { echo "$1://127.0.0.1:$(free_port)"; }

count() { sql "$1" "SELECT count(*) || ' ' || count(DISTINCT seq) FROM thread_logs WHERE thread_id='$2'"; }
db_lines() { sql "$1" "SELECT line FROM thread_logs WHERE thread_id='$2' ORDER BY seq"; }

# collision NO_FLUSH DB_DOWN OTHER_MACHINE: emit 1-500 on a thread and
# flush; Redis loses everything; emit 501-800 (with --no-flush or not,
# with the DB unreachable at its start or not, from this machine's state
# or a fresh one); `bcast-flush --all`: 800 distinct rows, in order.
collision() {
	local no_flush=$1 db_down=$2 other=$3 db second_db tid=reuse
	db=$(pg_new_db)
	export BCAST_REDIS=$BCAST_TEST_REDIS BCAST_HUB=$(closed_url http)
	seq 1 500 | bcast-emit -t $tid --db "$db" 2>/dev/null
	[ "$(count "$db" $tid)" = "500 500" ]
	redis_cli FLUSHALL >/dev/null          # a Redis that keeps nothing restarted
	second_db=$db
	[ "$db_down" = down ] && second_db="postgresql://postgres@127.0.0.1:$(free_port)/gone"
	[ "$other" = other ] && export XDG_STATE_HOME="$T/other-machine"
	local args=(-t $tid --db "$second_db")
	[ "$no_flush" = no-flush ] && args+=(--no-flush)
	run bcast-emit "${args[@]}" < <(seq 501 800)
	if [ "$db_down" = down ] && [ "$no_flush" != no-flush ]; then
		[ "$status" -eq 75 ]
	else
		[ "$status" -eq 0 ]
	fi
	run bcast-flush --all --db "$db"
	[ "$status" -eq 0 ]
	[[ "$output" != *"already stored"*[1-9]* ]] || [[ "$output" == *"(300 new"* ]] ||
		[[ "$output" == *"0 lines moved"* ]]
	[ "$(count "$db" $tid)" = "800 800" ]
	seq 1 800 | cmp - <(db_lines "$db" $tid)
}

@test "Redis lost everything, then --no-flush: 800 distinct rows" { collision no-flush up same; }
@test "Redis lost everything, then a flushing emit: 800 distinct rows" { collision flush up same; }
@test "Redis lost everything, DB down at the start (--no-flush): 800 distinct rows" { collision no-flush down same; }
@test "Redis lost everything, DB down at the start (flushing, 75): 800 distinct rows" { collision flush down same; }
@test "Redis lost everything, another machine's emitter (DB floor): 800 distinct rows" { collision no-flush up other; }
@test "Redis lost everything, another machine's emitter, DB down (time floor): 800 distinct rows" { collision no-flush down other; }

@test "a stored row with the same seq and another line: exit 65 naming both lines, both kept" {
	local db
	db=$(sqlite_db)
	seq 1 3 | sed 's/^/stored line /' | bcast-emit -t clash --redis none --db "$db" --hub "$(closed_url http)"
	echo 'x' | bcast-emit -t other --redis none --no-flush --hub "$(closed_url http)"
	# A record with seq 2 and another line, as an emitter that lost count
	# would have written it.
	mkdir -p "$T/state/bcast/spool"
	printf '%s\n' '{"thread_id":"clash","seq":2,"ts":"2026-11-25T19:08:10.000001Z","stream":"stdout","line":"a different line"}' \
		>>"$T/state/bcast/spool/clash.journal"
	run bcast-flush -t clash --redis none --db "$db"
	[ "$status" -eq 65 ]
	[[ "$output" == *"bcast-flush: seq 2 of thread clash is stored with another line: stored 'stored line 2', buffered 'a different line'"* ]]
	[[ "$output" != *"already stored"* ]]
	[ "$(db_lines "$db" clash | tr '\n' '|')" = "stored line 1|stored line 2|stored line 3|" ]
	[ -n "$(ls "$T/state/bcast/spool" | grep '^clash\.journal')" ]
	# --all still moves the other threads, and says the same.
	run bcast-flush --all --redis none --db "$db"
	[ "$status" -eq 65 ]
	[[ "$output" == *"stored 'stored line 2', buffered 'a different line'"* ]]
	[ "$(db_lines "$db" other)" = x ]
	# PostgreSQL says the same.
	local pg
	pg=$(pg_new_db)
	seq 1 3 | sed 's/^/stored line /' | bcast-emit -t clash2 --redis none --db "$pg" --hub "$(closed_url http)"
	printf '%s\n' '{"thread_id":"clash2","seq":3,"ts":"2026-11-25T19:08:10.000001Z","stream":"stdout","line":"not line 3"}' \
		>>"$T/state/bcast/spool/clash2.journal"
	run bcast-flush -t clash2 --redis none --db "$pg"
	[ "$status" -eq 65 ]
	[[ "$output" == *"seq 3 of thread clash2 is stored with another line: stored 'stored line 3', buffered 'not line 3'"* ]]
}

@test "two emitters on one thread, one through Redis and one with BCAST_REDIS=none, 50,000 lines each: 100,000 rows" {
	local db
	db=$(sqlite_db)
	export BCAST_HUB=$(closed_url http)
	seq 1 50000 | sed 's/^/r/' | bcast-emit -t mixed --redis "$BCAST_TEST_REDIS" --no-flush 2>"$T/a.err" 3>&- &
	local a=$!
	seq 1 50000 | sed 's/^/s/' | BCAST_REDIS=none bcast-emit -t mixed --no-flush 2>"$T/b.err" 3>&- &
	local b=$!
	BC_PIDS+=("$a" "$b")
	wait "$a"
	wait "$b"
	# The spool-only one has nothing to say about Redis.
	run ! grep -qE 'Redis unavailable|to Redis' "$T/b.err"
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[[ "$output" == *"100000 lines moved (100000 new, 0 already stored)"* ]]
	[ "$(count "$db" mixed)" = "100000 100000" ]
	# Each emitter's lines are in its own order.
	[ "$(sql "$db" "SELECT line FROM thread_logs WHERE thread_id='mixed' AND line LIKE 'r%' ORDER BY seq" | sed 's/^r//' | sort -nc && echo sorted)" = sorted ]
	[ "$(sql "$db" "SELECT line FROM thread_logs WHERE thread_id='mixed' AND line LIKE 's%' ORDER BY seq" | sed 's/^s//' | sort -nc && echo sorted)" = sorted ]
}

# quiet_default: emit and flush with BCAST_REDIS unset and nothing on
# 127.0.0.1:6379 (run here, or in a private network namespace when
# something here listens on 6379). Prints "EMIT_ERR<...>", the flush's
# status and output, and the rows stored.
quiet_default_script() {
	cat <<'SH'
set -u
db=$1 hub_port=$2
bcast-hub --listen "127.0.0.1:$hub_port" --db "$db" 2>/dev/null &
hub=$!
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$hub_port/healthz" >/dev/null && break; sleep 0.1; done
export BCAST_HUB="http://127.0.0.1:$hub_port" BCAST_DB=$db
seq 1 100 | bcast-emit -t quiet1 --no-flush 2>"$T/emit.err"
echo "emit=$? err=[$(cat "$T/emit.err")]"
bcast-flush --all -q >"$T/flush.out" 2>&1
echo "flush=$? out=[$(cat "$T/flush.out")]"
bcast-flush --all -q >"$T/flush.out" 2>&1
echo "again=$? out=[$(cat "$T/flush.out")]"
echo "rows=$(sqlite3 "${db#sqlite:}" "SELECT count(*) FROM thread_logs WHERE thread_id='quiet1'")"
kill "$hub"; wait "$hub" 2>/dev/null
SH
}

@test "no BCAST_REDIS and nothing on the default address: emit says nothing, flush --all -q exits 0 silently" {
	local db
	db=$(sqlite_db)
	quiet_default_script >"$T/quiet.sh"
	if [ -z "$(ss -Hltn 'sport = :6379' 2>/dev/null)" ]; then
		run bash "$T/quiet.sh" "$db" "$(free_port)"
	else
		# Something listens on 6379 here: a private network namespace has
		# only its own loopback, where nothing does.
		run unshare -n bash -c 'ip link set lo up && exec bash "$0" "$@"' "$T/quiet.sh" "$db" 18090
	fi
	echo "$output"
	[[ "$output" == *"emit=0 err=[]"* ]]
	[[ "$output" == *"flush=0 out=[]"* ]]
	[[ "$output" == *"again=0 out=[]"* ]]
	[[ "$output" == *"rows=100"* ]]
	# The same Redis address asked for, and down: loud, 75.
	run bcast-flush --all -q --redis "redis://127.0.0.1:$(free_port)"
	[ "$status" -eq 75 ]
	[[ "$output" == *"cannot connect to Redis"* ]]
}

# fast_fail CMD...: CMD exits 64 at once with stdin endless (/dev/zero):
# it did not read its input.
fast_fail() {
	run -64 timeout 10 "$@" </dev/zero
	[[ "$output" == *"${FAIL_TEXT}"* ]] || { echo "want: $FAIL_TEXT"; false; }
}

@test "a malformed --db, --redis or --hub exits 64 before reading stdin, naming the value and what is expected" {
	FAIL_TEXT="bcast-emit: bad database URL 'x': expected sqlite:PATH or postgresql://"
	fast_fail bcast-emit -t u --db x
	FAIL_TEXT="bcast-emit: bad database URL '/tmp/x.db': expected sqlite:PATH"
	fast_fail env BCAST_DB=/tmp/x.db bcast-emit -t u
	FAIL_TEXT="bcast-emit: bad database URL 'postgresql://h/d?nope=1': invalid URI query parameter"
	fast_fail bcast-emit -t u --db 'postgresql://h/d?nope=1'
	FAIL_TEXT="bcast-emit: bad Redis URL 'http://x:6379': expected redis://[:PASSWORD@]HOST[:PORT][/DB] or 'none'"
	fast_fail bcast-emit -t u --redis http://x:6379
	FAIL_TEXT="bcast-emit: bad hub URL 'ftp://h': expected http://HOST[:PORT] or https://HOST[:PORT]"
	fast_fail bcast-emit -t u --hub ftp://h
	[[ "$output" != *"redis://"* ]]
	FAIL_TEXT="bcast-emit: bad hub URL: invalid address 'http://h:0': bad port"
	fast_fail bcast-emit -t u --hub http://h:0 -- cat
	FAIL_TEXT="bcast-flush: bad database URL 'x'"
	fast_fail bcast-flush --all --db x
	FAIL_TEXT="bcast-flush: bad Redis URL 'redis:/x'"
	fast_fail bcast-flush --all --redis redis:/x
	FAIL_TEXT="bcast-event: bad database URL 'x'"
	fast_fail bcast-event -t u --db x run_completed
	# Nothing was created or posted.
	[ ! -e "$T/state/bcast" ]
}

@test "a DB that refuses the credentials exits 69 before reading stdin" {
	local bad="postgresql://postgres@127.0.0.1:$BCAST_TEST_PG_PORT/no_such_db_here"
	run -69 timeout 10 bcast-emit -t u --redis none --db "$bad" </dev/zero
	[[ "$output" == *"bcast-emit: cannot connect to PostgreSQL: "*"no_such_db_here"*"does not exist"* ]]
	run -69 bcast-flush --all --redis none --db "$bad"
	# A DB that is only down is no reason to refuse the run.
	run bcast-emit -t u2 --redis none --no-flush --hub "$(closed_url http)" \
		--db "postgresql://postgres@127.0.0.1:$(free_port)/x" <<<"kept"
	[ "$status" -eq 0 ]
	grep -q '"line":"kept"}$' "$T/state/bcast/spool/u2.journal"
}
