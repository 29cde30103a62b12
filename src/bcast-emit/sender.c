/* sender.c - live delivery to the hub, on a thread of its own.
 *
 * The read loop offers each stored batch with sender_logs(). While the hub
 * answers, a full queue (QUEUE_MAX bytes) makes the read loop wait for
 * room: the batch is already in Redis or the spool, so waiting only slows
 * the input (back-pressure), and live subscribers see every line. The
 * batch is dropped from live delivery only (it still reaches the DB) when
 * the hub is in its back-off after a failure, refused the token, or has
 * taken nothing for STALL_MS; one warning per run says so. The thread sends
 * queued items in order over one kept-alive connection (bc_http): log
 * batches go as the chunks of one long streaming POST (the hub publishes
 * each line as it arrives), which ends when an admin event is next in the
 * queue (events follow the lines before them), when the queue has been
 * empty for STREAM_IDLE_MS, or at the end; an event is one POST. After a
 * failure it waits out a back-off (250 ms doubling to 5 s) during which log
 * batches are dropped; the next batch after it is the retry. Admin events
 * are always queued and tried. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_http.h"
#include "bc_record.h"
#include "cli.h"
#include "emit.h"

#define QUEUE_MAX (16u << 20)
#define POST_MAX (1u << 20)
#define HTTP_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define STALL_MS 2000          /* a hub that takes nothing this long is slow */
#define STREAM_IDLE_MS 500     /* a stream with nothing to send ends */

struct item {
	struct item *next;
	bool event;
	char *body;
	size_t len;
};

struct sender {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t room;       /* signalled when queued bytes go down */
	int64_t taken_at;          /* when the thread last took an item */
	struct item *head, *tail;
	size_t bytes;              /* body bytes queued */
	struct item *cur;          /* the log batch being streamed */
	size_t cur_off;
	bool finishing;
	int64_t give_up_at;        /* when finishing: drop log batches after */
	int64_t down_until;        /* back-off: drop log batches before */
	long backoff_ms;
	bool refused;              /* 401/403: the token is wrong */
	bool warned_down, warned_token, warned_reject;
	struct bc_http *http;
	struct bc_http *http_stream;  /* its own connection: a streaming POST
	                               * must be the first request on one */
	char *hub;
	char logs_path[BC_TID_MAX + 32];
	char tid[BC_TID_MAX + 1];
};

static bool drop_logs(const struct sender *s, int64_t now)
{
	return s->refused || now < s->down_until ||
	       (s->finishing && now > s->give_up_at);
}

static void warn_once(struct sender *s, bool *flag, const char *fmt,
                      const char *why)
{
	bool first;

	pthread_mutex_lock(&s->mu);
	first = !*flag;
	*flag = true;
	pthread_mutex_unlock(&s->mu);
	if (first)
		bc_warn(fmt, s->hub, why);
}

static void enqueue(struct sender *s, struct item *it)
{
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->bytes += it->len;
	pthread_cond_signal(&s->cv);
}

/* Take the head item, with the log bodies that follow it joined to it up
 * to POST_MAX. Called with the lock held. */
static struct item *take(struct sender *s)
{
	struct item *it = s->head;

	s->head = it->next;
	s->bytes -= it->len;
	while (!it->event && s->head && !s->head->event &&
	       it->len + s->head->len <= POST_MAX) {
		struct item *nx = s->head;
		char *body = realloc(it->body, it->len + nx->len);
		if (!body)
			break;
		memcpy(body + it->len, nx->body, nx->len);
		it->body = body;
		it->len += nx->len;
		s->head = nx->next;
		s->bytes -= nx->len;
		free(nx->body);
		free(nx);
	}
	if (!s->head)
		s->tail = NULL;
	it->next = NULL;
	s->taken_at = bc_now_us();
	pthread_cond_broadcast(&s->room);
	return it;
}

/* Take the outcome st (err) of a request: back-off, refusal, warnings. */
static void outcome(struct sender *s, long st, const char *err)
{
	pthread_mutex_lock(&s->mu);
	if (st >= 200 && st <= 299) {
		s->down_until = 0;
		s->backoff_ms = BACKOFF_MIN_MS;
	} else if (st == 401 || st == 403) {
		s->refused = true;
	} else if (st < 0 || st >= 500) {
		s->down_until = bc_now_us() + s->backoff_ms * 1000;
		s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ?
		                BACKOFF_MAX_MS : s->backoff_ms * 2;
	}
	pthread_cond_broadcast(&s->room);
	pthread_mutex_unlock(&s->mu);
	if (st == 401 || st == 403)
		warn_once(s, &s->warned_token, "hub at %s refused the token "
		          "(%s); lines are kept in Redis/spool and will reach "
		          "the DB", err);
	else if (st < 0 || st >= 500)
		warn_once(s, &s->warned_down, "hub at %s unreachable (%s); "
		          "lines are kept in Redis/spool and will reach the DB",
		          err);
	else if (st > 299)
		warn_once(s, &s->warned_reject, "hub at %s rejected a POST (%s)",
		          err);
}

static void post(struct sender *s, struct item *it)
{
	char err[512];
	/* flush=0: emit flushes the thread itself (or was told not to). */
	const char *path = it->event ? "/api/admin-events?flush=0" : s->logs_path;
	const char *type = it->event ? "application/json" : "application/x-ndjson";

	outcome(s, bc_http_post(s->http, path, type, it->body, it->len, err,
	                        sizeof err), err);
}

/* The streaming POST's body: queued log batches as they come. Ends (0)
 * when an event is next, when nothing came for STREAM_IDLE_MS, or when the
 * sender finishes and the queue is empty. */
static size_t stream_read(char *buf, size_t max, void *arg)
{
	struct sender *s = arg;
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	while (s->cur == NULL) {
		struct timespec until;
		if (s->head != NULL && !s->head->event) {
			s->cur = s->head;
			s->head = s->cur->next;
			if (!s->head)
				s->tail = NULL;
			s->bytes -= s->cur->len;
			s->cur_off = 0;
			s->taken_at = bc_now_us();
			pthread_cond_broadcast(&s->room);
			break;
		}
		if (s->head != NULL || s->finishing)
			goto out;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += STREAM_IDLE_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0 &&
		    s->head == NULL)
			goto out;
	}
	n = s->cur->len - s->cur_off < max ? s->cur->len - s->cur_off : max;
	memcpy(buf, s->cur->body + s->cur_off, n);
	s->cur_off += n;
	if (s->cur_off == s->cur->len) {
		free(s->cur->body);
		free(s->cur);
		s->cur = NULL;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void stream(struct sender *s)
{
	char err[512];
	long st = bc_http_stream(s->http_stream, s->logs_path, "application/x-ndjson",
	                         stream_read, s, err, sizeof err);

	outcome(s, st, err);
	pthread_mutex_lock(&s->mu);
	if (s->cur != NULL) {       /* cut off mid-batch: the rest is lost live */
		free(s->cur->body);
		free(s->cur);
		s->cur = NULL;
	}
	pthread_mutex_unlock(&s->mu);
}

static void *deliver(void *arg)
{
	struct sender *s = arg;
	struct item *it;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->finishing)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head)
			break;
		if (!s->head->event && !drop_logs(s, bc_now_us())) {
			pthread_mutex_unlock(&s->mu);
			stream(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		it = take(s);
		bool skip = it->event ? s->refused : drop_logs(s, bc_now_us());
		pthread_mutex_unlock(&s->mu);
		if (!skip)
			post(s, it);
		free(it->body);
		free(it);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct sender *sender_new(const char *hub_url, const char *token,
                          const char *tid, char *err, size_t errlen)
{
	struct sender *s = calloc(1, sizeof *s);

	if (!s || !(s->hub = strdup(hub_url))) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	if (!(s->http = bc_http_new(hub_url, token, HTTP_TIMEOUT_MS, err,
	                            errlen)) ||
	    !(s->http_stream = bc_http_new(hub_url, token, HTTP_TIMEOUT_MS, err,
	                                   errlen))) {
		bc_http_free(s->http);
		free(s->hub);
		free(s);
		return NULL;
	}
	snprintf(s->tid, sizeof s->tid, "%s", tid);
	snprintf(s->logs_path, sizeof s->logs_path, "/api/runs/%s/logs", tid);
	s->backoff_ms = BACKOFF_MIN_MS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->room, NULL);
	if (pthread_create(&s->thread, NULL, deliver, s) != 0) {
		snprintf(err, errlen, "cannot start the sender thread");
		pthread_cond_destroy(&s->room);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		bc_http_free(s->http);
		bc_http_free(s->http_stream);
		free(s->hub);
		free(s);
		return NULL;
	}
	return s;
}

/* Append the n bytes at p (whole records) as one body to the queue. */
static int queue_body(struct sender *s, const char *p, size_t n)
{
	struct item *it = calloc(1, sizeof *it);

	if (!it || !(it->body = malloc(n))) {
		free(it);
		return -1;
	}
	memcpy(it->body, p, n);
	it->len = n;
	pthread_mutex_lock(&s->mu);
	enqueue(s, it);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Wait, with the lock held, until total more bytes fit in the queue (a
 * batch larger than the queue waits for it to empty). Returns true when
 * they still do not fit because the hub stalled or is down. */
static bool wait_for_room(struct sender *s, size_t total)
{
	s->taken_at = bc_now_us();
	while (s->bytes > 0 && s->bytes + total > QUEUE_MAX) {
		int64_t now = bc_now_us();
		struct timespec until;

		if (drop_logs(s, now) || now - s->taken_at > STALL_MS * 1000LL)
			return true;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->room, &s->mu, &until);
	}
	return false;
}

void sender_logs(struct sender *s, const char *text, size_t len)
{
	bool full, drop;

	if (len == 0)
		return;
	pthread_mutex_lock(&s->mu);
	full = wait_for_room(s, len);
	drop = full || drop_logs(s, bc_now_us());
	pthread_mutex_unlock(&s->mu);
	if (full)
		warn_once(s, &s->warned_down, "hub at %s is not keeping up (%s); "
		          "some lines are not shown live, they are kept in "
		          "Redis/spool and will reach the DB",
		          "16 MiB waiting to be sent");
	if (drop)
		return;
	/* Bodies of at most POST_MAX, cut after a record. */
	while (len > POST_MAX) {
		const char *cut = memrchr(text, '\n', POST_MAX);
		size_t n = cut ? (size_t)(cut - text) + 1 : len;
		if (queue_body(s, text, n) != 0)
			return;
		text += n;
		len -= n;
	}
	queue_body(s, text, len);
}

void sender_event(struct sender *s, const char *type, const char *data)
{
	struct bc_event e = { 0 };
	struct bc_buf b;
	struct item *it;

	snprintf(e.type, sizeof e.type, "%s", type);
	snprintf(e.thread_id, sizeof e.thread_id, "%s", s->tid);
	bc_ts_now(e.ts);
	e.data = (char *)data;
	bc_buf_init(&b, 0);
	if (bc_event_encode(&e, &b) != 0 || !(it = calloc(1, sizeof *it))) {
		bc_buf_free(&b);
		return;
	}
	it->event = true;
	it->body = bc_buf_steal(&b, &it->len);
	if (!it->body) {
		free(it);
		return;
	}
	pthread_mutex_lock(&s->mu);
	enqueue(s, it);
	pthread_mutex_unlock(&s->mu);
}

void sender_finish(struct sender *s, long wait_ms)
{
	struct item *it;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->finishing = true;
	s->give_up_at = bc_now_us() + (int64_t)wait_ms * 1000;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	while ((it = s->head)) {
		s->head = it->next;
		free(it->body);
		free(it);
	}
	pthread_cond_destroy(&s->room);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	bc_http_free(s->http);
	bc_http_free(s->http_stream);
	free(s->hub);
	free(s);
}
