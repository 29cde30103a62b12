/* cli.h - what every program's main shares: the program name, one-line
 * error messages ("bcast-x: what went wrong"), usage errors that point at
 * --help, --version, and a checked close of stdout. Compiled into each
 * program, not into libbcast.a, because the library never prints. */
#ifndef BCAST_CLI_H
#define BCAST_CLI_H

#include <getopt.h>

#include "bc_config.h"
#include "bc_exit.h"

extern const char *bc_prog;

/* Set the name used in messages, e.g. "bcast-emit". */
void bc_cli_init(const char *prog);
/* "PROG: MESSAGE\n" on stderr. */
void bc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* bc_warn, then exit(code). */
_Noreturn void bc_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "PROG: MESSAGE\nTry 'PROG --help' for more information.\n", exit 64. */
_Noreturn void bc_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* getopt_long(3) for every program: the same arguments and return values,
 * except that a bad option is never returned. opterr is 0, and an unknown
 * option, an option without its value or a flag given a value prints one
 * line, "PROG: unknown option '--thred'" (or "option '-t' needs a value",
 * "option '--help' takes no value", "option '--t' is ambiguous"), then the
 * --help hint, and exits 64. */
int bc_cli_getopt(int argc, char **argv, const char *optstring,
                  const struct option *longopts);
/* The value s of option opt (e.g. "--backlog") as a whole number in
 * [min, max]; otherwise "PROG: --backlog: expected an integer 1..N, got
 * 'abc'" and exit 64. */
long long bc_cli_int(const char *opt, const char *s, long long min,
                     long long max);
/* Like bc_cli_int, for a number of bytes: an optional K, M or G suffix
 * multiplies by 2^10, 2^20, 2^30; the result must be in [min, max]. */
long long bc_cli_size(const char *opt, const char *s, long long min,
                      long long max);
/* The --help text on stdout, exit 0 (or 74 if stdout fails). Every
 * program's text starts "Usage: PROG ...", lists -h/--help ("show this
 * help and exit") and --version ("show the version and exit"), and ends
 * with its exit statuses. */
_Noreturn void bc_print_help(const char *text);
/* "PROG VERSION\n" on stdout, exit 0 (or 74 if stdout fails). */
_Noreturn void bc_print_version(void);
/* bc_config_load_file with the file of --config F in argv, if any: dies
 * with 64 naming FILE:LINE on a malformed file (or an explicit file that
 * cannot be read), BC_EX_SOFTWARE on out-of-memory. bc_cli_getopt accepts
 * --config F and --print-config for every program. */
void bc_cli_config_load(struct bc_config *c, int argc, char **argv);
/* Call once c holds the flags' values: with --print-config, print every
 * setting ("KEY=value\t# flag|env|file:PATH:LINE|default", secrets
 * masked) and exit 0; otherwise return. */
void bc_cli_config_ready(struct bc_config *c);
/* Set a configuration field from a flag (bc_config_set); dies with
 * BC_EX_SOFTWARE on out-of-memory. */
void bc_cli_config_set(char **field, const char *value);
/* Flush and close stdout; on failure warn and return BC_EX_IOERR, else 0.
 * Call once, at the end of main. */
int bc_close_stdout(void);

#endif
