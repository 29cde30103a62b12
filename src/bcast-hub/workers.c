/* workers.c - the supervising parent of bcast-hub --workers (see
 * workers.h).
 *
 * The parent is a plain poll() loop over a signalfd (SIGCHLD, SIGTERM,
 * SIGINT are blocked and read from it) and one non-blocking socketpair per
 * worker; it uses no libevent, so a forked worker starts with nothing of
 * the parent's but memory. Restarts are deadlines checked after each
 * wake-up. Relay: each worker's input is cut into frames; a message gets
 * the next position, goes into the ring and onto every live worker's
 * output buffer, which is written as far as the socket takes it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bc_buf.h"
#include "bc_clock.h"
#include "bc_exit.h"
#include "cli.h"
#include "workers.h"

#define RESTART_MS 200
#define RESTART_MAX_MS 5000
#define QUICK_DEATH_MS 1000   /* dying sooner than this after start: back off */
#define READ_CHUNK 65536
#define READ_ROUNDS 16       /* chunks read from one worker per wake-up */

struct ring_ent {
	struct ring_ent *next;
	size_t n;                 /* bytes of frame */
	char frame[];             /* a whole WORKERS_ENTRY frame */
};

struct wk {
	pid_t pid;                /* 0: not running */
	int fd;                   /* parent's end; -1: closed */
	int ready;
	int killed;               /* killed for falling behind */
	int64_t started_ms;
	int64_t restart_at;       /* 0: no restart due */
	int delay_ms;             /* next restart delay */
	struct bc_buf in, out;
};

struct sup {
	const struct workers_cfg *cfg;
	struct wk *w;
	int sfd;
	int stopping;
	int any_ready;
	unsigned long long ms, seq;
	struct ring_ent *head, *tail;
	size_t ring_n, ring_bytes;
};

int workers_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

void workers_ready(const struct worker_self *self)
{
	char f[5];
	ssize_t k;

	workers_put32((unsigned char *)f, 1);
	f[4] = WORKERS_READY;
	do
		k = write(self->fd, f, sizeof f);
	while (k < 0 && errno == EINTR);
}

/* Queue n bytes for worker k; kill it when it is too far behind. */
static void queue_out(struct sup *s, struct wk *k, const char *p, size_t n)
{
	if (k->fd < 0 || k->killed)
		return;
	if (bc_buf_append(&k->out, p, n) == 0)
		return;
	bc_warn("worker %d (pid %ld) is more than %zu bytes behind the relay: "
	        "killed, to be restarted", (int)(k - s->w), (long)k->pid,
	        k->out.max);
	kill(k->pid, SIGKILL);
	k->killed = 1;
	bc_buf_free(&k->out);
}

static void flush_out(struct wk *k)
{
	while (k->fd >= 0 && k->out.len > 0) {
		ssize_t m = write(k->fd, k->out.data, k->out.len);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return;       /* EAGAIN; a dead peer shows up as SIGCHLD */
		bc_buf_consume(&k->out, (size_t)m);
	}
}

/* A message from a worker: position it, ring it, send it to all. */
static void relay(struct sup *s, const char *msg, size_t n)
{
	char id[48];
	int idlen = snprintf(id, sizeof id, "%llu-%llu", s->ms, ++s->seq);
	size_t len = 2 + (size_t)idlen + n;
	struct ring_ent *e = malloc(sizeof *e + 4 + len);

	if (e == NULL) {
		bc_warn("out of memory: a bus message was dropped");
		return;
	}
	e->next = NULL;
	e->n = 4 + len;
	workers_put32((unsigned char *)e->frame, len);
	e->frame[4] = WORKERS_ENTRY;
	e->frame[5] = (char)idlen;
	memcpy(e->frame + 6, id, (size_t)idlen);
	memcpy(e->frame + 6 + idlen, msg, n);
	for (int i = 0; i < s->cfg->n; i++) {
		queue_out(s, &s->w[i], e->frame, e->n);
		flush_out(&s->w[i]);
	}
	if (s->cfg->ring_events == 0) {
		free(e);
		return;
	}
	if (s->tail != NULL)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->ring_n++;
	s->ring_bytes += e->n;
	while (s->head != s->tail && (s->ring_n > s->cfg->ring_events ||
	                              s->ring_bytes > s->cfg->ring_bytes)) {
		struct ring_ent *old = s->head;
		s->head = old->next;
		s->ring_n--;
		s->ring_bytes -= old->n;
		free(old);
	}
}

/* Act on each whole frame in k's input; 0, or -1 for a malformed one. */
static int frames(struct sup *s, struct wk *k)
{
	size_t at = 0;

	while (k->in.len - at >= 5) {
		const char *f = k->in.data + at;
		size_t len = workers_get32((const unsigned char *)f);
		if (len < 1 || len > WORKERS_FRAME_MAX)
			return -1;
		if (k->in.len - at < 4 + len)
			break;
		if (f[4] == WORKERS_READY) {
			k->ready = 1;
			s->any_ready = 1;
		} else if (f[4] == WORKERS_MSG && s->cfg->relay) {
			relay(s, f + 5, len - 1);
		}
		at += 4 + len;
	}
	bc_buf_consume(&k->in, at);
	return 0;
}

/* Read what worker k sent (at most READ_ROUNDS chunks, so that one busy
 * worker cannot hold the others up) and act on each whole frame. */
static void read_in(struct sup *s, struct wk *k)
{
	char buf[READ_CHUNK];
	int gone = 0;

	for (int round = 0; round < READ_ROUNDS && !gone; round++) {
		ssize_t m = read(k->fd, buf, sizeof buf);
		if (m < 0 && (errno == EINTR || errno == EAGAIN)) {
			if (errno == EAGAIN)
				return;
			continue;
		}
		if (m <= 0) {
			gone = 1;
		} else if (bc_buf_append(&k->in, buf, (size_t)m) != 0 ||
		           frames(s, k) != 0) {
			bc_warn("worker %d sent a malformed frame: killed",
			        (int)(k - s->w));
			kill(k->pid, SIGKILL);
			gone = 1;
		}
	}
	if (gone) {             /* end of file or error: the worker is going */
		close(k->fd);
		k->fd = -1;
		bc_buf_free(&k->in);
		bc_buf_free(&k->out);
	}
}

/* Fork worker i. Returns 1 in the child (self filled), 0 in the parent. */
static int spawn(struct sup *s, int i, struct worker_self *self)
{
	struct wk *k = &s->w[i];
	int sv[2];
	pid_t pid, parent = getpid();
	sigset_t set;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		bc_warn("cannot start worker %d: %s", i, strerror(errno));
		k->restart_at = bc_now_ms() + RESTART_MAX_MS;
		return 0;
	}
	pid = fork();
	if (pid < 0) {
		bc_warn("cannot start worker %d: %s", i, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		k->restart_at = bc_now_ms() + RESTART_MAX_MS;
		return 0;
	}
	if (pid == 0) {
		close(sv[0]);
		close(s->sfd);
		for (int j = 0; j < s->cfg->n; j++)
			if (s->w[j].fd >= 0)
				close(s->w[j].fd);
		/* A process group of its own: a terminal's ^C (or a kill of the
		 * group) reaches the parent only, which passes it on once; two
		 * signals would make the worker exit without draining. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(BC_EX_OK);
		sigemptyset(&set);
		sigprocmask(SIG_SETMASK, &set, NULL);
		self->index = i;
		self->fd = sv[1];
		return 1;
	}
	close(sv[1]);
	k->pid = pid;
	k->fd = sv[0];
	k->ready = 0;
	k->killed = 0;
	k->started_ms = bc_now_ms();
	k->restart_at = 0;
	bc_buf_init(&k->in, WORKERS_FRAME_MAX + 4 + READ_CHUNK);
	bc_buf_init(&k->out, WORKERS_BEHIND_MAX + s->cfg->ring_bytes);
	fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
	for (struct ring_ent *e = s->head; e != NULL; e = e->next) {
		char kind = WORKERS_PREFILL;
		size_t at = k->out.len;
		queue_out(s, k, e->frame, e->n);
		if (k->out.len > at)
			k->out.data[at + 4] = kind;
	}
	flush_out(k);
	return 0;
}

/* Worker k is gone with wait status st: schedule its restart, or end the
 * start-up when no worker ever got to listen. */
static void reaped(struct sup *s, struct wk *k, int st)
{
	int i = (int)(k - s->w);
	int64_t now = bc_now_ms();
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	long pid = (long)k->pid;
	struct hub_slot *slot;

	if (k->fd >= 0) {
		close(k->fd);
		k->fd = -1;
	}
	bc_buf_free(&k->in);
	bc_buf_free(&k->out);
	/* Its gauges go; its counters stay for the next one to count on. */
	slot = hub_shared_slot(s->cfg->shared, (size_t)i);
	memset(&slot->g, 0, sizeof slot->g);
	slot->m.bus_up = 0;
	slot->m.bus_outbox_bytes = 0;
	k->pid = 0;
	if (s->stopping)
		return;
	if (!s->any_ready && code > 0) {
		/* A start-up failure: the worker said why. Stop the rest. */
		s->stopping = 1;
		for (int j = 0; j < s->cfg->n; j++)
			if (s->w[j].pid > 0)
				kill(s->w[j].pid, SIGTERM);
		while (wait(NULL) > 0 || errno == EINTR)
			;
		exit(code);
	}
	if (now - k->started_ms >= QUICK_DEATH_MS || k->delay_ms == 0)
		k->delay_ms = RESTART_MS;
	else if ((k->delay_ms *= 2) > RESTART_MAX_MS)
		k->delay_ms = RESTART_MAX_MS;
	if (WIFSIGNALED(st))
		bc_warn("worker %d (pid %ld) was killed by signal %d; restarting "
		        "it in %d ms", i, pid, WTERMSIG(st), k->delay_ms);
	else
		bc_warn("worker %d (pid %ld) exited with status %d; restarting "
		        "it in %d ms", i, pid, code, k->delay_ms);
	k->restart_at = now + k->delay_ms;
}

/* Read the signalfd: reap children, forward stop signals. */
static void on_signals(struct sup *s)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int st;

	while (read(s->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo != SIGTERM && si.ssi_signo != SIGINT)
			continue;
		if (!s->stopping)
			bc_warn("%s: stopping %d workers",
			        si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM",
			        s->cfg->n);
		s->stopping = 1;
		for (int i = 0; i < s->cfg->n; i++)
			if (s->w[i].pid > 0)
				kill(s->w[i].pid, (int)si.ssi_signo);
	}
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (int i = 0; i < s->cfg->n; i++)
			if (s->w[i].pid == pid)
				reaped(s, &s->w[i], st);
}

void workers_run(const struct workers_cfg *cfg, struct worker_self *self)
{
	struct sup s = { .cfg = cfg };
	struct pollfd *pf;
	sigset_t set;

	s.w = calloc((size_t)cfg->n, sizeof *s.w);
	pf = calloc((size_t)cfg->n + 1, sizeof *pf);
	if (s.w == NULL || pf == NULL)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	for (int i = 0; i < cfg->n; i++)
		s.w[i].fd = -1;
	/* Wall time, so that ids keep increasing across a reboot (a cursor
	 * from before it is then older, not "from the future"). */
	s.ms = (unsigned long long)(bc_now_us() / 1000);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (s.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		bc_die(BC_EX_SOFTWARE, "cannot watch signals: %s", strerror(errno));
	for (int i = 0; i < cfg->n; i++)
		if (spawn(&s, i, self))
			goto child;
	for (;;) {
		int64_t now = bc_now_ms(), next = -1;
		int live = 0, timeout;

		for (int i = 0; i < cfg->n; i++) {
			struct wk *k = &s.w[i];
			if (!s.stopping && k->pid == 0 && k->restart_at != 0) {
				if (k->restart_at <= now) {
					if (spawn(&s, i, self))
						goto child;
				} else if (next < 0 || k->restart_at < next) {
					next = k->restart_at;
				}
			}
			live += k->pid > 0;
			pf[i + 1].fd = k->fd;
			pf[i + 1].events = POLLIN | (k->out.len > 0 ? POLLOUT : 0);
			pf[i + 1].revents = 0;
		}
		if (live == 0 && s.stopping)
			break;
		pf[0].fd = s.sfd;
		pf[0].events = POLLIN;
		timeout = next < 0 ? -1 : next - now > 0 ? (int)(next - now) : 0;
		if (poll(pf, (nfds_t)cfg->n + 1, timeout) < 0 && errno != EINTR)
			bc_die(BC_EX_SOFTWARE, "poll: %s", strerror(errno));
		for (int i = 0; i < cfg->n; i++) {
			struct wk *k = &s.w[i];
			if (k->fd < 0 || pf[i + 1].fd != k->fd)
				continue;
			if (pf[i + 1].revents & POLLOUT)
				flush_out(k);
			if (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				read_in(&s, k);
		}
		if (pf[0].revents & POLLIN)
			on_signals(&s);
	}
	exit(BC_EX_OK);
child:
	/* Nothing of the supervisor's is needed in a worker. */
	for (int i = 0; i < cfg->n; i++) {
		bc_buf_free(&s.w[i].in);
		bc_buf_free(&s.w[i].out);
	}
	while (s.head != NULL) {
		struct ring_ent *e = s.head;
		s.head = e->next;
		free(e);
	}
	free(pf);
	free(s.w);
}
