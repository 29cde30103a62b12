/* test_record.c - bc_record: JSON round trips of odd lines, decoding
 * errors, admin events. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bc_record.h"
#include "unit.h"

#define FFFD "\xEF\xBF\xBD"

static char err[256];

/* Encode a record holding the n bytes at line, decode it, compare. */
static int round_trip(const char *line, size_t n, const char *want, size_t wn)
{
	struct bc_record r = {0}, d = {0};
	struct bc_buf out;
	int ok = 0;

	bc_buf_init(&out, 0);
	strcpy(r.thread_id, "run-42");
	r.seq = 17;
	strcpy(r.ts, "2026-11-25T19:08:10.123456Z");
	strcpy(r.stream, "stderr");
	if (bc_record_set_line(&r, line, n) < 0 || bc_record_encode(&r, &out) < 0)
		goto out;
	if (memchr(out.data, '\n', out.len) || memchr(out.data, '\r', out.len) ||
	    memchr(out.data, '\0', out.len))
		goto out;
	if (bc_record_decode(out.data, out.len, &d, err, sizeof err) < 0)
		goto out;
	ok = strcmp(d.thread_id, "run-42") == 0 && d.seq == 17 &&
	     strcmp(d.ts, r.ts) == 0 && strcmp(d.stream, "stderr") == 0 &&
	     d.line_len == wn && memcmp(d.line, want, wn) == 0 &&
	     d.line[wn] == '\0';
out:
	bc_record_clear(&r);
	bc_record_clear(&d);
	bc_buf_free(&out);
	return ok;
}

#define RT(lit, want) CHECK(round_trip(lit, sizeof(lit) - 1, want, sizeof(want) - 1))

static void test_round_trip(void)
{
	RT("step 3 done", "step 3 done");
	RT("", "");
	RT("say \"hi\"", "say \"hi\"");
	RT("back\\slash\\\\", "back\\slash\\\\");
	RT("a/b</script>", "a/b</script>");
	RT("cr\rin middle\r", "cr\rin middle\r");
	RT("nl\nin line", "nl\nin line");
	RT("nul\0byte", "nul" FFFD "byte");
	RT("bad \xff\xfe utf8 \xc3", "bad " FFFD FFFD " utf8 " FFFD);
	RT("\x1b[1mbold\x1b[0m\t\x01\x1f\x7f", "\x1b[1mbold\x1b[0m\t\x01\x1f\x7f");
	RT("\xe2\x80\xa8 \xe2\x80\xa9 \xef\xbb\xbf", "\xe2\x80\xa8 \xe2\x80\xa9 \xef\xbb\xbf");
	RT("{\"json\":[1,2]}", "{\"json\":[1,2]}");
	RT("\\u0000 literal", "\\u0000 literal");

	/* Every byte value, once. */
	char all[256], want[256 * 3];
	size_t wn = 0;
	for (int i = 0; i < 256; i++) {
		all[i] = (char)i;
		if (i == 0 || i >= 0x80) {
			memcpy(want + wn, FFFD, 3);
			wn += 3;
		} else {
			want[wn++] = (char)i;
		}
	}
	CHECK(round_trip(all, sizeof all, want, wn));

	/* A 1 MiB line with a bit of everything. */
	size_t big = 1 << 20;
	char *line = malloc(big);
	const char cycle[] = "ab\"\\\r\t\x1b\xc3\xa9/ ";
	size_t clen = sizeof cycle - 1;
	for (size_t i = 0; i < big; i++)
		line[i] = i < big - big % clen ? cycle[i % clen] : 'z';
	CHECK(round_trip(line, big, line, big));
	free(line);
}

static int decode_ok(const char *json, struct bc_record *r)
{
	bc_record_clear(r);
	err[0] = '\0';
	return bc_record_decode(json, strlen(json), r, err, sizeof err) == 0;
}

static void test_decode(void)
{
	struct bc_record r = {0};

	CHECK(decode_ok("{\"thread_id\":\"t\",\"seq\":0,\"line\":\"x\"}", &r));
	CHECK_STR(r.stream, "stdout");
	CHECK(strlen(r.ts) == 27);
	CHECK(r.seq == 0);
	CHECK(decode_ok(" {\"line\":\"x\\u0000y\\ud800\",\"seq\":9007199254740993,"
	                "\"thread_id\":\"a:b\",\"ts\":\"2026-01-02T03:04:05+01:00\","
	                "\"extra\":[1,{}]} \r\n", &r));
	CHECK(r.seq == 9007199254740993LL);
	CHECK_STR(r.ts, "2026-01-02T03:04:05+01:00");
	CHECK_STR(r.line, "x" FFFD "y" FFFD);
	CHECK(decode_ok("{\"thread_id\":\"t\",\"seq\":9223372036854775807,\"line\":\"\"}", &r));
	CHECK(r.seq == 9223372036854775807LL);
	CHECK(decode_ok("{\"thread_id\":\"t\",\"seq\":1,\"line\":\"\",\"stream\":null,\"ts\":null}", &r));
	CHECK_STR(r.stream, "stdout");

	/* Explicit length: the bytes after n are not read. */
	const char *two = "{\"thread_id\":\"t\",\"seq\":1,\"line\":\"a\"}{\"x\":1}";
	CHECK(bc_record_decode(two, 36, &r, err, sizeof err) == 0);
	CHECK(bc_record_decode(two, strlen(two), &r, err, sizeof err) == -1);
	CHECK(strstr(err, "trailing") != NULL);
	CHECK(r.line == NULL);

	const char *bad[] = {
		"", " ", "{", "[]", "\"s\"", "42", "null",
		"{\"seq\":1,\"line\":\"x\"}",
		"{\"thread_id\":\"a/b\",\"seq\":1,\"line\":\"x\"}",
		"{\"thread_id\":\"..\",\"seq\":1,\"line\":\"x\"}",
		"{\"thread_id\":\"\",\"seq\":1,\"line\":\"x\"}",
		"{\"thread_id\":7,\"seq\":1,\"line\":\"x\"}",
		"{\"thread_id\":\"t\\u0000\",\"seq\":1,\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":-1,\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":1.5,\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":9223372036854775808,\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":99999999999999999999999,\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":-9223372036854775809,\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":\"1\",\"line\":\"x\"}",
		"{\"thread_id\":\"t\",\"seq\":1}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":5}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":null}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"yesterday\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2026-02-30T00:00:00Z\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2026-01-01T24:00:00Z\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2026-01-01T00:00:00\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2026-01-01T00:00:00.Z\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":5}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"stream\":\"Std Out\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"stream\":\"aaaaaaaaaaaaaaaaaaaa\"}",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\"} x",
		"{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\"}\n{}",
	};
	int fails = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (decode_ok(bad[i], &r) || !err[0] || r.line) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			fails++;
		}
	}
	CHECK(fails == 0);
	CHECK(!decode_ok("{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2025-02-29T00:00:00Z\"}", &r));
	CHECK(decode_ok("{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2024-02-29T23:59:59.1Z\"}", &r));
	bc_record_clear(&r);
	/* The decoder's ts check is bc_clock's: offsets to +-23:59. */
	CHECK(decode_ok("{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2026-01-01T00:00:00+23:59\"}", &r));
	bc_record_clear(&r);
	CHECK(!decode_ok("{\"thread_id\":\"t\",\"seq\":1,\"line\":\"x\",\"ts\":\"2026-01-01T00:00:00-24:00\"}", &r));
	bc_record_clear(&r);
	bc_record_clear(NULL);
}

static void test_encode_format(void)
{
	struct bc_record r = {0};
	struct bc_buf out;
	bc_buf_init(&out, 0);
	strcpy(r.thread_id, "run-42");
	r.seq = 17;
	strcpy(r.ts, "2026-11-25T19:08:10.123456Z");
	strcpy(r.stream, "stdout");
	CHECK(bc_record_set_line(&r, "step 3 done", 11) == 0);
	CHECK(bc_record_encode(&r, &out) == 0);
	CHECK_STR(out.data, "{\"thread_id\":\"run-42\",\"seq\":17,"
	          "\"ts\":\"2026-11-25T19:08:10.123456Z\",\"stream\":\"stdout\","
	          "\"line\":\"step 3 done\"}");
	bc_buf_reset(&out);
	CHECK(bc_record_set_line(&r, "a/b\n\t\x01", 6) == 0);
	CHECK(bc_record_encode(&r, &out) == 0);
	CHECK(strstr(out.data, "\"line\":\"a/b\\n\\t\\u0001\"") != NULL);

	struct bc_buf small;
	bc_buf_init(&small, 20);
	CHECK(bc_record_encode(&r, &small) == -1);
	CHECK(small.len == 0);
	bc_buf_free(&small);
	bc_record_clear(&r);
	bc_buf_free(&out);
}

static void test_event(void)
{
	struct bc_event e = {0}, d = {0};
	struct bc_buf out;
	bc_buf_init(&out, 0);

	strcpy(e.type, "run_completed");
	strcpy(e.thread_id, "run-42");
	strcpy(e.ts, "2026-11-25T19:08:11.000001Z");
	CHECK(bc_event_encode(&e, &out) == 0);
	CHECK_STR(out.data, "{\"type\":\"run_completed\",\"thread_id\":\"run-42\","
	          "\"ts\":\"2026-11-25T19:08:11.000001Z\",\"data\":{}}");
	bc_buf_reset(&out);
	e.data = strdup("{ \"exit_code\" : 0, \"msg\": \"a\\nb/c\" }");
	CHECK(bc_event_encode(&e, &out) == 0);
	CHECK_STR(out.data, "{\"type\":\"run_completed\",\"thread_id\":\"run-42\","
	          "\"ts\":\"2026-11-25T19:08:11.000001Z\","
	          "\"data\":{\"exit_code\":0,\"msg\":\"a\\nb/c\"}}");
	CHECK(bc_event_decode(out.data, out.len, &d, err, sizeof err) == 0);
	CHECK_STR(d.type, "run_completed");
	CHECK_STR(d.thread_id, "run-42");
	CHECK_STR(d.ts, "2026-11-25T19:08:11.000001Z");
	CHECK_STR(d.data, "{\"exit_code\":0,\"msg\":\"a\\nb/c\"}");
	free(e.data);
	e.data = strdup("[1]");
	bc_buf_reset(&out);
	CHECK(bc_event_encode(&e, &out) == -1);
	free(e.data);
	e.data = strdup("{bad");
	CHECK(bc_event_encode(&e, &out) == -1);
	free(e.data);
	e.data = NULL;

	const char *j = "{\"type\":\"checkpoint\",\"thread_id\":\"t\",\"data\":{\"s\":\"\xff\"}}";
	CHECK(bc_event_decode(j, strlen(j), &d, err, sizeof err) == 0);
	CHECK_STR(d.data, "{\"s\":\"" FFFD "\"}");
	CHECK(strlen(d.ts) == 27);
	/* Keys are cleaned too; two that clean alike keep the last value. */
	j = "{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"\xce\":1,\"\xee\":[\"\xff\",{\"k\\u0000z\":2}]}}";
	CHECK(bc_event_decode(j, strlen(j), &d, err, sizeof err) == 0);
	CHECK_STR(d.data, "{\"" FFFD "\":[\"" FFFD "\",{\"k\":2}]}");
	j = "{\"type\":\"hitl.ack\",\"thread_id\":\"t\"}";
	CHECK(bc_event_decode(j, strlen(j), &d, err, sizeof err) == 0);
	CHECK_STR(d.data, "{}");
	j = "{\"type\":\"hitl.ack\",\"thread_id\":\"t\",\"data\":null}";
	CHECK(bc_event_decode(j, strlen(j), &d, err, sizeof err) == 0);
	CHECK_STR(d.data, "{}");

	const char *bad[] = {
		"", "{}", "[]", "{\"type\":\"x\"}",
		"{\"thread_id\":\"t\"}",
		"{\"type\":\"Bad\",\"thread_id\":\"t\"}",
		"{\"type\":\"x y\",\"thread_id\":\"t\"}",
		"{\"type\":\"x\\u0000\",\"thread_id\":\"t\"}",
		"{\"type\":\"x\",\"thread_id\":\"a b\"}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":[1]}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":\"s\"}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"ts\":\"now\"}",
		"{\"type\":\"x\",\"thread_id\":\"t\"}garbage",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":02}}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":NaN}}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":[-Infinity]}}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":'s'}}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":1,}}",
		"{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":True}}",
	};
	int fails = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (bc_event_decode(bad[i], strlen(bad[i]), &d, err, sizeof err) == 0 ||
		    !err[0] || d.data) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			fails++;
		}
	}
	CHECK(fails == 0);

	CHECK(bc_json_object_check("{\"a\":1}", 7, err, sizeof err) == 0);
	CHECK(bc_json_object_check(" {} \n", 5, err, sizeof err) == 0);
	CHECK(bc_json_object_check("[1]", 3, err, sizeof err) == -1);
	CHECK(bc_json_object_check("{", 1, err, sizeof err) == -1);
	CHECK(bc_json_object_check("{} {}", 5, err, sizeof err) == -1);
	CHECK(bc_json_object_check("", 0, err, sizeof err) == -1);
	CHECK(bc_json_object_check("{\"a\":NaN}", 10, err, sizeof err) == -1);
	CHECK(bc_json_object_check("{\"a\":[1,{\"b\":Infinity}]}", 24, err, sizeof err) == -1);
	CHECK(bc_json_object_check("{\"a\":[1.5e3,-0.25,1E+2]}", 24, err, sizeof err) == 0);
	CHECK(bc_json_object_check("{\"a\":01}", 8, err, sizeof err) == -1);
	j = "{\"type\":\"x\",\"thread_id\":\"t\",\"data\":{\"a\":1.50,\"b\":1e999,\"c\":-0.0}}";
	CHECK(bc_event_decode(j, strlen(j), &d, err, sizeof err) == 0);
	CHECK_STR(d.data, "{\"a\":1.50,\"b\":1e999,\"c\":-0.0}");

	CHECK(bc_event_is_terminal("run_completed"));
	CHECK(bc_event_is_terminal("run_error"));
	CHECK(bc_event_is_terminal("run_cancelled"));
	CHECK(bc_event_is_terminal("run_paused"));
	CHECK(!bc_event_is_terminal("run_started"));
	CHECK(!bc_event_is_terminal("checkpoint"));
	CHECK(!bc_event_is_terminal(NULL));

	bc_event_clear(&d);
	bc_event_clear(&d);
	bc_event_clear(NULL);
	bc_buf_free(&out);
}

/* bc_record_append straight from raw bytes gives exactly what json-c
 * prints for the cleaned line, for random bytes (controls, quotes,
 * invalid UTF-8, NUL) and every short control byte. */
static void test_append_matches_json_c(void)
{
	struct bc_buf got, clean;
	static const unsigned char pool[] = {
		'a', 'z', ' ', '"', '\\', '/', 0, 1, 8, 9, 10, 12, 13, 0x1f, 0x7f,
		0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff, 0xed,
		0xa0, 0x80, 0xc0, 0xf4, 0x90 };
	int same = 1;

	bc_buf_init(&got, 0);
	bc_buf_init(&clean, 0);
	srand(42);
	for (int t = 0; t < 20000 && same; t++) {
		char line[64];
		size_t n = (size_t)(rand() % 40);
		for (size_t i = 0; i < n; i++)
			line[i] = (char)pool[rand() % (int)sizeof pool];
		if (t < 32) {
			n = 1;
			line[0] = (char)t;
		}
		bc_buf_reset(&got);
		bc_buf_reset(&clean);
		if (bc_record_append(&got, "t-1", 1234567890123LL,
		                     "2026-11-25T19:08:10.123456Z", "stderr",
		                     line, n) != 0)
			same = 0;
		bc_line_clean(line, n, &clean);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "thread_id", json_object_new_string("t-1"));
		json_object_object_add(o, "seq", json_object_new_int64(1234567890123LL));
		json_object_object_add(o, "ts",
		                       json_object_new_string("2026-11-25T19:08:10.123456Z"));
		json_object_object_add(o, "stream", json_object_new_string("stderr"));
		json_object_object_add(o, "line",
		                       json_object_new_string_len(clean.data, (int)clean.len));
		const char *want = json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		same = same && strlen(want) == got.len &&
		       memcmp(want, got.data, got.len) == 0;
		if (!same)
			fprintf(stderr, "want %s\n got %s\n", want, got.data);
		json_object_put(o);
	}
	CHECK(same);
	/* A capped buffer refuses and stays as it was. */
	struct bc_buf small;
	bc_buf_init(&small, 16);
	CHECK(bc_record_append(&small, "t", 1, "x", "stdout", "abc", 3) == -1);
	CHECK(small.len == 0);
	bc_buf_free(&small);
	bc_buf_free(&got);
	bc_buf_free(&clean);
}

int main(void)
{
	RUN(test_append_matches_json_c());
	RUN(test_round_trip());
	RUN(test_decode());
	RUN(test_encode_format());
	RUN(test_event());
	UNIT_DONE("record");
}
