/* test_buf.c - bc_buf (capped growable buffer) and bc_strv. */
#include <stdlib.h>
#include <string.h>

#include "bc_buf.h"
#include "bc_strv.h"
#include "unit.h"

static void test_append(void)
{
	struct bc_buf b;
	bc_buf_init(&b, 0);
	CHECK(b.data == NULL && b.len == 0);
	CHECK(bc_buf_append(&b, "abc", 3) == 0);
	CHECK(bc_buf_puts(&b, "def") == 0);
	CHECK(b.len == 6);
	CHECK_STR(b.data, "abcdef");
	CHECK(bc_buf_append(&b, "x\0y", 3) == 0);
	CHECK(b.len == 9 && memcmp(b.data + 6, "x\0y", 3) == 0 && b.data[9] == '\0');
	for (int i = 0; i < 10000; i++)
		if (bc_buf_append(&b, "0123456789", 10) < 0)
			break;
	CHECK(b.len == 9 + 100000);
	CHECK(b.data[b.len] == '\0');
	bc_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0);
	bc_buf_free(&b);
	bc_buf_free(NULL);
}

static void test_cap(void)
{
	struct bc_buf b;
	bc_buf_init(&b, 10);
	CHECK(bc_buf_append(&b, "12345", 5) == 0);
	CHECK(bc_buf_append(&b, "123456", 6) == -1);
	CHECK(b.len == 5);
	CHECK_STR(b.data, "12345");
	CHECK(bc_buf_append(&b, "12345", 5) == 0);
	CHECK(b.len == 10);
	CHECK(bc_buf_append(&b, "x", 1) == -1);
	CHECK(bc_buf_append(&b, "", 0) == 0);
	CHECK(bc_buf_printf(&b, "%d", 1) == -1);
	CHECK_STR(b.data, "1234512345");
	bc_buf_consume(&b, 3);
	CHECK_STR(b.data, "4512345");
	CHECK(b.len == 7);
	CHECK(bc_buf_printf(&b, "%s", "abc") == 0);
	CHECK_STR(b.data, "4512345abc");
	bc_buf_consume(&b, 10);
	CHECK(b.len == 0);
	CHECK_STR(b.data, "");
	bc_buf_free(&b);
}

static void test_printf(void)
{
	struct bc_buf b;
	bc_buf_init(&b, 0);
	CHECK(bc_buf_printf(&b, "%s=%d;", "a", 42) == 0);
	CHECK_STR(b.data, "a=42;");
	char big[5000];
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(bc_buf_printf(&b, "[%s]", big) == 0);
	CHECK(b.len == 5 + 2 + 4999);
	CHECK(b.data[5] == '[' && b.data[b.len - 1] == ']' && b.data[b.len] == '\0');
	bc_buf_reset(&b);
	CHECK(b.len == 0 && b.data && b.data[0] == '\0');
	bc_buf_free(&b);
}

static void test_steal(void)
{
	struct bc_buf b;
	size_t n = 99;
	bc_buf_init(&b, 0);
	char *s = bc_buf_steal(&b, &n);
	CHECK(s && s[0] == '\0' && n == 0);
	free(s);
	bc_buf_puts(&b, "hello");
	s = bc_buf_steal(&b, &n);
	CHECK_STR(s, "hello");
	CHECK(n == 5);
	CHECK(b.data == NULL && b.len == 0);
	free(s);
	CHECK(bc_buf_puts(&b, "again") == 0);
	CHECK_STR(b.data, "again");
	bc_buf_free(&b);
}

static void test_strv(void)
{
	struct bc_strv sv;
	bc_strv_init(&sv);
	for (int i = 0; i < 100; i++) {
		char tmp[16];
		int n = snprintf(tmp, sizeof tmp, "item%d", i);
		CHECK(bc_strv_push(&sv, tmp, (size_t)n) == 0);
	}
	CHECK(sv.n == 100);
	CHECK_STR(sv.v[0], "item0");
	CHECK_STR(sv.v[99], "item99");
	CHECK(sv.len[99] == 6);
	CHECK(bc_strv_push(&sv, "a\0b", 3) == 0);
	CHECK(sv.len[100] == 3 && memcmp(sv.v[100], "a\0b", 4) == 0);
	char *own = strdup("owned");
	CHECK(bc_strv_push_owned(&sv, own, 5) == 0);
	CHECK(sv.v[101] == own);
	bc_strv_clear(&sv);
	CHECK(sv.n == 0);
	CHECK(bc_strv_push(&sv, "", 0) == 0);
	CHECK(sv.n == 1 && sv.v[0][0] == '\0' && sv.len[0] == 0);
	bc_strv_free(&sv);
	CHECK(sv.n == 0 && sv.v == NULL);
	bc_strv_free(&sv);
	bc_strv_free(NULL);
}

int main(void)
{
	RUN(test_append());
	RUN(test_cap());
	RUN(test_printf());
	RUN(test_steal());
	RUN(test_strv());
	UNIT_DONE("buf");
}
