/* fanout.h - SSE streams and their subscribers.
 *
 * Three kinds of stream: the global log stream, one stream per thread id
 * (alive only while it has subscribers) and the admin-event stream, whose
 * subscribers each carry a filter. Log frames are appended once to a
 * stream's pending batch; a flush hands every subscriber the whole batch
 * as one HTTP chunk, framed once, in shared refcounted bytes, with one
 * write() on the subscriber's socket (the fan-out owns the socket once the
 * SSE response starts). Flushes coalesce: a flush waits at most
 * FANOUT_COALESCE_US after the previous one (less when the previous was
 * cheap), so lines that arrive one per request while the hub is busy go out
 * as one write per subscriber. A subscriber whose unsent output passes the
 * backlog cap is sent a final comment and closed. */
#ifndef BCAST_HUB_FANOUT_H
#define BCAST_HUB_FANOUT_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>

#include "bc_tid.h"
#include "metrics.h"

enum fanout_kind { FANOUT_GLOBAL, FANOUT_THREAD, FANOUT_ADMIN };

#define FANOUT_MAX_TYPES 32

/* The most a published line waits for a flush beyond the loop being busy:
 * after a flush that took T, the next starts no sooner than min(T, this)
 * after it ended. An idle hub flushes at the end of the current loop turn. */
#define FANOUT_COALESCE_US 2000

/* What an admin subscriber wants: events of one of types (all when
 * ntypes is 0) and of thread tid (all when tid is ""). */
struct fanout_filter {
	size_t ntypes;
	char types[FANOUT_MAX_TYPES][65];
	char tid[BC_TID_MAX + 1];
};

struct fanout_opts {
	size_t backlog;          /* cap on a subscriber's unsent bytes */
	int keepalive_s;         /* ": keepalive" period; 0 disables */
	int write_timeout_s;     /* close a stream whose writes stall that long */
	size_t resume_events;    /* resume ring of the global and of the admin */
	size_t resume_bytes;     /* stream: caps (0 events: no ring) */
};

struct fanout;

/* A fan-out on base that counts into m (which must outlive it). NULL on
 * out-of-memory. */
struct fanout *fanout_new(struct event_base *base, const struct fanout_opts *o,
                          struct hub_metrics *m);
/* Free the fan-out. Call after evhttp_free() so that no subscriber is
 * left. NULL is safe. */
void fanout_free(struct fanout *f);

/* Start an SSE response on req and subscribe it: kind FANOUT_THREAD needs
 * tid, FANOUT_ADMIN takes filter (copied; NULL matches everything). The
 * response head carries the headers already set on req's output headers
 * plus the SSE ones. On success the fan-out takes the socket over and
 * frees req and its evhttp connection: neither may be used afterwards.
 * The subscriber lives until its socket closes, or until the time until
 * (seconds since the epoch; 0: no end), when its stream is ended with the
 * comment ": closed: credential expired". Returns 0, or -1 on
 * out-of-memory (nothing was sent; req is untouched and the caller
 * answers it). */
int fanout_subscribe(struct fanout *f, struct evhttp_request *req,
                     enum fanout_kind kind, const char *tid,
                     const struct fanout_filter *filter, long long until);

/* Queue n bytes of ready SSE frames (count events) of thread tid for the
 * global stream and tid's stream. The bytes are copied; delivery happens
 * at the next flush. 0 or -1 (out-of-memory: nothing queued). */
int fanout_publish_logs(struct fanout *f, const char *tid, const char *frames,
                        size_t n, size_t count);

/* Deliver one admin event (its JSON object, n bytes) to every admin
 * subscriber whose filter matches type and tid, with the next admin id.
 * 0 or -1. */
int fanout_publish_admin(struct fanout *f, const char *type, const char *tid,
                         const char *json, size_t n);

/* A position on the bus shared by hubs: the entry id "MS-SEQ" of the
 * entry an event came in. */
struct fanout_pos {
	unsigned long long ms, seq;
};

/* fanout_publish_logs and fanout_publish_admin for events of the bus
 * entry at pos: their global and admin ids are "@MS-SEQ:K", K = 0, 1, ...
 * their index among the entry's events of that stream (calls with the
 * same pos continue K). pos NULL: the hub's own ids "@EPOCH:N", as the
 * plain names. Entries must come in bus order. 0 or -1 (out-of-memory). */
int fanout_publish_logs_at(struct fanout *f, const char *tid,
                           const char *frames, size_t n, size_t count,
                           const struct fanout_pos *pos);
int fanout_publish_admin_at(struct fanout *f, const char *type,
                            const char *tid, const char *json, size_t n,
                            const struct fanout_pos *pos);

/* Put the events of the bus entry at pos into the global (logs) or admin
 * resume ring only, delivering nothing: a hub joining the bus prefills its
 * rings with the newest entries, oldest first, so it can serve cursors
 * from before it started. An entry at or before the newest bus position
 * the hub has is ignored. Resumes waiting for the bus are not woken: call
 * fanout_bus_seen with the last prefilled pos once the whole prefill is
 * in. Arguments as fanout_publish_*_at; 0 or -1. */
int fanout_prefill_logs(struct fanout *f, const char *tid, const char *frames,
                        size_t n, size_t count, const struct fanout_pos *pos);
int fanout_prefill_admin(struct fanout *f, const char *type, const char *tid,
                         const char *json, size_t n,
                         const struct fanout_pos *pos);

/* The bus is on (on 1) or gone for good (0): with a bus, a cursor
 * "@MS-SEQ:K" newer than what this hub has is waited for (the entry may
 * not have reached it yet), without one it gets a reset at once. */
void fanout_set_bus(struct fanout *f, int on);

/* The bus has handed this hub every entry up to pos, including ones it
 * skipped or dropped (so nothing to publish): lets a resume waiting for
 * pos go on at once. */
void fanout_bus_seen(struct fanout *f, const struct fanout_pos *pos);

/* Subscribers of one kind, and of all kinds. */
size_t fanout_count(const struct fanout *f, enum fanout_kind kind);
size_t fanout_total(const struct fanout *f);

/* ---- Resume (see docs/hub-internals.md, "Resume") ---- */

/* The hub's epoch: the EPOCH of global and admin ids "@EPOCH:N"; it
 * changes every time the hub starts. Owned by f. */
const char *fanout_epoch(const struct fanout *f);

/* A cursor of the global or admin stream: "@EPOCH:N" (the hub's own ids)
 * or "@MS-SEQ:K" (event K of the bus entry MS-SEQ). */
struct fanout_cursor {
	int bus;                        /* 1: "@MS-SEQ:K" */
	char epoch[16];                 /* EPOCH */
	struct fanout_pos pos;          /* MS-SEQ */
	unsigned long long n;           /* N, or K */
	char text[72];                  /* as received, for a reset */
};

/* Subscribe req to the global (FANOUT_GLOBAL) or admin stream and first
 * send what followed cursor c from the stream's ring, then live events.
 * A bus cursor the hub has not reached yet is waited for (up to 2 s) when
 * the hub is on a bus. A cursor of another epoch, older than the ring
 * holds, or still not reached gets one "event: reset" instead (data:
 * reason, cursor, missed). Same return and ownership of req, and until,
 * as fanout_subscribe. */
int fanout_subscribe_cursor(struct fanout *f, struct evhttp_request *req,
                            enum fanout_kind kind,
                            const struct fanout_filter *filter,
                            const struct fanout_cursor *c, long long until);

/* A resuming thread subscriber: subscribed at once, its live batches
 * held until fanout_seam_release. */
struct fanout_seam;
/* Subscribe req to tid's stream and hold its live batches. *seam is the
 * caller's reference (release or fail it exactly once). 0, or -1 on
 * out-of-memory (req untouched, the caller answers it). */
int fanout_subscribe_seam(struct fanout *f, struct evhttp_request *req,
                          const char *tid, long long until,
                          struct fanout_seam **seam);
/* Send n bytes of replayed frames (count events, ids "tid:seq") now, and
 * remember their seqs (ascending, nseqs of them). 0, or -1 when the
 * subscriber is gone. */
int fanout_seam_replay(struct fanout_seam *s, const char *frames, size_t n,
                       size_t count, const long long *seqs, size_t nseqs);
/* 0 when the subscriber can take the next page now; 1 when cb(arg) will
 * be called once its unsent output is written (never if it goes away). */
int fanout_seam_wait(struct fanout_seam *s, void (*cb)(void *), void *arg);
/* The lowest seq of the live batches held so far, -1 when none. */
long long fanout_seam_first_held(const struct fanout_seam *s);
/* True while the subscriber is connected. */
int fanout_seam_alive(const struct fanout_seam *s);
/* The replay is complete: send the held batches without the replayed
 * records, go live (still dropping replayed records for a while), and drop
 * the caller's reference. */
void fanout_seam_release(struct fanout_seam *s);
/* The replay failed: end the stream after the comment (": ...\n\n"), and
 * drop the caller's reference. */
void fanout_seam_fail(struct fanout_seam *s, const char *comment);

/* Deliver what is pending, end every stream (terminating chunk, then the
 * connection closes once written) and refuse new subscribers. drained(arg)
 * is called once every stream connection is gone (maybe before this
 * returns). */
void fanout_shutdown(struct fanout *f, void (*drained)(void *), void *arg);

#endif
