/* bc_spool.c - the local spool: one append-only NDJSON journal per thread.
 *
 * Appenders and flushers meet on flock(2) of the live journal
 * {tid}.journal. An appender opens it with O_APPEND, takes the lock, and
 * then checks that the file it locked is still the one at the path (fstat
 * against stat): a flusher may have renamed it away while the appender
 * waited, and writing to the renamed file after the flusher read it would
 * lose the lines. A flusher claims the journal by renaming it to
 * {tid}.journal.flushing.PID.N while holding the same lock, so every
 * append lands either wholly before the rename or in a fresh journal.
 *
 * An append is one write() of whole lines. If a previous writer died
 * mid-write the file ends without '\n'; the next appender writes '\n'
 * first so the torn line stays a single (skipped) line. Readers skip a
 * final line without '\n' and lines that are not valid records.
 *
 * Sequence numbers come from {tid}.seq, decimal text holding the last seq
 * handed out, read and rewritten (pwrite + ftruncate) under flock. Like a
 * journal, the counter is checked to still be the file at its path once
 * locked: retention (bc_spool_forget) unlinks it under the lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_buf.h"
#include "bc_config.h"
#include "bc_record.h"
#include "bc_spool.h"
#include "bc_tid.h"

#define READ_LINE_MAX (8u << 20)  /* longest journal line kept */
#define REOPEN_TRIES 100
#define TAIL_BYTES 65536        /* journal tail read for its highest seq */

struct bc_spool {
	char *dir;
	enum bc_fsync mode;
	unsigned long counter;
	char err[512];
};

static void set_err(struct bc_spool *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct bc_spool *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
}

struct bc_spool *bc_spool_open(const char *dir, enum bc_fsync mode, char *err,
                               size_t errlen)
{
	if (!dir || !*dir) {
		snprintf(err, errlen, "no spool directory");
		return NULL;
	}
	if (bc_mkdir_p(dir) != 0) {
		snprintf(err, errlen, "cannot create spool directory %s: %s", dir,
		         strerror(errno));
		return NULL;
	}
	struct bc_spool *s = calloc(1, sizeof *s);
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->mode = mode;
	return s;
}

void bc_spool_free(struct bc_spool *s)
{
	if (!s)
		return;
	free(s->dir);
	free(s);
}

const char *bc_spool_errstr(const struct bc_spool *s)
{
	return s ? s->err : "";
}

const char *bc_spool_dir(const struct bc_spool *s)
{
	return s->dir;
}

static int path_of(struct bc_spool *s, char *out, size_t n, const char *tid,
                   const char *suffix)
{
	if (!bc_tid_valid(tid)) {
		set_err(s, "invalid thread id");
		return -1;
	}
	if ((size_t)snprintf(out, n, "%s/%s%s", s->dir, tid, suffix) >= n) {
		set_err(s, "spool path too long");
		return -1;
	}
	return 0;
}

static int lock_fd(int fd)
{
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int open_locked(struct bc_spool *s, const char *path, int flags,
                       int *absent);

int bc_spool_seq_lock(struct bc_spool *s, const char *tid, long long *last)
{
	char path[4096];
	if (path_of(s, path, sizeof path, tid, ".seq") != 0)
		return -1;
	int absent;
	int fd = open_locked(s, path, O_RDWR | O_CREAT, &absent);
	if (fd < 0)
		return -1;
	char text[32];
	ssize_t got = pread(fd, text, sizeof text - 1, 0);
	if (got < 0) {
		set_err(s, "cannot read %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	text[got] = '\0';
	char *end;
	errno = 0;
	*last = got > 0 ? strtoll(text, &end, 10) : 0;
	if (got > 0 && (errno != 0 || end == text || *last < 0)) {
		set_err(s, "corrupt seq counter %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

int bc_spool_seq_unlock(struct bc_spool *s, int fd, long long last)
{
	int rc = 0;
	if (last >= 0) {
		char text[32];
		int len = snprintf(text, sizeof text, "%lld\n", last);
		if (pwrite(fd, text, (size_t)len, 0) != len ||
		    ftruncate(fd, len) != 0 ||
		    (s->mode == BC_FSYNC_BATCH && fdatasync(fd) != 0)) {
			set_err(s, "cannot write the seq counter in %s: %s",
			        s->dir, strerror(errno));
			rc = -1;
		}
	}
	close(fd);
	return rc;
}

int bc_spool_reserve_seq(struct bc_spool *s, const char *tid, long long n,
                         long long floor, long long *first)
{
	long long last;
	if (n < 1) {
		set_err(s, "bad seq reservation");
		return -1;
	}
	int fd = bc_spool_seq_lock(s, tid, &last);
	if (fd < 0)
		return -1;
	if (last < floor)
		last = floor;
	if (bc_spool_seq_unlock(s, fd, last + n) != 0)
		return -1;
	*first = last + 1;
	return 0;
}

/* Open and lock the journal at path, making sure the locked file is still
 * the one at path. Returns the fd, or -1 (with *absent set when the file
 * does not exist and flags has no O_CREAT). */
static int open_locked(struct bc_spool *s, const char *path, int flags,
                       int *absent)
{
	*absent = 0;
	for (int i = 0; i < REOPEN_TRIES; i++) {
		int fd = open(path, flags | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == ENOENT && !(flags & O_CREAT))
				*absent = 1;
			else
				set_err(s, "cannot open %s: %s", path,
				        strerror(errno));
			return -1;
		}
		struct stat a, b;
		if (lock_fd(fd) != 0 || fstat(fd, &a) != 0) {
			set_err(s, "cannot lock %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	set_err(s, "%s keeps being replaced", path);
	return -1;
}

int bc_spool_append(struct bc_spool *s, const char *tid, const char *ndjson,
                    size_t len)
{
	char path[4096];
	if (path_of(s, path, sizeof path, tid, ".journal") != 0)
		return -1;
	if (len == 0)
		return 0;
	if (ndjson[len - 1] != '\n') {
		set_err(s, "records must end with a newline");
		return -1;
	}
	int absent, rc = -1;
	int fd = open_locked(s, path, O_RDWR | O_CREAT | O_APPEND, &absent);
	if (fd < 0)
		return -1;
	struct stat st;
	char last = '\n';
	if (fstat(fd, &st) != 0 ||
	    (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)) {
		set_err(s, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if ((last != '\n' && write_all(fd, "\n", 1) != 0) ||
	    write_all(fd, ndjson, len) != 0 ||
	    (s->mode == BC_FSYNC_BATCH && fdatasync(fd) != 0)) {
		set_err(s, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* True if s is "PID.N" (both decimal), the tail of a claimed journal. */
static int claim_tail(const char *s)
{
	size_t a = strspn(s, "0123456789");
	if (a == 0 || s[a] != '.')
		return 0;
	size_t b = strspn(s + a + 1, "0123456789");
	return b > 0 && s[a + 1 + b] == '\0';
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The thread id of a journal file name ({tid}.journal or
 * {tid}.journal.flushing.PID.N), or 0 when name is not one. *len receives
 * the id's length. */
static int journal_tid(const char *name, size_t *len)
{
	static const char live[] = ".journal", claimed[] = ".journal.flushing.";
	size_t n = strlen(name);
	if (n > sizeof live - 1 && strcmp(name + n - (sizeof live - 1), live) == 0) {
		*len = n - (sizeof live - 1);
		return bc_tid_valid_n(name, *len);
	}
	const char *last = NULL;
	for (const char *p = name; (p = strstr(p, claimed)); p++)
		last = p;
	if (!last || last == name || !claim_tail(last + sizeof claimed - 1))
		return 0;
	*len = (size_t)(last - name);
	return bc_tid_valid_n(name, *len);
}

int bc_spool_threads(struct bc_spool *s, struct bc_strv *out)
{
	DIR *d = opendir(s->dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		set_err(s, "cannot read %s: %s", s->dir, strerror(errno));
		return -1;
	}
	size_t first = out->n;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		size_t len;
		if (!journal_tid(e->d_name, &len))
			continue;
		int seen = 0;
		for (size_t i = first; i < out->n && !seen; i++)
			seen = out->len[i] == len &&
			       memcmp(out->v[i], e->d_name, len) == 0;
		if (!seen && bc_strv_push(out, e->d_name, len) != 0) {
			set_err(s, "out of memory");
			rc = -1;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Append to out the paths of tid's claimed journals, oldest claim first
 * (by name). 0 or -1. */
static int claimed_paths(struct bc_spool *s, const char *tid,
                         struct bc_strv *out)
{
	char claimed[4200], prefix[BC_TID_MAX + 32];
	DIR *d = opendir(s->dir);
	if (!d) {
		set_err(s, "cannot read %s: %s", s->dir, strerror(errno));
		return -1;
	}
	snprintf(prefix, sizeof prefix, "%s.journal.flushing.", tid);
	size_t plen = strlen(prefix), first = out->n;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, plen) != 0 ||
		    !claim_tail(e->d_name + plen))
			continue;
		snprintf(claimed, sizeof claimed, "%s/%s", s->dir, e->d_name);
		if (bc_strv_push(out, claimed, strlen(claimed)) != 0) {
			set_err(s, "out of memory");
			rc = -1;
			break;
		}
	}
	closedir(d);
	if (rc == 0 && out->n - first > 1)
		qsort(out->v + first, out->n - first, sizeof *out->v, cmp_path);
	return rc;
}

int bc_spool_claim(struct bc_spool *s, const char *tid, struct bc_strv *out)
{
	char path[4096], claimed[4200];
	if (path_of(s, path, sizeof path, tid, ".journal") != 0)
		return -1;
	int absent;
	int fd = open_locked(s, path, O_RDONLY, &absent);
	if (fd < 0 && !absent)
		return -1;
	if (fd >= 0) {
		snprintf(claimed, sizeof claimed, "%s.flushing.%ld.%lu", path,
		         (long)getpid(), s->counter++);
		int r = rename(path, claimed);
		int saved = errno;
		close(fd);
		if (r != 0) {
			set_err(s, "cannot rename %s: %s", path, strerror(saved));
			return -1;
		}
	}

	return claimed_paths(s, tid, out);
}

/* Keep one complete line if it is a valid record. */
static int take_line(struct bc_spool *s, const char *p, size_t n,
                     struct bc_strv *out, size_t *skipped)
{
	if (n == 0)
		return 0;
	struct bc_record r = { 0 };
	char why[128];
	if (bc_record_decode(p, n, &r, why, sizeof why) != 0) {
		(*skipped)++;
		return 0;
	}
	bc_record_clear(&r);
	if (bc_strv_push(out, p, n) != 0) {
		set_err(s, "out of memory");
		return -1;
	}
	return 0;
}

/* Read the complete records of the open journal fd (named path) into out
 * and close fd. */
static int read_fd(struct bc_spool *s, int fd, const char *path,
                   struct bc_strv *out, size_t *skipped)
{
	struct bc_buf line;
	bc_buf_init(&line, READ_LINE_MAX);
	char chunk[65536];
	int rc = 0, too_long = 0;
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof chunk);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			set_err(s, "cannot read %s: %s", path, strerror(errno));
			rc = -1;
			break;
		}
		if (got == 0)
			break;
		const char *p = chunk, *end = chunk + got;
		while (p < end && rc == 0) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = (size_t)((nl ? nl : end) - p);
			if (!too_long && bc_buf_append(&line, p, n) != 0) {
				too_long = 1;
				bc_buf_reset(&line);
			}
			if (!nl)
				break;
			if (too_long)
				(*skipped)++;
			else
				rc = take_line(s, line.data ? line.data : "",
				               line.len, out, skipped);
			bc_buf_reset(&line);
			too_long = 0;
			p = nl + 1;
		}
		if (rc != 0)
			break;
	}
	if (rc == 0 && (line.len > 0 || too_long))
		(*skipped)++;
	bc_buf_free(&line);
	close(fd);
	return rc;
}

int bc_spool_read(struct bc_spool *s, const char *path, struct bc_strv *out,
                  size_t *skipped)
{
	size_t dummy = 0;
	if (!skipped)
		skipped = &dummy;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		set_err(s, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	return read_fd(s, fd, path, out, skipped);
}

int bc_spool_peek(struct bc_spool *s, const char *tid, struct bc_strv *out,
                  size_t *skipped)
{
	char path[4096], claimed[4200], prefix[BC_TID_MAX + 32];
	size_t dummy = 0;
	if (!skipped)
		skipped = &dummy;
	if (path_of(s, path, sizeof path, tid, ".journal") != 0)
		return -1;
	int live = open(path, O_RDONLY | O_CLOEXEC);
	if (live < 0 && errno != ENOENT) {
		set_err(s, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	DIR *d = opendir(s->dir);
	if (!d) {
		int missing = errno == ENOENT;
		if (!missing)
			set_err(s, "cannot read %s: %s", s->dir, strerror(errno));
		if (live >= 0)
			close(live);
		return missing ? 0 : -1;
	}
	snprintf(prefix, sizeof prefix, "%s.journal.flushing.", tid);
	size_t plen = strlen(prefix);
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, plen) != 0 ||
		    !claim_tail(e->d_name + plen))
			continue;
		snprintf(claimed, sizeof claimed, "%s/%s", s->dir, e->d_name);
		rc = bc_spool_read(s, claimed, out, skipped);
	}
	closedir(d);
	if (live >= 0) {
		if (rc == 0)
			rc = read_fd(s, live, path, out, skipped);
		else
			close(live);
	}
	return rc;
}

int bc_spool_remove(struct bc_spool *s, const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT) {
		set_err(s, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int bc_spool_forget(struct bc_spool *s, const char *tid)
{
	char path[4096];
	if (path_of(s, path, sizeof path, tid, ".seq") != 0)
		return -1;
	int absent;
	int fd = open_locked(s, path, O_RDONLY, &absent);
	if (fd < 0)
		return absent ? 0 : -1;
	/* Under the counter's lock: does any journal of tid still exist? */
	int rc = 0, busy = 0;
	DIR *d = opendir(s->dir);
	if (!d) {
		set_err(s, "cannot read %s: %s", s->dir, strerror(errno));
		rc = -1;
		goto out;
	}
	size_t tl = strlen(tid), len;
	struct dirent *e;
	while (!busy && (e = readdir(d)))
		busy = journal_tid(e->d_name, &len) && len == tl &&
		       memcmp(e->d_name, tid, tl) == 0;
	closedir(d);
	if (busy)
		goto out;
	if (unlink(path) != 0 && errno != ENOENT) {
		set_err(s, "cannot remove %s: %s", path, strerror(errno));
		rc = -1;
		goto out;
	}
	rc = 1;
out:
	close(fd);
	return rc;
}

/* tid's journals: the claimed ones, then the live one. 0 or -1. */
static int journal_paths(struct bc_spool *s, const char *tid,
                         struct bc_strv *out)
{
	char path[4096];
	if (path_of(s, path, sizeof path, tid, ".journal") != 0 ||
	    claimed_paths(s, tid, out) != 0)
		return -1;
	if (bc_strv_push(out, path, strlen(path)) != 0) {
		set_err(s, "out of memory");
		return -1;
	}
	return 0;
}

/* The highest seq among the complete records in the last TAIL_BYTES of
 * the journal at path (0 when none), or -1 on a read error. */
static long long tail_seq(struct bc_spool *s, const char *path)
{
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	long long max = 0;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		set_err(s, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	off_t from = 0;
	ssize_t got = -1;
	if (!(buf = malloc(TAIL_BYTES))) {
		close(fd);
		set_err(s, "out of memory");
		return -1;
	}
	if (fstat(fd, &st) == 0) {
		from = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
		got = pread(fd, buf, TAIL_BYTES, from);
	}
	close(fd);
	if (got < 0) {
		set_err(s, "cannot read %s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	const char *p = buf, *end = buf + got, *nl;
	if (from > 0 && (nl = memchr(p, '\n', (size_t)got)))
		p = nl + 1;      /* the first line may be cut */
	for (; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
		struct bc_record r = { 0 };
		char why[64];
		if (bc_record_decode(p, (size_t)(nl - p), &r, why, sizeof why) != 0)
			continue;
		if (r.seq > max)
			max = r.seq;
		bc_record_clear(&r);
	}
	free(buf);
	return max;
}

long long bc_spool_tail_seq(struct bc_spool *s, const char *tid)
{
	struct bc_strv paths;
	long long max = 0;
	bc_strv_init(&paths);
	if (journal_paths(s, tid, &paths) != 0)
		max = -1;
	for (size_t i = 0; max >= 0 && i < paths.n; i++) {
		long long m = tail_seq(s, paths.v[i]);
		max = m < 0 ? -1 : m > max ? m : max;
	}
	bc_strv_free(&paths);
	return max;
}
