/* authopt.h - bcast-hub's credential and origin options: flags, their
 * environment variables and files, checked and turned into a hub_auth.
 * Program code: a bad value ends the program with exit 64. */
#ifndef BCAST_HUB_AUTHOPT_H
#define BCAST_HUB_AUTHOPT_H

#include <stddef.h>
#include <sys/socket.h>

#include "auth.h"

#define AUTHOPT_MAX_ORIGINS 32

/* The flags as given (NULL / 0: not given). */
struct authopt {
	const char *token, *token_file;
	const char *read_token, *read_token_file;
	const char *jwt_secret_file;
	const char *origins[AUTHOPT_MAX_ORIGINS];
	size_t norigins;
	int cookie_secure, metrics_public, insecure;
};

/* Add one --cors-origin (exits 64 when it is invalid or one too many). */
void authopt_add_origin(struct authopt *o, const char *origin);

/* Fill what flags left unset from cfg (BCAST_TOKEN, BCAST_READ_TOKEN and
 * BCAST_JWT_SECRET_FILE, from the environment or the configuration file)
 * and the environment (BCAST_TOKEN_FILE, BCAST_READ_TOKEN_FILE,
 * BCAST_CORS_ORIGINS, BCAST_COOKIE_SECURE, BCAST_METRICS_PUBLIC,
 * BCAST_INSECURE), read the files, and build the hub's auth. Exits 64 on
 * a conflict or an unreadable or weak secret. Never prints a secret. */
struct bc_config;
struct hub_auth *authopt_build(struct authopt *o, const struct bc_config *cfg);

/* Exit 64 with a message saying how to configure a credential (or to pass
 * --insecure) when addr is not a loopback address and a publish or a read
 * credential is missing. shown names the address in the message. */
void authopt_check_listen(const struct authopt *o, const struct hub_auth *a,
                          const struct sockaddr *addr, const char *shown);

#endif
