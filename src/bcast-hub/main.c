/* bcast-hub - the SSE server: live fan-out of log lines and admin events,
 * history over REST, health and metrics.
 *
 * main reads the options (flag beats environment beats default), raises
 * the open-file limit and keeps --max-clients below it (guard.c), opens
 * the store (if it cannot, the hub still streams and history answers 503
 * until it can), binds the listener with its accept guard and runs the
 * libevent loop. SIGTERM/SIGINT stop accepting, deliver what is
 * pending, end every stream with its terminating chunk and exit 0 once
 * they are written, or after SHUTDOWN_S at the latest. A second signal
 * exits at once. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "bc_config.h"
#include "bc_redis.h"
#include "bc_url.h"
#include "cli.h"
#include "conns.h"
#include "authopt.h"
#include "guard.h"
#include "hub.h"
#include "ingest.h"
#include "workers.h"

#define PROG "bcast-hub"
#define SHUTDOWN_S 2
#define MAX_HEADERS_SIZE 16384
#define LISTEN_BACKLOG 4096
#define REDIS_PROBE_MS 1000

static const char usage_text[] =
"Usage: " PROG " [OPTION]...\n"
"Serve live log lines and admin events over Server-Sent Events, history\n"
"from the database over REST, /healthz and /metrics.\n"
"\n"
"      --listen ADDR:PORT   where to listen (BCAST_LISTEN, 127.0.0.1:8090)\n"
"      --db URL             sqlite:PATH or postgresql://... for history\n"
"                           (BCAST_DB, sqlite:$STATE/bcast.db)\n"
"      --redis URL          Redis whose buffered lines history and resume\n"
"                           read, or 'none' (BCAST_REDIS; unset: the default\n"
"                           redis://127.0.0.1:6379 if it answers at start)\n"
"      --bus-maxlen N       entries the bus between hubs sharing the Redis\n"
"                           keeps (XADD MAXLEN ~; BCAST_BUS_MAXLEN, default\n"
"                           10000; each entry at most 64K: Redis holds at\n"
"                           most about N x 64K for it)\n"
"      --bus-outbox BYTES   what the hub ingests while Redis is away is kept\n"
"                           for the other hubs up to this size, oldest dropped\n"
"                           first (BCAST_BUS_OUTBOX, default 64M)\n"
"      --spool DIR          spool journals history and resume read\n"
"                           (BCAST_SPOOL, $STATE/spool)\n"
"      --workers N          processes serving one port as one hub, under a\n"
"                           supervisor (BCAST_WORKERS, default: the number\n"
"                           of cores; 1: one process, no supervisor)\n"
"      --read-threads N     threads per process for DB, Redis and spool reads\n"
"                           (BCAST_READ_THREADS, default 3; one more\n"
"                           serializes flushes)\n"
"      --token T            publish credential: POSTs need 'Authorization:\n"
"                           Bearer T'; it may also read (BCAST_TOKEN)\n"
"      --token-file F       read --token from file F (BCAST_TOKEN_FILE)\n"
"      --read-token T       read credential: every GET but /healthz then\n"
"                           needs a credential (BCAST_READ_TOKEN)\n"
"      --read-token-file F  read --read-token from file F\n"
"                           (BCAST_READ_TOKEN_FILE)\n"
"      --jwt-secret-file F  HS256 secret (32+ bytes) of scoped, expiring read\n"
"                           tokens (BCAST_JWT_SECRET_FILE); reads then need a\n"
"                           credential; bcast-event --mint-token makes one\n"
"      --cors-origin O      let pages of origin O (scheme://host[:port]) read\n"
"                           and post, with credentials; repeatable\n"
"                           (BCAST_CORS_ORIGINS, comma-separated)\n"
"      --cookie-secure      mark the session cookie Secure (BCAST_COOKIE_SECURE=1);\n"
"                           also done when X-Forwarded-Proto is https\n"
"      --metrics-public     /metrics needs no credential (BCAST_METRICS_PUBLIC=1)\n"
"      --insecure           allow a non-loopback --listen with no publish and\n"
"                           read credential (BCAST_INSECURE=1)\n"
"      --resume-events N    events of the global and of the admin stream kept\n"
"                           for clients that resume (BCAST_RESUME_EVENTS,\n"
"                           default 10000; 0: none)\n"
"      --resume-bytes BYTES and at most this many bytes each\n"
"                           (BCAST_RESUME_BYTES, default 16M)\n"
"      --keepalive SECONDS  keepalive comment period (default 15; 0: none)\n"
"      --max-clients N      open SSE streams allowed (default 50000)\n"
"      --backlog BYTES      unsent output a subscriber may have before it is\n"
"                           disconnected as too slow (default 4M)\n"
"      --max-body BYTES     largest POST body (default 16M)\n"
"      --timeout SECONDS    time a request may take to arrive, and a stalled\n"
"                           write to a client may wait (default 30)\n"
"      --max-conns N        connections other than streams (default 192,\n"
"                           lowered to fit the open-file limit); past it idle\n"
"                           ones are closed, oldest first (BCAST_MAX_CONNS)\n"
"      --max-conns-per-addr N  the same for one client address (default 64;\n"
"                           BCAST_MAX_CONNS_PER_ADDR)\n"
"      --memory-cap BYTES   memory for history answers and request bodies\n"
"                           being handled; past it 503 with Retry-After\n"
"                           (default 256M; BCAST_MEMORY_CAP)\n"
"      --db-timeout SECONDS connecting to the database, and each query, give\n"
"                           up after this long: 503 (default 10;\n"
"                           BCAST_DB_TIMEOUT)\n"
"  -h, --help               show this help and exit\n"
"      --version            show the version and exit\n"
"\n"
"BYTES take an optional K, M or G suffix (powers of 1024). Every numeric\n"
"option also comes from BCAST_ and its name (BCAST_MAX_BODY, ...).\n"
"Exit status: 0 after SIGTERM/SIGINT, 64 bad usage (also: a non-loopback\n"
"address with no credential, an unreadable credential file), 69 cannot\n"
"listen, 75 the Redis given with --redis or BCAST_REDIS does not answer.\n";

enum { OPT_LISTEN = 256, OPT_DB, OPT_REDIS, OPT_SPOOL, OPT_WORKERS, OPT_TOKEN,
       OPT_READ_THREADS, OPT_BUS_MAXLEN, OPT_BUS_OUTBOX,
       OPT_KEEPALIVE, OPT_MAX_CLIENTS, OPT_BACKLOG, OPT_MAX_BODY, OPT_TIMEOUT,
       OPT_VERSION, OPT_TOKEN_FILE, OPT_READ_TOKEN, OPT_READ_TOKEN_FILE,
       OPT_JWT_SECRET_FILE, OPT_CORS_ORIGIN, OPT_COOKIE_SECURE,
       OPT_METRICS_PUBLIC, OPT_INSECURE, OPT_MAX_CONNS, OPT_MAX_CONNS_PER_ADDR,
       OPT_MEMORY_CAP, OPT_DB_TIMEOUT, OPT_RESUME_EVENTS, OPT_RESUME_BYTES };

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "db", required_argument, NULL, OPT_DB },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "bus-maxlen", required_argument, NULL, OPT_BUS_MAXLEN },
	{ "bus-outbox", required_argument, NULL, OPT_BUS_OUTBOX },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "read-threads", required_argument, NULL, OPT_READ_THREADS },
	{ "resume-events", required_argument, NULL, OPT_RESUME_EVENTS },
	{ "resume-bytes", required_argument, NULL, OPT_RESUME_BYTES },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "read-token", required_argument, NULL, OPT_READ_TOKEN },
	{ "read-token-file", required_argument, NULL, OPT_READ_TOKEN_FILE },
	{ "jwt-secret-file", required_argument, NULL, OPT_JWT_SECRET_FILE },
	{ "cors-origin", required_argument, NULL, OPT_CORS_ORIGIN },
	{ "cookie-secure", no_argument, NULL, OPT_COOKIE_SECURE },
	{ "metrics-public", no_argument, NULL, OPT_METRICS_PUBLIC },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "backlog", required_argument, NULL, OPT_BACKLOG },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "max-conns-per-addr", required_argument, NULL, OPT_MAX_CONNS_PER_ADDR },
	{ "memory-cap", required_argument, NULL, OPT_MEMORY_CAP },
	{ "db-timeout", required_argument, NULL, OPT_DB_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	long long keepalive, max_clients, backlog, max_body, timeout, workers;
	long long read_threads;
	long long max_conns, max_conns_per_addr, memory_cap, db_timeout;
	long long resume_events, resume_bytes, bus_maxlen;
	long long bus_outbox;
};

/* The numeric options: flag, environment variable, range, K/M/G allowed. */
enum { NUM_MAX_CLIENTS = 1, NUM_WORKERS = 5, NUM_MAX_CONNS = 6 };   /* indexes below */
static const struct numopt {
	int id;
	const char *flag, *env;
	long long min, max;
	int sized;
	size_t off;
} numopts[] = {
	{ OPT_KEEPALIVE, "--keepalive", "BCAST_KEEPALIVE", 0, 86400, 0,
	  offsetof(struct opts, keepalive) },
	{ OPT_MAX_CLIENTS, "--max-clients", "BCAST_MAX_CLIENTS", 1, 10000000, 0,
	  offsetof(struct opts, max_clients) },
	{ OPT_BACKLOG, "--backlog", "BCAST_BACKLOG", 1, 1LL << 40, 1,
	  offsetof(struct opts, backlog) },
	{ OPT_MAX_BODY, "--max-body", "BCAST_MAX_BODY", 1, 1LL << 30, 1,
	  offsetof(struct opts, max_body) },
	{ OPT_TIMEOUT, "--timeout", "BCAST_TIMEOUT", 1, 86400, 0,
	  offsetof(struct opts, timeout) },
	{ OPT_WORKERS, "--workers", "BCAST_WORKERS", 1, 256, 0,
	  offsetof(struct opts, workers) },
	{ OPT_MAX_CONNS, "--max-conns", "BCAST_MAX_CONNS", 1, 1000000, 0,
	  offsetof(struct opts, max_conns) },
	{ OPT_MAX_CONNS_PER_ADDR, "--max-conns-per-addr", "BCAST_MAX_CONNS_PER_ADDR",
	  1, 1000000, 0, offsetof(struct opts, max_conns_per_addr) },
	{ OPT_MEMORY_CAP, "--memory-cap", "BCAST_MEMORY_CAP", 1, 1LL << 40, 1,
	  offsetof(struct opts, memory_cap) },
	{ OPT_DB_TIMEOUT, "--db-timeout", "BCAST_DB_TIMEOUT", 1, 3600, 0,
	  offsetof(struct opts, db_timeout) },
	{ OPT_RESUME_EVENTS, "--resume-events", "BCAST_RESUME_EVENTS", 0,
	  100000000, 0, offsetof(struct opts, resume_events) },
	{ OPT_RESUME_BYTES, "--resume-bytes", "BCAST_RESUME_BYTES", 1, 1LL << 40, 1,
	  offsetof(struct opts, resume_bytes) },
	{ OPT_READ_THREADS, "--read-threads", "BCAST_READ_THREADS", 1, 64, 0,
	  offsetof(struct opts, read_threads) },
	{ OPT_BUS_MAXLEN, "--bus-maxlen", "BCAST_BUS_MAXLEN", 100, 100000000, 0,
	  offsetof(struct opts, bus_maxlen) },
	{ OPT_BUS_OUTBOX, "--bus-outbox", "BCAST_BUS_OUTBOX", 64 << 10, 1LL << 40, 1,
	  offsetof(struct opts, bus_outbox) },
};
#define NNUMOPTS (sizeof numopts / sizeof numopts[0])

static void numopt_set(struct opts *o, const struct numopt *n, const char *v)
{
	*(long long *)((char *)o + n->off) =
		n->sized ? bc_cli_size(n->flag, v, n->min, n->max)
		         : bc_cli_int(n->flag, v, n->min, n->max);
}

struct run {
	struct hub h;
	struct authopt ao;
	struct evhttp_bound_socket *bound;
	struct accept_guard *guard;
	struct event *deadline;
	int stopping;
};

/* url with a password (scheme://user:PASSWORD@host) replaced by "***". */
static void redact(const char *url, char *out, size_t n)
{
	const char *p = strstr(url, "://"), *at, *colon;

	if (p != NULL && (at = strchr(p + 3, '@')) != NULL &&
	    (colon = memchr(p + 3, ':', (size_t)(at - p - 3))) != NULL) {
		snprintf(out, n, "%.*s:***%s", (int)(colon - url), url, at);
		return;
	}
	snprintf(out, n, "%s", url);
}

/* Resolve addr (HOST:PORT) and check it may be listened on without a
 * credential; exits 64/69 on failure. The caller frees the result. */
static struct addrinfo *listen_resolve(struct run *r, const char *addr)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char err[256], port[16];
	struct bc_url u;
	int rc;

	if (bc_addr_parse(addr, &u, err, sizeof err) != 0)
		bc_usage_error("--listen: %s", err);
	snprintf(port, sizeof port, "%d", u.port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(u.host[0] != '\0' ? u.host : NULL, port, &hints, &ai);
	if (rc != 0)
		bc_die(BC_EX_UNAVAILABLE, "cannot resolve %s: %s", addr,
		       gai_strerror(rc));
	authopt_check_listen(&r->ao, r->h.auth, ai->ai_addr, addr);
	return ai;
}

/* "HOST:PORT" of sa into shown (n bytes), or addr when that fails. */
static void addr_show(const struct sockaddr *sa, socklen_t sl, const char *addr,
                      char *shown, size_t n)
{
	char host[NI_MAXHOST], port[16];

	if (getnameinfo(sa, sl, host, sizeof host, port, sizeof port,
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(shown, n, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	else
		snprintf(shown, n, "%s", addr);
}

/* Before --workers forks: bind ai (no SO_REUSEPORT, so any other holder
 * of the port, a hub too, is found) and close again. A port 0 is replaced
 * in ai by the one the kernel chose, so every worker binds that one.
 * Exits 69 when the port is taken. */
static void listen_probe(struct addrinfo *ai, const char *addr, char *shown,
                         size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		bc_die(BC_EX_UNAVAILABLE, "cannot listen on %s: %s", addr,
		       strerror(errno));
	close(fd);
	if (sl <= ai->ai_addrlen)
		memcpy(ai->ai_addr, &ss, sl);
	addr_show(ai->ai_addr, ai->ai_addrlen, addr, shown, n);
}

/* Bind ai to h's server with its accept guard (with SO_REUSEPORT when
 * shared: every worker binds the same address); exits 69/70 on failure.
 * Writes the bound address to shown. */
static struct evhttp_bound_socket *listen_on(struct run *r, struct addrinfo *ai,
                                             const char *addr, int shared,
                                             char *shown, size_t n)
{
	struct evconnlistener *l;
	struct evhttp_bound_socket *b;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	l = evconnlistener_new_bind(r->h.base, NULL, NULL,
	                            LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
	                            LEV_OPT_CLOSE_ON_EXEC |
	                            (shared ? LEV_OPT_REUSEABLE_PORT : 0),
	                            LISTEN_BACKLOG, ai->ai_addr,
	                            (int)ai->ai_addrlen);
	if (l == NULL)
		bc_die(BC_EX_UNAVAILABLE, "cannot listen on %s: %s", addr,
		       strerror(errno));
	b = evhttp_bind_listener(r->h.http, l);
	if (b == NULL)
		bc_die(BC_EX_UNAVAILABLE, "cannot listen on %s", addr);
	r->guard = accept_guard_new(r->h.base, l, &r->h.metrics->accept_errors);
	if (r->guard == NULL)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &sl) == 0)
		addr_show((struct sockaddr *)&ss, sl, addr, shown, n);
	else
		snprintf(shown, n, "%s", addr);
	return b;
}

/* The Redis the hub reads: none when disabled; one given with --redis,
 * BCAST_REDIS or the configuration file must answer now (else exit 75);
 * the built-in default is used only if it answers, silently. */
static const char *redis_choice(const struct bc_config *cfg, int flag_given)
{
	int asked = flag_given || cfg->redis_asked;
	struct bc_redis *probe;
	char err[512];

	if (bc_config_no_redis(cfg))
		return NULL;
	probe = bc_redis_connect(cfg->redis, REDIS_PROBE_MS, err, sizeof err);
	if (probe == NULL) {
		if (asked)
			bc_die(BC_EX_TEMPFAIL, "%s", err);
		return NULL;
	}
	bc_redis_free(probe);
	return cfg->redis;
}

/* Put h on the bus of the Redis at url (see bus.h); exits 70 on
 * out-of-memory, 64 on a bad URL. */
static void bus_start(struct hub *h, const char *url, const struct opts *o)
{
	char err[512];

	h->bus = bus_new(h);
	if (h->bus == NULL)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	bus_set_prefill(h->bus, (size_t)o->resume_events);
	bus_set_outbox(h->bus, (size_t)o->bus_outbox);
	if (bus_redis_attach(h->bus, h->base, url, o->bus_maxlen, err,
	                     sizeof err) != 0)
		bc_die(BC_EX_USAGE, "--redis: %s", err);
}

static void on_drained(void *arg)
{
	struct run *r = arg;

	event_base_loopbreak(r->h.base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(r->h.base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct run *r = arg;
	struct timeval tv = { SHUTDOWN_S, 0 };

	(void)what;
	if (r->stopping) {
		event_base_loopbreak(r->h.base);
		return;
	}
	r->stopping = 1;
	bc_warn("%s: closing %zu streams", sig == SIGINT ? "SIGINT" : "SIGTERM",
	        fanout_total(r->h.fanout));
	accept_guard_free(r->guard);
	r->guard = NULL;
	if (r->bound != NULL) {
		evhttp_del_accept_socket(r->h.http, r->bound);
		r->bound = NULL;
	}
	ingest_shutdown(r->h.ingest);
	r->deadline = evtimer_new(r->h.base, on_deadline, r);
	if (r->deadline == NULL || evtimer_add(r->deadline, &tv) != 0)
		event_base_loopbreak(r->h.base);
	fanout_shutdown(r->h.fanout, on_drained, r);
}

static void on_gauges(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hub_gauges_publish(arg);
}

/* In a worker of --workers, once it listens: tell the parent, publish the
 * gauges every HUB_GAUGES_MS, and without Redis put the hub on the
 * parent's relay. Returns the gauge timer (the caller frees it). */
static struct event *worker_start(struct run *r, const struct worker_self *self,
                                  int relay)
{
	struct timeval tv = { 0, HUB_GAUGES_MS * 1000 };
	struct event *ev = event_new(r->h.base, -1, EV_PERSIST, on_gauges, &r->h);

	if (ev == NULL || event_add(ev, &tv) != 0)
		bc_die(BC_EX_SOFTWARE, "cannot set up the event loop");
	workers_ready(self);
	if (relay && ((r->h.bus = bus_new(&r->h)) == NULL ||
	              bus_relay_attach(r->h.bus, r->h.base, self->fd) != 0))
		bc_die(BC_EX_SOFTWARE, "cannot set up the relay");
	return ev;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.keepalive = 15, .max_clients = 50000, .backlog = 4 << 20,
		.max_body = 16 << 20, .timeout = 30, .workers = 1,
		.read_threads = 3, .max_conns = HUB_MAX_CONNS,
		.max_conns_per_addr = HUB_MAX_CONNS_PER_ADDR,
		.memory_cap = HUB_MEMORY_CAP, .db_timeout = HUB_DB_TIMEOUT,
		.resume_events = 10000, .resume_bytes = 16 << 20,
		.bus_maxlen = 10000, .bus_outbox = 64 << 20 };
	int numset[NNUMOPTS] = { 0 };
	struct { const char *listen, *db, *redis, *spool; } flag = { 0 };
	struct work_cfg wc;
	struct bc_config cfg;
	struct run r;
	struct fanout_opts fo;
	struct event *sigterm, *sigint;
	char err[512], shown[300], dbshown[1024], redisshown[1024];
	char lowered[96] = "";
	struct bc_store *probe;
	struct addrinfo *ai;
	struct workers_cfg wk = { 0 };
	struct worker_self self = { 0, -1 };
	struct event *gauges = NULL;
	int c, max_clients_set;
	size_t i;
	long long nofile;

	bc_cli_init(PROG);
	memset(&r, 0, sizeof r);
	while ((c = bc_cli_getopt(argc, argv, "h", long_opts)) != -1) {
		switch (c) {
		case OPT_LISTEN: flag.listen = optarg; break;
		case OPT_DB: flag.db = optarg; break;
		case OPT_REDIS: flag.redis = optarg; break;
		case OPT_SPOOL: flag.spool = optarg; break;
		case OPT_TOKEN: r.ao.token = optarg; break;
		case OPT_TOKEN_FILE: r.ao.token_file = optarg; break;
		case OPT_READ_TOKEN: r.ao.read_token = optarg; break;
		case OPT_READ_TOKEN_FILE: r.ao.read_token_file = optarg; break;
		case OPT_JWT_SECRET_FILE: r.ao.jwt_secret_file = optarg; break;
		case OPT_CORS_ORIGIN: authopt_add_origin(&r.ao, optarg); break;
		case OPT_COOKIE_SECURE: r.ao.cookie_secure = 1; break;
		case OPT_METRICS_PUBLIC: r.ao.metrics_public = 1; break;
		case OPT_INSECURE: r.ao.insecure = 1; break;
		case 'h':
			bc_print_help(usage_text);
		case OPT_VERSION:
			bc_print_version();
		default:
			for (i = 0; i < NNUMOPTS && numopts[i].id != c; i++)
				;
			if (i == NNUMOPTS)
				bc_usage_error("unknown option");
			numopt_set(&o, &numopts[i], optarg);
			numset[i] = 1;
		}
	}
	if (optind < argc)
		bc_usage_error("unexpected argument '%s'", argv[optind]);
	bc_cli_config_load(&cfg, argc, argv);
	for (i = 0; i < NNUMOPTS; i++) {
		const char *v = bc_config_get(&cfg, numopts[i].env, NULL);
		if (!numset[i] && v != NULL) {
			numopt_set(&o, &numopts[i], v);
			numset[i] = 1;
		}
	}
	max_clients_set = numset[NUM_MAX_CLIENTS];
	if ((flag.listen != NULL && bc_config_set(&cfg.listen, flag.listen) != 0) ||
	    (flag.db != NULL && bc_config_set(&cfg.db, flag.db) != 0) ||
	    (flag.redis != NULL && bc_config_set(&cfg.redis, flag.redis) != 0) ||
	    (flag.spool != NULL && bc_config_set(&cfg.spool, flag.spool) != 0))
		bc_die(BC_EX_SOFTWARE, "out of memory");
	bc_cli_config_ready(&cfg);
	r.h.auth = authopt_build(&r.ao, &cfg);

	signal(SIGPIPE, SIG_IGN);
	guard_log_init();
	nofile = guard_raise_nofile();
	r.h.max_clients = guard_max_clients(nofile, (size_t)o.max_clients);
	if (r.h.max_clients < (size_t)o.max_clients && max_clients_set)
		bc_warn("--max-clients %lld lowered to %zu: open-file limit %lld",
		        o.max_clients, r.h.max_clients, nofile);
	else if (r.h.max_clients < (size_t)o.max_clients)
		snprintf(lowered, sizeof lowered,
		         ", max-clients %zu (open-file limit %lld)",
		         r.h.max_clients, nofile);
	wc.db_url = cfg.db;
	wc.redis_url = redis_choice(&cfg, flag.redis != NULL);
	wc.spool_dir = cfg.spool;
	wc.readers = (int)o.read_threads;
	wc.db_timeout_s = (int)o.db_timeout;
	r.h.max_body = (size_t)o.max_body;
	budget_init(&r.h.budget, (size_t)o.memory_cap);
	fo.backlog = (size_t)o.backlog;
	fo.keepalive_s = (int)o.keepalive;
	fo.write_timeout_s = (int)o.timeout;
	fo.resume_events = (size_t)o.resume_events;
	fo.resume_bytes = (size_t)o.resume_bytes;

	wk.n = numset[NUM_WORKERS] ? (int)o.workers : workers_default();
	ai = listen_resolve(&r, cfg.listen);
	if (wk.n > 1)
		listen_probe(ai, cfg.listen, shown, sizeof shown);
	redact(cfg.db, dbshown, sizeof dbshown);
	redact(wc.redis_url ? wc.redis_url : "none", redisshown, sizeof redisshown);
	if ((probe = bc_store_open_timeout(cfg.db, (int)o.db_timeout, err,
	                                   sizeof err)) == NULL)
		bc_warn("%s; history answers 503 until the database is back", err);
	bc_store_close(probe);
	if ((wk.shared = hub_shared_new((size_t)wk.n)) == NULL)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	if (wk.n > 1) {
		bc_warn("listening on %s, db %s, redis %s, spool %s, %d workers%s",
		        shown, dbshown, redisshown, cfg.spool, wk.n, lowered);
		wk.relay = wc.redis_url == NULL;
		wk.ring_events = fo.resume_events;
		wk.ring_bytes = 2 * fo.resume_bytes;
		workers_run(&wk, &self);      /* returns in each worker */
	}
	r.h.shared = wk.shared;
	r.h.slot = hub_shared_slot(wk.shared, (size_t)self.index);
	r.h.metrics = &r.h.slot->m;

	r.h.base = event_base_new();
	r.h.http = r.h.base != NULL ? evhttp_new(r.h.base) : NULL;
	r.h.fanout = r.h.base != NULL ? fanout_new(r.h.base, &fo, r.h.metrics) : NULL;
	r.h.conns = r.h.base != NULL ?
	            conns_new(r.h.base, (int)o.timeout,
	                      numset[NUM_MAX_CONNS] ? (size_t)o.max_conns :
	                      guard_max_conns(nofile, (size_t)o.max_conns),
	                      (size_t)o.max_conns_per_addr,
	                      &r.h.metrics->conns_evicted) : NULL;
	r.h.work = r.h.base != NULL ? work_new(r.h.base, &wc) : NULL;
	r.h.ingest = ingest_new(&r.h);
	r.h.timeout_s = (int)o.timeout;
	sigterm = r.h.base != NULL ? evsignal_new(r.h.base, SIGTERM, on_signal, &r) : NULL;
	sigint = r.h.base != NULL ? evsignal_new(r.h.base, SIGINT, on_signal, &r) : NULL;
	if (r.h.http == NULL || r.h.fanout == NULL || r.h.conns == NULL ||
	    r.h.work == NULL || r.h.ingest == NULL ||
	    sigterm == NULL ||
	    sigint == NULL || evsignal_add(sigterm, NULL) != 0 ||
	    evsignal_add(sigint, NULL) != 0)
		bc_die(BC_EX_SOFTWARE, "cannot set up the event loop");
	evhttp_set_allowed_methods(r.h.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	                           EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                           EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
	                           EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(r.h.http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(r.h.http, o.max_body);
	evhttp_set_timeout(r.h.http, (int)o.timeout);
	evhttp_set_bevcb(r.h.http, ingest_bevcb, r.h.ingest);
	evhttp_set_gencb(r.h.http, hub_http_handle, &r.h);
	r.bound = listen_on(&r, ai, cfg.listen, wk.n > 1, shown, sizeof shown);
	freeaddrinfo(ai);
	if (wc.redis_url != NULL)
		bus_start(&r.h, wc.redis_url, &o);
	if (wk.n > 1)
		gauges = worker_start(&r, &self, wk.relay);
	else
		bc_warn("listening on %s, db %s, redis %s, spool %s%s", shown,
		        dbshown, redisshown, cfg.spool, lowered);

	event_base_dispatch(r.h.base);

	if (r.deadline != NULL)
		event_free(r.deadline);
	accept_guard_free(r.guard);
	if (gauges != NULL)
		event_free(gauges);
	event_free(sigterm);
	event_free(sigint);
	work_free(r.h.work);
	evhttp_free(r.h.http);
	ingest_free(r.h.ingest);
	bus_free(r.h.bus);
	fanout_free(r.h.fanout);
	conns_free(r.h.conns);
	auth_free(r.h.auth);
	event_base_free(r.h.base);
	libevent_global_shutdown();
	hub_shared_free(wk.shared);
	bc_config_free(&cfg);
	return BC_EX_OK;
}
