/* fuzz_busmsg.c - libFuzzer target for the bus message parser and the
 * receiving hub's split of its payload (src/bcast-hub/bus.c does the same
 * with hub_ingest_line, which adds SSE framing to bc_record_decode).
 *
 * A message that parses must have a valid origin, q >= 1, a known kind, a
 * valid thread id for logs (none for admin) and a non-empty payload inside
 * the input; its header re-encoded must parse to the same fields. Every
 * payload line is decoded as a record whose thread id must be the
 * header's; an admin payload as one event. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_busmsg.h"
#include "bc_record.h"

static void records(const struct bc_busmsg *m)
{
	const char *p = m->payload, *end = m->payload + m->payload_len;
	char err[256];

	if (m->kind == BC_BUSMSG_ADMIN) {
		struct bc_event e = {0};
		if (bc_event_decode(p, m->payload_len, &e, err, sizeof err) == 0 &&
		    (!bc_tid_valid(e.thread_id) || !bc_event_type_valid(e.type)))
			abort();
		bc_event_clear(&e);
		return;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		struct bc_record r = {0};

		if (bc_record_decode(p, n, &r, err, sizeof err) == 0) {
			if (!bc_tid_valid(r.thread_id))
				abort();
			(void)strcmp(r.thread_id, m->tid);
		}
		bc_record_clear(&r);
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_busmsg m, m2;
	struct bc_buf b;
	char err[256];
	char *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	bc_buf_init(&b, 0);
	if (bc_busmsg_parse(copy, size, &m, err, sizeof err) != 0) {
		if (!err[0])
			abort();
		goto out;
	}
	if (!bc_busmsg_origin_valid(m.origin, strlen(m.origin)) || m.q < 1 ||
	    (m.kind != BC_BUSMSG_LOGS && m.kind != BC_BUSMSG_ADMIN) ||
	    (m.kind == BC_BUSMSG_LOGS) != (m.tid[0] != '\0') ||
	    (m.tid[0] && !bc_tid_valid(m.tid)) || m.payload_len == 0 ||
	    m.payload < copy || m.payload + m.payload_len != copy + size)
		abort();
	if (bc_busmsg_head(&b, m.kind, m.origin, m.q, m.tid) != 0 ||
	    bc_buf_append(&b, m.payload, m.payload_len) != 0 ||
	    bc_busmsg_parse(b.data, b.len, &m2, err, sizeof err) != 0 ||
	    m2.kind != m.kind || m2.q != m.q || strcmp(m2.origin, m.origin) ||
	    strcmp(m2.tid, m.tid) || m2.payload_len != m.payload_len ||
	    memcmp(m2.payload, m.payload, m.payload_len))
		abort();
	records(&m);
out:
	bc_buf_free(&b);
	free(copy);
	return 0;
}
