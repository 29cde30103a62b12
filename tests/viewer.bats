#!/usr/bin/env bats
# viewer.bats - the log viewer page bcast-hub serves, in real headless
# Chromium against a real hub and real bcast-emit runs (SQLite, the spool:
# no Redis needed). The test reads the page over the DevTools protocol
# (tests/browser/cdp.py): the page's line store (window.bcastViewer, since
# the list is virtual) and the rows it actually rendered. Every wait is
# bounded.

load helpers

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

js() { python3 "$REPO/tests/browser/cdp.py" "$T/chrome" "$1"; }
js_is() { [ "$(js "$1")" = "$2" ]; }
state_is() { js_is 'document.body.dataset.state' "$1"; }

setup() {
	bc_setup
	[ -x "$CHROMIUM" ] || { echo "no $CHROMIUM: make test-deps installs the chromium package"; return 1; }
	export BCAST_REDIS=none BCAST_DB
	BCAST_DB=$(sqlite_db)
	start_hub --db "$BCAST_DB"
}

# Chromium runs in its own process group (setsid): teardown ends the whole
# group (browser, renderers, zygote) before its profile dir is removed.
teardown() {
	if [ -n "${CHROME_PID:-}" ]; then
		kill -TERM -- "-$CHROME_PID" 2>/dev/null
		for _ in $(seq 1 50); do pgrep -g "$CHROME_PID" >/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$CHROME_PID" 2>/dev/null
		for _ in $(seq 1 20); do pgrep -g "$CHROME_PID" >/dev/null || break; sleep 0.1; done
	fi
	bc_teardown
}

# type_into ID TEXT [KEY]: set an input's value as typing does (an input
# event), then press KEY in it.
type_into() {
	js "(() => { const e = document.getElementById('$1'); e.focus(); e.value = '$2';
		e.dispatchEvent(new Event('input', {bubbles: true}));
		if ('${3:-}') e.dispatchEvent(new KeyboardEvent('keydown', {key: '${3:-}', bubbles: true}));
		return 1; })()" >/dev/null
}

# press KEY: a key pressed on the page (not in an input).
press() {
	js "(() => { document.activeElement.blur(); document.body.dispatchEvent(new KeyboardEvent('keydown', {key: '$1', bubbles: true})); return 1; })()" >/dev/null
}

# open_page PATH [STATE]: headless Chromium on the hub's PATH; waits until
# the page says it is ready (its data loaded, its stream open), or STATE.
open_page() {
	bg setsid "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--disable-quic --no-first-run --no-default-browser-check \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-extensions --mute-audio --hide-scrollbars --window-size=1280,800 \
		--user-data-dir="$T/chrome" --remote-debugging-port=0 "$BCAST_HUB$1" 2>"$T/chrome.log"
	CHROME_PID=$BG_PID
	wait_for 30 state_is "${2:-ready}" || {
		echo "page state: $(js 'document.body.dataset.state' 2>&1)"
		tail -20 "$T/chrome.log"
		return 1
	}
}

# post_lines TID FIRST_SEQ LINE...: POST one NDJSON record per LINE
# (stream stderr when the line starts with "E:").
post_lines() {
	local tid=$1 seq=$2
	shift 2
	python3 -c '
import json, sys
tid, seq = sys.argv[1], int(sys.argv[2])
for i, line in enumerate(sys.argv[3:]):
    err = line.startswith("E:")
    print(json.dumps({"thread_id": tid, "seq": seq + i, "stream": "stderr" if err else "stdout",
                      "line": line[2:] if err else line}))
' "$tid" "$seq" "$@" >"$T/body.ndjson"
	curl -sf -X POST -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$T/body.ndjson" "$BCAST_HUB/api/runs/$tid/logs" >/dev/null
}

post_event() {
	curl -sf -X POST -H 'Content-Type: application/json' \
		--data-binary "{\"type\":\"$2\",\"thread_id\":\"$1\",\"data\":${3:-{\}}}" \
		"$BCAST_HUB/api/admin-events" >/dev/null
}

subscribers() {
	curl -sf "$BCAST_HUB/metrics" | sed -nE "s/^bcast_hub_subscribers\{stream=\"$1\"\} ([0-9]+)$/\1/p"
}
subscribed() { [ "$(subscribers "$1")" -ge "$2" ]; }

# fed_run TID N...: a run (bcast-emit -t TID -- sh ...) that prints the
# lines "line I" up to each N in turn, once the test creates $T/goN.
fed_run() {
	local tid=$1
	shift
	cat >"$T/feed.sh" <<'EOF'
dir=$1 from=1
shift
for n in "$@"; do
	i=0
	while [ ! -e "$dir/go$n" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	seq $from $n | sed 's/^/line /'
	from=$((n + 1))
done
EOF
	bg bcast-emit -t "$tid" -- sh "$T/feed.sh" "$T" "$@" >/dev/null 2>"$T/emit.err"
}

store_seqs() { js 'JSON.stringify(bcastViewer.seqs())'; }
# The rows on screen: [[seq, text, classes], ...] for the line rows.
dom_rows() {
	js 'JSON.stringify([...document.querySelectorAll("#rows .row[data-seq]:not([data-seq=\"\"])")].map(r => [+r.dataset.seq, r.querySelector(".tx").textContent, r.className]))'
}
store_count_is() { js_is 'bcastViewer.seqs().length' "$1"; }
badge_is() { js_is 'document.getElementById("badge").textContent' "$1"; }

# check_complete N PREFIX: the store holds the lines "PREFIX 1" to
# "PREFIX N" once each, in order, with increasing seqs (emit may leave
# gaps in seq); the rendered rows are the store's last rows, text intact.
check_complete() {
	store_seqs >"$T/seqs.json"
	js 'JSON.stringify(bcastViewer.lines())' >"$T/lines.json"
	dom_rows >"$T/rows.json"
	python3 - "$1" "$2" "$T/seqs.json" "$T/lines.json" "$T/rows.json" <<'PY'
import json, sys
n, prefix = int(sys.argv[1]), sys.argv[2]
seqs, lines, rows = (json.load(open(f)) for f in sys.argv[3:6])
want = ["%s %d" % (prefix, i) for i in range(1, n + 1)]
bad = next((i for i, (a, b) in enumerate(zip(lines, want)) if a != b), None)
assert lines == want, "store: %d lines, first wrong at index %s: %r" % (
    len(lines), bad, lines[max(0, (bad or 0) - 2):(bad or 0) + 3])
assert all(a < b for a, b in zip(seqs, seqs[1:])), "seqs not increasing"
assert rows, "no row rendered"
assert len(rows) < 100, "%d rows in the DOM: not virtual" % len(rows)
got = [r[0] for r in rows]
assert got == seqs[-len(got):], "rendered rows %r are not the last lines" % got[-5:]
text = dict(zip(seqs, lines))
assert all(r[1] == text[r[0]] for r in rows), "row text differs"
PY
}

@test "GET / and /runs/ID serve the embedded page: ETag, 304, types, a strict CSP" {
	for p in / /runs/some-run /runs/a%3Ab; do
		curl -sf -D "$T/h" -o "$T/body" "$BCAST_HUB$p"
		grep -qi '^content-type: text/html; charset=utf-8' "$T/h"
		grep -q '<script src="/assets/app.js" defer></script>' "$T/body"
	done
	grep -qi "^content-security-policy: default-src 'none'; script-src 'self'; style-src 'self';" "$T/h"
	grep -qi '^x-content-type-options: nosniff' "$T/h"
	run grep -ci '<script>' "$T/body"
	[ "$output" = 0 ]
	curl -sf -D "$T/h" -o "$T/js" "$BCAST_HUB/assets/app.js"
	grep -qi '^content-type: text/javascript' "$T/h"
	cmp "$T/js" "$REPO/web/app.js"
	etag=$(sed -nE 's/^[Ee][Tt][Aa][Gg]: ("[0-9a-f]+").*/\1/p' "$T/h")
	[ -n "$etag" ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$BCAST_HUB/assets/app.js")" = 304 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0000"' "$BCAST_HUB/assets/app.js")" = 200 ]
	curl -sf -D "$T/h" -o /dev/null "$BCAST_HUB/assets/app.css"
	grep -qi '^content-type: text/css' "$T/h"
	for p in /assets/nope.js /runs/ /runs/a/b /runs/bad%20id /index.html; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$BCAST_HUB$p")" = 404 ]
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BCAST_HUB/")" = 405 ]
}

@test "the runs list shows three runs newest first with their statuses, and filters" {
	open_page /
	wait_for 10 subscribed admin 1
	bcast-emit -t list-ok -- sh -c 'echo fine' >/dev/null 2>&1
	sleep 1.1
	run bcast-emit -t list-bad -- sh -c 'echo broken; exit 3'
	[ "$status" -eq 3 ]
	sleep 1.1
	mkfifo "$T/gate"
	bg bcast-emit -t list-live -- sh -c "echo working; read x <'$T/gate'"
	rows() { js 'JSON.stringify([...document.querySelectorAll("#runs tbody tr")].map(t => [t.dataset.tid, t.dataset.status, t.cells[1].textContent]))'; }
	want='[["list-live","running","running"],["list-bad","error","error (exit 3)"],["list-ok","completed","completed"]]'
	wait_for 15 js_is 'JSON.stringify([...document.querySelectorAll("#runs tbody tr")].map(t => [t.dataset.tid, t.dataset.status, t.cells[1].textContent]))' "$want" || { rows; false; }
	# Durations tick while running; the filter keeps matching rows only.
	type_into filter error
	[ "$(js 'JSON.stringify([...document.querySelectorAll("#runs tbody tr")].map(t => t.dataset.tid))')" = '["list-bad"]' ]
	type_into filter ""
	# The same list from GET /admin/runs when the page is opened afresh.
	js 'location.reload(); 1' >/dev/null
	sleep 0.5
	wait_for 15 state_is ready
	wait_for 5 js_is 'JSON.stringify([...document.querySelectorAll("#runs tbody tr")].map(t => [t.dataset.tid, t.dataset.status, t.cells[1].textContent]))' "$want" || { rows; false; }
	echo go >"$T/gate"
	wait_for 15 js_is 'document.querySelector("#runs tr[data-tid=list-live]").dataset.status' completed
}

@test "/runs/ID opened mid-run shows every earlier line, then the live ones, in order, none twice" {
	fed_run mid 500 1000 1500
	touch "$T/go500"
	history_has() { [ "$(curl -sf "$BCAST_HUB/admin/runs/mid/logs?after=0&limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$1" ]; }
	wait_for 15 history_has 500
	open_page /runs/mid
	check_complete 500 line
	wait_for 10 subscribed thread 1
	touch "$T/go1000"
	wait_for 15 store_count_is 1000
	check_complete 1000 line
	[ "$(js 'bcastViewer.store.received')" = 1000 ]   # none came twice
	touch "$T/go1500"
	wait_for 15 badge_is completed
	wait_for 10 store_count_is 1500
	check_complete 1500 line
}

@test "live lines render with ANSI colours, stderr marked, and a <script> line runs nothing" {
	open_page /runs/colors
	wait_for 10 subscribed thread 1
	js 'window.__alerts = 0; window.alert = () => { window.__alerts++; }; 1' >/dev/null
	post_lines colors 1 $'\e[31m<script>alert(1)</script>\e[0m' \
		$'<img src=x onerror="alert(2)"> \e[1;32mgreen bold\e[0m plain' \
		'E:to stderr' $'\e[2K\e]0;title\aclear-line and title dropped'
	wait_for 10 store_count_is 4
	wait_for 5 js_is 'document.querySelectorAll("#rows .row[data-seq]").length' 4
	# The first line is red text, byte for byte, and no element was made of it.
	[ "$(js 'document.getElementById("seq-1").querySelector(".tx").textContent')" = '<script>alert(1)</script>' ]
	[ "$(js 'document.getElementById("seq-1").querySelector(".tx span").className')" = f1 ]
	js 'getComputedStyle(document.querySelector("#seq-1 .tx span")).color' >"$T/color"
	python3 -c 'import re,sys; r,g,b = map(int, re.findall(r"\d+", open(sys.argv[1]).read())[:3]); assert r > 150 and g < 120 and b < 120, (r,g,b)' "$T/color"
	[ "$(js 'document.querySelectorAll("#rows script, #rows img").length')" = 0 ]
	[ "$(js 'document.querySelector("#seq-2 .tx .b.f2").textContent')" = 'green bold' ]
	[ "$(js 'document.querySelector("#seq-2 .tx").textContent')" = '<img src=x onerror="alert(2)"> green bold plain' ]
	[ "$(js 'document.getElementById("seq-3").classList.contains("err")')" = true ]
	[ "$(js 'document.getElementById("seq-2").classList.contains("err")')" = false ]
	[ "$(js 'document.querySelector("#seq-4 .tx").textContent')" = 'clear-line and title dropped' ]
	sleep 0.5
	[ "$(js 'window.__alerts')" = 0 ]
}

@test "the badge flips to error with the exit code when the run fails, events show inline" {
	open_page /runs/failing
	wait_for 10 subscribed thread 1
	wait_for 10 subscribed admin 1
	mkfifo "$T/gate"
	bg bcast-emit -t failing -- sh -c "echo started; read x <'$T/gate'; echo ending; exit 7" >/dev/null 2>&1
	wait_for 15 badge_is running
	wait_for 10 store_count_is 1
	post_event failing checkpoint '{"step":"build"}'
	wait_for 10 js_is 'bcastViewer.events().length' 2
	echo go >"$T/gate"
	wait_for 15 badge_is 'error (exit 7)'
	[ "$(js 'document.getElementById("badge").dataset.status')" = error ]
	# Lines and events in the order they happened, events as their own rows.
	wait_for 5 js_is 'bcastViewer.events().length' 3
	js 'JSON.stringify(bcastViewer.store.text.map((t, i) => bcastViewer.store.kind[i] === 2 ? t.split(" ")[1] : t))' >"$T/order"
	[ "$(cat "$T/order")" = '["run_started","started","checkpoint","ending","run_error"]' ] || { cat "$T/order"; false; }
	[ "$(js 'document.querySelectorAll("#rows .row.ev").length')" = 3 ]
}

@test "a #seq-N link scrolls to line N, and clicking a line number sets it" {
	seq 1 2000 | sed 's/^/row /' | bcast-emit -t long >/dev/null
	open_page '/runs/long#seq-1234'
	wait_for 10 store_count_is 2000
	# seq_on_screen N: the row of line N is in the DOM, inside the
	# scroller's visible box; "target" if it is the highlighted line.
	seq_on_screen() {
		js "(() => { const r = document.getElementById('seq-$1'); if (!r) return 'absent';
			const s = document.getElementById('scroller').getBoundingClientRect(), b = r.getBoundingClientRect();
			return b.top >= s.top && b.bottom <= s.bottom ? (r.classList.contains('target') ? 'target' : 'visible') : 'hidden'; })()"
	}
	seq_is() { [ "$(seq_on_screen "$1")" = "$2" ]; }
	wait_for 5 seq_is 1234 target || seq_on_screen 1234
	[ "$(js 'bcastViewer.following')" = false ]
	[ "$(js 'document.querySelectorAll("#rows .row").length')" -lt 100 ]
	[ "$(seq_on_screen 2000)" = absent ]
	# A line number is a link to that line.
	[ "$(js 'document.querySelector("#seq-1234 a.ln").getAttribute("href")')" = '#seq-1234' ]
	js 'location.hash = "#seq-77"; 1' >/dev/null
	wait_for 5 seq_is 77 target
	[ "$(seq_on_screen 1234)" = absent ]
	# End follows again: the last line is on screen.
	press End
	wait_for 5 seq_is 2000 visible
	[ "$(js 'bcastViewer.following')" = true ]
}

@test "search highlights matches and jumps between them" {
	seq 1 3000 | sed -e 's/^/line /' -e '/^line 1500$/s/$/ needle/' -e '/^line 2900$/s/$/ Needle/' | bcast-emit -t hay >/dev/null
	open_page /runs/hay
	wait_for 10 store_count_is 3000
	press /
	[ "$(js 'document.activeElement.id')" = search ]
	type_into search needle Enter
	wait_for 5 js_is 'document.getElementById("matches").textContent' '1 of 2'
	wait_for 5 js_is 'document.querySelector("#seq-1500 mark.cur") && document.querySelector("#seq-1500 mark.cur").textContent' needle
	js 'document.getElementById("next").click(); 1' >/dev/null
	wait_for 5 js_is 'document.querySelector("#seq-2900 mark.cur") && document.querySelector("#seq-2900 mark.cur").textContent' Needle
	[ "$(js 'document.getElementById("matches").textContent')" = '2 of 2' ]
}

@test "past its cap the page keeps only the newest lines; Download still has the whole run" {
	seq 1 3000 | sed 's/^/row /' | bcast-emit -t big >/dev/null
	open_page '/runs/big?cap=100'
	wait_for 10 js_is 'bcastViewer.store.lastSeq === Math.max(...bcastViewer.seqs())' true
	wait_for 10 js_is 'bcastViewer.store.dropped + bcastViewer.seqs().length' 3000
	[ "$(js 'bcastViewer.seqs().length')" -le 100 ]
	[ "$(js 'bcastViewer.lines().slice(-1)[0]')" = 'row 3000' ]
	# The first row says what is not kept.
	js 'document.getElementById("scroller").scrollTop = 0; 1' >/dev/null
	wait_for 5 js_is 'document.querySelector("#rows .row").classList.contains("gap")' true
	[[ "$(js 'document.querySelector("#rows .row").textContent')" == *'earlier lines are not kept'* ]]
	# Download: the page hands the browser a text file of every line.
	js '(() => { window.__blob = null; const o = URL.createObjectURL;
		URL.createObjectURL = (b) => { window.__blob = b; return o.call(URL, b); };
		document.getElementById("download").click(); return 1; })()' >/dev/null
	wait_for 15 js_is 'window.__blob !== null' true
	js 'window.__blob.text()' | head -c -1 >"$T/download.txt"   # cdp.py adds a newline
	seq 1 3000 | sed 's/^/row /' | cmp - "$T/download.txt"
}

@test "the hub is killed and restarted mid-run: the page ends with every line once" {
	fed_run restart 100 200 300 400
	touch "$T/go100"
	open_page /runs/restart
	wait_for 10 subscribed thread 1
	touch "$T/go200"
	wait_for 10 js_is 'Math.max(...bcastViewer.seqs())' 200
	kill -9 "$HUB_PID"
	wait "$HUB_PID" 2>/dev/null || true
	wait_for 10 js_is 'document.getElementById("conn").dataset.conn' wait
	touch "$T/go300"
	sleep 1
	bcast-hub --listen "127.0.0.1:$HUB_PORT" --db "$BCAST_DB" 2>>"$HUB_LOG" &
	HUB_PID=$!
	BC_PIDS+=("$HUB_PID")
	wait_for 10 hub_healthy
	wait_for 15 js_is 'document.getElementById("conn").dataset.conn' live
	touch "$T/go400"
	wait_for 30 store_count_is 400 || { store_seqs | head -c 600; false; }
	wait_for 5 badge_is completed
	check_complete 400 line
}

@test "with read access, the page asks for the token once, then shows the run from its session" {
	stop_hub
	echo pub-token-1 >"$T/pub.tok"
	echo read-token-2 >"$T/read.tok"
	start_hub --db "$BCAST_DB" --token-file "$T/pub.tok" --read-token-file "$T/read.tok"
	seq 1 50 | sed 's/^/line /' | BCAST_TOKEN=pub-token-1 bcast-emit -t secret
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$BCAST_HUB/admin/runs/secret/logs")" = 401 ]
	# The page itself needs no credential: it holds no data.
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$BCAST_HUB/runs/secret")" = 200 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$BCAST_HUB/assets/app.js")" = 200 ]
	open_page /runs/secret signin
	[ "$(js 'document.getElementById("signin").open')" = true ]
	[ "$(js 'bcastViewer.seqs().length')" = 0 ]
	type_into token wrong-token
	js 'document.getElementById("signin-form").requestSubmit(); 1' >/dev/null
	wait_for 10 js_is 'document.getElementById("signin-error").textContent' 'That token was refused.'
	type_into token read-token-2
	js 'document.getElementById("signin-form").requestSubmit(); 1' >/dev/null
	# It reloads with the session cookie (HttpOnly: scripts cannot read it).
	wait_for 20 state_is ready
	wait_for 10 store_count_is 50
	check_complete 50 line
	[ "$(js 'document.getElementById("signin").open')" = false ]
	[ "$(js 'document.cookie')" = "" ]
}

@test "a screenshot of a real run for the README (docs/viewer.png)" {
	cat >"$T/build.sh" <<'EOF'
printf '\033[1m==> Building bcast\033[0m\n'
for f in lib/bc_buf lib/bc_record lib/bc_sse lib/bc_store src/bcast-hub/page; do
	printf '\033[32m  CC\033[0m %s.o\n' "$f"
done
printf '\033[33mwarning:\033[0m unused variable '"'"'n'"'"' [-Wunused-variable]\n' >&2
printf '  AR lib/libbcast.a\n'
for t in buf record sse store tid; do printf '\033[32mok\033[0m   unit %s: 12 passed, 0 failed\n' "$t"; done
printf '\033[31mFAIL\033[0m  tests/viewer.bats: 1 of 8 failed\n' >&2
printf '\033[1;31merror:\033[0m make: *** [test] Error 1\n' >&2
read x <"$GATE"
exit 2
EOF
	open_page /runs/build-1042
	wait_for 10 subscribed thread 1
	wait_for 10 subscribed admin 1
	mkfifo "$T/gate"
	GATE=$T/gate bg bcast-emit -t build-1042 -- sh "$T/build.sh" >/dev/null 2>&1
	wait_for 10 store_count_is 15
	post_event build-1042 checkpoint '{"step":"test","by":"ci"}'
	echo go >"$T/gate"
	wait_for 15 badge_is 'error (exit 2)'
	type_into search unit Enter
	press End
	sleep 0.5
	python3 "$REPO/tests/browser/cdp.py" "$T/chrome" --screenshot "$T/viewer.png"
	# A PNG of the window's size.
	python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", b[16:24])
assert w >= 1200 and h >= 600, (w, h)
' "$T/viewer.png"
	cp "$T/viewer.png" "$REPO/docs/viewer.png"
}
