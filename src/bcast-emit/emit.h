/* emit.h - the modules of bcast-emit and how they meet.
 *
 *   main.c    options, the read loop, the run's start and end events
 *   reader.c  splits the bytes read into lines (records) of a batch
 *   sink.c    hands a batch to Redis or the spool (seq numbers, fallback)
 *             and flushes the thread into the DB at the end
 *   sender.c  a thread that POSTs batches and events to the hub
 *   child.c   command mode: runs CMD with its stdout/stderr on pipes
 *
 * Each batch is made durable by the sink first, then offered to the
 * sender, which makes the read loop wait while its queue is full and the
 * hub keeps taking batches, and drops the batch (live delivery only) when
 * the hub stalls or is down. */
#ifndef BCAST_EMIT_H
#define BCAST_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bc_buf.h"
#include "bc_spool.h"
#include "bc_strv.h"

enum { STREAM_STDOUT, STREAM_STDERR };

/* The lines read in one turn of the loop: their bytes (chomped, at most
 * max_line each, not yet cleaned) one after another in bytes. */
struct batch {
	struct bc_buf bytes;
	struct batch_line {
		size_t off, len;
		int stream;
	} *v;
	size_t n, cap;
};

void batch_init(struct batch *b, size_t max_bytes);
void batch_reset(struct batch *b);
void batch_free(struct batch *b);

/* reader.c: line splitting, with a partial line kept per stream. */
struct reader;

struct reader *reader_new(size_t max_line);
void reader_free(struct reader *r);
/* Add to b every line completed by the n bytes at p read from stream;
 * bytes after the last '\n' are kept for the next call. 0, or -1 when b
 * is full or memory ran out. */
int reader_feed(struct reader *r, int stream, const char *p, size_t n,
                struct batch *b);
/* At EOF (or when stopping), add stream's unterminated last line to b, if
 * it has any bytes. 0 or -1. */
int reader_finish(struct reader *r, int stream, struct batch *b);

/* sink.c: the durable handoff. */
struct sink;

struct sink_opts {
	const char *tid;
	const char *redis_url;   /* NULL: spool only */
	const char *spool_dir;
	enum bc_fsync fsync;
};

/* Connect to Redis (warning once on stderr when it is unreachable) and
 * open the spool. NULL with err when neither can hold lines. */
struct sink *sink_new(const struct sink_opts *o, char *err, size_t errlen);
void sink_free(struct sink *s);
/* Give every line of b a seq number and its JSON encoding, appended to
 * out, unless out already holds them (a retry), then store out in Redis,
 * or the spool when Redis fails. 0 once stored; -1 with err when neither
 * took it (out is kept so the caller can retry with the same seqs). */
int sink_put(struct sink *s, const struct batch *b, struct bc_strv *out,
             char *err, size_t errlen);
/* Start seq numbers above the highest one db_url already holds for the
 * thread, so a reused thread id never collides with stored rows even
 * when Redis lost its counter. Best effort: a DB that cannot be reached
 * now is skipped (the flush at the end will say so). */
void sink_floor_from_db(struct sink *s, const char *db_url);
/* Move the thread's buffered lines into the DB at db_url, and record the
 * run's end (status "completed", "error", "cancelled"; exit_code may be
 * -1) when the store can. 0, or -1 with err (the lines stay buffered). */
int sink_flush(struct sink *s, const char *db_url, const char *status,
               int exit_code, char *err, size_t errlen);

/* sender.c: live delivery to the hub. */
struct sender;

/* Start the sender thread for hub_url. NULL with err when the URL is bad
 * or the thread cannot start. */
struct sender *sender_new(const char *hub_url, const char *token,
                          const char *tid, char *err, size_t errlen);
/* Offer encoded records to the hub; waits (at most while the hub makes
 * progress) when the queue is full. They are dropped (with
 * one warning per run) when the queue is full or the hub is down. */
void sender_logs(struct sender *s, const struct bc_strv *recs);
/* Queue an admin event of type with data (a JSON object text). */
void sender_event(struct sender *s, const char *type, const char *data);
/* Deliver what is queued (giving up on log batches after wait_ms), stop
 * the thread and free s. NULL is safe. */
void sender_finish(struct sender *s, long wait_ms);

/* child.c: command mode. */
struct child {
	pid_t pid;
	int out, err;      /* read ends of its stdout and stderr pipes */
};

/* Run argv[0] (searched in PATH) with stdin inherited and stdout/stderr
 * on pipes. 0 once it runs; -1 with errno when it could not be started
 * (ENOENT/EACCES from execvp included). */
int child_spawn(char *const argv[], struct child *c);
/* Reap the child if it has ended. Returns 1 with the waitpid status in
 * *status, 0 while it runs, -1 on error. */
int child_reap(struct child *c, bool block, int *status);

#endif
