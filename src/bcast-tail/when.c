/* when.c - the times bcast-tail reads: a record's ts and the runs'
 * started_at/ended_at (RFC 3339), --since (a duration back from now, or a
 * time), and durations for --list. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tail.h"

/* n digits at s into *v. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int tail_time_parse(const char *s, bool local_ok, int64_t *us)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, se = 0, oh, om;
	int64_t frac = 0, scale = 1000000;
	const char *p;
	time_t secs;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return -1;
	p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (!digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &mi))
			return -1;
		p += 6;
		if (*p == ':') {
			if (!digits(p + 1, 2, &se))
				return -1;
			p += 3;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				for (; isdigit((unsigned char)*p); p++)
					if (scale > 1) {
						scale /= 10;
						frac += (*p - '0') * scale;
					}
			}
		}
	} else if (*p != '\0') {
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		secs = timegm(&tm);
	} else if ((*p == '+' || *p == '-') && digits(p + 1, 2, &oh) &&
	           p[3] == ':' && digits(p + 4, 2, &om) && p[6] == '\0') {
		secs = timegm(&tm) - (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	} else if (*p == '\0' && local_ok) {
		tm.tm_isdst = -1;
		secs = mktime(&tm);
	} else {
		return -1;
	}
	*us = (int64_t)secs * 1000000 + frac;
	return 0;
}

int tail_since_parse(const char *s, int64_t now_us, int64_t *us)
{
	char *end;
	double v;

	if (isdigit((unsigned char)s[0]) && strlen(s) < 16 && !strchr(s, '-')) {
		v = strtod(s, &end);
		if (end == s || end[0] == '\0' || end[1] != '\0' || !(v >= 0) ||
		    v > 1e6)
			return -1;
		switch (end[0]) {
		case 's': break;
		case 'm': v *= 60; break;
		case 'h': v *= 3600; break;
		case 'd': v *= 86400; break;
		default: return -1;
		}
		*us = now_us - (int64_t)(v * 1e6);
		return 0;
	}
	return tail_time_parse(s, true, us);
}

void tail_duration_format(int64_t secs, char *buf, size_t n)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, n, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(buf, n, "%lldm%02llds", (long long)(secs / 60),
		         (long long)(secs % 60));
	else if (secs < 86400)
		snprintf(buf, n, "%lldh%02lldm", (long long)(secs / 3600),
		         (long long)(secs % 3600 / 60));
	else
		snprintf(buf, n, "%lldd%02lldh", (long long)(secs / 86400),
		         (long long)(secs % 86400 / 3600));
}
