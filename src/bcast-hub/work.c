/* work.c - the worker pool (see work.h).
 *
 * Two queues (read and write lanes) under one mutex, each with its
 * condition variable; finished jobs go to a done list and a write to an
 * eventfd wakes the loop, whose read callback takes the whole list and
 * calls each done() in finishing order. Workers never touch libevent. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bc_record.h"
#include "work.h"

#define REDIS_TIMEOUT_MS 5000
#define STORE_RETRY_US 1000000

struct queue {
	struct work_job *head, *tail;
	pthread_cond_t cond;
};

struct work_ctx {
	struct work_pool *pool;
	struct queue *q;
	pthread_t thread;
	int started;
	struct bc_store *store;
	struct bc_redis *redis;
	struct bc_spool *spool;
	int64_t store_retry_us;
};

struct work_pool {
	struct work_cfg cfg;
	pthread_mutex_t mu;
	struct queue lanes[2];
	struct work_job *done_head, *done_tail;
	size_t pending;
	int stopping;
	int efd;
	struct event *ev;
	struct work_ctx *ctx;
	int nctx;
};

static void push(struct work_job **head, struct work_job **tail,
                 struct work_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *worker(void *arg)
{
	struct work_ctx *c = arg;
	struct work_pool *p = c->pool;
	uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct work_job *j;
		while (!p->stopping && c->q->head == NULL)
			pthread_cond_wait(&c->q->cond, &p->mu);
		if (p->stopping)
			break;
		j = c->q->head;
		c->q->head = j->next;
		if (c->q->head == NULL)
			c->q->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->run(j, c);
		pthread_mutex_lock(&p->mu);
		push(&p->done_head, &p->done_tail, j);
		if (write(p->efd, &one, sizeof one) < 0 && errno != EAGAIN) {
			/* The loop still finds the job at the next wake-up. */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct work_pool *p = arg;
	struct work_job *j, *next;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&p->mu);
	j = p->done_head;
	p->done_head = p->done_tail = NULL;
	for (next = j; next; next = next->next)
		p->pending--;
	pthread_mutex_unlock(&p->mu);
	for (; j; j = next) {
		next = j->next;
		j->done(j, 0);
	}
}

struct work_pool *work_new(struct event_base *base, const struct work_cfg *cfg)
{
	struct work_pool *p = calloc(1, sizeof *p);
	int n = (cfg->readers > 0 ? cfg->readers : 1) + 1;

	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->efd = -1;
	pthread_mutex_init(&p->mu, NULL);
	for (int i = 0; i < 2; i++)
		pthread_cond_init(&p->lanes[i].cond, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->ctx = calloc((size_t)n, sizeof *p->ctx);
	if (p->efd < 0 || !p->ctx)
		goto fail;
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_done, p);
	if (!p->ev || event_add(p->ev, NULL) != 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		struct work_ctx *c = &p->ctx[i];
		c->pool = p;
		c->q = &p->lanes[i == 0 ? WORK_WRITE : WORK_READ];
		if (pthread_create(&c->thread, NULL, worker, c) != 0)
			goto fail;
		c->started = 1;
		p->nctx = i + 1;
	}
	return p;
fail:
	work_free(p);
	return NULL;
}

static void abort_list(struct work_job *j)
{
	struct work_job *next;

	for (; j; j = next) {
		next = j->next;
		j->done(j, 1);
	}
}

void work_free(struct work_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	for (int i = 0; i < 2; i++)
		pthread_cond_broadcast(&p->lanes[i].cond);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nctx; i++) {
		struct work_ctx *c = &p->ctx[i];
		if (c->started)
			pthread_join(c->thread, NULL);
		bc_store_close(c->store);
		bc_redis_free(c->redis);
		bc_spool_free(c->spool);
	}
	abort_list(p->done_head);
	for (int i = 0; i < 2; i++) {
		abort_list(p->lanes[i].head);
		pthread_cond_destroy(&p->lanes[i].cond);
	}
	if (p->ev)
		event_free(p->ev);
	if (p->efd >= 0)
		close(p->efd);
	pthread_mutex_destroy(&p->mu);
	free(p->ctx);
	free(p);
}

void work_submit(struct work_pool *p, struct work_job *j, enum work_lane lane)
{
	struct queue *q = &p->lanes[lane];

	pthread_mutex_lock(&p->mu);
	push(&q->head, &q->tail, j);
	p->pending++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&p->mu);
}

int work_src(struct work_ctx *c, struct bc_history_src *src, char *err,
             size_t errlen)
{
	const struct work_cfg *cfg = &c->pool->cfg;
	char why[512];

	memset(src, 0, sizeof *src);
	if (!c->store) {
		int64_t now = bc_now_us();
		if (now < c->store_retry_us) {
			snprintf(err, errlen, "database unavailable (retrying)");
			return -1;
		}
		c->store = bc_store_open_timeout(cfg->db_url, cfg->db_timeout_s,
		                                 why, sizeof why);
		if (!c->store) {
			/* From the failure, not the attempt: an attempt can take
			 * the whole --db-timeout, and the jobs queued behind it
			 * should fail at once rather than each wait as long. */
			c->store_retry_us = bc_now_us() + STORE_RETRY_US;
			snprintf(err, errlen, "database unavailable: %s", why);
			return -1;
		}
	}
	if (cfg->redis_url && !c->redis &&
	    !(c->redis = bc_redis_connect(cfg->redis_url, REDIS_TIMEOUT_MS, why,
	                                  sizeof why))) {
		snprintf(err, errlen, "Redis unavailable: %s", why);
		return -1;
	}
	if (cfg->spool_dir && !c->spool &&
	    !(c->spool = bc_spool_open(cfg->spool_dir, BC_FSYNC_NONE, why,
	                               sizeof why))) {
		snprintf(err, errlen, "spool unavailable: %s", why);
		return -1;
	}
	src->store = c->store;
	src->redis = c->redis;
	src->spool = c->spool;
	return 0;
}

void work_drop(struct work_ctx *c, enum bc_history_fail which)
{
	if (which == BC_HISTORY_DB) {
		bc_store_close(c->store);
		c->store = NULL;
	} else if (which == BC_HISTORY_REDIS) {
		bc_redis_free(c->redis);
		c->redis = NULL;
	}
}
