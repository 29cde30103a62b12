/* runs.c - GET /admin/runs, newest first: --list prints it as a table
 * (or NDJSON), and following one thread asks it whether that run has
 * already ended. Pages follow X-Next-Before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bc_exit.h"
#include "cli.h"
#include "tail.h"

#define PAGE 1000
#define STATUS_PAGES 20   /* how far back a run's status is looked for */

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* An integer member, or -1 when null or absent. */
static long long num(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return -1;
}

/* Get one page of runs into *arr. 0, -1 to retry, or an exit status. */
static int runs_page(struct tail *t, const char *path, struct json_object **arr,
                     char *next, size_t nextlen)
{
	struct tail_get g;
	int rc = tail_http_get(t, path, &g);

	*arr = NULL;
	if (rc != 0 || g.status != 200) {
		rc = tail_http_failed(t, path, rc, &g);
		if (rc == 0)
			rc = -1;
		else if (g.status == 404)
			rc = 404;
		bc_buf_free(&g.body);
		return rc;
	}
	*arr = json_tokener_parse(g.body.data);
	snprintf(next, nextlen, "%s", g.next);
	bc_buf_free(&g.body);
	if (!*arr || !json_object_is_type(*arr, json_type_array)) {
		json_object_put(*arr);
		*arr = NULL;
		snprintf(t->why, sizeof t->why, "hub at %s sent a runs list that is "
		         "not a JSON array", t->hub);
		return BC_EX_UNAVAILABLE;
	}
	return 0;
}

/* The query for the page after next ("" for the first). */
static void runs_path(const struct tail *t, const char *next, long long limit,
                      char *path, size_t n)
{
	char *enc = next[0] ? curl_easy_escape(NULL, next, 0) : NULL;

	snprintf(path, n, "/admin/runs?limit=%lld%s%s%s%s", limit,
	         t->statuses ? "&status=" : "", t->statuses ? t->statuses : "",
	         enc ? "&before=" : "", enc ? enc : "");
	curl_free(enc);
}

int tail_run_ended(struct tail *t, struct tail_end *end)
{
	struct json_object *a;
	char path[512], next[64] = "";
	int rc;

	for (int pages = 0; pages < STATUS_PAGES; pages++) {
		runs_path(t, next, PAGE, path, sizeof path);
		if ((rc = runs_page(t, path, &a, next, sizeof next)) != 0)
			return rc == 404 ? 0 : rc;   /* 404: a hub without the list */
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *o = json_object_array_get_idx(a, i);
			const char *tid = str(o, "thread_id"), *st = str(o, "status");
			if (!tid || !st || strcmp(tid, t->tid) != 0)
				continue;
			rc = strcmp(st, "completed") == 0 || strcmp(st, "error") == 0 ||
			     strcmp(st, "cancelled") == 0;
			if (rc) {
				snprintf(end->status, sizeof end->status, "%s", st);
				end->exit_code = (int)num(o, "exit_code");
			}
			json_object_put(a);
			return rc;
		}
		json_object_put(a);
		if (!next[0])
			break;
	}
	return 0;
}

struct row {
	char *tid, *status, *started, *exit, *lines, *dur;
};

/* "2026-12-03T09:27:58.123Z" -> "2026-12-03 09:27:58" */
static char *short_time(const char *ts)
{
	char buf[32];
	if (!ts || strlen(ts) < 19)
		return strdup("-");
	snprintf(buf, sizeof buf, "%.10s %.8s", ts, ts + 11);
	return strdup(buf);
}

static char *duration(struct json_object *o)
{
	const char *s = str(o, "started_at"), *e = str(o, "ended_at");
	int64_t a, b;
	char buf[32];

	if (!s || tail_time_parse(s, false, &a) != 0)
		return strdup("-");
	if (e ? tail_time_parse(e, false, &b) != 0 : strcmp(str(o, "status") ?
	        str(o, "status") : "", "running") != 0)
		return strdup("-");
	if (!e)
		b = bc_now_us();
	tail_duration_format((b - a) / 1000000, buf, sizeof buf);
	return strdup(buf);
}

static char *number(long long v)
{
	char buf[32];
	if (v < 0)
		return strdup("-");
	snprintf(buf, sizeof buf, "%lld", v);
	return strdup(buf);
}

static char *dup_or_dash(const char *s) { return strdup(s ? s : "-"); }

static void row_free(struct row *r)
{
	free(r->tid), free(r->status), free(r->started);
	free(r->exit), free(r->lines), free(r->dur);
}

static size_t width(size_t w, const char *s)
{
	size_t n = strlen(s);
	return n > w ? n : w;
}

/* Print the rows as a table with aligned columns. */
static void table(struct row *rows, size_t n)
{
	size_t w[5] = { 6, 6, 7, 8, 4 };
	for (size_t i = 0; i < n; i++) {
		w[0] = width(w[0], rows[i].tid);
		w[1] = width(w[1], rows[i].status);
		w[2] = width(w[2], rows[i].started);
		w[3] = width(w[3], rows[i].dur);
		w[4] = width(w[4], rows[i].exit);
	}
	printf("%-*s  %-*s  %-*s  %*s  %*s  %s\n", (int)w[0], "THREAD",
	       (int)w[1], "STATUS", (int)w[2], "STARTED", (int)w[3], "DURATION",
	       (int)w[4], "EXIT", "LINES");
	for (size_t i = 0; i < n; i++)
		printf("%-*s  %-*s  %-*s  %*s  %*s  %s\n", (int)w[0], rows[i].tid,
		       (int)w[1], rows[i].status, (int)w[2], rows[i].started,
		       (int)w[3], rows[i].dur, (int)w[4], rows[i].exit,
		       rows[i].lines);
}

int tail_list(struct tail *t)
{
	struct row *rows = NULL, *grown;
	size_t n = 0, cap = 0;
	struct json_object *a;
	char path[512], next[64] = "";
	long long want = t->lines_given && t->lines >= 0 ? t->lines : -1;
	int rc = 0;

	while (want < 0 || (long long)n < want) {
		long long left = want < 0 ? PAGE : want - (long long)n;
		runs_path(t, next, left < PAGE ? left : PAGE, path, sizeof path);
		if ((rc = runs_page(t, path, &a, next, sizeof next)) != 0)
			break;
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *o = json_object_array_get_idx(a, i);
			if (t->json) {
				puts(json_object_to_json_string_ext(o,
				     JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
				n++;
				continue;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				if (!(grown = realloc(rows, cap * sizeof *rows)))
					bc_die(BC_EX_SOFTWARE, "out of memory");
				rows = grown;
			}
			rows[n++] = (struct row){
				dup_or_dash(str(o, "thread_id")), dup_or_dash(str(o, "status")),
				short_time(str(o, "started_at")), number(num(o, "exit_code")),
				number(num(o, "lines")), duration(o),
			};
			if (!rows[n - 1].tid || !rows[n - 1].status ||
			    !rows[n - 1].started || !rows[n - 1].exit ||
			    !rows[n - 1].lines || !rows[n - 1].dur)
				bc_die(BC_EX_SOFTWARE, "out of memory");
		}
		json_object_put(a);
		if (!next[0])
			break;
	}
	if (rc == 0 && !t->json)
		table(rows, n);
	for (size_t i = 0; i < (t->json ? 0 : n); i++)
		row_free(&rows[i]);
	free(rows);
	if (rc != 0) {
		if (rc == 404)
			snprintf(t->why, sizeof t->why, "hub at %s has no runs list "
			         "(GET /admin/runs: HTTP 404)", t->hub);
		if (rc == -1)
			bc_warn("hub at %s unavailable (%s)", t->hub, t->why);
		else
			bc_warn("%s", t->why);
		return BC_EX_UNAVAILABLE;
	}
	return 0;
}
