/* test_utf8.c - bc_utf8: cleaning invalid UTF-8 and NUL to U+FFFD (maximal
 * subparts), the trailing '\r', cutting on a character boundary. */
#include <string.h>

#include "bc_utf8.h"
#include "unit.h"

#define FFFD "\xEF\xBF\xBD"

/* Clean the n bytes at in and compare with want (NUL-terminated). */
static int clean_is(const char *in, size_t n, const char *want)
{
	struct bc_buf b;
	bc_buf_init(&b, 0);
	int ok = bc_line_clean(in, n, &b) == 0 && b.data &&
	         b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
	if (!ok)
		fprintf(stderr, "clean: got '%.*s'\n", (int)b.len, b.data ? b.data : "");
	bc_buf_free(&b);
	return ok;
}

#define CLEAN(lit, want) CHECK(clean_is(lit, sizeof(lit) - 1, want))

static void test_clean(void)
{
	CLEAN("", "");
	CLEAN("plain ascii", "plain ascii");
	CLEAN("tab\there\x1b[31mred\x1b[0m\rcr\x7f", "tab\there\x1b[31mred\x1b[0m\rcr\x7f");
	CLEAN("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
	      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
	CLEAN("a\0b", "a" FFFD "b");
	CLEAN("\0", FFFD);
	CLEAN("\xff", FFFD);
	CLEAN("\xff\xfe", FFFD FFFD);
	CLEAN("\x80", FFFD);
	CLEAN("a\x80\x80z", "a" FFFD FFFD "z");
	CLEAN("\xc0\xaf", FFFD FFFD);          /* overlong '/' */
	CLEAN("\xc1\xbf", FFFD FFFD);
	CLEAN("\xe0\x80\xaf", FFFD FFFD FFFD); /* overlong, 3 bytes */
	CLEAN("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD);
	CLEAN("\xed\xa0\x80", FFFD FFFD FFFD); /* surrogate D800 */
	CLEAN("\xed\x9f\xbf", "\xed\x9f\xbf"); /* U+D7FF is fine */
	CLEAN("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* > U+10FFFF */
	CLEAN("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD);
	CLEAN("\xe2\x82", FFFD);               /* truncated: one per subpart */
	CLEAN("\xe2\x82x", FFFD "x");
	CLEAN("\xf0\x9f\x98", FFFD);
	CLEAN("\xf0\x9f\x98\xf0\x9f\x98\x80", FFFD "\xf0\x9f\x98\x80");
	CLEAN("\xc3", FFFD);
	CLEAN("x\xc3", "x" FFFD);
	CLEAN(FFFD, FFFD);

	struct bc_buf b;
	bc_buf_init(&b, 5);
	CHECK(bc_line_clean("abcdef", 6, &b) == -1);
	CHECK(bc_line_clean("ab", 2, &b) == 0);
	CHECK(bc_line_clean("\xff", 1, &b) == 0);
	CHECK(b.len == 5);
	CHECK(bc_line_clean("\xff", 1, &b) == -1);
	CHECK(b.len == 5 && memcmp(b.data, "ab" FFFD, 5) == 0);
	bc_buf_free(&b);

	CHECK(bc_line_chomp("abc\r", 4) == 3);
	CHECK(bc_line_chomp("abc\r\r", 5) == 4);
	CHECK(bc_line_chomp("abc", 3) == 3);
	CHECK(bc_line_chomp("\r", 1) == 0);
	CHECK(bc_line_chomp("", 0) == 0);
}

/* Does cutting s at c split a UTF-8 character? */
static int splits_char(const char *s, size_t n, size_t c)
{
	return c < n && ((unsigned char)s[c] & 0xC0) == 0x80;
}

static void test_cut(void)
{
	/* Every limit over a mix of 1-, 2-, 3- and 4-byte characters. */
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "b\xf0\x9f\x98\x80\xc3\xa9z";
	size_t n = strlen(s);
	int bad = 0;
	for (size_t limit = 1; limit <= n + 2; limit++) {
		size_t c = bc_utf8_cut(s, n, limit);
		if (c == 0 || c > limit || c > n || splits_char(s, n, c) ||
		    (limit >= n && c != n) || (limit < n && limit - c > 3))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(bc_utf8_cut("abcdef", 6, 4) == 4);
	CHECK(bc_utf8_cut("abc", 3, 10) == 3);
	CHECK(bc_utf8_cut("\xf0\x9f\x98\x80", 4, 3) == 3); /* no boundary: limit */
	CHECK(bc_utf8_cut("a\xf0\x9f\x98\x80", 5, 3) == 1);
	CHECK(bc_utf8_cut("a\xf0\x9f\x98\x80", 5, 4) == 1);
	CHECK(bc_utf8_cut("a\xf0\x9f\x98\x80" "b", 6, 5) == 5);

	/* Splitting a long line of 3-byte characters: parts concatenate to
	 * the line, none cuts a character, none is over the limit. */
	char line[3000];
	for (int i = 0; i < 1000; i++)
		memcpy(line + 3 * i, "\xe2\x82\xac", 3);
	for (size_t limit = 1; limit < 20; limit++) {
		size_t off = 0, parts = 0;
		bad = 0;
		while (off < sizeof line) {
			size_t c = bc_utf8_cut(line + off, sizeof line - off, limit);
			if (c == 0 || c > limit)
				bad++;
			if (limit >= 3 && splits_char(line, sizeof line, off + c))
				bad++;
			off += c ? c : 1;
			parts++;
		}
		CHECK(bad == 0 && off == sizeof line);
	}
}

int main(void)
{
	RUN(test_clean());
	RUN(test_cut());
	UNIT_DONE("utf8");
}
