/*
 * condmap.h - contexts handed from pthread_cond_signal (or sem_post) to the
 * thread it wakes: the store; the rules are agent/handoff.c's. Per condition variable, a short FIFO of the signalling contexts,
 * filled only while more threads wait than contexts are queued; each
 * wake-up takes the oldest. The kernel does not say which signal woke
 * which waiter, so this pairing is a heuristic: exact with one waiter, and
 * in order for a FIFO job queue fed one signal per job.
 */
#ifndef AGENT_CONDMAP_H
#define AGENT_CONDMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compiler.h"
#include "base/lock.h"
#include "base/ctx.h"

#define CONDMAP_QUEUE_LEN 16
/* Signals from threads that never wait on an object before it may count as
 * a job queue (condmap_wait_end): a lock-like object (CPython's GIL) shows
 * a waiter signalling long before. */
#define CONDMAP_POOL_EVIDENCE 16

/* Which objects were ever waited on: a bit per hash of the address, set
 * by condmap_wait_begin before its entry is made and never cleared (two
 * objects may share one). A signal of an object whose bit is clear has
 * nobody in the map to wake and nothing to record: a lock-like condvar
 * nobody waits on (CPython's GIL in a program of one thread, signalled
 * at every system call the interpreter makes) costs a load and a test.
 * Condvars and semaphores have a filter each: CPython's locks are
 * semaphores, thousands of them taken with sem_trywait over a run, which
 * would set most bits of one shared filter and with them, by chance of
 * the addresses, the GIL's. */
#define CONDMAP_FILTER_BITS 4096
enum condmap_kind {
	CONDMAP_CONDVAR,        /* pthread_cond_* */
	CONDMAP_SEMAPHORE,      /* sem_* */
};
extern AGENT_HIDDEN uint64_t condmap_waited[2][CONDMAP_FILTER_BITS / 64];

/* The hash both tables below index an object's address by. */
static inline unsigned condmap_hash(const void *obj)
{
	uintptr_t p = (uintptr_t)obj;

	return (unsigned)((p >> 3) ^ (p >> 15));
}

static inline unsigned condmap_filter_bit(const void *cond)
{
	return condmap_hash(cond) & (CONDMAP_FILTER_BITS - 1);
}

/* False when `cond`, of kind `kind`, was never waited on (condmap_signal
 * would do nothing); true when it may have been. A waiter's bit is set
 * before its wait begins, so a signal that can wake it sees the bit when
 * it holds the mutex the waiter released, as the program's own queue
 * must. */
static inline bool condmap_maybe_waited(const void *cond, enum condmap_kind kind)
{
	unsigned b = condmap_filter_bit(cond);

	return (__atomic_load_n(&condmap_waited[kind][b / 64], __ATOMIC_ACQUIRE) >> (b % 64)) & 1u;
}

/* Which thread last signalled a condvar while holding a mutex: a table
 * indexed by a hash of the mutex's address (a mutex is known by its
 * entry only while no other mutex of the same hash has replaced it), each
 * entry the mutex and the signalling thread's block (base/thread.h; its
 * address names the thread, no system call). "While holding" is read
 * from the thread's last pthread_mutex_lock: a queue's producer locks the
 * queue's mutex, links its job and signals (before or after unlocking).
 * A queue's consumers lock the same mutex to take a job, with or without
 * a wait (agent/handoff.h, rule 6); a bounded queue's consumers signal
 * under it too ("not full"), so a mutex two threads signalled under is
 * marked for good (CONDMAP_SIGNALLERS_SEVERAL in the thread word).
 * Entries are two relaxed stores, never cleared: a reader may see the
 * mutex of one signal and the thread of another, which at worst ends a
 * context (a bare line), never gives one. */
#define CONDMAP_SIGNALLERS 1024
#define CONDMAP_SIGNALLERS_SEVERAL ((uintptr_t)1)  /* thread blocks are aligned */
struct condmap_signaller {
	const void *mutex;
	uintptr_t thread;     /* the last signaller's block, | SEVERAL */
};
extern AGENT_HIDDEN struct condmap_signaller condmap_signallers[CONDMAP_SIGNALLERS];

static inline struct condmap_signaller *condmap_signaller_of(const void *mutex)
{
	return &condmap_signallers[condmap_hash(mutex) & (CONDMAP_SIGNALLERS - 1)];
}

/* `thread` signals a condvar, having last locked `mutex` (NULL: none):
 * loads and compares when the entry already says it (a producer's steady
 * state, or several signallers: the answer cannot change), no store to a
 * shared line then. */
static inline void condmap_signalled_under(const void *mutex, const void *thread)
{
	struct condmap_signaller *e;
	uintptr_t was, me = (uintptr_t)thread;

	if (mutex == NULL)
		return;
	e = condmap_signaller_of(mutex);
	was = __atomic_load_n(&e->thread, __ATOMIC_RELAXED);
	if (__atomic_load_n(&e->mutex, __ATOMIC_RELAXED) != mutex) {
		__atomic_store_n(&e->thread, me, __ATOMIC_RELAXED);
		__atomic_store_n(&e->mutex, mutex, __ATOMIC_RELAXED);
	} else if (!(was & CONDMAP_SIGNALLERS_SEVERAL) && was != me) {
		__atomic_store_n(&e->thread, me | CONDMAP_SIGNALLERS_SEVERAL, __ATOMIC_RELAXED);
	}
}

/* True when a thread other than `thread` signalled holding `mutex` (the
 * last signal, or two threads ever did): the mutex guards something
 * another thread hands over (a queue), not only this thread's own
 * waits. */
static inline bool condmap_signalled_by_other(const void *mutex, const void *thread)
{
	const struct condmap_signaller *e = condmap_signaller_of(mutex);
	uintptr_t t;

	if (mutex == NULL || __atomic_load_n(&e->mutex, __ATOMIC_RELAXED) != mutex)
		return false;
	t = __atomic_load_n(&e->thread, __ATOMIC_RELAXED);
	return t != (uintptr_t)thread;      /* never equal with SEVERAL set */
}

/* `tid` starts waiting on `cond`. */
void condmap_wait_begin(const void *cond, pid_t tid, enum condmap_kind kind);

/* The wait returned; `woke`: by a signal rather than a timeout or error.
 * Returns true when a queued entry was taken (*ctx: with a reference, or
 * NULL for "no context"). *pool tells whether the object is a job queue:
 * two or more threads wait on it, none of them ever signalled it, and
 * threads that never wait on it signalled it CONDMAP_POOL_EVIDENCE times. */
bool condmap_wait_end(const void *cond, bool woke, struct ctx **ctx, bool *pool);

enum condmap_class {
	CONDMAP_UNKNOWN,      /* no entry (nobody waits, nothing queued) */
	CONDMAP_QUEUE,        /* no waiter ever signalled it (yet not a pool) */
	CONDMAP_POOL,         /* a job queue (see condmap_wait_end) */
	CONDMAP_SHARED        /* a waiter signalled it: lock-like */
};

/* What the object looks like now. */
enum condmap_class condmap_class(const void *cond);

/* `tid` took a unit of `cond` without waiting (sem_trywait): condmap_class,
 * condmap_wait_begin and condmap_wait_end(woke) at once, under one hold of
 * the map's lock. *before: the class before this take; the rest and the
 * result as condmap_wait_end's. */
bool condmap_taken(const void *cond, pid_t tid, enum condmap_kind kind,
		   enum condmap_class *before, struct ctx **ctx, bool *pool);

/* pthread_cond_signal (or broadcast) in context `c`: queues `c` for the
 * thread it wakes when the pairing is unambiguous, else a "no context"
 * entry. A broadcast never carries a context, nor a signal of an object
 * several threads signal, nor any when `producers` (several threads of
 * the process start requests): a producer may queue its job and signal
 * after another's signal was taken. */
void condmap_signal(const void *cond, struct ctx *c, bool broadcast, pid_t tid, bool producers);

void condmap_destroy(const void *cond);

/* Fork hooks (base/lock.h): the module lock. */
LOCK_FORK_DECLARE(condmap)

#endif
