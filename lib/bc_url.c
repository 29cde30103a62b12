/* bc_url.c - parsing of http://, https://, redis:// URLs and HOST:PORT addresses.
 *
 * A small hand-written splitter: scheme "://", optional userinfo before the
 * last '@' of the authority, host (bracketed for IPv6), optional ":PORT",
 * then the path. The query and fragment are dropped from the path. For
 * redis, the password is the userinfo after ':' (or all of it) and the path
 * "/N" selects database N. Nothing is resolved. */
#include "bc_url.h"

#include <stdio.h>
#include <string.h>

/* Fill err naming s, with any password in it shown as "***". */
static int fail(char *err, size_t errlen, const char *s, const char *why)
{
	if (!err || !errlen)
		return -1;
	const char *sep = strstr(s, "://");
	const char *auth = sep ? sep + 3 : s;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (sep && at)
		snprintf(err, errlen, "invalid address '%.*s***%s': %s",
		         (int)(auth - s), s, at, why);
	else
		snprintf(err, errlen, "invalid address '%s': %s", s, why);
	return -1;
}

/* Parse a decimal port from the n bytes at p: 1..65535, digits only. */
static int parse_port(const char *p, size_t n)
{
	if (n == 0 || n > 5)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

static int copy_n(char *dst, size_t dstlen, const char *p, size_t n)
{
	if (n >= dstlen)
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* Split the n bytes at p, "HOST[:PORT]" or "[V6][:PORT]", into u. The port
 * is left alone when absent. need_host refuses an empty host. */
static int parse_hostport(const char *s, const char *p, size_t n,
                          struct bc_url *u, int need_host,
                          char *err, size_t errlen)
{
	const char *host = p, *colon = NULL;
	size_t hostlen;

	if (n && p[0] == '[') {
		const char *end = memchr(p, ']', n);
		if (!end)
			return fail(err, errlen, s, "unterminated '[' in host");
		host = p + 1;
		hostlen = (size_t)(end - host);
		if (hostlen == 0)
			return fail(err, errlen, s, "empty IPv6 address");
		for (size_t i = 0; i < hostlen; i++) {
			char c = host[i];
			if (!(c == ':' || c == '.' || c == '%' ||
			      (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F')))
				return fail(err, errlen, s, "bad IPv6 address");
		}
		const char *rest = end + 1;
		size_t restlen = n - (size_t)(rest - p);
		if (restlen) {
			if (rest[0] != ':')
				return fail(err, errlen, s, "junk after ']'");
			colon = rest;
		}
	} else {
		colon = memchr(p, ':', n);
		hostlen = colon ? (size_t)(colon - p) : n;
		for (size_t i = 0; i < hostlen; i++) {
			unsigned char c = (unsigned char)host[i];
			if (c <= ' ' || c == '/' || c == '@' || c == '[' ||
			    c == ']' || c == '?' || c == '#' || c >= 0x7f)
				return fail(err, errlen, s, "bad character in host");
		}
	}
	if (need_host && hostlen == 0)
		return fail(err, errlen, s, "missing host");
	if (copy_n(u->host, sizeof u->host, host, hostlen) < 0)
		return fail(err, errlen, s, "host too long");
	if (colon) {
		size_t plen = n - (size_t)(colon + 1 - p);
		int port = parse_port(colon + 1, plen);
		if (port < 0)
			return fail(err, errlen, s, "bad port (want 1-65535)");
		u->port = port;
	}
	return 0;
}

int bc_url_parse(const char *s, struct bc_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	if (!s)
		return fail(err, errlen, "", "no URL");
	const char *sep = strstr(s, "://");
	if (!sep)
		return fail(err, errlen, s, "expected SCHEME://HOST[:PORT]");
	size_t slen = (size_t)(sep - s);
	if (slen == 4 && strncasecmp(s, "http", 4) == 0) {
		strcpy(u->scheme, "http");
		u->port = 80;
	} else if (slen == 5 && strncasecmp(s, "https", 5) == 0) {
		strcpy(u->scheme, "https");
		u->port = 443;
	} else if (slen == 5 && strncasecmp(s, "redis", 5) == 0) {
		strcpy(u->scheme, "redis");
		u->port = 6379;
	} else {
		return fail(err, errlen, s, "unknown scheme (want http://, https:// or redis://)");
	}

	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *path = auth + alen;

	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (at) {
		if (strcmp(u->scheme, "redis") != 0)
			return fail(err, errlen, s, "user info is not supported");
		const char *ui = auth;
		size_t uilen = (size_t)(at - auth);
		const char *pc = memchr(ui, ':', uilen);
		if (pc) {
			uilen -= (size_t)(pc + 1 - ui);
			ui = pc + 1;
		}
		if (copy_n(u->password, sizeof u->password, ui, uilen) < 0)
			return fail(err, errlen, s, "password too long");
		alen -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	if (parse_hostport(s, auth, alen, u, 1, err, errlen) < 0)
		return -1;

	size_t plen = strcspn(path, "?#");
	if (strcmp(u->scheme, "redis") == 0) {
		if (plen > 1) {
			long db = 0;
			for (size_t i = 1; i < plen; i++) {
				if (path[i] < '0' || path[i] > '9' || db > 100000)
					return fail(err, errlen, s, "bad database number");
				db = db * 10 + (path[i] - '0');
			}
			u->db = (int)db;
		}
		if (plen && copy_n(u->path, sizeof u->path, path, plen) < 0)
			return fail(err, errlen, s, "path too long");
		return 0;
	}
	if (copy_n(u->path, sizeof u->path, path, plen) < 0)
		return fail(err, errlen, s, "path too long");
	return 0;
}

int bc_addr_parse(const char *s, struct bc_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	if (!s)
		return fail(err, errlen, "", "no address");
	size_t n = strlen(s);
	if (n == 0)
		return fail(err, errlen, s, "expected HOST:PORT");
	const char *last = strrchr(s, ':');
	if (!last || (s[0] == '[' && !strchr(s, ']')) ||
	    (s[0] == '[' && last < strchr(s, ']')))
		return fail(err, errlen, s, "expected HOST:PORT");
	if (s[0] != '[' && memchr(s, ':', (size_t)(last - s)))
		return fail(err, errlen, s, "IPv6 host must be in brackets");
	u->port = -1;
	if (parse_hostport(s, s, n, u, 0, err, errlen) < 0)
		return -1;
	if (u->port < 0)
		return fail(err, errlen, s, "missing port");
	if (!u->host[0])
		strcpy(u->host, "0.0.0.0");
	return 0;
}
