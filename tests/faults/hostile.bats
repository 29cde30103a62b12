#!/usr/bin/env bats
# hostile.bats - input meant to break things, and proof that it breaks
# nothing. Lines: empty, 1 MiB and 100 MiB without a newline (split into
# 64 KiB records whose concatenation, by seq, is the input byte for byte),
# NUL and control bytes, invalid UTF-8, lone \r, ANSI escapes: stored as
# DESIGN.md says (U+FFFD for NUL and invalid UTF-8, everything else kept)
# in SQLite and PostgreSQL, and delivered over SSE in frames an EventSource
# parses. Thread ids with /, .., spaces, 129 characters or SQL quotes: exit
# 64 (HTTP 400) and nothing created anywhere. HTTP abuse of the hub:
# malformed, truncated, 100 KiB headers, a declared 1 GiB body, pipelined,
# one byte per second, 5,000 idle connections, POSTs without the token: each
# gets a status code or a closed connection, quickly, without the hub growing
# or stalling. After every abuse a subscriber on another thread ("canary")
# still receives a line posted after it.

load ../helpers
load faults

setup() {
	fault_setup
	CANARY_AUTH=()
	CANARY_SEQ=0
}
teardown() { fault_teardown; }

# hub_with_canary [HUB ARGS...]: a hub (SQLite unless --db is given) and a
# curl -N subscriber on thread "canary".
hub_with_canary() {
	start_hub "$@"
	subscribe canary
}

# subscribe TID: curl -N on TID's stream into $T/sub-TID.sse; waits until
# the hub counts one more thread subscriber.
subscribe() {
	local before
	before=$(thread_subscribers)
	curl -sN --max-time 600 "$BCAST_HUB/api/runs/$1/logs/stream" >"$T/sub-$1.sse" 2>/dev/null 3>&- &
	BC_PIDS+=($!)
	wait_for 10 more_subscribers "$before" || { echo "subscriber on $1 not counted by /metrics"; curl -s "$BCAST_HUB/metrics"; return 1; }
}
thread_subscribers() {
	curl -sf --max-time 2 "$BCAST_HUB/metrics" |
		sed -nE 's/^bcast_hub_subscribers\{stream="thread"\} ([0-9]+)$/\1/p' | grep . || echo 0
}
more_subscribers() { [ "$(thread_subscribers)" -gt "$1" ]; }

# post_line TID SEQ TEXT [CURL ARGS...]: POST one record; prints the status.
post_line() {
	local tid=$1 seq=$2 text=$3; shift 3
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
		-H 'Content-Type: application/x-ndjson' "$@" \
		--data-binary "{\"thread_id\":\"$tid\",\"seq\":$seq,\"line\":\"$text\"}" \
		"$BCAST_HUB/api/runs/$tid/logs"
}

# canary_alive: a line posted now on "canary" reaches its subscriber (posted
# again every 0.2 s, for at most 5 s); the hub process is still there.
canary_alive() {
	kill -0 "$HUB_PID" 2>/dev/null || { echo "the hub died"; tail -20 "$HUB_LOG"; return 1; }
	local mark="alive-$RANDOM$RANDOM" i
	for i in $(seq 1 25); do
		CANARY_SEQ=$(( CANARY_SEQ + 1 ))
		post_line canary "$CANARY_SEQ" "$mark" "${CANARY_AUTH[@]}" >/dev/null || true
		grep -q "$mark" "$T/sub-canary.sse" && return 0
		sleep 0.2
	done
	echo "the canary subscriber did not receive a line posted after the abuse"
	tail -20 "$HUB_LOG"
	return 1
}

# use_db KIND: SQLite with the spool, or PostgreSQL with Redis.
use_db() {
	if [ "$1" = sqlite ]; then
		export BCAST_DB=$(sqlite_db) BCAST_REDIS=none
	else
		export BCAST_DB=$(pg_new_db) BCAST_REDIS=$BCAST_TEST_REDIS
	fi
	export BCAST_SPOOL="$T/spool"
}

frames_at_least() { [ "$(grep -c '^data:' "$1")" -ge "$2" ]; }

rows_hex() {
	case "$1" in
	sqlite:*) sql "$1" "SELECT 'x' || lower(hex(line)) FROM thread_logs WHERE thread_id='$2' ORDER BY seq" ;;
	*) sql "$1" "SELECT 'x' || encode(convert_to(line, 'UTF8'), 'hex') FROM thread_logs WHERE thread_id='$2' ORDER BY seq" ;;
	esac
}

# content_case KIND NAME FILE: emit FILE on a fresh thread; the table and a
# live subscriber must both hold exactly the records lines.py expects.
content_case() {
	local kind=$1 name=$2 file=$3 tid="hostile-$2-$RANDOM"
	use_db "$kind"
	hub_with_canary --db "$BCAST_DB"
	subscribe "$tid"
	python3 "$FAULTS/lines.py" expect "$file" >"$T/expect.hex"
	run bcast-emit -t "$tid" <"$file"
	[ "$status" -eq 0 ] || { echo "bcast-emit exited $status: $output"; false; }
	rows_hex "$BCAST_DB" "$tid" >"$T/db.hex"
	diff "$T/expect.hex" "$T/db.hex" || { echo "table differs from the expected records"; false; }
	local want
	want=$(wc -l <"$T/expect.hex")
	wait_for 10 frames_at_least "$T/sub-$tid.sse" "$want" || true
	run python3 "$FAULTS/lines.py" sse "$T/sub-$tid.sse" "$tid"
	[ "$status" -eq 0 ] || { echo "SSE framing broke: $output"; cat -A "$T/sub-$tid.sse" | head -20; false; }
	printf '%s\n' "$output" | grep '^x' >"$T/sse.hex" || true
	diff "$T/expect.hex" "$T/sse.hex" || { echo "live records differ from the expected ones"; cat -A "$T/sub-$tid.sse" | head; false; }
	canary_alive
}

@test "hostile: empty lines (0 bytes) are records; empty input makes none" {
	printf 'first\n\n\nlast\n\n' >"$T/in"
	content_case sqlite empty "$T/in"
	[ "$(wc -l <"$T/expect.hex")" -eq 5 ]
	use_db sqlite
	run bcast-emit -t hostile-nothing </dev/null
	[ "$status" -eq 0 ]
	[ "$(sql "$BCAST_DB" "SELECT count(*) FROM thread_logs WHERE thread_id='hostile-nothing'" 2>/dev/null || echo 0)" -eq 0 ]
}

mk_control() {
	printf 'a\000b\001\002\007\010\t\013\014\033\177z\n\000\nend\000\n' >"$T/in"
}
@test "hostile: NUL and control bytes (SQLite): NUL becomes U+FFFD, the rest is kept" { mk_control; content_case sqlite ctl "$T/in"; }
@test "hostile: NUL and control bytes (PostgreSQL): NUL becomes U+FFFD, the rest is kept" { mk_control; content_case pg ctl "$T/in"; }

mk_utf8() {
	printf '\377\376ok\ncaf\303\n\303(x\n\200lone\n\300\257slash\ngood \303\251 \342\202\254\n' >"$T/in"
}
@test "hostile: invalid UTF-8 (SQLite) becomes U+FFFD, valid text is kept" { mk_utf8; content_case sqlite utf8 "$T/in"; }
@test "hostile: invalid UTF-8 (PostgreSQL) becomes U+FFFD, valid text is kept" { mk_utf8; content_case pg utf8 "$T/in"; }

mk_cr() {
	printf 'progress 10%%\rprogress 20%%\r\n\r\n\r\r\n\rx\nplain\n' >"$T/in"
}
@test "hostile: lone \\r survives inside a line, one trailing \\r is dropped (SQLite)" { mk_cr; content_case sqlite cr "$T/in"; }
@test "hostile: lone \\r survives inside a line, one trailing \\r is dropped (PostgreSQL)" { mk_cr; content_case pg cr "$T/in"; }

@test "hostile: ANSI escapes are kept byte for byte" {
	printf '\033[1;31mERROR\033[0m done\n\033]0;title\007\n\033[2K\033[1G50%%\n\033[?25l\033[H\033[J\n' >"$T/in"
	content_case sqlite ansi "$T/in"
}

@test "hostile: a 1 MiB line without newline, ASCII and 3-byte UTF-8: 64 KiB records, concatenation = input" {
	use_db sqlite
	hub_with_canary --db "$BCAST_DB"
	local tid=hostile-1m db=${BCAST_DB#sqlite:}
	subscribe "$tid"
	subscribe "$tid-u"
	head -c 786432 /dev/urandom | base64 -w0 >"$T/ascii"      # 1 MiB, no newline
	python3 -c 'import sys; sys.stdout.write("\u20ac" * 349526)' >"$T/euro"   # 1 MiB + 2 bytes
	[ "$(stat -c %s "$T/ascii")" -eq 1048576 ]
	run bcast-emit -t "$tid" <"$T/ascii"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run bcast-emit -t "$tid-u" <"$T/euro"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	local sha_a sha_u
	sha_a=$(sha256sum <"$T/ascii" | cut -d' ' -f1)
	sha_u=$(sha256sum <"$T/euro" | cut -d' ' -f1)
	# ASCII: exactly 16 records of 65536 bytes.
	run python3 "$FAULTS/lines.py" sqlite-concat "$db" "$tid"
	echo "ascii: $output (want 16 $sha_a 65536 1)"
	[ "$output" = "16 $sha_a 65536 1" ]
	# UTF-8: cut at character boundaries, so no record is longer than
	# 65536 bytes, each is valid UTF-8, and nothing is lost.
	run python3 "$FAULTS/lines.py" sqlite-concat "$db" "$tid-u"
	echo "euro: $output (want 17 $sha_u <=65536 1)"
	read -r n sha longest valid <<<"$output"
	[ "$n" -eq 17 ] && [ "$sha" = "$sha_u" ] && [ "$longest" -le 65536 ] && [ "$valid" -eq 1 ]
	# Live: the subscribers received the same records.
	wait_for 10 frames_at_least "$T/sub-$tid.sse" 16 || true
	wait_for 10 frames_at_least "$T/sub-$tid-u.sse" 17 || true
	run python3 "$FAULTS/lines.py" sse-concat "$T/sub-$tid.sse" "$tid"
	[ "$output" = "16 $sha_a" ] || { echo "live ascii: $output"; false; }
	run python3 "$FAULTS/lines.py" sse-concat "$T/sub-$tid-u.sse" "$tid-u"
	[ "$output" = "17 $sha_u" ] || { echo "live euro: $output"; false; }
	canary_alive
}

@test "hostile: a 100 MiB line without newline (PostgreSQL + Redis): 1600 records, sha256 of the rows = input" {
	use_db pg
	hub_with_canary --db "$BCAST_DB"
	local tid="hostile-100m-$RANDOM"
	head -c 78643200 /dev/urandom | base64 -w0 >"$T/big"
	[ "$(stat -c %s "$T/big")" -eq 104857600 ]
	local t0=$SECONDS
	run bcast-emit -t "$tid" <"$T/big"
	local took=$(( SECONDS - t0 ))
	[ "$status" -eq 0 ] || { echo "bcast-emit exited $status: $output"; false; }
	[ "$(sql "$BCAST_DB" "SELECT count(*), min(octet_length(line)), max(octet_length(line)) FROM thread_logs WHERE thread_id='$tid'")" = "1600|65536|65536" ]
	local want got
	want=$(sha256sum <"$T/big" | cut -d' ' -f1)
	got=$(psql -X -q -t -A "$BCAST_DB" -c "SELECT line FROM thread_logs WHERE thread_id='$tid' ORDER BY seq" |
		tr -d '\n' | sha256sum | cut -d' ' -f1)
	fault_report "100 MiB line: 1600 rows, sha256 $( [ "$got" = "$want" ] && echo matches || echo DIFFERS ), emit ${took}s"
	[ "$got" = "$want" ]
	[ "$(redis_cli EXISTS "logs:queue:$tid")" -eq 0 ]
	canary_alive
}

@test "hostile: bad thread ids exit 64 (HTTP 400) and create nothing anywhere" {
	own_redis
	export BCAST_DB="sqlite:$T/ids.sqlite" BCAST_REDIS=$OWN_REDIS_URL BCAST_SPOOL="$T/spool"
	hub_with_canary --db "$BCAST_DB"
	local long129 long128 id enc
	long129=$(printf 'x%.0s' $(seq 1 129))
	long128=$(printf 'y%.0s' $(seq 1 128))
	local ids=('a/b' '..' '.' '../etc' 'a b' ' ' "$long129" "x'; DROP TABLE thread_logs; --"
		"it's" 'a"b' '' 'a%2Fb' $'a\nb' $'tab\there' $'caf\xc3\xa9' 'a\\b' '*' 'a?b')
	for id in "${ids[@]}"; do
		run bcast-emit -t "$id" <<<"must not be stored"
		[ "$status" -eq 64 ] || { echo "bcast-emit -t '$id' exited $status: $output"; false; }
		[[ "$output" == *"bcast-emit: "* ]] || { echo "no error message for '$id': $output"; false; }
		run bcast-flush -t "$id"
		[ "$status" -eq 64 ] || { echo "bcast-flush -t '$id' exited $status"; false; }
		[ -z "$id" ] && continue
		enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$id")
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
			-H 'Content-Type: application/x-ndjson' \
			--data-binary '{"thread_id":"x","seq":1,"line":"must not be delivered"}' \
			"$BCAST_HUB/api/runs/$enc/logs")
		[ "$code" = 400 ] || [ "$code" = 404 ] || { echo "POST for '$id' ($enc): HTTP $code"; false; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BCAST_HUB/admin/runs/$enc/logs")
		[ "$code" = 400 ] || [ "$code" = 404 ] || { echo "history for '$id' ($enc): HTTP $code"; false; }
	done
	# Nothing was created: no Redis key, no spool file, no row.
	[ "$(own_redis_cli DBSIZE)" -eq 0 ] || { own_redis_cli KEYS '*'; false; }
	[ -z "$(find "$T/spool" -type f 2>/dev/null)" ] || { find "$T/spool" -type f; false; }
	[ "$(sql "$BCAST_DB" "SELECT count(*) FROM thread_logs" 2>/dev/null || echo 0)" -eq 0 ]
	canary_alive
	# The limit itself is allowed: 128 characters and every allowed class.
	run bcast-emit -t "$long128" <<<"ok 128"
	[ "$status" -eq 0 ]
	run bcast-emit -t "Az09_.:-x" <<<"ok classes"
	[ "$status" -eq 0 ]
	[ "$(sql "$BCAST_DB" "SELECT count(*) FROM thread_logs")" -eq 2 ]
}

# http_ok_refusal RESULT: a rawhttp.py result line that is a refusal done
# right: a 4xx (or 505) status, or a closed connection, within the time.
http_refused() {
	local r=$1
	case "$r" in
	"status 4"[0-9][0-9]*|"status 505"*) return 0 ;;
	"status - closed"*) return 0 ;;
	esac
	return 1
}

@test "hostile: malformed HTTP gets 4xx or a closed connection, and nothing is delivered" {
	hub_with_canary
	subscribe victim
	local reqs=(
		'GARBAGE\r\n\r\n'
		'GET\r\n\r\n'
		'GET / HTTP/9.9\r\n\r\n'
		'\x00\x01\x02\xff\xfe\r\n\r\n'
		'GET /healthz HTTP/1.1\r\nHost\r\n\r\n'
		'GET /nope HTTP/1.1\r\nHost: a\r\n\r\n'
		'GET /api/runs/../../etc/passwd/logs/stream HTTP/1.1\r\nHost: a\r\n\r\n'
		'POST /api/runs/victim/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: -5\r\n\r\n'
		'POST /api/runs/victim/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: abc\r\n\r\n'
		'POST /api/runs/victim/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: 9\r\n\r\n{not json'
		'POST /api/runs/victim/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: 21\r\n\r\n["not","an","object"]'
		'POST /api/runs/victim/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: 34\r\n\r\n{"thread_id":"victim","line":"x"}\n'
		'POST /api/admin-events HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{"type":"BAD TYPE!","x"}'
	)
	local r q
	for q in "${reqs[@]}"; do
		r=$(printf "$q" | python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --timeout 5)
		echo "$q -> $r"
		http_refused "$r" || { echo "not refused: $q -> $r"; tail -5 "$HUB_LOG"; false; }
	done
	canary_alive
	[ "$(grep -c '^data:' "$T/sub-victim.sse")" -eq 0 ] || { echo "malformed input reached a subscriber:"; cat "$T/sub-victim.sse"; false; }
}

@test "hostile: truncated requests are closed, a truncated body delivers nothing" {
	hub_with_canary
	subscribe victim
	local r
	r=$(printf 'GET /healthz HTTP/1.1\r\nHost: 127' | python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --shutdown --timeout 5)
	echo "truncated headers: $r"
	[[ "$r" == *" closed "* ]]
	r=$(printf 'POST /api/runs/victim/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100\r\n\r\n{"thread_id":"victim","seq":1,"line":"half' |
		python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --shutdown --timeout 5)
	echo "truncated body: $r"
	[[ "$r" == *" closed "* ]]
	[[ "$r" != "status 2"* ]]
	canary_alive
	[ "$(grep -c '^data:' "$T/sub-victim.sse")" -eq 0 ]
}

@test "hostile: 100 KiB of headers or URL: 4xx or closed at once" {
	hub_with_canary
	local big r
	big=$(head -c 102400 /dev/zero | tr '\0' a)
	r=$(printf 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n' "$big" | python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --timeout 5)
	echo "100 KiB header: $r"
	http_refused "$r"
	r=$(for i in $(seq 1 2000); do printf 'X-H%d: %s\r\n' "$i" "${big:0:50}"; done |
		{ printf 'GET /healthz HTTP/1.1\r\nHost: a\r\n'; cat; printf '\r\n'; } |
		python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --timeout 5)
	echo "2000 headers of 50 bytes: $r"
	http_refused "$r"
	r=$(printf 'GET /healthz?%s HTTP/1.1\r\nHost: a\r\n\r\n' "$big" | python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --timeout 5)
	echo "100 KiB URL: $r"
	http_refused "$r"
	canary_alive
}

rss_kb() { sed -nE 's/^VmRSS:[[:space:]]+([0-9]+) kB$/\1/p' "/proc/$1/status"; }

@test "hostile: a declared 1 GiB body gets 413 or a close within 2 s, and nothing is allocated" {
	hub_with_canary
	subscribe victim
	local before after r
	before=$(rss_kb "$HUB_PID")
	r=$(python3 "$FAULTS/rawhttp.py" bigbody "$HUB_PORT" /api/runs/victim/logs 1073741824 5)
	after=$(rss_kb "$HUB_PID")
	fault_report "1 GiB Content-Length: $r; hub RSS ${before} -> ${after} kB"
	case "$r" in "status 413 "*|"status - closed "*) ;; *) echo "not refused: $r"; false ;; esac
	local elapsed
	elapsed=$(sed -nE 's/.* elapsed ([0-9.]+) .*/\1/p' <<<"$r")
	awk -v e="$elapsed" 'BEGIN { exit !(e < 2.0) }' || { echo "took ${elapsed}s to refuse"; false; }
	[ $(( after - before )) -lt 65536 ] || { echo "hub RSS grew by $(( (after - before) / 1024 )) MiB"; false; }
	# The same on the admin endpoint.
	r=$(python3 "$FAULTS/rawhttp.py" bigbody "$HUB_PORT" /api/admin-events 1073741824 5)
	echo "admin: $r"
	case "$r" in "status 413 "*|"status - closed "*) ;; *) echo "not refused: $r"; false ;; esac
	canary_alive
	[ "$(grep -c '^data:' "$T/sub-victim.sse")" -eq 0 ]
}

@test "hostile: pipelined requests are each answered in order (or the connection closed)" {
	hub_with_canary
	subscribe piped
	local b1='{"thread_id":"piped","seq":1,"line":"first"}' b2='{"thread_id":"piped","seq":2,"line":"second"}' r
	r=$(printf 'POST /api/runs/piped/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s\nPOST /api/runs/piped/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s\nGET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' \
		$(( ${#b1} + 1 )) "$b1" $(( ${#b2} + 1 )) "$b2" |
		python3 "$FAULTS/rawhttp.py" req "$HUB_PORT" --timeout 5)
	echo "pipelined: $r"
	case "$r" in
	"status 2"[0-9][0-9]",2"[0-9][0-9]",200 "*)
		wait_for 5 grep -q second "$T/sub-piped.sse"
		grep -q '"line":"first"' "$T/sub-piped.sse"
		[ "$(grep -n first "$T/sub-piped.sse" | cut -d: -f1)" -lt "$(grep -n second "$T/sub-piped.sse" | cut -d: -f1)" ]
		;;
	"status 2"[0-9][0-9]" closed"*|"status 2"[0-9][0-9]",2"[0-9][0-9]" closed"*) ;;
	*) echo "pipelined requests not handled: $r"; false ;;
	esac
	canary_alive
}

@test "hostile: a client sending one byte per second is closed by timeout, others unaffected" {
	# --timeout 5 keeps the test short; a request that trickles in must be
	# cut off by the request deadline, not kept alive by each byte.
	hub_with_canary --timeout 5
	python3 "$FAULTS/rawhttp.py" slow "$HUB_PORT" 40 >"$T/slow.out" 2>&1 3>&- &
	local slow=$!
	BC_PIDS+=("$slow")
	sleep 2
	# Meanwhile the hub answers everyone else at once.
	local t
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 "$BCAST_HUB/healthz")
	awk -v t="$t" 'BEGIN { exit !(t < 1.0) }' || { echo "healthz took ${t}s while a slow client was connected"; false; }
	canary_alive
	wait_pid "$slow" 45
	fault_report "slow client (1 byte/s, hub --timeout 5): $(cat "$T/slow.out")"
	grep -q '^closed after' "$T/slow.out" || { echo "the hub never closed a 1 byte/s client: $(cat "$T/slow.out")"; false; }
	local after
	after=$(sed -nE 's/^closed after ([0-9]+).*/\1/p' "$T/slow.out")
	[ "$after" -le 12 ] || { echo "closed only after ${after}s with --timeout 5"; false; }
	canary_alive
}

@test "hostile: 5,000 idle connections, the hub keeps serving a normal subscriber" {
	ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	[ "$(ulimit -n)" -ge 5200 ] || { echo "cannot raise the open files limit (hard limit $(ulimit -Hn))"; false; }
	hub_with_canary
	python3 "$FAULTS/rawhttp.py" idle "$HUB_PORT" 5000 120 "$T/release" >"$T/idle.out" 2>&1 3>&- &
	local idle=$!
	BC_PIDS+=("$idle")
	wait_for 60 grep -q '^opened' "$T/idle.out" || { echo "could not open the idle connections"; cat "$T/idle.out"; false; }
	# A new subscriber, after the 5,000, is served.
	local t
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 "$BCAST_HUB/healthz")
	subscribe fresh
	local i got=0
	for i in $(seq 1 25); do
		post_line fresh "$i" "after-idle" >/dev/null || true
		grep -q after-idle "$T/sub-fresh.sse" && { got=1; break; }
		sleep 0.2
	done
	canary_alive
	touch "$T/release"
	wait_pid "$idle" 30
	fault_report "5000 idle connections: $(tr '\n' ' ' <"$T/idle.out"); healthz ${t}s; new subscriber served: $got"
	[ "$got" -eq 1 ]
}

@test "hostile: POST without the token when BCAST_TOKEN is set: 401, nothing delivered or stored" {
	export BCAST_TOKEN=s3cret-token
	hub_with_canary
	CANARY_AUTH=(-H "Authorization: Bearer s3cret-token")
	subscribe locked
	curl -sN --max-time 60 "$BCAST_HUB/api/admin-events/stream" >"$T/admin.sse" 2>/dev/null 3>&- &
	BC_PIDS+=($!)
	sleep 0.5
	[ "$(post_line locked 1 no-token)" = 401 ]
	[ "$(post_line locked 2 wrong-token -H 'Authorization: Bearer nope')" = 401 ]
	[ "$(post_line locked 3 not-bearer -H 'Authorization: s3cret-token')" = 401 ]
	[ "$(post_line locked 4 basic -H 'Authorization: Basic czNjcmV0LXRva2Vu')" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
		-H 'Content-Type: application/json' \
		--data-binary '{"type":"checkpoint","thread_id":"locked"}' "$BCAST_HUB/api/admin-events"
	[ "$output" = 401 ]
	canary_alive
	# Nothing was delivered; nothing is in history.
	[ "$(grep -c -e no-token -e wrong-token -e not-bearer -e basic "$T/sub-locked.sse")" -eq 0 ]
	[ "$(grep -c checkpoint "$T/admin.sse")" -eq 0 ]
	run curl -s --max-time 5 "$BCAST_HUB/admin/runs/locked/logs"
	[[ "$output" != *token* ]]
	# With the token it goes through.
	local code
	code=$(post_line locked 5 with-token -H 'Authorization: Bearer s3cret-token')
	[[ "$code" == 2* ]]
	wait_for 5 grep -q with-token "$T/sub-locked.sse"
}

# A crash in the middle of a spool append leaves a torn last record; the
# next emitter on the thread must not glue its first record onto it, and the
# drain must skip it and keep everything around it.
@test "hostile: a torn record at the end of a spool journal costs only itself" {
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=none BCAST_SPOOL="$T/spool"
	local hub="http://127.0.0.1:$(free_port)"
	printf 'a\nb\n' | bcast-emit -t torn --no-flush --hub "$hub"
	[ -s "$T/spool/torn.journal" ]
	printf '{"thread_id":"torn","seq":999,"ts":"2026-11-25T19:08:10.1' >>"$T/spool/torn.journal"
	printf 'x\ny\n' | bcast-emit -t torn --no-flush --hub "$hub"
	run bcast-flush --all
	echo "$output"
	[ "$status" -eq 0 ] || [ "$status" -eq 65 ]
	[ "$(sql "$BCAST_DB" "SELECT group_concat(line, ',') FROM (SELECT line FROM thread_logs WHERE thread_id='torn' ORDER BY seq)")" = "a,b,x,y" ]
	[ -z "$(find "$T/spool" -name 'torn.journal*')" ]
}

# Something that is not a record at the head of a Redis queue (another tool,
# an old version) must not block the thread's drain forever.
@test "hostile: garbage in a Redis queue does not block the drain" {
	own_redis
	export BCAST_DB=$(sqlite_db) BCAST_REDIS=$OWN_REDIS_URL BCAST_SPOOL="$T/spool"
	local hub="http://127.0.0.1:$(free_port)"
	own_redis_cli RPUSH logs:queue:junk 'not json' '{"thread_id":"junk"}' '[1,2]' >/dev/null
	printf 'a\nb\n' | bcast-emit -t junk --no-flush --hub "$hub"
	run bcast-flush --all
	echo "first drain: $status $output"
	run bcast-flush --all
	echo "second drain: $status $output"
	[ "$(sql "$BCAST_DB" "SELECT group_concat(line, ',') FROM (SELECT line FROM thread_logs WHERE thread_id='junk' ORDER BY seq)")" = "a,b" ]
	[ "$(own_redis_cli LLEN logs:queue:junk)" -eq 0 ] || { own_redis_cli LRANGE logs:queue:junk 0 -1; false; }
}

# idle_conns SRC N HOLD_S: N connections from address SRC that each send half
# a request and wait; 1.5 s later (when they count as idle) one more
# connection arrives, and 0.5 s after that prints how many of the N the hub
# has not closed ("alive K"), then holds them HOLD_S seconds.
idle_conns() {
	python3 - "$1" "$2" "$3" "$HUB_PORT" <<'PY'
import socket, sys, time
src, n, hold, port = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
    socks.append(s)
    time.sleep(0.005)
time.sleep(1.5)
late = socket.socket()
late.bind((src, 0))
late.connect(("127.0.0.1", port))
time.sleep(0.5)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        alive += s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("alive", alive, flush=True)
time.sleep(hold)
PY
}

@test "hostile: idle connections are capped per address and in total; ingest and /healthz go on" {
	hub_with_canary --max-conns 30 --max-conns-per-addr 10
	local fds0 fds
	fds0=$(ls "/proc/$HUB_PID/fd" | wc -l)
	# One address: 60 half-requests, at most 10 kept.
	idle_conns 127.0.0.2 60 8 >"$T/a.out" &
	BC_PIDS+=($!)
	wait_for 15 grep -q alive "$T/a.out"
	cat "$T/a.out"
	[ "$(awk '/alive/ { print $2 }' "$T/a.out")" -le 10 ]
	fds=$(ls "/proc/$HUB_PID/fd" | wc -l)
	echo "hub descriptors: $fds0 before, $fds with 60 idle connections from one address"
	[ "$fds" -le $(( fds0 + 12 )) ]
	# Four more addresses: the total stays at 30.
	local a
	for a in 3 4 5 6; do idle_conns "127.0.0.$a" 15 8 >"$T/b$a.out" & BC_PIDS+=($!); done
	for a in 3 4 5 6; do wait_for 15 grep -q alive "$T/b$a.out"; done
	fds=$(ls "/proc/$HUB_PID/fd" | wc -l)
	echo "hub descriptors: $fds with 120 idle connections from 5 addresses"
	[ "$fds" -le $(( fds0 + 32 )) ]
	# Meanwhile everyone else is served at once, from the same address too.
	local t
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 "$BCAST_HUB/healthz")
	awk -v t="$t" 'BEGIN { exit !(t < 1.0) }' || { echo "healthz took ${t}s"; false; }
	canary_alive
	[ "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 --max-time 2 "$BCAST_HUB/healthz")" = 200 ]
	curl -sf "$BCAST_HUB/metrics" | awk '$1 == "bcast_hub_conns_evicted_total" { exit !($2 >= 80) }'
	fault_report "idle connections: 60 from one address, 120 from five; hub fds $fds0 -> $fds (caps 10/address, 30 total)"
}

# slow_readers_py: writes $T/slow.py PORT N PATH OUT: N clients each GET
# PATH, read only the status line, then read nothing more; OUT gets
# "200=A 503=B other=C" once all have their status line. They hold their
# sockets until killed.
slow_readers_py() {
	cat >"$T/slow.py" <<'PY'
import socket, sys, time
port, n, path, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks, codes = [], {}
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path).encode())
    socks.append(s)
for s in socks:
    s.settimeout(60)
    head = s.recv(16)
    code = head[9:12].decode(errors="replace")
    codes[code] = codes.get(code, 0) + 1
with open(out, "w") as f:
    f.write("200=%d 503=%d other=%d\n" % (codes.get("200", 0), codes.get("503", 0),
            n - codes.get("200", 0) - codes.get("503", 0)))
time.sleep(600)
PY
}

proc_kb() { sed -nE "s/^$2:[[:space:]]+([0-9]+) kB/\1/p" "/proc/$1/status"; }

# The bound on the hub's RSS with slow readers of history: what it had, plus
# --memory-cap (answers held until written), plus what the 3 reader threads
# build at once (each a page of records and its body, the body growing by
# doubling: about 3 pages each), plus 16 MiB of allocator slack. It does not
# depend on the number of clients.
@test "hostile: 100 clients ask a 6 MB history and read nothing: RSS stays under a bound set by --memory-cap, the rest get 503" {
	local db
	db=$(sqlite_db)
	start_hub --db "$db" --memory-cap 64M --max-conns 1000 --max-conns-per-addr 1000
	# 10,000 records of 600 bytes: a 6.6 MB page.
	sqlite3 "${db#sqlite:}" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
		INSERT INTO thread_logs(thread_id, seq, ts, stream, line)
		SELECT 'big', x, '2026-12-03T10:00:00.000000Z', 'stdout', printf('%.600c', 'x') FROM c;"
	local size
	size=$(curl -sf "$BCAST_HUB/admin/runs/big/logs?limit=10000" | wc -c)
	echo "page: $size bytes"
	[ "$size" -gt 6000000 ]
	subscribe canary
	local base
	base=$(proc_kb "$HUB_PID" VmRSS)
	slow_readers_py
	bg python3 "$T/slow.py" "$HUB_PORT" 100 "/admin/runs/big/logs?limit=10000" "$T/codes"
	wait_for 60 test -s "$T/codes"
	cat "$T/codes"
	# /healthz and the live stream go on meanwhile.
	local t
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 "$BCAST_HUB/healthz")
	awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' || { echo "healthz took ${t}s"; false; }
	canary_alive
	local hwm
	hwm=$(proc_kb "$HUB_PID" VmHWM)
	echo "hub RSS: $base kB before, peak $hwm kB with 100 readers that stopped (cap 64 MiB)"
	fault_report "100 slow readers of a 6.6 MB history, --memory-cap 64M: $(cat "$T/codes"); RSS $base kB -> peak $hwm kB (bound $(( base + 64 * 1024 + 9 * size / 1024 + 16 * 1024 )) kB); healthz ${t}s"
	local bound=$(( base + 64 * 1024 + 9 * size / 1024 + 16 * 1024 ))
	echo "bound: $bound kB"
	[ "$hwm" -le "$bound" ]
	# At most what the cap holds got an answer; the others a 503, none anything else.
	[ "$(sed -E 's/^200=([0-9]+).*/\1/' "$T/codes")" -le 10 ]
	[ "$(sed -E 's/.*503=([0-9]+).*/\1/' "$T/codes")" -ge 90 ]
	[ "$(sed -E 's/.*other=([0-9]+)$/\1/' "$T/codes")" -eq 0 ]
	curl -sf "$BCAST_HUB/metrics" | awk '$1 == "bcast_hub_rejected_total{reason=\"memory_cap\"}" { exit !($2 >= 90) }'
	# Once the readers are gone the memory is given back: a new reader is served.
	kill "$BG_PID"
	big_page_served() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BCAST_HUB/admin/runs/big/logs?limit=10000")" = 200 ]; }
	wait_for 30 big_page_served
}

# blackhole_py: writes $T/blackhole.py PORT: a "database" that accepts TCP
# connections and never answers.
blackhole_py() {
	cat >"$T/blackhole.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(256)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
}

# live_rate_py: writes $T/live.py PORT TID N RATE OUT: subscribes to TID's
# stream, then posts N lines at RATE lines/s on one keep-alive connection;
# OUT gets "got G of N, max latency L ms" (post to arrival, per line).
live_rate_py() {
	cat >"$T/live.py" <<'PY'
import json, socket, sys, time, threading
port, tid, n, rate, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
sent, lat = {}, []
sub = socket.create_connection(("127.0.0.1", port))
sub.sendall(("GET /api/runs/%s/logs/stream HTTP/1.1\r\nHost: a\r\n\r\n" % tid).encode())
sub.settimeout(1)
buf = b""
while b": connected" not in buf:
    buf += sub.recv(4096)
def reader():
    global buf
    end = time.time() + n / rate + 10
    while len(lat) < n and time.time() < end:
        try:
            data = sub.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"data: "):
                seq = json.loads(line[6:])["seq"]
                lat.append(time.time() - sent[seq])
t = threading.Thread(target=reader)
t.start()
pub = socket.create_connection(("127.0.0.1", port))
pub.settimeout(5)
for i in range(1, n + 1):
    body = json.dumps({"thread_id": tid, "seq": i, "line": "live %d" % i}).encode()
    sent[i] = time.time()
    pub.sendall(b"POST /api/runs/%s/logs HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s" % (tid.encode(), len(body), body))
    resp = b""
    while b"\r\n\r\n" not in resp or not resp.endswith(b"}\n"):
        resp += pub.recv(4096)
    time.sleep(max(0, sent[i] + 1 / rate - time.time()))
t.join()
with open(out, "w") as f:
    f.write("got %d of %d, max latency %d ms\n" % (len(lat), n, max(lat) * 1000 if lat else -1))
PY
}

@test "hostile: a database that accepts and never answers: /healthz under 50 ms and live lines flow while 20 history reads hang, then 503" {
	local dbport
	dbport=$(free_port)
	blackhole_py
	bg python3 "$T/blackhole.py" "$dbport"
	wait_for 5 python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $dbport))"
	start_hub --db "postgresql://bcast@127.0.0.1:$dbport/bcast" --db-timeout 4
	# 20 history reads that hang on the database.
	local i
	for i in $(seq 1 20); do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 \
			"$BCAST_HUB/admin/runs/slow-$i/logs" >"$T/hist-$i.out" &
		BC_PIDS+=($!)
	done
	sleep 0.5
	# Meanwhile: a live subscriber gets lines at the posted rate ...
	live_rate_py
	bg python3 "$T/live.py" "$HUB_PORT" live 60 20 "$T/live.out"
	local live=$BG_PID
	# ... and /healthz answers at once, every time.
	local fast=0 samples=""
	for i in $(seq 1 10); do
		t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 "$BCAST_HUB/healthz")
		samples="$samples $t"
		awk -v t="$t" 'BEGIN { exit !(t < 0.050) }' && fast=$((fast + 1))
		sleep 0.2
	done
	echo "healthz seconds:$samples"
	wait "$live"
	cat "$T/live.out"
	# The history reads end with 503: the first ones once --db-timeout has
	# passed, the ones queued behind them sooner (the store is not retried
	# for a second after a failure), none later than a few timeouts.
	for i in $(seq 1 20); do wait_for 30 test -s "$T/hist-$i.out"; done
	cat "$T"/hist-*.out | sort | uniq -c
	fault_report "black-hole database, 20 hanging history reads: healthz$samples s; $(cat "$T/live.out"); history $(cut -d' ' -f1 "$T"/hist-*.out | sort | uniq -c | tr -s ' \n' ' ')"
	[ "$fast" -ge 9 ]
	grep -q '^got 60 of 60,' "$T/live.out"
	awk '{ if ($NF + 0 > 500) exit 1 }' FS='latency ' "$T/live.out" || { echo "a live line waited over 500 ms"; false; }
	run grep -vc '^503 ' <(cat "$T"/hist-*.out)
	[ "$output" = 0 ]
	awk '{ if ($2 > 20) exit 1 }' "$T"/hist-*.out || { echo "a history read waited over 20 s"; false; }
	awk '$2 >= 3.5 { n++ } END { exit !(n >= 1) }' "$T"/hist-*.out || { echo "no history read waited for --db-timeout"; false; }
}

@test "hostile: a history query stuck behind a lock (PostgreSQL) gets 503 after --db-timeout while /healthz and streams go on" {
	local url t code
	url=$(pg_new_db)
	start_hub --db "$url" --db-timeout 3
	subscribe canary
	# Another session holds the table for 20 s: the history query waits.
	bg psql -X -q "$url" -c "BEGIN; LOCK TABLE thread_logs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT;"
	sleep 1
	curl -s -o "$T/locked.json" -w '%{http_code} %{time_total}\n' --max-time 15 \
		"$BCAST_HUB/admin/runs/locked/logs" >"$T/locked.out" &
	local reader=$!
	sleep 0.5
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 "$BCAST_HUB/healthz")
	canary_alive
	wait "$reader"
	cat "$T/locked.out" "$T/locked.json"
	fault_report "history behind a table lock, --db-timeout 3: $(cat "$T/locked.out"); healthz ${t}s meanwhile"
	awk -v t="$t" 'BEGIN { exit !(t < 0.5) }'
	read -r code t <"$T/locked.out"
	[ "$code" = 503 ]
	awk -v t="$t" 'BEGIN { exit !(t >= 2.5 && t < 10) }'
	grep -q 'statement timeout\|timed out' "$T/locked.json"
}
