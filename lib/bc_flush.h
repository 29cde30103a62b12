/* bc_flush.h - moving buffered records (Redis lists and spool journals)
 * into the SQL store, exactly once per (thread_id, seq).
 *
 * For each batch: read from the head of the buffer, insert in one
 * transaction (duplicates skipped), commit, and only then remove the batch
 * from Redis (compare-and-trim) or the spool (unlink the claimed journal).
 * A crash at any point leaves the data in the buffer; the next flush
 * inserts nothing twice. */
#ifndef BCAST_FLUSH_H
#define BCAST_FLUSH_H

#include <stddef.h>

#include "bc_redis.h"
#include "bc_spool.h"
#include "bc_store.h"

struct bc_flush_stats {
	long long read;        /* records read from buffers */
	long long inserted;    /* rows newly inserted */
	long long duplicates;  /* records that were already stored */
	long long invalid;     /* unparseable records skipped (kept in err) */
	long long threads;     /* threads visited */
	long long threads_total; /* threads found by bc_flush_all */
};

/* How a flush ended, so the caller can pick the exit code. */
enum bc_flush_result {
	BC_FLUSH_OK = 0,
	BC_FLUSH_REDIS,      /* Redis unreachable or erroring: temporary */
	BC_FLUSH_DB,         /* the store failed: temporary */
	BC_FLUSH_SPOOL,      /* a spool file could not be read/removed: I/O */
	BC_FLUSH_CONFLICT,   /* a stored (thread_id, seq) holds another line:
	                        bad data, both lines in err, kept buffered */
	BC_FLUSH_BAD_THREAD, /* the thread id is not valid: usage */
};

struct bc_flush_opts {
	struct bc_redis *redis;   /* may be NULL (no Redis) */
	struct bc_spool *spool;   /* may be NULL */
	struct bc_store *store;   /* required */
	size_t batch;             /* records per transaction; 0 means 5000 */
	/* Called after each committed batch, may be NULL. */
	void (*progress)(const char *tid, const struct bc_flush_stats *st,
	                 void *arg);
	void *arg;
};

/* Flush one thread. Adds to *st. Returns BC_FLUSH_OK or the failing side
 * with a one-line reason in err. Data is never removed before commit. */
enum bc_flush_result bc_flush_thread(const struct bc_flush_opts *o,
                                   const char *tid, struct bc_flush_stats *st,
                                   char *err, size_t errlen);
/* Flush every thread found in Redis and the spool. Stops at the first
 * failure (what was committed stays committed), except a conflict, which
 * stops only its thread; the first conflict is then returned. */
enum bc_flush_result bc_flush_all(const struct bc_flush_opts *o,
                                struct bc_flush_stats *st,
                                char *err, size_t errlen);

#endif
