/* emit.h - the modules of bcast-emit and how they meet.
 *
 *   main.c    options, then the library's buffer, the loop, the exit code
 *   loop.c    the read loop: inputs, signals, batches handed on
 *   reader.c  splits the bytes read into lines (bc_lines) of a batch
 *   sender.c  a thread that POSTs batches and events to the hub
 *   child.c   command mode: runs CMD with its stdout/stderr on pipes
 *
 * Each batch is encoded and made durable by the library's buffer
 * (bc_buffer: Redis or the spool, seq numbers) first, then the same NDJSON
 * text is offered to the sender, which makes the read loop wait while its
 * queue is full and the hub keeps taking batches, and drops the batch
 * (live delivery only) when the hub stalls or is down. */
#ifndef BCAST_EMIT_H
#define BCAST_EMIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bc_buffer.h"
#include "bc_config.h"

/* What the command line asked for. */
struct opts {
	const char *tid;
	bool tee, quiet, no_flush;
	enum bc_fsync fsync;
	size_t max_line;
	char **cmd;               /* NULL in pipe mode */
	struct bc_config cfg;
};

/* reader.c: line splitting, with a partial line kept per stream. */
struct reader;

struct reader *reader_new(size_t max_line);
void reader_free(struct reader *r);
/* Add to b every line completed by the n bytes at p read from stream;
 * bytes after the last '\n' are kept for the next call. 0, or -1 when b
 * is full or memory ran out. */
int reader_feed(struct reader *r, enum bc_stream stream, const char *p,
                size_t n, struct bc_lines *b);
/* At EOF (or when stopping), add stream's unterminated last line to b, if
 * it has any bytes. 0 or -1. */
int reader_finish(struct reader *r, enum bc_stream stream,
                  struct bc_lines *b);

/* sender.c: live delivery to the hub. */
struct sender;

/* Start the sender thread for hub_url. NULL with err when the URL is bad
 * or the thread cannot start. */
struct sender *sender_new(const char *hub_url, const char *token,
                          const char *tid, char *err, size_t errlen);
/* Offer the len bytes of NDJSON records at text (each ending in '\n') to
 * the hub; they are copied. Waits (at most while the hub makes progress)
 * when the queue is full. They are dropped (with one warning per run)
 * when the queue is full or the hub is down. */
void sender_logs(struct sender *s, const char *text, size_t len);
/* Queue an admin event of type with data (a JSON object text). */
void sender_event(struct sender *s, const char *type, const char *data);
/* Deliver what is queued (giving up on log batches after wait_ms), stop
 * the thread and free s. NULL is safe. */
void sender_finish(struct sender *s, long wait_ms);

/* child.c: command mode. */
struct child {
	pid_t pid;
	int out, err;      /* read ends of its stdout and stderr pipes */
};

/* Run argv[0] (searched in PATH) with stdin inherited and stdout/stderr
 * on pipes. 0 once it runs; -1 with errno when it could not be started
 * (ENOENT/EACCES from execvp included). */
int child_spawn(char *const argv[], struct child *c);
/* Reap the child if it has ended. Returns 1 with the waitpid status in
 * *status, 0 while it runs, -1 on error. */
int child_reap(struct child *c, bool block, int *status);

/* loop.c: the run itself. */
struct emit;

/* How the run ended: the terminal event, the status recorded with the
 * flush, and the exit code. */
struct end {
	const char *type, *status;
	char data[64];
	int exit_code;            /* for the store; -1 when none */
	int rc;
};

/* Everything the run needs, from o: the buffer (exits 64/69/74 on a bad
 * URL, a DB that refuses us, or no place for lines), the sender (64 on a
 * bad --hub), the reader; nothing is read yet. */
struct emit *emit_new(const struct opts *o);
/* Post run_started, start CMD or take stdin, and read until the input
 * ends, handing each batch on. Fills *end from how the run ended. */
void emit_run(struct emit *e, struct end *end);
/* Flush the thread (unless --no-flush), post the terminal event, deliver
 * what the hub can still take, free e. May raise end->rc. */
void emit_finish(struct emit *e, struct end *end);

#endif
