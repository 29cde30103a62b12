/* bc_store_sqlite.c - the SQLite backend of the store.
 *
 * The database runs in WAL mode with a 5 s busy timeout, so a hub reading
 * history and several flushers writing can share one file. A batch is one
 * BEGIN IMMEDIATE transaction over one prepared INSERT OR IGNORE; the rows
 * newly stored are the sum of sqlite3_changes(). A row that was ignored is
 * read back: the same line and stream is a duplicate, another is a
 * conflict that rolls the batch back. ts is kept as the text
 * the record carried. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "bc_config.h"
#include "bc_store_impl.h"

#define BUSY_MS 5000

struct sq {
	sqlite3 *db;
	sqlite3_stmt *ins;
	sqlite3_stmt *get;   /* the stored line of a duplicate */
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS thread_logs ("
	" thread_id TEXT NOT NULL,"
	" seq BIGINT NOT NULL,"
	" ts TEXT NOT NULL,"
	" stream TEXT NOT NULL DEFAULT 'stdout',"
	" line TEXT NOT NULL,"
	" PRIMARY KEY (thread_id, seq));"
	"CREATE TABLE IF NOT EXISTS thread_runs ("
	" thread_id TEXT PRIMARY KEY,"
	" status TEXT NOT NULL,"
	" exit_code INTEGER,"
	" updated_at TEXT NOT NULL,"
	" started_at TEXT,"
	" ended_at TEXT);";

/* Columns that tables made by older versions lack. */
static const char *const migrations[] = {
	"ALTER TABLE thread_runs ADD COLUMN started_at TEXT",
	"ALTER TABLE thread_runs ADD COLUMN ended_at TEXT",
};

static int fail(struct bc_store *st, const char *what)
{
	struct sq *q = st->impl;
	bc_store_set_err(st, "SQLite %s: %s", what, sqlite3_errmsg(q->db));
	return -1;
}

/* Run sql, retrying for a while if another connection holds the lock
 * (journal_mode changes do not always go through the busy handler). */
static int exec_retry(struct sqlite3 *db, const char *sql)
{
	int rc = SQLITE_OK;
	for (int i = 0; i < 100; i++) {
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return rc;
}

static int sq_open(struct bc_store *st, const char *path)
{
	char *dir = strdup(path);
	if (!dir) {
		bc_store_set_err(st, "out of memory");
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (bc_mkdir_p(dir) != 0) {
			bc_store_set_err(st,
			                 "cannot open SQLite database %s: cannot create %s: %s",
			                 path, dir, strerror(errno));
			free(dir);
			return -1;
		}
	}
	free(dir);

	struct sq *q = calloc(1, sizeof *q);
	if (!q) {
		bc_store_set_err(st, "out of memory");
		return -1;
	}
	st->impl = q;
	if (sqlite3_open_v2(path, &q->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		bc_store_set_err(st, "cannot open SQLite database %s: %s", path,
		                 q->db ? sqlite3_errmsg(q->db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(q->db, st->timeout_s > 0 ? st->timeout_s * 1000 : BUSY_MS);
	if (exec_retry(q->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    exec_retry(q->db, schema) != SQLITE_OK) {
		bc_store_set_err(st, "cannot open SQLite database %s: %s", path,
		                 sqlite3_errmsg(q->db));
		return -1;
	}
	for (size_t i = 0; i < sizeof migrations / sizeof *migrations; i++)
		if (exec_retry(q->db, migrations[i]) != SQLITE_OK &&
		    !strstr(sqlite3_errmsg(q->db), "duplicate column")) {
			bc_store_set_err(st, "cannot migrate SQLite database %s: %s",
			                 path, sqlite3_errmsg(q->db));
			return -1;
		}
	if (sqlite3_prepare_v2(q->db,
	                       "INSERT OR IGNORE INTO thread_logs"
	                       " (thread_id, seq, ts, stream, line)"
	                       " VALUES (?, ?, ?, ?, ?)",
	                       -1, &q->ins, NULL) != SQLITE_OK) {
		bc_store_set_err(st, "cannot open SQLite database %s: %s", path,
		                 sqlite3_errmsg(q->db));
		return -1;
	}
	if (sqlite3_prepare_v2(q->db,
	                       "SELECT line, stream FROM thread_logs"
	                       " WHERE thread_id = ? AND seq = ?",
	                       -1, &q->get, NULL) != SQLITE_OK) {
		bc_store_set_err(st, "cannot open SQLite database %s: %s", path,
		                 sqlite3_errmsg(q->db));
		return -1;
	}
	return 0;
}

static void sq_close(struct bc_store *st)
{
	struct sq *q = st->impl;
	sqlite3_finalize(q->ins);
	sqlite3_finalize(q->get);
	sqlite3_close(q->db);
	free(q);
	st->impl = NULL;
}

/* r was not inserted: 0 when the stored row holds the same line and
 * stream, BC_STORE_CONFLICT (err set) when not, -1 on error. */
static int sq_same(struct bc_store *st, const struct bc_record *r)
{
	struct sq *q = st->impl;
	int rc = -1;
	sqlite3_reset(q->get);
	sqlite3_bind_text(q->get, 1, r->thread_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->get, 2, r->seq);
	if (sqlite3_step(q->get) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(q->get, 0);
		size_t n = (size_t)sqlite3_column_bytes(q->get, 0);
		const char *stream = (const char *)sqlite3_column_text(q->get, 1);
		const char *want = r->stream[0] ? r->stream : "stdout";
		if (line && n == r->line_len && memcmp(line, r->line, n) == 0 &&
		    stream && strcmp(stream, want) == 0)
			rc = 0;
		else
			rc = bc_store_conflict_err(st, r->thread_id, r->seq,
			                           line ? line : "", line ? n : 0,
			                           r->line, r->line_len);
	} else {
		fail(st, "SELECT");
	}
	sqlite3_reset(q->get);
	return rc;
}

static long long sq_insert(struct bc_store *st, const struct bc_record *recs,
                           size_t n)
{
	struct sq *q = st->impl;
	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fail(st, "BEGIN");
	long long added = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bc_record *r = &recs[i];
		char now[BC_TS_LEN];
		const char *ts = r->ts;
		if (!bc_ts_valid(ts, strlen(ts))) {
			bc_ts_now(now);
			ts = now;
		}
		sqlite3_reset(q->ins);
		sqlite3_bind_text(q->ins, 1, r->thread_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q->ins, 2, r->seq);
		sqlite3_bind_text(q->ins, 3, ts, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q->ins, 4, r->stream[0] ? r->stream : "stdout",
		                  -1, SQLITE_STATIC);
		sqlite3_bind_text(q->ins, 5, r->line, (int)r->line_len,
		                  SQLITE_STATIC);
		int rc = -1;
		if (sqlite3_step(q->ins) != SQLITE_DONE)
			fail(st, "INSERT");
		else if (sqlite3_changes(q->db) == 0)
			rc = sq_same(st, r);
		else
			rc = 1;
		if (rc < 0) {
			sqlite3_reset(q->ins);
			sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		added += rc;
	}
	sqlite3_reset(q->ins);
	sqlite3_clear_bindings(q->ins);
	if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fail(st, "COMMIT");
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return added;
}

static long long sq_history(struct bc_store *st, const char *tid,
                            long long after, long long limit, int desc,
                            bc_store_row_cb cb, void *arg)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db, desc
	                       ? "SELECT seq, ts, stream, line FROM thread_logs"
	                         " WHERE thread_id = ? AND seq > ?"
	                         " ORDER BY seq DESC LIMIT ?"
	                       : "SELECT seq, ts, stream, line FROM thread_logs"
	                         " WHERE thread_id = ? AND seq > ?"
	                         " ORDER BY seq LIMIT ?",
	                       -1, &s, NULL) != SQLITE_OK)
		return fail(st, "SELECT");
	sqlite3_bind_text(s, 1, tid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int64(s, 3, limit < 0 ? -1 : limit);
	long long rows = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct bc_record r = { 0 };
		snprintf(r.thread_id, sizeof r.thread_id, "%s", tid);
		r.seq = sqlite3_column_int64(s, 0);
		snprintf(r.ts, sizeof r.ts, "%s",
		         (const char *)sqlite3_column_text(s, 1));
		snprintf(r.stream, sizeof r.stream, "%s",
		         (const char *)sqlite3_column_text(s, 2));
		const unsigned char *line = sqlite3_column_text(s, 3);
		r.line = (char *)(line ? (const char *)line : "");
		r.line_len = (size_t)sqlite3_column_bytes(s, 3);
		rows++;
		if (cb && cb(&r, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		fail(st, "SELECT");
		rows = -1;
	}
	sqlite3_finalize(s);
	return rows;
}

static long long sq_aggregate(struct bc_store *st, const char *tid,
                              const char *expr)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT %s FROM thread_logs WHERE thread_id = ?",
	         expr);
	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, "SELECT");
	sqlite3_bind_text(s, 1, tid, -1, SQLITE_STATIC);
	long long n = -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else
		fail(st, "SELECT");
	sqlite3_finalize(s);
	return n;
}

static int sq_set_run(struct bc_store *st, const char *tid, const char *status,
                      int exit_code)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db,
	                       "INSERT INTO thread_runs"
	                       " (thread_id, status, exit_code, updated_at, ended_at)"
	                       " VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET"
	                       " status = excluded.status, exit_code = excluded.exit_code,"
	                       " updated_at = excluded.updated_at,"
	                       " ended_at = excluded.ended_at",
	                       -1, &s, NULL) != SQLITE_OK)
		return fail(st, "INSERT");
	char now[BC_TS_LEN];
	bc_ts_now(now);
	sqlite3_bind_text(s, 1, tid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
	if (exit_code < 0)
		sqlite3_bind_null(s, 3);
	else
		sqlite3_bind_int(s, 3, exit_code);
	sqlite3_bind_text(s, 4, now, -1, SQLITE_STATIC);
	if (strcmp(status, "running") == 0)
		sqlite3_bind_null(s, 5);
	else
		sqlite3_bind_text(s, 5, now, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(st, "INSERT");
	sqlite3_finalize(s);
	return rc;
}

static int sq_run_start(struct bc_store *st, const char *tid)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db,
	                       "INSERT INTO thread_runs (thread_id, status,"
	                       " exit_code, updated_at, started_at, ended_at)"
	                       " VALUES (?, 'running', NULL, ?, ?, NULL)"
	                       " ON CONFLICT (thread_id) DO UPDATE SET"
	                       " status = 'running', exit_code = NULL,"
	                       " updated_at = excluded.updated_at,"
	                       " started_at = excluded.started_at, ended_at = NULL",
	                       -1, &s, NULL) != SQLITE_OK)
		return fail(st, "INSERT");
	char now[BC_TS_LEN];
	bc_ts_now(now);
	sqlite3_bind_text(s, 1, tid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, now, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(st, "INSERT");
	sqlite3_finalize(s);
	return rc;
}

/* Copy column i (text or NULL) to out. */
static void col_text(sqlite3_stmt *s, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	snprintf(out, n, "%s", t ? (const char *)t : "");
}

static long long sq_runs(struct bc_store *st, const char *status_in,
                         const char *before, long long limit,
                         bc_store_run_cb cb, void *arg)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "SELECT thread_id, status, started_at, ended_at,"
	         " coalesce(started_at, updated_at) AS k, exit_code,"
	         " (SELECT count(*) FROM thread_logs l"
	         "  WHERE l.thread_id = r.thread_id)"
	         " FROM thread_runs r WHERE status IN (%s)%s"
	         " ORDER BY k DESC, thread_id DESC LIMIT ?",
	         status_in, before ? " AND coalesce(started_at, updated_at) < ?" : "");
	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, "SELECT");
	int k = 1;
	if (before)
		sqlite3_bind_text(s, k++, before, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, k, limit < 0 ? -1 : limit);
	long long rows = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct bc_run r;
		memset(&r, 0, sizeof r);
		col_text(s, 0, r.thread_id, sizeof r.thread_id);
		col_text(s, 1, r.status, sizeof r.status);
		col_text(s, 2, r.started_at, sizeof r.started_at);
		col_text(s, 3, r.ended_at, sizeof r.ended_at);
		col_text(s, 4, r.sort_key, sizeof r.sort_key);
		r.exit_code = sqlite3_column_type(s, 5) == SQLITE_NULL
		            ? -1 : sqlite3_column_int(s, 5);
		r.lines = sqlite3_column_int64(s, 6);
		rows++;
		if (cb && cb(&r, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		fail(st, "SELECT");
		rows = -1;
	}
	sqlite3_finalize(s);
	return rows;
}

/* A run is prunable when it is over and ended before ?2 (runs recorded
 * before ended_at existed: their last update). */
#define PRUNABLE "status <> 'running' AND coalesce(ended_at, updated_at) < ?2"

static long long sq_prune_list(struct bc_store *st, const char *before,
                               long long limit, struct bc_strv *out)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db,
	                       "SELECT thread_id FROM thread_runs WHERE "
	                       PRUNABLE " ORDER BY coalesce(ended_at, updated_at) LIMIT ?3",
	                       -1, &s, NULL) != SQLITE_OK)
		return fail(st, "SELECT");
	sqlite3_bind_text(s, 2, before, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, limit);
	long long n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		if (t && bc_strv_push(out, t, strlen(t)) != 0) {
			bc_store_set_err(st, "out of memory");
			sqlite3_finalize(s);
			return -1;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		n = fail(st, "SELECT");
	sqlite3_finalize(s);
	return n;
}

/* Run a prune statement with ?1 = tid, ?2 = before, ?3 = batch (each
 * where it occurs); the rows it changed, or -1. */
static long long sq_prune_exec(struct bc_store *st, const char *sql,
                               const char *tid, const char *before,
                               long long batch)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, "DELETE");
	sqlite3_bind_text(s, 1, tid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, before, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, batch);
	long long n = sqlite3_step(s) == SQLITE_DONE ? sqlite3_changes(q->db)
	                                             : fail(st, "DELETE");
	sqlite3_finalize(s);
	return n;
}

static long long sq_prune_lines(struct bc_store *st, const char *tid,
                                const char *before, long long batch)
{
	return sq_prune_exec(st,
	                     "DELETE FROM thread_logs WHERE rowid IN"
	                     " (SELECT rowid FROM thread_logs WHERE thread_id = ?1"
	                     "  LIMIT ?3)"
	                     " AND EXISTS (SELECT 1 FROM thread_runs"
	                     "  WHERE thread_id = ?1 AND " PRUNABLE ")",
	                     tid, before, batch);
}

static int sq_prune_run(struct bc_store *st, const char *tid,
                        const char *before)
{
	return (int)sq_prune_exec(st,
	                          "DELETE FROM thread_runs WHERE thread_id = ?1 AND "
	                          PRUNABLE,
	                          tid, before, 0);
}

const struct bc_store_ops bc_store_sqlite_ops = {
	.kind = "sqlite",
	.check = NULL,
	.open = sq_open,
	.close = sq_close,
	.insert = sq_insert,
	.history = sq_history,
	.aggregate = sq_aggregate,
	.set_run = sq_set_run,
	.run_start = sq_run_start,
	.runs = sq_runs,
	.prune_list = sq_prune_list,
	.prune_lines = sq_prune_lines,
	.prune_run = sq_prune_run,
};
