/* naive.js - the peer of the viewer benchmark (bench/viewer.sh): the page
 * people write first, and what simple log viewers do. An EventSource on
 * the thread's stream, one <li> appended per line (text only, kept for
 * ever), scrolled to the end once a frame. bench/viewer.sh runs it in a
 * page of the hub's origin (its /healthz) through the DevTools protocol,
 * so it needs no CORS. It exposes the same read-only hook as the bcast
 * page (window.bcastViewer: store.lastSeq, frames()) so bench/viewer.py
 * measures both the same way. THREAD is set before it runs. */
(() => {
	"use strict";
	document.body.innerHTML = "<ol id=log></ol>";
	const log = document.getElementById("log");
	const store = { lastSeq: null, seq: { length: 0 }, dropped: 0, received: 0 };
	const frames = [];
	let painting = null;
	const afterPaint = new MessageChannel();
	afterPaint.port1.onmessage = () => frames.push(painting, performance.timeOrigin + performance.now());
	function frame() {
		if (store.lastSeq !== painting) {
			window.scrollTo(0, document.body.scrollHeight);
			painting = store.lastSeq;
			afterPaint.port2.postMessage(0);
		}
		requestAnimationFrame(frame);
	}
	requestAnimationFrame(frame);
	window.bcastViewer = { store, cap: 0, frames: () => frames };
	const es = new EventSource("/api/runs/" + encodeURIComponent(THREAD) + "/logs/stream");
	es.onopen = () => { document.body.dataset.state = "ready"; };
	es.onmessage = (m) => {
		const rec = JSON.parse(m.data);
		const li = document.createElement("li");
		li.textContent = rec.line;
		log.appendChild(li);
		store.lastSeq = rec.seq;
		store.seq.length++;
		store.received++;
	};
})();
