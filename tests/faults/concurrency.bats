#!/usr/bin/env bats
# concurrency.bats - many writers and many flushers at once. Four emitters on
# four threads run for BCAST_SOAK_SECONDS (60) while two `bcast-flush --all`
# loops drain the same Redis lists (compare-and-trim must keep them from
# removing each other's uncommitted records) and two of the emitters also
# flush their own thread at the end: every thread must end with exactly its
# lines, once each, in order. The same on SQLite with the spool instead of
# Redis (journals claimed by one flusher while appended to by an emitter),
# for a quarter of the time. Two emitters sharing one thread must never hand
# out the same seq (INCRBY in Redis, the flock'd counter file in the spool):
# a shared seq would silently drop a line as a "duplicate".

load ../helpers
load faults

setup() { fault_setup; }
teardown() { fault_teardown; }

SOAK=${BCAST_SOAK_SECONDS:-60}
SOAK_LINES=${BCAST_SOAK_LINES:-50000}

# emitter NAME FIRST N SECONDS [BCAST-EMIT ARGS...]: gen.py lines FIRST..
# FIRST+N-1 into bcast-emit -t NAME-thread args; PID in EMITTERS.
emitter() {
	local name=$1 first=$2 n=$3 secs=$4; shift 4
	mkfifo "$T/fifo-$name"
	python3 "$FAULTS/gen.py" "$n" "$secs" "$T/progress-$name" "$first" \
		<&- >"$T/fifo-$name" 3>&- &
	BC_PIDS+=($!)
	bcast-emit "$@" <"$T/fifo-$name" >/dev/null 2>"$T/emit-$name.err" 3>&- &
	BC_PIDS+=($!)
	EMITTERS+=($!)
	NAMES+=("$name")
}

# wait_emitters OKRCS: wait for every emitter (bounded); each must exit with
# one of the space-separated OKRCS.
wait_emitters() {
	local ok=$1 i rc
	for i in "${!EMITTERS[@]}"; do
		wait_pid "${EMITTERS[$i]}" $(( SOAK + 60 )) || return 1
		rc=$WAIT_RC
		[ "$rc" -eq 0 ] || echo "emitter ${NAMES[$i]} exited $rc" >>"$T/emit-rcs"
		if [[ " $ok " != *" $rc "* ]]; then
			echo "bcast-emit ${NAMES[$i]} exited $rc:"; cat "$T/emit-${NAMES[$i]}.err"
			return 1
		fi
	done
}

soak() {
	local kind=$1 secs=$2 db redis t
	EMITTERS=() NAMES=()
	if [ "$kind" = pg ]; then
		db=$(pg_new_db); own_redis; redis=$OWN_REDIS_URL
	else
		db=$(sqlite_db); redis=none
	fi
	export BCAST_DB=$db BCAST_REDIS=$redis BCAST_SPOOL="$T/spool"
	start_hub --db "$db"
	curl -sN --max-time $(( secs + 60 )) "$BCAST_HUB/api/logs/stream" >/dev/null 2>&1 3>&- &
	BC_PIDS+=($!)
	flush_loop 100 3>&- &
	local f1=$!
	flush_loop 100 3>&- &
	local f2=$!
	BC_PIDS+=("$f1" "$f2")
	emitter c1 1 "$SOAK_LINES" "$secs" -t "soak-$kind-1"
	emitter c2 1 "$SOAK_LINES" "$secs" -t "soak-$kind-2"
	emitter c3 1 "$SOAK_LINES" "$secs" -t "soak-$kind-3" --no-flush
	emitter c4 1 "$SOAK_LINES" "$secs" -t "soak-$kind-4" --no-flush
	local t0=$SECONDS
	# SQLite allows one writer: a flush that finds the database busy may
	# give up with 75 (temporary, nothing lost).
	if [ "$kind" = pg ]; then wait_emitters 0; else wait_emitters "0 75"; fi
	stop_loops "$f1" "$f2"
	local runs busy
	runs=$(wc -l <"$T/flush.rcs")
	busy=$(rc_count 75)
	if [ "$kind" = pg ]; then
		[ -z "$(rc_other 0)" ] || { echo "flusher exit statuses: $(rc_other 0)"; tail -20 "$T/flush.err"; false; }
	else
		[ -z "$(rc_other 0 75)" ] || { echo "flusher exit statuses: $(rc_other 0 75)"; tail -20 "$T/flush.err"; false; }
	fi
	final_flush
	for t in 1 2 3 4; do
		check_stored exact "soak $kind thread $t (${secs}s, 4 emitters, 2 flush loops)" \
			"$db" "soak-$kind-$t" "$SOAK_LINES" \
			"$runs flushes ($busy exited 75); $(cat "$T/emit-rcs" 2>/dev/null | tr '\n' ';')"
	done
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs")" -eq $(( 4 * SOAK_LINES )) ]
	if [ "$kind" = pg ]; then [ -z "$(own_redis_cli --scan --pattern 'logs:queue:*')" ]; fi
	[ -z "$(ls "$T/spool" 2>/dev/null | grep journal || true)" ]
}

@test "concurrency: 4 emitters, 2 looping flushers, PostgreSQL + Redis (BCAST_SOAK_SECONDS)" {
	soak pg "$SOAK"
}

@test "concurrency: 4 emitters, 2 looping flushers, SQLite + spool (a quarter of the soak)" {
	local s=$(( SOAK / 4 ))
	[ "$s" -ge 5 ] || s=5
	soak sqlite "$s"
}

# shared KIND: two emitters on one thread, 2 x 50,000 lines over 5 s.
shared() {
	local kind=$1 db redis n=50000
	EMITTERS=() NAMES=()
	if [ "$kind" = pg ]; then
		db=$(pg_new_db); own_redis; redis=$OWN_REDIS_URL
	else
		db=$(sqlite_db); redis=none
	fi
	export BCAST_DB=$db BCAST_REDIS=$redis BCAST_SPOOL="$T/spool"
	local hub="http://127.0.0.1:$(free_port)"
	emitter a 1 "$n" 5 -t "shared-$kind" --no-flush --hub "$hub"
	emitter b $(( n + 1 )) "$n" 5 -t "shared-$kind" --no-flush --hub "$hub"
	wait_emitters 0
	final_flush
	stored_lines "$db" "shared-$kind" >"$T/stored.txt"
	run python3 - "$n" "$T/stored.txt" <<'PY'
import sys
n = int(sys.argv[1])
v = [int(l) for l in open(sys.argv[2])]
a = [x for x in v if x <= n]
b = [x for x in v if x > n]
print("sent %d stored %d distinct %d duplicates %d" % (2 * n, len(v), len(set(v)), len(v) - len(set(v))))
ok = sorted(v) == list(range(1, 2 * n + 1)) and a == sorted(a) and b == sorted(b)
sys.exit(0 if ok else 1)
PY
	fault_report "shared thread, 2 emitters ($kind): $output"
	[ "$status" -eq 0 ]
}

@test "concurrency: two emitters on one thread never share a seq (PostgreSQL + Redis)" { shared pg; }
@test "concurrency: two emitters on one thread never share a seq (SQLite + spool)" { shared sqlite; }
