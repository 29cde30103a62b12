/* bc_history.h - a thread's lines as a viewer should see them: the rows
 * of thread_logs merged with the records still buffered in the Redis list
 * logs:queue:{tid} and in the spool journals, by seq, each (thread_id, seq)
 * once, oldest first, during a run as after it.
 *
 * Reading order is what makes a concurrent flush harmless: the buffers
 * are read first and the store last. A flush removes a record from its
 * buffer only after the transaction that stored it committed, so a record
 * is either still in a buffer when the buffers are read, or already in
 * the store when the store is read. Records read from both are kept once
 * (the store's copy).
 *
 * Buffered records are re-encoded (bc_record_encode) so every record
 * reads the same whatever its source. The library never prints; errors
 * go to err. */
#ifndef BCAST_HISTORY_H
#define BCAST_HISTORY_H

#include <stddef.h>

#include "bc_redis.h"
#include "bc_spool.h"
#include "bc_store.h"
#include "bc_strv.h"

struct bc_history_src {
	struct bc_store *store;   /* required */
	struct bc_redis *redis;   /* NULL: no Redis */
	struct bc_spool *spool;   /* NULL: no spool */
};

/* Which side failed, for the caller's status code. */
enum bc_history_fail {
	BC_HISTORY_OK = 0,
	BC_HISTORY_REDIS,
	BC_HISTORY_SPOOL,
	BC_HISTORY_DB,
	BC_HISTORY_NOMEM,
};

struct bc_history_page {
	struct bc_strv json;      /* one JSON record each, oldest first */
	long long *seq;           /* seq[i] of json.v[i] */
	size_t cap;
	int more;                 /* records with a higher seq exist */
};

void bc_history_page_init(struct bc_history_page *p);
/* Free everything; p is then empty and reusable. NULL safe. */
void bc_history_page_free(struct bc_history_page *p);

/* Fill p (emptied first) with the records of tid whose seq > after,
 * oldest first, at most limit (>= 1); p->more tells whether more follow.
 * Returns BC_HISTORY_OK or the failing side with a one-line reason in
 * err. */
enum bc_history_fail bc_history_read(const struct bc_history_src *src,
                                     const char *tid, long long after,
                                     size_t limit, struct bc_history_page *p,
                                     char *err, size_t errlen);

/* The after value at which a page starts with the n-th last record of tid
 * (n >= 1): -1 when tid has at most n records. Same return as
 * bc_history_read. */
enum bc_history_fail bc_history_tail_after(const struct bc_history_src *src,
                                           const char *tid, size_t n,
                                           long long *after, char *err,
                                           size_t errlen);

#endif
