/* bc_prune.h - retention: delete the runs that ended long ago, their rows
 * in the store and their seq counters in the spool.
 *
 * A run is pruned when thread_runs says it is over (any status but
 * running) and it ended before now minus the retention. Rows go in
 * bounded batches (bc_store_prune), so a hub reading history and emitters
 * flushing meanwhile never wait long. */
#ifndef BCAST_PRUNE_H
#define BCAST_PRUNE_H

#include <stddef.h>

#include "bc_clock.h"
#include "bc_spool.h"
#include "bc_store.h"

struct bc_prune_stats {
	long long runs;          /* thread_runs rows deleted */
	long long lines;         /* thread_logs rows deleted */
	long long counters;      /* spool seq counter files removed */
	char before[BC_TS_LEN];  /* the cutoff: runs that ended before it */
};

/* Parse a duration: one or more NUMBER UNIT pairs with UNIT one of s, m,
 * h, d, w ("30d", "12h", "1d12h", "0s"). 0 with *seconds set, or -1 when
 * text is not one (or overflows). */
int bc_prune_duration(const char *text, long long *seconds);

/* Delete from store every run that is over and ended more than older_than
 * seconds ago, batch rows per transaction (0: 1000), and remove the seq
 * counter of each from spool (may be NULL). Fills *out. 0, or -1 with err
 * (what was removed stays removed and is counted in *out). */
int bc_prune(struct bc_store *store, struct bc_spool *spool,
             long long older_than, long long batch,
             struct bc_prune_stats *out, char *err, size_t errlen);

#endif
