# helpers.bash - the shared prologue of every bats file.
#
# setup gives each test a private temp dir $T, a private $STATE (so the
# default SQLite DB and spool are private), the built bin/ first on PATH,
# and no BCAST_* variables from the caller. Services (Redis, PostgreSQL)
# come from tests/run through BCAST_TEST_*; a bats file run alone starts
# its own. Everything a test starts in the background is killed by PID in
# teardown.

# The checkout's top: the first folder above this test file that holds
# tests/services.sh (no git needed: a tarball or a clone owned by another
# user works too).
REPO=$BATS_TEST_DIRNAME
while [ "$REPO" != / ] && [ ! -f "$REPO/tests/services.sh" ]; do REPO=$(dirname "$REPO"); done
source "$REPO/tests/services.sh" ""   # "": sourced, not run with our $1

bc_services_up() {
	[ -n "${BCAST_TEST_REDIS:-}" ] && return 0
	local dir
	dir=$(mktemp -d /tmp/bcast-svc.XXXXXX)
	eval "$("$REPO/tests/services.sh" start "$dir")" || return 1
	echo "$dir" >"$BATS_FILE_TMPDIR/own-services"
}

setup_file() { bc_services_up; }

teardown_file() {
	local dir
	dir=$(cat "$BATS_FILE_TMPDIR/own-services" 2>/dev/null) || return 0
	"$REPO/tests/services.sh" stop "$dir"
	rm -rf "$dir"
}

bc_setup() {
	export LC_ALL=C
	export PATH="$REPO/bin:$PATH"
	for v in $(compgen -e | grep '^BCAST_' | grep -v '^BCAST_TEST_'); do unset "$v"; done
	# No /etc/bcast/bcast.conf of this machine in the tests: an empty file.
	export BCAST_CONFIG=/dev/null
	# One hub process: suites about workers set --workers themselves.
	export BCAST_WORKERS=1
	T=$(mktemp -d /tmp/bcast-t.XXXXXX)
	chmod 755 "$T"
	export T
	export XDG_STATE_HOME="$T/state"
	BC_PIDS=()
	if [ -z "${BCAST_TEST_REDIS:-}" ] && [ -f "$BATS_FILE_TMPDIR/own-services" ]; then :; fi
}

bc_teardown() {
	local p f running=" $(jobs -p | tr '\n' ' ') " mine=()
	# Only our own children that are not reaped yet: a reaped PID may
	# already belong to somebody else.
	for p in "${BC_PIDS[@]}"; do
		[[ $running == *" $p "* ]] && mine+=("$p")
	done
	for p in "${mine[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${mine[@]}"; do
		for _ in $(seq 1 50); do pid_gone "$p" && break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	# Servers a test started in $T (redis_start/pg_start) even if it failed
	# before stopping them.
	for f in "$T"/redis.pid "$T"/*/redis.pid "$T"/*/*/redis.pid; do
		[ -f "$f" ] && redis_stop "$(dirname "$f")"
	done
	for f in "$T"/pg/postmaster.pid "$T"/*/pg/postmaster.pid; do
		[ -f "$f" ] && pg_stop "$(dirname "$(dirname "$f")")"
	done
	# A browser's helper processes may still write into its profile for a
	# moment after the browser itself is gone: retry, bounded.
	for _ in $(seq 1 50); do rm -rf "$T" 2>/dev/null && break; sleep 0.1; done
	rm -rf "$T"
}

setup() { bc_setup; }
teardown() { bc_teardown; }

free_port() { svc_free_port; }

# bg CMD...: run in the background, killed in teardown; sets BG_PID.
bg() {
	"$@" &
	BG_PID=$!
	BC_PIDS+=("$BG_PID")
}

# wait_for TIMEOUT_S CMD...: retry CMD every 0.1 s until it succeeds.
wait_for() {
	local limit=$1 i; shift
	for i in $(seq 1 $(( limit * 10 ))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

redis_cli() { redis-cli -p "$BCAST_TEST_REDIS_PORT" "$@"; }
redis_reset() { redis_cli FLUSHALL >/dev/null; }

pg_new_db() {
	local name="t_$(date +%s%N)_$RANDOM"
	psql -q -h 127.0.0.1 -p "$BCAST_TEST_PG_PORT" -U postgres -d postgres \
		-c "CREATE DATABASE $name" >/dev/null || return 1
	echo "postgresql://postgres@127.0.0.1:$BCAST_TEST_PG_PORT/$name"
}

psql_url() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$1" -c "$2"; }

sqlite_db() { echo "sqlite:$T/db-$RANDOM$RANDOM.sqlite"; }

# sql URL QUERY: run a query on a sqlite: or postgresql: URL, tuples only.
sql() {
	case "$1" in
	sqlite:*) sqlite3 -batch "${1#sqlite:}" "$2" ;;
	*) psql_url "$1" "$2" ;;
	esac
}

hub_healthy() { curl -sf "http://127.0.0.1:$HUB_PORT/healthz" >/dev/null; }

# start_hub [ARGS...]: bcast-hub on a free port; --db defaults to a fresh
# SQLite file. Exports BCAST_HUB, HUB_PORT, HUB_PID, HUB_LOG.
start_hub() {
	local args=("$@") a has_db=0
	for a in "${args[@]}"; do [ "$a" = --db ] && has_db=1; done
	[ "$has_db" = 1 ] || args+=(--db "$(sqlite_db)")
	HUB_PORT=$(free_port)
	HUB_LOG="$T/hub-$HUB_PORT.log"
	bcast-hub --listen "127.0.0.1:$HUB_PORT" "${args[@]}" 2>"$HUB_LOG" &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	export BCAST_HUB="http://127.0.0.1:$HUB_PORT" HUB_PORT HUB_PID HUB_LOG
	wait_for 10 hub_healthy || { echo "hub did not start:"; cat "$HUB_LOG"; return 1; }
}

stop_hub() {
	kill -TERM "$HUB_PID" 2>/dev/null || return 0
	local i
	for i in $(seq 1 100); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$HUB_PID" 2>/dev/null
	return 0
}
