/* print.c - how bcast-tail prints what it receives.
 *
 * A log record is the line itself (one thread), "THREAD | line" (all
 * threads), or its JSON object (--json); --timestamps puts the record's ts
 * first. With colour, each thread's name has a colour of its own, chosen
 * by a hash of the id so it is the same in every run of the program, and
 * a line the program wrote to stderr is red. --grep/--invert select on the
 * line's text.
 *
 * Duplicates: following one thread, a record whose seq is not above the
 * highest seq already handled is dropped (the history and the resumed
 * stream are both in seq order). Following all threads, the identities
 * seen are kept in two generations of a hash set, so the last SEEN_GEN (or
 * more) are always remembered in bounded memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bc_hash.h"
#include "cli.h"
#include "tail.h"

#define SEEN_GEN 32768            /* identities per generation */
#define SEEN_SLOTS (2 * SEEN_GEN) /* power of two, load <= 1/2 */

/* Thread colours: green, yellow, blue, magenta, cyan, plain and bright.
 * Red is left for stderr lines. */
static const char *const palette[] = {
	"32", "33", "34", "35", "36", "92", "93", "94", "95", "96",
};
#define STDERR_COLOR "31"
#define TS_COLOR "2"

int tail_seen_init(struct seen *s)
{
	s->cur = calloc(SEEN_SLOTS, sizeof *s->cur);
	s->old = calloc(SEEN_SLOTS, sizeof *s->old);
	s->n = 0;
	return s->cur && s->old ? 0 : -1;
}

void tail_seen_free(struct seen *s)
{
	free(s->cur);
	free(s->old);
	s->cur = s->old = NULL;
}

static size_t seen_slot(const struct seen_key *k)
{
	uint64_t x = k->tid ^ (k->seq1 * 0x9e3779b97f4a7c15ull);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (size_t)(x & (SEEN_SLOTS - 1));
}

static bool seen_in(const struct seen_key *tab, const struct seen_key *k)
{
	for (size_t i = seen_slot(k);; i = (i + 1) & (SEEN_SLOTS - 1)) {
		if (tab[i].seq1 == 0)
			return false;
		if (tab[i].seq1 == k->seq1 && tab[i].tid == k->tid)
			return true;
	}
}

/* True if (tid, seq) was seen before; otherwise remember it. */
static bool seen_check(struct seen *s, const char *tid, long long seq)
{
	struct seen_key k = { bc_hash_str(tid), (uint64_t)seq + 1 };

	if (seen_in(s->cur, &k) || seen_in(s->old, &k))
		return true;
	if (s->n == SEEN_GEN) {
		struct seen_key *t = s->old;
		s->old = s->cur;
		s->cur = t;
		memset(s->cur, 0, SEEN_SLOTS * sizeof *s->cur);
		s->n = 0;
	}
	size_t i = seen_slot(&k);
	while (s->cur[i].seq1 != 0)
		i = (i + 1) & (SEEN_SLOTS - 1);
	s->cur[i] = k;
	s->n++;
	return false;
}

static void out_failed(struct tail *t)
{
	t->out_errno = errno;
	t->stop = errno == EPIPE ? STOP_PIPE : STOP_IOERR;
}

/* fwrite to stdout; a failure sets t->stop. */
static void out(struct tail *t, const char *p, size_t n)
{
	if (t->stop != STOP_PIPE && t->stop != STOP_IOERR && n &&
	    fwrite(p, 1, n, stdout) != n)
		out_failed(t);
}

static void outs(struct tail *t, const char *s) { out(t, s, strlen(s)); }

/* s in colour (an SGR code) when colour is on. */
static void out_color(struct tail *t, const char *sgr, const char *s,
                      size_t n)
{
	if (t->color && sgr) {
		outs(t, "\033[");
		outs(t, sgr);
		outs(t, "m");
	}
	out(t, s, n);
	if (t->color && sgr)
		outs(t, "\033[0m");
}

void tail_out_flush(struct tail *t)
{
	if (fflush(stdout) != 0 && t->stop != STOP_PIPE && t->stop != STOP_IOERR)
		out_failed(t);
}

void tail_skip_warn(struct tail *t, const char *why)
{
	if (!t->quiet)
		bc_warn("skipping an event: %s", why);
}

/* Print the JSON text n bytes at p on one line. */
static void out_json(struct tail *t, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t k = i;
		while (k < n && p[k] != '\n' && p[k] != '\r')
			k++;
		out(t, p + i, k - i);
		if (k < n)
			out(t, " ", 1);
		i = k + 1;
	}
	out(t, "\n", 1);
}

static void out_ts(struct tail *t, const char *ts)
{
	if (t->timestamps) {
		out_color(t, TS_COLOR, ts, strlen(ts));
		outs(t, " ");
	}
}

static void out_thread(struct tail *t, const char *tid)
{
	out_color(t, palette[bc_hash_str(tid) % (sizeof palette / sizeof *palette)],
	          tid, strlen(tid));
}

static void counted(struct tail *t)
{
	t->printed++;
	if (t->stop == RUN && t->count && t->printed >= t->count)
		t->stop = STOP_DONE;
}

void tail_print_record(struct tail *t, const struct bc_record *r,
                       const char *json, size_t n)
{
	bool stderr_line = strcmp(r->stream, "stderr") == 0;

	if (t->stop != RUN)
		return;
	if (t->mode == MODE_THREAD) {
		if (r->seq <= t->last_seq)
			return;
		t->last_seq = r->seq;
	} else if (seen_check(&t->seen, r->thread_id, r->seq)) {
		return;
	}
	if (t->grep_set &&
	    (regexec(&t->grep, r->line, 0, NULL, 0) == 0) == t->invert)
		return;
	if (t->json) {
		out_json(t, json, n);
	} else {
		out_ts(t, r->ts);
		if (t->mode == MODE_ALL) {
			out_thread(t, r->thread_id);
			outs(t, " | ");
		}
		out_color(t, stderr_line ? STDERR_COLOR : NULL, r->line, r->line_len);
		outs(t, "\n");
	}
	counted(t);
}

void tail_print_event(struct tail *t, const struct bc_event *e,
                      const char *json, size_t n)
{
	if (t->stop != RUN)
		return;
	if (t->json) {
		out_json(t, json, n);
	} else {
		out_ts(t, e->ts);
		out_thread(t, e->thread_id);
		outs(t, " ");
		outs(t, e->type);
		outs(t, " ");
		out_json(t, e->data ? e->data : "{}", e->data ? strlen(e->data) : 2);
	}
	counted(t);
}

int tail_end_status(const struct tail_end *end)
{
	if (strcmp(end->status, "completed") == 0)
		return 0;
	if (strcmp(end->status, "cancelled") == 0)
		return 130;
	return end->exit_code > 0 && end->exit_code < 256 ? end->exit_code : 1;
}

void tail_print_end(const struct tail *t)
{
	fflush(stdout);
	if (t->end.exit_code >= 0)
		bc_warn("run %s %s, exit %d", t->tid, t->end.status,
		        t->end.exit_code);
	else
		bc_warn("run %s %s", t->tid, t->end.status);
}

void tail_print_reset(const struct tail *t, const char *data, bool refill)
{
	struct json_object *j = json_tokener_parse(data), *v;
	const char *reason = "unknown", *cursor = "";
	char missed[64] = "an unknown number of";

	if (j && json_object_object_get_ex(j, "reason", &v) &&
	    json_object_is_type(v, json_type_string))
		reason = json_object_get_string(v);
	if (j && json_object_object_get_ex(j, "cursor", &v) &&
	    json_object_is_type(v, json_type_string))
		cursor = json_object_get_string(v);
	if (j && json_object_object_get_ex(j, "missed", &v) &&
	    json_object_is_type(v, json_type_int))
		snprintf(missed, sizeof missed, "%lld",
		         (long long)json_object_get_int64(v));
	fflush(stdout);
	bc_warn("reset: the hub could not resume %s from '%s' (%s): %s %s "
	        "missed%s", t->mode == MODE_ADMIN ? "admin events" : "the stream",
	        cursor, strcmp(reason, "epoch") == 0 ? "it restarted" :
	        strcmp(reason, "expired") == 0 ? "too old" : reason, missed,
	        t->mode == MODE_ADMIN ? "events" : "lines",
	        refill ? "; reading them from the history" : "");
	json_object_put(j);
}
