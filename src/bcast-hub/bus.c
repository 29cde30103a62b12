/* bus.c - the generic part of the bus between hubs (see bus.h).
 * Skeleton: no transport is attached yet, so publishing delivers at once,
 * exactly as a hub without a bus. */
#include <stdlib.h>

#include "bc_busmsg.h"
#include "hub.h"

struct bus {
	struct hub *h;
	const struct bus_transport *ops;
	void *t;
	int up;
	char origin[BC_BUSMSG_ORIGIN_LEN + 1];
};

struct bus *bus_new(struct hub *h)
{
	struct bus *b = calloc(1, sizeof *b);

	if (b != NULL)
		b->h = h;
	return b;
}

void bus_attach(struct bus *b, const struct bus_transport *ops, void *t)
{
	b->ops = ops;
	b->t = t;
}

void bus_free(struct bus *b)
{
	if (b == NULL)
		return;
	if (b->ops != NULL)
		b->ops->free(b->t);
	free(b);
}

void bus_on_link(struct bus *b, int up) { b->up = up; }
void bus_on_entry(struct bus *b, const char *id, const char *msg, size_t n)
{ (void)b; (void)id; (void)msg; (void)n; }
void bus_on_prefill(struct bus *b, const char *id, const char *msg, size_t n)
{ (void)b; (void)id; (void)msg; (void)n; }
size_t bus_prefill_want(const struct bus *b) { (void)b; return 0; }
int bus_up(const struct bus *b) { return b->up; }
const char *bus_name(const struct bus *b) { return b->ops ? b->ops->name : ""; }
const char *bus_origin(const struct bus *b) { return b->origin; }

int hub_publish_logs(struct hub *h, const char *tid, const char *frames,
                     size_t n, size_t count)
{
	return fanout_publish_logs(h->fanout, tid, frames, n, count);
}

int hub_publish_admin(struct hub *h, const char *type, const char *tid,
                      const char *json, size_t n)
{
	return fanout_publish_admin(h->fanout, type, tid, json, n);
}
