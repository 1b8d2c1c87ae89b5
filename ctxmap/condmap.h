/*
 * condmap.h - contexts handed from pthread_cond_signal to the thread it
 * wakes. Per condition variable, a short FIFO of the signalling contexts,
 * filled only while more threads wait than contexts are queued; each
 * wake-up takes the oldest. The kernel does not say which signal woke
 * which waiter, so this pairing is a heuristic: exact with one waiter, and
 * in order for a FIFO job queue fed one signal per job.
 */
#ifndef AGENT_CONDMAP_H
#define AGENT_CONDMAP_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/ctx.h"

#define CONDMAP_QUEUE 16

/* `tid` starts waiting on `cond`. */
void condmap_wait_begin(const void *cond, pid_t tid);

/* The wait returned; `woke`: by a signal rather than a timeout or error.
 * Returns true when a queued entry was taken (*ctx: with a reference, or
 * NULL for "no context"). *pool tells whether the condvar looks like a
 * job queue (its waiters never signal it) rather than a lock-like
 * hand-off where every thread both waits and signals (CPython's GIL). */
bool condmap_wait_end(const void *cond, bool woke, struct ctx **ctx, bool *pool);

/* Still a job queue (see condmap_wait_end)? */
bool condmap_is_pool(const void *cond);

/* pthread_cond_signal (or broadcast) in context `c`: queues `c` for the
 * thread it wakes when the pairing is unambiguous, else a "no context"
 * entry. A broadcast carries a context only with one waiter and one
 * consumer. */
void condmap_signal(const void *cond, struct ctx *c, bool broadcast, pid_t tid);

void condmap_destroy(const void *cond);

void condmap_after_fork_child(void);

#endif
