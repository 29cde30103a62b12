/* workers.h - bcast-hub --workers N: N processes serving one port as one
 * hub, under a supervising parent.
 *
 * The parent forks the workers, each with its own socketpair to it and its
 * own slot of the shared counters (metrics.h); each worker binds the same
 * address with SO_REUSEPORT (the kernel spreads connections over them) and
 * runs the normal hub. The parent binds nothing: main checks the address
 * before forking (bind and close, so "port in use" is exit 69 once).
 *
 * The parent restarts a worker that dies, RESTART_MS later (doubling up to
 * RESTART_MAX_MS while workers keep dying within a second of their start),
 * forwards SIGTERM/SIGINT to every worker (each drains its streams) and
 * exits 0 once all are gone. A worker that exits before any worker said it
 * listens (a start-up failure) makes the parent stop the others and exit
 * with the worker's exit code.
 *
 * Without Redis the parent is the bus (bus_relay.c): a worker sends each
 * bus message to the parent (length-prefixed), the parent gives it the
 * position "MS-SEQ" (MS: the parent's start in ms, SEQ: a counter) and
 * sends it to every worker, the origin included, in one order. It keeps
 * the latest entries (a ring) and sends them first to a worker it
 * (re)starts, as the prefill of its resume rings. The parent never waits
 * on a worker: what a worker has not read yet is queued, and a worker more
 * than WORKERS_BEHIND_MAX bytes behind is killed (SIGKILL) and restarted;
 * its clients reconnect and resume. */
#ifndef BCAST_HUB_WORKERS_H
#define BCAST_HUB_WORKERS_H

#include <stddef.h>

#include "metrics.h"

#define WORKERS_BEHIND_MAX ((size_t)64 << 20) /* plus the prefill ring */
#define WORKERS_FRAME_MAX ((size_t)16 << 20)  /* largest relayed message */

/* Frame kinds on a worker's socketpair. Each frame is a 4-byte length
 * (big-endian, of what follows), a kind byte, then its payload. */
enum {
	WORKERS_READY = 'R',   /* worker -> parent: it listens; no payload */
	WORKERS_MSG = 'M',     /* worker -> parent: one bus message */
	WORKERS_ENTRY = 'E',   /* parent -> worker: a bus entry */
	WORKERS_PREFILL = 'P', /* parent -> worker: an entry from before it */
};
/* An entry's payload: one byte, the length L of its id, the L-byte id
 * "MS-SEQ", then the message. */

/* A frame's 4-byte length, written and read. */
static inline void workers_put32(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline size_t workers_get32(const unsigned char *p)
{
	return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

struct workers_cfg {
	int n;                    /* processes, >= 2 */
	int relay;                /* 1: the parent relays bus messages */
	size_t ring_events;       /* entries kept for the prefill (0: none) */
	size_t ring_bytes;        /* and at most this many message bytes */
	struct hub_shared *shared;/* n slots, made before the call */
};

/* In a worker: who it is. */
struct worker_self {
	int index;                /* 0..n-1, its slot in shared */
	int fd;                   /* its end of the socketpair to the parent */
};

/* The default number of workers: the online cores (at least 1). */
int workers_default(void);

/* Fork cfg->n workers and supervise them. Returns only in a worker, with
 * self filled (signals back to default and unblocked, the parent's other
 * descriptors closed); the worker must call workers_ready() once it
 * listens. The parent never returns: it exits 0 after SIGTERM/SIGINT once
 * every worker is gone, or with a worker's exit code when start-up fails. */
void workers_run(const struct workers_cfg *cfg, struct worker_self *self);

/* In a worker: tell the parent it listens. */
void workers_ready(const struct worker_self *self);

struct bus;
struct event_base;
/* In a worker (bus_relay.c): make the parent's relay on fd the transport
 * of bus b, on base. The link is up at once; entries (and first the
 * prefill) come as the parent sends them. The bus owns the transport
 * (freed by bus_free, which closes fd). 0, or -1 on out-of-memory. */
int bus_relay_attach(struct bus *b, struct event_base *base, int fd);

#endif
