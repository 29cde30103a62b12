/* opts.c - bcast-tail's options, help text and read credential. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_config.h"
#include "bc_tid.h"
#include "bc_url.h"
#include "cli.h"
#include "tail.h"

#define TOKEN_MAX 4096

static const char usage_text[] =
"Usage: " PROG " [OPTION]... [-t] THREAD     follow one run\n"
"       " PROG " [OPTION]...                 every thread, live\n"
"       " PROG " --admin [--type TYPE,...] [-t THREAD] [OPTION]...\n"
"       " PROG " --list [--status S,...] [-n N] [--json]\n"
"Print a bcast hub's log lines (or admin events, or runs) on a terminal.\n"
"\n"
"  -t, --thread THREAD  only this thread's lines (with --admin: its events);\n"
"                       also the first argument\n"
"  -n, --lines N        first print the thread's last N lines (default 10,\n"
"                       'all' for every line), then follow without a gap\n"
"      --since WHEN     only lines since WHEN: 30s, 10m, 2h, 1d ago, or a time\n"
"                       (2026-12-03T09:00:00Z; without a zone, local time)\n"
"  -f, --follow         follow (the default; accepted for habit's sake)\n"
"      --no-follow      print the history and exit\n"
"      --exit-status    exit with the run's status when it ends (see below)\n"
"      --timestamps     put each line's time (ts) first\n"
"      --color WHEN     auto (default: on a terminal), always or never; one\n"
"                       colour per thread, stderr lines in red\n"
"      --grep REGEX     only lines matching REGEX (POSIX extended)\n"
"      --invert         with --grep: only lines NOT matching\n"
"      --admin          admin events instead of log lines\n"
"      --type LIST      with --admin: only these comma-separated event types\n"
"      --list           list the runs: THREAD STATUS STARTED DURATION EXIT LINES\n"
"      --status LIST    with --list: only runs of these statuses (running,\n"
"                       completed, error, cancelled, paused)\n"
"      --json           print each record, event or run as one JSON object per\n"
"                       line (NDJSON)\n"
"      --hub URL        the hub (env BCAST_HUB, default http://127.0.0.1:8090)\n"
"      --read-token-file F  read credential from file F (else BCAST_READ_TOKEN,\n"
"                       else BCAST_TOKEN), sent as Authorization: Bearer\n"
"      --count N        exit 0 after printing N lines or events\n"
"      --timeout SECONDS  exit 0 after SECONDS (decimals allowed)\n"
"      --once           do not reconnect; exit 69 if the hub cannot be reached\n"
"  -q, --quiet          no messages about connections or skipped events\n"
"  -h, --help           show this help and exit\n"
"      --version        show the version and exit\n"
"\n"
"Plain output is the line itself for one thread, \"THREAD | line\" for all\n"
"threads, \"THREAD TYPE DATA\" for admin events. Following one thread, the\n"
"last 10 lines come first (-n 0: only new ones), and when the run ends\n"
"bcast-tail says so on stderr (\"run run-42 error, exit 3\") and exits.\n"
"Lines already printed (same thread and seq) are never printed again.\n"
"Reconnects (0.2 s doubling to 5 s) resume where the stream stopped; if the\n"
"hub cannot resume, a \"reset\" notice on stderr says how much was missed.\n"
"Exit status: 0 ok (also --count, --timeout, SIGTERM, closed pipe, the run\n"
"ended); 130 Ctrl-C; with --exit-status, the run's: completed 0, error its\n"
"exit code (1 if none), cancelled 130; 64 usage; 69 hub unreachable (--once),\n"
"refusing (HTTP 4xx, also 401/403: no or a wrong credential) or not a\n"
"stream; 74 write error on stdout.\n";

enum { OPT_ADMIN = 256, OPT_TYPE, OPT_JSON, OPT_HUB, OPT_COUNT, OPT_TIMEOUT,
       OPT_ONCE, OPT_VERSION, OPT_LIST, OPT_STATUS, OPT_SINCE, OPT_NO_FOLLOW,
       OPT_TIMESTAMPS, OPT_COLOR, OPT_GREP, OPT_INVERT, OPT_EXIT_STATUS,
       OPT_READ_TOKEN_FILE };

static const struct option long_opts[] = {
	{ "thread", required_argument, NULL, 't' },
	{ "lines", required_argument, NULL, 'n' },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "follow", no_argument, NULL, 'f' },
	{ "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
	{ "exit-status", no_argument, NULL, OPT_EXIT_STATUS },
	{ "timestamps", no_argument, NULL, OPT_TIMESTAMPS },
	{ "color", required_argument, NULL, OPT_COLOR },
	{ "grep", required_argument, NULL, OPT_GREP },
	{ "invert", no_argument, NULL, OPT_INVERT },
	{ "admin", no_argument, NULL, OPT_ADMIN },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "read-token-file", required_argument, NULL, OPT_READ_TOKEN_FILE },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Every comma-separated item of list passes ok. */
static bool list_valid(const char *list, bool (*ok)(const char *))
{
	char buf[1024], *save = NULL;
	int n = 0;

	if (strlen(list) >= sizeof buf || list[0] == ',' ||
	    list[strlen(list) - 1] == ',' || strstr(list, ",,"))
		return false;
	strcpy(buf, list);
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save), n++)
		if (!ok(s))
			return false;
	return n > 0;
}

static bool status_valid(const char *s)
{
	return strcmp(s, "running") == 0 || strcmp(s, "completed") == 0 ||
	       strcmp(s, "error") == 0 || strcmp(s, "cancelled") == 0 ||
	       strcmp(s, "paused") == 0;
}

/* The read credential: the file's first line, BCAST_READ_TOKEN (from the
 * environment or the configuration file), or the publish token. */
static char *read_token(const char *file, const char *env,
                        const char *publish)
{
	char buf[TOKEN_MAX + 2];
	size_t n;
	FILE *fp;

	if (!file)
		return env && *env ? strdup(env) : publish ? strdup(publish) : NULL;
	if (!(fp = fopen(file, "r")))
		bc_usage_error("--read-token-file %s: %s", file, strerror(errno));
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0] || strlen(buf) > TOKEN_MAX)
		bc_usage_error("--read-token-file %s: no token on its first line "
		               "(at most %d bytes)", file, TOKEN_MAX);
	return strdup(buf);
}

struct raw {
	const char *since, *grep, *color, *token_file;
	bool admin, list, no_follow;
	double timeout;
	struct bc_config cfg;
};

static void parse(struct tail *t, struct raw *o, int argc, char **argv)
{
	char *end;
	int c;

	while ((c = bc_cli_getopt(argc, argv, "t:n:fqh", long_opts)) != -1) {
		switch (c) {
		case 't': t->tid = optarg; break;
		case 'n':
			t->lines_given = true;
			t->lines = strcmp(optarg, "all") == 0 ? TAIL_LINES_ALL :
			           bc_cli_int("-n", optarg, 0, LLONG_MAX);
			break;
		case OPT_SINCE: o->since = optarg; break;
		case 'f': t->follow = true; o->no_follow = false; break;
		case OPT_NO_FOLLOW: o->no_follow = true; break;
		case OPT_EXIT_STATUS: t->exit_status = true; break;
		case OPT_TIMESTAMPS: t->timestamps = true; break;
		case OPT_COLOR: o->color = optarg; break;
		case OPT_GREP: o->grep = optarg; break;
		case OPT_INVERT: t->invert = true; break;
		case OPT_ADMIN: o->admin = true; break;
		case OPT_TYPE: t->types = optarg; break;
		case OPT_LIST: o->list = true; break;
		case OPT_STATUS: t->statuses = optarg; break;
		case OPT_JSON: t->json = true; break;
		case OPT_HUB: bc_cli_config_set(&o->cfg.hub, optarg); break;
		case OPT_READ_TOKEN_FILE: o->token_file = optarg; break;
		case OPT_COUNT: t->count = bc_cli_int("--count", optarg, 1, LLONG_MAX); break;
		case OPT_TIMEOUT:
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(o->timeout > 0) ||
			    o->timeout > 1e9)
				bc_usage_error("--timeout wants a positive number of "
				               "seconds: '%s'", optarg);
			break;
		case OPT_ONCE: t->once = true; break;
		case 'q': t->quiet = true; break;
		case 'h':
			bc_print_help(usage_text);
		case OPT_VERSION: bc_print_version();
		default: bc_usage_error("unknown option");
		}
	}
	if (optind < argc && t->tid)
		bc_usage_error("unexpected argument: '%s'", argv[optind]);
	if (optind < argc)
		t->tid = argv[optind++];
	if (optind < argc)
		bc_usage_error("unexpected argument: '%s'", argv[optind]);
}

/* Options that only make sense with others. */
static void check(struct tail *t, struct raw *o)
{
	bool history = t->lines_given || o->since || o->no_follow ||
	               t->exit_status;

	if (t->tid && !bc_tid_valid(t->tid))
		bc_usage_error("invalid thread id: '%s'", t->tid);
	if (t->types && !o->admin)
		bc_usage_error("--type needs --admin");
	if (t->types && !list_valid(t->types, bc_event_type_valid))
		bc_usage_error("invalid event type list: '%s'", t->types);
	if (t->statuses && !o->list)
		bc_usage_error("--status needs --list");
	if (t->statuses && !list_valid(t->statuses, status_valid))
		bc_usage_error("invalid status list: '%s' (running, completed, "
		               "error, cancelled, paused)", t->statuses);
	if (o->list && (t->tid || o->admin || o->since || o->no_follow ||
	                t->exit_status || o->grep || t->count))
		bc_usage_error("--list takes only --status, -n, --json and --hub");
	if (o->admin && (history || o->grep))
		bc_usage_error("-n, --since, --no-follow, --exit-status and --grep "
		               "are for log lines, not --admin");
	if (!o->list && !o->admin && !t->tid && history)
		bc_usage_error("-n, --since, --no-follow and --exit-status need a "
		               "thread");
	if (t->invert && !o->grep)
		bc_usage_error("--invert needs --grep");
	if (o->color && strcmp(o->color, "auto") != 0 &&
	    strcmp(o->color, "always") != 0 && strcmp(o->color, "never") != 0)
		bc_usage_error("--color wants auto, always or never: '%s'", o->color);
}

void tail_options(struct tail *t, int argc, char **argv)
{
	struct raw o = { 0 };
	struct bc_url u;
	char err[256];
	const char *term = getenv("TERM"), *nocolor = getenv("NO_COLOR");
	int rc;

	memset(t, 0, sizeof *t);
	t->follow = true;
	t->last_seq = -1;
	bc_cli_config_load(&o.cfg, argc, argv);
	parse(t, &o, argc, argv);
	bc_cli_config_ready(&o.cfg);
	check(t, &o);
	t->mode = o.list ? MODE_LIST : o.admin ? MODE_ADMIN :
	          t->tid ? MODE_THREAD : MODE_ALL;
	t->follow = !o.no_follow;
	if (!t->lines_given)
		t->lines = o.since ? TAIL_LINES_ALL : TAIL_LINES_DEFAULT;
	if (o.since && tail_since_parse(o.since, bc_now_us(), &t->since_us) != 0)
		bc_usage_error("--since wants 30s, 10m, 2h, 1d or a time like "
		               "2026-12-03T09:00:00Z: '%s'", o.since);
	if (o.grep && (rc = regcomp(&t->grep, o.grep, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &t->grep, err, sizeof err);
		bc_usage_error("--grep '%s': %s", o.grep, err);
	}
	t->grep_set = o.grep != NULL;
	if (!o.color || strcmp(o.color, "auto") == 0)
		t->color = isatty(STDOUT_FILENO) && !(nocolor && *nocolor) &&
		           term && strcmp(term, "dumb") != 0;
	else
		t->color = strcmp(o.color, "always") == 0;
	t->color = t->color && !t->json;
	if (bc_url_parse(o.cfg.hub, &u, err, sizeof err) != 0 ||
	    strcmp(u.scheme, "http") != 0)
		bc_usage_error("invalid hub URL: '%s'", o.cfg.hub);
	if (!(t->hub = strdup(o.cfg.hub)))
		bc_die(BC_EX_SOFTWARE, "out of memory");
	for (size_t n = strlen(t->hub); n > 0 && t->hub[n - 1] == '/'; n--)
		t->hub[n - 1] = '\0';
	t->token = read_token(o.token_file, o.cfg.read_token, o.cfg.token);
	if (o.timeout > 0)
		t->deadline_ms = bc_now_ms() + (int64_t)(o.timeout * 1000);
	bc_config_free(&o.cfg);
}

void tail_free(struct tail *t)
{
	if (t->grep_set)
		regfree(&t->grep);
	if (t->get)
		curl_easy_cleanup(t->get);
	tail_seen_free(&t->seen);
	free(t->hub);
	free(t->token);
}
