/* page.c - the log viewer page compiled into bcast-hub.
 *
 * The files under web/ are embedded at build time with the assembler's
 * .incbin (no generator, no copy at run time: the bytes live in .rodata and
 * are handed to libevent by reference). GET / and GET /runs/{thread_id}
 * both answer web/index.html (the page reads which view it is from its
 * URL); GET /assets/NAME answers the other files. Every answer carries an
 * ETag (FNV-1a 64 of the bytes, computed once) with Cache-Control: no-cache,
 * so a browser revalidates and gets 304 while the hub binary is the same,
 * and a strict Content-Security-Policy: scripts and styles only from this
 * origin, nothing inline, no frames, no plugins. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "bc_hash.h"
#include "bc_tid.h"
#include "page.h"

/* EMBED(sym, file): sym[] .. sym_end[] hold the bytes of file. */
#define EMBED(sym, file)                                                   \
	__asm__(".pushsection .rodata\n"                                     \
	        ".balign 16\n"                                               \
	        ".hidden " #sym "\n.globl " #sym "\n" #sym ":\n"             \
	        ".incbin \"" file "\"\n"                                     \
	        ".hidden " #sym "_end\n.globl " #sym "_end\n" #sym "_end:\n" \
	        ".byte 0\n"                                                  \
	        ".popsection\n");                                            \
	extern const char sym[], sym##_end[]

EMBED(bc_web_index, "web/index.html");
EMBED(bc_web_js, "web/app.js");
EMBED(bc_web_css, "web/app.css");
EMBED(bc_web_icon, "web/favicon.svg");

struct hub_page {
	const char *path;   /* "/" stands for every view of the page */
	const char *ctype;
	const char *start, *end;
	char etag[24];
};

static struct hub_page pages[] = {
	{ "/", "text/html; charset=utf-8", bc_web_index, bc_web_index_end, "" },
	{ "/assets/app.js", "text/javascript; charset=utf-8", bc_web_js, bc_web_js_end, "" },
	{ "/assets/app.css", "text/css; charset=utf-8", bc_web_css, bc_web_css_end, "" },
	{ "/assets/favicon.svg", "image/svg+xml", bc_web_icon, bc_web_icon_end, "" },
};

#define NPAGES (sizeof pages / sizeof pages[0])

static const char csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; "
	"connect-src 'self'; img-src 'self'; base-uri 'none'; "
	"form-action 'self'; frame-ancestors 'none'";

static void page_etag(struct hub_page *p)
{
	uint64_t h = bc_hash_bytes(p->start, (size_t)(p->end - p->start));

	snprintf(p->etag, sizeof p->etag, "\"%016llx\"", (unsigned long long)h);
}

/* Is "/runs/SEG" (one percent-encoded segment) a valid thread id? */
static int run_path(const char *path)
{
	const char *seg = path + 6;
	char *dec;
	size_t len;
	int ok;

	if (strncmp(path, "/runs/", 6) != 0 || *seg == '\0' ||
	    strchr(seg, '/') != NULL || strlen(seg) > 3 * BC_TID_MAX)
		return 0;
	dec = evhttp_uridecode(seg, 0, &len);
	if (dec == NULL)
		return 0;
	ok = len == strlen(dec) && bc_tid_valid_n(dec, len);
	free(dec);
	return ok;
}

const struct hub_page *hub_page_find(const char *path)
{
	if (strcmp(path, "/") == 0 || run_path(path))
		return &pages[0];
	for (size_t i = 1; i < NPAGES; i++)
		if (strcmp(path, pages[i].path) == 0)
			return &pages[i];
	return NULL;
}

/* Does an If-None-Match value name etag (or "*")? */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	while (*inm != '\0') {
		inm += strspn(inm, " \t,");
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		if (*inm == '*' || strncmp(inm, etag, n) == 0)
			return 1;
		inm += strcspn(inm, ",");
	}
	return 0;
}

void hub_page_send(struct evhttp_request *req, const struct hub_page *cp)
{
	struct hub_page *p = &pages[cp - pages];
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req),
	                                     "If-None-Match");
	struct evbuffer *b;

	if (p->etag[0] == '\0')
		page_etag(p);
	evhttp_add_header(out, "ETag", p->etag);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	if (inm != NULL && etag_matches(inm, p->etag)) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return;
	}
	evhttp_add_header(out, "Content-Type", p->ctype);
	evhttp_add_header(out, "Content-Security-Policy", csp);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	b = evbuffer_new();
	if (b == NULL || evbuffer_add_reference(b, p->start,
	                         (size_t)(p->end - p->start), NULL, NULL) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, HTTP_OK, NULL, b);
	evbuffer_free(b);
}
