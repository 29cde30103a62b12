/* bc_store_pg.c - the PostgreSQL backend of the store (libpq).
 *
 * A batch is one transaction holding statements of at most ROWS_PER_STMT
 * rows, each
 *   INSERT INTO thread_logs (...) SELECT ... FROM unnest($1::text[], ...)
 *   ON CONFLICT (thread_id, seq) DO NOTHING
 * with the five columns sent as five array literals (PQexecParams): five
 * parameters whatever the rows, so PostgreSQL parses and plans a short
 * statement instead of a VALUES list of thousands of rows. PQcmdTuples
 * gives the rows newly stored. When a statement skipped rows, one SELECT
 * in the same transaction joins the same arrays with the stored rows: a
 * skipped row whose stored line or stream differs is a conflict, and the
 * batch is rolled back. A deadlock or serialization failure between concurrent
 * flushers retries the batch (the insert is idempotent).
 *
 * A connection found broken is reset (PQreset) and the call retried once,
 * so a long-lived hub survives a PostgreSQL restart. The schema is created
 * under an advisory lock so concurrent first runs do not race. Notices are
 * swallowed: the library never prints. ts is TIMESTAMPTZ and is read back
 * as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "bc_buf.h"
#include "bc_store_impl.h"

#define ROWS_PER_STMT 10000   /* rows per statement */
#define CONNECT_TIMEOUT "10"
#define TX_TRIES 5

struct pg {
	PGconn *conn;
};

static const char insert_sql[] =
	"INSERT INTO thread_logs (thread_id, seq, ts, stream, line)"
	" SELECT t, s, coalesce(ts, now()), st, l FROM unnest($1::text[],"
	" $2::bigint[], $3::timestamptz[], $4::text[], $5::text[])"
	" AS u(t, s, ts, st, l) ON CONFLICT (thread_id, seq) DO NOTHING";

/* The first row of the batch whose stored row holds another stream or
 * line (run after the insert, in its transaction). */
static const char check_sql[] =
	"SELECT u.s, x.line, u.l FROM unnest($1::text[], $2::bigint[],"
	" $3::timestamptz[], $4::text[], $5::text[]) AS u(t, s, ts, st, l)"
	" JOIN thread_logs x ON x.thread_id = u.t AND x.seq = u.s"
	" WHERE x.line <> u.l OR x.stream <> u.st LIMIT 1";

static const char schema[] =
	"BEGIN;"
	"SELECT pg_advisory_xact_lock(7316842391);"
	"CREATE TABLE IF NOT EXISTS thread_logs ("
	" thread_id TEXT NOT NULL,"
	" seq BIGINT NOT NULL,"
	" ts TIMESTAMPTZ NOT NULL,"
	" stream TEXT NOT NULL DEFAULT 'stdout',"
	" line TEXT NOT NULL,"
	" PRIMARY KEY (thread_id, seq));"
	"CREATE TABLE IF NOT EXISTS thread_runs ("
	" thread_id TEXT PRIMARY KEY,"
	" status TEXT NOT NULL,"
	" exit_code INTEGER,"
	" updated_at TIMESTAMPTZ NOT NULL DEFAULT now());"
	"ALTER TABLE thread_runs ADD COLUMN IF NOT EXISTS started_at TIMESTAMPTZ;"
	"ALTER TABLE thread_runs ADD COLUMN IF NOT EXISTS ended_at TIMESTAMPTZ;"
	"COMMIT;";

/* A TIMESTAMPTZ column as RFC 3339 UTC with microseconds. */
#define TS_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC'," \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Set err to what followed by libpq's message on one line. */
static void pg_err(struct bc_store *st, const char *what, const char *msg)
{
	char line[sizeof st->err];
	size_t n = 0;
	for (const char *p = msg; *p && n + 1 < sizeof line; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			if (n > 0 && line[n - 1] != ' ')
				line[n++] = ' ';
			continue;
		}
		line[n++] = *p;
	}
	while (n > 0 && line[n - 1] == ' ')
		n--;
	line[n] = '\0';
	bc_store_set_err(st, "%s%s", what, line);
}

static int fail_res(struct bc_store *st, PGresult *res)
{
	struct pg *p = st->impl;
	pg_err(st, "PostgreSQL: ",
	       res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn));
	PQclear(res);
	return -1;
}

/* Run a command that returns no rows. 0 or -1. */
static int exec_cmd(struct bc_store *st, const char *sql)
{
	struct pg *p = st->impl;
	PGresult *res = PQexec(p->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		return fail_res(st, res);
	PQclear(res);
	return 0;
}

/* True when a failed connection was refused by the server for who we
 * are (password, pg_hba, missing role or database), not for being down.
 * libpq gives no SQLSTATE before the connection is up, only its text. */
static int refused(PGconn *conn)
{
	static const char *const why[] = {
		"password authentication failed", "no password supplied",
		"no pg_hba.conf entry", "does not exist", "permission denied",
		"authentication failed", NULL,
	};
	const char *msg = PQerrorMessage(conn);
	if (PQconnectionNeedsPassword(conn))
		return 1;
	for (int i = 0; why[i]; i++)
		if (strstr(msg, why[i]))
			return 1;
	return 0;
}

static int pg_check(const char *url, char *err, size_t errlen)
{
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(url, &msg);
	if (!o) {
		char line[512];
		size_t n = 0;
		for (const char *p = msg ? msg : "out of memory";
		     *p && n + 1 < sizeof line; p++)
			line[n++] = *p == '\n' ? ' ' : *p;
		while (n > 0 && line[n - 1] == ' ')
			n--;
		line[n] = '\0';
		snprintf(err, errlen, "%s", line);
		PQfreemem(msg);
		return -1;
	}
	PQconninfoFree(o);
	return 0;
}

static int pg_open(struct bc_store *st, const char *url)
{
	struct pg *p = calloc(1, sizeof *p);
	if (!p) {
		bc_store_set_err(st, "out of memory");
		return -1;
	}
	st->impl = p;
	/* The URI comes last so its own settings win. With a timeout: no wait
	 * on a silent server or a dead link outlasts it (connect_timeout;
	 * keepalives and tcp_user_timeout while a query runs), and the server
	 * stops a statement that runs longer. */
	char t[16], ms[24], third[16], opts[64];
	int ts = st->timeout_s;
	snprintf(t, sizeof t, "%d", ts);
	snprintf(ms, sizeof ms, "%d", ts * 1000);
	snprintf(third, sizeof third, "%d", ts / 3 > 0 ? ts / 3 : 1);
	snprintf(opts, sizeof opts, "-c statement_timeout=%d", ts * 1000);
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
	                       "keepalives_interval", "keepalives_count",
	                       "tcp_user_timeout", "options", "dbname", NULL };
	const char *vals[] = { t, "1", third, third, "3", ms, opts, url, NULL };
	const char *keys0[] = { "connect_timeout", "dbname", NULL };
	const char *vals0[] = { CONNECT_TIMEOUT, url, NULL };
	p->conn = ts > 0 ? PQconnectdbParams(keys, vals, 1)
	                 : PQconnectdbParams(keys0, vals0, 1);
	if (!p->conn) {
		bc_store_set_err(st, "cannot connect to PostgreSQL: out of memory");
		return -1;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_err(st, "cannot connect to PostgreSQL: ",
		       PQerrorMessage(p->conn));
		st->denied = refused(p->conn);
		return -1;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	if (exec_cmd(st, schema) != 0) {
		char why[sizeof st->err];
		snprintf(why, sizeof why, "%s", st->err);
		bc_store_set_err(st, "cannot create the tables: %s", why);
		return -1;
	}
	return 0;
}

static void pg_close(struct bc_store *st)
{
	struct pg *p = st->impl;
	PQfinish(p->conn);
	free(p);
	st->impl = NULL;
}

/* Reset a broken connection. Returns 1 if it was broken and is now back,
 * 0 if it was not broken, -1 if it could not be restored. */
static int revive(struct bc_store *st)
{
	struct pg *p = st->impl;
	if (PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_err(st, "cannot connect to PostgreSQL: ",
		       PQerrorMessage(p->conn));
		return -1;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	return 1;
}

/* The columns of a batch as five PostgreSQL array literals. */
struct columns {
	struct bc_buf v[5];      /* thread_id, seq, ts, stream, line */
};

/* Append the n bytes at s as one quoted element ('"' and '\\' escaped),
 * or NULL when s is NULL. 0 or -1. */
static int element(struct bc_buf *b, const char *s, size_t n)
{
	if (bc_buf_append(b, b->len > 1 ? "," : "", b->len > 1) != 0)
		return -1;
	if (!s)
		return bc_buf_puts(b, "NULL");
	if (bc_buf_reserve(b, 2 * n + 2) != 0)
		return -1;
	char *p = b->data + b->len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*p++ = '\\';
		*p++ = s[i];
	}
	*p++ = '"';
	b->len = (size_t)(p - b->data);
	b->data[b->len] = '\0';
	return 0;
}

static void columns_free(struct columns *c)
{
	for (int k = 0; k < 5; k++)
		bc_buf_free(&c->v[k]);
}

/* Fill c from recs[0..n). 0 or -1 (out of memory, err set). */
static int columns_of(struct bc_store *st, const struct bc_record *recs,
                      size_t n, struct columns *c)
{
	int bad = 0;
	for (int k = 0; k < 5; k++) {
		bc_buf_init(&c->v[k], 0);
		bad |= bc_buf_puts(&c->v[k], "{");
	}
	for (size_t i = 0; i < n && !bad; i++) {
		const struct bc_record *r = &recs[i];
		const char *stream = r->stream[0] ? r->stream : "stdout";
		char seq[24], ts[BC_TS_LEN];
		int k = snprintf(seq, sizeof seq, "%lld", r->seq);
		/* In UTC: PostgreSQL refuses offsets beyond 15:59 that RFC
		 * 3339 allows; an invalid ts stores the insert time. */
		int ok = bc_ts_utc(r->ts, ts) == 0;
		bad = element(&c->v[0], r->thread_id, strlen(r->thread_id)) ||
		      element(&c->v[1], seq, (size_t)k) ||
		      element(&c->v[2], ok ? ts : NULL, ok ? strlen(ts) : 0) ||
		      element(&c->v[3], stream, strlen(stream)) ||
		      element(&c->v[4], r->line, r->line_len);
	}
	for (int k = 0; k < 5 && !bad; k++)
		bad |= bc_buf_puts(&c->v[k], "}");
	if (bad) {
		columns_free(c);
		bc_store_set_err(st, "out of memory");
		return -1;
	}
	return 0;
}

/* Run sql with the five columns as its parameters. */
static PGresult *with_columns(struct bc_store *st, const char *sql,
                              const struct columns *c)
{
	struct pg *p = st->impl;
	const char *vals[5];
	int lens[5];
	for (int k = 0; k < 5; k++) {
		vals[k] = c->v[k].data;
		lens[k] = (int)c->v[k].len;
	}
	return PQexecParams(p->conn, sql, 5, NULL, vals, lens, NULL, 0);
}

/* After an insert of the columns c of recs[0..n) that skipped some rows,
 * inside its transaction: 0 when every skipped row was stored with the
 * same line and stream, BC_STORE_CONFLICT (err naming both lines) when
 * not, -1. */
static int check_chunk(struct bc_store *st, const struct bc_record *recs,
                       size_t n, const struct columns *c)
{
	PGresult *res = with_columns(st, check_sql, c);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return fail_res(st, res);
	int rc = 0;
	if (PQntuples(res) > 0) {
		long long seq = atoll(PQgetvalue(res, 0, 0));
		const char *tid = recs[0].thread_id;
		for (size_t i = 0; i < n; i++)
			if (recs[i].seq == seq)
				tid = recs[i].thread_id;
		rc = bc_store_conflict_err(st, tid, seq, PQgetvalue(res, 0, 1),
		                           (size_t)PQgetlength(res, 0, 1),
		                           PQgetvalue(res, 0, 2),
		                           (size_t)PQgetlength(res, 0, 2));
	}
	PQclear(res);
	return rc;
}

/* Insert rows recs[0..n) with one statement, checking the rows it skipped;
 * returns rows added, -1, or BC_STORE_CONFLICT. */
static long long insert_chunk(struct bc_store *st, const struct bc_record *recs,
                              size_t n)
{
	struct columns c;
	long long added = -1;
	if (columns_of(st, recs, n, &c) != 0)
		return -1;
	PGresult *res = with_columns(st, insert_sql, &c);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail_res(st, res);
		goto out;
	}
	added = atoll(PQcmdTuples(res));
	PQclear(res);
	if ((size_t)added < n) {
		int rc = check_chunk(st, recs, n, &c);
		if (rc != 0)
			added = rc;
	}
out:
	columns_free(&c);
	return added;
}

/* One attempt at the whole batch in one transaction. On failure *retry
 * tells whether trying again may help (deadlock, serialization failure,
 * connection lost and restored). Returns rows added, -1, or
 * BC_STORE_CONFLICT (rolled back, never retried). */
static long long insert_tx(struct bc_store *st, const struct bc_record *recs,
                           size_t n, int *retry)
{
	struct pg *p = st->impl;
	long long added = 0, a = -1;
	*retry = 0;
	if (exec_cmd(st, "BEGIN") != 0)
		goto fail;
	for (size_t i = 0; i < n; i += ROWS_PER_STMT) {
		size_t k = n - i < ROWS_PER_STMT ? n - i : ROWS_PER_STMT;
		a = insert_chunk(st, recs + i, k);
		if (a < 0) {
			PQclear(PQexec(p->conn, "ROLLBACK"));
			if (a == BC_STORE_CONFLICT)
				return a;
			goto fail;
		}
		added += a;
	}
	if (exec_cmd(st, "COMMIT") != 0)
		goto fail;
	return added;
fail:
	if (strstr(st->err, "deadlock") || strstr(st->err, "could not serialize"))
		*retry = 1;
	else if (PQstatus(p->conn) != CONNECTION_OK && revive(st) == 1)
		*retry = 1;
	return -1;
}

static long long pg_insert(struct bc_store *st, const struct bc_record *recs,
                           size_t n)
{
	if (revive(st) < 0)
		return -1;
	int retry = 1;
	long long added = -1;
	for (int i = 0; i < TX_TRIES && retry && added < 0; i++)
		added = insert_tx(st, recs, n, &retry);
	return added;
}

/* PQexecParams that resets a broken connection and retries once. */
static PGresult *query(struct bc_store *st, const char *sql, int nparams,
                       const char *const *vals, ExecStatusType want)
{
	struct pg *p = st->impl;
	if (revive(st) < 0)
		return NULL;
	for (int i = 0; i < 2; i++) {
		PGresult *res = PQexecParams(p->conn, sql, nparams, NULL, vals,
		                             NULL, NULL, 0);
		if (PQresultStatus(res) == want)
			return res;
		fail_res(st, res);
		if (i > 0 || PQstatus(p->conn) == CONNECTION_OK || revive(st) != 1)
			return NULL;
	}
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next result of the query in flight, waiting at most until deadline
 * (ms of CLOCK_MONOTONIC; 0: no limit). NULL at the end; *timed_out set
 * (and the query cancelled) when the deadline passed first. */
static PGresult *next_result(PGconn *c, int64_t deadline, int *timed_out)
{
	while (PQisBusy(c)) {
		struct pollfd pfd = { PQsocket(c), POLLIN, 0 };
		int wait = -1;
		if (deadline > 0) {
			int64_t left = deadline - mono_ms();
			if (left <= 0) {
				char e[256];
				PGcancel *cancel = PQgetCancel(c);
				*timed_out = 1;
				if (cancel != NULL) {
					PQcancel(cancel, e, sizeof e);
					PQfreeCancel(cancel);
				}
				return NULL;
			}
			wait = (int)left;
		}
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return NULL;
		if (!PQconsumeInput(c))
			return NULL;
	}
	return PQgetResult(c);
}

/* History in single-row mode: each row is handed to cb as it arrives,
 * never the whole result at once, and a query past the store's timeout
 * is cancelled. */
static long long pg_history(struct bc_store *st, const char *tid,
                            long long after, long long limit, int desc,
                            bc_store_row_cb cb, void *arg)
{
	struct pg *p = st->impl;
	char a[24], l[24];
	snprintf(a, sizeof a, "%lld", after);
	snprintf(l, sizeof l, "%lld", limit);
	const char *vals[] = { tid, a, limit < 0 ? NULL : l };
	const char *sql = desc
	                  ? "SELECT seq, " TS_TEXT("ts") ", stream, line"
	                    " FROM thread_logs WHERE thread_id = $1"
	                    " AND seq > $2::bigint ORDER BY seq DESC"
	                    " LIMIT $3::bigint"
	                  : "SELECT seq, " TS_TEXT("ts") ", stream, line"
	                    " FROM thread_logs WHERE thread_id = $1"
	                    " AND seq > $2::bigint ORDER BY seq"
	                    " LIMIT $3::bigint";
	int64_t deadline = st->timeout_s > 0 ? mono_ms() + st->timeout_s * 1000 : 0;
	int sent = 0, timed_out = 0, failed = 0, stop = 0;
	long long rows = 0;
	PGresult *res;

	for (int i = 0; i < 2 && !sent; i++) {
		if (revive(st) < 0)
			return -1;
		sent = PQsendQueryParams(p->conn, sql, 3, NULL, vals, NULL, NULL, 0);
		if (!sent && PQstatus(p->conn) == CONNECTION_OK) {
			pg_err(st, "PostgreSQL: ", PQerrorMessage(p->conn));
			return -1;
		}
	}
	if (!sent) {
		pg_err(st, "PostgreSQL: ", PQerrorMessage(p->conn));
		return -1;
	}
	PQsetSingleRowMode(p->conn);
	while ((res = next_result(p->conn, deadline, &timed_out)) != NULL) {
		ExecStatusType s = PQresultStatus(res);
		if (s == PGRES_SINGLE_TUPLE && !stop && !failed) {
			struct bc_record r = { 0 };
			snprintf(r.thread_id, sizeof r.thread_id, "%s", tid);
			r.seq = atoll(PQgetvalue(res, 0, 0));
			snprintf(r.ts, sizeof r.ts, "%s", PQgetvalue(res, 0, 1));
			snprintf(r.stream, sizeof r.stream, "%s", PQgetvalue(res, 0, 2));
			r.line = PQgetvalue(res, 0, 3);
			r.line_len = (size_t)PQgetlength(res, 0, 3);
			rows++;
			if (cb && cb(&r, arg) != 0)
				stop = 1;       /* the rest is read and dropped */
		} else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK && !failed) {
			failed = 1;
			fail_res(st, res);
			continue;           /* fail_res cleared it */
		}
		PQclear(res);
	}
	if (timed_out) {
		/* Drain what the cancel brings, within a second more. */
		int again = 0;
		while ((res = next_result(p->conn, mono_ms() + 1000, &again)) != NULL)
			PQclear(res);
		if (again)
			PQreset(p->conn);
		bc_store_set_err(st, "query timed out after %d s", st->timeout_s);
		return -1;
	}
	if (failed)
		return -1;
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_err(st, "PostgreSQL: ", PQerrorMessage(p->conn));
		return -1;
	}
	return rows;
}

static long long pg_aggregate(struct bc_store *st, const char *tid,
                              const char *expr)
{
	const char *vals[] = { tid };
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT %s FROM thread_logs WHERE thread_id = $1",
	         expr);
	PGresult *res = query(st, sql, 1, vals, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	long long n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

static int pg_set_run(struct bc_store *st, const char *tid, const char *status,
                      int exit_code)
{
	char code[16];
	snprintf(code, sizeof code, "%d", exit_code);
	const char *vals[] = { tid, status, exit_code < 0 ? NULL : code };
	PGresult *res = query(st,
	                      "INSERT INTO thread_runs"
	                      " (thread_id, status, exit_code, updated_at, ended_at)"
	                      " VALUES ($1, $2, $3::integer, now(),"
	                      " CASE WHEN $2 = 'running' THEN NULL ELSE now() END)"
	                      " ON CONFLICT (thread_id) DO UPDATE SET"
	                      " status = excluded.status,"
	                      " exit_code = excluded.exit_code,"
	                      " updated_at = excluded.updated_at,"
	                      " ended_at = excluded.ended_at",
	                      3, vals, PGRES_COMMAND_OK);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static int pg_run_start(struct bc_store *st, const char *tid)
{
	const char *vals[] = { tid };
	PGresult *res = query(st,
	                      "INSERT INTO thread_runs (thread_id, status,"
	                      " exit_code, updated_at, started_at, ended_at)"
	                      " VALUES ($1, 'running', NULL, now(), now(), NULL)"
	                      " ON CONFLICT (thread_id) DO UPDATE SET"
	                      " status = 'running', exit_code = NULL,"
	                      " updated_at = excluded.updated_at,"
	                      " started_at = excluded.started_at, ended_at = NULL",
	                      1, vals, PGRES_COMMAND_OK);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static long long pg_runs(struct bc_store *st, const char *status_in,
                         const char *before, long long limit,
                         bc_store_run_cb cb, void *arg)
{
	char sql[1024], l[24];
	snprintf(l, sizeof l, "%lld", limit);
	snprintf(sql, sizeof sql,
	         "SELECT thread_id, status, " TS_TEXT("started_at") ","
	         " " TS_TEXT("ended_at") ","
	         " " TS_TEXT("coalesce(started_at, updated_at)") ", exit_code,"
	         " (SELECT count(*) FROM thread_logs l"
	         "  WHERE l.thread_id = r.thread_id)"
	         " FROM thread_runs r WHERE status IN (%s)"
	         " AND ($2::timestamptz IS NULL OR"
	         "  coalesce(started_at, updated_at) < $2::timestamptz)"
	         " ORDER BY coalesce(started_at, updated_at) DESC, thread_id DESC"
	         " LIMIT $1::bigint",
	         status_in);
	const char *vals[] = { limit < 0 ? NULL : l, before };
	PGresult *res = query(st, sql, 2, vals, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	long long rows = 0;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct bc_run r;
		memset(&r, 0, sizeof r);
		snprintf(r.thread_id, sizeof r.thread_id, "%s", PQgetvalue(res, i, 0));
		snprintf(r.status, sizeof r.status, "%s", PQgetvalue(res, i, 1));
		snprintf(r.started_at, sizeof r.started_at, "%s", PQgetvalue(res, i, 2));
		snprintf(r.ended_at, sizeof r.ended_at, "%s", PQgetvalue(res, i, 3));
		snprintf(r.sort_key, sizeof r.sort_key, "%s", PQgetvalue(res, i, 4));
		r.exit_code = PQgetisnull(res, i, 5) ? -1 : atoi(PQgetvalue(res, i, 5));
		r.lines = atoll(PQgetvalue(res, i, 6));
		rows++;
		if (cb && cb(&r, arg) != 0)
			break;
	}
	PQclear(res);
	return rows;
}

/* A run is prunable when it is over and ended before $2 (runs recorded
 * before ended_at existed: their last update). */
#define PRUNABLE \
	"status <> 'running' AND coalesce(ended_at, updated_at) < $2::timestamptz"

static long long pg_prune_list(struct bc_store *st, const char *before,
                               long long limit, struct bc_strv *out)
{
	char lim[32];
	snprintf(lim, sizeof lim, "%lld", limit);
	const char *vals[] = { lim, before };
	PGresult *res = query(st,
	                      "SELECT thread_id FROM thread_runs WHERE " PRUNABLE
	                      " ORDER BY coalesce(ended_at, updated_at) LIMIT $1::bigint",
	                      2, vals, PGRES_TUPLES_OK);
	if (!res)
		return -1;
	long long n = PQntuples(res);
	for (int i = 0; i < PQntuples(res); i++)
		if (bc_strv_push(out, PQgetvalue(res, i, 0),
		                 (size_t)PQgetlength(res, i, 0)) != 0) {
			bc_store_set_err(st, "out of memory");
			n = -1;
			break;
		}
	PQclear(res);
	return n;
}

/* Run a prune statement with $1 = tid, $2 = before and, when batch > 0,
 * $3 = batch; the rows it changed, or -1. */
static long long pg_prune_exec(struct bc_store *st, const char *sql,
                               const char *tid, const char *before,
                               long long batch)
{
	char b[32];
	snprintf(b, sizeof b, "%lld", batch);
	const char *vals[] = { tid, before, b };
	PGresult *res = query(st, sql, batch > 0 ? 3 : 2, vals,
	                      PGRES_COMMAND_OK);
	if (!res)
		return -1;
	long long n = atoll(PQcmdTuples(res));
	PQclear(res);
	return n;
}

static long long pg_prune_lines(struct bc_store *st, const char *tid,
                                const char *before, long long batch)
{
	return pg_prune_exec(st,
	                     "DELETE FROM thread_logs WHERE ctid = ANY (ARRAY("
	                     " SELECT ctid FROM thread_logs WHERE thread_id = $1"
	                     " LIMIT $3::bigint))"
	                     " AND EXISTS (SELECT 1 FROM thread_runs"
	                     "  WHERE thread_id = $1 AND " PRUNABLE ")",
	                     tid, before, batch);
}

static int pg_prune_run(struct bc_store *st, const char *tid,
                        const char *before)
{
	return (int)pg_prune_exec(st,
	                          "DELETE FROM thread_runs WHERE thread_id = $1 AND "
	                          PRUNABLE,
	                          tid, before, 0);
}

const struct bc_store_ops bc_store_pg_ops = {
	.kind = "postgresql",
	.check = pg_check,
	.open = pg_open,
	.close = pg_close,
	.insert = pg_insert,
	.history = pg_history,
	.aggregate = pg_aggregate,
	.set_run = pg_set_run,
	.run_start = pg_run_start,
	.runs = pg_runs,
	.prune_list = pg_prune_list,
	.prune_lines = pg_prune_lines,
	.prune_run = pg_prune_run,
};
