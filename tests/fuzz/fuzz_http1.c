/* fuzz_http1.c - libFuzzer target for the HTTP/1.1 head parser and the
 * chunked decoder.
 *
 * The head parser must give the same answer for the input and for every
 * prefix that contains the head (and only "partial" for shorter ones it
 * did not refuse), and its spans must lie inside the input. The input is
 * then decoded as a chunked body whole and in PRNG-sized pieces (each a
 * heap copy of exactly its size); both must agree on the data (FNV-1a
 * hash), the bytes consumed and the error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_http1.h"

struct seen {
	uint64_t h;
	size_t n;
};

static int on_data(void *arg, const char *p, size_t n)
{
	struct seen *s = arg;
	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ (unsigned char)p[i]) * 1099511628211ULL;
	s->n += n;
	return 0;
}

static void inside(const struct bc_http1_span *s, const char *p, size_t n)
{
	if (s->n > 0 && (s->p < p || s->p + s->n > p + n))
		abort();
}

static void head(const char *d, size_t n)
{
	struct bc_http1_req r;
	const char *err = NULL;
	ssize_t rc = bc_http1_head(d, n, &r, &err);

	if (rc == -1 && err == NULL)
		abort();
	if (rc > 0) {
		if ((size_t)rc > n)
			abort();
		inside(&r.method, d, n);
		inside(&r.target, d, n);
		for (size_t i = 0; i < r.nheaders; i++) {
			inside(&r.headers[i].name, d, n);
			inside(&r.headers[i].value, d, n);
		}
		/* The head alone parses the same. */
		char *copy = malloc((size_t)rc);
		memcpy(copy, d, (size_t)rc);
		if (bc_http1_head(copy, (size_t)rc, &r, &err) != rc)
			abort();
		free(copy);
	}
}

static ssize_t body(const char *d, size_t n, uint32_t seed, struct seen *s,
                    const char **err)
{
	struct bc_chunked c;
	size_t off = 0;

	bc_chunked_init(&c);
	while (off < n && !bc_chunked_done(&c)) {
		size_t len = n - off;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 16) % (len < 32 ? len : 32);
		}
		char *piece = malloc(len);
		memcpy(piece, d + off, len);
		ssize_t rc = bc_chunked_feed(&c, piece, len, on_data, s);
		free(piece);
		if (rc < 0) {
			*err = c.err;
			return -1;
		}
		if ((size_t)rc != len && !bc_chunked_done(&c))
			abort();
		off += (size_t)rc;
	}
	return bc_chunked_done(&c) ? (ssize_t)off : -2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	struct seen a = { 14695981039346656037ULL, 0 }, b = a;
	const char *ea = NULL, *eb = NULL;
	uint32_t seed = 1;

	head(d, size);
	for (size_t i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	seed |= 1;
	ssize_t ra = body(d, size, 0, &a, &ea);
	ssize_t rb = body(d, size, seed, &b, &eb);
	if (ra != rb)
		abort();
	if (ra == -1 && (ea == NULL || eb == NULL || strcmp(ea, eb) != 0))
		abort();
	if (ra != -1 && (a.h != b.h || a.n != b.n))
		abort();
	return 0;
}
