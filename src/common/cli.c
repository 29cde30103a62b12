/* cli.c - shared helpers for the programs' main files (see cli.h). */
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

static void vwarn(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", bc_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
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

int bc_cli_getopt(int argc, char **argv, const char *optstring,
                  const struct option *longopts)
{
	opterr = 0;
	int c = getopt_long(argc, argv, optstring, longopts, NULL);
	if (c == '?')
		bad_option(argv, optstring, longopts);
	return c;
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
	fputs(text, stdout);
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
