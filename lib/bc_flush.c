/* bc_flush.c - moving buffered records into the store, exactly once.
 *
 * Redis: peek a batch at the head of logs:queue:{tid}, decode it, insert it
 * in one transaction, and only after the commit trim it with the
 * compare-and-trim script. If the trim finds another head, another flusher
 * committed and removed that batch first: nothing is removed and the loop
 * reads the head again. Emitters only append at the tail, so the head
 * never moves under us otherwise.
 *
 * Spool: claim the thread's journals (rename), read each, insert it in
 * batches, and unlink it only after every batch of it committed. A crash
 * leaves the claimed file, which the next flush picks up again.
 *
 * Either way a crash between commit and removal leaves records that are
 * already stored; the next flush skips them on (thread_id, seq), so a
 * rerun doubles nothing. A record whose (thread_id, seq) is stored with
 * another line is a conflict: its batch is not committed and stays
 * buffered, the thread stops there, and --all goes on with the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_flush.h"
#include "bc_record.h"
#include "bc_tid.h"

#define BATCH_DEFAULT 5000

/* The records of one transaction, decoded. */
struct decoded {
	struct bc_record *recs;
	size_t n;
	size_t cap;
};

static void decoded_clear(struct decoded *b)
{
	for (size_t i = 0; i < b->n; i++)
		bc_record_clear(&b->recs[i]);
	b->n = 0;
}

static void decoded_free(struct decoded *b)
{
	decoded_clear(b);
	free(b->recs);
	b->recs = NULL;
	b->cap = 0;
}

/* Decode the k strings at v into b, counting the ones that fail in
 * st->invalid (their last reason goes to err). 0, or -1 on out-of-memory. */
static int decode_into(struct decoded *b, char *const *v, const size_t *len,
                       size_t k, struct bc_flush_stats *st, char *err,
                       size_t errlen)
{
	decoded_clear(b);
	if (k > b->cap) {
		struct bc_record *r = realloc(b->recs, k * sizeof *r);
		if (!r)
			return -1;
		b->recs = r;
		b->cap = k;
	}
	for (size_t i = 0; i < k; i++) {
		struct bc_record *r = &b->recs[b->n];
		memset(r, 0, sizeof *r);
		char why[200];
		if (bc_record_decode(v[i], len[i], r, why, sizeof why) != 0) {
			st->invalid++;
			snprintf(err, errlen, "skipped an invalid record: %s", why);
			continue;
		}
		b->n++;
	}
	return 0;
}

/* Insert b and account for it. BC_FLUSH_OK, BC_FLUSH_DB or
 * BC_FLUSH_CONFLICT (the store's reason in err; nothing committed). */
static enum bc_flush_result store_batch(const struct bc_flush_opts *o,
                                        struct decoded *b, size_t read,
                                        struct bc_flush_stats *st, char *err,
                                        size_t errlen)
{
	long long added = bc_store_insert(o->store, b->recs, b->n);
	if (added < 0) {
		snprintf(err, errlen, "%s", bc_store_errstr(o->store));
		return added == BC_STORE_CONFLICT ? BC_FLUSH_CONFLICT : BC_FLUSH_DB;
	}
	st->read += (long long)read;
	st->inserted += added;
	st->duplicates += (long long)b->n - added;
	return BC_FLUSH_OK;
}

static enum bc_flush_result flush_redis(const struct bc_flush_opts *o,
                                      const char *tid, size_t batch,
                                      struct bc_flush_stats *st, char *err,
                                      size_t errlen)
{
	struct bc_strv sv;
	struct decoded b = { 0 };
	enum bc_flush_result rc = BC_FLUSH_OK;
	bc_strv_init(&sv);
	for (;;) {
		bc_strv_clear(&sv);
		sv.n = 0;
		if (bc_redis_peek(o->redis, tid, batch, &sv) != 0) {
			snprintf(err, errlen, "%s", bc_redis_errstr(o->redis));
			rc = BC_FLUSH_REDIS;
			break;
		}
		if (sv.n == 0)
			break;
		/* Records that do not decode are counted as invalid and are
		 * trimmed with the rest once the batch commits: they cannot
		 * ever be stored, and keeping them would block the queue. */
		if (decode_into(&b, sv.v, sv.len, sv.n, st, err, errlen) != 0) {
			snprintf(err, errlen, "out of memory");
			rc = BC_FLUSH_DB;
			break;
		}
		if ((rc = store_batch(o, &b, sv.n, st, err, errlen)) != BC_FLUSH_OK)
			break;
		int t = bc_redis_trim(o->redis, tid, sv.v[0], sv.len[0], sv.n);
		if (t < 0) {
			snprintf(err, errlen, "%s", bc_redis_errstr(o->redis));
			rc = BC_FLUSH_REDIS;
			break;
		}
		if (o->progress)
			o->progress(tid, st, o->arg);
	}
	bc_strv_free(&sv);
	decoded_free(&b);
	return rc;
}

static enum bc_flush_result flush_spool(const struct bc_flush_opts *o,
                                      const char *tid, size_t batch,
                                      struct bc_flush_stats *st, char *err,
                                      size_t errlen)
{
	struct bc_strv paths, sv;
	struct decoded b = { 0 };
	enum bc_flush_result rc = BC_FLUSH_OK;
	bc_strv_init(&paths);
	bc_strv_init(&sv);
	if (bc_spool_claim(o->spool, tid, &paths) != 0) {
		snprintf(err, errlen, "%s", bc_spool_errstr(o->spool));
		rc = BC_FLUSH_SPOOL;
		goto out;
	}
	for (size_t f = 0; f < paths.n && rc == BC_FLUSH_OK; f++) {
		size_t skipped = 0;
		bc_strv_clear(&sv);
		sv.n = 0;
		if (bc_spool_read(o->spool, paths.v[f], &sv, &skipped) != 0) {
			snprintf(err, errlen, "%s", bc_spool_errstr(o->spool));
			rc = BC_FLUSH_SPOOL;
			break;
		}
		if (skipped > 0) {
			st->invalid += (long long)skipped;
			snprintf(err, errlen, "skipped %zu torn or invalid lines in %s",
			         skipped, paths.v[f]);
		}
		for (size_t i = 0; i < sv.n; i += batch) {
			size_t k = sv.n - i < batch ? sv.n - i : batch;
			if (decode_into(&b, sv.v + i, sv.len + i, k, st, err,
			                errlen) != 0) {
				snprintf(err, errlen, "out of memory");
				rc = BC_FLUSH_DB;
				break;
			}
			if ((rc = store_batch(o, &b, k, st, err, errlen)) !=
			    BC_FLUSH_OK)
				break;
			if (o->progress)
				o->progress(tid, st, o->arg);
		}
		if (rc == BC_FLUSH_OK && bc_spool_remove(o->spool, paths.v[f]) != 0) {
			snprintf(err, errlen, "%s", bc_spool_errstr(o->spool));
			rc = BC_FLUSH_SPOOL;
		}
	}
out:
	bc_strv_free(&paths);
	bc_strv_free(&sv);
	decoded_free(&b);
	return rc;
}

enum bc_flush_result bc_flush_thread(const struct bc_flush_opts *o,
                                   const char *tid, struct bc_flush_stats *st,
                                   char *err, size_t errlen)
{
	size_t batch = o->batch ? o->batch : BATCH_DEFAULT;
	if (!bc_tid_valid(tid)) {
		snprintf(err, errlen, "invalid thread id '%.200s': it must match "
		         "[A-Za-z0-9_.:-]{1,128}", tid);
		return BC_FLUSH_BAD_THREAD;
	}
	st->threads++;
	enum bc_flush_result rc = BC_FLUSH_OK;
	if (o->redis)
		rc = flush_redis(o, tid, batch, st, err, errlen);
	if (rc == BC_FLUSH_OK && o->spool)
		rc = flush_spool(o, tid, batch, st, err, errlen);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum bc_flush_result bc_flush_all(const struct bc_flush_opts *o,
                                struct bc_flush_stats *st, char *err,
                                size_t errlen)
{
	struct bc_strv tids;
	enum bc_flush_result rc = BC_FLUSH_OK;
	bc_strv_init(&tids);
	if (o->redis && bc_redis_threads(o->redis, &tids) != 0) {
		snprintf(err, errlen, "%s", bc_redis_errstr(o->redis));
		rc = BC_FLUSH_REDIS;
		goto out;
	}
	if (o->spool && bc_spool_threads(o->spool, &tids) != 0) {
		snprintf(err, errlen, "%s", bc_spool_errstr(o->spool));
		rc = BC_FLUSH_SPOOL;
		goto out;
	}
	/* Only the strings are sorted; len[] is not used below. With no
	 * thread at all tids.v is NULL, which qsort must not be given. */
	if (tids.n > 1)
		qsort(tids.v, tids.n, sizeof *tids.v, cmp_str);
	for (size_t i = 0; i < tids.n; i++)
		if (i == 0 || strcmp(tids.v[i], tids.v[i - 1]) != 0)
			st->threads_total++;
	/* A conflict stops only its own thread: the others still move, and
	 * the first conflict is what is reported. */
	char first[1024] = "";
	for (size_t i = 0; i < tids.n && (rc == BC_FLUSH_OK ||
	                                  rc == BC_FLUSH_CONFLICT); i++) {
		if (i > 0 && strcmp(tids.v[i], tids.v[i - 1]) == 0)
			continue;
		enum bc_flush_result r = bc_flush_thread(o, tids.v[i], st, err,
		                                         errlen);
		if (r == BC_FLUSH_CONFLICT && !first[0])
			snprintf(first, sizeof first, "%s", err);
		if (r != BC_FLUSH_OK)
			rc = r;
	}
	if (rc == BC_FLUSH_CONFLICT)
		snprintf(err, errlen, "%s", first);
out:
	bc_strv_free(&tids);
	return rc;
}
