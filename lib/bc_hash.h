/* bc_hash.h - the one string hash of bcast: 64-bit FNV-1a, for the hash
 * tables keyed by thread id (the hub's fan-out, bcast-tail's seen set)
 * and the ETags of the hub's embedded page. */
#ifndef BCAST_HASH_H
#define BCAST_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of the NUL-terminated string s. */
uint64_t bc_hash_str(const char *s);

/* FNV-1a of the n bytes at p. */
uint64_t bc_hash_bytes(const void *p, size_t n);

#endif
