/* test_spool.c - the spool journal: appends and reads, a torn tail, lines
 * that are not records, claims racing with appenders and with each other,
 * and seq counters shared by two processes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bc_buf.h"
#include "bc_spool.h"
#include "unit.h"

static char dir[256];

static void rec(char *buf, size_t n, const char *tid, long long seq)
{
	snprintf(buf, n,
	         "{\"thread_id\":\"%s\",\"seq\":%lld,\"ts\":\"2026-11-25T19:08:10.000001Z\","
	         "\"stream\":\"stdout\",\"line\":\"line %lld\"}", tid, seq, seq);
}

static int append_range(struct bc_spool *s, const char *tid, long long from,
                        long long to)
{
	struct bc_buf text;
	char buf[256];
	bc_buf_init(&text, 0);
	for (long long i = from; i <= to; i++) {
		rec(buf, sizeof buf, tid, i);
		bc_buf_printf(&text, "%s\n", buf);
	}
	int rc = bc_spool_append(s, tid, text.data, text.len);
	bc_buf_free(&text);
	return rc;
}

/* Claim, read and remove everything of tid; marks seen[seq]. Returns the
 * number of records read, or -1. */
static long drain(struct bc_spool *s, const char *tid, unsigned char *seen,
                  long max)
{
	struct bc_strv paths, sv;
	long n = 0;
	bc_strv_init(&paths);
	bc_strv_init(&sv);
	if (bc_spool_claim(s, tid, &paths) != 0)
		n = -1;
	for (size_t i = 0; n >= 0 && i < paths.n; i++) {
		bc_strv_clear(&sv);
		if (bc_spool_read(s, paths.v[i], &sv, NULL) != 0) {
			n = -1;
			break;
		}
		for (size_t k = 0; k < sv.n; k++) {
			const char *p = strstr(sv.v[k], "\"seq\":");
			long q = p ? strtol(p + 6, NULL, 10) : -1;
			if (q >= 0 && q < max && seen)
				seen[q] = 1;
		}
		n += (long)sv.n;
		bc_spool_remove(s, paths.v[i]);
	}
	bc_strv_free(&paths);
	bc_strv_free(&sv);
	return n;
}

static void test_basic_and_torn(void)
{
	char err[256], path[512];
	struct bc_spool *s = bc_spool_open(dir, BC_FSYNC_BATCH, err, sizeof err);
	CHECK(s != NULL);
	CHECK(append_range(s, "t1", 1, 2) == 0);
	/* A writer died mid-record: the journal ends without '\n'. */
	snprintf(path, sizeof path, "%s/t1.journal", dir);
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK(write(fd, "{\"thread_id\":\"t1\",\"se", 21) == 21);
	close(fd);
	CHECK(append_range(s, "t1", 3, 3) == 0);

	struct bc_strv tids, paths, sv;
	bc_strv_init(&tids);
	bc_strv_init(&paths);
	bc_strv_init(&sv);
	CHECK(bc_spool_threads(s, &tids) == 0);
	CHECK(tids.n == 1 && strcmp(tids.v[0], "t1") == 0);
	CHECK(bc_spool_claim(s, "t1", &paths) == 0);
	CHECK(paths.n == 1);
	size_t skipped = 0;
	CHECK(bc_spool_read(s, paths.v[0], &sv, &skipped) == 0);
	CHECK(sv.n == 3);
	CHECK(skipped == 1);
	CHECK(sv.n == 3 && strstr(sv.v[2], "\"seq\":3") != NULL);
	/* The claimed journal is still listed until it is removed. */
	bc_strv_clear(&tids);
	CHECK(bc_spool_threads(s, &tids) == 0 && tids.n == 1);
	CHECK(bc_spool_remove(s, paths.v[0]) == 0);
	CHECK(bc_spool_remove(s, paths.v[0]) == 0);
	bc_strv_clear(&tids);
	CHECK(bc_spool_threads(s, &tids) == 0 && tids.n == 0);

	/* A final line without '\n' (and lines that are not records) are
	 * skipped and counted; the records before them are kept. */
	snprintf(path, sizeof path, "%s/t2.journal.flushing.1.1", dir);
	FILE *f = fopen(path, "w");
	char r1[256];
	rec(r1, sizeof r1, "t2", 7);
	fprintf(f, "%s\nnot json\n\n{\"thread_id\":\"bad id\",\"seq\":1,\"line\":\"x\"}\n%s\n%s",
	        r1, r1, r1);
	fclose(f);
	bc_strv_clear(&paths);
	bc_strv_clear(&sv);
	CHECK(bc_spool_claim(s, "t2", &paths) == 0);
	CHECK(paths.n == 1);
	skipped = 0;
	CHECK(paths.n == 1 && bc_spool_read(s, paths.v[0], &sv, &skipped) == 0);
	CHECK(sv.n == 2);
	CHECK(skipped == 3);
	CHECK(bc_spool_read(s, "/nonexistent/x.journal", &sv, NULL) == 0);
	CHECK(drain(s, "t2", NULL, 0) == 2);

	/* Thread ids that look like journal names stay apart. */
	CHECK(append_range(s, "a", 1, 2) == 0);
	CHECK(append_range(s, "a.journal", 1, 3) == 0);
	CHECK(append_range(s, "a.journal.flushing.1", 1, 4) == 0);
	bc_strv_clear(&tids);
	CHECK(bc_spool_threads(s, &tids) == 0);
	CHECK(tids.n == 3);
	CHECK(drain(s, "a", NULL, 0) == 2);
	bc_strv_clear(&tids);
	CHECK(bc_spool_threads(s, &tids) == 0 && tids.n == 2);
	CHECK(drain(s, "a.journal.flushing.1", NULL, 0) == 4);
	CHECK(drain(s, "a.journal", NULL, 0) == 3);

	/* Bad thread ids never reach a file name. */
	CHECK(append_range(s, "../x", 1, 1) == -1);
	CHECK(append_range(s, "..", 1, 1) == -1);
	long long first;
	CHECK(bc_spool_reserve_seq(s, "a/b", 1, 0, &first) == -1);

	bc_strv_free(&tids);
	bc_strv_free(&paths);
	bc_strv_free(&sv);
	bc_spool_free(s);
	bc_spool_free(NULL);
}

static void test_seq(void)
{
	char err[256];
	struct bc_spool *s = bc_spool_open(dir, BC_FSYNC_NONE, err, sizeof err);
	long long first = 0;
	CHECK(bc_spool_reserve_seq(s, "seq1", 10, 0, &first) == 0 && first == 1);
	CHECK(bc_spool_reserve_seq(s, "seq1", 1, 0, &first) == 0 && first == 11);
	CHECK(bc_spool_reserve_seq(s, "seq1", 5, 100, &first) == 0 && first == 101);
	CHECK(bc_spool_reserve_seq(s, "seq1", 1, 50, &first) == 0 && first == 106);

	/* Two processes reserving at once never get the same number. */
	enum { PER = 2000, N = 3 };
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			close(fds[0]);
			struct bc_spool *c = bc_spool_open(dir, BC_FSYNC_NONE, err,
			                                   sizeof err);
			for (int i = 0; i < PER; i++) {
				long long f;
				if (bc_spool_reserve_seq(c, "seq2", N, 0, &f) != 0)
					f = -1;
				if (write(fds[1], &f, sizeof f) != sizeof f)
					_exit(1);
			}
			bc_spool_free(c);
			_exit(0);
		}
	}
	close(fds[1]);
	unsigned char *used = calloc(2 * PER * N + 2, 1);
	long long f;
	int got = 0, dup = 0, bad = 0;
	while (read(fds[0], &f, sizeof f) == sizeof f) {
		got++;
		if (f < 1 || f + N - 1 > 2 * PER * N) {
			bad++;
			continue;
		}
		for (int i = 0; i < N; i++)
			dup += used[f + i]++ != 0;
	}
	close(fds[0]);
	for (int k = 0; k < 2; k++) {
		int st;
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) &&
		      WEXITSTATUS(st) == 0);
	}
	CHECK(got == 2 * PER);
	CHECK(dup == 0);
	CHECK(bad == 0);
	free(used);
	bc_spool_free(s);
}

/* Appenders and two claimers race; every record must be read at least once
 * by someone (duplicates are allowed: flushing is idempotent). */
static void test_race(void)
{
	enum { WRITERS = 3, PER = 3000, CHUNK = 7 };
	char err[256];
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t kids[WRITERS + 1];
	for (int w = 0; w < WRITERS; w++) {
		kids[w] = fork();
		if (kids[w] == 0) {
			close(fds[0]);
			close(fds[1]);
			struct bc_spool *c = bc_spool_open(dir, BC_FSYNC_NONE, err,
			                                   sizeof err);
			for (long long i = 0; i < PER; i += CHUNK) {
				long long from = w * PER + i;
				long long to = from + CHUNK - 1;
				if (to >= (w + 1) * PER)
					to = (w + 1) * PER - 1;
				if (append_range(c, "race", from, to) != 0)
					_exit(1);
			}
			bc_spool_free(c);
			_exit(0);
		}
	}
	/* A second claimer in its own process reports what it read. */
	kids[WRITERS] = fork();
	if (kids[WRITERS] == 0) {
		close(fds[0]);
		struct bc_spool *c = bc_spool_open(dir, BC_FSYNC_NONE, err, sizeof err);
		unsigned char *seen = calloc(WRITERS * PER, 1);
		for (int i = 0; i < 300; i++) {
			if (drain(c, "race", seen, WRITERS * PER) < 0)
				_exit(1);
			usleep(1000);
		}
		if (write(fds[1], seen, WRITERS * PER) != WRITERS * PER)
			_exit(1);
		free(seen);
		bc_spool_free(c);
		_exit(0);
	}
	close(fds[1]);
	struct bc_spool *s = bc_spool_open(dir, BC_FSYNC_NONE, err, sizeof err);
	unsigned char *seen = calloc(WRITERS * PER, 1);
	unsigned char *other = calloc(WRITERS * PER, 1);
	int failed = 0;
	for (int i = 0; i < 300; i++) {
		failed += drain(s, "race", seen, WRITERS * PER) < 0;
		usleep(1000);
	}
	size_t off = 0;
	ssize_t r;
	while (off < WRITERS * PER &&
	       (r = read(fds[0], other + off, WRITERS * PER - off)) > 0)
		off += (size_t)r;
	close(fds[0]);
	for (int k = 0; k <= WRITERS; k++) {
		int st;
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) &&
		      WEXITSTATUS(st) == 0);
	}
	failed += drain(s, "race", seen, WRITERS * PER) < 0;
	CHECK(failed == 0);
	CHECK(off == WRITERS * PER);
	int missing = 0;
	for (int i = 0; i < WRITERS * PER; i++)
		missing += !seen[i] && !other[i];
	CHECK(missing == 0);
	if (missing)
		fprintf(stderr, "race: %d records lost\n", missing);
	struct bc_strv tids;
	bc_strv_init(&tids);
	CHECK(bc_spool_threads(s, &tids) == 0 && tids.n == 0);
	bc_strv_free(&tids);
	free(seen);
	free(other);
	bc_spool_free(s);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/bcast-unit-spool.%ld/a/b", (long)getpid());
	RUN(test_basic_and_torn());
	RUN(test_seq());
	RUN(test_race());
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf /tmp/bcast-unit-spool.%ld", (long)getpid());
	if (system(cmd) != 0)
		fprintf(stderr, "cannot clean up %s\n", dir);
	UNIT_DONE("spool");
}
