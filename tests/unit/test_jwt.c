/* test_jwt.c - HS256 tokens: mint and verify, scope, expiry, refusals, and
 * tokens signed independently (python3's hmac module). */
#include <string.h>

#include "bc_jwt.h"
#include "unit.h"

static const char KEY[] = "0123456789abcdef0123456789abcdef";

static void test_roundtrip(void)
{
	const char *pats[] = { "run-*", "exact-1" };
	struct bc_jwt_claims c;
	struct bc_buf t;
	char err[256];

	bc_buf_init(&t, 0);
	CHECK(bc_jwt_mint(KEY, 32, pats, 2, 2000000000LL, &t, err, sizeof err) == 0);
	CHECK(bc_jwt_verify(KEY, 32, t.data, t.len, 1999999999LL, &c, err, sizeof err) == 0);
	CHECK(c.exp == 2000000000LL && c.nthreads == 2);
	CHECK(bc_jwt_allows(&c, "run-1"));
	CHECK(bc_jwt_allows(&c, "run-"));
	CHECK(bc_jwt_allows(&c, "exact-1"));
	CHECK(!bc_jwt_allows(&c, "exact-12"));
	CHECK(!bc_jwt_allows(&c, "ru"));
	CHECK(!bc_jwt_allows(&c, NULL));
	/* Expired at exp itself. */
	CHECK(bc_jwt_verify(KEY, 32, t.data, t.len, 2000000000LL, &c, err, sizeof err) == -1);
	CHECK_STR(err, "token expired");
	/* Another key. */
	CHECK(bc_jwt_verify("another key of thirty-two bytes!", 32, t.data, t.len, 0, &c,
	                    err, sizeof err) == -1);
	/* Truncated, and with a byte changed. */
	CHECK(bc_jwt_verify(KEY, 32, t.data, t.len - 1, 0, &c, err, sizeof err) == -1);
	t.data[5] ^= 1;
	CHECK(bc_jwt_verify(KEY, 32, t.data, t.len, 0, &c, err, sizeof err) == -1);
	CHECK(strstr(err, "signature") != NULL);
	bc_buf_free(&t);

	const char *star[] = { "*" };
	bc_buf_init(&t, 0);
	CHECK(bc_jwt_mint(KEY, 32, star, 1, 2000000000LL, &t, err, sizeof err) == 0);
	CHECK(bc_jwt_verify(KEY, 32, t.data, t.len, 0, &c, err, sizeof err) == 0);
	CHECK(bc_jwt_allows(&c, NULL) && bc_jwt_allows(&c, "anything"));
	bc_buf_free(&t);

	const char *bad[] = { "bad id" };
	bc_buf_init(&t, 0);
	CHECK(bc_jwt_mint(KEY, 32, bad, 1, 1, &t, err, sizeof err) == -1);
	CHECK(t.len == 0);
	bc_buf_free(&t);
}

/* Signed by python3: hmac.new(KEY, h + "." + c, sha256), claims
 * {"threads":["a*"],"exp":4102444800} and {"exp":4102444800} (no threads),
 * and alg HS512 with a valid HS256 signature. */
static void test_foreign(void)
{
	struct bc_jwt_claims c;
	char err[256];
	const char *ok = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
		"eyJ0aHJlYWRzIjogWyJhKiJdLCAiZXhwIjogNDEwMjQ0NDgwMH0."
		"3qhlHnYAJljyq250WTTUlDS-bBLqNvmwhW_2y9qR02g";
	const char *nothreads = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
		"eyJleHAiOiA0MTAyNDQ0ODAwfQ."
		"SDcx0QUxFCoHJk9jzyqB6XWGbsJPs-XX8oXXuYtldoY";
	const char *hs512 = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."
		"eyJ0aHJlYWRzIjogWyJhKiJdLCAiZXhwIjogNDEwMjQ0NDgwMH0."
		"mbJ5qZIEZsusPP7-1XoHlp_y_BDYCupNUWjY2w4el24";

	CHECK(bc_jwt_verify(KEY, 32, ok, strlen(ok), 0, &c, err, sizeof err) == 0);
	CHECK(c.nthreads == 1 && strcmp(c.threads[0], "a*") == 0);
	CHECK(bc_jwt_verify(KEY, 32, nothreads, strlen(nothreads), 0, &c, err, sizeof err) == -1);
	CHECK(strstr(err, "threads") != NULL);
	CHECK(bc_jwt_verify(KEY, 32, hs512, strlen(hs512), 0, &c, err, sizeof err) == -1);
	CHECK(strstr(err, "HS256") != NULL);
}

static void test_b64url(void)
{
	unsigned char out[16];

	CHECK(bc_b64url_decode("", 0, out, sizeof out) == 0);
	CHECK(bc_b64url_decode("YQ", 2, out, sizeof out) == 1 && out[0] == 'a');
	CHECK(bc_b64url_decode("YWI", 3, out, sizeof out) == 2 && memcmp(out, "ab", 2) == 0);
	CHECK(bc_b64url_decode("-_-_", 4, out, sizeof out) == 3 &&
	      out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf);
	CHECK(bc_b64url_decode("Y", 1, out, sizeof out) == -1);
	CHECK(bc_b64url_decode("YQ==", 4, out, sizeof out) == -1);
	CHECK(bc_b64url_decode("Y+Q", 3, out, sizeof out) == -1);
	CHECK(bc_b64url_decode("Y Q", 3, out, sizeof out) == -1);
	CHECK(bc_b64url_decode("YWJj", 4, out, 2) == -1);
	CHECK(bc_b64url_decode("YWI", 3, out, 2) == 2);
}

static void test_patterns(void)
{
	CHECK(bc_jwt_pattern_valid("*"));
	CHECK(bc_jwt_pattern_valid("run-*"));
	CHECK(bc_jwt_pattern_valid("run-42"));
	CHECK(!bc_jwt_pattern_valid(""));
	CHECK(!bc_jwt_pattern_valid("**"));
	CHECK(!bc_jwt_pattern_valid("a*b"));
	CHECK(!bc_jwt_pattern_valid("a b*"));
	CHECK(!bc_jwt_pattern_valid(NULL));
}

int main(void)
{
	RUN(test_roundtrip());
	RUN(test_foreign());
	RUN(test_b64url());
	RUN(test_patterns());
	UNIT_DONE("jwt");
}
