# faults.bash - what the fault suites (tests/faults/*.bats) share: private
# Redis and PostgreSQL servers they may kill -9 and restart, the paced line
# source (gen.py) piped through a FIFO into bcast-emit so both PIDs are
# known, bounded waits on PIDs, a looping flusher, and the exactly-once
# check of thread_logs (verify.py). Load it after helpers:
#   load ../helpers
#   load faults
# A bats file that loads it uses fault_setup/fault_teardown as setup and
# teardown (they call bc_setup/bc_teardown).
#
# Knobs (environment): BCAST_FAULT_LINES (200000), BCAST_FAULT_SECONDS (5,
# how long each paced run lasts), BCAST_FAULT_REPORT (a file that gets one
# result line per case, for reports), BCAST_FAULT_KEEP (a directory where a
# failed test's temp dir is copied, with its buffer dumps and logs).

FAULTS="$REPO/tests/faults"
FAULT_LINES=${BCAST_FAULT_LINES:-200000}
FAULT_SECONDS=${BCAST_FAULT_SECONDS:-5}
# Read now: bc_setup unsets every BCAST_* variable before each test.
FAULT_REPORT=${BCAST_FAULT_REPORT:-}
FAULT_KEEP=${BCAST_FAULT_KEEP:-}

fault_setup() {
	bc_setup
	OWN_REDIS_DIR="" OWN_PG_DIR=""
	: >"$T/flush.rcs"
}

fault_teardown() {
	[ -n "$T" ] && touch "$T/stop" 2>/dev/null
	# BCAST_FAULT_KEEP=DIR keeps a failed test's $T (logs, dumps) for study.
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "$FAULT_KEEP" ]; then
		mkdir -p "$FAULT_KEEP"
		cp -a "$T" "$FAULT_KEEP/$(basename "$T")-$BATS_TEST_NUMBER" 2>/dev/null || true
	fi
	fault_kill_jobs
	[ -n "${OWN_REDIS_DIR:-}" ] && { own_redis_stop; }
	[ -n "${OWN_PG_DIR:-}" ] && { own_pg_stop; }
	bc_teardown
}

# fault_kill_jobs: end the background jobs of this test that are still
# running, and only those. The PIDs in BC_PIDS include processes the test
# already waited for; on a busy machine their PIDs are soon reused by other
# people's processes, which must not be signalled. `jobs -pr` lists only
# our children that still run (a running child's PID cannot be reused).
fault_kill_jobs() {
	local p i
	for p in $(jobs -pr); do kill "$p" 2>/dev/null || true; done
	for i in $(seq 1 50); do
		[ -z "$(jobs -pr)" ] && break
		sleep 0.1
	done
	for p in $(jobs -pr); do kill -9 "$p" 2>/dev/null || true; done
	BC_PIDS=()
}

# fault_report TEXT...: one result line, shown in the TAP output and
# appended to $BCAST_FAULT_REPORT when set.
fault_report() {
	echo "# $*" >&3
	if [ -n "$FAULT_REPORT" ]; then echo "$*" >>"$FAULT_REPORT"; fi
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# phase TEXT: note where a case is, with a time stamp, in $T/phases (kept
# with BCAST_FAULT_KEEP, so a rare failure shows how far it got).
phase() { echo "$(date +%T.%N | cut -c1-12) $*" >>"$T/phases"; }

# sleep_frac F: sleep F (a decimal such as 0.3) times FAULT_SECONDS.
sleep_frac() { sleep "$(awk -v f="$1" -v s="$FAULT_SECONDS" 'BEGIN { printf "%.2f", f * s }')"; }

# ---- freezing a process (SIGSTOP) -------------------------------------------

# proc_state PID: the process's one-letter state in /proc (T: stopped).
proc_state() { sed -E 's/^.*\) ([A-Za-z]) .*$/\1/' "/proc/$1/stat" 2>/dev/null; }
is_stopped() { [ "$(proc_state "$1")" = T ]; }

# freeze PID: SIGSTOP, then prove the kernel really stopped it.
freeze() {
	kill -STOP "$1"
	wait_for 5 is_stopped "$1" ||
		{ echo "pid $1 not stopped after SIGSTOP (state '$(proc_state "$1")')"; return 1; }
	phase "froze $1"
}

# thaw PID: prove PID stayed stopped the whole time (still T now), then
# SIGCONT and prove it left the stopped state. It may also be gone at once:
# a writer whose reader was killed meanwhile dies of SIGPIPE on its first
# write after SIGCONT.
not_stopped() { [ "$(proc_state "$1")" != T ]; }
thaw() {
	is_stopped "$1" ||
		{ echo "pid $1 was no longer stopped before SIGCONT (state '$(proc_state "$1")')"; return 1; }
	kill -CONT "$1"
	wait_for 5 not_stopped "$1" ||
		{ echo "pid $1 still stopped after SIGCONT (state '$(proc_state "$1")')"; return 1; }
	phase "thawed $1"
}

# ---- a private Redis ------------------------------------------------------

# own_redis [REDIS-SERVER ARGS...]: start it in $T/redis on a free port (or
# $OWN_REDIS_PORT). Sets OWN_REDIS_URL, OWN_REDIS_PORT, OWN_REDIS_PID.
own_redis() {
	OWN_REDIS_DIR="$T/redis"
	OWN_REDIS_PORT=${OWN_REDIS_PORT:-$(free_port)}
	OWN_REDIS_ARGS=("$@")
	OWN_REDIS_URL="redis://127.0.0.1:$OWN_REDIS_PORT"
	redis_start "$OWN_REDIS_DIR" "$OWN_REDIS_PORT" "$@" 3>&- || return 1
	OWN_REDIS_PID=$(cat "$OWN_REDIS_DIR/redis.pid")
}

own_redis_cli() { redis-cli -p "$OWN_REDIS_PORT" "$@"; }

# own_redis_kill9: kill -9 our Redis and wait (bounded) until it is gone.
own_redis_kill9() {
	kill -9 "$OWN_REDIS_PID"
	local i
	for i in $(seq 1 100); do pid_gone "$OWN_REDIS_PID" && return 0; sleep 0.05; done
	return 1
}

# own_redis_restart: start it again with the same dir, port and arguments
# (so it reloads its AOF when it has one).
own_redis_restart() {
	redis_start "$OWN_REDIS_DIR" "$OWN_REDIS_PORT" "${OWN_REDIS_ARGS[@]}" 3>&- || return 1
	OWN_REDIS_PID=$(cat "$OWN_REDIS_DIR/redis.pid")
}

# own_redis_alive: our Redis still runs under OWN_REDIS_PID (checked by its
# process title, so a reused PID is never taken for it).
own_redis_alive() {
	tr '\0' ' ' 2>/dev/null <"/proc/$OWN_REDIS_PID/cmdline" | grep -q "^redis-server .*:$OWN_REDIS_PORT"
}

own_redis_stop() {
	[ -f "$OWN_REDIS_DIR/redis.pid" ] || return 0
	own_redis_alive || { rm -f "$OWN_REDIS_DIR/redis.pid"; return 0; }
	redis_stop "$OWN_REDIS_DIR"
	own_redis_alive && kill -9 "$OWN_REDIS_PID" 2>/dev/null
	return 0
}

# ---- a private PostgreSQL -------------------------------------------------

# own_pg: a fresh cluster in $T/pgsvc on a free port. Sets OWN_PG_URL.
own_pg() {
	OWN_PG_DIR="$T/pgsvc"
	OWN_PG_PORT=$(free_port)
	pg_start "$OWN_PG_DIR" "$OWN_PG_PORT" 3>&- || return 1
	OWN_PG_URL="postgresql://postgres@127.0.0.1:$OWN_PG_PORT/postgres"
}

own_pg_pid() { head -1 "$OWN_PG_DIR/pg/postmaster.pid" 2>/dev/null; }

# own_pg_kill9: kill -9 the postmaster, then each of its children (their
# PIDs read before), as a machine crash would; wait until all are gone.
own_pg_kill9() {
	local pm kids p i
	pm=$(own_pg_pid)
	[ -n "$pm" ] || return 1
	kids=$(ps -o pid= --ppid "$pm")
	kill -9 "$pm"
	for p in $kids; do kill -9 "$p" 2>/dev/null; done
	for i in $(seq 1 100); do
		local alive=0
		for p in $pm $kids; do pid_gone "$p" || alive=1; done
		[ "$alive" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

own_pg_restart() { pg_start "$OWN_PG_DIR" "$OWN_PG_PORT" 3>&-; }

own_pg_stop() {
	local pm
	pm=$(own_pg_pid)
	[ -n "$pm" ] || return 0
	pg_stop "$OWN_PG_DIR"
	pid_gone "$pm" || kill -9 "$pm" 2>/dev/null
	return 0
}

# ---- the emitter under test -----------------------------------------------

# start_emit TID [BCAST-EMIT ARGS...]: gen.py writes FAULT_LINES numbered
# lines over FAULT_SECONDS into a FIFO that bcast-emit reads. Sets GEN_PID,
# EMIT_PID and EMIT_T0 (ms); emit's stderr goes to $T/emit.err, the number
# of lines that entered the pipe to $T/progress.
start_emit() {
	local tid=$1; shift
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	python3 "$FAULTS/gen.py" "$FAULT_LINES" "$FAULT_SECONDS" "$T/progress" \
		<&- >"$T/fifo" 3>&- &
	GEN_PID=$!
	bcast-emit -t "$tid" "$@" <"$T/fifo" >/dev/null 2>"$T/emit.err" 3>&- &
	EMIT_PID=$!
	BC_PIDS+=("$GEN_PID" "$EMIT_PID")
	EMIT_T0=$(now_ms)
}

# wait_pid PID TIMEOUT_S: wait for a child, bounded. Sets WAIT_RC; returns 1
# (and leaves the process running) if it did not end in time.
wait_pid() {
	local pid=$1 limit=$2 i
	for i in $(seq 1 $(( limit * 10 ))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { echo "pid $pid still running after ${limit}s"; return 1; }
	WAIT_RC=0
	wait "$pid" || WAIT_RC=$?
	return 0
}

# wait_emit: wait for emit (bounded: its run plus 60 s). Sets EMIT_RC and
# EMIT_MS (its run time).
wait_emit() {
	wait_pid "$EMIT_PID" $(( FAULT_SECONDS + 60 )) || { cat "$T/emit.err"; return 1; }
	EMIT_RC=$WAIT_RC
	EMIT_MS=$(( $(now_ms) - EMIT_T0 ))
	phase "emit exited $EMIT_RC after $EMIT_MS ms"
	wait_pid "$GEN_PID" 10 || return 1
}

progress() { tr -d ' \n' <"$T/progress"; }

# ---- flushers ---------------------------------------------------------------

# flush_loop PAUSE_MAX_MS [BCAST-FLUSH ARGS...]: run `bcast-flush --all` again
# and again, sleeping 0..PAUSE_MAX_MS between runs, until $T/stop exists
# (at most 3000 runs). Each exit status is appended to $T/flush.rcs,
# stderr to $T/flush.err. Run it in the background.
flush_loop() {
	local pause=$1; shift
	local i rc
	for i in $(seq 1 3000); do
		[ -e "$T/stop" ] && break
		rc=0
		bcast-flush --all "$@" >/dev/null 2>>"$T/flush.err" 3>&- || rc=$?
		echo "$rc" >>"$T/flush.rcs"
		sleep "$(printf '0.%03d' $(( RANDOM % (pause + 1) )))"
	done
	return 0
}

# flush_killer [BCAST-FLUSH ARGS...]: like flush_loop, but each flusher
# (with a random --batch of 100, 1000 or 5000, after a random 0..200 ms
# pause that lets records pile up) is sent kill -9 after a random 1..80 ms,
# whatever it is doing then: connecting, reading, inside a transaction,
# between commit and trim.
# Appends each exit status (137 = killed) to $T/flush.rcs. (Both run
# under bats' set -e: every command that may fail is guarded.)
flush_killer() {
	local i p rc
	for i in $(seq 1 3000); do
		[ -e "$T/stop" ] && break
		sleep "$(printf '0.%03d' $(( RANDOM % 200 )))"
		local sizes=(100 1000 5000)
		bcast-flush --all --batch "${sizes[RANDOM % 3]}" "$@" >/dev/null 2>>"$T/flush.err" 3>&- &
		p=$!
		sleep "$(printf '0.%03d' $(( 1 + RANDOM % 80 )))"
		kill -9 "$p" 2>/dev/null || true
		rc=0
		wait "$p" || rc=$?
		echo "$rc" >>"$T/flush.rcs"
	done
	return 0
}

# stop_loops PID...: tell flush loops to end and wait for them (bounded).
stop_loops() {
	touch "$T/stop"
	local p
	for p in "$@"; do wait_pid "$p" 60 || return 1; done
	rm -f "$T/stop"
}

# rc_count RC: how many runs in $T/flush.rcs ended with RC.
rc_count() { grep -cx "$1" "$T/flush.rcs" || true; }
# rc_other RC...: exit statuses in $T/flush.rcs other than those given.
rc_other() {
	local pat
	pat=$(printf -- '-e ^%s$ ' "$@")
	grep -v $pat "$T/flush.rcs" | sort | uniq -c | tr '\n' ' ' || true
}

# ---- the checks -------------------------------------------------------------

# stored_lines DB TID: the thread's lines in seq order.
stored_lines() { sql "$1" "SELECT line FROM thread_logs WHERE thread_id='$2' ORDER BY seq"; }

# check_stored MODE CASE DB TID N [EXTRA]: verify.py on the stored lines
# (MODE exact: exactly 1..N; prefix: exactly 1..K). Reports the result
# line; sets STORED (row count) and PREFIX (K). Fails on a violation.
check_stored() {
	local mode=$1 name=$2 db=$3 tid=$4 n=$5 extra=${6:-}
	stored_lines "$db" "$tid" >"$T/stored.txt"
	local rc=0
	python3 "$FAULTS/verify.py" "$mode" "$n" <"$T/stored.txt" >"$T/verify.out" || rc=$?
	STORED=$(wc -l <"$T/stored.txt")
	PREFIX=$(sed -nE '1s/.* prefix ([0-9]+)$/\1/p' "$T/verify.out")
	fault_report "$name: $(head -1 "$T/verify.out")${extra:+ | $extra}"
	if [ "$rc" -ne 0 ]; then
		cat "$T/verify.out"
		echo "--- emit stderr:"; tail -20 "$T/emit.err" 2>/dev/null
		echo "--- flush stderr:"; tail -20 "$T/flush.err" 2>/dev/null
		return 1
	fi
}

# dump_buffers: copy what is still buffered (our Redis's queues, the spool)
# into $T/dump before the final drain, for a post-mortem.
dump_buffers() {
	mkdir -p "$T/dump"
	if [ -n "${OWN_REDIS_DIR:-}" ] && own_redis_cli PING >/dev/null 2>&1; then
		local k
		for k in $(own_redis_cli --scan --pattern 'logs:*'); do
			case "$k" in
			logs:queue:*) own_redis_cli LRANGE "$k" 0 -1 >"$T/dump/$k.redis" ;;
			*) own_redis_cli GET "$k" >"$T/dump/$k.redis" 2>/dev/null || true ;;
			esac
		done
	fi
	cp -a "$T/spool" "$T/dump/spool" 2>/dev/null || true
}

# final_flush [ARGS...]: the recovery drain; must exit 0.
final_flush() {
	dump_buffers
	run bcast-flush --all "$@"
	if [ "$status" -ne 0 ]; then
		echo "final bcast-flush --all exited $status: $output"
		return 1
	fi
}

# buffered_total TID: records still in our Redis queue plus the spool journals.
spool_records() { cat "$BCAST_SPOOL/$1".journal* 2>/dev/null | grep -c . || true; }

# hub_on PORT [ARGS...]: bcast-hub on a given port (a restart keeps the port).
hub_on() {
	local port=$1; shift
	HUB_PORT=$port
	HUB_LOG="$T/hub-$port.log"
	bcast-hub --listen "127.0.0.1:$port" "$@" 2>>"$HUB_LOG" 3>&- &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	export BCAST_HUB="http://127.0.0.1:$port" HUB_PORT HUB_PID HUB_LOG
	wait_for 10 hub_healthy || { echo "hub did not start on $port:"; cat "$HUB_LOG"; return 1; }
}
