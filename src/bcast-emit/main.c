/* bcast-emit - broadcast a run's output lines: stdin (pipe mode) or a
 * command's stdout and stderr (command mode) go to Redis or the spool,
 * and live to the hub; run_started and the run's end are posted as admin
 * events, and at the end the thread is flushed into the DB.
 *
 * The loop polls its inputs and a self-pipe for signals, reads what is
 * there (up to READ_MAX per input per turn), splits it into lines (reader),
 * makes the batch durable (sink) before reading on, then offers it to the
 * hub (sender), which never makes the loop wait. So a killed bcast-emit
 * loses at most what the pipe holds and the batch being stored. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bc_config.h"
#include "bc_record.h"
#include "bc_tid.h"
#include "cli.h"
#include "emit.h"

#define PROG "bcast-emit"
#define READ_CHUNK (256 * 1024)
#define READ_MAX (256 * 1024)       /* bytes read per input per turn */
#define IDLE_AFTER_EXIT_MS 500      /* read on this long after CMD exits */
#define SENDER_WAIT_MS 10000        /* live delivery at the end, at most */
#define MAX_LINE_MIN 4
#define MAX_LINE_MAX (16 * 1024 * 1024)

static const char usage_text[] =
"Usage: " PROG " -t THREAD [OPTION]... [-- CMD [ARG]...]\n"
"Broadcast lines: stdin, or CMD's stdout and stderr, go to Redis (or the\n"
"spool) and live to the hub; the thread is flushed into the DB at the end.\n"
"\n"
"  -t, --thread THREAD   the run's thread id, [A-Za-z0-9_.:-]{1,128}\n"
"      --tee             copy the input to stdout unchanged (CMD's stderr\n"
"                        to stderr)\n"
"      --no-flush        leave the lines in Redis/spool at the end\n"
"      --hub URL         hub address (BCAST_HUB, http://127.0.0.1:8090)\n"
"      --redis URL       Redis, or 'none' (BCAST_REDIS, redis://127.0.0.1:6379)\n"
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
"failed (the lines stay buffered). 64 on bad usage.\n";

enum { OPT_TEE = 256, OPT_NO_FLUSH, OPT_HUB, OPT_REDIS, OPT_DB, OPT_SPOOL,
       OPT_TOKEN, OPT_FSYNC, OPT_MAX_LINE, OPT_VERSION };

static const struct option long_opts[] = {
	{ "thread", required_argument, NULL, 't' },
	{ "tee", no_argument, NULL, OPT_TEE },
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

struct opts {
	const char *tid;
	bool tee, no_flush;
	enum bc_fsync fsync;
	size_t max_line;
	char **cmd;               /* NULL in pipe mode */
	struct bc_config cfg;
};

struct input {
	int fd;
	int stream;
	int tee_fd;               /* -1: no tee */
	bool open;
};

struct run {
	const struct opts *o;
	struct sink *sink;
	struct sender *sender;
	struct reader *reader;
	struct batch batch;
	struct bc_strv recs;
	struct input in[2];
	int nin;
	bool tee_failed;
	int stop_signal;          /* pipe mode: SIGINT/SIGTERM received */
	bool child_done;
	int child_status;
	struct child child;
};

static int sig_pipe[2] = { -1, -1 };
static volatile pid_t child_pid = -1;
static volatile sig_atomic_t terminating;

static void on_signal(int sig)
{
	int e = errno;
	unsigned char c = (unsigned char)sig;

	if (sig != SIGCHLD) {
		terminating = 1;
		if (child_pid > 0)
			kill(child_pid, sig);
	}
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* a full pipe already holds a wake-up */
	}
	errno = e;
}

static void signals_init(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		bc_die(BC_EX_SOFTWARE, "cannot create a pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_flags |= SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	o->max_line = BC_LINE_MAX_DEFAULT;
	o->fsync = BC_FSYNC_NONE;
	if (bc_config_load(&o->cfg) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	while ((c = bc_cli_getopt(argc, argv, "+t:h", long_opts)) != -1) {
		switch (c) {
		case 't': o->tid = optarg; break;
		case OPT_TEE: o->tee = true; break;
		case OPT_NO_FLUSH: o->no_flush = true; break;
		case OPT_HUB: bc_cli_config_set(&o->cfg.hub, optarg); break;
		case OPT_REDIS: bc_cli_config_set(&o->cfg.redis, optarg); break;
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
	if (!o->tid)
		bc_usage_error("missing -t THREAD");
	if (!bc_tid_valid(o->tid))
		bc_usage_error("invalid thread id '%s': it must match "
		               "[A-Za-z0-9_.:-]{1,128}", o->tid);
	if (optind < argc)
		o->cmd = argv + optind;
}

/* {"argv":[...]} with each argument cleaned to valid UTF-8. */
static char *argv_json(char **cmd)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();
	struct bc_buf b;
	char *s = NULL;

	bc_buf_init(&b, 0);
	if (!o || !a)
		goto out;
	for (; cmd && *cmd; cmd++) {
		bc_buf_reset(&b);
		if (bc_line_clean(*cmd, strlen(*cmd), &b) != 0)
			goto out;
		json_object_array_add(a, json_object_new_string_len(b.data,
		                                                    (int)b.len));
	}
	json_object_object_add(o, "argv", a);
	a = NULL;
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(a);
	json_object_put(o);
	bc_buf_free(&b);
	return s;
}

/* Store the batch (retrying each second while neither Redis nor the spool
 * takes it), then offer it to the hub. */
static void handoff(struct run *r)
{
	char err[512];
	bool warned = false;

	if (r->batch.n == 0)
		return;
	while (sink_put(r->sink, &r->batch, &r->recs, err, sizeof err) != 0) {
		if (terminating && warned)
			bc_die(BC_EX_IOERR, "%zu lines could not be stored: %s",
			       r->batch.n, err);
		if (!warned)
			bc_warn("cannot store lines (%s); retrying every second",
			        err);
		warned = true;
		sleep(1);
	}
	sender_logs(r->sender, &r->recs);
	bc_strv_clear(&r->recs);
	batch_reset(&r->batch);
}

static void tee_out(struct run *r, const struct input *in, const char *p,
                size_t n)
{
	ssize_t w;

	while (n > 0 && !r->tee_failed) {
		w = write(in->tee_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != EPIPE)
				bc_warn("--tee: write error: %s", strerror(errno));
			r->tee_failed = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static bool readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

static void close_input(struct run *r, struct input *in)
{
	if (reader_finish(r->reader, in->stream, &r->batch) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	if (in->fd != STDIN_FILENO)
		close(in->fd);
	in->open = false;
}

/* Read what in has now, up to READ_MAX bytes, into the batch. */
static void read_input(struct run *r, struct input *in)
{
	static char buf[READ_CHUNK];
	size_t total = 0;
	ssize_t n;

	do {
		n = read(in->fd, buf, sizeof buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (n < 0)
			bc_warn("read error: %s", strerror(errno));
		if (n <= 0) {
			close_input(r, in);
			return;
		}
		if (in->tee_fd >= 0)
			tee_out(r, in, buf, (size_t)n);
		if (reader_feed(r->reader, in->stream, buf, (size_t)n,
		                &r->batch) != 0)
			bc_die(BC_EX_SOFTWARE, "out of memory");
		total += (size_t)n;
	} while (total < READ_MAX && readable_now(in->fd));
}

static void on_signals(struct run *r)
{
	unsigned char c;

	while (read(sig_pipe[0], &c, 1) == 1) {
		if (c == SIGCHLD) {
			if (r->o->cmd && !r->child_done &&
			    child_reap(&r->child, false, &r->child_status) == 1) {
				r->child_done = true;
				child_pid = -1;
			}
		} else if (!r->o->cmd) {
			r->stop_signal = c;
		}
	}
}

static bool any_open(const struct run *r)
{
	for (int i = 0; i < r->nin; i++)
		if (r->in[i].open)
			return true;
	return false;
}

/* The read loop; returns when the input ends (pipe mode: EOF or a signal;
 * command mode: CMD exited and its pipes closed or went quiet). */
static void pump(struct run *r)
{
	struct pollfd p[3];
	int n, timeout;

	for (;;) {
		if (r->o->cmd ? r->child_done && !any_open(r) : !any_open(r))
			break;
		p[0] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
		n = 1;
		for (int i = 0; i < r->nin; i++)
			if (r->in[i].open)
				p[n++] = (struct pollfd){ .fd = r->in[i].fd,
				                          .events = POLLIN };
		timeout = r->child_done ? IDLE_AFTER_EXIT_MS :
		          r->o->cmd ? 1000 : -1;
		int k = poll(p, (nfds_t)n, timeout);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			bc_die(BC_EX_SOFTWARE, "poll: %s", strerror(errno));
		if (k == 0 && r->child_done)
			break;
		if (k == 0 && r->o->cmd && !r->child_done &&
		    child_reap(&r->child, false, &r->child_status) == 1) {
			r->child_done = true;
			child_pid = -1;
		}
		if (p[0].revents)
			on_signals(r);
		if (r->stop_signal)
			break;
		for (int i = 0, j = 1; i < r->nin; i++) {
			if (!r->in[i].open)
				continue;
			if (p[j++].revents)
				read_input(r, &r->in[i]);
		}
		handoff(r);
	}
	for (int i = 0; i < r->nin; i++)
		if (r->in[i].open)
			close_input(r, &r->in[i]);
	handoff(r);
}

/* The terminal event, the status recorded with the flush, and the exit
 * code, from how the run ended. */
struct end {
	const char *type, *status;
	char data[64];
	int exit_code;            /* for the store; -1 when none */
	int rc;
};

static void end_of(const struct run *r, int spawn_errno, struct end *e)
{
	int code, sig = 0;

	if (!r->o->cmd) {
		sig = r->stop_signal;
		code = 0;
	} else if (spawn_errno) {
		code = spawn_errno == EACCES || spawn_errno == ENOEXEC ? 126 : 127;
	} else if (WIFSIGNALED(r->child_status)) {
		sig = WTERMSIG(r->child_status);
	} else {
		code = WEXITSTATUS(r->child_status);
	}
	if (sig) {
		*e = (struct end){ "run_cancelled", "cancelled", "", 128 + sig,
		                   128 + sig };
		snprintf(e->data, sizeof e->data, "{\"signal\":%d}", sig);
		return;
	}
	if (code == 0)
		*e = (struct end){ "run_completed", "completed", "", 0, 0 };
	else
		*e = (struct end){ "run_error", "error", "", code, code };
	snprintf(e->data, sizeof e->data, "{\"exit_code\":%d}", code);
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct run r = { 0 };
	struct sink_opts so;
	struct end end;
	char err[512], *start_data;
	int spawn_errno = 0;

	bc_cli_init(PROG);
	parse_args(argc, argv, &o);
	signals_init();
	r.o = &o;
	if (!(r.sender = sender_new(o.cfg.hub, o.cfg.token, o.tid, err,
	                            sizeof err)))
		bc_usage_error("--hub: %s", err);
	so = (struct sink_opts){ o.tid,
		bc_config_no_redis(&o.cfg) ? NULL : o.cfg.redis,
		o.cfg.spool, o.fsync };
	if (!(r.sink = sink_new(&so, err, sizeof err)))
		bc_die(BC_EX_IOERR, "cannot buffer lines: %s", err);
	if (!o.no_flush)
		sink_floor_from_db(r.sink, o.cfg.db);
	if (!(r.reader = reader_new(o.max_line)))
		bc_die(BC_EX_SOFTWARE, "out of memory");
	batch_init(&r.batch, 4 * (READ_MAX + o.max_line + 2));
	bc_strv_init(&r.recs);

	start_data = o.cmd ? argv_json(o.cmd) : NULL;
	sender_event(r.sender, "run_started", start_data ? start_data : "{}");
	free(start_data);
	if (o.cmd) {
		if (child_spawn(o.cmd, &r.child) != 0) {
			spawn_errno = errno;
			bc_warn("cannot run '%s': %s", o.cmd[0], strerror(errno));
		} else {
			child_pid = r.child.pid;
			r.in[0] = (struct input){ r.child.out, STREAM_STDOUT,
			                          o.tee ? STDOUT_FILENO : -1, true };
			r.in[1] = (struct input){ r.child.err, STREAM_STDERR,
			                          o.tee ? STDERR_FILENO : -1, true };
			r.nin = 2;
		}
	} else {
		r.in[0] = (struct input){ STDIN_FILENO, STREAM_STDOUT,
		                          o.tee ? STDOUT_FILENO : -1, true };
		r.nin = 1;
	}
	if (r.nin)
		pump(&r);
	if (o.cmd && !spawn_errno && !r.child_done) {
		child_reap(&r.child, true, &r.child_status);
		child_pid = -1;
	}
	end_of(&r, spawn_errno, &end);

	if (!o.no_flush && sink_flush(r.sink, o.cfg.db, end.status,
	                              end.exit_code, err, sizeof err) != 0) {
		bc_warn("flush failed (%s); lines stay buffered, run bcast-flush "
		        "later", err);
		if (!o.cmd && end.rc == 0)
			end.rc = BC_EX_TEMPFAIL;
	}
	sender_event(r.sender, end.type, end.data);
	sender_finish(r.sender, SENDER_WAIT_MS);
	sink_free(r.sink);
	reader_free(r.reader);
	batch_free(&r.batch);
	bc_strv_free(&r.recs);
	bc_config_free(&o.cfg);
	if (bc_close_stdout() != 0 && end.rc == 0)
		end.rc = BC_EX_IOERR;
	return end.rc;
}
