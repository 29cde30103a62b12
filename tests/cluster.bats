#!/usr/bin/env bats
# cluster.bats - three bcast-hub processes on one Redis (the bus) and one
# database, behind HAProxy running examples/haproxy.cfg (its addresses,
# ports and system paths replaced, nothing else). HAProxy passes events on
# unbuffered, keeps idle streams open past its inactivity timeouts (the
# hub's keepalive comments), and takes a killed hub out with no request
# failing. Two bcast-emit post 10,000 lines each to different hubs; a
# bcast-tail on each hub's global stream and one through HAProxy must each
# end with every line once, in per-thread order: with nothing failing,
# across a kill -9 of the hub under the HAProxy tail (it resumes on another
# hub), and across a kill -9 and restart of Redis (HAProxy keeps every hub
# in meanwhile: their /healthz stays 200). A raw SSE client (tests/sse_resume.py) next
# to the tails checks the same where bcast-tail's own de-duplication
# cannot hide a duplicate.

load helpers
bats_require_minimum_version 1.5.0

N=10000                # lines per emitter
ALL=$((2 * N + 1))     # both threads, then the end marker

setup() {
	bc_setup
	export BCAST_WORKERS=1
	TAG="cl$BATS_TEST_NUMBER-$RANDOM"
	REDIS_PORT=$(free_port)
	redis_start "$T/redis" "$REDIS_PORT" --appendonly yes --appendfsync always
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
	DB=$(pg_new_db)
	HPORT=() HPID=()
	declare -gA TAIL=()
}

hub_url() { echo "http://127.0.0.1:${HPORT[$1]}"; }

# hub_up I: hub I (0..2) on its port (a free one the first time).
hub_up() {
	local i=$1
	[ -n "${HPORT[$i]:-}" ] || HPORT[$i]=$(free_port)
	bcast-hub --listen "127.0.0.1:${HPORT[$i]}" --redis "$REDIS_URL" --db "$DB" \
		--keepalive 2 2>>"$T/hub$i.log" &
	HPID[$i]=$!
	BC_PIDS+=("${HPID[$i]}")
	wait_for 10 curl -sf "$(hub_url "$i")/healthz" || { cat "$T/hub$i.log"; return 1; }
}

# lb_config OUT: examples/haproxy.cfg for this test: the frontend on
# 127.0.0.1:LB_PORT without TLS, the three hubs' addresses, the stats
# socket in $T, logs on stderr, and no chroot, user or daemon (the test
# runs it in the foreground). Every replaced line must be found, so the
# example cannot drift away from what is tested.
lb_config() {
	local src="$REPO/examples/haproxy.cfg" out=$1 pat
	for pat in '^	bind :443 ssl ' '^	server hub1 ' '^	server hub2 ' '^	server hub3 ' \
		'^	stats socket ' '^	log /dev/log' '^	chroot ' '^	user ' '^	group ' '^	daemon$'; do
		[ "$(grep -c "$pat" "$src")" -eq 1 ] || { echo "examples/haproxy.cfg: no single line /$pat/"; return 1; }
	done
	sed -e "s|^	bind :443 ssl .*|	bind 127.0.0.1:$LB_PORT|" \
		-e "s|^	server hub1 [^ ]*|	server hub1 127.0.0.1:${HPORT[0]}|" \
		-e "s|^	server hub2 [^ ]*|	server hub2 127.0.0.1:${HPORT[1]}|" \
		-e "s|^	server hub3 [^ ]*|	server hub3 127.0.0.1:${HPORT[2]}|" \
		-e "s|^	stats socket [^ ]*|	stats socket $T/haproxy.sock|" \
		-e "s|^	log /dev/log .*|	log stderr format raw local0|" \
		-e '/^	chroot /d' -e '/^	user /d' -e '/^	group /d' -e '/^	daemon$/d' \
		"$src" >"$out"
}

# cluster_up: Redis (setup), three hubs, HAProxy in front on $LB.
cluster_up() {
	hub_up 0 && hub_up 1 && hub_up 2 || return 1
	LB_PORT=$(free_port)
	LB="http://127.0.0.1:$LB_PORT"
	lb_config "$T/haproxy.cfg" || return 1
	haproxy -c -q -f "$T/haproxy.cfg"
	haproxy -db -f "$T/haproxy.cfg" 2>"$T/haproxy.log" &
	BC_PIDS+=($!)
	wait_for 10 curl -sf "$LB/healthz" || { cat "$T/haproxy.log"; return 1; }
}

# lb_cmd CMD: a command on HAProxy's admin socket; its answer on stdout.
lb_cmd() {
	python3 - "$T/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
sys.stdout.write(out.decode())
PY
}

# lb_state HUBNAME: UP, DOWN, ... as HAProxy's health checks see it.
lb_state() { lb_cmd "show stat" | awk -F, -v s="$1" '$1 == "hubs" && $2 == s { print $18 }'; }
lb_state_is() { [ "$(lb_state "$1")" = "$2" ]; }

# gsubs I: subscribers of hub I's global stream.
gsubs() {
	curl -sf "$(hub_url "$1")/metrics" |
		sed -nE 's/^bcast_hub_subscribers\{stream="global"\} ([0-9]+)$/\1/p'
}
gsubs_is() { [ "$(gsubs "$1")" = "$2" ]; }
gsubs_total_is() { [ $(( $(gsubs 0) + $(gsubs 1) + $(gsubs 2) )) = "$1" ]; }

# bus_is I up|down: hub I's /healthz says its bus is up or down.
bus_is() { curl -sf "$(hub_url "$1")/healthz" | grep -qx "bus: redis $2"; }

# tail_on NAME URL: bcast-tail --json on URL's global stream until it has
# printed every line; its PID in TAIL[NAME].
tail_on() {
	bcast-tail --hub "$2" --json --count "$ALL" --timeout 120 >"$T/$1.ndjson" 2>"$T/$1.err" &
	TAIL[$1]=$!
	BC_PIDS+=($!)
}

# lb_hub: which hub (0..2) has one global subscriber when the
# others have none, so the one stream through HAProxy is on it.
lb_hub() {
	local i n=0 at=-1 c
	for i in 0 1 2; do
		c=$(gsubs "$i") || return 1
		n=$((n + c))
		[ "$c" -gt 0 ] && at=$i
	done
	[ "$n" = 1 ] && echo "$at"
}

# emit_to I THREAD PACE: bcast-emit of N lines "THREAD K" to hub I; with
# PACE K > 0 a 10 ms pause every K lines (PACE 20: about 5 s a run on an
# idle box; 0: as fast as it goes).
emit_to() {
	python3 -c '
import sys, time
tid, n, pace = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(1, n + 1):
    print(tid, i, flush=pace > 0)
    if pace and i % pace == 0:
        time.sleep(0.01)
' "$2" "$N" "$3" | bcast-emit -t "$2" --hub "$(hub_url "$1")" --redis "$REDIS_URL" --db "$DB" \
		>/dev/null 2>"$T/emit-$2.err" &
	BG_PID=$!
	BC_PIDS+=($!)
}

# post_end I: one more line on a thread of its own, after both runs, so a
# client knows it has seen everything (the raw client stops on it).
post_end() {
	printf '{"thread_id":"%s-end","seq":1,"line":"end"}\n' "$TAG" |
		curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- \
			"$(hub_url "$1")/api/runs/$TAG-end/logs" >/dev/null
}

# check_all FILE...: each file (bcast-tail --json NDJSON, or the raw
# client's "ID SEQ LINE") holds both threads' N lines exactly once each, in
# order, and the end marker; nothing else. Names what is wrong.
check_all() {
	python3 - "$TAG" "$N" "$@" <<'PY'
import json, sys
tag, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bad = []
for path in files:
    got = {}
    other = []
    for l in open(path):
        if path.endswith(".ndjson"):
            line = json.loads(l)["line"]
        else:
            parts = l.rstrip("\n").split(" ", 2)
            if parts[0] in ("reset", "status"):
                other.append(l.strip()); continue
            line = parts[2]
        t, _, k = line.partition(" ")
        got.setdefault(t, []).append(k)
    for t in (tag + "-a", tag + "-b"):
        ks = [int(k) for k in got.pop(t, [])]
        if ks != list(range(1, n + 1)):
            dups = len(ks) - len(set(ks))
            miss = sorted(set(range(1, n + 1)) - set(ks))
            order = sum(1 for a, b in zip(ks, ks[1:]) if a >= b)
            bad.append("%s: thread %s: %d lines, %d duplicates, %d missing %s, %d out of order"
                       % (path, t, len(ks), dups, len(miss), miss[:5], order))
    if got.pop("end", None) != [""]:
        bad.append("%s: the end marker is not there once" % path)
    if got:
        bad.append("%s: lines of other threads: %s" % (path, sorted(got)[:3]))
    if other:
        bad.append("%s: also %s" % (path, other[:3]))
for b in bad: print(b)
sys.exit(1 if bad else 0)
PY
}

@test "cluster: the example HAProxy config is what the test runs, and HAProxy accepts it" {
	HPORT=(8090 8091 8092) LB_PORT=8080
	lb_config "$T/haproxy.cfg"
	run haproxy -c -f "$T/haproxy.cfg"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# Only the replaced lines differ.
	run diff "$REPO/examples/haproxy.cfg" "$T/haproxy.cfg"
	[ "$(grep -c '^[<>]' <<<"$output")" -eq 16 ]
	grep -q '^	balance leastconn$' "$T/haproxy.cfg"
	grep -q 'http-check send meth GET uri /healthz ver HTTP/1.1' "$T/haproxy.cfg"
}


@test "cluster: HAProxy passes each event on at once, takes a killed hub out, and no request fails meanwhile" {
	cluster_up
	# A stream through HAProxy; a line posted to its hub arrives through
	# it at once, unbuffered (the stream stays open: curl is cut at 5 s).
	curl -sN --max-time 5 "$LB/api/logs/stream" >"$T/lb.sse" &
	local c=$!
	BC_PIDS+=("$c")
	wait_for 10 lb_hub
	local l i
	l=$(lb_hub)
	printf '{"thread_id":"%s","seq":1,"line":"through"}\n' "$TAG" |
		curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- \
			"$(hub_url "$l")/api/runs/$TAG/logs"
	wait_for 3 grep -q '"line":"through"' "$T/lb.sse"
	kill -9 "${HPID[$l]}"
	# Every request through HAProxy is answered by a live hub, at once,
	# before and after its health checks notice: a connection refused by
	# the dead hub is retried on another one (option redispatch; without
	# it, HAProxy retries the dead hub for 3 s and answers 503).
	for i in $(seq 1 30); do
		curl -sf --max-time 2.5 "$LB/healthz" >/dev/null || { echo "request $i failed"; false; }
		[ "$i" -le 12 ] || sleep 0.1
	done
	wait_for 10 lb_state_is "hub$((l + 1))" DOWN || { lb_cmd "show stat"; false; }
	[ "$(lb_state "hub$(( (l + 1) % 3 + 1 ))")" = UP ]
	[ "$(lb_state "hub$(( (l + 2) % 3 + 1 ))")" = UP ]
	wait "$c" || true
}

lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# raw_on NAME URL: the raw SSE client (resumes like a browser) on URL's
# global stream until the end marker; its PID in RAW.
raw_on() {
	python3 "$REPO/tests/sse_resume.py" "$2/api/logs/stream" "$T/$1.raw" end 120 >/dev/null &
	RAW=$!
	BC_PIDS+=($!)
}

# wait_tails NAME...: each tail (and RAW) ends by itself with status 0.
wait_tails() {
	local n rc=0
	for n in "$@"; do
		wait "${TAIL[$n]}" || { echo "tail $n: exit $?; $(tail -3 "$T/$n.err")"; rc=1; }
	done
	wait "$RAW" || { echo "raw client: exit $?; $(tail -2 "$T"/*.raw)"; rc=1; }
	return $rc
}

# wait_emitters PID...: each bcast-emit ends with status 0.
wait_emitters() {
	local p rc=0
	for p in "$@"; do wait "$p" || { echo "emit $p: exit $?"; rc=1; }; done
	[ $rc = 0 ] || cat "$T"/emit-*.err
	return $rc
}

@test "cluster: an idle stream through HAProxy outlives its inactivity timeouts: the hub's keepalive comments keep it open" {
	cluster_up    # hubs with --keepalive 2
	# The same config with 4 s instead of 1 min for timeout client and
	# server, on a port of its own.
	local port
	port=$(free_port)
	sed -e "s|^	bind 127.0.0.1:$LB_PORT\$|	bind 127.0.0.1:$port|" \
		-e "s|^	stats socket [^ ]*|	stats socket $T/haproxy2.sock|" \
		-e 's|^	timeout client 1m$|	timeout client 4s|' -e 's|^	timeout server 1m$|	timeout server 4s|' \
		"$T/haproxy.cfg" >"$T/haproxy-short.cfg"
	[ "$(grep -cE "^	(timeout (client|server) 4s|bind 127.0.0.1:$port)\$" "$T/haproxy-short.cfg")" -eq 3 ]
	haproxy -db -f "$T/haproxy-short.cfg" 2>"$T/haproxy-short.log" &
	BC_PIDS+=($!)
	wait_for 10 curl -sf "http://127.0.0.1:$port/healthz"
	# Nothing is posted: only keepalive comments flow, for 10 s, and it is
	# curl's own limit (exit 28) that ends the stream, not HAProxy.
	run curl -sN --max-time 10 -o "$T/idle.sse" "http://127.0.0.1:$port/api/logs/stream"
	[ "$status" -eq 28 ] || { echo "curl exit $status"; cat "$T/idle.sse"; false; }
	[ "$(grep -c '^: keepalive' "$T/idle.sse")" -ge 3 ]
}

@test "cluster: 20,000 lines from two emitters on two hubs reach every tail (3 hubs, HAProxy) once, in order" {
	cluster_up
	tail_on lb "$LB"
	wait_for 10 lb_hub
	local l
	l=$(lb_hub)
	tail_on h0 "$(hub_url 0)"
	tail_on h1 "$(hub_url 1)"
	tail_on h2 "$(hub_url 2)"
	# The raw client on the hub no emitter posts to: it sees only the bus.
	raw_on raw2 "$(hub_url 2)"
	local i want
	for i in 0 1 2; do
		want=1
		[ "$i" = "$l" ] && want=$((want + 1))
		[ "$i" = 2 ] && want=$((want + 1))
		wait_for 10 gsubs_is "$i" "$want"
	done
	emit_to 0 "$TAG-a" 0
	local ea=$BG_PID
	emit_to 1 "$TAG-b" 0
	local eb=$BG_PID
	wait_emitters "$ea" "$eb"
	post_end 2
	wait_tails lb h0 h1 h2
	check_all "$T"/lb.ndjson "$T"/h0.ndjson "$T"/h1.ndjson "$T"/h2.ndjson "$T"/raw2.raw
	[ "$(sql "$DB" "SELECT count(*) FROM thread_logs WHERE thread_id LIKE '$TAG-%'")" = $((2 * N)) ]
}

@test "cluster: kill -9 of the hub under the HAProxy tail mid-run: it resumes on another hub with every line once, in order" {
	cluster_up
	tail_on lb "$LB"
	wait_for 10 lb_hub
	local l a b i
	l=$(lb_hub)
	a=$(( (l + 1) % 3 )) b=$(( (l + 2) % 3 ))
	# The raw client through HAProxy too, on the same hub: the other two
	# are drained (no new streams) while it connects.
	lb_cmd "set server hubs/hub$((a + 1)) state drain" >/dev/null
	lb_cmd "set server hubs/hub$((b + 1)) state drain" >/dev/null
	raw_on rawlb "$LB"
	wait_for 10 gsubs_is "$l" 2
	lb_cmd "set server hubs/hub$((a + 1)) state ready" >/dev/null
	lb_cmd "set server hubs/hub$((b + 1)) state ready" >/dev/null
	for i in 0 1 2; do tail_on "h$i" "$(hub_url "$i")"; done
	wait_for 10 gsubs_is "$l" 3
	wait_for 10 gsubs_is "$a" 1
	wait_for 10 gsubs_is "$b" 1
	# The emitters post to the two hubs that stay.
	emit_to "$a" "$TAG-a" 20
	local ea=$BG_PID
	emit_to "$b" "$TAG-b" 20
	local eb=$BG_PID
	wait_for 30 lines_ge "$T/lb.ndjson" 2000
	kill -9 "${HPID[$l]}"
	local n_kill
	n_kill=$(wc -l <"$T/lb.ndjson")
	# HAProxy's health checks take it out.
	wait_for 15 lb_state_is "hub$((l + 1))" DOWN || { lb_cmd "show stat"; false; }
	# Both clients through HAProxy are on the two other hubs now, next to
	# the direct tails (they wait for the end marker, posted below).
	moved() { [ $(( $(gsubs "$a") + $(gsubs "$b") )) = 4 ]; }
	wait_for 10 moved || { echo "global subscribers: $(gsubs "$a") and $(gsubs "$b")"; false; }
	wait_emitters "$ea" "$eb"
	post_end "$a"
	wait_tails lb "h$a" "h$b"
	echo "# the HAProxy tail had $n_kill of $ALL lines when hub $((l + 1)) was killed" >&3
	[ "$n_kill" -lt $((2 * N)) ]
	check_all "$T"/lb.ndjson "$T/h$a.ndjson" "$T/h$b.ndjson" "$T"/rawlb.raw
	# Resumed, not reset (bcast-tail says "reset: ..." on stderr when it was).
	run grep -c 'bcast-tail: reset:' "$T/lb.err"
	[ "$output" = 0 ]
	[ "$(sql "$DB" "SELECT count(*) FROM thread_logs WHERE thread_id LIKE '$TAG-%'")" = $((2 * N)) ]
}

@test "cluster: Redis kill -9 and restart mid-run: every tail still ends with every line once, in order" {
	cluster_up
	tail_on lb "$LB"
	local i
	for i in 0 1 2; do tail_on "h$i" "$(hub_url "$i")"; done
	raw_on raw2 "$(hub_url 2)"
	wait_for 10 gsubs_total_is 5
	# Paced to last about 10 s, so the 5 s outage is inside the run.
	emit_to 0 "$TAG-a" 10
	local ea=$BG_PID
	emit_to 1 "$TAG-b" 10
	local eb=$BG_PID
	wait_for 30 lines_ge "$T/h2.ndjson" 2000
	local rpid
	rpid=$(cat "$T/redis/redis.pid")
	kill -9 "$rpid"
	for i in $(seq 1 50); do pid_gone "$rpid" && break; sleep 0.1; done
	local n_kill
	n_kill=$(wc -l <"$T/h2.ndjson")
	# Every hub still serves and says the bus is down.
	for i in 0 1 2; do
		wait_for 5 bus_is "$i" down || { curl -s "$(hub_url "$i")/healthz"; false; }
	done
	# HAProxy keeps every hub in (their /healthz stays 200) past the time
	# its checks take to mark a hub down (2 failures 2 s apart).
	sleep 5
	for i in 1 2 3; do
		[ "$(lb_state "hub$i")" = UP ] || { lb_cmd "show stat"; false; }
	done
	redis_start "$T/redis" "$REDIS_PORT" --appendonly yes --appendfsync always
	for i in 0 1 2; do
		wait_for 10 bus_is "$i" up || { curl -s "$(hub_url "$i")/healthz"; false; }
	done
	# An emitter whose run ended while Redis was away exits 75 by design
	# (its flush waits): bcast-flush drains it below.
	local p rc
	for p in "$ea" "$eb"; do
		wait "$p" && rc=0 || rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 75 ] || { echo "emit: exit $rc"; cat "$T"/emit-*.err; false; }
	done
	post_end 0
	wait_tails lb h0 h1 h2
	echo "# hub 3's tail had $n_kill of $ALL lines when Redis was killed" >&3
	[ "$n_kill" -lt $((2 * N)) ]
	check_all "$T"/lb.ndjson "$T"/h0.ndjson "$T"/h1.ndjson "$T"/h2.ndjson "$T"/raw2.raw
	bcast-flush --all --redis "$REDIS_URL" --db "$DB" 2>"$T/flush.err" || { cat "$T/flush.err"; false; }
	[ "$(sql "$DB" "SELECT count(*) FROM thread_logs WHERE thread_id LIKE '$TAG-%'")" = $((2 * N)) ]
}
