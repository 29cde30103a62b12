#!/usr/bin/env bats
# history.bats - GET /admin/runs/{id}/logs sees what is still buffered
# (Redis list, spool journal) merged with the table by seq, during a run and
# after it; paging; strict parameters; GET /admin/runs; a terminal event
# POSTed by anyone flushes the thread off the hub's loop. On SQLite and
# PostgreSQL, with and without Redis: a real hub, real emit, real servers.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	bc_setup
	TID="h$BATS_TEST_NUMBER-$RANDOM$RANDOM"
}

status() { curl -s -D "$T/headers" -o "$T/body" -w '%{http_code}' --max-time 20 "$@"; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip"; }

# check_seqs FILE FIRST LAST: FILE is a JSON array holding exactly the
# records FIRST..LAST of $TID, once each, in order, line == seq.
check_seqs() {
	python3 - "$@" "$TID" <<'EOF'
import json, sys
path, first, last, tid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
recs = json.load(open(path))
seqs = [r["seq"] for r in recs]
want = list(range(first, last + 1))
assert seqs == want, "got %d records %s..%s, want %d..%d (dups/holes: %s)" % (
    len(seqs), seqs[:3], seqs[-3:], first, last,
    sorted(set(s for s in seqs if seqs.count(s) > 1))[:5] or sorted(set(want) - set(seqs))[:5])
for r in recs:
    assert r["thread_id"] == tid and r["line"] == str(r["seq"]), r
EOF
}

history_count() {
	curl -sf "$BCAST_HUB/admin/runs/$TID/logs?limit=10000" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
history_has() { [ "$(history_count)" = "$1" ]; }

# run_500 DB REDIS: a run prints 500 lines and waits; history has all 500
# before it ends, and after; the table has them after.
run_500() {
	local db=$1 redis=$2
	export BCAST_DB=$db BCAST_REDIS=$redis
	start_hub --db "$db" --redis "$redis"
	bg bcast-emit -t "$TID" -- sh -c "seq 1 500; while [ ! -e '$T/go' ]; do sleep 0.05; done" >/dev/null
	local emit=$BG_PID
	wait_for 20 history_has 500 || { echo "history has $(history_count)"; false; }
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?limit=10000")" = 200 ]
	check_seqs "$T/body" 1 500
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id = '$TID'")" = 0 ]
	if [ "$redis" = none ]; then
		ls "$XDG_STATE_HOME"/bcast/spool/"$TID".journal
	else
		[ "$(redis_cli LLEN "logs:queue:$TID")" = 500 ]
	fi
	[ "$(status "$BCAST_HUB/admin/runs?status=running")" = 200 ]
	grep -q "\"thread_id\":\"$TID\",\"status\":\"running\"" "$T/body"
	grep -q '"lines":500' "$T/body"
	touch "$T/go"
	wait "$emit"
	[ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id = '$TID'")" = 500 ]
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?limit=10000")" = 200 ]
	check_seqs "$T/body" 1 500
}

@test "history: a running run's 500 lines before it ends (SQLite, Redis)" {
	run_500 "$(sqlite_db)" "$BCAST_TEST_REDIS"
}

@test "history: a running run's 500 lines before it ends (SQLite, spool, no Redis)" {
	run_500 "$(sqlite_db)" none
}

@test "history: a running run's 500 lines before it ends (PostgreSQL, Redis)" {
	run_500 "$(pg_new_db)" "$BCAST_TEST_REDIS"
}

@test "history: a running run's 500 lines before it ends (PostgreSQL, spool, no Redis)" {
	run_500 "$(pg_new_db)" none
}

@test "history: table, Redis and spool are merged by seq, overlaps once" {
	db=$(sqlite_db)
	spool="$T/spool"
	mkdir -p "$spool"
	for i in 1 2 3 4 5; do
		sql "$db" "CREATE TABLE IF NOT EXISTS thread_logs (thread_id TEXT NOT NULL, seq BIGINT NOT NULL, ts TEXT NOT NULL, stream TEXT NOT NULL DEFAULT 'stdout', line TEXT NOT NULL, PRIMARY KEY (thread_id, seq));
			INSERT INTO thread_logs VALUES ('$TID', $i, '2026-11-25T19:08:10Z', 'stdout', '$i')"
	done
	for i in 8 4 6 5 7; do
		redis_cli RPUSH "logs:queue:$TID" "{\"thread_id\":\"$TID\",\"seq\":$i,\"line\":\"$i\"}" >/dev/null
	done
	for i in 10 8 9; do
		printf '{"thread_id":"%s","seq":%d,"line":"%d"}\n' "$TID" $i $i >>"$spool/$TID.journal"
	done
	# A claimed journal (a flush in progress) and a torn last line.
	printf '{"thread_id":"%s","seq":11,"line":"11"}\n{"thread_id":"%s","seq":12,"li' "$TID" "$TID" \
		>"$spool/$TID.journal.flushing.1.0"
	start_hub --db "$db" --redis "$BCAST_TEST_REDIS" --spool "$spool"
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs")" = 200 ]
	check_seqs "$T/body" 1 11
	[ -z "$(header X-Next-After)" ]
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?after=4&limit=3")" = 200 ]
	check_seqs "$T/body" 5 7
	[ "$(header X-Next-After)" = 7 ]
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?tail=4")" = 200 ]
	check_seqs "$T/body" 8 11
	# Nothing was moved or removed by reading.
	[ "$(redis_cli LLEN "logs:queue:$TID")" = 5 ]
	[ "$(wc -l <"$spool/$TID.journal")" = 3 ]
}

@test "history: paging with after, limit and tail follows X-Next-After to the end" {
	db=$(sqlite_db)
	export BCAST_DB=$db BCAST_REDIS=$BCAST_TEST_REDIS
	start_hub --db "$db" --redis "$BCAST_TEST_REDIS"
	seq 1 500 | bcast-emit -t "$TID" --no-flush >/dev/null
	# Half in the table, half still in Redis.
	sql "$db" "SELECT 1" >/dev/null
	python3 - "$TID" <<'EOF' | sqlite3 "${db#sqlite:}"
import sys
tid = sys.argv[1]
print("BEGIN;")
for i in range(1, 251):
    print("INSERT INTO thread_logs VALUES ('%s', %d, '2026-11-25T19:08:10Z', 'stdout', '%d');" % (tid, i, i))
print("COMMIT;")
EOF
	redis_cli LTRIM "logs:queue:$TID" 200 -1 >/dev/null
	after=-1
	: >"$T/all"
	for page in $(seq 1 20); do
		[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?after=$after&limit=70")" = 200 ]
		cat "$T/body" >>"$T/all"
		next=$(header X-Next-After)
		[ -n "$next" ] || break
		after=$next
	done
	[ "$page" = 8 ]
	python3 -c 'import json,sys; print(json.dumps([r for l in open(sys.argv[1]) for r in json.loads(l)]))' "$T/all" >"$T/merged"
	check_seqs "$T/merged" 1 500
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?tail=5")" = 200 ]
	check_seqs "$T/body" 496 500
	[ -z "$(header X-Next-After)" ]
	# tail above the page size: the page starts at the N-th last record.
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?tail=300&limit=100")" = 200 ]
	check_seqs "$T/body" 201 300
	[ "$(header X-Next-After)" = 300 ]
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?tail=100000")" = 200 ]
	[ "$(header X-Next-After)" = 1000 ] || [ "$(header X-Next-After)" = "" ]
	check_seqs "$T/body" 1 500
}

@test "history: unknown or malformed parameters are a 400 naming the parameter" {
	start_hub
	for q in 'tail=-1:tail' 'tail=0:tail' 'tail=x:tail' 'after=x:after' 'after=:after' 'since=:since' \
		'since=10m:since' 'limit=0:limit' 'limit=1e3:limit' 'foo=1:foo' 'after=1%26after=2:after' \
		'after=1&after=2:after' 'tail=5&after=3:tail' 'after=99999999999999999999:after'; do
		[ "$(status "$BCAST_HUB/admin/runs/x/logs?${q%:*}")" = 400 ] || { echo "${q%:*} accepted"; false; }
		grep -q "\"error\":\"bad parameter '${q##*:}'" "$T/body" || { echo "${q%:*}: $(cat "$T/body")"; false; }
	done
	for q in 'status=done:status' 'status=:status' 'limit=-3:limit' 'before=yesterday:before' 'page=2:page'; do
		[ "$(status "$BCAST_HUB/admin/runs?${q%:*}")" = 400 ] || { echo "runs ${q%:*} accepted"; false; }
		grep -q "\"error\":\"bad parameter '${q##*:}'" "$T/body"
	done
	# The hub is fine afterwards.
	[ "$(status "$BCAST_HUB/admin/runs/x/logs")" = 200 ]
}

# runs_list DB: runs that completed, failed (exit 3) and still run.
runs_list() {
	local db=$1
	export BCAST_DB=$db BCAST_REDIS=$BCAST_TEST_REDIS
	start_hub --db "$db" --redis "$BCAST_TEST_REDIS"
	bcast-emit -t "$TID-ok" -- sh -c 'echo a; echo b'  >/dev/null
	run bcast-emit -t "$TID-bad" -- sh -c 'echo x; exit 3'
	[ "$status" -eq 3 ]
	bg bcast-emit -t "$TID-live" -- sh -c "echo 1; echo 2; echo 3; while [ ! -e '$T/go' ]; do sleep 0.05; done" >/dev/null
	running() { curl -s "$BCAST_HUB/admin/runs?status=running" | grep -q "\"$TID-live\",\"status\":\"running\".*\"lines\":3"; }
	wait_for 20 running
	[ "$(status "$BCAST_HUB/admin/runs")" = 200 ]
	python3 - "$T/body" "$TID" <<'EOF'
import json, re, sys
runs = [r for r in json.load(open(sys.argv[1])) if r["thread_id"].startswith(sys.argv[2] + "-")]
by = {r["thread_id"].rsplit("-", 1)[1]: r for r in runs}
assert [r["thread_id"].rsplit("-", 1)[1] for r in runs] == ["live", "bad", "ok"], runs
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
assert by["ok"]["status"] == "completed" and by["ok"]["exit_code"] == 0 and by["ok"]["lines"] == 2, by["ok"]
assert by["bad"]["status"] == "error" and by["bad"]["exit_code"] == 3 and by["bad"]["lines"] == 1, by["bad"]
assert by["live"]["status"] == "running" and by["live"]["exit_code"] is None and by["live"]["ended_at"] is None, by["live"]
assert by["live"]["lines"] == 3, by["live"]
for r in runs:
    assert ts.match(r["started_at"]), r
for k in ("ok", "bad"):
    assert ts.match(by[k]["ended_at"]) and by[k]["ended_at"] >= by[k]["started_at"], by[k]
EOF
	[ "$(status "$BCAST_HUB/admin/runs?status=error,completed")" = 200 ]
	run ! grep -q "$TID-live" "$T/body"
	grep -q "$TID-bad" "$T/body"
	# Paging: one per page, newest first, X-Next-Before continues.
	[ "$(status "$BCAST_HUB/admin/runs?limit=1")" = 200 ]
	grep -q "$TID-live" "$T/body"
	before=$(header X-Next-Before)
	[ -n "$before" ]
	[ "$(status -G --data-urlencode "before=$before" "$BCAST_HUB/admin/runs?limit=1")" = 200 ]
	grep -q "$TID-bad" "$T/body"
	touch "$T/go"
	ended() { curl -s "$BCAST_HUB/admin/runs?status=completed" | grep -q "\"$TID-live\""; }
	wait_for 20 ended
}

@test "runs: completed, failed (exit 3) and running runs each show their status (SQLite)" {
	runs_list "$(sqlite_db)"
}

@test "runs: completed, failed (exit 3) and running runs each show their status (PostgreSQL)" {
	runs_list "$(pg_new_db)"
}

@test "runs: a thread_runs table of an older version is migrated (SQLite and PostgreSQL)" {
	db=$(sqlite_db)
	pg=$(pg_new_db)
	for u in "$db" "$pg"; do
		ty=TEXT
		[ "$u" = "$pg" ] && ty="TIMESTAMPTZ NOT NULL DEFAULT now()"
		sql "$u" "CREATE TABLE thread_runs (thread_id TEXT PRIMARY KEY, status TEXT NOT NULL, exit_code INTEGER, updated_at $ty);
			INSERT INTO thread_runs VALUES ('old-$TID', 'completed', 0, '2026-11-25T19:08:10.000000Z')"
		start_hub --db "$u" --redis none
		[ "$(status "$BCAST_HUB/admin/runs")" = 200 ]
		grep -q "{\"thread_id\":\"old-$TID\",\"status\":\"completed\",\"started_at\":null,\"ended_at\":null,\"exit_code\":0,\"lines\":0}" "$T/body"
		stop_hub
	done
}

# buffered_lines N: N records of $TID pushed straight into Redis.
buffered_lines() {
	python3 - "$TID" "$1" <<'EOF' | redis-cli -p "$BCAST_TEST_REDIS_PORT" --pipe >/dev/null
import sys
tid, n = sys.argv[1], int(sys.argv[2])
key = "logs:queue:" + tid
out = sys.stdout.buffer
for i in range(1, n + 1):
    v = '{"thread_id":"%s","seq":%d,"ts":"2026-11-25T19:08:10.000000Z","stream":"stdout","line":"%d"}' % (tid, i, i)
    out.write(b"*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key.encode(), len(v), v.encode()))
EOF
}

@test "flush: run_completed POSTed with curl moves the thread's lines into the table within a second" {
	db=$(sqlite_db)
	start_hub --db "$db" --redis "$BCAST_TEST_REDIS"
	buffered_lines 2000
	curl -sf -X POST -H 'Content-Type: application/json' \
		-d "{\"type\":\"run_error\",\"thread_id\":\"$TID\",\"data\":{\"exit_code\":3}}" \
		"$BCAST_HUB/api/admin-events" >/dev/null
	t0=$(date +%s%N)
	stored() { [ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id = '$TID'")" = 2000 ]; }
	wait_for 10 stored
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "# stored after $ms ms" >&3
	[ "$ms" -lt 1000 ]
	[ "$(redis_cli LLEN "logs:queue:$TID")" = 0 ]
	[ "$(sql "$db" "SELECT status || ' ' || exit_code FROM thread_runs WHERE thread_id = '$TID'")" = "error 3" ]
	[ "$(status "$BCAST_HUB/admin/runs/$TID/logs?limit=10000")" = 200 ]
	check_seqs "$T/body" 1 2000
}

@test "flush: 200,000 lines flushed by a POSTed run_completed; a live stream on another thread does not pause" {
	db=$(pg_new_db)
	start_hub --db "$db" --redis "$BCAST_TEST_REDIS"
	buffered_lines 200000
	[ "$(redis_cli LLEN "logs:queue:$TID")" = 200000 ]
	# A live subscriber on another thread timestamps every event it gets
	# while a poster sends one line every 10 ms.
	cat >"$T/sub.py" <<'EOF'
import http.client, sys, time, urllib.parse
hub, tid, out = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlsplit(hub)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("GET", "/api/runs/%s/logs/stream" % tid)
r = c.getresponse()
times = []
buf = b""
deadline = time.time() + 60
while time.time() < deadline:
    line = r.fp.readline()
    if not line:
        break
    if line.startswith(b"data:"):
        times.append(time.monotonic())
        if b'"line":"end"' in line:
            break
with open(out, "w") as f:
    f.write("%d %.3f\n" % (len(times), max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else -1))
EOF
	bg python3 "$T/sub.py" "$BCAST_HUB" "$TID-live" "$T/gaps"
	live_sub() { curl -sf "$BCAST_HUB/metrics" | grep -qx 'bcast_hub_subscribers{stream="thread"} 1'; }
	wait_for 10 live_sub
	# The poster stops by itself after 100 s at the latest.
	cat >"$T/poster.py" <<'EOF'
import http.client, sys, time, urllib.parse
hub, tid = sys.argv[1], sys.argv[2]
u = urllib.parse.urlsplit(hub)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for i in range(1, 10000):
    body = '{"thread_id":"%s","seq":%d,"line":"%d"}\n' % (tid, i, i)
    c.request("POST", "/api/runs/%s/logs" % tid, body, {"Content-Type": "application/x-ndjson"})
    c.getresponse().read()
    time.sleep(0.01)
EOF
	bg python3 "$T/poster.py" "$BCAST_HUB" "$TID-live"
	poster=$BG_PID
	sleep 1
	curl -sf -X POST -H 'Content-Type: application/json' \
		-d "{\"type\":\"run_completed\",\"thread_id\":\"$TID\",\"data\":{\"exit_code\":0}}" \
		"$BCAST_HUB/api/admin-events" >/dev/null
	t0=$(date +%s%N)
	stored() { [ "$(sql "$db" "SELECT count(*) FROM thread_logs WHERE thread_id = '$TID'")" = 200000 ]; }
	wait_for 60 stored
	echo "# 200000 lines stored after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&3
	kill "$poster"
	# End the live stream: one last line.
	printf '{"thread_id":"%s","seq":99999,"line":"end"}\n' "$TID-live" |
		curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- "$BCAST_HUB/api/runs/$TID-live/logs" >/dev/null
	wait_for 10 test -s "$T/gaps"
	read -r n gap <"$T/gaps"
	echo "# live events: $n, largest gap: $gap s" >&3
	[ "$n" -ge 50 ]
	# 10 ms apart when idle; a synchronous flush of 200,000 rows would stop
	# the stream for seconds. 0.5 s leaves room for a loaded 2-core box.
	python3 -c "import sys; sys.exit(0 if float('$gap') < 0.5 else 1)"
	[ "$(redis_cli LLEN "logs:queue:$TID")" = 0 ]
}
