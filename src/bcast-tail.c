/* bcast-tail - print a hub's Server-Sent Events stream on a terminal.
 *
 * One libcurl easy handle on a multi handle: the write callback feeds a
 * bc_sse parser, and each event's data (one JSON object) is printed as
 * the line itself (-t), "THREAD | line" (all threads), "THREAD TYPE DATA"
 * (--admin) or as-is (--json). stdout is flushed after every chunk read
 * from the hub, so a pipe sees lines as they come.
 *
 * When the hub is not there or goes away, the stream is opened again
 * after 0.2 s, doubling to 5 s, back to 0.2 s once a connection succeeds;
 * the Last-Event-ID header is sent as a browser would. A log record whose
 * (thread_id, seq) was already printed is dropped, so a replay or a
 * repeated POST never shows a line twice: the identities seen are kept in
 * two generations of a hash set, so the last SEEN_GEN (or more) are always
 * remembered in bounded memory.
 *
 * SIGINT and SIGTERM write to a self-pipe whose read end is polled with
 * the transfer (curl_multi_poll) and during the backoff waits, so they
 * end the program at once. SIGPIPE is ignored: a write error on stdout is
 * seen by fflush, EPIPE ends quietly with 0, anything else exits 74. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bc_config.h"
#include "bc_exit.h"
#include "bc_record.h"
#include "bc_sse.h"
#include "bc_tid.h"
#include "bc_url.h"
#include "cli.h"

#define PROG "bcast-tail"
#define USAGE \
"Usage: bcast-tail [-t THREAD | --admin [--type TYPE,...] [-t THREAD]]\n" \
"                  [--json] [--hub URL] [--count N] [--timeout SECONDS]\n" \
"                  [--once] [-q]\n" \
"Print live log lines (or admin events) from a bcast hub's SSE stream.\n" \
"\n" \
"  -t, --thread THREAD  only this thread's lines (with --admin: its events)\n" \
"      --admin          admin events instead of log lines\n" \
"      --type LIST      with --admin: only these comma-separated event types\n" \
"      --json           print each event's JSON object, one per line (NDJSON)\n" \
"      --hub URL        the hub (env BCAST_HUB, default http://127.0.0.1:8090)\n" \
"      --count N        exit 0 after printing N events\n" \
"      --timeout SECONDS  exit 0 after SECONDS (decimals allowed)\n" \
"      --once           do not reconnect; exit 69 if the hub cannot be reached\n" \
"  -q, --quiet          no messages about connections or skipped events\n" \
"  -h, --help           show this help and exit\n" \
"      --version        show the version and exit\n" \
"\n" \
"Plain output is the line itself with -t, \"THREAD | line\" for all threads,\n" \
"\"THREAD TYPE DATA\" for admin events. Lines already printed (same thread\n" \
"and seq) are never printed again. Without --once, bcast-tail reconnects\n" \
"with backoff (0.2 s doubling to 5 s) until it is stopped.\n" \
"Exit status: 0 ok (also on --count, --timeout, SIGINT, SIGTERM, closed\n" \
"pipe), 64 usage, 69 hub unreachable (--once) or refusing the stream,\n" \
"74 write error on stdout.\n"

#define MAX_EVENT (4u << 20)      /* bytes of one SSE event */
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 10000
#define SEEN_GEN 32768            /* identities per generation */
#define SEEN_SLOTS (2 * SEEN_GEN) /* power of two, load <= 1/2 */

enum mode { MODE_ALL, MODE_THREAD, MODE_ADMIN };

enum stop {
	RUN = 0,
	STOP_DONE,      /* --count reached, --timeout passed, a signal */
	STOP_PIPE,      /* stdout's reader went away */
	STOP_IOERR,     /* stdout failed otherwise */
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
	enum mode mode;
	const char *tid;
	bool json, quiet, once;
	long long count;         /* 0: no limit */
	long long printed;
	int64_t deadline_ms;     /* 0: none */
	const char *hub;         /* base URL without a trailing '/' */
	char *url;
	CURL *curl;
	CURLM *multi;
	struct curl_slist *headers;
	struct bc_sse_parser *parser;
	struct seen seen;
	enum stop stop;
	int out_errno;           /* errno of a failed write to stdout */
	bool connected;          /* this attempt got a 200 text/event-stream */
	long status;             /* HTTP status of this attempt, 0 if none */
	bool outage;             /* the hub was reported unreachable */
	bool skipped_warned;
	char last_id[256];
	char errbuf[CURL_ERROR_SIZE];
};

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = saved;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t seen_slot(const struct seen_key *k)
{
	uint64_t x = k->tid ^ (k->seq1 * 0x9e3779b97f4a7c15ull);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (size_t)(x & (SEEN_SLOTS - 1));
}

static bool seen_in(const struct seen_key *tab, const struct seen_key *k)
{
	for (size_t i = seen_slot(k);; i = (i + 1) & (SEEN_SLOTS - 1)) {
		if (tab[i].seq1 == 0)
			return false;
		if (tab[i].seq1 == k->seq1 && tab[i].tid == k->tid)
			return true;
	}
}

/* True if (tid, seq) was seen before; otherwise remember it. */
static bool seen_check(struct seen *s, const char *tid, long long seq)
{
	struct seen_key k = { fnv1a(tid), (uint64_t)seq + 1 };

	if (seen_in(s->cur, &k) || seen_in(s->old, &k))
		return true;
	if (s->n == SEEN_GEN) {
		struct seen_key *t = s->old;
		s->old = s->cur;
		s->cur = t;
		memset(s->cur, 0, SEEN_SLOTS * sizeof *s->cur);
		s->n = 0;
	}
	size_t i = seen_slot(&k);
	while (s->cur[i].seq1 != 0)
		i = (i + 1) & (SEEN_SLOTS - 1);
	s->cur[i] = k;
	s->n++;
	return false;
}

static void out_failed(struct tail *t)
{
	t->out_errno = errno;
	t->stop = errno == EPIPE ? STOP_PIPE : STOP_IOERR;
}

/* fwrite to stdout; a failure sets t->stop. */
static void out(struct tail *t, const char *p, size_t n)
{
	if (t->stop == RUN && n && fwrite(p, 1, n, stdout) != n)
		out_failed(t);
}

static void out_flush(struct tail *t)
{
	if (fflush(stdout) != 0 && (t->stop == RUN || t->stop == STOP_DONE))
		out_failed(t);
}

static void skip_warn(struct tail *t, const char *why)
{
	if (!t->quiet)
		bc_warn("skipping an event: %s", why);
}

/* Print the JSON text n bytes at p on one line. */
static void out_json(struct tail *t, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t k = i;
		while (k < n && p[k] != '\n' && p[k] != '\r')
			k++;
		out(t, p + i, k - i);
		if (k < n)
			out(t, " ", 1);
		i = k + 1;
	}
	out(t, "\n", 1);
}

static void print_record(struct tail *t, const struct bc_sse_event *ev)
{
	struct bc_record r = { 0 };
	char err[256];

	if (bc_record_decode(ev->data, ev->data_len, &r, err, sizeof err) != 0) {
		skip_warn(t, err);
		return;
	}
	if (!seen_check(&t->seen, r.thread_id, r.seq)) {
		if (t->json) {
			out_json(t, ev->data, ev->data_len);
		} else {
			if (t->mode == MODE_ALL) {
				out(t, r.thread_id, strlen(r.thread_id));
				out(t, " | ", 3);
			}
			out(t, r.line, r.line_len);
			out(t, "\n", 1);
		}
		t->printed++;
	}
	bc_record_clear(&r);
}

static void print_event(struct tail *t, const struct bc_sse_event *ev)
{
	struct bc_event e = { 0 };
	char err[256];

	if (bc_event_decode(ev->data, ev->data_len, &e, err, sizeof err) != 0) {
		skip_warn(t, err);
		return;
	}
	if (t->json) {
		out_json(t, ev->data, ev->data_len);
	} else {
		out(t, e.thread_id, strlen(e.thread_id));
		out(t, " ", 1);
		out(t, e.type, strlen(e.type));
		out(t, " ", 1);
		out_json(t, e.data ? e.data : "{}", e.data ? strlen(e.data) : 2);
	}
	t->printed++;
	bc_event_clear(&e);
}

static int on_event(const struct bc_sse_event *ev, void *arg)
{
	struct tail *t = arg;

	snprintf(t->last_id, sizeof t->last_id, "%s", ev->id);
	if (t->stop != RUN)
		return 1;
	if (t->mode == MODE_ADMIN)
		print_event(t, ev);
	else
		print_record(t, ev);
	if (t->stop == RUN && t->count && t->printed >= t->count)
		t->stop = STOP_DONE;
	return t->stop != RUN;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct tail *t = arg;
	size_t len = size * n;

	if (!t->connected || t->stop != RUN)
		return 0;
	if (bc_sse_parser_feed(t->parser, p, len) == -1 && !t->skipped_warned) {
		skip_warn(t, "larger than 4 MiB");
		t->skipped_warned = true;
	}
	out_flush(t);
	return t->stop == RUN ? len : 0;
}

/* At the blank line ending the response headers, decide whether this is
 * the stream: 200 and text/event-stream. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct tail *t = arg;
	size_t len = size * n;
	char *ct = NULL;

	if (len > 2 || (p[0] != '\r' && p[0] != '\n'))
		return len;
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
	curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &ct);
	if (t->status == 200 && ct && strncasecmp(ct, "text/event-stream", 17) == 0) {
		t->connected = true;
		if (t->outage && !t->quiet)
			bc_warn("connected to hub at %s again", t->hub);
		t->outage = false;
	}
	return len;
}

static int setup_curl(struct tail *t)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	t->curl = curl_easy_init();
	t->multi = curl_multi_init();
	if (!t->curl || !t->multi)
		return -1;
	t->headers = curl_slist_append(NULL, "Accept: text/event-stream");
	if (!t->headers)
		return -1;
	curl_easy_setopt(t->curl, CURLOPT_URL, t->url);
	curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(t->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(t->curl, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(t->curl, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(t->curl, CURLOPT_USERAGENT, PROG "/" BC_VERSION);
	curl_easy_setopt(t->curl, CURLOPT_ACCEPT_ENCODING, NULL);
	t->parser = bc_sse_parser_new(MAX_EVENT, on_event, NULL, t);
	t->seen.cur = calloc(SEEN_SLOTS, sizeof *t->seen.cur);
	t->seen.old = calloc(SEEN_SLOTS, sizeof *t->seen.old);
	if (!t->parser || !t->seen.cur || !t->seen.old)
		return -1;
	return 0;
}

/* Drain the self-pipe; true if a signal came. */
static bool signalled(void)
{
	unsigned char buf[16];
	bool got = false;
	while (read(sig_pipe[0], buf, sizeof buf) > 0)
		got = true;
	return got;
}

static bool past_deadline(const struct tail *t)
{
	return t->deadline_ms && now_ms() >= t->deadline_ms;
}

/* Milliseconds to wait at most: want, cut to the deadline. */
static int wait_ms(const struct tail *t, int want)
{
	if (!t->deadline_ms)
		return want;
	int64_t left = t->deadline_ms - now_ms();
	if (left < 0)
		left = 0;
	return left < want ? (int)left : want;
}

/* One connection: run the transfer until it ends or t->stop is set.
 * Returns the transfer's CURLcode (CURLE_OK when it ended cleanly). */
static CURLcode stream_once(struct tail *t)
{
	struct curl_waitfd extra = { .fd = sig_pipe[0], .events = CURL_WAIT_POLLIN };
	struct curl_slist *hdrs = t->headers, *idh = NULL;
	CURLcode rc = CURLE_OK;
	int running = 1;
	char idline[300];

	if (t->last_id[0]) {
		snprintf(idline, sizeof idline, "Last-Event-ID: %s", t->last_id);
		idh = curl_slist_append(NULL, idline);
		if (idh) {
			idh->next = t->headers;
			hdrs = idh;
		}
	}
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, hdrs);
	t->connected = false;
	t->status = 0;
	t->errbuf[0] = '\0';
	bc_sse_parser_reset(t->parser);
	curl_multi_add_handle(t->multi, t->curl);
	while (running && t->stop == RUN) {
		if (curl_multi_perform(t->multi, &running) != CURLM_OK)
			break;
		if (!running || t->stop != RUN)
			break;
		if (curl_multi_poll(t->multi, &extra, 1, wait_ms(t, 1000), NULL) != CURLM_OK)
			break;
		if (signalled() || past_deadline(t))
			t->stop = STOP_DONE;
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(t->multi, &left)))
		if (m->msg == CURLMSG_DONE)
			rc = m->data.result;
	curl_multi_remove_handle(t->multi, t->curl);
	if (idh) {
		idh->next = NULL;
		curl_slist_free_all(idh);
	}
	return rc;
}

/* Why an attempt failed, for a message. */
static void failure(const struct tail *t, CURLcode rc, char *buf, size_t n)
{
	if (t->status && !t->connected)
		snprintf(buf, n, "HTTP %ld%s", t->status,
		         t->status == 200 ? ", not an event stream" : "");
	else if (t->errbuf[0])
		snprintf(buf, n, "%s", t->errbuf);
	else if (rc != CURLE_OK)
		snprintf(buf, n, "%s", curl_easy_strerror(rc));
	else
		snprintf(buf, n, "the stream ended");
}

/* Sleep ms, or less when a signal or the deadline comes first. */
static void backoff_wait(struct tail *t, int ms)
{
	struct pollfd pfd = { .fd = sig_pipe[0], .events = POLLIN };
	int64_t until = now_ms() + ms;

	for (;;) {
		int64_t left = until - now_ms();
		if (left <= 0)
			break;
		int r = poll(&pfd, 1, wait_ms(t, (int)left));
		if (r > 0 && signalled()) {
			t->stop = STOP_DONE;
			return;
		}
		if (past_deadline(t)) {
			t->stop = STOP_DONE;
			return;
		}
	}
}

/* Open the stream again and again until t->stop is set. Returns the exit
 * status. */
static int run(struct tail *t)
{
	int backoff = BACKOFF_MIN_MS;
	char why[CURL_ERROR_SIZE + 64];

	while (t->stop == RUN) {
		CURLcode rc = stream_once(t);
		if (t->stop != RUN)
			break;
		if (t->connected) {
			backoff = BACKOFF_MIN_MS;
			if (t->once)
				return BC_EX_OK;
			backoff_wait(t, backoff);
			continue;
		}
		failure(t, rc, why, sizeof why);
		if ((t->status >= 400 && t->status < 500) || t->status == 200) {
			bc_warn("hub at %s refused %s: %s", t->hub, t->url, why);
			return BC_EX_UNAVAILABLE;
		}
		if (t->once) {
			bc_warn("hub at %s unreachable (%s)", t->hub, why);
			return BC_EX_UNAVAILABLE;
		}
		if (!t->outage && !t->quiet)
			bc_warn("hub at %s unreachable (%s), retrying", t->hub, why);
		t->outage = true;
		backoff_wait(t, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	switch (t->stop) {
	case STOP_PIPE:
		return BC_EX_OK;
	case STOP_IOERR:
		bc_warn("write error on stdout: %s", strerror(t->out_errno));
		return BC_EX_IOERR;
	default:
		return BC_EX_OK;
	}
}

static int set_signals(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* Check a comma-separated list of event types. */
static bool types_valid(const char *list)
{
	char buf[1024];
	if (strlen(list) >= sizeof buf)
		return false;
	strcpy(buf, list);
	char *save = NULL;
	int n = 0;
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save), n++)
		if (!bc_event_type_valid(s))
			return false;
	return n > 0 && list[0] != ',' && list[strlen(list) - 1] != ',' &&
	       !strstr(list, ",,");
}

static char *build_url(const struct tail *t, const char *types)
{
	size_t n = strlen(t->hub) + 2 * BC_TID_MAX + (types ? strlen(types) : 0) + 64;
	char *u = malloc(n);
	if (!u)
		return NULL;
	if (t->mode == MODE_THREAD)
		snprintf(u, n, "%s/api/runs/%s/logs/stream", t->hub, t->tid);
	else if (t->mode == MODE_ALL)
		snprintf(u, n, "%s/api/logs/stream", t->hub);
	else
		snprintf(u, n, "%s/api/admin-events/stream%s%s%s%s%s", t->hub,
		         types || t->tid ? "?" : "",
		         types ? "type=" : "", types ? types : "",
		         types && t->tid ? "&" : "",
		         t->tid ? "thread_id=" : "");
	if (t->mode == MODE_ADMIN && t->tid)
		strcat(u, t->tid);
	return u;
}

int main(int argc, char **argv)
{
	enum { OPT_ADMIN = 256, OPT_TYPE, OPT_JSON, OPT_HUB, OPT_COUNT,
	       OPT_TIMEOUT, OPT_ONCE, OPT_VERSION };
	static const struct option longopts[] = {
		{ "thread", required_argument, NULL, 't' },
		{ "admin", no_argument, NULL, OPT_ADMIN },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "hub", required_argument, NULL, OPT_HUB },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct tail t = { .mode = MODE_ALL };
	struct bc_config cfg = { 0 };
	struct bc_url u;
	const char *types = NULL;
	char *hub = NULL, *end, err[256];
	bool admin = false;
	double timeout = 0;
	int c, status;

	bc_cli_init(PROG);
	if (bc_config_load(&cfg) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	while ((c = getopt_long(argc, argv, "t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			t.tid = optarg;
			break;
		case OPT_ADMIN:
			admin = true;
			break;
		case OPT_TYPE:
			types = optarg;
			break;
		case OPT_JSON:
			t.json = true;
			break;
		case OPT_HUB:
			bc_cli_config_set(&cfg.hub, optarg);
			break;
		case OPT_COUNT:
			errno = 0;
			t.count = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || t.count <= 0)
				bc_usage_error("--count wants a positive integer: '%s'", optarg);
			break;
		case OPT_TIMEOUT:
			errno = 0;
			timeout = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(timeout > 0) || timeout > 1e9)
				bc_usage_error("--timeout wants a positive number of seconds: '%s'", optarg);
			break;
		case OPT_ONCE:
			t.once = true;
			break;
		case 'q':
			t.quiet = true;
			break;
		case 'h':
			fputs(USAGE, stdout);
			bc_config_free(&cfg);
			exit(bc_close_stdout());
		case OPT_VERSION:
			bc_print_version();
		default:
			fputs("Try '" PROG " --help' for more information.\n", stderr);
			exit(BC_EX_USAGE);
		}
	}
	if (optind < argc)
		bc_usage_error("unexpected argument: '%s'", argv[optind]);
	if (t.tid && !bc_tid_valid(t.tid))
		bc_usage_error("invalid thread id: '%s'", t.tid);
	if (types && !admin)
		bc_usage_error("--type needs --admin");
	if (types && !types_valid(types))
		bc_usage_error("invalid event type list: '%s'", types);
	t.mode = admin ? MODE_ADMIN : t.tid ? MODE_THREAD : MODE_ALL;
	if (bc_url_parse(cfg.hub, &u, err, sizeof err) != 0 || strcmp(u.scheme, "http") != 0)
		bc_usage_error("invalid hub URL: '%s'", cfg.hub);
	hub = strdup(cfg.hub);
	if (!hub)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	for (size_t n = strlen(hub); n > 0 && hub[n - 1] == '/'; n--)
		hub[n - 1] = '\0';
	t.hub = hub;
	if (timeout > 0)
		t.deadline_ms = now_ms() + (int64_t)(timeout * 1000);
	t.url = build_url(&t, types);
	if (!t.url || set_signals() != 0 || setup_curl(&t) != 0)
		bc_die(BC_EX_SOFTWARE, "cannot set up: %s", strerror(errno ? errno : ENOMEM));

	status = run(&t);

	curl_multi_cleanup(t.multi);
	curl_easy_cleanup(t.curl);
	curl_slist_free_all(t.headers);
	curl_global_cleanup();
	bc_sse_parser_free(t.parser);
	free(t.seen.cur);
	free(t.seen.old);
	free(t.url);
	free(hub);
	bc_config_free(&cfg);
	if (t.stop == STOP_PIPE || status == BC_EX_IOERR) {
		fclose(stdout);
		return status;
	}
	int rc = bc_close_stdout();
	return status ? status : rc;
}
