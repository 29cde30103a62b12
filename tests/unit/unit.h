/* unit.h - a tiny test harness for the C unit tests of lib/.
 *
 * A test is a function; main runs each with RUN(test_x()) (any call
 * expression: RUN(run(url)) too). CHECK(cond) records a failed check with its
 * location and goes on; a test passes when none of its checks failed. Checks
 * made in main outside any RUN count together as one more test, "main".
 * Each binary ends with UNIT_DONE(name), which prints
 * "unit NAME: P passed, F failed" counting tests (functions), not checks,
 * and exits non-zero on any failure. tests/run adds these up. */
#ifndef BCAST_UNIT_H
#define BCAST_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_checks_failed;      /* every failed check */
static int unit_in_test;            /* inside a RUN */
static int unit_main_checks, unit_main_failed; /* checks outside any RUN */
static int unit_passed, unit_failed; /* tests */

static inline void unit_check(int ok, const char *file, int line, const char *what)
{
	if (!unit_in_test)
		unit_main_checks++;
	if (ok)
		return;
	unit_checks_failed++;
	if (!unit_in_test)
		unit_main_failed++;
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
}

#define CHECK(cond) unit_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	int ok_ = a_ && b_ && strcmp(a_, b_) == 0; \
	if (!ok_) \
		fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
		        a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	unit_check(ok_, __FILE__, __LINE__, #a " == " #b); \
} while (0)

/* RUN(call): one test; it fails if any check inside it failed. */
#define RUN(call) do { \
	int before_ = unit_checks_failed; \
	unit_in_test = 1; \
	call; \
	unit_in_test = 0; \
	if (unit_checks_failed == before_) { \
		unit_passed++; \
	} else { \
		unit_failed++; \
		fprintf(stderr, "test failed: %s\n", #call); \
	} \
} while (0)

#define UNIT_DONE(name) do { \
	if (unit_main_checks > 0) { \
		if (unit_main_failed) unit_failed++; \
		else unit_passed++; \
	} \
	printf("unit %s: %d passed, %d failed\n", name, unit_passed, unit_failed); \
	return unit_failed ? 1 : 0; \
} while (0)

#endif
