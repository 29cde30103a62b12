#!/bin/bash
# emit-vs-redis-cli.sh - bcast-emit --no-flush into Redis side by side with
# redis-cli --pipe sending the same RPUSH commands, in the same run.
#
# N numbered lines (about 60 bytes each) are piped into bcast-emit, which
# stores them in a throwaway Redis (no persistence; its hub address is a
# closed port, so no live delivery is attempted after the first refusal).
# The records emit stored are then read back and written as the RESP
# commands emit sends: RPUSH logs:queue:KEY with 998 records each (emit's
# PUSH_ARGS_MAX), the same records byte for byte, and that file is fed to
# `redis-cli --pipe`. Both clients are pinned to CPU 0 and redis-server to
# CPU 1 when there are two CPUs. Each side runs REPS times, alternating, on
# a deleted key; the median wall time of each gives lines/s, and the ratio
# emit/redis-cli (target >= 0.8). Not part of `make test`.
#
#   bench/emit-vs-redis-cli.sh [N] [REPS]      default 500000 3
#   EMIT=/path/to/bcast-emit bench/emit-vs-redis-cli.sh   another build
set -eu
cd "$(dirname "$0")/.."
N=${1:-500000}
REPS=${2:-3}
REPO=$PWD
export LC_ALL=C
source tests/services.sh ""

for t in redis-server redis-cli python3; do
	command -v $t >/dev/null || { echo "emit-vs-redis-cli: $t missing" >&2; exit 69; }
done
EMIT=${EMIT:-$REPO/bin/bcast-emit}
[ -x "$EMIT" ] || { echo "emit-vs-redis-cli: $EMIT missing: run make" >&2; exit 69; }

d=$(mktemp -d /tmp/bcast-evr.XXXXXX)
port=$(svc_free_port)
trap 'redis_stop "$d/redis"; rm -rf "$d"' EXIT
pin_client=() pin_server=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_client=(taskset -c 0) pin_server=(taskset -c 1)
fi
"${pin_server[@]}" bash -c "source tests/services.sh ''; redis_start '$d/redis' $port --appendonly no" >/dev/null
rcli() { redis-cli -p "$port" "$@"; }

seq 1 "$N" | sed 's/$/ step done: compiled module, linked, 42 tests passed/' >"$d/in"
export XDG_STATE_HOME=$d/state
closed="http://127.0.0.1:$(svc_free_port)"

now_ns() { date +%s%N; }

run_emit() {
	rcli DEL logs:queue:bench-emit logs:seq:bench-emit >/dev/null
	rm -rf "$d/state"
	local t0 t1
	t0=$(now_ns)
	"${pin_client[@]}" "$EMIT" -t bench-emit --redis "redis://127.0.0.1:$port" \
		--no-flush --hub "$closed" <"$d/in" 2>/dev/null
	t1=$(now_ns)
	[ "$(rcli LLEN logs:queue:bench-emit)" -eq "$N" ] ||
		{ echo "emit-vs-redis-cli: emit stored $(rcli LLEN logs:queue:bench-emit) of $N" >&2; exit 70; }
	echo $(( (t1 - t0) / 1000 ))
}

run_cli() {
	rcli DEL logs:queue:bench-cli >/dev/null
	local t0 t1
	t0=$(now_ns)
	"${pin_client[@]}" redis-cli -p "$port" --pipe <"$d/resp" >"$d/pipe.out"
	t1=$(now_ns)
	[ "$(rcli LLEN logs:queue:bench-cli)" -eq "$N" ] ||
		{ echo "emit-vs-redis-cli: redis-cli stored $(rcli LLEN logs:queue:bench-cli) of $N" >&2; exit 70; }
	echo $(( (t1 - t0) / 1000 ))
}

# The RESP file: emit's own records, in emit's RPUSH shape.
run_emit >/dev/null
rcli --raw LRANGE logs:queue:bench-emit 0 -1 >"$d/recs"
python3 - "$d/recs" "$d/resp" <<'PY'
import sys
recs = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
key = b"logs:queue:bench-cli"
per = 998                                   # PUSH_ARGS_MAX - 2
with open(sys.argv[2], "wb") as out:
    for i in range(0, len(recs), per):
        chunk = recs[i:i + per]
        parts = [b"*%d\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n" % (len(chunk) + 2, len(key), key)]
        parts += [b"$%d\r\n%s\r\n" % (len(r), r) for r in chunk]
        out.write(b"".join(parts))
PY

emit_us=() cli_us=()
for _ in $(seq 1 "$REPS"); do
	emit_us+=("$(run_emit)")
	cli_us+=("$(run_cli)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
e=$(median "${emit_us[@]}")
c=$(median "${cli_us[@]}")
bytes=$(stat -c %s "$d/recs")
echo "emit-vs-redis-cli: ${EMIT#"$REPO"/}, $N records of $(( bytes / N )) bytes, RPUSH 998 per command, median of $REPS, client on CPU 0, redis-server on CPU 1$([ ${#pin_client[@]} -eq 0 ] && echo ' (not pinned)')"
echo "  bcast-emit --no-flush (stdin lines -> records -> RPUSH): $(( N * 1000000 / e )) lines/s ($(( e / 1000 )) ms; runs: ${emit_us[*]} us)"
echo "  redis-cli --pipe (the same RPUSH commands, pre-encoded): $(( N * 1000000 / c )) lines/s ($(( c / 1000 )) ms; runs: ${cli_us[*]} us)"
awk -v e="$e" -v c="$c" 'BEGIN { printf "  ratio emit/redis-cli: %.2f (target >= 0.8)\n", c / e }'
