/* test_hash.c - bc_hash: 64-bit FNV-1a against its published test values
 * (the two copies it replaces had the offset basis one digit short). */
#include "bc_hash.h"
#include "unit.h"

static void test_fnv1a(void)
{
	CHECK(bc_hash_str("") == 0xcbf29ce484222325ULL);
	CHECK(bc_hash_str("a") == 0xaf63dc4c8601ec8cULL);
	CHECK(bc_hash_str("foobar") == 0x85944171f73967e8ULL);
	CHECK(bc_hash_str("run-1") != bc_hash_str("run-2"));
	/* Bytes above 0x7f hash as unsigned. */
	CHECK(bc_hash_str("\xff") == ((0xcbf29ce484222325ULL ^ 0xffULL) *
	                              0x100000001b3ULL));
}

int main(void)
{
	RUN(test_fnv1a());
	UNIT_DONE("hash");
}
