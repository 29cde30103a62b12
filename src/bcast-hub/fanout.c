/* fanout.c - SSE streams, subscribers, batching and backpressure.
 *
 * Streams: the global log stream, the admin stream, and thread streams in
 * a chained hash table keyed by thread id; a thread stream exists only
 * while it has subscribers (or a batch being flushed).
 *
 * Sockets: once a stream request is routed, the fan-out writes the
 * response head itself and takes the socket away from evhttp (see
 * steal_fd), so a subscriber is a file descriptor, a read event (to see
 * the peer go) and a write event that is armed only while a backlog
 * exists. Delivering a batch is one write() per subscriber; nothing is
 * allocated or framed per subscriber.
 *
 * Batching: fanout_publish_logs() appends the frames of one ingest body
 * once to each interested stream's pending buffer, behind room reserved
 * for the chunk-size line, and marks the stream dirty. A flush turns each
 * dirty stream's pending bytes into one refcounted block that is already
 * a whole HTTP chunk ("SIZE\r\n" frames "\r\n") and writes it to every
 * subscriber. Flushes coalesce (schedule_flush): after a flush that took
 * T, the next one starts no sooner than min(T, FANOUT_COALESCE_US) after
 * it ended, so while fan-out is expensive, lines that arrive one per
 * request pile up into one batch; an idle hub flushes at the end of the
 * current loop turn.
 *
 * Backpressure: what a subscriber's socket does not take at once is
 * queued as references to the shared blocks (with an offset into the
 * first). Before anything is queued its backlog is measured; past the cap
 * it gets a final comment, its stream is ended and it has a short grace
 * to drain before it is closed. A write that makes no progress for the
 * write timeout closes the subscriber.
 *
 * Lifetime: a subscriber is freed when its socket closes (peer gone, write
 * error, timeout, or its end written). Ending a stream ourselves moves the
 * subscriber to a "closing" state (no stream) until its last bytes are
 * written. Streams are marked busy while they are iterated so that a
 * subscriber leaving during a broadcast never frees the stream under the
 * loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "bc_buf.h"
#include "bc_clock.h"
#include "bc_hash.h"
#include "bc_sse.h"
#include "fanout.h"

#define PENDING_FLUSH ((size_t)64 << 20) /* flush early past this many bytes */
#define READ_CAP 4096                     /* input taken from a stream client */
#define CLOSE_GRACE_S 2                   /* an ended stream's time to drain */
#define BUCKETS_MIN 64
#define HEAD_ROOM 18                      /* "%zx\r\n" of any size_t */
#define IOV_BATCH 64

struct block {
	size_t refs;
	size_t frames;
	size_t len;        /* the whole chunk: size line, data, CRLF */
	size_t hl;         /* length of the size line */
	const char *data;  /* start of the chunk */
	char *mem;         /* what to free; NULL for a static block */
};

/* Static chunks: never freed (mem NULL, refs never reach 0). */
#define STATIC_BLOCK(s, h) { (size_t)1 << 60, 0, sizeof s - 1, h, s, NULL }
static struct block keepalive_block = STATIC_BLOCK("d\r\n: keepalive\n\n\r\n", 3);
static struct block end_block = STATIC_BLOCK("0\r\n\r\n", 3);

struct qent {
	struct block *b;
	size_t off;        /* bytes of the block's view already written */
};

/* A run of events with consecutive ids: the hub's own "@EPOCH:N" (bus 0,
 * first = N of the first) or of one bus entry "@MS-SEQ:K" (first = K). */
struct seg {
	int bus;
	struct fanout_pos pos;
	unsigned long long first;
	size_t count;
};

/* A resume ring: the latest flushed blocks of the global or admin stream,
 * each with the ids of its events (one segment, or several when a batch
 * holds events of several bus entries). */
struct ring_ent {
	struct block *b;
	struct seg *segs;               /* NULL: the one in seg */
	size_t nsegs;
	struct seg seg;
	char type[65];                  /* admin: the event's type and thread */
	char tid[BC_TID_MAX + 1];
};

#define ID_MAX 72                       /* "@MS-SEQ:K" and "@EPOCH:N" */

struct ring {
	struct ring_ent *v;
	size_t head, len, cap;
	size_t events, bytes;           /* held now */
	size_t max_events, max_bytes;   /* caps; max_events 0: no ring */
	unsigned long long next;        /* N of the next local event */
	int has_bus;                    /* the newest bus entry published: */
	struct fanout_pos last_pos;     /* its position, and K of its next */
	unsigned long long next_k;      /* event */
	char last_id[ID_MAX];           /* id of the newest event */
	struct seg *pend;               /* ids of the pending batch (global) */
	size_t npend, cappend;
};

struct park;

struct fanout_seam;
struct fanout;
struct sub;
static int seam_send(struct fanout *f, struct sub *u, struct block *b);
static void seam_sub_gone(struct sub *u);
static void seam_drained(struct sub *u);
static void ring_push(struct ring *r, struct block *b, struct seg *segs,
                      size_t nsegs, const char *type, const char *tid);
static void ring_free(struct ring *r);
static void epoch_new(char *out, size_t n);
static int global_rewrite(struct fanout *f, const char *frames, size_t n,
                          const struct fanout_pos *pos);
static void park_drop(struct fanout *f, struct sub *u);
static void park_wake(struct fanout *f, int force);
static void bus_saw(struct fanout *f, const struct fanout_pos *pos);
static void seg_take(struct fanout *f, struct ring *r,
                     const struct fanout_pos *pos, size_t count);
static struct block *admin_block(struct fanout *f, struct ring *r,
                                 const struct fanout_pos *pos,
                                 const char *json, size_t n, struct seg *sg);

struct stream;

struct sub {
	struct sub *prev, *next;
	struct stream *stream;          /* NULL once the stream is ending */
	struct fanout *f;
	struct fanout_filter *filter;   /* admin subscribers; NULL: all */
	int fd;
	int raw;                        /* HTTP/1.0: no chunk framing */
	int ending;                     /* close once the queue is written */
	int writing;                    /* wev is armed */
	size_t inbytes;
	struct event *rev, *wev;
	struct qent *q;                 /* ring of unsent blocks */
	size_t qhead, qlen, qcap;
	size_t backlog;                 /* unsent bytes */
	struct event *expire;           /* ends the stream when its credential does */
	struct fanout_seam *seam;       /* resuming: see "Resume" below */
	struct park *park;              /* waiting for a bus cursor's entry */
};

struct stream {
	enum fanout_kind kind;
	struct sub *subs;
	size_t nsubs;
	struct stream *hnext;           /* hash chain */
	struct stream *dnext;           /* dirty list */
	int dirty;
	int busy;
	struct bc_buf pending;          /* HEAD_ROOM bytes, then frames */
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
	int64_t last_end_us, last_cost_us;
	struct event *keepalive_ev;
	int devnull;
	size_t counts[3];
	size_t closing;
	struct sub *ending;             /* subscribers whose end is being written */
	struct ring rings[2];           /* resume rings: global, admin */
	char epoch[16];
	int bus;                        /* a bus delivers (fanout_set_bus) */
	int seen_any;                   /* the newest bus position seen */
	struct fanout_pos seen;
	struct sub *parked;             /* subscribers waiting for it */
	int stopping;
	void (*drained)(void *);
	void *drained_arg;
};

static void block_unref(struct block *b)
{
	if (--b->refs == 0) {
		free(b->mem);
		free(b);
	}
}

/* The bytes of b a subscriber gets: the whole chunk, or only its data for
 * an HTTP/1.0 peer (a block without a size line, hl 0, is sent whole). */
static const char *block_view(const struct block *b, int raw, size_t *n)
{
	if (!raw || b->hl == 0) {
		*n = b->len;
		return b->data;
	}
	*n = b->len - b->hl - 2;
	return b->data + b->hl;
}

/* A block holding buf's bytes after its first HEAD_ROOM bytes as one
 * chunk: the size line is written into the room, the CRLF appended. buf is
 * taken over (left empty). NULL on out-of-memory (buf unchanged). */
static struct block *block_from(struct bc_buf *buf, size_t frames)
{
	struct block *b = malloc(sizeof *b);
	char size[HEAD_ROOM + 1];
	size_t n = buf->len - HEAD_ROOM;
	int hl;

	if (b == NULL || bc_buf_append(buf, "\r\n", 2) != 0) {
		free(b);
		return NULL;
	}
	hl = snprintf(size, sizeof size, "%zx\r\n", n);
	memcpy(buf->data + HEAD_ROOM - hl, size, (size_t)hl);
	b->mem = bc_buf_steal(buf, NULL);
	if (b->mem == NULL) {
		free(b);
		return NULL;
	}
	b->data = b->mem + HEAD_ROOM - hl;
	b->hl = (size_t)hl;
	b->len = (size_t)hl + n + 2;
	b->refs = 1;
	b->frames = frames;
	return b;
}

/* A block of one chunk holding the n bytes at p (copied). */
static struct block *block_copy(const char *p, size_t n, size_t frames)
{
	struct bc_buf buf;
	struct block *b;

	bc_buf_init(&buf, 0);
	if (bc_buf_append(&buf, "                  ", HEAD_ROOM) != 0 ||
	    bc_buf_append(&buf, p, n) != 0 ||
	    (b = block_from(&buf, frames)) == NULL) {
		bc_buf_free(&buf);
		return NULL;
	}
	return b;
}

static struct stream **thread_slot(struct fanout *f, const char *tid)
{
	struct stream **p = &f->buckets[bc_hash_str(tid) & (f->nbuckets - 1)];

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
			size_t j = bc_hash_str(s->tid) & (n - 1);
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

/* Put u first on the list at *head (a stream's, ending or parked). */
static void sub_link(struct sub **head, struct sub *u)
{
	u->prev = NULL;
	u->next = *head;
	if (*head != NULL)
		(*head)->prev = u;
	*head = u;
}

/* Take u off the list at *head. */
static void sub_unlink(struct sub **head, struct sub *u)
{
	if (u->prev != NULL)
		u->prev->next = u->next;
	else
		*head = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
}

static void stream_add(struct fanout *f, struct stream *s, struct sub *u)
{
	sub_link(&s->subs, u);
	s->nsubs++;
	u->stream = s;
	f->counts[s->kind]++;
}

static void sub_detach(struct fanout *f, struct sub *u)
{
	struct stream *s = u->stream;

	if (s == NULL)
		return;
	sub_unlink(&s->subs, u);
	u->stream = NULL;
	s->nsubs--;
	f->counts[s->kind]--;
	stream_maybe_remove(f, s);
}

static void check_drained(struct fanout *f)
{
	void (*cb)(void *) = f->drained;

	if (!f->stopping || cb == NULL || f->closing > 0 || fanout_total(f) > 0)
		return;
	f->drained = NULL;
	cb(f->drained_arg);
}

/* Close u's socket and free it. */
static void sub_close(struct fanout *f, struct sub *u)
{
	if (u->ending) {
		f->closing--;
		sub_unlink(&f->ending, u);
	} else if (u->park != NULL) {
		park_drop(f, u);
	} else {
		sub_detach(f, u);
	}
	if (u->seam != NULL)
		seam_sub_gone(u);
	while (u->qlen > 0) {
		block_unref(u->q[u->qhead].b);
		u->qhead = (u->qhead + 1) % u->qcap;
		u->qlen--;
	}
	free(u->q);
	if (u->rev != NULL)
		event_free(u->rev);
	if (u->wev != NULL)
		event_free(u->wev);
	if (u->expire != NULL)
		event_free(u->expire);
	if (u->fd >= 0)
		close(u->fd);
	free(u->filter);
	free(u);
	check_drained(f);
}

static int queue_push(struct sub *u, struct block *b, size_t off)
{
	size_t n;

	if (u->qlen == u->qcap) {
		size_t cap = u->qcap ? u->qcap * 2 : 8;
		struct qent *q = malloc(cap * sizeof *q);
		if (q == NULL)
			return -1;
		for (size_t i = 0; i < u->qlen; i++)
			q[i] = u->q[(u->qhead + i) % u->qcap];
		free(u->q);
		u->q = q;
		u->qcap = cap;
		u->qhead = 0;
	}
	u->q[(u->qhead + u->qlen) % u->qcap] = (struct qent){ b, off };
	u->qlen++;
	b->refs++;
	block_view(b, u->raw, &n);
	u->backlog += n - off;
	return 0;
}

static void arm_write(struct fanout *f, struct sub *u)
{
	struct timeval tv = { u->ending ? CLOSE_GRACE_S : f->o.write_timeout_s, 0 };

	if (u->writing)
		return;
	event_add(u->wev, tv.tv_sec > 0 ? &tv : NULL);
	u->writing = 1;
}

/* Write what u's queue holds. Returns -1 when u was closed (write error,
 * or its end is written), else 0. */
static int sub_drain(struct fanout *f, struct sub *u)
{
	while (u->qlen > 0) {
		struct iovec iov[IOV_BATCH];
		int n = 0;
		ssize_t w;

		for (size_t i = 0; i < u->qlen && n < IOV_BATCH; i++) {
			struct qent *e = &u->q[(u->qhead + i) % u->qcap];
			size_t len;
			const char *p = block_view(e->b, u->raw, &len);
			iov[n].iov_base = (char *)p + e->off;
			iov[n++].iov_len = len - e->off;
		}
		w = writev(u->fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			arm_write(f, u);
			return 0;
		}
		if (w <= 0) {
			sub_close(f, u);
			return -1;
		}
		u->backlog -= (size_t)w;
		while (w > 0) {
			struct qent *e = &u->q[u->qhead];
			size_t len, left;
			block_view(e->b, u->raw, &len);
			left = len - e->off;
			if ((size_t)w < left) {
				e->off += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			block_unref(e->b);
			u->qhead = (u->qhead + 1) % u->qcap;
			u->qlen--;
		}
	}
	if (u->writing) {
		event_del(u->wev);
		u->writing = 0;
	}
	if (u->ending) {
		sub_close(f, u);
		return -1;
	}
	if (u->seam != NULL)
		seam_drained(u);
	return 0;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct sub *u = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		sub_close(u->f, u);     /* no progress for the write timeout */
		return;
	}
	sub_drain(u->f, u);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sub *u = arg;
	char buf[1024];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		sub_close(u->f, u);     /* the peer went away */
		return;
	}
	/* A stream client has nothing to say; past the cap stop listening (a
	 * gone peer then shows up as a write error at the next keepalive). */
	u->inbytes += (size_t)n;
	if (u->inbytes > READ_CAP)
		event_del(u->rev);
}

/* Hand u the block b (one write when nothing is queued). Returns -1 when u
 * was closed. */
static int sub_put(struct fanout *f, struct sub *u, struct block *b)
{
	size_t len;
	const char *p = block_view(b, u->raw, &len);
	ssize_t w = 0;

	if (u->qlen == 0) {
		do
			w = write(u->fd, p, len);
		while (w < 0 && errno == EINTR);
		if (w == (ssize_t)len)
			return 0;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			sub_close(f, u);
			return -1;
		}
		if (w < 0)
			w = 0;
	}
	if (queue_push(u, b, (size_t)w) != 0) {
		sub_close(f, u);    /* cannot keep the stream whole */
		return -1;
	}
	arm_write(f, u);
	return 0;
}

/* End u's stream after an optional last comment: u stops receiving, gets
 * the terminating chunk and CLOSE_GRACE_S to take it. u may be freed
 * before this returns. */
static void sub_end(struct fanout *f, struct sub *u, const char *comment)
{
	struct block *b;

	sub_detach(f, u);
	u->ending = 1;
	f->closing++;
	sub_link(&f->ending, u);
	if (u->writing) {       /* the grace replaces the write timeout */
		event_del(u->wev);
		u->writing = 0;
	}
	if (comment != NULL &&
	    (b = block_copy(comment, strlen(comment), 0)) != NULL) {
		if (queue_push(u, b, 0) != 0) {
			block_unref(b);
			sub_close(f, u);
			return;
		}
		block_unref(b);
	}
	if (!u->raw && queue_push(u, &end_block, 0) != 0) {
		sub_close(f, u);
		return;
	}
	sub_drain(f, u);
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

/* Hand u the block b (a batch, or the keepalive). */
static void sub_send(struct fanout *f, struct sub *u, struct block *b)
{
	if (u->backlog > f->o.backlog) {
		sub_slow(f, u);
		return;
	}
	if (u->seam != NULL && b != &keepalive_block && seam_send(f, u, b) != 0)
		return;
	if (sub_put(f, u, b) == 0)
		f->m->events_delivered += b->frames;
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct sub *u = arg;

	(void)fd;
	(void)what;
	if (u->park != NULL)
		park_drop(u->f, u);
	if (!u->ending)
		sub_end(u->f, u, ": closed: credential expired\n\n");
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

/* Send b to every subscriber of s whose filter matches type and tid (NULL
 * type: everyone). s may be freed on return. */
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
	struct ring *r = &f->rings[0];
	int ring = s == &f->global && r->max_events > 0;

	f->pending_bytes -= s->pending.len;
	if (s->pending.len > HEAD_ROOM && (s->nsubs > 0 || ring) &&
	    (b = block_from(&s->pending, s->pending_frames)) != NULL) {
		if (ring && r->npend > 0) {
			ring_push(r, b, r->pend, r->npend, NULL, NULL);
			if (r->npend > 1) {     /* the ring took the array */
				r->pend = NULL;
				r->cappend = 0;
			}
		}
		broadcast(f, s, b, NULL, NULL);
		block_unref(b);
	}
	bc_buf_reset(&s->pending);
	s->pending_frames = 0;
	if (s == &f->global) {
		r->npend = 0;
		park_wake(f, 0);
	}
}

static void fanout_flush(struct fanout *f)
{
	struct stream *s;
	int64_t t0 = bc_mono_us();

	if (f->flush_scheduled) {
		event_del(f->flush_ev);
		f->flush_scheduled = 0;
	}
	while ((s = f->dirty) != NULL) {
		f->dirty = s->dnext;
		s->dnext = NULL;
		s->busy++;
		flush_stream(f, s);
		s->busy--;
		s->dirty = 0;
		stream_maybe_remove(f, s);
	}
	f->last_end_us = bc_mono_us();
	f->last_cost_us = f->last_end_us - t0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;

	(void)fd;
	(void)what;
	f->flush_scheduled = 0;
	fanout_flush(f);
}

/* Flush at the end of this loop turn, or, when the last flush ended less
 * than its own duration (at most FANOUT_COALESCE_US) ago, once that much
 * time has passed since it ended. */
static void schedule_flush(struct fanout *f)
{
	int64_t gap, wait;

	if (f->flush_scheduled)
		return;
	f->flush_scheduled = 1;
	gap = f->last_cost_us < FANOUT_COALESCE_US ? f->last_cost_us
	                                           : FANOUT_COALESCE_US;
	wait = f->last_end_us + gap - bc_mono_us();
	if (wait <= 0) {
		event_active(f->flush_ev, EV_TIMEOUT, 0);
	} else {
		struct timeval tv = { 0, (suseconds_t)wait };
		event_add(f->flush_ev, &tv);
	}
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;

	(void)fd;
	(void)what;
	broadcast(f, &f->global, &keepalive_block, NULL, NULL);
	broadcast(f, &f->admin, &keepalive_block, NULL, NULL);
	for (size_t i = 0; i < f->nbuckets; i++) {
		struct stream *s, *next;
		for (s = f->buckets[i]; s != NULL; s = next) {
			next = s->hnext;
			broadcast(f, s, &keepalive_block, NULL, NULL);
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
	epoch_new(f->epoch, sizeof f->epoch);
	for (int i = 0; i < 2; i++) {
		f->rings[i].max_events = o->resume_events;
		f->rings[i].max_bytes = o->resume_bytes;
		f->rings[i].next = 1;
		snprintf(f->rings[i].last_id, sizeof f->rings[i].last_id, "@%s:0",
		         f->epoch);
	}
	f->nbuckets = BUCKETS_MIN;
	f->buckets = calloc(f->nbuckets, sizeof *f->buckets);
	f->flush_ev = event_new(base, -1, 0, on_flush, f);
	f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (f->buckets == NULL || f->flush_ev == NULL || f->devnull < 0)
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

static void close_all(struct fanout *f, struct stream *s)
{
	s->busy++;
	while (s->subs != NULL)
		sub_close(f, s->subs);
	s->busy--;
}

void fanout_free(struct fanout *f)
{
	if (f == NULL)
		return;
	f->drained = NULL;
	while (f->ending != NULL)
		sub_close(f, f->ending);
	while (f->parked != NULL)
		sub_close(f, f->parked);
	close_all(f, &f->global);
	close_all(f, &f->admin);
	for (size_t i = 0; f->buckets != NULL && i < f->nbuckets; i++) {
		struct stream *s, *next;
		for (s = f->buckets[i]; s != NULL; s = next) {
			next = s->hnext;
			close_all(f, s);
			bc_buf_free(&s->pending);
			free(s);
		}
	}
	free(f->buckets);
	ring_free(&f->rings[0]);
	ring_free(&f->rings[1]);
	bc_buf_free(&f->global.pending);
	bc_buf_free(&f->admin.pending);
	if (f->flush_ev != NULL)
		event_free(f->flush_ev);
	if (f->keepalive_ev != NULL)
		event_free(f->keepalive_ev);
	if (f->devnull >= 0)
		close(f->devnull);
	free(f);
}

/* The response head of an SSE stream on req, with the first comment as
 * its first chunk, into out. */
static int sse_head(struct evhttp_request *req, int raw, struct bc_buf *out)
{
	static const char CONNECTED[] = ": connected\n\n";
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evkeyval *kv;
	int rc = 0;

	rc |= bc_buf_printf(out, "HTTP/1.%d 200 OK\r\n", raw ? 0 : 1);
	TAILQ_FOREACH(kv, h, next)
		rc |= bc_buf_printf(out, "%s: %s\r\n", kv->key, kv->value);
	if (!raw)
		rc |= bc_buf_puts(out, "Transfer-Encoding: chunked\r\n");
	rc |= bc_buf_puts(out, "\r\n");
	if (!raw)
		rc |= bc_buf_printf(out, "%zx\r\n", sizeof CONNECTED - 1);
	rc |= bc_buf_puts(out, CONNECTED);
	if (!raw)
		rc |= bc_buf_puts(out, "\r\n");
	return rc;
}

/* Take the socket of req's connection from evhttp: returns a descriptor
 * of our own for it and frees the connection (and req) without touching
 * the peer. evhttp shuts down and closes the number it knows, so that
 * number is first pointed at /dev/null. -1 on failure (nothing changed). */
static int steal_fd(struct fanout *f, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	int fd = bufferevent_getfd(bev), own;

	if (fd < 0 || (own = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -1;
	bufferevent_disable(bev, EV_READ | EV_WRITE);   /* leaves epoll */
	if (dup2(f->devnull, fd) < 0) {
		close(own);
		return -1;
	}
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	evhttp_connection_free(evcon);
	return own;
}

static int subscribe(struct fanout *f, struct evhttp_request *req,
                     enum fanout_kind kind, const char *tid,
                     const struct fanout_filter *filter, long long until,
                     struct sub **out)
{
	static const int one = 1;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct bc_buf head;
	struct block *b = NULL;
	struct stream *s;
	struct sub *u;

	if (evcon == NULL || f->stopping)
		return -1;
	u = calloc(1, sizeof *u);
	if (u == NULL)
		return -1;
	u->fd = -1;
	u->f = f;
	/* An HTTP/1.0 peer cannot take chunks: its body ends at close. */
	u->raw = req->major == 1 && req->minor == 0;
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

	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_add_header(h, "Connection", "close");
	bc_buf_init(&head, 0);
	if (bc_buf_append(&head, "                  ", HEAD_ROOM) != 0 ||
	    sse_head(req, u->raw, &head) != 0 ||
	    (b = block_from(&head, 0)) == NULL) {
		bc_buf_free(&head);
		stream_maybe_remove(f, s);
		goto fail;
	}
	/* The head is sent as is: skip the chunk framing block_from added. */
	b->data += b->hl;
	b->len -= b->hl + 2;
	b->hl = 0;
	u->fd = steal_fd(f, req);
	u->rev = event_new(f->base, u->fd, EV_READ | EV_PERSIST, on_read, u);
	u->wev = event_new(f->base, u->fd, EV_WRITE | EV_PERSIST, on_write, u);
	if (until > 0) {
		long long left = until - (long long)time(NULL);
		struct timeval tv = { left > 0 ? (time_t)left : 0, 0 };
		u->expire = evtimer_new(f->base, on_expire, u);
		if (u->expire != NULL && evtimer_add(u->expire, &tv) != 0) {
			event_free(u->expire);
			u->expire = NULL;
		}
	}
	if (u->fd < 0 || u->rev == NULL || u->wev == NULL ||
	    (until > 0 && u->expire == NULL) || event_add(u->rev, NULL) != 0) {
		/* req is gone once the socket is ours: answer nothing, close. */
		block_unref(b);
		stream_maybe_remove(f, s);
		if (u->fd < 0)
			goto fail;
		sub_close(f, u);
		*out = NULL;
		return 0;
	}
	stream_add(f, s, u);
	/* Each write is already a whole batch: Nagle would only hold it back
	 * until the peer's delayed ACK (40 ms on Linux). */
	setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) | O_NONBLOCK);
	*out = sub_put(f, u, b) == 0 ? u : NULL; /* the head and ": connected" */
	block_unref(b);
	return 0;
fail:
	if (u->expire != NULL)
		event_free(u->expire);
	free(u->filter);
	free(u);
	return -1;
}

int fanout_subscribe(struct fanout *f, struct evhttp_request *req,
                     enum fanout_kind kind, const char *tid,
                     const struct fanout_filter *filter, long long until)
{
	struct sub *u;

	return subscribe(f, req, kind, tid, filter, until, &u);
}

static int stream_queue(struct fanout *f, struct stream *s, const char *frames,
                        size_t n, size_t count)
{
	size_t room = s->pending.len == 0 ? HEAD_ROOM : 0;

	if ((room > 0 && bc_buf_append(&s->pending, "                  ", room) != 0) ||
	    bc_buf_append(&s->pending, frames, n) != 0) {
		if (room > 0)
			s->pending.len = 0;
		return -1;
	}
	s->pending_frames += count;
	f->pending_bytes += n + room;
	if (!s->dirty) {
		s->dirty = 1;
		s->dnext = f->dirty;
		f->dirty = s;
	}
	schedule_flush(f);
	return 0;
}

int fanout_publish_logs(struct fanout *f, const char *tid, const char *frames,
                        size_t n, size_t count)
{
	return fanout_publish_logs_at(f, tid, frames, n, count, NULL);
}

int fanout_publish_logs_at(struct fanout *f, const char *tid,
                           const char *frames, size_t n, size_t count,
                           const struct fanout_pos *pos)
{
	struct stream *s;
	int rc = 0;

	if (f->stopping || n == 0)
		return 0;
	if (f->pending_bytes > 0 && f->pending_bytes + n > PENDING_FLUSH)
		fanout_flush(f);
	if (f->global.nsubs > 0 || f->rings[0].max_events > 0)
		rc |= global_rewrite(f, frames, n, pos);
	s = thread_get(f, tid, 0);
	if (s != NULL && s->nsubs > 0)
		rc |= stream_queue(f, s, frames, n, count);
	if (pos != NULL)
		bus_saw(f, pos);
	return rc;
}

int fanout_publish_admin(struct fanout *f, const char *type, const char *tid,
                         const char *json, size_t n)
{
	return fanout_publish_admin_at(f, type, tid, json, n, NULL);
}

int fanout_publish_admin_at(struct fanout *f, const char *type,
                            const char *tid, const char *json, size_t n,
                            const struct fanout_pos *pos)
{
	struct ring *r = &f->rings[1];
	struct block *b;
	struct seg sg;

	if (f->stopping)
		return 0;
	if (f->admin.nsubs == 0 && r->max_events == 0) {
		seg_take(f, r, pos, 1);
	} else {
		if ((b = admin_block(f, r, pos, json, n, &sg)) == NULL)
			return -1;
		if (r->max_events > 0)
			ring_push(r, b, &sg, 1, type, tid);
		broadcast(f, &f->admin, b, type, tid);
		block_unref(b);
	}
	if (f->parked != NULL)
		park_wake(f, 0);
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
	while (f->parked != NULL) {
		struct sub *u = f->parked;
		park_drop(f, u);
		sub_end(f, u, NULL);
	}
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

/* ---- Resume -------------------------------------------------------------
 *
 * Kept apart from the delivery path above, which calls in at four points
 * only: sub_send (a resuming subscriber's batches go through seam_send),
 * sub_drain (seam_drained), sub_close (seam_sub_gone) and the global and
 * admin publishers (ring_push, global_rewrite).
 *
 * Thread streams resume from the history (the hub reads it on a worker,
 * see resume.c); the seam between that replay and live lines is here. The
 * subscriber is subscribed first and its live batches are held, not sent;
 * the replay pages are written as they come; then the held batches are
 * sent without the records the replay already sent (by seq), and for a
 * while (SEAM_FILTER_US, or until a batch only has newer seqs) later
 * batches are filtered the same way, since an emitter that re-posts after
 * a hub restart re-sends records the replay found in Redis or the spool.
 *
 * Global and admin streams resume from a ring of their latest blocks; ids
 * are "@EPOCH:N", EPOCH chosen at start. */

#define SEAM_FILTER_US 10000000

struct fanout_seam {
	struct fanout *f;
	struct sub *u;                  /* NULL once the subscriber is gone */
	int refs;                       /* the subscriber's and the owner's */
	int holding;
	int releasing;                  /* sending the held batches */
	int done;                       /* detach once they are sent */
	struct block **held;
	size_t nheld, capheld, held_bytes;
	long long *seqs;                /* replayed, ascending */
	size_t nseqs, capseqs;
	int64_t until_us;
	void (*drain_cb)(void *);
	void *drain_arg;
};

static void epoch_new(char *out, size_t n)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	struct timespec ts;
	unsigned long long v;
	char tmp[16];
	size_t k = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	v = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
	do
		tmp[k++] = digits[v % 36];
	while ((v /= 36) > 0 && k < sizeof tmp);
	for (size_t i = 0; i < k && i + 1 < n; i++)
		out[i] = tmp[k - 1 - i];
	out[k < n ? k : n - 1] = '\0';
}

static int pos_cmp(const struct fanout_pos *a, const struct fanout_pos *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

/* The segment of r's next events: of the bus entry at pos (K goes on when
 * the last one published was at pos too), or the hub's own (pos NULL).
 * Its count is 0 until the caller sets it. */
static struct seg seg_next(const struct ring *r, const struct fanout_pos *pos)
{
	struct seg sg;

	memset(&sg, 0, sizeof sg);
	if (pos == NULL) {
		sg.first = r->next;
		return sg;
	}
	sg.bus = 1;
	sg.pos = *pos;
	if (r->has_bus && pos_cmp(pos, &r->last_pos) == 0)
		sg.first = r->next_k;
	return sg;
}

/* The id of event k of sg into out. */
static void seg_id(const struct fanout *f, const struct seg *sg,
                   unsigned long long k, char *out, size_t n)
{
	if (sg->bus)
		snprintf(out, n, "@%llu-%llu:%llu", sg->pos.ms, sg->pos.seq, k);
	else
		snprintf(out, n, "@%s:%llu", f->epoch, k);
}

/* sg's events are published on r: the next ids follow them. */
static void seg_commit(struct fanout *f, struct ring *r, const struct seg *sg)
{
	if (sg->count == 0)
		return;
	if (sg->bus) {
		r->has_bus = 1;
		r->last_pos = sg->pos;
		r->next_k = sg->first + sg->count;
		if (!f->seen_any || pos_cmp(&sg->pos, &f->seen) > 0)
			f->seen = sg->pos;
		f->seen_any = 1;
	} else {
		r->next = sg->first + sg->count;
	}
	seg_id(f, sg, sg->first + sg->count - 1, r->last_id, sizeof r->last_id);
}

/* Take count ids without publishing anything. */
static void seg_take(struct fanout *f, struct ring *r,
                     const struct fanout_pos *pos, size_t count)
{
	struct seg sg = seg_next(r, pos);

	sg.count = count;
	seg_commit(f, r, &sg);
}

static const struct seg *ent_segs(const struct ring_ent *e)
{
	return e->segs != NULL ? e->segs : &e->seg;
}

static void ring_free(struct ring *r)
{
	while (r->len > 0) {
		block_unref(r->v[r->head].b);
		free(r->v[r->head].segs);
		r->head = (r->head + 1) % r->cap;
		r->len--;
	}
	free(r->v);
	r->v = NULL;
	r->cap = 0;
	free(r->pend);
	r->pend = NULL;
	r->npend = r->cappend = 0;
}

/* Keep b in r with the ids of its events: segs[0] is copied when nsegs is
 * 1, else the array (malloc'ed) is taken over. */
static void ring_push(struct ring *r, struct block *b, struct seg *segs,
                      size_t nsegs, const char *type, const char *tid)
{
	struct ring_ent *e;

	if (r->len == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct ring_ent *v = malloc(cap * sizeof *v);
		if (v == NULL) {
			if (nsegs > 1)
				free(segs);
			return;     /* older cursors then get a reset */
		}
		for (size_t i = 0; i < r->len; i++)
			v[i] = r->v[(r->head + i) % r->cap];
		free(r->v);
		r->v = v;
		r->cap = cap;
		r->head = 0;
	}
	e = &r->v[(r->head + r->len) % r->cap];
	memset(e, 0, sizeof *e);
	e->b = b;
	e->nsegs = nsegs;
	if (nsegs == 1)
		e->seg = segs[0];
	else
		e->segs = segs;
	if (type != NULL)
		snprintf(e->type, sizeof e->type, "%s", type);
	if (tid != NULL)
		snprintf(e->tid, sizeof e->tid, "%s", tid);
	b->refs++;
	r->len++;
	r->events += b->frames;
	r->bytes += b->len;
	/* Keep the caps, but always the newest block. */
	while (r->len > 1 && (r->events > r->max_events || r->bytes > r->max_bytes)) {
		struct ring_ent *old = &r->v[r->head];
		r->events -= old->b->frames;
		r->bytes -= old->b->len;
		block_unref(old->b);
		free(old->segs);
		r->head = (r->head + 1) % r->cap;
		r->len--;
	}
}

/* Append the frames (ids "tid:seq") to out with the ids of sg, counting
 * them in sg->count. 0 or -1. */
static int frames_rewrite(const struct fanout *f, struct seg *sg,
                          const char *frames, size_t n, struct bc_buf *out)
{
	const char *p = frames, *end = frames + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *fe = memmem(p, (size_t)(end - p), "\n\n", 2);
		if (nl == NULL || fe == NULL)
			break;
		fe += 2;
		unsigned long long k = sg->first + sg->count;
		if ((sg->bus ? bc_buf_printf(out, "id: @%llu-%llu:%llu", sg->pos.ms,
		                             sg->pos.seq, k)
		             : bc_buf_printf(out, "id: @%s:%llu", f->epoch, k)) != 0 ||
		    bc_buf_append(out, nl, (size_t)(fe - nl)) != 0)
			return -1;
		sg->count++;
		p = fe;
	}
	return 0;
}

/* Add sg to the ids of the pending global batch (merged into the last
 * segment when it continues it). 0 or -1. */
static int pend_add(struct ring *r, const struct seg *sg)
{
	struct seg *last = r->npend > 0 ? &r->pend[r->npend - 1] : NULL;

	if (last != NULL && last->bus == sg->bus &&
	    (!sg->bus || pos_cmp(&last->pos, &sg->pos) == 0) &&
	    last->first + last->count == sg->first) {
		last->count += sg->count;
		return 0;
	}
	if (r->npend == r->cappend) {
		size_t cap = r->cappend ? r->cappend * 2 : 8;
		struct seg *v = realloc(r->pend, cap * sizeof *v);
		if (v == NULL)
			return -1;
		r->pend = v;
		r->cappend = cap;
	}
	r->pend[r->npend++] = *sg;
	return 0;
}

/* Append the frames (ids "tid:seq") to the global stream's pending batch
 * with global ids: "@MS-SEQ:K" for a bus entry at pos, else "@EPOCH:N". */
static int global_rewrite(struct fanout *f, const char *frames, size_t n,
                          const struct fanout_pos *pos)
{
	struct ring *r = &f->rings[0];
	struct seg sg = seg_next(r, pos);
	struct bc_buf out;
	int rc = -1;

	bc_buf_init(&out, 0);
	if (frames_rewrite(f, &sg, frames, n, &out) != 0)
		goto out;
	if (sg.count == 0) {
		rc = 0;
		goto out;
	}
	if (pend_add(r, &sg) != 0)
		goto out;
	rc = stream_queue(f, &f->global, out.data, out.len, sg.count);
	if (rc == 0)
		seg_commit(f, r, &sg);
	else if ((r->pend[r->npend - 1].count -= sg.count) == 0)
		r->npend--;                     /* pend_add undone */
out:
	bc_buf_free(&out);
	return rc;
}

/* One admin event as a block, with the next id of r (at pos), taken. */
static struct block *admin_block(struct fanout *f, struct ring *r,
                                 const struct fanout_pos *pos,
                                 const char *json, size_t n, struct seg *sg)
{
	struct bc_buf buf;
	struct block *b;
	char id[ID_MAX];

	*sg = seg_next(r, pos);
	sg->count = 1;
	seg_id(f, sg, sg->first, id, sizeof id);
	bc_buf_init(&buf, 0);
	if (bc_buf_append(&buf, "                  ", HEAD_ROOM) != 0 ||
	    bc_sse_frame(&buf, id, json, n) != 0 ||
	    (b = block_from(&buf, 1)) == NULL) {
		bc_buf_free(&buf);
		return NULL;
	}
	seg_commit(f, r, sg);
	return b;
}

/* Send a ready event of the n bytes at p to u as its own chunk. */
static int put_copy(struct fanout *f, struct sub *u, const char *p, size_t n,
                    size_t frames)
{
	struct block *b = block_copy(p, n, frames);
	int rc;

	if (b == NULL)
		return -1;
	rc = sub_put(f, u, b);
	if (rc == 0)
		f->m->events_delivered += frames;
	block_unref(b);
	return rc;
}

/* The data of a chunk block (its frames). */
static const char *block_frames(const struct block *b, size_t *n)
{
	if (b->hl == 0) {
		*n = b->len;
		return b->data;
	}
	*n = b->len - b->hl - 2;
	return b->data + b->hl;
}

/* The frame at p (up to end): its length, and in *seq the number after the
 * last ':' of its id line (-1 when none). */
static size_t frame_at(const char *p, const char *end, long long *seq)
{
	const char *fe = memmem(p, (size_t)(end - p), "\n\n", 2);
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *c;

	*seq = -1;
	fe = fe != NULL ? fe + 2 : end;
	if (nl != NULL && end - p > 4 && memcmp(p, "id: ", 4) == 0) {
		for (c = nl; c > p && c[-1] != ':'; c--)
			;
		if (c > p) {
			char *e;
			long long v = strtoll(c, &e, 10);
			if (e == nl)
				*seq = v;
		}
	}
	return (size_t)(fe - p);
}

/* Where the replay after cursor c starts in r: 1 with *ent and *ev (the
 * ring entry and its event; ev may be the entry's frame count: the next
 * entry), 0 when r holds no event of c's kind at or before c. *oldest is
 * set to the first id of the oldest such segment (0 if none). */
static int ring_find(const struct ring *r, const struct fanout_cursor *c,
                     size_t *ent, size_t *ev, unsigned long long *oldest)
{
	*oldest = 0;
	for (size_t i = r->len; i-- > 0;) {
		const struct ring_ent *e = &r->v[(r->head + i) % r->cap];
		const struct seg *sv = ent_segs(e);
		size_t end = e->b->frames;
		for (size_t j = e->nsegs; j-- > 0;) {
			const struct seg *sg = &sv[j];
			size_t start = end - sg->count, k;
			end = start;
			if (sg->bus != c->bus || sg->count == 0)
				continue;
			if (c->bus && pos_cmp(&sg->pos, &c->pos) < 0)
				k = sg->count;
			else if ((c->bus && pos_cmp(&sg->pos, &c->pos) > 0) ||
			         sg->first > c->n) {
				*oldest = sg->first;
				continue;
			} else if (c->n - sg->first + 1 < sg->count)
				k = (size_t)(c->n - sg->first + 1);
			else
				k = sg->count;
			*ent = i;
			*ev = start + k;
			return 1;
		}
	}
	return 0;
}

/* Where the local event *oldest is in r (see ring_find). */
static void ring_find_local(const struct ring *r, unsigned long long n,
                            size_t *ent, size_t *ev)
{
	for (size_t i = 0; i < r->len; i++) {
		const struct ring_ent *e = &r->v[(r->head + i) % r->cap];
		const struct seg *sv = ent_segs(e);
		size_t start = 0;
		for (size_t j = 0; j < e->nsegs; start += sv[j++].count) {
			if (!sv[j].bus && sv[j].first == n) {
				*ent = i;
				*ev = start;
				return;
			}
		}
	}
}

/* Send u the ring's events from event ev of entry ent on. */
static void ring_replay(struct fanout *f, struct sub *u, const struct ring *r,
                        size_t ent, size_t ev)
{
	for (size_t i = ent; i < r->len; i++, ev = 0) {
		struct ring_ent *e = &r->v[(r->head + i) % r->cap];
		size_t nf = e->b->frames, len, off = 0;
		const char *p;
		if (ev >= nf || !filter_match(u->filter, e->type, e->tid))
			continue;
		if (ev == 0) {
			if (sub_put(f, u, e->b) != 0)
				return;
			f->m->events_delivered += nf;
			continue;
		}
		p = block_frames(e->b, &len);
		for (size_t k = 0; k < ev; k++) {
			long long dummy;
			off += frame_at(p + off, p + len, &dummy);
		}
		if (off < len && put_copy(f, u, p + off, len - off, nf - ev) != 0)
			return;
	}
}

static void send_reset(struct fanout *f, struct sub *u, const struct ring *r,
                       const char *reason, const char *cursor,
                       const char *missed)
{
	char data[256];
	struct bc_buf frame;

	snprintf(data, sizeof data,
	         "{\"reason\":\"%s\",\"cursor\":\"%s\",\"missed\":%s}", reason,
	         cursor, missed);
	bc_buf_init(&frame, 0);
	if (bc_buf_printf(&frame, "id: %s\nevent: reset\n", r->last_id) == 0 &&
	    bc_sse_frame(&frame, NULL, data, strlen(data)) == 0)
		put_copy(f, u, frame.data, frame.len, 1);
	bc_buf_free(&frame);
	f->m->resume_resets++;
}

/* Waiting for the bus entry of a cursor: the subscriber is off its stream
 * (its socket open, counted) until the hub has that entry, or for
 * BUS_WAIT_S. */
#define BUS_WAIT_S 2

struct park {
	enum fanout_kind kind;
	struct fanout_cursor c;
	struct event *timer;
};

static void serve_cursor(struct fanout *f, struct sub *u, enum fanout_kind kind,
                         const struct fanout_cursor *c, int may_wait);

/* Take u off the parked list (it stays off any stream). */
static void park_drop(struct fanout *f, struct sub *u)
{
	struct park *pk = u->park;

	sub_unlink(&f->parked, u);
	f->counts[pk->kind]--;
	event_free(pk->timer);
	free(pk);
	u->park = NULL;
}

/* Serve parked u now (from the ring, or a reset when its entry is still
 * not here). */
static void park_serve(struct fanout *f, struct sub *u)
{
	struct park *pk = u->park;
	enum fanout_kind kind = pk->kind;
	struct fanout_cursor c = pk->c;

	park_drop(f, u);
	stream_add(f, kind == FANOUT_ADMIN ? &f->admin : &f->global, u);
	serve_cursor(f, u, kind, &c, 0);
}

static int bus_has(const struct fanout *f, const struct fanout_cursor *c)
{
	return f->seen_any && pos_cmp(&c->pos, &f->seen) <= 0;
}

/* Serve the parked subscribers whose entry has arrived (all when force),
 * except global ones while the global batch is pending (its flush calls
 * again). */
static void park_wake(struct fanout *f, int force)
{
	struct sub *u, *next;

	for (u = f->parked; u != NULL; u = next) {
		next = u->next;
		if ((force || bus_has(f, &u->park->c)) &&
		    !(u->park->kind == FANOUT_GLOBAL && f->global.pending.len > 0))
			park_serve(f, u);
	}
}

static void on_park_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sub *u = arg;
	struct fanout *f = u->f;

	(void)fd;
	(void)what;
	fanout_flush(f);        /* may serve u */
	if (u->park != NULL)
		park_serve(f, u);
}

/* Park u (on kind's stream) until the hub has c's entry. 0 or -1. */
static int park(struct fanout *f, struct sub *u, enum fanout_kind kind,
                const struct fanout_cursor *c)
{
	struct park *pk = calloc(1, sizeof *pk);
	struct timeval tv = { BUS_WAIT_S, 0 };

	if (pk == NULL || (pk->timer = evtimer_new(f->base, on_park_timeout, u)) == NULL ||
	    evtimer_add(pk->timer, &tv) != 0) {
		if (pk != NULL && pk->timer != NULL)
			event_free(pk->timer);
		free(pk);
		return -1;
	}
	pk->kind = kind;
	pk->c = *c;
	sub_detach(f, u);
	f->counts[kind]++;
	u->park = pk;
	sub_link(&f->parked, u);
	return 0;
}

/* u, on kind's stream with nothing pending there, resumes from c: the
 * ring's events after it, or one reset; or, for a bus cursor the hub has
 * not reached yet while a bus is on and may_wait, it waits (park). */
static void serve_cursor(struct fanout *f, struct sub *u, enum fanout_kind kind,
                         const struct fanout_cursor *c, int may_wait)
{
	struct ring *r = &f->rings[kind == FANOUT_ADMIN ? 1 : 0];
	const char *reason = "expired";
	char missed[32] = "null";
	size_t ent = r->len, ev = 0;
	unsigned long long oldest;
	int at_end;

	if (c->bus) {
		if (!bus_has(f, c)) {
			if (may_wait && (f->bus || f->seen_any) &&
			    park(f, u, kind, c) == 0)
				return;
			if (!f->bus && !f->seen_any)
				reason = "epoch";
			goto reset;
		}
		at_end = !r->has_bus ||
		         pos_cmp(&c->pos, &r->last_pos) > 0 ||
		         (pos_cmp(&c->pos, &r->last_pos) == 0 && c->n + 1 >= r->next_k);
	} else {
		if (strcmp(c->epoch, f->epoch) != 0) {
			reason = "epoch";
			goto reset;
		}
		if (c->n >= r->next)
			goto reset;
		at_end = c->n + 1 == r->next;
	}
	if (!ring_find(r, c, &ent, &ev, &oldest) && !at_end) {
		if (c->bus || oldest != c->n + 1) {
			if (!c->bus)
				snprintf(missed, sizeof missed, "%llu",
				         (oldest ? oldest : r->next) - c->n - 1);
			goto reset;
		}
		ring_find_local(r, oldest, &ent, &ev);
	}
	f->m->resumes++;
	ring_replay(f, u, r, ent, ev);
	return;
reset:
	send_reset(f, u, r, reason, c->text, missed);
}

int fanout_subscribe_cursor(struct fanout *f, struct evhttp_request *req,
                            enum fanout_kind kind,
                            const struct fanout_filter *filter,
                            const struct fanout_cursor *c, long long until)
{
	struct sub *u;

	fanout_flush(f);      /* nothing pending: the ring holds all but live */
	if (subscribe(f, req, kind, NULL, filter, until, &u) != 0)
		return -1;
	if (u != NULL)
		serve_cursor(f, u, kind, c, 1);
	return 0;
}

/* ---- the seam of a resuming thread subscriber ---- */

static void seam_unref(struct fanout_seam *s)
{
	if (--s->refs > 0)
		return;
	for (size_t i = 0; i < s->nheld; i++)
		block_unref(s->held[i]);
	free(s->held);
	free(s->seqs);
	free(s);
}

/* u stops filtering (the seam is done with it). */
static void seam_detach(struct sub *u)
{
	struct fanout_seam *s = u->seam;

	u->seam = NULL;
	s->u = NULL;
	for (size_t i = 0; i < s->nheld; i++)
		block_unref(s->held[i]);
	s->nheld = 0;
	seam_unref(s);
}

static void seam_sub_gone(struct sub *u)
{
	seam_detach(u);
}

static void seam_drained(struct sub *u)
{
	struct fanout_seam *s = u->seam;
	void (*cb)(void *) = s->drain_cb;

	if (cb == NULL)
		return;
	s->drain_cb = NULL;
	cb(s->drain_arg);
}

static int replayed(const struct fanout_seam *s, long long seq)
{
	size_t lo = 0, hi = s->nseqs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->seqs[mid] == seq)
			return 1;
		if (s->seqs[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* b without the records the replay sent: 0 when b goes as is (*newer set
 * when all its records are above the replay), 1 with *out the filtered
 * copy (NULL when nothing is left, or out of memory). */
static int seam_filter(struct fanout_seam *s, struct block *b,
                       struct block **out, int *newer)
{
	size_t len, off = 0, kept = 0, frames = 0;
	const char *p = block_frames(b, &len);
	long long max = s->nseqs > 0 ? s->seqs[s->nseqs - 1] : -1;
	struct bc_buf buf;
	int drop = 0;

	*out = NULL;
	*newer = 1;
	while (off < len) {
		long long seq;
		size_t fl = frame_at(p + off, p + len, &seq);
		if (seq <= max)
			*newer = 0;
		if (seq >= 0 && replayed(s, seq))
			drop = 1;
		off += fl;
	}
	if (!drop)
		return 0;
	bc_buf_init(&buf, 0);
	for (off = 0; off < len;) {
		long long seq;
		size_t fl = frame_at(p + off, p + len, &seq);
		if (seq < 0 || !replayed(s, seq)) {
			if (bc_buf_append(&buf, p + off, fl) != 0)
				break;
			kept += fl;
			frames++;
		}
		off += fl;
	}
	if (kept > 0)
		*out = block_copy(buf.data, buf.len, frames);
	bc_buf_free(&buf);
	return 1;
}

/* The seam is done with u: detach it, or, while the held batches are being
 * released, once they all are (s->u stays set until then: the release
 * loop stops only when the subscriber is gone). */
static void seam_done(struct sub *u)
{
	if (u->seam->releasing)
		u->seam->done = 1;
	else
		seam_detach(u);
}

/* A batch for a resuming subscriber: held, filtered, or (0) sent as is. */
static int seam_send(struct fanout *f, struct sub *u, struct block *b)
{
	struct fanout_seam *s = u->seam;
	struct block *nb;
	int newer;

	if (s->holding) {
		if (s->nheld == s->capheld) {
			size_t cap = s->capheld ? s->capheld * 2 : 16;
			struct block **v = realloc(s->held, cap * sizeof *v);
			if (v == NULL) {
				sub_close(f, u);    /* cannot keep the stream whole */
				return 1;
			}
			s->held = v;
			s->capheld = cap;
		}
		b->refs++;
		s->held[s->nheld++] = b;
		s->held_bytes += b->len;
		if (s->held_bytes > f->o.backlog)
			sub_slow(f, u);
		return 1;
	}
	if (bc_mono_us() > s->until_us) {
		seam_done(u);
		return 0;
	}
	if (seam_filter(s, b, &nb, &newer) == 0) {
		if (newer)
			seam_done(u);
		return 0;
	}
	if (nb != NULL) {
		if (sub_put(f, u, nb) == 0)
			f->m->events_delivered += nb->frames;
		block_unref(nb);
	}
	return 1;
}

int fanout_subscribe_seam(struct fanout *f, struct evhttp_request *req,
                          const char *tid, long long until,
                          struct fanout_seam **seam)
{
	struct fanout_seam *s = calloc(1, sizeof *s);
	struct sub *u;

	*seam = NULL;
	if (s == NULL)
		return -1;
	if (subscribe(f, req, FANOUT_THREAD, tid, NULL, until, &u) != 0) {
		free(s);
		return -1;
	}
	s->f = f;
	s->holding = 1;
	s->refs = 1;
	if (u != NULL) {
		s->u = u;
		s->refs++;
		u->seam = s;
	}
	f->m->resumes++;
	*seam = s;
	return 0;
}

int fanout_seam_replay(struct fanout_seam *s, const char *frames, size_t n,
                       size_t count, const long long *seqs, size_t nseqs)
{
	if (s->u == NULL)
		return -1;
	if (s->nseqs + nseqs > s->capseqs) {
		size_t cap = (s->nseqs + nseqs) * 2;
		long long *v = realloc(s->seqs, cap * sizeof *v);
		if (v == NULL)
			return -1;
		s->seqs = v;
		s->capseqs = cap;
	}
	for (size_t i = 0; i < nseqs; i++)
		if (s->nseqs == 0 || seqs[i] > s->seqs[s->nseqs - 1])
			s->seqs[s->nseqs++] = seqs[i];
	if (n > 0 && put_copy(s->f, s->u, frames, n, count) != 0)
		return -1;
	return s->u != NULL ? 0 : -1;
}

int fanout_seam_wait(struct fanout_seam *s, void (*cb)(void *), void *arg)
{
	if (s->u == NULL || s->u->backlog <= s->f->o.backlog / 4)
		return 0;
	s->drain_cb = cb;
	s->drain_arg = arg;
	return 1;
}

long long fanout_seam_first_held(const struct fanout_seam *s)
{
	long long min = -1;

	for (size_t i = 0; i < s->nheld; i++) {
		size_t len, off = 0;
		const char *p = block_frames(s->held[i], &len);
		while (off < len) {
			long long seq;
			off += frame_at(p + off, p + len, &seq);
			if (seq >= 0 && (min < 0 || seq < min))
				min = seq;
		}
	}
	return min;
}

int fanout_seam_alive(const struct fanout_seam *s)
{
	return s->u != NULL;
}

void fanout_seam_release(struct fanout_seam *s)
{
	struct fanout *f = s->f;
	struct sub *u = s->u;

	s->drain_cb = NULL;
	if (u != NULL) {
		size_t nheld = s->nheld;
		struct block **held = s->held;
		s->held = NULL;
		s->nheld = s->capheld = 0;
		s->holding = 0;
		s->until_us = bc_mono_us() + SEAM_FILTER_US;
		s->releasing = 1;
		for (size_t i = 0; i < nheld; i++) {
			if (s->u != NULL)       /* NULL: the subscriber is gone */
				sub_send(f, u, held[i]);
			block_unref(held[i]);
		}
		free(held);
		s->releasing = 0;
		if (s->u != NULL && (s->done || s->nseqs == 0))
			seam_detach(u);
	}
	seam_unref(s);
}

void fanout_seam_fail(struct fanout_seam *s, const char *comment)
{
	struct sub *u = s->u;

	s->drain_cb = NULL;
	if (u != NULL && !u->ending)
		sub_end(s->f, u, comment);
	seam_unref(s);
}

const char *fanout_epoch(const struct fanout *f)
{
	return f->epoch;
}

/* The hub has every entry up to pos, without waking the parked: a
 * prefill marks each entry so, and the bus calls fanout_bus_seen once the
 * whole prefill is in the ring (a subscriber woken half way would have
 * had the rest of the prefill go to the ring only: a gap). */
static void bus_mark(struct fanout *f, const struct fanout_pos *pos)
{
	if (!f->seen_any || pos_cmp(pos, &f->seen) > 0)
		f->seen = *pos;
	f->seen_any = 1;
}

static void bus_saw(struct fanout *f, const struct fanout_pos *pos)
{
	bus_mark(f, pos);
	if (f->parked != NULL)
		park_wake(f, 0);
}

/* A prefill at pos is news: the hub has nothing at or after it. */
static int prefill_new(const struct fanout *f, const struct fanout_pos *pos)
{
	return !f->stopping && pos != NULL &&
	       (!f->seen_any || pos_cmp(pos, &f->seen) > 0);
}

int fanout_prefill_logs(struct fanout *f, const char *tid, const char *frames,
                        size_t n, size_t count, const struct fanout_pos *pos)
{
	struct ring *r = &f->rings[0];
	struct seg sg;
	struct bc_buf buf;
	struct block *b = NULL;

	(void)tid;
	(void)count;
	if (!prefill_new(f, pos))
		return 0;
	if (r->max_events > 0) {
		if (f->global.pending.len > 0)
			fanout_flush(f);        /* the ring stays in order */
		sg = seg_next(r, pos);
		bc_buf_init(&buf, 0);
		if (bc_buf_append(&buf, "                  ", HEAD_ROOM) != 0 ||
		    frames_rewrite(f, &sg, frames, n, &buf) != 0 ||
		    (sg.count > 0 && (b = block_from(&buf, sg.count)) == NULL)) {
			bc_buf_free(&buf);
			return -1;
		}
		bc_buf_free(&buf);
		if (b != NULL) {
			ring_push(r, b, &sg, 1, NULL, NULL);
			block_unref(b);
			seg_commit(f, r, &sg);
		}
	}
	bus_mark(f, pos);
	return 0;
}

int fanout_prefill_admin(struct fanout *f, const char *type, const char *tid,
                         const char *json, size_t n,
                         const struct fanout_pos *pos)
{
	struct ring *r = &f->rings[1];
	struct block *b;
	struct seg sg;

	if (!prefill_new(f, pos))
		return 0;
	if (r->max_events > 0) {
		if ((b = admin_block(f, r, pos, json, n, &sg)) == NULL)
			return -1;
		ring_push(r, b, &sg, 1, type, tid);
		block_unref(b);
	}
	bus_mark(f, pos);
	return 0;
}

void fanout_set_bus(struct fanout *f, int on)
{
	f->bus = on;
	if (!on && f->parked != NULL) {
		fanout_flush(f);
		park_wake(f, 1);
	}
}

void fanout_bus_seen(struct fanout *f, const struct fanout_pos *pos)
{
	bus_saw(f, pos);
}
