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
#include "conns.h"
#include "fanout.h"
#include "metrics.h"
#include "work.h"

#define HUB_HISTORY_LIMIT 1000      /* default ?limit= */
#define HUB_HISTORY_LIMIT_MAX 10000 /* larger limits are lowered to this */

struct hub {
	struct event_base *base;
	struct evhttp *http;
	struct fanout *fanout;
	struct conns *conns;
	struct hub_metrics metrics;
	struct work_pool *work;     /* DB, Redis and spool reads and writes */
	const char *token;          /* NULL: POSTs need no token */
	size_t max_clients;
	size_t max_body;
};

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

#endif
