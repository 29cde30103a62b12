#!/usr/bin/env bats
# bus.bats - two hubs on one real Redis: what is ingested at one reaches
# the subscribers of both, once and in order; admin events cross; foreign
# or malformed entries of the bus stream are dropped and counted and reach
# no client; with Redis gone each hub still delivers its own ingests and
# says so, and once Redis is back the hubs rejoin and replay what the
# other hub missed. Each test runs its own Redis (it kills it).

load helpers

setup() {
	bc_setup
	RP=$(free_port)
	redis_start "$T/redis" "$RP"
	REDIS="redis://127.0.0.1:$RP"
}

# hubs: hub A and hub B on the test's Redis; A_URL, B_URL.
hubs() {
	start_hub --redis "$REDIS" --spool "$T/spool-a"
	A_URL=$BCAST_HUB A_PID=$HUB_PID
	start_hub --redis "$REDIS" --spool "$T/spool-b"
	B_URL=$BCAST_HUB B_PID=$HUB_PID
	wait_for 10 bus_is "$A_URL" up
	wait_for 10 bus_is "$B_URL" up
}

# bus_is URL up|down: the hub's /healthz says so.
bus_is() { [ "$(curl -s --max-time 2 "$1/healthz")" = "$(printf 'ok\nbus: redis %s' "$2")" ]; }

# metric URL NAME: one sample of /metrics.
metric() { curl -sf --max-time 5 "$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }

# sub FILE URL: a subscriber writing the raw stream to FILE; waits until
# the hub counts it.
sub() {
	bg curl -sN --max-time 120 -o "$1" "$2"
	wait_for 5 grep -q '^: connected' "$1"
}

# post URL TID FIRST LAST: one POST of records FIRST..LAST of thread TID.
post() {
	local i
	for i in $(seq "$3" "$4"); do
		printf '{"thread_id":"%s","seq":%d,"line":"%s-%d"}\n' "$2" "$i" "$2" "$i"
	done | curl -sf --max-time 10 -H 'Content-Type: application/x-ndjson' \
		--data-binary @- "$1/api/runs/$2/logs" >/dev/null
}

# lines FILE [TID]: the "line" of every log event in an SSE capture (up to
# a space: what follows is padding). Events are parsed as SSE does (data
# lines joined up to a blank line), so two frames run together fail.
lines() {
	python3 -c 'import sys, json
for ev in open(sys.argv[1]).read().split("\n\n")[:-1]:
    data = [l[6:] for l in ev.split("\n") if l.startswith("data: ")]
    if not data:
        continue
    d = json.loads("\n".join(data))
    if "line" in d and (len(sys.argv) < 3 or d["thread_id"] == sys.argv[2]):
        print(d["line"].split(" ")[0])' "$@"
}
count_is() { [ "$(lines "$1" ${3:+"$3"} | wc -l)" -ge "$2" ]; }

# expect FILE TID FIRST LAST: FILE holds TID-FIRST..TID-LAST, each once, in order.
expect() {
	local want got
	want=$(seq "$3" "$4" | sed "s/^/$2-/")
	got=$(lines "$1" "$2")
	[ "$got" = "$want" ] || { echo "want $2-$3..$2-$4 in $1, got:"; echo "$got" | head -50; return 1; }
}

@test "bus: lines POSTed to one hub reach the subscribers of both once, in order; admin events cross" {
	hubs
	sub "$T/a.sse" "$A_URL/api/logs/stream"
	sub "$T/b.sse" "$B_URL/api/logs/stream"
	sub "$T/bt.sse" "$B_URL/api/runs/t1/logs/stream"
	sub "$T/badm.sse" "$B_URL/api/admin-events/stream"
	for i in $(seq 1 20); do post "$A_URL" t1 $(( (i - 1) * 10 + 1 )) $(( i * 10 )); done
	# A streaming POST (the chunked path) of 300 more, through B.
	seq 1 300 | sed 's/.*/{"thread_id":"t2","seq":&,"line":"t2-&"}/' |
		curl -sf --max-time 10 -H 'Content-Type: application/x-ndjson' \
			-H 'Transfer-Encoding: chunked' --data-binary @- "$B_URL/api/runs/t2/logs"
	curl -sf --max-time 5 -H 'Content-Type: application/json' \
		--data-binary '{"type":"checkpoint","thread_id":"t1","data":{"n":1}}' \
		"$A_URL/api/admin-events" >/dev/null
	wait_for 10 count_is "$T/a.sse" 500
	wait_for 10 count_is "$T/b.sse" 500
	wait_for 10 grep -q checkpoint "$T/badm.sse"
	sleep 0.3   # a duplicate would come right behind
	expect "$T/a.sse" t1 1 200
	expect "$T/b.sse" t1 1 200
	expect "$T/bt.sse" t1 1 200
	expect "$T/a.sse" t2 1 300
	expect "$T/b.sse" t2 1 300
	[ "$(grep -c '^data: ' "$T/badm.sse")" = 1 ]
	grep -q '"type":"checkpoint","thread_id":"t1"' "$T/badm.sse"
	# One order, the same ids at both hubs: bus positions @MS-SEQ:K.
	grep '^id: ' "$T/a.sse" >"$T/a.ids"
	grep '^id: ' "$T/b.sse" >"$T/b.ids"
	[ "$(wc -l <"$T/a.ids")" = 500 ]
	cmp "$T/a.ids" "$T/b.ids"
	grep -qE '^id: @[0-9]+-[0-9]+:[0-9]+$' "$T/a.ids"
	[ "$(grep -cvE '^id: @[0-9]+-[0-9]+:[0-9]+$' "$T/a.ids")" = 0 ]
	# Every ingest went through the bus: 21 messages of A's, 1+ of B's.
	[ "$(metric "$A_URL" bcast_hub_bus_published_total)" = 21 ]
	[ "$(metric "$B_URL" bcast_hub_bus_received_total)" -ge 22 ]
	# One POST of 300 KiB is several bus entries (64 KiB each at most),
	# delivered whole and in order at both hubs.
	pad=$(head -c 1000 /dev/zero | tr '\0' x)
	for i in $(seq 1 300); do
		printf '{"thread_id":"t4","seq":%d,"line":"t4-%d %s"}\n' "$i" "$i" "$pad"
	done | curl -sf --max-time 10 -H 'Content-Type: application/x-ndjson' \
		--data-binary @- "$A_URL/api/runs/t4/logs" >/dev/null
	wait_for 10 count_is "$T/a.sse" 300 t4
	wait_for 10 count_is "$T/b.sse" 300 t4
	expect "$T/a.sse" t4 1 300
	expect "$T/b.sse" t4 1 300
	[ "$(metric "$A_URL" bcast_hub_bus_published_total)" -ge 26 ]
	[ "$(metric "$A_URL" bcast_hub_bus_up)" = 1 ]
	[ "$(redis-cli -p "$RP" XLEN logs:bus)" -ge 22 ]
	# What an admin event causes happens only where it was posted: each
	# hub has its own database here, and only A's records the run.
	curl -sf --max-time 5 -H 'Content-Type: application/json' \
		--data-binary '{"type":"run_started","thread_id":"t3"}' \
		"$A_URL/api/admin-events" >/dev/null
	wait_for 10 grep -q '"type":"run_started","thread_id":"t3"' "$T/badm.sse"
	wait_for 10 sh -c "curl -sf '$A_URL/admin/runs' | grep -q '\"thread_id\":\"t3\"'"
	sleep 0.5
	run curl -sf "$B_URL/admin/runs"
	[ "$status" = 0 ]
	[[ "$output" != *'"t3"'* ]]
}

@test "bus: foreign and malformed bus entries are dropped and counted, reach no client, and the hubs stay up" {
	hubs
	sub "$T/a.sse" "$A_URL/api/logs/stream"
	sub "$T/b.sse" "$B_URL/api/runs/t1/logs/stream"
	sub "$T/badm.sse" "$B_URL/api/admin-events/stream"
	o=0123456789abcdef
	rc() { redis-cli -p "$RP" "$@" >/dev/null; }
	rc XADD logs:bus '*' m 'not json at all'
	rc XADD logs:bus '*' m "$(printf '{"v":1,"o":"%s","q":1,"k":"l","t":"t1"' $o)"
	rc XADD logs:bus '*' m "$(printf '{"v":2,"o":"%s","q":1,"k":"l","t":"t1"}\n{"thread_id":"t1","seq":1,"line":"evil-version"}' $o)"
	rc XADD logs:bus '*' m "$(printf '{"v":1,"o":"%s","q":2,"k":"l","t":"t1"}\n{"thread_id":"t9","seq":1,"line":"evil-tid"}' $o)"
	rc XADD logs:bus '*' m "$(printf '{"v":1,"o":"%s","q":3,"k":"l","t":"t1"}\n{"thread_id":"t1","seq":"x","line":"evil-record"}' $o)"
	rc XADD logs:bus '*' m "$(printf '{"v":1,"o":"%s","q":4,"k":"a"}\n{"type":"Bad Type","thread_id":"t1","line":"evil-admin"}' $o)"
	rc XADD logs:bus '*' x "$(printf '{"v":1,"o":"%s","q":5,"k":"l","t":"t1"}\n{"thread_id":"t1","seq":1,"line":"evil-field"}' $o)"
	head -c 3000000 /dev/urandom | base64 -w 0 >"$T/huge"
	redis-cli -p "$RP" -x XADD logs:bus '*' m <"$T/huge" >/dev/null
	# A good foreign message after them all is delivered: the hubs go on.
	rc XADD logs:bus '*' m "$(printf '{"v":1,"o":"%s","q":6,"k":"l","t":"t1"}\n{"thread_id":"t1","seq":7,"line":"t1-7"}' $o)"
	wait_for 10 count_is "$T/a.sse" 1
	wait_for 10 count_is "$T/b.sse" 1
	post "$A_URL" t1 8 9
	wait_for 10 count_is "$T/b.sse" 3
	wait_for 10 count_is "$T/a.sse" 3
	expect "$T/a.sse" t1 7 9
	expect "$T/b.sse" t1 7 9
	run grep -c evil "$T/a.sse" "$T/b.sse" "$T/badm.sse"
	[ "$output" = "$(printf '%s:0\n' "$T/a.sse" "$T/b.sse" "$T/badm.sse")" ]
	[ "$(grep -c '^data: ' "$T/badm.sse")" = 0 ]
	for u in "$A_URL" "$B_URL"; do
		[ "$(metric "$u" 'bcast_hub_bus_dropped_total{reason="malformed"}')" = 8 ]
		bus_is "$u" up
	done
	kill -0 "$A_PID"
	kill -0 "$B_PID"
	grep -q 'bus: entry .* dropped: ' "$T/hub-${A_URL##*:}.log"
}

@test "bus: Redis goes away: each hub delivers its own ingests and says so; back, they rejoin and replay what the other missed" {
	hubs
	sub "$T/a.sse" "$A_URL/api/logs/stream"
	sub "$T/b.sse" "$B_URL/api/logs/stream"
	post "$A_URL" t1 1 5
	wait_for 10 count_is "$T/b.sse" 5

	kill -9 "$(cat "$T/redis/redis.pid")"
	wait_for 10 bus_is "$A_URL" down
	wait_for 10 bus_is "$B_URL" down
	[ "$(metric "$A_URL" bcast_hub_bus_up)" = 0 ]
	for i in $(seq 6 5 26); do post "$A_URL" t1 "$i" $(( i + 4 )); done   # 6..30
	post "$B_URL" t2 1 10
	# Each hub's own subscribers have its own ingests at once.
	wait_for 10 count_is "$T/a.sse" 30 t1
	wait_for 10 count_is "$T/b.sse" 10 t2
	expect "$T/a.sse" t1 1 30
	[ "$(lines "$T/b.sse" t1 | wc -l)" = 5 ]
	[ "$(metric "$A_URL" bcast_hub_bus_outbox_bytes)" -gt 0 ]

	redis_start "$T/redis" "$RP"
	wait_for 10 bus_is "$A_URL" up
	wait_for 10 bus_is "$B_URL" up
	# The outbox replay: B gets A's 25, A gets B's 10, each once, in order.
	wait_for 10 count_is "$T/b.sse" 30 t1
	wait_for 10 count_is "$T/a.sse" 10 t2
	post "$A_URL" t1 31 32
	wait_for 10 count_is "$T/b.sse" 32 t1
	wait_for 10 count_is "$T/a.sse" 32 t1
	sleep 0.3
	expect "$T/a.sse" t1 1 32
	expect "$T/b.sse" t1 1 32
	expect "$T/a.sse" t2 1 10
	expect "$T/b.sse" t2 1 10
	[ "$(metric "$A_URL" bcast_hub_bus_reconnects_total)" -ge 1 ]
	[ "$(metric "$A_URL" bcast_hub_bus_outbox_bytes)" = 0 ]
}

@test "bus: --redis none is no bus: healthz says ok alone and no bus metrics" {
	start_hub --redis none
	[ "$(curl -s "$BCAST_HUB/healthz")" = ok ]
	run curl -s "$BCAST_HUB/metrics"
	[ "$status" = 0 ]
	[ "$(grep -c '^bcast_hub_bus_' <<<"$output")" = 0 ]
	run bcast-hub --bus-maxlen 3 --redis none
	[ "$status" = 64 ]
}

@test "bus: past --bus-outbox the oldest kept ingests are dropped and counted; the hub's own subscribers still get all, the other hub the newest, in order" {
	start_hub --redis "$REDIS" --spool "$T/spool-a" --bus-outbox 64K
	A_URL=$BCAST_HUB
	start_hub --redis "$REDIS" --spool "$T/spool-b"
	B_URL=$BCAST_HUB
	wait_for 10 bus_is "$A_URL" up
	wait_for 10 bus_is "$B_URL" up
	sub "$T/a.sse" "$A_URL/api/logs/stream"
	sub "$T/b.sse" "$B_URL/api/logs/stream"
	kill -9 "$(cat "$T/redis/redis.pid")"
	wait_for 10 bus_is "$A_URL" down
	# 40 POSTs of 5 lines of ~1 KiB: ~200 KiB, three times the outbox.
	pad=$(head -c 1000 /dev/zero | tr '\0' x)
	for p in $(seq 0 39); do
		for i in $(seq $(( p * 5 + 1 )) $(( p * 5 + 5 ))); do
			printf '{"thread_id":"t1","seq":%d,"line":"t1-%d %s"}\n' "$i" "$i" "$pad"
		done | curl -sf --max-time 10 -H 'Content-Type: application/x-ndjson' \
				--data-binary @- "$A_URL/api/runs/t1/logs" >/dev/null
	done
	curl -sf -H 'Content-Type: application/x-ndjson' --data-binary \
		"{\"thread_id\":\"pad\",\"seq\":1,\"line\":\"$pad\"}" "$A_URL/api/runs/pad/logs" >/dev/null
	wait_for 10 count_is "$T/a.sse" 200 t1
	expect "$T/a.sse" t1 1 200
	dropped=$(metric "$A_URL" 'bcast_hub_bus_dropped_total{reason="outbox"}')
	[ "$dropped" -gt 0 ]
	[ "$(metric "$A_URL" bcast_hub_bus_outbox_bytes)" -le 65536 ]
	redis_start "$T/redis" "$RP"
	wait_for 10 bus_is "$A_URL" up
	wait_for 10 grep -q '"thread_id":"pad"' "$T/b.sse"
	# B got a suffix of A's lines: the newest, once each, in order.
	first=$(lines "$T/b.sse" t1 | head -1)
	first=${first#t1-}
	[ "$first" -gt 1 ]
	expect "$T/b.sse" t1 "$first" 200
}

@test "bus: a hub that joins later serves global and admin cursors from before it started (join prefill)" {
	start_hub --redis "$REDIS" --spool "$T/spool-a"
	A_URL=$BCAST_HUB
	wait_for 10 bus_is "$A_URL" up
	sub "$T/a.sse" "$A_URL/api/logs/stream"
	sub "$T/aadm.sse" "$A_URL/api/admin-events/stream"
	post "$A_URL" t1 1 10
	for i in 1 2; do
		curl -sf --max-time 5 -H 'Content-Type: application/json' \
			--data-binary "{\"type\":\"checkpoint\",\"thread_id\":\"t1\",\"data\":{\"n\":$i}}" \
			"$A_URL/api/admin-events" >/dev/null
	done
	post "$A_URL" t1 11 20
	wait_for 10 count_is "$T/a.sse" 20
	wait_for 10 grep -q '"n":2' "$T/aadm.sse"
	# Cursors a client of A holds: after line t1-5, after the first event.
	cur=$(grep '^id: ' "$T/a.sse" | sed -n 5p | cut -c5-)
	acur=$(grep '^id: ' "$T/aadm.sse" | head -1 | cut -c5-)
	start_hub --redis "$REDIS" --spool "$T/spool-b"
	B_URL=$BCAST_HUB
	wait_for 10 bus_is "$B_URL" up
	bg curl -sN --max-time 60 -o "$T/b.sse" -H "Last-Event-ID: $cur" "$B_URL/api/logs/stream"
	bg curl -sN --max-time 60 -o "$T/badm.sse" -H "Last-Event-ID: $acur" "$B_URL/api/admin-events/stream"
	wait_for 10 count_is "$T/b.sse" 15
	wait_for 10 grep -q '"n":2' "$T/badm.sse"
	post "$A_URL" t1 21 22
	wait_for 10 count_is "$T/b.sse" 17
	sleep 0.3
	expect "$T/b.sse" t1 6 22
	run grep -c 'event: reset' "$T/b.sse" "$T/badm.sse"
	[ "$output" = "$(printf '%s:0\n' "$T/b.sse" "$T/badm.sse")" ]
	[ "$(grep -c '^data: ' "$T/badm.sse")" = 1 ]
}

@test "bus: logs:bus taken by a value of another type, or Redis hanging (SIGSTOP): the hubs deliver their own ingests and recover" {
	hubs
	sub "$T/a.sse" "$A_URL/api/logs/stream"
	sub "$T/b.sse" "$B_URL/api/logs/stream"
	post "$A_URL" t1 1 2
	wait_for 10 count_is "$T/b.sse" 2
	# Not a stream: every XADD and XREAD is an error reply.
	redis-cli -p "$RP" DEL logs:bus >/dev/null
	redis-cli -p "$RP" SET logs:bus 'not a stream' >/dev/null
	post "$A_URL" t1 3 4
	wait_for 10 bus_is "$A_URL" down
	wait_for 10 count_is "$T/a.sse" 4
	grep -q 'WRONGTYPE' "$T/hub-${A_URL##*:}.log"
	redis-cli -p "$RP" DEL logs:bus >/dev/null
	wait_for 10 bus_is "$A_URL" up
	wait_for 10 count_is "$T/b.sse" 4
	# A Redis that stops answering is given up after a few seconds.
	kill -STOP "$(cat "$T/redis/redis.pid")"
	post "$A_URL" t1 5 6
	wait_for 15 count_is "$T/a.sse" 6
	bus_is "$A_URL" down
	kill -CONT "$(cat "$T/redis/redis.pid")"
	wait_for 10 bus_is "$A_URL" up
	wait_for 10 count_is "$T/b.sse" 6
	post "$A_URL" t1 7 8
	wait_for 10 count_is "$T/b.sse" 8
	wait_for 10 count_is "$T/a.sse" 8
	sleep 0.3
	expect "$T/a.sse" t1 1 8
	expect "$T/b.sse" t1 1 8
}

@test "bus: a cursor that reaches a hub still joining is served from the whole prefill, no gap" {
	# 10,000 entries of another hub on the bus; a cursor at the 5,000th.
	python3 - <<'PY' | redis-cli -p "$RP" --pipe >/dev/null
import sys
def cmd(*a):
    return "*%d\r\n" % len(a) + "".join("$%d\r\n%s\r\n" % (len(x.encode()), x) for x in a)
for q in range(1, 10001):
    m = '{"v":1,"o":"0123456789abcdef","q":%d,"k":"l","t":"t1"}\n' % q
    m += '{"thread_id":"t1","seq":%d,"line":"t1-%d %s"}\n' % (q, q, "x" * 500)
    sys.stdout.write(cmd("XADD", "logs:bus", "*", "m", m))
PY
	id=$(redis-cli -p "$RP" XRANGE logs:bus - + COUNT 5000 | grep -E '^[0-9]+-[0-9]+$' | tail -1)
	HUB_PORT=$(free_port)
	bg bcast-hub --listen "127.0.0.1:$HUB_PORT" --redis "$REDIS" --db "$(sqlite_db)" \
		--spool "$T/spool" 2>"$T/hub.log"
	# Ask as soon as it listens: usually before its prefill (6 MB) is in.
	for _ in $(seq 1 500); do
		curl -sN --max-time 4 -H "Last-Event-ID: @$id:0" -o "$T/b.sse" \
			"http://127.0.0.1:$HUB_PORT/api/logs/stream" && break
		[ $? = 7 ] || break
	done
	run grep -c 'event: reset' "$T/b.sse"
	[ "$output" = 0 ]
	expect "$T/b.sse" t1 5001 10000
}
