/* hub.h - the state bcast-hub's modules share: the event base, the HTTP
 * server, the fan-out, the request deadlines, the counters and the
 * (lazily reopened) store. */
#ifndef BCAST_HUB_H
#define BCAST_HUB_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "bc_store.h"
#include "conns.h"
#include "fanout.h"
#include "metrics.h"

#define HUB_HISTORY_LIMIT 1000      /* default ?limit= */
#define HUB_HISTORY_LIMIT_MAX 10000 /* larger limits are lowered to this */

struct hub {
	struct event_base *base;
	struct evhttp *http;
	struct fanout *fanout;
	struct conns *conns;
	struct hub_metrics metrics;
	struct bc_store *store;     /* NULL while the DB cannot be opened */
	const char *db_url;
	int64_t store_retry_us;     /* no reopen attempt before this time */
	const char *token;          /* NULL: POSTs need no token */
	size_t max_clients;
	size_t max_body;
};

/* The evhttp generic callback: routes every request (arg is the hub). */
void hub_http_handle(struct evhttp_request *req, void *arg);

/* Open the store at h->db_url unless it is open; at most one attempt per
 * second. Returns 0, or -1 with the reason in err. */
int hub_store_ensure(struct hub *h, char *err, size_t errlen);

#endif
