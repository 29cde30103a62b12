/* sse_reader.h - the loadgen's reader of HTTP/1.1 responses: the response
 * head, an identity, Content-Length or chunked body, and inside it either
 * Server-Sent Events (SR_SSE) or nothing but the end of each reply
 * (SR_REPLIES, for pipelined publisher POSTs).
 *
 * The reader is resumable and allocates nothing: it is fed whatever read()
 * returned, keeps its state in the struct, and holds at most the first
 * SR_LINE_CAP bytes of any line (enough for the "L SEQ NS CH" payload at
 * the front of a data line or after "\"line\":\"" in a bcast JSON record).
 * A response head larger than SR_HEAD_MAX, a bad status line or a bad
 * chunk size is an error; nothing in the input can make it grow. */
#ifndef BENCH_SSE_READER_H
#define BENCH_SSE_READER_H

#include <stddef.h>
#include <stdint.h>

#define SR_LINE_CAP 512
#define SR_HEAD_MAX 16384

enum sr_mode { SR_SSE, SR_REPLIES };

/* One benchmark line: "L SEQ NS CH ...". */
struct sr_rec {
	uint64_t seq;   /* the generator's line number */
	uint64_t ns;    /* CLOCK_MONOTONIC at publish, in ns */
	uint32_t ch;    /* channel (thread) index */
};

struct sr_cb {
	/* The response head is complete (status is also in r->status). */
	void (*on_head)(void *arg, int status);
	/* SR_SSE: an event was dispatched; rec is NULL if no data line
	 * carried a benchmark line. */
	void (*on_event)(void *arg, const struct sr_rec *rec);
	/* SR_REPLIES: one whole reply was read. */
	void (*on_reply)(void *arg, int status);
};

struct sr_reader {
	unsigned char mode, state, chunk_state, chunked;
	unsigned char skip_lf, have_data, pend_ok, line_trunc;
	unsigned char chunk_digits;
	int status;
	int64_t remain;          /* body or chunk bytes left, -1: until EOF */
	uint32_t head_bytes;
	uint32_t line_len;
	uint64_t comments;       /* SSE comment lines seen */
	const char *err;         /* static text when sr_feed returned -1 */
	struct sr_rec pend;
	char line[SR_LINE_CAP];
};

/* Start reading a new response stream in the given mode. */
void sr_init(struct sr_reader *r, enum sr_mode mode);

/* Feed n bytes; callbacks in cb (any may be NULL) run during the call.
 * Returns 0 (more input welcome), 1 when the body has ended (SR_SSE: the
 * server ended the stream; further input is an error), or -1 on a
 * protocol error with r->err set (the reader then refuses all input). */
int sr_feed(struct sr_reader *r, const char *buf, size_t n,
            const struct sr_cb *cb, void *arg);

/* Find a benchmark line in an event's data: either the data itself starts
 * with "L " (nchan: raw line) or it holds "\"line\":\"L " (bcast: JSON
 * record). Returns 0 and fills out, or -1. Reads only data[0..n). */
int sr_parse_payload(const char *data, size_t n, struct sr_rec *out);

#endif
