/* sink.c - bcast-emit's durable handoff: every batch goes to Redis, or to
 * the spool when Redis is disabled, unreachable or failing.
 *
 * Seq numbers come in blocks (at least SEQ_BLOCK) reserved from the
 * backend in use: INCRBY logs:seq:{tid} in Redis, the flock'ed counter
 * file in the spool, floored at the last seq + 1 so seq keeps increasing
 * across a switch. A batch is encoded once; when its RPUSH fails the same
 * records (same seqs) are appended to the spool, since flushing is
 * idempotent on (thread_id, seq). After a failure Redis is tried again at
 * most once per second, and before it is used again its counter is raised
 * above the last seq handed out; likewise at the start when the thread
 * has a spool counter from an earlier emitter. The first switch to the
 * spool prints one warning; nothing else here prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_flush.h"
#include "bc_record.h"
#include "bc_redis.h"
#include "bc_store.h"
#include "cli.h"
#include "emit.h"

#define SEQ_BLOCK 1024
#define REDIS_TIMEOUT_MS 2000
#define REDIS_RETRY_US 1000000

struct sink {
	char tid[BC_TID_MAX + 1];
	char *redis_url;          /* NULL: spool only */
	char *spool_dir;
	enum bc_fsync fsync;
	struct bc_redis *redis;
	bool use_redis;           /* the backend of the next batch */
	bool used_redis;          /* something was stored in Redis */
	int64_t redis_retry_at;
	bool warned;
	struct bc_spool *spool;
	long long next, end;      /* reserved seqs not yet used: [next, end) */
	long long last;           /* last seq handed out, 0 before the first */
	struct bc_record rec;
	struct bc_buf enc;
};

static void to_spool(struct sink *s, const char *why)
{
	if (!s->warned)
		bc_warn("Redis unavailable (%s), spooling to %s", why,
		        s->spool_dir);
	s->warned = true;
	s->use_redis = false;
	s->next = s->end = 0;
	s->redis_retry_at = bc_now_us() + REDIS_RETRY_US;
}

static int spool_ready(struct sink *s, char *err, size_t errlen)
{
	if (!s->spool)
		s->spool = bc_spool_open(s->spool_dir, s->fsync, err, errlen);
	return s->spool ? 0 : -1;
}

/* Back to Redis if it answers again, with its counter above s->last. */
static void retry_redis(struct sink *s)
{
	char err[256];

	if (!s->redis_url || s->use_redis || bc_now_us() < s->redis_retry_at)
		return;
	s->redis_retry_at = bc_now_us() + REDIS_RETRY_US;
	if (!s->redis &&
	    !(s->redis = bc_redis_connect(s->redis_url, REDIS_TIMEOUT_MS, err,
	                                  sizeof err)))
		return;
	if (bc_redis_seq_floor(s->redis, s->tid, s->last) != 0)
		return;
	s->use_redis = true;
	s->next = s->end = 0;
}

static int reserve(struct sink *s, size_t n, char *err, size_t errlen)
{
	long long want = n > SEQ_BLOCK ? (long long)n : SEQ_BLOCK;
	long long first;

	if (s->end - s->next >= (long long)n)
		return 0;
	if (s->use_redis) {
		if (bc_redis_reserve_seq(s->redis, s->tid, want, &first) == 0) {
			s->next = first;
			s->end = first + want;
			return 0;
		}
		to_spool(s, bc_redis_errstr(s->redis));
	}
	if (spool_ready(s, err, errlen) != 0)
		return -1;
	if (bc_spool_reserve_seq(s->spool, s->tid, want, s->last,
	                         &first) != 0) {
		snprintf(err, errlen, "%s", bc_spool_errstr(s->spool));
		return -1;
	}
	s->next = first;
	s->end = first + want;
	return 0;
}

static int encode(struct sink *s, const struct batch *b, struct bc_strv *out,
                  char *err, size_t errlen)
{
	char ts[BC_TS_LEN];

	if (reserve(s, b->n, err, errlen) != 0)
		return -1;
	bc_ts_now(ts);
	memcpy(s->rec.ts, ts, sizeof ts);
	for (size_t i = 0; i < b->n; i++) {
		const struct batch_line *l = &b->v[i];
		s->rec.seq = s->next++;
		strcpy(s->rec.stream,
		       l->stream == STREAM_STDERR ? "stderr" : "stdout");
		bc_buf_reset(&s->enc);
		if (bc_record_set_line(&s->rec, b->bytes.data + l->off,
		                       l->len) != 0 ||
		    bc_record_encode(&s->rec, &s->enc) != 0 ||
		    bc_strv_push(out, s->enc.data, s->enc.len) != 0) {
			snprintf(err, errlen, "out of memory");
			bc_strv_clear(out);
			return -1;
		}
		s->last = s->rec.seq;
	}
	return 0;
}

/* When the thread already has a spool counter (an earlier emitter spooled
 * its lines), start Redis's counter above it, so the two never hand out
 * the same seq. */
static void floor_above_spool(struct sink *s)
{
	char path[4096];
	long long first;

	snprintf(path, sizeof path, "%s/%s.seq", s->spool_dir, s->tid);
	if (access(path, F_OK) != 0 ||
	    bc_spool_reserve_seq(s->spool, s->tid, 1, 0, &first) != 0)
		return;
	bc_redis_seq_floor(s->redis, s->tid, first);
}

struct sink *sink_new(const struct sink_opts *o, char *err, size_t errlen)
{
	struct sink *s = calloc(1, sizeof *s);
	char why[512];

	if (!s || !(s->spool_dir = strdup(o->spool_dir)) ||
	    (o->redis_url && !(s->redis_url = strdup(o->redis_url)))) {
		snprintf(err, errlen, "out of memory");
		sink_free(s);
		return NULL;
	}
	snprintf(s->tid, sizeof s->tid, "%s", o->tid);
	snprintf(s->rec.thread_id, sizeof s->rec.thread_id, "%s", o->tid);
	s->fsync = o->fsync;
	bc_buf_init(&s->enc, 0);
	if (s->redis_url) {
		s->redis = bc_redis_connect(s->redis_url, REDIS_TIMEOUT_MS, why,
		                            sizeof why);
		if (s->redis)
			s->use_redis = true;
		else
			to_spool(s, why);
	}
	if (spool_ready(s, why, sizeof why) != 0 && !s->use_redis) {
		snprintf(err, errlen, "%s", why);
		sink_free(s);
		return NULL;
	}
	if (s->use_redis && s->spool)
		floor_above_spool(s);
	return s;
}

void sink_free(struct sink *s)
{
	if (!s)
		return;
	bc_redis_free(s->redis);
	bc_spool_free(s->spool);
	bc_record_clear(&s->rec);
	bc_buf_free(&s->enc);
	free(s->redis_url);
	free(s->spool_dir);
	free(s);
}

int sink_put(struct sink *s, const struct batch *b, struct bc_strv *out,
             char *err, size_t errlen)
{
	if (b->n == 0)
		return 0;
	if (out->n == 0) {
		retry_redis(s);
		if (encode(s, b, out, err, errlen) != 0)
			return -1;
	}
	if (s->use_redis) {
		if (bc_redis_push(s->redis, s->tid, out) == 0) {
			s->used_redis = true;
			return 0;
		}
		to_spool(s, bc_redis_errstr(s->redis));
	}
	if (spool_ready(s, err, errlen) != 0)
		return -1;
	if (bc_spool_append(s->spool, s->tid, out) != 0) {
		snprintf(err, errlen, "%s", bc_spool_errstr(s->spool));
		return -1;
	}
	return 0;
}

void sink_floor_from_db(struct sink *s, const char *db_url)
{
	char err[512];
	struct bc_store *store = bc_store_open(db_url, err, sizeof err);
	long long max = store ? bc_store_max_seq(store, s->tid) : -1;

	bc_store_close(store);
	if (max <= s->last)
		return;
	s->last = max;
	s->next = s->end = 0;
	if (s->use_redis)
		bc_redis_seq_floor(s->redis, s->tid, max);
}

int sink_flush(struct sink *s, const char *db_url, const char *status,
               int exit_code, char *err, size_t errlen)
{
	struct bc_flush_opts o = { 0 };
	struct bc_flush_stats st = { 0 };
	struct bc_store *store;
	char why[512];
	int rc = -1;

	if (!(store = bc_store_open(db_url, err, errlen)))
		return -1;
	if (s->redis_url && !s->use_redis) {
		s->redis_retry_at = 0;
		retry_redis(s);
	}
	if (spool_ready(s, why, sizeof why) != 0 && !s->use_redis) {
		snprintf(err, errlen, "%s", why);
		goto status;
	}
	o.redis = s->use_redis ? s->redis : NULL;
	o.spool = s->spool;
	o.store = store;
	if (bc_flush_thread(&o, s->tid, &st, err, errlen) != BC_FLUSH_OK)
		goto status;
	if (s->used_redis && !s->use_redis) {
		snprintf(err, errlen, "Redis unavailable: %s",
		         s->redis ? bc_redis_errstr(s->redis) : "no connection");
		goto status;
	}
	rc = 0;
status:
	if (bc_store_set_run(store, s->tid, status, exit_code) != 0 && rc == 0) {
		snprintf(err, errlen, "%s", bc_store_errstr(store));
		rc = -1;
	}
	bc_store_close(store);
	return rc;
}
