/* bc_hash.c - 64-bit FNV-1a (see bc_hash.h). */
#include "bc_hash.h"

uint64_t bc_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a 64-bit offset basis */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;   /* FNV 64-bit prime */
	return h;
}
