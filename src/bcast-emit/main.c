/* bcast-emit - broadcast a run's output lines: stdin (pipe mode) or a
 * command's stdout and stderr (command mode) go to Redis or the spool,
 * and live to the hub; run_started and the run's end are posted as admin
 * events, and at the end the thread is flushed into the DB.
 *
 * This file is the options and main: options -> emit_new (the library's
 * buffer, checked before any input is read) -> emit_run (loop.c) ->
 * emit_finish -> exit code. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_record.h"
#include "bc_tid.h"
#include "cli.h"
#include "emit.h"

#define PROG "bcast-emit"
#define MAX_LINE_MIN 4
#define MAX_LINE_MAX (16 * 1024 * 1024)

static const char usage_text[] =
"Usage: " PROG " -t THREAD [OPTION]... [-- CMD [ARG]...]\n"
"Broadcast lines: stdin, or CMD's stdout and stderr, go to Redis (or the\n"
"spool) and live to the hub; the thread is flushed into the DB at the end.\n"
"\n"
"  -t, --thread THREAD   the run's thread id, [A-Za-z0-9_.:-]{1,128}\n"
"      --tee             pipe mode: copy the input to stdout unchanged\n"
"  -q, --quiet           command mode: do not show CMD's stdout and stderr\n"
"                        (shown on emit's own by default)\n"
"      --no-flush        leave the lines in Redis/spool at the end\n"
"      --hub URL         hub address (BCAST_HUB, http://127.0.0.1:8090)\n"
"      --redis URL       Redis, or 'none' (BCAST_REDIS; unset: the spool\n"
"                        unless redis://127.0.0.1:6379 answers)\n"
"      --db URL          sqlite:PATH or postgresql://... (BCAST_DB)\n"
"      --spool DIR       journal dir when Redis is unavailable (BCAST_SPOOL)\n"
"      --token T         bearer token for the hub (BCAST_TOKEN)\n"
"      --fsync MODE      spool sync: none (default) or batch\n"
"      --max-line BYTES  split longer lines (default 65536)\n"
"  -h, --help            show this help and exit\n"
"      --version         show the version and exit\n"
"\n"
"With CMD, exits with CMD's status (128+N if killed by signal N; 127 if it\n"
"cannot be run). Without, 0; 130/143 on SIGINT/SIGTERM; 75 if the flush\n"
"failed (the lines stay buffered); 65 if a seq of the thread is stored\n"
"with another line. 64 on bad usage or a malformed URL, 69 if the DB\n"
"refuses the credentials, both before any input is read.\n";

enum { OPT_TEE = 256, OPT_NO_FLUSH, OPT_HUB, OPT_REDIS, OPT_DB, OPT_SPOOL,
       OPT_TOKEN, OPT_FSYNC, OPT_MAX_LINE, OPT_VERSION };

static const struct option long_opts[] = {
	{ "thread", required_argument, NULL, 't' },
	{ "tee", no_argument, NULL, OPT_TEE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "no-flush", no_argument, NULL, OPT_NO_FLUSH },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "db", required_argument, NULL, OPT_DB },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "fsync", required_argument, NULL, OPT_FSYNC },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	o->max_line = BC_LINE_MAX_DEFAULT;
	o->fsync = BC_FSYNC_NONE;
	bc_cli_config_load(&o->cfg, argc, argv);
	while ((c = bc_cli_getopt(argc, argv, "+t:qh", long_opts)) != -1) {
		switch (c) {
		case 't': o->tid = optarg; break;
		case OPT_TEE: o->tee = true; break;
		case 'q': o->quiet = true; break;
		case OPT_NO_FLUSH: o->no_flush = true; break;
		case OPT_HUB: bc_cli_config_set(&o->cfg.hub, optarg); break;
		case OPT_REDIS:
			bc_cli_config_set(&o->cfg.redis, optarg);
			o->cfg.redis_asked = 1;
			break;
		case OPT_DB: bc_cli_config_set(&o->cfg.db, optarg); break;
		case OPT_SPOOL: bc_cli_config_set(&o->cfg.spool, optarg); break;
		case OPT_TOKEN: bc_cli_config_set(&o->cfg.token, optarg); break;
		case OPT_FSYNC:
			if (strcmp(optarg, "none") == 0)
				o->fsync = BC_FSYNC_NONE;
			else if (strcmp(optarg, "batch") == 0)
				o->fsync = BC_FSYNC_BATCH;
			else
				bc_usage_error("--fsync must be 'none' or 'batch'");
			break;
		case OPT_MAX_LINE:
			o->max_line = (size_t)bc_cli_int("--max-line", optarg,
			                                 MAX_LINE_MIN, MAX_LINE_MAX);
			break;
		case 'h':
			bc_print_help(usage_text);
		case OPT_VERSION: bc_print_version();
		default: bc_usage_error("unknown option");
		}
	}
	bc_cli_config_ready(&o->cfg);
	if (!o->tid)
		bc_usage_error("missing -t THREAD");
	if (!bc_tid_valid(o->tid))
		bc_usage_error("invalid thread id '%s': it must match "
		               "[A-Za-z0-9_.:-]{1,128}", o->tid);
	if (optind < argc)
		o->cmd = argv + optind;
}


int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct end end;
	struct emit *e;

	bc_cli_init(PROG);
	parse_args(argc, argv, &o);
	e = emit_new(&o);
	emit_run(e, &end);
	emit_finish(e, &end);
	bc_config_free(&o.cfg);
	if (bc_close_stdout() != 0 && end.rc == 0)
		end.rc = BC_EX_IOERR;
	return end.rc;
}
