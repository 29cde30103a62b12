/* bc_redis.h - the Redis durability buffer (hiredis, synchronous).
 *
 * Keys:
 *   logs:queue:{thread_id}   list of JSON log records, oldest first (RPUSH)
 *   logs:seq:{thread_id}     the last seq number reserved (a script reserves
 *                            blocks above it and above a floor)
 *
 * Emitters only append at the tail; flushers read from the head and remove
 * what they committed with a compare-and-trim, so two flushers on one
 * thread can never remove a record the other has not committed. Errors are
 * kept on the handle (bc_redis_errstr); the library never prints. */
#ifndef BCAST_REDIS_H
#define BCAST_REDIS_H

#include <stddef.h>

#include "bc_strv.h"

struct bc_redis;

/* Connect to url (redis://[:PASSWORD@]HOST[:PORT][/DB]) with a connect and
 * command timeout of timeout_ms. Returns a handle, or NULL with the reason
 * in err ("cannot connect to Redis at HOST:PORT: ..."). */
struct bc_redis *bc_redis_connect(const char *url, int timeout_ms,
                                  char *err, size_t errlen);
/* Close and free; NULL is safe. */
void bc_redis_free(struct bc_redis *r);
/* The last error, "" if none. Owned by r. */
const char *bc_redis_errstr(const struct bc_redis *r);
/* Try to reconnect a handle whose connection broke. 0 or -1. */
int bc_redis_reconnect(struct bc_redis *r);

/* Reserve n consecutive seq numbers for tid, all above floor and above
 * every number reserved before; *first receives the first. Atomic in
 * Redis (one script). 0, or -1 on error (see errstr). */
int bc_redis_reserve_seq(struct bc_redis *r, const char *tid, long long n,
                         long long floor, long long *first);
/* The last seq reserved for tid (0 when the counter does not exist), or
 * -1 on error. */
long long bc_redis_seq_last(struct bc_redis *r, const char *tid);
/* RPUSH every line of the len bytes of NDJSON at ndjson (records separated
 * by '\n'; a final '\n' is optional) to tid's queue, in order, pipelined.
 * Nothing is copied but into hiredis's output buffer. Returns 0 once Redis
 * has acknowledged all of them, -1 on error (some may have been stored:
 * the caller re-sends them elsewhere; flushing is idempotent on
 * (thread_id, seq)). */
int bc_redis_push(struct bc_redis *r, const char *tid, const char *ndjson,
                  size_t len);
/* Read up to max records from the head of tid's queue into out (appended).
 * 0 or -1. */
int bc_redis_peek(struct bc_redis *r, const char *tid, size_t max,
                  struct bc_strv *out);
/* Read-side, removes nothing: read up to max records of tid's queue
 * starting at index start (0 is the head) into out (appended). 0 or -1.
 * A handle is used by one thread at a time; a worker thread opens its
 * own. */
int bc_redis_range(struct bc_redis *r, const char *tid, size_t start,
                   size_t max, struct bc_strv *out);
/* Remove the first n records of tid's queue if its head is still first
 * (first_len bytes). Returns 1 when removed, 0 when the head changed (another
 * flusher got there; nothing removed), -1 on error. */
int bc_redis_trim(struct bc_redis *r, const char *tid, const char *first,
                  size_t first_len, size_t n);
/* Append the thread ids that have a queue to out. 0 or -1. */
int bc_redis_threads(struct bc_redis *r, struct bc_strv *out);
/* Length of tid's queue, or -1 on error. */
long long bc_redis_queue_len(struct bc_redis *r, const char *tid);

#endif
