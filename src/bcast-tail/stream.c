/* stream.c - follow a hub's Server-Sent Events streams on a terminal.
 *
 * libcurl easy handles on one multi handle: each write callback feeds a
 * bc_sse parser whose events go to print.c. Following one thread there
 * are two: the thread's line stream, and a "watch" on the admin stream
 * filtered to that thread's run_completed/run_error/run_cancelled.
 *
 * One attempt, without a race at either end:
 *   1. open the watch and wait until the hub has accepted it;
 *   2. ask GET /admin/runs whether the run has already ended (an end
 *      after this answer reaches the watch);
 *   3. open the line stream and wait until the hub has accepted it; after
 *      a reconnect, with Last-Event-ID {tid}:{seq}, seq being the highest
 *      handled, so a hub that resumes sends every line after it;
 *   4. print the history (-n, --since; after a reconnect, what follows the
 *      highest seq handled), with every line the hub holds in its DB,
 *      Redis list and spool;
 *   5. read the stream: what the hub sent while the history was read
 *      waits in the socket, and lines whose seq is not above the highest
 *      handled (already in the history) are dropped. So no line posted
 *      between the history and the stream is missed, whether or not the
 *      hub resumes, and none is printed twice.
 * When the watch sees the end, the history after the last seq is read
 * once more (the end may overtake the last lines on the other
 * connection), the end is printed on stderr and the program exits.
 * Following all threads or admin events there is one stream, resumed with
 * the id of the last event it carried (the hub's @epoch:n cursor).
 *
 * When the hub is not there or goes away, the attempt starts again after
 * 0.2 s, doubling to 5 s, back to 0.2 s once a stream was open.
 *
 * SIGINT and SIGTERM write to a self-pipe whose read end is polled with
 * the transfers (curl_multi_poll) and during the backoff waits, so they
 * end the program at once. SIGPIPE is ignored: a write error on stdout is
 * seen by fflush, EPIPE ends quietly with 0, anything else exits 74. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bc_exit.h"
#include "bc_sse.h"
#include "cli.h"
#include "tail.h"

#define MAX_EVENT (4u << 20)      /* bytes of one SSE event */
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define GAP_MAX ((size_t)16 << 20) /* records held behind a seq gap */
#define END_TYPES "run_completed,run_error,run_cancelled"

struct conn {
	struct follow *f;
	CURL *easy;
	struct bc_sse_parser *parser;
	char *url;
	bool watch;              /* the run-end watch: nothing printed */
	bool added;              /* on the multi handle */
	bool connected;          /* this attempt got 200 text/event-stream */
	bool done;               /* the transfer ended */
	long status;             /* HTTP status of this attempt, 0 if none */
	CURLcode result;
	struct curl_slist *hdrs;
	char last_id[256];
	char errbuf[CURL_ERROR_SIZE];
};

struct follow {
	struct tail *t;
	CURLM *multi;
	struct conn main, watch;
	bool use_watch;
	bool ended;              /* the watch saw the run's end */
	bool refill;             /* a reset on the thread stream: read history */
	long long refilled_at;   /* last_seq of the last refill, -2 none */
	struct bc_buf gap;       /* records held back behind a seq gap */
};

enum attempt { A_DONE, A_LOST, A_FAILED, A_FATAL };

static int sig_pipe[2] = { -1, -1 };
volatile int tail_pending_signal;

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;
	tail_pending_signal = sig;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = saved;
}

int tail_signals_init(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

int tail_signalled(void)
{
	unsigned char buf[16];
	int sig = 0;
	ssize_t n;
	while ((n = read(sig_pipe[0], buf, sizeof buf)) > 0)
		sig = buf[n - 1] == SIGINT || sig == SIGINT ? SIGINT : buf[n - 1];
	return sig;
}

static bool past_deadline(const struct tail *t)
{
	return t->deadline_ms && bc_now_ms() >= t->deadline_ms;
}

/* Set t->stop when a signal came or the deadline passed. */
static void check_stop(struct tail *t)
{
	int sig = tail_signalled();
	if (t->stop == RUN && sig)
		t->stop = sig == SIGINT ? STOP_SIGINT : STOP_DONE;
	if (t->stop == RUN && past_deadline(t))
		t->stop = STOP_DONE;
}

/* Milliseconds to wait at most: want, cut to the deadline. */
static int wait_ms(const struct tail *t, int want)
{
	if (!t->deadline_ms)
		return want;
	int64_t left = t->deadline_ms - bc_now_ms();
	if (left < 0)
		left = 0;
	return left < want ? (int)left : want;
}

/* The watch's event: the run's end, if it is one. */
static int watch_event(struct conn *c, const struct bc_sse_event *ev)
{
	struct tail *t = c->f->t;
	struct bc_event e = { 0 };
	struct json_object *d = NULL, *v;
	char err[256];

	if (strcmp(ev->event, "reset") == 0 ||
	    bc_event_decode(ev->data, ev->data_len, &e, err, sizeof err) != 0)
		return 0;
	if (strcmp(e.thread_id, t->tid) == 0 &&
	    (strcmp(e.type, "run_completed") == 0 ||
	     strcmp(e.type, "run_error") == 0 ||
	     strcmp(e.type, "run_cancelled") == 0)) {
		snprintf(t->end.status, sizeof t->end.status, "%.15s", e.type + 4);
		t->end.exit_code = -1;
		if (e.data && (d = json_tokener_parse(e.data)) &&
		    json_object_object_get_ex(d, "exit_code", &v) &&
		    json_object_is_type(v, json_type_int))
			t->end.exit_code = json_object_get_int(v);
		json_object_put(d);
		c->f->ended = true;
	}
	bc_event_clear(&e);
	return c->f->ended;
}

/* Following one thread, a live record whose seq is past the next one
 * (or any record while others are held) waits until the history has
 * been read for the lines in between: those the hub never got live, such
 * as what an emitter stored in Redis or the spool while it could not
 * reach a restarting hub. */
static bool behind_gap(const struct follow *f, const struct bc_record *r)
{
	const struct tail *t = f->t;
	return t->mode == MODE_THREAD &&
	       (f->gap.len > 0 || (t->last_seq > 0 && r->seq > t->last_seq + 1));
}

/* Hold a record's JSON text (length-prefixed); when the hold is full,
 * read everything from the history after a reconnect instead. */
static void hold(struct follow *f, const char *json, size_t n)
{
	if (bc_buf_append(&f->gap, &n, sizeof n) != 0 ||
	    bc_buf_append(&f->gap, json, n) != 0)
		f->refill = true;
}

/* Read the history after the last seq handled, then print what was held. */
static void fill_gap(struct follow *f)
{
	struct tail *t = f->t;
	struct bc_record r;
	char err[256];
	size_t n, i = 0;

	if (tail_history(t, false) != 0 && !t->quiet)
		bc_warn("%s", t->why);
	while (i + sizeof n <= f->gap.len) {
		memcpy(&n, f->gap.data + i, sizeof n);
		i += sizeof n;
		memset(&r, 0, sizeof r);
		if (bc_record_decode(f->gap.data + i, n, &r, err, sizeof err) == 0)
			tail_print_record(t, &r, f->gap.data + i, n);
		bc_record_clear(&r);
		i += n;
	}
	bc_buf_reset(&f->gap);
	tail_out_flush(t);
}

static int on_event(const struct bc_sse_event *ev, void *arg)
{
	struct conn *c = arg;
	struct tail *t = c->f->t;
	char err[256];

	if (ev->id[0])
		snprintf(c->last_id, sizeof c->last_id, "%s", ev->id);
	if (c->watch)
		return watch_event(c, ev);
	if (t->stop != RUN)
		return 1;
	if (strcmp(ev->event, "reset") == 0) {
		bool refill = t->mode == MODE_THREAD &&
		              c->f->refilled_at != t->last_seq;
		tail_print_reset(t, ev->data, refill);
		if (refill) {
			c->f->refill = true;
			c->f->refilled_at = t->last_seq;
			return 1;
		}
	} else if (t->mode == MODE_ADMIN) {
		struct bc_event e = { 0 };
		if (bc_event_decode(ev->data, ev->data_len, &e, err, sizeof err) != 0)
			tail_skip_warn(t, err);
		else
			tail_print_event(t, &e, ev->data, ev->data_len);
		bc_event_clear(&e);
	} else {
		struct bc_record r = { 0 };
		if (bc_record_decode(ev->data, ev->data_len, &r, err, sizeof err) != 0)
			tail_skip_warn(t, err);
		else if (behind_gap(c->f, &r))
			hold(c->f, ev->data, ev->data_len);
		else
			tail_print_record(t, &r, ev->data, ev->data_len);
		bc_record_clear(&r);
	}
	return t->stop != RUN;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct conn *c = arg;
	struct tail *t = c->f->t;
	size_t len = size * n;

	if (!c->connected || t->stop != RUN || c->f->ended || c->f->refill)
		return 0;
	if (bc_sse_parser_feed(c->parser, p, len) == -1 && !t->skipped_warned) {
		tail_skip_warn(t, "larger than 4 MiB");
		t->skipped_warned = true;
	}
	if (!c->watch)
		tail_out_flush(t);
	return t->stop == RUN && !c->f->ended && !c->f->refill ? len : 0;
}

/* At the blank line ending the response headers, decide whether this is
 * the stream: 200 and text/event-stream. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct conn *c = arg;
	struct tail *t = c->f->t;
	size_t len = size * n;
	char *ct = NULL;

	if (len > 2 || (p[0] != '\r' && p[0] != '\n'))
		return len;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (c->status == 200 && ct && strncasecmp(ct, "text/event-stream", 17) == 0) {
		c->connected = true;
		if (t->outage && !t->quiet)
			bc_warn("connected to hub at %s again", t->hub);
		t->outage = false;
	}
	return len;
}

static int conn_init(struct follow *f, struct conn *c, char *url, bool watch)
{
	c->f = f;
	c->url = url;
	c->watch = watch;
	if (!url || !(c->easy = tail_http_easy()))
		return -1;
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPINTVL, 10L);
	c->parser = bc_sse_parser_new(MAX_EVENT, on_event, NULL, c);
	return c->parser ? 0 : -1;
}

static void conn_free(struct conn *c)
{
	curl_easy_cleanup(c->easy);
	bc_sse_parser_free(c->parser);
	curl_slist_free_all(c->hdrs);
	free(c->url);
}

/* Open c's stream, resuming from last_id when it is set. 0 or -1. */
static int conn_start(struct conn *c, const char *last_id)
{
	struct tail *t = c->f->t;
	char line[300];

	curl_slist_free_all(c->hdrs);
	c->hdrs = tail_http_headers(t, NULL, "text/event-stream");
	if (c->hdrs && last_id && last_id[0]) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", last_id);
		struct curl_slist *l = curl_slist_append(c->hdrs, line);
		if (!l)
			curl_slist_free_all(c->hdrs);
		c->hdrs = l;
	}
	if (!c->hdrs) {
		snprintf(t->why, sizeof t->why, "out of memory");
		return -1;
	}
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
	c->connected = c->done = false;
	c->status = 0;
	c->result = CURLE_OK;
	c->errbuf[0] = '\0';
	bc_sse_parser_reset(c->parser);
	if (curl_multi_add_handle(c->f->multi, c->easy) != CURLM_OK)
		return -1;
	c->added = true;
	return 0;
}

static void conn_stop(struct conn *c)
{
	if (c->added)
		curl_multi_remove_handle(c->f->multi, c->easy);
	c->added = c->done = false;
}

/* Why c's attempt failed, into t->why; true if it was refused (4xx or
 * not a stream: not worth retrying). */
static bool conn_failure(struct conn *c)
{
	struct tail *t = c->f->t;
	const char *what = c->watch ? "the admin stream" : c->url + strlen(t->hub);

	if (c->status == 401 || c->status == 403) {
		snprintf(t->why, sizeof t->why, "hub at %s refused access to %s "
		         "(HTTP %ld): set BCAST_READ_TOKEN or --read-token-file",
		         t->hub, what, c->status);
		return true;
	}
	if (c->status && !c->connected && (c->status < 500 || c->status == 200)) {
		snprintf(t->why, sizeof t->why, "hub at %s refused %s: HTTP %ld%s",
		         t->hub, c->url, c->status,
		         c->status == 200 ? ", not an event stream" : "");
		return true;
	}
	if (c->status && !c->connected)
		snprintf(t->why, sizeof t->why, "HTTP %ld", c->status);
	else if (c->errbuf[0])
		snprintf(t->why, sizeof t->why, "%s", c->errbuf);
	else if (c->result != CURLE_OK)
		snprintf(t->why, sizeof t->why, "%s", curl_easy_strerror(c->result));
	else
		snprintf(t->why, sizeof t->why, "the stream ended");
	return false;
}

/* Run the transfers until t->stop is set, the watch sees the end, a
 * reset asks for a refill, a transfer ends (returned), or, with
 * with until, that stream is open. Returns the conn that ended or NULL. */
static struct conn *pump(struct follow *f, const struct conn *until)
{
	struct tail *t = f->t;
	struct curl_waitfd extra = { .fd = sig_pipe[0], .events = CURL_WAIT_POLLIN };
	int running, left;
	CURLMsg *m;

	for (;;) {
		if (curl_multi_perform(f->multi, &running) != CURLM_OK)
			return &f->main;
		while ((m = curl_multi_info_read(f->multi, &left))) {
			struct conn *c = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			c->done = true;
			c->result = m->data.result;
		}
		if (f->gap.len > 0 && !f->refill && t->stop == RUN)
			fill_gap(f);
		if (t->stop != RUN || f->ended || f->refill)
			return NULL;
		if (f->main.added && f->main.done)
			return &f->main;
		if (f->watch.added && f->watch.done)
			return &f->watch;
		if (until && until->connected)
			return NULL;
		if (curl_multi_poll(f->multi, &extra, 1, wait_ms(t, 1000), NULL) != CURLM_OK)
			return &f->main;
		check_stop(t);
	}
}

/* The run ended: print what is left of its history, then the end. */
static enum attempt finish(struct follow *f)
{
	struct tail *t = f->t;
	int rc = tail_history(t, !t->history_done);

	if (rc != 0)
		return rc < 0 ? A_FAILED : A_FATAL;
	t->history_done = true;
	if (t->stop == RUN) {
		t->stop = STOP_ENDED;
		tail_print_end(t);
	}
	return A_DONE;
}

/* Steps 1 and 2: the watch, then the run's status. */
static enum attempt watch_start(struct follow *f)
{
	struct tail *t = f->t;
	struct conn *done;
	int rc;

	if (f->use_watch) {
		if (conn_start(&f->watch, f->watch.last_id) != 0)
			return A_FAILED;
		if ((done = pump(f, &f->watch)) != NULL)
			return conn_failure(done) ? A_FATAL : A_FAILED;
		if (t->stop != RUN)
			return A_DONE;
		if (f->ended)
			return finish(f);
	}
	if (f->use_watch || (t->mode == MODE_THREAD && t->exit_status)) {
		rc = tail_run_ended(t, &t->end);
		if (rc < 0)
			return A_FAILED;
		if (rc > 1)
			return A_FATAL;
		if (rc == 1)
			return finish(f);
	}
	return A_LOST;   /* go on */
}

/* One attempt: the steps in the header comment. */
static enum attempt attempt(struct follow *f)
{
	struct tail *t = f->t;
	struct conn *done;
	char cursor[300] = "";
	enum attempt a;
	int rc;

	f->ended = f->refill = false;
	if ((a = watch_start(f)) != A_LOST)
		return a;
	if (t->mode != MODE_THREAD)
		snprintf(cursor, sizeof cursor, "%s", f->main.last_id);
	else if (t->history_done)
		snprintf(cursor, sizeof cursor, "%s:%lld", t->tid,
		         t->last_seq > 0 ? t->last_seq : 0);
	if (t->follow) {
		if (conn_start(&f->main, cursor) != 0)
			return A_FAILED;
		if (t->mode == MODE_THREAD && (done = pump(f, &f->main)) != NULL)
			return conn_failure(done) ? A_FATAL : A_FAILED;
		if (f->ended)
			return finish(f);
		if (t->stop != RUN)
			return A_DONE;
	}
	if (t->mode == MODE_THREAD) {
		rc = tail_history(t, !t->history_done);
		if (rc != 0)
			return rc < 0 ? A_FAILED : A_FATAL;
		t->history_done = true;
		if (!t->follow && t->stop == RUN)
			t->stop = STOP_DONE;
		if (t->stop != RUN)
			return A_DONE;
	}
	done = pump(f, NULL);
	if (f->ended)
		return finish(f);
	if (t->stop != RUN)
		return A_DONE;
	if (f->refill)
		return A_LOST;
	if (done && !done->connected)
		return conn_failure(done) ? A_FATAL : A_FAILED;
	if (done)
		conn_failure(done);
	return A_LOST;
}

/* Sleep ms, or less when a signal or the deadline comes first. */
static void backoff_wait(struct tail *t, int ms)
{
	struct pollfd pfd = { .fd = sig_pipe[0], .events = POLLIN };
	int64_t until = bc_now_ms() + ms;

	while (t->stop == RUN) {
		int64_t left = until - bc_now_ms();
		if (left <= 0)
			break;
		poll(&pfd, 1, wait_ms(t, (int)left));
		check_stop(t);
	}
}

static char *url_of(const struct tail *t, bool watch)
{
	size_t n = strlen(t->hub) + 2 * BC_TID_MAX +
	           (t->types ? strlen(t->types) : 0) + 128;
	char *u = malloc(n);
	const char *types = watch ? END_TYPES : t->types;

	if (!u)
		return NULL;
	if (t->mode == MODE_THREAD && !watch)
		snprintf(u, n, "%s/api/runs/%s/logs/stream", t->hub, t->tid);
	else if (t->mode == MODE_ALL)
		snprintf(u, n, "%s/api/logs/stream", t->hub);
	else
		snprintf(u, n, "%s/api/admin-events/stream%s%s%s%s%s%s", t->hub,
		         types || t->tid ? "?" : "",
		         types ? "type=" : "", types ? types : "",
		         types && t->tid ? "&" : "",
		         t->tid ? "thread_id=" : "", t->tid ? t->tid : "");
	return u;
}

static int loop(struct follow *f)
{
	struct tail *t = f->t;
	int backoff = BACKOFF_MIN_MS;

	while (t->stop == RUN) {
		enum attempt a = attempt(f);
		conn_stop(&f->main);
		conn_stop(&f->watch);
		check_stop(t);
		if (t->stop != RUN || a == A_DONE)
			break;
		if (a == A_FATAL) {
			bc_warn("%s", t->why);
			return BC_EX_UNAVAILABLE;
		}
		if (a == A_LOST) {
			backoff = BACKOFF_MIN_MS;
			if (t->once)
				return BC_EX_OK;
			if (f->refill)
				continue;
			backoff_wait(t, backoff);
			continue;
		}
		if (t->once) {
			bc_warn("hub at %s unreachable (%s)", t->hub, t->why);
			return BC_EX_UNAVAILABLE;
		}
		if (!t->outage && !t->quiet)
			bc_warn("hub at %s unreachable (%s), retrying", t->hub, t->why);
		t->outage = true;
		backoff_wait(t, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return BC_EX_OK;
}

int tail_follow(struct tail *t)
{
	struct follow f = { .t = t, .refilled_at = -2 };
	int status = BC_EX_SOFTWARE;

	bc_buf_init(&f.gap, GAP_MAX);

	f.use_watch = t->mode == MODE_THREAD && t->follow;
	if (!(f.multi = curl_multi_init()) ||
	    conn_init(&f, &f.main, url_of(t, false), false) != 0 ||
	    (f.use_watch && conn_init(&f, &f.watch, url_of(t, true), true) != 0))
		bc_warn("cannot set up: out of memory");
	else
		status = loop(&f);
	conn_free(&f.main);
	conn_free(&f.watch);
	curl_multi_cleanup(f.multi);
	bc_buf_free(&f.gap);
	return status;
}
