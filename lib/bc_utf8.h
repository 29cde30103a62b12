/* bc_utf8.h - lines as valid UTF-8: invalid sequences and NUL become
 * U+FFFD (the Unicode "maximal subpart" practice), long lines are cut on a
 * character boundary, one trailing '\r' is dropped. */
#ifndef BCAST_UTF8_H
#define BCAST_UTF8_H

#include <stddef.h>

#include "bc_buf.h"

/* U+FFFD, the replacement character, in UTF-8. */
#define BC_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Length of the valid UTF-8 sequence at s (1..4; NUL is not valid), or 0
 * when it is invalid, *bad then being the length of its maximal invalid
 * subpart (>= 1). n >= 1. */
size_t bc_utf8_seq(const unsigned char *s, size_t n, size_t *bad);

/* Append to out the n bytes of in with invalid UTF-8 and NUL bytes replaced
 * by U+FFFD. A single trailing '\r' is NOT removed here (see bc_line_chomp).
 * Returns 0 or -1 (out's cap reached / out-of-memory). */
int bc_line_clean(const char *in, size_t n, struct bc_buf *out);
/* Length of the line without a single trailing '\r'. */
size_t bc_line_chomp(const char *line, size_t n);
/* Where to cut the n bytes at s so the first part is at most limit bytes
 * and does not end inside a UTF-8 character. Returns a value in
 * (0, min(n, limit)]; when no boundary is found within the last 3 bytes,
 * returns limit. */
size_t bc_utf8_cut(const char *s, size_t n, size_t limit);

#endif
