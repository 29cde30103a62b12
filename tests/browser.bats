#!/usr/bin/env bats
# browser.bats - a real browser on the hub's SSE stream: headless Chromium
# loads tests/browser/stream.html from a second origin (python3 http.server
# on another port), the page opens an EventSource on the hub, and the test
# reads the page's DOM over the DevTools protocol (tests/browser/cdp.py) to
# check that the lines POSTed after the page connected are there, in
# order, byte for byte. Every wait is bounded.

load helpers

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# js EXPR: evaluate EXPR in the page, print the value.
js() { python3 "$REPO/tests/browser/cdp.py" "$T/chrome" "$1"; }
page_state_is() { [ "$(js 'document.body && document.body.dataset.state')" = "$1" ]; }
dom_items() { js 'JSON.stringify([...document.querySelectorAll("#log li")].map(li => li.textContent))'; }
dom_count_is() { [ "$(js 'document.querySelectorAll("#log li").length')" = "$1" ]; }

# post_lines TID FIRST_SEQ LINE...: POST one NDJSON record per LINE.
post_lines() {
	local tid=$1 seq=$2
	shift 2
	python3 -c '
import json, sys
tid, seq = sys.argv[1], int(sys.argv[2])
for i, line in enumerate(sys.argv[3:]):
    print(json.dumps({"thread_id": tid, "seq": seq + i, "line": line}))
' "$tid" "$seq" "$@" >"$T/body.ndjson"
	curl -sf -X POST -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$T/body.ndjson" "$BCAST_HUB/api/runs/$tid/logs" >/dev/null
}

page_served() { curl -sf "http://127.0.0.1:$PAGE_PORT/stream.html" >/dev/null; }

# Chromium's helper processes outlive its main one for a moment and keep
# writing to the profile: stop our Chromium, then wait until no process
# of that profile is left (listed by pgrep, never signalled by name)
# before the temp dir is removed.
chromium_gone() { ! pgrep -f -- "--user-data-dir=$T/chrome" >/dev/null; }
teardown() {
	local p
	for p in "${BC_PIDS[@]}"; do
		grep -qa -- "--user-data-dir=$T/chrome" "/proc/$p/cmdline" 2>/dev/null && kill "$p" 2>/dev/null
	done
	wait_for 10 chromium_gone || true
	bc_teardown
}

setup() {
	bc_setup
	[ -x "$CHROMIUM" ] || { echo "no $CHROMIUM: make test-deps installs the chromium package"; return 1; }
	PAGE_PORT=$(free_port)
	PAGE_ORIGIN="http://127.0.0.1:$PAGE_PORT"
	start_hub --cors-origin "$PAGE_ORIGIN"
	bg python3 -m http.server --bind 127.0.0.1 --directory "$REPO/tests/browser" "$PAGE_PORT" 2>"$T/http.log"
	wait_for 10 page_served
}

# chromium_on URL: headless Chromium on URL in the background, DevTools
# reachable through $T/chrome (cdp.py).
chromium_on() {
	bg "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--disable-quic --no-first-run --no-default-browser-check \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-extensions --mute-audio --user-data-dir="$T/chrome" \
		--remote-debugging-port=0 "$1" 2>"$T/chrome.log"
}

# start_browser THREAD: headless Chromium on the test page, waits until
# the page's EventSource is open and the hub counts the subscription.
start_browser() {
	chromium_on "$PAGE_ORIGIN/stream.html?hub=$BCAST_HUB&thread=$1"
	wait_for 30 page_state_is open || {
		echo "page state: $(js 'document.body.dataset.state' 2>&1)"
		tail -20 "$T/chrome.log"
		return 1
	}
	wait_for 10 subs_are_thread_1
}

subs_are_thread_1() {
	curl -sf "$BCAST_HUB/metrics" | grep -qx 'bcast_hub_subscribers{stream="thread"} 1'
}

@test "the hub's SSE stream allows a page of a listed origin (CORS), not a wildcard" {
	curl -s -D "$T/headers" -o /dev/null --max-time 1 -H "Origin: $PAGE_ORIGIN" \
		"$BCAST_HUB/api/runs/cors/logs/stream" || true
	grep -qi '^content-type: text/event-stream' "$T/headers"
	grep -Eqi "^access-control-allow-origin: $PAGE_ORIGIN"$'\r'"?$" "$T/headers"
}

@test "Chromium's EventSource shows the lines POSTed after it connected, in order, intact" {
	post_lines web 1 "before the page: never shown"
	start_browser web
	lines=(
		"first line"
		'quote " and backslash \ and \"escaped\"'
		$'tab\tand a carriage\rreturn'
		"unicode: é ü ß 日本語 🎉"
		"<b>markup stays text</b> &amp;"
		"last line"
	)
	post_lines web 10 "${lines[0]}" "${lines[1]}" "${lines[2]}"
	post_lines other 1 "another thread: never shown"
	post_lines web 13 "${lines[3]}" "${lines[4]}" "${lines[5]}"
	wait_for 10 dom_count_is 6 || { dom_items; false; }
	dom_items >"$T/dom.json"
	python3 -c '
import json, sys
got = json.load(open(sys.argv[1], encoding="utf-8"))
want = sys.argv[2:]
assert got == want, "DOM %r != POSTed %r" % (got, want)
' "$T/dom.json" "${lines[@]}"
	[ "$(js 'document.body.dataset.state')" = open ]
	[ "$(js 'JSON.stringify([...document.querySelectorAll("#log li")].map(li => +li.dataset.seq))')" = "[10,11,12,13,14,15]" ]
	[ "$(js 'document.querySelectorAll("#log b").length')" = 0 ]
}

# resume_across_kill REDIS: Chromium's EventSource on a thread while a
# paced 5,000-line run flows through Redis (a URL) or the spool (none);
# the hub is killed -9 and restarted half way.
resume_across_kill() {
	stop_hub
	export BCAST_REDIS=$1 BCAST_DB
	BCAST_DB=$(sqlite_db)
	start_hub --cors-origin "$PAGE_ORIGIN" --redis "$BCAST_REDIS" --db "$BCAST_DB"
	port=$HUB_PORT
	tid="web-resume-$RANDOM"
	start_browser "$tid"
	bg sh -c "python3 -c '
import time
for i in range(1, 5001):
    print(i, flush=True)
    time.sleep(0.002)
' | bcast-emit -t '$tid' >/dev/null 2>'$T/emit.err'"
	emit=$BG_PID
	dom_at_least() { [ "$(js 'document.querySelectorAll("#log li").length')" -ge "$1" ]; }
	# Bounded by the clock, not by a number of tries: each js call may take
	# a second on a loaded machine.
	until_s() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.5; done; }
	until_s 30 dom_at_least 500
	kill -9 "$HUB_PID"
	wait "$HUB_PID" 2>/dev/null || true
	sleep 1
	bcast-hub --listen "127.0.0.1:$port" --cors-origin "$PAGE_ORIGIN" --redis "$BCAST_REDIS" \
		--db "$BCAST_DB" 2>>"$HUB_LOG" &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	wait_for 10 hub_healthy
	wait "$emit"
	until_s 60 dom_count_is 5000 || {
		echo "DOM has $(js 'document.querySelectorAll("#log li").length')"
		cat "$T/emit.err"
		tail -5 "$HUB_LOG"
	}
	js 'JSON.stringify([...document.querySelectorAll("#log li")].map(li => li.textContent))' >"$T/dom.json"
	python3 -c '
import json, sys
got = [int(x) for x in json.load(open(sys.argv[1]))]
want = list(range(1, 5001))
if got != want:
    dups = sorted(s for s in set(got) if got.count(s) > 1)
    sys.exit("DOM holds %d lines; duplicates %s; missing %s" % (len(got), dups[:5], sorted(set(want) - set(got))[:5]))
' "$T/dom.json"
	# It really resumed (a cursor was served), rather than reconnecting fresh.
	[ "$(curl -s "$BCAST_HUB/metrics" | sed -n 's/^bcast_hub_resumes_total //p')" -ge 1 ]
}

@test "Chromium's EventSource resumes after a hub kill -9 (Redis): all 5,000 lines of a paced run, once each, in order" {
	resume_across_kill "$BCAST_TEST_REDIS"
}

@test "Chromium's EventSource resumes after a hub kill -9 (spool): all 5,000 lines of a paced run, once each, in order" {
	resume_across_kill none
}

# open_page THREAD: headless Chromium on tests/browser/auth.html (functions
# the test calls: readHistory, signIn, listen), waits until it is loaded.
open_page() {
	chromium_on "$PAGE_ORIGIN/auth.html?hub=$BCAST_HUB&thread=$1"
	wait_for 30 page_state_is idle || { tail -20 "$T/chrome.log"; return 1; }
}
dataset_done() { local v; v=$(js "document.body.dataset.$1") && [ -n "$v" ] && [ "$v" != pending ]; }
# page_history, page_listen, page_sign_in TOKEN: call the page's function,
# wait until it is done, print its outcome (see tests/browser/auth.html).
page_history() { js 'readHistory()' >/dev/null && wait_for 10 dataset_done history && js 'document.body.dataset.history'; }
page_listen() { js 'listen()' >/dev/null && wait_for 10 state_settled && js 'document.body.dataset.state'; }
page_sign_in() { js "signIn('$1')" >/dev/null && wait_for 10 dataset_done session && js 'document.body.dataset.session'; }
state_settled() { local v; v=$(js 'document.body.dataset.state') && [ "$v" = open ] || [ "$v" = error ]; }
hub_metric() { curl -sf -H "Authorization: Bearer ${READ:-x}" "$BCAST_HUB/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# a run with one stored line in DB, then a hub on it started with ARGS.
hub_with_history() {
	local db
	db=$(sqlite_db)
	stop_hub
	bcast-emit -t secret-run --redis none --db "$db" --hub "http://127.0.0.1:1" <<<"DB_PASSWORD=hunter2" 2>/dev/null || true
	[ "$(sqlite3 "${db#sqlite:}" 'SELECT count(*) FROM thread_logs')" = 1 ]
	start_hub --db "$db" "$@"
}

@test "Chromium: a page of an unlisted origin cannot read history or a stream, even from an open hub" {
	hub_with_history
	open_page secret-run
	[ "$(page_history)" = blocked ]
	[ "$(page_listen)" = error ]
	post_lines secret-run 2 "live secret"
	sleep 1
	[ "$(js 'document.querySelectorAll("#log li").length')" = 0 ]
	[ "$(hub_metric 'bcast_hub_subscribers{stream="thread"}')" = 0 ]
	[ "$(hub_metric 'bcast_hub_rejected_total{reason="forbidden"}')" -ge 2 ]
}

@test "Chromium: a page of a listed origin reads history and the stream" {
	hub_with_history --cors-origin "$PAGE_ORIGIN"
	open_page secret-run
	[[ "$(page_history)" == "200 "*'"line":"DB_PASSWORD=hunter2"'* ]]
	[ "$(page_listen)" = open ]
	wait_for 10 subs_are_thread_1
	post_lines secret-run 2 "live line"
	wait_for 10 dom_count_is 1
	[ "$(js 'document.querySelector("#log li").textContent')" = "live line" ]
}

@test "Chromium: with read access, EventSource works with the HttpOnly cookie from POST /auth/session, and not before" {
	READ=browser-read-token
	printf '%s\n' "$READ" >"$T/read.token"
	hub_with_history --cors-origin "$PAGE_ORIGIN" --read-token-file "$T/read.token"
	open_page secret-run
	[[ "$(page_history)" == "401 "* ]]
	[ "$(page_listen)" = error ]
	[ "$(page_sign_in wrong-token)" = 401 ]
	[ "$(page_sign_in "$READ")" = 204 ]
	# HttpOnly: the page's script cannot see it.
	[ "$(js 'document.cookie')" = "" ]
	[ "$(page_listen)" = open ]
	wait_for 10 subs_are_thread_1_auth
	post_lines secret-run 2 "after sign-in"
	wait_for 10 dom_count_is 1
	[ "$(js 'document.querySelector("#log li").textContent')" = "after sign-in" ]
	[[ "$(page_history)" == "200 "*hunter2* ]]
}

subs_are_thread_1_auth() {
	curl -sf -H "Authorization: Bearer $READ" "$BCAST_HUB/metrics" | grep -qx 'bcast_hub_subscribers{stream="thread"} 1'
}
