/* tail.h - what the files of bcast-tail share: the options and state of
 * one run of the program (struct tail) and the verbs of each file.
 *
 *   main.c     options -> tail_list or tail_follow -> exit code
 *   opts.c     the options, the help text, the credential
 *   stream.c   the SSE streams (lines, and the run-end watch), reconnects
 *   history.c  GET /admin/runs/{tid}/logs, paged, and the run's end
 *   runs.c     GET /admin/runs: --list, and one run's status
 *   http.c     one-shot JSON GETs with the bearer token
 *   print.c    how a record or event is printed (colour, --grep, dedupe)
 *   when.c     RFC 3339 and --since times, durations */
#ifndef BCAST_TAIL_H
#define BCAST_TAIL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "bc_buf.h"
#include "bc_record.h"

#define PROG "bcast-tail"
#define TAIL_LINES_DEFAULT 10   /* -n when following one thread */
#define TAIL_LINES_ALL -1       /* -n all */

enum tail_mode { MODE_ALL, MODE_THREAD, MODE_ADMIN, MODE_LIST };

enum tail_color { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

enum tail_stop {
	RUN = 0,
	STOP_DONE,      /* --count, --timeout, SIGTERM, --no-follow done */
	STOP_SIGINT,    /* Ctrl-C: exit 130 */
	STOP_ENDED,     /* the followed run ended */
	STOP_PIPE,      /* stdout's reader went away */
	STOP_IOERR,     /* stdout failed otherwise */
	STOP_FATAL,     /* an error already reported; exit with t->fatal */
};

/* A run's end, from GET /admin/runs or a run_* admin event. */
struct tail_end {
	char status[72];   /* completed, error, cancelled */
	int exit_code;     /* -1: none given */
};

struct seen_key {
	uint64_t tid;   /* FNV-1a of the thread id */
	uint64_t seq1;  /* seq + 1; 0 marks an empty slot */
};

struct seen {
	struct seen_key *cur, *old;
	size_t n;       /* keys in cur */
};

struct tail {
	/* options */
	enum tail_mode mode;
	const char *tid;
	const char *types;        /* --type */
	const char *statuses;     /* --status */
	bool json, quiet, once, follow, timestamps, exit_status, invert;
	bool color;               /* resolved from --color */
	long long lines;          /* -n: TAIL_LINES_ALL or >= 0 */
	bool lines_given;
	int64_t since_us;         /* --since, 0: none */
	long long count;          /* --count, 0: no limit */
	int64_t deadline_ms;      /* --timeout, 0: none */
	regex_t grep;
	bool grep_set;
	char *hub;                /* base URL without a trailing '/' */
	char *token;              /* read credential or NULL */

	/* state */
	long long printed;
	long long last_seq;       /* MODE_THREAD: highest seq handled, -1 none */
	bool history_done;        /* the first history (-n/--since) is printed */
	struct seen seen;         /* MODE_ALL: (thread, seq) already printed */
	enum tail_stop stop;
	int fatal;                /* exit status for STOP_FATAL */
	int out_errno;
	bool outage;              /* "unreachable" was said */
	bool skipped_warned;
	struct tail_end end;      /* valid when stop == STOP_ENDED */
	char why[2048];  /* why the last attempt failed */
	CURL *get;                /* for JSON GETs, kept alive */
};

/* opts.c: fill t from argv and the environment; exits 64 on misuse. */
void tail_options(struct tail *t, int argc, char **argv);
/* Free what tail_options and tail_setup allocated. */
void tail_free(struct tail *t);

/* stream.c: follow (or only print history with --no-follow) until
 * stopped. Returns an exit status. */
int tail_follow(struct tail *t);
/* Self-pipe and handlers for SIGINT/SIGTERM; SIGPIPE ignored. 0 or -1. */
int tail_signals_init(void);
/* The signal that came (SIGINT, SIGTERM), or 0; drains the self-pipe. */
int tail_signalled(void);
extern volatile int tail_pending_signal;

/* http.c */
struct tail_get {
	long status;          /* HTTP status, 0 when none came */
	struct bc_buf body;   /* capped */
	char next[64];        /* X-Next-After or X-Next-Before, "" if absent */
	char err[CURL_ERROR_SIZE];
};
/* A new easy handle with what every request of bcast-tail sets (no
 * signals, the connect timeout, the user agent); NULL on out-of-memory.
 * The caller cleans it up. */
CURL *tail_http_easy(void);
/* Set up t->get. 0 or -1. */
int tail_http_init(struct tail *t);
/* Add the Accept and Authorization headers to list; NULL on
 * out-of-memory (list is then freed). */
struct curl_slist *tail_http_headers(const struct tail *t,
                                     struct curl_slist *list,
                                     const char *accept);
/* GET hub + path into g (initialised here; bc_buf_free(&g->body) after).
 * Returns 0 when a response came (any status), -1 when the hub could not
 * be reached or a signal or the deadline stopped it (g->err says why). */
int tail_http_get(struct tail *t, const char *path, struct tail_get *g);
/* One line on why a response is not a 2xx, from its {"error":...} body:
 * "HTTP 400: bad parameter ...". */
void tail_http_why(const struct tail_get *g, char *buf, size_t n);
/* Classify a failed GET and fill t->why. Returns 0 when worth retrying
 * (unreachable, 5xx), or an exit status to stop with (69). */
int tail_http_failed(struct tail *t, const char *path, int rc,
                     const struct tail_get *g);

/* history.c: print the thread's history. first: as -n/--since ask;
 * otherwise every line after t->last_seq. 0, -1 to retry (t->why), or
 * an exit status. */
int tail_history(struct tail *t, bool first);

/* runs.c */
/* --list. Returns an exit status. */
int tail_list(struct tail *t);
/* Whether t->tid's run has ended: 1 (end filled), 0 (running, paused or
 * not known), -1 to retry (t->why), or an exit status > 1. */
int tail_run_ended(struct tail *t, struct tail_end *end);

/* print.c */
/* Print a log record (json: its text as received, for --json). */
void tail_print_record(struct tail *t, const struct bc_record *r,
                       const char *json, size_t n);
void tail_print_event(struct tail *t, const struct bc_event *e,
                      const char *json, size_t n);
void tail_out_flush(struct tail *t);
/* The end of the followed run on stderr: "run X completed, exit 0". */
void tail_print_end(const struct tail *t);
/* A reset event's data as a notice on stderr; refill: the missed lines
 * are read from the history next. */
void tail_print_reset(const struct tail *t, const char *data, bool refill);
/* "bcast-tail: skipping an event: WHY" unless --quiet. */
void tail_skip_warn(struct tail *t, const char *why);
/* The exit status --exit-status gives for a run's end. */
int tail_end_status(const struct tail_end *end);
/* seen set for MODE_ALL. 0 or -1. */
int tail_seen_init(struct seen *s);
void tail_seen_free(struct seen *s);

/* when.c */
/* Parse an RFC 3339 time ("2026-11-25T19:08:10.123456Z"); with
 * local_ok, also "YYYY-MM-DD[ HH:MM[:SS]]" in local time. 0 or -1. */
int tail_time_parse(const char *s, bool local_ok, int64_t *us);
/* --since: "10m", "2h", "30s", "1d", "1.5h", or a time as above. */
int tail_since_parse(const char *s, int64_t now_us, int64_t *us);
/* "12s", "3m07s", "2h05m", "3d04h". */
void tail_duration_format(int64_t secs, char *buf, size_t n);

#endif
