/*
 * test_chan.c - contexts queued in a channel: the units a read takes, in
 * the kernel's terms (bytes; an eventfd's count), and the quiet test the
 * shims' quick path makes.
 */
#include <pthread.h>
#include <string.h>

#include "base/ctx.h"
#include "base/id.h"
#include "agent/flow.h"
#include "base/thread.h"
#include "ctxmap/chan.h"
#include "ctxmap/fdmap.h"
#include "suites.h"

#define UNIT_SUITE chan
#define UNIT_TCASE chan

static struct ctx *fresh(void)
{
	id_init();
	return ctx_new(NULL);
}

static void counter_wrote(struct chan *ch, struct ctx *x, uint64_t v)
{
	chan_wrote(ch, x, v, &v, false);
}

static bool counter_read(struct chan *ch, uint64_t v, struct ctx **got)
{
	return chan_read(ch, sizeof v, &v, sizeof v, false, got);
}

/* A plain eventfd read takes the count it returns, not every unit
 * recorded: a write is recorded before its call, so a reader can take the
 * count while a later writer's unit is recorded and not yet in the kernel.
 * Taking that unit too would leave the record one behind, and the next
 * read would carry an earlier request (t_workers, eventfd mode). */
UNIT_TEST(counter_read_takes_the_count_read)
{
	struct chan *ch = chan_new(true, false);
	struct ctx *a = fresh(), *b = fresh(), *c = fresh(), *got = NULL;

	counter_wrote(ch, a, 1);
	counter_wrote(ch, b, 1);        /* recorded; its write not made yet */
	ck_assert(counter_read(ch, 1, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	counter_wrote(ch, c, 1);
	ck_assert(counter_read(ch, 2, &got));   /* b's and c's: merged */
	ck_assert_ptr_null(got);
	ck_assert(chan_quiet(ch));
	ck_assert(counter_read(ch, 1, &got) == false);  /* nothing recorded */
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
	ctx_put(c);
}

/* EFD_SEMAPHORE: one unit per read, whatever the 8 bytes say. */
UNIT_TEST(semaphore_read_takes_one)
{
	struct chan *ch = chan_new(true, true);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;

	counter_wrote(ch, a, 1);
	counter_wrote(ch, b, 1);
	ck_assert(counter_read(ch, 1, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert(counter_read(ch, 1, &got));
	ck_assert_ptr_eq(got, b);
	ctx_put(got);
	ck_assert(chan_quiet(ch));
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* What the shims' quick path relies on (agent/flow.h): a channel that
 * only ever carried units without a context records nothing and stays
 * quiet; one context written makes it loud until read. */
UNIT_TEST(quiet_until_a_context_is_written)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *got = NULL;
	char buf[4] = "abc";

	ck_assert(chan_quiet(NULL));
	chan_wrote(ch, NULL, 3, buf, false);
	ck_assert(chan_quiet(ch));
	chan_wrote(ch, a, 3, buf, false);
	ck_assert(!chan_quiet(ch));
	chan_wrote(ch, NULL, 3, buf, false);   /* after a context: recorded, as none */
	ck_assert(chan_read(ch, 3, buf, 3, false, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert(chan_read(ch, 3, buf, 3, false, &got));
	ck_assert_ptr_null(got);
	ck_assert(chan_quiet(ch));
	chan_unref(ch);
	ctx_put(a);
}

/* Two writers' calls in flight at once may reach the kernel in either
 * order: the record cannot say whose bytes a read got, so reads carry
 * nothing until the channel drains; then the order is known again. */
UNIT_TEST(overlapping_writes_carry_nothing_until_drained)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;

	ck_assert(chan_wrote(ch, a, 1, "j", true));     /* a's call starts */
	ck_assert(chan_wrote(ch, b, 1, "j", true));     /* b's too: overlap */
	chan_write_done(ch);                            /* b's reached the kernel first */
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_null(got);                        /* a's by the record: unknown */
	chan_write_done(ch);
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_null(got);
	/* Drained: one write at a time is in order again. */
	ck_assert(chan_wrote(ch, a, 1, "j", true));
	chan_write_done(ch);
	ck_assert(chan_wrote(ch, b, 1, "j", true));
	chan_write_done(ch);
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_eq(got, b);
	ctx_put(got);
	/* A channel that carried contexts records a write with none too
	 * (a tick between jobs): tracked like the others. */
	ck_assert(chan_wrote(ch, NULL, 1, "j", true));
	chan_write_done(ch);
	chan_unref(ch);
	/* One that never did: nothing recorded, nothing to track. */
	ch = chan_new(false, false);
	ck_assert(!chan_wrote(ch, NULL, 1, "j", true));
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* A wake-up byte from two threads: one may queue its job first and write
 * second, so whose job a read leads to is not known (t_workers, pipe mode
 * with 3 acceptors). Bytes that say which job (a pointer each) still do. */
static void *write_from_thread(void *arg)
{
	void **a = arg;

	chan_wrote(a[0], a[1], 1, "j", false);
	return NULL;
}

UNIT_TEST(wakeups_from_several_threads_carry_nothing)
{
	struct chan *ch = chan_new(false, false), *ptrs = chan_new(false, false);
	struct chan *ch2 = chan_new(false, false), *ch3 = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;
	void *args[2] = { ch, b };
	uint64_t ja = 0x1111;
	pthread_t t;

	chan_wrote(ch, a, 1, "j", false);
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_eq(got, a);         /* one writer so far: in order */
	ctx_put(got);
	chan_wrote(ch, a, 1, "j", false);
	ck_assert_int_eq(pthread_create(&t, NULL, write_from_thread, args), 0);
	pthread_join(t, NULL);
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_null(got);
	ck_assert(chan_read(ch, 1, "j", 1, false, &got));
	ck_assert_ptr_null(got);

	/* Distinct bytes per write from two threads: each read names its write. */
	chan_wrote(ptrs, a, sizeof ja, &ja, false);
	args[0] = ptrs;
	ck_assert_int_eq(pthread_create(&t, NULL, write_from_thread, args), 0);
	pthread_join(t, NULL);            /* writes "j" with b: distinct from ja */
	ck_assert(chan_read(ptrs, sizeof ja, &ja, sizeof ja, false, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	/* Several threads start requests: the very first write names no job
	 * (another producer may have queued its job and not written yet, and
	 * one write does not show whether the bytes vary), nor does a
	 * repeating byte, before a second writer shows itself. */
	chan_wrote(ch3, a, 1, "j", false);
	ck_assert(chan_read(ch3, 1, "j", 1, true, &got) == CHAN_ANONYMOUS);
	ck_assert_ptr_null(got);
	chan_wrote(ch2, a, 1, "j", false);
	chan_wrote(ch2, b, 1, "j", false);
	ck_assert(chan_read(ch2, 1, "j", 1, true, &got) == CHAN_ANONYMOUS);
	ck_assert_ptr_null(got);
	chan_unref(ch);
	chan_unref(ptrs);
	chan_unref(ch2);
	chan_unref(ch3);
	ctx_put(a);
	ctx_put(b);
}

/* A pool of readers on one producer's pipe: the readers finish in any
 * order, but every unit queued is the one request's, so every read is. */
struct pool_read {
	struct chan *ch;
	struct ctx *got;
	enum chan_took took;
};

static void *read_from_thread(void *arg)
{
	struct pool_read *r = arg;
	uint64_t job = 0x2222;

	r->took = chan_read(r->ch, sizeof job, &job, sizeof job, false, &r->got);
	return NULL;
}

UNIT_TEST(readers_of_one_producer_all_get_its_context)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *got = NULL;
	struct pool_read r = { ch, NULL, CHAN_NOTHING };
	uint64_t jobs[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };
	pthread_t t;

	chan_wrote(ch, a, sizeof jobs[0], &jobs[0], false);
	ck_assert(chan_read(ch, sizeof jobs[0], &jobs[0], sizeof jobs[0], false, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	chan_wrote(ch, a, sizeof jobs[1], &jobs[1], false);
	ck_assert_int_eq(pthread_create(&t, NULL, read_from_thread, &r), 0);
	pthread_join(t, NULL);              /* a second reader: reads may finish out of order */
	ck_assert_int_eq(r.took, CHAN_TOOK);
	ck_assert_ptr_eq(r.got, a);
	ctx_put(r.got);
	chan_wrote(ch, a, sizeof jobs[2], &jobs[2], false);
	chan_wrote(ch, a, sizeof jobs[3], &jobs[3], false);   /* merged: no write's bytes kept */
	ck_assert(chan_read(ch, sizeof jobs[3], &jobs[3], sizeof jobs[3], false, &got));
	ck_assert_ptr_eq(got, a);         /* whichever it got, it is a's */
	ctx_put(got);
	chan_unref(ch);
	ctx_put(a);
}

/* A read of one write's length whose bytes start as no recorded write:
 * bytes the record never saw (a thread with no context wrote them while
 * the channel looked empty, racing a write with one). Taking the oldest
 * write for them gave its context to other work and left the read that
 * does get that write the next one's (a pool's "tick" among its jobs). */
UNIT_TEST(unrecorded_bytes_take_nothing)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = a;
	uint64_t tick = 0x7171, ja = 0x1111, jb = 0x2222;

	chan_wrote(ch, a, sizeof ja, &ja, false);
	chan_wrote(ch, b, sizeof jb, &jb, false);
	ck_assert_int_eq(chan_read(ch, sizeof tick, &tick, sizeof tick, false, &got), CHAN_NOBODY);
	ck_assert_ptr_null(got);
	ck_assert_uint_eq(chan_pending(ch), 16);        /* both still queued */
	ck_assert(chan_read(ch, sizeof ja, &ja, sizeof ja, false, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert(chan_read(ch, sizeof jb, &jb, sizeof jb, false, &got));
	ck_assert_ptr_eq(got, b);
	ctx_put(got);
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* A second writer thread's ticks, with no context, two queued at once:
 * bytes that repeat, which name no job. Reads of the ticks carry none; a
 * read of a job's bytes, which never repeated, still names its job.
 * Before, one repeat anywhere made every read of the channel anonymous,
 * for good. */
struct tick_arg {
	struct chan *ch;
	uint64_t tick;
};

static void *tick_twice(void *arg)
{
	struct tick_arg *t = arg;

	chan_wrote(t->ch, NULL, sizeof t->tick, &t->tick, false);
	chan_wrote(t->ch, NULL, sizeof t->tick, &t->tick, false);
	return NULL;
}

UNIT_TEST(ticks_repeat_jobs_named)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;
	uint64_t ja = 0x1111, jb = 0x2222;
	struct tick_arg t = { ch, 0x7171 };
	pthread_t th;

	chan_wrote(ch, a, sizeof ja, &ja, false);
	ck_assert_int_eq(pthread_create(&th, NULL, tick_twice, &t), 0);
	pthread_join(th, NULL);
	chan_wrote(ch, b, sizeof jb, &jb, false);
	ck_assert_int_eq(chan_read(ch, sizeof ja, &ja, sizeof ja, false, &got), CHAN_TOOK);
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	for (int i = 0; i < 2; i++) {      /* the ticks (one segment: one context) */
		ck_assert_int_ne(chan_read(ch, sizeof t.tick, &t.tick, sizeof t.tick, false, &got),
				 CHAN_NOTHING);
		ck_assert_ptr_null(got);
	}
	ck_assert_int_eq(chan_read(ch, sizeof jb, &jb, sizeof jb, false, &got), CHAN_TOOK);
	ck_assert_ptr_eq(got, b);
	ctx_put(got);
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* One producer's wake-up byte, read by two workers that then pop jobs
 * from the program's queue: the order they read in is not the order they
 * pop in, so once a second thread has read the channel its reads carry
 * nothing (before: each took the oldest wake-up's context, another job's
 * when the workers popped in the other order). */
static void *read_wakeup(void *arg)
{
	struct pool_read *r = arg;

	r->took = chan_read(r->ch, 1, "x", 1, false, &r->got);
	return NULL;
}

UNIT_TEST(wakeups_read_by_two_workers_carry_nothing)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;
	struct pool_read r = { ch, a, CHAN_NOTHING };
	pthread_t t;

	chan_wrote(ch, a, 1, "x", false);
	chan_wrote(ch, b, 1, "x", false);
	ck_assert(chan_read(ch, 1, "x", 1, false, &got));     /* the only reader yet */
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert_int_eq(pthread_create(&t, NULL, read_wakeup, &r), 0);
	pthread_join(t, NULL);
	ck_assert_int_ne(r.took, CHAN_NOTHING);
	ck_assert_ptr_null(r.got);
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* A framed queue read header first, payload second (no read is one
 * write's length), with bytes before the first job the record never saw
 * (a tick written before the channel carried anything): reads that do not
 * start with the oldest write's bytes take nothing, and the reads after
 * them are that write's. Before, every job took the one after's context. */
UNIT_TEST(reads_realign_after_unrecorded_bytes)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;
	char tick[64], ja[64], jb[64];

	memset(tick, 't', sizeof tick);
	memset(ja, 'a', sizeof ja);
	memset(jb, 'b', sizeof jb);
	chan_wrote(ch, a, sizeof ja, ja, false);
	chan_wrote(ch, b, sizeof jb, jb, false);
	ck_assert_int_eq(chan_read(ch, 8, tick, 8, false, &got), CHAN_NOBODY);
	ck_assert_int_eq(chan_read(ch, 56, tick + 8, 56, false, &got), CHAN_NOBODY);
	ck_assert_uint_eq(chan_pending(ch), 128);
	for (int i = 0; i < 2; i++) {
		struct ctx *want = i ? b : a;
		const char *j = i ? jb : ja;

		ck_assert_int_eq(chan_read(ch, 8, j, 8, false, &got), CHAN_TOOK);
		ck_assert_ptr_eq(got, want);
		ctx_put(got);
		ck_assert_int_eq(chan_read(ch, 56, j + 8, 56, false, &got), CHAN_TOOK);
		ck_assert_ptr_eq(got, want);
		ctx_put(got);
	}
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* A datagram channel: writes of one context stay apart, and a read takes
 * the oldest whole however little of it the buffer held (the kernel drops
 * the rest). Before, the rest stayed queued and the next read took it. */
UNIT_TEST(datagram_read_takes_its_write_whole)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;
	char da[200], db[200];

	chan_messages(ch);
	memset(da, 'a', sizeof da);
	memset(db, 'b', sizeof db);
	chan_wrote(ch, a, sizeof da, da, false);
	chan_wrote(ch, a, sizeof da, da + 1, false);    /* same context: not merged */
	chan_wrote(ch, b, sizeof db, db, false);
	for (int i = 0; i < 3; i++) {
		const char *d = i < 2 ? da : db;

		ck_assert_int_eq(chan_read(ch, 128, d, 128, false, &got), CHAN_TOOK);
		ck_assert_ptr_eq(got, i < 2 ? a : b);
		ctx_put(got);
	}
	ck_assert(chan_quiet(ch));
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* A gathered write (writev, sendmsg) records its head as a contiguous one
 * does: a pool's readers finishing out of order take each its own job's
 * context. Before, such a write kept no bytes and the first read to
 * finish took the oldest write's context, whatever it had read. */
UNIT_TEST(gathered_write_keeps_its_head)
{
	int p[2] = { 7110, 7111 };
	struct ctx *a = fresh(), *b = fresh();
	uint64_t ja = 0x1111, jb = 0x2222;
	struct pool_read r = { NULL, NULL, CHAN_NOTHING };
	struct chan *rx;
	pthread_t t;

	flow_pipe(p);
	ctx_take_current(a);
	flow_write_slot_head(fdmap_peek(p[1]), p[1], NULL, &ja, sizeof ja);
	flow_write_done(p[1], NULL, sizeof ja, sizeof ja, true);
	ctx_take_current(b);
	flow_write_slot_head(fdmap_peek(p[1]), p[1], NULL, &jb, sizeof jb);
	flow_write_done(p[1], NULL, sizeof jb, sizeof jb, true);
	ctx_take_current(NULL);
	rx = fdmap_chan_get(fdmap_peek(p[0]), true);
	ck_assert_ptr_nonnull(rx);
	r.ch = rx;
	ck_assert_int_eq(pthread_create(&t, NULL, read_from_thread, &r), 0);   /* reads jb */
	pthread_join(t, NULL);
	ck_assert_int_eq(r.took, CHAN_TOOK);
	ck_assert_ptr_eq(r.got, b);
	ctx_put(r.got);
	chan_unref(rx);
	flow_close(p[0]);
	flow_close(p[1]);
	ctx_put(a);
	ctx_put(b);
}

static unsigned ctx_refs(const struct ctx *x)
{
	return __atomic_load_n(&x->refs, __ATOMIC_RELAXED);
}

/* Every reference a read takes is one the reader gets or one released:
 * a job read whole (its segment's reference moves to the reader), a job
 * read in two parts, and one read spanning two writers' jobs (none to the
 * reader). A context's count is back where it started once the reader
 * drops what it got. */
UNIT_TEST(reads_balance_the_references)
{
	struct chan *ch = chan_new(false, false);
	struct ctx *a = fresh(), *b = fresh(), *got = NULL;
	uint64_t ja = 0xa1, jb = 0xb2;

	chan_wrote(ch, a, sizeof ja, &ja, false);
	ck_assert_uint_eq(ctx_refs(a), 2);
	ck_assert_int_eq(chan_read(ch, sizeof ja, &ja, sizeof ja, false, &got), CHAN_TOOK);
	ck_assert_ptr_eq(got, a);
	ck_assert_uint_eq(ctx_refs(a), 2);       /* the segment's, now the reader's */
	ctx_put(got);
	ck_assert_uint_eq(ctx_refs(a), 1);
	ck_assert(chan_quiet(ch));

	chan_wrote(ch, a, sizeof ja, &ja, false);
	ck_assert_int_eq(chan_read(ch, 3, &ja, 3, false, &got), CHAN_TOOK);
	ck_assert_ptr_eq(got, a);
	ck_assert_uint_eq(ctx_refs(a), 3);       /* the reader's and the rest's */
	ctx_put(got);
	ck_assert_int_eq(chan_read(ch, 5, (char *)&ja + 3, 5, false, &got), CHAN_TOOK);
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert_uint_eq(ctx_refs(a), 1);

	chan_wrote(ch, a, sizeof ja, &ja, false);
	chan_wrote(ch, b, sizeof jb, &jb, false);
	ck_assert_int_eq(chan_read(ch, 16, &ja, sizeof ja, false, &got), CHAN_TOOK);
	ck_assert_ptr_null(got);                  /* two writers' units */
	ck_assert_uint_eq(ctx_refs(a), 1);
	ck_assert_uint_eq(ctx_refs(b), 1);
	chan_unref(ch);
	ctx_put(a);
	ctx_put(b);
}

/* A thread writing one channel call after call keeps one reference to it
 * between the calls (chan_put): the calls take and drop none. Moving to
 * another channel gives the first one's back, and the thread's end the
 * last: a channel whose fds are closed is released then. */
UNIT_TEST(thread_keeps_its_channel_between_calls)
{
	int p[2] = { 7120, 7121 }, q[2] = { 7122, 7123 };
	struct ctx *a = fresh();
	struct chan *tp, *tq;

	chan_drop_held();
	flow_pipe(p);
	flow_pipe(q);
	tp = fdmap_peek(p[1])->tx;
	tq = fdmap_peek(q[1])->tx;
	ck_assert_uint_eq(__atomic_load_n(&tp->refs, __ATOMIC_RELAXED), 2);    /* its two fds */
	ctx_take_current(a);
	ck_assert(flow_write_slot(fdmap_peek(p[1]), p[1], "job1", 4));
	ck_assert_ptr_null(agent_self.chan_held);    /* the call's own, in flight */
	flow_write_done(p[1], "job1", 4, 4, true);
	ck_assert_ptr_eq(agent_self.chan_held, tp);
	ck_assert_uint_eq(__atomic_load_n(&tp->refs, __ATOMIC_RELAXED), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(flow_write_slot(fdmap_peek(p[1]), p[1], "job2", 4));
		flow_write_done(p[1], "job2", 4, 4, true);
		ck_assert_uint_eq(__atomic_load_n(&tp->refs, __ATOMIC_RELAXED), 3);
	}
	ck_assert(flow_write_slot(fdmap_peek(q[1]), q[1], "job3", 4));
	flow_write_done(q[1], "job3", 4, 4, true);
	ck_assert_ptr_eq(agent_self.chan_held, tq);
	ck_assert_uint_eq(__atomic_load_n(&tp->refs, __ATOMIC_RELAXED), 2);
	ck_assert_uint_eq(__atomic_load_n(&tq->refs, __ATOMIC_RELAXED), 3);
	flow_close(q[0]);
	flow_close(q[1]);
	ck_assert_uint_eq(__atomic_load_n(&tq->refs, __ATOMIC_RELAXED), 1);   /* the thread's alone */
	chan_drop_held();
	ck_assert_uint_eq(__atomic_load_n(&tq->refs, __ATOMIC_RELAXED), 0);   /* released */
	ctx_take_current(NULL);
	flow_close(p[0]);
	flow_close(p[1]);
	ck_assert_uint_eq(__atomic_load_n(&tp->refs, __ATOMIC_RELAXED), 0);
	ctx_put(a);
}

/* A write made inside another's call (a signal handler's self-pipe write)
 * is not the one in flight: its return must not end the outer write's
 * tracking, nor correct the outer channel's units with its own count. */
UNIT_TEST(nested_write_leaves_the_outer_in_flight)
{
	int a[2] = { 7100, 7101 }, b[2] = { 7102, 7103 };
	struct ctx *x = fresh();
	struct chan *ta;

	flow_pipe(a);
	flow_pipe(b);
	ctx_take_current(x);
	ck_assert(flow_write_slot(fdmap_peek(a[1]), a[1], "outer", 5));
	ta = agent_self.chan_write;
	ck_assert_ptr_nonnull(ta);
	/* The handler's write: recorded, not tracked; it took nothing. */
	ck_assert(!flow_write_slot(fdmap_peek(b[1]), b[1], "h", 1));
	flow_write_done(b[1], "h", 1, -1, false);
	ck_assert_ptr_eq(agent_self.chan_write, ta);       /* still the outer's */
	ck_assert_uint_eq(chan_pending(ta), 5);             /* its units untouched */
	ck_assert_int_eq(__atomic_load_n(&ta->inflight, __ATOMIC_RELAXED), 1);
	flow_write_done(a[1], "outer", 5, 5, true);
	ck_assert_ptr_null(agent_self.chan_write);
	ck_assert_int_eq(__atomic_load_n(&ta->inflight, __ATOMIC_RELAXED), 0);
	ctx_take_current(NULL);
	ctx_put(x);
}

Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *t = unit_tcase("chan", "chan");

	suite_add_tcase(s, t);
	return s;
}
