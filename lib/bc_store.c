/* bc_store.c - the store's front: picks the backend from the URL scheme
 * ("sqlite:" or a libpq "postgresql://"/"postgres://" URI), checks
 * arguments once, and dispatches through the private vtable of
 * bc_store_impl.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_clock.h"
#include "bc_store.h"
#include "bc_store_impl.h"
#include "bc_tid.h"

void bc_store_set_err(struct bc_store *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof st->err, fmt, ap);
	va_end(ap);
}

/* Up to QUOTE_MAX bytes of a line for a message, cut at a character. */
#define QUOTE_MAX 200

int bc_store_conflict_err(struct bc_store *st, const char *tid, long long seq,
                          const char *a, size_t na, const char *b, size_t nb)
{
	size_t ka = na > QUOTE_MAX ? bc_utf8_cut(a, na, QUOTE_MAX) : na;
	size_t kb = nb > QUOTE_MAX ? bc_utf8_cut(b, nb, QUOTE_MAX) : nb;
	bc_store_set_err(st, "seq %lld of thread %s is stored with another "
	                 "line: stored '%.*s'%s, buffered '%.*s'%s", seq, tid,
	                 (int)ka, a, ka < na ? "..." : "", (int)kb, b,
	                 kb < nb ? "..." : "");
	return BC_STORE_CONFLICT;
}

/* The backend of url and the target it is given, or NULL with err. */
static const struct bc_store_ops *backend_of(const char *url,
                                            const char **target, char *err,
                                            size_t errlen)
{
	const struct bc_store_ops *ops = NULL;
	char why[256];
	*target = url;
	if (strncmp(url, "sqlite:", 7) == 0) {
		ops = &bc_store_sqlite_ops;
		*target = url + 7;
		if (strncmp(*target, "//", 2) == 0)
			*target += 2;
	} else if (strncmp(url, "postgresql://", 13) == 0 ||
	           strncmp(url, "postgres://", 11) == 0) {
		ops = &bc_store_pg_ops;
	}
	if (!ops) {
		snprintf(err, errlen, "bad database URL '%s': expected sqlite:PATH "
		         "or postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DBNAME", url);
		return NULL;
	}
	if (!**target) {
		snprintf(err, errlen, "bad database URL '%s': no path after "
		         "sqlite:", url);
		return NULL;
	}
	if (ops->check && ops->check(*target, why, sizeof why) != 0) {
		snprintf(err, errlen, "bad database URL '%s': %s", url, why);
		return NULL;
	}
	return ops;
}

int bc_store_url_check(const char *url, char *err, size_t errlen)
{
	const char *target;
	return backend_of(url ? url : "", &target, err, errlen) ? 0 : -1;
}

static struct bc_store *open_store(const char *url, int timeout_s,
                                   enum bc_store_fail *why, char *err,
                                   size_t errlen)
{
	const char *target;
	const struct bc_store_ops *ops = backend_of(url ? url : "", &target,
	                                            err, errlen);
	enum bc_store_fail dummy;
	if (!why)
		why = &dummy;
	*why = BC_STORE_BAD_URL;
	if (!ops)
		return NULL;
	*why = BC_STORE_DOWN;
	struct bc_store *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->ops = ops;
	st->timeout_s = timeout_s > 0 ? timeout_s : 0;
	if (ops->open(st, target) != 0) {
		snprintf(err, errlen, "%s", st->err);
		if (st->denied)
			*why = BC_STORE_DENIED;
		bc_store_close(st);
		return NULL;
	}
	return st;
}

struct bc_store *bc_store_open_why(const char *url, enum bc_store_fail *why,
                                   char *err, size_t errlen)
{
	return open_store(url, 0, why, err, errlen);
}

struct bc_store *bc_store_open_timeout(const char *url, int timeout_s,
                                       char *err, size_t errlen)
{
	return open_store(url, timeout_s, NULL, err, errlen);
}

struct bc_store *bc_store_open(const char *url, char *err, size_t errlen)
{
	return bc_store_open_why(url, NULL, err, errlen);
}

void bc_store_close(struct bc_store *st)
{
	if (!st)
		return;
	if (st->impl)
		st->ops->close(st);
	free(st);
}

const char *bc_store_errstr(const struct bc_store *st)
{
	return st ? st->err : "";
}

const char *bc_store_kind(const struct bc_store *st)
{
	return st->ops->kind;
}

long long bc_store_insert(struct bc_store *st, const struct bc_record *recs,
                          size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!bc_tid_valid(recs[i].thread_id) || recs[i].seq < 0 ||
		    !recs[i].line) {
			bc_store_set_err(st, "record %zu is not valid", i);
			return -1;
		}
	}
	return st->ops->insert(st, recs, n);
}

static long long history(struct bc_store *st, const char *tid, long long after,
                         long long limit, int desc, bc_store_row_cb cb,
                         void *arg)
{
	if (!bc_tid_valid(tid)) {
		bc_store_set_err(st, "invalid thread id");
		return -1;
	}
	if (limit == 0)
		return 0;
	return st->ops->history(st, tid, after, limit, desc, cb, arg);
}

long long bc_store_history(struct bc_store *st, const char *tid,
                           long long after, long long limit,
                           bc_store_row_cb cb, void *arg)
{
	return history(st, tid, after, limit, 0, cb, arg);
}

long long bc_store_history_desc(struct bc_store *st, const char *tid,
                                long long after, long long limit,
                                bc_store_row_cb cb, void *arg)
{
	return history(st, tid, after, limit, 1, cb, arg);
}

static long long aggregate(struct bc_store *st, const char *tid,
                           const char *expr)
{
	if (!bc_tid_valid(tid)) {
		bc_store_set_err(st, "invalid thread id");
		return -1;
	}
	return st->ops->aggregate(st, tid, expr);
}

long long bc_store_count(struct bc_store *st, const char *tid)
{
	return aggregate(st, tid, "count(*)");
}

long long bc_store_max_seq(struct bc_store *st, const char *tid)
{
	return aggregate(st, tid, "coalesce(max(seq), 0)");
}

int bc_store_set_run(struct bc_store *st, const char *tid, const char *status,
                     int exit_code)
{
	if (!bc_tid_valid(tid) || !status || !*status) {
		bc_store_set_err(st, "invalid thread id or status");
		return -1;
	}
	return st->ops->set_run(st, tid, status, exit_code);
}

int bc_store_run_start(struct bc_store *st, const char *tid)
{
	if (!bc_tid_valid(tid)) {
		bc_store_set_err(st, "invalid thread id");
		return -1;
	}
	return st->ops->run_start(st, tid);
}

static const char *const run_statuses[] = {
	"running", "completed", "error", "cancelled", "paused",
};

int bc_store_run_status_bit(const char *status)
{
	for (size_t i = 0; i < sizeof run_statuses / sizeof *run_statuses; i++)
		if (strcmp(status, run_statuses[i]) == 0)
			return 1 << i;
	return 0;
}

long long bc_store_runs(struct bc_store *st, int mask, const char *before,
                        long long limit, bc_store_run_cb cb, void *arg)
{
	char in[128] = "", utc[BC_TS_LEN];
	size_t n = 0;

	/* In UTC: the instant PostgreSQL compares, the text SQLite does. */
	if (before && bc_ts_utc(before, utc) != 0) {
		bc_store_set_err(st, "invalid time '%s'", before);
		return -1;
	}
	for (size_t i = 0; i < sizeof run_statuses / sizeof *run_statuses; i++)
		if (mask & (1 << i))
			n += (size_t)snprintf(in + n, sizeof in - n, "%s'%s'",
			                      n ? "," : "", run_statuses[i]);
	if (n == 0 || limit == 0)
		return 0;
	return st->ops->runs(st, in, before ? utc : NULL, limit, cb, arg);
}

/* Runs looked at per prune_list round. */
#define PRUNE_PAGE 100

/* Sleep as long as the last batch took (at most 50 ms): a writer waiting
 * for the lock (SQLite allows one) gets in between two batches. */
static void prune_pace(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long ns = (t1.tv_sec - t0->tv_sec) * 1000000000LL +
	               (t1.tv_nsec - t0->tv_nsec);
	if (ns > 50000000LL)
		ns = 50000000LL;
	if (ns > 0) {
		struct timespec d = { 0, (long)ns };
		nanosleep(&d, NULL);
	}
}

long long bc_store_prune(struct bc_store *st, const char *before,
                         long long batch, long long *lines,
                         bc_store_prune_cb cb, void *arg)
{
	if (!before || !bc_ts_valid(before, strlen(before)) || batch < 1) {
		bc_store_set_err(st, "invalid prune time or batch");
		return -1;
	}
	struct bc_strv ids;
	bc_strv_init(&ids);
	long long runs = 0;
	for (;;) {
		bc_strv_clear(&ids);
		long long n = st->ops->prune_list(st, before, PRUNE_PAGE, &ids);
		if (n < 0)
			goto fail;
		long long gone = 0;
		for (size_t i = 0; i < ids.n; i++) {
			const char *tid = ids.v[i];
			long long del = 0, d;
			do {
				struct timespec t0;
				clock_gettime(CLOCK_MONOTONIC, &t0);
				d = st->ops->prune_lines(st, tid, before, batch);
				if (d < 0)
					goto fail;
				del += d;
				*lines += d;
				prune_pace(&t0);
			} while (d == batch);
			int r = st->ops->prune_run(st, tid, before);
			if (r < 0)
				goto fail;
			if (r > 0) {
				runs++;
				gone++;
				if (cb)
					cb(tid, del, arg);
			}
		}
		/* Nothing listed could go (all restarted meanwhile): done. */
		if (gone == 0)
			break;
	}
	bc_strv_free(&ids);
	return runs;
fail:
	bc_strv_free(&ids);
	return -1;
}
