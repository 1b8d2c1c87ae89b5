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
#include <sys/types.h>

#include "base/lock.h"
#include "base/ctx.h"

#define CONDMAP_QUEUE_LEN 16
/* Signals from threads that never wait on an object before it may count as
 * a job queue (condmap_wait_end): a lock-like object (CPython's GIL) shows
 * a waiter signalling long before. */
#define CONDMAP_POOL_EVIDENCE 16

/* `tid` starts waiting on `cond`. */
void condmap_wait_begin(const void *cond, pid_t tid);

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
