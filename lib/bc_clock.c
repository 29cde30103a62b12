/* bc_clock.c - clocks and RFC 3339 timestamps (see bc_clock.h). One
 * validity check serves the record and event decoders and the stores. */
#include "bc_clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t bc_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t bc_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t bc_now_ms(void)
{
	return bc_mono_us() / 1000;
}

void bc_ts_now(char out[BC_TS_LEN])
{
	int64_t us = bc_now_us();
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, BC_TS_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, BC_TS_LEN - n, ".%06dZ", (int)(us % 1000000));
}

/* The n decimal digits at s into *v; false if any is not a digit. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* The parts of a valid timestamp; off_min is the offset east of UTC. */
struct ts_parts {
	int y, mo, d, h, mi, se;
	size_t frac, frac_len;    /* where the "." of the fraction starts */
	int off_min;
};

static bool ts_parse(const char *s, size_t n, struct ts_parts *p)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (n < 20 || n >= BC_TS_LEN)
		return false;
	if (!digits(s, 4, &p->y) || s[4] != '-' || !digits(s + 5, 2, &p->mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &p->d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &p->h) || s[13] != ':' ||
	    !digits(s + 14, 2, &p->mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &p->se))
		return false;
	if (p->y < 1 || p->mo < 1 || p->mo > 12 || p->d < 1 ||
	    p->d > mdays[p->mo - 1] || p->h > 23 || p->mi > 59 || p->se > 59)
		return false;
	if (p->mo == 2 && p->d == 29 &&
	    !(p->y % 4 == 0 && (p->y % 100 != 0 || p->y % 400 == 0)))
		return false;
	size_t i = 19;
	p->frac = i;
	p->frac_len = 0;
	if (i < n && s[i] == '.') {
		size_t f = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f || i - f > 9)
			return false;
		p->frac_len = i - p->frac;
	}
	p->off_min = 0;
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	int oh, om;
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') ||
	    !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
	    !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
		return false;
	p->off_min = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
	return true;
}

bool bc_ts_valid(const char *s, size_t n)
{
	struct ts_parts p;
	return s != NULL && ts_parse(s, n, &p);
}

int bc_ts_utc(const char *ts, char out[BC_TS_LEN])
{
	struct ts_parts p;
	struct tm tm = { 0 };

	if (ts == NULL || !ts_parse(ts, strlen(ts), &p))
		return -1;
	tm.tm_year = p.y - 1900;
	tm.tm_mon = p.mo - 1;
	tm.tm_mday = p.d;
	tm.tm_hour = p.h;
	tm.tm_min = p.mi;
	tm.tm_sec = p.se;
	time_t t = timegm(&tm) - (time_t)p.off_min * 60;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 1 ||
	    tm.tm_year + 1900 > 9999)
		return -1;
	snprintf(out, BC_TS_LEN, "%04d-%02d-%02dT%02d:%02d:%02d%.*sZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)p.frac_len, ts + p.frac);
	return 0;
}
