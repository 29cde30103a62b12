#!/usr/bin/env bats
# resume-bus.bats - global and admin cursors that any hub on the bus can
# serve: two hubs on one Redis deliver the same events with the same ids
# "@MS-SEQ:K" (event K of bus entry MS-SEQ), so a client that loses hub A
# resumes on hub B from its Last-Event-ID, each later event once, in order;
# a cursor older than B's ring gets one reset; a cursor from the future is
# held for the bus (served if its entry comes within 2 s, else reset).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	bc_setup
	TID="rb$BATS_TEST_NUMBER-$RANDOM$RANDOM"
	redis_reset
}

lines_ge() { [ -f "$1" ] && [ "$(grep -c "${3:-}" "$1")" -ge "$2" ]; }
subscribed() { curl -sf "$1/metrics" | grep -qx "bcast_hub_subscribers{stream=\"$2\"} $3"; }

# two_hubs [ARGS of hub B]: hubs A and B on the test Redis.
two_hubs() {
	start_hub --redis "$BCAST_TEST_REDIS"
	A=$BCAST_HUB
	start_hub --redis "$BCAST_TEST_REDIS" "$@"
	B=$BCAST_HUB
}

post() {   # post HUB TID SEQ...: one request, one record per seq, line = seq
	local hub=$1 tid=$2; shift 2
	local s
	for s in "$@"; do printf '{"thread_id":"%s","seq":%d,"line":"%d"}\n' "$tid" "$s" "$s"; done |
		curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- \
			"$hub/api/runs/$tid/logs" >/dev/null
}

event() {  # event HUB TYPE I
	curl -sf -X POST -H 'Content-Type: application/json' \
		-d "{\"type\":\"$2\",\"thread_id\":\"$TID\",\"data\":{\"i\":$3}}" \
		"$1/api/admin-events" >/dev/null
}

# The "id seq line" rows of sse_resume.py's log, lines FIRST..LAST once
# each, in order, nothing else.
check_once() {
	[ "$(cut -d' ' -f3 "$1" | tr '\n' ' ')" = "$(seq -s' ' "$2" "$3") " ] ||
		{ echo "$1:"; cat "$1"; false; }
}

@test "resume-bus: a global subscriber of hub A resumes on hub B with the same ids, every later line once, in order" {
	two_hubs
	bg python3 "$REPO/tests/sse_resume.py" "$A/api/logs/stream" "$T/a.log" 30 20
	a=$BG_PID
	wait_for 10 subscribed "$A" global 1
	post "$B" "$TID" $(seq 1 10)
	post "$A" "$TID" $(seq 11 20)
	post "$B" "$TID" $(seq 21 30)
	wait "$a"
	check_once "$T/a.log" 1 30
	id12=$(sed -n '12p' "$T/a.log" | cut -d' ' -f1)
	[[ "$id12" =~ ^@[0-9]+-[0-9]+:1$ ]]
	# Hub A is gone: the client reconnects to B with event 12's id.
	bg python3 "$REPO/tests/sse_resume.py" "$B/api/logs/stream" "$T/b.log" 35 20 "$id12"
	b=$BG_PID
	wait_for 10 lines_ge "$T/b.log" 18
	post "$A" "$TID" $(seq 31 35)
	wait "$b"
	check_once "$T/b.log" 13 35
	# Both hubs gave the replayed events the same ids.
	diff <(sed -n '13,30p' "$T/a.log") <(sed -n '1,18p' "$T/b.log")
}

@test "resume-bus: an admin subscriber resumes on the other hub with its type filter" {
	two_hubs
	curl -sN --max-time 4 "$A/api/admin-events/stream" >"$T/a.sse" &
	c1=$!
	wait_for 10 subscribed "$A" admin 1
	for i in 1 2 3 4 5 6; do event "$B" "$([ $((i % 2)) = 1 ] && echo step || echo note)" "$i"; done
	wait_for 10 lines_ge "$T/a.sse" 6 '^data:'
	id2=$(grep -B1 '"data":{"i":2}' "$T/a.sse" | sed -n 's/^id: //p')
	[[ "$id2" =~ ^@[0-9]+-[0-9]+:0$ ]]
	curl -sN --max-time 3 -H "Last-Event-ID: $id2" "$B/api/admin-events/stream?type=step" >"$T/b.sse" &
	c2=$!
	wait_for 10 subscribed "$B" admin 1
	event "$A" note 7
	event "$A" step 8
	wait "$c1" "$c2" || true
	[ "$(grep -o '"i":[0-9]*' "$T/b.sse" | tr '\n' ' ')" = '"i":3 "i":5 "i":8 ' ]
	# The same ids as on hub A.
	for i in 3 5; do
		[ "$(grep -B1 "\"i\":$i}" "$T/b.sse" | sed -n 's/^id: //p')" = \
		  "$(grep -B1 "\"i\":$i}" "$T/a.sse" | sed -n 's/^id: //p')" ]
	done
}

@test "resume-bus: a cursor older than the other hub's ring gets one reset, then live" {
	two_hubs --resume-events 10
	bg python3 "$REPO/tests/sse_resume.py" "$A/api/logs/stream" "$T/a.log" 40 20
	a=$BG_PID
	wait_for 10 subscribed "$A" global 1
	for k in 0 1 2 3; do   # one batch each on B too: wait for each
		post "$A" "$TID" $(seq $((k * 10 + 1)) $((k * 10 + 10)))
		wait_for 10 lines_ge "$T/a.log" $((k * 10 + 10))
	done
	wait "$a"
	id5=$(sed -n '5p' "$T/a.log" | cut -d' ' -f1)
	curl -sN --max-time 2 -H "Last-Event-ID: $id5" "$B/api/logs/stream" >"$T/reset.sse" || true
	[ "$(grep -c '^event: reset$' "$T/reset.sse")" = 1 ]
	[ "$(grep -c '^data: {"thread_id"' "$T/reset.sse")" = 0 ]
	grep -qx "data: {\"reason\":\"expired\",\"cursor\":\"$id5\",\"missed\":null}" "$T/reset.sse"
	# The reset's id is the newest event's (line 40's, as on hub A).
	[ "$(grep -B1 '^event: reset$' "$T/reset.sse" | sed -n 's/^id: //p')" = "$(sed -n '40p' "$T/a.log" | cut -d' ' -f1)" ]
}

@test "resume-bus: a cursor from the future waits for its entry, served if it comes within 2 s, else one reset" {
	two_hubs
	post "$A" "$TID" 1
	on_bus() { [ "$(redis_cli XLEN logs:bus)" -ge 1 ]; }
	wait_for 10 on_bus
	# An entry this hub has not seen yet: the cursor names its event 0.
	ms=$(( $(redis_cli XREVRANGE logs:bus + - COUNT 1 | head -1 | cut -d- -f1) + 5000 ))
	curl -sN --max-time 3 -H "Last-Event-ID: @$ms-0:0" "$B/api/logs/stream" >"$T/wait.sse" &
	c=$!
	wait_for 10 subscribed "$B" global 1
	msg=$(printf '{"v":1,"o":"00000000000000ff","q":1,"k":"l","t":"%s"}\n' "$TID"
	      printf '{"thread_id":"%s","seq":2,"line":"2"}\n{"thread_id":"%s","seq":3,"line":"3"}' "$TID" "$TID")
	redis_cli XADD logs:bus "$ms-0" m "$msg" >/dev/null
	wait "$c" || true
	# Served from the cursor: event 1 of that entry, no reset.
	[ "$(grep -c '^event: reset$' "$T/wait.sse")" = 0 ]
	[ "$(grep -c '^data: {"thread_id"' "$T/wait.sse")" = 1 ]
	grep -qx "id: @$ms-0:1" "$T/wait.sse"
	# An entry that never comes: one reset after about 2 s.
	start=$(date +%s%N)
	sed -n '/^event: reset$/{n;p;q}' >"$T/reset.data" \
		< <(curl -sN --max-time 8 -H "Last-Event-ID: @$((ms + 60000))-0:0" "$B/api/logs/stream")
	waited=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "reset after $waited ms"
	grep -qx "data: {\"reason\":\"expired\",\"cursor\":\"@$((ms + 60000))-0:0\",\"missed\":null}" "$T/reset.data"
	[ "$waited" -ge 1900 ] && [ "$waited" -lt 7000 ]
}

@test "resume-bus: a hub started after the events serves their cursors from the bus (prefill)" {
	start_hub --redis "$BCAST_TEST_REDIS"
	A=$BCAST_HUB
	bg python3 "$REPO/tests/sse_resume.py" "$A/api/logs/stream" "$T/a.log" 10 20
	a=$BG_PID
	wait_for 10 subscribed "$A" global 1
	post "$A" "$TID" $(seq 1 5)
	post "$A" "$TID" $(seq 6 10)
	wait "$a"
	start_hub --redis "$BCAST_TEST_REDIS"
	B=$BCAST_HUB
	id3=$(sed -n '3p' "$T/a.log" | cut -d' ' -f1)
	bg python3 "$REPO/tests/sse_resume.py" "$B/api/logs/stream" "$T/b.log" 12 20 "$id3"
	b=$BG_PID
	wait_for 10 lines_ge "$T/b.log" 7
	post "$B" "$TID" 11 12
	wait "$b"
	check_once "$T/b.log" 4 12
	diff <(sed -n '4,10p' "$T/a.log") <(sed -n '1,7p' "$T/b.log")
}

# Entries that reach a hub together (one XREAD reply: here 20 XADDs in one
# MULTI) go out as one batch; a cursor inside such a batch still resumes
# right after its event.
@test "resume-bus: cursors inside batches that hold many bus entries resume right after their event" {
	two_hubs
	bg python3 "$REPO/tests/sse_resume.py" "$A/api/logs/stream" "$T/a.log" done 30
	a=$BG_PID
	wait_for 10 subscribed "$A" global 1
	python3 - "$TID" <<'PY' | redis-cli -p "$BCAST_TEST_REDIS_PORT" --pipe >/dev/null
import json, sys
def cmd(*a):
    out = "*%d\r\n" % len(a)
    for x in a:
        x = x.encode()
        out += "$%d\r\n" % len(x) + x.decode() + "\r\n"
    sys.stdout.write(out)
cmd("MULTI")
for k in range(20):   # 39 lines in 20 entries, the last line "done"
    t, n = "%s-%d" % (sys.argv[1], k), k % 3 + 1
    recs = [{"thread_id": t, "seq": s, "line": "done" if k == 19 and s == n else str(s)}
            for s in range(1, n + 1)]
    hdr = {"v": 1, "o": "00000000000000aa", "q": k + 1, "k": "l", "t": t}
    cmd("XADD", "logs:bus", "*", "m", json.dumps(hdr) + "\n" + "\n".join(json.dumps(r) for r in recs))
cmd("EXEC")
PY
	wait "$a"
	[ "$(grep -c '' "$T/a.log")" = 39 ]
	python3 - "$B/api/logs/stream" "$T/a.log" <<'PY'
import http.client, sys, urllib.parse
url, path = sys.argv[1], sys.argv[2]
rows = [l.split(" ", 1) for l in open(path).read().splitlines()]
u = urllib.parse.urlsplit(url)
bad = 0
for i in range(0, len(rows) - 1, 3):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("GET", u.path, headers={"Last-Event-ID": rows[i][0]})
    r = c.getresponse()
    got, ev_id = [], None
    while len(got) < len(rows) - i - 1:
        line = r.fp.readline().decode().rstrip("\n")
        if line.startswith("id: "):
            ev_id = line[4:]
        elif line.startswith("event: reset"):
            sys.exit("cursor %s: reset" % rows[i][0])
        elif line.startswith("data: "):
            got.append(ev_id)
    want = [row[0] for row in rows[i + 1:]]
    if got != want:
        print("cursor %s: got %s want %s" % (rows[i][0], got[:3], want[:3]))
        bad += 1
    c.close()
sys.exit(1 if bad else 0)
PY
}
