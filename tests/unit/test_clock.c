/* test_clock.c - bc_clock: the clocks, bc_ts_now's form, the one RFC 3339
 * check (dates, leap years, fractions, offsets to +-23:59) and the UTC
 * form a store writes. */
#include <string.h>
#include <time.h>

#include "bc_clock.h"
#include "unit.h"

static void test_now(void)
{
	char ts[BC_TS_LEN];
	bc_ts_now(ts);
	CHECK(strlen(ts) == 27);
	CHECK(ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' && ts[13] == ':' &&
	      ts[16] == ':' && ts[19] == '.' && ts[26] == 'Z');
	CHECK(strncmp(ts, "20", 2) == 0);
	CHECK(bc_ts_valid(ts, strlen(ts)));
	int64_t a = bc_now_us();
	int64_t b = bc_now_us();
	CHECK(a > 1700000000LL * 1000000 && b >= a);
	int64_t m = bc_now_ms();
	struct timespec d = { 0, 20 * 1000 * 1000 };
	nanosleep(&d, NULL);
	CHECK(bc_now_ms() - m >= 20);
	int64_t u = bc_mono_us();
	CHECK(u / 1000 >= m + 20 && bc_mono_us() >= u);
}

#define VALID(s) CHECK(bc_ts_valid(s, strlen(s)))
#define INVALID(s) CHECK(!bc_ts_valid(s, strlen(s)))

static void test_valid(void)
{
	VALID("2026-11-25T19:08:10Z");
	VALID("2026-11-25T19:08:10.123456Z");
	VALID("2026-11-25t19:08:10.1z");
	VALID("2026-11-25 19:08:10.123456789Z");
	VALID("2024-02-29T00:00:00Z");
	VALID("2000-02-29T00:00:00Z");
	VALID("0001-01-01T00:00:00Z");
	VALID("9999-12-31T23:59:59Z");
	/* Offsets: RFC 3339's time-numoffset is HH 00-23, MM 00-59. */
	VALID("2026-11-25T19:08:10+00:00");
	VALID("2026-11-25T19:08:10-00:00");
	VALID("2026-11-25T19:08:10+14:00");
	VALID("2026-11-25T19:08:10+15:59");
	VALID("2026-11-25T19:08:10-16:00");
	VALID("2026-11-25T19:08:10.5+23:59");
	VALID("2026-11-25T19:08:10-23:59");
	INVALID("2026-11-25T19:08:10+24:00");
	INVALID("2026-11-25T19:08:10-24:00");
	INVALID("2026-11-25T19:08:10+05:60");
	INVALID("2026-11-25T19:08:10+0530");
	INVALID("2026-11-25T19:08:10+05");
	INVALID("2026-11-25T19:08:10");
	INVALID("2026-11-25T19:08:10ZZ");
	INVALID("2026-11-25T19:08:10.Z");
	INVALID("2026-11-25T19:08:10.1234567890Z");
	INVALID("2026-11-25X19:08:10Z");
	INVALID("2026-13-25T19:08:10Z");
	INVALID("2026-00-25T19:08:10Z");
	INVALID("2026-11-31T19:08:10Z");
	INVALID("2023-02-29T00:00:00Z");
	INVALID("1900-02-29T00:00:00Z");
	INVALID("0000-01-01T00:00:00Z");
	INVALID("2026-11-25T24:00:00Z");
	INVALID("2026-11-25T19:60:00Z");
	INVALID("2026-11-25T19:08:60Z");
	INVALID("2026-1-25T19:08:10Z");
	INVALID("");
	CHECK(!bc_ts_valid(NULL, 0));
	/* Exactly n bytes count: a valid prefix or a NUL inside is not enough. */
	CHECK(!bc_ts_valid("2026-11-25T19:08:10Z", 19));
	CHECK(!bc_ts_valid("2026-11-25T19:08:10Z\0", 21));
	CHECK(bc_ts_valid("2026-11-25T19:08:10Zxyz", 20));
	/* The longest form fits BC_TS_LEN. */
	VALID("2026-11-25T19:08:10.123456789+23:59");
}

static void test_utc(void)
{
	char out[BC_TS_LEN];

	CHECK(bc_ts_utc("2026-11-25T19:08:10.123456Z", out) == 0);
	CHECK_STR(out, "2026-11-25T19:08:10.123456Z");
	CHECK(bc_ts_utc("2026-11-25 19:08:10z", out) == 0);
	CHECK_STR(out, "2026-11-25T19:08:10Z");
	CHECK(bc_ts_utc("2026-11-25T19:08:10.5+20:00", out) == 0);
	CHECK_STR(out, "2026-11-24T23:08:10.5Z");
	CHECK(bc_ts_utc("2026-11-25T19:08:10-23:59", out) == 0);
	CHECK_STR(out, "2026-11-26T19:07:10Z");
	CHECK(bc_ts_utc("2024-03-01T01:30:00+05:30", out) == 0);
	CHECK_STR(out, "2024-02-29T20:00:00Z");
	CHECK(bc_ts_utc("2026-12-31T23:00:00-01:00", out) == 0);
	CHECK_STR(out, "2027-01-01T00:00:00Z");
	CHECK(bc_ts_utc("2026-11-25T19:08:10.000000001-00:00", out) == 0);
	CHECK_STR(out, "2026-11-25T19:08:10.000000001Z");
	/* Out of years 1..9999 in UTC, or not valid: -1. */
	CHECK(bc_ts_utc("0001-01-01T00:00:00+00:01", out) == -1);
	CHECK(bc_ts_utc("9999-12-31T23:59:59-00:01", out) == -1);
	CHECK(bc_ts_utc("2026-11-25T19:08:10+24:00", out) == -1);
	CHECK(bc_ts_utc(NULL, out) == -1);
}

int main(void)
{
	RUN(test_now());
	RUN(test_valid());
	RUN(test_utc());
	UNIT_DONE("clock");
}
