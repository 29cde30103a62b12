/* bc_jwt.c - HS256 JSON Web Tokens (see bc_jwt.h).
 *
 * Crypto is OpenSSL's: HMAC() with SHA-256, CRYPTO_memcmp() for the
 * comparison, EVP_EncodeBlock()/EVP_DecodeBlock() for base64. The only
 * code of our own is the translation between base64 and base64url (the
 * alphabet's last two characters, and padding), which tests/fuzz/fuzz_jwt.c
 * fuzzes. json-c parses the header and the claims. */
#include "bc_jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIG_B64_LEN 43   /* base64url of 32 bytes, unpadded */
#define PART_MAX BC_JWT_MAX

static const char HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static int tid_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	       c == '-';
}

int bc_jwt_pattern_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > BC_TID_MAX + 1)
		return 0;
	if (s[n - 1] != '*')
		return bc_tid_valid(s);
	if (n > BC_TID_MAX)
		return 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (!tid_char((unsigned char)s[i]))
			return 0;
	return 1;
}

int bc_jwt_allows(const struct bc_jwt_claims *c, const char *tid)
{
	for (size_t i = 0; i < c->nthreads; i++) {
		const char *p = c->threads[i];
		size_t n = strlen(p);

		if (tid == NULL) {
			if (strcmp(p, "*") == 0)
				return 1;
		} else if (p[n - 1] == '*') {
			if (strncmp(tid, p, n - 1) == 0)
				return 1;
		} else if (strcmp(tid, p) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Append the base64url form (unpadded) of n bytes to out. 0 or -1. */
static int b64url_append(struct bc_buf *out, const unsigned char *p, size_t n)
{
	char *tmp = malloc(4 * ((n + 2) / 3) + 1);
	int len, rc;

	if (tmp == NULL)
		return -1;
	len = EVP_EncodeBlock((unsigned char *)tmp, p, (int)n);
	while (len > 0 && tmp[len - 1] == '=')
		len--;
	for (int i = 0; i < len; i++)
		tmp[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	rc = bc_buf_append(out, tmp, (size_t)len);
	free(tmp);
	return rc;
}

long bc_b64url_decode(const char *in, size_t n, unsigned char *out, size_t room)
{
	size_t padded = (n + 3) / 4 * 4, want = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	unsigned char *tmp;
	int got;

	if (n % 4 == 1 || n > PART_MAX || want > room)
		return -1;
	if (n == 0)
		return 0;
	tmp = malloc(padded + 1);
	if (tmp == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		           (c >= '0' && c <= '9'))) {
			free(tmp);
			return -1;
		}
		tmp[i] = c;
	}
	memset(tmp + n, '=', padded - n);
	/* EVP_DecodeBlock writes whole groups of 3: decode into a scratch
	 * area when out has no room for the padding's bytes. */
	if (padded / 4 * 3 <= room) {
		got = EVP_DecodeBlock(out, tmp, (int)padded);
	} else {
		unsigned char *o = malloc(padded / 4 * 3);
		got = o != NULL ? EVP_DecodeBlock(o, tmp, (int)padded) : -1;
		if (got >= 0)
			memcpy(out, o, want);
		free(o);
	}
	free(tmp);
	return got < 0 ? -1 : (long)want;
}

/* HMAC-SHA256 of n bytes of data under key, as base64url, into sig
 * (SIG_B64_LEN + 1 bytes). 0 or -1. */
static int sign(const void *key, size_t keylen, const char *data, size_t n,
                char *sig)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct bc_buf b;
	int rc = -1;

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n,
	         md, &mdlen) == NULL || mdlen != 32)
		return -1;
	bc_buf_init(&b, 0);
	if (b64url_append(&b, md, mdlen) == 0 && b.len == SIG_B64_LEN) {
		memcpy(sig, b.data, SIG_B64_LEN + 1);
		rc = 0;
	}
	bc_buf_free(&b);
	OPENSSL_cleanse(md, sizeof md);
	return rc;
}

int bc_jwt_mint(const void *key, size_t keylen, const char *const *threads,
                size_t n, long long exp, struct bc_buf *out, char *err,
                size_t errlen)
{
	struct json_object *claims = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	const char *payload;
	char sig[SIG_B64_LEN + 1];
	size_t mark = out->len;
	int rc = -1;

	if (n == 0 || n > BC_JWT_MAX_THREADS) {
		snprintf(err, errlen, "a token names 1 to %d thread patterns",
		         BC_JWT_MAX_THREADS);
		goto out;
	}
	if (claims == NULL || arr == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		if (!bc_jwt_pattern_valid(threads[i])) {
			snprintf(err, errlen, "invalid thread pattern '%.*s' (a thread "
			         "id, or a prefix of one followed by '*')",
			         BC_TID_MAX + 2, threads[i]);
			goto out;
		}
		if (json_object_array_add(arr, json_object_new_string(threads[i])) != 0)
			goto oom;
	}
	json_object_object_add(claims, "threads", arr);
	arr = NULL;
	json_object_object_add(claims, "exp", json_object_new_int64(exp));
	payload = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN);
	if (payload == NULL ||
	    b64url_append(out, (const unsigned char *)HEADER, sizeof HEADER - 1) != 0 ||
	    bc_buf_append(out, ".", 1) != 0 ||
	    b64url_append(out, (const unsigned char *)payload, strlen(payload)) != 0 ||
	    sign(key, keylen, out->data + mark, out->len - mark, sig) != 0 ||
	    bc_buf_append(out, ".", 1) != 0 ||
	    bc_buf_append(out, sig, SIG_B64_LEN) != 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	if (rc != 0 && out->len > mark)
		out->len = mark;
	json_object_put(arr);
	json_object_put(claims);
	return rc;
}

/* Parse the n base64url characters at p as a JSON object. NULL if not. */
static struct json_object *decode_json(const char *p, size_t n)
{
	unsigned char *raw = malloc(n / 4 * 3 + 3);
	struct json_tokener *tok;
	struct json_object *o = NULL;
	long len;

	if (raw == NULL)
		return NULL;
	len = bc_b64url_decode(p, n, raw, n / 4 * 3 + 3);
	if (len > 0 && (tok = json_tokener_new()) != NULL) {
		o = json_tokener_parse_ex(tok, (const char *)raw, (int)len);
		if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
		                  json_tokener_get_parse_end(tok) != (size_t)len ||
		                  !json_object_is_type(o, json_type_object))) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	free(raw);
	return o;
}

static int read_claims(struct json_object *co, struct bc_jwt_claims *c,
                       char *err, size_t errlen)
{
	struct json_object *exp, *threads;
	size_t n;

	if (!json_object_object_get_ex(co, "exp", &exp) ||
	    !json_object_is_type(exp, json_type_int)) {
		snprintf(err, errlen, "token has no numeric 'exp' claim");
		return -1;
	}
	c->exp = json_object_get_int64(exp);
	if (!json_object_object_get_ex(co, "threads", &threads) ||
	    !json_object_is_type(threads, json_type_array) ||
	    (n = json_object_array_length(threads)) == 0 ||
	    n > BC_JWT_MAX_THREADS) {
		snprintf(err, errlen, "token's 'threads' claim is not a list of "
		         "1 to %d patterns", BC_JWT_MAX_THREADS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(threads, i);
		const char *s = json_object_is_type(e, json_type_string) ?
		                json_object_get_string(e) : NULL;
		if (s == NULL || !bc_jwt_pattern_valid(s) ||
		    (size_t)json_object_get_string_len(e) != strlen(s)) {
			snprintf(err, errlen, "token's 'threads' claim holds an "
			         "invalid pattern");
			return -1;
		}
		snprintf(c->threads[i], sizeof c->threads[i], "%s", s);
	}
	c->nthreads = n;
	return 0;
}

int bc_jwt_verify(const void *key, size_t keylen, const char *token,
                  size_t len, long long now, struct bc_jwt_claims *c,
                  char *err, size_t errlen)
{
	const char *dot1, *dot2;
	struct json_object *ho = NULL, *co = NULL, *alg;
	char sig[SIG_B64_LEN + 1];
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (len > BC_JWT_MAX || (dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
		snprintf(err, errlen, "not a signed token");
		return -1;
	}
	if (len - (size_t)(dot2 + 1 - token) != SIG_B64_LEN ||
	    sign(key, keylen, token, (size_t)(dot2 - token), sig) != 0 ||
	    CRYPTO_memcmp(sig, dot2 + 1, SIG_B64_LEN) != 0) {
		snprintf(err, errlen, "token signature does not match");
		return -1;
	}
	ho = decode_json(token, (size_t)(dot1 - token));
	co = decode_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (ho == NULL || co == NULL) {
		snprintf(err, errlen, "token is not base64url JSON");
		goto out;
	}
	if (!json_object_object_get_ex(ho, "alg", &alg) ||
	    !json_object_is_type(alg, json_type_string) ||
	    strcmp(json_object_get_string(alg), "HS256") != 0) {
		snprintf(err, errlen, "token algorithm is not HS256");
		goto out;
	}
	if (read_claims(co, c, err, errlen) != 0)
		goto out;
	if (c->exp <= now) {
		snprintf(err, errlen, "token expired");
		goto out;
	}
	rc = 0;
out:
	json_object_put(ho);
	json_object_put(co);
	if (rc != 0)
		memset(c, 0, sizeof *c);
	return rc;
}
