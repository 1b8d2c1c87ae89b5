/*
 * condmap.c - condition variable queues, uthash keyed by address behind one
 * mutex. An entry lives while threads wait on its condvar or contexts are
 * queued, so condvars that vanish without pthread_cond_destroy leave
 * nothing behind once idle.
 */
#include <pthread.h>
#include <stdlib.h>
#include "base/mem.h"
/* Never the host's allocator under the lock (base/mem.h). */
#define uthash_malloc(sz) mem_alloc(sz)
#define uthash_free(ptr, sz) mem_free((ptr), (sz))
#include <uthash.h>

#include "base/lock.h"
#include "ctxmap/condmap.h"

#define CONSUMERS 32

struct condq {
	const void *cond;
	int waiters, head, n;
	struct ctx *q[CONDMAP_QUEUE];        /* NULL entries: "no context" */
	int nconsumers;                      /* threads ever seen waiting */
	pid_t consumers[CONSUMERS];          /* (-1 in [0] once too many) */
	bool shared;                         /* a waiter also signals: lock-like */
	unsigned outside_signals;            /* signals from threads that never waited */
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

/* A condvar counts as a job queue only after this many signals, all from
 * threads that never waited on it, with no waiter ever signalling it: a
 * lock-like condvar (CPython's GIL) shows a waiter signalling long before. */
#define POOL_EVIDENCE 16

static bool is_pool(const struct condq *q)
{
	return !q->shared && q->outside_signals >= POOL_EVIDENCE;
}

static bool is_consumer(const struct condq *q, pid_t tid)
{
	if (q->consumers[0] == -1)
		return true;        /* too many to tell: assume the worst */
	for (int i = 0; i < q->nconsumers; i++)
		if (q->consumers[i] == tid)
			return true;
	return false;
}

static void note_consumer(struct condq *q, pid_t tid)
{
	for (int i = 0; i < q->nconsumers; i++)
		if (q->consumers[i] == tid)
			return;
	if (q->nconsumers < CONSUMERS)
		q->consumers[q->nconsumers++] = tid;
	else
		q->consumers[0] = -1;
}

void condmap_wait_begin(const void *cond, pid_t tid)
{
	struct condq *q;

	agent_lock(&lock);
	q = find(cond);
	if (q == NULL && (q = mem_alloc(sizeof *q)) != NULL) {
		q->cond = cond;
		HASH_ADD_PTR(queues, cond, q);
	}
	if (q) {
		q->waiters++;
		note_consumer(q, tid);
	}
	pthread_mutex_unlock(&lock);
}

bool condmap_wait_end(const void *cond, bool woke, struct ctx **ctx, bool *pool)
{
	struct condq *q;
	bool took = false;

	*ctx = NULL;
	*pool = false;
	agent_lock(&lock);
	q = find(cond);
	if (q) {
		if (q->waiters > 0)
			q->waiters--;
		*pool = is_pool(q);
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
	}
	pthread_mutex_unlock(&lock);
	return took;
}

void condmap_signal(const void *cond, struct ctx *c, bool broadcast, pid_t tid)
{
	struct condq *q;
	int wake;

	agent_lock(&lock);
	q = find(cond);
	if (q && !q->shared) {
		if (is_consumer(q, tid))
			q->shared = true;
		else if (q->outside_signals < POOL_EVIDENCE)
			q->outside_signals++;
	}
	if (q == NULL || q->waiters <= q->n) {
		pthread_mutex_unlock(&lock);
		return;                 /* nobody left to wake */
	}
	/* Unambiguous only when every thread that consumes from this condvar
	 * is waiting: then the program's queue held nothing before this
	 * signal's work, and the thread woken takes exactly that. Otherwise a
	 * busy consumer may take the work and the woken one something else: it
	 * gets no context. */
	if (broadcast || q->consumers[0] == -1 || q->waiters != q->nconsumers || q->n != 0)
		c = NULL;
	wake = broadcast ? q->waiters - q->n : 1;
	if (broadcast && q->waiters == 1 && q->nconsumers == 1 && q->consumers[0] != -1)
		c = agent_self.cur;     /* one waiter, one consumer: still exact */
	for (; wake > 0 && q->n < CONDMAP_QUEUE; wake--) {
		if (c)
			ctx_get(c);
		q->q[(q->head + q->n) % CONDMAP_QUEUE] = c;
		q->n++;
	}
	pthread_mutex_unlock(&lock);
}

bool condmap_is_pool(const void *cond)
{
	struct condq *q;
	bool pool;

	agent_lock(&lock);
	q = find(cond);
	pool = q && is_pool(q);
	pthread_mutex_unlock(&lock);
	return pool;
}

void condmap_destroy(const void *cond)
{
	struct condq *q;

	agent_lock(&lock);
	q = find(cond);
	if (q) {
		while (q->n)
			drop_oldest(q);
		HASH_DEL(queues, q);
		mem_free(q, sizeof *q);
	}
	pthread_mutex_unlock(&lock);
}

void condmap_after_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
