/* sse_reader.c - resumable HTTP/1.1 response, chunked and SSE reader for
 * the loadgen (see sse_reader.h).
 *
 * Three layers, each a small state machine fed by the one above it without
 * copying: the response head is read line by line into r->line; the body
 * is passed through as identity (until EOF or Content-Length) or de-chunked;
 * body bytes go to the SSE line splitter (SR_SSE) or are skipped
 * (SR_REPLIES). Lines are found with memchr, so long lines cost a scan and
 * a copy of at most SR_LINE_CAP bytes. */
#include "sse_reader.h"

#include <string.h>

enum { ST_STATUS, ST_HEADER, ST_BODY, ST_DONE, ST_ERROR };
enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER };

#define SR_MAX_CHUNK ((int64_t)1 << 40)

void sr_init(struct sr_reader *r, enum sr_mode mode)
{
	memset(r, 0, offsetof(struct sr_reader, line));
	r->mode = (unsigned char)mode;
	r->state = ST_STATUS;
	r->remain = -1;
}

static int fail(struct sr_reader *r, const char *why)
{
	r->state = ST_ERROR;
	r->err = why;
	return -1;
}

static void line_add(struct sr_reader *r, const char *p, size_t n)
{
	size_t room = SR_LINE_CAP - r->line_len;
	if (n > room) {
		n = room;
		r->line_trunc = 1;
	}
	memcpy(r->line + r->line_len, p, n);
	r->line_len += (uint32_t)n;
}

static void line_clear(struct sr_reader *r)
{
	r->line_len = 0;
	r->line_trunc = 0;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Case-insensitive: does s[0..n) start with the lower-case name? */
static int has_prefix(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name);
	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lower((unsigned char)s[i]) != name[i])
			return 0;
	return 1;
}

static int contains_ci(const char *s, size_t n, const char *word)
{
	size_t k = strlen(word);
	for (size_t i = 0; i + k <= n; i++)
		if (has_prefix(s + i, n - i, word))
			return 1;
	return 0;
}

static int parse_u64(const char **sp, const char *end, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	int digits = 0;
	while (s < end && *s >= '0' && *s <= '9') {
		if (++digits > 19)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (!digits)
		return -1;
	*sp = s;
	*out = v;
	return 0;
}

int sr_parse_payload(const char *data, size_t n, struct sr_rec *out)
{
	static const char key[] = "\"line\":\"L ";
	const char *s = data, *end = data + n;
	uint64_t seq, ns, ch;

	if (!(n >= 2 && s[0] == 'L' && s[1] == ' ')) {
		const char *m = memmem(data, n, key, sizeof key - 1);
		if (!m)
			return -1;
		s = m + 8;
	}
	s += 2;
	if (parse_u64(&s, end, &seq) || s == end || *s++ != ' ')
		return -1;
	if (parse_u64(&s, end, &ns) || s == end || *s++ != ' ')
		return -1;
	if (parse_u64(&s, end, &ch) || ch > UINT32_MAX)
		return -1;
	if (s != end && *s != ' ' && *s != '"')
		return -1;
	out->seq = seq;
	out->ns = ns;
	out->ch = (uint32_t)ch;
	return 0;
}

static void sse_line(struct sr_reader *r, const struct sr_cb *cb, void *arg)
{
	const char *v = r->line;
	size_t n = r->line_len;

	if (n == 0) {
		if (r->have_data && cb && cb->on_event)
			cb->on_event(arg, r->pend_ok ? &r->pend : NULL);
		r->have_data = 0;
		r->pend_ok = 0;
		return;
	}
	if (v[0] == ':') {
		r->comments++;
		return;
	}
	if (n >= 4 && memcmp(v, "data", 4) == 0 && (n == 4 || v[4] == ':')) {
		r->have_data = 1;
		if (n == 4 || r->pend_ok)
			return;
		v += 5;
		n -= 5;
		if (n && *v == ' ') {
			v++;
			n--;
		}
		if (sr_parse_payload(v, n, &r->pend) == 0)
			r->pend_ok = 1;
	}
}

/* Split SSE body bytes into lines ending in "\r\n", "\n" or "\r". */
static void sse_feed(struct sr_reader *r, const char *p, size_t n,
                     const struct sr_cb *cb, void *arg)
{
	while (n) {
		if (r->skip_lf) {
			r->skip_lf = 0;
			if (*p == '\n') {
				p++;
				n--;
				continue;
			}
		}
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		const char *cr = memchr(p, '\r', seg);
		if (cr)
			seg = (size_t)(cr - p);
		line_add(r, p, seg);
		if (!cr && !nl)
			return;
		p += seg + 1;
		n -= seg + 1;
		if (cr)
			r->skip_lf = 1;
		sse_line(r, cb, arg);
		line_clear(r);
	}
}

static void body_bytes(struct sr_reader *r, const char *p, size_t n,
                       const struct sr_cb *cb, void *arg)
{
	if (r->mode == SR_SSE)
		sse_feed(r, p, n, cb, arg);
}

/* The body ended: SSE streams are over, replies start the next one. */
static int body_end(struct sr_reader *r, const struct sr_cb *cb, void *arg)
{
	if (r->mode == SR_SSE) {
		r->state = ST_DONE;
		return 1;
	}
	if (cb && cb->on_reply)
		cb->on_reply(arg, r->status);
	r->state = ST_STATUS;
	r->chunked = 0;
	r->remain = -1;
	r->head_bytes = 0;
	r->status = 0;
	return 0;
}

static int head_line(struct sr_reader *r, const struct sr_cb *cb, void *arg)
{
	const char *s = r->line;
	size_t n = r->line_len;

	if (r->state == ST_STATUS) {
		if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
			return fail(r, "bad status line");
		int st = 0;
		for (int i = 9; i < 12; i++) {
			if (s[i] < '0' || s[i] > '9')
				return fail(r, "bad status code");
			st = st * 10 + (s[i] - '0');
		}
		if (n > 12 && s[12] != ' ')
			return fail(r, "bad status line");
		r->status = st;
		r->state = ST_HEADER;
		return 0;
	}
	if (n > 0) {
		if (has_prefix(s, n, "transfer-encoding:")) {
			if (contains_ci(s + 18, n - 18, "chunked"))
				r->chunked = 1;
		} else if (has_prefix(s, n, "content-length:")) {
			const char *v = s + 15, *end = s + n;
			uint64_t len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (parse_u64(&v, end, &len) || len > (uint64_t)SR_MAX_CHUNK)
				return fail(r, "bad Content-Length");
			r->remain = (int64_t)len;
		}
		return 0;
	}
	r->state = ST_BODY;
	if (cb && cb->on_head)
		cb->on_head(arg, r->status);
	if (r->chunked) {
		r->chunk_state = CH_SIZE;
		r->remain = 0;
		return 0;
	}
	if (r->mode == SR_REPLIES) {
		if ((r->status >= 100 && r->status < 200) || r->status == 204 ||
		    r->status == 304)
			r->remain = 0;
		else if (r->remain < 0)
			return fail(r, "reply without a length");
	}
	if (r->remain == 0)
		return body_end(r, cb, arg);
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Consume chunked framing from *pp; returns 0, 1 (end) or -1. */
static int chunk_step(struct sr_reader *r, const char **pp, const char *end,
                      const struct sr_cb *cb, void *arg)
{
	const char *p = *pp;
	int rc = 0;

	while (p < end && rc == 0 && r->state == ST_BODY) {
		switch (r->chunk_state) {
		case CH_SIZE: {
			int h = hexval((unsigned char)*p);
			if (h >= 0) {
				if (r->remain >= SR_MAX_CHUNK / 16)
					return fail(r, "chunk too large");
				r->remain = r->remain * 16 + h;
				r->chunk_digits = 1;
				p++;
				break;
			}
			if (!r->chunk_digits)
				return fail(r, "bad chunk size");
			r->chunk_digits = 0;
			r->chunk_state = CH_EXT;
			break;
		}
		case CH_EXT: {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl) {
				p = end;
				break;
			}
			p = nl + 1;
			if (r->remain == 0) {
				r->chunk_state = CH_TRAILER;
				line_clear(r);
				r->head_bytes = 0;
			} else {
				r->chunk_state = CH_DATA;
			}
			break;
		}
		case CH_DATA: {
			size_t take = (size_t)(end - p);
			if ((int64_t)take > r->remain)
				take = (size_t)r->remain;
			body_bytes(r, p, take, cb, arg);
			p += take;
			r->remain -= (int64_t)take;
			if (r->remain == 0)
				r->chunk_state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (*p == '\r') {
				p++;
				r->chunk_state = CH_DATA_LF;
				break;
			}
			/* a bare "\n" is tolerated */
			__attribute__((fallthrough));
		case CH_DATA_LF:
			if (*p != '\n')
				return fail(r, "chunk not followed by CRLF");
			p++;
			r->chunk_state = CH_SIZE;
			break;
		case CH_TRAILER: {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (r->head_bytes + seg > SR_HEAD_MAX)
				return fail(r, "chunk trailer too large");
			r->head_bytes += (uint32_t)seg;
			line_add(r, p, seg);
			p += seg;
			if (!nl)
				break;
			p++;
			if (r->line_len && r->line[r->line_len - 1] == '\r')
				r->line_len--;
			if (r->line_len == 0) {
				line_clear(r);
				rc = body_end(r, cb, arg);
			}
			line_clear(r);
			break;
		}
		}
	}
	*pp = p;
	return rc;
}

int sr_feed(struct sr_reader *r, const char *buf, size_t n,
            const struct sr_cb *cb, void *arg)
{
	const char *p = buf, *end = buf + n;

	while (p < end) {
		switch (r->state) {
		case ST_ERROR:
			return -1;
		case ST_DONE:
			return fail(r, "data after the end of the stream");
		case ST_STATUS:
		case ST_HEADER: {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (r->head_bytes + seg + 1 > SR_HEAD_MAX)
				return fail(r, "response head too large");
			r->head_bytes += (uint32_t)(seg + 1);
			line_add(r, p, seg);
			p += seg;
			if (!nl)
				return 0;
			p++;
			if (r->line_len && !r->line_trunc &&
			    r->line[r->line_len - 1] == '\r')
				r->line_len--;
			int rc = head_line(r, cb, arg);
			line_clear(r);
			if (rc < 0)
				return -1;
			if (rc == 1 && p < end)
				return fail(r, "data after the end of the stream");
			if (rc == 1)
				return 1;
			break;
		}
		case ST_BODY: {
			int rc;
			if (r->chunked) {
				rc = chunk_step(r, &p, end, cb, arg);
			} else {
				size_t take = (size_t)(end - p);
				if (r->remain >= 0 && (int64_t)take > r->remain)
					take = (size_t)r->remain;
				body_bytes(r, p, take, cb, arg);
				p += take;
				rc = 0;
				if (r->remain >= 0) {
					r->remain -= (int64_t)take;
					if (r->remain == 0)
						rc = body_end(r, cb, arg);
				}
			}
			if (rc < 0)
				return -1;
			if (rc == 1)
				return p < end ? fail(r, "data after the end of the stream") : 1;
			break;
		}
		}
	}
	return r->state == ST_DONE ? 1 : 0;
}
