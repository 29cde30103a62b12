/* test_tid.c - thread-id and event-type validation. */
#include <string.h>

#include "bc_tid.h"
#include "unit.h"

static void test_tid(void)
{
	char s[200];

	CHECK(bc_tid_valid("run-42"));
	CHECK(bc_tid_valid("a"));
	CHECK(bc_tid_valid("A.b_c:d-e.0"));
	CHECK(bc_tid_valid("..."));
	CHECK(bc_tid_valid(".a"));
	CHECK(bc_tid_valid("a.."));
	CHECK(bc_tid_valid("2026-11-25T19:08:10"));
	memset(s, 'x', 128);
	s[128] = '\0';
	CHECK(bc_tid_valid(s));
	s[128] = 'x';
	s[129] = '\0';
	CHECK(!bc_tid_valid(s));
	CHECK(!bc_tid_valid_n(s, 129));
	CHECK(bc_tid_valid_n(s, 128));

	CHECK(!bc_tid_valid(NULL));
	CHECK(!bc_tid_valid(""));
	CHECK(!bc_tid_valid("."));
	CHECK(!bc_tid_valid(".."));
	CHECK(!bc_tid_valid("a/b"));
	CHECK(!bc_tid_valid("../etc"));
	CHECK(!bc_tid_valid("/"));
	CHECK(!bc_tid_valid("a b"));
	CHECK(!bc_tid_valid(" a"));
	CHECK(!bc_tid_valid("a\""));
	CHECK(!bc_tid_valid("a'"));
	CHECK(!bc_tid_valid("a\n"));
	CHECK(!bc_tid_valid("a\\b"));
	CHECK(!bc_tid_valid("a*"));
	CHECK(!bc_tid_valid("a{b}"));
	CHECK(!bc_tid_valid("a%20"));
	CHECK(!bc_tid_valid("a?b"));
	CHECK(!bc_tid_valid("\xc3\xa9t\xc3\xa9"));

	CHECK(bc_tid_valid_n("run-1/x", 5));
	CHECK(!bc_tid_valid_n("run-1/x", 7));
	CHECK(!bc_tid_valid_n("a\0b", 3));
	CHECK(!bc_tid_valid_n("..", 2));
	CHECK(!bc_tid_valid_n(".", 1));
	CHECK(!bc_tid_valid_n("abc", 0));
	CHECK(!bc_tid_valid_n(NULL, 3));
	CHECK(bc_tid_valid_n("...", 3));
}

static void test_event_type(void)
{
	char s[100];

	CHECK(bc_event_type_valid("run_completed"));
	CHECK(bc_event_type_valid("a"));
	CHECK(bc_event_type_valid("hitl.ack"));
	CHECK(bc_event_type_valid("checkpoint2"));
	CHECK(!bc_event_type_valid(NULL));
	CHECK(!bc_event_type_valid(""));
	CHECK(!bc_event_type_valid("Run"));
	CHECK(!bc_event_type_valid("1run"));
	CHECK(!bc_event_type_valid("_run"));
	CHECK(!bc_event_type_valid(".run"));
	CHECK(!bc_event_type_valid("run-x"));
	CHECK(!bc_event_type_valid("run x"));
	CHECK(!bc_event_type_valid("runX"));
	memset(s, 'a', 64);
	s[64] = '\0';
	CHECK(bc_event_type_valid(s));
	s[64] = 'a';
	s[65] = '\0';
	CHECK(!bc_event_type_valid(s));
}

int main(void)
{
	RUN(test_tid());
	RUN(test_event_type());
	UNIT_DONE("tid");
}
