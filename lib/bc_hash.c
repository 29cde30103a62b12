/* bc_hash.c - 64-bit FNV-1a (see bc_hash.h). */
#include "bc_hash.h"

#define FNV_BASIS 0xcbf29ce484222325ULL   /* FNV-1a 64-bit offset basis */
#define FNV_PRIME 0x100000001b3ULL        /* FNV 64-bit prime */

uint64_t bc_hash_str(const char *s)
{
	uint64_t h = FNV_BASIS;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * FNV_PRIME;
	return h;
}

uint64_t bc_hash_bytes(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = FNV_BASIS;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * FNV_PRIME;
	return h;
}
