/* bc_hash.h - the one string hash of bcast: 64-bit FNV-1a, for the hash
 * tables keyed by thread id (the hub's fan-out, bcast-tail's seen set). */
#ifndef BCAST_HASH_H
#define BCAST_HASH_H

#include <stdint.h>

/* FNV-1a of the NUL-terminated string s. */
uint64_t bc_hash_str(const char *s);

#endif
