/* app.js - the bcast log viewer (served by bcast-hub, no framework).
 *
 * "/" lists runs: GET /admin/runs once, then the admin stream keeps each
 * run's status current. "/runs/{thread_id}" shows one run:
 *
 * - Lines come from two sources stitched by seq. The per-thread stream is
 *   opened first; every time it opens (first time and after each
 *   reconnect), the history endpoint is read from the last seq the page
 *   holds (paged with after/limit, X-Next-After), while live records are
 *   held back; then the held records are applied. A record whose seq the
 *   store already has is dropped, so history and live form one list with
 *   no gap and no duplicate. The stream reconnects by itself with
 *   Last-Event-ID and ?last_event_id={tid}:{last seq held}; a hub that can
 *   resume replays from there. A drop, a reset or a seq jump between the
 *   history and the first live line also marks the run for one more
 *   history pass when it ends, from the first line kept, merged by seq.
 * - The store is a set of parallel arrays (seq, text, kind) holding at most
 *   CAP rows (default 200,000; ?cap=N). Past it, the oldest tenth is
 *   dropped and a first row says how many earlier lines are not kept
 *   (the download still fetches the whole run), so memory stays bounded
 *   on a run of any length.
 * - The list is virtual: the scrollbar spans every row (ROW_H px each),
 *   and only the rows that fit in view exist in the DOM (a pool reused on
 *   each frame). Records only touch the store; drawing happens at most
 *   once per animation frame.
 * - Text is always inserted as textContent: ANSI SGR sequences become
 *   spans with classes, other escape sequences are dropped, and no log
 *   byte is ever parsed as HTML.
 *
 * window.bcastViewer is a read-only hook for tests and the benchmark. */
"use strict";
(() => {
	const $ = (id) => document.getElementById(id);
	const params = new URLSearchParams(location.search);
	const CAP = Math.min(Math.max(parseInt(params.get("cap"), 10) || 200000, 50), 1000000);
	const PAGE = 10000;            /* history page size (the hub's maximum) */
	const FRAMES_MAX = 100000;     /* paint records kept for the benchmark */
	const KIND_OUT = 0, KIND_ERR = 1, KIND_EVENT = 2;
	const STATUS_OF = {
		run_started: "running", run_resumed: "running", run_completed: "completed",
		run_error: "error", run_cancelled: "cancelled", run_paused: "paused",
	};

	class AuthError extends Error {}

	/* ---- access: a 401 opens the sign-in box ---------------------------- */

	let signinOpen = false;
	function signIn() {
		const dlg = $("signin");
		if (signinOpen)
			return;
		signinOpen = true;
		document.body.dataset.state = "signin";
		$("signin-error").textContent = "";
		dlg.showModal();
		$("token").focus();
	}

	$("signin-form").addEventListener("submit", async (e) => {
		e.preventDefault();
		const token = $("token").value.trim();
		if (!token)
			return;
		try {
			const r = await fetch("/auth/session", {
				method: "POST", credentials: "same-origin",
				headers: { Authorization: "Bearer " + token },
			});
			if (r.ok) {
				location.reload();
				return;
			}
			$("signin-error").textContent = r.status === 401 || r.status === 403
				? "That token was refused." : "Sign-in failed (HTTP " + r.status + ").";
		} catch (err) {
			$("signin-error").textContent = "The hub cannot be reached.";
		}
	});

	async function api(url) {
		const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
		if (r.status === 401) {
			signIn();
			throw new AuthError("401");
		}
		return r;
	}

	/* An SSE client on fetch(): what EventSource does (reconnects, sends
	 * Last-Event-ID, honours retry:), plus it comes back after a 401/503
	 * and reads each network chunk in one task, where EventSource makes a
	 * task and an event object per line (at 20,000 lines/s that is most
	 * of the page's time). url(lastId) gives the URL for each attempt;
	 * onMessage(json, id) gets each message's data parsed; onState("open"
	 * | "reconnecting" | "down"); onReset(data) gets an "event: reset". */
	function stream(url, onMessage, onState, onReset) {
		const abort = new AbortController();
		let lastId = "", retry = 1000;
		const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

		/* The messages of one network chunk are parsed as one JSON array
		 * (one parser call, not one per line); a bad one alone is skipped. */
		let batch = [];
		function dispatch(type, data) {
			if (type !== "reset") {
				batch.push(data);
				return;
			}
			flush();
			if (onReset)
				onReset(data);
		}
		function flush() {
			if (!batch.length)
				return;
			let all = null;
			try {
				all = JSON.parse("[" + batch.join(",") + "]");
			} catch (err) {
				all = batch.map((d) => { try { return JSON.parse(d); } catch (e) { return null; } });
			}
			batch = [];
			for (const json of all)
				if (json !== null && typeof json === "object")
					onMessage(json, lastId);
		}

		async function once() {
			const headers = { Accept: "text/event-stream" };
			if (lastId)
				headers["Last-Event-ID"] = lastId;
			const r = await fetch(url(lastId), { headers, credentials: "same-origin",
				cache: "no-store", signal: abort.signal });
			if (r.status === 401)
				signIn();
			if (!r.ok || !(r.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
				onState("down");
				return 2000;
			}
			onState("open");
			const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
			let buf = "", data = "", hasData = false, type = "";
			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					break;
				buf += value;
				let pos = 0, nl;
				while ((nl = buf.indexOf("\n", pos)) >= 0) {
					let line = buf.slice(pos, nl);
					pos = nl + 1;
					if (line.endsWith("\r"))
						line = line.slice(0, -1);
					if (line === "") {
						if (hasData)
							dispatch(type, data);
						data = "";
						hasData = false;
						type = "";
						continue;
					}
					if (line[0] === ":")
						continue;
					const c = line.indexOf(":");
					const field = c < 0 ? line : line.slice(0, c);
					let v = c < 0 ? "" : line.slice(c + 1);
					if (v[0] === " ")
						v = v.slice(1);
					if (field === "data") {
						data = hasData ? data + "\n" + v : v;
						hasData = true;
					} else if (field === "id" && v.indexOf("\0") < 0) {
						lastId = v;
					} else if (field === "event") {
						type = v;
					} else if (field === "retry" && /^\d+$/.test(v)) {
						retry = +v;
					}
				}
				buf = buf.slice(pos);
				flush();
			}
			onState("reconnecting");
			return retry;
		}

		(async () => {
			while (!abort.signal.aborted) {
				let wait;
				try {
					wait = await once();
				} catch (err) {
					if (abort.signal.aborted)
						return;
					onState("reconnecting");
					wait = retry;
				}
				await sleep(wait);
			}
		})();
		return { close() { abort.abort(); } };
	}

	function setConn(state) {
		const c = $("conn");
		c.dataset.conn = state === "open" ? "live" : state === "down" ? "down" : "wait";
		c.textContent = state === "open" ? "live" : state === "down" ? "disconnected, retrying"
			: state === "reconnecting" ? "reconnecting\u2026" : state;
	}

	/* ---- time and status -------------------------------------------------- */

	const pad = (n) => String(n).padStart(2, "0");
	function fmtTime(ts) {
		const t = Date.parse(ts);
		if (isNaN(t))
			return "";
		const d = new Date(t);
		return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
			pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
	}
	function fmtDuration(from, to) {
		const a = Date.parse(from), b = to ? Date.parse(to) : Date.now();
		if (isNaN(a) || isNaN(b))
			return "";
		let s = Math.max(0, (b - a) / 1000);
		if (s < 60)
			return s.toFixed(1) + " s";
		s = Math.round(s);
		if (s < 3600)
			return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
		return Math.floor(s / 3600) + "h " + pad(Math.floor(s / 60) % 60) + "m";
	}
	function statusText(run) {
		if (!run || !run.status)
			return "unknown";
		if (run.status === "error" && run.exit_code !== null && run.exit_code !== undefined)
			return "error (exit " + run.exit_code + ")";
		return run.status;
	}
	function fillBadge(el, run) {
		const st = (run && run.status) || "unknown";
		el.className = "badge st-" + st;
		el.dataset.status = st;
		el.textContent = statusText(run);
	}
	/* Apply an admin event to a run object; true if its status changed. */
	function applyEvent(run, ev) {
		const st = STATUS_OF[ev.type];
		if (!st)
			return false;
		run.status = st;
		if (ev.type === "run_started") {
			run.started_at = ev.ts;
			run.ended_at = null;
			run.exit_code = null;
		} else if (st !== "running") {
			run.ended_at = ev.ts;
			const code = ev.data && ev.data.exit_code;
			run.exit_code = typeof code === "number" ? code : st === "completed" ? 0 : null;
		}
		run.updated = ev.ts;
		return true;
	}

	/* ---- "/": the runs list ----------------------------------------------- */

	function runsView() {
		const runs = new Map();
		const tbody = $("runs").tBodies[0];
		const filter = $("filter");
		$("runs-view").hidden = false;
		document.title = "bcast: runs";

		function render() {
			const f = filter.value.trim().toLowerCase();
			const list = [...runs.values()].sort((a, b) =>
				(b.started_at || "").localeCompare(a.started_at || "") || a.thread_id.localeCompare(b.thread_id));
			const shown = list.filter((r) => !f || r.thread_id.toLowerCase().includes(f) ||
				statusText(r).includes(f));
			const rows = shown.map((r) => {
				const tr = document.createElement("tr");
				tr.dataset.tid = r.thread_id;
				tr.dataset.status = r.status || "unknown";
				const cell = (cls) => {
					const td = tr.insertCell();
					if (cls)
						td.className = cls;
					return td;
				};
				const a = document.createElement("a");
				a.href = "/runs/" + encodeURIComponent(r.thread_id);
				a.textContent = r.thread_id;
				cell("tid").append(a);
				const badge = document.createElement("span");
				fillBadge(badge, r);
				cell().append(badge);
				cell().textContent = fmtTime(r.started_at);
				cell("num").textContent = fmtDuration(r.started_at, r.ended_at);
				cell("num").textContent = r.lines === null || r.lines === undefined ? "" : String(r.lines);
				return tr;
			});
			tbody.replaceChildren(...rows);
			$("runs-count").textContent = shown.length === list.length
				? list.length + " runs" : shown.length + " of " + list.length + " runs";
		}

		let queued = [];   /* admin events that arrived before the list */
		let listed = false;
		function onEvent(ev) {
			if (!ev || !ev.thread_id || !ev.type)
				return;
			if (!listed) {
				queued.push(ev);
				return;
			}
			let run = runs.get(ev.thread_id);
			if (!run) {
				run = { thread_id: ev.thread_id, status: null, started_at: null, ended_at: null, exit_code: null, lines: null };
				runs.set(ev.thread_id, run);
			}
			if (run.updated && ev.ts && ev.ts < run.updated && ev.type !== "run_started")
				return;
			if (applyEvent(run, ev))
				render();
		}

		async function load() {
			try {
				const r = await api("/admin/runs?limit=1000");
				if (r.ok) {
					for (const run of await r.json())
						runs.set(run.thread_id, run);
					$("runs-note").textContent = "";
				} else {
					$("runs-note").textContent = "GET /admin/runs answered HTTP " + r.status +
						": only runs that change from now on are listed.";
				}
			} catch (err) {
				if (err instanceof AuthError)
					return;
				$("runs-note").textContent = "The hub cannot be reached.";
			}
			listed = true;
			for (const ev of queued.splice(0))
				onEvent(ev);
			render();
			document.body.dataset.state = "ready";
		}

		let opened = false;
		stream(() => "/api/admin-events/stream", onEvent, (st) => {
			setConn(st);
			/* Reopened after a drop: events may have been missed. */
			if (st === "open" && opened)
				load();
			if (st === "open")
				opened = true;
		});
		load();
		filter.addEventListener("input", render);
		setInterval(() => {
			for (const r of runs.values())
				if (r.status === "running") {
					render();
					break;
				}
		}, 1000);
		document.addEventListener("keydown", (e) => {
			if (e.key === "/" && document.activeElement !== filter) {
				e.preventDefault();
				filter.focus();
			} else if (e.key === "Escape" && document.activeElement === filter) {
				filter.value = "";
				render();
			}
		});
	}

	/* ---- ANSI SGR -> [text, class, style] segments ------------------------ */

	const ESC_RE = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;

	function xterm256(n) {
		if (n < 16)
			return null;
		if (n >= 232) {
			const v = 8 + (n - 232) * 10;
			return "rgb(" + v + "," + v + "," + v + ")";
		}
		n -= 16;
		const c = (x) => (x ? 55 + x * 40 : 0);
		return "rgb(" + c(Math.floor(n / 36)) + "," + c(Math.floor(n / 6) % 6) + "," + c(n % 6) + ")";
	}

	/* Split s into segments {t, c (class names), fg, bg (CSS colours)}. */
	function ansiSegments(s) {
		if (s.indexOf("\x1b") < 0)
			return [{ t: s, c: "", fg: null, bg: null }];
		const out = [];
		let st = { b: 0, d: 0, i: 0, u: 0, inv: 0, f: -1, g: -1, fg: null, bg: null };
		let last = 0, m;
		ESC_RE.lastIndex = 0;
		const push = (t) => {
			if (!t)
				return;
			let f = st.f, g = st.g, fg = st.fg, bg = st.bg;
			if (st.inv) {
				[f, g, fg, bg] = [g < 0 ? 15 : g, f < 0 ? 0 : f, bg, fg];
			}
			const c = [st.b ? "b" : "", st.d ? "d" : "", st.i ? "i" : "", st.u ? "u" : "",
				f >= 0 ? "f" + f : "", g >= 0 ? "g" + g : ""].filter(Boolean).join(" ");
			out.push({ t, c, fg, bg });
		};
		while ((m = ESC_RE.exec(s)) !== null) {
			push(s.slice(last, m.index));
			last = ESC_RE.lastIndex;
			if (m[2] !== "m" || (m[1] || "").startsWith("?"))
				continue;
			const p = (m[1] || "0").split(/[;:]/).map((x) => (x === "" ? 0 : parseInt(x, 10)));
			for (let k = 0; k < p.length; k++) {
				const v = p[k];
				if (v === 0)
					st = { b: 0, d: 0, i: 0, u: 0, inv: 0, f: -1, g: -1, fg: null, bg: null };
				else if (v === 1) st.b = 1;
				else if (v === 2) st.d = 1;
				else if (v === 3) st.i = 1;
				else if (v === 4) st.u = 1;
				else if (v === 7) st.inv = 1;
				else if (v === 22) st.b = st.d = 0;
				else if (v === 23) st.i = 0;
				else if (v === 24) st.u = 0;
				else if (v === 27) st.inv = 0;
				else if (v >= 30 && v <= 37) { st.f = v - 30; st.fg = null; }
				else if (v === 39) { st.f = -1; st.fg = null; }
				else if (v >= 40 && v <= 47) { st.g = v - 40; st.bg = null; }
				else if (v === 49) { st.g = -1; st.bg = null; }
				else if (v >= 90 && v <= 97) { st.f = v - 82; st.fg = null; }
				else if (v >= 100 && v <= 107) { st.g = v - 92; st.bg = null; }
				else if (v === 38 || v === 48) {
					let col = null, idx = -1;
					if (p[k + 1] === 5 && k + 2 < p.length) {
						const n = p[k + 2] & 255;
						if (n < 16) idx = n; else col = xterm256(n);
						k += 2;
					} else if (p[k + 1] === 2 && k + 4 < p.length) {
						col = "rgb(" + (p[k + 2] & 255) + "," + (p[k + 3] & 255) + "," + (p[k + 4] & 255) + ")";
						k += 4;
					}
					if (v === 38) { st.f = idx; st.fg = col; } else { st.g = idx; st.bg = col; }
				}
			}
		}
		push(s.slice(last));
		return out;
	}

	const stripAnsi = (s) => (s.indexOf("\x1b") < 0 ? s : s.replace(ESC_RE, ""));

	/* ---- "/runs/{id}": one run -------------------------------------------- */

	function runView(tid) {
		const enc = encodeURIComponent(tid);
		const scroller = $("scroller"), rowsEl = $("rows"), spacer = $("spacer");
		const searchEl = $("search");
		const ROW_H = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--row-h")) || 18;

		/* The line store: parallel arrays, sorted by seq (an event row
		 * carries the seq of the line before it). */
		const S = { seq: [], text: [], kind: [], dropped: 0, lastSeq: null, version: 0, received: 0 };
		const run = { thread_id: tid, status: null, exit_code: null };
		const stats = { frames: new Float64Array(FRAMES_MAX * 2), nframes: 0, renders: 0 };

		let follow = true, wrap = false, raf = 0;
		let syncing = false, held = [], resync = false;
		let gapPossible = false;         /* a drop or reset: re-read it all at the end */
		let target = null;               /* seq to show once it is there */
		let term = "", matches = [], matchAt = -1, matchedUpTo = 0, matchVersion = -1;

		$("run-view").hidden = false;
		$("title").textContent = tid;
		document.title = "bcast: " + tid;
		const badge = $("badge");
		badge.hidden = false;
		fillBadge(badge, run);

		function notice(text) {
			const n = $("notice");
			n.hidden = !text;
			n.textContent = text || "";
		}

		/* Index of the line row with this seq, or -(insertion point) - 1. */
		function find(seq) {
			let lo = 0, hi = S.seq.length;
			while (lo < hi) {
				const mid = (lo + hi) >> 1;
				if (S.seq[mid] < seq || (S.seq[mid] === seq && S.kind[mid] === KIND_EVENT))
					lo = mid + 1;
				else
					hi = mid;
			}
			return lo < S.seq.length && S.seq[lo] === seq && S.kind[lo] !== KIND_EVENT ? lo : -lo - 1;
		}

		function evict() {
			if (S.seq.length <= CAP)
				return;
			const n = S.seq.length - CAP + Math.floor(CAP / 10);
			let lines = 0;
			for (let i = 0; i < n; i++)
				if (S.kind[i] !== KIND_EVENT)
					lines++;
			S.seq.splice(0, n);
			S.text.splice(0, n);
			S.kind.splice(0, n);
			S.dropped += lines;
			S.version++;
			if (!follow) /* keep the place: the rows above it went away */
				scroller.scrollTop = Math.max(0, scroller.scrollTop - n * ROW_H);
		}

		function addLine(rec) {
			if (typeof rec.seq !== "number" || typeof rec.line !== "string")
				return;
			const kind = rec.stream === "stderr" ? KIND_ERR : KIND_OUT;
			if (S.lastSeq === null || rec.seq > S.lastSeq) {
				S.seq.push(rec.seq);
				S.text.push(rec.line);
				S.kind.push(kind);
				S.lastSeq = rec.seq;
			} else {
				const at = find(rec.seq);
				if (at >= 0 || (S.dropped > 0 && rec.seq < S.seq[0]))
					return;                      /* a duplicate, or older than we keep */
				const i = -at - 1;
				S.seq.splice(i, 0, rec.seq);
				S.text.splice(i, 0, rec.line);
				S.kind.splice(i, 0, kind);
				S.version++;
			}
			S.received++;
			evict();
		}

		function addEvent(ev) {
			let text = ev.type;
			if (ev.data && typeof ev.data === "object" && Object.keys(ev.data).length)
				text += " " + JSON.stringify(ev.data);
			if (ev.ts)
				text += "  \u00b7 " + fmtTime(ev.ts);
			S.seq.push(S.lastSeq === null ? 0 : S.lastSeq);
			S.text.push("\u25b8 " + text);
			S.kind.push(KIND_EVENT);
			evict();
		}

		function onLive(rec) {
			if (syncing)
				held.push(rec);
			else
				addLine(rec);
			if (!run.status) {
				run.status = "running";
				fillBadge(badge, run);
			}
			schedule();
		}

		/* The run's history after seq `after` (null: from the start), one
		 * page (an array of records) at a time. */
		async function* historyPages(after) {
			for (;;) {
				const q = after === null ? "limit=" + PAGE : "after=" + after + "&limit=" + PAGE;
				const r = await api("/admin/runs/" + enc + "/logs?" + q);
				if (!r.ok)
					throw new Error("HTTP " + r.status);
				const rows = await r.json();
				if (!rows.length)
					return;
				yield rows;
				const next = r.headers.get("X-Next-After");
				if (next !== null && /^\d+$/.test(next) && (after === null || +next > after))
					after = +next;
				else if (next === null && rows.length >= PAGE)
					after = rows[rows.length - 1].seq;   /* a hub without X-Next-After */
				else
					return;
			}
		}

		/* Add a page of history (sorted by seq): appended when it is all
		 * newer than the store, else merged in one pass (lines the store
		 * has are kept once; an event stays after the line it followed). */
		function mergeRows(rows) {
			if (S.lastSeq === null || rows[0].seq > S.lastSeq) {
				for (const rec of rows)
					addLine(rec);
				return;
			}
			const seq = [], text = [], kind = [];
			const n = S.seq.length, floor = S.dropped > 0 ? S.seq[0] : -Infinity;
			let i = 0, j = 0, added = 0;
			while (i < n || j < rows.length) {
				const rec = rows[j];
				if (j < rows.length && (typeof rec.seq !== "number" || typeof rec.line !== "string" || rec.seq < floor)) {
					j++;
				} else if (j >= rows.length || (i < n && (S.seq[i] < rec.seq ||
				           (S.seq[i] === rec.seq && S.kind[i] !== KIND_EVENT)))) {
					if (j < rows.length && S.seq[i] === rec.seq && S.kind[i] !== KIND_EVENT)
						j++;                         /* the store has it already */
					seq.push(S.seq[i]);
					text.push(S.text[i]);
					kind.push(S.kind[i]);
					i++;
				} else {
					seq.push(rec.seq);
					text.push(rec.line);
					kind.push(rec.stream === "stderr" ? KIND_ERR : KIND_OUT);
					j++;
					added++;
				}
			}
			if (!added)
				return;
			S.seq = seq;
			S.text = text;
			S.kind = kind;
			S.lastSeq = Math.max(S.lastSeq, rows[rows.length - 1].seq);
			S.received += added;
			S.version++;
			evict();
		}

		/* Read the history after the last seq held (full: from the first
		 * line kept, to fill gaps in the middle), holding live records
		 * back meanwhile; then apply them. Runs again if asked while busy. */
		let resyncFull = false;
		async function catchUp(full) {
			if (syncing) {
				resync = true;
				resyncFull = resyncFull || !!full;
				return;
			}
			syncing = true;
			do {
				resync = false;
				const from = full ? (S.dropped > 0 ? S.seq[0] - 1 : null) : S.lastSeq;
				full = resyncFull;
				resyncFull = false;
				try {
					for await (const rows of historyPages(from)) {
						mergeRows(rows);
						schedule();
					}
				} catch (err) {
					if (err instanceof AuthError)
						break;
					notice("History unavailable (" + err.message + "); showing live lines only.");
				}
			} while (resync);
			syncing = false;
			const firstLive = held.find((x) => !x.type);
			if (firstLive && S.lastSeq !== null && firstLive.seq > S.lastSeq + 1)
				gapPossible = true;          /* history did not reach the live lines */
			for (const x of held.splice(0))
				x.type ? addEvent(x) : addLine(x);
			schedule();
			if (!signinOpen)
				document.body.dataset.state = "ready";
			if (target !== null)
				jumpTo(target);
		}

		async function loadStatus() {
			try {
				const r = await api("/admin/runs?limit=1000");
				if (!r.ok)
					return;
				const found = (await r.json()).find((x) => x.thread_id === tid);
				if (found && (!run.updated || (found.ended_at || found.started_at || "") >= run.updated)) {
					Object.assign(run, found);
					fillBadge(badge, run);
				}
			} catch (err) { /* the badge stays as it is */ }
		}

		/* ---- drawing ---- */

		function schedule() {
			if (!raf)
				raf = requestAnimationFrame(draw);
		}

		function fillRow(el, i) {
			const seq = S.seq[i], kind = S.kind[i], text = S.text[i];
			el.className = "row" + (kind === KIND_ERR ? " err" : kind === KIND_EVENT ? " ev" : "") +
				(kind !== KIND_EVENT && seq === target ? " target" : "");
			el.id = kind === KIND_EVENT ? "" : "seq-" + seq;
			el.dataset.seq = kind === KIND_EVENT ? "" : seq;
			const ln = document.createElement(kind === KIND_EVENT ? "span" : "a");
			ln.className = "ln";
			if (kind !== KIND_EVENT) {
				ln.href = "#seq-" + seq;
				ln.textContent = String(seq);
			}
			const tx = document.createElement("span");
			tx.className = "tx";
			const lterm = term.toLowerCase();
			const cur = matchAt >= 0 && matches[matchAt] === i;
			for (const seg of ansiSegments(text)) {
				let parent = tx;
				if (seg.c || seg.fg || seg.bg) {
					parent = document.createElement("span");
					if (seg.c)
						parent.className = seg.c;
					if (seg.fg)
						parent.style.color = seg.fg;
					if (seg.bg)
						parent.style.backgroundColor = seg.bg;
					tx.append(parent);
				}
				highlight(parent, seg.t, lterm, cur);
			}
			el.replaceChildren(ln, tx);
			el._key = i + ":" + S.version + ":" + term + ":" + cur + ":" + (seq === target) + ":" + text.length;
		}

		/* Append t to parent as text, with <mark> around each match of
		 * lterm (lower-case). */
		function highlight(parent, t, lterm, cur) {
			if (!lterm) {
				parent.append(t);
				return;
			}
			const low = t.toLowerCase();
			let from = 0, at;
			while ((at = low.indexOf(lterm, from)) >= 0) {
				parent.append(t.slice(from, at));
				const mk = document.createElement("mark");
				if (cur)
					mk.className = "cur";
				mk.textContent = t.slice(at, at + lterm.length);
				parent.append(mk);
				from = at + lterm.length;
			}
			parent.append(t.slice(from));
		}

		function draw() {
			raf = 0;
			const banner = S.dropped > 0 ? 1 : 0;
			const n = S.seq.length + banner;
			const viewH = scroller.clientHeight;
			const per = Math.max(1, Math.ceil(viewH / ROW_H));
			spacer.style.height = Math.max(0, n * ROW_H - viewH) + "px";
			let first;
			rowsEl.classList.toggle("bottom", follow && n >= per);
			if (follow) {
				first = Math.max(0, n - per);
				scroller.scrollTop = scroller.scrollHeight;
				rowsEl.style.transform = "";
			} else {
				const top = scroller.scrollTop;
				first = Math.min(Math.floor(top / ROW_H), Math.max(0, n - 1));
				rowsEl.style.transform = wrap ? "" : "translateY(" + -(top - first * ROW_H) + "px)";
			}
			const count = Math.min(n - first, per + 1);
			while (rowsEl.childElementCount < count)
				rowsEl.append(document.createElement("div"));
			while (rowsEl.childElementCount > count)
				rowsEl.lastElementChild.remove();
			updateMatches();
			for (let k = 0; k < count; k++) {
				const el = rowsEl.children[k];
				const idx = first + k - banner;
				if (idx < 0) {
					el.className = "row gap";
					el.id = "";
					el.dataset.seq = "";
					el.replaceChildren(S.dropped.toLocaleString() + " earlier lines are not kept in this page (it keeps the last " +
						CAP.toLocaleString() + "); Download has the whole run.");
					el._key = "";
					continue;
				}
				const cur = matchAt >= 0 && matches[matchAt] === idx;
				const key = idx + ":" + S.version + ":" + term + ":" + cur + ":" + (S.seq[idx] === target) + ":" + S.text[idx].length;
				if (el._key !== key)
					fillRow(el, idx);
			}
			$("count").textContent = (S.dropped + countLines()).toLocaleString() + " lines";
			stats.renders++;
			if (S.lastSeq !== null && S.lastSeq !== painting) {
				painting = S.lastSeq;
				afterPaint.port2.postMessage(0);
			}
		}

		/* A message posted during a frame is handled once that frame is
		 * painted: the time the newest line reached the screen, kept
		 * (seq, epoch ms) for the benchmark. */
		let painting = null;
		const afterPaint = new MessageChannel();
		afterPaint.port1.onmessage = () => {
			const f = stats.nframes;
			if (f < FRAMES_MAX && (f === 0 || stats.frames[2 * f - 2] !== painting)) {
				stats.frames[2 * f] = painting;
				stats.frames[2 * f + 1] = performance.timeOrigin + performance.now();
				stats.nframes++;
			}
		};

		let linesKept = 0, linesKeptVersion = -1, linesKeptLen = 0;
		function countLines() {
			if (linesKeptVersion !== S.version || linesKeptLen > S.seq.length) {
				linesKept = 0;
				linesKeptLen = 0;
				linesKeptVersion = S.version;
			}
			for (; linesKeptLen < S.seq.length; linesKeptLen++)
				if (S.kind[linesKeptLen] !== KIND_EVENT)
					linesKept++;
			return linesKept;
		}

		/* ---- following, scrolling, jumping ---- */

		function setFollow(on) {
			follow = on;
			scroller.classList.toggle("follow", on);
			$("follow").setAttribute("aria-pressed", String(on));
			$("follow").textContent = on ? "Following" : "Follow";
			schedule();
		}

		let lastTop = 0;
		scroller.addEventListener("scroll", () => {
			const top = scroller.scrollTop;
			const atBottom = top + scroller.clientHeight >= scroller.scrollHeight - 2;
			if (follow && top < lastTop - 1 && !atBottom)
				setFollow(false);
			else if (!follow && atBottom && top > lastTop)
				setFollow(true);
			lastTop = top;
			schedule();
		}, { passive: true });
		/* A wheel or key up while following means "let me read". */
		scroller.addEventListener("wheel", (e) => { if (e.deltaY < 0 && follow) setFollow(false); }, { passive: true });

		function showIndex(i) {
			const banner = S.dropped > 0 ? 1 : 0;
			setFollow(false);
			const top = Math.max(0, (i + banner) * ROW_H - Math.floor(scroller.clientHeight / 3));
			draw();
			scroller.scrollTop = top;
			lastTop = scroller.scrollTop;
			schedule();
		}

		function jumpTo(seq) {
			target = seq;
			const i = find(seq);
			if (i >= 0) {
				showIndex(i);
				notice("");
			} else if (S.dropped > 0 && S.seq.length && seq < S.seq[0]) {
				notice("Line " + seq + " is older than the " + CAP.toLocaleString() +
					" lines this page keeps; Download has the whole run.");
			} else if (!syncing && document.body.dataset.state === "ready") {
				notice("Line " + seq + " is not in this run (yet).");
			}
		}

		function hashTarget() {
			const m = /^#seq-(\d+)$/.exec(location.hash);
			return m ? parseInt(m[1], 10) : null;
		}
		window.addEventListener("hashchange", () => {
			const seq = hashTarget();
			if (seq !== null)
				jumpTo(seq);
		});
		rowsEl.addEventListener("click", (e) => {
			const a = e.target.closest("a.ln");
			if (!a)
				return;
			e.preventDefault();
			history.replaceState(null, "", a.getAttribute("href"));
			jumpTo(parseInt(a.textContent, 10));
		});

		/* ---- search ---- */

		function updateMatches() {
			if (!term) {
				matches = [];
				matchAt = -1;
				return;
			}
			const lterm = term.toLowerCase();
			if (matchVersion !== S.version || matchedUpTo > S.seq.length) {
				const curSeq = matchAt >= 0 ? S.seq[matches[matchAt]] : null;
				matches = [];
				matchedUpTo = 0;
				matchVersion = S.version;
				matchAt = -1;
				scanMatches(lterm);
				if (curSeq !== null)
					matchAt = matches.findIndex((i) => S.seq[i] >= curSeq);
			} else {
				scanMatches(lterm);
			}
			$("matches").textContent = matches.length
				? (matchAt >= 0 ? matchAt + 1 : 0) + " of " + matches.length : "no match";
		}
		function scanMatches(lterm) {
			for (; matchedUpTo < S.seq.length; matchedUpTo++)
				if (stripAnsi(S.text[matchedUpTo]).toLowerCase().includes(lterm))
					matches.push(matchedUpTo);
		}
		function step(dir) {
			updateMatches();
			if (!matches.length)
				return;
			if (matchAt < 0) {
				/* The first match from the top of the view on, or the
				 * last one above it; wrapping around. */
				const banner = S.dropped > 0 ? 1 : 0;
				const first = follow ? 0 : Math.floor(scroller.scrollTop / ROW_H) - banner;
				const k = matches.findIndex((i) => i >= first);
				if (dir > 0)
					matchAt = k < 0 ? 0 : k;
				else
					matchAt = (k <= 0 ? matches.length : k) - 1;
			} else {
				matchAt = (matchAt + dir + matches.length) % matches.length;
			}
			showIndex(matches[matchAt]);
			updateMatches();
		}
		let searchTimer = 0;
		searchEl.addEventListener("input", () => {
			clearTimeout(searchTimer);
			searchTimer = setTimeout(() => {
				term = searchEl.value;
				matchVersion = -1;
				matchAt = -1;
				if (term)
					step(1);
				else
					$("matches").textContent = "";
				schedule();
			}, 120);
		});
		searchEl.addEventListener("keydown", (e) => {
			if (e.key === "Enter") {
				e.preventDefault();
				clearTimeout(searchTimer);
				if (term !== searchEl.value) {
					term = searchEl.value;
					matchVersion = -1;
					matchAt = -1;
				}
				step(e.shiftKey ? -1 : 1);
			} else if (e.key === "Escape") {
				searchEl.value = "";
				term = "";
				$("matches").textContent = "";
				scroller.focus();
				schedule();
			}
		});
		$("next").addEventListener("click", () => step(1));
		$("prev").addEventListener("click", () => step(-1));

		/* ---- toolbar and keys ---- */

		$("follow").addEventListener("click", () => setFollow(!follow));
		function setWrap(on) {
			wrap = on;
			scroller.classList.toggle("wrap", on);
			$("wrap").setAttribute("aria-pressed", String(on));
			S.version++;   /* redraw every row */
			schedule();
		}
		$("wrap").addEventListener("click", () => setWrap(!wrap));

		$("download").addEventListener("click", async () => {
			const btn = $("download");
			btn.disabled = true;
			const parts = [];
			let got = 0;
			try {
				for await (const rows of historyPages(null)) {
					parts.push(rows.map((x) => x.line).join("\n") + "\n");
					got += rows.length;
					btn.textContent = "Download (" + got.toLocaleString() + ")";
				}
				const url = URL.createObjectURL(new Blob(parts, { type: "text/plain;charset=utf-8" }));
				const a = document.createElement("a");
				a.href = url;
				a.download = tid + ".log";
				document.body.append(a);
				a.click();
				a.remove();
				setTimeout(() => URL.revokeObjectURL(url), 60000);
			} catch (err) {
				if (!(err instanceof AuthError))
					notice("Download failed: " + err.message);
			}
			btn.textContent = "Download";
			btn.disabled = false;
		});

		document.addEventListener("keydown", (e) => {
			const inInput = e.target instanceof HTMLInputElement;
			if (e.key === "/" && !inInput) {
				e.preventDefault();
				searchEl.focus();
				searchEl.select();
			} else if (e.key === "End" && !inInput) {
				e.preventDefault();
				setFollow(true);
			} else if (e.key === "Home" && !inInput) {
				e.preventDefault();
				setFollow(false);
				scroller.scrollTop = 0;
			} else if (e.key === "w" && !inInput && !e.ctrlKey && !e.metaKey && !e.altKey) {
				setWrap(!wrap);
			} else if ((e.key === "ArrowUp" || e.key === "PageUp") && !inInput && follow) {
				setFollow(false);
			}
		});
		window.addEventListener("resize", schedule);

		/* ---- the two streams ---- */

		let opened = false;
		stream(() => "/api/runs/" + enc + "/logs/stream" +
			(S.lastSeq === null ? "" : "?last_event_id=" + encodeURIComponent(tid + ":" + S.lastSeq)),
		onLive, (st) => {
			setConn(st);
			if (st !== "open")
				gapPossible = true;
			if (st === "open") {
				opened = true;
				catchUp();
			}
		}, (data) => {
			notice("The hub could not resume the stream exactly (" + data + "); the history fills the gap.");
			catchUp(true);
		});
		/* History even if the stream cannot open. */
		setTimeout(() => { if (!opened) catchUp(); }, 3000);

		let adminOpened = false;
		stream(() => "/api/admin-events/stream?thread_id=" + enc, (ev) => {
			if (!ev || ev.thread_id !== tid)
				return;
			if (applyEvent(run, ev))
				fillBadge(badge, run);
			if (syncing)
				held.push(ev);
			else
				addEvent(ev);
			/* The run has ended and its lines are stored (emit flushes
			 * before it says so): whatever the stream missed is there. */
			if (run.ended_at && STATUS_OF[ev.type] && STATUS_OF[ev.type] !== "running") {
				catchUp(gapPossible);
				gapPossible = false;
			}
			schedule();
		}, (st) => {
			if (st === "open") {
				if (adminOpened)
					loadStatus();
				adminOpened = true;
			}
		});
		loadStatus();

		target = hashTarget();
		setFollow(target === null);

		window.bcastViewer = {
			store: S, stats, cap: CAP,
			seqs: () => S.seq.filter((_, i) => S.kind[i] !== KIND_EVENT),
			lines: () => S.text.filter((_, i) => S.kind[i] !== KIND_EVENT),
			events: () => S.text.filter((_, i) => S.kind[i] === KIND_EVENT),
			frames: (from) => Array.from(stats.frames.subarray(2 * (from || 0), 2 * stats.nframes)),
			get following() { return follow; },
			get syncing() { return syncing; },
		};
	}

	/* ---- which view ---- */

	const m = /^\/runs\/([^/]+)$/.exec(location.pathname);
	if (m) {
		let tid = null;
		try {
			tid = decodeURIComponent(m[1]);
		} catch (err) { /* shown as not found below */ }
		if (tid !== null)
			runView(tid);
	} else {
		runsView();
	}
})();
