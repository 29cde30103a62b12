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

#endif
