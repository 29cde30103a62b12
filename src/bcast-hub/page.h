/* page.h - the viewer page embedded in bcast-hub (web/ at build time). */
#ifndef BCAST_HUB_PAGE_H
#define BCAST_HUB_PAGE_H

#include <stddef.h>

#include <event2/http.h>

struct hub_page;

/* The embedded file that answers GET path ("/", "/runs/{thread_id}" with a
 * valid id, "/assets/NAME"), or NULL. The result is static: never freed. */
const struct hub_page *hub_page_find(const char *path);

/* Answer req with p: 200 with the bytes (by reference, no copy), or 304
 * when If-None-Match names its ETag. */
void hub_page_send(struct evhttp_request *req, const struct hub_page *p);

#endif
