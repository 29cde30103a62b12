/* http.c - bcast-hub's HTTP layer: routing, ingest, history, health and
 * metrics.
 *
 * One evhttp generic callback routes on the raw path: fixed paths, and
 * /api/runs/{tid}/... or /admin/runs/{tid}/... whose {tid} segment is
 * percent-decoded and validated. Unknown paths get 404, known paths with
 * another method 405 (with Allow), OPTIONS a CORS preflight answer.
 * Errors are one-line JSON objects {"error":"..."}.
 *
 * Ingest decodes and re-encodes every record of a body before anything is
 * published, so a body is taken whole or refused whole. History is read
 * synchronously from the store, which is reopened on demand when it was
 * down. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "bc_buf.h"
#include "bc_record.h"
#include "bc_sse.h"
#include "bc_tid.h"
#include "auth.h"
#include "hub.h"
#include "page.h"
#include "rest.h"
#include "resume.h"


enum route {
	R_NONE, R_HEALTHZ, R_METRICS, R_LOGS_STREAM, R_THREAD_STREAM,
	R_INGEST, R_ADMIN_STREAM, R_ADMIN_POST, R_HISTORY, R_RUNS, R_PAGE,
	R_SESSION
};

enum { M_GET = 1, M_POST = 2, M_DELETE = 4 };

/* need: what auth.c checks; ctype: the media type a POST body must have. */
static const struct {
	enum route r;
	int methods;      /* M_GET also admits HEAD, except for streams */
	int stream;
	enum auth_need need;
	const char *ctype;
	const char *allow;
} routes[] = {
	{ R_HEALTHZ, M_GET, 0, AUTH_OPEN, NULL, "GET, HEAD, OPTIONS" },
	{ R_METRICS, M_GET, 0, AUTH_METRICS, NULL, "GET, HEAD, OPTIONS" },
	{ R_LOGS_STREAM, M_GET, 1, AUTH_READ, NULL, "GET, OPTIONS" },
	{ R_THREAD_STREAM, M_GET, 1, AUTH_READ, NULL, "GET, OPTIONS" },
	{ R_INGEST, M_POST, 0, AUTH_PUBLISH, "application/x-ndjson", "POST, OPTIONS" },
	{ R_ADMIN_STREAM, M_GET, 1, AUTH_READ, NULL, "GET, OPTIONS" },
	{ R_ADMIN_POST, M_POST, 0, AUTH_PUBLISH, "application/json", "POST, OPTIONS" },
	{ R_HISTORY, M_GET, 0, AUTH_READ, NULL, "GET, HEAD, OPTIONS" },
	{ R_RUNS, M_GET, 0, AUTH_READ, NULL, "GET, HEAD, OPTIONS" },
	/* The viewer page holds no log data: it loads without a credential
	 * and signs in (POST /auth/session) when its reads answer 401. */
	{ R_PAGE, M_GET, 0, AUTH_OPEN, NULL, "GET, HEAD, OPTIONS" },
	{ R_SESSION, M_POST | M_DELETE, 0, AUTH_OPEN, NULL, "POST, DELETE, OPTIONS" },
};

struct target {
	enum route r;
	int tid_ok;
	char tid[BC_TID_MAX + 1];
	const struct hub_page *page; /* R_PAGE: the embedded file (page.c) */
};

/* Append s as a JSON string (with quotes) to out. */
static void json_string(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			evbuffer_add_printf(out, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(out, "\\u%04x", c);
		else
			evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static void add_common_headers(struct evhttp_request *req, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
}

static void send_buf(struct evhttp_request *req, int code, const char *ctype,
                     struct evbuffer *body)
{
	add_common_headers(req, ctype);
	evhttp_send_reply(req, code, NULL, body);
}

static void send_text(struct evhttp_request *req, int code, const char *ctype,
                      const char *text, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL || evbuffer_add(b, text, n) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	send_buf(req, code, ctype, b);
	evbuffer_free(b);
}

static void buf_cleanup(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)data);
}

void hub_send_owned(struct evhttp_request *req, int code, const char *ctype,
                    struct bc_buf *body)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *data = bc_buf_steal(body, &n);

	if (b == NULL || data == NULL ||
	    evbuffer_add_reference(b, data, n, buf_cleanup, NULL) != 0) {
		free(data);
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	send_buf(req, code, ctype, b);
	evbuffer_free(b);
}

void hub_send_error(struct hub *h, struct evhttp_request *req, int code,
                    enum hub_reject why, const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	char msg[512];
	va_list ap;

	h->metrics->rejected[why]++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (b == NULL) {
		evhttp_send_error(req, code, NULL);
		return;
	}
	evbuffer_add(b, "{\"error\":", 9);
	json_string(b, msg);
	evbuffer_add(b, "}\n", 2);
	send_buf(req, code, "application/json", b);
	evbuffer_free(b);
}

void hub_send_busy(struct hub *h, struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	evhttp_remove_header(out, "X-Next-After");
	evhttp_remove_header(out, "X-Next-Before");
	evhttp_add_header(out, "Retry-After", BUDGET_RETRY_AFTER);
	hub_send_error(h, req, HTTP_SERVUNAVAIL, HUB_REJ_MEMORY,
	               "busy: the hub's memory for answers (--memory-cap %zu "
	               "bytes) is in use; retry", h->budget.cap);
}

struct held {
	struct budget *b;
	size_t n;
};

static void give_back(void *arg)
{
	struct held *hd = arg;

	budget_give(hd->b, hd->n);
	free(hd);
}

void hub_send_held(struct hub *h, struct evhttp_request *req, int code,
                   const char *ctype, struct bc_buf *body, size_t taken)
{
	struct held *hd = malloc(sizeof *hd);
	size_t n = body->len;

	if (hd == NULL || (taken == 0 && budget_take(&h->budget, n) != 0)) {
		if (taken > 0)
			budget_give(&h->budget, taken);
		free(hd);
		bc_buf_free(body);
		hub_send_busy(h, req);
		return;
	}
	hd->b = &h->budget;
	hd->n = n;
	if (conns_on_done(h->conns, req, give_back, hd) != 0) {
		hub_send_owned(req, code, ctype, body);
		give_back(hd);
		return;
	}
	hub_send_owned(req, code, ctype, body);
}

/* Decode the n-byte path segment seg into t->tid; t->tid_ok tells if it is
 * a valid thread id. */
static void take_tid(struct target *t, const char *seg, size_t n)
{
	char raw[3 * BC_TID_MAX + 1];
	size_t len;
	char *dec;

	t->tid_ok = 0;
	if (n == 0 || n >= sizeof raw)
		return;
	memcpy(raw, seg, n);
	raw[n] = '\0';
	dec = evhttp_uridecode(raw, 0, &len);
	if (dec == NULL)
		return;
	if (len == strlen(dec) && bc_tid_valid_n(dec, len)) {
		memcpy(t->tid, dec, len + 1);
		t->tid_ok = 1;
	}
	free(dec);
}

/* Match "/PREFIX{tid}/TAIL" for the routes under prefix. */
static int match_tid_route(struct target *t, const char *path,
                           const char *prefix, const char *tail, enum route r)
{
	size_t pl = strlen(prefix);
	const char *seg, *slash;

	if (strncmp(path, prefix, pl) != 0)
		return 0;
	seg = path + pl;
	slash = strchr(seg, '/');
	if (slash == NULL || strcmp(slash + 1, tail) != 0)
		return 0;
	t->r = r;
	take_tid(t, seg, (size_t)(slash - seg));
	return 1;
}

static void parse_target(const char *path, struct target *t)
{
	memset(t, 0, sizeof *t);
	t->tid_ok = 1;
	if (strcmp(path, "/healthz") == 0)
		t->r = R_HEALTHZ;
	else if (strcmp(path, "/metrics") == 0)
		t->r = R_METRICS;
	else if (strcmp(path, "/api/logs/stream") == 0)
		t->r = R_LOGS_STREAM;
	else if (strcmp(path, "/api/admin-events/stream") == 0)
		t->r = R_ADMIN_STREAM;
	else if (strcmp(path, "/api/admin-events") == 0)
		t->r = R_ADMIN_POST;
	else if (strcmp(path, "/admin/runs") == 0)
		t->r = R_RUNS;
	else if (strcmp(path, "/auth/session") == 0)
		t->r = R_SESSION;
	else if (!match_tid_route(t, path, "/api/runs/", "logs", R_INGEST) &&
	         !match_tid_route(t, path, "/api/runs/", "logs/stream", R_THREAD_STREAM) &&
	         !match_tid_route(t, path, "/admin/runs/", "logs", R_HISTORY))
		t->r = (t->page = hub_page_find(path)) != NULL ? R_PAGE : R_NONE;
}

int hub_token_ok(const struct hub *h, const char *a, size_t n)
{
	return auth_publish_ok(h->auth, a, n);
}

/* True if req's Content-Type is the media type want (parameters such as
 * "; charset=utf-8" aside). */
static int ctype_is(struct evhttp_request *req, const char *want)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req),
	                                   "Content-Type");
	size_t n = strlen(want);

	if (v == NULL)
		return 0;
	while (*v == ' ')
		v++;
	if (strncasecmp(v, want, n) != 0)
		return 0;
	for (v += n; *v == ' ' || *v == '\t'; v++)
		;
	return *v == '\0' || *v == ';';
}

int hub_ingest_target(const char *path, size_t n, char *tid)
{
	static const char prefix[] = "/api/runs/", tail[] = "/logs";
	struct target t;
	const char *q = memchr(path, '?', n);

	if (q != NULL)
		n = (size_t)(q - path);
	if (n <= sizeof prefix - 1 + sizeof tail - 1 ||
	    memcmp(path, prefix, sizeof prefix - 1) != 0 ||
	    memcmp(path + n - (sizeof tail - 1), tail, sizeof tail - 1) != 0)
		return 0;
	path += sizeof prefix - 1;
	n -= sizeof prefix - 1 + sizeof tail - 1;
	if (memchr(path, '/', n) != NULL)
		return 0;
	take_tid(&t, path, n);
	if (!t.tid_ok)
		return -1;
	memcpy(tid, t.tid, strlen(t.tid) + 1);
	return 1;
}

/* The body of req as one contiguous block ("" when empty). */
static const char *body_of(struct evhttp_request *req, size_t *n)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *p;

	*n = evbuffer_get_length(in);
	if (*n == 0)
		return "";
	p = (const char *)evbuffer_pullup(in, -1);
	if (p == NULL)
		*n = 0;
	return p != NULL ? p : "";
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

int hub_ingest_line(const char *tid, const char *p, size_t n,
                    struct bc_buf *frames, struct bc_buf *json, char *err,
                    size_t errlen)
{
	struct bc_record r;
	char id[BC_TID_MAX + 32], why[256];
	int rc = 1;

	if (blank(p, n))
		return 0;
	memset(&r, 0, sizeof r);
	if (bc_record_decode(p, n, &r, why, sizeof why) != 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (strcmp(r.thread_id, tid) != 0) {
		snprintf(err, errlen, "thread_id %s does not match the path (%s)",
		         r.thread_id, tid);
		rc = -1;
	} else {
		snprintf(id, sizeof id, "%s:%lld", r.thread_id, r.seq);
		bc_buf_reset(json);
		if (bc_record_encode(&r, json) != 0 ||
		    bc_sse_frame(frames, id, json->data, json->len) != 0) {
			snprintf(err, errlen, "too large once encoded");
			rc = -2;
		}
	}
	bc_record_clear(&r);
	return rc;
}

static void handle_ingest(struct hub *h, struct evhttp_request *req,
                          const char *tid)
{
	size_t len, count = 0, lineno = 0, held;
	const char *body = body_of(req, &len);
	struct bc_buf frames, json;
	char err[256], ok[64];

	/* The body, and its frames (about as large again once framed). */
	held = 2 * len + 4096;
	if (budget_take(&h->budget, held) != 0) {
		hub_send_busy(h, req);
		return;
	}

	/* JSON re-encoding can grow a line (U+FFFD for bad bytes), never 4x. */
	bc_buf_init(&frames, 4 * h->max_body + 65536);
	bc_buf_init(&json, 0);
	for (size_t i = 0; i < len;) {
		const char *p = body + i, *nl = memchr(p, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - i;
		int rc;

		i += n + 1;
		lineno++;
		rc = hub_ingest_line(tid, p, n, &frames, &json, err, sizeof err);
		if (rc == -1) {
			hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
			           "line %zu: %s", lineno, err);
			goto out;
		}
		if (rc == -2) {
			hub_send_error(h, req, 413, HUB_REJ_TOO_LARGE,
			           "line %zu: body too large once encoded", lineno);
			goto out;
		}
		count += (size_t)rc;
	}
	if (count > 0 &&
	    hub_publish_logs(h, tid, frames.data, frames.len, count) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	h->metrics->lines_received += count;
	len = (size_t)snprintf(ok, sizeof ok, "{\"accepted\":%zu}\n", count);
	send_text(req, HTTP_OK, "application/json", ok, len);
out:
	bc_buf_free(&frames);
	bc_buf_free(&json);
	budget_give(&h->budget, held);
}

static void handle_admin_post(struct hub *h, struct evhttp_request *req)
{
	static const char *const allowed[] = { "flush", NULL };
	size_t len;
	const char *body = body_of(req, &len);
	struct bc_event e;
	struct bc_buf json;
	struct evkeyvalq q;
	const char *v;
	char err[256];
	int flush = 1;
	static const char ok[] = "{\"accepted\":1}\n";

	if (rest_query(h, req, allowed, &q) != 0) {
		evhttp_clear_headers(&q);
		return;
	}
	v = evhttp_find_header(&q, "flush");
	if (v != NULL && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
		hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
		               "bad parameter 'flush': want 0 or 1");
		evhttp_clear_headers(&q);
		return;
	}
	flush = v == NULL || strcmp(v, "1") == 0;
	evhttp_clear_headers(&q);
	memset(&e, 0, sizeof e);
	bc_buf_init(&json, 0);
	if (bc_event_decode(body, len, &e, err, sizeof err) != 0) {
		hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST, "%s", err);
		return;
	}
	if (bc_event_encode(&e, &json) != 0 ||
	    hub_publish_admin(h, e.type, e.thread_id, json.data, json.len) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	h->metrics->admin_events++;
	rest_run_event(h, &e, flush);
	send_text(req, HTTP_OK, "application/json", ok, sizeof ok - 1);
out:
	bc_event_clear(&e);
	bc_buf_free(&json);
}

/* Read ?type=a,b&thread_id=x into flt. 0, or -1 with a reason in err. */
static int parse_filter(struct evhttp_request *req, struct fanout_filter *flt,
                        char *err, size_t errlen)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	const char *v;
	int rc = -1;

	memset(flt, 0, sizeof *flt);
	TAILQ_INIT(&q);
	if (query == NULL)
		return 0;
	if (evhttp_parse_query_str(query, &q) != 0) {
		snprintf(err, errlen, "malformed query string");
		return -1;
	}
	if ((v = evhttp_find_header(&q, "thread_id")) != NULL) {
		if (!bc_tid_valid(v)) {
			snprintf(err, errlen, "invalid thread_id");
			goto out;
		}
		snprintf(flt->tid, sizeof flt->tid, "%s", v);
	}
	if ((v = evhttp_find_header(&q, "type")) != NULL) {
		while (*v != '\0') {
			size_t n = strcspn(v, ",");
			char type[65];
			if (n > 0) {
				if (n >= sizeof type || flt->ntypes == FANOUT_MAX_TYPES) {
					snprintf(err, errlen, "bad type filter");
					goto out;
				}
				memcpy(type, v, n);
				type[n] = '\0';
				if (!bc_event_type_valid(type)) {
					snprintf(err, errlen, "invalid event type in filter");
					goto out;
				}
				memcpy(flt->types[flt->ntypes++], type, n + 1);
			}
			v += n + (v[n] == ',');
		}
	}
	rc = 0;
out:
	evhttp_clear_headers(&q);
	return rc;
}

static void handle_stream(struct hub *h, struct evhttp_request *req,
                          const struct target *t, long long until)
{
	struct fanout_filter flt;
	struct resume_cursor cur;
	enum fanout_kind kind = t->r == R_LOGS_STREAM ? FANOUT_GLOBAL
	                      : t->r == R_THREAD_STREAM ? FANOUT_THREAD
	                      : FANOUT_ADMIN;
	char err[128];
	int resume, rc;

	if (kind == FANOUT_ADMIN && parse_filter(req, &flt, err, sizeof err) != 0) {
		hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST, "%s", err);
		return;
	}
	if ((resume = resume_parse(h, req, kind, t->tid, &cur)) < 0)
		return;
	if (fanout_total(h->fanout) >= h->max_clients) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Connection", "close");
		hub_send_error(h, req, HTTP_SERVUNAVAIL, HUB_REJ_MAX_CLIENTS,
		               "too many clients (%zu)", h->max_clients);
		return;
	}
	conns_forget(h->conns, req);
	rc = resume
	   ? resume_subscribe(h, req, kind, t->tid,
	                      kind == FANOUT_ADMIN ? &flt : NULL, &cur, until)
	   : fanout_subscribe(h->fanout, req, kind, t->tid,
	                      kind == FANOUT_ADMIN ? &flt : NULL, until);
	if (rc != 0)
		hub_send_error(h, req, HTTP_SERVUNAVAIL, HUB_REJ_MAX_CLIENTS,
		               "not accepting subscribers");
}

void hub_gauges_publish(struct hub *h)
{
	h->slot->g.global = fanout_count(h->fanout, FANOUT_GLOBAL);
	h->slot->g.thread = fanout_count(h->fanout, FANOUT_THREAD);
	h->slot->g.admin = fanout_count(h->fanout, FANOUT_ADMIN);
}

/* 200 while the hub serves; with a bus, whether its link is up. */
static void handle_healthz(struct hub *h, struct evhttp_request *req)
{
	char body[96];
	int n = 3;

	memcpy(body, "ok\n", 4);
	if (h->bus != NULL)
		n = snprintf(body, sizeof body, "ok\nbus: %s %s\n", bus_name(h->bus),
		             bus_up(h->bus) ? "up" : "down");
	send_text(req, HTTP_OK, "text/plain; charset=utf-8", body, (size_t)n);
}

static void handle_metrics(struct hub *h, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct hub_metrics m;
	struct hub_gauges g;

	hub_gauges_publish(h);
	hub_shared_sum(h->shared, &m, &g);
	if (b == NULL || hub_metrics_render(&m, &g, b) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	send_buf(req, HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

static void handle_options(struct hub *h, struct evhttp_request *req,
                           const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	auth_preflight(h->auth, req, allow);
	evhttp_send_reply(req, HTTP_NOCONTENT, NULL, NULL);
}

static void handle_session(struct hub *h, struct evhttp_request *req)
{
	struct auth_verdict v;

	auth_session(h->auth, req, &v);
	if (v.code != 0)
		hub_send_error(h, req, v.code, HUB_REJ_UNAUTHORIZED, "%s", v.why);
	else
		evhttp_send_reply(req, HTTP_NOCONTENT, NULL, NULL);
}

/* The thread a read of t is about: its {tid}, the ?thread_id= filter of an
 * admin stream, or NULL (every thread). */
static const char *read_scope(struct evhttp_request *req,
                              const struct target *t, char *buf, size_t n)
{
	const char *query;
	struct evkeyvalq q;
	const char *v;

	if (t->r == R_THREAD_STREAM || t->r == R_HISTORY)
		return t->tid;
	if (t->r != R_ADMIN_STREAM)
		return NULL;
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	TAILQ_INIT(&q);
	if (query == NULL || evhttp_parse_query_str(query, &q) != 0) {
		evhttp_clear_headers(&q);
		return NULL;
	}
	v = evhttp_find_header(&q, "thread_id");
	if (v != NULL && bc_tid_valid(v))
		snprintf(buf, n, "%s", v);
	evhttp_clear_headers(&q);
	return buf[0] != '\0' ? buf : NULL;
}

/* The auth hook of the router: 0 when req may go on (*until: when its
 * credential expires, 0 never), else it has been answered. */
static int gate(struct hub *h, struct evhttp_request *req, int route, int m,
                const struct target *t, long long *until)
{
	struct auth_verdict v;
	char scope[BC_TID_MAX + 1] = "";

	*until = 0;
	if (m == M_POST && routes[route].ctype != NULL &&
	    !ctype_is(req, routes[route].ctype)) {
		hub_send_error(h, req, 415, HUB_REJ_MEDIA_TYPE,
		               "Content-Type must be %s", routes[route].ctype);
		return -1;
	}
	auth_check(h->auth, req, routes[route].need,
	           t->tid_ok ? read_scope(req, t, scope, sizeof scope) : NULL, &v);
	if (v.code != 0) {
		hub_send_error(h, req, v.code, v.code == 401 ? HUB_REJ_UNAUTHORIZED
		                                             : HUB_REJ_FORBIDDEN,
		               "%s", v.why);
		return -1;
	}
	*until = v.until;
	return 0;
}

void hub_http_handle(struct evhttp_request *req, void *arg)
{
	struct hub *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct target t;
	size_t i;
	long long until;
	int m;

	h->metrics->http_requests++;
	conns_request_started(h->conns, req);
	parse_target(path != NULL ? path : "", &t);
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (routes[i].r == t.r)
			break;
	if (t.r == R_NONE || i == sizeof routes / sizeof routes[0]) {
		hub_send_error(h, req, HTTP_NOTFOUND, HUB_REJ_NOT_FOUND, "no such endpoint");
		return;
	}
	if (auth_host(h->auth, req) != 0) {
		hub_send_error(h, req, 403, HUB_REJ_FORBIDDEN,
		               "Host not allowed: with reads open, reach the hub by "
		               "IP address or localhost (or configure a read "
		               "credential)");
		return;
	}
	if (auth_origin(h->auth, req) != 0) {
		hub_send_error(h, req, 403, HUB_REJ_FORBIDDEN,
		               "cross-origin request refused: origin not listed "
		               "(bcast-hub --cors-origin)");
		return;
	}
	if (cmd == EVHTTP_REQ_OPTIONS) {
		handle_options(h, req, routes[i].allow);
		return;
	}
	m = cmd == EVHTTP_REQ_GET ? M_GET
	  : cmd == EVHTTP_REQ_HEAD && !routes[i].stream ? M_GET
	  : cmd == EVHTTP_REQ_POST ? M_POST
	  : cmd == EVHTTP_REQ_DELETE ? M_DELETE : 0;
	if ((routes[i].methods & m) == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		                  routes[i].allow);
		hub_send_error(h, req, HTTP_BADMETHOD, HUB_REJ_METHOD,
		           "method not allowed");
		return;
	}
	if (gate(h, req, (int)i, m, &t, &until) != 0)
		return;
	if (!t.tid_ok) {
		hub_send_error(h, req, HTTP_BADREQUEST, HUB_REJ_BAD_REQUEST,
		           "invalid thread id");
		return;
	}
	switch (t.r) {
	case R_HEALTHZ:
		handle_healthz(h, req);
		break;
	case R_METRICS:
		handle_metrics(h, req);
		break;
	case R_INGEST:
		handle_ingest(h, req, t.tid);
		break;
	case R_ADMIN_POST:
		handle_admin_post(h, req);
		break;
	case R_HISTORY:
		rest_history(h, req, t.tid);
		break;
	case R_RUNS:
		rest_runs(h, req);
		break;
	case R_PAGE:
		hub_page_send(req, t.page);
		break;
	case R_LOGS_STREAM:
	case R_THREAD_STREAM:
	case R_ADMIN_STREAM:
		handle_stream(h, req, &t, until);
		break;
	case R_SESSION:
		handle_session(h, req);
		break;
	case R_NONE:
		break;
	}
}
