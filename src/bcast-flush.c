/* bcast-flush.c - drain Redis lists and spool journals into thread_logs.
 *
 * Options -> config -> open the store, Redis and the spool -> bc_flush_*
 * -> one line of what moved on stderr -> exit code. The store is opened
 * first: when it is unreachable nothing is touched. When Redis is
 * unreachable the spool is still flushed, and the exit status (75) says
 * the Redis lists are left for the next run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_config.h"
#include "bc_exit.h"
#include "bc_flush.h"
#include "bc_prune.h"
#include "bc_tid.h"
#include "cli.h"

#define PROG "bcast-flush"
#define REDIS_TIMEOUT_MS 5000
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
	"                       'none' flushes the spool only (env BCAST_REDIS)\n"
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
	"Exit status: 0 done; 64 usage or bad thread id; 74 spool I/O error;\n"
	"75 Redis or the database unreachable (nothing lost: run it again).\n";

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

static int show_progress;

static void moved_line(const char *who, const struct bc_flush_stats *st)
{
	bc_warn("%s: %lld lines moved (%lld new, %lld already stored)", who,
	        st->inserted + st->duplicates, st->inserted, st->duplicates);
}

static void progress(const char *tid, const struct bc_flush_stats *st,
                     void *arg)
{
	(void)arg;
	if (!show_progress)
		return;
	fprintf(stderr, "\r\033[K%s: %s: %lld lines moved so far", bc_prog, tid,
	        st->inserted + st->duplicates);
}

static void progress_end(void)
{
	if (show_progress)
		fputs("\r\033[K", stderr);
}

static int fail_code(enum bc_flush_fail f)
{
	return f == BC_FLUSH_SPOOL ? BC_EX_IOERR : BC_EX_TEMPFAIL;
}

/* Retention: delete the runs that ended more than secs ago; one line of
 * what went. The exit code. */
static int prune(struct bc_store *store, struct bc_spool *spool,
                 long long secs, long batch, int quiet)
{
	struct bc_prune_stats st;
	char err[1024] = "";
	int rc = bc_prune(store, spool, secs, batch, &st, err, sizeof err);
	if (!quiet || rc != 0)
		bc_warn("pruned %lld run%s that ended before %s: %lld lines, "
		        "%lld spool counters", st.runs, st.runs == 1 ? "" : "s",
		        st.before, st.lines, st.counters);
	if (rc != 0)
		bc_warn("%s", err);
	return rc == 0 ? BC_EX_OK : BC_EX_TEMPFAIL;
}

int main(int argc, char **argv)
{
	bc_cli_init(PROG);
	struct bc_config cfg;
	if (bc_config_load(&cfg) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");

	const char *tid = NULL, *prune_after = NULL;
	int all = 0, quiet = 0;
	long batch = 0;
	int c;
	while ((c = bc_cli_getopt(argc, argv, "t:qh", longopts)) != -1) {
		switch (c) {
		case 't':
			tid = optarg;
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_REDIS:
			bc_cli_config_set(&cfg.redis, optarg);
			break;
		case OPT_DB:
			bc_cli_config_set(&cfg.db, optarg);
			break;
		case OPT_SPOOL:
			bc_cli_config_set(&cfg.spool, optarg);
			break;
		case OPT_BATCH:
			batch = (long)bc_cli_int("--batch", optarg, 1, BATCH_MAX);
			break;
		case OPT_PRUNE_OLDER:
			prune_after = optarg;
			break;
		case OPT_PRUNE:
			prune_after = cfg.prune;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			bc_print_help(usage);
		case OPT_VERSION:
			bc_print_version();
		default:
			bc_usage_error("unknown option");
		}
	}
	if (optind < argc)
		bc_usage_error("unexpected argument '%s'", argv[optind]);
	long long prune_secs = -1;
	if (prune_after && bc_prune_duration(prune_after, &prune_secs) != 0)
		bc_usage_error("--prune-older-than wants a duration like 30d or 12h, "
		               "not '%s'", prune_after);
	int flush = tid || all;
	if ((tid && all) || (!flush && !prune_after))
		bc_usage_error("give -t THREAD or --all, or --prune-older-than");
	if (tid && !bc_tid_valid(tid))
		bc_usage_error("invalid thread id '%.200s' (want [A-Za-z0-9_.:-]{1,128})",
		               tid);
	if (!cfg.db || !cfg.spool)
		bc_die(BC_EX_SOFTWARE, "out of memory");

	char err[1024] = "";
	struct bc_store *store = bc_store_open(cfg.db, err, sizeof err);
	if (!store)
		bc_die(BC_EX_TEMPFAIL, "%s", err);

	int code = BC_EX_OK;
	struct bc_redis *redis = NULL;
	if (flush && !bc_config_no_redis(&cfg)) {
		redis = bc_redis_connect(cfg.redis, REDIS_TIMEOUT_MS, err, sizeof err);
		if (!redis) {
			bc_warn("%s", err);
			code = BC_EX_TEMPFAIL;
		}
	}
	struct bc_spool *spool = bc_spool_open(cfg.spool, BC_FSYNC_NONE, err,
	                                       sizeof err);
	if (!spool) {
		bc_warn("%s", err);
		code = BC_EX_IOERR;
	}

	struct bc_flush_opts o = {
		.redis = redis,
		.spool = spool,
		.store = store,
		.batch = (size_t)batch,
		.progress = progress,
	};
	struct bc_flush_stats st = { 0 };
	enum bc_flush_fail f = BC_FLUSH_OK;
	err[0] = '\0';
	if (flush && (redis || spool)) {
		show_progress = all && !quiet && isatty(STDERR_FILENO);
		f = all ? bc_flush_all(&o, &st, err, sizeof err)
		        : bc_flush_thread(&o, tid, &st, err, sizeof err);
		progress_end();
	}
	if (f == BC_FLUSH_REDIS && spool) {
		/* Redis broke half way: still move what the spool holds. */
		bc_warn("%s", err);
		bc_redis_free(redis);
		o.redis = redis = NULL;
		err[0] = '\0';
		f = all ? bc_flush_all(&o, &st, err, sizeof err)
		        : bc_flush_thread(&o, tid, &st, err, sizeof err);
		progress_end();
		code = BC_EX_TEMPFAIL;
	}
	if (f != BC_FLUSH_OK) {
		bc_warn("%s", err);
		code = fail_code(f);
	} else if (st.invalid > 0) {
		bc_warn("%lld invalid records skipped (last: %s)", st.invalid, err);
	}
	if (!quiet && flush) {
		if (tid) {
			moved_line(tid, &st);
		} else {
			char who[64];
			snprintf(who, sizeof who, "%lld thread%s", st.threads,
			         st.threads == 1 ? "" : "s");
			moved_line(who, &st);
		}
	}
	if (flush && !redis && !bc_config_no_redis(&cfg))
		bc_warn("%s; the Redis lists are left for the next run",
		        spool ? "flushed the spool only" : "nothing flushed");
	if (prune_secs >= 0) {
		int rc = prune(store, spool, prune_secs, batch, quiet);
		code = code != BC_EX_OK ? code : rc;
	}

	bc_redis_free(redis);
	bc_spool_free(spool);
	bc_store_close(store);
	bc_config_free(&cfg);
	int rc = bc_close_stdout();
	return code != BC_EX_OK ? code : rc;
}
