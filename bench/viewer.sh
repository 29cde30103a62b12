#!/usr/bin/env bash
# bench/viewer.sh - the viewer page under load: a 1,000,000-line run at
# 20,000 lines/s into a page open in headless Chromium.
#
# Twice, each time with a fresh bin/bcast-hub (SQLite, no Redis) and a
# fresh Chromium: the bcast page on /runs/bench-viewer, then its peer, a
# naive page (bench/naive.js). bench/viewer.py POSTs the lines and reads
# the page over the DevTools protocol: its JS heap every second
# (Runtime.getHeapUsage) and, per POST, the time until the frame showing
# its last line was painted. Prints the results with the bounds the bcast
# page is held to and the ratios to the peer, one "- " line each, writes
# them to bench/viewer-latest.md, and exits 1 if a bound is broken.
#
#   bench/viewer.sh [LINES [RATE]]     defaults 1000000 20000
set -u
LINES=${1:-1000000}
RATE=${2:-20000}
HEAP_BOUND_MB=${HEAP_BOUND_MB:-64}    # the page's JS heap, peak of the samples
P99_BOUND_MS=${P99_BOUND_MS:-300}     # POST to paint, 99th percentile
REPO=$(cd "$(dirname "$0")/.." && pwd)
HUB_BIN=${HUB_BIN:-$REPO/bin/bcast-hub}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export LC_ALL=C

die() { echo "bench/viewer.sh: $*" >&2; exit 69; }
[ -x "$HUB_BIN" ] || die "$HUB_BIN missing: run make"
[ -x "$CHROMIUM" ] || die "$CHROMIUM missing (make test-deps)"
# shellcheck source=../tests/services.sh
source "$REPO/tests/services.sh" ""

W=$(mktemp -d /tmp/bcast-viewer-bench.XXXXXX)
HUB_PID=""; CHROME_PID=""
stop_all() {
	if [ -n "$CHROME_PID" ]; then
		kill -TERM -- "-$CHROME_PID" 2>/dev/null
		for _ in $(seq 1 50); do pgrep -g "$CHROME_PID" >/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$CHROME_PID" 2>/dev/null
		for _ in $(seq 1 20); do pgrep -g "$CHROME_PID" >/dev/null || break; sleep 0.1; done
	fi
	[ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
	CHROME_PID=""; HUB_PID=""
}
trap 'stop_all; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

# run_page NAME: a fresh hub and Chromium, the page NAME (bcast: the
# viewer; naive: bench/naive.js) on thread bench-viewer, the load, the
# result line in $W/NAME.res.
run_page() {
	local name=$1 port hub url
	port=$(svc_free_port) || die "no free port"
	hub=http://127.0.0.1:$port
	XDG_STATE_HOME=$W/state "$HUB_BIN" --listen "127.0.0.1:$port" --db "sqlite:$W/$name.db" \
		--redis none 2>"$W/hub-$name.log" &
	HUB_PID=$!
	for _ in $(seq 1 100); do curl -sf "$hub/healthz" >/dev/null && break; sleep 0.05; done
	curl -sf "$hub/healthz" >/dev/null || die "bcast-hub did not start: $(tail -3 "$W/hub-$name.log")"
	[ "$name" = bcast ] && url=$hub/runs/bench-viewer || url=$hub/healthz
	rm -rf "$W/chrome"
	setsid "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--disable-quic --no-first-run --no-default-browser-check \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-extensions --mute-audio --window-size=1280,800 \
		--user-data-dir="$W/chrome" --remote-debugging-port=0 "$url" 2>"$W/chrome-$name.log" &
	CHROME_PID=$!
	local cdp=("python3" "$REPO/tests/browser/cdp.py" "$W/chrome")
	if [ "$name" = naive ]; then
		for _ in $(seq 1 300); do [ "$("${cdp[@]}" 'document.readyState' 2>/dev/null)" = complete ] && break; sleep 0.1; done
		"${cdp[@]}" "const THREAD = 'bench-viewer'; $(cat "$REPO/bench/naive.js")" >/dev/null ||
			die "could not start bench/naive.js"
	fi
	for _ in $(seq 1 300); do [ "$("${cdp[@]}" 'document.body.dataset.state' 2>/dev/null)" = ready ] && break; sleep 0.1; done
	[ "$("${cdp[@]}" 'document.body.dataset.state' 2>/dev/null)" = ready ] ||
		die "the $name page did not get ready: $(tail -3 "$W/chrome-$name.log")"
	timeout 600 python3 "$REPO/bench/viewer.py" "$hub" "$W/chrome" bench-viewer "$LINES" "$RATE" "$CHROME_PID" >"$W/$name.res" ||
		echo "status=failed" >"$W/$name.res"
	stop_all
}

run_page bcast
run_page naive
res=$(cat "$W/bcast.res")
peer=$(cat "$W/naive.res")
get() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"${2:-$res}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
heap=$(get heap_peak_mb)
p99=$(get p99_ms)
ok=1
verdict() { awk -v v="$1" -v b="$2" 'BEGIN { exit !(v != "" && v + 0 >= 0 && v + 0 < b + 0) }' && echo "within" || { ok=0; echo "OVER"; }; }
hv=$(verdict "$heap" "$HEAP_BOUND_MB")
lv=$(verdict "$p99" "$P99_BOUND_MS")
{
	echo "- viewer page, $(get lines) lines at $(get rate) lines/s POSTed (achieved $(get achieved_rate)/s) to /runs/bench-viewer in headless $("$CHROMIUM" --version 2>/dev/null | head -1 | cut -d' ' -f1-2), nproc $(nproc), load $(cut -d' ' -f1 /proc/loadavg)"
	echo "- bcast page: JS heap peak $heap MB (bound $HEAP_BOUND_MB MB: $hv); at the end $(get heap_end_mb) MB, $(get heap_after_gc_mb) MB after a GC; at most $(get dom_elements_max) DOM elements; Chromium PSS peak $(get browser_pss_peak_mb) MB (all its processes)"
	echo "- bcast page: POST to paint p50 $(get p50_ms) ms, p99 $p99 ms (bound $P99_BOUND_MS ms: $lv), max $(get max_ms) ms over $(get posts) POSTs of $((RATE / 100)) lines ($(get posts_unpainted) not painted); kept $(get page_kept) rows (cap $(get cap)), $(get page_dropped) older lines counted as dropped"
	echo "- peer, a naive page (bench/naive.js: EventSource, one <li> per line): JS heap peak $(get heap_peak_mb "$peer") MB (its DOM is outside the JS heap), $(get dom_elements_max "$peer") DOM elements, Chromium PSS peak $(get browser_pss_peak_mb "$peer") MB, p50 $(get p50_ms "$peer") ms, p99 $(get p99_ms "$peer") ms, $(get page_received "$peer") of $LINES lines shown"
	echo "- bcast/naive (below 1 favours bcast): Chromium PSS peak $(ratio "$(get browser_pss_peak_mb)" "$(get browser_pss_peak_mb "$peer")"), p99 POST to paint $(ratio "$p99" "$(get p99_ms "$peer")")"
	echo "- raw bcast: $res"
	echo "- raw naive: $peer"
} | tee "$REPO/bench/viewer-latest.md"
[ "$ok" = 1 ]
