/* bc_buf.c - a growable byte buffer with a hard cap.
 *
 * The allocation grows by doubling (at least 64 bytes) and always keeps one
 * byte more than len for the trailing NUL. max bounds len, never cap, so an
 * append that would pass max fails and leaves the buffer as it was. */
#include "bc_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bc_buf_init(struct bc_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static size_t buf_max(const struct bc_buf *b)
{
	return b->max ? b->max : SIZE_MAX - 1;
}

int bc_buf_reserve(struct bc_buf *b, size_t need)
{
	if (need > buf_max(b) || b->len > buf_max(b) - need)
		return -1;
	size_t want = b->len + need + 1;
	if (want <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int bc_buf_append(struct bc_buf *b, const void *p, size_t n)
{
	if (bc_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int bc_buf_puts(struct bc_buf *b, const char *s)
{
	return bc_buf_append(b, s, strlen(s));
}

int bc_buf_printf(struct bc_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof small)
		return bc_buf_append(b, small, (size_t)n);
	if (bc_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void bc_buf_consume(struct bc_buf *b, size_t n)
{
	if (n >= b->len) {
		bc_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void bc_buf_reset(struct bc_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void bc_buf_free(struct bc_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *bc_buf_steal(struct bc_buf *b, size_t *len)
{
	char *s = b->data;
	size_t n = b->len;

	if (!s) {
		s = malloc(1);
		if (!s)
			return NULL;
		s[0] = '\0';
		n = 0;
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	if (len)
		*len = n;
	return s;
}
