/*
 * test_dispatch.c - epoll events handed out one at a time (agent/dispatch.h)
 * from a fake batch: the shim's part (the wait) is played by filling the
 * buffer dispatch_buffer() gives, as the kernel would.
 */
#include <string.h>

#include "agent/bridge.h"
#include "agent/dispatch.h"
#include "agent/flow.h"
#include "base/ctx.h"
#include "fake.h"
#include "suites.h"

#define UNIT_SUITE dispatch
#define UNIT_TCASE batch

enum { EPFD = 930, CLIENT_A = 931, CLIENT_B = 932, UNKNOWN = 933, CLIENT_C = 934 };

static const int faked[] = { CLIENT_A, CLIENT_B, UNKNOWN, CLIENT_C, EPFD };

static void setup(void)
{
	fake_setup(NULL);
	flow_new_fd(EPFD, FD_EPOLL);
}

static void teardown(void)
{
	dispatch_thread_exit();
	fake_teardown(faked, sizeof faked / sizeof faked[0]);
}

/* Request `id` on fake connection fd, registered in EPFD with its fd as
 * data; then the thread waits (no context). */
static void serve(int fd, const char *id)
{
	fake_serve(fd, id);
	flow_epoll_ctl(EPFD, EPOLL_CTL_ADD, fd, (uint64_t)fd, EPOLLIN);
	flow_idle();
}

/* The kernel reports the events of fds[0..n) (data = fd). Returns what
 * dispatch_fill() returns; the first event handed out goes to *ev. */
static int kernel_reports(const int *fds, int n, struct epoll_event *ev)
{
	struct epoll_event *buf = dispatch_buffer(EPFD, 16);

	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < n; i++)
		buf[i] = (struct epoll_event){ .events = EPOLLIN, .data.u64 = (uint64_t)fds[i] };
	return dispatch_fill(EPFD, n, ev);
}

UNIT_TEST(events_go_out_one_at_a_time_each_in_its_context)
{
	static const int fds[] = { CLIENT_A, CLIENT_B };
	struct epoll_event ev;

	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	ck_assert_int_eq(kernel_reports(fds, 2, &ev), 1);
	ck_assert_uint_eq(ev.data.u64, CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 1);
	ck_assert_uint_eq(ev.data.u64, CLIENT_B);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 0);   /* the caller waits */
}

/* The second event's registration is deleted before it is handed out:
 * the kernel would not report it now, so it is dropped. */
UNIT_TEST(an_event_whose_registration_changed_is_dropped)
{
	static const int fds[] = { CLIENT_A, CLIENT_B };
	struct epoll_event ev;

	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	ck_assert_int_eq(kernel_reports(fds, 2, &ev), 1);
	flow_epoll_ctl(EPFD, EPOLL_CTL_DEL, CLIENT_B, 0, EPOLLIN);
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 0);
}

/* A registration changed after the batch came: each event left is asked
 * (the registration of B is gone, C's is as it was): B dropped, C handed
 * out in its context. */
UNIT_TEST(after_a_change_each_event_left_is_asked)
{
	static const int fds[] = { CLIENT_A, CLIENT_B, CLIENT_C };
	struct epoll_event ev;

	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	serve(CLIENT_C, "req-c");
	ck_assert_int_eq(kernel_reports(fds, 3, &ev), 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_epoll_ctl(EPFD, EPOLL_CTL_DEL, CLIENT_B, 0, EPOLLIN);
	flow_idle();
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 1);
	ck_assert_uint_eq(ev.data.u64, CLIENT_C);
	ck_assert_str_eq(fake_cur_id(), "req-c");
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 0);
}

/* The shims' frameless hand-out (dispatch_ready, dispatch_take) gives
 * what dispatch_next() gives: an event of the thread's own context with
 * its marks set inline, one of another connection switched to it, and
 * nothing once the buffer is empty or a registration changed (then
 * dispatch_next() decides). */
UNIT_TEST(the_quick_hand_out_is_dispatch_next)
{
	static const int fds[] = { CLIENT_A, CLIENT_A, CLIENT_B, CLIENT_C };
	struct epoll_event ev;
	struct ep_buf *b;

	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	serve(CLIENT_C, "req-c");
	ck_assert_int_eq(kernel_reports(fds, 4, &ev), 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	agent_self.event_fd = -1;
	agent_enter();                                   /* as the shims do */
	ck_assert_ptr_nonnull(b = dispatch_ready(EPFD));
	ck_assert_int_eq(dispatch_take(b, &ev), 1);      /* A again: no switch */
	ck_assert_uint_eq(ev.data.u64, CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_int_eq(agent_self.event_fd, CLIENT_A);
	ck_assert(agent_self.weak);
	ck_assert_uint_eq(agent_self.depth, 0);          /* dispatch_take left it */
	agent_enter();
	ck_assert_ptr_nonnull(b = dispatch_ready(EPFD));
	ck_assert_int_eq(dispatch_take(b, &ev), 1);      /* B: switched */
	ck_assert_uint_eq(ev.data.u64, CLIENT_B);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert_int_eq(agent_self.event_fd, CLIENT_B);
	ck_assert_uint_eq(agent_self.depth, 0);
	flow_epoll_ctl(EPFD, EPOLL_CTL_MOD, CLIENT_A, (uint64_t)CLIENT_A, EPOLLIN);
	ck_assert_ptr_null(dispatch_ready(EPFD));        /* a registration changed */
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 1);
	ck_assert_uint_eq(ev.data.u64, CLIENT_C);
	ck_assert_str_eq(fake_cur_id(), "req-c");
	ck_assert_ptr_null(dispatch_ready(EPFD));        /* empty */
}

/* An event whose data names no registration the agent saw: no context,
 * not the last event's. */
UNIT_TEST(an_event_not_known_carries_no_context)
{
	static const int fds[] = { CLIENT_A, UNKNOWN };
	struct epoll_event ev;

	serve(CLIENT_A, "req-a");
	ck_assert_int_eq(kernel_reports(fds, 2, &ev), 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 1);
	ck_assert_uint_eq(ev.data.u64, UNKNOWN);
	ck_assert_msg(agent_self.cur == NULL, "an unknown event runs in %s", fake_cur_id());
}

/* The wait begins (dispatch_buffer), then `during` runs (another
 * thread's epoll_ctl), then the kernel reports fds[0..n): what
 * dispatch_fill() returns, the events handed out in out[]. */
static int kernel_reports_after(const int *fds, int n, void (*during)(void), struct epoll_event *out)
{
	struct epoll_event *buf = dispatch_buffer(EPFD, 16);

	ck_assert_ptr_nonnull(buf);
	during();
	for (int i = 0; i < n; i++)
		buf[i] = (struct epoll_event){ .events = EPOLLIN, .data.u64 = (uint64_t)fds[i] };
	return dispatch_fill(EPFD, n, out);
}

static struct fdslot *under_way;

static void ctl_under_way(void)
{
	under_way = dispatch_ctl_begins(EPFD);
	ck_assert_ptr_nonnull(under_way);
}

static void add_b(void)
{
	serve(CLIENT_B, "req-b");
}

static void delete_c(void)
{
	flow_epoll_ctl(EPFD, EPOLL_CTL_DEL, CLIENT_C, 0, EPOLLIN);
}

/* Another thread's epoll_ctl is under way when the batch is matched: the
 * kernel may already report a registration not recorded yet (Apache's
 * event MPM aborted on one, kept and handed out after its delete). The
 * batch goes out whole, as the kernel gave it, with no context. */
UNIT_TEST(a_batch_read_while_an_epoll_ctl_is_under_way_goes_out_whole)
{
	static const int fds[] = { CLIENT_A, CLIENT_B };
	struct epoll_event out[8];

	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	ck_assert_int_eq(kernel_reports_after(fds, 2, ctl_under_way, out), 2);
	dispatch_ctl_ends(under_way);
	ck_assert_uint_eq(out[0].data.u64, CLIENT_A);
	ck_assert_uint_eq(out[1].data.u64, CLIENT_B);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_int_eq(dispatch_next(EPFD, out), 0);   /* nothing kept */
}

/* A registration the batch reports was added while the wait was on: it
 * cannot be told whether the kernel reported it or the one before. */
UNIT_TEST(a_batch_reporting_a_registration_added_during_the_wait_goes_out_whole)
{
	static const int fds[] = { CLIENT_A, CLIENT_B };
	struct epoll_event out[8];

	serve(CLIENT_A, "req-a");
	ck_assert_int_eq(kernel_reports_after(fds, 2, add_b, out), 2);
	ck_assert_uint_eq(out[1].data.u64, CLIENT_B);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_int_eq(dispatch_next(EPFD, out), 0);
}

/* A change during the wait to a registration the batch does not report
 * leaves the batch matched: one event at a time, each in its context. */
UNIT_TEST(a_change_to_another_registration_during_the_wait_keeps_the_batch)
{
	static const int fds[] = { CLIENT_A, CLIENT_B };
	struct epoll_event out[8];

	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	serve(CLIENT_C, "req-c");
	ck_assert_int_eq(kernel_reports_after(fds, 2, delete_c, out), 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_int_eq(dispatch_next(EPFD, out), 1);
	ck_assert_uint_eq(out[0].data.u64, CLIENT_B);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* One event is handed out at once anyway: in its context. */
UNIT_TEST(one_event_read_while_an_epoll_ctl_is_under_way_keeps_its_context)
{
	static const int fds[] = { CLIENT_A };
	struct epoll_event out[8];

	serve(CLIENT_A, "req-a");
	ck_assert_int_eq(kernel_reports_after(fds, 1, ctl_under_way, out), 1);
	dispatch_ctl_ends(under_way);
	ck_assert_uint_eq(out[0].data.u64, CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

UNIT_TEST(batch_mode_buffers_nothing)
{
	fake_config("REQCTX_EPOLL=batch");
	ck_assert_ptr_null(dispatch_buffer(EPFD, 16));
}

/* Once greenlet's extension is loaded into a Python process, an epoll
 * event names nobody the thread's lines may carry (bridge_green), unless
 * the bridge drives that loop; another library's load changes nothing. */
UNIT_TEST(in_a_green_process_an_event_vouches_for_nobody)
{
	static const int fds[] = { CLIENT_A, CLIENT_B };
	struct epoll_event ev;

	bridge_watch_loads = 1;
	bridge_loaded("/usr/lib/python3/dist-packages/gevent/libev/corecext.cpython-311-x86_64-linux-gnu.so");
	bridge_loaded("/opt/lib/libgreenlet_helper.so");
	ck_assert_int_eq(bridge_green, 0);
	serve(CLIENT_A, "req-a");
	serve(CLIENT_B, "req-b");
	ck_assert_int_eq(kernel_reports(fds, 2, &ev), 1);
	ck_assert(!agent_self.unvouched);
	ck_assert_ptr_eq(ctx_carried(), agent_self.cur);
	bridge_loaded("/usr/lib/python3/dist-packages/greenlet/_greenlet.cpython-311-x86_64-linux-gnu.so");
	ck_assert_int_eq(bridge_green, 1);
	ck_assert_int_eq(dispatch_next(EPFD, &ev), 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(agent_self.unvouched);
	ck_assert_ptr_null(ctx_carried());
	agent_self.bridge_loop = true;
	ck_assert_int_eq(kernel_reports(fds, 1, &ev), 1);
	ck_assert(!agent_self.unvouched);
	agent_self.bridge_loop = false;
	bridge_green = 0;
	bridge_loops_only = 0;
	bridge_watch_loads = 0;
	agent_self.unvouched = false;
}

Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *t = unit_tcase("dispatch", "batch");

	tcase_add_checked_fixture(t, setup, teardown);
	suite_add_tcase(s, t);
	return s;
}
