/* bc_buffer.c - the durable buffer (see bc_buffer.h for the rules).
 *
 * State: the backend of the next batch (use_redis), the reserved seqs not
 * handed out yet [next, end), the last seq handed out, and the floor found
 * at open. Reservations come in blocks that double from SEQ_BLOCK_MIN to
 * SEQ_BLOCK_MAX while a run keeps emitting, so a busy emitter takes the
 * counter's lock rarely. A batch is encoded once into its NDJSON text;
 * when Redis refuses it the same text goes to the spool. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_buffer.h"
#include "bc_record.h"
#include "bc_redis.h"
#include "bc_store.h"
#include "bc_tid.h"
#include "bc_url.h"

#define SEQ_BLOCK_MIN 1024
#define SEQ_BLOCK_MAX 65536
#define REDIS_TIMEOUT_MS 2000
#define REDIS_RETRY_US 1000000
#define TAIL_RECORDS 64         /* Redis list tail read for its highest seq */

struct bc_buffer {
	char *tid;                /* NULL: flush only */
	char *redis_url;          /* NULL: no Redis */
	enum bc_redis_use redis_use;
	char *spool_dir;
	char *db_url;
	struct bc_redis *redis;
	struct bc_spool *spool;
	struct bc_store *store;   /* flush-only handles: opened at open */
	bool use_redis;           /* the backend of the next batch */
	bool used_redis;          /* some of our lines went to Redis */
	bool redis_down;
	bool db_unknown;
	int64_t redis_retry_at;
	unsigned long switches;
	long long floor;          /* no seq at or below it */
	long long next, end;      /* reserved, not yet handed out: [next, end) */
	long long last;           /* last seq handed out, 0 before the first */
	long long block;
	char why[512];
	char err[1024];
};

void bc_lines_init(struct bc_lines *l, size_t max_bytes)
{
	memset(l, 0, sizeof *l);
	bc_buf_init(&l->bytes, max_bytes);
}

int bc_lines_add(struct bc_lines *l, enum bc_stream s, const char *p, size_t n)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct bc_line *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	size_t off = l->bytes.len;
	if (bc_buf_append(&l->bytes, p, n) != 0)
		return -1;
	l->v[l->n++] = (struct bc_line){ off, n, s };
	return 0;
}

void bc_lines_reset(struct bc_lines *l)
{
	bc_buf_reset(&l->bytes);
	l->n = 0;
}

void bc_lines_free(struct bc_lines *l)
{
	bc_buf_free(&l->bytes);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void bc_batch_init(struct bc_batch *b)
{
	memset(b, 0, sizeof *b);
	bc_buf_init(&b->text, 0);
}

void bc_batch_reset(struct bc_batch *b)
{
	bc_buf_reset(&b->text);
	b->n = 0;
	b->first_seq = b->last_seq = 0;
}

void bc_batch_free(struct bc_batch *b)
{
	bc_buf_free(&b->text);
	b->n = 0;
}

static void set_err(struct bc_buffer *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct bc_buffer *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof b->err, fmt, ap);
	va_end(ap);
}

static void to_spool(struct bc_buffer *b, const char *why)
{
	if (b->use_redis || !b->redis_down)
		b->switches++;
	snprintf(b->why, sizeof b->why, "%s", why);
	b->use_redis = false;
	b->redis_down = true;
	b->redis_retry_at = bc_now_us() + REDIS_RETRY_US;
}

/* Back to Redis if it answers again (at most once a second). */
static void retry_redis(struct bc_buffer *b, bool now)
{
	char why[512];

	if (!b->redis_url || b->use_redis || !b->redis_down ||
	    (!now && bc_now_us() < b->redis_retry_at))
		return;
	b->redis_retry_at = bc_now_us() + REDIS_RETRY_US;
	if (!b->redis) {
		b->redis = bc_redis_connect(b->redis_url, REDIS_TIMEOUT_MS, why,
		                            sizeof why);
		if (!b->redis) {
			snprintf(b->why, sizeof b->why, "%s", why);
			return;
		}
	} else if (bc_redis_reconnect(b->redis) != 0) {
		snprintf(b->why, sizeof b->why, "%s", bc_redis_errstr(b->redis));
		return;
	}
	b->use_redis = true;
	b->redis_down = false;
	b->switches++;
}

static int spool_ready(struct bc_buffer *b)
{
	char why[512];

	if (!b->spool &&
	    !(b->spool = bc_spool_open(b->spool_dir, BC_FSYNC_NONE, why,
	                               sizeof why))) {
		set_err(b, "%s", why);
		return -1;
	}
	return 0;
}

/* The highest seq of the last records of tid's Redis list, or 0. */
static long long redis_tail_seq(struct bc_buffer *b)
{
	struct bc_strv sv;
	long long max = 0;

	long long len = bc_redis_queue_len(b->redis, b->tid);
	size_t from = len > TAIL_RECORDS ? (size_t)(len - TAIL_RECORDS) : 0;

	bc_strv_init(&sv);
	if (len > 0 && bc_redis_range(b->redis, b->tid, from, TAIL_RECORDS,
	                              &sv) == 0) {
		for (size_t i = 0; i < sv.n; i++) {
			struct bc_record r = { 0 };
			char why[64];
			if (bc_record_decode(sv.v[i], sv.len[i], &r, why,
			                     sizeof why) != 0)
				continue;
			if (r.seq > max)
				max = r.seq;
			bc_record_clear(&r);
		}
	}
	bc_strv_free(&sv);
	return max;
}

static long long max_ll(long long a, long long b) { return a > b ? a : b; }

/* Open the store, to learn at once whether it refuses us. NULL when it
 * cannot be opened now (down: the flush will say so); -1 with *fail when
 * it refuses us. */
static int open_store(struct bc_buffer *b, struct bc_store **st,
                      enum bc_buffer_fail *fail)
{
	enum bc_store_fail why;
	char err[1024];

	*st = bc_store_open_why(b->db_url, &why, err, sizeof err);
	if (!*st && why == BC_STORE_DENIED) {
		*fail = BC_BUFFER_DENIED;
		set_err(b, "%s", err);
		return -1;
	}
	return 0;
}

/* The floor of the handle's thread: see bc_buffer.h. -1 with *fail when
 * the store refuses us. */
static int find_floor(struct bc_buffer *b, enum bc_buffer_fail *fail)
{
	struct bc_store *st;
	long long db = -1, counter = 0;

	if (open_store(b, &st, fail) != 0)
		return -1;
	if (st)
		db = bc_store_max_seq(st, b->tid);
	bc_store_close(st);
	b->db_unknown = db < 0;
	b->floor = max_ll(db, 0);
	if (b->use_redis) {
		b->floor = max_ll(b->floor, redis_tail_seq(b));
		counter = bc_redis_seq_last(b->redis, b->tid);
	}
	if (b->spool)
		b->floor = max_ll(b->floor, bc_spool_tail_seq(b->spool, b->tid));
	if (b->db_unknown && counter <= 0)
		b->floor = max_ll(b->floor, bc_now_us());
	return 0;
}

/* Check the Redis URL's form without connecting. */
static int redis_url_ok(const char *url, char *err, size_t errlen)
{
	struct bc_url u;
	char why[256];

	if (bc_url_parse(url, &u, why, sizeof why) == 0 &&
	    strcmp(u.scheme, "redis") == 0)
		return 0;
	snprintf(err, errlen, "bad Redis URL '%s': expected "
	         "redis://[:PASSWORD@]HOST[:PORT][/DB] or 'none'", url);
	return -1;
}

void bc_buffer_opts_from(struct bc_buffer_opts *o, const struct bc_config *c)
{
	*o = (struct bc_buffer_opts){
		.redis_url = c->redis,
		.redis_use = bc_config_no_redis(c) ? BC_REDIS_NONE :
		             c->redis_asked ? BC_REDIS_ASKED : BC_REDIS_DEFAULT,
		.spool_dir = c->spool,
		.db_url = c->db,
		.fsync = BC_FSYNC_NONE,
	};
}

static int dup_opt(char **dst, const char *src)
{
	return src && !(*dst = strdup(src)) ? -1 : 0;
}

struct bc_buffer *bc_buffer_open(const struct bc_buffer_opts *o,
                                 enum bc_buffer_fail *fail, char *err,
                                 size_t errlen)
{
	struct bc_buffer *b = calloc(1, sizeof *b);
	bool with_redis = o->redis_use != BC_REDIS_NONE && o->redis_url &&
	                  *o->redis_url;
	char why[512];

	*fail = BC_BUFFER_UNUSABLE;
	if (!b || dup_opt(&b->tid, o->tid) != 0 ||
	    dup_opt(&b->spool_dir, o->spool_dir) != 0 ||
	    dup_opt(&b->db_url, o->db_url) != 0 ||
	    (with_redis && dup_opt(&b->redis_url, o->redis_url) != 0)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (b->tid && !bc_tid_valid(b->tid)) {
		snprintf(err, errlen, "invalid thread id '%.200s'", b->tid);
		*fail = BC_BUFFER_BAD_URL;
		goto fail;
	}
	if ((with_redis && redis_url_ok(b->redis_url, err, errlen) != 0) ||
	    bc_store_url_check(b->db_url, err, errlen) != 0) {
		*fail = BC_BUFFER_BAD_URL;
		goto fail;
	}
	b->redis_use = with_redis ? o->redis_use : BC_REDIS_NONE;
	b->block = SEQ_BLOCK_MIN;
	if (with_redis) {
		b->redis = bc_redis_connect(b->redis_url, REDIS_TIMEOUT_MS, why,
		                            sizeof why);
		if (b->redis) {
			b->use_redis = true;
			b->redis_use = BC_REDIS_ASKED;  /* it answered: it holds lines */
		} else if (b->redis_use == BC_REDIS_DEFAULT) {
			free(b->redis_url);
			b->redis_url = NULL;
			b->redis_use = BC_REDIS_NONE;
		} else {
			to_spool(b, why);
		}
	}
	b->spool = bc_spool_open(b->spool_dir, o->fsync, why, sizeof why);
	if (!b->spool && !b->use_redis) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	if (b->tid ? find_floor(b, fail) != 0 :
	             open_store(b, &b->store, fail) != 0) {
		snprintf(err, errlen, "%s", b->err);
		goto fail;
	}
	b->err[0] = '\0';
	return b;
fail:
	bc_buffer_free(b);
	return NULL;
}

void bc_buffer_free(struct bc_buffer *b)
{
	if (!b)
		return;
	bc_redis_free(b->redis);
	bc_spool_free(b->spool);
	bc_store_close(b->store);
	free(b->tid);
	free(b->redis_url);
	free(b->spool_dir);
	free(b->db_url);
	free(b);
}

const char *bc_buffer_errstr(const struct bc_buffer *b)
{
	return b ? b->err : "";
}

void bc_buffer_state(const struct bc_buffer *b, struct bc_buffer_state *st)
{
	st->redis = b->use_redis;
	st->redis_down = b->redis_down;
	st->db_unknown = b->db_unknown;
	st->switches = b->switches;
	snprintf(st->why, sizeof st->why, "%s", b->why);
}

/* Make [next, end) hold at least n seqs. */
static int reserve(struct bc_buffer *b, size_t n)
{
	long long want, local = 0, first = 0, from;
	int fd = -1;

	if (b->end - b->next >= (long long)n)
		return 0;
	want = (long long)n > b->block ? (long long)n : b->block;
	if (b->block < SEQ_BLOCK_MAX)
		b->block *= 2;
	if (b->spool && (fd = bc_spool_seq_lock(b->spool, b->tid, &local)) < 0 &&
	    !b->use_redis) {
		set_err(b, "%s", bc_spool_errstr(b->spool));
		return -1;
	}
	from = max_ll(max_ll(b->floor, b->last), local);
	if (b->use_redis &&
	    bc_redis_reserve_seq(b->redis, b->tid, want, from, &first) != 0)
		to_spool(b, bc_redis_errstr(b->redis));
	if (!b->use_redis) {
		if (fd < 0) {
			set_err(b, "no spool: %s", b->spool ?
			        bc_spool_errstr(b->spool) : "cannot open it");
			return -1;
		}
		first = from + 1;
	}
	if (fd >= 0 && bc_spool_seq_unlock(b->spool, fd, first + want - 1) != 0 &&
	    !b->use_redis) {
		set_err(b, "%s", bc_spool_errstr(b->spool));
		return -1;
	}
	b->next = first;
	b->end = first + want;
	return 0;
}

int bc_buffer_encode(struct bc_buffer *b, const struct bc_lines *in,
                     struct bc_batch *out)
{
	static const char *const streams[] = { "stdout", "stderr" };
	char ts[BC_TS_LEN];

	bc_batch_reset(out);
	if (!b->tid) {
		set_err(b, "no thread to emit to");
		return -1;
	}
	if (in->n == 0)
		return 0;
	retry_redis(b, false);
	if (reserve(b, in->n) != 0)
		return -1;
	bc_ts_now(ts);
	out->first_seq = b->next;
	for (size_t i = 0; i < in->n; i++) {
		const struct bc_line *l = &in->v[i];
		if (bc_record_append(&out->text, b->tid, b->next, ts,
		                     streams[l->stream == BC_STREAM_STDERR],
		                     in->bytes.data + l->off, l->len) != 0 ||
		    bc_buf_append(&out->text, "\n", 1) != 0) {
			set_err(b, "out of memory");
			bc_batch_reset(out);
			return -1;
		}
		b->last = b->next++;
	}
	out->n = in->n;
	out->last_seq = b->last;
	return 0;
}

int bc_buffer_store(struct bc_buffer *b, const struct bc_batch *batch)
{
	if (batch->n == 0)
		return 0;
	if (b->use_redis) {
		if (bc_redis_push(b->redis, b->tid, batch->text.data,
		                  batch->text.len) == 0) {
			b->used_redis = true;
			return 0;
		}
		to_spool(b, bc_redis_errstr(b->redis));
	}
	if (spool_ready(b) != 0)
		return -1;
	if (bc_spool_append(b->spool, b->tid, batch->text.data,
	                    batch->text.len) != 0) {
		set_err(b, "%s", bc_spool_errstr(b->spool));
		return -1;
	}
	return 0;
}

/* Whether Redis being out of reach fails this flush (see bc_buffer.h). */
static bool redis_missed(const struct bc_buffer *b, const char *tid)
{
	if (b->redis_use != BC_REDIS_ASKED || b->use_redis)
		return false;
	if (b->tid && tid && strcmp(tid, b->tid) == 0)
		return b->used_redis;
	return true;
}

enum bc_flush_result bc_buffer_flush(struct bc_buffer *b,
                                     const struct bc_buffer_flush *f,
                                     struct bc_flush_stats *st)
{
	struct bc_flush_opts o = { 0 };
	enum bc_flush_result rc;
	struct bc_store *store;
	char err[1024] = "";

	if (f->tid && !bc_tid_valid(f->tid)) {
		set_err(b, "invalid thread id '%.200s': it must match "
		        "[A-Za-z0-9_.:-]{1,128}", f->tid);
		return BC_FLUSH_BAD_THREAD;
	}
	store = b->store;
	b->store = NULL;
	if (!store && !(store = bc_store_open(b->db_url, err, sizeof err))) {
		set_err(b, "%s", err);
		return BC_FLUSH_DB;
	}
	retry_redis(b, true);
	if (spool_ready(b) != 0 && !b->use_redis) {
		rc = BC_FLUSH_SPOOL;
		goto status;
	}
	o.redis = b->use_redis ? b->redis : NULL;
	o.spool = b->spool;
	o.store = store;
	o.batch = f->batch;
	o.progress = f->progress;
	o.arg = f->arg;
	rc = f->tid ? bc_flush_thread(&o, f->tid, st, err, sizeof err)
	            : bc_flush_all(&o, st, err, sizeof err);
	if (rc == BC_FLUSH_REDIS) {
		/* Redis broke half way: still move what the spool holds. */
		to_spool(b, err);
		o.redis = NULL;
		rc = f->tid ? bc_flush_thread(&o, f->tid, st, err, sizeof err)
		            : bc_flush_all(&o, st, err, sizeof err);
		if (rc == BC_FLUSH_OK)
			rc = BC_FLUSH_REDIS;
	} else if (rc == BC_FLUSH_OK && redis_missed(b, f->tid)) {
		rc = BC_FLUSH_REDIS;
	}
	if (rc == BC_FLUSH_REDIS)
		set_err(b, "%s", b->why);
	else
		set_err(b, "%s", err);
status:
	if (f->tid && f->status &&
	    bc_store_set_run(store, f->tid, f->status, f->exit_code) != 0 &&
	    rc == BC_FLUSH_OK) {
		set_err(b, "%s", bc_store_errstr(store));
		rc = BC_FLUSH_DB;
	}
	bc_store_close(store);
	return rc;
}

int bc_buffer_prune(struct bc_buffer *b, long long older_than,
                    long long batch, struct bc_prune_stats *st)
{
	struct bc_store *store = b->store;
	char err[1024];
	int rc;

	memset(st, 0, sizeof *st);
	b->store = NULL;
	if (!store && !(store = bc_store_open(b->db_url, err, sizeof err))) {
		set_err(b, "%s", err);
		return -1;
	}
	spool_ready(b);
	rc = bc_prune(store, b->spool, older_than, batch, st, err, sizeof err);
	if (rc != 0)
		set_err(b, "%s", err);
	bc_store_close(store);
	return rc;
}
