/* bc_history.c - merged history (see bc_history.h).
 *
 * Buffered records are read whole (Redis in LRANGE chunks, the spool with
 * bc_spool_peek), their seq is taken with a quick scan for the top-level
 * "seq" key (a full JSON decode only when that fails), and only those with
 * seq > after are kept, sorted and made unique. Then the store gives its
 * first limit + 1 rows after after, and the two sorted lists are merged;
 * equal seqs keep the store's row. Only the records that go into the page
 * are decoded and re-encoded. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_history.h"
#include "bc_record.h"

#define REDIS_CHUNK 5000

struct item {
	long long seq;
	size_t idx;               /* in the raw vector */
};

void bc_history_page_init(struct bc_history_page *p)
{
	memset(p, 0, sizeof *p);
	bc_strv_init(&p->json);
}

void bc_history_page_free(struct bc_history_page *p)
{
	if (!p)
		return;
	bc_strv_free(&p->json);
	free(p->seq);
	p->seq = NULL;
	p->cap = 0;
	p->more = 0;
}

static int page_push(struct bc_history_page *p, long long seq, const char *json,
                     size_t n)
{
	if (p->json.n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		long long *s = realloc(p->seq, cap * sizeof *s);
		if (!s)
			return -1;
		p->seq = s;
		p->cap = cap;
	}
	if (bc_strv_push(&p->json, json, n) != 0)
		return -1;
	p->seq[p->json.n - 1] = seq;
	return 0;
}

/* The seq of a JSON record: the integer after the first "seq": key (inside
 * a JSON string a quote is always escaped, so the pattern only matches a
 * key), or a full decode when that finds nothing. 0, or -1 when the
 * record is not one. */
static int seq_of(const char *json, size_t n, long long *seq)
{
	const char *p = memmem(json, n, "\"seq\":", 6);
	struct bc_record r;
	char why[64];

	if (p) {
		char *end;
		p += 6;
		while (p < json + n && isspace((unsigned char)*p))
			p++;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (end != p && errno == 0 && v >= 0 &&
		    (*end == ',' || *end == '}' || isspace((unsigned char)*end))) {
			*seq = v;
			return 0;
		}
	}
	memset(&r, 0, sizeof r);
	if (bc_record_decode(json, n, &r, why, sizeof why) != 0)
		return -1;
	*seq = r.seq;
	bc_record_clear(&r);
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Every buffered record of tid (Redis, then the spool) into raw. */
static enum bc_history_fail read_buffers(const struct bc_history_src *src,
                                         const char *tid, struct bc_strv *raw,
                                         char *err, size_t errlen)
{
	if (src->redis) {
		for (size_t start = 0;; start += REDIS_CHUNK) {
			size_t before = raw->n;
			if (bc_redis_range(src->redis, tid, start, REDIS_CHUNK,
			                   raw) != 0) {
				snprintf(err, errlen, "%s", bc_redis_errstr(src->redis));
				return BC_HISTORY_REDIS;
			}
			if (raw->n - before < REDIS_CHUNK)
				break;
		}
	}
	if (src->spool && bc_spool_peek(src->spool, tid, raw, NULL) != 0) {
		snprintf(err, errlen, "%s", bc_spool_errstr(src->spool));
		return BC_HISTORY_SPOOL;
	}
	return BC_HISTORY_OK;
}

/* The buffered records with seq > after, sorted by seq, each seq once. */
static enum bc_history_fail buffered(const struct bc_history_src *src,
                                     const char *tid, long long after,
                                     struct bc_strv *raw, struct item **out,
                                     size_t *nout, char *err, size_t errlen)
{
	enum bc_history_fail f = read_buffers(src, tid, raw, err, errlen);
	struct item *it;
	size_t n = 0, k = 0;

	*out = NULL;
	*nout = 0;
	if (f != BC_HISTORY_OK || raw->n == 0)
		return f;
	it = malloc(raw->n * sizeof *it);
	if (!it) {
		snprintf(err, errlen, "out of memory");
		return BC_HISTORY_NOMEM;
	}
	for (size_t i = 0; i < raw->n; i++) {
		long long seq;
		if (seq_of(raw->v[i], raw->len[i], &seq) == 0 && seq > after)
			it[n++] = (struct item){ seq, i };
	}
	if (n > 1)
		qsort(it, n, sizeof *it, cmp_item);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || it[k - 1].seq != it[i].seq)
			it[k++] = it[i];
	*out = it;
	*nout = k;
	return BC_HISTORY_OK;
}

struct db_rows {
	struct bc_history_page rows;
	struct bc_buf enc;
	int oom;
};

static int db_row(const struct bc_record *r, void *arg)
{
	struct db_rows *d = arg;

	bc_buf_reset(&d->enc);
	if (bc_record_encode(r, &d->enc) != 0 ||
	    page_push(&d->rows, r->seq, d->enc.data, d->enc.len) != 0) {
		d->oom = 1;
		return 1;
	}
	return 0;
}

/* Append a buffered record re-encoded; an undecodable one is skipped. */
static int push_buffered(struct bc_history_page *p, const char *json,
                         size_t n, struct bc_buf *enc)
{
	struct bc_record r;
	char why[64];
	int rc;

	memset(&r, 0, sizeof r);
	if (bc_record_decode(json, n, &r, why, sizeof why) != 0)
		return 0;
	bc_buf_reset(enc);
	rc = bc_record_encode(&r, enc) != 0 ||
	     page_push(p, r.seq, enc->data, enc->len) != 0 ? -1 : 0;
	bc_record_clear(&r);
	return rc;
}

enum bc_history_fail bc_history_read(const struct bc_history_src *src,
                                     const char *tid, long long after,
                                     size_t limit, struct bc_history_page *p,
                                     char *err, size_t errlen)
{
	struct bc_strv raw;
	struct item *it = NULL;
	size_t nit = 0, i = 0, j = 0;
	struct db_rows d;
	enum bc_history_fail f;

	bc_history_page_free(p);
	bc_history_page_init(p);
	bc_strv_init(&raw);
	memset(&d, 0, sizeof d);
	bc_history_page_init(&d.rows);
	bc_buf_init(&d.enc, 0);
	if (limit == 0)
		limit = 1;
	f = buffered(src, tid, after, &raw, &it, &nit, err, errlen);
	if (f != BC_HISTORY_OK)
		goto out;
	if (bc_store_history(src->store, tid, after, (long long)limit + 1,
	                     db_row, &d) < 0 && !d.oom) {
		snprintf(err, errlen, "%s", bc_store_errstr(src->store));
		f = BC_HISTORY_DB;
		goto out;
	}
	if (d.oom)
		goto oom;
	while (p->json.n < limit && (i < d.rows.json.n || j < nit)) {
		if (j == nit || (i < d.rows.json.n && d.rows.seq[i] <= it[j].seq)) {
			if (j < nit && d.rows.seq[i] == it[j].seq)
				j++;
			if (page_push(p, d.rows.seq[i], d.rows.json.v[i],
			              d.rows.json.len[i]) != 0)
				goto oom;
			i++;
		} else {
			if (push_buffered(p, raw.v[it[j].idx], raw.len[it[j].idx],
			                  &d.enc) != 0)
				goto oom;
			j++;
		}
	}
	p->more = i < d.rows.json.n || j < nit;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
	f = BC_HISTORY_NOMEM;
out:
	free(it);
	bc_strv_free(&raw);
	bc_history_page_free(&d.rows);
	bc_buf_free(&d.enc);
	return f;
}

struct seqs {
	long long *v;
	size_t n, cap;
	int oom;
};

static int seqs_push(struct seqs *s, long long seq)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		long long *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = seq;
	return 0;
}

static int db_seq(const struct bc_record *r, void *arg)
{
	struct seqs *s = arg;

	s->oom = seqs_push(s, r->seq) != 0;
	return s->oom;
}

static int cmp_desc(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

enum bc_history_fail bc_history_tail_after(const struct bc_history_src *src,
                                           const char *tid, size_t n,
                                           long long *after, char *err,
                                           size_t errlen)
{
	struct bc_strv raw;
	struct item *it = NULL;
	size_t nit = 0, k = 0;
	struct seqs s = { 0 };
	enum bc_history_fail f;
	long long got;

	*after = -1;
	bc_strv_init(&raw);
	f = buffered(src, tid, -1, &raw, &it, &nit, err, errlen);
	if (f != BC_HISTORY_OK)
		goto out;
	for (size_t i = 0; i < nit; i++)
		if (seqs_push(&s, it[i].seq) != 0)
			goto oom;
	got = bc_store_history_desc(src->store, tid, -1, (long long)n, db_seq, &s);
	if (s.oom)
		goto oom;
	if (got < 0) {
		snprintf(err, errlen, "%s", bc_store_errstr(src->store));
		f = BC_HISTORY_DB;
		goto out;
	}
	if (s.n > 1)
		qsort(s.v, s.n, sizeof *s.v, cmp_desc);
	for (size_t i = 0; i < s.n; i++) {
		if (i > 0 && s.v[i] == s.v[i - 1])
			continue;
		if (++k == n) {
			*after = s.v[i] - 1;
			break;
		}
	}
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
	f = BC_HISTORY_NOMEM;
out:
	free(it);
	free(s.v);
	bc_strv_free(&raw);
	return f;
}
