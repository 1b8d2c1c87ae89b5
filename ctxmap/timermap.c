/*
 * timermap.c - timer_t to record, uthash behind a mutex. Only timer_create,
 * timer_settime and timer_delete take the lock; the notification reads the
 * record it was handed directly.
 */
#include <pthread.h>
#include <stdlib.h>
#include "ctxmap/uthash_agent.h"   /* the agent's memory, 8-byte keys */

#include "base/lock.h"
#include "ctxmap/timermap.h"

struct entry {
	timer_t id;
	struct ptimer *t;
	UT_hash_handle hh;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *timers;

struct ptimer *timermap_new(void (*fn)(union sigval), union sigval value)
{
	struct ptimer *t = calloc(1, sizeof *t);

	if (t) {
		t->fn = fn;
		t->value = value;
	}
	return t;
}

void timermap_created(struct ptimer *t, timer_t id, int ok)
{
	struct entry *e;

	if (!ok) {
		free(t);        /* never handed to the kernel */
		return;
	}
	e = mem_alloc(sizeof *e);
	if (e == NULL)
		return;
	t->id = id;
	t->live = 1;
	e->id = id;
	e->t = t;
	agent_lock(&lock);
	HASH_ADD(hh, timers, id, sizeof(timer_t), e);
	pthread_mutex_unlock(&lock);
}

static void set_ctx(struct ptimer *t, struct ctx *c)
{
	struct ctx *old;

	if (c)
		ctx_get(c);
	old = __atomic_exchange_n(&t->ctx, c, __ATOMIC_ACQ_REL);
	ctx_put(old);
}

void timermap_armed(timer_t id, struct ctx *c)
{
	struct entry *e;

	agent_lock(&lock);
	HASH_FIND(hh, timers, &id, sizeof(timer_t), e);
	if (e)
		set_ctx(e->t, c);
	pthread_mutex_unlock(&lock);
}

void timermap_deleted(timer_t id)
{
	struct entry *e;

	agent_lock(&lock);
	HASH_FIND(hh, timers, &id, sizeof(timer_t), e);
	if (e) {
		HASH_DEL(timers, e);
		set_ctx(e->t, NULL);
		e->t->live = 0;
		mem_free(e, sizeof *e);
	}
	pthread_mutex_unlock(&lock);
}

struct ctx *timermap_ctx(struct ptimer *t)
{
	struct ctx *c;

	/* The same lock-free read as an fd slot: contexts are type-stable. */
	for (;;) {
		c = __atomic_load_n(&t->ctx, __ATOMIC_ACQUIRE);
		if (c == NULL)
			return NULL;
		if (ctx_tryget(c)) {
			if (__atomic_load_n(&t->ctx, __ATOMIC_ACQUIRE) == c)
				return c;
			ctx_put(c);
		}
	}
}

LOCK_FORK_DEFINE(timermap, lock)
