/* bc_busmsg.h - the message format of the bus between hubs.
 *
 * A message (the field "m" of a bus entry) is a JSON header line, then the
 * payload:
 *   {"v":1,"o":"<origin>","q":<q>,"k":"l","t":"<thread id>"}\n<NDJSON records>
 *   {"v":1,"o":"<origin>","q":<q>,"k":"a"}\n<one admin event JSON object>
 * origin: 16 lowercase hex digits, random per hub process start; q: 1, 2,
 * 3... per origin, in append order. The parser trusts nothing: the header
 * is parsed with json-c (strict), must hold exactly these members with
 * these types, and is capped at BC_BUSMSG_HEAD_MAX bytes; the payload is
 * only located here (its records are checked by the caller, as any
 * ingest). Nothing is allocated but json-c's parse of the header. */
#ifndef BCAST_BUSMSG_H
#define BCAST_BUSMSG_H

#include <stddef.h>

#include "bc_buf.h"
#include "bc_tid.h"

#define BC_BUSMSG_VERSION 1
#define BC_BUSMSG_ORIGIN_LEN 16
#define BC_BUSMSG_HEAD_MAX 512

enum bc_busmsg_kind { BC_BUSMSG_LOGS = 'l', BC_BUSMSG_ADMIN = 'a' };

struct bc_busmsg {
	enum bc_busmsg_kind kind;
	char origin[BC_BUSMSG_ORIGIN_LEN + 1];
	unsigned long long q;             /* >= 1 */
	char tid[BC_TID_MAX + 1];         /* kind LOGS only; "" otherwise */
	const char *payload;              /* inside the parsed message */
	size_t payload_len;               /* > 0 */
};

/* Parse the n-byte message at msg into m (m->payload points into msg).
 * 0, or -1 with a one-line reason in err (m is then unspecified). */
int bc_busmsg_parse(const char *msg, size_t n, struct bc_busmsg *m,
                    char *err, size_t errlen);

/* Append the header line (with its '\n') of a message of kind from
 * origin (BC_BUSMSG_ORIGIN_LEN hex digits), number q, of thread tid (kind
 * LOGS; ignored otherwise) to out. 0, or -1 (cap or memory; out is then
 * unchanged) . */
int bc_busmsg_head(struct bc_buf *out, enum bc_busmsg_kind kind,
                   const char *origin, unsigned long long q, const char *tid);

/* True when the n bytes at s are a bus origin (16 lowercase hex digits). */
int bc_busmsg_origin_valid(const char *s, size_t n);

#endif
