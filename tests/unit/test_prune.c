/* test_prune.c - retention durations; the store side runs against real
 * SQLite and PostgreSQL in tests/retention.bats. */
#include "bc_prune.h"
#include "unit.h"

static void test_duration(void)
{
	long long s = -1;
	CHECK(bc_prune_duration("30d", &s) == 0 && s == 30 * 86400);
	CHECK(bc_prune_duration("12h", &s) == 0 && s == 12 * 3600);
	CHECK(bc_prune_duration("1d12h", &s) == 0 && s == 36 * 3600);
	CHECK(bc_prune_duration("2w", &s) == 0 && s == 14 * 86400);
	CHECK(bc_prune_duration("90m", &s) == 0 && s == 5400);
	CHECK(bc_prune_duration("0s", &s) == 0 && s == 0);
	CHECK(bc_prune_duration("1h30m15s", &s) == 0 && s == 5415);

	s = 7;
	CHECK(bc_prune_duration(NULL, &s) == -1);
	CHECK(bc_prune_duration("", &s) == -1);
	CHECK(bc_prune_duration("30", &s) == -1);
	CHECK(bc_prune_duration("d", &s) == -1);
	CHECK(bc_prune_duration("30x", &s) == -1);
	CHECK(bc_prune_duration("-1d", &s) == -1);
	CHECK(bc_prune_duration("1.5d", &s) == -1);
	CHECK(bc_prune_duration("30d ", &s) == -1);
	CHECK(bc_prune_duration("99999999999999999999d", &s) == -1);
	CHECK(bc_prune_duration("9223372036854775807w", &s) == -1);
	CHECK(s == 7);
}

int main(void)
{
	RUN(test_duration());
	UNIT_DONE("prune");
}
