/* bc_config.h - configuration shared by every program.
 *
 * Flag beats environment beats default. bc_config_load() fills every field
 * from the environment or the default; programs then overwrite fields from
 * their flags with bc_config_set(). $STATE is
 * ${XDG_STATE_HOME:-$HOME/.local/state}/bcast for every program, so emit,
 * flush and hub agree with no configuration. */
#ifndef BCAST_CONFIG_H
#define BCAST_CONFIG_H

#include <stddef.h>

struct bc_config {
	char *hub;     /* BCAST_HUB    default http://127.0.0.1:8090 */
	char *listen;  /* BCAST_LISTEN default 127.0.0.1:8090 */
	char *redis;   /* BCAST_REDIS  default redis://127.0.0.1:6379; "none" disables */
	char *db;      /* BCAST_DB     default sqlite:$STATE/bcast.db */
	char *spool;   /* BCAST_SPOOL  default $STATE/spool */
	char *token;   /* BCAST_TOKEN  default NULL (no auth) */
	char *prune;   /* BCAST_PRUNE_OLDER_THAN default 30d (bcast-flush --prune) */
	char *state;   /* $STATE */
	int redis_asked;  /* redis came from BCAST_REDIS or a flag, not the
	                     built-in default (programs set it for --redis) */
};

/* Fill c from the environment and defaults. All strings are owned by c.
 * Returns 0, or -1 on out-of-memory. */
int bc_config_load(struct bc_config *c);
/* Replace *field (one of c's members) with a copy of value. 0 or -1. */
int bc_config_set(char **field, const char *value);
/* Free every string; c may be loaded again. */
void bc_config_free(struct bc_config *c);
/* True if Redis is disabled ("none" or empty). */
int bc_config_no_redis(const struct bc_config *c);
/* mkdir -p for path with mode 0700 for new directories. 0 or -1 (errno). */
int bc_mkdir_p(const char *path);

#endif
