/* bus.h - the bus between hubs (see docs/bus.md).
 *
 * Every hub that shares a bus delivers every ingest in one order with the
 * same positions: the ingesting hub does not deliver at ingest, it appends
 * a message to the bus and delivers it when the entry comes back, like
 * every other hub. bus.c is the generic part: it encodes messages
 * (lib/bc_busmsg.h: a JSON header line, then NDJSON records or one admin
 * event), checks every message it receives as if it came from a client
 * (anything foreign or malformed is dropped whole and counted), skips
 * duplicates (per origin, the highest q delivered), keeps an outbox while
 * the link is down (the hub then delivers its own ingests at once with
 * local ids) and replays it on rejoin, and delivers into the fan-out with
 * the entry's position.
 *
 * A transport moves opaque messages and gives each entry a position
 * "MS-SEQ" in one total order that every hub sees the same: Redis
 * (bus_redis.c: the stream logs:bus) or the parent-process relay of
 * --workers. It implements struct bus_transport and calls back into
 * bus_on_entry, bus_on_link and bus_on_prefill, on the hub's loop.
 * Nothing blocks the loop. */
#ifndef BCAST_HUB_BUS_H
#define BCAST_HUB_BUS_H

#include <stddef.h>

struct hub;
struct bus;

/* The largest message bus.c appends: a batch of records larger than this
 * goes as several messages, in order (a single larger record goes alone). */
#define BUS_ENTRY_MAX ((size_t)64 << 10)
/* The default cap on own messages kept while the link is down (bytes,
 * --bus-outbox): past it the oldest are dropped (counted in
 * bcast_hub_bus_dropped_total{reason="outbox"}); the hub's own
 * subscribers already had them, other hubs' never will. */
#define BUS_OUTBOX_MAX ((size_t)64 << 20)

/* A transport: t is its own handle, passed back to each op. */
struct bus_transport {
	const char *name;   /* for /healthz and logs: "redis", "relay" */
	/* Hand one message (n bytes at msg, copied before return) to the bus.
	 * Asynchronous: 0 when taken (it will come back through
	 * bus_on_entry, unless the link goes down first, which the transport
	 * then reports with bus_on_link(b, 0)); -1 when the link is down
	 * (nothing kept: bus.c keeps it in its outbox). Must not call back
	 * into bus.c from inside append. */
	int (*append)(void *t, const char *msg, size_t n);
	/* Stop and free the transport (no callback afterwards). */
	void (*free)(void *t);
};

/* A bus for hub h (which must outlive it), with a fresh random origin.
 * NULL on out-of-memory. The bus is not usable until a transport is
 * attached; until then (and with no bus at all: h->bus NULL) publishing
 * delivers at once, as a hub without a bus does. */
struct bus *bus_new(struct hub *h);
/* Attach transport ops with handle t; the bus owns t from now on (freed
 * with ops->free by bus_free). The link starts down: the transport calls
 * bus_on_link(b, 1) once it can append and reads from a known position. */
void bus_attach(struct bus *b, const struct bus_transport *ops, void *t);
/* Free the transport and the bus (undelivered own messages were delivered
 * locally already; the outbox is lost). NULL is safe. */
void bus_free(struct bus *b);

/* The Redis transport (bus_redis.c): attach to b the stream logs:bus of
 * the Redis at url (redis://[:PASSWORD@]HOST[:PORT][/DB]), trimmed to
 * about maxlen entries (XADD MAXLEN ~). Connects in the background on
 * base; the link comes up when Redis answers and goes down (and is
 * retried every RETRY_MS) when it does not. 0, or -1 with err (a bad URL,
 * out of memory). */
int bus_redis_attach(struct bus *b, struct event_base *base, const char *url,
                     long long maxlen, char *err, size_t errlen);

/* ---- Called by the transport, on the loop ---- */

/* The link came up (1: appends are taken and entries will follow from
 * where the last one left off) or went down (0). Going down, every own
 * message appended but not yet back is delivered locally at once and kept
 * for the replay; coming up, the outbox is appended first, in order. */
void bus_on_link(struct bus *b, int up);
/* An entry of the bus at position id ("MS-SEQ", decimal), in bus order:
 * msg is its n-byte message (NULL when the entry has no message field:
 * dropped and counted). Checked, deduplicated and delivered to the
 * fan-out with the position. msg is only borrowed. */
void bus_on_entry(struct bus *b, const char *id, const char *msg, size_t n);
/* An entry from before this hub joined, oldest first: checked like
 * bus_on_entry, put into the resume rings without delivery (so cursors
 * from before the hub started can be served), and its origin's q counted
 * as delivered. */
void bus_on_prefill(struct bus *b, const char *id, const char *msg, size_t n);
/* A line on standard error, "bcast-hub: bus: ...", at most 5 per 10 s
 * (the rest are counted and said with the next). */
void bus_log(struct bus *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* How many entries the transport should read for the prefill at join
 * (enough for the resume rings; 0: none). */
size_t bus_prefill_want(const struct bus *b);

/* ---- Called by the hub ---- */

/* Read up to entries of the newest entries at join (see bus_on_prefill);
 * default 0. */
void bus_set_prefill(struct bus *b, size_t entries);
/* Keep at most bytes of own messages not back from the bus (default
 * BUS_OUTBOX_MAX). */
void bus_set_outbox(struct bus *b, size_t bytes);

/* 1 while the link is up, 0 while down. */
int bus_up(const struct bus *b);
/* The transport's name. */
const char *bus_name(const struct bus *b);
/* The origin of this hub process (16 hex digits). */
const char *bus_origin(const struct bus *b);

/* The hub's publish functions: every ingest goes through these. With no
 * bus (h->bus NULL) they deliver at once (fanout_publish_*). With a bus
 * that is up they append and deliver when the entry comes back; with a
 * bus that is down they deliver at once (local ids) and keep the message
 * for the replay. 0, or -1 on out-of-memory (nothing published). */

/* n bytes of SSE frames (count events, as hub_ingest_line makes them) of
 * thread tid. */
int hub_publish_logs(struct hub *h, const char *tid, const char *frames,
                     size_t n, size_t count);
/* One admin event: json (n bytes) is its encoded object (bc_event_encode),
 * of type type and thread tid. Its side effects (flush, run status) are
 * the caller's and happen only at the ingesting hub. */
int hub_publish_admin(struct hub *h, const char *type, const char *tid,
                      const char *json, size_t n);

#endif
