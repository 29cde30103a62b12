#!/usr/bin/env bash
# services.sh - start and stop throwaway Redis and PostgreSQL servers for the
# tests, on free ports in a private directory, never the default ports.
#
#   tests/services.sh start DIR   prints `export VAR=...` lines to source
#   tests/services.sh stop DIR    stops what start started (by its pid files)
#
# Sourced by tests/helpers.bash too, for the redis_start/pg_start functions
# that fault tests use to run (and kill) their own instances.
set -u

svc_free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$(( 20000 + RANDOM % 40000 ))
		if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
			echo "$p"; return 0
		fi
	done
	return 1
}

# pid_gone PID: the process has ended. A daemon's parent is init, which
# may take seconds to reap it; a zombie counts as gone.
pid_gone() {
	kill -0 "$1" 2>/dev/null || return 0
	[ "$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# redis_start DIR PORT [extra redis-server args...]
redis_start() {
	local dir=$1 port=$2; shift 2
	mkdir -p "$dir"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$dir" \
		--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
		"$@" >/dev/null || return 1
	local i
	for i in $(seq 1 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "redis did not start on $port: $(tail -3 "$dir/redis.log")" >&2
	return 1
}

redis_stop() {
	local dir=$1 pid
	pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	local i
	for i in $(seq 1 100); do pid_gone "$pid" && break; sleep 0.05; done
	rm -f "$dir/redis.pid"
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# pg_start DIR PORT: a cluster in DIR/pg owned by postgres (it refuses root).
pg_start() {
	local dir=$1 port=$2 bin
	bin=$(pg_bindir) || return 1
	mkdir -p "$dir/pg" && chmod 755 "$dir" && chown postgres: "$dir/pg"
	# A postmaster killed with -9 can stay a zombie for seconds when init
	# reaps slowly, and PostgreSQL takes a zombie's lock files (data dir
	# and socket) as live. Wait for the reaping; if init never reaps it,
	# the locks are stale all the same.
	local old i
	old=$(head -1 "$dir/pg/postmaster.pid" 2>/dev/null)
	if [ -n "$old" ] && pid_gone "$old"; then
		for i in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
		rm -f "$dir/pg/postmaster.pid" "$dir"/pg/.s.PGSQL.*.lock
	fi
	if [ ! -f "$dir/pg/PG_VERSION" ]; then
		runuser -u postgres -- "$bin/initdb" -D "$dir/pg" -A trust -U postgres \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
	fi
	runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w -t 60 \
		-o "-p $port -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
		start >/dev/null || { tail -5 "$dir/pg/server.log" >&2; return 1; }
}

pg_stop() {
	local dir=$1 bin
	bin=$(pg_bindir) || return 0
	[ -f "$dir/pg/postmaster.pid" ] || return 0
	runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg" -m fast -w -t 60 stop >/dev/null 2>&1
}

case "${1:-}" in
start)
	dir=$2
	rport=$(svc_free_port) && redis_start "$dir/redis" "$rport" || exit 1
	pport=$(svc_free_port) && pg_start "$dir" "$pport" || { redis_stop "$dir/redis"; exit 1; }
	echo "export BCAST_TEST_REDIS=redis://127.0.0.1:$rport"
	echo "export BCAST_TEST_REDIS_PORT=$rport"
	echo "export BCAST_TEST_PG=postgresql://postgres@127.0.0.1:$pport/postgres"
	echo "export BCAST_TEST_PG_PORT=$pport"
	echo "export BCAST_TEST_SVC_DIR=$dir"
	;;
stop)
	dir=$2
	redis_stop "$dir/redis"
	pg_stop "$dir"
	;;
"") ;;
*) echo "usage: services.sh start|stop DIR" >&2; exit 64 ;;
esac
