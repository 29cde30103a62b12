/* fanout.c - SSE streams, subscribers, batching and backpressure.
 *
 * Streams: the global log stream, the admin stream, and thread streams in
 * a chained hash table keyed by thread id; a thread stream exists only
 * while it has subscribers (or a batch being flushed).
 *
 * Batching: fanout_publish_logs() appends the frames of one ingest body
 * once to each interested stream's pending buffer and marks the stream
 * dirty; a zero-timeout event, activated once per loop wake-up, flushes
 * every dirty stream: the pending bytes become one refcounted block, and
 * each subscriber gets a chunk that references the block
 * (evbuffer_add_reference), so no bytes are copied per subscriber.
 *
 * Backpressure: before anything is added for a subscriber, the unsent
 * output of its connection is measured; past the backlog cap it gets a
 * final comment, the stream is ended and its connection has a short grace
 * to drain before the write timeout closes it.
 *
 * Lifetime: a subscriber is freed from the connection's close callback.
 * Ending a stream ourselves (slow consumer, shutdown) moves the subscriber
 * to a "closing" state (no stream) until that callback fires. Streams are
 * marked busy while they are iterated so that a subscriber leaving during
 * a broadcast never frees the stream under the loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "bc_buf.h"
#include "bc_sse.h"
#include "fanout.h"

#define PENDING_FLUSH ((size_t)64 << 20) /* flush early past this many bytes */
#define READ_HIGH_WM 4096                 /* input kept from a stream client */
#define CLOSE_GRACE_S 2                   /* an ended stream's time to drain */
#define BUCKETS_MIN 64

static const char CONNECTED[] = ": connected\n\n";
static const char KEEPALIVE[] = ": keepalive\n\n";

struct block {
	size_t refs;
	size_t frames;
	size_t len;
	char *data;
};

struct stream;

struct sub {
	struct sub *prev, *next;
	struct stream *stream;          /* NULL once the stream is ending */
	struct fanout *f;
	struct evhttp_request *req;
	struct fanout_filter *filter;   /* admin subscribers; NULL: all */
};

struct stream {
	enum fanout_kind kind;
	struct sub *subs;
	size_t nsubs;
	struct stream *hnext;           /* hash chain */
	struct stream *dnext;           /* dirty list */
	int dirty;
	int busy;
	struct bc_buf pending;
	size_t pending_frames;
	char tid[BC_TID_MAX + 1];
};

struct fanout {
	struct event_base *base;
	struct fanout_opts o;
	struct hub_metrics *m;
	struct stream global, admin;
	struct stream **buckets;
	size_t nbuckets, nthreads;
	struct stream *dirty;
	size_t pending_bytes;
	struct event *flush_ev;
	int flush_scheduled;
	struct event *keepalive_ev;
	struct evbuffer *scratch;
	size_t counts[3];
	size_t closing;
	unsigned long long admin_seq;
	int stopping;
	void (*drained)(void *);
	void *drained_arg;
};

static void block_unref(struct block *b)
{
	if (--b->refs == 0) {
		free(b->data);
		free(b);
	}
}

static void block_cleanup(const void *data, size_t len, void *extra)
{
	(void)data;
	(void)len;
	block_unref(extra);
}

/* A block holding the bytes of buf (taken over; buf is left empty). */
static struct block *block_from(struct bc_buf *buf, size_t frames)
{
	struct block *b = malloc(sizeof *b);

	if (b == NULL)
		return NULL;
	b->data = bc_buf_steal(buf, &b->len);
	if (b->data == NULL) {
		free(b);
		return NULL;
	}
	b->refs = 1;
	b->frames = frames;
	return b;
}

static uint64_t tid_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct stream **thread_slot(struct fanout *f, const char *tid)
{
	struct stream **p = &f->buckets[tid_hash(tid) & (f->nbuckets - 1)];

	while (*p != NULL && strcmp((*p)->tid, tid) != 0)
		p = &(*p)->hnext;
	return p;
}

static int threads_grow(struct fanout *f)
{
	size_t n = f->nbuckets * 2;
	struct stream **nb = calloc(n, sizeof *nb);

	if (nb == NULL)
		return -1;
	for (size_t i = 0; i < f->nbuckets; i++) {
		struct stream *s, *next;
		for (s = f->buckets[i]; s != NULL; s = next) {
			size_t j = tid_hash(s->tid) & (n - 1);
			next = s->hnext;
			s->hnext = nb[j];
			nb[j] = s;
		}
	}
	free(f->buckets);
	f->buckets = nb;
	f->nbuckets = n;
	return 0;
}

static struct stream *thread_get(struct fanout *f, const char *tid, int create)
{
	struct stream **slot = thread_slot(f, tid), *s;

	if (*slot != NULL || !create)
		return *slot;
	if (f->nthreads >= f->nbuckets && threads_grow(f) == 0)
		slot = thread_slot(f, tid);
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->kind = FANOUT_THREAD;
	bc_buf_init(&s->pending, 0);
	snprintf(s->tid, sizeof s->tid, "%s", tid);
	*slot = s;
	f->nthreads++;
	return s;
}

static void stream_maybe_remove(struct fanout *f, struct stream *s)
{
	struct stream **slot;

	if (s->kind != FANOUT_THREAD || s->nsubs > 0 || s->dirty || s->busy)
		return;
	slot = thread_slot(f, s->tid);
	*slot = s->hnext;
	f->nthreads--;
	bc_buf_free(&s->pending);
	free(s);
}

static void stream_add(struct fanout *f, struct stream *s, struct sub *u)
{
	u->prev = NULL;
	u->next = s->subs;
	if (s->subs != NULL)
		s->subs->prev = u;
	s->subs = u;
	s->nsubs++;
	u->stream = s;
	f->counts[s->kind]++;
}

static void sub_detach(struct fanout *f, struct sub *u)
{
	struct stream *s = u->stream;

	if (s == NULL)
		return;
	if (u->prev != NULL)
		u->prev->next = u->next;
	else
		s->subs = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	u->stream = NULL;
	s->nsubs--;
	f->counts[s->kind]--;
	stream_maybe_remove(f, s);
}

static void sub_free(struct sub *u)
{
	free(u->filter);
	free(u);
}

static void check_drained(struct fanout *f)
{
	void (*cb)(void *) = f->drained;

	if (!f->stopping || cb == NULL || f->closing > 0 || fanout_total(f) > 0)
		return;
	f->drained = NULL;
	cb(f->drained_arg);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct sub *u = arg;
	struct fanout *f = u->f;

	(void)evcon;
	if (u->stream != NULL) {
		sub_detach(f, u);
		/* On EOF or timeout evhttp detaches the unfinished request
		 * from the connection and leaves it to us. */
		if (evhttp_request_get_connection(u->req) == NULL)
			evhttp_request_free(u->req);
	} else {
		f->closing--;
	}
	sub_free(u);
	check_drained(f);
}

/* End u's stream after an optional last comment. u may be freed before
 * this returns. */
static void sub_end(struct fanout *f, struct sub *u, const char *comment)
{
	struct evhttp_request *req = u->req;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct timeval grace = { CLOSE_GRACE_S, 0 };

	sub_detach(f, u);
	if (evcon == NULL) {
		evhttp_request_free(req);
		sub_free(u);
		return;
	}
	f->closing++;
	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(evcon),
	                         NULL, &grace);
	if (comment != NULL && evbuffer_add(f->scratch, comment, strlen(comment)) == 0)
		evhttp_send_reply_chunk(req, f->scratch);
	evbuffer_drain(f->scratch, evbuffer_get_length(f->scratch));
	evhttp_send_reply_end(req);
}

static void sub_slow(struct fanout *f, struct sub *u)
{
	char msg[96];

	snprintf(msg, sizeof msg,
	         ": disconnected: slow consumer, backlog over %zu bytes\n\n",
	         f->o.backlog);
	f->m->slow_disconnects++;
	sub_end(f, u, msg);
}

/* Hand u the block b as one chunk, or a keepalive comment when b is NULL. */
static void sub_send(struct fanout *f, struct sub *u, struct block *b)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(u->req);
	struct evbuffer *out;

	if (evcon == NULL)
		return;
	out = bufferevent_get_output(evhttp_connection_get_bufferevent(evcon));
	if (evbuffer_get_length(out) > f->o.backlog) {
		sub_slow(f, u);
		return;
	}
	if (b != NULL) {
		b->refs++;
		if (evbuffer_add_reference(f->scratch, b->data, b->len,
		                           block_cleanup, b) != 0) {
			b->refs--;
			return;
		}
		f->m->events_delivered += b->frames;
	} else if (evbuffer_add_reference(f->scratch, KEEPALIVE,
	                                  sizeof KEEPALIVE - 1, NULL, NULL) != 0) {
		return;
	}
	evhttp_send_reply_chunk(u->req, f->scratch);
	evbuffer_drain(f->scratch, evbuffer_get_length(f->scratch));
}

static int filter_match(const struct fanout_filter *flt, const char *type,
                        const char *tid)
{
	if (flt == NULL || type == NULL)
		return 1;
	if (flt->tid[0] != '\0' && strcmp(flt->tid, tid) != 0)
		return 0;
	if (flt->ntypes == 0)
		return 1;
	for (size_t i = 0; i < flt->ntypes; i++)
		if (strcmp(flt->types[i], type) == 0)
			return 1;
	return 0;
}

/* Send b (or a keepalive) to every subscriber of s whose filter matches
 * type and tid (NULL type: everyone). s may be freed on return. */
static void broadcast(struct fanout *f, struct stream *s, struct block *b,
                      const char *type, const char *tid)
{
	struct sub *u, *next;

	s->busy++;
	for (u = s->subs; u != NULL; u = next) {
		next = u->next;
		if (filter_match(u->filter, type, tid))
			sub_send(f, u, b);
	}
	s->busy--;
	stream_maybe_remove(f, s);
}

static void flush_stream(struct fanout *f, struct stream *s)
{
	struct block *b;

	f->pending_bytes -= s->pending.len;
	if (s->pending.len > 0 && s->nsubs > 0 &&
	    (b = block_from(&s->pending, s->pending_frames)) != NULL) {
		broadcast(f, s, b, NULL, NULL);
		block_unref(b);
	}
	bc_buf_reset(&s->pending);
	s->pending_frames = 0;
}

static void fanout_flush(struct fanout *f)
{
	struct stream *s;

	f->flush_scheduled = 0;
	while ((s = f->dirty) != NULL) {
		f->dirty = s->dnext;
		s->dnext = NULL;
		s->busy++;
		flush_stream(f, s);
		s->busy--;
		s->dirty = 0;
		stream_maybe_remove(f, s);
	}
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fanout_flush(arg);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;

	(void)fd;
	(void)what;
	broadcast(f, &f->global, NULL, NULL, NULL);
	broadcast(f, &f->admin, NULL, NULL, NULL);
	for (size_t i = 0; i < f->nbuckets; i++) {
		struct stream *s, *next;
		for (s = f->buckets[i]; s != NULL; s = next) {
			next = s->hnext;
			broadcast(f, s, NULL, NULL, NULL);
		}
	}
}

struct fanout *fanout_new(struct event_base *base, const struct fanout_opts *o,
                          struct hub_metrics *m)
{
	struct fanout *f = calloc(1, sizeof *f);

	if (f == NULL)
		return NULL;
	f->base = base;
	f->o = *o;
	f->m = m;
	f->global.kind = FANOUT_GLOBAL;
	f->admin.kind = FANOUT_ADMIN;
	bc_buf_init(&f->global.pending, 0);
	bc_buf_init(&f->admin.pending, 0);
	f->nbuckets = BUCKETS_MIN;
	f->buckets = calloc(f->nbuckets, sizeof *f->buckets);
	f->scratch = evbuffer_new();
	f->flush_ev = event_new(base, -1, 0, on_flush, f);
	if (f->buckets == NULL || f->scratch == NULL || f->flush_ev == NULL)
		goto fail;
	if (o->keepalive_s > 0) {
		struct timeval tv = { o->keepalive_s, 0 };
		f->keepalive_ev = event_new(base, -1, EV_PERSIST, on_keepalive, f);
		if (f->keepalive_ev == NULL || event_add(f->keepalive_ev, &tv) != 0)
			goto fail;
	}
	return f;
fail:
	fanout_free(f);
	return NULL;
}

void fanout_free(struct fanout *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; f->buckets != NULL && i < f->nbuckets; i++) {
		struct stream *s, *next;
		for (s = f->buckets[i]; s != NULL; s = next) {
			next = s->hnext;
			bc_buf_free(&s->pending);
			free(s);
		}
	}
	free(f->buckets);
	bc_buf_free(&f->global.pending);
	bc_buf_free(&f->admin.pending);
	if (f->flush_ev != NULL)
		event_free(f->flush_ev);
	if (f->keepalive_ev != NULL)
		event_free(f->keepalive_ev);
	if (f->scratch != NULL)
		evbuffer_free(f->scratch);
	free(f);
}

int fanout_subscribe(struct fanout *f, struct evhttp_request *req,
                     enum fanout_kind kind, const char *tid,
                     const struct fanout_filter *filter)
{
	static const int one = 1;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct bufferevent *bev;
	struct timeval wt = { f->o.write_timeout_s, 0 };
	struct stream *s;
	struct sub *u;

	if (evcon == NULL || f->stopping)
		return -1;
	u = calloc(1, sizeof *u);
	if (u == NULL)
		return -1;
	if (kind == FANOUT_ADMIN && filter != NULL) {
		u->filter = malloc(sizeof *u->filter);
		if (u->filter == NULL)
			goto fail;
		*u->filter = *filter;
	}
	if (kind == FANOUT_THREAD)
		s = thread_get(f, tid, 1);
	else
		s = kind == FANOUT_GLOBAL ? &f->global : &f->admin;
	if (s == NULL)
		goto fail;
	u->f = f;
	u->req = req;
	stream_add(f, s, u);

	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
	evhttp_add_header(h, "Connection", "close");
	evhttp_send_reply_start(req, HTTP_OK, "OK");

	bev = evhttp_connection_get_bufferevent(evcon);
	/* Each write is already a whole batch: Nagle would only hold it back
	 * until the peer's delayed ACK (40 ms on Linux). */
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
	           sizeof one);
	bufferevent_set_timeouts(bev, NULL, f->o.write_timeout_s > 0 ? &wt : NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH_WM);
	evhttp_connection_set_closecb(evcon, on_close, u);

	if (evbuffer_add_reference(f->scratch, CONNECTED, sizeof CONNECTED - 1,
	                           NULL, NULL) == 0)
		evhttp_send_reply_chunk(req, f->scratch);
	evbuffer_drain(f->scratch, evbuffer_get_length(f->scratch));
	return 0;
fail:
	sub_free(u);
	return -1;
}

static int stream_queue(struct fanout *f, struct stream *s, const char *frames,
                        size_t n, size_t count)
{
	if (bc_buf_append(&s->pending, frames, n) != 0)
		return -1;
	s->pending_frames += count;
	f->pending_bytes += n;
	if (!s->dirty) {
		s->dirty = 1;
		s->dnext = f->dirty;
		f->dirty = s;
	}
	if (!f->flush_scheduled) {
		f->flush_scheduled = 1;
		event_active(f->flush_ev, EV_TIMEOUT, 0);
	}
	return 0;
}

int fanout_publish_logs(struct fanout *f, const char *tid, const char *frames,
                        size_t n, size_t count)
{
	struct stream *s;
	int rc = 0;

	if (f->stopping || n == 0)
		return 0;
	if (f->pending_bytes > 0 && f->pending_bytes + n > PENDING_FLUSH)
		fanout_flush(f);
	if (f->global.nsubs > 0)
		rc |= stream_queue(f, &f->global, frames, n, count);
	s = thread_get(f, tid, 0);
	if (s != NULL && s->nsubs > 0)
		rc |= stream_queue(f, s, frames, n, count);
	return rc;
}

int fanout_publish_admin(struct fanout *f, const char *type, const char *tid,
                         const char *json, size_t n)
{
	struct bc_buf buf;
	struct block *b;
	char id[32];

	if (f->stopping)
		return 0;
	snprintf(id, sizeof id, "%llu", ++f->admin_seq);
	if (f->admin.nsubs == 0)
		return 0;
	bc_buf_init(&buf, 0);
	if (bc_sse_frame(&buf, id, json, n) != 0 || (b = block_from(&buf, 1)) == NULL) {
		bc_buf_free(&buf);
		return -1;
	}
	broadcast(f, &f->admin, b, type, tid);
	block_unref(b);
	return 0;
}

size_t fanout_count(const struct fanout *f, enum fanout_kind kind)
{
	return f->counts[kind];
}

size_t fanout_total(const struct fanout *f)
{
	return f->counts[FANOUT_GLOBAL] + f->counts[FANOUT_THREAD] +
	       f->counts[FANOUT_ADMIN];
}

static void end_all(struct fanout *f, struct stream *s)
{
	s->busy++;
	while (s->subs != NULL)
		sub_end(f, s->subs, NULL);
	s->busy--;
	stream_maybe_remove(f, s);
}

void fanout_shutdown(struct fanout *f, void (*drained)(void *), void *arg)
{
	fanout_flush(f);
	f->stopping = 1;
	f->drained = drained;
	f->drained_arg = arg;
	if (f->keepalive_ev != NULL)
		event_del(f->keepalive_ev);
	end_all(f, &f->global);
	end_all(f, &f->admin);
	for (size_t i = 0; i < f->nbuckets; i++) {
		struct stream *s, *next;
		for (s = f->buckets[i]; s != NULL; s = next) {
			next = s->hnext;
			end_all(f, s);
		}
	}
	check_drained(f);
}
