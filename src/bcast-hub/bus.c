/* bus.c - the generic part of the bus between hubs (see bus.h and
 * docs/bus.md).
 *
 * Own messages. Every message this hub appends gets the next q of its
 * origin and stays in a queue, oldest first, until it comes back from the
 * bus: while the link is up the hub delivers it only then (with the
 * entry's position, like every other hub). When the link goes down, every
 * queued message not yet delivered is delivered at once with local ids,
 * and so is each later ingest; they all stay queued (the outbox, capped at
 * --bus-outbox bytes, oldest dropped first) and are appended again, in
 * order, when the link comes back. A message that comes back after it was
 * delivered is skipped, so each is delivered once here; other hubs skip a
 * copy by q.
 *
 * Other origins. Per origin the highest q delivered is kept (a bounded
 * table, least recently seen evicted); an entry at or below it is a copy
 * and skipped.
 *
 * Every received message is checked as if a client had posted it: the
 * header by bc_busmsg_parse, each record by hub_ingest_line (its thread id
 * must be the header's), an admin event by bc_event_decode. Anything that
 * fails is dropped whole and counted; nothing of it reaches the fan-out. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bc_busmsg.h"
#include "bc_clock.h"
#include "bc_record.h"
#include "cli.h"
#include "hub.h"

#define ORIGINS_MAX 4096    /* origins whose high-water mark is kept */
#define LOG_PERIOD_MS 10000 /* bus_log: at most LOG_BUDGET lines per period */
#define LOG_BUDGET 5

struct own {
	struct own *next;
	unsigned long long q;
	int delivered;
	size_t n;                   /* the message: msg[0..n) */
	size_t fn, count;           /* logs: its frames, msg[n..n+fn), count events */
	char tid[BC_TID_MAX + 1];   /* logs: the thread */
	char msg[];
};

/* The frames of a log message this hub made (to deliver it without
 * decoding it again); NULL/0 for an admin event. */
struct own_frames {
	const char *tid, *frames;
	size_t n, count;
};

struct origin {
	char id[BC_BUSMSG_ORIGIN_LEN + 1];
	unsigned long long q;       /* highest delivered */
	unsigned long long seen;    /* b->clock when last seen */
};

struct bus {
	struct hub *h;
	const struct bus_transport *ops;
	void *t;
	int up, was_up;
	char origin[BC_BUSMSG_ORIGIN_LEN + 1];
	unsigned long long q;       /* last q given to an own message */
	struct own *head, *tail;    /* own messages not back from the bus */
	size_t own_bytes, own_max;
	struct origin *origins;
	size_t norigins;
	unsigned long long clock;
	size_t prefill;
	struct fanout_pos pre_pos;  /* the last prefilled entry */
	struct event *pre_done;     /* then: wake the resumes waiting for it */
	int64_t log_period_ms;
	unsigned log_used;
	unsigned long log_left_out;
	struct bc_buf msg, frames, json;   /* scratch */
	char err[256];
};

static void new_origin(char *out)
{
	unsigned char r[BC_BUSMSG_ORIGIN_LEN / 2];
	struct timespec ts;
	size_t i;

	if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		             ((uint64_t)getpid() << 40);
		memcpy(r, &x, sizeof r);
	}
	for (i = 0; i < sizeof r; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

struct bus *bus_new(struct hub *h)
{
	struct bus *b = calloc(1, sizeof *b);

	if (b == NULL)
		return NULL;
	b->origins = calloc(ORIGINS_MAX, sizeof *b->origins);
	if (b->origins == NULL) {
		free(b);
		return NULL;
	}
	b->h = h;
	b->own_max = BUS_OUTBOX_MAX;
	new_origin(b->origin);
	bc_buf_init(&b->msg, 0);
	/* JSON re-encoding can grow a line (U+FFFD for bad bytes), never 4x. */
	bc_buf_init(&b->frames, 4 * h->max_body + 65536);
	bc_buf_init(&b->json, 0);
	return b;
}

void bus_attach(struct bus *b, const struct bus_transport *ops, void *t)
{
	b->ops = ops;
	b->t = t;
	b->h->metrics->bus_on = 1;
	fanout_set_bus(b->h->fanout, 1);
}

void bus_set_prefill(struct bus *b, size_t entries)
{
	b->prefill = entries;
}

void bus_set_outbox(struct bus *b, size_t bytes)
{
	b->own_max = bytes;
}

size_t bus_prefill_want(const struct bus *b)
{
	return b->prefill;
}

void bus_free(struct bus *b)
{
	struct own *o, *next;

	if (b == NULL)
		return;
	if (b->ops != NULL)
		b->ops->free(b->t);
	if (b->pre_done != NULL)
		event_free(b->pre_done);
	for (o = b->head; o != NULL; o = next) {
		next = o->next;
		free(o);
	}
	free(b->origins);
	bc_buf_free(&b->msg);
	bc_buf_free(&b->frames);
	bc_buf_free(&b->json);
	free(b);
}

int bus_up(const struct bus *b)
{
	return b->ops != NULL && b->up;
}

const char *bus_name(const struct bus *b)
{
	return b->ops != NULL ? b->ops->name : "none";
}

const char *bus_origin(const struct bus *b)
{
	return b->origin;
}

void bus_log(struct bus *b, const char *fmt, ...)
{
	int64_t now = bc_now_ms();
	char line[512];
	va_list ap;

	if (now - b->log_period_ms >= LOG_PERIOD_MS) {
		b->log_period_ms = now;
		b->log_used = 0;
	}
	if (b->log_used >= LOG_BUDGET) {
		b->log_left_out++;
		return;
	}
	b->log_used++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (b->log_left_out > 0)
		bc_warn("bus: %s (%lu similar messages left out)", line,
		        b->log_left_out);
	else
		bc_warn("bus: %s", line);
	b->log_left_out = 0;
}

static void gauge_outbox(struct bus *b)
{
	b->h->metrics->bus_outbox_bytes = b->own_bytes;
}

/* ---- Checking and delivering one message ---- */

/* Check the payload of m and publish it (pos: the bus position, NULL for
 * local ids), or only put it into the rings when prefill. 0, or -1 when
 * it is malformed (nothing published; the reason in b->err). */
static int deliver(struct bus *b, const struct bc_busmsg *m,
                   const struct fanout_pos *pos, int prefill)
{
	struct fanout *f = b->h->fanout;
	const char *p = m->payload, *end = m->payload + m->payload_len;
	size_t count = 0;
	int rc;

	if (m->kind == BC_BUSMSG_ADMIN) {
		struct bc_event e;
		memset(&e, 0, sizeof e);
		bc_buf_reset(&b->json);
		if (bc_event_decode(p, m->payload_len, &e, b->err, sizeof b->err) != 0) {
			bc_event_clear(&e);
			return -1;
		}
		rc = bc_event_encode(&e, &b->json);
		if (rc == 0)
			rc = prefill ? fanout_prefill_admin(f, e.type, e.thread_id,
			                                    b->json.data, b->json.len, pos)
			             : fanout_publish_admin_at(f, e.type, e.thread_id,
			                                       b->json.data, b->json.len,
			                                       pos);
		bc_event_clear(&e);
		return rc == 0 ? 0 : (snprintf(b->err, sizeof b->err, "out of memory"), -1);
	}
	bc_buf_reset(&b->frames);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char why[200];

		rc = hub_ingest_line(m->tid, p, n, &b->frames, &b->json, why,
		                     sizeof why);
		if (rc < 0) {
			snprintf(b->err, sizeof b->err, "record %zu: %s", count + 1, why);
			return -1;
		}
		count += (size_t)rc;
		p += n + 1;
	}
	if (count == 0) {
		snprintf(b->err, sizeof b->err, "no records");
		return -1;
	}
	rc = prefill ? fanout_prefill_logs(f, m->tid, b->frames.data, b->frames.len,
	                                   count, pos)
	             : fanout_publish_logs_at(f, m->tid, b->frames.data,
	                                      b->frames.len, count, pos);
	return rc;
}

/* Deliver an own message at pos (NULL: local ids, the link is down): its
 * frames as this hub made them, or an admin event checked again. */
static void deliver_own(struct bus *b, struct own *o,
                        const struct fanout_pos *pos)
{
	struct bc_busmsg m;

	o->delivered = 1;
	if (o->fn > 0)
		fanout_publish_logs_at(b->h->fanout, o->tid, o->msg + o->n, o->fn,
		                       o->count, pos);
	else if (bc_busmsg_parse(o->msg, o->n, &m, b->err, sizeof b->err) == 0)
		deliver(b, &m, pos, 0);
}

static void deliver_local(struct bus *b, struct own *o)
{
	deliver_own(b, o, NULL);
}

/* ---- Own messages ---- */

static void own_pop(struct bus *b)
{
	struct own *o = b->head;

	b->head = o->next;
	if (b->head == NULL)
		b->tail = NULL;
	b->own_bytes -= o->n + o->fn;
	free(o);
}

/* Queue a copy of the n-byte message of number q (and of its frames, fr
 * NULL for none). NULL on out-of-memory. */
static struct own *own_push(struct bus *b, unsigned long long q,
                            const char *msg, size_t n,
                            const struct own_frames *fr, int delivered)
{
	size_t fn = fr != NULL ? fr->n : 0;
	struct own *o = malloc(sizeof *o + n + fn);

	if (o == NULL)
		return NULL;
	o->next = NULL;
	o->q = q;
	o->delivered = delivered;
	o->n = n;
	o->fn = fn;
	o->count = fr != NULL ? fr->count : 0;
	o->tid[0] = '\0';
	memcpy(o->msg, msg, n);
	if (fr != NULL) {
		memcpy(o->msg + n, fr->frames, fn);
		snprintf(o->tid, sizeof o->tid, "%s", fr->tid);
	}
	if (b->tail != NULL)
		b->tail->next = o;
	else
		b->head = o;
	b->tail = o;
	b->own_bytes += n + fn;
	/* The outbox cap: the oldest go first (delivered here in any case). */
	while (b->own_bytes > b->own_max && b->head != o) {
		if (!b->head->delivered)
			deliver_local(b, b->head);
		b->h->metrics->bus_outbox_dropped++;
		own_pop(b);
	}
	gauge_outbox(b);
	return o;
}

/* The link is gone: what was appended but is not back is delivered now. */
static void link_lost(struct bus *b)
{
	struct own *o;

	b->up = 0;
	b->h->metrics->bus_up = 0;
	for (o = b->head; o != NULL; o = o->next)
		if (!o->delivered)
			deliver_local(b, o);
}

void bus_on_link(struct bus *b, int up)
{
	struct own *o;

	if (!up) {
		if (b->up)
			link_lost(b);
		return;
	}
	if (b->up)
		return;
	if (b->was_up)
		b->h->metrics->bus_reconnects++;
	b->was_up = 1;
	b->up = 1;
	b->h->metrics->bus_up = 1;
	/* The outbox first, in order; the others deliver it, we skip it. */
	for (o = b->head; o != NULL; o = o->next) {
		if (b->ops->append(b->t, o->msg, o->n) != 0) {
			link_lost(b);
			return;
		}
		b->h->metrics->bus_published++;
	}
}

/* Send the message in b->msg (number q): appended while the link is up,
 * else (or when the append fails) delivered at once. already: the caller
 * delivered it itself. 0 or -1. */
static int send_msg(struct bus *b, unsigned long long q,
                    const struct own_frames *fr, int already)
{
	struct own *o;

	if (b->up && b->ops->append(b->t, b->msg.data, b->msg.len) != 0)
		link_lost(b);
	if (b->up) {
		b->h->metrics->bus_published++;
		return own_push(b, q, b->msg.data, b->msg.len, fr, 0) != NULL ? 0 : -1;
	}
	o = own_push(b, q, b->msg.data, b->msg.len, fr, 1);
	if (o == NULL)
		return -1;
	if (!already) {
		o->delivered = 0;
		deliver_local(b, o);
	}
	return 0;
}

/* ---- Received entries ---- */

static struct origin *origin_find(struct bus *b, const char *id, int add)
{
	struct origin *lru = NULL;
	size_t i;

	b->clock++;
	for (i = 0; i < b->norigins; i++) {
		struct origin *o = &b->origins[i];
		if (strcmp(o->id, id) == 0) {
			o->seen = b->clock;
			return o;
		}
		if (lru == NULL || o->seen < lru->seen)
			lru = o;
	}
	if (!add)
		return NULL;
	if (b->norigins < ORIGINS_MAX)
		lru = &b->origins[b->norigins++];
	memcpy(lru->id, id, sizeof lru->id);
	lru->q = 0;
	lru->seen = b->clock;
	return lru;
}

/* "MS-SEQ" into pos. 0 or -1. */
static int parse_id(const char *id, struct fanout_pos *pos)
{
	char *end;

	if (id == NULL || id[0] < '0' || id[0] > '9')
		return -1;
	pos->ms = strtoull(id, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	pos->seq = strtoull(end + 1, &end, 10);
	return *end == '\0' ? 0 : -1;
}

static void dropped(struct bus *b, const char *id, const char *why)
{
	b->h->metrics->bus_dropped++;
	bus_log(b, "entry %s dropped: %s", id != NULL ? id : "?", why);
}

static void on_prefill_done(evutil_socket_t fd, short what, void *arg)
{
	struct bus *b = arg;

	(void)fd;
	(void)what;
	fanout_bus_seen(b->h->fanout, &b->pre_pos);
}

/* An entry (prefill: from before this hub joined). */
static void entry(struct bus *b, const char *id, const char *msg, size_t n,
                  int prefill)
{
	struct fanout_pos pos;
	struct bc_busmsg m;
	struct origin *o;
	int mine;

	if (parse_id(id, &pos) != 0) {
		dropped(b, id, "bad entry id");
		return;
	}
	if (msg == NULL) {
		dropped(b, id, "no message field");
		goto seen;
	}
	if (bc_busmsg_parse(msg, n, &m, b->err, sizeof b->err) != 0) {
		dropped(b, id, b->err);
		goto seen;
	}
	mine = strcmp(m.origin, b->origin) == 0;
	if (mine && !prefill) {
		/* Earlier own messages that never came back: theirs was lost
		 * (never the case while the transport keeps order). */
		while (b->head != NULL && b->head->q < m.q) {
			if (!b->head->delivered)
				deliver_local(b, b->head);
			own_pop(b);
		}
		if (b->head == NULL || b->head->q != m.q)
			goto seen;              /* a copy: delivered already */
		if (b->head->delivered) {
			own_pop(b);
			gauge_outbox(b);
			goto seen;
		}
		deliver_own(b, b->head, &pos);
		own_pop(b);
		gauge_outbox(b);
		goto seen;
	}
	o = origin_find(b, m.origin, 0);
	if (o != NULL && m.q <= o->q)
		goto seen;                      /* a copy */
	if (deliver(b, &m, &pos, prefill) != 0) {
		dropped(b, id, b->err);
		goto seen;
	}
	if (o == NULL)
		o = origin_find(b, m.origin, 1);
	o->q = m.q;
seen:
	if (!prefill) {
		fanout_bus_seen(b->h->fanout, &pos);
		return;
	}
	/* Resumes waiting for the bus are woken once the whole prefill (what
	 * the transport hands over in this turn of the loop) is in. */
	b->pre_pos = pos;
	if (b->pre_done == NULL)
		b->pre_done = evtimer_new(b->h->base, on_prefill_done, b);
	if (b->pre_done != NULL && !evtimer_pending(b->pre_done, NULL)) {
		struct timeval now = { 0, 0 };
		evtimer_add(b->pre_done, &now);
	}
}

void bus_on_entry(struct bus *b, const char *id, const char *msg, size_t n)
{
	b->h->metrics->bus_received++;
	entry(b, id, msg, n, 0);
}

void bus_on_prefill(struct bus *b, const char *id, const char *msg, size_t n)
{
	entry(b, id, msg, n, 1);
}

/* ---- Publishing ---- */

/* The next record of SSE frames: the text of the "data: " line after *p
 * (frames end at end). NULL when there is none. */
static const char *next_record(const char **p, const char *end, size_t *n)
{
	while (*p < end) {
		const char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);

		*p = nl != NULL ? nl + 1 : end;
		if (len >= 6 && memcmp(line, "data: ", 6) == 0) {
			*n = len - 6;
			return line + 6;
		}
	}
	return NULL;
}

int hub_publish_logs(struct hub *h, const char *tid, const char *frames,
                     size_t n, size_t count)
{
	struct bus *b = h->bus;
	const char *p = frames, *end = frames + n, *rec, *before = frames;
	struct own_frames fr = { tid, frames, 0, 0 };
	size_t len;
	int already = 0, rc = 0;

	if (b == NULL || b->ops == NULL)
		return fanout_publish_logs(h->fanout, tid, frames, n, count);
	if (count == 0)
		return 0;
	if (!b->up) {
		/* Down: delivered at once, as without a bus, and kept. */
		if (fanout_publish_logs(h->fanout, tid, frames, n, count) != 0)
			return -1;
		already = 1;
	}
	/* One message per BUS_ENTRY_MAX of records; each keeps its frames
	 * (the bytes from its first record's frame to the next message's). */
	bc_buf_reset(&b->msg);
	while ((rec = next_record(&p, end, &len)) != NULL) {
		if (fr.count > 0 && b->msg.len + len + 1 > BUS_ENTRY_MAX) {
			fr.n = (size_t)(before - fr.frames);
			rc |= send_msg(b, b->q, &fr, already);
			bc_buf_reset(&b->msg);
			fr.frames = before;
			fr.count = 0;
		}
		if (fr.count == 0 && bc_busmsg_head(&b->msg, BC_BUSMSG_LOGS,
		                                    b->origin, ++b->q, tid) != 0)
			return -1;
		if (bc_buf_append(&b->msg, rec, len) != 0 ||
		    bc_buf_append(&b->msg, "\n", 1) != 0)
			return -1;
		fr.count++;
		while (p < end && *p == '\n')
			p++;            /* the frame's end: the next one starts */
		before = p;
	}
	if (fr.count > 0) {
		fr.n = (size_t)(end - fr.frames);
		rc |= send_msg(b, b->q, &fr, already);
	}
	return rc;
}

int hub_publish_admin(struct hub *h, const char *type, const char *tid,
                      const char *json, size_t n)
{
	struct bus *b = h->bus;
	int already = 0;

	if (b == NULL || b->ops == NULL)
		return fanout_publish_admin(h->fanout, type, tid, json, n);
	if (!b->up) {
		if (fanout_publish_admin(h->fanout, type, tid, json, n) != 0)
			return -1;
		already = 1;
	}
	bc_buf_reset(&b->msg);
	if (bc_busmsg_head(&b->msg, BC_BUSMSG_ADMIN, b->origin, ++b->q, NULL) != 0 ||
	    bc_buf_append(&b->msg, json, n) != 0)
		return -1;
	return send_msg(b, b->q, NULL, already);
}
