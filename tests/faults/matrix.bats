#!/usr/bin/env bats
# matrix.bats - the "nothing lost" proof. Each case pipes BCAST_FAULT_LINES
# (200,000) numbered lines, paced over BCAST_FAULT_SECONDS (5) seconds,
# through bcast-emit while one part of the system is killed with SIGKILL: the
# hub (emit must neither block nor lose anything, and a restarted hub serves
# again); the flusher, killed at random moments mid-batch while it loops; Redis,
# killed and restarted from its AOF on the same port (emit must fall back to
# the spool and come back); PostgreSQL, postmaster and backends killed and
# restarted (flushers report 75 and keep the data); and Redis down for the
# whole run (spool only). After recovery and `bcast-flush --all`, thread_logs
# must hold every number exactly once and, ordered by seq, read 1..N — on
# SQLite and on PostgreSQL. Killing bcast-emit itself may lose only what was
# still in the pipe or inside its documented hand-off window, never duplicate,
# and what is stored is exactly a prefix 1..K of what was written; when the
# input had been idle for longer than the window, nothing at all is lost.
# Each case prints "sent/stored/duplicates" in the TAP output.

load ../helpers
load faults

setup() { fault_setup; }
teardown() { fault_teardown; }

# db_for KIND: a fresh database URL (sqlite or the shared PostgreSQL).
db_for() { if [ "$1" = sqlite ]; then sqlite_db; else pg_new_db; fi; }

# use DB REDIS: the configuration every program of the case shares.
use() {
	export BCAST_DB=$1 BCAST_REDIS=$2 BCAST_SPOOL="$T/spool"
}

emit_ok() {
	if [ "$EMIT_RC" -ne 0 ]; then
		echo "bcast-emit exited $EMIT_RC:"; cat "$T/emit.err"; return 1
	fi
}

# emit_not_blocked: the run took about as long as its input (the pacing),
# not noticeably more: nothing made emit wait.
emit_not_blocked() {
	local limit=$(( FAULT_SECONDS * 1000 * 2 + 5000 ))
	if [ "$EMIT_MS" -gt "$limit" ]; then
		echo "bcast-emit took ${EMIT_MS} ms for a ${FAULT_SECONDS}s input (limit ${limit} ms)"
		return 1
	fi
}

hub_case() {
	local kind=$1 tid="hub-kill-$1" db
	db=$(db_for "$kind")
	own_redis
	use "$db" "$OWN_REDIS_URL"
	local port
	port=$(free_port)
	hub_on "$port" --db "$db"
	start_emit "$tid"
	sleep_frac 0.3
	kill -9 "$HUB_PID"
	wait_pid "$HUB_PID" 5
	sleep_frac 0.3
	# Restarted on the same port, the hub serves the run's next lines.
	hub_on "$port" --db "$db"
	curl -sN --max-time "$(( FAULT_SECONDS + 10 ))" "$BCAST_HUB/api/runs/$tid/logs/stream" \
		>"$T/sub.sse" 2>/dev/null 3>&- &
	BC_PIDS+=($!)
	wait_emit
	emit_ok
	emit_not_blocked
	local live
	live=$(grep -c '^data:' "$T/sub.sse" || true)
	[ "$live" -gt 0 ] || { echo "no line reached a subscriber of the restarted hub"; cat "$HUB_LOG"; false; }
	final_flush
	check_stored exact "hub kill -9 ($kind)" "$db" "$tid" "$FAULT_LINES" \
		"emit ${EMIT_MS} ms; $live lines live after hub restart"
}

@test "fault: hub killed -9 mid-run, restarted (SQLite)" { hub_case sqlite; }
@test "fault: hub killed -9 mid-run, restarted (PostgreSQL)" { hub_case pg; }

# A hub that hangs (SIGSTOP: the kernel still accepts connections, nothing
# answers) is worse than a dead one for a client that waits.
@test "fault: hub frozen (SIGSTOP) mid-run, then resumed (PostgreSQL)" {
	local tid=hub-freeze db
	db=$(pg_new_db)
	own_redis
	use "$db" "$OWN_REDIS_URL"
	hub_on "$(free_port)" --db "$db"
	start_emit "$tid"
	sleep_frac 0.2
	freeze "$HUB_PID"
	# Frozen, the hub accepts connections but answers nothing.
	run curl -s --max-time 1 "$BCAST_HUB/healthz"
	[ "$status" -ne 0 ] || { echo "the frozen hub answered: $output"; false; }
	sleep_frac 0.5
	thaw "$HUB_PID"
	wait_emit
	emit_ok
	emit_not_blocked
	final_flush
	check_stored exact "hub SIGSTOP for 50% of the run (pg)" "$db" "$tid" "$FAULT_LINES" "emit ${EMIT_MS} ms"
}

# flusher_case KIND [spool]: with "spool", Redis is disabled and the killed
# flushers die holding claimed journals ({tid}.journal.flushing.*).
flusher_case() {
	local kind=$1 buffer=${2:-redis} tid="flusher-kill-$1-${2:-redis}" db
	db=$(db_for "$kind")
	if [ "$buffer" = spool ]; then
		use "$db" none
	else
		own_redis
		use "$db" "$OWN_REDIS_URL"
	fi
	start_emit "$tid" --no-flush --hub "http://127.0.0.1:$(free_port)"
	flush_killer 3>&- &
	local killer=$!
	BC_PIDS+=("$killer")
	wait_emit
	emit_ok
	stop_loops "$killer"
	local killed runs before
	killed=$(rc_count 137)
	runs=$(wc -l <"$T/flush.rcs")
	before=$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id='$tid'")
	# Flushers that were not killed finished cleanly.
	[ -z "$(rc_other 0 137)" ] || { echo "flusher exit statuses: $(rc_other 0 137)"; cat "$T/flush.err"; false; }
	# The case really killed flushers, and they really moved data meanwhile.
	[ "$killed" -ge 5 ] || { echo "only $killed of $runs flushers were killed"; false; }
	[ "$before" -gt 0 ] || { echo "the killed flushers never committed anything"; cat "$T/flush.err"; false; }
	final_flush
	check_stored exact "flusher kill -9 ($kind, $buffer)" "$db" "$tid" "$FAULT_LINES" \
		"$killed of $runs flushers killed; $before rows before the final flush"
	if [ "$buffer" = redis ]; then [ "$(own_redis_cli EXISTS "logs:queue:$tid")" -eq 0 ]; fi
	[ -z "$(ls "$T/spool" 2>/dev/null | grep journal || true)" ]
}

@test "fault: flusher killed -9 at random moments while looping (SQLite, Redis)" { flusher_case sqlite; }
@test "fault: flusher killed -9 at random moments while looping (PostgreSQL, Redis)" { flusher_case pg; }
@test "fault: flusher killed -9 at random moments while looping (SQLite, spool)" { flusher_case sqlite spool; }

# emit_state: what a stuck emitter is doing (for a failure message).
emit_state() {
	echo "input lines written so far: $(progress); spool: $(ls -l "$T/spool" 2>&1 | tr '\n' ' ')"
	echo "our Redis (pid $OWN_REDIS_PID): $(own_redis_alive && echo running || echo GONE), ping: $(own_redis_cli PING 2>&1)"
	echo "emit state: $(grep -E '^State' "/proc/$EMIT_PID/status" 2>&1); wchan: $(cat "/proc/$EMIT_PID/wchan" 2>&1)"
	ls -l "/proc/$EMIT_PID/fd" 2>&1 | sed 's/^/  fd /' | head -20
	if command -v gdb >/dev/null; then
		timeout 20 gdb -q -batch -p "$EMIT_PID" -ex 'thread apply all bt' 2>&1 | grep -E '^#|^Thread' | head -40
	fi
}

queue_grew() { [ "$(own_redis_cli LLEN "logs:queue:$1")" -gt "$2" ]; }

redis_case() {
	local kind=$1 tid="redis-kill-$1" db
	db=$(db_for "$kind")
	own_redis --appendonly yes --appendfsync always
	use "$db" "$OWN_REDIS_URL"
	start_emit "$tid" --hub "http://127.0.0.1:$(free_port)"
	sleep_frac 0.25
	local before after
	before=$(own_redis_cli LLEN "logs:queue:$tid")
	own_redis_kill9
	phase "redis killed, queue was $before"
	# While Redis is gone the lines go to the spool journal.
	wait_for 5 test -s "$T/spool/$tid.journal" ||
		{ echo "no spool journal while Redis was down"; ls -la "$T/spool" 2>&1; cat "$T/emit.err"; false; }
	sleep_frac 0.2
	phase "spool journal seen"
	own_redis_restart
	# Everything Redis acknowledged before the kill came back from the AOF...
	after=$(own_redis_cli LLEN "logs:queue:$tid")
	phase "redis restarted, queue is $after"
	[ "$after" -ge "$before" ] || { echo "queue had $before records before kill -9, $after after the AOF restart"; false; }
	# ... and emit uses Redis again while lines still flow.
	wait_for "$FAULT_SECONDS" queue_grew "$tid" "$after" ||
		{ echo "emit did not use Redis again after it came back (queue stays at $after)"; cat "$T/emit.err"; emit_state; false; }
	phase "queue grew: $(own_redis_cli LLEN "logs:queue:$tid")"
	wait_emit
	emit_ok
	final_flush
	check_stored exact "redis kill -9 + AOF restart ($kind)" "$db" "$tid" "$FAULT_LINES" \
		"queue $before before kill, $after after restart"
	[ "$(own_redis_cli EXISTS "logs:queue:$tid")" -eq 0 ]
	[ -z "$(ls "$T/spool" | grep "^$tid\.journal" || true)" ]
}

@test "fault: Redis killed -9, restarted from its AOF (SQLite)" { redis_case sqlite; }
@test "fault: Redis killed -9, restarted from its AOF (PostgreSQL)" { redis_case pg; }

@test "fault: PostgreSQL killed -9 (postmaster and backends), restarted" {
	local tid=pg-kill
	own_pg
	own_redis
	use "$OWN_PG_URL" "$OWN_REDIS_URL"
	flush_loop 200 3>&- &
	local loop=$!
	BC_PIDS+=("$loop")
	start_emit "$tid" --hub "http://127.0.0.1:$(free_port)"
	sleep_frac 0.3
	own_pg_kill9
	sleep_frac 0.3
	own_pg_restart
	wait_emit
	emit_ok
	stop_loops "$loop"
	local down
	down=$(rc_count 75)
	[ -z "$(rc_other 0 75)" ] || { echo "flusher exit statuses: $(rc_other 0 75)"; cat "$T/flush.err"; false; }
	[ "$down" -ge 1 ] || { echo "no flusher saw the database down (exit 75)"; cat "$T/flush.rcs"; false; }
	final_flush
	check_stored exact "postgres kill -9 + restart (pg)" "$OWN_PG_URL" "$tid" "$FAULT_LINES" \
		"$down flushes exited 75 while it was down"
}

# Redis hangs (SIGSTOP) for 3 s: emit's commands time out without knowing
# whether Redis took them, so the same records may end up both in Redis (once
# it resumes) and in the spool; the drain must store each once.
@test "fault: Redis frozen (SIGSTOP) for 3 s mid-run, then resumed (PostgreSQL)" {
	local tid=redis-freeze db
	db=$(pg_new_db)
	own_redis
	use "$db" "$OWN_REDIS_URL"
	start_emit "$tid" --hub "http://127.0.0.1:$(free_port)"
	sleep_frac 0.25
	freeze "$OWN_REDIS_PID"
	# Frozen, Redis answers nothing.
	run timeout 1 redis-cli -p "$OWN_REDIS_PORT" PING
	[ "$status" -ne 0 ] || { echo "the frozen Redis answered: $output"; false; }
	sleep 2
	thaw "$OWN_REDIS_PID"
	wait_emit
	emit_ok
	final_flush
	check_stored exact "redis SIGSTOP 3 s (pg)" "$db" "$tid" "$FAULT_LINES" "emit ${EMIT_MS} ms"
}

redis_down_case() {
	local kind=$1 tid="redis-down-$1" db port
	db=$(db_for "$kind")
	port=$(free_port)
	use "$db" "redis://127.0.0.1:$port"
	start_emit "$tid" --hub "http://127.0.0.1:$(free_port)"
	wait_for 5 test -s "$T/spool/$tid.journal" ||
		{ echo "no spool journal with Redis down"; cat "$T/emit.err"; false; }
	wait_emit
	emit_ok
	emit_not_blocked
	# Recovery: Redis comes up, the drain runs.
	OWN_REDIS_PORT=$port
	own_redis
	final_flush
	check_stored exact "redis down whole run ($kind)" "$db" "$tid" "$FAULT_LINES" "emit ${EMIT_MS} ms"
	[ -z "$(ls "$T/spool" | grep "^$tid\.journal" || true)" ]
}

@test "fault: Redis down for the whole run (SQLite)" { redis_down_case sqlite; }
@test "fault: Redis down for the whole run (PostgreSQL)" { redis_down_case pg; }

# The emitter itself. What may be lost when it is killed while lines flow:
# the pipe's content (64 KiB), what it holds read but not handed on (its
# read buffer, 64 KiB), and the documented window (100 ms of input).
emit_kill_case() {
	local kind=$1 tid="emit-kill-$1" db redis
	db=$(db_for "$kind")
	if [ "$kind" = sqlite ]; then redis=none; else own_redis; redis=$OWN_REDIS_URL; fi
	use "$db" "$redis"
	start_emit "$tid" --hub "http://127.0.0.1:$(free_port)"
	sleep "$(awk -v s="$FAULT_SECONDS" -v r="$RANDOM" 'BEGIN { printf "%.2f", s * (0.3 + 0.4 * r / 32768) }')"
	kill -9 "$EMIT_PID"
	wait_pid "$EMIT_PID" 5
	wait_pid "$GEN_PID" 10
	local written allow
	written=$(progress)
	allow=$(( (65536 + 65536) / 6 + FAULT_LINES / FAULT_SECONDS / 10 ))
	final_flush
	check_stored prefix "emit kill -9 while flowing ($kind)" "$db" "$tid" "$FAULT_LINES" \
		"written to pipe $written, allowed loss $allow"
	[ "$PREFIX" -le "$written" ] || { echo "stored $PREFIX lines but only $written were written"; false; }
	[ "$PREFIX" -ge $(( written - allow )) ] ||
		{ echo "lost $(( written - PREFIX )) lines (allowed $allow): written $written, stored $PREFIX"; false; }
}

@test "fault: emit killed -9 while lines flow loses at most its window (SQLite, spool)" { emit_kill_case sqlite; }
@test "fault: emit killed -9 while lines flow loses at most its window (PostgreSQL, Redis)" { emit_kill_case pg; }

emit_idle_kill_case() {
	local kind=$1 tid="emit-idle-kill-$1" db redis
	db=$(db_for "$kind")
	if [ "$kind" = sqlite ]; then redis=none; else own_redis; redis=$OWN_REDIS_URL; fi
	use "$db" "$redis"
	start_emit "$tid" --hub "http://127.0.0.1:$(free_port)"
	sleep_frac 0.5
	freeze "$GEN_PID"
	local idle_at
	idle_at=$(progress)
	sleep 0.5   # five times the documented window
	# The input really was idle: not one more line entered the pipe.
	[ "$(progress)" = "$idle_at" ] ||
		{ echo "input moved while frozen: $idle_at -> $(progress)"; false; }
	kill -9 "$EMIT_PID"
	wait_pid "$EMIT_PID" 5
	thaw "$GEN_PID"
	wait_pid "$GEN_PID" 10
	local written
	written=$(progress)
	final_flush
	check_stored prefix "emit kill -9 after 0.5 s idle ($kind)" "$db" "$tid" "$FAULT_LINES" \
		"written to pipe $written"
	[ "$PREFIX" -eq "$written" ] ||
		{ echo "input idle 0.5 s before kill -9: written $written, stored $PREFIX"; false; }
}

@test "fault: emit killed -9 after its input was idle loses nothing (SQLite, spool)" { emit_idle_kill_case sqlite; }
@test "fault: emit killed -9 after its input was idle loses nothing (PostgreSQL, Redis)" { emit_idle_kill_case pg; }
