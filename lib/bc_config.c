/* bc_config.c - configuration shared by every program.
 *
 * Each field comes from its BCAST_* variable when that is set and not
 * empty, else from the configuration file (see bc_config.h), else from
 * the default of DESIGN.md; where it came from is kept for
 * --print-config. $STATE is
 * $XDG_STATE_HOME/bcast when XDG_STATE_HOME is an absolute path (the XDG
 * spec says to ignore relative ones), else $HOME/.local/state/bcast when
 * HOME is set and not empty, else the passwd home directory's
 * .local/state/bcast, and as a last resort /tmp/bcast-UID. Nothing is
 * created here; bc_mkdir_p does that when a program needs the directory. */
#include "bc_config.h"

#include <errno.h>
#include <stddef.h>
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

#define DEFAULT_FILE "/etc/bcast/bcast.conf"
#define LINE_MAX_LEN 65536

/* The settings, in bc_config_key order. secret: a credential, shown
 * masked; url: a URL whose password is masked. */
static const struct key {
	const char *name;
	size_t off;
	char secret, url;
} keys[] = {
	{ "BCAST_HUB", offsetof(struct bc_config, hub), 0, 1 },
	{ "BCAST_LISTEN", offsetof(struct bc_config, listen), 0, 0 },
	{ "BCAST_REDIS", offsetof(struct bc_config, redis), 0, 1 },
	{ "BCAST_DB", offsetof(struct bc_config, db), 0, 1 },
	{ "BCAST_SPOOL", offsetof(struct bc_config, spool), 0, 0 },
	{ "BCAST_TOKEN", offsetof(struct bc_config, token), 1, 0 },
	{ "BCAST_PRUNE_OLDER_THAN", offsetof(struct bc_config, prune), 0, 0 },
	{ "BCAST_READ_TOKEN", offsetof(struct bc_config, read_token), 1, 0 },
	{ "BCAST_JWT_SECRET_FILE", offsetof(struct bc_config, jwt_secret_file), 0, 0 },
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* Settings that only some programs read, with bc_config_get: bcast-hub's
 * numeric options and switches, the *_FILE forms of the credentials. The
 * file may name them all, since every program reads the same file. */
static const char *const more_keys[] = {
	"BCAST_TOKEN_FILE", "BCAST_READ_TOKEN_FILE", "BCAST_CORS_ORIGINS",
	"BCAST_COOKIE_SECURE", "BCAST_METRICS_PUBLIC", "BCAST_INSECURE",
	"BCAST_WORKERS", "BCAST_READ_THREADS", "BCAST_KEEPALIVE",
	"BCAST_MAX_CLIENTS", "BCAST_BACKLOG", "BCAST_MAX_BODY", "BCAST_TIMEOUT",
	"BCAST_MAX_CONNS", "BCAST_MAX_CONNS_PER_ADDR", "BCAST_MEMORY_CAP",
	"BCAST_DB_TIMEOUT", "BCAST_RESUME_EVENTS", "BCAST_RESUME_BYTES",
	"BCAST_BUS_MAXLEN", "BCAST_BUS_OUTBOX",
};
#define NMORE (sizeof more_keys / sizeof more_keys[0])
_Static_assert(NMORE <= sizeof ((struct bc_config *)0)->more /
                        sizeof (char *),
               "struct bc_config has room for every other setting");
_Static_assert(NKEYS <= sizeof ((struct bc_config *)0)->src,
               "struct bc_config has room for every setting's source");

const char *bc_config_key(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

static char **field_of(struct bc_config *c, size_t i)
{
	return (char **)((char *)c + keys[i].off);
}

const char *bc_config_more_key(size_t i)
{
	return i < NMORE ? more_keys[i] : NULL;
}

/* The index of setting name (n bytes): 0..NKEYS-1 for keys, NKEYS.. for
 * more_keys; -1 when unknown. */
static int key_index(const char *name, size_t n)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == n && memcmp(keys[i].name, name, n) == 0)
			return (int)i;
	for (size_t i = 0; i < NMORE; i++)
		if (strlen(more_keys[i]) == n && memcmp(more_keys[i], name, n) == 0)
			return (int)(NKEYS + i);
	return -1;
}

/* Parse one line of the file into vals/lines; 0, or -1 with err. */
static int parse_line(char *p, const char *path, int no, char **vals,
                      int *lines, char *err, size_t errlen)
{
	size_t n = strlen(p);
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' ||
	                 p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	size_t k = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	if (k == 0 || p[k] != '=') {
		snprintf(err, errlen, "%s:%d: expected KEY=value, got '%.40s'",
		         path, no, p);
		return -1;
	}
	int i = key_index(p, k);
	if (i < 0) {
		snprintf(err, errlen, "%s:%d: unknown setting '%.*s'", path, no,
		         (int)(k > 64 ? 64 : k), p);
		return -1;
	}
	char *v = p + k + 1;
	size_t vl = strlen(v);
	if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
		v[vl - 1] = '\0';
		v++;
	}
	char *copy = strdup(v);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(vals[i]);
	vals[i] = copy;
	lines[i] = no;
	return 0;
}

/* Read path into vals/lines. 0; 1 when the default file is to be skipped
 * (note set); -1 with err. */
static int read_file(const char *path, int explicit, char **vals, int *lines,
                     char **note, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (explicit) {
			snprintf(err, errlen, "cannot read configuration file %s: %s",
			         path, strerror(errno));
			return -1;
		}
		if (errno != ENOENT) {
			char buf[512];
			snprintf(buf, sizeof buf, "%s not read: %s", path,
			         strerror(errno));
			*note = strdup(buf);
		}
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	int no = 0, rc = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		no++;
		if (got > LINE_MAX_LEN) {
			snprintf(err, errlen, "%s:%d: line longer than %d bytes", path,
			         no, LINE_MAX_LEN);
			rc = -1;
			break;
		}
		if (memchr(line, '\0', (size_t)got)) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", path, no);
			rc = -1;
			break;
		}
		if (parse_line(line, path, no, vals, lines, err, errlen) != 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "cannot read configuration file %s: %s", path,
		         strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

int bc_config_load(struct bc_config *c)
{
	char err[512];
	return bc_config_load_file(c, NULL, err, sizeof err);
}

int bc_config_load_file(struct bc_config *c, const char *file, char *err,
                        size_t errlen)
{
	char *vals[NKEYS + NMORE] = { 0 };
	int lines[NKEYS + NMORE] = { 0 };
	char *dbdef = NULL, *spooldef = NULL;
	int explicit = file != NULL, rc = -1;

	memset(c, 0, sizeof *c);
	snprintf(err, errlen, "out of memory");
	if (!file && (file = env("BCAST_CONFIG")))
		explicit = 1;
	if (!file)
		file = DEFAULT_FILE;
	int r = read_file(file, explicit, vals, lines, &c->file_note, err, errlen);
	if (r < 0)
		goto out;
	if (r == 0 && !(c->file = strdup(file)))
		goto out;
	if (!(c->state = state_dir()))
		goto out;
	char *db = aprintf("sqlite:", c->state);
	dbdef = db ? aprintf(db, "/bcast.db") : NULL;
	free(db);
	spooldef = aprintf(c->state, "/spool");
	if (!dbdef || !spooldef)
		goto out;
	const char *defs[NKEYS] = {
		"http://127.0.0.1:8090", "127.0.0.1:8090", "redis://127.0.0.1:6379",
		dbdef, spooldef, NULL, "30d", NULL, NULL,
	};
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = env(keys[i].name);
		c->src[i] = BC_SRC_ENV;
		if (!v && vals[i]) {
			v = vals[i];
			c->src[i] = BC_SRC_FILE;
			c->file_line[i] = lines[i];
		} else if (!v) {
			v = defs[i];
			c->src[i] = BC_SRC_DEFAULT;
		}
		if (bc_config_set(field_of(c, i), v) != 0)
			goto out;
	}
	for (size_t i = 0; i < NMORE; i++) {
		c->more[i] = vals[NKEYS + i];   /* taken over */
		c->more_line[i] = lines[NKEYS + i];
		vals[NKEYS + i] = NULL;
	}
	c->redis_asked = c->src[2] != BC_SRC_DEFAULT;
	rc = 0;
	err[0] = '\0';
out:
	for (size_t i = 0; i < NKEYS + NMORE; i++)
		free(vals[i]);
	free(dbdef);
	free(spooldef);
	if (rc != 0)
		bc_config_free(c);
	return rc;
}

const char *bc_config_get(const struct bc_config *c, const char *name,
                          enum bc_config_src *from)
{
	int i = key_index(name, strlen(name));
	const char *v = env(name);
	enum bc_config_src src = BC_SRC_ENV;

	if (!v && i >= (int)NKEYS && c->more[i - NKEYS]) {
		v = c->more[i - NKEYS];
		src = BC_SRC_FILE;
	}
	if (from)
		*from = v ? src : BC_SRC_DEFAULT;
	return v;
}

int bc_config_describe_more(const struct bc_config *c, size_t i, char *val,
                            size_t vlen, char *src, size_t slen)
{
	enum bc_config_src from;
	if (i >= NMORE)
		return -1;
	const char *v = bc_config_get(c, more_keys[i], &from);
	if (!v)
		return 0;
	snprintf(val, vlen, "%s", v);
	if (from == BC_SRC_FILE)
		snprintf(src, slen, "file:%s:%d", c->file ? c->file : "?",
		         c->more_line[i]);
	else
		snprintf(src, slen, "env");
	return 1;
}

void bc_config_mark_flag(struct bc_config *c, const char *key)
{
	int i = key_index(key, strlen(key));
	if (i >= 0 && i < (int)NKEYS)
		c->src[i] = BC_SRC_FLAG;
}

/* Copy url to out with the password of its userinfo, and any
 * password=... parameter, replaced by ****. */
static void mask_url(const char *url, char *out, size_t n)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	const char *slash = host + strcspn(host, "/?#");
	const char *at = NULL;
	for (const char *p = host; p < slash; p++)
		if (*p == '@')
			at = p;
	const char *colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
	if (colon)
		snprintf(out, n, "%.*s****%s", (int)(colon + 1 - url), url, at);
	else
		snprintf(out, n, "%s", url);
	char *pw = strstr(out, "password=");
	if (pw) {
		char *end = pw + 9 + strcspn(pw + 9, "& ");
		char rest[1024];
		snprintf(rest, sizeof rest, "%s", end);
		snprintf(pw + 9, n - (size_t)(pw + 9 - out), "****%s", rest);
	}
}

int bc_config_describe(const struct bc_config *c, size_t i, char *val,
                       size_t vlen, char *src, size_t slen)
{
	if (i >= NKEYS)
		return -1;
	const char *v = *(char *const *)((const char *)c + keys[i].off);
	if (!v)
		snprintf(val, vlen, "%s", "");
	else if (keys[i].secret) {
		size_t n = strlen(v);
		snprintf(val, vlen, "****%s", n >= 16 ? v + n - 4 : "");
	} else if (keys[i].url)
		mask_url(v, val, vlen);
	else
		snprintf(val, vlen, "%s", v);
	switch (c->src[i]) {
	case BC_SRC_FLAG: snprintf(src, slen, "flag"); break;
	case BC_SRC_ENV: snprintf(src, slen, "env"); break;
	case BC_SRC_FILE:
		snprintf(src, slen, "file:%s:%d", c->file ? c->file : "?",
		         c->file_line[i]);
		break;
	default: snprintf(src, slen, "default"); break;
	}
	return 0;
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
	free(c->read_token);
	free(c->jwt_secret_file);
	free(c->state);
	for (size_t i = 0; i < NMORE; i++)
		free(c->more[i]);
	free(c->file);
	free(c->file_note);
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

char *bc_config_read_secret(const char *path, size_t *len, char *err,
                            size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(BC_SECRET_MAX + 2);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, BC_SECRET_MAX + 1, f);
	if (ferror(f) || n > BC_SECRET_MAX) {
		snprintf(err, errlen, ferror(f) ? "cannot read %s" :
		         "%s is larger than 64 KiB: not a secret", path);
		goto fail;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	                 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n == 0) {
		snprintf(err, errlen, "%s is empty", path);
		goto fail;
	}
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}
