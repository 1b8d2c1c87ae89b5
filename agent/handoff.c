/*
 * handoff.c - the hand-off rules of handoff.h over the store of
 * ctxmap/condmap.h. Runs inside the agent's guard, errno saved by the shim.
 *
 * Per thread (base/thread.h): cond_src and cond_mutex name the object and
 * mutex of the last wake-up, cond_ctx the context a job-queue wake-up gave,
 * inherited the context the thread was created in, while it still has it.
 */
#include <stdint.h>

#include "agent/handoff.h"
#include "base/lock.h"
#include "agent/flow.h"
#include "agent/inherit.h"
#include "base/ctx.h"
#include "base/debug.h"
#include "ctxmap/condmap.h"

static void take(struct ctx *x, const char *why)
{
	if (x != agent_self.cur)
		DEBUG("switch %s -> %s (%s)", agent_self.cur ? ctx_name(agent_self.cur)->id : "none",
		      x ? ctx_name(x)->id : "none", why);
	ctx_take_current(x);
}

/* A queue's worker is left with no context by a guess (rules 1, 5, 6 and
 * 8: its job is over, or a wake-up named none): what it writes next on a
 * connection it made (a pooled one, tagged by whichever request used it
 * last) is its next job's, which nothing named yet, so the connection's
 * tag must not become the thread's (agent/flow.c: a write out while muted
 * untags the socket instead). The next I/O on a client or outbound
 * connection vouches again. Called after the switch, which clears it. */
static void guessed_end(void)
{
	agent_self.muted = true;
}

void handoff_thread_starts(struct ctx *inherited)
{
	/* In a process started inside a request, every thread works on that
	 * request (agent/inherit.h): nothing to watch for. */
	bool home = inherited && inherited == __atomic_load_n(&inherit_home, __ATOMIC_ACQUIRE);

	agent_self.cur = inherited;
	agent_self.inherited = home ? NULL : inherited;
	agent_self.inherit_begun = ctx_begun_mark();
	agent_self.born_in_request = inherited != NULL && !home;
	agent_self.lock_watch = agent_self.born_in_request ? LOCK_WATCH_NEXT : 0;
	if (inherited)
		DEBUG("thread starts in %s (pthread_create)", ctx_name(inherited)->id);
}

/* The rules at the start of a wait on `obj`; `k`: what it looked like
 * before (computed only when needed: `know`). */
static void wait_begin_rules(const void *obj, bool know, enum condmap_class k)
{
	/* Rule 7: a pinned context is the program's word; no guess ends it. */
	if (!ctx_pinned()) {
		/* A semaphore's worker waiting again is back at its queue:
		 * whatever its last job left it with ends here. */
		if (agent_self.cond_src == obj && agent_self.cond_mutex == NULL &&
		    agent_self.cur && (know ? k : condmap_class(obj)) == CONDMAP_POOL) {
			take(NULL, "back at the queue of its wake-up");
			guessed_end();
		}
		/* Rule 6: it closed its request's connection and waits: done. */
		if (agent_self.cur && agent_self.cur == agent_self.closed)
			take(NULL, "waits after closing its request's connection");
	}
	agent_self.closed = NULL;
	agent_self.draining = false;
}

void handoff_wait_begins(const void *obj, enum condmap_kind kind)
{
	wait_begin_rules(obj, false, CONDMAP_UNKNOWN);
	condmap_wait_begin(obj, agent_tid(), kind);
}

void handoff_forked(void)
{
	struct ctx *c = agent_self.cur;

	if (c == NULL || !ctx_pinned() || c == __atomic_load_n(&inherit_home, __ATOMIC_ACQUIRE))
		return;
	/* What the parent's runtime entered (its thread's request) is no
	 * longer the program's word here: the child has its own life (a
	 * helper that one request forks and later ones feed), and the
	 * parent's progress (the request answered, others begun) is not in
	 * its memory. Its creator's context, as a new thread's, that its
	 * first sleep ends (rule 3) and, natively, its first wait or read
	 * of a channel. Not its first lock: an interpreter's child takes its
	 * runtime's lock at once. */
	agent_self.pinned = NULL;
	agent_self.pin_depth = 0;
	agent_self.pin_inherited = false;
	agent_self.entered_none = false;
	agent_self.inherited = c;
	agent_self.fork_inherited = true;
	agent_self.inherit_begun = __atomic_load_n(&ctx_begun, __ATOMIC_RELAXED) - 1;
	DEBUG("forked child: %s no longer pinned", ctx_name(c)->id);
}

void handoff_slept_rules(void)
{
	struct ctx *c = agent_self.cur;
	bool pinned = ctx_pinned();

	if (agent_self.peer_took) {
		bool borrowed = c && !pinned && agent_self.peer_took_at == agent_self.switches;

		agent_self.peer_took = 0;
		if (borrowed) {
			take(NULL, "a context borrowed from an outbound write ends at a sleep");
			return;
		}
	}
	/* The creator's context, still current: pinned by a bridge
	 * (ctx_enter_inherited), or natively (pthread_create) and not
	 * replaced by the thread's own I/O (agent/flow.c). */
	if (c == NULL || (pinned ? !agent_self.pin_inherited : c != agent_self.inherited))
		return;
	if (__atomic_load_n(&ctx_begun, __ATOMIC_RELAXED) == agent_self.inherit_begun &&
	    flow_request_live(c)) {
		/* Kept, until another request begins (ctx_poll_stale). */
		agent_self.polled = true;
		return;
	}
	agent_self.pin_inherited = false;
	agent_self.inherited = NULL;
	agent_self.fork_inherited = false;
	take(NULL, "inherited context ends at a sleep: its request answered, or another begun or in progress");
}

/* The end of a wait; `slept`: a wait that may have blocked (not a
 * sem_trywait). */
static void wait_ended(const void *obj, const void *mutex, bool woke, bool slept,
		       bool took, struct ctx *x, bool pool)
{
	/* Rule 4: the main thread waits for completions, never for jobs. */
	if (agent_tid() == agent_pid)
		pool = false;
	agent_self.cond_ctx = NULL;
	/* Rule 3: a timed wait that ran out slept. Not for a context a
	 * bridge keeps (an interpreter's lock is a timed wait that runs out
	 * whenever another thread holds it long). */
	if (!woke && slept && agent_self.inherited && agent_self.cur == agent_self.inherited &&
	    !ctx_pinned())
		handoff_slept_rules();
	if (agent_self.pin_inherited && ctx_pinned() && mutex == NULL && slept && woke &&
	    (!took || x != agent_self.cur)) {
		/* Rule 3 for a thread a bridge keeps on its creator's context
		 * (reqctx_api_enter_inherited): a semaphore's unit from a
		 * thread in another request, or in none, or one posted while
		 * nobody waited, is work from elsewhere (a worker the first
		 * request started, woken through a threading.Lock every later
		 * request releases). Semaphores only: a runtime's own lock
		 * (CPython's GIL) is a condvar every thread signals. */
		agent_self.pin_inherited = false;
		take(NULL, "inherited context ends at a semaphore's unit from elsewhere");
		ctx_put(x);
		agent_self.cond_src = obj;
		agent_self.cond_mutex = mutex;
		return;
	}
	if (ctx_pinned()) {
		/* Rule 7: the thread keeps what the program entered. */
		ctx_put(x);
		agent_self.cond_ctx = agent_self.cur;
		agent_self.cond_src = obj;
		agent_self.cond_mutex = mutex;
		return;
	}
	if (pool && woke) {
		/* Rule 1. */
		agent_self.inherited = NULL;
		take(took ? x : NULL, "job queue wake-up");
		if (agent_self.cur == NULL)
			guessed_end();
		agent_self.cond_ctx = agent_self.cur;
		x = NULL;
	} else {
		if (woke && agent_self.inherited && agent_self.cur == agent_self.inherited &&
		    !agent_self.fork_inherited) {
			/* Rule 3: it lasts while every wake-up comes from a thread
			 * in that same context. Not in a forked child
			 * (handoff_forked): its runtime's locks, made again after
			 * the fork, are taken at once. */
			if (!took || x != agent_self.cur) {
				take(NULL, "inherited context ends at a wake-up from elsewhere");
				agent_self.inherited = NULL;
			}
		}
		/* Rule 5 (handoff_relock) compares against this: a context the
		 * thread took from a channel's wake-up just before is not one
		 * this wake-up gave it, so its next relock back at the queue
		 * ends it (Ruby's Queue worker, woken through the sigwait
		 * eventfd, then sleeping on its condvar only). */
		agent_self.cond_ctx = flow_cur_from_chan() ? NULL : agent_self.cur;
	}
	ctx_put(x);                          /* rule 2: the entry is dropped */
	agent_self.cond_src = obj;
	agent_self.cond_mutex = mutex;
}

static void wait_ends(const void *obj, const void *mutex, bool woke, bool slept)
{
	struct ctx *x;
	bool pool, took = condmap_wait_end(obj, woke, &x, &pool);

	wait_ended(obj, mutex, woke, slept, took, x, pool);
}

void handoff_wait_ends(const void *obj, const void *mutex, bool woke)
{
	wait_ends(obj, mutex, woke, true);
}

/*
 * Who posted each semaphore last, kept once a thread ran on an inherited
 * pin (sem_posts_watched): a unit a thread on its creator's context takes
 * without sleeping (sem_trywait; CPython's Lock.acquire tries that first)
 * that another thread posted from another context, or from none, is work
 * from elsewhere as much as one it slept for (a worker the first request
 * started, busy when the next request released its lock: 19 of 40 job
 * lines wrong in a trial). A lock the thread itself released (a mutex, a
 * logging handler's) names its own work. A direct-mapped table under a
 * spin lock (a few stores; reset in a forked child: handoff_fork_child)
 * that is tried, never waited for long: sem_post is async-signal-safe,
 * and a handler's post must not spin on a lock the thread it interrupted
 * holds (a post not noted names nobody, a lookup that cannot look finds
 * nothing); 1,024 slots by a multiplicative hash; a post whose slot another
 * semaphore's later post took names nobody, and the pin stays (a lock
 * never posted, one just made, is the common case of no record, and the
 * thread's own).
 */
#define SEM_POSTS 1024
static struct sem_post {
	const void *sem;
	pid_t tid;
	const struct ctx *ctx;    /* compared, never followed */
} sem_posts[SEM_POSTS];
static int sem_posts_lock;
int sem_posts_watched;

void handoff_fork_child(void)
{
	sem_posts_lock = 0;
}

/* The table's lock, if it can be had within a few tries. */
static bool sem_posts_take(void)
{
	for (int i = 0; i < 64; i++) {
		if (!__atomic_exchange_n(&sem_posts_lock, 1, __ATOMIC_ACQUIRE))
			return true;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	return false;
}

static struct sem_post *sem_slot(const void *sem)
{
	uint64_t a = (uint64_t)(uintptr_t)sem >> 3;

	return &sem_posts[(a * 0x9e3779b97f4a7c15ull) >> 54];     /* 10 bits */
}

void handoff_sem_posted(const void *sem)
{
	struct sem_post *p = sem_slot(sem);

	const struct ctx *c = ctx_carried();
	pid_t tid = agent_tid();

	agent_self.job_quiet = false;     /* something handed on (jobs_piling) */
	if (!sem_posts_take())
		return;
	p->sem = sem;
	p->tid = tid;
	p->ctx = c;
	spin_unlock(&sem_posts_lock);
}

/* Whether `sem`'s last post came from another thread in a context other
 * than the current one. */
static bool posted_from_elsewhere(const void *sem)
{
	struct sem_post *p = sem_slot(sem);
	bool elsewhere = false;

	pid_t tid = agent_tid();

	if (!sem_posts_take())
		return false;
	if (p->sem == sem)
		elsewhere = p->tid != tid && p->ctx != agent_self.cur;
	spin_unlock(&sem_posts_lock);
	return elsewhere;
}

void handoff_sem_taken(const void *sem)
{
	enum condmap_class k;
	struct ctx *x;
	bool took, pool;

	if (unlikely(agent_self.pin_inherited) && ctx_pinned() && posted_from_elsewhere(sem)) {
		agent_self.pin_inherited = false;
		take(NULL, "inherited context ends at a semaphore's unit another context posted");
	}
	/* A wait that began and ended at once: one look at the map (the
	 * two, with the class the start's rule asks, took three). */
	took = condmap_taken(sem, agent_tid(), CONDMAP_SEMAPHORE, &k, &x, &pool);
	wait_begin_rules(sem, true, k);
	wait_ended(sem, NULL, true, false, took, x, pool);
}

void handoff_signal(const void *obj, bool broadcast)
{
	agent_self.job_quiet = false;     /* something handed on (jobs_piling) */
	condmap_signal(obj, ctx_carried(), broadcast, agent_tid(), flow_several_acceptors());
}

/* Rule 6: a thread that closed its request's connection locks the mutex
 * under which another thread signals a condvar: it takes its next job from
 * that queue, maybe without a wait (a backlog). Other locks (a stats
 * counter's) leave the request on, and the watch too while the thread
 * keeps the context. The main thread too: it may be the queue's producer
 * (an acceptor that answered and closed, queueing background work for
 * that request) as well as one of its workers, and a bounded queue looks
 * the same from either end, so its lines and hand-offs after that lock
 * carry nothing either. */
static void queue_mutex_rule(const void *mutex)
{
	const struct ctx *cur = agent_self.cur;

	if (cur == NULL || cur != agent_self.closed) {
		agent_self.lock_watch &= (unsigned char)~LOCK_WATCH_QUEUE;
		return;
	}
	if (!condmap_signalled_by_other(mutex, &agent_self))
		return;
	agent_self.lock_watch &= (unsigned char)~LOCK_WATCH_QUEUE;
	take(NULL, "locks a queue's mutex after closing its request's connection");
	guessed_end();
}

void handoff_tried_lock(const void *mutex)
{
	if (agent_self.lock_watch & LOCK_WATCH_QUEUE)
		queue_mutex_rule(mutex);
}

void handoff_relock(const void *mutex)
{
	enum condmap_class k;

	/* Rule 8: a worker handed a job through a channel takes it from its
	 * queue with its first lock after the read; taking that lock again
	 * once the job was answered, before another read, takes another job,
	 * which nothing named (it may have been queued before its own wake-up
	 * was written): whatever context the thread has then ends. Before
	 * the answer the lock may guard what the job itself uses (one lock
	 * for the queue and a cache). Kept across switches: the job's own I/O
	 * makes its context current. */
	if (agent_self.pop_next) {
		agent_self.pop_next = false;
		agent_self.pop_mutex = mutex;
	} else if (mutex == agent_self.pop_mutex && agent_self.cur && !ctx_pinned() &&
		   flow_request_answered(agent_self.cur)) {
		take(NULL, "takes another job from its queue without a wake-up");
		guessed_end();
	}

	if (agent_self.lock_watch & LOCK_WATCH_QUEUE)
		queue_mutex_rule(mutex);
	if (agent_self.lock_watch & LOCK_WATCH_NEXT) {
		agent_self.lock_watch &= (unsigned char)~LOCK_WATCH_NEXT;
		/* Rule 3: a thread made inside a request takes its first lock:
		 * a pool's thread may take a job from its queue now, without
		 * waiting, so what it inherited ends. */
		if (agent_self.inherited && agent_self.cur == agent_self.inherited)
			take(NULL, "inherited context ends at its first lock");
		/* Rule 6: such a thread closed its request's connection and
		 * takes a lock: done with that request (its next job may follow
		 * without a wait). */
		else if (agent_self.closed && agent_self.cur == agent_self.closed) {
			take(NULL, "locks after closing its request's connection");
			guessed_end();
		}
		agent_self.inherited = NULL;
	}
	if (mutex == NULL || agent_self.cond_mutex != mutex)
		return;
	if (ctx_pinned()) {
		/* Rule 7. */
		agent_self.cond_ctx = agent_self.cur;
		return;
	}
	if (agent_self.bridge_loop) {
		/* Rule 7 too: a loop a bridge drives takes no job from a queue;
		 * its waits and locks are the runtime's own (Node's main thread
		 * waits for its platform's background tasks at a collection,
		 * then takes that queue's mutex again to post more, right
		 * after a read that started a request and before the bridge
		 * entered it): the bridge names its contexts. */
		agent_self.cond_mutex = NULL;
		return;
	}
	k = condmap_class(agent_self.cond_src);
	if (k == CONDMAP_POOL) {
		/* Rule 1: whatever the last job left the worker with ends here:
		 * the next job it may take without waiting is not known. */
		if (agent_self.cur) {
			take(NULL, "back at the queue of its wake-up");
			guessed_end();
		}
	} else if (k != CONDMAP_SHARED) {
		/* Rule 5: back at a queue-like condvar (its waiters never signal
		 * it) with a context other than the one it woke with (or kept
		 * since), the thread got that context from a job: it ends. */
		if (agent_self.cur && agent_self.cur != agent_self.cond_ctx) {
			take(NULL, "back at its queue with a context the wake-up did not give");
			guessed_end();
		}
	} else {
		/* Lock-like: a thread keeps its own context; done with it. */
		agent_self.cond_mutex = NULL;
	}
	/* A queue's worker stays one: it may take the next job without waiting. */
	agent_self.cond_ctx = agent_self.cur;
}

void handoff_destroy(const void *obj)
{
	struct sem_post *p = sem_slot(obj);

	condmap_destroy(obj);
	/* A semaphore made later at the same address (CPython frees and
	 * makes locks all the time) is another: the dead one's last post
	 * names nothing of it. Before, a fresh lock's first take could find
	 * a dead lock's post from another request and end a thread's
	 * inherited context: a thread a request starts lost it at its first
	 * new lock (wsgi_app's fan-out thread: 154 of 240 lines bare). */
	if (__atomic_load_n(&sem_posts_watched, __ATOMIC_RELAXED) && sem_posts_take()) {
		if (p->sem == obj)
			p->sem = NULL;
		spin_unlock(&sem_posts_lock);
	}
}
