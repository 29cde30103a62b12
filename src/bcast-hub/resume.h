/* resume.h - streams that resume from a cursor: the Last-Event-ID header
 * (what a browser sends when it reconnects) or ?last_event_id= (a first
 * connection). A thread stream's cursor "TID:SEQ" is served from the
 * history (DB + Redis + spool, read on a worker), then live, with no gap
 * and no duplicate (the seam is in fanout.c). The global and admin
 * streams' cursor, "@EPOCH:N" (the hub's own ids) or "@MS-SEQ:K" (event K
 * of bus entry MS-SEQ: any hub on the bus can serve it), is served from
 * the hub's in-memory ring. No cursor: no replay. */
#ifndef BCAST_HUB_RESUME_H
#define BCAST_HUB_RESUME_H

#include <event2/http.h>

#include "bc_tid.h"
#include "fanout.h"

struct hub;

struct resume_cursor {
	char text[BC_TID_MAX + 32];     /* as received */
	long long seq;                  /* thread streams */
	struct fanout_cursor at;        /* global and admin streams */
};

/* Find and check req's cursor for a stream of kind (tid: the thread's).
 * 1 with *c filled, 0 when there is none, -1 after answering 400. */
int resume_parse(struct hub *h, struct evhttp_request *req,
                 enum fanout_kind kind, const char *tid,
                 struct resume_cursor *c);
/* Subscribe req from cursor c (see fanout_subscribe for ownership and until). 0, or
 * -1 on out-of-memory with req untouched. */
int resume_subscribe(struct hub *h, struct evhttp_request *req,
                     enum fanout_kind kind, const char *tid,
                     const struct fanout_filter *filter,
                     const struct resume_cursor *c, long long until);

#endif
