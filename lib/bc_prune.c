/* bc_prune.c - retention (see bc_prune.h): the cutoff time, the store's
 * batched delete, and the spool's counters of the runs it removed. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bc_prune.h"

#define DEFAULT_BATCH 1000

int bc_prune_duration(const char *text, long long *seconds)
{
	const char *p = text;
	long long total = 0;
	if (!p || !*p)
		return -1;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		long long n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n > (LLONG_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		long long unit;
		switch (*p++) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -1;
		}
		if (n > (LLONG_MAX - total) / unit)
			return -1;
		total += n * unit;
	}
	*seconds = total;
	return 0;
}

struct forget {
	struct bc_spool *spool;
	struct bc_prune_stats *out;
	int failed;
	char err[512];
};

static void forget_counter(const char *tid, long long lines, void *arg)
{
	struct forget *f = arg;
	(void)lines;
	f->out->runs++;
	if (!f->spool)
		return;
	int r = bc_spool_forget(f->spool, tid);
	if (r > 0)
		f->out->counters++;
	else if (r < 0 && !f->failed) {
		f->failed = 1;
		snprintf(f->err, sizeof f->err, "%s", bc_spool_errstr(f->spool));
	}
}

int bc_prune(struct bc_store *store, struct bc_spool *spool,
             long long older_than, long long batch,
             struct bc_prune_stats *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (older_than < 0 || older_than > now.tv_sec) {
		snprintf(err, errlen, "retention of %lld s reaches before 1970",
		         older_than);
		return -1;
	}
	time_t cut = now.tv_sec - (time_t)older_than;
	struct tm tm;
	gmtime_r(&cut, &tm);
	size_t n = strftime(out->before, sizeof out->before,
	                    "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out->before + n, sizeof out->before - n, ".%06ldZ",
	         now.tv_nsec / 1000);

	struct forget f = { .spool = spool, .out = out };
	if (bc_store_prune(store, out->before, batch > 0 ? batch : DEFAULT_BATCH,
	                   &out->lines, forget_counter, &f) < 0) {
		snprintf(err, errlen, "%s", bc_store_errstr(store));
		return -1;
	}
	if (f.failed) {
		snprintf(err, errlen, "%s", f.err);
		return -1;
	}
	return 0;
}
