/* conns.c - request deadlines (see conns.h).
 *
 * The bufferevent callback creates each connection's bufferevent and a
 * tracker with a timer. evhttp creates the connection object right after,
 * in the same call, so the tracker is attached on the next turn of the
 * loop (a zero-timeout event): the connection is then found as the
 * bufferevent's callback argument, its close callback is set to free the
 * tracker, and the timer is armed. A reference on the bufferevent keeps it
 * valid until then. Trackers are found from the connection through a
 * small hash table. When the timer fires the connection is freed, which
 * runs the close callback.
 *
 * Limits: attached connections also sit on a list, oldest activity first
 * (opened, or last answer written). When a new connection puts its client
 * address over the per-address cap, or the hub over the total cap, idle
 * connections of that address (or of any) are closed, oldest first, until
 * the count is back under the cap. Idle means waiting for a request for
 * at least IDLE_GRACE_MS: a connection busy with a request or its answer,
 * or just opened, is never chosen (a burst of clients that send their
 * requests at once all get in). A slow drip of idle connections can so
 * hold at most the caps, and a new client always gets in past them.
 * Counting an address walks the list: the caps keep it to a few hundred
 * entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "conns.h"

#define MAX_SINGLE_READ (256 * 1024)
#define MAX_SINGLE_WRITE (1024 * 1024)
#define BUCKETS_MIN 256
#define IDLE_GRACE_MS 1000

struct conn {
	struct conns *cs;
	struct bufferevent *bev;
	struct evhttp_connection *evcon;
	struct event *deadline;
	struct conn *hnext;
	struct conn *pnext;
	struct conn *lprev, *lnext;   /* activity list, oldest first */
	int busy;                     /* between a request and its answer */
	int64_t since_ms;             /* opened, or last answer written */
	void (*done)(void *);         /* conns_on_done() */
	void *done_arg;
	char addr[48];
};

struct conns {
	struct event_base *base;
	struct timeval timeout;
	struct conn **buckets;
	size_t nbuckets, n;
	struct conn *pending;
	struct event *attach_ev;
	struct conn *lhead, *ltail;
	size_t max_total, max_per_addr;
	unsigned long long *evicted;
};

static size_t slot_of(const struct conns *cs, const void *evcon)
{
	uintptr_t p = (uintptr_t)evcon;

	p ^= p >> 17;
	p *= 0x9E3779B97F4A7C15ULL;
	return (size_t)(p >> 20) & (cs->nbuckets - 1);
}

static struct conn **find(struct conns *cs, const void *evcon)
{
	struct conn **p = &cs->buckets[slot_of(cs, evcon)];

	while (*p != NULL && (*p)->evcon != evcon)
		p = &(*p)->hnext;
	return p;
}

static void grow(struct conns *cs)
{
	size_t old = cs->nbuckets;
	struct conn **ob = cs->buckets;
	struct conn **nb = calloc(old * 2, sizeof *nb);

	if (nb == NULL)
		return;
	cs->buckets = nb;
	cs->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		struct conn *c, *next;
		for (c = ob[i]; c != NULL; c = next) {
			size_t j = slot_of(cs, c->evcon);
			next = c->hnext;
			c->hnext = nb[j];
			nb[j] = c;
		}
	}
	free(ob);
}

static void conn_free(struct conn *c)
{
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

static void lru_remove(struct conns *cs, struct conn *c)
{
	if (c->lprev != NULL)
		c->lprev->lnext = c->lnext;
	else if (cs->lhead == c)
		cs->lhead = c->lnext;
	if (c->lnext != NULL)
		c->lnext->lprev = c->lprev;
	else if (cs->ltail == c)
		cs->ltail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void lru_append(struct conns *cs, struct conn *c)
{
	c->lprev = cs->ltail;
	c->lnext = NULL;
	if (cs->ltail != NULL)
		cs->ltail->lnext = c;
	else
		cs->lhead = c;
	cs->ltail = c;
}

static void unlink_conn(struct conn *c)
{
	struct conn **p = find(c->cs, c->evcon);

	if (*p == c) {
		*p = c->hnext;
		c->cs->n--;
		lru_remove(c->cs, c);
	}
}

static void run_done(struct conn *c)
{
	void (*fn)(void *) = c->done;

	c->done = NULL;
	if (fn != NULL)
		fn(c->done_arg);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	(void)evcon;
	run_done(c);
	unlink_conn(c);
	conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	evhttp_connection_free(c->evcon);   /* runs on_close: c is gone */
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The oldest idle connection (see the top), of address addr unless it is
 * NULL; NULL if there is none. The list is in activity order, so the
 * search stops at the first one too young. */
static struct conn *oldest_idle(struct conns *cs, const char *addr)
{
	int64_t limit = now_ms() - IDLE_GRACE_MS;

	for (struct conn *o = cs->lhead; o != NULL && o->since_ms <= limit;
	     o = o->lnext)
		if (!o->busy && (addr == NULL || strcmp(o->addr, addr) == 0))
			return o;
	return NULL;
}

static void evict(struct conns *cs, struct conn *o)
{
	if (cs->evicted != NULL)
		(*cs->evicted)++;
	evhttp_connection_free(o->evcon);   /* runs on_close: o is gone */
}

/* Close idle connections while c's arrival has its address or the hub
 * over a cap (see the top). */
static void enforce(struct conns *cs, struct conn *c)
{
	size_t same = 0;
	struct conn *o;

	if (cs->max_per_addr > 0) {
		for (o = cs->lhead; o != NULL; o = o->lnext)
			same += strcmp(o->addr, c->addr) == 0;
		for (; same > cs->max_per_addr && (o = oldest_idle(cs, c->addr)) != NULL;
		     same--)
			evict(cs, o);
	}
	while (cs->max_total > 0 && cs->n > cs->max_total &&
	       (o = oldest_idle(cs, NULL)) != NULL)
		evict(cs, o);
}

static void on_attach(evutil_socket_t fd, short what, void *arg)
{
	struct conns *cs = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	while ((c = cs->pending) != NULL) {
		bufferevent_event_cb eventcb = NULL;
		void *cbarg = NULL;
		struct bufferevent *bev = c->bev;

		cs->pending = c->pnext;
		bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
		if (eventcb == NULL || cbarg == NULL) {
			conn_free(c);          /* evhttp already dropped it */
		} else {
			struct conn **p;
			char *host = NULL;
			ev_uint16_t port = 0;
			c->evcon = cbarg;
			evhttp_connection_get_peer(c->evcon, &host, &port);
			snprintf(c->addr, sizeof c->addr, "%s", host != NULL ? host : "");
			if (cs->n >= cs->nbuckets)
				grow(cs);
			p = find(cs, c->evcon);
			c->hnext = *p;
			*p = c;
			cs->n++;
			c->since_ms = now_ms();
			lru_append(cs, c);
			evhttp_connection_set_closecb(c->evcon, on_close, c);
			evtimer_add(c->deadline, &cs->timeout);
			bufferevent_decref(bev);
			enforce(cs, c);
			continue;
		}
		bufferevent_decref(bev);
	}
}

struct bufferevent *conns_bevcb(struct event_base *base, void *arg)
{
	struct conns *cs = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1,
	                                                 BEV_OPT_CLOSE_ON_FREE);
	struct conn *c;

	if (bev == NULL)
		return NULL;
	bufferevent_set_max_single_read(bev, MAX_SINGLE_READ);
	bufferevent_set_max_single_write(bev, MAX_SINGLE_WRITE);
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return bev;
	c->deadline = evtimer_new(base, on_deadline, c);
	if (c->deadline == NULL) {
		free(c);
		return bev;
	}
	c->cs = cs;
	c->bev = bev;
	bufferevent_incref(bev);
	c->pnext = cs->pending;
	cs->pending = c;
	event_active(cs->attach_ev, EV_TIMEOUT, 0);
	return bev;
}

static void on_complete(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	(void)req;
	run_done(c);
	c->busy = 0;
	c->since_ms = now_ms();
	lru_remove(c->cs, c);
	lru_append(c->cs, c);
	evtimer_add(c->deadline, &c->cs->timeout);
}

void conns_request_started(struct conns *cs, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c;

	if (evcon == NULL || (c = *find(cs, evcon)) == NULL)
		return;
	event_del(c->deadline);
	c->busy = 1;
	evhttp_request_set_on_complete_cb(req, on_complete, c);
}

void conns_answered(struct conns *cs, struct evhttp_connection *evcon)
{
	struct conn *c = *find(cs, evcon);

	if (c != NULL) {
		c->since_ms = now_ms();
		lru_remove(cs, c);
		lru_append(cs, c);
		evtimer_add(c->deadline, &cs->timeout);
	}
}

int conns_on_done(struct conns *cs, struct evhttp_request *req,
                  void (*fn)(void *), void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c;

	if (evcon == NULL || (c = *find(cs, evcon)) == NULL || c->done != NULL)
		return -1;
	c->done = fn;
	c->done_arg = arg;
	return 0;
}

void conns_forget(struct conns *cs, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c;

	if (evcon == NULL || (c = *find(cs, evcon)) == NULL)
		return;
	evhttp_request_set_on_complete_cb(req, NULL, NULL);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	unlink_conn(c);
	conn_free(c);
}

struct conns *conns_new(struct event_base *base, int timeout_s,
                        size_t max_total, size_t max_per_addr,
                        unsigned long long *evicted)
{
	struct conns *cs = calloc(1, sizeof *cs);

	if (cs == NULL)
		return NULL;
	cs->base = base;
	cs->timeout.tv_sec = timeout_s;
	cs->max_total = max_total;
	cs->max_per_addr = max_per_addr;
	cs->evicted = evicted;
	cs->nbuckets = BUCKETS_MIN;
	cs->buckets = calloc(cs->nbuckets, sizeof *cs->buckets);
	cs->attach_ev = event_new(base, -1, 0, on_attach, cs);
	if (cs->buckets == NULL || cs->attach_ev == NULL) {
		conns_free(cs);
		return NULL;
	}
	return cs;
}

void conns_free(struct conns *cs)
{
	struct conn *c;

	if (cs == NULL)
		return;
	while ((c = cs->pending) != NULL) {
		cs->pending = c->pnext;
		bufferevent_decref(c->bev);
		conn_free(c);
	}
	for (size_t i = 0; cs->buckets != NULL && i < cs->nbuckets; i++) {
		struct conn *next;
		for (c = cs->buckets[i]; c != NULL; c = next) {
			next = c->hnext;
			conn_free(c);
		}
	}
	free(cs->buckets);
	if (cs->attach_ev != NULL)
		event_free(cs->attach_ev);
	free(cs);
}
