/* bc_record.h - the log record and the admin event, in JSON (json-c).
 *
 * A log record:
 *   {"thread_id":"run-42","seq":17,"ts":"2026-11-25T19:08:10.123456Z",
 *    "stream":"stdout","line":"step 3 done"}
 * An admin event:
 *   {"type":"run_completed","thread_id":"run-42",
 *    "ts":"2026-11-25T19:08:11.000001Z","data":{"exit_code":0}}
 *
 * Lines are always valid UTF-8 without NUL once they are in a record:
 * bc_line_clean() replaces invalid sequences and NUL with U+FFFD, and
 * decoding cleans again, so nothing downstream (PostgreSQL text, SSE) can be
 * broken by a line. Encoded JSON never contains a raw newline. */
#ifndef BCAST_RECORD_H
#define BCAST_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_buf.h"
#include "bc_clock.h"
#include "bc_tid.h"
#include "bc_utf8.h"

#define BC_LINE_MAX_DEFAULT 65536  /* longer lines are split */

struct bc_record {
	char thread_id[BC_TID_MAX + 1];
	long long seq;
	char ts[BC_TS_LEN];   /* "2026-11-25T19:08:10.123456Z" */
	char stream[16];      /* "stdout" or "stderr" */
	char *line;           /* owned, NUL-terminated, valid UTF-8, no NUL */
	size_t line_len;
};

struct bc_event {
	char type[65];        /* [a-z][a-z0-9_.]* */
	char thread_id[BC_TID_MAX + 1];
	char ts[BC_TS_LEN];
	char *data;           /* owned JSON object text; "{}" when none */
};

/* Set r's line to a cleaned copy of the n bytes at line. 0 or -1. */
int bc_record_set_line(struct bc_record *r, const char *line, size_t n);
/* Append r as one JSON object (no newline) to out. 0 or -1. */
int bc_record_encode(const struct bc_record *r, struct bc_buf *out);
/* Append one log record as a JSON object (no newline) to out, straight
 * from the n raw bytes at line, cleaned on the way as bc_line_clean does:
 * the same text bc_record_encode gives for the cleaned line, with no
 * allocation but out's growth. tid, ts and stream are C strings. 0, or -1
 * when out's cap is reached or memory ran out (out is then unchanged). */
int bc_record_append(struct bc_buf *out, const char *tid, long long seq,
                     const char *ts, const char *stream, const char *line,
                     size_t n);
/* Parse one JSON record from the n bytes at json. Requires thread_id (valid),
 * seq (integer >= 0) and line (string); ts defaults to now, stream to
 * "stdout". The line is cleaned. r must be zeroed or cleared first; on
 * success the caller owns r->line (bc_record_clear). Returns 0, or -1 with
 * a one-line reason in err (r is then cleared). */
int bc_record_decode(const char *json, size_t n, struct bc_record *r,
                     char *err, size_t errlen);
/* Free r->line and zero r. Safe on a zeroed record. */
void bc_record_clear(struct bc_record *r);

/* Append e as one JSON object (no newline) to out. e->data NULL means {}.
 * 0 or -1. */
int bc_event_encode(const struct bc_event *e, struct bc_buf *out);
/* Parse one admin event. Requires type (valid) and thread_id (valid); ts
 * defaults to now; data must be an object when present. Same contract as
 * bc_record_decode. */
int bc_event_decode(const char *json, size_t n, struct bc_event *e,
                    char *err, size_t errlen);
/* Check that the n bytes at json are one JSON object. 0 or -1 with err. */
int bc_json_object_check(const char *json, size_t n, char *err, size_t errlen);
void bc_event_clear(struct bc_event *e);
/* True for run_completed, run_error, run_cancelled and run_paused: the
 * event types after which a thread is flushed. */
bool bc_event_is_terminal(const char *type);

#endif
