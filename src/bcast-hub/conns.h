/* conns.h - request deadlines for every HTTP connection.
 *
 * evhttp's timeout only measures inactivity, so a client trickling one
 * byte per second would hold a connection forever. Here each connection
 * gets a deadline: its request (headers and body) must have arrived within
 * the timeout of the connection opening or of the previous response being
 * written; otherwise the connection is closed. Stream connections leave
 * the scheme once they start streaming (conns_forget). */
#ifndef BCAST_HUB_CONNS_H
#define BCAST_HUB_CONNS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

struct conns;

/* Deadlines of timeout_s seconds on base. NULL on out-of-memory. */
struct conns *conns_new(struct event_base *base, int timeout_s);
/* Free after evhttp_free() (which closes every connection). NULL safe. */
void conns_free(struct conns *cs);

/* The evhttp_set_bevcb() callback (arg: the conns): a socket bufferevent
 * for a new connection, whose deadline starts now. */
struct bufferevent *conns_bevcb(struct event_base *base, void *arg);

/* req has fully arrived: stop its connection's deadline until the
 * response to req has been written. */
void conns_request_started(struct conns *cs, struct evhttp_request *req);

/* A request on evcon was answered outside evhttp (ingest.c): its
 * deadline starts again, for the next request. */
void conns_answered(struct conns *cs, struct evhttp_connection *evcon);

/* Stop watching req's connection for good (it becomes a stream and its
 * close callback is someone else's). */
void conns_forget(struct conns *cs, struct evhttp_request *req);

#endif
