/* bc_sse.h - Server-Sent Events framing (server side) and a resumable
 * parser (client side).
 *
 * Framing: each event is "id: ID\ndata: DATA\n\n". DATA that contains
 * '\n' or '\r' is written as several data: lines so it can never break the
 * framing. Comments are ": TEXT\n\n".
 *
 * Parsing follows the WHATWG EventSource rules: lines end in "\r\n", "\n"
 * or "\r"; "field: value" with one optional space after the colon; lines
 * starting with ':' are comments; a blank line dispatches the event (only
 * if it had data). The parser is fed arbitrary chunks and keeps state
 * between calls; it never holds more than max_event bytes. */
#ifndef BCAST_SSE_H
#define BCAST_SSE_H

#include <stddef.h>

#include "bc_buf.h"

/* Append one event to out. id may be NULL (no id: line). 0 or -1. */
int bc_sse_frame(struct bc_buf *out, const char *id, const char *data,
                 size_t n);
/* Append one comment (text must not contain newlines; they are replaced
 * by spaces). 0 or -1. */
int bc_sse_comment(struct bc_buf *out, const char *text);

struct bc_sse_event {
	const char *id;       /* last id seen ("" if none); NUL-terminated */
	const char *event;    /* event name, "" if none */
	const char *data;     /* data lines joined by '\n'; NUL-terminated */
	size_t data_len;
};

/* Called for every dispatched event; a non-zero return stops the feed and
 * is returned by bc_sse_parser_feed. The pointers are valid during the call
 * only. */
typedef int (*bc_sse_event_cb)(const struct bc_sse_event *ev, void *arg);
/* Called for every comment line (without the leading ':'), may be NULL. */
typedef void (*bc_sse_comment_cb)(const char *text, size_t n, void *arg);

struct bc_sse_parser;

/* A parser that refuses events (or lines) larger than max_event bytes.
 * Returns NULL on out-of-memory. Free with bc_sse_parser_free. */
struct bc_sse_parser *bc_sse_parser_new(size_t max_event,
                                        bc_sse_event_cb on_event,
                                        bc_sse_comment_cb on_comment,
                                        void *arg);
/* Feed n bytes. Returns 0, -1 if an event passed max_event (the parser is
 * then reset), or the callback's non-zero value. */
int bc_sse_parser_feed(struct bc_sse_parser *p, const char *buf, size_t n);
/* Forget any partial event (e.g. after a reconnect). Keeps the last id. */
void bc_sse_parser_reset(struct bc_sse_parser *p);
void bc_sse_parser_free(struct bc_sse_parser *p);

#endif
