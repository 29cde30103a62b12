/* metrics.h - the hub's counters and their Prometheus text rendering.
 *
 * Counters only ever grow; the subscriber gauges are read from the fan-out.
 * Each hub process has one slot (struct hub_slot) in a region of shared
 * memory made before --workers forks: its struct hub_metrics is updated in
 * place by the HTTP layer and the fan-out (single-threaded), its gauges
 * every HUB_GAUGES_MS and at each scrape. /metrics renders the sum of all
 * slots, so a scrape that lands on any worker sees the whole hub. A slot
 * outlives its process: a restarted worker counts on from where the dead
 * one stopped (the parent zeroes only its gauges), so no total goes down. */
#ifndef BCAST_HUB_METRICS_H
#define BCAST_HUB_METRICS_H

#include <event2/buffer.h>

enum hub_reject {
	HUB_REJ_BAD_REQUEST,    /* 400: bad thread id, bad record, bad query */
	HUB_REJ_UNAUTHORIZED,   /* 401: missing or wrong bearer token */
	HUB_REJ_NOT_FOUND,      /* 404 */
	HUB_REJ_METHOD,         /* 405 */
	HUB_REJ_TOO_LARGE,      /* 413 raised by the hub itself */
	HUB_REJ_MAX_CLIENTS,    /* 503: --max-clients reached */
	HUB_REJ_DB_UNAVAILABLE, /* 503: history while the DB is down */
	HUB_REJ_FORBIDDEN,      /* 403: foreign origin, token out of scope */
	HUB_REJ_MEDIA_TYPE,     /* 415: POST body of the wrong Content-Type */
	HUB_REJ_MEMORY,         /* 503: --memory-cap reached */
	HUB_REJ_COUNT
};

struct hub_metrics {
	unsigned long long http_requests;
	unsigned long long lines_received;
	unsigned long long events_delivered;  /* frames queued to subscribers */
	unsigned long long admin_events;
	unsigned long long slow_disconnects;
	unsigned long long accept_errors;     /* failed accept() calls */
	unsigned long long conns_evicted;     /* closed for --max-conns(-per-addr) */
	unsigned long long resumes;           /* streams resumed from a cursor */
	unsigned long long resume_resets;     /* cursors answered with a reset */
	unsigned long long rejected[HUB_REJ_COUNT];
	/* The bus between hubs (bus.c), rendered only when bus_on. Summed
	 * over --workers: bus_on is then the processes on a bus, bus_up those
	 * whose link is up (rendered 1 when all are). */
	unsigned long long bus_on;            /* 1: this process has a bus */
	unsigned long long bus_up;            /* gauge: 1 link up, 0 down */
	unsigned long long bus_published;     /* messages handed to the bus */
	unsigned long long bus_received;      /* entries read from the bus */
	unsigned long long bus_dropped;       /* foreign or malformed entries */
	unsigned long long bus_outbox_dropped; /* own messages past the outbox cap */
	unsigned long long bus_outbox_bytes;  /* gauge: own messages not back yet */
	unsigned long long bus_reconnects;    /* links up again after a loss */
};

/* The gauges rendered next to the counters: subscribers per stream kind. */
struct hub_gauges {
	size_t global, thread, admin;
};

#define HUB_GAUGES_MS 100   /* how often a worker publishes its gauges */

/* One process's counters and gauges. */
struct hub_slot {
	struct hub_metrics m;
	struct hub_gauges g;
};

struct hub_shared;

/* n zeroed slots in an anonymous MAP_SHARED mapping (made before fork,
 * shared with every child). NULL on failure. Free with hub_shared_free. */
struct hub_shared *hub_shared_new(size_t n);
/* Unmap (in this process). NULL safe. */
void hub_shared_free(struct hub_shared *s);
/* Slot i (< n) of s. */
struct hub_slot *hub_shared_slot(struct hub_shared *s, size_t i);
/* The sum of every slot's counters and gauges into m and g. Other
 * processes may be writing meanwhile: each value is read once, whole
 * (aligned 64-bit words). */
void hub_shared_sum(const struct hub_shared *s, struct hub_metrics *m,
                    struct hub_gauges *g);

/* Append m and g in Prometheus text format (0.0.4) to out. 0 or -1. */
int hub_metrics_render(const struct hub_metrics *m, const struct hub_gauges *g,
                       struct evbuffer *out);

#endif
