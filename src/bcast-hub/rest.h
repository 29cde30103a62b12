/* rest.h - the hub's REST reads and run bookkeeping, all done on worker
 * threads (work.h): GET /admin/runs/{tid}/logs (history merged from the
 * DB, Redis and the spool, paged), GET /admin/runs (the runs list), and
 * the thread_runs updates and flushes that admin events cause. */
#ifndef BCAST_HUB_REST_H
#define BCAST_HUB_REST_H

#include <event2/http.h>

#include "bc_record.h"

struct hub;

/* Validate req's query string and queue the history read of tid; the
 * answer is sent when the read is done. */
void rest_history(struct hub *h, struct evhttp_request *req, const char *tid);
/* The same for the runs list. */
void rest_runs(struct hub *h, struct evhttp_request *req);
/* An admin event was accepted: run_started marks the run running; the
 * run's end (run_completed, run_error, run_cancelled, run_paused) flushes
 * the thread (unless flush is 0: the poster, bcast-emit or bcast-event,
 * flushes it itself) and records its status and exit code. Queued on the
 * write lane; nothing waits for it. */
void rest_run_event(struct hub *h, const struct bc_event *e, int flush);

/* Parse req's query string into q (caller clears it with
 * evhttp_clear_headers) and check that every key is one of allowed
 * (NULL-terminated) and appears once. 0, or -1 after answering 400
 * "bad parameter 'NAME': ...". */
struct evkeyvalq;
int rest_query(struct hub *h, struct evhttp_request *req,
               const char *const *allowed, struct evkeyvalq *q);
/* A whole decimal integer in [min, max] from s. 0 or -1. */
int rest_parse_ll(const char *s, long long min, long long max,
                  long long *out);

#endif
