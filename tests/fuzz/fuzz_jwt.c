/* fuzz_jwt.c - libFuzzer target for bc_b64url_decode and bc_jwt_verify.
 *
 * The first byte picks a case:
 *   0  the input as base64url: a decode that succeeds has the length the
 *      encoding implies; the input's bytes, encoded with OpenSSL and
 *      translated, decode back to themselves.
 *   1  the input as a token: verify must refuse it (no valid signature can
 *      come from the fuzzer) without crashing.
 *   2  the input split at its first '.' into header and claims text,
 *      signed here with the key: verify reaches the decoder and json-c on
 *      signed arbitrary content; whatever it accepts has 1..32 valid
 *      patterns and an exp in the future.
 *   3  the input as thread patterns (split at ','): a minted token
 *      verifies to the same claims; any single changed byte is refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bc_jwt.h"

static const char KEY[] = "fuzzing-key-of-at-least-32-bytes-long";
#define NOW 1700000000LL

static size_t b64url(const unsigned char *p, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[len] = '\0';
	return (size_t)len;
}

static void case_decode(const uint8_t *d, size_t n)
{
	unsigned char *out = malloc(n + 4);
	char *enc = malloc(4 * (n / 3 + 2) + 1);
	long got = bc_b64url_decode((const char *)d, n, out, n + 4);

	if (got >= 0 && (size_t)got != n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0))
		abort();
	/* Too small a buffer is refused, never overrun. */
	if (got > 0 && bc_b64url_decode((const char *)d, n, out, (size_t)got - 1) != -1)
		abort();
	size_t elen = b64url(d, n, enc);
	got = bc_b64url_decode(enc, elen, out, n + 4);
	if (got != (long)n || memcmp(out, d, n) != 0)
		abort();
	free(out);
	free(enc);
}

static void case_sign(const uint8_t *d, size_t n)
{
	const uint8_t *dot = memchr(d, '.', n);
	size_t hn = dot ? (size_t)(dot - d) : n, cn = dot ? n - hn - 1 : 0;
	char *tok = malloc(2 * n + 128);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct bc_jwt_claims c;
	char err[256];
	size_t len;

	len = b64url(d, hn, tok);
	tok[len++] = '.';
	len += b64url(dot ? dot + 1 : d, cn, tok + len);
	HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (unsigned char *)tok, len, mac, &maclen);
	tok[len++] = '.';
	len += b64url(mac, maclen, tok + len);
	if (bc_jwt_verify(KEY, strlen(KEY), tok, len, NOW, &c, err, sizeof err) == 0) {
		if (c.nthreads < 1 || c.nthreads > BC_JWT_MAX_THREADS || c.exp <= NOW)
			abort();
		for (size_t i = 0; i < c.nthreads; i++)
			if (!bc_jwt_pattern_valid(c.threads[i]))
				abort();
	} else if (err[0] == '\0') {
		abort();
	}
	free(tok);
}

static void case_mint(const uint8_t *d, size_t n)
{
	char *copy = malloc(n + 1), *p, *save;
	const char *pats[BC_JWT_MAX_THREADS];
	size_t np = 0;
	struct bc_buf tok;
	struct bc_jwt_claims c;
	char err[256];

	memcpy(copy, d, n);
	copy[n] = '\0';
	for (p = strtok_r(copy, ",", &save); p && np < BC_JWT_MAX_THREADS;
	     p = strtok_r(NULL, ",", &save))
		pats[np++] = p;
	bc_buf_init(&tok, 0);
	if (bc_jwt_mint(KEY, strlen(KEY), pats, np, NOW + 60, &tok, err, sizeof err) == 0) {
		if (bc_jwt_verify(KEY, strlen(KEY), tok.data, tok.len, NOW, &c, err, sizeof err) != 0 ||
		    c.nthreads != np || c.exp != NOW + 60)
			abort();
		int star = 0;
		for (size_t i = 0; i < np; i++) {
			if (strcmp(c.threads[i], pats[i]) != 0)
				abort();
			star |= strcmp(pats[i], "*") == 0;
		}
		if (bc_jwt_allows(&c, NULL) != star)
			abort();
		for (size_t i = 0; i < tok.len; i += 7) {
			char saved = tok.data[i];
			tok.data[i] = saved == 'A' ? 'B' : 'A';
			if (bc_jwt_verify(KEY, strlen(KEY), tok.data, tok.len, NOW, &c, err, sizeof err) == 0)
				abort();
			tok.data[i] = saved;
		}
		if (bc_jwt_verify(KEY, strlen(KEY), tok.data, tok.len, NOW + 60, &c, err, sizeof err) == 0)
			abort();     /* expired */
	}
	bc_buf_free(&tok);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bc_jwt_claims c;
	char err[256];

	if (size < 1 || size > 4096)
		return 0;
	switch (data[0] & 3) {
	case 0:
		case_decode(data + 1, size - 1);
		break;
	case 1:
		if (bc_jwt_verify(KEY, strlen(KEY), (const char *)data + 1, size - 1,
		                  NOW, &c, err, sizeof err) == 0)
			abort();
		break;
	case 2:
		case_sign(data + 1, size - 1);
		break;
	case 3:
		case_mint(data + 1, size - 1);
		break;
	}
	return 0;
}
