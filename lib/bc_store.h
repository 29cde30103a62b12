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
 * (thread_id, seq): a record already stored is skipped, never doubled.
 * Errors are kept on the handle; the library never prints. A handle is
 * used by one thread at a time. */
#ifndef BCAST_STORE_H
#define BCAST_STORE_H

#include <stddef.h>

#include "bc_record.h"

struct bc_store;

/* Open url and create the schema if missing. NULL with err on failure
 * ("cannot connect to PostgreSQL: ..." / "cannot open SQLite database
 * PATH: ..."). */
struct bc_store *bc_store_open(const char *url, char *err, size_t errlen);
void bc_store_close(struct bc_store *st);
const char *bc_store_errstr(const struct bc_store *st);
/* "sqlite" or "postgresql". */
const char *bc_store_kind(const struct bc_store *st);

/* Insert n records in one transaction. Returns the number of rows newly
 * inserted (records already present are skipped), or -1 on error, in which
 * case nothing was committed. */
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

/* Record the status of run tid in table thread_runs (thread_id, status,
 * exit_code, updated_at), replacing any earlier one. status is e.g.
 * "completed", "error", "cancelled", "paused"; a negative exit_code is
 * stored as NULL. 0 or -1. */
int bc_store_set_run(struct bc_store *st, const char *tid, const char *status,
                     int exit_code);

#endif
