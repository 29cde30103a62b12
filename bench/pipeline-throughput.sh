#!/bin/bash
# pipeline-throughput.sh - lines/s that one bcast-emit pushes through the
# hub to one bcast-tail: N numbered lines piped flat out into bcast-emit,
# timed until bcast-tail has printed the last one. Checks that every line
# arrived, in order. Not part of `make test` (a timing, not a test).
#
#   bench/pipeline-throughput.sh [N] [REDIS_URL|none]     default 1000000 none
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000000}
REDIS=${2:-none}
export PATH="$PWD/bin:$PATH"
d=$(mktemp -d /tmp/bcast-tput.XXXXXX)
export XDG_STATE_HOME=$d
port=$((30000 + RANDOM % 20000))
export BCAST_HUB=http://127.0.0.1:$port
hub=""
tail_pid=""
trap '[ -n "$tail_pid" ] && kill $tail_pid 2>/dev/null; [ -n "$hub" ] && kill $hub 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
bcast-hub --listen 127.0.0.1:$port --db "sqlite:$d/db" 2>"$d/hub.log" &
hub=$!
for _ in $(seq 1 50); do curl -sf "$BCAST_HUB/healthz" >/dev/null && break; sleep 0.1; done
bcast-tail -t tput --count "$N" --timeout 120 >"$d/out" 2>"$d/tail.err" &
tail_pid=$!
for _ in $(seq 1 50); do
	curl -sf "$BCAST_HUB/metrics" | grep -q '^bcast_hub_subscribers{stream="thread"} 1' && break
	sleep 0.1
done
seq 1 "$N" >"$d/in"
start=$(date +%s%N)
bcast-emit -t tput --no-flush --redis "$REDIS" <"$d/in" 2>"$d/emit.err"
wait "$tail_pid"
tail_pid=""
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
if cmp -s "$d/in" "$d/out"; then ok="all $N lines, in order"; else ok="MISMATCH: $(wc -l <"$d/out") lines received"; fi
echo "bcast-emit -> bcast-hub -> bcast-tail, redis=$REDIS: $N lines in $ms ms = $(( N * 1000 / (ms > 0 ? ms : 1) )) lines/s ($ok)"
cat "$d/emit.err" "$d/tail.err" >&2
