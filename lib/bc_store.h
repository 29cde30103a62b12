/* bc_store.h - the SQL store: table thread_logs in SQLite or PostgreSQL.
 *
 *   CREATE TABLE thread_logs (
 *     thread_id TEXT NOT NULL, seq BIGINT NOT NULL,
 *     ts TIMESTAMPTZ NOT NULL,   -- TEXT in SQLite
 *     stream TEXT NOT NULL DEFAULT 'stdout', line TEXT NOT NULL,
 *     PRIMARY KEY (thread_id, seq));
 *
 * URLs: "sqlite:PATH" (the file and its directory are created) or a libpq
 * "postgresql://" / "postgres://" URI. The table is created if missing.
 * Inserts are batched in one transaction and idempotent on
 * (thread_id, seq): a record already stored is skipped, never doubled,
 * and one whose (thread_id, seq) holds a different line is a conflict,
 * never a silent skip.
 * Errors are kept on the handle; the library never prints. A handle is
 * used by one thread at a time. */
#ifndef BCAST_STORE_H
#define BCAST_STORE_H

#include <stddef.h>

#include "bc_record.h"

struct bc_store;

/* Why bc_store_open_why failed, for the caller's exit code. */
enum bc_store_fail {
	BC_STORE_DOWN,     /* cannot reach or open it now: try again later */
	BC_STORE_BAD_URL,  /* the URL is malformed: a usage error */
	BC_STORE_DENIED,   /* the server refuses us (credentials, no such
	                      database or role): retrying will not help */
};

/* bc_store_insert's result when a row with the same (thread_id, seq)
 * already holds a different line. */
#define BC_STORE_CONFLICT (-2)

/* Open url and create the schema if missing. NULL with err on failure
 * ("cannot connect to PostgreSQL: ..." / "cannot open SQLite database
 * PATH: ..."). */
struct bc_store *bc_store_open(const char *url, char *err, size_t errlen);
/* bc_store_open that also says why it failed in *why (may be NULL). */
struct bc_store *bc_store_open_why(const char *url, enum bc_store_fail *why,
                                   char *err, size_t errlen);
/* Check the form of url without connecting (libpq's own parser for
 * PostgreSQL). 0, or -1 with "bad database URL 'URL': expected ..." */
int bc_store_url_check(const char *url, char *err, size_t errlen);
/* bc_store_open with a bound on waiting: connecting, and each query, give
 * up after timeout_s seconds (PostgreSQL: connect_timeout, TCP keepalives
 * and tcp_user_timeout, statement_timeout on the server, and a deadline on
 * the client that cancels the query; SQLite: the busy timeout). 0: the
 * defaults of bc_store_open (10 s to connect, no query deadline). Settings
 * in a postgresql:// URL itself win. */
struct bc_store *bc_store_open_timeout(const char *url, int timeout_s,
                                       char *err, size_t errlen);
void bc_store_close(struct bc_store *st);
const char *bc_store_errstr(const struct bc_store *st);
/* "sqlite" or "postgresql". */
const char *bc_store_kind(const struct bc_store *st);

/* Insert n records in one transaction. Returns the number of rows newly
 * inserted (records already stored with the same line and stream are
 * skipped), or -1 on error, or BC_STORE_CONFLICT when a stored row with
 * the same (thread_id, seq) holds another line (errstr names the thread,
 * the seq and both lines); after -1 or a conflict nothing was committed. */
long long bc_store_insert(struct bc_store *st, const struct bc_record *recs,
                          size_t n);

/* Called for each history row, oldest first. r is valid during the call. A
 * non-zero return stops the query. */
typedef int (*bc_store_row_cb)(const struct bc_record *r, void *arg);
/* Rows of tid with seq > after, oldest first, at most limit (a negative
 * limit means no limit). Returns the number of rows passed to cb, or -1 on
 * error. */
long long bc_store_history(struct bc_store *st, const char *tid,
                           long long after, long long limit,
                           bc_store_row_cb cb, void *arg);
/* Number of rows stored for tid, or -1. */
long long bc_store_count(struct bc_store *st, const char *tid);
/* The highest seq stored for tid (0 when none), or -1. */
long long bc_store_max_seq(struct bc_store *st, const char *tid);

/* Like bc_store_history, but the newest first: rows of tid with seq >
 * after, highest seq first, at most limit. Returns the rows passed to cb,
 * or -1. */
long long bc_store_history_desc(struct bc_store *st, const char *tid,
                                long long after, long long limit,
                                bc_store_row_cb cb, void *arg);

/* Runs live in table thread_runs:
 *   thread_id TEXT PRIMARY KEY, status TEXT NOT NULL, exit_code INTEGER,
 *   updated_at, started_at, ended_at (TIMESTAMPTZ; TEXT in SQLite)
 * Tables made by older versions gain started_at and ended_at when opened. */

/* Mark run tid running since now: status "running", started_at now,
 * ended_at and exit_code NULL (a reused thread id starts a new run).
 * 0 or -1. */
int bc_store_run_start(struct bc_store *st, const char *tid);

/* Record the status of run tid, replacing any earlier one. status is
 * "completed", "error", "cancelled", "paused" (ended_at becomes now) or
 * "running" (ended_at NULL); a negative exit_code is stored as NULL.
 * started_at is kept; a run first seen here gets none. 0 or -1. */
int bc_store_set_run(struct bc_store *st, const char *tid, const char *status,
                     int exit_code);

/* One row of the runs list. Times are RFC 3339 UTC ("" when NULL). */
struct bc_run {
	char thread_id[BC_TID_MAX + 1];
	char status[16];
	char started_at[BC_TS_LEN];
	char ended_at[BC_TS_LEN];
	char sort_key[BC_TS_LEN];  /* started_at, else updated_at: the order */
	int exit_code;             /* -1 when NULL */
	long long lines;           /* rows stored in thread_logs */
};
/* Bits of bc_store_runs' status filter. */
enum {
	BC_RUN_RUNNING = 1, BC_RUN_COMPLETED = 2, BC_RUN_ERROR = 4,
	BC_RUN_CANCELLED = 8, BC_RUN_PAUSED = 16, BC_RUN_ALL = 31,
};
/* The bit of a status name, 0 when it is not one. */
int bc_store_run_status_bit(const char *status);
typedef int (*bc_store_run_cb)(const struct bc_run *r, void *arg);
/* Runs whose status is in mask, newest first by sort_key, only those
 * with sort_key < before when before is not NULL (an RFC 3339 time), at
 * most limit. Returns the rows passed to cb (a non-zero return stops), or
 * -1. */
long long bc_store_runs(struct bc_store *st, int mask, const char *before,
                        long long limit, bc_store_run_cb cb, void *arg);

/* Called by bc_store_prune after run tid is gone, with its rows deleted. */
typedef void (*bc_store_prune_cb)(const char *tid, long long lines,
                                  void *arg);
/* Retention: delete the runs that are over (thread_runs.status other than
 * running) and ended (ended_at, else updated_at for rows older than that
 * column) before `before` (RFC 3339 UTC, as bc_ts_now writes it): first
 * the run's thread_logs rows, at most batch rows per transaction so no
 * lock is held for long, then its thread_runs row. A run whose id starts
 * again meanwhile is left alone; a run cut off half way is finished by
 * the next call. Lines stored with no thread_runs row are never pruned.
 * cb (may be NULL) is called after each run is gone. Returns the runs
 * removed and adds the rows deleted to *lines, or -1 (what was removed
 * stays removed). */
long long bc_store_prune(struct bc_store *st, const char *before,
                         long long batch, long long *lines,
                         bc_store_prune_cb cb, void *arg);

#endif
