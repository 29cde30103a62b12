/* bc_url.h - parsing of the URLs and addresses bcast is configured with.
 *
 *   http://HOST[:PORT][/PATH]      hub address (BCAST_HUB)
 *   https://HOST[:PORT][/PATH]     the same behind a TLS proxy
 *   redis://[:PASSWORD@]HOST[:PORT][/DB]   Redis (BCAST_REDIS), or "none"
 *   HOST:PORT                      listen address (BCAST_LISTEN)
 *
 * HOST may be a bracketed IPv6 literal. Nothing is resolved here. */
#ifndef BCAST_URL_H
#define BCAST_URL_H

#include <stddef.h>

struct bc_url {
	char scheme[16];     /* "http", "https", "redis"; "" for HOST:PORT */
	char host[256];
	int port;            /* filled with the scheme's default when absent */
	char path[1024];     /* "" or begins with '/'; without query */
	char password[256];  /* redis only; "" when absent */
	int db;              /* redis only; 0 when absent */
};

/* Parse an http://, https:// or redis:// URL. Default ports: http 80,
 * https 443, redis 6379.
 * Returns 0, or -1 with a one-line reason in err. */
int bc_url_parse(const char *s, struct bc_url *u, char *err, size_t errlen);

/* Parse "HOST:PORT" (HOST may be empty, meaning 0.0.0.0, or [v6]).
 * Returns 0, or -1 with a reason in err. */
int bc_addr_parse(const char *s, struct bc_url *u, char *err, size_t errlen);

#endif
