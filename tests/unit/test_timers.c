/*
 * test_timers.c - timers carry the context that armed them (agent/flow.h):
 * timerfds through the fd map, POSIX timers notified on a thread of their
 * own (SIGEV_THREAD) through their record. Fake fds and timer ids.
 */
#include <string.h>

#include "agent/flow.h"
#include "agent/handoff.h"
#include "base/ctx.h"
#include "fake.h"
#include "suites.h"

#define UNIT_SUITE timers
#define UNIT_TCASE arming

enum { CLIENT = 940, TIMERFD = 941, CLIENT_B = 942 };

static int fired_with;

static void program_fn(union sigval v)
{
	fired_with = v.sival_int;
}

static const int fds[] = { CLIENT, TIMERFD, CLIENT_B };

static void setup(void)
{
	fake_setup(NULL);
	*agent_armed = 1;                 /* a notification asks agent_running() */
}

static void teardown(void)
{
	fake_teardown(fds, sizeof fds / sizeof fds[0]);
	*agent_armed = 0;
}

static void serve(const char *id)
{
	fake_serve(CLIENT, id);
}

/* Records of deleted timers are never freed (a notification may still be
 * on its way: ctxmap/timermap.h); the tests keep them reachable. */
static struct ptimer *volatile records[2];

static const struct itimerspec in_1s = { .it_value = { 1, 0 } }, off = { { 0, 0 }, { 0, 0 } };

UNIT_TEST(arms_only_with_a_value)
{
	ck_assert(flow_arms(&in_1s));
	ck_assert(!flow_arms(&off));
}

UNIT_TEST(timerfd_fires_in_the_context_that_armed_it)
{
	uint64_t n = 1;

	flow_timerfd(TIMERFD);
	serve("req-a");
	flow_timer_armed(TIMERFD, flow_arms(&in_1s));
	flow_idle();
	flow_read_slot(fdmap_peek(TIMERFD), TIMERFD, &n, sizeof n, sizeof n);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* A read of the timerfd as the read shim makes it: the quick tests, then
 * the slot's way. */
static void read_timer(void)
{
	uint64_t n = 1;
	struct fdslot *s = fdmap_peek(TIMERFD);

	if (!flow_read_quick(s, &n, sizeof n))
		flow_read_slot(s, TIMERFD, &n, sizeof n, sizeof n);
}

/* A thread started inside request A (pthread_create) arms a periodic
 * timerfd and reads its expiries (a flusher): each expiry is a sleep.
 * While A is alone and unanswered it keeps A; once B begins, the next
 * expiry ends A, and the timer names nothing from then on. Before, each
 * read made A current again (the thread's "own" fd). */
UNIT_TEST(timerfd_armed_on_an_inherited_context_is_a_sleep)
{
	struct ctx *a;

	serve("req-a");
	a = agent_self.cur;
	ctx_get(a);
	ctx_take_current(NULL);
	handoff_thread_starts(a);                   /* the flusher, in A */
	flow_timerfd(TIMERFD);
	flow_timer_armed(TIMERFD, true);
	read_timer();
	ck_assert_ptr_eq(agent_self.cur, a);        /* A alone: kept */
	ck_assert_ptr_eq(agent_self.inherited, a);
	ctx_take_current(NULL);
	fake_serve(CLIENT_B, "req-b");            /* another request begins */
	ctx_take_current(NULL);
	ctx_get(a);
	handoff_thread_starts(a);                   /* (the same flusher, later) */
	read_timer();
	ck_assert_ptr_null(agent_self.cur);
	read_timer();
	ck_assert_ptr_null(agent_self.cur);         /* the timer names nothing */
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(TIMERFD)));
}

UNIT_TEST(disarmed_timerfd_carries_nothing)
{
	uint64_t n = 1;

	flow_timerfd(TIMERFD);
	serve("req-a");
	flow_timer_armed(TIMERFD, true);
	flow_timer_armed(TIMERFD, false);
	flow_idle();
	flow_read_slot(fdmap_peek(TIMERFD), TIMERFD, &n, sizeof n, sizeof n);
	ck_assert_ptr_null(agent_self.cur);
}

/* timer_create, timer_settime in request A, the notification on another
 * thread: A is current there, and the program's function gets its value. */
UNIT_TEST(posix_timer_notifies_in_the_arming_context)
{
	static int id_obj;
	timer_t id = (timer_t)&id_obj;
	struct ptimer *t = records[0] = flow_ptimer_new(program_fn, (union sigval){ .sival_int = 7 });
	union sigval v;
	flow_ptimer_fn fn;

	ck_assert_ptr_nonnull(t);
	flow_ptimer_created(t, &id, true);
	serve("req-a");
	flow_ptimer_armed(id, true);
	ctx_take_current(NULL);                     /* the notification thread */
	fn = flow_ptimer_fires(t, &v);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	fn(v);
	ck_assert_int_eq(fired_with, 7);
	ctx_take_current(NULL);
	flow_ptimer_armed(id, false);
	fn = flow_ptimer_fires(t, &v);
	ck_assert_ptr_null(agent_self.cur);
	flow_ptimer_deleted(id);
}

/* A deleted timer's late notification runs in no request. */
UNIT_TEST(deleted_posix_timer_notifies_in_none)
{
	static int id_obj;
	timer_t id = (timer_t)&id_obj;
	struct ptimer *t = records[1] = flow_ptimer_new(program_fn, (union sigval){ .sival_int = 3 });
	union sigval v;

	ck_assert_ptr_nonnull(t);
	flow_ptimer_created(t, &id, true);
	serve("req-a");
	flow_ptimer_armed(id, true);
	flow_ptimer_deleted(id);
	ctx_take_current(NULL);
	flow_ptimer_fires(t, &v)(v);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_int_eq(fired_with, 3);
}

Suite *timers_suite(void)
{
	Suite *s = suite_create("timers");
	TCase *t = unit_tcase("timers", "arming");

	tcase_add_checked_fixture(t, setup, teardown);
	suite_add_tcase(s, t);
	return s;
}
