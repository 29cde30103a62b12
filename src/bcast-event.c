/* bcast-event - post one admin event (checkpoint, HITL ack, pause,
 * cancellation, ...) to the hub.
 *
 * Options -> check the thread id, type and JSON object -> POST
 * /api/admin-events -> for the types that end a run (run_completed,
 * run_error, run_cancelled, run_paused) flush the thread's buffered lines
 * into the DB and record the run's status -> exit code. The flush happens
 * even when the hub could not be reached, since the lines do not need it.
 *
 * --mint-token instead prints a scoped, expiring read token for the hub,
 * signed with the secret of --jwt-secret-file (lib/bc_jwt.h).
 *
 * The flush is the library's buffer (bc_buffer_flush), with its one rule
 * for Redis: unreachable at flush time, the spool is flushed; when Redis
 * was asked for (--redis or BCAST_REDIS) that is a failure (75), while
 * the built-in default (nothing configured) counts as "no Redis". The
 * buffer is opened before the POST, so a malformed URL or a DB that
 * refuses us stops the event before anything happens. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "bc_buffer.h"
#include "bc_http.h"
#include "bc_jwt.h"
#include "bc_record.h"
#include "bc_tid.h"
#include "cli.h"

#define PROG "bcast-event"
#define HTTP_TIMEOUT_MS 10000

static const char usage_text[] =
"Usage: " PROG " -t THREAD [OPTION]... TYPE [JSON-OBJECT]\n"
"  or:  " PROG " --mint-token --threads PATTERN[,PATTERN]... [--ttl DURATION]\n"
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
"      --mint-token      print a read token for the hub and exit: signed\n"
"                        with the --jwt-secret-file secret, it reads the\n"
"                        threads of --threads until --ttl from now\n"
"      --threads LIST    thread ids, or prefixes ending in '*' ('*' alone:\n"
"                        every thread), comma-separated; repeatable\n"
"      --ttl DURATION    how long the token is valid: N[smhd] (default 1h)\n"
"      --jwt-secret-file F  the hub's HS256 secret (BCAST_JWT_SECRET_FILE)\n"
"  -h, --help            show this help and exit\n"
"      --version         show the version and exit\n"
"\n"
"Exit status: 0 posted (and flushed); 64 bad usage, thread id, type or\n"
"URL; 65 JSON-OBJECT is not a JSON object, the hub refused the event, or a\n"
"stored line differs from a buffered one with the same seq; 69 the hub is\n"
"unavailable or the DB refuses the credentials; 75 the flush failed (the\n"
"lines stay buffered).\n"
"--mint-token: 0 printed; 64 bad usage, pattern, duration or secret file.\n";

enum { OPT_HUB = 256, OPT_TOKEN, OPT_REDIS, OPT_DB, OPT_SPOOL, OPT_NO_FLUSH,
       OPT_VERSION, OPT_MINT, OPT_THREADS, OPT_TTL, OPT_JWT_SECRET_FILE };

static const struct option long_opts[] = {
	{ "thread", required_argument, NULL, 't' },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "db", required_argument, NULL, OPT_DB },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "no-flush", no_argument, NULL, OPT_NO_FLUSH },
	{ "mint-token", no_argument, NULL, OPT_MINT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "jwt-secret-file", required_argument, NULL, OPT_JWT_SECRET_FILE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct mint {
	bool on;
	const char *secret_file, *ttl;
	size_t n;
	char *patterns[BC_JWT_MAX_THREADS];
	char *lists[BC_JWT_MAX_THREADS];   /* --threads values, split in place */
	size_t nlists;
};

struct opts {
	const char *tid, *type, *data;
	struct mint mint;
	bool no_flush;
	struct bc_config cfg;
};

/* Split a --threads value at commas into m's patterns. */
static void add_patterns(struct mint *m, const char *list)
{
	char *copy, *p, *save;

	if (m->nlists == BC_JWT_MAX_THREADS || (copy = strdup(list)) == NULL)
		bc_usage_error("too many --threads");
	m->lists[m->nlists++] = copy;
	for (p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (m->n == BC_JWT_MAX_THREADS)
			bc_usage_error("more than %d thread patterns", BC_JWT_MAX_THREADS);
		if (!bc_jwt_pattern_valid(p))
			bc_usage_error("invalid thread pattern '%s': a thread id, or a "
			               "prefix of one followed by '*'", p);
		m->patterns[m->n++] = p;
	}
}

/* N[smhd] in seconds; exits 64 when s is not one. */
static long long parse_ttl(const char *s)
{
	char *end;
	long long v, mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	switch (*end) {
	case 's': end++; break;
	case 'm': mul = 60; end++; break;
	case 'h': mul = 3600; end++; break;
	case 'd': mul = 86400; end++; break;
	}
	if (end == s || *end != '\0' || errno != 0 || v < 1 || v > 3650LL * 86400 / mul)
		bc_usage_error("invalid --ttl '%s' (expected N[smhd], at most 3650d)", s);
	return v * mul;
}

/* Print the token --mint-token asks for; the secret file is
 * --jwt-secret-file, else cfg_file (BCAST_JWT_SECRET_FILE, from the
 * environment or the configuration file). Returns the exit code. */
static int mint_token(struct mint *m, const char *cfg_file)
{
	const char *file = m->secret_file ? m->secret_file : cfg_file;
	long long exp = (long long)time(NULL) + parse_ttl(m->ttl ? m->ttl : "1h");
	struct bc_buf tok;
	char err[512], *key;
	size_t klen = 0;
	int rc = 0;

	if (m->n == 0)
		bc_usage_error("--mint-token needs --threads (e.g. --threads 'run-*')");
	if (file == NULL || file[0] == '\0')
		bc_usage_error("--mint-token needs --jwt-secret-file F (or "
		               "BCAST_JWT_SECRET_FILE): the hub's secret");
	if ((key = bc_config_read_secret(file, &klen, err, sizeof err)) == NULL)
		bc_usage_error("--jwt-secret-file: %s", err);
	if (klen < BC_JWT_MIN_SECRET)
		bc_usage_error("--jwt-secret-file: the secret in %s is %zu bytes; "
		               "HS256 needs at least %d", file, klen, BC_JWT_MIN_SECRET);
	bc_buf_init(&tok, 0);
	if (bc_jwt_mint(key, klen, (const char *const *)m->patterns, m->n, exp,
	                &tok, err, sizeof err) != 0)
		bc_usage_error("%s", err);
	puts(tok.data);
	bc_buf_free(&tok);
	memset(key, 0, klen);
	free(key);
	if (bc_close_stdout() != 0)
		rc = BC_EX_IOERR;
	for (size_t i = 0; i < m->nlists; i++)
		free(m->lists[i]);
	return rc;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	char err[256];
	int c;

	bc_cli_config_load(&o->cfg, argc, argv);
	while ((c = bc_cli_getopt(argc, argv, "t:h", long_opts)) != -1) {
		switch (c) {
		case 't': o->tid = optarg; break;
		case OPT_HUB: bc_cli_config_set(&o->cfg.hub, optarg); break;
		case OPT_TOKEN: bc_cli_config_set(&o->cfg.token, optarg); break;
		case OPT_REDIS:
			bc_cli_config_set(&o->cfg.redis, optarg);
			o->cfg.redis_asked = 1;
			break;
		case OPT_DB: bc_cli_config_set(&o->cfg.db, optarg); break;
		case OPT_SPOOL: bc_cli_config_set(&o->cfg.spool, optarg); break;
		case OPT_NO_FLUSH: o->no_flush = true; break;
		case OPT_MINT: o->mint.on = true; break;
		case OPT_THREADS: add_patterns(&o->mint, optarg); break;
		case OPT_TTL: o->mint.ttl = optarg; break;
		case OPT_JWT_SECRET_FILE: o->mint.secret_file = optarg; break;
		case 'h':
			bc_print_help(usage_text);
		case OPT_VERSION: bc_print_version();
		default: bc_usage_error("unknown option");
		}
	}
	if (o->mint.on) {
		if (optind < argc || o->tid != NULL)
			bc_usage_error("--mint-token takes no thread or event");
		return;
	}
	if (o->mint.n > 0 || o->mint.ttl != NULL)
		bc_usage_error("--threads and --ttl go with --mint-token");
	bc_cli_config_ready(&o->cfg);
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

/* The buffer, opened before anything is posted so a malformed URL (64)
 * or a DB that refuses us (69) stops the event; NULL when there is
 * nothing to flush. */
static struct bc_buffer *open_buffer(const struct opts *o)
{
	struct bc_buffer_opts bo;
	enum bc_buffer_fail fail;
	struct bc_buffer *b;
	char err[1024];

	if (o->no_flush || !bc_event_is_terminal(o->type))
		return NULL;
	bc_buffer_opts_from(&bo, &o->cfg);
	if ((b = bc_buffer_open(&bo, &fail, err, sizeof err)))
		return b;
	if (fail == BC_BUFFER_BAD_URL)
		bc_usage_error("%s", err);
	if (fail == BC_BUFFER_DENIED)
		bc_die(BC_EX_UNAVAILABLE, "%s", err);
	bc_warn("flush failed (%s); lines stay buffered, run bcast-flush later",
	        err);
	return NULL;
}

/* Flush the thread and record its status. 0, or the exit code (warned):
 * 75 when something could not be moved, 65 on a conflict. */
static int flush(const struct opts *o, struct bc_buffer *b)
{
	struct bc_flush_stats st = { 0 };
	enum bc_flush_result r;

	if (!b)
		return o->no_flush || !bc_event_is_terminal(o->type) ? 0 :
		       BC_EX_TEMPFAIL;
	r = bc_buffer_flush(b, &(struct bc_buffer_flush){ .tid = o->tid,
		.status = status_of(o->type),
		.exit_code = exit_code_of(o->data) }, &st);
	if (r == BC_FLUSH_OK)
		return 0;
	if (r == BC_FLUSH_CONFLICT) {
		bc_warn("cannot flush: %s; the thread's lines stay buffered",
		        bc_buffer_errstr(b));
		return BC_EX_DATAERR;
	}
	bc_warn("flush failed (%s); lines stay buffered, run bcast-flush later",
	        bc_buffer_errstr(b));
	return BC_EX_TEMPFAIL;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct bc_buffer *b;
	int rc, frc;

	bc_cli_init(PROG);
	parse_args(argc, argv, &o);
	if (o.mint.on) {
		rc = mint_token(&o.mint, o.cfg.jwt_secret_file);
		bc_config_free(&o.cfg);
		return rc;
	}
	b = open_buffer(&o);
	rc = post_event(&o);
	frc = flush(&o, b);
	bc_buffer_free(b);
	bc_config_free(&o.cfg);
	if (rc == 0)
		rc = frc;
	if (bc_close_stdout() != 0 && rc == 0)
		rc = BC_EX_IOERR;
	return rc;
}
