/* bcast-flush.c - drain Redis lists and spool journals into thread_logs,
 * and prune old runs.
 *
 * Options -> the library's buffer (bc_buffer_flush, bc_buffer_prune) ->
 * one line of what moved on stderr -> exit code. When the store is
 * unreachable nothing is touched (75). When a Redis that was asked for is
 * unreachable the spool is still flushed, and the exit status (75) says
 * the Redis lists are left for the next run; with no Redis configured and
 * none on the default address the spool is all there is, and that is no
 * error. A stored line that differs from a buffered one under the same
 * seq is reported with both lines (65) and both are kept. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_buffer.h"
#include "bc_clock.h"
#include "bc_exit.h"
#include "bc_prune.h"
#include "bc_tid.h"
#include "cli.h"

#define PROG "bcast-flush"
#define BATCH_MAX 100000

static const char usage[] =
	"Usage: " PROG " (-t THREAD | --all) [OPTION]...\n"
	"   or: " PROG " [-t THREAD | --all] --prune-older-than DURATION [OPTION]...\n"
	"Move buffered log lines (Redis lists and spool journals) into the SQL\n"
	"table thread_logs, exactly once per (thread_id, seq). A line leaves its\n"
	"buffer only after the transaction that stored it has committed.\n"
	"\n"
	"  -t, --thread THREAD  flush this thread\n"
	"      --all            flush every thread found in Redis and the spool\n"
	"      --redis URL      Redis to drain, redis://[:PASS@]HOST[:PORT][/DB];\n"
	"                       'none' flushes the spool only (env BCAST_REDIS;\n"
	"                       unset: redis://127.0.0.1:6379 if it answers)\n"
	"      --db URL         sqlite:PATH or postgresql://... (env BCAST_DB)\n"
	"      --spool DIR      spool directory (env BCAST_SPOOL)\n"
	"      --batch N        records per transaction, 1-100000 (default 5000;\n"
	"                       pruning: rows deleted per transaction, 1000)\n"
	"      --prune-older-than DURATION\n"
	"                       then delete the runs that ended more than\n"
	"                       DURATION ago (e.g. 30d, 12h, 1d12h; units s m h d\n"
	"                       w): their lines, run rows and spool counters\n"
	"      --prune          the same with BCAST_PRUNE_OLDER_THAN (default 30d)\n"
	"  -q, --quiet          print errors only\n"
	"  -h, --help           show this help and exit\n"
	"      --version        show the version and exit\n"
	"\n"
	"Exit status: 0 done; 64 usage, bad thread id or malformed URL; 65 a\n"
	"stored line differs from a buffered one with the same seq (both kept);\n"
	"69 the database refuses the credentials; 74 spool I/O error; 75 Redis\n"
	"(when configured) or the database unreachable (nothing lost: run it\n"
	"again).\n";

enum { OPT_ALL = 256, OPT_REDIS, OPT_DB, OPT_SPOOL, OPT_BATCH, OPT_VERSION,
       OPT_PRUNE_OLDER, OPT_PRUNE };

static const struct option longopts[] = {
	{ "thread", required_argument, NULL, 't' },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "db", required_argument, NULL, OPT_DB },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "prune-older-than", required_argument, NULL, OPT_PRUNE_OLDER },
	{ "prune", no_argument, NULL, OPT_PRUNE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *tid;
	bool all, quiet;
	size_t batch;
	long long prune_secs;     /* -1: no pruning */
	struct bc_config cfg;
};

static int show_progress;

static void moved_line(const char *who, const struct bc_flush_stats *st)
{
	bc_warn("%s: %lld lines moved (%lld new, %lld already stored)", who,
	        st->inserted + st->duplicates, st->inserted, st->duplicates);
}

/* One line, redrawn at most 5 times a second: threads and lines done,
 * the rate, and the time left estimated from the threads still to do. */
static void progress(const char *tid, const struct bc_flush_stats *st,
                     void *arg)
{
	static int64_t start, last;
	int64_t now = bc_mono_us();
	long long lines = st->inserted + st->duplicates, left;
	double secs;

	(void)arg;
	if (!show_progress)
		return;
	if (start == 0)
		start = now;
	else if (now - last < 200000)
		return;
	last = now;
	secs = (double)(now - start) / 1e6;
	fprintf(stderr, "\r\033[K%s: %lld/%lld threads (%s), %lld lines, %.0f lines/s",
	        bc_prog, st->threads, st->threads_total, tid, lines,
	        secs > 0 ? (double)lines / secs : 0.0);
	left = st->threads_total - st->threads;
	if (left > 0 && st->threads > 0 && secs > 0)
		fprintf(stderr, ", about %.0f s left",
		        secs / (double)st->threads * (double)left);
}

static void progress_end(void)
{
	if (show_progress)
		fputs("\r\033[K", stderr);
}

static int exit_code(enum bc_flush_result r)
{
	switch (r) {
	case BC_FLUSH_OK: return BC_EX_OK;
	case BC_FLUSH_SPOOL: return BC_EX_IOERR;
	case BC_FLUSH_CONFLICT: return BC_EX_DATAERR;
	case BC_FLUSH_BAD_THREAD: return BC_EX_USAGE;
	case BC_FLUSH_REDIS:
	case BC_FLUSH_DB: break;
	}
	return BC_EX_TEMPFAIL;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	const char *prune_after = NULL;
	int c;

	bc_cli_config_load(&o->cfg, argc, argv);
	while ((c = bc_cli_getopt(argc, argv, "t:qh", longopts)) != -1) {
		switch (c) {
		case 't': o->tid = optarg; break;
		case OPT_ALL: o->all = true; break;
		case OPT_REDIS:
			bc_cli_config_set(&o->cfg.redis, optarg);
			o->cfg.redis_asked = 1;
			break;
		case OPT_DB: bc_cli_config_set(&o->cfg.db, optarg); break;
		case OPT_SPOOL: bc_cli_config_set(&o->cfg.spool, optarg); break;
		case OPT_BATCH:
			o->batch = (size_t)bc_cli_int("--batch", optarg, 1,
			                              BATCH_MAX);
			break;
		case OPT_PRUNE_OLDER: prune_after = optarg; break;
		case OPT_PRUNE: prune_after = o->cfg.prune; break;
		case 'q': o->quiet = true; break;
		case 'h': bc_print_help(usage);
		case OPT_VERSION: bc_print_version();
		default: bc_usage_error("unknown option");
		}
	}
	bc_cli_config_ready(&o->cfg);
	if (optind < argc)
		bc_usage_error("unexpected argument '%s'", argv[optind]);
	o->prune_secs = -1;
	if (prune_after && bc_prune_duration(prune_after, &o->prune_secs) != 0)
		bc_usage_error("--prune-older-than wants a duration like 30d or "
		               "12h, not '%s'", prune_after);
	if ((o->tid && o->all) || (!o->tid && !o->all && !prune_after))
		bc_usage_error("give -t THREAD or --all, or --prune-older-than");
	if (o->tid && !bc_tid_valid(o->tid))
		bc_usage_error("invalid thread id '%.200s' (want "
		               "[A-Za-z0-9_.:-]{1,128})", o->tid);
}

/* The buffer of the configuration; exits 64 on a malformed URL, 69 when
 * the DB refuses us, 74 when there is no place to read from. */
static struct bc_buffer *open_buffer(const struct opts *o)
{
	struct bc_buffer_opts bo;
	enum bc_buffer_fail fail;
	struct bc_buffer *b;
	char err[1024];

	bc_buffer_opts_from(&bo, &o->cfg);
	if ((b = bc_buffer_open(&bo, &fail, err, sizeof err)))
		return b;
	if (fail == BC_BUFFER_BAD_URL)
		bc_usage_error("%s", err);
	bc_die(fail == BC_BUFFER_DENIED ? BC_EX_UNAVAILABLE : BC_EX_IOERR, "%s",
	       err);
}

/* Flush, then say what went wrong (one line each) and what moved unless
 * -q. The exit code. */
static int flush(const struct opts *o, struct bc_buffer *b)
{
	struct bc_flush_stats st = { 0 };
	enum bc_flush_result r;
	char who[64];

	show_progress = o->all && !o->quiet && isatty(STDERR_FILENO);
	r = bc_buffer_flush(b, &(struct bc_buffer_flush){
		.tid = o->tid, .batch = o->batch, .progress = progress }, &st);
	progress_end();
	if (r != BC_FLUSH_OK)
		bc_warn("%s", bc_buffer_errstr(b));
	else if (st.invalid > 0)
		bc_warn("%lld invalid records skipped (last: %s)", st.invalid,
		        bc_buffer_errstr(b));
	if (r == BC_FLUSH_REDIS)
		bc_warn("flushed the spool only; the Redis lists are left for "
		        "the next run");
	if (r == BC_FLUSH_CONFLICT)
		bc_warn("the conflicting lines stay buffered; nothing was "
		        "overwritten");
	if (o->quiet || (r != BC_FLUSH_OK && st.read == 0))
		return exit_code(r);
	if (o->tid)
		snprintf(who, sizeof who, "%s", o->tid);
	else
		snprintf(who, sizeof who, "%lld thread%s", st.threads,
		         st.threads == 1 ? "" : "s");
	moved_line(who, &st);
	return exit_code(r);
}

/* Retention: delete the runs that ended more than o->prune_secs ago; one
 * line of what went. The exit code. */
static int prune(const struct opts *o, struct bc_buffer *b)
{
	struct bc_prune_stats st;
	int rc = bc_buffer_prune(b, o->prune_secs, (long long)o->batch, &st);

	if (!o->quiet || rc != 0)
		bc_warn("pruned %lld run%s that ended before %s: %lld lines, "
		        "%lld spool counters", st.runs, st.runs == 1 ? "" : "s",
		        st.before, st.lines, st.counters);
	if (rc != 0)
		bc_warn("%s", bc_buffer_errstr(b));
	return rc == 0 ? BC_EX_OK : BC_EX_TEMPFAIL;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct bc_buffer *b;
	int code = BC_EX_OK, rc;

	bc_cli_init(PROG);
	parse_args(argc, argv, &o);
	b = open_buffer(&o);
	if (o.tid || o.all)
		code = flush(&o, b);
	if (o.prune_secs >= 0 && (rc = prune(&o, b)) != BC_EX_OK &&
	    code == BC_EX_OK)
		code = rc;
	bc_buffer_free(b);
	bc_config_free(&o.cfg);
	rc = bc_close_stdout();
	return code != BC_EX_OK ? code : rc;
}
