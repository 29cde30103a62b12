/* conns.h - request deadlines for every HTTP connection.
 *
 * evhttp's timeout only measures inactivity, so a client trickling one
 * byte per second would hold a connection forever. Here each connection
 * gets a deadline: its request (headers and body) must have arrived within
 * the timeout of the connection opening or of the previous response being
 * written; otherwise the connection is closed. Stream connections leave
 * the scheme once they start streaming (conns_forget).
 *
 * The connections watched here (every connection but streams) are also
 * capped, in total and per client address: past a cap, the oldest idle
 * one (waiting for a request) is closed to make room, so idle or slow
 * clients cannot take the descriptors that ingest and /healthz need. */
#ifndef BCAST_HUB_CONNS_H
#define BCAST_HUB_CONNS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

struct conns;

/* Deadlines of timeout_s seconds on base; at most max_total connections,
 * max_per_addr of one client address (0: no cap); each connection closed
 * for a cap is counted in *evicted (which must outlive the conns; may be
 * NULL). NULL on out-of-memory. */
struct conns *conns_new(struct event_base *base, int timeout_s,
                        size_t max_total, size_t max_per_addr,
                        unsigned long long *evicted);
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

/* Call fn(arg) once the answer to req has been written, or its connection
 * closed, whichever comes first (for memory held until then). 0, or -1
 * when req's connection is not watched or already has such a call (the
 * caller then runs fn itself). */
int conns_on_done(struct conns *cs, struct evhttp_request *req,
                  void (*fn)(void *), void *arg);

/* Stop watching req's connection for good (it becomes a stream and its
 * close callback is someone else's). */
void conns_forget(struct conns *cs, struct evhttp_request *req);

#endif
