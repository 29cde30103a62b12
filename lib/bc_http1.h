/* bc_http1.h - an HTTP/1.1 request head parser and a resumable chunked
 * body decoder, for a server that reads requests off a socket itself.
 *
 * Both allocate nothing. The head parser takes the bytes received so far
 * and answers "complete after N bytes", "partial" or "malformed"; its
 * results point into the caller's bytes. The chunked decoder is a state
 * machine fed any split of the body: it hands out data spans as they
 * arrive and stops right after the last chunk's trailer, so the bytes of a
 * pipelined next request are left unconsumed. */
#ifndef BCAST_HTTP1_H
#define BCAST_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BC_HTTP1_MAX_HEADERS 64
#define BC_HTTP1_PARTIAL (-2)

struct bc_http1_span {
	const char *p;
	size_t n;
};

struct bc_http1_header {
	struct bc_http1_span name, value;   /* value without surrounding blanks */
};

struct bc_http1_req {
	struct bc_http1_span method, target;
	int minor;                          /* HTTP/1.minor */
	size_t nheaders;
	struct bc_http1_header headers[BC_HTTP1_MAX_HEADERS];
};

/* Parse the request head at the start of p (n bytes). Returns the head's
 * length (through the blank line), BC_HTTP1_PARTIAL when more bytes are
 * needed, or -1 when it is malformed (a reason in err). r's spans point
 * into p. */
ssize_t bc_http1_head(const char *p, size_t n, struct bc_http1_req *r,
                      const char **err);

/* The value of header name (case-insensitive), or NULL. */
const struct bc_http1_span *bc_http1_header(const struct bc_http1_req *r,
                                            const char *name);

/* Does the comma-separated value v list token (case-insensitive)? */
int bc_http1_has_token(const struct bc_http1_span *v, const char *token);

/* The decoder's state; zero it (or bc_chunked_init) before the body. */
struct bc_chunked {
	int state;
	int digits;
	uint64_t left;       /* data bytes left in the current chunk */
	size_t line;         /* bytes of the current extension/trailer line */
	const char *err;     /* why the body is malformed */
};

void bc_chunked_init(struct bc_chunked *c);

/* Data spans are handed to data(arg, p, n) in order; a non-zero return
 * makes the feed return at once, with that span counted as consumed (the
 * decoder can be fed on from there). */
typedef int (*bc_chunked_data_fn)(void *arg, const char *p, size_t n);

/* Feed the next n bytes of a chunked body. Returns the bytes consumed: all
 * of them, fewer when the body ended inside them (bc_chunked_done is then
 * true) or when data() stopped the feed; -1 when the body is malformed
 * (c->err says why; it stays malformed). */
ssize_t bc_chunked_feed(struct bc_chunked *c, const char *p, size_t n,
                        bc_chunked_data_fn data, void *arg);

/* Has the whole body (last chunk and trailer) been read? */
int bc_chunked_done(const struct bc_chunked *c);

#endif
