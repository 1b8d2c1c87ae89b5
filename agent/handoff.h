/*
 * handoff.h - contexts carried by condition variables and semaphores: the
 * rules. The store (ctxmap/condmap.h) keeps, per object, who waits, who
 * signals and the queued contexts; this module decides what a thread takes
 * when it is woken and when that ends. Shims report each event here once.
 *
 * What the evidence allows (docs/design.md, "Hand-offs"):
 *  1. A job queue - an object that two or more threads have waited on, that
 *     none of its waiters ever signalled, and that has been signalled at
 *     least CONDMAP_POOL_EVIDENCE times by threads that never wait on it -
 *     hands the woken thread the signaller's context when every consumer
 *     was waiting at the signal (the program's queue was empty), else none.
 *     The context ends when the thread is back at the queue: it locks the
 *     queue's mutex again (condvars) or waits on it again (semaphores).
 *  2. Any other wake-up gives nothing: a per-thread condvar (HotSpot's
 *     park events, Ruby's per-thread waits) is woken for lock hand-overs
 *     and for work alike, and a lock-like object (CPython's GIL, a
 *     semaphore used as a lock) by whoever released it. A thread keeps its
 *     own context across such a wait.
 *  3. A context a thread inherited from its creator (pthread_create) lasts
 *     until the thread's first mutex lock (a pool made lazily inside a
 *     request takes its first job from its queue under a mutex, maybe
 *     without waiting) or its first wake-up from a condvar or semaphore
 *     that a thread in another context signalled, whichever comes first:
 *     a pool thread made inside one request does not carry it into other
 *     requests' jobs. It ends too (and so does the context a bridge
 *     keeps a new thread on, ctx_enter_inherited) when the thread wakes
 *     from a sleep - a nanosleep (also through syscall(2)), or a poll,
 *     select, epoll_wait or sigtimedwait that timed out (a native
 *     thread's condvar wait that timed out too) - after that request
 *     was answered, or after any other
 *     context was made in the process since the thread started: a
 *     flusher that polls with a sleep, started by the first request and
 *     fed without a lock, works for whichever requests came meanwhile;
 *     one sleep with nothing else begun (a retry's wait) stays its
 *     request's.
 *  4. The main thread never takes a context from a wake-up (pools run on
 *     threads the program creates; the main thread waits for completions).
 *  5. A thread that locks the mutex of its last wake-up again, on a condvar
 *     none of whose waiters ever signalled it (a queue, classified or not
 *     yet), holding a context other than the one it woke with, got that
 *     context from the job it took: the job is over and the context ends.
 *  6. A thread that closed the (client) connection of its current context
 *     (not one it made to call a service) and then waits on a condvar or
 *     semaphore is done with that request (Ruby parks a finished thread in
 *     its cache and runs the next Thread.new on it). A thread made inside
 *     a request (a pool made lazily) is done with it at its next mutex
 *     lock too: it may take its next job from a queue without waiting.
 *     (Not every thread: an acceptor that answers, closes and then queues
 *     background work hands its request on.) Another thread (not the
 *     main thread, not in an interpreter or a JVM, not pinned) is done
 *     with it when it locks a queue's mutex: one another thread held
 *     when it last signalled a condvar (condmap_signalled_by_other); a
 *     pool whose workers start after a backlog built up takes job after
 *     job without a wait. A
 *     thread draining a merged wake-up (agent/flow.c) is done with it at
 *     the close itself.
 *  7. A context the program entered itself through the API
 *     (reqctx_api_enter, so every runtime bridge; ctx_enter_pinned) is
 *     pinned: none of the rules above ends or replaces it. On a thread
 *     whose event loop a bridge drives, rules 1 and 5 never end a
 *     context, pinned or not (its relocks are the runtime's own). The thread
 *     keeps it across every wait and wake-up until it enters another
 *     (or none, or leaves) or a native switch makes another context
 *     current (I/O on another request's fd). Ruby's threads wait on
 *     their own condvar for the GVL, sleep and Queue#pop: rules 3, 5 and
 *     6 would end a request's context there, which the Ruby bridge
 *     knows better.
 *  8. A worker a channel's read switched into a job (a pipe, socketpair
 *     or eventfd read naming a context the thread did not have) takes its
 *     job with the first lock after the read; taking that lock again,
 *     once the job was answered and before it waits in a poll or another
 *     such read, takes a job nothing named (a queue emptied after one
 *     wake-up), so whatever context it has ends, also one the previous
 *     job's own I/O made current. Not while pinned (rule 7), not in an
 *     interpreter or a JVM, whose first lock after a read is its own.
 */
#ifndef AGENT_HANDOFF_H
#define AGENT_HANDOFF_H

#include <stdbool.h>

#include "agent/bridge.h"
#include "base/ctx.h"
#include "base/thread.h"
#include "ctxmap/condmap.h"

struct ctx;

/* A new thread starts in `inherited` (its creator's context, the reference
 * handed over; may be NULL). */
void handoff_thread_starts(struct ctx *inherited);

/* The thread is about to wait on `obj`, a condvar or a semaphore as
 * `kind` says. */
void handoff_wait_begins(const void *obj, enum condmap_kind kind);

/* The wait on `obj` returned; `woke`: it consumed a signal or a unit (not
 * a timeout or an error); `mutex`: the condvar's mutex, NULL for a
 * semaphore. */
void handoff_wait_ends(const void *obj, const void *mutex, bool woke);

/* sem_trywait took a unit of `sem`: a wait that did not sleep. */
void handoff_sem_taken(const void *sem);

/* 1 in the Python interpreter, and elsewhere once a thread ran on an
 * inherited pin (ctx_enter_inherited): from then on every sem_post is
 * noted (handoff_sem_posted), for rule 3 at a sem_trywait. */
extern int sem_posts_watched;

/* `sem` is posted by this thread (called before the post). */
void handoff_sem_posted(const void *sem);

/* Fork hook (agent/fork.c): the post table's lock, in the child. */
void handoff_fork_child(void);

/* In a forked child that keeps contexts (REQCTX_CHILDREN): a context its
 * thread had pinned (a runtime bridge's, reqctx_api_enter) becomes the
 * one it inherited, as a new thread's (rule 3): its first sleep, wait
 * (even one inside that request: the parent serves it) or read of a
 * channel ends it (a helper one request forks in Python or
 * Ruby and later requests feed wrote their lines with that request's ID
 * for its whole life). Not in a process started inside a request. */
void handoff_forked(void);

/* `obj` is signalled (a broadcast wakes every waiter) or posted. */
void handoff_signal(const void *obj, bool broadcast);

/* Whether a signal or post of `obj` concerns the rules: not when nobody
 * ever waited on it (condmap_maybe_waited; a load and a test, inline in
 * the shims). */
static inline bool handoff_signal_needed(const void *obj, enum condmap_kind kind)
{
	return condmap_maybe_waited(obj, kind);
}

/* What the thread's locks are watched for (agent_self.lock_watch): */
#define LOCK_WATCH_NEXT 1u   /* its next lock: rules 3, 6 (a thread made inside
                                a request) and 8 */
#define LOCK_WATCH_QUEUE 2u  /* each lock until a switch or a wait: rule 6, a
                                queue's mutex after its request's close */

/* Whether locking `mutex` concerns the hand-off rules (handoff_relock):
 * the mutex of the thread's last wake-up, its job queue's (rule 8), or
 * any lock while the thread watches its locks (a pool thread that closed
 * its request's connection). Three loads, inline in the lock shim. */
static inline bool handoff_lock_watched(const void *mutex)
{
	return unlikely(agent_self.cond_mutex == mutex || agent_self.lock_watch ||
			agent_self.pop_mutex == mutex);
}

/* A channel's read or wake-up switched the thread into the job it names:
 * the next lock the thread takes is the one that takes a job from its
 * queue (rule 8, handoff_relock). Kept until the thread waits in a poll or
 * epoll (handoff_waits) or another such wake-up comes: a later wake-up
 * that names nothing (one of a job already done, which the worker took
 * with an earlier wake-up) leaves it, since the batch it starts is taken
 * from the same queue. Not armed while the program names its own context
 * (pinned), nor in an interpreter or a JVM (bridge_vm, bridge_loop): the
 * first lock after a read there is the VM's own (CPython's GIL, Ruby's
 * GVL, HotSpot's internal locks, taken again after its system calls), and
 * a bridge names each callback's context itself from what is current
 * right after a read. */
static inline void handoff_job_handed(void)
{
	if (agent_self.bridge_loop || ctx_pinned() || bridge_vm)
		return;
	agent_self.pop_mutex = NULL;
	agent_self.pop_next = true;
	agent_self.lock_watch |= LOCK_WATCH_NEXT;
}

void handoff_slept_rules(void);

/* The thread woke from a sleep (shims/poll.c): rule 3 for a thread on
 * its creator's context, and the end of a context borrowed from an
 * outbound write (agent/flow.c: a worker with none that wrote on a
 * connection a request made; its exchange is not what it does after a
 * sleep). Three loads when neither. Leaves errno alone. */
static inline void handoff_slept(void)
{
	if (unlikely(agent_self.pin_inherited || agent_self.inherited || agent_self.peer_took))
		AGENT_WORK(handoff_slept_rules());
}

/* The thread waits for events (poll, epoll): an event loop, whose locks
 * after a wake-up are not a queue's (rule 8 ends). */
static inline void handoff_waits(void)
{
	agent_self.pop_mutex = NULL;
	agent_self.pop_next = false;
}

/* The thread is about to lock `mutex`: the mutex of its last wake-up, or
 * any mutex while rules 3 or 6 watch its locks. */
void handoff_relock(const void *mutex);

/* The thread closes the client connection of its current context (rule
 * 6): which of its locks may end that context now. */
static inline unsigned handoff_closes_request(void)
{
	unsigned w = agent_self.born_in_request || agent_self.pop_next ? LOCK_WATCH_NEXT : 0;

	/* A queue's mutex: not where a runtime's own locks are (an
	 * interpreter's GIL is signalled by every thread that drops it), nor
	 * for what the program entered itself (rule 7). */
	if (!bridge_vm && !agent_self.bridge_loop && !ctx_pinned())
		w |= LOCK_WATCH_QUEUE;
	return w;
}

/* The thread took `mutex` with a call that may fail (pthread_mutex_trylock,
 * a timed lock): rule 6's part of handoff_relock only. Such locks are
 * not the thread's last lock (agent_self.last_lock) either: a trylock
 * inside a producer's critical section (jemalloc's own locks are
 * trylocks) would stand for the queue's mutex at its signal. */
void handoff_tried_lock(const void *mutex);

/* The thread signals a condvar: the mutex it locked last is a queue's
 * if another thread's locks follow (condmap_signalled_under). Not in an
 * interpreter or a JVM, where rule 6 never looks (handoff_closes_request)
 * and every thread signals the interpreter's lock. */
static inline void handoff_signals_under(void)
{
	agent_self.head_read = NULL;         /* work handed on (agent/flow.c) */
	if (!bridge_vm)
		condmap_signalled_under(agent_self.last_lock, &agent_self);
}

/* `obj` is destroyed. */
void handoff_destroy(const void *obj);

#endif
