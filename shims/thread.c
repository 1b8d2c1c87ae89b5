/*
 * thread.c - thread start, condition variables, mutexes of a wake-up and
 * semaphores: each event reported to agent/handoff.c.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "base/mem.h"
#include "agent/dispatch.h"
#include "agent/flow.h"
#include "agent/handoff.h"
#include "agent/propagate.h"
#include "agent/spans.h"
#include "shims/shim.h"


struct start {
	void *(*fn)(void *);
	void *arg;
	struct ctx *ctx;          /* reference handed to the new thread */
};

AGENT_NOT_INSTRUMENTED static void thread_done(void *unused)
{
	int saved = errno;

	(void)unused;
	agent_enter();
	ctx_take_current(NULL);
	flow_thread_exit();
	dispatch_thread_exit();
	prop_thread_exit();
	spans_thread_exit();
	out_scratch_gone();
	take_log_free();
	agent_leave();
	errno = saved;
}

/* Runs before a sanitizer's own thread start-up (it wraps the start
 * routine we are handed). The start routine finds errno as the thread
 * began (0), whatever the agent's own calls met (a failed mmap of its
 * memory under RLIMIT_AS: ENOMEM). The start record is the agent's
 * memory: a free() here would give a thread that never allocates a malloc
 * arena of its own (glibc reserves 64 MiB of address space for one). */
AGENT_NOT_INSTRUMENTED static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	int saved = errno;
	void *r;

	mem_free(p, sizeof s);
	agent_enter();
	out_thread_starts();
	prop_thread_starts();
	agent_leave();
	handoff_thread_starts(s.ctx);
	errno = saved;
	pthread_cleanup_push(thread_done, NULL);
	r = s.fn(s.arg);
	pthread_cleanup_pop(1);
	return r;
}

AGENT_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr,
				 void *(*fn)(void *), void *arg)
{
	struct start *s;
	bool carried;
	int r;

	if (!__atomic_load_n(&agent_threads_made, __ATOMIC_RELAXED))
		__atomic_store_n(&agent_threads_made, true, __ATOMIC_RELAXED);
	if (!agent_active())
		return REAL(pthread_create)(t, attr, fn, arg);
	s = mem_alloc_uninit(sizeof *s);
	if (s == NULL)
		return REAL(pthread_create)(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->ctx = ctx_carried();
	carried = s->ctx != NULL;    /* (s is the new thread's once it runs) */
	if (s->ctx)
		ctx_get(s->ctx);
	r = REAL(pthread_create)(t, attr, trampoline, s);
	if (r != 0) {
		ctx_put(s->ctx);
		mem_free(s, sizeof *s);
	} else if (carried) {
		flow_thread_started();
	}
	return r;
}

/*
 * Condition variables and semaphores: each event goes to agent/handoff.c,
 * which holds every rule. A wait for another thread of the process keeps
 * the thread's unfinished line held (unlike a wait for input, time, a
 * child or a signal, shim_may_block): it is how an interpreter's lock
 * (CPython's GIL, a JVM monitor) passes between threads, often between
 * two pieces of one line (print's arguments, written one by one), and
 * what another thread wrote meanwhile would land inside that line, a
 * head mid-line (a trial: 193 in 1,500 lines of a Python
 * ThreadingHTTPServer; t_print_pieces).
 */
static void wait_begins(const void *obj, enum condmap_kind kind)
{
	AGENT_WORK(handoff_wait_begins(obj, kind));
}

static int cond_wait_ends(pthread_cond_t *c, pthread_mutex_t *m, int r)
{
	AGENT_WORK(handoff_wait_ends(c, m, r == 0));
	return r;
}

AGENT_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (!agent_active())
		return REAL(pthread_cond_wait)(c, m);
	wait_begins(c, CONDMAP_CONDVAR);
	return cond_wait_ends(c, m, REAL(pthread_cond_wait)(c, m));
}

AGENT_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
					 const struct timespec *t)
{
	if (!agent_active())
		return REAL(pthread_cond_timedwait)(c, m, t);
	wait_begins(c, CONDMAP_CONDVAR);
	return cond_wait_ends(c, m, REAL(pthread_cond_timedwait)(c, m, t));
}

AGENT_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
					 const struct timespec *t)
{
	if (!agent_active())
		return REAL(pthread_cond_clockwait)(c, m, clk, t);
	wait_begins(c, CONDMAP_CONDVAR);
	return cond_wait_ends(c, m, REAL(pthread_cond_clockwait)(c, m, clk, t));
}

/* Every lock pays two compares (handoff_lock_watched); the hand-off
 * rules' part is out of line, and the lock itself a tail call, with no
 * frame. */
static __attribute__((noinline)) int mutex_lock_watched(pthread_mutex_t *m)
{
	if (agent_active())
		AGENT_WORK(handoff_relock(m));
	return REAL(pthread_mutex_lock)(m);
}

/* Both ways out are tail calls: no frame on the way to the real lock. A
 * lock before the real function is resolved (libc's own start) resolves
 * it on the way (REAL_BOOTED). */
AGENT_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	agent_self.last_lock = m;
	if (handoff_lock_watched(m))
		return mutex_lock_watched(m);
	return REAL_BOOTED(pthread_mutex_lock)(m);
}

/* A lock that may fail (trylock, a time limit) counts for rule 6 once it
 * is taken: a worker that polls its queue's mutex with trylock takes its
 * next job as one that waits on it does (handoff_tried_lock). The real
 * call comes first, so the rule runs with the mutex held (it takes none of
 * the host's locks) and never for a lock not taken (taken: 0, or a robust
 * mutex's EOWNERDEAD). The only cost when no rule watches: a load and a
 * test after the call. */
static __attribute__((noinline)) void mutex_tried(pthread_mutex_t *m)
{
	if (agent_active())
		AGENT_WORK(handoff_tried_lock(m));
}

static inline int mutex_taken(pthread_mutex_t *m, int r)
{
	if (unlikely(agent_self.lock_watch & LOCK_WATCH_QUEUE) && (r == 0 || r == EOWNERDEAD))
		mutex_tried(m);
	return r;
}

AGENT_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	return mutex_taken(m, REAL_BOOTED(pthread_mutex_trylock)(m));
}

AGENT_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *t)
{
	return mutex_taken(m, REAL(pthread_mutex_timedlock)(m, t));
}

AGENT_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *t)
{
	return mutex_taken(m, REAL(pthread_mutex_clocklock)(m, clk, t));
}

AGENT_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	if (!agent_active())
		return REAL(pthread_cond_signal)(c);
	handoff_signals_under();
	if (handoff_signal_needed(c, CONDMAP_CONDVAR))
		AGENT_WORK(handoff_signal(c, false));
	return REAL(pthread_cond_signal)(c);
}

AGENT_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	if (!agent_active())
		return REAL(pthread_cond_broadcast)(c);
	handoff_signals_under();
	if (handoff_signal_needed(c, CONDMAP_CONDVAR))
		AGENT_WORK(handoff_signal(c, true));
	return REAL(pthread_cond_broadcast)(c);
}

AGENT_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
	if (agent_active())
		AGENT_WORK(handoff_destroy(c));
	return REAL(pthread_cond_destroy)(c);
}

static int sem_wait_ends(sem_t *s, int r)
{
	AGENT_WORK(handoff_wait_ends(s, NULL, r == 0));
	return r;
}

AGENT_EXPORT int sem_wait(sem_t *s)
{
	if (!agent_active())
		return REAL(sem_wait)(s);
	wait_begins(s, CONDMAP_SEMAPHORE);
	return sem_wait_ends(s, REAL(sem_wait)(s));
}

AGENT_EXPORT int sem_timedwait(sem_t *s, const struct timespec *t)
{
	if (!agent_active())
		return REAL(sem_timedwait)(s, t);
	wait_begins(s, CONDMAP_SEMAPHORE);
	return sem_wait_ends(s, REAL(sem_timedwait)(s, t));
}

AGENT_EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *t)
{
	if (!agent_active())
		return REAL(sem_clockwait)(s, clk, t);
	wait_begins(s, CONDMAP_SEMAPHORE);
	return sem_wait_ends(s, REAL(sem_clockwait)(s, clk, t));
}

/* Takes a unit without blocking: the end of a wait that did not sleep. */
AGENT_EXPORT int sem_trywait(sem_t *s)
{
	int r = REAL(sem_trywait)(s);

	if (r == 0 && agent_active())
		AGENT_WORK(handoff_sem_taken(s));
	return r;
}

AGENT_EXPORT int sem_post(sem_t *s)
{
	agent_self.head_read = NULL;         /* work handed on (agent/flow.c) */
	if (unlikely(__atomic_load_n(&sem_posts_watched, __ATOMIC_RELAXED)) && agent_active())
		AGENT_WORK(handoff_sem_posted(s));
	if (agent_active() && handoff_signal_needed(s, CONDMAP_SEMAPHORE))
		AGENT_WORK(handoff_signal(s, false));
	return REAL(sem_post)(s);
}

AGENT_EXPORT int sem_destroy(sem_t *s)
{
	if (agent_active())
		AGENT_WORK(handoff_destroy(s));
	return REAL(sem_destroy)(s);
}
