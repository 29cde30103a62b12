/* cli.h - what every program's main shares: the program name, one-line
 * error messages ("bcast-x: what went wrong"), usage errors that point at
 * --help, --version, and a checked close of stdout. Compiled into each
 * program, not into libbcast.a, because the library never prints. */
#ifndef BCAST_CLI_H
#define BCAST_CLI_H

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
/* "PROG VERSION\n" on stdout, exit 0 (or 74 if stdout fails). */
_Noreturn void bc_print_version(void);
/* Set a configuration field from a flag (bc_config_set); dies with
 * BC_EX_SOFTWARE on out-of-memory. */
void bc_cli_config_set(char **field, const char *value);
/* Flush and close stdout; on failure warn and return BC_EX_IOERR, else 0.
 * Call once, at the end of main. */
int bc_close_stdout(void);

#endif
