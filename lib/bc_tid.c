/* bc_tid.c - thread-id and event-type validation.
 *
 * Plain character-class checks; no locale, no regex. */
#include "bc_tid.h"

#include <string.h>

static bool tid_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	       c == '-';
}

bool bc_tid_valid_n(const char *s, size_t n)
{
	if (!s || n == 0 || n > BC_TID_MAX)
		return false;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!tid_char((unsigned char)s[i]))
			return false;
	return true;
}

bool bc_tid_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strnlen(s, BC_TID_MAX + 1);
	return bc_tid_valid_n(s, n);
}

bool bc_event_type_valid(const char *s)
{
	if (!s || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	size_t i;
	for (i = 1; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= 64)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}
