/* bc_exit.h - the exit codes every bcast program uses (sysexits.h values). */
#ifndef BCAST_EXIT_H
#define BCAST_EXIT_H

enum bc_exit {
	BC_EX_OK = 0,          /* success */
	BC_EX_USAGE = 64,      /* bad flags, bad thread id, bad event type */
	BC_EX_DATAERR = 65,    /* bad input data (malformed JSON object, ...) */
	BC_EX_UNAVAILABLE = 69,/* a service (hub) is unavailable */
	BC_EX_SOFTWARE = 70,   /* internal error */
	BC_EX_IOERR = 74,      /* I/O error (stdout closed, disk full, ...) */
	BC_EX_TEMPFAIL = 75,   /* temporary failure: try again, nothing lost */
};

#endif
