/*
 * lock.h - the agent's own locks. Depends on nothing but libc.
 *
 * Rule: no lock here is ever held across a call into the host's allocator
 * or across a call that can block on the host (the host's allocator may
 * wait for a thread that is waiting for us).
 */
#ifndef BASE_LOCK_H
#define BASE_LOCK_H

#include <pthread.h>
#include <stdbool.h>

/* Locks an agent mutex through libc itself: the exported
 * pthread_mutex_lock is the agent's hook, and would be found first.
 * Returns what pthread_mutex_lock returns. */
int agent_lock(pthread_mutex_t *m);

/* The same for pthread_mutex_trylock (0 when taken, else EBUSY), also the
 * agent's hook when called by name. */
int agent_trylock(pthread_mutex_t *m);

/*
 * For a hook that may run while the host holds one of its own mutexes (a
 * condition variable's wait and wake-up, a signal): takes `m`, unless the
 * agent's fork preparation holds it. The agent's prepare handler takes
 * every agent lock, and another library's prepare handler registered
 * before the agent's runs after it (pthread_atfork: last registered,
 * first run) and may wait for the very mutex this thread holds (jemalloc's
 * background thread waits on its condvar holding its own mutex): waiting
 * here would deadlock the fork. Returns true with `m` held; false, with
 * nothing held, while a fork is being prepared and `m` is taken: the hook
 * then does without (and says so, so that its module's later answers stay
 * on the safe side).
 */
bool agent_lock_hook(pthread_mutex_t *m);

/* Set by the fork preparation before it takes any lock, cleared after the
 * fork on both sides (agent/fork.c). */
extern int agent_forking;

/* A spin lock for a few loads and stores at most; never held across a
 * call that could block. */
static inline void spin_lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#else
			;
#endif
}

static inline void spin_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/*
 * Fork hooks of a module that owns one mutex (agent/fork.c runs them):
 * prepare takes it, so no other thread is inside the module when the
 * process is copied; the parent releases it; the child, where only the
 * forking thread exists, gets it fresh.
 */
#define LOCK_FORK_DECLARE(prefix) \
	void prefix##_fork_prepare(void); \
	void prefix##_fork_parent(void); \
	void prefix##_fork_child(void);

#define LOCK_FORK_DEFINE(prefix, mutex) \
	void prefix##_fork_prepare(void) { agent_lock(&(mutex)); } \
	void prefix##_fork_parent(void) { pthread_mutex_unlock(&(mutex)); } \
	void prefix##_fork_child(void) { pthread_mutex_init(&(mutex), NULL); }

#endif
