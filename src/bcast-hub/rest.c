/* rest.c - history, the runs list and run bookkeeping, off the loop.
 *
 * Each request is checked on the loop (strict query parameters: an
 * unknown or malformed one is a 400 naming it), then becomes a job on a
 * worker (work.h) that reads the DB, Redis and the spool and builds the
 * whole JSON body there. Back on the loop, done() sends the body, unless
 * the client went away meanwhile: evhttp then has detached the request
 * from its closed connection and left it to us, and it is only freed.
 *
 * History pages: ?after=SEQ&limit=N, or ?tail=N (the last N records; a
 * page starts at the N-th last one and X-Next-After continues it when N
 * is above the page size). X-Next-After is set when more records follow.
 * Runs: ?status=a,b&limit=N&before=TIME, X-Next-Before when more follow;
 * lines = rows stored plus, for a running run, records still buffered in
 * Redis and the spool. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "bc_buf.h"
#include "bc_flush.h"
#include "bc_history.h"
#include "cli.h"
#include "hub.h"
#include "rest.h"
#include "work.h"

#define BODY_SOFT_MAX ((size_t)64 << 20) /* a page stops growing here */
#define RUNS_LIMIT 100
#define RUNS_LIMIT_MAX 1000

int rest_parse_ll(const char *s, long long min, long long max,
                  long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void bad_param(struct hub *h, struct evhttp_request *req,
                      const char *name, const char *why)
{
	hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
	               "bad parameter '%.64s': %s", name, why);
}

int rest_query(struct hub *h, struct evhttp_request *req,
               const char *const *allowed, struct evkeyvalq *q)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyval *kv, *k2;

	TAILQ_INIT(q);
	if (query == NULL || *query == '\0')
		return 0;
	if (evhttp_parse_query_str(query, q) != 0) {
		hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
		               "malformed query string");
		return -1;
	}
	TAILQ_FOREACH(kv, q, next) {
		const char *const *a;
		for (a = allowed; *a && strcmp(*a, kv->key) != 0; a++)
			;
		if (!*a) {
			bad_param(h, req, kv->key, "unknown parameter");
			return -1;
		}
		for (k2 = TAILQ_NEXT(kv, next); k2; k2 = TAILQ_NEXT(k2, next))
			if (strcmp(k2->key, kv->key) == 0) {
				bad_param(h, req, kv->key, "given twice");
				return -1;
			}
	}
	return 0;
}

/* True when req lost its connection while its job ran: then it is freed
 * here and must not be answered. */
static int gone(struct evhttp_request *req)
{
	if (evhttp_request_get_connection(req) != NULL)
		return 0;
	evhttp_request_free(req);
	return 1;
}

/* What a read job hands back to the loop. */
struct answer {
	int code;                 /* 200, or 503 with err */
	enum hub_reject why;
	char err[600];
	struct bc_buf body;
	char next_name[16];       /* "X-Next-After" / "X-Next-Before" or "" */
	char next[64];
	int busy;                 /* the memory budget is spent: 503 */
	size_t held;              /* bytes of body taken from the budget */
};

/* Inside run(): the hub's memory budget (budget.h) is spent. */
static void answer_busy(struct answer *a)
{
	a->code = HTTP_SERVUNAVAIL;
	a->why = HUB_REJ_MEMORY;
	a->busy = 1;
}

static void answer_send(struct hub *h, struct evhttp_request *req,
                        struct answer *a)
{
	if (a->busy) {
		hub_send_busy(h, req);
		return;
	}
	if (a->code != HTTP_OK) {
		hub_send_error(h, req, a->code, a->why, "%s", a->err);
		return;
	}
	if (a->next_name[0])
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  a->next_name, a->next);
	hub_send_held(h, req, HTTP_OK, "application/json", &a->body, a->held);
	a->held = 0;                 /* given back once written */
}

/* ---- history ---- */

struct history_job {
	struct work_job job;
	struct hub *h;
	struct evhttp_request *req;
	char tid[BC_TID_MAX + 1];
	long long after, limit, tail;   /* tail 0: none */
	struct answer a;
};

/* Build "[rec,rec,...]\n" from p into a; X-Next-After when more follow
 * or the body reached its size cap. */
static int history_body(const struct bc_history_page *p, struct answer *a)
{
	size_t i;

	if (bc_buf_append(&a->body, "[", 1) != 0)
		return -1;
	for (i = 0; i < p->json.n && a->body.len < BODY_SOFT_MAX; i++)
		if ((i > 0 && bc_buf_append(&a->body, ",", 1) != 0) ||
		    bc_buf_append(&a->body, p->json.v[i], p->json.len[i]) != 0)
			return -1;
	if (bc_buf_append(&a->body, "]\n", 2) != 0)
		return -1;
	if ((p->more || i < p->json.n) && i > 0) {
		snprintf(a->next_name, sizeof a->next_name, "X-Next-After");
		snprintf(a->next, sizeof a->next, "%lld", p->seq[i - 1]);
	}
	return 0;
}

static void fail_read(struct answer *a, struct work_ctx *c,
                      enum bc_history_fail f, const char *err)
{
	a->code = f == BC_HISTORY_NOMEM ? HTTP_INTERNAL : HTTP_SERVUNAVAIL;
	a->why = HUB_REJ_DB_UNAVAILABLE;
	snprintf(a->err, sizeof a->err, "%s%s",
	         f == BC_HISTORY_DB ? "database error: " :
	         f == BC_HISTORY_REDIS ? "Redis error: " :
	         f == BC_HISTORY_SPOOL ? "spool error: " : "", err);
	work_drop(c, f);
}

static void history_run(struct work_job *j, struct work_ctx *c)
{
	struct history_job *hj = (struct history_job *)j;
	struct bc_history_src src;
	struct bc_history_page p;
	enum bc_history_fail f;
	long long after = hj->after, limit = hj->limit;
	char err[512];

	bc_history_page_init(&p);
	if (!budget_roomy(&hj->h->budget)) {
		answer_busy(&hj->a);         /* no room for a page: do not read */
		return;
	}
	if (work_src(c, &src, hj->a.err, sizeof hj->a.err) != 0) {
		hj->a.code = HTTP_SERVUNAVAIL;
		hj->a.why = HUB_REJ_DB_UNAVAILABLE;
		return;
	}
	f = BC_HISTORY_OK;
	if (hj->tail > 0) {
		f = bc_history_tail_after(&src, hj->tid, (size_t)hj->tail, &after,
		                          err, sizeof err);
		if (hj->tail < limit)
			limit = hj->tail;
	}
	if (f == BC_HISTORY_OK)
		f = bc_history_read(&src, hj->tid, after, (size_t)limit, &p, err,
		                    sizeof err);
	if (f != BC_HISTORY_OK)
		fail_read(&hj->a, c, f, err);
	else if (history_body(&p, &hj->a) != 0)
		fail_read(&hj->a, c, BC_HISTORY_NOMEM, "out of memory");
	else if (budget_take(&hj->h->budget, hj->a.body.len) != 0) {
		bc_buf_free(&hj->a.body);
		answer_busy(&hj->a);
	} else
		hj->a.held = hj->a.body.len;
	bc_history_page_free(&p);
}

static void history_done(struct work_job *j, int aborted)
{
	struct history_job *hj = (struct history_job *)j;

	if (!gone(hj->req) && !aborted)
		answer_send(hj->h, hj->req, &hj->a);
	if (hj->a.held > 0)
		budget_give(&hj->h->budget, hj->a.held);
	bc_buf_free(&hj->a.body);
	free(hj);
}

static struct history_job *history_new(struct hub *h,
                                       struct evhttp_request *req,
                                       const char *tid)
{
	struct history_job *hj = calloc(1, sizeof *hj);

	if (!hj)
		return NULL;
	hj->job.run = history_run;
	hj->job.done = history_done;
	hj->h = h;
	hj->req = req;
	hj->a.code = HTTP_OK;
	bc_buf_init(&hj->a.body, 0);
	snprintf(hj->tid, sizeof hj->tid, "%s", tid);
	return hj;
}

void rest_history(struct hub *h, struct evhttp_request *req, const char *tid)
{
	static const char *const allowed[] = { "after", "limit", "tail", NULL };
	struct evkeyvalq q;
	struct history_job *hj;
	const char *v;
	long long after = -1, limit = HUB_HISTORY_LIMIT, tail = 0;

	if (rest_query(h, req, allowed, &q) != 0)
		goto out;
	if ((v = evhttp_find_header(&q, "after")) &&
	    rest_parse_ll(v, -1, LLONG_MAX, &after) != 0) {
		bad_param(h, req, "after", "want a seq, an integer >= -1");
		goto out;
	}
	if ((v = evhttp_find_header(&q, "limit")) &&
	    rest_parse_ll(v, 1, LLONG_MAX, &limit) != 0) {
		bad_param(h, req, "limit", "want an integer >= 1");
		goto out;
	}
	if ((v = evhttp_find_header(&q, "tail")) &&
	    rest_parse_ll(v, 1, LLONG_MAX, &tail) != 0) {
		bad_param(h, req, "tail", "want an integer >= 1");
		goto out;
	}
	if (tail > 0 && evhttp_find_header(&q, "after")) {
		bad_param(h, req, "tail", "cannot be combined with after");
		goto out;
	}
	if (limit > HUB_HISTORY_LIMIT_MAX)
		limit = HUB_HISTORY_LIMIT_MAX;
	if (!budget_roomy(&h->budget)) {
		hub_send_busy(h, req);       /* no page could be held: no read */
		goto out;
	}
	if (!(hj = history_new(h, req, tid))) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	hj->after = after;
	hj->limit = limit;
	hj->tail = tail;
	work_submit(h->work, &hj->job, WORK_READ);
out:
	evhttp_clear_headers(&q);
}

/* ---- runs ---- */

struct runs_job {
	struct work_job job;
	struct hub *h;
	struct evhttp_request *req;
	int mask;
	int has_before;
	char before[BC_TS_LEN];
	long long limit;
	struct bc_run *rows;
	size_t n;
	int oom;
	struct answer a;
};

static int runs_row(const struct bc_run *r, void *arg)
{
	struct runs_job *rj = arg;

	if ((long long)rj->n > rj->limit)
		return 1;
	rj->rows[rj->n++] = *r;
	return 0;
}

/* Records of tid still in Redis and the spool (0 when unknown). */
static long long buffered_lines(const struct bc_history_src *src,
                                const char *tid)
{
	long long n = 0, len;
	struct bc_strv sv;

	if (src->redis && (len = bc_redis_queue_len(src->redis, tid)) > 0)
		n += len;
	bc_strv_init(&sv);
	if (src->spool && bc_spool_peek(src->spool, tid, &sv, NULL) == 0)
		n += (long long)sv.n;
	bc_strv_free(&sv);
	return n;
}

static int time_or_null(struct bc_buf *b, const char *key, const char *ts)
{
	return ts[0] ? bc_buf_printf(b, ",\"%s\":\"%s\"", key, ts)
	             : bc_buf_printf(b, ",\"%s\":null", key);
}

static int runs_body(struct runs_job *rj, const struct bc_history_src *src)
{
	struct bc_buf *b = &rj->a.body;
	size_t shown = rj->n > (size_t)rj->limit ? (size_t)rj->limit : rj->n;

	if (bc_buf_append(b, "[", 1) != 0)
		return -1;
	for (size_t i = 0; i < shown; i++) {
		const struct bc_run *r = &rj->rows[i];
		long long lines = r->lines;
		if (strcmp(r->status, "running") == 0)
			lines += buffered_lines(src, r->thread_id);
		if (bc_buf_printf(b, "%s{\"thread_id\":\"%s\",\"status\":\"%s\"",
		                  i ? "," : "", r->thread_id, r->status) != 0 ||
		    time_or_null(b, "started_at", r->started_at) != 0 ||
		    time_or_null(b, "ended_at", r->ended_at) != 0 ||
		    (r->exit_code < 0
		     ? bc_buf_puts(b, ",\"exit_code\":null")
		     : bc_buf_printf(b, ",\"exit_code\":%d", r->exit_code)) != 0 ||
		    bc_buf_printf(b, ",\"lines\":%lld}", lines) != 0)
			return -1;
	}
	if (bc_buf_append(b, "]\n", 2) != 0)
		return -1;
	if (rj->n > shown && shown > 0) {
		snprintf(rj->a.next_name, sizeof rj->a.next_name, "X-Next-Before");
		snprintf(rj->a.next, sizeof rj->a.next, "%s",
		         rj->rows[shown - 1].sort_key);
	}
	return 0;
}

static void runs_run(struct work_job *j, struct work_ctx *c)
{
	struct runs_job *rj = (struct runs_job *)j;
	struct bc_history_src src;

	if (work_src(c, &src, rj->a.err, sizeof rj->a.err) != 0) {
		rj->a.code = HTTP_SERVUNAVAIL;
		rj->a.why = HUB_REJ_DB_UNAVAILABLE;
		return;
	}
	rj->rows = calloc((size_t)rj->limit + 1, sizeof *rj->rows);
	if (!rj->rows) {
		fail_read(&rj->a, c, BC_HISTORY_NOMEM, "out of memory");
		return;
	}
	if (bc_store_runs(src.store, rj->mask, rj->has_before ? rj->before : NULL,
	                  rj->limit + 1, runs_row, rj) < 0) {
		fail_read(&rj->a, c, BC_HISTORY_DB, bc_store_errstr(src.store));
		return;
	}
	if (runs_body(rj, &src) != 0)
		fail_read(&rj->a, c, BC_HISTORY_NOMEM, "out of memory");
}

static void runs_done(struct work_job *j, int aborted)
{
	struct runs_job *rj = (struct runs_job *)j;

	if (!gone(rj->req) && !aborted)
		answer_send(rj->h, rj->req, &rj->a);
	bc_buf_free(&rj->a.body);
	free(rj->rows);
	free(rj);
}

/* ?status=a,b into a mask. 0, or -1 with the bad name in bad. */
static int status_mask(const char *v, int *mask, char *bad, size_t badlen)
{
	*mask = 0;
	while (*v) {
		size_t n = strcspn(v, ",");
		char name[16];
		int bit = 0;
		if (n > 0 && n < sizeof name) {
			memcpy(name, v, n);
			name[n] = '\0';
			bit = bc_store_run_status_bit(name);
		}
		if (!bit) {
			snprintf(bad, badlen, "%.*s", (int)(n < 32 ? n : 32), v);
			return -1;
		}
		*mask |= bit;
		v += n + (v[n] == ',');
	}
	return *mask ? 0 : -1;
}

void rest_runs(struct hub *h, struct evhttp_request *req)
{
	static const char *const allowed[] = { "status", "limit", "before", NULL };
	struct evkeyvalq q;
	struct runs_job *rj = NULL;
	const char *v;
	char bad[40] = "", why[96];

	if (rest_query(h, req, allowed, &q) != 0)
		goto out;
	if (!(rj = calloc(1, sizeof *rj))) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	rj->mask = BC_RUN_ALL;
	rj->limit = RUNS_LIMIT;
	if ((v = evhttp_find_header(&q, "status")) &&
	    status_mask(v, &rj->mask, bad, sizeof bad) != 0) {
		snprintf(why, sizeof why, "'%s' is not one of running, completed,"
		         " error, cancelled, paused", bad);
		bad_param(h, req, "status", why);
		goto fail;
	}
	if ((v = evhttp_find_header(&q, "limit")) &&
	    rest_parse_ll(v, 1, LLONG_MAX, &rj->limit) != 0) {
		bad_param(h, req, "limit", "want an integer >= 1");
		goto fail;
	}
	if (rj->limit > RUNS_LIMIT_MAX)
		rj->limit = RUNS_LIMIT_MAX;
	if ((v = evhttp_find_header(&q, "before"))) {
		if (strlen(v) >= sizeof rj->before || !bc_ts_valid(v, strlen(v))) {
			bad_param(h, req, "before",
			          "want an RFC 3339 time (an X-Next-Before value)");
			goto fail;
		}
		snprintf(rj->before, sizeof rj->before, "%s", v);
		rj->has_before = 1;
	}
	rj->job.run = runs_run;
	rj->job.done = runs_done;
	rj->h = h;
	rj->req = req;
	rj->a.code = HTTP_OK;
	bc_buf_init(&rj->a.body, 0);
	work_submit(h->work, &rj->job, WORK_READ);
	goto out;
fail:
	free(rj);
out:
	evhttp_clear_headers(&q);
}

/* ---- run starts and ends ---- */

struct event_job {
	struct work_job job;
	char tid[BC_TID_MAX + 1];
	char status[16];          /* "running", or the end's status */
	int exit_code;
	int flush;
	char err[1200];
	struct bc_flush_stats st;
};

static void event_run(struct work_job *j, struct work_ctx *c)
{
	struct event_job *ej = (struct event_job *)j;
	struct bc_history_src src;
	struct bc_flush_opts fo = { 0 };
	enum bc_flush_result f;
	char err[400];

	if (work_src(c, &src, ej->err, sizeof ej->err) != 0)
		return;
	if (strcmp(ej->status, "running") == 0) {
		if (bc_store_run_start(src.store, ej->tid) != 0) {
			snprintf(ej->err, sizeof ej->err, "cannot record the start"
			         " of %s: %s", ej->tid, bc_store_errstr(src.store));
			work_drop(c, BC_HISTORY_DB);
		}
		return;
	}
	fo.redis = src.redis;
	fo.spool = src.spool;
	fo.store = src.store;
	f = ej->flush ? bc_flush_thread(&fo, ej->tid, &ej->st, err, sizeof err)
	              : BC_FLUSH_OK;
	if (f != BC_FLUSH_OK) {
		snprintf(ej->err, sizeof ej->err, "flush of %s failed (%s); its"
		         " lines stay buffered", ej->tid, err);
		work_drop(c, f == BC_FLUSH_DB ? BC_HISTORY_DB :
		             f == BC_FLUSH_REDIS ? BC_HISTORY_REDIS : BC_HISTORY_OK);
	}
	if (bc_store_set_run(src.store, ej->tid, ej->status, ej->exit_code) != 0 &&
	    !ej->err[0])
		snprintf(ej->err, sizeof ej->err, "cannot record the end of %s: %s",
		         ej->tid, bc_store_errstr(src.store));
}

static void event_done(struct work_job *j, int aborted)
{
	struct event_job *ej = (struct event_job *)j;

	if (!aborted && ej->err[0])
		bc_warn("%s", ej->err);
	free(ej);
}

/* data.exit_code when it is an integer, else -1. */
static int exit_code_of(const char *data)
{
	struct json_object *o = data ? json_tokener_parse(data) : NULL, *v;
	int code = -1;

	if (o && json_object_object_get_ex(o, "exit_code", &v) &&
	    json_object_is_type(v, json_type_int))
		code = json_object_get_int(v);
	json_object_put(o);
	return code;
}

void rest_run_event(struct hub *h, const struct bc_event *e, int flush)
{
	struct event_job *ej;
	int start = strcmp(e->type, "run_started") == 0;

	if (!start && !bc_event_is_terminal(e->type))
		return;
	if (!(ej = calloc(1, sizeof *ej))) {
		bc_warn("out of memory: %s of %s not recorded", e->type,
		        e->thread_id);
		return;
	}
	ej->job.run = event_run;
	ej->job.done = event_done;
	snprintf(ej->tid, sizeof ej->tid, "%s", e->thread_id);
	snprintf(ej->status, sizeof ej->status, "%s",
	         start ? "running" : e->type + 4);
	ej->exit_code = start ? -1 : exit_code_of(e->data);
	ej->flush = flush;
	work_submit(h->work, &ej->job, WORK_WRITE);
}
