/*
 * test_handoff.c - the hand-off rules (agent/handoff.h) on scripted waits.
 * Threads are played by one real thread: each fake thread's block is
 * swapped into agent_self before it acts, so every interleaving is exact.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "agent/handoff.h"
#include "base/ctx.h"
#include "base/id.h"
#include "ctxmap/condmap.h"
#include "suites.h"

#define UNIT_SUITE handoff
#define UNIT_TCASE rules

#define THREADS 4
static struct agent_thread th[THREADS];
static int playing = -1;

/* Thread i acts from now on. */
static void as(int i)
{
	if (playing >= 0)
		th[playing] = agent_self;
	agent_self = th[i];
	playing = i;
}

static void setup(void)
{
	id_init();
	memset(th, 0, sizeof th);
	memset(&agent_self, 0, sizeof agent_self);
	playing = -1;
	agent_pid = 1;                  /* no fake thread is the main thread */
	for (int i = 0; i < THREADS; i++)
		th[i].tid = 100 + i;
}

static void teardown(void)
{
	as(0);
	for (int i = 0; i < THREADS; i++) {
		as(i);
		ctx_take_current(NULL);
	}
}

/* Thread i becomes current in a fresh context (its own reference). */
static struct ctx *enter_new(int i)
{
	struct ctx *c = ctx_new(NULL);

	as(i);
	ctx_take_current(c);
	return c;
}

static int cond_a, cond_b, mutex_a;   /* addresses stand for the objects */

/* Threads 1 and 2 wait on cond_a; thread 3, in a fresh context, signals
 * it; thread 1 takes the wake-up. Returns the context thread 3 had. */
static struct ctx *one_job(void)
{
	struct ctx *c;

	as(1); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	c = enter_new(3);
	handoff_signal(&cond_a, false);
	as(1); handoff_wait_ends(&cond_a, &mutex_a, true);
	return c;
}

/* Thread 1 is back at the queue, thread 2 gives up its wait (timeout). */
static void after_job(void)
{
	as(1); handoff_relock(&mutex_a);
	as(2); handoff_wait_ends(&cond_a, &mutex_a, false);
}

UNIT_TEST(job_queue_after_evidence)
{
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE + 4; k++) {
		struct ctx *c = one_job();

		as(1);
		if (k < CONDMAP_POOL_EVIDENCE - 1)
			ck_assert_ptr_null(agent_self.cur);   /* not yet a job queue */
		else
			ck_assert_ptr_eq(agent_self.cur, c);  /* the job's context */
		after_job();
		as(1);
		ck_assert_ptr_null(agent_self.cur);          /* back at the queue */
		ck_assert_int_eq(condmap_class(&cond_a), k < CONDMAP_POOL_EVIDENCE - 1
				 ? CONDMAP_QUEUE : CONDMAP_POOL);
	}
}

/* A signal concerns the rules only once somebody waited on the object:
 * the shims skip signals of objects never waited on (CPython's GIL in a
 * program of one thread), and must not skip a queue's. */
UNIT_TEST(signals_of_objects_never_waited_on_are_skipped)
{
	static long never[64];
	int skipped = 0;

	for (int i = 0; i < 64; i++)
		skipped += !handoff_signal_needed(&never[i], CONDMAP_CONDVAR);
	ck_assert_int_ge(skipped, 60);        /* a few may share a waited one's bit */
	as(1); handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
	ck_assert(handoff_signal_needed(&cond_b, CONDMAP_CONDVAR));
	handoff_wait_ends(&cond_b, &mutex_a, false);
	ck_assert(handoff_signal_needed(&cond_b, CONDMAP_CONDVAR));   /* bits are never cleared */
}

/* Semaphores have a filter of their own: a program that takes thousands
 * of semaphores (CPython's locks, each acquire a sem_trywait) leaves the
 * condvars it never waited on skipped (its GIL). */
UNIT_TEST(semaphores_waited_on_leave_condvars_skipped)
{
	static long sems[2 * CONDMAP_FILTER_BITS], conds[64];
	int skipped = 0;

	as(1);
	for (size_t i = 0; i < sizeof sems / sizeof sems[0]; i++) {
		handoff_wait_begins(&sems[i], CONDMAP_SEMAPHORE);
		handoff_wait_ends(&sems[i], NULL, true);
	}
	for (int i = 0; i < 64; i++)
		skipped += !handoff_signal_needed(&conds[i], CONDMAP_CONDVAR);
	ck_assert_int_ge(skipped, 60);        /* a few may share a waited condvar's bit */
	ck_assert(handoff_signal_needed(&sems[7], CONDMAP_SEMAPHORE));
	for (size_t i = 0; i < sizeof sems / sizeof sems[0]; i++)
		handoff_destroy(&sems[i]);
}

/* A semaphore's unit taken without waiting (sem_trywait: handoff_sem_taken,
 * one look at the map) is a wake-up that did not sleep: from a job queue,
 * by a worker holding its last job's context, it names nothing (the queue
 * held work before: whose is not known); from a lock-like one, the taker
 * keeps its own. */
UNIT_TEST(a_unit_taken_at_once_is_a_wake_up)
{
	static long sem, lock;
	struct ctx *job = NULL, *own;

	for (int k = 0; k < CONDMAP_POOL_EVIDENCE + 2; k++) {
		as(1); handoff_wait_begins(&sem, CONDMAP_SEMAPHORE);
		as(2); handoff_wait_begins(&sem, CONDMAP_SEMAPHORE);
		job = enter_new(3);
		handoff_signal(&sem, false);
		as(1); handoff_wait_ends(&sem, NULL, true);
		as(2); handoff_wait_ends(&sem, NULL, false);
	}
	ck_assert_int_eq(condmap_class(&sem), CONDMAP_POOL);
	as(1);
	ck_assert_ptr_eq(agent_self.cur, job);       /* its wake-up's job */
	handoff_sem_taken(&sem);                     /* the next job, at once */
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_int_eq(condmap_class(&sem), CONDMAP_POOL);
	handoff_destroy(&sem);

	own = enter_new(1);
	for (int k = 0; k < 4; k++) {
		as(1); handoff_sem_taken(&lock);
		ck_assert_ptr_eq(agent_self.cur, own);
		enter_new(2 + k % 2);
		handoff_signal(&lock, false);        /* a release */
	}
	as(1); handoff_wait_begins(&lock, CONDMAP_SEMAPHORE);
	as(2); handoff_signal(&lock, false);
	as(1); handoff_wait_ends(&lock, NULL, true);
	ck_assert_ptr_eq(agent_self.cur, own);
	handoff_sem_taken(&lock);
	ck_assert_ptr_eq(agent_self.cur, own);
	handoff_destroy(&lock);
}

UNIT_TEST(one_consumer_carries_nothing)
{
	/* A per-thread condvar (HotSpot's park event): thread 1 alone waits,
	 * others wake it for locks and work alike. */
	as(1);
	struct ctx *own = enter_new(1);
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE * 2; k++) {
		as(1); handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
		enter_new(2 + k % 2);
		handoff_signal(&cond_b, false);
		as(1); handoff_wait_ends(&cond_b, &mutex_a, true);
		ck_assert_ptr_eq(agent_self.cur, own);     /* keeps its own */
		handoff_relock(&mutex_a);
		ck_assert_ptr_eq(agent_self.cur, own);
	}
	ck_assert_int_ne(condmap_class(&cond_b), CONDMAP_POOL);
	handoff_destroy(&cond_b);
}

UNIT_TEST(lock_like_carries_nothing)
{
	/* CPython's GIL: every thread waits and signals. */
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE * 2; k++) {
		int w = 1 + k % 2, s = 2 - k % 2;

		as(w);
		ctx_take_current(NULL);      /* a waiter with nothing of its own */
		handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
		enter_new(s);
		handoff_signal(&cond_b, false);
		as(w); handoff_wait_ends(&cond_b, &mutex_a, true);
		ck_assert_ptr_null(agent_self.cur);
		handoff_relock(&mutex_a);
	}
	ck_assert_int_eq(condmap_class(&cond_b), CONDMAP_SHARED);
	handoff_destroy(&cond_b);
}

UNIT_TEST(inherited_ends_at_foreign_wakeup)
{
	struct ctx *a = ctx_new(NULL), *b;

	/* Thread 1 was created in `a` (pool thread made inside a request). */
	as(1);
	ctx_get(a);
	handoff_thread_starts(a);
	/* Woken by a thread in the same request: still `a`. */
	handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
	as(2); ctx_get(a); ctx_take_current(a);
	handoff_signal(&cond_b, false);
	as(1); handoff_wait_ends(&cond_b, NULL, true);
	ck_assert_ptr_eq(agent_self.cur, a);
	/* Made again, woken by another request's thread: ends. */
	ctx_take_current(NULL);
	ctx_get(a);
	handoff_thread_starts(a);
	handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
	b = enter_new(2);
	handoff_signal(&cond_b, false);
	as(1); handoff_wait_ends(&cond_b, NULL, true);
	ck_assert_ptr_null(agent_self.cur);
	(void)b;
	ctx_put(a);
	handoff_destroy(&cond_b);
}

UNIT_TEST(inherited_ends_at_first_lock)
{
	struct ctx *a = ctx_new(NULL);
	int any_mutex;

	/* A lazily made pool thread takes its first job under the queue's
	 * mutex, maybe without waiting: what it inherited ends there. */
	as(1);
	handoff_thread_starts(a);
	ck_assert(agent_self.lock_watch);
	handoff_relock(&any_mutex);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert(!agent_self.lock_watch);
}

UNIT_TEST(pool_thread_closing_its_request_ends_it_at_next_lock)
{
	struct ctx *a = ctx_new(NULL), *b = ctx_new(NULL);
	int any_mutex;

	as(1);
	handoff_thread_starts(a);
	handoff_relock(&any_mutex);            /* the inherited one ends */
	ctx_take_current(b);                   /* it answers a job's client */
	agent_self.closed = b;                 /* ... and closes it (flow_close) */
	agent_self.lock_watch = agent_self.born_in_request ? LOCK_WATCH_NEXT : 0;
	handoff_relock(&any_mutex);
	ck_assert_ptr_null(agent_self.cur);
}

/* A real thread (its own block, so another thread to the table) that
 * locked `arg` last signals a condvar: a queue's producer. */
static void *signal_holding(void *arg)
{
	agent_self.last_lock = arg;
	handoff_signals_under();
	return NULL;
}

UNIT_TEST(worker_closing_its_request_ends_it_at_a_queues_mutex)
{
	struct ctx *b = ctx_new(NULL);
	int stats_mutex, own_mutex;
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, signal_holding, &mutex_a), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	/* A worker made before any request, which never waited (a backlog
	 * was there when it started): it answers a job's client, closes the
	 * connection (flow_close) ... */
	as(1);
	agent_self.last_lock = &own_mutex;   /* a lock it signals under itself */
	handoff_signals_under();
	ctx_take_current(b);
	agent_self.closed = b;
	agent_self.lock_watch = (unsigned char)handoff_closes_request();
	ck_assert(agent_self.lock_watch & LOCK_WATCH_QUEUE);
	ck_assert(!(agent_self.lock_watch & LOCK_WATCH_NEXT));
	/* ... counts it under a lock nobody signals under, and under one only
	 * it signals under: still its request ... */
	handoff_relock(&stats_mutex);
	handoff_relock(&own_mutex);
	ck_assert_ptr_eq(agent_self.cur, b);
	ck_assert(handoff_lock_watched(&stats_mutex));
	/* ... and locks the queue's mutex to take the next job: done, and a
	 * pooled connection's tag is not taken up (muted: a write out
	 * untags it instead, agent/flow.c). */
	handoff_relock(&mutex_a);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert(agent_self.muted);
	ck_assert(!(agent_self.lock_watch & LOCK_WATCH_QUEUE));
}

UNIT_TEST(bounded_queue_whose_consumers_signal_too)
{
	struct ctx *b = ctx_new(NULL);
	int queue_mutex;
	pthread_t t;

	/* A producer signals "not empty" under the queue's mutex, then the
	 * worker itself signals "not full" under it after a pop: the last
	 * signal is its own, but two threads signal under that mutex. */
	ck_assert_int_eq(pthread_create(&t, NULL, signal_holding, &queue_mutex), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	as(1);
	agent_self.last_lock = &queue_mutex;
	handoff_signals_under();
	ctx_take_current(b);
	agent_self.closed = b;
	agent_self.lock_watch = (unsigned char)handoff_closes_request();
	handoff_relock(&queue_mutex);
	ck_assert_ptr_null(agent_self.cur);
}

UNIT_TEST(queue_mutex_rule_covers_main_thread_and_trylock)
{
	struct ctx *b = ctx_new(NULL);
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, signal_holding, &mutex_a), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	/* The main thread answers, closes and locks the queue's mutex: it may
	 * be taking its next job from a backlog (one of the queue's workers)
	 * as well as queueing background work for the request (its
	 * producer): done with the request either way. */
	as(0);
	agent_pid = agent_self.tid;
	ctx_get(b);
	ctx_take_current(b);
	agent_self.closed = b;
	agent_self.lock_watch = (unsigned char)handoff_closes_request();
	ck_assert(agent_self.lock_watch & LOCK_WATCH_QUEUE);
	handoff_relock(&mutex_a);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert(agent_self.muted);
	/* A trylock of the queue's mutex does the same. */
	ctx_take_current(b);
	agent_self.closed = b;
	agent_self.lock_watch = (unsigned char)handoff_closes_request();
	handoff_tried_lock(&mutex_a);
	ck_assert_ptr_null(agent_self.cur);
	agent_pid = 1;
	/* In an interpreter or a JVM the rule is not armed at all. */
	bridge_vm = 1;
	ck_assert(!(handoff_closes_request() & LOCK_WATCH_QUEUE));
	bridge_vm = 0;
}

UNIT_TEST(bridge_loop_relock_keeps_a_native_context)
{
	struct ctx *c = ctx_new(NULL);

	/* Node's main thread (its loop the bridge's) once waited on a
	 * queue-like condvar (its platform's background tasks) ... */
	as(1);
	agent_self.bridge_loop = true;
	handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
	handoff_wait_ends(&cond_b, &mutex_a, true);
	/* ... then reads a request (native, not yet entered by the bridge)
	 * and takes that mutex again to post a task: still the request. */
	ctx_take_current(c);
	ck_assert(handoff_lock_watched(&mutex_a));
	handoff_relock(&mutex_a);
	ck_assert_ptr_eq(agent_self.cur, c);
	ck_assert(!handoff_lock_watched(&mutex_a));
	agent_self.bridge_loop = false;
}

UNIT_TEST(second_signal_makes_both_ambiguous)
{
	struct ctx *c1, *c2;

	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {   /* classify */
		one_job();
		after_job();
	}
	as(1); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	c1 = enter_new(3);
	handoff_signal(&cond_a, false);
	c2 = enter_new(3);
	handoff_signal(&cond_a, false);     /* before anyone woke */
	as(2); handoff_wait_ends(&cond_a, &mutex_a, true);
	ck_assert_ptr_null(agent_self.cur);
	as(1); handoff_wait_ends(&cond_a, &mutex_a, true);
	ck_assert_ptr_null(agent_self.cur);
	(void)c1; (void)c2;
}

UNIT_TEST(a_worker_left_with_none_by_a_guess_is_muted)
{
	/* A job queue's worker back at its queue, and one whose wake-up named
	 * nothing, have no context by a guess: muted, so that a pooled
	 * connection's tag (its last user's) is not taken up by the next
	 * write out (agent/flow.c). */
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {   /* classify */
		one_job();
		after_job();
	}
	one_job();
	as(1);
	ck_assert_ptr_nonnull(agent_self.cur);
	handoff_relock(&mutex_a);                 /* back at the queue */
	ck_assert_ptr_null(agent_self.cur);
	ck_assert(agent_self.muted);
	/* Two signals before either wake-up: the wake-up names nothing. */
	as(1); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	enter_new(3);
	handoff_signal(&cond_a, false);
	enter_new(3);
	handoff_signal(&cond_a, false);
	as(2); handoff_wait_ends(&cond_a, &mutex_a, true);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert(agent_self.muted);
}

UNIT_TEST(queue_worker_job_context_ends_at_relock)
{
	struct ctx *x;

	/* Not yet classified: the wake-up gives nothing; the worker then
	 * answers a connection (its context), goes back to the queue. */
	one_job();
	as(1);
	ck_assert_ptr_null(agent_self.cur);
	x = enter_new(1);
	handoff_relock(&mutex_a);
	ck_assert_ptr_null(agent_self.cur);
	/* It takes the next job without waiting, answers it, relocks. */
	enter_new(1);
	handoff_relock(&mutex_a);
	ck_assert_ptr_null(agent_self.cur);
	(void)x;
}

/* Thread i enters `c` through the API (what reqctx_api_enter does); the
 * context it had is dropped. */
static void pin(int i, struct ctx *c)
{
	as(i);
	ctx_put(ctx_enter_pinned(c));
}

UNIT_TEST(pinned_survives_every_rule)
{
	struct ctx *x = ctx_new(NULL), *y = ctx_new(NULL), *other;

	/* Rule 5 (Ruby's per-thread condvar for the GVL): thread 1 alone
	 * waits on cond_b, is woken, then serves x and locks the mutex of
	 * that wake-up again. Natively x would end there; pinned it stays. */
	as(1); handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
	enter_new(2);
	handoff_signal(&cond_b, false);
	as(1); handoff_wait_ends(&cond_b, &mutex_a, true);
	pin(1, x);
	ck_assert(ctx_pinned());
	handoff_relock(&mutex_a);
	ck_assert_ptr_eq(agent_self.cur, x);
	/* More wake-ups from other requests' threads: still x. */
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {
		as(1); handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
		enter_new(2 + k % 2);
		handoff_signal(&cond_b, false);
		as(1); handoff_wait_ends(&cond_b, &mutex_a, true);
		handoff_relock(&mutex_a);
		ck_assert_ptr_eq(agent_self.cur, x);
	}
	/* Rule 6: it closed x's connection and waits: still x. */
	agent_self.closed = x;
	handoff_wait_begins(&cond_b, CONDMAP_CONDVAR);
	handoff_wait_ends(&cond_b, &mutex_a, false);
	ck_assert_ptr_eq(agent_self.cur, x);
	handoff_destroy(&cond_b);

	/* Rule 1: a classified job queue neither replaces nor ends it. */
	as(1); ctx_take_current(NULL);
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {
		one_job();
		after_job();
	}
	pin(1, y);
	as(1); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	other = enter_new(3);
	handoff_signal(&cond_a, false);
	as(1); handoff_wait_ends(&cond_a, &mutex_a, true);
	ck_assert_ptr_eq(agent_self.cur, y);
	handoff_relock(&mutex_a);
	ck_assert_ptr_eq(agent_self.cur, y);
	as(2); handoff_wait_ends(&cond_a, &mutex_a, false);

	/* A native switch to another context unpins: the rules apply again. */
	as(1);
	ctx_get(other);
	ctx_take_current(other);
	ck_assert(!ctx_pinned());
	pin(1, NULL);
	ck_assert(!ctx_pinned());
	ck_assert_ptr_null(agent_self.cur);
	ctx_put(x);
	ctx_put(y);
}

UNIT_TEST(main_thread_never_takes)
{
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {
		one_job();
		after_job();
	}
	th[1].tid = 1;                 /* thread 1 is now the main thread */
	agent_pid = 1;
	one_job();
	as(1);
	ck_assert_ptr_null(agent_self.cur);
	after_job();
}

UNIT_TEST(semaphore_worker_back_at_queue)
{
	struct ctx *c = NULL;
	int sem;

	for (int k = 0; k < CONDMAP_POOL_EVIDENCE + 1; k++) {
		as(1); handoff_wait_begins(&sem, CONDMAP_SEMAPHORE);
		ck_assert_ptr_null(agent_self.cur);     /* back at the queue */
		as(2); handoff_wait_begins(&sem, CONDMAP_SEMAPHORE);
		c = enter_new(3);
		handoff_signal(&sem, false);
		as(1); handoff_wait_ends(&sem, NULL, true);
		as(2); handoff_wait_ends(&sem, NULL, false);
	}
	as(1);
	ck_assert_ptr_eq(agent_self.cur, c);
	handoff_wait_begins(&sem, CONDMAP_SEMAPHORE);
	ck_assert_ptr_null(agent_self.cur);
	handoff_wait_ends(&sem, NULL, false);
	handoff_destroy(&sem);
}

/* Two producers: the second may have queued its job before the first's
 * signal was taken, so once a second thread signals, no signal names the
 * job a woken thread takes. */
UNIT_TEST(two_producers_carry_nothing)
{
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {
		ctx_put(one_job());
		after_job();
	}
	as(1); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	ctx_put(enter_new(0));                 /* thread 0: a second producer */
	handoff_signal(&cond_a, false);
	as(1); handoff_wait_ends(&cond_a, &mutex_a, true);
	ck_assert_ptr_null(agent_self.cur);
	after_job();
	ctx_put(one_job());                    /* thread 3 again */
	as(1);
	ck_assert_ptr_null(agent_self.cur);    /* still none */
}

/* ---- while a fork is being prepared (base/lock.h, agent_lock_hook) ------- */
#undef UNIT_TCASE
#define UNIT_TCASE fork

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void *hold_for_a_while(void *arg)
{
	pthread_mutex_lock(&held);
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
	usleep(20000);
	pthread_mutex_unlock(&held);
	return NULL;
}

/* Another thread's short hold is waited for; a fork's is not: the hook
 * would otherwise wait while holding the host's mutex that another
 * library's prepare handler waits for (jemalloc: the fork never ends). */
UNIT_TEST(lock_hook_gives_way_to_a_fork_only)
{
	int taken = 0;
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, hold_for_a_while, &taken), 0);
	while (!__atomic_load_n(&taken, __ATOMIC_ACQUIRE))
		usleep(100);
	__atomic_store_n(&agent_forking, 1, __ATOMIC_RELEASE);
	ck_assert(!agent_lock_hook(&held));         /* at once, not after 20 ms */
	__atomic_store_n(&agent_forking, 0, __ATOMIC_RELEASE);
	ck_assert(agent_lock_hook(&held));          /* waits for the release */
	pthread_mutex_unlock(&held);
	pthread_join(t, NULL);
}

/* A wait recorded without the map leaves its counts unsure: from then on
 * no signal hands a context over, and a wake-up that could not be looked
 * up names no request. */
UNIT_TEST(a_missed_operation_stops_hand_offs)
{
	struct ctx *c;

	/* The evidence that makes cond_a a job queue. */
	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {
		ctx_put(one_job());
		after_job();
	}
	as(1);
	ck_assert_ptr_null(agent_self.cur);
	c = one_job();
	as(1);
	ck_assert_ptr_eq(agent_self.cur, c);       /* hand-offs work */
	after_job();
	ctx_put(c);
	/* A fork is being prepared: the map is held, a wait does without. */
	condmap_fork_prepare();
	__atomic_store_n(&agent_forking, 1, __ATOMIC_RELEASE);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	__atomic_store_n(&agent_forking, 0, __ATOMIC_RELEASE);
	condmap_fork_parent();
	as(2); handoff_wait_ends(&cond_a, &mutex_a, false);
	c = one_job();
	as(1);
	ck_assert_ptr_null(agent_self.cur);        /* none rather than a guess */
	ctx_put(c);
}

/* A signal done without the map may wake another thread than the one an
 * entry queued before it was for: that entry names no request any more. */
UNIT_TEST(a_missed_signal_voids_what_is_queued)
{
	struct ctx *c;

	for (int k = 0; k < CONDMAP_POOL_EVIDENCE; k++) {
		ctx_put(one_job());
		after_job();
	}
	as(1); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	as(2); handoff_wait_begins(&cond_a, CONDMAP_CONDVAR);
	c = enter_new(3);
	handoff_signal(&cond_a, false);             /* queued for the first woken */
	condmap_fork_prepare();
	__atomic_store_n(&agent_forking, 1, __ATOMIC_RELEASE);
	handoff_signal(&cond_a, false);             /* done without the map */
	__atomic_store_n(&agent_forking, 0, __ATOMIC_RELEASE);
	condmap_fork_parent();
	as(2); handoff_wait_ends(&cond_a, &mutex_a, true);   /* woken by either */
	ck_assert_ptr_null(agent_self.cur);
	as(1); handoff_wait_ends(&cond_a, &mutex_a, true);
	ck_assert_ptr_null(agent_self.cur);
	ctx_put(c);
}

Suite *handoff_suite(void)
{
	Suite *s = suite_create("handoff");
	TCase *t = unit_tcase("handoff", "rules");
	TCase *f = unit_tcase("handoff", "fork");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_checked_fixture(f, setup, teardown);
	suite_add_tcase(s, t);
	suite_add_tcase(s, f);
	return s;
}
