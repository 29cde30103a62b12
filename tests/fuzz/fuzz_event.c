/* fuzz_event.c - libFuzzer target for bc_event_decode.
 *
 * Whatever decodes must have a valid type and thread id and an object as
 * data, re-encode without a raw newline, and decode again to the same
 * event. bc_json_object_check must agree that the data is an object. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_event e = {0}, e2 = {0};
	struct bc_buf out;
	char err[256];

	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	bc_buf_init(&out, 0);
	(void)bc_json_object_check(copy, size, err, sizeof err);
	if (bc_event_decode(copy, size, &e, err, sizeof err) < 0) {
		if (!err[0] || e.data)
			abort();
		goto out;
	}
	if (!bc_event_type_valid(e.type) || !bc_tid_valid(e.thread_id) ||
	    !e.data || bc_json_object_check(e.data, strlen(e.data), err, sizeof err) < 0)
		abort();
	if (bc_event_encode(&e, &out) < 0 || memchr(out.data, '\n', out.len))
		abort();
	if (bc_event_decode(out.data, out.len, &e2, err, sizeof err) < 0)
		abort();
	if (strcmp(e.type, e2.type) || strcmp(e.thread_id, e2.thread_id) ||
	    strcmp(e.ts, e2.ts) || strcmp(e.data, e2.data))
		abort();
out:
	bc_event_clear(&e);
	bc_event_clear(&e2);
	bc_buf_free(&out);
	free(copy);
	return 0;
}
