/* bc_http1.c - HTTP/1.1 request heads and chunked bodies (see bc_http1.h).
 *
 * The head parser is a single pass over the bytes so far; it is restarted
 * from the beginning when more arrive (heads are small and capped by the
 * caller). Lines end in CRLF or a bare LF, as most servers accept; header
 * line folding is refused. The chunked decoder is strict: sizes are hex
 * digits (at most 15), lines end in CRLF, extensions and trailers are
 * skipped within a bound. */
#include <string.h>
#include <strings.h>

#include "bc_http1.h"

#define EXT_MAX 4096        /* bytes of one chunk-size line's extensions */
#define TRAILER_MAX 16384   /* bytes of the whole trailer section */
#define SIZE_DIGITS_MAX 15

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line starting at p (before its CR or LF), the start of the
 * next line in *next; NULL when no line end is within n bytes, or a CR is
 * not followed by LF (*bad set). */
static const char *line_end(const char *p, size_t n, const char **next, int *bad)
{
	const char *lf = memchr(p, '\n', n);

	*bad = 0;
	if (lf == NULL)
		return NULL;
	*next = lf + 1;
	if (lf > p && lf[-1] == '\r')
		return lf - 1;
	if (memchr(p, '\r', (size_t)(lf - p)) != NULL)
		*bad = 1;
	return lf;
}

ssize_t bc_http1_head(const char *p, size_t n, struct bc_http1_req *r,
                      const char **err)
{
	const char *s = p, *end = p + n, *e, *next, *sp;
	int bad;

	memset(r, 0, sizeof *r);
	/* Tolerate empty lines before the request line (RFC 9112 2.2). */
	while (s < end && (*s == '\r' || *s == '\n'))
		s++;
	e = line_end(s, (size_t)(end - s), &next, &bad);
	if (e == NULL && !bad) {
		/* Refuse early what can never become a request line. */
		for (const char *q = s; q < end && *q != ' '; q++)
			if (!is_tchar((unsigned char)*q))
				goto bad_line;
		return BC_HTTP1_PARTIAL;
	}
	if (bad)
		goto bad_line;
	/* METHOD SP TARGET SP HTTP/1.D */
	sp = memchr(s, ' ', (size_t)(e - s));
	if (sp == NULL || sp == s)
		goto bad_line;
	for (const char *q = s; q < sp; q++)
		if (!is_tchar((unsigned char)*q))
			goto bad_line;
	r->method = (struct bc_http1_span){ s, (size_t)(sp - s) };
	s = sp + 1;
	sp = memchr(s, ' ', (size_t)(e - s));
	if (sp == NULL || sp == s)
		goto bad_line;
	for (const char *q = s; q < sp; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			goto bad_line;
	r->target = (struct bc_http1_span){ s, (size_t)(sp - s) };
	s = sp + 1;
	if (e - s != 8 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9')
		goto bad_line;
	r->minor = s[7] - '0';
	for (s = next;;) {
		const char *colon, *v, *ve;
		if (s >= end)
			return BC_HTTP1_PARTIAL;
		e = line_end(s, (size_t)(end - s), &next, &bad);
		if (bad) {
			*err = "bare CR in a header line";
			return -1;
		}
		if (e == NULL)
			return BC_HTTP1_PARTIAL;
		if (e == s)
			return next - p;
		if (*s == ' ' || *s == '\t') {
			*err = "folded header line";
			return -1;
		}
		colon = memchr(s, ':', (size_t)(e - s));
		if (colon == NULL || colon == s) {
			*err = "header line without a name";
			return -1;
		}
		for (const char *q = s; q < colon; q++)
			if (!is_tchar((unsigned char)*q)) {
				*err = "bad character in a header name";
				return -1;
			}
		for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = e; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		for (const char *q = v; q < ve; q++)
			if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f) {
				*err = "control character in a header value";
				return -1;
			}
		if (r->nheaders == BC_HTTP1_MAX_HEADERS) {
			*err = "too many header lines";
			return -1;
		}
		r->headers[r->nheaders].name = (struct bc_http1_span){ s, (size_t)(colon - s) };
		r->headers[r->nheaders++].value = (struct bc_http1_span){ v, (size_t)(ve - v) };
		s = next;
	}
bad_line:
	*err = "malformed request line";
	return -1;
}

const struct bc_http1_span *bc_http1_header(const struct bc_http1_req *r,
                                            const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->nheaders; i++)
		if (r->headers[i].name.n == n &&
		    strncasecmp(r->headers[i].name.p, name, n) == 0)
			return &r->headers[i].value;
	return NULL;
}

int bc_http1_has_token(const struct bc_http1_span *v, const char *token)
{
	size_t tn = strlen(token);
	const char *s = v->p, *end = v->p + v->n;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s)), *e;
		if (comma == NULL)
			comma = end;
		while (s < comma && (*s == ' ' || *s == '\t'))
			s++;
		for (e = comma; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		if ((size_t)(e - s) == tn && strncasecmp(s, token, tn) == 0)
			return 1;
		s = comma + 1;
	}
	return 0;
}

enum {
	C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF,
	C_TRAILER_START, C_TRAILER, C_TRAILER_LF, C_END_LF, C_DONE, C_BAD
};

void bc_chunked_init(struct bc_chunked *c)
{
	memset(c, 0, sizeof *c);
}

static ssize_t fail(struct bc_chunked *c, const char *why)
{
	c->state = C_BAD;
	c->err = why;
	return -1;
}

static int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

ssize_t bc_chunked_feed(struct bc_chunked *c, const char *p, size_t n,
                        bc_chunked_data_fn data, void *arg)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)p[i];
		int h;

		switch (c->state) {
		case C_SIZE:
			if ((h = hexval(ch)) >= 0) {
				if (++c->digits > SIZE_DIGITS_MAX)
					return fail(c, "chunk size too large");
				c->left = c->left * 16 + (uint64_t)h;
			} else if (c->digits == 0) {
				return fail(c, "chunk size is not a hex number");
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = C_EXT;
				c->line = 0;
			} else if (ch == '\r') {
				c->state = C_SIZE_LF;
			} else {
				return fail(c, "bad character after a chunk size");
			}
			i++;
			break;
		case C_EXT:
			if (ch == '\r')
				c->state = C_SIZE_LF;
			else if (ch == '\n' || (ch < ' ' && ch != '\t') || ch == 0x7f)
				return fail(c, "bad character in a chunk extension");
			else if (++c->line > EXT_MAX)
				return fail(c, "chunk extension too long");
			i++;
			break;
		case C_SIZE_LF:
			if (ch != '\n')
				return fail(c, "chunk size line does not end in CRLF");
			i++;
			c->digits = 0;
			c->line = 0;
			c->state = c->left > 0 ? C_DATA : C_TRAILER_START;
			break;
		case C_DATA: {
			size_t take = n - i;
			if ((uint64_t)take > c->left)
				take = (size_t)c->left;
			c->left -= take;
			i += take;
			if (c->left == 0)
				c->state = C_DATA_CR;
			if (data(arg, p + i - take, take) != 0)
				return (ssize_t)i;
			break;
		}
		case C_DATA_CR:
			if (ch != '\r')
				return fail(c, "chunk data longer than its size");
			c->state = C_DATA_LF;
			i++;
			break;
		case C_DATA_LF:
			if (ch != '\n')
				return fail(c, "chunk data does not end in CRLF");
			c->state = C_SIZE;
			i++;
			break;
		case C_TRAILER_START:
			if (ch == '\r') {
				c->state = C_END_LF;
				i++;
				break;
			}
			c->state = C_TRAILER;
			/* fall through */
		case C_TRAILER:
			if (ch == '\r')
				c->state = C_TRAILER_LF;
			else if (ch == '\n' || (ch < ' ' && ch != '\t') || ch == 0x7f)
				return fail(c, "bad character in a trailer");
			if (++c->line > TRAILER_MAX)
				return fail(c, "trailer too long");
			i++;
			break;
		case C_TRAILER_LF:
			if (ch != '\n')
				return fail(c, "trailer line does not end in CRLF");
			c->state = C_TRAILER_START;
			i++;
			break;
		case C_END_LF:
			if (ch != '\n')
				return fail(c, "last chunk does not end in CRLF");
			c->state = C_DONE;
			return (ssize_t)(i + 1);
		case C_DONE:
			return (ssize_t)i;
		default:
			return -1;
		}
	}
	return (ssize_t)i;
}

int bc_chunked_done(const struct bc_chunked *c)
{
	return c->state == C_DONE;
}
