/* fuzz_sse_reader.c - libFuzzer target for the loadgen's response reader.
 * The first byte picks the mode and a cut pattern; the rest is fed in
 * pieces whose sizes follow the pattern, so resumption is fuzzed too. */
#include <stddef.h>
#include <stdint.h>

#include "sse_reader.h"

static void f_head(void *arg, int status) { (void)arg; (void)status; }
static void f_event(void *arg, const struct sr_rec *rec)
{
	if (rec)
		*(uint64_t *)arg += rec->seq ^ rec->ns ^ rec->ch;
}
static void f_reply(void *arg, int status) { *(uint64_t *)arg += (uint64_t)status; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sr_cb cb = { f_head, f_event, f_reply };
	struct sr_reader r;
	uint64_t sink = 0;

	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	sr_init(&r, (ctl & 1) ? SR_REPLIES : SR_SSE);
	size_t step = (ctl >> 1) + 1, off = 0;
	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		int rc = sr_feed(&r, (const char *)data + off, n, &cb, &sink);
		off += n;
		if (rc != 0)
			break;
	}
	struct sr_rec rec;
	sr_parse_payload((const char *)data, size, &rec);
	return (int)(sink & 0);
}
