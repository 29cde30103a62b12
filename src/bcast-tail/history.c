/* history.c - a thread's history, GET /admin/runs/{tid}/logs: the lines
 * in the DB and those the hub still holds in Redis or the spool, oldest
 * first.
 *
 * The first request asks for what -n wants (?tail=N, or everything from
 * ?after=0 for -n all); every later one for what follows the highest seq
 * handled (?after=SEQ). While the hub answers with X-Next-After, the next
 * page is asked for. With -n 0 the last record is fetched only to learn
 * its seq, where the stream then resumes. --since drops older records. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "bc_exit.h"
#include "cli.h"
#include "tail.h"

#define PAGE 1000

/* Handle one history item. */
static void item(struct tail *t, struct json_object *o, bool print)
{
	struct bc_record r = { 0 };
	size_t n;
	const char *json = json_object_to_json_string_length(o,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char err[256];
	int64_t us;

	if (!json || bc_record_decode(json, n, &r, err, sizeof err) != 0) {
		tail_skip_warn(t, json ? err : "out of memory");
		return;
	}
	if (strcmp(r.thread_id, t->tid) != 0) {
		tail_skip_warn(t, "a history record of another thread");
	} else if (!print || (t->since_us &&
	           (tail_time_parse(r.ts, false, &us) != 0 || us < t->since_us))) {
		if (r.seq > t->last_seq)
			t->last_seq = r.seq;
	} else {
		tail_print_record(t, &r, json, n);
	}
	bc_record_clear(&r);
}

/* Print one page; keep is how many of its last items to print (-1: all). */
static int page(struct tail *t, const struct tail_get *g, long long keep)
{
	struct json_object *a = json_tokener_parse(g->body.data);
	size_t n, i;

	if (!a || !json_object_is_type(a, json_type_array)) {
		json_object_put(a);
		snprintf(t->why, sizeof t->why, "hub at %s sent history that is "
		         "not a JSON array", t->hub);
		return BC_EX_UNAVAILABLE;
	}
	n = json_object_array_length(a);
	for (i = 0; i < n && t->stop == RUN; i++)
		item(t, json_object_array_get_idx(a, i),
		     keep < 0 || n - i <= (size_t)keep);
	json_object_put(a);
	tail_out_flush(t);
	return 0;
}

int tail_history(struct tail *t, bool first)
{
	struct tail_get g;
	char path[512], next[64] = "";
	long long keep = -1;
	int rc;

	if (first && t->lines >= 0) {
		snprintf(path, sizeof path, "/admin/runs/%s/logs?tail=%lld",
		         t->tid, t->lines > 0 ? t->lines : 1);
		keep = t->lines;
	} else {
		snprintf(path, sizeof path, "/admin/runs/%s/logs?after=%lld&limit=%d",
		         t->tid, t->last_seq > 0 ? t->last_seq : 0, PAGE);
	}
	for (;;) {
		rc = tail_http_get(t, path, &g);
		if (rc != 0 || g.status != 200) {
			rc = tail_http_failed(t, path, rc, &g);
			bc_buf_free(&g.body);
			return rc ? rc : -1;
		}
		/* A hub that cuts a ?tail= page short says where the rest starts;
		 * a page without X-Next-After holds the whole tail. */
		snprintf(next, sizeof next, "%s", g.next);
		rc = page(t, &g, next[0] ? -1 : keep);
		bc_buf_free(&g.body);
		if (rc != 0)
			return rc;
		if (!next[0] || t->stop != RUN)
			return 0;
		if (strspn(next, "0123456789") != strlen(next)) {
			snprintf(t->why, sizeof t->why, "hub at %s sent a bad "
			         "X-Next-After: '%s'", t->hub, next);
			return BC_EX_UNAVAILABLE;
		}
		snprintf(path, sizeof path, "/admin/runs/%s/logs?after=%s&limit=%d",
		         t->tid, next, PAGE);
	}
}
