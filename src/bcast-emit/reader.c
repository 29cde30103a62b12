/* reader.c - splitting what bcast-emit reads into lines.
 *
 * A line is the bytes up to '\n', without a single trailing '\r'. Bytes
 * after the last '\n' of a read wait in a per-stream partial buffer. A
 * line longer than max_line becomes consecutive pieces of at most max_line
 * bytes, cut at UTF-8 character boundaries (bc_utf8_cut), so joining the
 * pieces gives the line back. The partial buffer holds at most
 * max_line + 2 bytes: once it has more than max_line + 1 a piece is cut
 * off, the extra byte being room for a '\r' that a '\n' may still turn
 * into a line end. Lines are only split here; cleaning (invalid UTF-8,
 * NUL) happens when the buffer encodes the records. */
#include <stdlib.h>
#include <string.h>

#include "bc_record.h"
#include "emit.h"

struct reader {
	size_t max_line;
	struct bc_buf partial[2];
};

/* Add one whole line (already chomped), in pieces of at most max_line. */
static int add_line(struct reader *r, enum bc_stream stream, const char *p,
                    size_t n, struct bc_lines *b)
{
	do {
		size_t cut = n > r->max_line ? bc_utf8_cut(p, n, r->max_line) : n;
		if (bc_lines_add(b, stream, p, cut) != 0)
			return -1;
		p += cut;
		n -= cut;
	} while (n > 0);
	return 0;
}

/* Keep the n bytes at p (no '\n' among them) as the start of a line,
 * cutting pieces off the front while the partial buffer is too long. */
static int add_partial(struct reader *r, enum bc_stream stream,
                       const char *p, size_t n, struct bc_lines *b)
{
	struct bc_buf *part = &r->partial[stream];

	while (n > 0) {
		size_t room = r->max_line + 2 - part->len;
		size_t take = n < room ? n : room;
		if (bc_buf_append(part, p, take) != 0)
			return -1;
		p += take;
		n -= take;
		while (part->len > r->max_line + 1) {
			size_t cut = bc_utf8_cut(part->data, part->len, r->max_line);
			if (bc_lines_add(b, stream, part->data, cut) != 0)
				return -1;
			bc_buf_consume(part, cut);
		}
	}
	return 0;
}

struct reader *reader_new(size_t max_line)
{
	struct reader *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->max_line = max_line ? max_line : BC_LINE_MAX_DEFAULT;
	for (int i = 0; i < 2; i++)
		bc_buf_init(&r->partial[i], r->max_line + 2);
	return r;
}

void reader_free(struct reader *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++)
		bc_buf_free(&r->partial[i]);
	free(r);
}

int reader_feed(struct reader *r, enum bc_stream stream, const char *p,
                size_t n, struct bc_lines *b)
{
	struct bc_buf *part = &r->partial[stream];
	const char *nl;

	while ((nl = memchr(p, '\n', n))) {
		size_t len = (size_t)(nl - p);
		if (part->len == 0) {
			if (add_line(r, stream, p, bc_line_chomp(p, len), b) != 0)
				return -1;
		} else {
			if (add_partial(r, stream, p, len, b) != 0 ||
			    add_line(r, stream, part->data,
			             bc_line_chomp(part->data, part->len), b) != 0)
				return -1;
			bc_buf_reset(part);
		}
		n -= len + 1;
		p = nl + 1;
	}
	return add_partial(r, stream, p, n, b);
}

int reader_finish(struct reader *r, enum bc_stream stream, struct bc_lines *b)
{
	struct bc_buf *part = &r->partial[stream];
	int rc = 0;

	if (part->len > 0)
		rc = add_line(r, stream, part->data,
		              bc_line_chomp(part->data, part->len), b);
	bc_buf_reset(part);
	return rc;
}
