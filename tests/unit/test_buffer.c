/* test_buffer.c - the durable buffer against the test Redis
 * (BCAST_TEST_REDIS; the Redis cases are skipped with a message when it is
 * unset) and SQLite files in a temp dir: the rule for Redis (the default
 * address silently absent, an asked-for Redis reported), URLs checked
 * before anything else, seq numbers that never repeat for a thread
 * (Redis and spool emitters side by side, a Redis that lost everything, a
 * store that cannot be read at open), the NDJSON text of a batch, flushing
 * with a status, and a conflict with both lines. Thread ids carry the pid
 * so parallel runs do not meet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_buffer.h"
#include "bc_record.h"
#include "bc_redis.h"
#include "bc_store.h"
#include "unit.h"

static char dir[256], spool[300], db[300];

static struct bc_buffer *open_with(const char *redis, enum bc_redis_use use,
                                   const char *tid, const char *dburl,
                                   enum bc_buffer_fail *fail)
{
	struct bc_buffer_opts o = {
		.redis_url = redis, .redis_use = use, .spool_dir = spool,
		.db_url = dburl ? dburl : db, .tid = tid,
	};
	char err[1024];
	enum bc_buffer_fail f;
	struct bc_buffer *b = bc_buffer_open(&o, fail ? fail : &f, err,
	                                     sizeof err);
	if (!b && !fail)
		fprintf(stderr, "bc_buffer_open: %s\n", err);
	return b;
}

/* Encode and store n lines "PREFIX i"; returns the batch's first seq, or
 * -1. */
static long long emit(struct bc_buffer *b, const char *prefix, int n,
                      struct bc_batch *out)
{
	struct bc_lines in;
	char line[64];

	bc_lines_init(&in, 0);
	for (int i = 0; i < n; i++) {
		int k = snprintf(line, sizeof line, "%s %d", prefix, i);
		bc_lines_add(&in, i % 2 ? BC_STREAM_STDERR : BC_STREAM_STDOUT,
		             line, (size_t)k);
	}
	long long first = -1;
	if (bc_buffer_encode(b, &in, out) == 0 && bc_buffer_store(b, out) == 0)
		first = out->first_seq;
	bc_lines_free(&in);
	return first;
}

static long long stored(const char *tid)
{
	char err[512];
	struct bc_store *st = bc_store_open(db, err, sizeof err);
	long long n = st ? bc_store_count(st, tid) : -1;
	bc_store_close(st);
	return n;
}

static void test_lines_and_text(void)
{
	struct bc_lines l;
	struct bc_batch out;
	char tid[64];

	snprintf(tid, sizeof tid, "unit-buf-%ld-text", (long)getpid());
	bc_lines_init(&l, 8);
	CHECK(bc_lines_add(&l, BC_STREAM_STDOUT, "abc", 3) == 0);
	CHECK(bc_lines_add(&l, BC_STREAM_STDERR, "x\"\x01\xff", 4) == 0);
	CHECK(bc_lines_add(&l, BC_STREAM_STDOUT, "toolong", 7) == -1);
	CHECK(l.n == 2 && l.v[1].off == 3 && l.v[1].stream == BC_STREAM_STDERR);

	struct bc_buffer *b = open_with(NULL, BC_REDIS_NONE, tid, NULL, NULL);
	CHECK(b != NULL);
	if (!b)
		return;
	bc_batch_init(&out);
	CHECK(bc_buffer_encode(b, &l, &out) == 0);
	CHECK(out.n == 2 && out.first_seq == 1 && out.last_seq == 2);
	/* One NDJSON text: each record a line, decodable, cleaned. */
	const char *nl = memchr(out.text.data, '\n', out.text.len);
	CHECK(nl && out.text.data[out.text.len - 1] == '\n');
	struct bc_record r = { 0 };
	char why[128];
	CHECK(nl && bc_record_decode(nl + 1, out.text.len - (size_t)(nl - out.text.data) - 2,
	                             &r, why, sizeof why) == 0);
	CHECK(r.seq == 2 && strcmp(r.stream, "stderr") == 0 &&
	      strcmp(r.line, "x\"\x01\xef\xbf\xbd") == 0);
	bc_record_clear(&r);
	bc_batch_free(&out);
	bc_lines_free(&l);
	bc_buffer_free(b);
	bc_buffer_free(NULL);
}

static void test_bad_urls(void)
{
	enum bc_buffer_fail fail = BC_BUFFER_UNUSABLE;

	CHECK(open_with("http://x", BC_REDIS_ASKED, "t", NULL, &fail) == NULL &&
	      fail == BC_BUFFER_BAD_URL);
	fail = BC_BUFFER_UNUSABLE;
	CHECK(open_with(NULL, BC_REDIS_NONE, "t", "/tmp/x.db", &fail) == NULL &&
	      fail == BC_BUFFER_BAD_URL);
	fail = BC_BUFFER_UNUSABLE;
	CHECK(open_with(NULL, BC_REDIS_NONE, "t", "postgresql://h/d?nope=1",
	                &fail) == NULL && fail == BC_BUFFER_BAD_URL);
	/* The Redis URL is checked even when nothing will connect to it. */
	fail = BC_BUFFER_UNUSABLE;
	CHECK(open_with("redis://", BC_REDIS_DEFAULT, NULL, NULL, &fail) == NULL &&
	      fail == BC_BUFFER_BAD_URL);
}

/* Nothing on the default address: the spool, silently, and a complete
 * flush. The same address asked for: reported, and the flush says 75. */
static void test_redis_rule(void)
{
	struct bc_buffer_state st;
	struct bc_flush_stats fs = { 0 };
	struct bc_batch out;
	char tid[64];

	snprintf(tid, sizeof tid, "unit-buf-%ld-rule", (long)getpid());
	bc_batch_init(&out);
	struct bc_buffer *b = open_with("redis://127.0.0.1:1", BC_REDIS_DEFAULT,
	                                tid, NULL, NULL);
	CHECK(b != NULL);
	if (!b)
		return;
	bc_buffer_state(b, &st);
	CHECK(!st.redis && !st.redis_down && st.switches == 0 && !st.why[0]);
	CHECK(emit(b, "quiet", 10, &out) == 1);
	CHECK(bc_buffer_flush(b, &(struct bc_buffer_flush){ .tid = tid,
	      .status = "completed", .exit_code = 0 }, &fs) == BC_FLUSH_OK);
	CHECK(fs.inserted == 10 && stored(tid) == 10);
	bc_buffer_free(b);

	b = open_with("redis://127.0.0.1:1", BC_REDIS_ASKED, tid, NULL, NULL);
	CHECK(b != NULL);
	if (!b)
		return;
	bc_buffer_state(b, &st);
	CHECK(!st.redis && st.redis_down && st.switches == 1);
	CHECK_STR(st.why, "cannot connect to Redis at 127.0.0.1:1: Connection refused");
	CHECK(emit(b, "loud", 5, &out) > 10);
	memset(&fs, 0, sizeof fs);
	/* Its own thread: none of its lines went to Redis, so that is done;
	 * every thread (what Redis may hold too): not done. */
	CHECK(bc_buffer_flush(b, &(struct bc_buffer_flush){ .tid = tid }, &fs) ==
	      BC_FLUSH_OK);
	CHECK(stored(tid) == 15);
	CHECK(bc_buffer_flush(b, &(struct bc_buffer_flush){ 0 }, &fs) ==
	      BC_FLUSH_REDIS);
	CHECK(strstr(bc_buffer_errstr(b), "Connection refused") != NULL);
	bc_buffer_free(b);
	bc_batch_free(&out);
}

/* A row stored under a seq that the spool holds with another line. */
static void test_conflict(void)
{
	struct bc_flush_stats fs = { 0 };
	struct bc_batch out;
	char tid[64], err[512];

	snprintf(tid, sizeof tid, "unit-buf-%ld-clash", (long)getpid());
	struct bc_store *st = bc_store_open(db, err, sizeof err);
	struct bc_record r = { 0 };
	snprintf(r.thread_id, sizeof r.thread_id, "%s", tid);
	r.seq = 1;
	snprintf(r.ts, sizeof r.ts, "2026-11-25T19:08:10.000001Z");
	snprintf(r.stream, sizeof r.stream, "stdout");
	bc_record_set_line(&r, "stored first", 12);
	CHECK(st && bc_store_insert(st, &r, 1) == 1);
	bc_record_clear(&r);
	bc_store_close(st);
	/* The buffer is told nothing of it (no store at open): a spool record
	 * with seq 1 is written by hand, as an emitter that lost count would. */
	struct bc_spool *sp = bc_spool_open(spool, BC_FSYNC_NONE, err, sizeof err);
	struct bc_buf text;
	bc_buf_init(&text, 0);
	bc_record_append(&text, tid, 1, "2026-11-25T19:08:11.000001Z", "stdout",
	                 "another line", 12);
	bc_buf_append(&text, "\n", 1);
	CHECK(sp && bc_spool_append(sp, tid, text.data, text.len) == 0);
	bc_buf_free(&text);
	bc_spool_free(sp);

	struct bc_buffer *b = open_with(NULL, BC_REDIS_NONE, NULL, NULL, NULL);
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK(bc_buffer_flush(b, &(struct bc_buffer_flush){ .tid = tid }, &fs) ==
	      BC_FLUSH_CONFLICT);
	CHECK(strstr(bc_buffer_errstr(b), "stored 'stored first', buffered "
	             "'another line'") != NULL);
	CHECK(stored(tid) == 1);
	/* Kept: the next flush meets it again. */
	CHECK(bc_buffer_flush(b, &(struct bc_buffer_flush){ .tid = tid }, &fs) ==
	      BC_FLUSH_CONFLICT);
	CHECK(bc_buffer_flush(b, &(struct bc_buffer_flush){ .tid = "bad id" },
	                      &fs) == BC_FLUSH_BAD_THREAD);
	bc_buffer_free(b);

	/* An emitter now starts above the spooled seq 1 and the stored one. */
	snprintf(tid + strlen(tid), sizeof tid - strlen(tid), "2");
	b = open_with(NULL, BC_REDIS_NONE, tid, NULL, NULL);
	bc_batch_init(&out);
	CHECK(b && emit(b, "after", 1, &out) == 1);
	bc_batch_free(&out);
	bc_buffer_free(b);
}

/* A store that cannot be read at open and no Redis counter: the time
 * floor. */
static void test_db_down_floor(void)
{
	struct bc_buffer_state st;
	struct bc_batch out;
	char tid[64];
	int64_t before = bc_now_us();

	snprintf(tid, sizeof tid, "unit-buf-%ld-dbdown", (long)getpid());
	bc_batch_init(&out);
	struct bc_buffer *b = open_with(NULL, BC_REDIS_NONE, tid,
	                                "postgresql://postgres@127.0.0.1:1/x",
	                                NULL);
	CHECK(b != NULL);
	if (!b)
		return;
	bc_buffer_state(b, &st);
	CHECK(st.db_unknown);
	CHECK(emit(b, "x", 3, &out) > before);
	bc_buffer_free(b);
	bc_batch_free(&out);
}

static void test_with_redis(const char *url)
{
	struct bc_batch out;
	struct bc_flush_stats fs = { 0 };
	struct bc_buffer_state st;
	char tid[64], err[512];

	snprintf(tid, sizeof tid, "unit-buf-%ld-redis", (long)getpid());
	bc_batch_init(&out);

	/* A Redis emitter and a spool-only emitter of one thread on one
	 * machine, batches interleaved: no seq twice. */
	struct bc_buffer *a = open_with(url, BC_REDIS_DEFAULT, tid, NULL, NULL);
	struct bc_buffer *s = open_with(NULL, BC_REDIS_NONE, tid, NULL, NULL);
	CHECK(a && s);
	if (!a || !s)
		return;
	bc_buffer_state(a, &st);
	CHECK(st.redis && !st.redis_down);
	long long seen[40];
	int n = 0, unique = 1;
	for (int i = 0; i < 20; i++) {
		/* Each batch bigger than a block, so each takes a new one. */
		seen[n++] = emit(a, "a", 1500, &out);
		seen[n++] = emit(s, "s", 1500, &out);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			if (seen[i] < 0 || (seen[i] < seen[j] + 1500 &&
			                    seen[j] < seen[i] + 1500))
				unique = 0;
	CHECK(unique);
	CHECK(bc_buffer_flush(a, &(struct bc_buffer_flush){ .tid = tid }, &fs) ==
	      BC_FLUSH_OK);
	CHECK(fs.inserted == 60000 && fs.duplicates == 0);
	CHECK(stored(tid) == 60000);
	bc_buffer_free(s);
	bc_buffer_free(a);

	/* Redis loses everything (counter and list): the next emitter starts
	 * above what the store holds. */
	struct bc_redis *r = bc_redis_connect(url, 2000, err, sizeof err);
	struct bc_strv none;
	bc_strv_init(&none);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "redis-cli -u '%s' DEL logs:seq:%s >/dev/null",
	         url, tid);
	CHECK(system(cmd) == 0);
	CHECK(r && bc_redis_seq_last(r, tid) == 0);
	snprintf(cmd, sizeof cmd, "rm -f '%s/%s.seq'", spool, tid);
	CHECK(system(cmd) == 0);
	a = open_with(url, BC_REDIS_ASKED, tid, NULL, NULL);
	CHECK(a && emit(a, "again", 10, &out) > 60000);
	/* And a seq reserved from Redis raises Redis's counter past it. */
	CHECK(r && bc_redis_seq_last(r, tid) >= out.last_seq);
	bc_buffer_free(a);

	/* Redis lost its counter but kept its list (and the store is down):
	 * above the list's last records, not the time floor. */
	snprintf(cmd, sizeof cmd, "redis-cli -u '%s' DEL logs:seq:%s >/dev/null",
	         url, tid);
	CHECK(system(cmd) == 0);
	snprintf(cmd, sizeof cmd, "rm -f '%s/%s.seq'", spool, tid);
	CHECK(system(cmd) == 0);
	long long last = out.last_seq;
	a = open_with(url, BC_REDIS_ASKED, tid,
	              "postgresql://postgres@127.0.0.1:1/x", NULL);
	long long first = a ? emit(a, "b", 1, &out) : -1;
	CHECK(first > last);
	bc_buffer_free(a);
	bc_strv_free(&none);
	bc_redis_free(r);
	snprintf(cmd, sizeof cmd, "redis-cli -u '%s' DEL logs:seq:%s "
	         "logs:queue:%s >/dev/null", url, tid, tid);
	if (system(cmd) != 0)
		fprintf(stderr, "could not delete the keys of %s\n", tid);
	bc_batch_free(&out);
}

int main(void)
{
	const char *url = getenv("BCAST_TEST_REDIS");

	snprintf(dir, sizeof dir, "/tmp/bcast-unit-buffer-%ld", (long)getpid());
	snprintf(spool, sizeof spool, "%s/spool", dir);
	snprintf(db, sizeof db, "sqlite:%s/db.sqlite", dir);
	RUN(test_lines_and_text());
	RUN(test_bad_urls());
	RUN(test_redis_rule());
	RUN(test_conflict());
	RUN(test_db_down_floor());
	if (url && *url)
		RUN(test_with_redis(url));
	else
		fprintf(stderr, "BCAST_TEST_REDIS not set: Redis cases not run\n");
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	UNIT_DONE("buffer");
}
