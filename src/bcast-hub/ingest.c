/* ingest.c - the streaming ingest (see ingest.h).
 *
 * Watching: ingest_bevcb() gives each evhttp connection a read
 * low-watermark no head reaches, and a callback on its input buffer, which
 * runs on every read before the bufferevent would call evhttp. The
 * callback copies out the head so far and decides: the first byte that
 * differs from "POST /api/runs/", a complete head that is not a chunked
 * POST to the ingest route, or a head past INGEST_HEAD_MAX releases the
 * connection (watermark back to 0: evhttp's read callback runs right after
 * on the same bytes). A streaming ingest is taken: its bytes are moved out
 * of the buffer, its socket is duplicated, the number evhttp knows is
 * pointed at /dev/null (evhttp shuts down and closes that number when it
 * frees the connection), and the evhttp connection is freed.
 *
 * Serving: a taken connection is read with plain recv() into a buffer
 * shared by all (one thread), fed to the resumable chunked decoder, and
 * split into lines. A line that lies whole inside what was read is
 * processed in place; only a line cut by a read or a chunk boundary is
 * copied into the connection's line buffer (capped at --max-body). After
 * every read the frames made are published. Nothing is allocated per line
 * or per read: the buffers keep their capacity. A body that sends nothing
 * for --timeout is ended with 408. Every answer carries Connection: close;
 * after it, input is drained (LINGER) until the peer closes or
 * INGEST_LINGER_S pass, so that the answer is not lost to a reset. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "bc_clock.h"
#include "bc_http1.h"
#include "conns.h"
#include "ingest.h"

#define READ_MAX (256 * 1024)
#define READS_PER_WAKE 8
#define ROUTE_PREFIX "POST /api/runs/"
#define WATCH_LOW_WM ((size_t)1 << 30)   /* evhttp reads nothing below */
#define OUT_MAX ((size_t)4 << 20)        /* answers a client leaves unread */

struct iconn {
	struct ingest *in;
	struct iconn *prev, *next;
	int fd;
	int linger;                 /* answered: drain input, then close */
	int64_t linger_until;
	struct event *ev;           /* EV_READ | EV_PERSIST, idle timeout */
	struct event *wev;          /* armed while out holds bytes */
	char tid[BC_TID_MAX + 1];
	struct bc_chunked ck;
	struct bc_buf line, frames, json, out;
	size_t frames_n, accepted, lineno;
	int failed, status;
	enum hub_reject why;
	char err[300];
};

/* The one ingest of the process: the input-buffer callback's argument is
 * the bufferevent it watches, so that nothing is allocated per watch. */
static struct ingest *the_ingest;

struct ingest {
	struct hub *h;
	struct iconn *conns;
	int stopping;
	int devnull;
	struct bc_buf frames, json, replies;   /* one-shot scratch */
	char buf[READ_MAX];
};

static void conn_close(struct iconn *c)
{
	struct ingest *in = c->in;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		in->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->wev != NULL)
		event_free(c->wev);
	bc_buf_free(&c->line);
	bc_buf_free(&c->frames);
	bc_buf_free(&c->json);
	bc_buf_free(&c->out);
	close(c->fd);
	free(c);
}

/* Write what c->out holds; once all is written the write side is shut.
 * -1 when c was closed. */
static int flush_out(struct iconn *c)
{
	while (c->out.len > 0) {
		ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return 0;
		}
		if (w <= 0) {
			conn_close(c);
			return -1;
		}
		bc_buf_consume(&c->out, (size_t)w);
	}
	if (c->linger)
		shutdown(c->fd, SHUT_WR);
	return 0;
}

/* Answer status with body and Connection: close, then linger. -1 when c
 * was closed. */
static int reply(struct iconn *c, int status, const char *reason,
                 const char *body)
{
	struct timeval tv = { INGEST_LINGER_S, 0 };
	int rc = 0;

	rc |= bc_buf_printf(&c->out, "HTTP/1.1 %d %s\r\n"
	                    "Content-Type: application/json\r\n"
	                    "Cache-Control: no-store\r\n", status, reason);
	if (status == 401)
		rc |= bc_buf_puts(&c->out, "WWW-Authenticate: Bearer\r\n");
	rc |= bc_buf_printf(&c->out, "Connection: close\r\n"
	                    "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	if (rc != 0) {
		conn_close(c);
		return -1;
	}
	c->linger = 1;
	c->linger_until = bc_mono_us() + INGEST_LINGER_S * 1000000;
	event_add(c->ev, &tv);
	return flush_out(c);
}

static const char *reason_of(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	default: return "Error";
	}
}

/* Answer {"error":"MSG"}. -1 when c was closed. */
static int fail(struct iconn *c, int status, enum hub_reject why,
                const char *msg)
{
	char body[512];
	size_t n;

	c->in->h->metrics->rejected[why]++;
	n = (size_t)snprintf(body, sizeof body, "{\"error\":\"");
	for (const char *s = msg; *s != '\0' && n < sizeof body - 8; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			body[n++] = '\\';
		body[n++] = ch < 0x20 ? ' ' : (char)ch;
	}
	snprintf(body + n, sizeof body - n, "\"}\n");
	return reply(c, status, reason_of(status), body);
}

/* One complete line (n bytes at p). 0, or -1 when it was refused. */
static int take_line(struct iconn *c, const char *p, size_t n)
{
	char why[256];
	int rc;

	c->lineno++;
	rc = hub_ingest_line(c->tid, p, n, &c->frames, &c->json, why, sizeof why);
	if (rc >= 0) {
		c->frames_n += (size_t)rc;
		return 0;
	}
	snprintf(c->err, sizeof c->err, "line %zu: %s", c->lineno, why);
	c->failed = 1;
	c->status = rc == -1 ? 400 : 413;
	c->why = rc == -1 ? HUB_REJ_BAD_REQUEST : HUB_REJ_TOO_LARGE;
	return -1;
}

/* Body data from the chunked decoder, split into lines. Non-zero stops
 * the decoder (c->failed). */
static int on_data(void *arg, const char *p, size_t n)
{
	struct iconn *c = arg;

	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl != NULL ? (size_t)(nl - p) : n;

		if (nl != NULL && c->line.len == 0) {
			if (take_line(c, p, len) != 0)      /* in place */
				return 1;
		} else if (bc_buf_append(&c->line, p, len) != 0) {
			snprintf(c->err, sizeof c->err,
			         "line %zu: longer than %zu bytes", c->lineno + 1,
			         c->line.max);
			c->failed = 1;
			c->status = 413;
			c->why = HUB_REJ_TOO_LARGE;
			return 1;
		} else if (nl != NULL) {
			if (take_line(c, c->line.data, c->line.len) != 0)
				return 1;
			bc_buf_reset(&c->line);
		}
		if (nl == NULL)
			break;
		p = nl + 1;
		n -= len + 1;
	}
	return 0;
}

/* Hand the frames made so far to the fan-out. */
static void publish(struct iconn *c)
{
	struct hub *h = c->in->h;

	if (c->frames_n > 0) {
		hub_publish_logs(h, c->tid, c->frames.data, c->frames.len,
		                 c->frames_n);
		h->metrics->lines_received += c->frames_n;
		c->accepted += c->frames_n;
	}
	bc_buf_reset(&c->frames);
	c->frames_n = 0;
}

/* Feed n body bytes at p. -1 when c was closed. */
static int feed(struct iconn *c, const char *p, size_t n)
{
	ssize_t used = bc_chunked_feed(&c->ck, p, n, on_data, c);
	char ok[64];

	publish(c);
	if (used < 0) {
		snprintf(c->err, sizeof c->err, "malformed chunked body: %s",
		         c->ck.err);
		return fail(c, 400, HUB_REJ_BAD_REQUEST, c->err);
	}
	if (c->failed)
		return fail(c, c->status, c->why, c->err);
	if (!bc_chunked_done(&c->ck))
		return 0;
	/* A last line without its newline counts, as in a one-shot body. */
	if (c->line.len > 0 && take_line(c, c->line.data, c->line.len) != 0)
		return fail(c, c->status, c->why, c->err);
	publish(c);
	snprintf(ok, sizeof ok, "{\"accepted\":%zu}\n", c->accepted);
	return reply(c, 200, "OK", ok);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct iconn *c = arg;
	struct ingest *in = c->in;

	if (what & EV_TIMEOUT) {
		char msg[64];
		if (c->linger) {
			conn_close(c);
			return;
		}
		snprintf(msg, sizeof msg, "no data for %d s", in->h->timeout_s);
		fail(c, 408, HUB_REJ_BAD_REQUEST, msg);
		return;
	}
	for (int i = 0; i < READS_PER_WAKE; i++) {
		ssize_t n;

		if (c->out.len > 0)
			return;        /* on_writable comes back when it is out */
		n = recv(fd, in->buf, sizeof in->buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* Gone: the lines it completed are published; a line
			 * cut short is dropped. */
			conn_close(c);
			return;
		}
		if (c->linger) {
			if (bc_mono_us() > c->linger_until) {
				conn_close(c);
				return;
			}
			continue;
		}
		if (feed(c, in->buf, (size_t)n) != 0)
			return;
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct iconn *c = arg;

	(void)what;
	if (flush_out(c) == 0 && c->out.len == 0)
		on_read(fd, EV_READ, c);
}

static void on_input(struct evbuffer *input,
                     const struct evbuffer_cb_info *info, void *arg);
static int take_checks(struct iconn *c, const struct bc_http1_req *r);

/* Take bev's connection from evhttp: the head (hl bytes, parsed into r
 * from the input's first bytes) and everything after it become ours. */
static void take(struct ingest *in, struct bufferevent *bev,
                 struct evbuffer *input, const struct bc_http1_req *r,
                 size_t hl)
{
	struct hub *h = in->h;
	bufferevent_event_cb eventcb = NULL;
	void *evcon = NULL;
	struct timeval tv = { h->timeout_s, 0 };
	struct evbuffer *body;
	struct iconn *c;
	int fd = bufferevent_getfd(bev), own = -1;

	bufferevent_getcb(bev, NULL, NULL, &eventcb, &evcon);
	c = calloc(1, sizeof *c);
	body = evbuffer_new();
	if (c == NULL || body == NULL || evcon == NULL ||
	    (own = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    evbuffer_add_buffer(body, input) != 0) {
		/* Left to evhttp, which buffers the whole body. */
		if (own >= 0)
			close(own);
		if (body != NULL)
			evbuffer_free(body);
		free(c);
		evbuffer_remove_cb(input, on_input, bev);
		bufferevent_setwatermark(bev, EV_READ, 0, 0);
		return;
	}
	c->in = in;
	c->fd = own;
	bc_buf_init(&c->line, h->max_body);
	/* JSON re-encoding can grow a line (U+FFFD for bad bytes), never 4x. */
	bc_buf_init(&c->frames, 4 * h->max_body + 65536);
	bc_buf_init(&c->json, 0);
	bc_buf_init(&c->out, 0);
	bc_chunked_init(&c->ck);
	c->ev = event_new(h->base, own, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(h->base, own, EV_WRITE, on_writable, c);
	c->next = in->conns;
	if (in->conns != NULL)
		in->conns->prev = c;
	in->conns = c;

	/* The socket is ours: evhttp keeps a number that leads nowhere. */
	evbuffer_remove_cb(input, on_input, bev);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	dup2(in->devnull, fd);
	evhttp_connection_free(evcon);
	h->metrics->http_requests++;
	evbuffer_drain(body, hl);
	if (c->ev == NULL || c->wev == NULL || event_add(c->ev, &tv) != 0) {
		evbuffer_free(body);
		conn_close(c);
		return;
	}
	if (take_checks(c, r) == 0) {
		/* What came with the head is the body's start. */
		size_t n;
		while ((n = evbuffer_remove(body, in->buf, sizeof in->buf)) > 0 &&
		       n != (size_t)-1 && feed(c, in->buf, n) == 0 && !c->linger)
			;
	}
	evbuffer_free(body);
}

/* Refuse what may not stream here. 0 to go on, -1 when answered. */
static int take_checks(struct iconn *c, const struct bc_http1_req *r)
{
	struct hub *h = c->in->h;
	const struct bc_http1_span *v;

	if (hub_ingest_target(r->target.p, r->target.n, c->tid) < 0)
		return fail(c, 400, HUB_REJ_BAD_REQUEST, "invalid thread id"), -1;
	v = bc_http1_header(r, "Authorization");
	if (!hub_token_ok(h, v != NULL ? v->p : NULL, v != NULL ? v->n : 0))
		return fail(c, 401, HUB_REJ_UNAUTHORIZED,
		            "missing or wrong bearer token"), -1;
	if (bc_http1_header(r, "Origin") != NULL)
		return fail(c, 403, HUB_REJ_BAD_REQUEST,
		            "streaming ingest is not for browsers (Origin given)"), -1;
	v = bc_http1_header(r, "Content-Type");
	if (v == NULL || v->n < 20 ||
	    strncasecmp(v->p, "application/x-ndjson", 20) != 0 ||
	    (v->n > 20 && v->p[20] != ';' && v->p[20] != ' '))
		return fail(c, 415, HUB_REJ_BAD_REQUEST,
		            "Content-Type must be application/x-ndjson"), -1;
	if (r->minor == 0)
		return fail(c, 400, HUB_REJ_BAD_REQUEST,
		            "chunked body in an HTTP/1.0 request"), -1;
	if ((v = bc_http1_header(r, "Expect")) != NULL &&
	    v->n == 12 && strncasecmp(v->p, "100-continue", 12) == 0) {
		if (bc_buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n") != 0) {
			conn_close(c);
			return -1;
		}
		if (flush_out(c) != 0)
			return -1;
	}
	return 0;
}

/* Give the connection back to evhttp for good: it reads the same bytes
 * next (right after this callback, or at once when called elsewhere). */
static void release(struct bufferevent *bev, struct evbuffer *input)
{
	evbuffer_remove_cb(input, on_input, bev);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
}

static int is_ndjson(const struct bc_http1_span *v)
{
	return v != NULL && v->n >= 20 &&
	       strncasecmp(v->p, "application/x-ndjson", 20) == 0 &&
	       (v->n == 20 || v->p[20] == ';' || v->p[20] == ' ');
}

/* The body length of a one-shot ingest request this path may answer
 * itself: HTTP/1.1, a Content-Length within --max-body, NDJSON, the
 * publish token, no Origin, Expect or Connection: close. -1 when evhttp
 * should answer it instead (and every error is its to say). */
static long long oneshot_len(const struct hub *h, const struct bc_http1_req *r)
{
	const struct bc_http1_span *v = bc_http1_header(r, "Content-Length");
	long long n = 0;

	if (r->minor != 1 || v == NULL || v->n == 0 || v->n > 12 ||
	    !is_ndjson(bc_http1_header(r, "Content-Type")) ||
	    bc_http1_header(r, "Origin") != NULL ||
	    bc_http1_header(r, "Expect") != NULL ||
	    bc_http1_header(r, "Transfer-Encoding") != NULL ||
	    ((v = bc_http1_header(r, "Connection")) != NULL &&
	     bc_http1_has_token(v, "close")))
		return -1;
	v = bc_http1_header(r, "Content-Length");
	for (size_t i = 0; i < v->n; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return -1;
		n = n * 10 + (v->p[i] - '0');
	}
	if ((size_t)n > h->max_body)
		return -1;
	v = bc_http1_header(r, "Authorization");
	if (!hub_token_ok(h, v != NULL ? v->p : NULL, v != NULL ? v->n : 0))
		return -1;
	return n;
}

/* Take every line of a one-shot body into in->frames. The count, or -1
 * when a line is refused (nothing is kept: evhttp will say why). */
static long long oneshot_lines(struct ingest *in, const char *tid,
                               const char *body, size_t len)
{
	long long count = 0;
	char err[256];

	bc_buf_reset(&in->frames);
	for (size_t i = 0; i < len;) {
		const char *p = body + i, *nl = memchr(p, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - i;
		int rc = hub_ingest_line(tid, p, n, &in->frames, &in->json, err,
		                         sizeof err);
		if (rc < 0)
			return -1;
		count += rc;
		i += n + 1;
	}
	return count;
}

/* Write the answers gathered in in->replies: at once when evhttp has
 * nothing queued, else behind it in the bufferevent. */
static void send_replies(struct ingest *in, struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t off = 0;

	if (evbuffer_get_length(out) == 0) {
		ssize_t w;
		do
			w = send(bufferevent_getfd(bev), in->replies.data,
			         in->replies.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w > 0)
			off = (size_t)w;
	}
	if (off < in->replies.len) {
		evbuffer_add(out, in->replies.data + off, in->replies.len - off);
		bufferevent_enable(bev, EV_WRITE);
	}
	bc_buf_reset(&in->replies);
}

/* Runs on every read of a watched connection, before evhttp would. */
static void on_input(struct evbuffer *input, const struct evbuffer_cb_info *info,
                     void *arg)
{
	struct bufferevent *bev = arg;
	struct ingest *in = the_ingest;
	struct bc_http1_req r;
	const struct bc_http1_span *te;
	const char *err = NULL;
	size_t pl = sizeof ROUTE_PREFIX - 1, n;
	ssize_t hl;
	char tid[BC_TID_MAX + 1];

	if (info->n_added == 0)
		return;
	/* Answer the complete one-shot ingest requests at the front, in
	 * order; stop at a partial one; take a streaming one; release the
	 * connection to evhttp at anything else. */
	for (;;) {
		long long blen, count;
		const char *body;
		char ok[160];

		n = evbuffer_copyout(input, in->buf, INGEST_HEAD_MAX);
		if (n == 0)
			break;
		if (memcmp(in->buf, ROUTE_PREFIX, n < pl ? n : pl) != 0 ||
		    in->stopping) {
			release(bev, input);
			break;
		}
		if (n < pl)
			break;
		hl = bc_http1_head(in->buf, n, &r, &err);
		if (hl == BC_HTTP1_PARTIAL && n < INGEST_HEAD_MAX)
			break;
		if (hl < 0 || hub_ingest_target(r.target.p, r.target.n, tid) <= 0) {
			release(bev, input);
			break;
		}
		if ((te = bc_http1_header(&r, "Transfer-Encoding")) != NULL &&
		    bc_http1_has_token(te, "chunked") && in->replies.len == 0 &&
		    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			take(in, bev, input, &r, (size_t)hl);
			return;
		}
		if ((blen = oneshot_len(in->h, &r)) < 0) {
			release(bev, input);
			break;
		}
		if (evbuffer_get_length(input) < (size_t)hl + (size_t)blen)
			break;          /* the body is still coming */
		body = (const char *)evbuffer_pullup(input, hl + blen);
		if (body == NULL ||
		    (count = oneshot_lines(in, tid, body + hl, (size_t)blen)) < 0) {
			release(bev, input);
			break;
		}
		if (count > 0)
			hub_publish_logs(in->h, tid, in->frames.data,
			                 in->frames.len, (size_t)count);
		in->h->metrics->http_requests++;
		in->h->metrics->lines_received += (unsigned long long)count;
		evbuffer_drain(input, hl + blen);
		snprintf(ok, sizeof ok, "{\"accepted\":%lld}\n", count);
		if (bc_buf_printf(&in->replies, "HTTP/1.1 200 OK\r\n"
		                  "Content-Type: application/json\r\n"
		                  "Cache-Control: no-store\r\n"
		                  "Access-Control-Allow-Origin: *\r\n"
		                  "Content-Length: %zu\r\n\r\n%s", strlen(ok), ok) != 0)
			break;
	}
	if (in->replies.len > 0) {
		bufferevent_event_cb eventcb = NULL;
		void *evcon = NULL;
		send_replies(in, bev);
		bufferevent_getcb(bev, NULL, NULL, &eventcb, &evcon);
		if (evcon != NULL)
			conns_answered(in->h->conns, evcon);
		/* A client that sends requests but never reads the answers. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) > OUT_MAX &&
		    evcon != NULL)
			evhttp_connection_free(evcon);
	}
}

struct bufferevent *ingest_bevcb(struct event_base *base, void *arg)
{
	struct ingest *in = arg;
	struct bufferevent *bev = conns_bevcb(base, in->h->conns);

	if (bev == NULL || in->stopping ||
	    evbuffer_add_cb(bufferevent_get_input(bev), on_input, bev) == NULL)
		return bev;
	bufferevent_setwatermark(bev, EV_READ, WATCH_LOW_WM, 0);
	return bev;
}

struct ingest *ingest_new(struct hub *h)
{
	struct ingest *in = calloc(1, sizeof *in);

	if (in == NULL)
		return NULL;
	in->h = h;
	the_ingest = in;
	/* JSON re-encoding can grow a line (U+FFFD for bad bytes), never 4x. */
	bc_buf_init(&in->frames, 4 * h->max_body + 65536);
	bc_buf_init(&in->json, 0);
	bc_buf_init(&in->replies, 0);
	in->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (in->devnull < 0) {
		free(in);
		return NULL;
	}
	return in;
}

void ingest_shutdown(struct ingest *in)
{
	in->stopping = 1;
	while (in->conns != NULL)
		conn_close(in->conns);
}

void ingest_free(struct ingest *in)
{
	if (in == NULL)
		return;
	ingest_shutdown(in);
	close(in->devnull);
	if (the_ingest == in)
		the_ingest = NULL;
	bc_buf_free(&in->frames);
	bc_buf_free(&in->json);
	bc_buf_free(&in->replies);
	free(in);
}
