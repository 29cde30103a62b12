/* budget.c - the hub's memory cap (see budget.h): a compare-and-swap loop
 * on one atomic counter. */
#include "budget.h"

void budget_init(struct budget *b, size_t cap)
{
	atomic_init(&b->used, 0);
	atomic_init(&b->refused, 0);
	atomic_init(&b->last_refused, 0);
	b->cap = cap;
}

int budget_take(struct budget *b, size_t n)
{
	size_t cur = atomic_load(&b->used);

	do {
		if (n > b->cap || cur > b->cap - n) {
			atomic_fetch_add(&b->refused, 1);
			atomic_store(&b->last_refused, n);
			return -1;
		}
	} while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
	return 0;
}

void budget_give(struct budget *b, size_t n)
{
	atomic_fetch_sub(&b->used, n);
}

int budget_roomy(const struct budget *b)
{
	size_t used = budget_used(b);
	size_t want = atomic_load(&((struct budget *)b)->last_refused);

	return used < b->cap && b->cap - used >= want;
}

size_t budget_used(const struct budget *b)
{
	return atomic_load(&((struct budget *)b)->used);
}
