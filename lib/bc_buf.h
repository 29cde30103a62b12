/* bc_buf.h - a growable byte buffer with a hard cap.
 *
 * Every buffer that grows from outside input has a maximum size; appends
 * that would pass it fail instead of growing. The data is always followed
 * by a NUL byte (not counted in len) so it can be used as a C string. */
#ifndef BCAST_BUF_H
#define BCAST_BUF_H

#include <stddef.h>

struct bc_buf {
	char *data;   /* owned; NULL until the first append */
	size_t len;   /* bytes used */
	size_t cap;   /* bytes allocated */
	size_t max;   /* cap on len; 0 means SIZE_MAX */
};

/* Initialise an empty buffer whose length may never exceed max (0: no cap). */
void bc_buf_init(struct bc_buf *b, size_t max);
/* Append n bytes. Returns 0, or -1 if the cap would be passed or memory ran
 * out (the buffer is then unchanged). */
int bc_buf_append(struct bc_buf *b, const void *p, size_t n);
/* Make room for n more bytes (plus the NUL) without changing len, so a
 * caller may write up to n bytes at data + len and then add them to len.
 * 0, or -1 as bc_buf_append. */
int bc_buf_reserve(struct bc_buf *b, size_t n);
int bc_buf_puts(struct bc_buf *b, const char *s);
/* printf-style append; same return as bc_buf_append. */
int bc_buf_printf(struct bc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (n <= len). */
void bc_buf_consume(struct bc_buf *b, size_t n);
/* Forget the contents, keep the allocation. */
void bc_buf_reset(struct bc_buf *b);
/* Free the allocation; the buffer is then empty and reusable. */
void bc_buf_free(struct bc_buf *b);
/* Hand the data to the caller (who frees it) and reset the buffer.
 * Returns a NUL-terminated string, never NULL ("" when empty), or NULL on
 * out-of-memory. *len receives the length if len is not NULL. */
char *bc_buf_steal(struct bc_buf *b, size_t *len);

#endif
