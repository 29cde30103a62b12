/* bc_sse.c - Server-Sent Events framing and a resumable parser.
 *
 * Framing writes "id: ID\n", one "data: PIECE\n" per line of the data
 * (split at "\r\n", "\r" and "\n", so a parser gives the pieces back
 * joined by "\n"), then a blank line. Line breaks in ids and comments
 * become spaces.
 *
 * The parser is a WHATWG EventSource line machine. A line wholly inside
 * the chunk being fed is handled in place; only a line cut by a chunk
 * boundary is copied, into a buffer capped at max_event. Data lines
 * accumulate in a second buffer, also capped. Both buffers keep their
 * memory between events, so after warm-up feeding allocates nothing.
 * A "\r" at the end of a chunk remembers to skip a "\n" at the start of
 * the next one, and a UTF-8 BOM at the start of the stream is dropped.
 * When a line or an event passes max_event, the partial event is
 * forgotten, the rest of that event (up to the next blank line) is
 * skipped, the rest of the chunk is still parsed and feed returns -1. Comment text is passed without the ':' and without
 * one following space, as field values are. */
#include "bc_sse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Append s (n bytes) with every '\r' and '\n' replaced by a space. */
static int append_oneline(struct bc_buf *out, const char *s, size_t n)
{
	while (n) {
		size_t k = 0;
		while (k < n && s[k] != '\r' && s[k] != '\n')
			k++;
		if (bc_buf_append(out, s, k) < 0)
			return -1;
		if (k == n)
			break;
		if (bc_buf_append(out, " ", 1) < 0)
			return -1;
		s += k + 1;
		n -= k + 1;
	}
	return 0;
}

static int frame_fail(struct bc_buf *out, size_t len0)
{
	out->len = len0;
	if (out->data)
		out->data[len0] = '\0';
	return -1;
}

int bc_sse_frame(struct bc_buf *out, const char *id, const char *data,
                 size_t n)
{
	size_t len0 = out->len;

	if (id && (bc_buf_append(out, "id: ", 4) < 0 ||
	           append_oneline(out, id, strlen(id)) < 0 ||
	           bc_buf_append(out, "\n", 1) < 0))
		return frame_fail(out, len0);
	for (;;) {
		size_t k = 0;
		while (k < n && data[k] != '\r' && data[k] != '\n')
			k++;
		if (bc_buf_append(out, "data: ", 6) < 0 ||
		    bc_buf_append(out, data, k) < 0 ||
		    bc_buf_append(out, "\n", 1) < 0)
			return frame_fail(out, len0);
		if (k == n)
			break;
		if (data[k] == '\r' && k + 1 < n && data[k + 1] == '\n')
			k++;
		data += k + 1;
		n -= k + 1;
	}
	if (bc_buf_append(out, "\n", 1) < 0)
		return frame_fail(out, len0);
	return 0;
}

int bc_sse_comment(struct bc_buf *out, const char *text)
{
	size_t len0 = out->len;
	if (bc_buf_append(out, ": ", 2) < 0 ||
	    append_oneline(out, text, strlen(text)) < 0 ||
	    bc_buf_append(out, "\n\n", 2) < 0)
		return frame_fail(out, len0);
	return 0;
}

struct bc_sse_parser {
	size_t max_event;
	bc_sse_event_cb on_event;
	bc_sse_comment_cb on_comment;
	void *arg;
	struct bc_buf line;   /* a line cut by a chunk boundary */
	struct bc_buf data;   /* data lines of the event, each + '\n' */
	struct bc_buf event;  /* event type */
	struct bc_buf id;     /* last event id */
	bool skip_lf;         /* the previous byte was a '\r' */
	bool discard;         /* skipping the rest of an oversize event */
	bool line_started;    /* in discard mode: current line is not empty */
	bool overflowed;      /* this feed dropped an oversize event */
	int bom;              /* BOM bytes matched; 3 once past the start */
};

static const char bom_bytes[3] = {'\xEF', '\xBB', '\xBF'};

struct bc_sse_parser *bc_sse_parser_new(size_t max_event,
                                        bc_sse_event_cb on_event,
                                        bc_sse_comment_cb on_comment,
                                        void *arg)
{
	struct bc_sse_parser *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	if (max_event == 0 || max_event > SIZE_MAX / 2)
		max_event = SIZE_MAX / 2;
	p->max_event = max_event;
	p->on_event = on_event;
	p->on_comment = on_comment;
	p->arg = arg;
	bc_buf_init(&p->line, max_event);
	bc_buf_init(&p->data, max_event + 1);
	bc_buf_init(&p->event, max_event);
	bc_buf_init(&p->id, max_event);
	return p;
}

static void forget_event(struct bc_sse_parser *p)
{
	bc_buf_reset(&p->line);
	bc_buf_reset(&p->data);
	bc_buf_reset(&p->event);
}

void bc_sse_parser_reset(struct bc_sse_parser *p)
{
	forget_event(p);
	p->skip_lf = false;
	p->discard = false;
	p->line_started = false;
	p->bom = 0;
}

void bc_sse_parser_free(struct bc_sse_parser *p)
{
	if (!p)
		return;
	bc_buf_free(&p->line);
	bc_buf_free(&p->data);
	bc_buf_free(&p->event);
	bc_buf_free(&p->id);
	free(p);
}

static int overflow(struct bc_sse_parser *p, bool mid_line)
{
	forget_event(p);
	p->discard = true;
	p->line_started = mid_line;
	p->overflowed = true;
	return 0;
}

static int dispatch(struct bc_sse_parser *p)
{
	if (p->data.len == 0) {
		bc_buf_reset(&p->event);
		return 0;
	}
	p->data.len--;
	p->data.data[p->data.len] = '\0';
	struct bc_sse_event ev = {
		.id = p->id.data ? p->id.data : "",
		.event = p->event.data ? p->event.data : "",
		.data = p->data.data,
		.data_len = p->data.len,
	};
	int rc = p->on_event ? p->on_event(&ev, p->arg) : 0;
	bc_buf_reset(&p->data);
	bc_buf_reset(&p->event);
	return rc;
}

static bool field_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* Handle one complete line (without its terminator). */
static int process_line(struct bc_sse_parser *p, const char *s, size_t n)
{
	if (n == 0)
		return dispatch(p);
	const char *colon = memchr(s, ':', n);
	size_t namelen = colon ? (size_t)(colon - s) : n;
	const char *val = colon ? colon + 1 : s + n;
	size_t vlen = n - (size_t)(val - s);
	if (vlen && val[0] == ' ') {
		val++;
		vlen--;
	}
	if (namelen == 0) {
		if (p->on_comment)
			p->on_comment(val, vlen, p->arg);
		return 0;
	}
	if (field_is(s, namelen, "data")) {
		if (bc_buf_append(&p->data, val, vlen) < 0 ||
		    bc_buf_append(&p->data, "\n", 1) < 0)
			return overflow(p, false);
	} else if (field_is(s, namelen, "event")) {
		bc_buf_reset(&p->event);
		if (bc_buf_append(&p->event, val, vlen) < 0)
			return overflow(p, false);
	} else if (field_is(s, namelen, "id")) {
		if (!memchr(val, '\0', vlen)) {
			bc_buf_reset(&p->id);
			if (bc_buf_append(&p->id, val, vlen) < 0)
				return overflow(p, false);
		}
	}
	return 0;
}

/* In discard mode: a line ends; an empty one ends the skipped event. */
static void discard_line_end(struct bc_sse_parser *p)
{
	if (!p->line_started)
		p->discard = false;
	p->line_started = false;
}

int bc_sse_parser_feed(struct bc_sse_parser *p, const char *buf, size_t n)
{
	size_t i = 0;

	p->overflowed = false;

	while (p->bom < 3 && i < n) {
		if (buf[i] == bom_bytes[p->bom]) {
			p->bom++;
			i++;
			continue;
		}
		if (bc_buf_append(&p->line, bom_bytes, (size_t)p->bom) < 0)
			overflow(p, true);
		p->bom = 3;
	}
	while (i < n) {
		if (p->skip_lf) {
			p->skip_lf = false;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		size_t k = i;
		while (k < n && buf[k] != '\n' && buf[k] != '\r')
			k++;
		if (p->discard) {
			if (k > i)
				p->line_started = true;
			if (k == n)
				break;
			p->skip_lf = buf[k] == '\r';
			i = k + 1;
			discard_line_end(p);
			continue;
		}
		if (k == n) {
			if (bc_buf_append(&p->line, buf + i, n - i) < 0)
				overflow(p, true);
			break;
		}
		p->skip_lf = buf[k] == '\r';
		int rc = 0;
		if (p->line.len == 0) {
			if (k - i > p->max_event)
				overflow(p, false);
			else
				rc = process_line(p, buf + i, k - i);
		} else {
			if (bc_buf_append(&p->line, buf + i, k - i) < 0)
				overflow(p, false);
			else
				rc = process_line(p, p->line.data, p->line.len);
			bc_buf_reset(&p->line);
		}
		i = k + 1;
		if (rc)
			return rc;
	}
	return p->overflowed ? -1 : 0;
}
