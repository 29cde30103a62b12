#!/usr/bin/env bats
# flush.bats - bcast-flush against real Redis, SQLite and PostgreSQL:
# lists and spool journals end up in thread_logs exactly once, reruns
# double nothing, unreachable services leave the data where it was (exit
# 75), and two flushers racing on one list store every record once.
#
# Records are generated here (awk) and pushed with redis-cli or written to
# journal files directly, so these tests depend on no other bcast program.

load helpers

setup() {
	bc_setup
	redis_reset
	SPOOL="$XDG_STATE_HOME/bcast/spool"
}
teardown() { bc_teardown; }

# records TID FROM TO: NDJSON log records of TID for seq FROM..TO.
records() {
	seq "$2" "$3" | awk -v t="$1" '{
		printf "{\"thread_id\":\"%s\",\"seq\":%d,\"ts\":\"2026-11-25T19:08:10.%06dZ\",", t, $1, $1 % 1000000
		printf "\"stream\":\"stdout\",\"line\":\"line %d of %s \\\"q\\\" \\\\ end\"}\n", $1, t
	}'
}

# lines TID FROM TO: the line texts those records carry.
lines() { seq "$2" "$3" | awk -v t="$1" '{ printf "line %d of %s \"q\" \\ end\n", $1, t }'; }

# seed TID FROM TO: RPUSH the records to logs:queue:TID.
seed() {
	records "$@" | xargs -d '\n' -n 1000 redis-cli -p "$BCAST_TEST_REDIS_PORT" \
		RPUSH "logs:queue:$1" >/dev/null
}

# journal TID FROM TO: append the records to TID's spool journal.
journal() {
	mkdir -p "$SPOOL"
	records "$@" >>"$SPOOL/$1.journal"
}

count() { sql "$1" "SELECT count(*) FROM thread_logs WHERE thread_id='$2'"; }
stored_lines() { sql "$1" "SELECT line FROM thread_logs WHERE thread_id='$2' ORDER BY seq"; }

new_db() {
	case $1 in
	sqlite) sqlite_db ;;
	pg) pg_new_db ;;
	esac
}

redis_to_table() {
	local db
	db=$(new_db "$1")
	seed run-42 1 3000
	seed run-43 1 500
	run bcast-flush -t run-42 --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[ "$output" = "bcast-flush: run-42: 3000 lines moved (3000 new, 0 already stored)" ]
	[ "$(count "$db" run-42)" -eq 3000 ]
	lines run-42 1 3000 >"$T/want"
	stored_lines "$db" run-42 >"$T/got"
	cmp "$T/want" "$T/got"
	[ "$(sql "$db" "SELECT ts FROM thread_logs WHERE thread_id='run-42' AND seq=7")" != "" ]
	[ "$(redis_cli EXISTS logs:queue:run-42)" -eq 0 ]
	# The other thread was not touched by -t run-42.
	[ "$(redis_cli LLEN logs:queue:run-43)" -eq 500 ]
	[ "$(count "$db" run-43)" -eq 0 ]

	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 thread: 500 lines moved (500 new, 0 already stored)"* ]]
	[ "$(count "$db" run-43)" -eq 500 ]

	# A second drain finds nothing and changes nothing.
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 lines moved"* ]]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs")" -eq 3500 ]

	# Records that were stored but not yet removed (a flusher killed after
	# its commit) are skipped, not doubled.
	seed run-42 2001 3000
	run bcast-flush -t run-42 --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[ "$output" = "bcast-flush: run-42: 1000 lines moved (0 new, 1000 already stored)" ]
	[ "$(count "$db" run-42)" -eq 3000 ]
	[ "$(redis_cli EXISTS logs:queue:run-42)" -eq 0 ]
}

@test "Redis lists reach the table exactly once (SQLite)" { redis_to_table sqlite; }
@test "Redis lists reach the table exactly once (PostgreSQL)" { redis_to_table pg; }

spool_only() {
	local db
	db=$(new_db "$1")
	journal spool-a 1 1200
	journal spool-b 1 10
	export BCAST_REDIS=none BCAST_DB=$db
	run bcast-flush --all --batch 500
	[ "$status" -eq 0 ]
	[ "$output" = "bcast-flush: 2 threads: 1210 lines moved (1210 new, 0 already stored)" ]
	lines spool-a 1 1200 >"$T/want"
	stored_lines "$db" spool-a >"$T/got"
	cmp "$T/want" "$T/got"
	[ "$(count "$db" spool-b)" -eq 10 ]
	# The journals are gone once committed; the seq counters are not journals.
	[ -z "$(ls "$SPOOL" | grep journal)" ]
	run bcast-flush --all
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 lines moved"* ]]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs")" -eq 1210 ]
}

@test "--redis none flushes the spool only (SQLite)" { spool_only sqlite; }
@test "--redis none flushes the spool only (PostgreSQL)" { spool_only pg; }

torn_tail() {
	local db
	db=$(new_db "$1")
	journal torn 1 100
	# A writer killed mid-record: the journal ends inside a record.
	records torn 101 101 | head -c 40 >>"$SPOOL/torn.journal"
	run bcast-flush -t torn --redis none --db "$db"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 invalid records skipped"* ]]
	[[ "$output" == *"torn: 100 lines moved (100 new, 0 already stored)"* ]]
	lines torn 1 100 >"$T/want"
	stored_lines "$db" torn >"$T/got"
	cmp "$T/want" "$T/got"
	[ ! -e "$SPOOL/torn.journal" ]
}

@test "a torn spool tail keeps the lines before it (SQLite)" { torn_tail sqlite; }
@test "a torn spool tail keeps the lines before it (PostgreSQL)" { torn_tail pg; }

redis_down() {
	local db port
	db=$(new_db "$1")
	port=$(free_port)
	seed down 1 300
	journal down 301 400
	run bcast-flush -t down --redis "redis://127.0.0.1:$port" --db "$db"
	[ "$status" -eq 75 ]
	[[ "$output" == *"bcast-flush: cannot connect to Redis at 127.0.0.1:$port: Connection refused"* ]]
	[[ "$output" == *"flushed the spool only; the Redis lists are left for the next run"* ]]
	# The spool went in; what Redis holds stays there untouched.
	[ "$(count "$db" down)" -eq 100 ]
	[ ! -e "$SPOOL/down.journal" ]
	[ "$(redis_cli LLEN logs:queue:down)" -eq 300 ]
	# With nothing in the spool it still says 75: the run is not done.
	run bcast-flush --all --redis "redis://127.0.0.1:$port" --db "$db"
	[ "$status" -eq 75 ]
	# Redis back: the rest arrives, nothing doubled.
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[ "$(count "$db" down)" -eq 400 ]
	lines down 1 400 >"$T/want"
	stored_lines "$db" down >"$T/got"
	cmp "$T/want" "$T/got"
}

@test "Redis unreachable: exit 75, the spool is flushed, the list stays (SQLite)" { redis_down sqlite; }
@test "Redis unreachable: exit 75, the spool is flushed, the list stays (PostgreSQL)" { redis_down pg; }

db_down() {
	local port db
	port=$(free_port)
	seed keep 1 2000
	journal keep 2001 2100
	redis_cli LRANGE logs:queue:keep 0 -1 >"$T/before"
	run bcast-flush -t keep --redis "$BCAST_TEST_REDIS" --db "$1://postgres@127.0.0.1:$port/x"
	[ "$status" -eq 75 ]
	[[ "$output" == *"bcast-flush: cannot connect to PostgreSQL: "*"$port"*"Connection refused"* ]]
	[ "${#lines[@]}" -eq 1 ]
	redis_cli LRANGE logs:queue:keep 0 -1 >"$T/after"
	cmp "$T/before" "$T/after"
	[ "$(wc -l <"$SPOOL/keep.journal")" -eq 100 ]
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$1://postgres@127.0.0.1:$port/x"
	[ "$status" -eq 75 ]
	cmp "$T/before" <(redis_cli LRANGE logs:queue:keep 0 -1)
	# The database back: everything arrives.
	db=$(pg_new_db)
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[ "$(count "$db" keep)" -eq 2100 ]
}

@test "DB unreachable: exit 75, the Redis list and the spool are untouched" { db_down postgresql; }
@test "DB unreachable (postgres:// URL): exit 75, nothing touched" { db_down postgres; }

@test "an unusable SQLite path: exit 75, the list is untouched" {
	seed keep 1 10
	mkdir "$T/ro"
	run bcast-flush -t keep --redis "$BCAST_TEST_REDIS" --db "sqlite:$T/ro"
	[ "$status" -eq 75 ]
	[[ "$output" == *"cannot open SQLite database $T/ro"* ]]
	[ "$(redis_cli LLEN logs:queue:keep)" -eq 10 ]
}

@test "bad thread ids and bad usage: exit 64" {
	local db
	db=$(sqlite_db)
	for t in 'a/b' '..' '' 'a b' "x'; DROP TABLE thread_logs; --" "$(printf 'x%.0s' {1..129})"; do
		run bcast-flush -t "$t" --redis none --db "$db"
		[ "$status" -eq 64 ]
		[[ "$output" == *"bcast-flush: invalid thread id"* ]]
		[[ "$output" == *"Try 'bcast-flush --help'"* ]]
	done
	run bcast-flush -t "$(printf 'x%.0s' {1..128})" --redis none --db "$db"
	[ "$status" -eq 0 ]
	run bcast-flush --redis none --db "$db"
	[ "$status" -eq 64 ]
	run bcast-flush -t a --all --redis none --db "$db"
	[ "$status" -eq 64 ]
	run bcast-flush -t a --batch 0 --redis none --db "$db"
	[ "$status" -eq 64 ]
	run bcast-flush -t a --redis none --db "$db" extra
	[ "$status" -eq 64 ]
	run bcast-flush --all --redis none --db "mysql://x"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad database URL"* ]]
}

@test "records that are not JSON records are skipped, counted and trimmed" {
	local db
	db=$(sqlite_db)
	seed junk 1 5
	redis_cli RPUSH logs:queue:junk 'not json' '{"thread_id":"junk","seq":-1,"line":"x"}' >/dev/null
	seed junk 6 10
	run bcast-flush -t junk --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 invalid records skipped"* ]]
	[[ "$output" == *"junk: 10 lines moved (10 new, 0 already stored)"* ]]
	[ "$(count "$db" junk)" -eq 10 ]
	[ "$(redis_cli EXISTS logs:queue:junk)" -eq 0 ]
}

@test "-q prints nothing on success; env BCAST_* is used, flags win" {
	local db
	db=$(sqlite_db)
	seed quiet 1 10
	export BCAST_REDIS=redis://127.0.0.1:1 BCAST_DB=$db
	run bcast-flush -q -t quiet --redis "$BCAST_TEST_REDIS"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(count "$db" quiet)" -eq 10 ]
}

concurrent() {
	local db a b
	db=$(new_db "$1")
	seed race 1 50000
	[ "$(redis_cli LLEN logs:queue:race)" -eq 50000 ]
	bcast-flush -t race --batch 1000 --redis "$BCAST_TEST_REDIS" --db "$db" 2>"$T/a.err" &
	a=$!
	bcast-flush -t race --batch 700 --redis "$BCAST_TEST_REDIS" --db "$db" 2>"$T/b.err" &
	b=$!
	BC_PIDS+=("$a" "$b")
	wait "$a" || { cat "$T/a.err"; false; }
	wait "$b" || { cat "$T/b.err"; false; }
	cat "$T/a.err" "$T/b.err"
	[ "$(count "$db" race)" -eq 50000 ]
	[ "$(sql "$db" "SELECT count(DISTINCT seq) FROM thread_logs WHERE thread_id='race'")" -eq 50000 ]
	[ "$(sql "$db" "SELECT min(seq) || ' ' || max(seq) FROM thread_logs WHERE thread_id='race'")" = "1 50000" ]
	[ "$(redis_cli EXISTS logs:queue:race)" -eq 0 ]
}

@test "two flushers on one 50,000-record list store exactly 50,000 rows (SQLite)" { concurrent sqlite; }
@test "two flushers on one 50,000-record list store exactly 50,000 rows (PostgreSQL)" { concurrent pg; }

@test "a Redis with a password and a database number: AUTH and SELECT" {
	local port db
	port=$(free_port)
	db=$(sqlite_db)
	redis_start "$T/redis" "$port" --requirepass 's3cret'
	BC_PIDS+=("$(cat "$T/redis/redis.pid")")
	records auth 1 20 | xargs -d '\n' redis-cli -p "$port" -a s3cret --no-auth-warning \
		-n 3 RPUSH logs:queue:auth >/dev/null
	run bcast-flush -t auth --redis "redis://:wrong@127.0.0.1:$port/3" --db "$db"
	[ "$status" -eq 75 ]
	[[ "$output" == *"cannot connect to Redis at 127.0.0.1:$port: "* ]]
	[ "$(redis-cli -p "$port" -a s3cret --no-auth-warning -n 3 LLEN logs:queue:auth)" -eq 20 ]
	run bcast-flush -t auth --redis "redis://:s3cret@127.0.0.1:$port/3" --db "$db"
	[ "$status" -eq 0 ]
	[ "$output" = "bcast-flush: auth: 20 lines moved (20 new, 0 already stored)" ]
	[ "$(count "$db" auth)" -eq 20 ]
	[ "$(redis-cli -p "$port" -a s3cret --no-auth-warning -n 3 EXISTS logs:queue:auth)" -eq 0 ]
	redis_stop "$T/redis"
}

@test "Redis failing half way: exit 75, what was committed stays, the spool still drains" {
	local db
	db=$(sqlite_db)
	seed aaa 1 100
	redis_cli SET logs:queue:bbb not-a-list >/dev/null
	seed ccc 1 100
	journal sp 1 50
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 75 ]
	[[ "$output" == *"WRONGTYPE"* ]]
	[[ "$output" == *"flushed the spool only"* ]]
	[ "$(count "$db" aaa)" -eq 100 ]
	[ "$(count "$db" sp)" -eq 50 ]
	[ "$(redis_cli LLEN logs:queue:ccc)" -eq 100 ]
	redis_cli DEL logs:queue:bbb >/dev/null
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[ "$(count "$db" ccc)" -eq 100 ]
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs")" -eq 250 ]
}

queue_below() { [ "$(redis_cli LLEN "logs:queue:$1")" -lt "$2" ]; }

killed() {
	local db pid left
	db=$(new_db "$1")
	seed killed 1 50000
	journal killed 50001 60000
	bcast-flush --all --batch 10 --redis "$BCAST_TEST_REDIS" --db "$db" 2>/dev/null &
	pid=$!
	BC_PIDS+=("$pid")
	wait_for 10 queue_below killed 49000
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	left=$(redis_cli LLEN logs:queue:killed)
	echo "left in Redis after kill -9: $left"
	[ "$left" -gt 0 ]
	run bcast-flush --all --redis "$BCAST_TEST_REDIS" --db "$db"
	[ "$status" -eq 0 ]
	[ "$(count "$db" killed)" -eq 60000 ]
	[ "$(sql "$db" "SELECT count(DISTINCT seq) FROM thread_logs WHERE thread_id='killed'")" -eq 60000 ]
	[ "$(redis_cli EXISTS logs:queue:killed)" -eq 0 ]
	[ -z "$(ls "$SPOOL" | grep journal)" ]
}

@test "a flusher killed with SIGKILL half way: the rerun completes, nothing doubled (SQLite)" { killed sqlite; }
@test "a flusher killed with SIGKILL half way: the rerun completes, nothing doubled (PostgreSQL)" { killed pg; }

@test "--all on a terminal shows a progress line (threads, lines, rate); not when stderr is a file, nor with -q" {
	local db
	db=$(new_db sqlite)
	journal prog-a 1 3000
	journal prog-b 1 3000
	journal prog-c 1 3000
	export BCAST_REDIS=none BCAST_DB=$db
	# script(1) gives the flush a terminal for its standard error.
	script -qec "bcast-flush --all --batch 1000" /dev/null >"$T/tty" 2>&1
	grep -aEq 'bcast-flush: [0-3]/3 threads \(prog-[abc]\), [0-9]+ lines, [0-9]+ lines/s' "$T/tty"
	grep -aq 'bcast-flush: 3 threads: 9000 lines moved' "$T/tty"
	[ "$(count "$db" prog-c)" -eq 3000 ]
	journal prog-d 1 100
	bcast-flush --all 2>"$T/file"
	run grep -c 'lines/s' "$T/file"
	[ "$output" -eq 0 ]
	journal prog-e 1 100
	script -qec "bcast-flush --all -q" /dev/null >"$T/quiet" 2>&1
	[ ! -s "$T/quiet" ]
}
