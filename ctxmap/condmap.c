/*
 * condmap.c - condition variable queues, uthash keyed by address behind one
 * mutex. An entry lives while threads wait on its condvar or contexts are
 * queued, so condvars that vanish without pthread_cond_destroy leave
 * nothing behind once idle.
 */
#include <pthread.h>
#include <stdlib.h>
#include <uthash.h>

#include "condmap.h"

struct condq {
	const void *cond;
	int waiters, head, n;
	struct ctx *q[CONDMAP_QUEUE];
	UT_hash_handle hh;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct condq *queues;

static struct condq *find(const void *cond)
{
	struct condq *q;

	HASH_FIND_PTR(queues, &cond, q);
	return q;
}

static void drop_oldest(struct condq *q)
{
	ctx_put(q->q[q->head]);
	q->q[q->head] = NULL;
	q->head = (q->head + 1) % CONDMAP_QUEUE;
	q->n--;
}

static void maybe_free(struct condq *q)
{
	if (q->waiters == 0 && q->n == 0) {
		HASH_DEL(queues, q);
		free(q);
	}
}

void condmap_wait_begin(const void *cond)
{
	struct condq *q;

	pthread_mutex_lock(&lock);
	q = find(cond);
	if (q == NULL && (q = calloc(1, sizeof *q)) != NULL) {
		q->cond = cond;
		HASH_ADD_PTR(queues, cond, q);
	}
	if (q)
		q->waiters++;
	pthread_mutex_unlock(&lock);
}

bool condmap_wait_end(const void *cond, bool woke, struct ctx **ctx)
{
	struct condq *q;
	bool took = false;

	*ctx = NULL;
	pthread_mutex_lock(&lock);
	q = find(cond);
	if (q) {
		if (q->waiters > 0)
			q->waiters--;
		if (woke && q->n > 0) {
			*ctx = q->q[q->head];
			q->q[q->head] = NULL;
			q->head = (q->head + 1) % CONDMAP_QUEUE;
			q->n--;
			took = true;
		}
		/* Never more contexts queued than threads that could take them. */
		while (q->n > q->waiters)
			drop_oldest(q);
		maybe_free(q);
	}
	pthread_mutex_unlock(&lock);
	return took;
}

void condmap_signal(const void *cond, struct ctx *c, bool broadcast)
{
	struct condq *q;

	pthread_mutex_lock(&lock);
	q = find(cond);
	if (q && q->waiters > q->n && (!broadcast || q->waiters == 1) && q->n < CONDMAP_QUEUE) {
		if (c)
			ctx_get(c);
		q->q[(q->head + q->n) % CONDMAP_QUEUE] = c;
		q->n++;
	}
	pthread_mutex_unlock(&lock);
}

void condmap_destroy(const void *cond)
{
	struct condq *q;

	pthread_mutex_lock(&lock);
	q = find(cond);
	if (q) {
		while (q->n)
			drop_oldest(q);
		HASH_DEL(queues, q);
		free(q);
	}
	pthread_mutex_unlock(&lock);
}

void condmap_after_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
