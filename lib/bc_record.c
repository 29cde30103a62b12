/* bc_record.c - log records and admin events in JSON.
 *
 * A log record is encoded by hand, in one pass from the raw line into the
 * output buffer (cleaning, escaping, no allocation): the same text json-c
 * prints plain (no spaces, no "\/"), so control bytes come out as escapes
 * * and the text never holds a raw newline. Events are built with json-c.
 * Decoding parses exactly n bytes with json_tokener_parse_ex in strict mode (RFC 8259 only: no NaN, leading zeros, single quotes or raw
 * control bytes in strings, which json-c would otherwise let through into
 * an event's data), allows trailing whitespace only, checks every field and cleans the line
 * (and every key and string of an event's data). */
#include "bc_record.h"

#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

int bc_record_set_line(struct bc_record *r, const char *line, size_t n)
{
	struct bc_buf b;
	bc_buf_init(&b, 0);
	if (bc_line_clean(line, n, &b) < 0) {
		bc_buf_free(&b);
		return -1;
	}
	size_t len;
	char *s = bc_buf_steal(&b, &len);
	if (!s)
		return -1;
	free(r->line);
	r->line = s;
	r->line_len = len;
	return 0;
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -1;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int put_json(struct json_object *o, struct bc_buf *out)
{
	size_t n;
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &n);
	return s ? bc_buf_append(out, s, n) : -1;
}

/* Write the JSON string body of the n bytes at in to p (room for 6 * n
 * bytes): invalid UTF-8 and NUL become U+FFFD; '"', '\\' and control
 * bytes are escaped as json-c does (\b \f \n \r \t, else \u00xx).
 * Returns the bytes written. */
static size_t json_string_body(char *p, const char *in, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	char *start = p;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*p++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t bad = 0, k = bc_utf8_seq(s + i, n - i, &bad);
			if (k) {
				memcpy(p, s + i, k);
				p += k;
				i += k;
			} else {
				memcpy(p, BC_UTF8_REPLACEMENT, 3);
				p += 3;
				i += bad;
			}
			continue;
		}
		i++;
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		case 0:
			p--;
			memcpy(p, BC_UTF8_REPLACEMENT, 3);
			p += 3;
			break;
		default:
			memcpy(p, "u00", 3);
			p[3] = hex[c >> 4];
			p[4] = hex[c & 15];
			p += 5;
		}
	}
	return (size_t)(p - start);
}

int bc_record_append(struct bc_buf *out, const char *tid, long long seq,
                     const char *ts, const char *stream, const char *line,
                     size_t n)
{
	size_t tl = strlen(tid), tsl = strlen(ts), sl = strlen(stream);

	if (n > (SIZE_MAX - 256 - tl - tsl - sl) / 6 ||
	    bc_buf_reserve(out, 6 * n + 112 + 6 * tl + tsl + sl) < 0)
		return -1;
	char *p = out->data + out->len;
	memcpy(p, "{\"thread_id\":\"", 14);
	p += 14;
	p += json_string_body(p, tid, tl);
	p += sprintf(p, "\",\"seq\":%lld,\"ts\":\"", seq);
	p += json_string_body(p, ts, tsl);
	memcpy(p, "\",\"stream\":\"", 12);
	p += 12;
	p += json_string_body(p, stream, sl);
	memcpy(p, "\",\"line\":\"", 10);
	p += 10;
	p += json_string_body(p, line, n);
	memcpy(p, "\"}", 3);
	p += 2;
	out->len = (size_t)(p - out->data);
	return 0;
}

int bc_record_encode(const struct bc_record *r, struct bc_buf *out)
{
	return bc_record_append(out, r->thread_id, r->seq, r->ts,
	                        r->stream[0] ? r->stream : "stdout",
	                        r->line ? r->line : "", r->line ? r->line_len : 0);
}

static int fail(char *err, size_t errlen, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	return -1;
}

/* Parse exactly the n bytes at json as one JSON value followed only by
 * whitespace. Returns the value (caller puts it) or NULL with err. */
static struct json_object *parse(const char *json, size_t n, char *err,
                                 size_t errlen)
{
	if (n > INT_MAX) {
		fail(err, errlen, "JSON text too large");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	                              JSON_TOKENER_ALLOW_TRAILING_CHARS);
	struct json_object *o = json_tokener_parse_ex(tok, json, (int)n);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o) {
		if (je == json_tokener_continue || je == json_tokener_success)
			fail(err, errlen, "incomplete JSON");
		else if (err && errlen)
			snprintf(err, errlen, "bad JSON: %s",
			         json_tokener_error_desc(je));
		return NULL;
	}
	for (size_t i = end; i < n; i++) {
		char c = json[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			json_object_put(o);
			fail(err, errlen, "bad JSON: trailing garbage");
			return NULL;
		}
	}
	return o;
}

/* Copy the string member key of o into dst (size dstlen). Returns 1 if
 * copied, 0 if absent or null, -1 if not a string or invalid. */
static int get_str(struct json_object *o, const char *key, char *dst,
                   size_t dstlen, bool (*valid)(const char *, size_t))
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n >= dstlen || memchr(s, '\0', n) || (valid && !valid(s, n)))
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 1;
}

static bool stream_valid(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

/* get_str has checked that s is n bytes without NUL. */
static bool type_valid_n(const char *s, size_t n)
{
	(void)n;
	return bc_event_type_valid(s);
}

int bc_record_decode(const char *json, size_t n, struct bc_record *r,
                     char *err, size_t errlen)
{
	struct json_object *o = parse(json, n, err, errlen);
	struct json_object *v;
	int rc = -1;

	bc_record_clear(r);
	if (!o)
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		fail(err, errlen, "record is not a JSON object");
		goto out;
	}
	if (get_str(o, "thread_id", r->thread_id, sizeof r->thread_id,
	            bc_tid_valid_n) != 1) {
		fail(err, errlen, "missing or invalid thread_id");
		goto out;
	}
	if (!json_object_object_get_ex(o, "seq", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 ||
	    json_object_get_uint64(v) > (uint64_t)INT64_MAX) {
		fail(err, errlen, "missing or invalid seq (want an integer >= 0)");
		goto out;
	}
	r->seq = json_object_get_int64(v);
	int got = get_str(o, "ts", r->ts, sizeof r->ts, bc_ts_valid);
	if (got < 0) {
		fail(err, errlen, "invalid ts (want RFC 3339, e.g. 2026-11-25T19:08:10.123456Z)");
		goto out;
	}
	if (got == 0)
		bc_ts_now(r->ts);
	got = get_str(o, "stream", r->stream, sizeof r->stream, stream_valid);
	if (got < 0) {
		fail(err, errlen, "invalid stream");
		goto out;
	}
	if (got == 0)
		strcpy(r->stream, "stdout");
	if (!json_object_object_get_ex(o, "line", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		fail(err, errlen, "missing or invalid line (want a string)");
		goto out;
	}
	if (bc_record_set_line(r, json_object_get_string(v),
	                       (size_t)json_object_get_string_len(v)) < 0) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_object_put(o);
	if (rc < 0)
		bc_record_clear(r);
	return rc;
}

void bc_record_clear(struct bc_record *r)
{
	if (!r)
		return;
	free(r->line);
	memset(r, 0, sizeof *r);
}

int bc_event_encode(const struct bc_event *e, struct bc_buf *out)
{
	struct json_object *data;
	if (e->data) {
		data = parse(e->data, strlen(e->data), NULL, 0);
		if (!data)
			return -1;
		if (!json_object_is_type(data, json_type_object)) {
			json_object_put(data);
			return -1;
		}
	} else {
		data = json_object_new_object();
		if (!data)
			return -1;
	}
	struct json_object *o = json_object_new_object();
	if (!o) {
		json_object_put(data);
		return -1;
	}
	int rc = -1;
	if (add(o, "type", json_object_new_string(e->type)) < 0 ||
	    add(o, "thread_id", json_object_new_string(e->thread_id)) < 0 ||
	    add(o, "ts", json_object_new_string(e->ts)) < 0 ||
	    add(o, "data", data) < 0)
		goto out;
	rc = put_json(o, out);
out:
	json_object_put(o);
	return rc;
}

/* True if the n bytes at s are a JSON number (RFC 8259 grammar). */
static bool json_number_text(const char *s, size_t n)
{
	size_t i = 0, d;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

/* json-c accepts NaN and Infinity even in strict mode; refuse any number
 * in v that would not print as a JSON number. */
static bool numbers_ok(struct json_object *v, int depth)
{
	if (depth > 64)
		return false;
	switch (json_object_get_type(v)) {
	case json_type_double: {
		size_t n;
		const char *t = json_object_to_json_string_length(v, JSON_FLAGS, &n);
		return t && json_number_text(t, n);
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			if (e && !numbers_ok(e, depth + 1))
				return false;
		}
		return true;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			if (val && !numbers_ok(val, depth + 1))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

/* A copy of v with every key and string cleaned (bc_line_clean); keys
 * that clean to the same text keep the last value, as a parser would.
 * Numbers, booleans and null are shared. NULL on out-of-memory. */
static struct json_object *clean_value(struct json_object *v, struct bc_buf *tmp)
{
	struct json_object *c = NULL;

	switch (json_object_get_type(v)) {
	case json_type_string:
		bc_buf_reset(tmp);
		if (bc_line_clean(json_object_get_string(v),
		                  (size_t)json_object_get_string_len(v), tmp) < 0)
			return NULL;
		return json_object_new_string_len(tmp->data, (int)tmp->len);
	case json_type_array: {
		size_t n = json_object_array_length(v);
		if (!(c = json_object_new_array_ext((int)n)))
			return NULL;
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			struct json_object *ce = e ? clean_value(e, tmp) : NULL;
			if ((e && !ce) || json_object_array_add(c, ce) < 0) {
				json_object_put(ce);
				json_object_put(c);
				return NULL;
			}
		}
		return c;
	}
	case json_type_object:
		if (!(c = json_object_new_object()))
			return NULL;
		json_object_object_foreach(v, key, val) {
			struct json_object *cv = val ? clean_value(val, tmp) : NULL;
			if (val && !cv)
				goto fail;
			bc_buf_reset(tmp);
			if (bc_line_clean(key, strlen(key), tmp) < 0 ||
			    json_object_object_add(c, tmp->data, cv) < 0) {
				json_object_put(cv);
				goto fail;
			}
		}
		return c;
	default:
		return json_object_get(v);
	}
fail:
	json_object_put(c);
	return NULL;
}

int bc_event_decode(const char *json, size_t n, struct bc_event *e,
                    char *err, size_t errlen)
{
	struct json_object *o = parse(json, n, err, errlen);
	struct json_object *v, *clean = NULL;
	struct bc_buf b;
	int rc = -1;

	bc_event_clear(e);
	bc_buf_init(&b, 0);
	if (!o)
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		fail(err, errlen, "event is not a JSON object");
		goto out;
	}
	if (get_str(o, "type", e->type, sizeof e->type, type_valid_n) != 1) {
		fail(err, errlen, "missing or invalid type (want [a-z][a-z0-9_.]*)");
		goto out;
	}
	if (get_str(o, "thread_id", e->thread_id, sizeof e->thread_id,
	            bc_tid_valid_n) != 1) {
		fail(err, errlen, "missing or invalid thread_id");
		goto out;
	}
	int got = get_str(o, "ts", e->ts, sizeof e->ts, bc_ts_valid);
	if (got < 0) {
		fail(err, errlen, "invalid ts (want RFC 3339, e.g. 2026-11-25T19:08:10.123456Z)");
		goto out;
	}
	if (got == 0)
		bc_ts_now(e->ts);
	const char *text = "{}";
	size_t tlen = 2;
	if (json_object_object_get_ex(o, "data", &v) && v) {
		if (!json_object_is_type(v, json_type_object)) {
			fail(err, errlen, "data is not a JSON object");
			goto out;
		}
		if (!numbers_ok(v, 0)) {
			fail(err, errlen, "bad JSON: NaN or Infinity is not a number");
			goto out;
		}
		if (!(clean = clean_value(v, &b)) ||
		    !(text = json_object_to_json_string_length(clean, JSON_FLAGS, &tlen))) {
			fail(err, errlen, "out of memory");
			goto out;
		}
	}
	if (!(e->data = strndup(text, tlen))) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	bc_buf_free(&b);
	json_object_put(clean);
	json_object_put(o);
	if (rc < 0)
		bc_event_clear(e);
	return rc;
}

int bc_json_object_check(const char *json, size_t n, char *err, size_t errlen)
{
	struct json_object *o = parse(json, n, err, errlen);
	if (!o)
		return -1;
	int ok = json_object_is_type(o, json_type_object);
	bool nums = ok && numbers_ok(o, 0);
	json_object_put(o);
	if (!ok)
		return fail(err, errlen, "not a JSON object");
	if (!nums)
		return fail(err, errlen, "bad JSON: NaN or Infinity is not a number");
	return 0;
}

void bc_event_clear(struct bc_event *e)
{
	if (!e)
		return;
	free(e->data);
	memset(e, 0, sizeof *e);
}

bool bc_event_is_terminal(const char *type)
{
	return type && (strcmp(type, "run_completed") == 0 ||
	                strcmp(type, "run_error") == 0 ||
	                strcmp(type, "run_cancelled") == 0 ||
	                strcmp(type, "run_paused") == 0);
}
