#!/bin/sh
# demo.sh - `make demo`: the main job on the embedded default (SQLite, no
# Redis): a hub, an example workflow piped through bcast-emit, its lines
# seen live by bcast-tail, then flushed and read back as history.
set -eu
cd "$(dirname "$0")/.."
PATH="$PWD/bin:$PATH"

dir=$(mktemp -d /tmp/bcast-demo.XXXXXX)
export XDG_STATE_HOME="$dir/state"   # private $STATE: SQLite DB and spool
export BCAST_REDIS=none              # the embedded default needs no Redis
port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000 ))
export BCAST_HUB="http://127.0.0.1:$port"
thread="demo-$(date +%H%M%S)"
hub_pid=""
tail_pid=""
cleanup() {
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	[ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. start the hub on 127.0.0.1:$port (SQLite at \$STATE/bcast.db, no Redis)"
bcast-hub --listen "127.0.0.1:$port" 2>"$dir/hub.log" &
hub_pid=$!
i=0
until curl -sf "$BCAST_HUB/healthz" >/dev/null; do
	i=$((i + 1))
	[ "$i" -gt 50 ] && { cat "$dir/hub.log"; exit 1; }
	sleep 0.1
done
cat "$dir/hub.log"

say "2. bcast-tail -t $thread  (watching live; lines appear as the workflow prints them)"
# 1 intro + 16 step lines + 1 warning + 1 summary = 19 lines
bcast-tail -t "$thread" --count 19 --timeout 30 | sed 's/^/  live | /' &
tail_pid=$!
sleep 0.5

say "3. examples/workflow.sh | bcast-emit -t $thread"
bcast-emit -t "$thread" -- examples/workflow.sh
echo "  bcast-emit exited $? (the run is flushed into SQLite at its end)"
wait "$tail_pid" 2>/dev/null || true
tail_pid=""

say "4. history from the database: curl $BCAST_HUB/admin/runs/$thread/logs"
curl -sf "$BCAST_HUB/admin/runs/$thread/logs" |
	sed 's/},{/},\n{/g; s/^\[//; s/\]$//' | sed 's/^/  /'
echo
rows=$(curl -sf "$BCAST_HUB/admin/runs/$thread/logs" | grep -o '"seq":' | wc -l)
say "done: $rows lines live, flushed and read back. Try: bcast-tail --help"
