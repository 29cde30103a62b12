/* bc_config.h - configuration shared by every program.
 *
 * Flag beats environment beats the file beats default. bc_config_load()
 * fills every field from the environment, else the configuration file,
 * else the default; programs then overwrite fields from their flags with
 * bc_config_set(). The file is --config F (bc_config_load_file), else
 * $BCAST_CONFIG, else /etc/bcast/bcast.conf when it exists and is
 * readable: KEY=value lines with the environment variables' names (those
 * below, and bc_config_more_key's, which only some programs read), blank
 * lines and '#' comment lines; a value may be wrapped in one pair of
 * matching quotes, which are removed. $STATE is
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
	char *read_token;       /* BCAST_READ_TOKEN default NULL */
	char *jwt_secret_file;  /* BCAST_JWT_SECRET_FILE default NULL */
	char *state;   /* $STATE */
	int redis_asked;  /* redis came from a flag, BCAST_REDIS or the file,
	                     not the built-in default (programs set it for
	                     --redis) */
	/* Where each setting came from, in bc_config_key order (see
	 * bc_config_describe); file_line is the line for BC_SRC_FILE. */
	unsigned char src[16];
	int file_line[16];
	/* The settings only some programs read (bc_config_more_key order),
	 * from the file; the environment is looked up by bc_config_get. */
	char *more[32];
	int more_line[32];
	char *file;        /* the configuration file read, or NULL */
	char *file_note;   /* why the default file was not read, or NULL */
};

/* Where a setting came from. */
enum bc_config_src { BC_SRC_DEFAULT, BC_SRC_FILE, BC_SRC_ENV, BC_SRC_FLAG };

/* The settings, in order: their names (BCAST_HUB, ...), or NULL past the
 * last. */
const char *bc_config_key(size_t i);

/* Fill c from the environment, the configuration file and the defaults.
 * All strings are owned by c. Returns 0, or -1 on out-of-memory or a bad
 * file (bc_config_load_file says which). */
int bc_config_load(struct bc_config *c);
/* Like bc_config_load with file as the configuration file (NULL: the
 * default above). An explicit file (file, or $BCAST_CONFIG) that cannot
 * be read is an error; the default one is skipped when absent or not
 * readable (file_note says so). A malformed line is an error naming
 * "FILE:LINE: ...". 0, or -1 with err (c is then empty). */
int bc_config_load_file(struct bc_config *c, const char *file, char *err,
                        size_t errlen);
/* The settings that only some programs read (bcast-hub's numeric options,
 * BCAST_TOKEN_FILE, ...), in order: their names, or NULL past the last.
 * The file may hold them; the program reads them with bc_config_get. */
const char *bc_config_more_key(size_t i);
/* Setting name's value: the environment's when set and not empty, else
 * the file's (name must be a bc_config_more_key), else NULL. Owned by c
 * or the environment. *from (when not NULL) is set to where it came from. */
const char *bc_config_get(const struct bc_config *c, const char *name,
                          enum bc_config_src *from);
/* Like bc_config_describe, for bc_config_more_key(i): 1 with the value and
 * its source when it is set (environment or file), 0 when not, -1 past
 * the last. */
int bc_config_describe_more(const struct bc_config *c, size_t i, char *val,
                            size_t vlen, char *src, size_t slen);
/* Record that setting key (e.g. "BCAST_DB") came from a flag. */
void bc_config_mark_flag(struct bc_config *c, const char *key);
/* The value of setting i (bc_config_key order) as --print-config shows it,
 * secrets masked: tokens show at most their last 4 characters, URL
 * passwords none; and where it came from ("flag", "env",
 * "file:PATH:LINE", "default"). Writes NUL-terminated strings to val and
 * src. 0, or -1 past the last setting. */
int bc_config_describe(const struct bc_config *c, size_t i, char *val,
                       size_t vlen, char *src, size_t slen);
/* Replace *field (one of c's members) with a copy of value. 0 or -1. */
int bc_config_set(char **field, const char *value);
/* Free every string; c may be loaded again. */
void bc_config_free(struct bc_config *c);
/* True if Redis is disabled ("none" or empty). */
int bc_config_no_redis(const struct bc_config *c);
/* The secret in the file at path (a token, a signing key): its bytes, at
 * most BC_SECRET_MAX, without trailing whitespace. Returns a malloc'd
 * NUL-terminated copy (its length in *len when len is not NULL) that the
 * caller frees, or NULL with the reason in err, which never holds any of
 * the file's content. An empty secret is an error. */
#define BC_SECRET_MAX 65536
char *bc_config_read_secret(const char *path, size_t *len, char *err,
                            size_t errlen);
/* mkdir -p for path with mode 0700 for new directories. 0 or -1 (errno). */
int bc_mkdir_p(const char *path);

#endif
