/* guard.h - keeping bcast-hub alive and quiet when it runs out of file
 * descriptors.
 *
 * Three parts: the open-file limit is raised to its hard limit and
 * --max-clients is clamped below it, so that streams alone can never take
 * the descriptors ingest and /healthz need; a failing accept() (EMFILE,
 * ENFILE, ENOBUFS...) pauses the listener for a moment instead of letting
 * libevent retry it in a busy loop; and libevent's own log messages go
 * through a rate limit, so that nothing can flood standard error. */
#ifndef BCAST_HUB_GUARD_H
#define BCAST_HUB_GUARD_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/listener.h>

#define GUARD_FD_RESERVE 256     /* descriptors kept for everything but streams */
#define GUARD_ACCEPT_PAUSE_MS 200
#define GUARD_LOG_PERIOD_S 10    /* at most one accept message this often */

/* Raise the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit
 * now in force, or -1 when it is unlimited or unknown. */
long long guard_raise_nofile(void);

/* The streams allowed under an open-file limit of nofile (-1: no limit)
 * when want were asked for: want, or nofile minus a reserve (256, or half
 * of nofile when that is smaller), at least 1. */
size_t guard_max_clients(long long nofile, size_t want);

/* The non-stream connections allowed under an open-file limit of nofile
 * when want were asked for: want, or the reserve left for them by
 * guard_max_clients() minus 32 (for the database, the listener, logs),
 * at least 8. */
size_t guard_max_conns(long long nofile, size_t want);

/* Route libevent's log messages to standard error as "PROG: libevent:
 * MESSAGE", at most a few per GUARD_LOG_PERIOD_S; the number left out is
 * reported with the next message that passes. Call before anything else
 * of libevent. */
void guard_log_init(void);

struct accept_guard;

/* Watch l's accept errors: on each, l is disabled for
 * GUARD_ACCEPT_PAUSE_MS and *errors is incremented; one line goes to
 * standard error per episode (at most one per GUARD_LOG_PERIOD_S). The
 * error callback replaces any other on l. Only one guard may exist at a
 * time. NULL on out-of-memory. errors must outlive the guard. */
struct accept_guard *accept_guard_new(struct event_base *base,
                                      struct evconnlistener *l,
                                      unsigned long long *errors);
/* Stop watching (l may already be freed). NULL safe. */
void accept_guard_free(struct accept_guard *g);

#endif
