/* test_sse.c - SSE framing and the resumable parser: framed data parses
 * back, every split of an input gives the same events, line endings,
 * comments, BOM, oversize events. */
#include <stdlib.h>
#include <string.h>

#include "bc_sse.h"
#include "unit.h"

/* What the callbacks saw, as text: "E id|event|data\n" and "C text\n". */
struct log {
	struct bc_buf text;
	int events;
	int stop_after;   /* callback returns 7 at this event; 0: never */
};

static int on_event(const struct bc_sse_event *ev, void *arg)
{
	struct log *l = arg;
	if (strlen(ev->data) != ev->data_len && !memchr(ev->data, '\0', ev->data_len))
		return 99;
	bc_buf_printf(&l->text, "E %s|%s|", ev->id, ev->event);
	bc_buf_append(&l->text, ev->data, ev->data_len);
	bc_buf_puts(&l->text, "\n");
	l->events++;
	return l->stop_after && l->events == l->stop_after ? 7 : 0;
}

static void on_comment(const char *text, size_t n, void *arg)
{
	struct log *l = arg;
	bc_buf_puts(&l->text, "C ");
	bc_buf_append(&l->text, text, n);
	bc_buf_puts(&l->text, "\n");
}

/* Feed s in the chunks ending at cuts[0..ncuts) then the rest; record the
 * return codes in the log. Returns the text (caller frees). */
static char *run(const char *s, size_t n, size_t max, const size_t *cuts,
                 size_t ncuts)
{
	struct log l = {0};
	bc_buf_init(&l.text, 0);
	struct bc_sse_parser *p = bc_sse_parser_new(max, on_event, on_comment, &l);
	size_t off = 0;
	int overflow = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		int rc = bc_sse_parser_feed(p, s + off, end - off);
		if (rc == -1)
			overflow++;
		else if (rc != 0)
			bc_buf_printf(&l.text, "rc %d\n", rc);
		off = end;
	}
	if (overflow)
		bc_buf_puts(&l.text, "overflow\n");
	bc_sse_parser_free(p);
	bc_buf_puts(&l.text, "");
	return bc_buf_steal(&l.text, NULL);
}

/* Parse s whole, then split at every boundary, every pair of boundaries
 * (for short inputs) and byte by byte; all must agree with want. */
static int splits_agree(const char *s, size_t n, size_t max, const char *want)
{
	int bad = 0;
	char *whole = run(s, n, max, NULL, 0);
	if (strcmp(whole, want) != 0) {
		fprintf(stderr, "whole: got\n%swant\n%s", whole, want);
		bad++;
	}
	for (size_t k = 0; k <= n; k++) {
		char *t = run(s, n, max, &k, 1);
		if (strcmp(t, whole) != 0) {
			if (!bad)
				fprintf(stderr, "split at %zu: got\n%s", k, t);
			bad++;
		}
		free(t);
	}
	if (n <= 120) {
		for (size_t i = 0; i <= n; i++)
			for (size_t j = i; j <= n; j++) {
				size_t cuts[2] = {i, j};
				char *t = run(s, n, max, cuts, 2);
				if (strcmp(t, whole) != 0)
					bad++;
				free(t);
			}
	}
	size_t *cuts = malloc((n + 1) * sizeof *cuts);
	for (size_t i = 0; i < n; i++)
		cuts[i] = i;
	char *t = run(s, n, max, cuts, n);
	if (strcmp(t, whole) != 0) {
		fprintf(stderr, "byte by byte: got\n%s", t);
		bad++;
	}
	free(t);
	free(cuts);
	free(whole);
	return bad == 0;
}

#define AGREE(lit, max, want) CHECK(splits_agree(lit, sizeof(lit) - 1, max, want))

static void test_parse(void)
{
	AGREE("data: hello\n\n", 1024, "E ||hello\n");
	AGREE("data:hello\n\n", 1024, "E ||hello\n");
	AGREE("data:  two spaces\n\n", 1024, "E || two spaces\n");
	AGREE("id: 7\ndata: a\ndata: b\n\n", 1024, "E 7||a\nb\n");
	AGREE("data: crlf\r\n\r\ndata: cr\r\rdata: lf\n\n", 1024,
	      "E ||crlf\nE ||cr\nE ||lf\n");
	AGREE("data: a\r\ndata: b\rdata: c\n\r\n", 1024, "E ||a\nb\nc\n");
	AGREE("data: x\r\n\n", 1024, "E ||x\n");
	AGREE(": keepalive\n\n: \n:x\ndata: d\n\n", 1024,
	      "C keepalive\nC \nC x\nE ||d\n");
	AGREE("event: ping\ndata: p\n\ndata: q\n\n", 1024, "E |ping|p\nE ||q\n");
	AGREE("id: 1\n\ndata: after\n\nid\ndata: cleared\n\n", 1024,
	      "E 1||after\nE ||cleared\n");
	AGREE("id: 5\ndata: x\n\nid: bad\0id\ndata: y\n\n", 1024,
	      "E 5||x\nE 5||y\n");
	AGREE("data\n\ndata:\n\n", 1024, "E ||\nE ||\n");
	AGREE("\n\n\nevent: e\n\ndata: z\n\n", 1024, "E ||z\n");
	AGREE("retry: 10\nfoo: bar\ndata : no\nDATA: no\ndata: yes\n\n", 1024,
	      "E ||yes\n");
	AGREE("data: unfinished\n", 1024, "");
	AGREE("data: unfinished", 1024, "");
	AGREE("\xef\xbb\xbf" "data: bom\n\n", 1024, "E ||bom\n");
	AGREE("\xef\xbb" "data: half bom\n\n", 1024, "");
	AGREE("\xef" "\n" "data: x\n\n", 1024, "E ||x\n");
	AGREE("data: \xef\xbb\xbf" "kept\n\n", 1024, "E ||\xef\xbb\xbf" "kept\n");
	AGREE("data: {\"a\":\"b\\nc\"}\n\n", 1024, "E ||{\"a\":\"b\\nc\"}\n");
	AGREE("data: nul\0in data\n\n", 1024, "E ||nul\0in data\n");

	/* Caps: a line, an event's data, an event name, over max_event. */
	AGREE("data: 0123456789\n\ndata: ok\n\n", 8, "E ||ok\noverflow\n");
	AGREE("data: 0123\ndata: 4567\ndata: 89\n\ndata: ok\n\n", 11,
	      "E ||ok\noverflow\n");
	AGREE("data: 0123\ndata: 4567\ndata: 89\n\n", 12, "E ||0123\n4567\n89\n");
	AGREE("data: 0123456789abcdef\ndata: more\n\ndata: ok\n\n", 10,
	      "E ||ok\noverflow\n");
	AGREE(": a very long comment line\n\ndata: ok\n\n", 10,
	      "E ||ok\noverflow\n");
	AGREE("data: 0123456789\r\ndata: x\r\n\r\ndata: ok\r\n\r\n", 8,
	      "E ||ok\noverflow\n");
	AGREE("data: 0123456789\rdata: x\r\rdata: ok\r\r", 8,
	      "E ||ok\noverflow\n");
}

static void test_stop_and_reset(void)
{
	struct log l = {0};
	bc_buf_init(&l.text, 0);
	l.stop_after = 1;
	struct bc_sse_parser *p = bc_sse_parser_new(64, on_event, NULL, &l);
	const char *in = "id: 3\ndata: a\n\ndata: b\n\n";
	CHECK(bc_sse_parser_feed(p, in, strlen(in)) == 7);
	CHECK(l.events == 1);
	CHECK(bc_sse_parser_feed(p, "data: half", 10) == 0);
	bc_sse_parser_reset(p);
	CHECK(bc_sse_parser_feed(p, "\n\ndata: c\n\n", 11) == 0);
	CHECK(l.events == 2);
	CHECK_STR(l.text.data, "E 3||a\nE 3||c\n");
	CHECK(bc_sse_parser_feed(p, "", 0) == 0);

	/* Oversize: -1 once, then the parser goes on. */
	CHECK(bc_sse_parser_feed(p, "data: ", 6) == 0);
	char big[100];
	memset(big, 'x', sizeof big);
	CHECK(bc_sse_parser_feed(p, big, sizeof big) == -1);
	CHECK(bc_sse_parser_feed(p, big, sizeof big) == 0);
	CHECK(bc_sse_parser_feed(p, "\n\ndata: d\n\n", 11) == 0);
	CHECK(l.events == 3);
	CHECK_STR(l.text.data, "E 3||a\nE 3||c\nE 3||d\n");
	bc_sse_parser_free(p);
	bc_sse_parser_free(NULL);
	bc_buf_free(&l.text);

	/* No callbacks at all is allowed. */
	p = bc_sse_parser_new(16, NULL, NULL, NULL);
	CHECK(p != NULL);
	CHECK(bc_sse_parser_feed(p, ": c\ndata: x\n\n", 13) == 0);
	bc_sse_parser_free(p);
}

/* Frame data, parse it back whole and split; the data must come back with
 * every line break as "\n". */
static int frame_round_trip(const char *id, const char *data, size_t n,
                            const char *want_data, size_t wn)
{
	struct bc_buf f, want;
	bc_buf_init(&f, 0);
	bc_buf_init(&want, 0);
	bc_sse_frame(&f, id, data, n);
	bc_sse_frame(&f, NULL, "next", 4);
	char wid[64];
	snprintf(wid, sizeof wid, "%s", id ? id : "");
	for (char *c = wid; *c; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	bc_buf_printf(&want, "E %s||", wid);
	bc_buf_append(&want, want_data, wn);
	bc_buf_printf(&want, "\nE %s||next\n", wid);
	int ok = splits_agree(f.data, f.len, 1 << 20, want.data);
	bc_buf_free(&f);
	bc_buf_free(&want);
	return ok;
}

#define FRT(id, lit, want) \
	CHECK(frame_round_trip(id, lit, sizeof(lit) - 1, want, sizeof(want) - 1))

static void test_frame(void)
{
	struct bc_buf b;
	bc_buf_init(&b, 0);
	CHECK(bc_sse_frame(&b, "run-42:17", "{\"a\":1}", 7) == 0);
	CHECK_STR(b.data, "id: run-42:17\ndata: {\"a\":1}\n\n");
	bc_buf_reset(&b);
	CHECK(bc_sse_frame(&b, NULL, "a\nb\r\nc\rd", 8) == 0);
	CHECK_STR(b.data, "data: a\ndata: b\ndata: c\ndata: d\n\n");
	bc_buf_reset(&b);
	CHECK(bc_sse_frame(&b, "x\ny\rz", "", 0) == 0);
	CHECK_STR(b.data, "id: x y z\ndata: \n\n");
	bc_buf_reset(&b);
	CHECK(bc_sse_comment(&b, "keepalive") == 0);
	CHECK(bc_sse_comment(&b, "a\nb") == 0);
	CHECK_STR(b.data, ": keepalive\n\n: a b\n\n");
	bc_buf_free(&b);

	struct bc_buf small;
	bc_buf_init(&small, 12);
	CHECK(bc_sse_frame(&small, "1", "0123456789", 10) == -1);
	CHECK(small.len == 0);
	CHECK(bc_sse_comment(&small, "0123456789abc") == -1);
	CHECK(small.len == 0);
	bc_buf_free(&small);

	FRT("1", "plain", "plain");
	FRT(NULL, "", "");
	FRT("7", "multi\nline\n", "multi\nline\n");
	FRT("7", "\n", "\n");
	FRT("id:with:colons", "cr\rlf\ncrlf\r\nend", "cr\nlf\ncrlf\nend");
	FRT("e", " leading space", " leading space");
	FRT("e", "data: fake\n\nid: 99\nevent: x\n:comment", "data: fake\n\nid: 99\nevent: x\n:comment");
	FRT("9", "\r\n\r\n", "\n\n");
	FRT("i\nj", "x", "x");
}

int main(void)
{
	RUN(test_parse());
	RUN(test_stop_and_reset());
	RUN(test_frame());
	UNIT_DONE("sse");
}
