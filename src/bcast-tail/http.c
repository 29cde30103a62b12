/* http.c - the one-shot GETs of bcast-tail (history pages, the runs
 * list): one libcurl easy handle kept alive between requests, the bearer
 * token in a header (never in the URL), the body into a capped buffer,
 * and the paging header (X-Next-After, X-Next-Before) picked out.
 * A signal or the --timeout deadline aborts a request at once. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "bc_exit.h"
#include "tail.h"

#define BODY_MAX ((size_t)96 << 20)  /* the hub caps a page at 80 MiB */
#define CONNECT_TIMEOUT_MS 10000L
#define LOW_SPEED_SECONDS 30L

struct curl_slist *tail_http_headers(const struct tail *t,
                                     struct curl_slist *list,
                                     const char *accept)
{
	char line[4200];
	struct curl_slist *l;

	snprintf(line, sizeof line, "Accept: %s", accept);
	if (!(l = curl_slist_append(list, line)))
		goto fail;
	list = l;
	if (t->token) {
		if (snprintf(line, sizeof line, "Authorization: Bearer %s",
		             t->token) >= (int)sizeof line ||
		    !(l = curl_slist_append(list, line)))
			goto fail;
		list = l;
	}
	return list;
fail:
	curl_slist_free_all(list);
	return NULL;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct tail_get *g = arg;
	return bc_buf_append(&g->body, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct tail_get *g = arg;
	size_t len = size * n, k;
	const char *v = NULL;

	if (len > 14 && strncasecmp(p, "X-Next-After:", 13) == 0)
		v = p + 13;
	else if (len > 15 && strncasecmp(p, "X-Next-Before:", 14) == 0)
		v = p + 14;
	if (v) {
		while (*v == ' ' || *v == '\t')
			v++;
		k = (size_t)(p + len - v);
		while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n' ||
		                 v[k - 1] == ' '))
			k--;
		if (k < sizeof g->next) {
			memcpy(g->next, v, k);
			g->next[k] = '\0';
		}
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d)
{
	const struct tail *t = arg;
	(void)a, (void)b, (void)c, (void)d;
	return tail_pending_signal ||
	       (t->deadline_ms && bc_now_ms() >= t->deadline_ms);
}

CURL *tail_http_easy(void)
{
	CURL *e = curl_easy_init();

	if (e) {
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
		curl_easy_setopt(e, CURLOPT_USERAGENT, PROG "/" BC_VERSION);
	}
	return e;
}

int tail_http_init(struct tail *t)
{
	if (!(t->get = tail_http_easy()))
		return -1;
	curl_easy_setopt(t->get, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(t->get, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
	curl_easy_setopt(t->get, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->get, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->get, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(t->get, CURLOPT_XFERINFODATA, t);
	curl_easy_setopt(t->get, CURLOPT_NOPROGRESS, 0L);
	return 0;
}

int tail_http_get(struct tail *t, const char *path, struct tail_get *g)
{
	struct curl_slist *hdrs;
	char url[4096];
	CURLcode rc;

	memset(g, 0, sizeof *g);
	bc_buf_init(&g->body, BODY_MAX);
	snprintf(url, sizeof url, "%s%s", t->hub, path);
	if (!(hdrs = tail_http_headers(t, NULL, "application/json"))) {
		snprintf(g->err, sizeof g->err, "out of memory");
		return -1;
	}
	curl_easy_setopt(t->get, CURLOPT_URL, url);
	curl_easy_setopt(t->get, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(t->get, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(t->get, CURLOPT_HEADERDATA, g);
	curl_easy_setopt(t->get, CURLOPT_ERRORBUFFER, g->err);
	rc = curl_easy_perform(t->get);
	curl_easy_setopt(t->get, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		if (rc == CURLE_WRITE_ERROR)
			snprintf(g->err, sizeof g->err, "response larger than %zu MiB",
			         BODY_MAX >> 20);
		else if (!g->err[0])
			snprintf(g->err, sizeof g->err, "%s", curl_easy_strerror(rc));
		g->status = 0;
		return -1;
	}
	curl_easy_getinfo(t->get, CURLINFO_RESPONSE_CODE, &g->status);
	return 0;
}

void tail_http_why(const struct tail_get *g, char *buf, size_t n)
{
	struct json_object *j = NULL, *e;

	if (g->body.len)
		j = json_tokener_parse(g->body.data);
	if (j && json_object_object_get_ex(j, "error", &e) &&
	    json_object_is_type(e, json_type_string))
		snprintf(buf, n, "HTTP %ld: %s", g->status, json_object_get_string(e));
	else
		snprintf(buf, n, "HTTP %ld", g->status);
	json_object_put(j);
}

int tail_http_failed(struct tail *t, const char *path, int rc,
                     const struct tail_get *g)
{
	char why[512];

	if (rc != 0) {
		snprintf(t->why, sizeof t->why, "%s", g->err);
		return 0;
	}
	tail_http_why(g, why, sizeof why);
	if (g->status >= 500 || g->status == 0) {
		snprintf(t->why, sizeof t->why, "%s", why);
		return 0;
	}
	if (g->status == 401 || g->status == 403)
		snprintf(t->why, sizeof t->why, "hub at %s refused access to %s "
		         "(%s): set BCAST_READ_TOKEN or --read-token-file", t->hub,
		         path, why);
	else
		snprintf(t->why, sizeof t->why, "hub at %s refused %s: %s", t->hub,
		         path, why);
	return BC_EX_UNAVAILABLE;
}
