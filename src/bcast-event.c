/* bcast-event - post one admin event (checkpoint, HITL ack, pause,
 * cancellation, ...) to the hub.
 *
 * Options -> check the thread id, type and JSON object -> POST
 * /api/admin-events -> for the types that end a run (run_completed,
 * run_error, run_cancelled, run_paused) flush the thread's buffered lines
 * into the DB and record the run's status -> exit code. The flush happens
 * even when the hub could not be reached, since the lines do not need it.
 *
 * Redis unreachable at flush time: the spool is flushed; when Redis was
 * asked for explicitly (--redis or BCAST_REDIS) that is a failure (75),
 * while the built-in default (nothing configured) counts as "no Redis". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bc_config.h"
#include "bc_flush.h"
#include "bc_http.h"
#include "bc_record.h"
#include "bc_redis.h"
#include "bc_spool.h"
#include "bc_store.h"
#include "bc_tid.h"
#include "cli.h"

#define PROG "bcast-event"
#define HTTP_TIMEOUT_MS 10000
#define REDIS_TIMEOUT_MS 2000

static const char usage_text[] =
"Usage: " PROG " -t THREAD [OPTION]... TYPE [JSON-OBJECT]\n"
"Post an admin event of TYPE ([a-z][a-z0-9_.]*) with JSON-OBJECT as its data\n"
"(default {}) to the hub. run_completed, run_error, run_cancelled and\n"
"run_paused also flush the thread's buffered lines into the DB.\n"
"\n"
"  -t, --thread THREAD   the run's thread id, [A-Za-z0-9_.:-]{1,128}\n"
"      --hub URL         hub address (BCAST_HUB, http://127.0.0.1:8090)\n"
"      --token T         bearer token for the hub (BCAST_TOKEN)\n"
"      --redis URL       Redis to flush from, or 'none' (BCAST_REDIS)\n"
"      --db URL          sqlite:PATH or postgresql://... (BCAST_DB)\n"
"      --spool DIR       spool to flush from (BCAST_SPOOL)\n"
"      --no-flush        do not flush, even for a run's end\n"
"  -h, --help            show this help and exit\n"
"      --version         show the version and exit\n"
"\n"
"Exit status: 0 posted (and flushed); 64 bad usage, thread id or type;\n"
"65 JSON-OBJECT is not a JSON object, or the hub refused the event;\n"
"69 the hub is unavailable; 75 the flush failed (the lines stay buffered).\n";

enum { OPT_HUB = 256, OPT_TOKEN, OPT_REDIS, OPT_DB, OPT_SPOOL, OPT_NO_FLUSH,
       OPT_VERSION };

static const struct option long_opts[] = {
	{ "thread", required_argument, NULL, 't' },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "db", required_argument, NULL, OPT_DB },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "no-flush", no_argument, NULL, OPT_NO_FLUSH },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *tid, *type, *data;
	bool no_flush;
	bool redis_asked;         /* --redis or BCAST_REDIS given */
	struct bc_config cfg;
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	const char *env = getenv("BCAST_REDIS");
	char err[256];
	int c;

	if (bc_config_load(&o->cfg) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	o->redis_asked = env && *env;
	while ((c = bc_cli_getopt(argc, argv, "t:h", long_opts)) != -1) {
		switch (c) {
		case 't': o->tid = optarg; break;
		case OPT_HUB: bc_cli_config_set(&o->cfg.hub, optarg); break;
		case OPT_TOKEN: bc_cli_config_set(&o->cfg.token, optarg); break;
		case OPT_REDIS:
			bc_cli_config_set(&o->cfg.redis, optarg);
			o->redis_asked = true;
			break;
		case OPT_DB: bc_cli_config_set(&o->cfg.db, optarg); break;
		case OPT_SPOOL: bc_cli_config_set(&o->cfg.spool, optarg); break;
		case OPT_NO_FLUSH: o->no_flush = true; break;
		case 'h':
			bc_print_help(usage_text);
		case OPT_VERSION: bc_print_version();
		default: bc_usage_error("unknown option");
		}
	}
	if (!o->tid)
		bc_usage_error("missing -t THREAD");
	if (!bc_tid_valid(o->tid))
		bc_usage_error("invalid thread id '%s': it must match "
		               "[A-Za-z0-9_.:-]{1,128}", o->tid);
	if (optind >= argc)
		bc_usage_error("missing the event TYPE");
	o->type = argv[optind++];
	if (!bc_event_type_valid(o->type))
		bc_usage_error("invalid event type '%s': it must match "
		               "[a-z][a-z0-9_.]{0,63}", o->type);
	if (optind < argc)
		o->data = argv[optind++];
	if (optind < argc)
		bc_usage_error("too many arguments");
	if (o->data && bc_json_object_check(o->data, strlen(o->data), err,
	                                    sizeof err) != 0)
		bc_die(BC_EX_DATAERR, "the event data must be a JSON object: %s",
		       err);
}

/* POST the event. Returns 0, or the exit code of the failure (warned). */
static int post_event(const struct opts *o)
{
	struct bc_event e = { 0 };
	struct bc_http *h;
	struct bc_buf body;
	char err[512];
	long st;
	int rc = 0;

	if (!(h = bc_http_new(o->cfg.hub, o->cfg.token, HTTP_TIMEOUT_MS, err,
	                      sizeof err)))
		bc_usage_error("--hub: %s", err);
	snprintf(e.type, sizeof e.type, "%s", o->type);
	snprintf(e.thread_id, sizeof e.thread_id, "%s", o->tid);
	bc_ts_now(e.ts);
	e.data = (char *)(o->data ? o->data : "{}");
	bc_buf_init(&body, 0);
	if (bc_event_encode(&e, &body) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	/* flush=0: the hub only records the status; this program flushes
	 * the thread itself (or was told not to). */
	st = bc_http_post(h, "/api/admin-events?flush=0", "application/json",
	                  body.data, body.len, err, sizeof err);
	if (st < 0 || st >= 500) {
		bc_warn("hub at %s unavailable: %s", o->cfg.hub, err);
		rc = BC_EX_UNAVAILABLE;
	} else if (st == 401 || st == 403) {
		bc_warn("hub at %s refused the token: %s", o->cfg.hub, err);
		rc = BC_EX_DATAERR;
	} else if (st > 299) {
		bc_warn("hub at %s refused the event: %s", o->cfg.hub, err);
		rc = BC_EX_DATAERR;
	}
	bc_buf_free(&body);
	bc_http_free(h);
	return rc;
}

/* "run_completed" -> "completed", ... */
static const char *status_of(const char *type)
{
	return strncmp(type, "run_", 4) == 0 ? type + 4 : type;
}

/* data.exit_code when it is an integer, else -1. */
static int exit_code_of(const char *data)
{
	struct json_object *j = data ? json_tokener_parse(data) : NULL;
	struct json_object *v;
	int code = -1;

	if (j && json_object_object_get_ex(j, "exit_code", &v) &&
	    json_object_is_type(v, json_type_int))
		code = json_object_get_int(v);
	json_object_put(j);
	return code;
}

/* Flush the thread and record its status. 0, or 75 (warned). */
static int flush(const struct opts *o)
{
	struct bc_flush_opts fo = { 0 };
	struct bc_flush_stats st = { 0 };
	struct bc_store *store;
	struct bc_redis *redis = NULL;
	struct bc_spool *spool = NULL;
	char err[512];
	int rc = BC_EX_TEMPFAIL;

	if (!(store = bc_store_open(o->cfg.db, err, sizeof err))) {
		bc_warn("flush failed (%s); lines stay buffered, run bcast-flush "
		        "later", err);
		return BC_EX_TEMPFAIL;
	}
	if (!bc_config_no_redis(&o->cfg) &&
	    !(redis = bc_redis_connect(o->cfg.redis, REDIS_TIMEOUT_MS, err,
	                               sizeof err)) && o->redis_asked) {
		bc_warn("flush failed (%s); lines stay buffered, run bcast-flush "
		        "later", err);
		goto out;
	}
	if (!(spool = bc_spool_open(o->cfg.spool, BC_FSYNC_NONE, err,
	                            sizeof err))) {
		bc_warn("flush failed (%s); lines stay buffered, run bcast-flush "
		        "later", err);
		goto out;
	}
	fo.redis = redis;
	fo.spool = spool;
	fo.store = store;
	if (bc_flush_thread(&fo, o->tid, &st, err, sizeof err) != BC_FLUSH_OK) {
		bc_warn("flush failed (%s); lines stay buffered, run bcast-flush "
		        "later", err);
		goto out;
	}
	rc = 0;
out:
	if (bc_store_set_run(store, o->tid, status_of(o->type),
	                     exit_code_of(o->data)) != 0) {
		bc_warn("cannot record the run's status: %s",
		        bc_store_errstr(store));
		rc = BC_EX_TEMPFAIL;
	}
	bc_spool_free(spool);
	bc_redis_free(redis);
	bc_store_close(store);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc, frc = 0;

	bc_cli_init(PROG);
	parse_args(argc, argv, &o);
	rc = post_event(&o);
	if (bc_event_is_terminal(o.type) && !o.no_flush)
		frc = flush(&o);
	bc_config_free(&o.cfg);
	if (rc == 0)
		rc = frc;
	if (bc_close_stdout() != 0 && rc == 0)
		rc = BC_EX_IOERR;
	return rc;
}
