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

setup() {
	bc_setup
	[ -x "$CHROMIUM" ] || { echo "no $CHROMIUM: make test-deps installs the chromium package"; return 1; }
	start_hub
	PAGE_PORT=$(free_port)
	bg python3 -m http.server --bind 127.0.0.1 --directory "$REPO/tests/browser" "$PAGE_PORT" 2>"$T/http.log"
	wait_for 10 page_served
	PAGE_ORIGIN="http://127.0.0.1:$PAGE_PORT"
}

# start_browser THREAD: headless Chromium on the test page, waits until
# the page's EventSource is open and the hub counts the subscription.
start_browser() {
	local url="$PAGE_ORIGIN/stream.html?hub=$BCAST_HUB&thread=$1"
	bg "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--disable-quic --no-first-run --no-default-browser-check \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-extensions --mute-audio --user-data-dir="$T/chrome" \
		--remote-debugging-port=0 "$url" 2>"$T/chrome.log"
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

@test "the hub's SSE stream allows a page of another origin (CORS)" {
	curl -s -D "$T/headers" -o /dev/null --max-time 1 -H "Origin: $PAGE_ORIGIN" \
		"$BCAST_HUB/api/runs/cors/logs/stream" || true
	grep -qi '^content-type: text/event-stream' "$T/headers"
	grep -Eqi "^access-control-allow-origin: (\*|$PAGE_ORIGIN)"$'\r'"?$" "$T/headers"
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
