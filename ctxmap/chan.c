/*
 * chan.c - a small ring of (context, units) segments behind a spin lock.
 * Consecutive writes from one context merge into one segment; when the ring
 * is full, new units join the newest segment (their own context is lost,
 * never attributed to an older writer's first units).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/lock.h"
#include "ctxmap/chan.h"

struct seg {
	struct ctx *ctx;        /* owns a reference, or NULL */
	uint64_t units;
};

struct chan {
	int lock;                 /* spin lock: a few stores under it */
	unsigned refs;
	bool counter, semaphore;
	int head, n;
	struct seg ring[CHAN_SEGS];
	struct chan *next_free;
};

/* Channels are type-stable like contexts: a released one goes to a free
 * list, never back to malloc, so a pointer read from an fd slot always
 * points at a channel and chan_tryget() can tell whether it is still live. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chan *pool;

struct chan *chan_new(bool counter, bool semaphore)
{
	struct chan *c;

	agent_lock(&pool_lock);
	c = pool;
	if (c)
		pool = c->next_free;
	pthread_mutex_unlock(&pool_lock);
	if (c == NULL) {
		c = calloc(1, sizeof *c);
		if (c == NULL)
			return NULL;
	}
	spin_lock(&c->lock);
	memset(c->ring, 0, sizeof c->ring);
	c->head = 0;
	__atomic_store_n(&c->n, 0, __ATOMIC_RELEASE);
	c->counter = counter;
	c->semaphore = semaphore;
	spin_unlock(&c->lock);
	__atomic_store_n(&c->refs, 1, __ATOMIC_RELEASE);
	return c;
}

void chan_ref(struct chan *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

bool chan_tryget(struct chan *c)
{
	unsigned n = __atomic_load_n(&c->refs, __ATOMIC_RELAXED);

	while (n != 0)
		if (__atomic_compare_exchange_n(&c->refs, &n, n + 1, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	return false;
}

void chan_unref(struct chan *c)
{
	struct ctx *drop[CHAN_SEGS];
	int nd = 0;

	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	spin_lock(&c->lock);
	for (int i = 0; i < c->n; i++)
		drop[nd++] = c->ring[(c->head + i) % CHAN_SEGS].ctx;
	__atomic_store_n(&c->n, 0, __ATOMIC_RELEASE);
	memset(c->ring, 0, sizeof c->ring);
	spin_unlock(&c->lock);
	while (nd > 0)
		ctx_put(drop[--nd]);
	agent_lock(&pool_lock);
	c->next_free = pool;
	pool = c;
	pthread_mutex_unlock(&pool_lock);
}

void chan_after_fork_child(void)
{
	pthread_mutex_init(&pool_lock, NULL);
}

static bool empty(struct chan *c)
{
	return __atomic_load_n(&c->n, __ATOMIC_ACQUIRE) == 0;
}

void chan_wrote(struct chan *c, struct ctx *x, uint64_t units)
{
	struct seg *last;

	/* Bytes without a context into an empty channel: nothing to record,
	 * and no lock taken (the common case of a pipe no request uses). */
	if (units == 0 || (x == NULL && empty(c)))
		return;
	spin_lock(&c->lock);
	last = c->n ? &c->ring[(c->head + c->n - 1) % CHAN_SEGS] : NULL;
	if (last && (last->ctx == x || c->n == CHAN_SEGS)) {
		last->units += units;
	} else {
		struct seg *s = &c->ring[(c->head + c->n) % CHAN_SEGS];

		if (x)
			ctx_get(x);
		s->ctx = x;
		s->units = units;
		__atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELEASE);
	}
	spin_unlock(&c->lock);
}

void chan_unwrote(struct chan *c, uint64_t units)
{
	struct ctx *drop[CHAN_SEGS];
	int nd = 0;

	spin_lock(&c->lock);
	while (units > 0 && c->n > 0) {
		struct seg *s = &c->ring[(c->head + c->n - 1) % CHAN_SEGS];
		uint64_t take = s->units < units ? s->units : units;

		s->units -= take;
		units -= take;
		if (s->units == 0) {
			drop[nd++] = s->ctx;
			s->ctx = NULL;
			__atomic_store_n(&c->n, c->n - 1, __ATOMIC_RELEASE);
		}
	}
	spin_unlock(&c->lock);
	while (nd > 0)
		ctx_put(drop[--nd]);
}

bool chan_read(struct chan *c, uint64_t units, struct ctx **ctx)
{
	struct ctx *first = NULL;
	bool taken = false, mixed = false;
	struct ctx *drop[CHAN_SEGS];
	int nd = 0;

	if (empty(c)) {
		*ctx = NULL;
		return false;      /* nothing recorded: no lock taken */
	}
	spin_lock(&c->lock);
	if (c->counter)
		units = c->semaphore ? 1 : UINT64_MAX;
	while (units > 0 && c->n > 0) {
		struct seg *s = &c->ring[c->head];
		uint64_t take = s->units < units ? s->units : units;

		if (!taken) {
			first = s->ctx;
			if (first)
				ctx_get(first);
			taken = true;
		} else if (s->ctx != first) {
			mixed = true;
		}
		s->units -= take;
		units -= take;
		if (s->units == 0) {
			drop[nd++] = s->ctx;      /* released after the lock */
			s->ctx = NULL;
			c->head = (c->head + 1) % CHAN_SEGS;
			__atomic_store_n(&c->n, c->n - 1, __ATOMIC_RELEASE);
		}
	}
	spin_unlock(&c->lock);
	while (nd > 0)
		ctx_put(drop[--nd]);
	if (mixed) {
		/* Several writers' units in one read: whose work follows is the
		 * program's business. No context rather than a wrong one. */
		ctx_put(first);
		first = NULL;
	}
	*ctx = first;
	return taken;
}

struct ctx *chan_peek(struct chan *c)
{
	struct ctx *x = NULL;

	if (empty(c))
		return NULL;
	spin_lock(&c->lock);
	if (c->n > 0 && (x = c->ring[c->head].ctx) != NULL)
		ctx_get(x);
	spin_unlock(&c->lock);
	return x;
}

bool chan_only(struct chan *c, const struct ctx *x)
{
	bool only = true;

	if (empty(c))
		return true;
	spin_lock(&c->lock);
	for (int i = 0; i < c->n && only; i++)
		only = c->ring[(c->head + i) % CHAN_SEGS].ctx == x;
	spin_unlock(&c->lock);
	return only;
}

bool chan_is_counter(const struct chan *c)
{
	return c->counter;
}

uint64_t chan_pending(struct chan *c)
{
	uint64_t total = 0;

	spin_lock(&c->lock);
	for (int i = 0; i < c->n; i++)
		total += c->ring[(c->head + i) % CHAN_SEGS].units;
	spin_unlock(&c->lock);
	return total;
}
