/* guard.c - file-descriptor exhaustion and log flooding (see guard.h).
 *
 * libevent's listener retries a failing accept() at once, forever, and
 * logs a warning each time: out of descriptors, that is a busy loop
 * writing hundreds of thousands of lines a second. The accept guard sets
 * the listener's error callback: it disables the listener, re-enables it
 * from a timer GUARD_ACCEPT_PAUSE_MS later, counts the error and says so
 * on standard error at most once per GUARD_LOG_PERIOD_S. Connections that
 * arrive meanwhile wait in the kernel's listen queue.
 *
 * evhttp owns the listener's callback argument, so the error callback
 * finds the guard through one file-level pointer. The libevent log
 * callback keeps a small budget of messages per period, also at file
 * level because libevent's callback takes no argument. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bc_clock.h"
#include "cli.h"
#include "guard.h"

#define LOG_BUDGET 5    /* libevent messages per GUARD_LOG_PERIOD_S */

struct accept_guard {
	struct evconnlistener *l;
	struct event *resume;
	unsigned long long *errors;
	unsigned long long unlogged;
	int64_t logged_ms;              /* 0: never */
};

static struct accept_guard *the_guard;

static struct {
	int64_t period_ms;              /* start of the current period */
	int used;
	unsigned long dropped;
} evlog;

long long guard_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 ||
		    getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return -1;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LLONG_MAX)
		return -1;
	return (long long)rl.rlim_cur;
}

size_t guard_max_clients(long long nofile, size_t want)
{
	long long reserve, room;

	if (nofile < 0)
		return want;
	reserve = nofile / 2 < GUARD_FD_RESERVE ? nofile / 2 : GUARD_FD_RESERVE;
	room = nofile - reserve;
	if (room < 1)
		room = 1;
	return (unsigned long long)room < want ? (size_t)room : want;
}

size_t guard_max_conns(long long nofile, size_t want)
{
	long long reserve, room;

	if (nofile < 0)
		return want;
	reserve = nofile / 2 < GUARD_FD_RESERVE ? nofile / 2 : GUARD_FD_RESERVE;
	room = reserve - 32 < 8 ? 8 : reserve - 32;
	return (unsigned long long)room < want ? (size_t)room : want;
}

static void on_libevent_log(int severity, const char *msg)
{
	int64_t now = bc_now_ms();

	if (severity == EVENT_LOG_DEBUG)
		return;
	if (now - evlog.period_ms >= GUARD_LOG_PERIOD_S * 1000) {
		evlog.period_ms = now;
		evlog.used = 0;
	}
	if (evlog.used >= LOG_BUDGET) {
		evlog.dropped++;
		return;
	}
	evlog.used++;
	if (evlog.dropped > 0) {
		bc_warn("libevent: %s (%lu similar messages left out)", msg,
		        evlog.dropped);
		evlog.dropped = 0;
	} else {
		bc_warn("libevent: %s", msg);
	}
}

void guard_log_init(void)
{
	event_set_log_callback(on_libevent_log);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct accept_guard *g = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(g->l);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct accept_guard *g = the_guard;
	struct timeval pause = { 0, GUARD_ACCEPT_PAUSE_MS * 1000 };
	int err = errno;
	int64_t now = bc_now_ms();

	(void)arg;
	if (g == NULL || g->l != l)
		return;
	(*g->errors)++;
	evconnlistener_disable(l);
	if (evtimer_add(g->resume, &pause) != 0)
		evconnlistener_enable(l);
	if (g->logged_ms != 0 && now - g->logged_ms < GUARD_LOG_PERIOD_S * 1000) {
		g->unlogged++;
		return;
	}
	if (g->unlogged > 0)
		bc_warn("cannot accept connections: %s; pausing accepts for %d ms "
		        "at a time (%llu more errors since the last message)",
		        strerror(err), GUARD_ACCEPT_PAUSE_MS, g->unlogged);
	else
		bc_warn("cannot accept connections: %s; pausing accepts for %d ms "
		        "at a time", strerror(err), GUARD_ACCEPT_PAUSE_MS);
	g->unlogged = 0;
	g->logged_ms = now;
}

struct accept_guard *accept_guard_new(struct event_base *base,
                                      struct evconnlistener *l,
                                      unsigned long long *errors)
{
	struct accept_guard *g = calloc(1, sizeof *g);

	if (g == NULL)
		return NULL;
	g->resume = evtimer_new(base, on_resume, g);
	if (g->resume == NULL) {
		free(g);
		return NULL;
	}
	g->l = l;
	g->errors = errors;
	the_guard = g;
	evconnlistener_set_error_cb(l, on_accept_error);
	return g;
}

void accept_guard_free(struct accept_guard *g)
{
	if (g == NULL)
		return;
	if (the_guard == g)
		the_guard = NULL;
	event_free(g->resume);
	free(g);
}
