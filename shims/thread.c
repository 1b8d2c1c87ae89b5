/*
 * thread.c - a new thread starts in its creator's context.
 */
#include <stdlib.h>

#include "agent/dispatch.h"
#include "ctxmap/condmap.h"
#include "base/debug.h"
#include "shims/shim.h"


struct start {
	void *(*fn)(void *);
	void *arg;
	struct ctx *ctx;          /* reference handed to the new thread */
};

AGENT_NOT_INSTRUMENTED static void thread_done(void *unused)
{
	(void)unused;
	agent_enter();
	ctx_take_current(NULL);
	dispatch_thread_exit();
	agent_leave();
}

/* Runs before a sanitizer's own thread start-up (it wraps the start
 * routine we are handed). */
AGENT_NOT_INSTRUMENTED static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	void *r;

	free(p);
	agent_self.cur = s.ctx;
	if (s.ctx)
		DEBUG("thread starts in %s (pthread_create)", s.ctx->id);
	pthread_cleanup_push(thread_done, NULL);
	r = s.fn(s.arg);
	pthread_cleanup_pop(1);
	return r;
}

AGENT_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr,
				 void *(*fn)(void *), void *arg)
{
	struct start *s;
	int r;

	if (!agent_active())
		return REAL(pthread_create)(t, attr, fn, arg);
	s = malloc(sizeof *s);
	if (s == NULL)
		return REAL(pthread_create)(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->ctx = agent_self.cur;
	if (s->ctx)
		ctx_get(s->ctx);
	r = REAL(pthread_create)(t, attr, trampoline, s);
	if (r != 0) {
		ctx_put(s->ctx);
		free(s);
	}
	return r;
}

/*
 * Condition variables (ctxmap/condmap.h). On a job queue - its waiters never
 * signal it - a woken worker takes what the wake-up carries: the
 * signaller's context when the pairing is unambiguous, else none; and when
 * it locks the queue's mutex again it is back for more work, so whatever
 * context its last job left it with ends there. On a lock-like condvar
 * (CPython's GIL: every thread waits and signals) only a waiter that had
 * no context, or one from an earlier wake-up on the same condvar, takes
 * one: a thread serving its own request keeps it.
 */
static bool takes_handoff(const pthread_cond_t *c)
{
	return agent_self.cur == NULL ||
	       (agent_self.cond_src == c && agent_self.cond_ctx == agent_self.cur);
}

static void wait_begins(pthread_cond_t *c)
{
	shim_may_block();
	SHIM_CORE(condmap_wait_begin(c, agent_tid()));
}

static void take_handoff(struct ctx *x, const char *kind)
{
	if (x != agent_self.cur)
		DEBUG("switch %s -> %s (pthread_cond wake-up%s)",
		      agent_self.cur ? agent_self.cur->id : "none", x ? x->id : "none", kind);
	ctx_take_current(x);
}

static int wait_ends(pthread_cond_t *c, pthread_mutex_t *m, bool eligible, int r)
{
	struct ctx *x;
	bool took, pool;

	SHIM_CORE(
		took = condmap_wait_end(c, r == 0, &x, &pool);
		/* The main thread waits for completions (a drain at shutdown),
		 * never for jobs: pools run on threads the program creates. */
		if (agent_tid() == agent_pid) {
			pool = false;
			eligible = false;
		}
		agent_self.cond_ctx = NULL;
		if (pool && r == 0) {
			take_handoff(took ? x : NULL, ", job queue");
			agent_self.cond_ctx = agent_self.cur;
		} else if (eligible && took) {
			take_handoff(x, "");
			agent_self.cond_ctx = x;
		} else {
			ctx_put(x);
		}
		/* Whichever kind it turns out to be, the next lock of this
		 * mutex brings the thread back to this condvar. */
		agent_self.cond_src = c;
		agent_self.cond_mutex = m;
	);
	return r;
}

AGENT_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	bool eligible;

	if (!agent_active())
		return REAL(pthread_cond_wait)(c, m);
	eligible = takes_handoff(c);
	wait_begins(c);
	return wait_ends(c, m, eligible, REAL(pthread_cond_wait)(c, m));
}

AGENT_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
					 const struct timespec *t)
{
	bool eligible;

	if (!agent_active())
		return REAL(pthread_cond_timedwait)(c, m, t);
	eligible = takes_handoff(c);
	wait_begins(c);
	return wait_ends(c, m, eligible, REAL(pthread_cond_timedwait)(c, m, t));
}

AGENT_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
					 const struct timespec *t)
{
	bool eligible;

	if (!agent_active())
		return REAL(pthread_cond_clockwait)(c, m, clk, t);
	eligible = takes_handoff(c);
	wait_begins(c);
	return wait_ends(c, m, eligible, REAL(pthread_cond_clockwait)(c, m, clk, t));
}

/*
 * A thread locking the mutex of its last condvar wake-up is back at that
 * queue: on a job queue its context ends there (the next job it may take
 * without waiting is not known); on a lock-like condvar only a context the
 * wake-up itself gave it does. One compare for every other lock.
 */
static void back_at_queue(void)
{
	bool pool = condmap_is_pool(agent_self.cond_src);

	if (agent_self.cur && (pool || agent_self.cur == agent_self.cond_ctx)) {
		DEBUG("switch %s -> none (back at the queue of its pthread_cond wake-up)",
		      agent_self.cur->id);
		ctx_take_current(NULL);
	}
	/* A job queue's worker stays one; a lock-like condvar's waiter is
	 * done with it until it waits again. */
	if (!pool)
		agent_self.cond_mutex = NULL;
	agent_self.cond_ctx = NULL;
}

AGENT_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (unlikely(agent_self.cond_mutex == m) && agent_active())
		SHIM_CORE(back_at_queue());
	return REAL(pthread_mutex_lock)(m);
}

AGENT_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	if (agent_active())
		SHIM_CORE(condmap_signal(c, agent_self.cur, false, agent_tid()));
	return REAL(pthread_cond_signal)(c);
}

AGENT_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	if (agent_active())
		SHIM_CORE(condmap_signal(c, agent_self.cur, true, agent_tid()));
	return REAL(pthread_cond_broadcast)(c);
}

AGENT_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
	if (agent_active())
		SHIM_CORE(condmap_destroy(c));
	return REAL(pthread_cond_destroy)(c);
}
