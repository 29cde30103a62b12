/* resume.c - stream cursors and the replay of a resuming thread stream.
 *
 * A thread replay is a chain of jobs on the read lane, one page of
 * REPLAY_PAGE records each (bc_history_read: Redis and the spool, then the
 * DB, merged by seq). Each page is framed on the worker and written to the
 * subscriber on the loop; the next page is read once the subscriber has
 * taken most of the previous one (fanout_seam_wait), so a slow client
 * never makes the hub hold a whole history.
 *
 * When a page reaches the end of what exists, the seam is released (the
 * live batches held since the subscriber connected follow, without the
 * records already replayed) only if they continue the replay: the first
 * held seq is at most the last replayed + 1, or nothing was held and
 * nothing new was found. Otherwise the buffers are read again every
 * REPLAY_POLL_MS, for at most REPLAY_WAIT_S: an emitter that found the
 * hub down keeps writing Redis or the spool but posts nothing until its
 * back-off ends (up to 5 s), and those lines exist only there. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "bc_buf.h"
#include "bc_history.h"
#include "bc_clock.h"
#include "bc_record.h"
#include "bc_sse.h"
#include "hub.h"
#include "rest.h"
#include "resume.h"
#include "work.h"

#define REPLAY_PAGE 5000
#define REPLAY_POLL_MS 100
#define REPLAY_WAIT_S 10

/* The cursor text: the Last-Event-ID header, else ?last_event_id=. 1 with
 * it in out, 0 when none, -1 when too long. */
static int cursor_text(struct evhttp_request *req, char *out, size_t n)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req),
	                                   "Last-Event-ID");
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	int rc = 0;

	TAILQ_INIT(&q);
	if ((v == NULL || *v == '\0') && query != NULL &&
	    evhttp_parse_query_str(query, &q) == 0)
		v = evhttp_find_header(&q, "last_event_id");
	if (v != NULL && *v != '\0') {
		rc = strlen(v) < n ? 1 : -1;
		if (rc == 1)
			snprintf(out, n, "%s", v);
	}
	evhttp_clear_headers(&q);
	return rc;
}

/* "DIGITS" (1 to 19 of them) as a number. 0 or -1. */
static int digits(const char *s, unsigned long long *v)
{
	size_t k = strspn(s, "0123456789");

	if (k == 0 || k > 19 || s[k] != '\0')
		return -1;
	*v = strtoull(s, NULL, 10);
	return 0;
}

/* The k bytes at p, the part of a global or admin cursor between '@' and
 * ':': "MS-SEQ" (a bus position) or an EPOCH (1 to 15 of [0-9a-z]). 0 with
 * c filled, or -1. */
static int global_cursor(const char *p, size_t k, struct fanout_cursor *c)
{
	char part[24];
	const char *dash = memchr(p, '-', k);

	if (dash == NULL) {
		if (k < 1 || k >= sizeof c->epoch ||
		    strspn(p, "0123456789abcdefghijklmnopqrstuvwxyz") < k)
			return -1;
		memcpy(c->epoch, p, k);
		c->epoch[k] = '\0';
		return 0;
	}
	c->bus = 1;
	if ((size_t)(dash - p) >= sizeof part || k - (size_t)(dash - p) - 1 >= sizeof part)
		return -1;
	snprintf(part, sizeof part, "%.*s", (int)(dash - p), p);
	if (digits(part, &c->pos.ms) != 0)
		return -1;
	snprintf(part, sizeof part, "%.*s", (int)(k - (size_t)(dash - p) - 1), dash + 1);
	return digits(part, &c->pos.seq);
}

int resume_parse(struct hub *h, struct evhttp_request *req,
                 enum fanout_kind kind, const char *tid,
                 struct resume_cursor *c)
{
	int rc;
	char *colon;
	unsigned long long v;

	memset(c, 0, sizeof c[0]);
	rc = cursor_text(req, c->text, sizeof c->text);
	if (rc == 0)
		return 0;
	if (rc < 0)
		goto bad;
	colon = strrchr(c->text, ':');
	if (colon == NULL || digits(colon + 1, &v) != 0)
		goto bad;
	if (kind == FANOUT_THREAD) {
		size_t tl = (size_t)(colon - c->text);
		if (c->text[0] == '@')
			goto bad;
		if (tl != strlen(tid) || memcmp(c->text, tid, tl) != 0 ||
		    v > (unsigned long long)LLONG_MAX) {
			hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
			               "Last-Event-ID '%s' is not a cursor of thread %s",
			               c->text, tid);
			return -1;
		}
		c->seq = (long long)v;
		return 1;
	}
	if (c->text[0] != '@' || global_cursor(c->text + 1,
	                                       (size_t)(colon - c->text - 1),
	                                       &c->at) != 0)
		goto bad;
	c->at.n = v;
	if (strlen(c->text) >= sizeof c->at.text)
		goto bad;
	memcpy(c->at.text, c->text, strlen(c->text) + 1);
	return 1;
bad:
	hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
	               "malformed Last-Event-ID: want %s",
	               kind == FANOUT_THREAD ? "THREAD:SEQ" : "@EPOCH:N or @MS-SEQ:K");
	return -1;
}

struct replay_job {
	struct work_job job;
	struct fanout_seam *seam;
	struct work_pool *work;
	char tid[BC_TID_MAX + 1];
	long long after;
	struct event *poll;
	int64_t deadline_us;          /* 0 until the replay first caught up */
	/* the page read */
	int failed;
	char err[600];
	struct bc_buf frames;
	long long *seqs;
	size_t nseqs;
	int more;
};

static void replay_free(struct replay_job *rj)
{
	if (rj->poll != NULL)
		event_free(rj->poll);
	bc_buf_free(&rj->frames);
	free(rj->seqs);
	free(rj);
}

static void replay_run(struct work_job *j, struct work_ctx *c)
{
	struct replay_job *rj = (struct replay_job *)j;
	struct bc_history_src src;
	struct bc_history_page p;
	enum bc_history_fail f;
	char id[BC_TID_MAX + 32];

	rj->failed = 1;
	bc_buf_reset(&rj->frames);
	free(rj->seqs);
	rj->seqs = NULL;
	rj->nseqs = 0;
	bc_history_page_init(&p);
	if (work_src(c, &src, rj->err, sizeof rj->err) != 0)
		return;
	f = bc_history_read(&src, rj->tid, rj->after, REPLAY_PAGE, &p, rj->err,
	                    sizeof rj->err);
	if (f != BC_HISTORY_OK) {
		work_drop(c, f);
		goto out;
	}
	rj->seqs = malloc((p.json.n ? p.json.n : 1) * sizeof *rj->seqs);
	if (rj->seqs == NULL)
		goto oom;
	for (size_t i = 0; i < p.json.n; i++) {
		snprintf(id, sizeof id, "%s:%lld", rj->tid, p.seq[i]);
		if (bc_sse_frame(&rj->frames, id, p.json.v[i], p.json.len[i]) != 0)
			goto oom;
		rj->seqs[rj->nseqs++] = p.seq[i];
	}
	rj->more = p.more && p.json.n > 0;
	rj->failed = 0;
	goto out;
oom:
	snprintf(rj->err, sizeof rj->err, "out of memory");
out:
	bc_history_page_free(&p);
}

static void replay_next(void *arg)
{
	struct replay_job *rj = arg;

	work_submit(rj->work, &rj->job, WORK_READ);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	replay_next(arg);
}

/* The replay found the end of what exists: release the seam when the held
 * live batches continue it, else look again shortly. */
static void replay_caught_up(struct replay_job *rj)
{
	long long held = fanout_seam_first_held(rj->seam);
	int64_t now = bc_mono_us();
	struct timeval tv = { 0, REPLAY_POLL_MS * 1000 };

	if (rj->deadline_us == 0)
		rj->deadline_us = now + (int64_t)REPLAY_WAIT_S * 1000000;
	if (!fanout_seam_alive(rj->seam) ||
	    (held >= 0 && held <= rj->after + 1) ||
	    (held < 0 && rj->nseqs == 0) || now > rj->deadline_us ||
	    rj->poll == NULL || event_add(rj->poll, &tv) != 0) {
		fanout_seam_release(rj->seam);
		replay_free(rj);
	}
}

static void replay_done(struct work_job *j, int aborted)
{
	struct replay_job *rj = (struct replay_job *)j;
	char msg[700];

	if (aborted || rj->failed) {
		snprintf(msg, sizeof msg, ": resume failed: %s\n\n",
		         aborted ? "the hub is stopping" : rj->err);
		fanout_seam_fail(rj->seam, msg);
		replay_free(rj);
		return;
	}
	if (fanout_seam_replay(rj->seam, rj->frames.data, rj->frames.len,
	                       rj->nseqs, rj->seqs, rj->nseqs) != 0) {
		fanout_seam_release(rj->seam);
		replay_free(rj);
		return;
	}
	if (rj->nseqs > 0)
		rj->after = rj->seqs[rj->nseqs - 1];
	if (!rj->more)
		replay_caught_up(rj);
	else if (fanout_seam_wait(rj->seam, replay_next, rj) == 0)
		replay_next(rj);
}

int resume_subscribe(struct hub *h, struct evhttp_request *req,
                     enum fanout_kind kind, const char *tid,
                     const struct fanout_filter *filter,
                     const struct resume_cursor *c, long long until)
{
	struct replay_job *rj;

	if (kind != FANOUT_THREAD)
		return fanout_subscribe_cursor(h->fanout, req, kind, filter,
		                               &c->at, until);
	rj = calloc(1, sizeof *rj);
	if (rj == NULL)
		return -1;
	if (fanout_subscribe_seam(h->fanout, req, tid, until, &rj->seam) != 0) {
		free(rj);
		return -1;
	}
	if (!fanout_seam_alive(rj->seam)) {
		fanout_seam_release(rj->seam);
		free(rj);
		return 0;
	}
	rj->job.run = replay_run;
	rj->job.done = replay_done;
	rj->work = h->work;
	snprintf(rj->tid, sizeof rj->tid, "%s", tid);
	rj->after = c->seq;
	bc_buf_init(&rj->frames, 0);
	rj->poll = evtimer_new(h->base, on_poll, rj);
	work_submit(h->work, &rj->job, WORK_READ);
	return 0;
}
