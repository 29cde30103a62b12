/* bc_busmsg.c - the bus message header (see bc_busmsg.h).
 *
 * The header ends at the first '\n' within BC_BUSMSG_HEAD_MAX bytes and is
 * parsed whole by json-c in strict mode; every member is checked for its
 * type and range, and an unknown or missing member refuses the message, so
 * a message of another version or of something else that writes to the
 * key is never mistaken for ours. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "bc_busmsg.h"

static int fail(char *err, size_t errlen, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

int bc_busmsg_origin_valid(const char *s, size_t n)
{
	if (n != BC_BUSMSG_ORIGIN_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Check the members of header object o into m. 0 or -1. */
static int members(struct json_object *o, struct bc_busmsg *m, char *err,
                   size_t errlen)
{
	struct json_object *v;
	int have_v = 0, have_o = 0, have_q = 0, have_k = 0, have_t = 0;
	const char *s;
	size_t n;

	json_object_object_foreach(o, key, val) {
		v = val;
		if (strcmp(key, "v") == 0) {
			if (!json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) != BC_BUSMSG_VERSION)
				return fail(err, errlen, "unknown version");
			have_v = 1;
		} else if (strcmp(key, "o") == 0) {
			if (!json_object_is_type(v, json_type_string))
				return fail(err, errlen, "origin is not a string");
			s = json_object_get_string(v);
			n = (size_t)json_object_get_string_len(v);
			if (!bc_busmsg_origin_valid(s, n))
				return fail(err, errlen, "bad origin");
			memcpy(m->origin, s, n + 1);
			have_o = 1;
		} else if (strcmp(key, "q") == 0) {
			int64_t q;
			if (!json_object_is_type(v, json_type_int))
				return fail(err, errlen, "q is not an integer");
			q = json_object_get_int64(v);
			/* json-c saturates out-of-range numbers at INT64_MAX. */
			if (q < 1 || q == INT64_MAX)
				return fail(err, errlen, "q out of range");
			m->q = (unsigned long long)q;
			have_q = 1;
		} else if (strcmp(key, "k") == 0) {
			if (!json_object_is_type(v, json_type_string) ||
			    json_object_get_string_len(v) != 1)
				return fail(err, errlen, "unknown kind");
			s = json_object_get_string(v);
			if (s[0] != BC_BUSMSG_LOGS && s[0] != BC_BUSMSG_ADMIN)
				return fail(err, errlen, "unknown kind");
			m->kind = (enum bc_busmsg_kind)s[0];
			have_k = 1;
		} else if (strcmp(key, "t") == 0) {
			if (!json_object_is_type(v, json_type_string))
				return fail(err, errlen, "thread id is not a string");
			s = json_object_get_string(v);
			n = (size_t)json_object_get_string_len(v);
			if (!bc_tid_valid_n(s, n))
				return fail(err, errlen, "invalid thread id");
			memcpy(m->tid, s, n + 1);
			have_t = 1;
		} else {
			return fail(err, errlen, "unknown header member");
		}
	}
	if (!have_v || !have_o || !have_q || !have_k)
		return fail(err, errlen, "header member missing");
	if (m->kind == BC_BUSMSG_LOGS && !have_t)
		return fail(err, errlen, "log message without a thread id");
	if (m->kind == BC_BUSMSG_ADMIN && have_t)
		return fail(err, errlen, "admin message with a thread id");
	return 0;
}

int bc_busmsg_parse(const char *msg, size_t n, struct bc_busmsg *m,
                    char *err, size_t errlen)
{
	const char *nl = memchr(msg, '\n', n < BC_BUSMSG_HEAD_MAX ? n
	                                                           : BC_BUSMSG_HEAD_MAX);
	struct json_tokener *tok;
	struct json_object *o;
	size_t hl;
	int rc = -1;

	memset(m, 0, sizeof *m);
	if (nl == NULL)
		return fail(err, errlen, "no header line");
	hl = (size_t)(nl - msg);
	if (hl == 0 || msg[0] != '{')
		return fail(err, errlen, "header is not a JSON object");
	if ((tok = json_tokener_new()) == NULL)
		return fail(err, errlen, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, msg, (int)hl);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != hl ||
	    !json_object_is_type(o, json_type_object))
		fail(err, errlen, "header is not a JSON object");
	else
		rc = members(o, m, err, errlen);
	json_object_put(o);
	json_tokener_free(tok);
	if (rc != 0)
		return -1;
	m->payload = nl + 1;
	m->payload_len = n - hl - 1;
	if (m->payload_len == 0)
		return fail(err, errlen, "empty payload");
	return 0;
}

int bc_busmsg_head(struct bc_buf *out, enum bc_busmsg_kind kind,
                   const char *origin, unsigned long long q, const char *tid)
{
	if (kind == BC_BUSMSG_LOGS)
		return bc_buf_printf(out, "{\"v\":%d,\"o\":\"%s\",\"q\":%llu,"
		                     "\"k\":\"l\",\"t\":\"%s\"}\n",
		                     BC_BUSMSG_VERSION, origin, q, tid);
	return bc_buf_printf(out, "{\"v\":%d,\"o\":\"%s\",\"q\":%llu,"
	                     "\"k\":\"a\"}\n", BC_BUSMSG_VERSION, origin, q);
}
