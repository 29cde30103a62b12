/* bc_http.h - the HTTP client side (libcurl): POSTs to the hub over one
 * kept-alive connection, with the bearer token when one is configured. */
#ifndef BCAST_HTTP_H
#define BCAST_HTTP_H

#include <stddef.h>

struct bc_http;

/* A client for the hub at base_url (http://HOST:PORT). token may be NULL.
 * timeout_ms bounds each request. NULL with err on failure. */
struct bc_http *bc_http_new(const char *base_url, const char *token,
                            long timeout_ms, char *err, size_t errlen);
void bc_http_free(struct bc_http *h);
/* POST the n bytes of body to base_url + path with the given content type.
 * Returns the HTTP status (2xx, 4xx, ...), or -1 when the hub could not be
 * reached, with the reason in err. The connection is reused. */
long bc_http_post(struct bc_http *h, const char *path,
                  const char *content_type, const char *body, size_t n,
                  char *err, size_t errlen);

/* Where a streamed body comes from: up to max bytes into buf, returning
 * how many; 0 ends the body. Called on the thread of bc_http_stream, which
 * it may block. */
typedef size_t (*bc_http_read_fn)(char *buf, size_t max, void *arg);

/* POST to base_url + path a body of unknown length, sent with
 * Transfer-Encoding: chunked as read() hands it over (each call's bytes
 * go out at once), until read() returns 0; then the answer is read.
 * No overall timeout: the request lasts as long as read() goes on, but a
 * transfer that moves nothing for timeout_ms is abandoned. Returns the
 * HTTP status, or -1 (reason in err). */
long bc_http_stream(struct bc_http *h, const char *path,
                    const char *content_type, bc_http_read_fn read, void *arg,
                    char *err, size_t errlen);

#endif
