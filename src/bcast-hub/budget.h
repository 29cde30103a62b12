/* budget.h - one cap on the memory bcast-hub holds for history answers and
 * for request bodies being handled.
 *
 * Whoever is about to hold n more bytes takes them from the budget first;
 * when that would pass the cap the request is answered 503 with
 * Retry-After instead, so memory never grows past it however many clients
 * ask at once or stop reading. Bytes are given back once they are written
 * to the client (history) or the request is done (bodies). The counter is
 * atomic: worker threads may take and give too. */
#ifndef BCAST_HUB_BUDGET_H
#define BCAST_HUB_BUDGET_H

#include <stdatomic.h>
#include <stddef.h>

#define BUDGET_RETRY_AFTER "1"   /* seconds, for the 503's Retry-After */

struct budget {
	atomic_size_t used;
	size_t cap;
	atomic_ullong refused;       /* takes that failed */
	atomic_size_t last_refused;  /* size of the last take that failed */
};

/* A budget of cap bytes, none used. */
void budget_init(struct budget *b, size_t cap);
/* Take n bytes: 0, or -1 (nothing taken, counted as refused) when used + n
 * would pass the cap. */
int budget_take(struct budget *b, size_t n);
/* Give back n bytes taken before. */
void budget_give(struct budget *b, size_t n);
/* Bytes in use now. */
size_t budget_used(const struct budget *b);
/* False when the room left is smaller than the last take that failed:
 * work whose result would be refused (a history page like the last one)
 * is better not started. */
int budget_roomy(const struct budget *b);

#endif
