/* test_redis.c - the Redis buffer against the test Redis (BCAST_TEST_REDIS;
 * skipped with a message when unset): pipelined pushes larger than one
 * RPUSH, peek, compare-and-trim, seq reservations and floors, thread
 * listing, and the error of an unreachable server. Keys carry the pid so
 * parallel runs do not meet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_buf.h"
#include "bc_redis.h"
#include "unit.h"

static void test_unreachable(void)
{
	char err[512];

	CHECK(bc_redis_connect("redis://127.0.0.1:1", 1000, err, sizeof err) == NULL);
	CHECK_STR(err, "cannot connect to Redis at 127.0.0.1:1: Connection refused");
	CHECK(bc_redis_connect("http://x", 1000, err, sizeof err) == NULL);
	bc_redis_free(NULL);
}

static void test_server(const char *url)
{
	char err[512], tid[64], other[64];

	snprintf(tid, sizeof tid, "unit-redis-%ld", (long)getpid());
	snprintf(other, sizeof other, "unit-redis-%ld-b", (long)getpid());
	struct bc_redis *r = bc_redis_connect(url, 2000, err, sizeof err);
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return;
	}

	/* 2500 records: three RPUSH commands in one pipeline. */
	struct bc_strv sv, got;
	struct bc_buf text;
	bc_strv_init(&sv);
	bc_strv_init(&got);
	bc_buf_init(&text, 0);
	for (int i = 0; i < 2500; i++) {
		char rec[64];
		int n = snprintf(rec, sizeof rec, "rec %d", i);
		bc_strv_push(&sv, rec, (size_t)n);
		bc_buf_printf(&text, "%s\n", rec);
	}
	bc_strv_push(&sv, "with\0nul", 8);
	bc_buf_append(&text, "with\0nul", 8);   /* the last needs no '\n' */
	CHECK(bc_redis_push(r, tid, text.data, text.len) == 0);
	CHECK(bc_redis_queue_len(r, tid) == 2501);
	CHECK(bc_redis_peek(r, tid, 3000, &got) == 0);
	CHECK(got.n == 2501);
	int same = got.n == sv.n;
	for (size_t i = 0; same && i < got.n; i++)
		same = got.len[i] == sv.len[i] &&
		       memcmp(got.v[i], sv.v[i], sv.len[i]) == 0;
	CHECK(same);

	/* Trim only while the head is still what was read. */
	bc_strv_clear(&got);
	CHECK(bc_redis_peek(r, tid, 1000, &got) == 0 && got.n == 1000);
	CHECK(bc_redis_trim(r, tid, "rec 1", 5, 1000) == 0);
	CHECK(bc_redis_queue_len(r, tid) == 2501);
	CHECK(bc_redis_trim(r, tid, got.v[0], got.len[0], 1000) == 1);
	CHECK(bc_redis_queue_len(r, tid) == 1501);
	CHECK(bc_redis_trim(r, tid, got.v[0], got.len[0], 1000) == 0);
	CHECK(bc_redis_queue_len(r, tid) == 1501);
	bc_strv_clear(&got);
	CHECK(bc_redis_peek(r, tid, 1, &got) == 0 && got.n == 1 &&
	      strcmp(got.v[0], "rec 1000") == 0);
	CHECK(bc_redis_trim(r, tid, got.v[0], got.len[0], 5000) == 1);
	CHECK(bc_redis_queue_len(r, tid) == 0);

	/* Thread listing sees queues, not other keys. */
	CHECK(bc_redis_push(r, tid, "x\ny\n", 4) == 0);
	CHECK(bc_redis_push(r, other, "x", 1) == 0);
	struct bc_strv tids;
	bc_strv_init(&tids);
	CHECK(bc_redis_threads(r, &tids) == 0);
	int seen = 0;
	for (size_t i = 0; i < tids.n; i++)
		seen += strcmp(tids.v[i], tid) == 0 || strcmp(tids.v[i], other) == 0;
	CHECK(seen == 2);

	/* Read-side ranges from either end remove nothing. */
	bc_strv_clear(&got);
	CHECK(bc_redis_range(r, tid, 1, 5, &got) == 0 && got.n == 1 &&
	      strcmp(got.v[0], "y") == 0);
	CHECK(bc_redis_queue_len(r, tid) == 2);

	/* Sequence numbers: blocks never overlap; a floor lifts, never lowers. */
	long long first = 0;
	CHECK(bc_redis_seq_last(r, tid) == 0);
	CHECK(bc_redis_reserve_seq(r, tid, 10, 0, &first) == 0 && first == 1);
	CHECK(bc_redis_reserve_seq(r, tid, 5, 0, &first) == 0 && first == 11);
	CHECK(bc_redis_reserve_seq(r, tid, 1, 100, &first) == 0 && first == 101);
	CHECK(bc_redis_reserve_seq(r, tid, 1, 50, &first) == 0 && first == 102);
	CHECK(bc_redis_seq_last(r, tid) == 102);
	/* A floor past 2^32 (the time floor is microseconds) stays exact. */
	CHECK(bc_redis_reserve_seq(r, tid, 3, 1764700000000000LL, &first) == 0 &&
	      first == 1764700000000001LL);
	CHECK(bc_redis_seq_last(r, tid) == 1764700000000003LL);
	CHECK(bc_redis_reserve_seq(r, "bad id", 1, 0, &first) == -1);
	CHECK(bc_redis_push(r, "../x", "x\n", 2) == -1);

	/* A dropped connection comes back at the next call. */
	CHECK(bc_redis_reconnect(r) == 0);
	CHECK(bc_redis_queue_len(r, other) == 1);

	/* Clean up: drain both queues and the counter. */
	bc_strv_clear(&got);
	CHECK(bc_redis_peek(r, tid, 10, &got) == 0 && got.n == 2);
	CHECK(bc_redis_trim(r, tid, got.v[0], got.len[0], 2) == 1);
	bc_strv_clear(&got);
	CHECK(bc_redis_peek(r, other, 10, &got) == 0 && got.n == 1);
	CHECK(bc_redis_trim(r, other, got.v[0], got.len[0], 1) == 1);
	CHECK(bc_redis_queue_len(r, other) == 0);
	CHECK_STR(bc_redis_errstr(r), "invalid thread id");

	bc_strv_free(&sv);
	bc_strv_free(&got);
	bc_buf_free(&text);
	bc_strv_free(&tids);
	bc_redis_free(r);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "redis-cli -u '%s' DEL logs:seq:%s >/dev/null 2>&1",
	         url, tid);
	if (system(cmd) != 0)
		fprintf(stderr, "could not delete logs:seq:%s\n", tid);
}

int main(void)
{
	const char *url = getenv("BCAST_TEST_REDIS");

	RUN(test_unreachable());
	if (url && *url)
		RUN(test_server(url));
	else
		fprintf(stderr, "BCAST_TEST_REDIS not set: Redis cases not run\n");
	UNIT_DONE("redis");
}
