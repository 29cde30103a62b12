/* metrics.c - the shared slots of the hub's counters and their Prometheus
 * text rendering (see metrics.h). Each family gets its HELP and TYPE lines
 * once. */
#include <stddef.h>
#include <sys/mman.h>

#include "metrics.h"

static const char *const reject_reason[HUB_REJ_COUNT] = {
	[HUB_REJ_BAD_REQUEST] = "bad_request",
	[HUB_REJ_UNAUTHORIZED] = "unauthorized",
	[HUB_REJ_NOT_FOUND] = "not_found",
	[HUB_REJ_METHOD] = "method_not_allowed",
	[HUB_REJ_TOO_LARGE] = "too_large",
	[HUB_REJ_MAX_CLIENTS] = "max_clients",
	[HUB_REJ_DB_UNAVAILABLE] = "db_unavailable",
	[HUB_REJ_FORBIDDEN] = "forbidden",
	[HUB_REJ_MEDIA_TYPE] = "unsupported_media_type",
	[HUB_REJ_MEMORY] = "memory_cap",
};

_Static_assert(sizeof(struct hub_metrics) % sizeof(unsigned long long) == 0,
               "hub_metrics is made of counters");
_Static_assert(sizeof(struct hub_gauges) % sizeof(size_t) == 0,
               "hub_gauges is made of size_t");

struct hub_shared {
	size_t n, len;
	struct hub_slot slot[];
};

struct hub_shared *hub_shared_new(size_t n)
{
	size_t len = sizeof(struct hub_shared) + n * sizeof(struct hub_slot);
	struct hub_shared *s = mmap(NULL, len, PROT_READ | PROT_WRITE,
	                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		return NULL;
	s->n = n;         /* the mapping comes zeroed */
	s->len = len;
	return s;
}

void hub_shared_free(struct hub_shared *s)
{
	if (s != NULL)
		munmap(s, s->len);
}

struct hub_slot *hub_shared_slot(struct hub_shared *s, size_t i)
{
	return &s->slot[i];
}

void hub_shared_sum(const struct hub_shared *s, struct hub_metrics *m,
                    struct hub_gauges *g)
{
	/* Both structs are nothing but unsigned long long / size_t words. */
	enum { MW = sizeof *m / sizeof(unsigned long long),
	       GW = sizeof *g / sizeof(size_t) };
	unsigned long long *mo = (unsigned long long *)m;
	size_t *go = (size_t *)g;

	for (size_t w = 0; w < MW; w++)
		mo[w] = 0;
	for (size_t w = 0; w < GW; w++)
		go[w] = 0;
	for (size_t i = 0; i < s->n; i++) {
		const volatile unsigned long long *mi =
			(const volatile unsigned long long *)&s->slot[i].m;
		const volatile size_t *gi = (const volatile size_t *)&s->slot[i].g;
		for (size_t w = 0; w < MW; w++)
			mo[w] += mi[w];
		for (size_t w = 0; w < GW; w++)
			go[w] += gi[w];
	}
}

static int counter(struct evbuffer *out, const char *name, const char *help,
                   unsigned long long v)
{
	return evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
	                           name, help, name, name, v) < 0 ? -1 : 0;
}

static int gauge(struct evbuffer *out, const char *name, const char *help,
                 unsigned long long v)
{
	return evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n",
	                           name, help, name, name, v) < 0 ? -1 : 0;
}

int hub_metrics_render(const struct hub_metrics *m, const struct hub_gauges *g,
                       struct evbuffer *out)
{
	int rc = 0;

	rc |= evbuffer_add_printf(out,
		"# HELP bcast_hub_subscribers Open SSE subscriptions.\n"
		"# TYPE bcast_hub_subscribers gauge\n"
		"bcast_hub_subscribers{stream=\"global\"} %zu\n"
		"bcast_hub_subscribers{stream=\"thread\"} %zu\n"
		"bcast_hub_subscribers{stream=\"admin\"} %zu\n",
		g->global, g->thread, g->admin) < 0;
	rc |= counter(out, "bcast_hub_http_requests_total",
	              "HTTP requests received.", m->http_requests);
	rc |= counter(out, "bcast_hub_lines_received_total",
	              "Log records accepted by ingest.", m->lines_received);
	rc |= counter(out, "bcast_hub_events_delivered_total",
	              "SSE events queued to subscribers.", m->events_delivered);
	rc |= counter(out, "bcast_hub_admin_events_total",
	              "Admin events accepted.", m->admin_events);
	rc |= counter(out, "bcast_hub_slow_disconnects_total",
	              "Subscribers closed for passing the backlog cap.",
	              m->slow_disconnects);
	rc |= counter(out, "bcast_hub_accept_errors_total",
	              "Failed accept() calls (e.g. out of file descriptors).",
	              m->accept_errors);
	rc |= counter(out, "bcast_hub_conns_evicted_total",
	              "Connections closed for --max-conns or --max-conns-per-addr.",
	              m->conns_evicted);
	rc |= counter(out, "bcast_hub_resumes_total",
	              "Streams resumed from a Last-Event-ID.", m->resumes);
	rc |= counter(out, "bcast_hub_resume_resets_total",
	              "Resume cursors that could not be served (event: reset).",
	              m->resume_resets);
	rc |= evbuffer_add_printf(out,
		"# HELP bcast_hub_rejected_total Requests refused, by reason.\n"
		"# TYPE bcast_hub_rejected_total counter\n") < 0;
	for (size_t i = 0; i < HUB_REJ_COUNT; i++)
		rc |= evbuffer_add_printf(out,
			"bcast_hub_rejected_total{reason=\"%s\"} %llu\n",
			reject_reason[i], m->rejected[i]) < 0;
	if (m->bus_on) {
		rc |= gauge(out, "bcast_hub_bus_up",
		            "Whether the link to the bus between hubs is up "
		            "(in every worker process).",
		            m->bus_up >= m->bus_on ? 1 : 0);
		rc |= counter(out, "bcast_hub_bus_published_total",
		              "Messages appended to the bus (outbox replays too).",
		              m->bus_published);
		rc |= counter(out, "bcast_hub_bus_received_total",
		              "Entries read from the bus.", m->bus_received);
		rc |= evbuffer_add_printf(out,
			"# HELP bcast_hub_bus_dropped_total Bus messages dropped: "
			"foreign or malformed entries read, own messages past the outbox cap.\n"
			"# TYPE bcast_hub_bus_dropped_total counter\n"
			"bcast_hub_bus_dropped_total{reason=\"malformed\"} %llu\n"
			"bcast_hub_bus_dropped_total{reason=\"outbox\"} %llu\n",
			m->bus_dropped, m->bus_outbox_dropped) < 0;
		rc |= gauge(out, "bcast_hub_bus_outbox_bytes",
		            "Own messages not yet back from the bus.",
		            m->bus_outbox_bytes);
		rc |= counter(out, "bcast_hub_bus_reconnects_total",
		              "Times the link to the bus came back after a loss.",
		              m->bus_reconnects);
	}
	return rc ? -1 : 0;
}
