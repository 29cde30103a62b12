/* bc_buffer.h - the durable buffer: where a run's lines wait between the
 * emitter and the SQL store, and the one rule for an unreachable Redis.
 *
 * Lines go to Redis (logs:queue:{tid}) when it answers, else to the spool
 * journal; when Redis comes back (tried at most once a second) it is used
 * again. Every batch gets its seq numbers here, above the highest seq
 * stored anywhere for the thread, and is encoded once, as one NDJSON
 * text that Redis, the spool and the hub's POST all take as it is.
 * Flushing moves Redis and the spool into the store (bc_flush).
 *
 * The rule for Redis (bc_buffer_opts.redis_use):
 *   BC_REDIS_NONE     never used.
 *   BC_REDIS_DEFAULT  the built-in default address: used when it answers
 *                     at open; when nothing answers there, there is no
 *                     Redis, silently (the spool is the buffer, a flush
 *                     of the spool is complete).
 *   BC_REDIS_ASKED    configured (flag, environment, file): when it cannot
 *                     be reached the state says so (redis_down, why) for
 *                     the caller to report, lines go to the spool, and a
 *                     flush that could not reach it fails with
 *                     BC_FLUSH_REDIS (75: what Redis holds waits) -- for
 *                     an emitter's own thread only when some of its lines
 *                     went to Redis.
 * A default Redis that answered at open and fails later is treated as
 * asked: it holds lines.
 *
 * Seq numbers: a block is reserved under the spool's flock'ed counter of
 * the thread, and, when Redis is used, from Redis's counter above that
 * (one script), and the counter file is then set to the block's end. So
 * emitters of one thread on one machine never share a seq whichever
 * backend each uses, emitters on several machines never share one through
 * Redis, and the counters only grow. At open the floor is the highest of
 * the store's max(seq), the last records of the Redis list and of the
 * spool journals, and the counters; when the store cannot be read and
 * Redis has no counter for the thread, the floor is the current time in
 * microseconds, which no earlier line can have reached.
 *
 * The library never prints: errors are on the handle (bc_buffer_errstr),
 * the backend in use and why on bc_buffer_state. A handle is used by one
 * thread at a time. */
#ifndef BCAST_BUFFER_H
#define BCAST_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

#include "bc_buf.h"
#include "bc_config.h"
#include "bc_flush.h"
#include "bc_prune.h"
#include "bc_spool.h"

enum bc_stream { BC_STREAM_STDOUT, BC_STREAM_STDERR };

/* Raw lines read in one turn (chomped, at most the line limit each, not
 * yet cleaned): their bytes one after another in bytes. */
struct bc_lines {
	struct bc_buf bytes;
	struct bc_line {
		size_t off, len;
		enum bc_stream stream;
	} *v;
	size_t n, cap;
};

/* An empty set whose bytes may never pass max_bytes (0: no cap). */
void bc_lines_init(struct bc_lines *l, size_t max_bytes);
/* Add the n bytes at p as one line. 0, or -1 (cap or out of memory). */
int bc_lines_add(struct bc_lines *l, enum bc_stream s, const char *p,
                 size_t n);
/* Forget the lines, keep the memory. */
void bc_lines_reset(struct bc_lines *l);
/* Free the memory; l is then empty and reusable. */
void bc_lines_free(struct bc_lines *l);

/* The encoded records of one batch: NDJSON, each record ending in '\n',
 * with seq numbers first_seq..last_seq. */
struct bc_batch {
	struct bc_buf text;
	size_t n;
	long long first_seq, last_seq;
};

void bc_batch_init(struct bc_batch *b);
void bc_batch_reset(struct bc_batch *b);
void bc_batch_free(struct bc_batch *b);

enum bc_redis_use {
	BC_REDIS_NONE,
	BC_REDIS_DEFAULT,
	BC_REDIS_ASKED,
};

struct bc_buffer_opts {
	const char *redis_url;      /* ignored with BC_REDIS_NONE */
	enum bc_redis_use redis_use;
	const char *spool_dir;      /* required */
	const char *db_url;         /* required */
	enum bc_fsync fsync;
	const char *tid;            /* the thread lines are emitted to; NULL
	                               when the handle only flushes */
};

/* Options from the configuration: Redis per the rule (none, the default,
 * or asked), the spool, the DB; fsync none; no thread. Strings point into
 * c. */
void bc_buffer_opts_from(struct bc_buffer_opts *o, const struct bc_config *c);

/* Why bc_buffer_open failed, for the exit code. */
enum bc_buffer_fail {
	BC_BUFFER_BAD_URL,    /* a malformed --redis or --db: usage (64) */
	BC_BUFFER_DENIED,     /* the DB refuses the credentials (69) */
	BC_BUFFER_UNUSABLE,   /* neither Redis nor the spool can hold lines,
	                         or out of memory (74) */
};

struct bc_buffer_state {
	bool redis;             /* the next batch goes to Redis, not the spool */
	bool redis_down;        /* a Redis that should be used is unreachable;
	                           why says what happened */
	bool db_unknown;        /* the store could not be read at open: the
	                           time floor was used */
	unsigned long switches; /* changes of backend so far */
	char why[512];          /* the last reason Redis was left, or "" */
};

/* Check the URLs, connect to Redis (per the rule), open the spool and
 * the store: with a tid to find the seq floor (then closed again), without
 * one for the flush. A store that is down is no error here (the flush
 * says so); one that refuses us is (BC_BUFFER_DENIED). NULL with *fail and
 * err when the buffer cannot be used. The handle owns copies of every
 * string of o. */
struct bc_buffer *bc_buffer_open(const struct bc_buffer_opts *o,
                                 enum bc_buffer_fail *fail, char *err,
                                 size_t errlen);
/* Close everything; NULL is safe. */
void bc_buffer_free(struct bc_buffer *b);
/* The last error, "" if none. Owned by b. */
const char *bc_buffer_errstr(const struct bc_buffer *b);
/* Where lines go now, and why. */
void bc_buffer_state(const struct bc_buffer *b, struct bc_buffer_state *st);

/* Give the lines of in the next seq numbers of the handle's thread and
 * append them, encoded with the time of now, to out (emptied first). 0,
 * or -1 (errstr) when no seq can be reserved or memory ran out. */
int bc_buffer_encode(struct bc_buffer *b, const struct bc_lines *in,
                     struct bc_batch *out);
/* Store batch in Redis, or in the spool when Redis is not used or fails
 * (the same records: flushing is idempotent on (thread_id, seq)). 0 once
 * stored; -1 (errstr) when neither took it: call again with the same
 * batch to retry with the same seqs. */
int bc_buffer_store(struct bc_buffer *b, const struct bc_batch *batch);

/* What to flush. */
struct bc_buffer_flush {
	const char *tid;          /* NULL: every thread in Redis and the spool */
	size_t batch;             /* records per transaction; 0: 5000 */
	const char *status;       /* with tid: the run's status to record
	                             (completed, error, ...), or NULL */
	int exit_code;            /* with status; negative: none */
	void (*progress)(const char *tid, const struct bc_flush_stats *st,
	                 void *arg);
	void *arg;
};

/* Move buffered lines into the store, exactly once per (thread_id, seq),
 * and record the run's status when asked (even when moving failed, if the
 * store answers). Adds to *st. Returns BC_FLUSH_OK, or what failed with
 * errstr saying why: BC_FLUSH_DB (store down), BC_FLUSH_REDIS (Redis
 * could not be drained per the rule: the spool was still moved),
 * BC_FLUSH_SPOOL, BC_FLUSH_CONFLICT (both lines in errstr; that thread's
 * lines stay buffered), BC_FLUSH_BAD_THREAD. With BC_FLUSH_OK and
 * st->invalid > 0 errstr holds the last invalid record's reason. */
enum bc_flush_result bc_buffer_flush(struct bc_buffer *b,
                                     const struct bc_buffer_flush *f,
                                     struct bc_flush_stats *st);

/* Retention (bc_prune): delete from the store the runs that ended more
 * than older_than seconds ago, batch rows per transaction (0: 1000), and
 * their seq counters from the spool. Fills *st. 0, or -1 (errstr). */
int bc_buffer_prune(struct bc_buffer *b, long long older_than,
                    long long batch, struct bc_prune_stats *st);

#endif
