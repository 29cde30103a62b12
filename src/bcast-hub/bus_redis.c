/* bus_redis.c - the Redis transport of the bus (see bus.h, docs/bus.md).
 *
 * The bus is the Redis stream logs:bus. Two hiredis async connections on
 * the hub's libevent loop (hiredis/adapters/libevent.h), so nothing waits:
 *   - the writer appends: XADD logs:bus MAXLEN ~ N * m MSG, pipelined;
 *   - the reader reads: XREAD COUNT .. BLOCK .. STREAMS logs:bus LAST, again
 *     and again from the last entry id it handed to the bus.
 * The link is up once the writer answered a PING and the reader knows
 * where to read from: on the first join it reads the newest entries with
 * XREVRANGE (the prefill of the resume rings, oldest first) and goes on
 * after the newest; after a loss it goes on from the last entry it had,
 * so a short outage is caught up from the stream itself.
 *
 * Any connection error, error reply or silence (the reader hears from
 * Redis at least every BLOCK_MS; an append waits at most STALL_MS for its
 * answer) ends both connections; the link is down and a new attempt is
 * made RETRY_MS later, and so on, each attempt at most RETRY_MS apart
 * from the failure of the previous one. The host name is resolved once,
 * when the transport is made (before the loop runs): hiredis would
 * resolve it with a blocking getaddrinfo() on every connect. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "bc_clock.h"
#include "bc_url.h"
#include "bus.h"

#define BUS_KEY "logs:bus"
#define RETRY_MS 500          /* between a failure and the next attempt */
#define BLOCK_MS 2000         /* XREAD BLOCK */
#define READ_COUNT 1000       /* entries per XREAD */
#define STALL_MS 5000         /* no answer that long: the link is dead */
#define PREFILL_PAGE 500      /* entries per XREVRANGE page */
#define PREFILL_BYTES ((size_t)64 << 20)  /* at most this much prefill */
#define ID_MAX 48

struct pre {                  /* one prefill entry, newest first */
	char id[ID_MAX];
	char *msg;                /* NULL: no message field */
	size_t n;
};

struct bus_redis {
	struct bus *bus;
	struct event_base *base;
	struct bc_url url;
	char addr[NI_MAXHOST];    /* url.host resolved: what is connected to */
	long long maxlen;
	redisAsyncContext *wr, *rd;
	int wr_ready, rd_ready, up;
	char last[ID_MAX];        /* the last entry id handed to the bus */
	int have_last;            /* joined once: go on from last */
	int got_newest;           /* the join's XREVRANGE gave last */
	int said_down;            /* the failure was logged */
	int64_t wr_since;         /* appends outstanding since (0: none) */
	unsigned wr_pending;
	int64_t rd_heard;         /* the reader's last answer */
	struct event *retry, *watch;
	struct pre *pre;          /* prefill being gathered */
	size_t npre, pre_bytes;
};

static void start(struct bus_redis *r);

/* End both connections; callbacks of r's contexts are ignored from now. */
static void drop_conns(struct bus_redis *r)
{
	if (r->wr != NULL) {
		r->wr->data = NULL;
		redisAsyncFree(r->wr);
		r->wr = NULL;
	}
	if (r->rd != NULL) {
		r->rd->data = NULL;
		redisAsyncFree(r->rd);
		r->rd = NULL;
	}
	r->wr_ready = r->rd_ready = 0;
	r->wr_pending = 0;
	r->wr_since = 0;
}

static void pre_clear(struct bus_redis *r)
{
	for (size_t i = 0; i < r->npre; i++)
		free(r->pre[i].msg);
	free(r->pre);
	r->pre = NULL;
	r->npre = r->pre_bytes = 0;
}

/* The link failed (why: for the log); try again RETRY_MS later. */
static void fail(struct bus_redis *r, const char *why)
{
	struct timeval tv = { RETRY_MS / 1000, (RETRY_MS % 1000) * 1000 };

	if (r->up || !r->said_down)
		bus_log(r->bus, "redis %s:%d: %s%s", r->url.host, r->url.port,
		        why != NULL ? why : "connection lost",
		        "; delivering locally, retrying");
	r->said_down = 1;
	drop_conns(r);
	pre_clear(r);
	r->got_newest = 0;
	if (r->up) {
		r->up = 0;
		bus_on_link(r->bus, 0);
	}
	evtimer_add(r->retry, &tv);
}

static void check_up(struct bus_redis *r)
{
	if (r->up || !r->wr_ready || !r->rd_ready)
		return;
	r->up = 1;
	r->said_down = 0;
	bus_log(r->bus, "redis %s:%d: on the bus", r->url.host, r->url.port);
	bus_on_link(r->bus, 1);
}

/* The context's transport, or NULL when it was dropped. */
static struct bus_redis *owner(const redisAsyncContext *ac)
{
	return ac != NULL ? ac->data : NULL;
}

/* A reply that must not be an error. 0, or -1 after fail(). */
static int reply_ok(struct bus_redis *r, redisAsyncContext *ac,
                    const redisReply *rep, const char *what)
{
	char why[300];

	if (rep == NULL) {
		fail(r, ac->errstr[0] ? ac->errstr : NULL);
		return -1;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "%s: %s", what, rep->str);
		fail(r, why);
		return -1;
	}
	return 0;
}

/* ---- The reader ---- */

static void read_next(struct bus_redis *r);

/* The "m" field of an entry's field list, or NULL. */
static const redisReply *field_m(const redisReply *fields)
{
	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && k->len == 1 && k->str[0] == 'm' &&
		    v->type == REDIS_REPLY_STRING)
			return v;
	}
	return NULL;
}

/* The id of an entry [id, fields], or NULL if it is not one. */
static const redisReply *entry_id(const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len == 0 || e->element[0]->len >= ID_MAX)
		return NULL;
	return e->element[0];
}

static void on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
	struct bus_redis *r = owner(ac);
	const redisReply *rep = reply, *entries;

	(void)priv;
	if (r == NULL || reply_ok(r, ac, rep, "XREAD") != 0)
		return;
	r->rd_heard = bc_mono_us();
	/* nil: nothing within BLOCK_MS; else [[key, [entry, ...]]]. */
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY &&
	    rep->element[0]->elements == 2 &&
	    (entries = rep->element[0]->element[1])->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < entries->elements; i++) {
			const redisReply *e = entries->element[i], *id = entry_id(e);
			const redisReply *m;
			if (id == NULL)
				continue;
			m = field_m(e->element[1]);
			memcpy(r->last, id->str, id->len);
			r->last[id->len] = '\0';
			bus_on_entry(r->bus, r->last, m != NULL ? m->str : NULL,
			             m != NULL ? m->len : 0);
			if (owner(ac) == NULL)
				return;  /* the bus went down meanwhile */
		}
	} else if (rep->type != REDIS_REPLY_NIL) {
		fail(r, "XREAD: unexpected reply");
		return;
	}
	read_next(r);
}

static void read_next(struct bus_redis *r)
{
	if (redisAsyncCommand(r->rd, on_xread, NULL,
	                      "XREAD COUNT %d BLOCK %d STREAMS " BUS_KEY " %s",
	                      READ_COUNT, BLOCK_MS, r->last) != REDIS_OK)
		fail(r, "cannot send XREAD");
}

/* The prefill is complete (or not wanted): hand it to the bus, oldest
 * first, and read on after the newest entry. */
static void joined(struct bus_redis *r)
{
	for (size_t i = r->npre; i-- > 0;)
		bus_on_prefill(r->bus, r->pre[i].id, r->pre[i].msg, r->pre[i].n);
	pre_clear(r);
	r->have_last = 1;
	r->rd_ready = 1;
	r->rd_heard = bc_mono_us();
	read_next(r);
	check_up(r);
}

static void on_xrevrange(redisAsyncContext *ac, void *reply, void *priv)
{
	struct bus_redis *r = owner(ac);
	const redisReply *rep = reply;
	struct pre *grown;
	size_t want;

	(void)priv;
	if (r == NULL || reply_ok(r, ac, rep, "XREVRANGE") != 0)
		return;
	want = bus_prefill_want(r->bus);
	r->rd_heard = bc_mono_us();
	if (rep->type != REDIS_REPLY_ARRAY) {
		fail(r, "XREVRANGE: unexpected reply");
		return;
	}
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i], *id = entry_id(e), *m;
		if (id == NULL)
			continue;
		if (!r->got_newest) {
			memcpy(r->last, id->str, id->len);
			r->last[id->len] = '\0';
			r->got_newest = 1;
		}
		if (r->npre >= want || r->pre_bytes >= PREFILL_BYTES)
			break;
		grown = realloc(r->pre, (r->npre + 1) * sizeof *r->pre);
		if (grown == NULL)
			break;
		r->pre = grown;
		m = field_m(e->element[1]);
		memcpy(r->pre[r->npre].id, id->str, id->len);
		r->pre[r->npre].id[id->len] = '\0';
		r->pre[r->npre].msg = NULL;
		r->pre[r->npre].n = 0;
		if (m != NULL && (r->pre[r->npre].msg = malloc(m->len + 1)) != NULL) {
			memcpy(r->pre[r->npre].msg, m->str, m->len);
			r->pre[r->npre].n = m->len;
		}
		r->pre_bytes += m != NULL ? m->len : 0;
		r->npre++;
	}
	if (rep->elements == PREFILL_PAGE && r->npre > 0 && r->npre < want &&
	    r->pre_bytes < PREFILL_BYTES) {
		if (redisAsyncCommand(r->rd, on_xrevrange, NULL,
		                      "XREVRANGE " BUS_KEY " (%s - COUNT %d",
		                      r->pre[r->npre - 1].id, PREFILL_PAGE) != REDIS_OK)
			fail(r, "cannot send XREVRANGE");
		return;
	}
	if (!r->got_newest)
		snprintf(r->last, sizeof r->last, "0-0");   /* an empty bus */
	joined(r);
}

/* ---- The writer ---- */

static void on_ping(redisAsyncContext *ac, void *reply, void *priv)
{
	struct bus_redis *r = owner(ac);

	(void)priv;
	if (r == NULL || reply_ok(r, ac, reply, "PING") != 0)
		return;
	r->wr_ready = 1;
	check_up(r);
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv)
{
	struct bus_redis *r = owner(ac);

	(void)priv;
	if (r == NULL || reply_ok(r, ac, reply, "XADD") != 0)
		return;
	if (r->wr_pending > 0 && --r->wr_pending > 0)
		r->wr_since = bc_mono_us();
	else
		r->wr_since = 0;
}

static int append(void *t, const char *msg, size_t n)
{
	struct bus_redis *r = t;

	if (!r->up || r->wr == NULL)
		return -1;
	if (redisAsyncCommand(r->wr, on_xadd, NULL,
	                      "XADD " BUS_KEY " MAXLEN ~ %lld * m %b",
	                      r->maxlen, msg, n) != REDIS_OK)
		return -1;
	if (r->wr_pending++ == 0)
		r->wr_since = bc_mono_us();
	return 0;
}

/* ---- Connections ---- */

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct bus_redis *r = owner(ac);

	if (r == NULL || status == REDIS_OK)
		return;
	/* hiredis frees ac after this callback. */
	if (ac == r->wr)
		r->wr = NULL;
	else if (ac == r->rd)
		r->rd = NULL;
	fail(r, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct bus_redis *r = owner(ac);

	(void)status;
	if (r == NULL)
		return;
	/* hiredis frees ac after this callback. */
	if (ac == r->wr)
		r->wr = NULL;
	else if (ac == r->rd)
		r->rd = NULL;
	fail(r, NULL);
}

/* A connection with AUTH and SELECT queued as the URL asks. NULL after
 * fail(). */
static redisAsyncContext *conn(struct bus_redis *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->addr, r->url.port);

	if (ac == NULL || ac->err) {
		char why[300];
		snprintf(why, sizeof why, "%s", ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		fail(r, why);
		return NULL;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK ||
	    redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
	    redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK ||
	    (r->url.password[0] != '\0' &&
	     redisAsyncCommand(ac, NULL, NULL, "AUTH %s", r->url.password) != REDIS_OK) ||
	    (r->url.db != 0 &&
	     redisAsyncCommand(ac, NULL, NULL, "SELECT %d", r->url.db) != REDIS_OK)) {
		ac->data = NULL;
		redisAsyncFree(ac);
		fail(r, "cannot set up the connection");
		return NULL;
	}
	return ac;
}

static void start(struct bus_redis *r)
{
	drop_conns(r);
	if ((r->wr = conn(r)) == NULL || (r->rd = conn(r)) == NULL)
		return;
	/* AUTH/SELECT errors show as the PING's (or the read's) failure:
	 * hiredis answers pipelined commands in order, and a refused AUTH
	 * makes what follows fail with NOAUTH. */
	if (redisAsyncCommand(r->wr, on_ping, NULL, "PING") != REDIS_OK) {
		fail(r, "cannot send PING");
		return;
	}
	if (r->have_last) {
		joined(r);
		return;
	}
	if (redisAsyncCommand(r->rd, on_xrevrange, NULL,
	                      "XREVRANGE " BUS_KEY " + - COUNT %d",
	                      PREFILL_PAGE) != REDIS_OK)
		fail(r, "cannot send XREVRANGE");
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start(arg);
}

/* Every second: a link that stopped answering is dead. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct bus_redis *r = arg;
	int64_t now = bc_mono_us();

	(void)fd;
	(void)what;
	if (r->wr_since != 0 && now - r->wr_since > (int64_t)STALL_MS * 1000)
		fail(r, "no answer to XADD");
	else if (r->rd_ready &&
	         now - r->rd_heard > (int64_t)(BLOCK_MS + STALL_MS) * 1000)
		fail(r, "no answer to XREAD");
}

static void bus_redis_free(void *t)
{
	struct bus_redis *r = t;

	if (r == NULL)
		return;
	drop_conns(r);
	pre_clear(r);
	if (r->retry != NULL)
		event_free(r->retry);
	if (r->watch != NULL)
		event_free(r->watch);
	free(r);
}

/* url.host as a numeric address into r->addr (the name itself when it
 * does not resolve now: hiredis then tries at each connect). */
static void resolve(struct bus_redis *r)
{
	struct addrinfo hints = { 0 }, *ai = NULL;

	snprintf(r->addr, sizeof r->addr, "%s", r->url.host);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(r->url.host, NULL, &hints, &ai) != 0)
		return;
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, r->addr, sizeof r->addr,
	                NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(r->addr, sizeof r->addr, "%s", r->url.host);
	freeaddrinfo(ai);
}

static const struct bus_transport redis_ops = {
	.name = "redis",
	.append = append,
	.free = bus_redis_free,
};

int bus_redis_attach(struct bus *b, struct event_base *base, const char *url,
                     long long maxlen, char *err, size_t errlen)
{
	struct bus_redis *r = calloc(1, sizeof *r);
	struct timeval sec = { 1, 0 };

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (bc_url_parse(url, &r->url, err, errlen) != 0) {
		free(r);
		return -1;
	}
	resolve(r);
	r->bus = b;
	r->base = base;
	r->maxlen = maxlen;
	r->retry = evtimer_new(base, on_retry, r);
	r->watch = event_new(base, -1, EV_PERSIST, on_watch, r);
	if (r->retry == NULL || r->watch == NULL || evtimer_add(r->watch, &sec) != 0) {
		bus_redis_free(r);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	bus_attach(b, &redis_ops, r);
	start(r);
	return 0;
}
