/* bc_clock.h - the clocks and RFC 3339 timestamps.
 *
 * A timestamp is RFC 3339: YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|+HH:MM|-HH:MM),
 * "T" also "t" or " ", "Z" also "z", offsets from -23:59 to +23:59 as the
 * RFC's grammar allows (real zones stay within -12:00..+14:00; PostgreSQL
 * takes up to 15:59, so a store writes bc_ts_utc's form). bcast writes its
 * own as "2026-11-25T19:08:10.123456Z" (UTC, microseconds). */
#ifndef BCAST_CLOCK_H
#define BCAST_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BC_TS_LEN 40               /* room for an RFC 3339 timestamp */

/* Microseconds since the epoch (CLOCK_REALTIME): wall time. */
int64_t bc_now_us(void);
/* CLOCK_MONOTONIC, for timeouts and intervals: milliseconds, and
 * microseconds. */
int64_t bc_now_ms(void);
int64_t bc_mono_us(void);
/* Current time as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (UTC). */
void bc_ts_now(char out[BC_TS_LEN]);
/* True if the n bytes at s are one RFC 3339 timestamp (see above) shorter
 * than BC_TS_LEN, with a real calendar date (leap years) and no leap
 * second. */
bool bc_ts_valid(const char *s, size_t n);
/* Write the NUL-terminated timestamp ts as the same instant in UTC,
 * "YYYY-MM-DDTHH:MM:SS[.F]Z" (its fraction kept as written), to out.
 * Returns 0, or -1 if ts is not valid or the instant falls outside years
 * 1..9999. */
int bc_ts_utc(const char *ts, char out[BC_TS_LEN]);

#endif
