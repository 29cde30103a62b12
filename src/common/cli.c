/* cli.c - shared helpers for the programs' main files (see cli.h). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "cli.h"

const char *bc_prog = "bcast";

void bc_cli_init(const char *prog) { bc_prog = prog; }

/* One write per message, so that the lines of processes sharing standard
 * error (bcast-hub --workers) never mix. */
static void vwarn(const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "%s: ", bc_prog);

	if (n > 0 && (size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	n = (int)strlen(line);
	if ((size_t)n == sizeof line - 1)
		n--;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

void bc_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void bc_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(code);
}

void bc_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", bc_prog);
	exit(BC_EX_USAGE);
}

/* Which option argv[optind - 1] / optopt was wrong, after getopt_long
 * returned '?' with opterr 0: optopt is the unknown or value-less short
 * option, or the val of a long option that lacks (or must not have) a
 * value, or 0 for an unknown or ambiguous long option. */
static _Noreturn void bad_option(char **argv, const char *optstring,
                                 const struct option *longopts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int c = optopt;
	int long_opt = strncmp(arg, "--", 2) == 0;
	int namelen = (int)strcspn(arg, "=");

	if (c > 0 && c < 256 && (c == ':' || c == '+' || c == '-' ||
	                         !strchr(optstring, c)))
		bc_usage_error("unknown option '-%c'", c);
	if (!long_opt)
		bc_usage_error("option '-%c' needs a value", c);
	if (c != 0 && arg[namelen] == '=')
		bc_usage_error("option '%.*s' takes no value", namelen, arg);
	if (c != 0)
		bc_usage_error("option '%.*s' needs a value", namelen, arg);
	int matches = 0;
	for (const struct option *o = longopts; o && o->name; o++)
		matches += strncmp(o->name, arg + 2, (size_t)namelen - 2) == 0;
	if (matches > 1)
		bc_usage_error("option '%.*s' is ambiguous", namelen, arg);
	bc_usage_error("unknown option '%.*s'", namelen, arg);
}

/* --config F and --print-config, which every program takes: getopt sees
 * them appended to the program's options and bc_cli_getopt keeps them. */
enum { OPT_CONFIG = 0x10c0, OPT_PRINT_CONFIG };
static const struct option config_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
};
#define NCONFIG (sizeof config_opts / sizeof config_opts[0])
#define FLAGS_MAX 64

static int print_config;             /* --print-config seen */
static const char *flags_seen[FLAGS_MAX];  /* long options given */
static size_t nflags;

/* longopts with config_opts appended (made once per longopts array). */
static const struct option *with_config(const struct option *longopts)
{
	static const struct option *from;
	static struct option *merged;
	if (merged && from == longopts)
		return merged;
	size_t n = 0;
	while (longopts && longopts[n].name)
		n++;
	free(merged);
	merged = calloc(n + NCONFIG + 1, sizeof *merged);
	if (!merged)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	if (n)
		memcpy(merged, longopts, n * sizeof *merged);
	memcpy(merged + n, config_opts, sizeof config_opts);
	from = longopts;
	return merged;
}

int bc_cli_getopt(int argc, char **argv, const char *optstring,
                  const struct option *longopts)
{
	const struct option *all = with_config(longopts);
	int c, idx;
	opterr = 0;
	do {
		idx = -1;
		c = getopt_long(argc, argv, optstring, all, &idx);
		if (c == '?')
			bad_option(argv, optstring, all);
		if (c == OPT_PRINT_CONFIG)
			print_config = 1;
		if (idx >= 0 && nflags < FLAGS_MAX)
			flags_seen[nflags++] = all[idx].name;
	} while (c == OPT_CONFIG || c == OPT_PRINT_CONFIG);
	return c;
}

void bc_cli_config_load(struct bc_config *c, int argc, char **argv)
{
	const char *file = NULL;
	char err[1024];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
	}
	if (bc_config_load_file(c, file, err, sizeof err) != 0) {
		if (strcmp(err, "out of memory") == 0)
			bc_die(BC_EX_SOFTWARE, "%s", err);
		bc_die(BC_EX_USAGE, "%s", err);
	}
}

/* The environment name of a long option: --max-conns is BCAST_MAX_CONNS. */
static void flag_key_any(const char *name, char *key, size_t n)
{
	snprintf(key, n, "BCAST_%s", name);
	for (char *p = key; *p; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
}

/* The setting a long option sets: --db is BCAST_DB, --read-token-file
 * BCAST_READ_TOKEN; "" when none. */
static void flag_key(const char *name, char *key, size_t n)
{
	char buf[96];
	int k = snprintf(buf, sizeof buf, "BCAST_%s", name);
	for (char *p = buf; *p; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	for (size_t i = 0; bc_config_key(i); i++)
		if (strcmp(bc_config_key(i), buf) == 0) {
			snprintf(key, n, "%s", buf);
			return;
		}
	if (k > 5 && strcmp(buf + k - 5, "_FILE") == 0) {
		buf[k - 5] = '\0';
		for (size_t i = 0; bc_config_key(i); i++)
			if (strcmp(bc_config_key(i), buf) == 0) {
				snprintf(key, n, "%s", buf);
				return;
			}
	}
	key[0] = '\0';
}

void bc_cli_config_ready(struct bc_config *c)
{
	char key[96], val[1024], src[4200];
	if (!print_config)
		return;
	for (size_t i = 0; i < nflags; i++) {
		flag_key(flags_seen[i], key, sizeof key);
		if (key[0])
			bc_config_mark_flag(c, key);
	}
	if (c->file)
		printf("# configuration file: %s\n", c->file);
	else if (c->file_note)
		printf("# configuration file: none (%s)\n", c->file_note);
	else
		printf("# configuration file: none\n");
	for (size_t i = 0; bc_config_describe(c, i, val, sizeof val, src,
	                                      sizeof src) == 0; i++)
		printf("%s=%s\t# %s\n", bc_config_key(i), val, src);
	/* The settings only some programs read: those that are set. */
	for (size_t i = 0; bc_config_more_key(i); i++) {
		if (bc_config_describe_more(c, i, val, sizeof val, src,
		                            sizeof src) != 1)
			continue;
		int by_flag = 0;
		for (size_t j = 0; j < nflags; j++) {
			flag_key_any(flags_seen[j], key, sizeof key);
			by_flag |= strcmp(key, bc_config_more_key(i)) == 0;
		}
		printf("%s=%s\t# %s%s\n", bc_config_more_key(i),
		       val, src,
		       by_flag ? ", overridden by a flag" : "");
	}
	exit(bc_close_stdout());
}

/* strtoll over all of s, base 10; -1 unless it is a whole number. */
static int whole(const char *s, long long *v, char **end)
{
	errno = 0;
	*v = strtoll(s, end, 10);
	return *end == s || errno != 0 || (s[0] != '-' && s[0] != '+' &&
	                                   (s[0] < '0' || s[0] > '9')) ? -1 : 0;
}

long long bc_cli_int(const char *opt, const char *s, long long min,
                     long long max)
{
	long long v;
	char *end;

	if (whole(s, &v, &end) != 0 || *end != '\0' || v < min || v > max)
		bc_usage_error("%s: expected an integer %lld..%lld, got '%s'", opt,
		               min, max, s);
	return v;
}

long long bc_cli_size(const char *opt, const char *s, long long min,
                      long long max)
{
	long long v;
	char *end;
	int shift = 0;
	int bad = whole(s, &v, &end) != 0;

	if (!bad && end[0] != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		}
	}
	if (bad || *end != '\0' || v < 0 || v > (max >> shift) ||
	    (v << shift) < min)
		bc_usage_error("%s: expected a size %lld..%lld bytes (K, M, G "
		               "suffixes allowed), got '%s'", opt, min, max, s);
	return v << shift;
}

void bc_print_help(const char *text)
{
	/* Every program's options end with --version; the configuration
	 * options every program shares follow it. */
	const char *v = strstr(text, "--version");
	const char *eol = v ? strchr(v, '\n') : NULL;
	if (eol) {
		fwrite(text, 1, (size_t)(eol + 1 - text), stdout);
		fputs("      --config FILE     settings from FILE (env BCAST_CONFIG;\n"
		      "                        default /etc/bcast/bcast.conf)\n"
		      "      --print-config    show the settings in effect and where\n"
		      "                        each came from, then exit\n", stdout);
		fputs(eol + 1, stdout);
	} else {
		fputs(text, stdout);
	}
	exit(bc_close_stdout());
}

void bc_print_version(void)
{
	printf("%s %s\n", bc_prog, BC_VERSION);
	exit(bc_close_stdout());
}

void bc_cli_config_set(char **field, const char *value)
{
	if (bc_config_set(field, value) != 0)
		bc_die(BC_EX_SOFTWARE, "out of memory");
}

int bc_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		if (errno == EPIPE)
			return BC_EX_OK;
		bc_warn("write error on stdout: %s", strerror(errno));
		return BC_EX_IOERR;
	}
	return BC_EX_OK;
}
