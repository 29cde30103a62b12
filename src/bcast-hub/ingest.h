/* ingest.h - the streaming ingest: one long chunked POST of NDJSON.
 *
 * Every new evhttp connection is watched until its first request head is
 * whole: meanwhile evhttp sees none of its bytes (its read callback is held
 * back by the read low-watermark). A chunked POST to /api/runs/{tid}/logs
 * is then taken away from evhttp (socket and bytes read so far) and served
 * here: each NDJSON line is taken as soon as it has arrived whole and
 * published at the end of every read while the request goes on; the
 * answer {"accepted":N} comes when the client ends the body, and the
 * connection then closes. Anything else is released to evhttp untouched,
 * which answers it as ever (one-shot POSTs included): a connection is
 * watched only until its first request. */
#ifndef BCAST_HUB_INGEST_H
#define BCAST_HUB_INGEST_H

#include <event2/bufferevent.h>

#include "hub.h"

#define INGEST_HEAD_MAX 16384   /* a longer head is evhttp's to refuse */
#define INGEST_LINGER_S 2       /* after an answer, input is drained this long */

struct ingest;

/* The streaming ingest of hub h (which must outlive it). NULL on
 * out-of-memory. */
struct ingest *ingest_new(struct hub *h);

/* Close every streaming connection and free in. NULL is safe. */
void ingest_free(struct ingest *in);

/* The evhttp_set_bevcb() callback (arg: the ingest): the bufferevent of
 * conns_bevcb(), watched as above. */
struct bufferevent *ingest_bevcb(struct event_base *base, void *arg);

/* Close every streaming connection (the lines they completed are
 * published already) and take no new ones. */
void ingest_shutdown(struct ingest *in);

#endif
