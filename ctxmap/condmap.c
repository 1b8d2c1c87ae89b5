/*
 * condmap.c - condition variable and semaphore queues, uthash keyed by
 * address behind one mutex. An entry lives while threads wait on its
 * object or contexts are queued, so objects that vanish without being
 * destroyed leave nothing behind once idle.
 *
 * Rule: memory is the agent's own (base/mem.h), never the host's
 * allocator, which may wait for a thread that waits for this lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include "ctxmap/uthash_agent.h"   /* the agent's memory, 8-byte keys */

#include "base/lock.h"
#include "ctxmap/condmap.h"

#define CONSUMERS 32

struct condq {
	const void *cond;
	int waiters, head, n;
	struct ctx *q[CONDMAP_QUEUE_LEN];        /* NULL entries: "no context" */
	int nconsumers;                      /* threads ever seen waiting */
	pid_t consumers[CONSUMERS];          /* (-1 in [0] once too many) */
	bool shared;                         /* a waiter also signals: lock-like */
	unsigned outside_signals;            /* signals from threads that never waited */
	pid_t signaller;                     /* the first thread that signalled it */
	bool signallers;                     /* more than one has */
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
	q->head = (q->head + 1) % CONDMAP_QUEUE_LEN;
	q->n--;
}

/* A job queue: see condmap.h. A per-thread condvar (one consumer) is woken
 * for lock hand-overs and for work alike, so it never qualifies. */
static bool is_pool(const struct condq *q)
{
	return !q->shared && q->outside_signals >= CONDMAP_POOL_EVIDENCE &&
	       (q->nconsumers >= 2 || q->consumers[0] == -1);
}

static enum condmap_class class_of(const struct condq *q)
{
	return is_pool(q) ? CONDMAP_POOL : q->shared ? CONDMAP_SHARED : CONDMAP_QUEUE;
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

/* An operation was done without: the counts may be off from then on, so
 * no signal hands a context over any more (condmap_signal). */
static int missed;

static bool lock_or_miss(void)
{
	if (agent_lock_hook(&lock))
		return true;
	__atomic_store_n(&missed, 1, __ATOMIC_RELAXED);
	return false;
}

AGENT_HIDDEN uint64_t condmap_waited[2][CONDMAP_FILTER_BITS / 64];
AGENT_HIDDEN struct condmap_signaller condmap_signallers[CONDMAP_SIGNALLERS];

/* Sets `cond`'s bit of the never-waited filter, before its entry is made. */
static void mark_waited(const void *cond, enum condmap_kind kind)
{
	unsigned b = condmap_filter_bit(cond);

	if (!condmap_maybe_waited(cond, kind))
		__atomic_or_fetch(&condmap_waited[kind][b / 64], 1ull << (b % 64), __ATOMIC_RELEASE);
}

/* A new entry for `cond`, which has none (NULL: no memory). Under the lock. */
static struct condq *make(const void *cond)
{
	struct condq *q = mem_alloc(sizeof *q);

	if (q != NULL) {
		q->cond = cond;
		HASH_ADD_PTR(queues, cond, q);
	}
	return q;
}

/* The end of a wait on `q` (its waiter already counted out): the entry a
 * wake-up takes (`woke`), if any, into *ctx. Under the lock. */
static bool wait_over(struct condq *q, bool woke, struct ctx **ctx)
{
	bool took = false;

	if (woke && q->n > 0) {
		*ctx = q->q[q->head];
		q->q[q->head] = NULL;
		q->head = (q->head + 1) % CONDMAP_QUEUE_LEN;
		q->n--;
		took = true;
	}
	/* A signal done without the map (fork) may have woken this
	 * thread instead of the one a queued entry was for. */
	if (__atomic_load_n(&missed, __ATOMIC_RELAXED) && *ctx) {
		ctx_put(*ctx);
		*ctx = NULL;
	}
	/* Never more contexts queued than threads that could take them. */
	while (q->n > q->waiters)
		drop_oldest(q);
	return took;
}

void condmap_wait_begin(const void *cond, pid_t tid, enum condmap_kind kind)
{
	struct condq *q;

	mark_waited(cond, kind);
	if (!lock_or_miss())
		return;
	if ((q = find(cond)) == NULL)
		q = make(cond);
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
	if (!lock_or_miss()) {
		*pool = true;     /* the safe answer: a wake-up naming no request */
		return false;
	}
	q = find(cond);
	if (q) {
		if (q->waiters > 0)
			q->waiters--;
		*pool = is_pool(q);
		took = wait_over(q, woke, ctx);
	}
	pthread_mutex_unlock(&lock);
	return took;
}

bool condmap_taken(const void *cond, pid_t tid, enum condmap_kind kind,
		   enum condmap_class *before, struct ctx **ctx, bool *pool)
{
	struct condq *q;
	bool took = false;

	*before = CONDMAP_UNKNOWN;
	*ctx = NULL;
	*pool = false;
	mark_waited(cond, kind);
	if (!lock_or_miss()) {
		*pool = true;     /* as condmap_wait_end's */
		return false;
	}
	if ((q = find(cond)) != NULL)
		*before = class_of(q);
	else
		q = make(cond);
	if (q) {
		note_consumer(q, tid);      /* a waiter, gone again at once */
		*pool = is_pool(q);
		took = wait_over(q, true, ctx);
	}
	pthread_mutex_unlock(&lock);
	return took;
}

void condmap_signal(const void *cond, struct ctx *c, bool broadcast, pid_t tid, bool producers)
{
	struct condq *q;
	int wake;

	if (!lock_or_miss())
		return;
	if (__atomic_load_n(&missed, __ATOMIC_RELAXED))
		c = NULL;
	q = find(cond);
	if (q && q->signaller != tid) {
		if (q->signaller == 0)
			q->signaller = tid;
		else
			q->signallers = true;
	}
	if (q && !q->shared) {
		if (is_consumer(q, tid))
			q->shared = true;
		else if (q->outside_signals < CONDMAP_POOL_EVIDENCE)
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
	/* Several producers: one may have queued its job and not signalled
	 * yet, so the job a woken thread takes need not be this signal's
	 * (the same race as repeating bytes through a channel, chan.h). So
	 * when several threads signal it, or several threads start requests
	 * (one of them may not have signalled yet). */
	if (q->signallers || producers)
		c = NULL;
	/* A wake-up not yet taken when another signal comes is ambiguous too:
	 * the two woken threads may take the two jobs in either order. */
	for (int i = 0; i < q->n && (broadcast || q->n != 0); i++) {
		struct ctx **e = &q->q[(q->head + i) % CONDMAP_QUEUE_LEN];

		ctx_put(*e);
		*e = NULL;
	}
	wake = broadcast ? q->waiters - q->n : 1;
	for (; wake > 0 && q->n < CONDMAP_QUEUE_LEN; wake--) {
		if (c)
			ctx_get(c);
		q->q[(q->head + q->n) % CONDMAP_QUEUE_LEN] = c;
		q->n++;
	}
	pthread_mutex_unlock(&lock);
}

enum condmap_class condmap_class(const void *cond)
{
	struct condq *q;
	enum condmap_class k = CONDMAP_UNKNOWN;

	if (!lock_or_miss())
		return k;
	q = find(cond);
	if (q)
		k = class_of(q);
	pthread_mutex_unlock(&lock);
	return k;
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

LOCK_FORK_DEFINE(condmap, lock)
