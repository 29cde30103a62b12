/* test_sse_reader.c - the loadgen's response reader on fixed inputs, each
 * fed whole, split at every byte boundary, and byte by byte: the events,
 * replies and errors must not depend on how the input was cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_reader.h"

static int fails;

struct tally {
	int heads, status, events, recs, replies, bad_replies;
	unsigned long long seqsum, chsum;
};

static void t_head(void *arg, int status)
{
	struct tally *t = arg;
	t->heads++;
	t->status = status;
}

static void t_event(void *arg, const struct sr_rec *rec)
{
	struct tally *t = arg;
	t->events++;
	if (rec) {
		t->recs++;
		t->seqsum += rec->seq * 1000003ull + rec->ns;
		t->chsum += rec->ch;
	}
}

static void t_reply(void *arg, int status)
{
	struct tally *t = arg;
	t->replies++;
	if (status < 200 || status > 299)
		t->bad_replies++;
}

static const struct sr_cb cb = { t_head, t_event, t_reply };

/* Feed in pieces of the given sizes (cut < 0: byte by byte, 0: whole). */
static int run(enum sr_mode mode, const char *in, size_t n, long cut, struct tally *t,
               struct sr_reader *r)
{
	int rc = 0;
	memset(t, 0, sizeof *t);
	sr_init(r, mode);
	if (cut == 0) {
		return sr_feed(r, in, n, &cb, t);
	}
	if (cut < 0) {
		for (size_t i = 0; i < n && rc >= 0; i++)
			rc = sr_feed(r, in + i, 1, &cb, t);
		return rc;
	}
	rc = sr_feed(r, in, (size_t)cut, &cb, t);
	if (rc >= 0)
		rc = sr_feed(r, in + cut, n - (size_t)cut, &cb, t);
	return rc;
}

static void expect(const char *name, enum sr_mode mode, const char *in, int want_rc,
                   int events, int recs, int replies, int status)
{
	size_t n = strlen(in);
	struct sr_reader *r = malloc(sizeof *r);
	struct tally t, first;
	int rc0 = run(mode, in, n, 0, &first, r);
	if (rc0 != want_rc || first.events != events || first.recs != recs ||
	    first.replies != replies || (status && first.status != status)) {
		printf("FAIL %s: rc=%d events=%d recs=%d replies=%d status=%d (%s)\n", name, rc0,
		       first.events, first.recs, first.replies, first.status, r->err ? r->err : "");
		fails++;
	}
	for (long cut = -1; cut <= (long)n; cut++) {
		if (cut == 0)
			continue;
		int rc = run(mode, in, n, cut > (long)n ? (long)n : cut, &t, r);
		if (rc != rc0 || memcmp(&t, &first, sizeof t) != 0) {
			printf("FAIL %s: split at %ld gives rc=%d events=%d recs=%d replies=%d/%d heads=%d st=%d vs %d/%d %d %d\n",
			       name, cut, rc, t.events, t.recs, t.replies, t.bad_replies, t.heads, t.status,
			       first.replies, first.bad_replies, first.heads, first.status);
			fails++;
			break;
		}
	}
	free(r);
}

int main(void)
{
	struct sr_rec rec;

	if (sr_parse_payload("L 17 123456789 3 xxx", 20, &rec) || rec.seq != 17 ||
	    rec.ns != 123456789 || rec.ch != 3) {
		puts("FAIL payload raw");
		fails++;
	}
	const char *js = "{\"thread_id\":\"t-3\",\"seq\":9,\"line\":\"L 5 77 3 xx\"}";
	if (sr_parse_payload(js, strlen(js), &rec) || rec.seq != 5 || rec.ns != 77 || rec.ch != 3) {
		puts("FAIL payload json");
		fails++;
	}
	const char *bad[] = { "L 1 2", "L x 2 3", "L 1 2 3x", "{\"line\":\"M 1 2 3\"}",
	                      "L 99999999999999999999 1 1", "L 1 1 4294967296", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (sr_parse_payload(bad[i], strlen(bad[i]), &rec) == 0) {
			printf("FAIL payload accepted: %s\n", bad[i]);
			fails++;
		}

	expect("nchan plain", SR_SSE,
	       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n"
	       "id: 1:0\ndata: L 0 10 0 xxxx\n\nid: 1:1\ndata: L 1 11 0 xxxx\n\n", 0, 2, 2, 0, 200);
	expect("bcast chunked", SR_SSE,
	       "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
	       "d\r\n: connected\n\n\r\n"
	       "18\r\nid: 4\ndata: {\"line\":\"L 4\r\n"
	       "c\r\n 40 0 xx\"}\n\n\r\n"
	       "0\r\n\r\n", 1, 1, 1, 0, 200);
	expect("CR and CRLF line ends", SR_SSE,
	       "HTTP/1.1 200 OK\r\n\r\ndata: L 1 2 3\r\rdata: L 2 3 4\r\n\r\ndata:x\n\n", 0, 3, 2, 0, 200);
	expect("event without data", SR_SSE,
	       "HTTP/1.1 200 OK\r\n\r\nid: 3\n\nevent: x\n\n", 0, 0, 0, 0, 200);
	expect("content-length stream", SR_SSE,
	       "HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\ndata: L 1 2 3\n\n", 1, 1, 1, 0, 200);
	expect("404", SR_SSE, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 1, 0, 0, 0, 404);
	expect("bad status", SR_SSE, "HTTP/1.1 2x0 OK\r\n\r\n", -1, 0, 0, 0, 0);
	expect("not http", SR_SSE, "hello\r\n\r\n", -1, 0, 0, 0, 0);
	expect("bad chunk", SR_SSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	       -1, 0, 0, 0, 200);
	expect("huge chunk", SR_SSE,
	       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
	       -1, 0, 0, 0, 200);
	expect("data after end", SR_SSE,
	       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", -1, 0, 0, 0, 200);
	expect("pipelined replies", SR_REPLIES,
	       "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello"
	       "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
	       "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
	       "HTTP/1.1 204 No Content\r\n\r\n", 0, 0, 0, 4, 0);
	expect("reply without length", SR_REPLIES, "HTTP/1.1 200 OK\r\n\r\n", -1, 0, 0, 0, 0);

	/* A head larger than SR_HEAD_MAX is refused, however it is cut. */
	size_t big = SR_HEAD_MAX + 100;
	char *h = malloc(big + 64);
	strcpy(h, "HTTP/1.1 200 OK\r\nX: ");
	memset(h + strlen(h), 'a', big);
	strcpy(h + big, "\r\n\r\n");
	expect("oversized head", SR_SSE, h, -1, 0, 0, 0, 0);
	/* A data line longer than SR_LINE_CAP still yields its payload. */
	char *l = malloc(70000);
	strcpy(l, "HTTP/1.1 200 OK\r\n\r\ndata: L 7 8 9 ");
	size_t at = strlen(l);
	memset(l + at, 'y', 65536);
	strcpy(l + at + 65536, "\n\n");
	struct sr_reader *r = malloc(sizeof *r);
	struct tally t;
	if (run(SR_SSE, l, strlen(l), 0, &t, r) != 0 || t.recs != 1) {
		puts("FAIL long line");
		fails++;
	}
	free(r);
	free(h);
	free(l);
	printf("%s\n", fails ? "sse_reader: FAILED" : "sse_reader: ok");
	return fails != 0;
}
