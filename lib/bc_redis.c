/* bc_redis.c - the Redis durability buffer over the hiredis sync API.
 *
 * One blocking connection per handle, with a connect and command timeout.
 * AUTH and SELECT are sent on every (re)connect when the URL asks for them.
 * A handle whose connection broke reconnects at the start of the next call,
 * never in the middle of one, so a caller always knows what was acked.
 *
 * Pushes take one NDJSON text (each record a line) and are pipelined:
 * RPUSH commands of at most 1000 arguments, pointing into the text, are
 * all appended to the output buffer first, then every reply is read.
 * Seq numbers are reserved by a Lua script that raises the counter above
 * a floor and adds n in one step, so a floor never races a reservation. Removal is
 * a compare-and-trim Lua script: the first n elements go only if the head
 * is still the element the flusher read, so two flushers on one thread can
 * never remove what the other has not committed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "bc_redis.h"
#include "bc_tid.h"
#include "bc_url.h"

#define QUEUE_PREFIX "logs:queue:"
#define SEQ_PREFIX "logs:seq:"
#define PUSH_ARGS_MAX 1000

static const char trim_lua[] =
	"if redis.call('LINDEX',KEYS[1],0)==ARGV[1] then "
	"redis.call('LTRIM',KEYS[1],ARGV[2],-1) return 1 else return 0 end";

/* Reserve ARGV[1] numbers above both the counter and ARGV[2]; returns the
 * last one. Lua numbers are doubles: exact far beyond any seq (2^53). */
static const char reserve_lua[] =
	"local c = tonumber(redis.call('GET',KEYS[1]) or '0') "
	"local f = tonumber(ARGV[2]) if c < f then c = f end "
	"c = c + tonumber(ARGV[1]) redis.call('SET',KEYS[1],string.format('%d',c)) "
	"return c";

struct bc_redis {
	redisContext *c;
	struct bc_url url;
	int timeout_ms;
	char err[512];
};

static void set_err(struct bc_redis *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct bc_redis *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
}

static struct timeval ms_tv(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	return tv;
}

/* Run one command built from argv and check its reply is not an error.
 * Returns the reply (caller frees) or NULL with r->err set. */
static redisReply *command(struct bc_redis *r, int argc, const char **argv,
                           const size_t *lens)
{
	redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
	if (!rep) {
		set_err(r, "Redis at %s:%d: %s", r->url.host, r->url.port,
		        r->c->errstr[0] ? r->c->errstr : "connection lost");
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		set_err(r, "Redis %s: %.*s", argv[0], (int)rep->len, rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* A command whose reply only needs to be OK. 0 or -1. */
static int simple(struct bc_redis *r, int argc, const char **argv)
{
	redisReply *rep = command(r, argc, argv, NULL);
	if (!rep)
		return -1;
	freeReplyObject(rep);
	return 0;
}

static int open_conn(struct bc_redis *r)
{
	redisContext *c = redisConnectWithTimeout(r->url.host, r->url.port,
	                                          ms_tv(r->timeout_ms));
	if (!c) {
		set_err(r, "cannot connect to Redis at %s:%d: out of memory",
		        r->url.host, r->url.port);
		return -1;
	}
	if (c->err) {
		set_err(r, "cannot connect to Redis at %s:%d: %s", r->url.host,
		        r->url.port, c->errstr);
		redisFree(c);
		return -1;
	}
	if (redisSetTimeout(c, ms_tv(r->timeout_ms)) != REDIS_OK) {
		set_err(r, "cannot connect to Redis at %s:%d: cannot set timeout",
		        r->url.host, r->url.port);
		redisFree(c);
		return -1;
	}
	redisFree(r->c);
	r->c = c;

	char db[16];
	snprintf(db, sizeof db, "%d", r->url.db);
	const char *auth[] = { "AUTH", r->url.password };
	const char *sel[] = { "SELECT", db };
	if ((r->url.password[0] && simple(r, 2, auth) != 0) ||
	    (r->url.db != 0 && simple(r, 2, sel) != 0)) {
		char why[sizeof r->err];
		snprintf(why, sizeof why, "%s", r->err);
		set_err(r, "cannot connect to Redis at %s:%d: %s", r->url.host,
		        r->url.port, why);
		redisFree(r->c);
		r->c = NULL;
		return -1;
	}
	return 0;
}

/* Make sure the handle has a working connection. */
static int ready(struct bc_redis *r)
{
	if (r->c && !r->c->err)
		return 0;
	return open_conn(r);
}

struct bc_redis *bc_redis_connect(const char *url, int timeout_ms, char *err,
                                  size_t errlen)
{
	struct bc_redis *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char why[256];
	if (bc_url_parse(url, &r->url, why, sizeof why) != 0) {
		snprintf(err, errlen, "bad Redis URL '%s': %s", url, why);
		free(r);
		return NULL;
	}
	if (strcmp(r->url.scheme, "redis") != 0) {
		snprintf(err, errlen, "bad Redis URL '%s': not redis://", url);
		free(r);
		return NULL;
	}
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	if (open_conn(r) != 0) {
		snprintf(err, errlen, "%s", r->err);
		bc_redis_free(r);
		return NULL;
	}
	return r;
}

void bc_redis_free(struct bc_redis *r)
{
	if (!r)
		return;
	redisFree(r->c);
	free(r);
}

const char *bc_redis_errstr(const struct bc_redis *r)
{
	return r ? r->err : "";
}

int bc_redis_reconnect(struct bc_redis *r)
{
	return open_conn(r);
}

static int key_of(struct bc_redis *r, char *key, size_t n, const char *prefix,
                  const char *tid)
{
	if (!bc_tid_valid(tid)) {
		set_err(r, "invalid thread id");
		return -1;
	}
	snprintf(key, n, "%s%s", prefix, tid);
	return 0;
}

int bc_redis_reserve_seq(struct bc_redis *r, const char *tid, long long n,
                         long long floor, long long *first)
{
	char key[BC_TID_MAX + 32], num[32], low[32];
	if (n < 1 || floor < 0 || key_of(r, key, sizeof key, SEQ_PREFIX, tid) != 0 ||
	    ready(r) != 0)
		return -1;
	snprintf(num, sizeof num, "%lld", n);
	snprintf(low, sizeof low, "%lld", floor);
	const char *argv[] = { "EVAL", reserve_lua, "1", key, num, low };
	redisReply *rep = command(r, 6, argv, NULL);
	if (!rep)
		return -1;
	int rc = -1;
	if (rep->type == REDIS_REPLY_INTEGER) {
		*first = rep->integer - n + 1;
		rc = 0;
	} else {
		set_err(r, "Redis EVAL: unexpected reply");
	}
	freeReplyObject(rep);
	return rc;
}

long long bc_redis_seq_last(struct bc_redis *r, const char *tid)
{
	char key[BC_TID_MAX + 32];
	if (key_of(r, key, sizeof key, SEQ_PREFIX, tid) != 0 || ready(r) != 0)
		return -1;
	const char *argv[] = { "GET", key };
	redisReply *rep = command(r, 2, argv, NULL);
	if (!rep)
		return -1;
	long long v = -1;
	if (rep->type == REDIS_REPLY_NIL)
		v = 0;
	else if (rep->type == REDIS_REPLY_STRING)
		v = atoll(rep->str);
	else
		set_err(r, "Redis GET: unexpected reply");
	freeReplyObject(rep);
	return v;
}

/* Read every reply of a pipeline of n RPUSH commands. 0 or -1. */
static int push_replies(struct bc_redis *r, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		void *p = NULL;
		if (redisGetReply(r->c, &p) != REDIS_OK) {
			set_err(r, "Redis at %s:%d: %s", r->url.host, r->url.port,
			        r->c->errstr[0] ? r->c->errstr : "connection lost");
			return -1;
		}
		redisReply *rep = p;
		if (rep->type != REDIS_REPLY_INTEGER) {
			if (rep->type == REDIS_REPLY_ERROR)
				set_err(r, "Redis RPUSH: %.*s", (int)rep->len,
				        rep->str);
			else
				set_err(r, "Redis RPUSH: unexpected reply");
			rc = -1;
		}
		freeReplyObject(rep);
	}
	return rc;
}

int bc_redis_push(struct bc_redis *r, const char *tid, const char *ndjson,
                  size_t len)
{
	char key[BC_TID_MAX + 32];
	if (key_of(r, key, sizeof key, QUEUE_PREFIX, tid) != 0 || ready(r) != 0)
		return -1;
	const char *argv[PUSH_ARGS_MAX];
	size_t lens[PUSH_ARGS_MAX];
	const char *p = ndjson, *end = ndjson + len;
	size_t commands = 0;
	argv[0] = "RPUSH";
	lens[0] = 5;
	argv[1] = key;
	lens[1] = strlen(key);
	while (p < end) {
		int argc = 2;
		while (argc < PUSH_ARGS_MAX && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				nl = end;
			argv[argc] = p;
			lens[argc] = (size_t)(nl - p);
			argc++;
			p = nl + 1;
		}
		if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
			set_err(r, "Redis RPUSH: %s", r->c->errstr);
			return -1;
		}
		commands++;
	}
	return push_replies(r, commands);
}

int bc_redis_peek(struct bc_redis *r, const char *tid, size_t max,
                  struct bc_strv *out)
{
	return bc_redis_range(r, tid, 0, max, out);
}

int bc_redis_range(struct bc_redis *r, const char *tid, size_t start,
                   size_t max, struct bc_strv *out)
{
	char key[BC_TID_MAX + 32], first[32], stop[32];
	if (key_of(r, key, sizeof key, QUEUE_PREFIX, tid) != 0 || ready(r) != 0)
		return -1;
	if (max == 0)
		return 0;
	snprintf(first, sizeof first, "%zu", start);
	snprintf(stop, sizeof stop, "%zu", start + max - 1);
	const char *argv[] = { "LRANGE", key, first, stop };
	redisReply *rep = command(r, 4, argv, NULL);
	if (!rep)
		return -1;
	int rc = 0;
	if (rep->type != REDIS_REPLY_ARRAY) {
		set_err(r, "Redis LRANGE: unexpected reply (is %s a list?)", key);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < rep->elements; i++) {
		redisReply *e = rep->element[i];
		if (e->type != REDIS_REPLY_STRING ||
		    bc_strv_push(out, e->str, e->len) != 0) {
			set_err(r, "Redis LRANGE: unexpected element or out of memory");
			rc = -1;
		}
	}
	freeReplyObject(rep);
	return rc;
}

int bc_redis_trim(struct bc_redis *r, const char *tid, const char *first,
                  size_t first_len, size_t n)
{
	char key[BC_TID_MAX + 32], start[32];
	if (key_of(r, key, sizeof key, QUEUE_PREFIX, tid) != 0 || ready(r) != 0)
		return -1;
	snprintf(start, sizeof start, "%zu", n);
	const char *argv[] = { "EVAL", trim_lua, "1", key, first, start };
	size_t lens[] = { 4, strlen(trim_lua), 1, strlen(key), first_len,
	                  strlen(start) };
	redisReply *rep = command(r, 6, argv, lens);
	if (!rep)
		return -1;
	int rc = -1;
	if (rep->type == REDIS_REPLY_INTEGER)
		rc = rep->integer == 1;
	else
		set_err(r, "Redis EVAL: unexpected reply");
	freeReplyObject(rep);
	return rc;
}

int bc_redis_threads(struct bc_redis *r, struct bc_strv *out)
{
	if (ready(r) != 0)
		return -1;
	char cursor[32] = "0";
	size_t plen = strlen(QUEUE_PREFIX);
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", QUEUE_PREFIX "*",
		                       "COUNT", "1000" };
		redisReply *rep = command(r, 6, argv, NULL);
		if (!rep)
			return -1;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[0]->len >= sizeof cursor ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			set_err(r, "Redis SCAN: unexpected reply");
			freeReplyObject(rep);
			return -1;
		}
		memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
		cursor[rep->element[0]->len] = '\0';
		redisReply *keys = rep->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *k = keys->element[i];
			if (k->type != REDIS_REPLY_STRING || k->len <= plen ||
			    !bc_tid_valid_n(k->str + plen, k->len - plen))
				continue;
			if (bc_strv_push(out, k->str + plen, k->len - plen) != 0) {
				set_err(r, "out of memory");
				freeReplyObject(rep);
				return -1;
			}
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

long long bc_redis_queue_len(struct bc_redis *r, const char *tid)
{
	char key[BC_TID_MAX + 32];
	if (key_of(r, key, sizeof key, QUEUE_PREFIX, tid) != 0 || ready(r) != 0)
		return -1;
	const char *argv[] = { "LLEN", key };
	redisReply *rep = command(r, 2, argv, NULL);
	if (!rep)
		return -1;
	long long n = -1;
	if (rep->type == REDIS_REPLY_INTEGER)
		n = rep->integer;
	else
		set_err(r, "Redis LLEN: unexpected reply");
	freeReplyObject(rep);
	return n;
}
