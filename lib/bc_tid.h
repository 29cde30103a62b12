/* bc_tid.h - thread-id validation.
 *
 * A thread id matches [A-Za-z0-9_.:-]{1,128}. Anything else is refused
 * before it reaches a Redis key, a URL, a file name or SQL. "." and ".."
 * alone are also refused so a thread id can name a spool file. */
#ifndef BCAST_TID_H
#define BCAST_TID_H

#include <stdbool.h>
#include <stddef.h>

#define BC_TID_MAX 128

/* True if the NUL-terminated s is a valid thread id. NULL is invalid. */
bool bc_tid_valid(const char *s);
/* Same for the n bytes at s (need not be NUL-terminated). */
bool bc_tid_valid_n(const char *s, size_t n);

/* True if s is a valid admin event type: [a-z][a-z0-9_.]{0,63}. */
bool bc_event_type_valid(const char *s);

#endif
