/* auth.c - credentials, sessions and origins (see auth.h).
 *
 * Shared tokens are kept only as SHA-256 digests; a presented token is
 * hashed and the digests compared with CRYPTO_memcmp, so neither the
 * content nor the length of a token leaks through timing. Session cookies
 * of shared tokens are the hex HMAC-SHA256 of a fixed label keyed with the
 * token, compared the same way. Signed tokens go to bc_jwt_verify(). No
 * message here ever quotes a presented credential. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "bc_jwt.h"

#define DIGEST 32
#define COOKIE "bcast_session"
#define SESSION_LABEL "bcast-session-v1"
#define ORIGIN_MAX 256

struct secret {
	int set;
	unsigned char digest[DIGEST];   /* SHA-256 of the token */
	unsigned char cookie[DIGEST];   /* SHA-256 of its session cookie */
	char cookie_hex[2 * DIGEST + 1];
};

struct hub_auth {
	struct secret publish, read;
	unsigned char *jwt_key;
	size_t jwt_keylen;
	char **origins;
	size_t norigins;
	int cookie_secure;
	int metrics_public;
	int any_host;
};

enum cred { CRED_NONE, CRED_BAD, CRED_PUBLISH, CRED_READ, CRED_JWT };

static void sha256(const void *p, size_t n, unsigned char *out)
{
	unsigned int len = DIGEST;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static int secret_init(struct secret *s, const char *token)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (token == NULL || token[0] == '\0')
		return 0;
	sha256(token, strlen(token), s->digest);
	if (HMAC(EVP_sha256(), token, (int)strlen(token),
	         (const unsigned char *)SESSION_LABEL, sizeof SESSION_LABEL - 1,
	         mac, &n) == NULL || n != DIGEST)
		return -1;
	for (unsigned int i = 0; i < n; i++)
		snprintf(s->cookie_hex + 2 * i, 3, "%02x", mac[i]);
	sha256(s->cookie_hex, 2 * DIGEST, s->cookie);
	OPENSSL_cleanse(mac, sizeof mac);
	s->set = 1;
	return 0;
}

int auth_origin_valid(const char *s)
{
	const char *h;

	if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else
		return 0;
	if (*h == '\0' || strlen(s) >= ORIGIN_MAX)
		return 0;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		      (*h >= '0' && *h <= '9') || strchr(".-:[]", *h) != NULL))
			return 0;
	return 1;
}

struct hub_auth *auth_new(const struct hub_auth_opts *o)
{
	struct hub_auth *a = calloc(1, sizeof *a);

	if (a == NULL)
		return NULL;
	if (secret_init(&a->publish, o->token) != 0 ||
	    secret_init(&a->read, o->read_token) != 0)
		goto fail;
	if (o->jwt_key != NULL) {
		a->jwt_key = malloc(o->jwt_keylen);
		if (a->jwt_key == NULL)
			goto fail;
		memcpy(a->jwt_key, o->jwt_key, o->jwt_keylen);
		a->jwt_keylen = o->jwt_keylen;
	}
	if (o->norigins > 0) {
		a->origins = calloc(o->norigins, sizeof *a->origins);
		if (a->origins == NULL)
			goto fail;
		for (; a->norigins < o->norigins; a->norigins++)
			if ((a->origins[a->norigins] = strdup(o->origins[a->norigins])) == NULL)
				goto fail;
	}
	a->cookie_secure = o->cookie_secure;
	a->metrics_public = o->metrics_public;
	a->any_host = o->any_host;
	return a;
fail:
	auth_free(a);
	return NULL;
}

void auth_free(struct hub_auth *a)
{
	if (a == NULL)
		return;
	if (a->jwt_key != NULL) {
		OPENSSL_cleanse(a->jwt_key, a->jwt_keylen);
		free(a->jwt_key);
	}
	for (size_t i = 0; i < a->norigins; i++)
		free(a->origins[i]);
	free(a->origins);
	OPENSSL_cleanse(a, sizeof *a);
	free(a);
}

int auth_reads_guarded(const struct hub_auth *a)
{
	return a->read.set || a->jwt_key != NULL;
}

int auth_publish_guarded(const struct hub_auth *a)
{
	return a->publish.set;
}

static const char *header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static int listed(const struct hub_auth *a, const char *origin)
{
	for (size_t i = 0; i < a->norigins; i++)
		if (strcmp(a->origins[i], origin) == 0)
			return 1;
	return 0;
}

int auth_host(const struct hub_auth *a, struct evhttp_request *req)
{
	const char *host = header(req, "Host");
	char name[256];
	size_t n;
	unsigned char bin[16];

	if (a->any_host || auth_reads_guarded(a) || host == NULL)
		return 0;
	if (host[0] == '[') {                       /* [v6]:port */
		n = strcspn(host + 1, "]");
		if (host[1 + n] != ']' || n >= sizeof name)
			return -1;
		memcpy(name, host + 1, n);
		name[n] = '\0';
		return inet_pton(AF_INET6, name, bin) == 1 ? 0 : -1;
	}
	n = strcspn(host, ":");
	if (n >= sizeof name)
		return -1;
	memcpy(name, host, n);
	name[n] = '\0';
	/* A rebinding page needs a resolvable domain name, with a dot;
	 * "localhost" and single-label names pass. */
	return strchr(name, '.') == NULL || inet_pton(AF_INET, name, bin) == 1 ?
	       0 : -1;
}

/* True if origin is scheme://HOST where HOST is the Host req was sent to. */
static int own_origin(struct evhttp_request *req, const char *origin)
{
	const char *host = header(req, "Host");
	const char *h = strncmp(origin, "http://", 7) == 0 ? origin + 7
	              : strncmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;

	return h != NULL && host != NULL && host[0] != '\0' &&
	       strcasecmp(h, host) == 0;
}

int auth_origin(const struct hub_auth *a, struct evhttp_request *req)
{
	const char *origin = header(req, "Origin");
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (origin == NULL)
		return 0;
	if (listed(a, origin)) {
		evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
		evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
		evhttp_add_header(out, "Access-Control-Expose-Headers",
		                  "X-Next-After, X-Next-Before, Retry-After");
		evhttp_add_header(out, "Vary", "Origin");
		return 0;
	}
	return own_origin(req, origin) ? 0 : -1;
}

void auth_preflight(const struct hub_auth *a, struct evhttp_request *req,
                    const char *allow)
{
	const char *origin = header(req, "Origin");
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (origin == NULL || !listed(a, origin))
		return;
	evhttp_add_header(out, "Access-Control-Allow-Methods", allow);
	evhttp_add_header(out, "Access-Control-Allow-Headers",
	                  "Authorization, Content-Type, Last-Event-ID");
	evhttp_add_header(out, "Access-Control-Max-Age", "600");
}

/* The token in the len bytes of an Authorization header value v, its
 * length in *n ("" with 0 when it is not a bearer token). */
static const char *bearer_of(const char *v, size_t len, size_t *n)
{
	*n = 0;
	if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return "";
	for (v += 7, len -= 7; len > 0 && *v == ' '; v++, len--)
		;
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	*n = len;
	return v;
}

/* The bearer token of req, its length in *n; NULL when there is no
 * Authorization header; "" when it is not a bearer token. */
static const char *bearer(struct evhttp_request *req, size_t *n)
{
	const char *v = header(req, "Authorization");

	*n = 0;
	return v != NULL ? bearer_of(v, strlen(v), n) : NULL;
}

/* The value of req's session cookie, its length in *n, or NULL. */
static const char *cookie(struct evhttp_request *req, size_t *n)
{
	const char *v = header(req, "Cookie");

	while (v != NULL && *v != '\0') {
		while (*v == ' ' || *v == ';')
			v++;
		size_t len = strcspn(v, ";");
		if (len > sizeof COOKIE && strncmp(v, COOKIE "=", sizeof COOKIE) == 0) {
			*n = len - sizeof COOKIE;
			while (*n > 0 && v[sizeof COOKIE + *n - 1] == ' ')
				(*n)--;
			return v + sizeof COOKIE;
		}
		v += len;
	}
	return NULL;
}

static int digest_is(const unsigned char *d, const struct secret *s,
                     const unsigned char *want)
{
	return s->set && CRYPTO_memcmp(d, want, DIGEST) == 0;
}

/* What the n bytes at p are: a shared token (from_cookie: its session
 * cookie), a signed token whose claims go to c, or nothing valid (the
 * reason in v). */
static enum cred identify(const struct hub_auth *a, const char *p, size_t n,
                          int from_cookie, struct bc_jwt_claims *c,
                          struct auth_verdict *v)
{
	unsigned char d[DIGEST];
	enum cred r = CRED_BAD;

	if (n == 0)
		return CRED_NONE;
	sha256(p, n, d);
	if (digest_is(d, &a->publish, from_cookie ? a->publish.cookie : a->publish.digest))
		r = CRED_PUBLISH;
	else if (digest_is(d, &a->read, from_cookie ? a->read.cookie : a->read.digest))
		r = CRED_READ;
	else if (a->jwt_key != NULL && memchr(p, '.', n) != NULL) {
		if (bc_jwt_verify(a->jwt_key, a->jwt_keylen, p, n, (long long)time(NULL),
		                  c, v->msg, sizeof v->msg) == 0)
			r = CRED_JWT;
		else
			v->why = v->msg;
	}
	OPENSSL_cleanse(d, sizeof d);
	return r;
}

static void deny(struct evhttp_request *req, struct auth_verdict *v, int code,
                 const char *why)
{
	v->code = code;
	if (v->why == NULL)
		v->why = why;
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "WWW-Authenticate", "Bearer");
}

int auth_publish_ok(const struct hub_auth *a, const char *v, size_t len)
{
	unsigned char d[DIGEST];
	const char *p;
	size_t n;
	int ok;

	if (!a->publish.set)
		return 1;
	if (v == NULL || (p = bearer_of(v, len, &n), n == 0))
		return 0;
	sha256(p, n, d);
	ok = CRYPTO_memcmp(d, a->publish.digest, DIGEST) == 0;
	OPENSSL_cleanse(d, sizeof d);
	return ok;
}

void auth_check(const struct hub_auth *a, struct evhttp_request *req,
                enum auth_need need, const char *tid, struct auth_verdict *v)
{
	struct bc_jwt_claims c;
	const char *p;
	size_t n = 0;
	int from_cookie = 0;
	enum cred cr;

	memset(v, 0, sizeof *v);
	if (need == AUTH_OPEN)
		return;
	if (need == AUTH_PUBLISH) {
		if (!a->publish.set)
			return;
		p = bearer(req, &n);
		cr = p != NULL ? identify(a, p, n, 0, &c, v) : CRED_NONE;
		if (cr != CRED_PUBLISH)
			deny(req, v, 401, cr == CRED_NONE ? "missing bearer token"
			                  : "this token may not publish");
		return;
	}
	if (!auth_reads_guarded(a) || (need == AUTH_METRICS && a->metrics_public))
		return;
	if ((p = bearer(req, &n)) == NULL && (p = cookie(req, &n)) != NULL)
		from_cookie = 1;
	cr = p != NULL ? identify(a, p, n, from_cookie, &c, v) : CRED_NONE;
	switch (cr) {
	case CRED_NONE:
		deny(req, v, 401, "read access needs a credential: "
		     "'Authorization: Bearer TOKEN', or a session cookie from "
		     "POST /auth/session");
		return;
	case CRED_BAD:
		deny(req, v, 401, from_cookie ? "session cookie not valid (sign in again)"
		                              : "bearer token not valid");
		return;
	case CRED_PUBLISH:
	case CRED_READ:
		return;
	case CRED_JWT:
		break;
	}
	v->until = c.exp;
	if (need == AUTH_METRICS || bc_jwt_allows(&c, tid))
		return;
	v->code = 403;
	if (tid != NULL)
		snprintf(v->msg, sizeof v->msg, "token does not grant thread %s", tid);
	else
		snprintf(v->msg, sizeof v->msg, "token does not grant every thread "
		         "(ask for one thread's stream or history)");
	v->why = v->msg;
}

/* "Secure" when configured, or when a proxy says the client used https
 * (a client that forges that header only keeps its own cookie from being
 * sent back over plain http). */
static int secure(const struct hub_auth *a, struct evhttp_request *req)
{
	const char *proto = header(req, "X-Forwarded-Proto");

	return a->cookie_secure || (proto != NULL && strcasecmp(proto, "https") == 0);
}

void auth_session(const struct hub_auth *a, struct evhttp_request *req,
                  struct auth_verdict *v)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *sec = secure(a, req) ? "; Secure" : "";
	struct bc_jwt_claims c;
	char *set;
	const char *p, *val;
	size_t n = 0, len;
	long long age = -1;
	enum cred cr;

	memset(v, 0, sizeof *v);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_DELETE) {
		evhttp_add_header(out, "Set-Cookie", COOKIE "=; Path=/; Max-Age=0; "
		                  "HttpOnly; SameSite=Strict");
		return;
	}
	p = bearer(req, &n);
	cr = p != NULL ? identify(a, p, n, 0, &c, v) : CRED_NONE;
	if (cr == CRED_NONE || cr == CRED_BAD) {
		if (!auth_reads_guarded(a) && !a->publish.set)
			return;     /* nothing to sign in to */
		deny(req, v, 401, cr == CRED_NONE ? "POST /auth/session needs "
		     "'Authorization: Bearer TOKEN'" : "bearer token not valid");
		return;
	}
	if (cr == CRED_JWT) {
		val = p;
		len = n;
		age = c.exp - (long long)time(NULL);
	} else {
		val = (cr == CRED_PUBLISH ? &a->publish : &a->read)->cookie_hex;
		len = 2 * DIGEST;
	}
	set = malloc(len + 128);
	if (set == NULL) {
		deny(req, v, 500, "out of memory");
		return;
	}
	if (age >= 0)
		snprintf(set, len + 128, COOKIE "=%.*s; Path=/; Max-Age=%lld; "
		         "HttpOnly; SameSite=Strict%s", (int)len, val, age, sec);
	else
		snprintf(set, len + 128, COOKIE "=%.*s; Path=/; HttpOnly; "
		         "SameSite=Strict%s", (int)len, val, sec);
	evhttp_add_header(out, "Set-Cookie", set);
	OPENSSL_cleanse(set, len + 128);
	free(set);
}
