/* bc_store_impl.h - private to the store: the backend vtable behind the
 * opaque struct bc_store (bc_store.c dispatches, bc_store_sqlite.c and
 * bc_store_pg.c implement). Not for programs. */
#ifndef BCAST_STORE_IMPL_H
#define BCAST_STORE_IMPL_H

#include <stddef.h>

#include "bc_store.h"
#include "bc_strv.h"

struct bc_store_ops {
	const char *kind;
	/* Check target's form without connecting; NULL when there is
	 * nothing to check. 0, or -1 with the reason in err. */
	int (*check)(const char *target, char *err, size_t errlen);
	/* Open target (the URL without "sqlite:" for SQLite, the whole URL
	 * for PostgreSQL), create the schema, set st->impl. 0 or -1 with
	 * st->err set, and st->denied when the server refused us
	 * (credentials, no such database or role): trying again won't help. */
	int (*open)(struct bc_store *st, const char *target);
	void (*close)(struct bc_store *st);
	/* Insert n rows in one transaction; rows already present are
	 * skipped when they hold the same line and stream, else nothing is
	 * committed and BC_STORE_CONFLICT is returned with st->err naming
	 * both lines (bc_store_conflict_err). */
	long long (*insert)(struct bc_store *st, const struct bc_record *recs,
	                    size_t n);
	/* desc: newest first */
	long long (*history)(struct bc_store *st, const char *tid,
	                     long long after, long long limit, int desc,
	                     bc_store_row_cb cb, void *arg);
	/* SELECT expr FROM thread_logs WHERE thread_id = tid, as an integer;
	 * expr is one of the library's own constants, never outside input. */
	long long (*aggregate)(struct bc_store *st, const char *tid,
	                       const char *expr);
	int (*set_run)(struct bc_store *st, const char *tid, const char *status,
	               int exit_code);
	int (*run_start)(struct bc_store *st, const char *tid);
	/* status_in: a SQL list of quoted status names built by the front
	 * from the mask (library constants only). */
	long long (*runs)(struct bc_store *st, const char *status_in,
	                  const char *before, long long limit,
	                  bc_store_run_cb cb, void *arg);
	/* Retention (see bc_store_prune). A run is "prunable" when it is over
	 * and ended before `before`. prune_list appends to out up to limit
	 * prunable thread ids, oldest first: the count, or -1. prune_lines
	 * deletes at most batch thread_logs rows of tid, in one transaction,
	 * if tid is still prunable: the rows deleted, or -1. prune_run
	 * deletes tid's thread_runs row if still prunable: 1, 0 or -1. */
	long long (*prune_list)(struct bc_store *st, const char *before,
	                        long long limit, struct bc_strv *out);
	long long (*prune_lines)(struct bc_store *st, const char *tid,
	                         const char *before, long long batch);
	int (*prune_run)(struct bc_store *st, const char *tid,
	                 const char *before);
};

struct bc_store {
	const struct bc_store_ops *ops;
	void *impl;
	int denied;            /* set by open: the server refused us */
	int timeout_s;        /* bc_store_open_timeout(); 0: none */
	char err[1024];
};

extern const struct bc_store_ops bc_store_sqlite_ops;
extern const struct bc_store_ops bc_store_pg_ops;

/* Set st->err, printf-style. */
void bc_store_set_err(struct bc_store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set st->err to say that (tid, seq) is stored with line a (na bytes) but
 * the buffer holds line b; returns BC_STORE_CONFLICT. */
int bc_store_conflict_err(struct bc_store *st, const char *tid, long long seq,
                          const char *a, size_t na, const char *b, size_t nb);

#endif
