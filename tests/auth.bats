#!/usr/bin/env bats
# auth.bats - read access, sessions, origins and media types on a real
# bcast-hub: every GET route is 401 without a credential and 200 with the
# read token, the publish token, a signed token or the session cookie; a
# scoped token reads its threads only; an expired token is refused and a
# stream is closed when its token expires; no token ever reaches the hub's
# log; POSTs of the wrong Content-Type or from a foreign Origin deliver
# nothing; a non-loopback --listen needs a credential.

load helpers

READ=r3ad-t0ken-for-tests
PUB=pub1ish-t0ken-for-tests

# code URL_PATH [CURL ARGS...]: the HTTP status (streams are cut after 1 s).
code() {
	local p=$1; shift
	curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 1 "$@" "$BCAST_HUB$p" || true
}

# mint PATTERNS [TTL]: a signed read token.
mint() { bcast-event --mint-token --jwt-secret-file "$T/jwt.key" --threads "$1" --ttl "${2:-1h}"; }

# post_line TID SEQ TEXT [CURL ARGS...]: POST one record with $AUTH (the
# publish token unless set) and Content-Type $CT; prints the status.
post_line() {
	local tid=$1 seq=$2 text=$3; shift 3
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
		-H "Authorization: ${AUTH-Bearer $PUB}" -H "Content-Type:${CT- application/x-ndjson}" "$@" \
		--data-binary "{\"thread_id\":\"$tid\",\"seq\":$seq,\"line\":\"$text\"}" \
		"$BCAST_HUB/api/runs/$tid/logs"
}

subscribers() {
	curl -sf --max-time 5 -H "Authorization: Bearer $READ" "$BCAST_HUB/metrics" |
		sed -nE "s/^bcast_hub_subscribers\{stream=\"$1\"\} ([0-9]+)$/\1/p"
}
subscribed() { [ "$(subscribers "$1")" = "$2" ]; }

setup() {
	bc_setup
	printf '%s\n' "$READ" >"$T/read.token"
	printf '%s\n' "$PUB" >"$T/pub.token"
	head -c 48 /dev/urandom | base64 -w0 >"$T/jwt.key"
	chmod 600 "$T"/*.token "$T/jwt.key"
}
teardown() { bc_teardown; }

start_guarded() {
	start_hub --token-file "$T/pub.token" --read-token-file "$T/read.token" \
		--jwt-secret-file "$T/jwt.key" "$@"
}

GETS=(/metrics /api/logs/stream /api/runs/run-1/logs/stream
	/api/admin-events/stream /admin/runs/run-1/logs)

@test "auth: with read access, every GET but /healthz is 401 without a credential, 200 with one" {
	start_guarded
	[ "$(code /healthz)" = 200 ]
	local p c
	for p in "${GETS[@]}"; do
		c=$(code "$p")
		[ "$c" = 401 ] || { echo "$p without credential: $c"; false; }
		grep -qi '^WWW-Authenticate: Bearer' "$T/headers"
		grep -q '"error"' "$T/body"
		c=$(code "$p" -H 'Authorization: Bearer wrong')
		[ "$c" = 401 ] || { echo "$p with a wrong token: $c"; false; }
		c=$(code "$p" -H "Authorization: Bearer $READ")
		[ "$c" = 200 ] || { echo "$p with the read token: $c"; false; }
		c=$(code "$p" -H "Authorization: Bearer $PUB")
		[ "$c" = 200 ] || { echo "$p with the publish token: $c"; false; }
	done
	# The read token cannot publish.
	AUTH="Bearer $READ" run post_line run-1 1 x
	[ "$output" = 401 ]
	# Counted.
	curl -sf -H "Authorization: Bearer $READ" "$BCAST_HUB/metrics" |
		grep -Eq '^bcast_hub_rejected_total\{reason="unauthorized"\} ([1-9][0-9]+)$'
}

@test "auth: the session cookie reads every GET route, never publishes; DELETE signs out" {
	start_guarded
	run curl -s -i -X POST "$BCAST_HUB/auth/session"
	[[ "$output" == "HTTP/1.1 401"* ]]
	[[ "$output" != *Set-Cookie* ]]
	run curl -s -i -X POST -H 'Authorization: Bearer wrong' "$BCAST_HUB/auth/session"
	[[ "$output" == "HTTP/1.1 401"* ]]
	[[ "$output" != *Set-Cookie* ]]
	curl -s -D "$T/sess" -o /dev/null -X POST -H "Authorization: Bearer $PUB" \
		-c "$T/jar" "$BCAST_HUB/auth/session"
	tr -d '\r' <"$T/sess" >"$T/s"
	grep -q '^HTTP/1.1 204' "$T/s"
	grep -Eq '^Set-Cookie: bcast_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict$' "$T/s"
	# The cookie is not the token.
	run grep -c -e "$PUB" -e "$READ" "$T/s" "$T/jar"
	[[ "$output" != *:[1-9]* ]]
	local p c
	for p in "${GETS[@]}"; do
		c=$(code "$p" -b "$T/jar")
		[ "$c" = 200 ] || { echo "$p with the cookie: $c"; false; }
	done
	# A cookie never authorizes a POST, even one made from the publish token.
	AUTH= run post_line run-1 1 x -b "$T/jar"
	[ "$output" = 401 ]
	# A forged cookie is refused.
	[ "$(code /metrics -b 'bcast_session=0000000000000000000000000000000000000000000000000000000000000000')" = 401 ]
	# Signing out clears it.
	run curl -s -i -X DELETE -b "$T/jar" "$BCAST_HUB/auth/session"
	[[ "$output" == "HTTP/1.1 204"* ]]
	[[ "$output" == *"Set-Cookie: bcast_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"* ]]
}

@test "auth: Secure on the cookie with --cookie-secure or X-Forwarded-Proto: https" {
	start_guarded
	run curl -s -i -X POST -H "Authorization: Bearer $READ" "$BCAST_HUB/auth/session"
	[[ "$output" != *Secure* ]]
	run curl -s -i -X POST -H "Authorization: Bearer $READ" -H 'X-Forwarded-Proto: https' \
		"$BCAST_HUB/auth/session"
	[[ "$output" == *"SameSite=Strict; Secure"* ]]
	stop_hub
	start_guarded --cookie-secure
	run curl -s -i -X POST -H "Authorization: Bearer $READ" "$BCAST_HUB/auth/session"
	[[ "$output" == *"SameSite=Strict; Secure"* ]]
}

@test "auth: a scoped token reads its threads (exact and prefix) and gets 403 elsewhere" {
	start_guarded
	local tok
	tok=$(mint 'run-*,exact-1')
	[ "$(code /admin/runs/run-7/logs -H "Authorization: Bearer $tok")" = 200 ]
	[ "$(code /api/runs/run-7/logs/stream -H "Authorization: Bearer $tok")" = 200 ]
	[ "$(code /admin/runs/exact-1/logs -H "Authorization: Bearer $tok")" = 200 ]
	[ "$(code '/api/admin-events/stream?thread_id=run-7' -H "Authorization: Bearer $tok")" = 200 ]
	[ "$(code /admin/runs/exact-12/logs -H "Authorization: Bearer $tok")" = 403 ]
	grep -q 'does not grant thread exact-12' "$T/body"
	[ "$(code /admin/runs/other/logs -H "Authorization: Bearer $tok")" = 403 ]
	[ "$(code /api/runs/other/logs/stream -H "Authorization: Bearer $tok")" = 403 ]
	[ "$(code /api/logs/stream -H "Authorization: Bearer $tok")" = 403 ]
	[ "$(code /api/admin-events/stream -H "Authorization: Bearer $tok")" = 403 ]
	[ "$(code '/api/admin-events/stream?thread_id=other' -H "Authorization: Bearer $tok")" = 403 ]
	# A signed token never publishes.
	AUTH="Bearer $tok" run post_line run-7 1 x
	[ "$output" = 401 ]
	# "*" reads everything; the session cookie carries the scope.
	[ "$(code /api/logs/stream -H "Authorization: Bearer $(mint '*')")" = 200 ]
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $tok" -c "$T/jar" "$BCAST_HUB/auth/session"
	grep -q bcast_session "$T/jar"
	[ "$(code /admin/runs/run-9/logs -b "$T/jar")" = 200 ]
	[ "$(code /admin/runs/other/logs -b "$T/jar")" = 403 ]
}

@test "auth: tampered, foreign-key, alg none and expired tokens are refused" {
	start_guarded
	local tok other none exp
	tok=$(mint 'run-*')
	# Claims swapped for '*' with the old signature.
	other=$(python3 -c 'import sys,base64,json
h,p,s=sys.argv[1].split(".")
c=base64.urlsafe_b64encode(json.dumps({"threads":["*"],"exp":4102444800}).encode()).rstrip(b"=").decode()
print(h+"."+c+"."+s)' "$tok")
	[ "$(code /api/logs/stream -H "Authorization: Bearer $other")" = 401 ]
	grep -q 'signature' "$T/body"
	# alg none.
	none=$(python3 -c 'import base64,json
e=lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
print(e({"alg":"none","typ":"JWT"})+"."+e({"threads":["*"],"exp":4102444800})+".")')
	[ "$(code /api/logs/stream -H "Authorization: Bearer $none")" = 401 ]
	# Signed with another secret.
	head -c 48 /dev/urandom | base64 -w0 >"$T/other.key"
	other=$(bcast-event --mint-token --jwt-secret-file "$T/other.key" --threads '*')
	[ "$(code /api/logs/stream -H "Authorization: Bearer $other")" = 401 ]
	# Expired. 3 s of life: on a loaded box the first request can take
	# more than 1 s to be answered.
	exp=$(mint 'run-*' 3s)
	[ "$(code /admin/runs/run-1/logs -H "Authorization: Bearer $exp")" = 200 ]
	sleep 4.2
	[ "$(code /admin/runs/run-1/logs -H "Authorization: Bearer $exp")" = 401 ]
	grep -q 'expired' "$T/body"
	run curl -s -i -X POST -H "Authorization: Bearer $exp" "$BCAST_HUB/auth/session"
	[[ "$output" == "HTTP/1.1 401"* ]]
	[[ "$output" != *Set-Cookie* ]]
}

@test "auth: a stream is closed when its token expires; lines before that arrive" {
	start_guarded
	local tok t0 t1
	tok=$(mint 'exp-*' 3s)
	t0=$(date +%s%N)
	curl -sN --max-time 20 -H "Authorization: Bearer $tok" \
		"$BCAST_HUB/api/runs/exp-1/logs/stream" >"$T/s.sse" &
	local pid=$!
	BC_PIDS+=("$pid")
	wait_for 5 subscribed thread 1
	[ "$(post_line exp-1 1 before-expiry)" = 200 ]
	wait "$pid"
	local rc=$?
	t1=$(date +%s%N)
	# curl ended because the hub closed the stream (not --max-time: 28).
	[ "$rc" = 0 ]
	[ $(( (t1 - t0) / 1000000 )) -lt 6000 ]
	grep -q before-expiry "$T/s.sse"
	grep -qx ': closed: credential expired' "$T/s.sse"
	wait_for 5 subscribed thread 0
}

@test "auth: no token, cookie or secret ever appears in the hub's log" {
	start_guarded --cors-origin http://127.0.0.1:1
	local tok
	tok=$(mint 'run-*' 1s)
	code /metrics -H "Authorization: Bearer $READ" >/dev/null
	code /metrics -H "Authorization: Bearer $tok" >/dev/null
	code /metrics -H "Authorization: Bearer not-$READ" >/dev/null
	code /metrics -b "bcast_session=$READ" >/dev/null
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $PUB" -c "$T/jar" "$BCAST_HUB/auth/session"
	post_line run-1 1 x >/dev/null
	sleep 2
	code /admin/runs/run-1/logs -H "Authorization: Bearer $tok" >/dev/null
	printf 'GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n' "$READ" |
		timeout 5 python3 "$REPO/tests/faults/rawhttp.py" req "$HUB_PORT" --shutdown --timeout 3 || true
	stop_hub
	cat "$HUB_LOG"
	local cookie
	cookie=$(awk '$6 == "bcast_session" { print $7 }' "$T/jar")
	[ -n "$cookie" ]
	run grep -c -F -e "$READ" -e "$PUB" -e "$tok" -e "$cookie" -e "$(cat "$T/jwt.key")" "$HUB_LOG"
	[ "$output" = 0 ]
	# The same holds when the tokens come from the environment.
	export BCAST_TOKEN=$PUB BCAST_READ_TOKEN=$READ
	start_hub
	[ "$(code /metrics)" = 401 ]
	[ "$(code /metrics -H "Authorization: Bearer $READ")" = 200 ]
	stop_hub
	run grep -c -F -e "$READ" -e "$PUB" "$HUB_LOG"
	[ "$output" = 0 ]
}

@test "auth: --metrics-public opens /metrics only" {
	start_guarded --metrics-public
	[ "$(code /metrics)" = 200 ]
	[ "$(code /admin/runs/run-1/logs)" = 401 ]
	[ "$(code /api/logs/stream)" = 401 ]
}

@test "auth: a text/plain (or untyped) POST is 415 and nothing is delivered" {
	start_guarded
	curl -sN --max-time 30 -H "Authorization: Bearer $READ" \
		"$BCAST_HUB/api/runs/ct/logs/stream" >"$T/ct.sse" &
	BC_PIDS+=($!)
	curl -sN --max-time 30 -H "Authorization: Bearer $READ" \
		"$BCAST_HUB/api/admin-events/stream" >"$T/admin.sse" &
	BC_PIDS+=($!)
	wait_for 5 subscribed thread 1
	wait_for 5 subscribed admin 1
	[ "$(CT=' text/plain' post_line ct 1 text-plain)" = 415 ]
	[ "$(CT=' application/x-www-form-urlencoded' post_line ct 2 form)" = 415 ]
	[ "$(CT= post_line ct 3 untyped)" = 415 ]
	[ "$(CT=' application/json' post_line ct 4 json-for-logs)" = 415 ]
	[ "$(CT=' application/x-ndjsonx' post_line ct 4 lookalike)" = 415 ]
	run curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $PUB" \
		-H 'Content-Type: text/plain' --data-binary '{"type":"hitl.ack","thread_id":"ct"}' \
		"$BCAST_HUB/api/admin-events"
	[ "$output" = 415 ]
	# The right types go through, with parameters allowed.
	[ "$(CT=' Application/X-NDJSON; charset=utf-8' post_line ct 5 ok)" = 200 ]
	run curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $PUB" \
		-H 'Content-Type: application/json' --data-binary '{"type":"marker","thread_id":"ct"}' \
		"$BCAST_HUB/api/admin-events"
	[ "$output" = 200 ]
	wait_for 5 grep -q '"line":"ok"' "$T/ct.sse"
	wait_for 5 grep -q marker "$T/admin.sse"
	run grep -c '^data:' "$T/ct.sse"
	[ "$output" = 1 ]
	run grep -c 'hitl.ack' "$T/admin.sse"
	[ "$output" = 0 ]
	curl -sf -H "Authorization: Bearer $READ" "$BCAST_HUB/metrics" |
		grep -qx 'bcast_hub_rejected_total{reason="unsupported_media_type"} 6'
}

@test "auth: a request from a foreign Origin is refused (403) and delivers nothing; listed and own origins pass" {
	start_guarded --cors-origin http://allowed.example:8080
	curl -sN --max-time 30 -H "Authorization: Bearer $READ" \
		"$BCAST_HUB/api/runs/o/logs/stream" >"$T/o.sse" &
	BC_PIDS+=($!)
	wait_for 5 subscribed thread 1
	[ "$(post_line o 1 forged -H 'Origin: http://evil.example')" = 403 ]
	[ "$(post_line o 2 null-origin -H 'Origin: null')" = 403 ]
	[ "$(post_line o 3 lookalike -H 'Origin: http://allowed.example:8080.evil.example')" = 403 ]
	[ "$(code /admin/runs/o/logs -H 'Origin: http://evil.example' -H "Authorization: Bearer $READ")" = 403 ]
	run grep -ci '^Access-Control-Allow-Origin' "$T/headers"
	[ "$output" = 0 ]
	[ "$(code /api/runs/o/logs/stream -H 'Origin: http://evil.example' -b "bcast_session=x")" = 403 ]
	# Listed: allowed, with credentials, never a wildcard.
	[ "$(post_line o 4 listed -H 'Origin: http://allowed.example:8080')" = 200 ]
	[ "$(code /admin/runs/o/logs -H 'Origin: http://allowed.example:8080' -H "Authorization: Bearer $READ")" = 200 ]
	tr -d '\r' <"$T/headers" >"$T/h"
	grep -qx 'Access-Control-Allow-Origin: http://allowed.example:8080' "$T/h"
	grep -qx 'Access-Control-Allow-Credentials: true' "$T/h"
	# The hub's own origin (the Host it was reached at).
	[ "$(post_line o 5 own -H "Origin: http://127.0.0.1:$HUB_PORT")" = 200 ]
	# Preflight: listed origin gets methods and headers; a foreign one 403.
	run curl -s -i -X OPTIONS -H 'Origin: http://allowed.example:8080' \
		-H 'Access-Control-Request-Method: POST' "$BCAST_HUB/api/runs/o/logs"
	[[ "$output" == *"HTTP/1.1 204"* ]]
	[[ "$output" == *"Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID"* ]]
	run curl -s -i -X OPTIONS -H 'Origin: http://evil.example' "$BCAST_HUB/api/runs/o/logs"
	[[ "$output" == "HTTP/1.1 403"* ]]
	[[ "$output" != *Access-Control-Allow* ]]
	wait_for 5 grep -q '"line":"own"' "$T/o.sse"
	[ "$(lines_of "$T/o.sse" | tr '\n' ' ')" = 'listed own ' ]
}

lines_of() {
	python3 -c 'import sys, json
for l in open(sys.argv[1]):
    if l.startswith("data: "): print(json.loads(l[6:])["line"])' "$1"
}

@test "auth: no Access-Control-Allow-Origin: * anywhere in the hub" {
	run grep -rn 'Allow-Origin", "\*"' "$REPO/src" "$REPO/lib"
	[ "$status" -eq 1 ]
	start_hub
	local p
	for p in /healthz /metrics /admin/runs/x/logs /api/runs/x/logs/stream; do
		code "$p" -H 'Origin: http://127.0.0.1:1' >/dev/null
		run grep -ci '^Access-Control-Allow-Origin' "$T/headers"
		[ "$output" = 0 ]
	done
}

@test "auth: a non-loopback --listen with no credential exits 64 and says how to configure one" {
	local port
	port=$(free_port)
	run timeout 10 bcast-hub --listen "0.0.0.0:$port" --db "$(sqlite_db)"
	[ "$status" -eq 64 ]
	[[ "$output" == *"refusing to listen on 0.0.0.0:$port"* ]]
	[[ "$output" == *"--token-file"* ]]
	[[ "$output" == *"--read-token-file"* ]]
	[[ "$output" == *"--insecure"* ]]
	# A publish token alone is not enough: reads would be open.
	run timeout 10 bcast-hub --listen "0.0.0.0:$port" --db "$(sqlite_db)" --token-file "$T/pub.token"
	[ "$status" -eq 64 ]
	[[ "$output" == *"no read credential"* ]]
	# Nothing was listening meanwhile.
	run curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz"
	[ "$status" -ne 0 ]
	# With both credentials, or --insecure, it starts.
	HUB_PORT=$port
	bg bcast-hub --listen "0.0.0.0:$port" --db "$(sqlite_db)" --token-file "$T/pub.token" \
		--jwt-secret-file "$T/jwt.key" 2>"$T/hub.log"
	wait_for 10 hub_healthy
	kill "$BG_PID"
	wait "$BG_PID" || true
	bg bcast-hub --listen "0.0.0.0:$port" --db "$(sqlite_db)" --insecure 2>"$T/hub2.log"
	wait_for 10 hub_healthy
}

@test "auth: bad credential options are usage errors (64), naming no secret" {
	run bcast-hub --token x --token-file "$T/pub.token"
	[ "$status" -eq 64 ]
	run bcast-hub --read-token-file "$T/nope"
	[ "$status" -eq 64 ]
	[[ "$output" == *"cannot read $T/nope"* ]]
	: >"$T/empty"
	run bcast-hub --token-file "$T/empty"
	[ "$status" -eq 64 ]
	[[ "$output" == *"is empty"* ]]
	printf 'short\n' >"$T/short.key"
	run bcast-hub --jwt-secret-file "$T/short.key"
	[ "$status" -eq 64 ]
	[[ "$output" == *"at least 32"* ]]
	[[ "$output" != *short$'\n'* ]]
	run bcast-hub --cors-origin '*'
	[ "$status" -eq 64 ]
	[[ "$output" == *"no wildcard"* ]]
	run bcast-hub --cors-origin 'http://a.example/path'
	[ "$status" -eq 64 ]
	run bcast-event --mint-token --threads 'bad id' --jwt-secret-file "$T/jwt.key"
	[ "$status" -eq 64 ]
	run bcast-event --mint-token --threads 'run-*' --ttl 0s --jwt-secret-file "$T/jwt.key"
	[ "$status" -eq 64 ]
	run bcast-event --mint-token --threads 'run-*'
	[ "$status" -eq 64 ]
	[[ "$output" == *"--jwt-secret-file"* ]]
}

@test "auth: the openssl recipe of bcast-event(1) makes a token the hub accepts" {
	start_guarded
	local h c s tok
	b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
	c=$(printf '{"threads":["nightly-*"],"exp":%d}' $(( $(date +%s) + 600 )) | b64)
	s=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -binary -hmac "$(cat "$T/jwt.key")" | b64)
	tok="$h.$c.$s"
	[ "$(code /admin/runs/nightly-1/logs -H "Authorization: Bearer $tok")" = 200 ]
	[ "$(code /admin/runs/daily-1/logs -H "Authorization: Bearer $tok")" = 403 ]
}

@test "auth: examples/nginx/bcast.conf terminates TLS, streams unbuffered, sets a Secure cookie" {
	local tls http cert="$T/tls"
	tls=$(free_port)
	http=$(free_port)
	start_guarded --max-conns-per-addr 512
	mkdir -p "$cert" "$T/ngx/tmp"
	chmod 777 "$T/ngx/tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 \
		-keyout "$cert/key.pem" -out "$cert/cert.pem" 2>/dev/null
	# The example as shipped, with test ports, paths and no IPv6.
	sed -e "s|listen 443 ssl http2;|listen 127.0.0.1:$tls ssl http2;|" \
		-e "s|listen 80;|listen 127.0.0.1:$http;|" -e '/listen \[::\]/d' \
		-e "s|/etc/ssl/certs/logs.example.com.pem|$cert/cert.pem|" \
		-e "s|/etc/ssl/private/logs.example.com.key|$cert/key.pem|" \
		-e "s|127.0.0.1:8090|127.0.0.1:$HUB_PORT|" \
		"$REPO/examples/nginx/bcast.conf" >"$T/ngx/site.conf"
	cat >"$T/ngx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/ngx/nginx.pid;
error_log $T/ngx/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $T/ngx/tmp/body;
	proxy_temp_path $T/ngx/tmp/proxy;
	fastcgi_temp_path $T/ngx/tmp/fcgi;
	uwsgi_temp_path $T/ngx/tmp/uwsgi;
	scgi_temp_path $T/ngx/tmp/scgi;
	include $T/ngx/site.conf;
}
CONF
	nginx -t -p "$T/ngx" -c "$T/ngx/nginx.conf"
	bg nginx -p "$T/ngx" -c "$T/ngx/nginx.conf"
	local base="https://127.0.0.1:$tls"
	wait_for 10 curl -sf --cacert "$cert/cert.pem" "$base/healthz"
	# Plain HTTP is redirected to TLS.
	run curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$http/healthz"
	[[ "$output" == "301 https://127.0.0.1/healthz"* ]]
	# No credential: 401 through the proxy too.
	[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$cert/cert.pem" "$base/admin/runs/x/logs")" = 401 ]
	# The session cookie is Secure behind TLS.
	run curl -s -i --cacert "$cert/cert.pem" -X POST -H "Authorization: Bearer $READ" "$base/auth/session"
	[[ "$output" == *"HttpOnly; SameSite=Strict; Secure"* ]]
	# A stream through the proxy gets each line at once, not when a buffer fills.
	curl -sN --max-time 30 --cacert "$cert/cert.pem" -H "Authorization: Bearer $READ" \
		"$base/api/runs/tls/logs/stream" >"$T/tls.sse" &
	BC_PIDS+=($!)
	wait_for 10 subscribed thread 1
	local t0 t1
	t0=$(date +%s%N)
	[ "$(post_line tls 1 through-tls)" = 200 ]
	wait_for 5 grep -q through-tls "$T/tls.sse"
	t1=$(date +%s%N)
	echo "line through nginx in $(( (t1 - t0) / 1000000 )) ms"
	[ $(( (t1 - t0) / 1000000 )) -lt 2000 ]
	# Posting through the proxy, with the page's own origin (https, same host).
	[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$cert/cert.pem" -X POST \
		-H "Authorization: Bearer $PUB" -H 'Content-Type: application/x-ndjson' \
		-H "Origin: https://127.0.0.1:$tls" \
		--data-binary '{"thread_id":"tls","seq":2,"line":"own-origin"}' \
		"$base/api/runs/tls/logs")" = 200 ]
	wait_for 5 grep -q own-origin "$T/tls.sse"
}

@test "auth: with reads open, a dotted host name (DNS rebinding) is refused; IPs and localhost pass" {
	start_hub
	[ "$(code /admin/runs/x/logs -H 'Host: evil.example:8090')" = 403 ]
	grep -q 'Host not allowed' "$T/body"
	[ "$(code /api/runs/x/logs/stream -H 'Host: rebind.evil.example')" = 403 ]
	[ "$(code /admin/runs/x/logs -H "Host: 127.0.0.1:$HUB_PORT")" = 200 ]
	[ "$(code /admin/runs/x/logs -H "Host: localhost:$HUB_PORT")" = 200 ]
	[ "$(code /admin/runs/x/logs -H "Host: [::1]:$HUB_PORT")" = 200 ]
	stop_hub
	# With a read credential any name works (the cookie is not sent to a
	# foreign name, and a bearer token is not known to the page).
	start_guarded
	[ "$(code /admin/runs/x/logs -H 'Host: logs.example.com' -H "Authorization: Bearer $READ")" = 200 ]
	stop_hub
	start_hub --insecure
	[ "$(code /admin/runs/x/logs -H 'Host: logs.example.com')" = 200 ]
}
