/* hub.h - the state bcast-hub's modules share: the event base, the HTTP
 * server, the fan-out, the request deadlines, the counters and the
 * (lazily reopened) store. */
#ifndef BCAST_HUB_H
#define BCAST_HUB_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "bc_buf.h"
#include "bc_store.h"
#include "auth.h"
#include "budget.h"
#include "bus.h"
#include "conns.h"
#include "fanout.h"
#include "metrics.h"
#include "work.h"

#define HUB_HISTORY_LIMIT 1000      /* default ?limit= */
#define HUB_HISTORY_LIMIT_MAX 10000 /* larger limits are lowered to this */
#define HUB_MAX_CONNS 192            /* --max-conns default */
#define HUB_MAX_CONNS_PER_ADDR 64    /* --max-conns-per-addr default */
#define HUB_MEMORY_CAP ((long long)256 << 20) /* --memory-cap default */
#define HUB_DB_TIMEOUT 10            /* --db-timeout default, seconds */

struct hub {
	struct event_base *base;
	struct evhttp *http;
	struct fanout *fanout;
	struct conns *conns;
	struct ingest *ingest;      /* streaming ingest and the accept peek */
	struct hub_metrics *metrics;  /* this process's slot (metrics.h) */
	struct hub_shared *shared;    /* every process's slots */
	struct hub_slot *slot;
	struct work_pool *work;     /* DB, Redis and spool reads and writes */
	struct hub_auth *auth;      /* credentials and origins (auth.h) */
	struct budget budget;       /* --memory-cap (budget.h) */
	struct bus *bus;            /* the bus between hubs; NULL: none (bus.h) */
	size_t max_clients;
	size_t max_body;
	int timeout_s;              /* --timeout */
};

/* Write this process's subscriber gauges into its shared slot. */
void hub_gauges_publish(struct hub *h);

/* The evhttp generic callback: routes every request (arg is the hub). */
void hub_http_handle(struct evhttp_request *req, void *arg);

/* Answer req with code and {"error":"MESSAGE"}, counting it under why. */
void hub_send_error(struct hub *h, struct evhttp_request *req, int code,
                    enum hub_reject why, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Answer req with code and the bytes of body, which are taken over (body
 * is left empty). */
void hub_send_owned(struct evhttp_request *req, int code, const char *ctype,
                    struct bc_buf *body);
/* Like hub_send_owned, but the bytes are held in h's memory budget until
 * they are written. taken: the bytes of body already taken from the
 * budget (which are then owned by this call), or 0 to take them now; when
 * the budget cannot take them, answer 503 with Retry-After instead (and
 * free them). */
void hub_send_held(struct hub *h, struct evhttp_request *req, int code,
                   const char *ctype, struct bc_buf *body, size_t taken);
/* Answer req 503 with Retry-After: the memory budget is spent. */
void hub_send_busy(struct hub *h, struct evhttp_request *req);

/* Is the Authorization header value a (n bytes; NULL: absent) good enough
 * to publish? */
int hub_token_ok(const struct hub *h, const char *a, size_t n);

/* Is the n-byte request target path (a query is ignored) the ingest route
 * /api/runs/{tid}/logs? 1 with the decoded thread id in tid (BC_TID_MAX +
 * 1 bytes), -1 when it is but the thread id is invalid, 0 when not. */
int hub_ingest_target(const char *path, size_t n, char *tid);

/* Take one NDJSON line (n bytes at p, without its newline) of thread tid:
 * decoded, checked, re-encoded (json is scratch) and framed onto frames.
 * 1 when a record was added, 0 for a blank line, -1 for a bad record and
 * -2 when frames is full (a reason in err). */
int hub_ingest_line(const char *tid, const char *p, size_t n,
                    struct bc_buf *frames, struct bc_buf *json, char *err,
                    size_t errlen);

#endif
