/* loadgen.c - load generator for bcast-hub and nginx+nchan.
 *
 * One run: N SSE subscribers, M numbered lines "L SEQ NS CH xxx..." (NS is
 * CLOCK_MONOTONIC at publish) published round-robin over T channels
 * through the real path - a pipe into one `bcast-emit -t THREAD` per
 * channel for bcast, pipelined HTTP POSTs for nchan - at a rate or flat
 * out; then one line of key=value results on stdout.
 *
 * Subscribers live in P forked processes (the per-process fd limit is not
 * the ceiling), each an epoll loop over non-blocking sockets bound to
 * 127.0.1.X source addresses. Each subscriber keeps a bitmap of the lines
 * it is owed, so lost, duplicated and out-of-order counts are exact;
 * latency is receipt time minus NS, in a log-linear histogram. The parent
 * publishes, samples the server's VmRSS, and shares one anonymous mapping
 * with the subscriber processes: it writes the publishing start, end and
 * line count, they write their progress and final tallies. Every wait is
 * bounded (--connect-timeout, --timeout, --drain); PR_SET_PDEATHSIG ends
 * children that outlive the parent.
 *
 * --target self runs against a built-in chunked-SSE blaster instead of a
 * server: its result is the loadgen's own receive ceiling. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "sse_reader.h"

#define PROG "loadgen"
#define MAX_PROCS 64
#define MAX_PIDS 64
#define MAX_URLS 16
#define HSUB 32
#define HBUCKETS (HSUB * 42)
#define RBUF (256 * 1024)
#define PUB_OUT_MAX (4u << 20)
#define GLOBAL UINT32_MAX

static const char usage_text[] =
"usage: " PROG " --target bcast|nchan|self --url http://127.0.0.1:PORT [options]\n"
"\n"
"Opens N SSE subscribers, publishes M numbered, timestamped lines and\n"
"prints one line of key=value results.\n"
"\n"
"  --target T          bcast (bcast-hub, lines through bcast-emit), nchan\n"
"                      (POST /pub?id=CH, GET /sub?id=CH), or self (a built-in\n"
"                      SSE blaster: measures the loadgen's own ceiling)\n"
"  --url URL           server base URL, http://HOST:PORT; repeatable: subscriber\n"
"                      i reads from URL i%U (several servers on one bus)\n"
"  --pub-spread        with several --url, channel c publishes to URL c%U\n"
"                      (default: every channel to the first URL)\n"
"  --subs N            subscribers (default 1)\n"
"  --threads T         channels (bcast threads) the lines go round-robin to (1)\n"
"  --per-thread        subscriber i reads channel i%T, not the global stream\n"
"  --lines M           lines to publish (default 1000)\n"
"  --rate R            lines per second; 0 = flat out (default 0)\n"
"  --size B            bytes per line, without the newline (default 64)\n"
"  --window L          flat out: at most L lines in flight (default 0 = no cap)\n"
"  --duration S        stop publishing after S seconds (default 0 = no limit)\n"
"  --timeout S         hard limit for publishing plus draining (default 60)\n"
"  --drain S           give up S seconds after the last progress (default 5)\n"
"  --connect-timeout S subscribers not connected by then fail (default 30)\n"
"  --idle              publish nothing: hold the subscribers --hold seconds and\n"
"                      report server memory per connection\n"
"  --hold S            idle hold time (default 2)\n"
"  --procs P           subscriber processes (default: enough for the fd limit)\n"
"  --src-spread K      bind subscribers to 127.0.1.1..K (default 64, 0 = off)\n"
"  --server-pid PID    a server process whose RSS is sampled (repeatable)\n"
"  --aux-pid PID       a helper process (Redis) whose CPU is reported as\n"
"                      aux_cpu_pct (repeatable)\n"
"  --emit PATH         bcast-emit to run per thread (default bcast-emit)\n"
"  --redis URL         bcast-emit --redis (default none)\n"
"  --emit-log FILE     bcast-emit stderr (default /dev/null)\n"
"  --pipeline K        POSTs in flight per connection (default 32)\n"
"  --publish emit|post|stream  bcast: lines through bcast-emit (default),\n"
"                      one pipelined POST /api/runs/CH/logs per line (post),\n"
"                      or one long chunked POST per channel, a chunk per\n"
"                      batch of lines (stream); one connection per channel\n"
"  --token T           bcast: Authorization: Bearer T on POSTs\n"
"  --pin-publisher C   run the publisher (and bcast-emit) on CPU C\n"
"  --pin-subscribers C run the subscriber processes on CPU C\n"
"  --tag STR           channel / thread id prefix (default lg<pid>)\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 clean run, 1 a run with loss, duplicates, disorder, failed\n"
"subscribers or a timeout (the result line says which), 2 setup error.\n";

struct opts {
	const char *target, *url, *emit, *redis, *emit_log, *tag, *publish, *token;
	int pin_pub, pin_sub;
	long subs, threads, lines, size, window, pipeline, procs, src_spread;
	double rate, timeout, drain, connect_timeout, hold, duration;
	int per_thread, idle;
	pid_t pids[MAX_PIDS], aux[MAX_PIDS];
	int npids, naux, pub_spread;
	char host[64];          /* the first --url's: publishers' by default */
	int port;
	struct endpoint { const char *url; char host[64]; int port; } eps[MAX_URLS];
	int neps;
};

struct wstat {
	_Atomic uint64_t ready, failed, received, setup_done, finished;
	uint64_t owed_subs, expected, unique, dup, ooo, foreign, other;
	uint64_t disconnects, perr, first_ns, last_ns, max_us;
	double cpu_s, wall_s;
	uint64_t hist[HBUCKETS];
};

struct shared {
	_Atomic uint64_t pub_start_ns, pub_end_ns, published, deadline_ns;
	_Atomic int release, blaster_done;
	struct wstat w[MAX_PROCS];
};

static struct opts O;
static struct shared *S;

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t sec_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

/* Lines of M that go to channel ch when line g goes to g % T. */
static uint64_t lines_for(uint64_t m, uint64_t t, uint64_t ch)
{
	return m / t + (ch < m % t ? 1 : 0);
}

static int hist_index(uint64_t v)
{
	if (v < HSUB)
		return (int)v;
	int msb = 63 - __builtin_clzll(v);
	int shift = msb - 5;
	int i = (shift + 1) * HSUB + (int)((v >> shift) - HSUB);
	return i < HBUCKETS ? i : HBUCKETS - 1;
}

/* Upper bound of bucket i, in the histogram's unit. */
static uint64_t hist_value(int i)
{
	if (i < HSUB)
		return (uint64_t)i;
	int shift = i / HSUB - 1;
	uint64_t sub = (uint64_t)(i % HSUB) + HSUB;
	return ((sub + 1) << shift) - 1;
}

static uint64_t hist_pct(const uint64_t *h, uint64_t total, double pct,
                         uint64_t max)
{
	if (!total)
		return 0;
	uint64_t want = (uint64_t)(pct / 100.0 * (double)total + 0.999999);
	uint64_t acc = 0;
	if (want < 1)
		want = 1;
	for (int i = 0; i < HBUCKETS; i++) {
		acc += h[i];
		if (acc >= want) {
			uint64_t v = hist_value(i);
			return v < max ? v : max;
		}
	}
	return max;
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		die("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = 1048576;
		struct rlimit up = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
}

static long nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	return (long)rl.rlim_cur;
}

/* ---- server process accounting ------------------------------------- */

static long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t k = strlen(key);
	long v = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, k) == 0) {
			v = strtol(line + k, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long server_kb(const char *key)
{
	long sum = 0;
	for (int i = 0; i < O.npids; i++) {
		long v = proc_status_kb(O.pids[i], key);
		if (v > 0)
			sum += v;
	}
	return sum;
}

/* Reset VmHWM (Linux clear_refs 5) so it measures this run only. */
static int server_reset_hwm(void)
{
	int ok = O.npids > 0;
	for (int i = 0; i < O.npids; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)O.pids[i]);
		int fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, "5", 1) != 1)
			ok = 0;
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

/* CPU seconds (user + system) of n processes. */
static double pids_cpu_s(const pid_t *pids, int n)
{
	double sum = 0;
	long hz = sysconf(_SC_CLK_TCK);
	for (int i = 0; i < n; i++) {
		char path[64], buf[1024];
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[i]);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		char *p = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		                &ut, &st) == 2)
			sum += (double)(ut + st) / (double)hz;
	}
	return sum;
}

static double server_cpu_s(void)
{
	return pids_cpu_s(O.pids, O.npids);
}

static long rss_peak_kb;

static void sample_rss(void)
{
	long v = server_kb("VmRSS:");
	if (v > rss_peak_kb)
		rss_peak_kb = v;
}

/* Sleep up to ms milliseconds while sampling the server's RSS. */
static void nap_sampling(long ms)
{
	while (ms > 0) {
		long step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, step * 1000000L };
		nanosleep(&ts, NULL);
		sample_rss();
		ms -= step;
	}
}

/* ---- subscribers ----------------------------------------------------- */

enum { S_IDLE, S_CONNECTING, S_HEAD, S_READY, S_CLOSED, S_FAILED };

struct sub {
	int fd;
	uint32_t ch;
	uint8_t state, owed, ep;
	uint8_t *bits;
	uint64_t *last;
	struct sr_reader rd;
};

static struct wstat *W;
static uint64_t cur_now, w_unique;

static void on_head(void *arg, int status)
{
	struct sub *s = arg;
	if (status == 200 && s->state == S_HEAD) {
		s->state = S_READY;
		s->owed = 1;
		atomic_fetch_add(&W->ready, 1);
	}
}

static void on_event(void *arg, const struct sr_rec *rec)
{
	struct sub *s = arg;
	uint64_t idx, t = (uint64_t)O.threads;

	if (!rec) {
		W->other++;
		return;
	}
	if (rec->seq >= (uint64_t)O.lines || rec->ch != rec->seq % t ||
	    (s->ch != GLOBAL && rec->ch != s->ch)) {
		W->foreign++;
		return;
	}
	idx = s->ch == GLOBAL ? rec->seq : rec->seq / t;
	if (s->bits[idx >> 3] & (1u << (idx & 7))) {
		W->dup++;
		return;
	}
	s->bits[idx >> 3] |= (uint8_t)(1u << (idx & 7));
	w_unique++;
	uint64_t *last = &s->last[s->ch == GLOBAL ? rec->ch : 0];
	if (*last > rec->seq + 1)
		W->ooo++;
	else
		*last = rec->seq + 1;
	uint64_t us = cur_now > rec->ns ? (cur_now - rec->ns) / 1000 : 0;
	W->hist[hist_index(us)]++;
	if (us > W->max_us)
		W->max_us = us;
	if (!W->first_ns)
		W->first_ns = cur_now;
	W->last_ns = cur_now;
}

static const struct sr_cb sub_cb = { on_head, on_event, NULL };

static void sub_path(char *buf, size_t n, uint32_t ch)
{
	const char *t = O.target;
	if (strcmp(t, "bcast") == 0) {
		if (ch == GLOBAL)
			snprintf(buf, n, "/api/logs/stream");
		else
			snprintf(buf, n, "/api/runs/%s-%u/logs/stream", O.tag, ch);
	} else if (strcmp(t, "nchan") == 0) {
		if (ch == GLOBAL)
			snprintf(buf, n, "/sub?id=%s-all", O.tag);
		else
			snprintf(buf, n, "/sub?id=%s-%u", O.tag, ch);
	} else {
		snprintf(buf, n, "/stream");
	}
}

static int sub_connect(int ep, struct sub *s, long i)
{
	const struct endpoint *e = &O.eps[i % O.neps];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)e->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (O.src_spread > 0) {
		int one = 1;
		struct sockaddr_in src = { .sin_family = AF_INET };
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		src.sin_addr.s_addr = htonl(0x7f000100u + 1 + (uint32_t)(i % O.src_spread));
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			close(fd);
			return -1;
		}
	}
	inet_pton(AF_INET, e->host, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->ep = (uint8_t)(i % O.neps);
	s->state = S_CONNECTING;
	sr_init(&s->rd, SR_SSE);
	return 0;
}

static void sub_close(int ep, struct sub *s, int failed)
{
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
	}
	if (s->state == S_READY && !failed) {
		W->disconnects++;
		s->state = S_CLOSED;
	} else if (s->state == S_READY) {
		W->disconnects++;
		W->perr++;
		s->state = S_CLOSED;
	} else if (s->state != S_CLOSED && s->state != S_FAILED) {
		atomic_fetch_add(&W->failed, 1);
		s->state = S_FAILED;
	}
}

static int sub_send_request(int ep, struct sub *s)
{
	char path[256], req[512];
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err)
		return -1;
	sub_path(path, sizeof path, s->ch);
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
	                 "Cache-Control: no-cache\r\n\r\n", path, O.eps[s->ep].host,
	                 O.eps[s->ep].port);
	if (write(s->fd, req, (size_t)n) != n)
		return -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) != 0)
		return -1;
	s->state = S_HEAD;
	return 0;
}

static void sub_read(int ep, struct sub *s, char *buf)
{
	ssize_t n = read(s->fd, buf, RBUF);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sub_close(ep, s, 0);
		return;
	}
	cur_now = now_ns();
	int rc = sr_feed(&s->rd, buf, (size_t)n, &sub_cb, s);
	if (rc < 0 && !W->perr)
		fprintf(stderr, PROG ": subscriber fd %d: %s\n", s->fd, s->rd.err);
	if (rc != 0 || (s->state == S_HEAD && s->rd.status && s->rd.status != 200))
		sub_close(ep, s, rc < 0);
}

static _Noreturn void sub_main(int k)
{
	pin_to(O.pin_sub);
	long nsubs = 0, next = 0, connecting = 0, settled = 0;
	struct sub *subs;
	size_t bitbytes = 0, lastn = 0;
	uint64_t t = (uint64_t)O.threads, m = (uint64_t)O.lines;
	char *buf = malloc(RBUF);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[1024];
	long burst = 256;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(3);
	W = &S->w[k];
	for (long i = k; i < O.subs; i += O.procs)
		nsubs++;
	subs = calloc((size_t)nsubs ? (size_t)nsubs : 1, sizeof *subs);
	if (!subs || !buf || ep < 0)
		_exit(3);
	for (long j = 0; j < nsubs; j++) {
		long i = k + j * O.procs;
		struct sub *s = &subs[j];
		s->fd = -1;
		s->ch = O.per_thread ? (uint32_t)(i % O.threads) : GLOBAL;
		bitbytes += ((s->ch == GLOBAL ? m : lines_for(m, t, s->ch)) + 7) / 8;
		lastn += s->ch == GLOBAL ? t : 1;
	}
	uint8_t *bits = calloc(bitbytes ? bitbytes : 1, 1);
	uint64_t *last = calloc(lastn ? lastn : 1, sizeof *last);
	if (!bits || !last)
		_exit(3);
	for (long j = 0, bo = 0, lo = 0; j < nsubs; j++) {
		struct sub *s = &subs[j];
		s->bits = bits + bo;
		s->last = last + lo;
		bo += (long)(((s->ch == GLOBAL ? m : lines_for(m, t, s->ch)) + 7) / 8);
		lo += s->ch == GLOBAL ? (long)t : 1;
	}

	uint64_t t_conn_end = now_ns() + sec_ns(O.connect_timeout);
	uint64_t last_progress = 0, expected = 0, prev_unique = 0, t_run = 0;
	double cpu_run0 = 0;
	int setup_done = 0, have_expected = 0;

	for (;;) {
		while (!setup_done && connecting < burst && next < nsubs) {
			struct sub *s = &subs[next];
			if (sub_connect(ep, s, k + next * O.procs) == 0) {
				connecting++;
			} else {
				s->state = S_FAILED;
				atomic_fetch_add(&W->failed, 1);
				settled++;
			}
			next++;
		}
		int n = epoll_wait(ep, evs, 1024, 20);
		for (int e = 0; e < n; e++) {
			struct sub *s = evs[e].data.ptr;
			int before = s->state;
			if (s->state == S_CONNECTING) {
				if (sub_send_request(ep, s) != 0)
					sub_close(ep, s, 1);
			} else if (s->fd >= 0) {
				sub_read(ep, s, buf);
			}
			if ((before == S_CONNECTING || before == S_HEAD) &&
			    s->state != S_CONNECTING && s->state != S_HEAD) {
				connecting--;
				settled++;
			}
		}
		uint64_t now = now_ns();
		atomic_store(&W->received, w_unique);
		if (!setup_done && (settled == nsubs || now > t_conn_end)) {
			for (long j = 0; j < nsubs; j++)
				if (subs[j].state == S_CONNECTING || subs[j].state == S_HEAD ||
				    subs[j].state == S_IDLE)
					sub_close(ep, &subs[j], 1);
			setup_done = 1;
			atomic_store(&W->setup_done, 1);
		}
		if (getppid() == 1)
			break;
		if (!t_run && atomic_load(&S->pub_start_ns)) {
			t_run = now;
			cpu_run0 = self_cpu_s();
		}
		uint64_t pub_end = atomic_load(&S->pub_end_ns);
		uint64_t deadline = atomic_load(&S->deadline_ns);
		if (w_unique != prev_unique) {
			prev_unique = w_unique;
			last_progress = now;
		}
		if (atomic_load(&S->release))
			break;
		if (pub_end && !have_expected) {
			uint64_t p = atomic_load(&S->published);
			for (long j = 0; j < nsubs; j++) {
				if (!subs[j].owed)
					continue;
				W->owed_subs++;
				expected += subs[j].ch == GLOBAL ? p : lines_for(p, t, subs[j].ch);
			}
			have_expected = 1;
		}
		if (have_expected) {
			uint64_t since = last_progress > pub_end ? last_progress : pub_end;
			if (w_unique >= expected || now > since + sec_ns(O.drain))
				break;
		}
		if (deadline && now > deadline)
			break;
	}
	if (!have_expected) {
		uint64_t p = atomic_load(&S->published);
		for (long j = 0; j < nsubs; j++)
			if (subs[j].owed) {
				W->owed_subs++;
				expected += subs[j].ch == GLOBAL ? p : lines_for(p, t, subs[j].ch);
			}
	}
	W->expected = expected;
	W->unique = w_unique;
	if (t_run) {
		W->cpu_s = self_cpu_s() - cpu_run0;
		W->wall_s = (double)(now_ns() - t_run) / 1e9;
	}
	atomic_store(&W->finished, 1);
	_exit(0);
}

/* ---- the self target: a chunked SSE blaster --------------------------- */

static int blaster_listen(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("blaster listen: %s", strerror(errno));
	snprintf(O.host, sizeof O.host, "127.0.0.1");
	O.port = ntohs(a.sin_port);
	O.eps[0].port = O.port;
	snprintf(O.eps[0].host, sizeof O.eps[0].host, "127.0.0.1");
	O.neps = 1;
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static _Noreturn void blaster_main(int lfd)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\nd\r\n: connected\n\n\r\n";
	int *fds = calloc((size_t)O.subs + 1, sizeof *fds), nfd = 0;
	size_t cap = 64 * ((size_t)O.size + 160) + 64;
	char *frames = malloc(cap), *chunk = malloc(cap + 32);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!fds || !frames || !chunk)
		_exit(3);
	while (nfd < O.subs && !atomic_load(&S->pub_start_ns)) {
		struct pollfd p = { lfd, POLLIN, 0 };
		if (poll(&p, 1, 10) <= 0)
			continue;
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		char req[4096];
		size_t got = 0;
		while (got < sizeof req - 1) {
			ssize_t r = read(c, req + got, sizeof req - 1 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = 0;
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		if (write_all(c, head, sizeof head - 1) == 0)
			fds[nfd++] = c;
		else
			close(c);
	}
	while (!atomic_load(&S->pub_start_ns))
		usleep(1000);
	for (uint64_t g = 0; g < (uint64_t)O.lines;) {
		size_t len = 0;
		for (int b = 0; b < 64 && g < (uint64_t)O.lines; b++, g++) {
			len += (size_t)snprintf(frames + len, cap - len,
			                        "id: %" PRIu64 "\ndata: {\"thread_id\":\"self-0\","
			                        "\"seq\":%" PRIu64 ",\"line\":\"", g, g);
			int h = snprintf(frames + len, cap - len, "L %" PRIu64 " %" PRIu64 " 0 ",
			                 g, now_ns());
			len += (size_t)h;
			for (long x = h; x < O.size; x++)
				frames[len++] = 'x';
			memcpy(frames + len, "\"}\n\n", 4);
			len += 4;
		}
		int h = snprintf(chunk, 32, "%zx\r\n", len);
		memcpy(chunk + h, frames, len);
		memcpy(chunk + h + len, "\r\n", 2);
		for (int i = 0; i < nfd; i++)
			if (fds[i] >= 0 && write_all(fds[i], chunk, (size_t)h + len + 2) != 0) {
				close(fds[i]);
				fds[i] = -1;
			}
	}
	atomic_store(&S->blaster_done, 1);
	while (!atomic_load(&S->release) && getppid() != 1)
		usleep(10000);
	_exit(0);
}

/* ---- publishers ------------------------------------------------------ */

struct pub {
	int fd, ep;
	pid_t pid;
	uint32_t ch;
	uint64_t next_k, nlines;
	char *out;
	size_t out_len, out_off;
	int outstanding, dead, want_out, closed;
	size_t chunk_at;       /* --publish stream: 1 + where the open chunk's size is; 0: none */
	struct sr_reader rd;
};

static struct pub *pubs;
static uint64_t pub_errors, pub_replies_ok;

static void on_reply(void *arg, int status)
{
	struct pub *p = arg;
	p->outstanding--;
	if (status >= 200 && status < 300)
		pub_replies_ok++;
	else
		pub_errors++;
}

static const struct sr_cb pub_cb = { NULL, NULL, on_reply };

static int is_bcast(void)
{
	return strcmp(O.target, "bcast") == 0;
}

/* bcast lines go through a pipe into bcast-emit (else: HTTP POSTs). */
static int via_emit(void)
{
	return is_bcast() && strcmp(O.publish, "emit") == 0;
}

/* bcast lines go as NDJSON chunks of one long chunked POST per channel. */
static int via_stream(void)
{
	return is_bcast() && strcmp(O.publish, "stream") == 0;
}

/* Close p's open chunk: fill in its size, add its CRLF. */
static void chunk_close(struct pub *p)
{
	char size[16];

	if (!p->chunk_at)
		return;
	snprintf(size, sizeof size, "%08zx", p->out_len - (p->chunk_at - 1) - 10);
	memcpy(p->out + p->chunk_at - 1, size, 8);
	memcpy(p->out + p->out_len, "\r\n", 2);
	p->out_len += 2;
	p->chunk_at = 0;
}

/* The --url channel ch publishes to. */
static int pub_ep(uint32_t ch)
{
	return O.pub_spread ? (int)(ch % (uint32_t)O.neps) : 0;
}

static pid_t spawn_emit(uint32_t ch, int *wfd)
{
	int p[2];
	char tid[160];
	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe: %s", strerror(errno));
	snprintf(tid, sizeof tid, "%s-%u", O.tag, ch);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int log = open(O.emit_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(p[0], 0);
		dup2(null, 1);
		dup2(log >= 0 ? log : null, 2);
		signal(SIGPIPE, SIG_DFL);
		execlp(O.emit, O.emit, "-t", tid, "--no-flush", "--redis", O.redis,
		       "--hub", O.eps[pub_ep(ch)].url, (char *)NULL);
		fprintf(stderr, PROG ": cannot run %s: %s\n", O.emit, strerror(errno));
		_exit(127);
	}
	close(p[0]);
	set_nonblock(p[1]);
	*wfd = p[1];
	return pid;
}

static int server_connect(const struct endpoint *e)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)e->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	inet_pton(AF_INET, e->host, &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		die("cannot connect to %s: %s", e->url, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	set_nonblock(fd);
	return fd;
}

/* Append line g (channel p->ch) to p's output, stamped now. */
static void pub_append(struct pub *p, uint64_t g)
{
	char head[96];
	int h = snprintf(head, sizeof head, "L %" PRIu64 " %" PRIu64 " %u ", g, now_ns(), p->ch);
	size_t body = (size_t)h > (size_t)O.size ? (size_t)h : (size_t)O.size;
	char *w = p->out + p->out_len;
	if (via_stream()) {
		/* Lines join the open chunk (opened here: 8 hex digits and
		 * CRLF, filled in by chunk_close). */
		if (!p->chunk_at) {
			p->chunk_at = p->out_len + 1;
			memcpy(w, "00000000\r\n", 10);
			w += 10;
		}
		w += sprintf(w, "{\"thread_id\":\"%s-%u\",\"seq\":%" PRIu64 ",\"line\":\"",
		             O.tag, p->ch, p->next_k + 1);
	} else if (is_bcast() && !via_emit()) {
		/* One NDJSON record per POST: the line is the record's "line". */
		char rec[192];
		int rl = snprintf(rec, sizeof rec, "{\"thread_id\":\"%s-%u\",\"seq\":%" PRIu64
		                  ",\"line\":\"", O.tag, p->ch, p->next_k + 1);
		int r = snprintf(w, 512,
		                 "POST /api/runs/%s-%u/logs HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s"
		                 "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n\r\n%s",
		                 O.tag, p->ch, O.eps[p->ep].host, O.eps[p->ep].port,
		                 O.token ? "Authorization: Bearer " : "",
		                 O.token ? O.token : "", O.token ? "\r\n" : "",
		                 (size_t)rl + body + 3, rec);
		w += r;
		p->outstanding++;
	} else if (!via_emit()) {
		int r = snprintf(w, 256,
		                 "POST /pub?id=%s-%u&all=%s-all HTTP/1.1\r\nHost: %s:%d\r\n"
		                 "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
		                 O.tag, p->ch, O.tag, O.eps[p->ep].host, O.eps[p->ep].port, body);
		w += r;
		p->outstanding++;
	}
	memcpy(w, head, (size_t)h);
	memset(w + h, 'x', body - (size_t)h);
	w += body;
	if (is_bcast() && !via_emit())
		w += sprintf(w, "\"}\n");
	else if (via_emit())
		*w++ = '\n';
	p->out_len = (size_t)(w - p->out);
	p->next_k++;
}

static size_t pub_room(const struct pub *p)
{
	return PUB_OUT_MAX - p->out_len;
}

static size_t line_cost(void)
{
	return (size_t)O.size + 1024;
}

static void pub_flush(int ep, struct pub *p)
{
	chunk_close(p);
	while (p->out_off < p->out_len && !p->dead) {
		ssize_t w = write(p->fd, p->out + p->out_off, p->out_len - p->out_off);
		if (w > 0) {
			p->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (!p->want_out) {
				struct epoll_event ev = { .events = EPOLLOUT | (via_emit() ? 0 : EPOLLIN),
				                          .data.ptr = p };
				epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
				p->want_out = 1;
			}
			return;
		}
		p->dead = 1;
		pub_errors++;
		return;
	}
	if (p->out_off == p->out_len) {
		p->out_off = p->out_len = 0;
		if (p->want_out) {
			struct epoll_event ev = { .events = via_emit() ? 0 : EPOLLIN, .data.ptr = p };
			epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
			p->want_out = 0;
		}
	}
}

static void pub_read(struct pub *p, char *buf)
{
	ssize_t n = read(p->fd, buf, 65536);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && p->outstanding == 0) {
		p->dead = 1;           /* answered, then closed (a stream's end) */
		return;
	}
	if (n <= 0 || sr_feed(&p->rd, buf, (size_t)n, &pub_cb, p) < 0) {
		if (!p->dead)
			pub_errors++;
		p->dead = 1;
	}
}

static uint64_t received_total(void)
{
	uint64_t r = 0;
	for (int k = 0; k < O.procs; k++)
		r += atomic_load(&S->w[k].received);
	return r;
}

/* ---- the run --------------------------------------------------------- */

static void parse_url(struct endpoint *e)
{
	const char *u = e->url;
	if (strncmp(u, "http://", 7) != 0)
		die("--url must be http://HOST:PORT");
	u += 7;
	const char *colon = strchr(u, ':');
	if (!colon || (size_t)(colon - u) >= sizeof e->host)
		die("--url must be http://HOST:PORT");
	memcpy(e->host, u, (size_t)(colon - u));
	e->host[colon - u] = 0;
	e->port = atoi(colon + 1);
	struct in_addr tmp;
	if (e->port <= 0 || e->port > 65535 || inet_pton(AF_INET, e->host, &tmp) != 1)
		die("--url must be http://IPV4:PORT");
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || d < lo || d > hi)
		die("bad %s: '%s' (%g..%g)", name, v, lo, hi);
	return d;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", 1, 0, 'T' }, { "url", 1, 0, 'u' }, { "subs", 1, 0, 'n' },
		{ "threads", 1, 0, 't' }, { "per-thread", 0, 0, 'P' }, { "lines", 1, 0, 'm' },
		{ "rate", 1, 0, 'r' }, { "size", 1, 0, 's' }, { "window", 1, 0, 'w' },
		{ "timeout", 1, 0, 'o' }, { "drain", 1, 0, 'd' }, { "connect-timeout", 1, 0, 'c' },
		{ "idle", 0, 0, 'i' }, { "hold", 1, 0, 'H' }, { "procs", 1, 0, 'p' },
		{ "src-spread", 1, 0, 'S' }, { "server-pid", 1, 0, 'x' }, { "emit", 1, 0, 'e' },
		{ "redis", 1, 0, 'R' }, { "emit-log", 1, 0, 'L' }, { "pipeline", 1, 0, 'k' },
		{ "tag", 1, 0, 'g' }, { "duration", 1, 0, 'D' }, { "help", 0, 0, 'h' },
		{ "publish", 1, 0, 'B' }, { "token", 1, 0, 'K' }, { "pin-publisher", 1, 0, 'Y' },
		{ "pin-subscribers", 1, 0, 'Z' }, { "pub-spread", 0, 0, 'Q' },
		{ "aux-pid", 1, 0, 'a' },
		{ 0, 0, 0, 0 }
	};
	static char tagbuf[32];
	int c;

	O.target = NULL;
	O.emit = "bcast-emit";
	O.publish = "emit";
	O.pin_pub = O.pin_sub = -1;
	O.redis = "none";
	O.emit_log = "/dev/null";
	O.subs = 1;
	O.threads = 1;
	O.lines = 1000;
	O.size = 64;
	O.pipeline = 32;
	O.src_spread = 64;
	O.timeout = 60;
	O.drain = 5;
	O.connect_timeout = 30;
	O.hold = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'T': O.target = optarg; break;
		case 'u':
			if (O.neps == MAX_URLS)
				die("too many --url");
			O.eps[O.neps++].url = optarg;
			O.url = O.eps[0].url;
			break;
		case 'Q': O.pub_spread = 1; break;
		case 'a':
			if (O.naux == MAX_PIDS)
				die("too many --aux-pid");
			O.aux[O.naux++] = (pid_t)num_arg("--aux-pid", optarg, 1, INT_MAX);
			break;
		case 'n': O.subs = (long)num_arg("--subs", optarg, 0, 1e7); break;
		case 't': O.threads = (long)num_arg("--threads", optarg, 1, 1e5); break;
		case 'P': O.per_thread = 1; break;
		case 'm': O.lines = (long)num_arg("--lines", optarg, 0, 4e9); break;
		case 'r': O.rate = num_arg("--rate", optarg, 0, 1e9); break;
		case 's': O.size = (long)num_arg("--size", optarg, 1, 1 << 20); break;
		case 'w': O.window = (long)num_arg("--window", optarg, 0, 1e9); break;
		case 'o': O.timeout = num_arg("--timeout", optarg, 0.1, 86400); break;
		case 'd': O.drain = num_arg("--drain", optarg, 0.1, 3600); break;
		case 'c': O.connect_timeout = num_arg("--connect-timeout", optarg, 0.1, 3600); break;
		case 'i': O.idle = 1; break;
		case 'H': O.hold = num_arg("--hold", optarg, 0, 3600); break;
		case 'p': O.procs = (long)num_arg("--procs", optarg, 1, MAX_PROCS); break;
		case 'S': O.src_spread = (long)num_arg("--src-spread", optarg, 0, 254); break;
		case 'x':
			if (O.npids == MAX_PIDS)
				die("too many --server-pid");
			O.pids[O.npids++] = (pid_t)num_arg("--server-pid", optarg, 1, INT_MAX);
			break;
		case 'e': O.emit = optarg; break;
		case 'R': O.redis = optarg; break;
		case 'L': O.emit_log = optarg; break;
		case 'k': O.pipeline = (long)num_arg("--pipeline", optarg, 1, 4096); break;
		case 'g': O.tag = optarg; break;
		case 'D': O.duration = num_arg("--duration", optarg, 0, 86400); break;
		case 'B': O.publish = optarg; break;
		case 'K': O.token = optarg; break;
		case 'Y': O.pin_pub = (int)num_arg("--pin-publisher", optarg, 0, 1023); break;
		case 'Z': O.pin_sub = (int)num_arg("--pin-subscribers", optarg, 0, 1023); break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!O.target || (strcmp(O.target, "bcast") && strcmp(O.target, "nchan") &&
	                  strcmp(O.target, "self")))
		die("--target must be bcast, nchan or self");
	if (strcmp(O.publish, "emit") && strcmp(O.publish, "post") && strcmp(O.publish, "stream"))
		die("--publish must be emit, post or stream");
	if (strcmp(O.target, "self") == 0) {
		O.threads = 1;
		O.per_thread = 0;
		O.idle = 0;
		O.rate = 0;
	} else {
		if (!O.neps)
			die("--url is required");
		for (int i = 0; i < O.neps; i++)
			parse_url(&O.eps[i]);
		memcpy(O.host, O.eps[0].host, sizeof O.host);
		O.port = O.eps[0].port;
	}
	if (!O.tag) {
		snprintf(tagbuf, sizeof tagbuf, "lg%d-%ld", (int)getpid(), (long)time(NULL) % 100000);
		O.tag = tagbuf;
	}
	if (O.idle)
		O.lines = 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv);
	raise_nofile();

	long per_proc = nofile_limit() - 200;
	if (per_proc < 100)
		die("file descriptor limit too low (%ld)", nofile_limit());
	if (!O.procs)
		O.procs = (O.subs + per_proc - 1) / per_proc;
	if (O.procs < 1)
		O.procs = 1;
	if (O.procs > MAX_PROCS)
		die("%ld subscribers need more than %d processes at this fd limit", O.subs, MAX_PROCS);
	if ((O.subs + O.procs - 1) / O.procs > per_proc)
		die("%ld subscribers in %ld processes pass the fd limit %ld", O.subs, O.procs,
		    nofile_limit());
	double bitmap_bytes = (O.per_thread ? (double)O.lines / (double)O.threads : (double)O.lines) *
	                      (double)O.subs / 8;
	if (bitmap_bytes > 4e9)
		die("subs x lines needs %.1f GB of bitmaps; use fewer lines", bitmap_bytes / 1e9);

	S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		die("mmap: %s", strerror(errno));

	int self = strcmp(O.target, "self") == 0;
	pid_t blaster = 0;
	if (self) {
		int lfd = blaster_listen();
		blaster = fork();
		if (blaster == 0)
			blaster_main(lfd);
		close(lfd);
		static char urlbuf[64];
		snprintf(urlbuf, sizeof urlbuf, "http://127.0.0.1:%d", O.port);
		O.url = O.eps[0].url = urlbuf;
	}

	long rss0 = server_kb("VmRSS:");
	double cpu0 = server_cpu_s(), aux0 = pids_cpu_s(O.aux, O.naux);
	uint64_t t_cpu0 = now_ns();
	int hwm_ok = server_reset_hwm();
	rss_peak_kb = rss0;
	uint64_t t_setup = now_ns();

	pid_t workers[MAX_PROCS];
	fflush(NULL);
	for (int k = 0; k < O.procs; k++) {
		workers[k] = fork();
		if (workers[k] < 0)
			die("fork: %s", strerror(errno));
		if (workers[k] == 0)
			sub_main(k);
	}
	uint64_t setup_limit = now_ns() + sec_ns(O.connect_timeout + 5);
	for (;;) {
		int done = 1;
		for (int k = 0; k < O.procs; k++)
			if (!atomic_load(&S->w[k].setup_done) && !atomic_load(&S->w[k].finished))
				done = 0;
		if (done || now_ns() > setup_limit)
			break;
		nap_sampling(20);
	}
	uint64_t ready = 0, failed = 0;
	for (int k = 0; k < O.procs; k++) {
		ready += atomic_load(&S->w[k].ready);
		failed += atomic_load(&S->w[k].failed);
	}
	double setup_s = (double)(now_ns() - t_setup) / 1e9;
	long rss_setup = server_kb("VmRSS:");

	long rssN = -1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	char *rbuf = malloc(65536);
	uint64_t published = 0, t_pub = 0, t_pub_end = 0;
	int timed_out = 0, stalled = 0;
	double pub_cpu = 0;

	if (O.idle) {
		nap_sampling((long)(O.hold * 1000));
		rssN = server_kb("VmRSS:");
		atomic_store(&S->release, 1);
	} else {
		uint64_t t = (uint64_t)O.threads, m = (uint64_t)O.lines;
		pin_to(O.pin_pub);
		pubs = calloc((size_t)t, sizeof *pubs);
		if (!pubs || !rbuf || ep < 0)
			die("out of memory");
		for (uint32_t ch = 0; !self && ch < t; ch++) {
			struct pub *p = &pubs[ch];
			p->ch = ch;
			p->ep = pub_ep(ch);
			p->nlines = lines_for(m, t, ch);
			p->out = malloc(PUB_OUT_MAX + 1024);
			if (!p->out)
				die("out of memory");
			if (via_emit()) {
				p->pid = spawn_emit(ch, &p->fd);
			} else {
				p->fd = server_connect(&O.eps[p->ep]);
				sr_init(&p->rd, SR_REPLIES);
			}
			if (via_stream()) {
				p->out_len = (size_t)sprintf(p->out,
					"POST /api/runs/%s-%u/logs HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s"
					"Content-Type: application/x-ndjson\r\n"
					"Transfer-Encoding: chunked\r\n\r\n", O.tag, ch, O.eps[p->ep].host,
					O.eps[p->ep].port,
					O.token ? "Authorization: Bearer " : "", O.token ? O.token : "",
					O.token ? "\r\n" : "");
				p->outstanding = 1;
			}
			struct epoll_event ev = { .events = via_emit() ? 0 : EPOLLIN, .data.ptr = p };
			epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev);
		}
		nap_sampling(via_emit() ? 300 : 100);
		cpu0 = server_cpu_s();
		aux0 = pids_cpu_s(O.aux, O.naux);
		t_cpu0 = now_ns();

		struct rusage ru0;
		getrusage(RUSAGE_SELF, &ru0);
		t_pub = now_ns();
		uint64_t deadline = t_pub + sec_ns(O.timeout);
		atomic_store(&S->deadline_ns, deadline);
		atomic_store(&S->pub_start_ns, t_pub);
		double fanout = O.per_thread ? (double)ready / (double)t : (double)ready;
		uint64_t next_g = 0, last_sample = 0, last_recv = 0, last_recv_at = t_pub;
		struct epoll_event evs[256];

		while (!self) {
			uint64_t now = now_ns();
			if (now > deadline) {
				timed_out = 1;
				break;
			}
			int closing = O.duration > 0 && now > t_pub + sec_ns(O.duration);
			int all_done = 1, blocked = 0;
			if (O.rate > 0) {
				uint64_t due = (uint64_t)((double)(now - t_pub) * O.rate / 1e9) + 1;
				if (due > m)
					due = m;
				while (!closing && next_g < due) {
					struct pub *p = &pubs[next_g % t];
					if (p->dead) {
						next_g++;
						continue;
					}
					if (pub_room(p) < line_cost())
						break;
					pub_append(p, next_g++);
				}
				if (!closing && next_g < m)
					all_done = 0;
			} else {
				for (uint64_t ch = 0; ch < t; ch++) {
					struct pub *p = &pubs[ch];
					while (!closing && !p->dead && p->next_k < p->nlines &&
					       p->out_len < 65536 &&
					       (via_emit() || p->outstanding < O.pipeline)) {
						if (O.window > 0 && fanout > 0 &&
						    (double)published - (double)received_total() / fanout >
						            (double)O.window) {
							blocked = 1;
							break;
						}
						pub_append(p, ch + p->next_k * t);
						published++;
					}
					if (!closing && !p->dead && p->next_k < p->nlines)
						all_done = 0;
				}
			}
			for (uint64_t ch = 0; ch < t; ch++) {
				pub_flush(ep, &pubs[ch]);
				if (!pubs[ch].dead && pubs[ch].out_len)
					all_done = 0;
			}
			if (all_done)
				break;
			uint64_t r = received_total();
			if (r != last_recv) {
				last_recv = r;
				last_recv_at = now;
			} else if (blocked && now - last_recv_at > sec_ns(O.drain)) {
				stalled = 1;
				break;
			}
			int timeout_ms = 1;
			if (O.rate > 0 && next_g < m) {
				double next_at = (double)t_pub + (double)next_g * 1e9 / O.rate;
				double wait = (next_at - (double)now_ns()) / 1e6;
				timeout_ms = wait <= 0 ? 0 : (int)wait + 1;
				if (timeout_ms > 50)
					timeout_ms = 50;
			}
			int n = epoll_wait(ep, evs, 256, timeout_ms);
			for (int e = 0; e < n; e++) {
				struct pub *p = evs[e].data.ptr;
				if (evs[e].events & EPOLLIN)
					pub_read(p, rbuf);
				if (evs[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					pub_flush(ep, p);
			}
			if (now_ns() - last_sample > 50000000u) {
				sample_rss();
				last_sample = now_ns();
			}
		}
		if (self) {
			while (!atomic_load(&S->blaster_done) && now_ns() < deadline)
				nap_sampling(5);
			timed_out = !atomic_load(&S->blaster_done);
			published = timed_out ? 0 : m;
		} else if (O.rate > 0) {
			published = next_g;
		}
		struct rusage ru1;
		getrusage(RUSAGE_SELF, &ru1);
		pub_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		          (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
		          (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		          (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
		/* Streams end with their last chunk; the answers are read below. */
		for (uint64_t ch = 0; via_stream() && ch < t; ch++) {
			struct pub *p = &pubs[ch];
			uint64_t lim = now_ns() + sec_ns(5);
			chunk_close(p);
			memcpy(p->out + p->out_len, "0\r\n\r\n", 5);
			p->out_len += 5;
			while (!p->dead && p->out_len > p->out_off && now_ns() < lim) {
				pub_flush(ep, p);
				if (p->out_len > p->out_off)
					usleep(1000);
			}
		}
		t_pub_end = now_ns();
		atomic_store(&S->published, published);
		atomic_store(&S->pub_end_ns, t_pub_end);
		for (uint64_t ch = 0; !self && ch < t; ch++)
			if (via_emit() && pubs[ch].fd >= 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, pubs[ch].fd, NULL);
				close(pubs[ch].fd);
				pubs[ch].fd = -1;
			}
	}

	/* Wait for the subscriber processes; they stop on their own. */
	uint64_t wait_limit = now_ns() + sec_ns(O.timeout + O.drain + 10);
	int alive = O.procs;
	int wstatus[MAX_PROCS] = { 0 };
	while (alive > 0) {
		alive = 0;
		for (int k = 0; k < O.procs; k++) {
			if (workers[k] <= 0)
				continue;
			if (waitpid(workers[k], &wstatus[k], WNOHANG) == workers[k])
				workers[k] = -workers[k];
			else
				alive++;
		}
		if (!alive)
			break;
		if (now_ns() > wait_limit) {
			for (int k = 0; k < O.procs; k++)
				if (workers[k] > 0) {
					kill(workers[k], SIGKILL);
					waitpid(workers[k], &wstatus[k], 0);
				}
			break;
		}
		if (!O.idle && !via_emit() && !self) {
			struct epoll_event evs[64];
			int n = epoll_wait(ep, evs, 64, 20);
			for (int e = 0; e < n; e++)
				if (evs[e].events & EPOLLIN)
					pub_read(evs[e].data.ptr, rbuf);
			sample_rss();
		} else {
			nap_sampling(20);
		}
	}
	atomic_store(&S->release, 1);
	double srv_cpu = server_cpu_s() - cpu0, aux_cpu = pids_cpu_s(O.aux, O.naux) - aux0;
	double srv_wall = (double)(now_ns() - t_cpu0) / 1e9;
	long hwm = hwm_ok ? server_kb("VmHWM:") : -1;
	if (hwm > rss_peak_kb)
		rss_peak_kb = hwm;

	/* Reap the emitters: they end once their stdin closed and the hub took the lines. */
	int emit_fail = 0, emit_killed = 0;
	double emit_cpu = 0;
	if (via_emit() && pubs) {
		struct rusage rb, ra;
		getrusage(RUSAGE_CHILDREN, &rb);
		uint64_t lim = now_ns() + sec_ns(10);
		for (;;) {
			int left = 0;
			for (long ch = 0; ch < O.threads; ch++) {
				struct pub *p = &pubs[ch];
				int st;
				if (p->pid <= 0)
					continue;
				if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
					if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
						emit_fail++;
					p->pid = 0;
				} else if (now_ns() > lim) {
					kill(p->pid, SIGKILL);
					waitpid(p->pid, &st, 0);
					emit_killed++;
					p->pid = 0;
				} else {
					left++;
				}
			}
			if (!left)
				break;
			usleep(10000);
		}
		getrusage(RUSAGE_CHILDREN, &ra);
		emit_cpu = (double)(ra.ru_utime.tv_sec - rb.ru_utime.tv_sec) +
		           (double)(ra.ru_utime.tv_usec - rb.ru_utime.tv_usec) / 1e6 +
		           (double)(ra.ru_stime.tv_sec - rb.ru_stime.tv_sec) +
		           (double)(ra.ru_stime.tv_usec - rb.ru_stime.tv_usec) / 1e6;
	}
	if (blaster > 0) {
		kill(blaster, SIGKILL);
		waitpid(blaster, NULL, 0);
	}

	/* Aggregate. */
	struct wstat tot = { 0 };
	int workers_lost = 0;
	uint64_t *hist = calloc(HBUCKETS, sizeof *hist);
	for (int k = 0; k < O.procs; k++) {
		struct wstat *w = &S->w[k];
		if (!atomic_load(&w->finished)) {
			workers_lost++;
			continue;
		}
		tot.owed_subs += w->owed_subs;
		tot.expected += w->expected;
		tot.unique += w->unique;
		tot.dup += w->dup;
		tot.ooo += w->ooo;
		tot.foreign += w->foreign;
		tot.other += w->other;
		tot.disconnects += w->disconnects;
		tot.perr += w->perr;
		tot.cpu_s += w->cpu_s;
		if (w->wall_s > tot.wall_s)
			tot.wall_s = w->wall_s;
		if (w->max_us > tot.max_us)
			tot.max_us = w->max_us;
		if (w->last_ns > tot.last_ns)
			tot.last_ns = w->last_ns;
		for (int i = 0; i < HBUCKETS; i++)
			hist[i] += w->hist[i];
	}
	uint64_t lost = tot.expected > tot.unique ? tot.expected - tot.unique : 0;
	double span = tot.last_ns > t_pub && t_pub ? (double)(tot.last_ns - t_pub) / 1e9 : 0;
	double evps = span > 0 ? (double)tot.unique / span : 0;
	double pub_s = t_pub_end > t_pub ? (double)(t_pub_end - t_pub) / 1e9 : 0;
	double active = span > pub_s ? span : pub_s;
	const char *status = "ok";
	if (workers_lost)
		status = "loadgen-worker-lost";
	else if (timed_out)
		status = "timeout";
	else if (stalled)
		status = "stalled";
	else if (failed)
		status = "subscribers-failed";
	else if (lost || tot.dup || tot.ooo || tot.foreign)
		status = "errors";
	else if (tot.disconnects)
		status = "disconnects";
	else if (pub_errors || emit_fail || emit_killed)
		status = "publish-errors";

	printf("target=%s subs=%ld ready=%" PRIu64 " connfail=%" PRIu64 " threads=%ld per_thread=%d"
	       " size=%ld rate=%g lines=%ld published=%" PRIu64 " expected=%" PRIu64
	       " received=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64 " ooo=%" PRIu64
	       " foreign=%" PRIu64 " other=%" PRIu64 " disconnects=%" PRIu64 " proto_err=%" PRIu64
	       " pub_errors=%" PRIu64 " emit_fail=%d emit_killed=%d"
	       " evps=%.0f pub_lps=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64 " p999_us=%" PRIu64
	       " max_us=%" PRIu64 " rss0_kb=%ld rss_peak_kb=%ld",
	       O.target, O.subs, ready, failed, O.threads, O.per_thread, O.size, O.rate, O.lines,
	       published, tot.expected, tot.unique, lost, tot.dup, tot.ooo, tot.foreign, tot.other,
	       tot.disconnects, tot.perr, pub_errors, emit_fail, emit_killed, evps,
	       pub_s > 0 ? (double)published / pub_s : 0,
	       hist_pct(hist, tot.unique, 50, tot.max_us), hist_pct(hist, tot.unique, 99, tot.max_us),
	       hist_pct(hist, tot.unique, 99.9, tot.max_us), tot.max_us, rss0, rss_peak_kb);
	if (O.idle)
		rss_setup = rssN;
	printf(" rss_ready_kb=%ld per_conn_b=%.0f", rss_setup,
	       ready && O.npids ? (double)(rss_setup - rss0) * 1024.0 / (double)ready : 0);
	printf(" srv_ns_per_ev=%.0f", tot.unique ? srv_cpu * 1e9 / (double)tot.unique : 0);
	printf(" setup_s=%.2f pub_s=%.2f span_s=%.2f srv_cpu_pct=%.0f lg_cpu_pct=%.0f"
	       " pub_cpu_pct=%.0f emit_cpu_pct=%.0f aux_cpu_pct=%.0f urls=%d procs=%ld status=%s\n",
	       setup_s, pub_s, span, srv_wall > 0 ? 100 * srv_cpu / srv_wall : 0,
	       tot.wall_s > 0 ? 100 * tot.cpu_s / tot.wall_s : 0,
	       pub_s > 0 ? 100 * pub_cpu / pub_s : 0, active > 0 ? 100 * emit_cpu / active : 0,
	       srv_wall > 0 ? 100 * aux_cpu / srv_wall : 0, O.neps, O.procs, status);
	free(hist);
	if (fflush(stdout) != 0)
		return 2;
	return strcmp(status, "ok") == 0 ? 0 : 1;
}
