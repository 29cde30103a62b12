/* bc_config.c - configuration shared by every program.
 *
 * Each field comes from its BCAST_* variable when that is set and not
 * empty, else from the default of DESIGN.md. $STATE is
 * $XDG_STATE_HOME/bcast when XDG_STATE_HOME is an absolute path (the XDG
 * spec says to ignore relative ones), else $HOME/.local/state/bcast when
 * HOME is set and not empty, else the passwd home directory's
 * .local/state/bcast, and as a last resort /tmp/bcast-UID. Nothing is
 * created here; bc_mkdir_p does that when a program needs the directory. */
#include "bc_config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] ? v : NULL;
}

static char *aprintf(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s", a, b);
	return s;
}

static char *state_dir(void)
{
	const char *xdg = env("XDG_STATE_HOME");
	if (xdg && xdg[0] == '/')
		return aprintf(xdg, "/bcast");
	const char *home = env("HOME");
	if (!home) {
		struct passwd *pw = getpwuid(getuid());
		if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
			home = pw->pw_dir;
	}
	if (home)
		return aprintf(home, "/.local/state/bcast");
	char tmp[64];
	snprintf(tmp, sizeof tmp, "/tmp/bcast-%lu", (unsigned long)getuid());
	return strdup(tmp);
}

static int set_from(char **field, const char *name, const char *def)
{
	const char *v = env(name);
	if (!v)
		v = def;
	return bc_config_set(field, v);
}

int bc_config_load(struct bc_config *c)
{
	memset(c, 0, sizeof *c);
	c->state = state_dir();
	if (!c->state)
		goto fail;
	char *db = aprintf("sqlite:", c->state);
	char *dbdef = db ? aprintf(db, "/bcast.db") : NULL;
	char *spool = aprintf(c->state, "/spool");
	free(db);
	int rc = 0;
	rc |= set_from(&c->hub, "BCAST_HUB", "http://127.0.0.1:8090");
	rc |= set_from(&c->listen, "BCAST_LISTEN", "127.0.0.1:8090");
	rc |= set_from(&c->redis, "BCAST_REDIS", "redis://127.0.0.1:6379");
	c->redis_asked = env("BCAST_REDIS") != NULL;
	rc |= dbdef ? set_from(&c->db, "BCAST_DB", dbdef) : -1;
	rc |= spool ? set_from(&c->spool, "BCAST_SPOOL", spool) : -1;
	rc |= set_from(&c->token, "BCAST_TOKEN", NULL);
	rc |= set_from(&c->prune, "BCAST_PRUNE_OLDER_THAN", "30d");
	free(dbdef);
	free(spool);
	if (rc)
		goto fail;
	return 0;
fail:
	bc_config_free(c);
	return -1;
}

int bc_config_set(char **field, const char *value)
{
	char *v = NULL;
	if (value) {
		v = strdup(value);
		if (!v)
			return -1;
	}
	free(*field);
	*field = v;
	return 0;
}

void bc_config_free(struct bc_config *c)
{
	if (!c)
		return;
	free(c->hub);
	free(c->listen);
	free(c->redis);
	free(c->db);
	free(c->spool);
	free(c->token);
	free(c->prune);
	free(c->state);
	memset(c, 0, sizeof *c);
}

int bc_config_no_redis(const struct bc_config *c)
{
	return !c->redis || !c->redis[0] || strcmp(c->redis, "none") == 0;
}

int bc_mkdir_p(const char *path)
{
	if (!path || !path[0]) {
		errno = ENOENT;
		return -1;
	}
	char *p = strdup(path);
	if (!p)
		return -1;
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	if (rc == 0) {
		struct stat st;
		if (stat(path, &st) < 0)
			rc = -1;
		else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			rc = -1;
		}
	}
	int saved = errno;
	free(p);
	errno = saved;
	return rc;
}
