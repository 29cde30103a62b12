/* test_busmsg.c - the bus message header: round trip, every refusal, and
 * every prefix of a good message (a message cut anywhere is refused or,
 * cut inside the payload, keeps a shorter payload). */
#include <string.h>

#include "bc_busmsg.h"
#include "unit.h"

static const char origin[] = "0123456789abcdef";

static int parses(const char *s)
{
	struct bc_busmsg m;
	char err[128];

	return bc_busmsg_parse(s, strlen(s), &m, err, sizeof err) == 0;
}

static void test_round_trip(void)
{
	struct bc_busmsg m;
	struct bc_buf b;
	char err[128];

	bc_buf_init(&b, 0);
	CHECK(bc_busmsg_head(&b, BC_BUSMSG_LOGS, origin, 42, "run-1") == 0);
	CHECK(bc_buf_puts(&b, "{\"a\":1}\n{\"b\":2}\n") == 0);
	CHECK(bc_busmsg_parse(b.data, b.len, &m, err, sizeof err) == 0);
	CHECK(m.kind == BC_BUSMSG_LOGS);
	CHECK_STR(m.origin, origin);
	CHECK(m.q == 42);
	CHECK_STR(m.tid, "run-1");
	CHECK(m.payload_len == 16 && memcmp(m.payload, "{\"a\":1}\n", 8) == 0);

	bc_buf_reset(&b);
	CHECK(bc_busmsg_head(&b, BC_BUSMSG_ADMIN, origin, 1, "ignored") == 0);
	CHECK(bc_buf_puts(&b, "{\"type\":\"x\"}") == 0);
	CHECK(bc_busmsg_parse(b.data, b.len, &m, err, sizeof err) == 0);
	CHECK(m.kind == BC_BUSMSG_ADMIN && m.q == 1 && m.tid[0] == '\0');
	CHECK(m.payload_len == 12);
	bc_buf_free(&b);
}

static void test_refused(void)
{
	CHECK(parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(parses("{\"k\":\"a\",\"q\":7,\"o\":\"0123456789abcdef\",\"v\":1}\nx"));
	CHECK(!parses(""));
	CHECK(!parses("no header"));
	CHECK(!parses("not json\nx"));
	CHECK(!parses("[1]\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\n"));  /* empty payload */
	CHECK(!parses("{\"v\":2,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":\"1\",\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1.0,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789ABCDEF\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcde\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":0,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":-3,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":99999999999999999999,\"k\":\"l\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"x\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\"}\nx"));   /* no thread */
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"a\",\"t\":\"t\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"a/b\"}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\",\"z\":0}\nx"));
	CHECK(!parses("{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}{}\nx"));
	CHECK(!parses("{\"o\":\"0123456789abcdef\",\"q\":1,\"k\":\"l\",\"t\":\"t\"}\nx"));
}

static void test_prefixes(void)
{
	static const char good[] =
		"{\"v\":1,\"o\":\"0123456789abcdef\",\"q\":5,\"k\":\"l\",\"t\":\"t\"}\n{}";
	size_t head = strchr(good, '\n') - good;
	struct bc_busmsg m;
	char err[128];

	for (size_t n = 0; n <= sizeof good - 1; n++) {
		int rc = bc_busmsg_parse(good, n, &m, err, sizeof err);
		CHECK((rc == 0) == (n > head + 1));
		CHECK(rc == 0 || err[0] != '\0');
	}
}

static void test_long_header(void)
{
	char s[BC_BUSMSG_HEAD_MAX + 64];

	memset(s, ' ', sizeof s);
	memcpy(s, "{\"v\":1", 6);
	s[sizeof s - 2] = '\n';
	s[sizeof s - 1] = 'x';
	CHECK(!parses("{}"));
	struct bc_busmsg m;
	char err[128];
	CHECK(bc_busmsg_parse(s, sizeof s, &m, err, sizeof err) != 0);
	CHECK(strcmp(err, "no header line") == 0);
}

int main(void)
{
	RUN(test_round_trip());
	RUN(test_refused());
	RUN(test_prefixes());
	RUN(test_long_header());
	UNIT_DONE("busmsg");
}
