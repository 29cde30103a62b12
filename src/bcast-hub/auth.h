/* auth.h - who may do what on bcast-hub: credentials, browser sessions,
 * origins.
 *
 * Two shared secrets, compared in constant time: the publish token
 * (--token) lets a client POST and read; the read token (--read-token)
 * lets it read. With --jwt-secret-file, signed tokens (lib/bc_jwt.h) also
 * read, limited to the threads their claims name and until their "exp".
 * A client presents one as "Authorization: Bearer T". A browser, which
 * cannot set that header on an EventSource, trades it once at
 * POST /auth/session for an HttpOnly, SameSite=Strict cookie: for a
 * shared token the cookie holds a digest of it (HMAC-SHA256 keyed with the
 * token) that can read but never publish; for a signed token, the token
 * itself (already read-only, scoped and expiring). Cookies are never
 * accepted on POST. Nothing is stored on the hub: a session survives a
 * restart, and rotating a token or the secret ends every session made
 * from it.
 *
 * Reads are guarded when a read token or a JWT secret is configured;
 * then every GET but /healthz (and /metrics with metrics_public) needs a
 * credential. A request that carries an Origin must come from the hub's
 * own origin (the Host it was sent to) or one of the listed origins,
 * which alone get CORS headers, with credentials. */
#ifndef BCAST_HUB_AUTH_H
#define BCAST_HUB_AUTH_H

#include <stddef.h>

#include <event2/http.h>

struct hub_auth_opts {
	const char *token;            /* publish; NULL: POSTs need nothing */
	const char *read_token;       /* NULL: none */
	const unsigned char *jwt_key; /* HS256 secret; NULL: no signed tokens */
	size_t jwt_keylen;
	const char *const *origins;   /* exact scheme://host[:port] */
	size_t norigins;
	int cookie_secure;            /* always mark the cookie Secure */
	int metrics_public;           /* /metrics needs no credential */
	int any_host;                 /* --insecure: no Host check */
};

/* What a route needs. */
enum auth_need { AUTH_OPEN, AUTH_METRICS, AUTH_READ, AUTH_PUBLISH };

/* The answer for one request: code 0 allows it, until when (seconds since
 * the epoch; 0: no end); else code is the HTTP status to answer with and
 * why the message (static, or in msg). */
struct auth_verdict {
	int code;
	long long until;
	const char *why;
	char msg[160];
};

struct hub_auth;

/* Digests of o's tokens and copies of its key and origins (o need not
 * outlive the result). NULL on out-of-memory. */
struct hub_auth *auth_new(const struct hub_auth_opts *o);
/* NULL safe. */
void auth_free(struct hub_auth *a);

/* True if reads need a credential (a read token or a JWT secret). */
int auth_reads_guarded(const struct hub_auth *a);
/* True if POSTs need the publish token. */
int auth_publish_guarded(const struct hub_auth *a);

/* True if s is a valid --cors-origin: http:// or https://, a host, an
 * optional port, nothing else. */
int auth_origin_valid(const char *s);

/* With reads open (no read credential) and no --insecure, a page on a
 * rebound DNS name (evil.example resolving to 127.0.0.1) could read the
 * hub as its own origin: then the Host header must be an IP address or a
 * name without a dot ("localhost"), with any port. 0 if req passes, -1
 * when it must be refused (403). */
int auth_host(const struct hub_auth *a, struct evhttp_request *req);

/* Check req's Origin header, if any: 0 when absent, the hub's own or a
 * listed origin (a listed one gets its CORS response headers added now),
 * -1 when it must be refused (403). */
int auth_origin(const struct hub_auth *a, struct evhttp_request *req);

/* Add the CORS preflight answer headers for req's Origin (when listed)
 * to req's response, allowing the methods in allow. */
void auth_preflight(const struct hub_auth *a, struct evhttp_request *req,
                    const char *allow);

/* May req do what need asks, on thread tid (AUTH_READ: NULL means every
 * thread)? Fills v; on 401 also adds WWW-Authenticate to the response. */
void auth_check(const struct hub_auth *a, struct evhttp_request *req,
                enum auth_need need, const char *tid, struct auth_verdict *v);

/* For requests evhttp never sees (ingest.c): may the len bytes v of an
 * Authorization header value (NULL: none) publish? */
int auth_publish_ok(const struct hub_auth *a, const char *v, size_t len);

/* POST /auth/session (trade the bearer token for a cookie: Set-Cookie is
 * added to req's response) or DELETE /auth/session (a cookie that clears
 * it). Fills v; code 0 means answer 204. */
void auth_session(const struct hub_auth *a, struct evhttp_request *req,
                  struct auth_verdict *v);

#endif
