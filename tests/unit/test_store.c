/* test_store.c - the SQL store: batch inserts, duplicates skipped and
 * counted, history order/after/limit, lines with every awkward byte round
 * trip, run statuses. SQLite always; PostgreSQL too when BCAST_TEST_PG is
 * set (a fresh database is created for the run and dropped after), where a
 * killed backend connection must be survived at the next call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bc_store.h"
#include "unit.h"

static void mkrec(struct bc_record *r, const char *tid, long long seq,
                  const char *ts, const char *line)
{
	memset(r, 0, sizeof *r);
	snprintf(r->thread_id, sizeof r->thread_id, "%s", tid);
	r->seq = seq;
	snprintf(r->ts, sizeof r->ts, "%s", ts);
	snprintf(r->stream, sizeof r->stream, "%s", seq % 2 ? "stdout" : "stderr");
	bc_record_set_line(r, line, strlen(line));
}

struct got {
	long long seq[64];
	char ts[64][BC_TS_LEN];
	char stream[64][16];
	char *line[64];
	int n;
};

static int collect(const struct bc_record *r, void *arg)
{
	struct got *g = arg;
	if (g->n >= 64)
		return 1;
	g->seq[g->n] = r->seq;
	snprintf(g->ts[g->n], BC_TS_LEN, "%s", r->ts);
	snprintf(g->stream[g->n], 16, "%s", r->stream);
	g->line[g->n] = strndup(r->line, r->line_len);
	g->n++;
	return 0;
}

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->line[i]);
	g->n = 0;
}

static const char *odd[] = {
	"",
	"plain",
	"quote \" backslash \\ tab \t cr \r end",
	"control \x01\x02\x1b[31m red \x7f",
	"utf-8 h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
	"sql '); DROP TABLE thread_logs; --",
	"percent %s %n $1 ::bigint",
};

static void run(const char *url)
{
	char err[512], tid[64], tid2[64];
	snprintf(tid, sizeof tid, "unit-%ld-a", (long)getpid());
	snprintf(tid2, sizeof tid2, "unit-%ld-b", (long)getpid());
	struct bc_store *st = bc_store_open(url, err, sizeof err);
	CHECK(st != NULL);
	if (!st) {
		fprintf(stderr, "%s: %s\n", url, err);
		return;
	}
	fprintf(stderr, "store %s\n", bc_store_kind(st));

	struct bc_record r[10];
	for (int i = 0; i < 10; i++) {
		char line[32];
		snprintf(line, sizeof line, "line %d", i + 1);
		mkrec(&r[i], tid, i + 1, "2026-11-25T19:08:10.123456Z", line);
	}
	CHECK(bc_store_insert(st, r, 5) == 5);
	/* Overlap: 3..10 holds 3 already stored. */
	CHECK(bc_store_insert(st, r + 2, 8) == 5);
	CHECK(bc_store_insert(st, r, 10) == 0);
	CHECK(bc_store_count(st, tid) == 10);
	CHECK(bc_store_count(st, tid2) == 0);
	/* A duplicate inside one batch is stored once. */
	struct bc_record dup[2];
	mkrec(&dup[0], tid2, 1, "2026-11-25T19:08:10.000001Z", "first");
	mkrec(&dup[1], tid2, 1, "2026-11-25T19:08:10.999999Z", "first");
	CHECK(bc_store_insert(st, dup, 2) == 1);
	CHECK(bc_store_count(st, tid2) == 1);
	/* The same (thread_id, seq) with another line is a conflict naming
	 * both lines, and nothing of its batch is committed; likewise another
	 * stream, and a conflict inside one batch. */
	struct bc_record clash[2];
	mkrec(&clash[0], tid2, 3, "2026-11-25T19:08:10.000001Z", "three");
	mkrec(&clash[1], tid2, 1, "2026-11-25T19:08:10.000001Z", "not first");
	CHECK(bc_store_insert(st, clash, 2) == BC_STORE_CONFLICT);
	CHECK(strstr(bc_store_errstr(st), "seq 1 of thread unit-") != NULL);
	CHECK(strstr(bc_store_errstr(st), "stored 'first', buffered 'not first'") != NULL);
	CHECK(bc_store_count(st, tid2) == 1);
	snprintf(clash[1].stream, sizeof clash[1].stream, "stderr");
	bc_record_set_line(&clash[1], "first", 5);
	CHECK(bc_store_insert(st, clash, 2) == BC_STORE_CONFLICT);
	bc_record_set_line(&clash[1], "three again", 11);
	clash[1].seq = 3;
	CHECK(bc_store_insert(st, clash, 2) == BC_STORE_CONFLICT);
	CHECK(strstr(bc_store_errstr(st), "stored 'three', buffered 'three again'") != NULL);
	CHECK(bc_store_count(st, tid2) == 1);
	bc_record_clear(&clash[0]);
	bc_record_clear(&clash[1]);

	struct got g = { 0 };
	CHECK(bc_store_history(st, tid, 0, -1, collect, &g) == 10);
	int ordered = g.n == 10;
	for (int i = 0; i < g.n; i++)
		ordered &= g.seq[i] == i + 1;
	CHECK(ordered);
	CHECK(g.n == 10 && strcmp(g.line[9], "line 10") == 0);
	CHECK_STR(g.ts[0], "2026-11-25T19:08:10.123456Z");
	CHECK_STR(g.stream[0], "stdout");
	CHECK_STR(g.stream[1], "stderr");
	got_free(&g);
	CHECK(bc_store_history(st, tid, 4, 3, collect, &g) == 3);
	CHECK(g.n == 3 && g.seq[0] == 5 && g.seq[2] == 7);
	got_free(&g);
	CHECK(bc_store_history(st, tid, 10, 100, collect, &g) == 0);
	CHECK(bc_store_history(st, tid, 0, 0, collect, &g) == 0);
	CHECK(bc_store_history(st, "bad id", 0, 10, collect, &g) == -1);
	got_free(&g);

	/* Awkward lines come back byte for byte; ts with an offset comes back
	 * in UTC from PostgreSQL. */
	size_t n = sizeof odd / sizeof *odd;
	struct bc_record o[sizeof odd / sizeof *odd];
	for (size_t i = 0; i < n; i++)
		mkrec(&o[i], tid2, 100 + (long long)i, "2026-11-25T19:08:10.5Z",
		      odd[i]);
	CHECK(bc_store_insert(st, o, n) == (long long)n);
	CHECK(bc_store_history(st, tid2, 99, -1, collect, &g) == (long long)n);
	for (int i = 0; i < g.n && i < (int)n; i++)
		CHECK_STR(g.line[i], odd[i]);
	if (strcmp(bc_store_kind(st), "postgresql") == 0)
		CHECK_STR(g.ts[0], "2026-11-25T19:08:10.500000Z");
	else
		CHECK_STR(g.ts[0], "2026-11-25T19:08:10.5Z");
	got_free(&g);

	/* Offsets to +-23:59 are RFC 3339 and are kept (PostgreSQL would
	 * refuse beyond 15:59: they reach it in UTC); a ts that is not RFC
	 * 3339 is replaced by the insert time. */
	struct bc_record z[3];
	mkrec(&z[0], tid2, 200, "2026-11-25T19:08:10.5+20:00", "east");
	mkrec(&z[1], tid2, 201, "2026-11-25T19:08:10-23:59", "west");
	mkrec(&z[2], tid2, 202, "2026-11-25T19:08:10+24:00", "bad");
	CHECK(bc_store_insert(st, z, 3) == 3);
	CHECK(bc_store_history(st, tid2, 199, -1, collect, &g) == 3);
	if (g.n == 3 && strcmp(bc_store_kind(st), "postgresql") == 0) {
		CHECK_STR(g.ts[0], "2026-11-24T23:08:10.500000Z");
		CHECK_STR(g.ts[1], "2026-11-26T19:07:10.000000Z");
	} else if (g.n == 3) {
		CHECK_STR(g.ts[0], "2026-11-25T19:08:10.5+20:00");
		CHECK_STR(g.ts[1], "2026-11-25T19:08:10-23:59");
	}
	CHECK(g.n == 3 && strstr(g.ts[2], "+24:00") == NULL &&
	      bc_ts_valid(g.ts[2], strlen(g.ts[2])));
	got_free(&g);
	for (int i = 0; i < 3; i++)
		bc_record_clear(&z[i]);

	CHECK(bc_store_set_run(st, tid, "completed", 0) == 0);
	CHECK(bc_store_set_run(st, tid, "error", 3) == 0);
	CHECK(bc_store_set_run(st, tid2, "cancelled", -1) == 0);
	CHECK(bc_store_set_run(st, "a b", "error", 1) == -1);

	for (int i = 0; i < 10; i++)
		bc_record_clear(&r[i]);
	for (size_t i = 0; i < n; i++)
		bc_record_clear(&o[i]);
	bc_record_clear(&dup[0]);
	bc_record_clear(&dup[1]);
	bc_store_close(st);
}

/* A big batch: more rows than one PostgreSQL statement may carry. */
static void big(const char *url)
{
	char err[512], tid[64];
	snprintf(tid, sizeof tid, "unit-%ld-big", (long)getpid());
	struct bc_store *st = bc_store_open(url, err, sizeof err);
	if (!st)
		return;
	enum { N = 25000 };
	struct bc_record *r = calloc(N, sizeof *r);
	for (int i = 0; i < N; i++)
		mkrec(&r[i], tid, i, "2026-11-25T19:08:10.123456Z", "x");
	CHECK(bc_store_insert(st, r, N) == N);
	CHECK(bc_store_insert(st, r, N) == 0);
	CHECK(bc_store_count(st, tid) == N);
	for (int i = 0; i < N; i++)
		bc_record_clear(&r[i]);
	free(r);
	bc_store_close(st);
}

static void pg_cmd(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

static void pg(const char *admin)
{
	char db[64], sql[256], url[512];
	snprintf(db, sizeof db, "unit_store_%ld", (long)getpid());
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
	pg_cmd(admin, sql);
	const char *slash = strrchr(admin, '/');
	snprintf(url, sizeof url, "%.*s/%s", (int)(slash - admin), admin, db);
	RUN(run(url));
	RUN(big(url));

	/* The store's backend is killed: the next call reconnects. */
	char err[512];
	struct bc_store *st = bc_store_open(url, err, sizeof err);
	CHECK(st != NULL);
	if (st) {
		snprintf(sql, sizeof sql,
		         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		         " WHERE datname = '%s' AND pid <> pg_backend_pid()", db);
		pg_cmd(url, sql);
		char tid[64];
		snprintf(tid, sizeof tid, "unit-%ld-a", (long)getpid());
		CHECK(bc_store_count(st, tid) == 10);
		struct bc_record r;
		mkrec(&r, tid, 1000, "2026-11-25T19:08:10.1Z", "after restart");
		pg_cmd(url, sql);
		CHECK(bc_store_insert(st, &r, 1) == 1);
		bc_record_clear(&r);
		bc_store_close(st);
	}
	CHECK(bc_store_open("postgresql://postgres@127.0.0.1:1/x", err,
	                    sizeof err) == NULL);
	CHECK(strstr(err, "cannot connect to PostgreSQL") != NULL);
	snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", db);
	pg_cmd(admin, sql);
}

int main(void)
{
	char dir[128], url[256], err[512];
	snprintf(dir, sizeof dir, "/tmp/bcast-unit-store.%ld", (long)getpid());
	snprintf(url, sizeof url, "sqlite:%s/new/dir/t.db", dir);
	RUN(run(url));
	RUN(big(url));
	/* Reopening finds the rows. */
	struct bc_store *st = bc_store_open(url, err, sizeof err);
	char tid[64];
	snprintf(tid, sizeof tid, "unit-%ld-a", (long)getpid());
	CHECK(st && bc_store_count(st, tid) == 10);
	bc_store_close(st);
	bc_store_close(NULL);
	CHECK(bc_store_open("mysql://x", err, sizeof err) == NULL);
	CHECK(bc_store_open("sqlite:/proc/nope/x.db", err, sizeof err) == NULL);
	CHECK(strstr(err, "SQLite") != NULL);

	const char *pgurl = getenv("BCAST_TEST_PG");
	if (pgurl && *pgurl)
		RUN(pg(pgurl));
	else
		fprintf(stderr, "BCAST_TEST_PG not set: PostgreSQL cases not run\n");

	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	UNIT_DONE("store");
}
