/* bc_spool.h - the local spool: an append-only journal per thread, used
 * when Redis is unreachable or disabled.
 *
 * Layout under DIR:
 *   {thread_id}.journal            NDJSON records, appended under flock
 *   {thread_id}.journal.flushing.* journals claimed by a flusher
 *   {thread_id}.seq                seq counter, updated under flock
 *
 * Each append is one write() of whole records ending in '\n'. A torn last
 * write (crash mid-write) leaves a partial final line: readers skip a final
 * line without '\n', and the next appender first terminates it with '\n',
 * so a torn write never corrupts the records before or after it. */
#ifndef BCAST_SPOOL_H
#define BCAST_SPOOL_H

#include <stddef.h>

#include "bc_strv.h"

enum bc_fsync {
	BC_FSYNC_NONE,     /* leave it to the kernel (survives a killed process) */
	BC_FSYNC_BATCH,    /* fdatasync after every append (survives power loss) */
};

struct bc_spool;

/* Open (and create, mode 0700) the spool directory. NULL with err on
 * failure. */
struct bc_spool *bc_spool_open(const char *dir, enum bc_fsync mode,
                               char *err, size_t errlen);
void bc_spool_free(struct bc_spool *s);
const char *bc_spool_errstr(const struct bc_spool *s);
const char *bc_spool_dir(const struct bc_spool *s);

/* Reserve n seq numbers for tid from the counter file; *first is above
 * both the last number handed out and floor. 0 or -1. */
int bc_spool_reserve_seq(struct bc_spool *s, const char *tid, long long n,
                         long long floor, long long *first);
/* The counter by hand, for a reservation that must also agree with
 * another counter (Redis): lock tid's counter file and read the last seq
 * handed out (0 when new) into *last. Returns a descriptor for
 * bc_spool_seq_unlock, or -1. Hold it briefly: every emitter of tid on
 * this machine waits for it. */
int bc_spool_seq_lock(struct bc_spool *s, const char *tid, long long *last);
/* Store last (when >= 0) as the last seq handed out, then unlock and
 * close fd. 0 or -1 (fd is closed either way). */
int bc_spool_seq_unlock(struct bc_spool *s, int fd, long long last);
/* Append the len bytes of NDJSON at ndjson (whole records, each ending in
 * '\n') to tid's journal in one write. 0 or -1. */
int bc_spool_append(struct bc_spool *s, const char *tid, const char *ndjson,
                    size_t len);

/* Append to out the thread ids that have journals (claimed or not). */
int bc_spool_threads(struct bc_spool *s, struct bc_strv *out);
/* Claim tid's journals for flushing: the live journal is renamed so new
 * appends start a fresh one; already claimed ones (from a crashed flusher)
 * are included. Appends the claimed paths to out. 0 or -1. */
int bc_spool_claim(struct bc_spool *s, const char *tid, struct bc_strv *out);
/* Read the complete records of a claimed journal into out; torn or invalid
 * lines are skipped and counted in *skipped (may be NULL). 0 or -1. */
int bc_spool_read(struct bc_spool *s, const char *path, struct bc_strv *out,
                  size_t *skipped);
/* Read, without claiming anything, the complete records of every journal
 * of tid (live and claimed) into out, in no particular order. The live
 * journal is opened before the claimed ones are listed, so a record moved
 * by a concurrent claim is still read, and a claimed journal is only
 * removed after its records are committed to the store: a reader that
 * reads the spool and then the store misses nothing. 0 or -1. */
int bc_spool_peek(struct bc_spool *s, const char *tid, struct bc_strv *out,
                  size_t *skipped);
/* Remove a claimed journal once its records are committed. 0 or -1. */
int bc_spool_remove(struct bc_spool *s, const char *path);
/* Retention: remove tid's seq counter, for a run that is over and pruned,
 * unless a journal of tid (live or claimed) still holds lines whose seq it
 * guards. 1 removed, 0 kept (or there was none), -1 error. */
int bc_spool_forget(struct bc_spool *s, const char *tid);

/* The highest seq among the records at the end (last 64 KiB) of each of
 * tid's journals, 0 when there are none, or -1 on a read error. */
long long bc_spool_tail_seq(struct bc_spool *s, const char *tid);

#endif
