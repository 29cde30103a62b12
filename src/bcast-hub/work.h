/* work.h - worker threads for everything slow, so the event loop never
 * waits on the database, Redis or the spool.
 *
 * The loop hands a job to a lane: WORK_READ (history, runs list, resume
 * replays) is served by a few workers in parallel; WORK_WRITE (run starts
 * and ends: flushes and thread_runs) by one worker, in submission order,
 * so a thread's run_started and run_completed can never swap. Each worker
 * has its own store, Redis and spool handles, opened on first use. A
 * job's run() runs on a worker; its done() runs afterwards on the loop
 * thread (an eventfd wakes the loop), where it may answer the request. */
#ifndef BCAST_HUB_WORK_H
#define BCAST_HUB_WORK_H

#include <stddef.h>

#include <event2/event.h>

#include "bc_history.h"

struct work_cfg {
	const char *db_url;
	const char *redis_url;    /* NULL: no Redis */
	const char *spool_dir;    /* NULL: no spool */
	int readers;              /* WORK_READ workers (>= 1) */
	int db_timeout_s;         /* bc_store_open_timeout(); 0: none */
};

enum work_lane { WORK_READ, WORK_WRITE };

struct work_ctx;

struct work_job {
	/* On a worker: do the slow part, keep the result in the job. */
	void (*run)(struct work_job *j, struct work_ctx *c);
	/* On the loop: use the result and free the job. aborted is set when
	 * the hub is shutting down and run() may not have run; then the job
	 * must only free what it owns. */
	void (*done)(struct work_job *j, int aborted);
	struct work_job *next;
};

struct work_pool;

/* Start the workers. NULL on failure (out of memory, no threads). */
struct work_pool *work_new(struct event_base *base, const struct work_cfg *cfg);
/* Stop the workers (each finishes its current job), then call done(j, 1)
 * for every job not delivered yet. NULL safe. */
void work_free(struct work_pool *p);
/* Queue j on lane; it is not touched by the caller until done(). */
void work_submit(struct work_pool *p, struct work_job *j, enum work_lane lane);

/* Inside run(): the worker's store, Redis and spool as a history source,
 * (re)opened as needed (the store at most once a second after a failure).
 * 0, or -1 with the reason in err (503-worthy: the DB or a configured
 * Redis is unreachable). */
int work_src(struct work_ctx *c, struct bc_history_src *src, char *err,
             size_t errlen);
/* Inside run(), after a failure of the store or Redis: drop that handle
 * so the next job reconnects. */
void work_drop(struct work_ctx *c, enum bc_history_fail which);

#endif
