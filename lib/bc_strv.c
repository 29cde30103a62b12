/* bc_strv.c - a vector of owned byte strings with lengths.
 *
 * Two parallel arrays (pointers and lengths) grow together by doubling. */
#include "bc_strv.h"

#include <stdlib.h>
#include <string.h>

void bc_strv_init(struct bc_strv *sv)
{
	sv->v = NULL;
	sv->len = NULL;
	sv->n = 0;
	sv->cap = 0;
}

static int strv_grow(struct bc_strv *sv)
{
	if (sv->n < sv->cap)
		return 0;
	size_t cap = sv->cap ? sv->cap * 2 : 16;
	char **v = realloc(sv->v, cap * sizeof *v);
	if (!v)
		return -1;
	sv->v = v;
	size_t *len = realloc(sv->len, cap * sizeof *len);
	if (!len)
		return -1;
	sv->len = len;
	sv->cap = cap;
	return 0;
}

int bc_strv_push(struct bc_strv *sv, const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return -1;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return bc_strv_push_owned(sv, s, n);
}

int bc_strv_push_owned(struct bc_strv *sv, char *s, size_t n)
{
	if (strv_grow(sv) < 0) {
		free(s);
		return -1;
	}
	sv->v[sv->n] = s;
	sv->len[sv->n] = n;
	sv->n++;
	return 0;
}

void bc_strv_clear(struct bc_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	sv->n = 0;
}

void bc_strv_free(struct bc_strv *sv)
{
	if (!sv)
		return;
	bc_strv_clear(sv);
	free(sv->v);
	free(sv->len);
	bc_strv_init(sv);
}
