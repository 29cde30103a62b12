/* bc_strv.h - a vector of owned byte strings with lengths.
 *
 * Used to carry batches of encoded records between modules (emit to Redis,
 * Redis to flush). Each element is NUL-terminated as well as counted. */
#ifndef BCAST_STRV_H
#define BCAST_STRV_H

#include <stddef.h>

struct bc_strv {
	char **v;      /* v[i] owned, NUL-terminated */
	size_t *len;   /* len[i] bytes of v[i], without the NUL */
	size_t n;      /* elements in use */
	size_t cap;    /* elements allocated */
};

void bc_strv_init(struct bc_strv *sv);
/* Append a copy of the n bytes at p. 0, or -1 on out-of-memory. */
int bc_strv_push(struct bc_strv *sv, const char *p, size_t n);
/* Append s itself (takes ownership of the malloc'd s). 0 or -1; on -1 s is
 * freed. */
int bc_strv_push_owned(struct bc_strv *sv, char *s, size_t n);
/* Free every element, keep the arrays. */
void bc_strv_clear(struct bc_strv *sv);
/* Free everything; sv is then empty and reusable. */
void bc_strv_free(struct bc_strv *sv);

#endif
