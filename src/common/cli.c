/* cli.c - shared helpers for the programs' main files (see cli.h). */
#include <errno.h>
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
