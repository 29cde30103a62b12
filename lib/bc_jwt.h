/* bc_jwt.h - scoped, expiring read tokens: JSON Web Tokens (RFC 7519)
 * signed with HMAC-SHA256 ("HS256", RFC 7518).
 *
 * A token is HEADER.CLAIMS.SIGNATURE, each part base64url without padding.
 * The header must say {"alg":"HS256"}; the claims bcast reads are
 * "threads", an array of patterns (a thread id, or a prefix ending in '*';
 * "*" alone is every thread), and "exp", seconds since the epoch after
 * which the token is refused. Both are required.
 *
 * The signature is checked first, before anything of the token is
 * decoded: OpenSSL computes the HMAC, its base64url form is compared with
 * the token's in constant time (CRYPTO_memcmp). Only a token signed with
 * the secret reaches the base64url decoder and json-c. */
#ifndef BCAST_JWT_H
#define BCAST_JWT_H

#include <stddef.h>

#include "bc_buf.h"
#include "bc_tid.h"

#define BC_JWT_MAX 8192          /* longest token accepted, in bytes */
#define BC_JWT_MAX_THREADS 32    /* patterns in one token */
#define BC_JWT_MIN_SECRET 32     /* bytes of secret HS256 needs */

struct bc_jwt_claims {
	long long exp;                                  /* seconds since the epoch */
	size_t nthreads;
	char threads[BC_JWT_MAX_THREADS][BC_TID_MAX + 2];
};

/* A token for threads (n patterns) that expires at exp, signed with the
 * keylen bytes of key, appended to out. Returns 0, or -1 with the reason
 * in err (a pattern that is not a thread id or prefix, too many, out of
 * memory). */
int bc_jwt_mint(const void *key, size_t keylen, const char *const *threads,
                size_t n, long long exp, struct bc_buf *out, char *err,
                size_t errlen);

/* Check the len bytes of token against key at time now (seconds since
 * the epoch) and fill c from its claims. Returns 0 when the token is
 * well formed, signed with key, HS256 and not expired; -1 otherwise with
 * the reason in err (never any part of the token). */
int bc_jwt_verify(const void *key, size_t keylen, const char *token,
                  size_t len, long long now, struct bc_jwt_claims *c,
                  char *err, size_t errlen);

/* True if c grants thread tid; with tid NULL, true only if c grants every
 * thread ("*"). */
int bc_jwt_allows(const struct bc_jwt_claims *c, const char *tid);

/* True if s is a valid "threads" pattern: a thread id, or a prefix of one
 * followed by '*'. */
int bc_jwt_pattern_valid(const char *s);

/* Decode the n base64url characters (no padding, no whitespace) of in
 * into out, which has room for room bytes. Returns the decoded length, or
 * -1 when in is not base64url or out is too small. */
long bc_b64url_decode(const char *in, size_t n, unsigned char *out,
                      size_t room);

#endif
