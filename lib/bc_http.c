/* bc_http.c - the HTTP client side of bcast-emit and bcast-event (libcurl).
 *
 * One easy handle per client, reused for every request, so libcurl keeps
 * the TCP connection to the hub open between POSTs (with TCP keep-alive
 * probes on it). "Expect: 100-continue" is suppressed so a large body is
 * sent at once instead of waiting a round trip. The response body is kept
 * (capped) only to explain a non-2xx status: bc_http_post then fills err
 * with "HTTP 400: MESSAGE", MESSAGE being the "error" member of a JSON
 * body or the body's first line. CURLOPT_NOSIGNAL makes
 * the handle safe in a thread and leaves the program's signals alone. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "bc_buf.h"
#include "bc_http.h"
#include "bc_url.h"

#define RESP_MAX (64 * 1024)   /* response bytes kept for error messages */
#define MSG_MAX 200            /* bytes of the hub's message put in err */

struct bc_http {
	CURL *curl;
	char *base;                /* base URL without a trailing '/' */
	char *auth;                /* "Authorization: Bearer T" or NULL */
	long timeout_ms;
	struct bc_buf resp;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct bc_buf *b = arg;
	size_t len = size * n;
	size_t room = b->len < RESP_MAX ? RESP_MAX - b->len : 0;

	bc_buf_append(b, p, len < room ? len : room);
	return len;
}

struct bc_http *bc_http_new(const char *base_url, const char *token,
                            long timeout_ms, char *err, size_t errlen)
{
	struct bc_http *h = NULL;
	struct bc_url u;
	size_t n;

	char why[256];
	if (strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "https://", 8) != 0) {
		snprintf(err, errlen, "bad hub URL '%s': expected "
		         "http://HOST[:PORT] or https://HOST[:PORT]", base_url);
		return NULL;
	}
	if (bc_url_parse(base_url, &u, why, sizeof why) != 0) {
		snprintf(err, errlen, "bad hub URL: %s", why);
		return NULL;
	}
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl: %s",
		         curl_easy_strerror(global_rc));
		return NULL;
	}
	if (!(h = calloc(1, sizeof *h)) || !(h->base = strdup(base_url)))
		goto nomem;
	n = strlen(h->base);
	while (n > 0 && h->base[n - 1] == '/')
		h->base[--n] = '\0';
	if (token && *token) {
		size_t len = strlen(token) + sizeof "Authorization: Bearer ";
		if (!(h->auth = malloc(len)))
			goto nomem;
		snprintf(h->auth, len, "Authorization: Bearer %s", token);
	}
	h->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	bc_buf_init(&h->resp, RESP_MAX);
	if (!(h->curl = curl_easy_init()))
		goto nomem;
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                 h->timeout_ms < 5000 ? h->timeout_ms : 5000L);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->resp);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "bcast/" BC_VERSION);
	return h;
nomem:
	snprintf(err, errlen, "out of memory");
	bc_http_free(h);
	return NULL;
}

void bc_http_free(struct bc_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	bc_buf_free(&h->resp);
	free(h->auth);
	free(h->base);
	free(h);
}

/* The hub's explanation of a refusal: the "error" member of a JSON body,
 * else the first line of the body, cut to MSG_MAX bytes. */
static void explain(const struct bc_buf *b, long status, char *err,
                    size_t errlen)
{
	const char *msg = b->len ? b->data : "";
	size_t n;
	struct json_object *j = b->len ? json_tokener_parse(b->data) : NULL;
	struct json_object *e;

	if (j && json_object_is_type(j, json_type_object) &&
	    json_object_object_get_ex(j, "error", &e) &&
	    json_object_is_type(e, json_type_string))
		msg = json_object_get_string(e);
	n = strcspn(msg, "\r\n");
	if (n > MSG_MAX)
		n = MSG_MAX;
	if (n)
		snprintf(err, errlen, "HTTP %ld: %.*s", status, (int)n, msg);
	else
		snprintf(err, errlen, "HTTP %ld", status);
	json_object_put(j);
}

static int header_add(struct curl_slist **l, const char *h)
{
	struct curl_slist *t = curl_slist_append(*l, h);

	if (!t)
		return -1;
	*l = t;
	return 0;
}

struct reader {
	bc_http_read_fn read;
	void *arg;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct reader *r = arg;

	return r->read(buf, size * n, r->arg);
}

/* POST to path: the n bytes at body, or (r not NULL) a chunked body from
 * r. */
static long request(struct bc_http *h, const char *path,
                    const char *content_type, const char *body, size_t n,
                    struct reader *r, char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	char ctype[128], *url;
	size_t len = strlen(h->base) + strlen(path) + 1;
	long status = -1;
	CURLcode rc;

	if (!(url = malloc(len))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(url, len, "%s%s", h->base, path);
	snprintf(ctype, sizeof ctype, "Content-Type: %s",
	         content_type ? content_type : "application/json");
	if (header_add(&hdrs, ctype) != 0 || header_add(&hdrs, "Expect:") != 0 ||
	    (h->auth && header_add(&hdrs, h->auth) != 0) ||
	    (r && header_add(&hdrs, "Transfer-Encoding: chunked") != 0)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	bc_buf_reset(&h->resp);
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	if (r) {
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
		curl_easy_setopt(h->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h->curl, CURLOPT_READDATA, r);
		curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 0L);
		curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME,
		                 (h->timeout_ms + 999) / 1000);
	} else {
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	}
	rc = curl_easy_perform(h->curl);
	if (r) {
		curl_easy_setopt(h->curl, CURLOPT_READFUNCTION, NULL);
		curl_easy_setopt(h->curl, CURLOPT_READDATA, NULL);
		curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
		curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 0L);
		curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, 0L);
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", h->errbuf[0] ? h->errbuf :
		         curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		explain(&h->resp, status, err, errlen);
out:
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(url);
	return status;
}

long bc_http_post(struct bc_http *h, const char *path,
                  const char *content_type, const char *body, size_t n,
                  char *err, size_t errlen)
{
	return request(h, path, content_type, body, n, NULL, err, errlen);
}

long bc_http_stream(struct bc_http *h, const char *path,
                    const char *content_type, bc_http_read_fn read, void *arg,
                    char *err, size_t errlen)
{
	struct reader r = { read, arg };

	return request(h, path, content_type, NULL, 0, &r, err, errlen);
}
