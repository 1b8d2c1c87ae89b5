/*
 * test_chan.c - contexts queued in a channel: the units a read takes, in
 * the kernel's terms (bytes; an eventfd's count), and the quiet test the
 * shims' quick path makes.
 */
#include <string.h>

#include "base/ctx.h"
#include "base/id.h"
#include "ctxmap/chan.h"
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
	chan_wrote(ch, x, v, &v);
}

static bool counter_read(struct chan *ch, uint64_t v, struct ctx **got)
{
	return chan_read(ch, sizeof v, &v, sizeof v, got);
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
	chan_wrote(ch, NULL, 3, buf);
	ck_assert(chan_quiet(ch));
	chan_wrote(ch, a, 3, buf);
	ck_assert(!chan_quiet(ch));
	chan_wrote(ch, NULL, 3, buf);   /* after a context: recorded, as none */
	ck_assert(chan_read(ch, 3, buf, 3, &got));
	ck_assert_ptr_eq(got, a);
	ctx_put(got);
	ck_assert(chan_read(ch, 3, buf, 3, &got));
	ck_assert_ptr_null(got);
	ck_assert(chan_quiet(ch));
	chan_unref(ch);
	ctx_put(a);
}

Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *t = unit_tcase("chan", "chan");

	suite_add_tcase(s, t);
	return s;
}
