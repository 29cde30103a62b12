#!/usr/bin/env bats
# config.bats - one configuration file for every program: KEY=value lines
# with the environment variables' names, from --config F, else
# $BCAST_CONFIG, else /etc/bcast/bcast.conf. A flag beats the environment,
# which beats the file, which beats the default; --print-config shows each
# value in effect and where it came from, tokens and URL passwords masked;
# a malformed line is exit 64 naming FILE:LINE.

load helpers

setup_file() { :; }
teardown_file() { :; }

PROGS="bcast-emit bcast-event bcast-hub bcast-tail bcast-flush"

# setting PROG KEY [ARGS...]: the line for KEY in PROG's --print-config.
setting() {
	local p=$1 k=$2
	shift 2
	"$p" "$@" --print-config | grep "^$k="
}

@test "config: default < file < environment < flag, shown with their source by every program" {
	printf '# bcast\n\nBCAST_DB=sqlite:/from/file.db\nBCAST_SPOOL=/from/file/spool\n' >"$T/bcast.conf"
	export BCAST_CONFIG=$T/bcast.conf
	for p in $PROGS; do
		[ "$(setting "$p" BCAST_LISTEN)" = $'BCAST_LISTEN=127.0.0.1:8090\t# default' ]
		[ "$(setting "$p" BCAST_DB)" = $'BCAST_DB=sqlite:/from/file.db\t# file:'"$T"'/bcast.conf:3' ]
		BCAST_DB=sqlite:/from/env.db run setting "$p" BCAST_DB
		[ "$output" = $'BCAST_DB=sqlite:/from/env.db\t# env' ]
		[ "$(BCAST_SPOOL= setting "$p" BCAST_SPOOL)" = $'BCAST_SPOOL=/from/file/spool\t# file:'"$T"'/bcast.conf:4' ]
		run "$p" --print-config
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "# configuration file: $T/bcast.conf" ]
	done
	# Flags, for the programs that take them, beat the environment.
	for p in bcast-emit bcast-event bcast-hub bcast-flush; do
		BCAST_DB=sqlite:/from/env.db run setting "$p" BCAST_DB --db sqlite:/from/flag.db
		[ "$output" = $'BCAST_DB=sqlite:/from/flag.db\t# flag' ]
	done
	BCAST_HUB=http://env:1 run setting bcast-tail BCAST_HUB --hub http://flag:2
	[ "$output" = $'BCAST_HUB=http://flag:2\t# flag' ]
	# --config F beats BCAST_CONFIG.
	printf 'BCAST_DB=sqlite:/other.db\n' >"$T/other.conf"
	[ "$(setting bcast-flush BCAST_DB --config "$T/other.conf")" = $'BCAST_DB=sqlite:/other.db\t# file:'"$T"'/other.conf:1' ]
	[ "$(setting bcast-flush BCAST_DB --config="$T/other.conf")" = $'BCAST_DB=sqlite:/other.db\t# file:'"$T"'/other.conf:1' ]
}

@test "config: the programs use what the file says (hub listens, flush drains into the file's DB)" {
	local port
	port=$(free_port)
	printf 'BCAST_LISTEN=127.0.0.1:%s\nBCAST_DB="sqlite:%s/file.db"\nBCAST_REDIS=none\n' "$port" "$T" >"$T/bcast.conf"
	export BCAST_CONFIG=$T/bcast.conf
	bg bcast-hub
	HUB_PORT=$port wait_for 10 hub_healthy
	# emit finds the hub? It uses BCAST_HUB: from the file too.
	printf 'BCAST_HUB=http://127.0.0.1:%s\n' "$port" >>"$T/bcast.conf"
	printf 'one\ntwo\n' | bcast-emit -t cfg-run
	[ "$(sqlite3 "$T/file.db" "SELECT group_concat(line) FROM thread_logs WHERE thread_id = 'cfg-run'")" = one,two ]
	run curl -sf "http://127.0.0.1:$port/admin/runs/cfg-run/logs"
	[[ $output == *'"line":"two"'* ]]
	# A Redis the file names is one that was asked for: down, it is an error.
	printf 'BCAST_REDIS=redis://127.0.0.1:%s\n' "$(free_port)" >"$T/redis.conf"
	run bcast-hub --config "$T/redis.conf" --listen "127.0.0.1:$(free_port)" --db "$(sqlite_db)"
	[ "$status" -eq 75 ]
	[[ $output == *"cannot connect to Redis"* ]]
}

@test "config: the file holds bcast-hub's other settings (workers, limits, *_FILE credentials), as docs/deploy.md writes it" {
	local port
	port=$(free_port)
	unset BCAST_WORKERS   # helpers.bash exports 1; the environment beats the file
	printf 'secret-publish-token\n' >"$T/publish.token"
	printf '%s\n' "BCAST_LISTEN=127.0.0.1:$port" "BCAST_DB=sqlite:$T/more.db" \
		BCAST_REDIS=none "BCAST_TOKEN_FILE=$T/publish.token" BCAST_WORKERS=2 \
		BCAST_MAX_BODY=200 BCAST_MAX_CONNS_PER_ADDR=1024 >"$T/more.conf"
	run bcast-hub --config "$T/more.conf" --print-config
	[ "$status" -eq 0 ]
	[[ $output == *"BCAST_WORKERS=2	# file:$T/more.conf:5"* ]]
	[[ $output == *"BCAST_TOKEN_FILE=$T/publish.token	# file:"* ]]
	run bcast-hub --config "$T/more.conf" --workers 1 --print-config
	[[ $output == *"BCAST_WORKERS=2	# file:$T/more.conf:5, overridden by a flag"* ]]
	bg bcast-hub --config "$T/more.conf" 2>"$T/more.log"
	HUB_PORT=$port wait_for 10 hub_healthy
	grep -q ', 2 workers' "$T/more.log"
	[ "$(pgrep -c -P "$BG_PID" -x bcast-hub)" -eq 2 ]
	# The token from the file named in the file: without it 401, with it 200.
	local url=http://127.0.0.1:$port/api/runs/more-run/logs
	local rec='{"thread_id":"more-run","seq":1,"ts":"2026-12-03T10:00:00Z","stream":"stdout","line":"x"}'
	run curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' --data-binary "$rec" "$url"
	[ "$output" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer secret-publish-token' \
		-H 'Content-Type: application/x-ndjson' --data-binary "$rec" "$url"
	[ "$output" = 200 ]
	# BCAST_MAX_BODY=200 from the file: a 300-byte body is refused.
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer secret-publish-token' \
		-H 'Content-Type: application/x-ndjson' --data-binary "$(head -c 300 /dev/zero | tr '\0' x)" "$url"
	[ "$output" = 413 ]
	# Another program reads the same file and is not troubled by hub settings.
	run bcast-flush --config "$T/more.conf" --all -q
	[ "$status" -eq 0 ]
}

@test "config: --print-config never shows a token or a URL password in full" {
	printf 'BCAST_TOKEN=tok-0123456789-HIDDEN-wxyz\nBCAST_REDIS=redis://:redispass@r:6379\nBCAST_READ_TOKEN=read-HIDDEN-0123456789\n' >"$T/bcast.conf"
	export BCAST_CONFIG=$T/bcast.conf
	for p in $PROGS; do
		run "$p" --print-config
		[ "$status" -eq 0 ]
		[[ $output != *HIDDEN* && $output != *redispass* ]]
		[[ $output == *$'BCAST_TOKEN=****wxyz\t# file:'* ]]
		[[ $output == *$'BCAST_READ_TOKEN=****6789\t# file:'* ]]
		[[ $output == *$'BCAST_REDIS=redis://:****@r:6379\t# file:'* ]]
	done
	run bcast-emit --db 'postgresql://bc:pgpass@db/bc?password=pgpass2' --token short --print-config
	[[ $output != *pgpass* && $output != *short* ]]
	[[ $output == *$'BCAST_DB=postgresql://bc:****@db/bc?password=****\t# flag'* ]]
	[[ $output == *$'BCAST_TOKEN=****\t# flag'* ]]
}

@test "config: a malformed line is exit 64 naming FILE:LINE, before anything runs" {
	local bad
	for bad in 'nonsense' 'BCAST_NOPE=1' 'bcast_db=x' 'BCAST_DB =x' '=x' 'export BCAST_DB=x'; do
		printf '# ok\nBCAST_HUB=http://x:1\n%s\n' "$bad" >"$T/bad.conf"
		for p in $PROGS; do
			run "$p" --config "$T/bad.conf" --print-config
			[ "$status" -eq 64 ] || { echo "$p accepted '$bad'"; false; }
			[[ ${lines[0]} == "$p: $T/bad.conf:3: "* ]] || { echo "$output"; false; }
		done
	done
	# Nothing ran: a flush with a bad file leaves the spool alone.
	printf 'BCAST_DB=sqlite:%s/db\nnonsense\n' "$T" >"$T/bad.conf"
	run bcast-flush --config "$T/bad.conf" --all --redis none
	[ "$status" -eq 64 ]
	[ ! -e "$T/db" ]
	# A file named explicitly must exist.
	run bcast-hub --config "$T/missing.conf"
	[ "$status" -eq 64 ]
	[[ $output == *"cannot read configuration file $T/missing.conf"* ]]
	BCAST_CONFIG=$T/missing.conf run bcast-tail --print-config
	[ "$status" -eq 64 ]
}
