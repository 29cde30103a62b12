/* fuzz_sse.c - libFuzzer target for the SSE parser.
 *
 * The first byte picks max_event, the rest is the stream. It is parsed
 * whole, then again in chunks whose sizes come from a PRNG seeded by the
 * input; both runs must report the same events, comments and overflows.
 * Events are folded into an FNV-1a hash and counted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_sse.h"

struct seen {
	uint64_t h;
	size_t events;
};

static void mix(struct seen *s, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ b[i]) * 1099511628211ULL;
}

static int on_event(const struct bc_sse_event *ev, void *arg)
{
	struct seen *s = arg;
	if (ev->data[ev->data_len] != '\0')
		abort();
	mix(s, "E", 1);
	mix(s, ev->id, strlen(ev->id) + 1);
	mix(s, ev->event, strlen(ev->event) + 1);
	mix(s, ev->data, ev->data_len + 1);
	s->events++;
	return 0;
}

static void on_comment(const char *text, size_t n, void *arg)
{
	struct seen *s = arg;
	mix(s, "C", 1);
	mix(s, text, n);
	mix(s, "", 1);
}

static struct seen parse(const uint8_t *d, size_t n, size_t max, uint32_t seed)
{
	struct seen s = {14695981039346656037ULL, 0};
	struct bc_sse_parser *p = bc_sse_parser_new(max, on_event, on_comment, &s);
	if (!p)
		abort();
	size_t off = 0;
	int overflows = 0;
	while (off < n) {
		size_t len = n - off;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 16) % (len < 64 ? len : 64);
		}
		char *chunk = malloc(len ? len : 1);
		memcpy(chunk, d + off, len);
		int rc = bc_sse_parser_feed(p, chunk, len);
		free(chunk);
		if (rc == -1)
			overflows++;
		else if (rc != 0)
			abort();
		off += len;
	}
	bc_sse_parser_free(p);
	mix(&s, overflows ? "O" : "-", 1);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max = 1 + data[0] * 4;
	data++;
	size--;
	uint32_t seed = 1;
	for (size_t i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	seed |= 1;
	struct seen whole = parse(data, size, max, 0);
	struct seen chunked = parse(data, size, max, seed);
	if (whole.h != chunked.h || whole.events != chunked.events)
		abort();
	return 0;
}
