/* loop.c - bcast-emit's run: the read loop between the inputs and the
 * library's buffer, and the run's start and end.
 *
 * The loop polls its inputs and a self-pipe for signals, reads what is
 * there (up to READ_MAX per input per turn), splits it into lines
 * (reader), has the buffer encode them once into one NDJSON text and
 * store it (Redis or the spool) before reading on, then offers the same
 * text to the hub (sender), which never makes the loop wait. So a killed
 * bcast-emit loses at most what the pipe holds and the batch being
 * stored. The buffer never prints: the loop says, once, when a Redis that
 * was asked for cannot be used. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bc_record.h"
#include "cli.h"
#include "emit.h"

#define READ_CHUNK (256 * 1024)
#define READ_MAX (256 * 1024)       /* bytes read per input per turn */
#define IDLE_AFTER_EXIT_MS 500      /* read on this long after CMD exits */
#define SENDER_WAIT_MS 10000        /* live delivery at the end, at most */

struct input {
	int fd;
	enum bc_stream stream;
	int tee_fd;               /* -1: no copy */
	bool open;
};

struct emit {
	const struct opts *o;
	struct bc_buffer *buffer;
	struct sender *sender;
	struct reader *reader;
	struct bc_lines lines;
	struct bc_batch batch;
	struct input in[2];
	int nin;
	bool tee_failed;
	bool warned_redis;
	int stop_signal;          /* pipe mode: SIGINT/SIGTERM received */
	int spawn_errno;          /* command mode: CMD could not be run */
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

/* One warning per run when a Redis that should be used is not. */
static void say_redis(struct emit *e)
{
	struct bc_buffer_state st;

	if (e->warned_redis)
		return;
	bc_buffer_state(e->buffer, &st);
	if (!st.redis_down)
		return;
	bc_warn("Redis unavailable (%s), spooling to %s", st.why,
	        e->o->cfg.spool);
	e->warned_redis = true;
}

struct emit *emit_new(const struct opts *o)
{
	struct emit *e = calloc(1, sizeof *e);
	struct bc_buffer_opts bo;
	enum bc_buffer_fail fail;
	char err[1024];

	if (!e)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	e->o = o;
	if (!(e->sender = sender_new(o->cfg.hub, o->cfg.token, o->tid, err,
	                             sizeof err)))
		bc_usage_error("%s", err);
	bc_buffer_opts_from(&bo, &o->cfg);
	bo.tid = o->tid;
	bo.fsync = o->fsync;
	if (!(e->buffer = bc_buffer_open(&bo, &fail, err, sizeof err))) {
		if (fail == BC_BUFFER_BAD_URL)
			bc_usage_error("%s", err);
		if (fail == BC_BUFFER_DENIED)
			bc_die(BC_EX_UNAVAILABLE, "%s", err);
		bc_die(BC_EX_IOERR, "cannot buffer lines: %s", err);
	}
	say_redis(e);
	if (!(e->reader = reader_new(o->max_line)))
		bc_die(BC_EX_SOFTWARE, "out of memory");
	bc_lines_init(&e->lines, 4 * (READ_MAX + o->max_line + 2));
	bc_batch_init(&e->batch);
	signals_init();
	return e;
}

/* Store the batch (retrying each second while neither Redis nor the spool
 * takes it), then offer it to the hub. */
static void hand_on(struct emit *e)
{
	bool warned = false;

	if (e->lines.n == 0)
		return;
	bc_batch_reset(&e->batch);
	/* Encoded once: a retry stores the same records (same seqs). */
	while ((e->batch.n == 0 &&
	        bc_buffer_encode(e->buffer, &e->lines, &e->batch) != 0) ||
	       bc_buffer_store(e->buffer, &e->batch) != 0) {
		if (terminating && warned)
			bc_die(BC_EX_IOERR, "%zu lines could not be stored: %s",
			       e->lines.n, bc_buffer_errstr(e->buffer));
		if (!warned)
			bc_warn("cannot store lines (%s); retrying every second",
			        bc_buffer_errstr(e->buffer));
		warned = true;
		sleep(1);
	}
	say_redis(e);
	sender_logs(e->sender, e->batch.text.data, e->batch.text.len);
	bc_lines_reset(&e->lines);
}

static void tee_out(struct emit *e, const struct input *in, const char *p,
                    size_t n)
{
	ssize_t w;

	while (n > 0 && !e->tee_failed) {
		w = write(in->tee_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != EPIPE)
				bc_warn("copying the output: write error: %s",
				        strerror(errno));
			e->tee_failed = true;
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

static void close_input(struct emit *e, struct input *in)
{
	if (reader_finish(e->reader, in->stream, &e->lines) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	if (in->fd != STDIN_FILENO)
		close(in->fd);
	in->open = false;
}

/* Read what in has now, up to READ_MAX bytes, into the batch. */
static void read_input(struct emit *e, struct input *in)
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
			close_input(e, in);
			return;
		}
		if (in->tee_fd >= 0)
			tee_out(e, in, buf, (size_t)n);
		if (reader_feed(e->reader, in->stream, buf, (size_t)n,
		                &e->lines) != 0)
			bc_die(BC_EX_SOFTWARE, "out of memory");
		total += (size_t)n;
	} while (total < READ_MAX && readable_now(in->fd));
}

static void child_ended(struct emit *e, bool block)
{
	if (e->o->cmd && !e->spawn_errno && !e->child_done &&
	    child_reap(&e->child, block, &e->child_status) == 1) {
		e->child_done = true;
		child_pid = -1;
	}
}

static void on_signals(struct emit *e)
{
	unsigned char c;

	while (read(sig_pipe[0], &c, 1) == 1) {
		if (c == SIGCHLD)
			child_ended(e, false);
		else if (!e->o->cmd)
			e->stop_signal = c;
	}
}

static bool any_open(const struct emit *e)
{
	for (int i = 0; i < e->nin; i++)
		if (e->in[i].open)
			return true;
	return false;
}

/* The read loop; returns when the input ends (pipe mode: EOF or a signal;
 * command mode: CMD exited and its pipes closed or went quiet). */
static void pump(struct emit *e)
{
	struct pollfd p[3];
	int n, timeout;

	for (;;) {
		if (e->o->cmd ? e->child_done && !any_open(e) : !any_open(e))
			break;
		p[0] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
		n = 1;
		for (int i = 0; i < e->nin; i++)
			if (e->in[i].open)
				p[n++] = (struct pollfd){ .fd = e->in[i].fd,
				                          .events = POLLIN };
		timeout = e->child_done ? IDLE_AFTER_EXIT_MS :
		          e->o->cmd ? 1000 : -1;
		int k = poll(p, (nfds_t)n, timeout);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			bc_die(BC_EX_SOFTWARE, "poll: %s", strerror(errno));
		if (k == 0 && e->child_done)
			break;
		if (k == 0)
			child_ended(e, false);
		if (p[0].revents)
			on_signals(e);
		if (e->stop_signal)
			break;
		for (int i = 0, j = 1; i < e->nin; i++) {
			if (!e->in[i].open)
				continue;
			if (p[j++].revents)
				read_input(e, &e->in[i]);
		}
		hand_on(e);
	}
	for (int i = 0; i < e->nin; i++)
		if (e->in[i].open)
			close_input(e, &e->in[i]);
	hand_on(e);
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

/* The inputs: CMD's stdout and stderr (shown on ours unless --quiet), or
 * stdin (copied to stdout with --tee). */
static void start_inputs(struct emit *e)
{
	const struct opts *o = e->o;
	bool show = o->cmd ? !o->quiet : o->tee;

	if (!o->cmd) {
		e->in[0] = (struct input){ STDIN_FILENO, BC_STREAM_STDOUT,
		                           show ? STDOUT_FILENO : -1, true };
		e->nin = 1;
		return;
	}
	if (child_spawn(o->cmd, &e->child) != 0) {
		e->spawn_errno = errno;
		bc_warn("cannot run '%s': %s", o->cmd[0], strerror(errno));
		return;
	}
	child_pid = e->child.pid;
	e->in[0] = (struct input){ e->child.out, BC_STREAM_STDOUT,
	                           show ? STDOUT_FILENO : -1, true };
	e->in[1] = (struct input){ e->child.err, BC_STREAM_STDERR,
	                           show ? STDERR_FILENO : -1, true };
	e->nin = 2;
}

static void end_of(const struct emit *e, struct end *end)
{
	int code = 0, sig = 0;

	if (!e->o->cmd)
		sig = e->stop_signal;
	else if (e->spawn_errno)
		code = e->spawn_errno == EACCES || e->spawn_errno == ENOEXEC ?
		       126 : 127;
	else if (WIFSIGNALED(e->child_status))
		sig = WTERMSIG(e->child_status);
	else
		code = WEXITSTATUS(e->child_status);
	if (sig) {
		*end = (struct end){ "run_cancelled", "cancelled", "", 128 + sig,
		                     128 + sig };
		snprintf(end->data, sizeof end->data, "{\"signal\":%d}", sig);
		return;
	}
	if (code == 0)
		*end = (struct end){ "run_completed", "completed", "", 0, 0 };
	else
		*end = (struct end){ "run_error", "error", "", code, code };
	snprintf(end->data, sizeof end->data, "{\"exit_code\":%d}", code);
}

void emit_run(struct emit *e, struct end *end)
{
	char *start = e->o->cmd ? argv_json(e->o->cmd) : NULL;

	sender_event(e->sender, "run_started", start ? start : "{}");
	free(start);
	start_inputs(e);
	if (e->nin)
		pump(e);
	child_ended(e, true);
	end_of(e, end);
}

void emit_finish(struct emit *e, struct end *end)
{
	struct bc_buffer_flush f = { .tid = e->o->tid, .status = end->status,
	                             .exit_code = end->exit_code };
	struct bc_flush_stats st = { 0 };
	enum bc_flush_result r = BC_FLUSH_OK;

	if (!e->o->no_flush)
		r = bc_buffer_flush(e->buffer, &f, &st);
	if (r == BC_FLUSH_CONFLICT)
		bc_warn("cannot flush: %s; the thread's lines stay buffered",
		        bc_buffer_errstr(e->buffer));
	else if (r != BC_FLUSH_OK)
		bc_warn("flush failed (%s); lines stay buffered, run bcast-flush "
		        "later", bc_buffer_errstr(e->buffer));
	if (r != BC_FLUSH_OK && !e->o->cmd && end->rc == 0)
		end->rc = r == BC_FLUSH_CONFLICT ? BC_EX_DATAERR : BC_EX_TEMPFAIL;
	sender_event(e->sender, end->type, end->data);
	sender_finish(e->sender, SENDER_WAIT_MS);
	bc_buffer_free(e->buffer);
	reader_free(e->reader);
	bc_lines_free(&e->lines);
	bc_batch_free(&e->batch);
	free(e);
}
