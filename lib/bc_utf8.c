/* bc_utf8.c - UTF-8 cleaning and cutting of lines (see bc_utf8.h).
 *
 * bc_line_clean follows the Unicode "maximal subpart" practice (the one
 * WHATWG decoders use): each maximal invalid subpart of a sequence becomes
 * one U+FFFD, so "\xE2\x82" is one U+FFFD and "\xFF\xFF" is two. NUL bytes
 * become U+FFFD too. Valid UTF-8 passes through byte for byte, control
 * bytes included. */
#include "bc_utf8.h"

size_t bc_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

int bc_line_clean(const char *in, size_t n, struct bc_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t start = 0, i = 0;
	size_t len0 = out->len;

	while (i < n) {
		size_t bad = 0;
		size_t k = bc_utf8_seq(s + i, n - i, &bad);
		if (k) {
			i += k;
			continue;
		}
		if (bc_buf_append(out, s + start, i - start) < 0 ||
		    bc_buf_append(out, BC_UTF8_REPLACEMENT, 3) < 0)
			goto fail;
		i += bad;
		start = i;
	}
	if (bc_buf_append(out, s + start, n - start) < 0)
		goto fail;
	if (!out->data && bc_buf_append(out, "", 0) < 0)
		goto fail;
	return 0;
fail:
	out->len = len0;
	if (out->data)
		out->data[len0] = '\0';
	return -1;
}

size_t bc_line_chomp(const char *line, size_t n)
{
	return n && line[n - 1] == '\r' ? n - 1 : n;
}

size_t bc_utf8_cut(const char *s, size_t n, size_t limit)
{
	if (limit == 0)
		limit = 1;
	if (n <= limit)
		return n;
	size_t c = limit;
	for (int back = 0; back < 4 && c > 0; back++, c--)
		if (((unsigned char)s[c] & 0xC0) != 0x80)
			return c;
	return limit;
}
