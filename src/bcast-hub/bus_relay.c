/* bus_relay.c - the bus transport of --workers without Redis: the parent
 * process is the bus (see workers.h).
 *
 * A bufferevent on the worker's socketpair. append() adds one WORKERS_MSG
 * frame to its output (refused, as a link that is down, once RELAY_OUT_MAX
 * bytes wait: the parent is not reading); each whole WORKERS_ENTRY or
 * WORKERS_PREFILL frame read is handed to bus_on_entry or bus_on_prefill
 * with its "MS-SEQ" id. The parent going away (end of file) takes the link
 * down for good; the parent's death also sends this process SIGTERM
 * (PR_SET_PDEATHSIG), which drains the hub. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bus.h"
#include "workers.h"

#define RELAY_OUT_MAX ((size_t)64 << 20)

struct relay {
	struct bus *b;
	struct bufferevent *bev;
};

static int relay_append(void *t, const char *msg, size_t n)
{
	struct relay *r = t;
	struct evbuffer *out;
	unsigned char h[5];

	if (r->bev == NULL || n + 1 > WORKERS_FRAME_MAX)
		return -1;
	out = bufferevent_get_output(r->bev);
	if (evbuffer_get_length(out) > RELAY_OUT_MAX)
		return -1;
	workers_put32(h, n + 1);
	h[4] = WORKERS_MSG;
	if (evbuffer_expand(out, sizeof h + n) != 0 ||
	    evbuffer_add(out, h, sizeof h) != 0 || evbuffer_add(out, msg, n) != 0)
		return -1;
	return 0;
}

static void relay_free(void *t)
{
	struct relay *r = t;

	if (r == NULL)
		return;
	if (r->bev != NULL)
		bufferevent_free(r->bev);
	free(r);
}

static const struct bus_transport relay_ops = {
	"relay", relay_append, relay_free,
};

static void relay_down(struct relay *r)
{
	bufferevent_free(r->bev);
	r->bev = NULL;
	bus_on_link(r->b, 0);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char h[6];

	while (evbuffer_copyout(in, h, sizeof h) == (ev_ssize_t)sizeof h) {
		size_t len = workers_get32(h);
		char id[256];
		const char *p;

		if (len < 2 + (size_t)h[5] || len > WORKERS_FRAME_MAX ||
		    (h[4] != WORKERS_ENTRY && h[4] != WORKERS_PREFILL)) {
			relay_down(r);          /* cannot happen: our parent */
			return;
		}
		if (evbuffer_get_length(in) < 4 + len)
			return;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)(4 + len));
		if (p == NULL)
			return;
		memcpy(id, p + 6, h[5]);
		id[h[5]] = '\0';
		if (h[4] == WORKERS_ENTRY)
			bus_on_entry(r->b, id, p + 6 + h[5], len - 2 - h[5]);
		else
			bus_on_prefill(r->b, id, p + 6 + h[5], len - 2 - h[5]);
		if (r->bev == NULL)
			return;
		evbuffer_drain(in, 4 + len);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		relay_down(arg);
}

int bus_relay_attach(struct bus *b, struct event_base *base, int fd)
{
	struct relay *r = calloc(1, sizeof *r);

	if (r == NULL)
		return -1;
	evutil_make_socket_nonblocking(fd);
	r->b = b;
	r->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (r->bev == NULL) {
		free(r);
		return -1;
	}
	bufferevent_setcb(r->bev, on_read, NULL, on_event, r);
	if (bufferevent_enable(r->bev, EV_READ | EV_WRITE) != 0) {
		relay_free(r);
		return -1;
	}
	bus_attach(b, &relay_ops, r);
	bus_on_link(b, 1);
	return 0;
}
