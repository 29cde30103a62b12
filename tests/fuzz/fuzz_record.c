/* fuzz_record.c - libFuzzer target for bc_record_decode.
 *
 * Whatever decodes must re-encode to JSON without a raw newline, decode
 * again to the same record, and encode again to the same bytes; the line
 * must already be clean (cleaning it again changes nothing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_record r = {0}, r2 = {0};
	struct bc_buf e1, e2, clean;
	char err[256];

	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	bc_buf_init(&e1, 0);
	bc_buf_init(&e2, 0);
	bc_buf_init(&clean, 0);
	if (bc_record_decode(copy, size, &r, err, sizeof err) < 0) {
		if (!err[0] || r.line)
			abort();
		goto out;
	}
	if (!bc_tid_valid(r.thread_id) || r.seq < 0 || !r.line ||
	    strlen(r.line) != r.line_len)
		abort();
	if (bc_line_clean(r.line, r.line_len, &clean) < 0 ||
	    clean.len != r.line_len || memcmp(clean.data, r.line, r.line_len))
		abort();
	if (bc_record_encode(&r, &e1) < 0 || memchr(e1.data, '\n', e1.len))
		abort();
	if (bc_record_decode(e1.data, e1.len, &r2, err, sizeof err) < 0)
		abort();
	if (strcmp(r.thread_id, r2.thread_id) || r.seq != r2.seq ||
	    strcmp(r.ts, r2.ts) || strcmp(r.stream, r2.stream) ||
	    r.line_len != r2.line_len || memcmp(r.line, r2.line, r.line_len))
		abort();
	if (bc_record_encode(&r2, &e2) < 0 || e1.len != e2.len ||
	    memcmp(e1.data, e2.data, e1.len))
		abort();
out:
	bc_record_clear(&r);
	bc_record_clear(&r2);
	bc_buf_free(&e1);
	bc_buf_free(&e2);
	bc_buf_free(&clean);
	free(copy);
	return 0;
}
