/* bcast-tail - print a hub's log lines, admin events or runs on a
 * terminal: options -> the list or the streams -> exit code. See tail.h
 * for the files and stream.c for how following works. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tail.h"

/* The exit status for how the program stopped; closes stdout. */
static int exit_status(struct tail *t, int status)
{
	int rc;

	switch (t->stop) {
	case STOP_IOERR:
		bc_warn("write error on stdout: %s", strerror(t->out_errno));
		fclose(stdout);
		return BC_EX_IOERR;
	case STOP_PIPE:
		fclose(stdout);
		return BC_EX_OK;
	case STOP_SIGINT: status = 130; break;
	case STOP_ENDED: status = t->exit_status ? tail_end_status(&t->end) : 0; break;
	default: break;
	}
	rc = bc_close_stdout();
	return status ? status : rc;
}

int main(int argc, char **argv)
{
	struct tail t;
	int status;

	bc_cli_init(PROG);
	tail_options(&t, argc, argv);
	if (tail_signals_init() != 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    tail_http_init(&t) != 0 ||
	    (t.mode == MODE_ALL && tail_seen_init(&t.seen) != 0))
		bc_die(BC_EX_SOFTWARE, "cannot set up: %s",
		       strerror(errno ? errno : ENOMEM));
	status = t.mode == MODE_LIST ? tail_list(&t) : tail_follow(&t);
	status = exit_status(&t, status);
	tail_free(&t);
	curl_global_cleanup();
	return status;
}
