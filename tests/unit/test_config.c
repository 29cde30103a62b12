/* test_config.c - bc_config: environment beats default, $STATE rules,
 * bc_config_set, bc_mkdir_p. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_config.h"
#include "unit.h"

static const char *vars[] = {"BCAST_HUB", "BCAST_LISTEN", "BCAST_REDIS",
	"BCAST_DB", "BCAST_SPOOL", "BCAST_TOKEN", "XDG_STATE_HOME", "HOME"};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	setenv("BCAST_CONFIG", "/dev/null", 1);
}

static void test_defaults(void)
{
	struct bc_config c;
	clear_env();
	setenv("HOME", "/home/u", 1);
	CHECK(bc_config_load(&c) == 0);
	CHECK_STR(c.hub, "http://127.0.0.1:8090");
	CHECK_STR(c.listen, "127.0.0.1:8090");
	CHECK_STR(c.redis, "redis://127.0.0.1:6379");
	CHECK_STR(c.state, "/home/u/.local/state/bcast");
	CHECK_STR(c.db, "sqlite:/home/u/.local/state/bcast/bcast.db");
	CHECK_STR(c.spool, "/home/u/.local/state/bcast/spool");
	CHECK(c.token == NULL);
	CHECK(!bc_config_no_redis(&c));
	bc_config_free(&c);
	CHECK(c.hub == NULL && c.state == NULL);
	bc_config_free(&c);
	bc_config_free(NULL);
}

static void test_env(void)
{
	struct bc_config c;
	clear_env();
	setenv("HOME", "/home/u", 1);
	setenv("XDG_STATE_HOME", "/var/st", 1);
	setenv("BCAST_HUB", "http://hub:1", 1);
	setenv("BCAST_LISTEN", ":9", 1);
	setenv("BCAST_REDIS", "none", 1);
	setenv("BCAST_DB", "postgresql://x/y", 1);
	setenv("BCAST_SPOOL", "/sp", 1);
	setenv("BCAST_TOKEN", "tok", 1);
	CHECK(bc_config_load(&c) == 0);
	CHECK_STR(c.hub, "http://hub:1");
	CHECK_STR(c.listen, ":9");
	CHECK_STR(c.redis, "none");
	CHECK(bc_config_no_redis(&c));
	CHECK_STR(c.db, "postgresql://x/y");
	CHECK_STR(c.spool, "/sp");
	CHECK_STR(c.token, "tok");
	CHECK_STR(c.state, "/var/st/bcast");

	CHECK(bc_config_set(&c.hub, "http://flag:2") == 0);
	CHECK_STR(c.hub, "http://flag:2");
	CHECK(bc_config_set(&c.token, NULL) == 0);
	CHECK(c.token == NULL);
	CHECK(bc_config_set(&c.redis, "") == 0);
	CHECK(bc_config_no_redis(&c));
	bc_config_free(&c);

	/* Empty variables count as unset. */
	setenv("BCAST_HUB", "", 1);
	setenv("BCAST_TOKEN", "", 1);
	setenv("BCAST_SPOOL", "", 1);
	setenv("BCAST_DB", "", 1);
	CHECK(bc_config_load(&c) == 0);
	CHECK_STR(c.hub, "http://127.0.0.1:8090");
	CHECK(c.token == NULL);
	CHECK_STR(c.spool, "/var/st/bcast/spool");
	CHECK_STR(c.db, "sqlite:/var/st/bcast/bcast.db");
	bc_config_free(&c);
}

static void test_state(void)
{
	struct bc_config c;

	clear_env();
	setenv("HOME", "/h", 1);
	setenv("XDG_STATE_HOME", "", 1);
	CHECK(bc_config_load(&c) == 0);
	CHECK_STR(c.state, "/h/.local/state/bcast");
	bc_config_free(&c);

	setenv("XDG_STATE_HOME", "relative/dir", 1);
	CHECK(bc_config_load(&c) == 0);
	CHECK_STR(c.state, "/h/.local/state/bcast");
	bc_config_free(&c);

	setenv("XDG_STATE_HOME", "/x", 1);
	unsetenv("HOME");
	CHECK(bc_config_load(&c) == 0);
	CHECK_STR(c.state, "/x/bcast");
	bc_config_free(&c);

	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "", 1);
	CHECK(bc_config_load(&c) == 0);
	struct passwd *pw = getpwuid(getuid());
	char want[512];
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		snprintf(want, sizeof want, "%s/.local/state/bcast", pw->pw_dir);
	else
		snprintf(want, sizeof want, "/tmp/bcast-%lu", (unsigned long)getuid());
	CHECK_STR(c.state, want);
	CHECK(strncmp(c.spool, c.state, strlen(c.state)) == 0);
	bc_config_free(&c);
}

static void test_mkdir(void)
{
	char tmpl[] = "/tmp/bc_test_config.XXXXXX";
	char path[256];
	struct stat st;

	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(path, sizeof path, "%s/a/b//c/", tmpl);
	CHECK(bc_mkdir_p(path) == 0);
	snprintf(path, sizeof path, "%s/a/b/c", tmpl);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK((st.st_mode & 0777) == 0700);
	CHECK(bc_mkdir_p(path) == 0);
	snprintf(path, sizeof path, "%s/file", tmpl);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(bc_mkdir_p(path) == -1 && errno == ENOTDIR);
	snprintf(path, sizeof path, "%s/file/sub", tmpl);
	CHECK(bc_mkdir_p(path) == -1);
	CHECK(bc_mkdir_p("") == -1);
	CHECK(bc_mkdir_p(NULL) == -1);

	const char *rm[] = {"a/b/c", "a/b", "a", "file"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", tmpl, rm[i]);
		remove(path);
	}
	CHECK(rmdir(tmpl) == 0);
}

/* Write text to a temp file; its path in path. */
static void write_conf(char *path, const char *text)
{
	strcpy(path, "/tmp/bc-conf-XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void test_file(void)
{
	struct bc_config c;
	char path[64], err[512], val[256], src[512], want[128];
	clear_env();
	setenv("HOME", "/home/u", 1);
	write_conf(path, "# comment\n\n  BCAST_DB=sqlite:/f.db\r\n"
	           "BCAST_HUB='http://f:1'  \nBCAST_TOKEN=0123456789abcdefXYZW\n"
	           "BCAST_REDIS=redis://:pw@r:1\nBCAST_LISTEN=a:1\n");
	setenv("BCAST_LISTEN", "e:2", 1);
	CHECK(bc_config_load_file(&c, path, err, sizeof err) == 0);
	CHECK_STR(c.db, "sqlite:/f.db");
	CHECK_STR(c.hub, "http://f:1");
	CHECK_STR(c.listen, "e:2");         /* env beats the file */
	CHECK_STR(c.spool, "/home/u/.local/state/bcast/spool");
	CHECK_STR(c.file, path);
	CHECK(bc_config_describe(&c, 3, val, sizeof val, src, sizeof src) == 0);
	snprintf(want, sizeof want, "file:%s:3", path);
	CHECK_STR(bc_config_key(3), "BCAST_DB");
	CHECK_STR(src, want);
	CHECK(bc_config_describe(&c, 1, val, sizeof val, src, sizeof src) == 0);
	CHECK_STR(src, "env");
	CHECK(bc_config_describe(&c, 5, val, sizeof val, src, sizeof src) == 0);
	CHECK_STR(val, "****XYZW");
	CHECK(bc_config_describe(&c, 2, val, sizeof val, src, sizeof src) == 0);
	CHECK_STR(val, "redis://:****@r:1");
	bc_config_mark_flag(&c, "BCAST_DB");
	CHECK(bc_config_describe(&c, 3, val, sizeof val, src, sizeof src) == 0);
	CHECK_STR(src, "flag");
	CHECK(bc_config_describe(&c, 4, val, sizeof val, src, sizeof src) == 0);
	CHECK_STR(src, "default");
	CHECK(bc_config_describe(&c, 99, val, sizeof val, src, sizeof src) == -1);
	bc_config_free(&c);
	unlink(path);

	/* Malformed lines name the file and line; c is left empty. */
	const char *bad[] = { "BCAST_HUB=x\nnonsense\n", "BCAST_HUB=x\nBCAST_NOPE=1\n",
	                      "BCAST_HUB=x\nbcast_hub=y\n", "BCAST_HUB=x\n=y\n",
	                      "BCAST_HUB=x\nBCAST_HUB =y\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_conf(path, bad[i]);
		CHECK(bc_config_load_file(&c, path, err, sizeof err) == -1);
		snprintf(want, sizeof want, "%s:2: ", path);
		CHECK(strncmp(err, want, strlen(want)) == 0);
		CHECK(c.hub == NULL);
		unlink(path);
	}
	/* An explicit file must exist; BCAST_CONFIG is explicit too. */
	CHECK(bc_config_load_file(&c, "/nonexistent/bcast.conf", err, sizeof err) == -1);
	CHECK(strstr(err, "/nonexistent/bcast.conf") != NULL);
	setenv("BCAST_CONFIG", "/nonexistent/bcast.conf", 1);
	CHECK(bc_config_load(&c) == -1);
	clear_env();
}

int main(void)
{
	RUN(test_defaults());
	RUN(test_env());
	RUN(test_state());
	RUN(test_mkdir());
	RUN(test_file());
	UNIT_DONE("config");
}
