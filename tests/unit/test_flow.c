/*
 * test_flow.c - the flow rules (agent/flow.h) on fake fds: slots in the
 * fd map that no kernel object backs, driven in the order a loop makes its
 * calls. Covers which outbound connection is a request's (flow_connect)
 * and what the close of one that carried nothing ends (carried_nothing).
 */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "agent/flow.h"
#include "agent/handoff.h"
#include "base/ctx.h"
#include "fake.h"
#include "suites.h"

#define UNIT_SUITE flow
#define UNIT_TCASE outbound

/* Fake fds, far above what the test process has open. */
enum { CLIENT_A = 900, CLIENT_B = 901, CHECK = 910, UPSTREAM = 911, EVENTFD = 912, POOLED = 913,
       EPFD = 914, LISTENING = 915, PIPE_R = 916, PIPE_W = 917 };

static const int fds[] = { CLIENT_A, CLIENT_B, CHECK, UPSTREAM, EVENTFD, POOLED, EPFD, LISTENING, PIPE_R,
			   PIPE_W };

/* A second fake thread: swap() makes it act (its block in agent_self). */
static struct agent_thread other;

static void swap(void)
{
	struct agent_thread t = agent_self;

	agent_self = other;
	other = t;
}

static void setup(void)
{
	fake_setup(NULL);
	memset(&other, 0, sizeof other);
	agent_self.tid = 200;
	other.tid = 201;
}

static void teardown(void)
{
	swap();
	ctx_take_current(NULL);
	swap();
	fake_teardown(fds, sizeof fds / sizeof fds[0]);
}

/* Request A's head is read and it (or a task after it) connects `fd`;
 * the loop waits; `fd`'s event is handed out: A is current again. */
static void a_connects_and_its_event_comes(int fd)
{
	fake_serve(CLIENT_A, "req-a");
	flow_connect(fd);
	flow_idle();
	flow_event(fd, EPOLLIN);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* The request is A and its lines carry it. */
static void a_still_vouched(void)
{
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert(!agent_self.muted);
}

/* A request whose head was read connects out: the connection is its. */
UNIT_TEST(connect_after_a_head_takes_its_request)
{
	const struct ctx *a = fake_serve(CLIENT_A, "req-a");

	flow_connect(UPSTREAM);
	ck_assert_ptr_eq(fdmap_ctx_peek(fdmap_peek(UPSTREAM)), a);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* A thread that serves A on its own (no event loop) calls one service,
 * reads its reply, then connects to another (PHP: curl, then
 * file_get_contents): the reply of its own call leaves its evidence as
 * it was, and the second connection is A's too. Before, the reply made
 * the context rest on the socket's tag and the second connect went out
 * with none. */
UNIT_TEST(a_second_call_after_the_first_ones_reply_is_the_requests)
{
	static const char call[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	const struct ctx *a = fake_serve(CLIENT_A, "req-a");

	flow_connect(UPSTREAM);
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, call, sizeof call - 1);
	flow_read_slot(fdmap_peek(UPSTREAM), UPSTREAM, reply, sizeof reply - 1, sizeof reply - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_connect(CHECK);
	ck_assert_ptr_eq(fdmap_ctx_peek(fdmap_peek(CHECK)), a);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* A pool's thread (made inside a request) serves A, calls a service over
 * a connection of its own (tagged A), reads the answer and closes that
 * connection; then it locks a mutex: A's client connection is still open,
 * so A goes on (rule 6 is about the request's own connection). */
UNIT_TEST(closing_an_outbound_connection_does_not_end_the_request)
{
	static const char call[] = "GET /leaf HTTP/1.1\r\n\r\n";
	static int lock;

	agent_self.born_in_request = true;
	fake_serve(CLIENT_A, "req-a");
	flow_connect(UPSTREAM);
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, call, sizeof call - 1);
	flow_close(UPSTREAM);
	if (handoff_lock_watched(&lock))
		handoff_relock(&lock);
	a_still_vouched();
}

/* HAProxy's first shape: the check connects after request A's head, its
 * event comes back (A current again), it is closed with nothing passed:
 * what follows is the check's result, no request's. */
UNIT_TEST(check_closed_after_its_event_ends_what_it_brought)
{
	fake_serve(CLIENT_A, "req-a");
	flow_connect(CHECK);
	flow_idle();                       /* the loop waits */
	ck_assert_ptr_null(agent_self.cur);
	flow_event(CHECK, EPOLLIN);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_close(CHECK);
	ck_assert_msg(agent_self.muted, "after the check's close, lines carry %s", fake_cur_id());
}

/* The second shape: the check's event came back, then request B's head
 * was read, then the check is closed: the check's connection is A's, not
 * B's, so B does not carry the result. */
UNIT_TEST(check_closed_after_another_head_ends_the_context)
{
	a_connects_and_its_event_comes(CHECK);
	fake_serve(CLIENT_B, "req-b");
	flow_close(CHECK);
	ck_assert_msg(agent_self.muted, "after the check's close, lines carry %s", fake_cur_id());
}

/* A check that times out: no event ever comes for its connection, which
 * the loop registered; its timer closes it after request B's head. */
UNIT_TEST(check_timed_out_after_another_head_mutes_the_lines)
{
	flow_new_fd(EPFD, FD_EPOLL);
	fake_serve(CLIENT_A, "req-a");
	flow_connect(CHECK);
	flow_epoll_ctl(EPFD, EPOLL_CTL_ADD, CHECK, CHECK, EPOLLIN);
	fake_serve(CLIENT_B, "req-b");
	flow_close(CHECK);
	ck_assert_msg(agent_self.muted, "after the check's close, lines carry %s", fake_cur_id());
}

/* A listening socket (made by socket(), never connected) that a forked
 * backend closes before it logs its connection (PostgreSQL) is no
 * connection that carried nothing. */
UNIT_TEST(closing_a_listening_socket_changes_nothing)
{
	flow_new_fd(EPFD, FD_EPOLL);
	flow_socket(LISTENING, AF_INET, SOCK_STREAM);
	flow_epoll_ctl(EPFD, EPOLL_CTL_ADD, LISTENING, LISTENING, EPOLLIN);
	fake_serve(CLIENT_B, "req-b");
	flow_close(LISTENING);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(!agent_self.muted);
}

/* A connection made and dropped with nothing waited for on it (a program
 * connecting to itself to get a fresh connection, then closing its end)
 * says nothing about the current request. */
UNIT_TEST(connection_never_waited_for_keeps_the_context)
{
	fake_serve(CLIENT_A, "req-a");
	flow_connect(CHECK);
	fake_serve(CLIENT_B, "req-b");
	flow_close(CHECK);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(!agent_self.muted);
}

/* The third: a second connect() asking whether the check is done brings
 * the check's tag after B's head; the close that follows ends it. */
UNIT_TEST(check_asked_again_then_closed_ends_what_it_brought)
{
	fake_serve(CLIENT_A, "req-a");
	flow_connect(CHECK);
	fake_serve(CLIENT_B, "req-b");
	flow_connect(CHECK);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_close(CHECK);
	ck_assert_msg(agent_self.muted, "after the check's close, lines carry %s", fake_cur_id());
}

/* A request's own upstream refused in its own turn: the request is still
 * the one being served (nginx logs "connect() failed" and answers). */
UNIT_TEST(own_failed_upstream_keeps_the_request)
{
	fake_serve(CLIENT_A, "req-a");
	flow_connect(UPSTREAM);
	flow_close(UPSTREAM);
	a_still_vouched();
}

/* An upstream that carried the request's bytes is the request's, event
 * or not. */
UNIT_TEST(upstream_that_carried_bytes_keeps_the_request)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";

	a_connects_and_its_event_comes(UPSTREAM);
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, req, sizeof req - 1);
	flow_close(UPSTREAM);
	a_still_vouched();
}

/* A byte read back counts as passed too. */
UNIT_TEST(upstream_read_from_keeps_the_request)
{
	static const char banner[] = "220 ready\r\n";

	a_connects_and_its_event_comes(UPSTREAM);
	flow_read_slot(fdmap_peek(UPSTREAM), UPSTREAM, banner, sizeof banner - 1, sizeof banner - 1);
	flow_close(UPSTREAM);
	a_still_vouched();
}

/* The check's close leaves the request current: its own next I/O (the
 * answer to its client) makes its lines carry it again. */
UNIT_TEST(muted_lines_carry_the_request_again_after_its_own_io)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n\r\n";

	a_connects_and_its_event_comes(CHECK);
	fake_serve(CLIENT_B, "req-b");
	flow_close(CHECK);
	ck_assert(agent_self.muted);
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, answer, sizeof answer - 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(!agent_self.muted);
}

/* A request is live (reqctx_api_live) while its connection is open,
 * carries it and was not answered; not once answered, nor once the
 * connection is closed. */
UNIT_TEST(a_request_is_live_until_answered_or_closed)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct ctx *a = fake_serve(CLIENT_A, "req-a");
	struct ctx *b = fake_serve(CLIENT_B, "req-b");

	ck_assert_int_eq(flow_request_live(a), 1);
	ck_assert_int_eq(flow_request_live(b), 1);
	ck_assert(!flow_request_live(NULL));
	flow_accept(POOLED, NULL, 0);           /* its head not read yet */
	ck_assert_int_eq(flow_request_live(agent_self.cur), 2);
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	ck_assert(!flow_request_live(a));
	ck_assert(flow_request_live(b));
	flow_close(CLIENT_B);
	ck_assert(!flow_request_live(b));
}

/* A thread a bridge started inside request A, on A (ctx_enter_inherited),
 * sleeps (handoff_slept; a nanosleep, or a poll or select on no file):
 * it keeps A while A is live and nothing else began; it loses A at its
 * first sleep after another request began (a flusher the first request
 * started works for later requests while A is a long poll), or after A
 * was answered, or at its first sleep if another request was in progress
 * when it was given A (that one may feed it too). After a sleep that kept
 * A, what it carries is none once another request begins (it may be
 * draining that one's work: ctx_poll_stale), until the next sleep ends A. */
UNIT_TEST(an_inherited_context_ends_at_a_sleep_once_others_began)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct ctx *a = fake_serve(CLIENT_A, "req-a");

	swap();
	ck_assert_int_eq(ctx_live(), 1);
	ctx_put(ctx_enter_inherited(a));
	handoff_slept();
	ck_assert_ptr_eq(agent_self.cur, a);        /* a retry's wait: still A's */
	ck_assert_ptr_eq(ctx_carried(), a);
	swap();
	fake_serve(CLIENT_B, "req-b");              /* another request begins */
	swap();
	ck_assert_ptr_eq(agent_self.cur, a);        /* until the thread sleeps, */
	ck_assert_ptr_null(ctx_carried());          /* carrying nothing */
	handoff_slept();
	ck_assert_ptr_null(agent_self.cur);
	ck_assert(!agent_self.pin_inherited);

	/* Given A while B is in progress: its first sleep ends A. */
	ctx_put(ctx_enter_inherited(a));
	ck_assert_ptr_eq(ctx_carried(), a);         /* a thread's first line */
	handoff_slept();
	ck_assert_ptr_null(agent_self.cur);
	swap();
	flow_close(CLIENT_B);                       /* B is over */
	ctx_take_current(NULL);
	swap();
	ck_assert_int_eq(ctx_live(), 1);

	/* Answered, with nothing else begun since the thread started. */
	ctx_put(ctx_enter_inherited(a));
	handoff_slept();
	ck_assert_ptr_eq(agent_self.cur, a);
	swap();
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	swap();
	handoff_slept();
	ck_assert_ptr_null(agent_self.cur);

	/* A context the program entered itself (not inherited) stays. */
	ctx_put(ctx_enter_pinned(a));
	handoff_slept();
	ck_assert_ptr_eq(agent_self.cur, a);
	ctx_put(ctx_enter_pinned(NULL));
	swap();
}

/* The same for a thread made natively inside request B (pthread_create:
 * handoff_thread_starts), and not for a thread whose context is its own
 * (its own I/O on its request's connection made it current). */
UNIT_TEST(a_natively_inherited_context_ends_at_a_sleep_once_others_began)
{
	struct ctx *b = fake_serve(CLIENT_B, "req-b");

	swap();
	ctx_get(b);
	handoff_thread_starts(b);
	handoff_slept();
	ck_assert_ptr_eq(agent_self.cur, b);
	swap();
	fake_serve(CLIENT_A, "req-a");              /* another request begins */
	swap();
	handoff_slept();
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_ptr_null(agent_self.inherited);

	/* Its own: the thread's request, current through its connection. */
	ctx_get(b);
	ctx_take_current(b);
	swap();
	fake_serve(CLIENT_A, "req-a2");
	swap();
	handoff_slept();
	ck_assert_ptr_eq(agent_self.cur, b);
	swap();
}

/* A forked child of a thread whose request a bridge pinned (a helper one
 * request forks, fed by later ones): the context is inherited there, not
 * pinned; the child's first sleep ends it (whatever the parent's
 * progress: not in the child's memory), and so does its first wait, even
 * one inside that request (the parent serves it). */
UNIT_TEST(a_forked_childs_pinned_context_ends_at_its_first_wait)
{
	struct ctx *a = fake_serve(CLIENT_A, "req-a");

	ctx_get(a);
	ctx_put(ctx_enter_pinned(a));
	handoff_forked();
	ck_assert(!ctx_pinned());
	ck_assert_ptr_eq(agent_self.cur, a);
	handoff_slept();
	ck_assert_ptr_null(agent_self.cur);

	ctx_get(a);
	ctx_put(ctx_enter_pinned(a));
	handoff_forked();
	flow_wait_begins(&(struct flow_wait){ .epfd = -1 });
	ck_assert_ptr_null(agent_self.cur);
	agent_self.fork_inherited = false;
}

/* The next request on a connection whose request the program pinned the
 * thread to (a thread per connection, pinned by its bridge): the thread's
 * too, pinned (before, only natively current, and a job queue's wake-up
 * in the middle of a keep-alive request ended it). Not for a thread on
 * its creator's context (pin_inherited). */
UNIT_TEST(a_pinned_connections_next_request_stays_pinned)
{
	static const char second[] = "GET /b HTTP/1.1\r\nX-Request-Id: req-b\r\n\r\n";
	static const char third[] = "GET /c HTTP/1.1\r\nX-Request-Id: req-c\r\n\r\n";
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct ctx *a = fake_serve(CLIENT_A, "req-a");

	ctx_get(a);
	ctx_put(ctx_enter_pinned(a));
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	agent_self.head_read = NULL;
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, second, sizeof second - 1, sizeof second - 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(ctx_pinned());

	/* Inherited from a creator: the next request is current, not pinned. */
	a = agent_self.cur;
	ctx_get(a);
	ctx_put(ctx_enter_inherited(a));
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	agent_self.head_read = NULL;
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, third, sizeof third - 1, sizeof third - 1);
	ck_assert_str_eq(fake_cur_id(), "req-c");
	ck_assert(!ctx_pinned());
}

/* A thread its acceptor started on the connection's context (a thread
 * per connection: accept, then threading.Thread) reads the connection's
 * first request: its own now, pinned firmly (before, still its
 * creator's, and a semaphore unit another thread posted, as around a
 * fork, ended it). A thread on some other context it was started with
 * keeps that one as its creator's. */
UNIT_TEST(a_thread_reading_its_connections_first_request_owns_it)
{
	static const char head[] = "GET /a HTTP/1.1\r\nX-Request-Id: req-a\r\n\r\n";
	struct ctx *x;

	flow_accept(CLIENT_A, NULL, 0);
	x = agent_self.cur;
	ck_assert_ptr_nonnull(x);
	ctx_get(x);
	ctx_put(ctx_enter_inherited(x));         /* the thread's start */
	ck_assert(agent_self.pin_inherited);
	agent_self.head_read = NULL;
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, head, sizeof head - 1, sizeof head - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert(ctx_pinned());
	ck_assert(!agent_self.pin_inherited);

	/* Started on another connection's context: not its own. */
	flow_accept(CLIENT_B, NULL, 0);
	x = agent_self.cur;
	flow_accept(CHECK, NULL, 0);
	ctx_get(x);
	ctx_put(ctx_enter_inherited(x));
	agent_self.head_read = NULL;
	flow_read_slot(fdmap_peek(CHECK), CHECK, head, sizeof head - 1,
		       sizeof head - 1);
	ck_assert(agent_self.pin_inherited);
}

/* A socket one request opened and nobody answers (a statsd client's, a
 * log sink), written by threads with no context: one that never had an
 * event handed out takes nothing from it (a worker started with the
 * program); an event loop's write takes the request's tag while that
 * request is being served, and once it was answered, nothing, and the
 * socket is nobody's from then on. Before, every such writer took the
 * first request's ID. */
UNIT_TEST(a_writer_with_none_takes_no_tag_of_an_answered_request_nor_off_a_loop)
{
	static const char line[] = "metric:1|c\n";
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	const struct ctx *a = fake_serve(CLIENT_A, "req-a");

	flow_connect(UPSTREAM);
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, line, sizeof line - 1);
	swap();                                  /* a thread with none, no loop */
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, line, sizeof line - 1);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_ptr_eq(fdmap_ctx_peek(fdmap_peek(UPSTREAM)), a);
	agent_self.event_loop = true;            /* now an event loop's */
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, line, sizeof line - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a"); /* A is being served */
	ctx_take_current(NULL);
	swap();
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	swap();
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, line, sizeof line - 1);
	ck_assert_ptr_null(agent_self.cur);
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(UPSTREAM)));
	swap();
}

static struct sockaddr_in loop4(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(0x7f000001);
	return a;
}

/* A socket pair made by hand over loopback TCP (eventlet's thread pool):
 * the listener's port asked, a connect to it, the accept on it: no
 * client's connection, no request; once. Another port's accept is a
 * client's. */
UNIT_TEST(a_connection_to_itself_is_no_request)
{
	struct sockaddr_in lis = loop4(4242), peer = loop4(50123), elsewhere = loop4(4343);

	flow_named(CHECK, (struct sockaddr *)&lis, sizeof lis);
	flow_dial((struct sockaddr *)&elsewhere, sizeof elsewhere);
	ck_assert(!flow_accept_self(CHECK, CLIENT_A, (struct sockaddr *)&peer, sizeof peer));
	flow_dial((struct sockaddr *)&lis, sizeof lis);
	ck_assert(!flow_accept_self(UPSTREAM, CLIENT_A, (struct sockaddr *)&peer, sizeof peer));
	ck_assert(flow_accept_self(CHECK, CLIENT_A, (struct sockaddr *)&peer, sizeof peer));
	ck_assert_int_eq(fdmap_kind(fdmap_peek(CLIENT_A)), FD_PEER);
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(CLIENT_A)));
	ck_assert(!flow_accept_self(CHECK, CLIENT_B, (struct sockaddr *)&peer, sizeof peer));   /* once */
}

/* A proxy whose fresh upstream for A is refused falls back to a pooled
 * connection request C used last: A's request going out there must not
 * take C's tag. */
UNIT_TEST(refused_upstream_then_a_pooled_one_never_takes_its_last_writer)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	const struct ctx *c;

	c = fake_serve(CLIENT_B, "req-c");
	flow_connect(POOLED);
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	ck_assert_ptr_eq(fdmap_ctx_peek(fdmap_peek(POOLED)), c);
	flow_idle();
	fake_serve(CLIENT_A, "req-a");
	flow_connect(UPSTREAM);
	flow_idle();
	flow_event(UPSTREAM, EPOLLIN);              /* refused */
	flow_close(UPSTREAM);
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	ck_assert_msg(agent_self.cur != c, "A's request went out as %s", fake_cur_id());
	ck_assert_ptr_ne(fdmap_ctx_peek(fdmap_peek(POOLED)), c);
}

/* On an event loop no bridge vouches for, a request written on an
 * outbound connection whose reply was read there last (so the socket's
 * context is the thread's) names nobody: that the two agree says only
 * where the last reply went (undici writes a queued request from the
 * previous one's callback). */
UNIT_TEST(an_unvouched_write_out_names_nobody)
{
	char req[] = "GET / HTTP/1.1\r\n\r\n";

	a_connects_and_its_event_comes(UPSTREAM);
	agent_self.unvouched = true;
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, req, sizeof req - 1);
	agent_self.unvouched = false;
	ck_assert_msg(fdmap_ctx_peek(fdmap_peek(UPSTREAM)) == NULL, "the socket kept %s",
		      ctx_name(fdmap_ctx_peek(fdmap_peek(UPSTREAM)))->id);
	ck_assert(agent_self.cur == NULL);
}

/* A muted thread (request B's, after a check another request brought
 * was closed) writes more of B's request on B's own upstream: the
 * socket's context is the thread's own, so it stays B's, and B's lines
 * carry B again. */
UNIT_TEST(a_muted_write_on_its_own_upstream_keeps_it)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	const struct ctx *b;

	a_connects_and_its_event_comes(CHECK);
	b = fake_serve(CLIENT_B, "req-b");
	flow_connect(UPSTREAM);
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, req, sizeof req - 1);
	ck_assert_ptr_eq(fdmap_ctx_peek(fdmap_peek(UPSTREAM)), b);
	flow_close(CHECK);
	ck_assert(agent_self.muted);
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, req, sizeof req - 1);
	ck_assert_msg(fdmap_ctx_peek(fdmap_peek(UPSTREAM)) == b, "B's upstream lost its context");
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(!agent_self.muted);
}

/* A client library's worker thread (Java's HttpClient) writes its
 * callers' requests with nothing current: the first, on the connection
 * request A made, takes A for that exchange only. Once the reply was read
 * (by another thread: its selector), the worker's next request on that
 * connection carries none, as does a connect of it or a write to another
 * connection made in its borrowed context. */
UNIT_TEST(a_context_borrowed_by_an_outbound_write_ends_with_its_exchange)
{
	static const char req[] = "GET /leaf HTTP/1.1\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	const struct ctx *b;

	fake_serve(CLIENT_A, "req-a");
	flow_connect(POOLED);
	swap();                                  /* the worker, with none */
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	/* a connect in the borrowed context passes it on to nobody */
	flow_connect(UPSTREAM);
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(UPSTREAM)));
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	swap();                                  /* the selector reads the reply */
	flow_read_slot(fdmap_peek(POOLED), POOLED, reply, sizeof reply - 1, sizeof reply - 1);
	b = fake_serve(CLIENT_B, "req-b");
	flow_connect(CHECK);                     /* B's own connection */
	flow_idle();
	swap();
	/* the next caller's request on the idle connection: nobody's */
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(POOLED)));
	/* B's connection, written with none, is B's exchange */
	flow_write_slot(fdmap_peek(CHECK), CHECK, req, sizeof req - 1);
	ck_assert_ptr_eq(agent_self.cur, b);
	swap();
}

/* A borrowed context does not go onto a connection made outside any
 * request (a worker's own call), and neither it nor a context taken from
 * another connection's reply survives reading the reply to a call that
 * named nobody. */
UNIT_TEST(a_borrowed_context_stays_off_a_connection_of_nobodys)
{
	static const char req[] = "GET /leaf HTTP/1.1\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	flow_connect(UPSTREAM);                  /* at start-up: nobody's */
	fake_serve(CLIENT_A, "req-a");
	flow_connect(POOLED);
	swap();                                  /* a worker, with none */
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_write_slot(fdmap_peek(UPSTREAM), UPSTREAM, req, sizeof req - 1);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(UPSTREAM)));
	flow_read_slot(fdmap_peek(POOLED), POOLED, reply, sizeof reply - 1, sizeof reply - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");  /* A's reply */
	flow_read_slot(fdmap_peek(UPSTREAM), UPSTREAM, reply, sizeof reply - 1, sizeof reply - 1);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	swap();
}

/* Two requests' heads read in one turn with nothing out for the first
 * (HAProxy's reads of the connections it has just accepted): the thread
 * carries none, a connect passes nothing on, a write to one of the
 * clients does not switch it, until the loop's next event. A head read
 * after the first was answered is no batch. */
UNIT_TEST(two_heads_read_in_one_turn_carry_none)
{
	static const char a[] = "GET /a HTTP/1.1\r\nX-Request-Id: req-a\r\n\r\n";
	static const char b[] = "GET /b HTTP/1.1\r\nX-Request-Id: req-b\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	flow_accept(CLIENT_A, NULL, 0);
	flow_accept(CLIENT_B, NULL, 0);
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, a, sizeof a - 1, sizeof a - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_B), CLIENT_B, b, sizeof b - 1, sizeof b - 1);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_connect(UPSTREAM);
	ck_assert_ptr_null(fdmap_ctx_peek(fdmap_peek(UPSTREAM)));
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, ok, sizeof ok - 1);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_event(CLIENT_B, EPOLLIN);                    /* the next turn */
	ck_assert_str_eq(fake_cur_id(), "req-b");
	/* answered, then the next head: no batch */
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, ok, sizeof ok - 1);
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, b, sizeof b - 1, sizeof b - 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* Input on a keep-alive connection whose request was answered is the
 * next request, not read yet, or the client's close: an event or a poll
 * that reports it names nobody. The read decides: the connection's end
 * is its last request's. A wake-up to write the rest of a long answer
 * (or a hang-up alone) is still the request's, and so is the write after input
 * (a client's early next request while the answer goes out), with its
 * lines. */
UNIT_TEST(input_on_an_answered_connection_names_nobody)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
	static const char rest[] = "the body\n";

	fake_serve(CLIENT_A, "req-a");
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, ok, sizeof ok - 1);
	flow_idle();
	flow_event(CLIENT_A, EPOLLOUT);      /* writable only */
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_idle();
	flow_event(CLIENT_A, EPOLLHUP);      /* a hang-up alone */
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_idle();
	flow_event(CLIENT_A, EPOLLIN | EPOLLRDHUP);   /* a close, or a request and a close */
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_idle();
	flow_event(CLIENT_A, EPOLLIN | EPOLLOUT);  /* readable */
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, rest, sizeof rest - 1);
	a_still_vouched();
	/* a thread per connection polls it */
	{
		struct pollfd pfd = { .fd = CLIENT_A, .events = POLLIN };

		flow_wait_begins(&(struct flow_wait){ .epfd = -1, .fds = &pfd, .nfds = 1 });
	}
	flow_ready(CLIENT_A, true);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_ready(CLIENT_A, false);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	/* the client's close, read after the event */
	flow_idle();
	flow_event(CLIENT_A, EPOLLIN);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "", 0, 0);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_int_eq(agent_self.event_at, agent_self.switches);   /* still the event's */
	/* the next request starts as ever */
	flow_idle();
	flow_event(CLIENT_A, EPOLLIN);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	fake_serve(CLIENT_A, "req-b");
	flow_event(CLIENT_A, EPOLLIN);       /* its body, before the answer */
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* A loop that polled several connections works on the one whose read
 * fails: a reset of an answered connection is its last request's, and
 * of a connection in the middle of its request that request's. Nothing
 * to read (EAGAIN) says nothing: loops read speculatively. */
UNIT_TEST(a_failed_read_names_its_connection)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	fake_serve(CLIENT_B, "req-b");                   /* not answered */
	fake_serve(CLIENT_A, "req-a");
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, ok, sizeof ok - 1);
	flow_accept(CHECK, NULL, 0);                     /* another connection */
	ck_assert_str_ne(fake_cur_id(), "req-a");
	flow_read_failed(fdmap_peek(CLIENT_A), CLIENT_A, ECONNRESET);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_failed(fdmap_peek(CLIENT_B), CLIENT_B, ECONNRESET);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	flow_read_failed(fdmap_peek(CLIENT_A), CLIENT_A, EAGAIN);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* A write to a client connection that carries none (pipelined requests,
 * lost framing) leaves the thread with none, as a read of it does: not
 * the request of the connection it worked on before. */
UNIT_TEST(a_write_to_a_connection_that_carries_none_carries_none)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	fake_serve(CLIENT_B, "req-b");
	fdmap_tag(fdmap_peek(CLIENT_B), NULL);
	fake_serve(CLIENT_A, "req-a");
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, ok, sizeof ok - 1);
	ck_assert_str_eq(fake_cur_id(), "(none)");
}

/* A wait that gave several fds at once (poll, select, batch mode): once
 * the thread answers one connection, what it logs is as likely about the
 * next ready fd as about this one, so it carries nothing until its next
 * I/O names a request; once it is done with all of them, its lines keep
 * the last one's. A wait that gave one keeps the answer's lines. */
UNIT_TEST(an_answer_in_a_wait_of_several_mutes_until_the_next_io)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char head[] = "GET /b HTTP/1.1\r\nX-Request-Id: req-b\r\n\r\n";
	static const int one[] = { CLIENT_A }, two[] = { CLIENT_A, CLIENT_B };

	flow_accept(CLIENT_B, NULL, 0);
	fake_serve(CLIENT_A, "req-a");
	flow_several_ready(one, 1);
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, ok, sizeof ok - 1);
	a_still_vouched();
	flow_wait_begins(&(struct flow_wait){ .epfd = -1 });
	fake_serve(CLIENT_A, "req-a");
	flow_several_ready(two, 2);
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, ok, sizeof ok - 1);
	ck_assert(agent_self.muted);
	agent_self.head_read = NULL;           /* (the first head was answered) */
	flow_read_slot(fdmap_peek(CLIENT_B), CLIENT_B, head, sizeof head - 1, sizeof head - 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(!agent_self.muted);
	/* the last of the two: no next one to take its lines for */
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, ok, sizeof ok - 1);
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, ok, sizeof ok - 1);
	ck_assert(!agent_self.muted);
	flow_wait_starts();                     /* the next wait */
	ck_assert(!(agent_self.served & SERVED_SEVERAL));
}

/* Only the fds the wait gave count: an answer written to a connection
 * that was not among them (one deferred from an earlier turn) does not
 * stand for a ready fd the thread has not touched yet (B here). */
UNIT_TEST(a_wait_of_several_counts_only_its_own_fds)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const int ready[] = { CLIENT_A, CLIENT_B };

	flow_accept(CLIENT_B, NULL, 0);
	fake_serve(CHECK, "req-c");
	fake_serve(CLIENT_A, "req-a");
	flow_several_ready(ready, 2);
	flow_write_slot(fdmap_peek(CHECK), CHECK, ok, sizeof ok - 1);
	ck_assert(agent_self.muted);
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, ok, sizeof ok - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_msg(agent_self.muted, "B is still to come: the answer's lines carry req-a");
	flow_wait_starts();
}

/* An event of an outbound connection whose reply was read names no
 * request: a selector woken for whichever request the pool gives the
 * connection next does not take the last one's. */
UNIT_TEST(an_idle_outbound_connections_event_names_nobody)
{
	static const char req[] = "GET /leaf HTTP/1.1\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	a_connects_and_its_event_comes(POOLED);
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	flow_read_slot(fdmap_peek(POOLED), POOLED, reply, sizeof reply - 1, sizeof reply - 1);
	swap();
	flow_event(POOLED, EPOLLIN);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	swap();
}

/* A pool's check of its idle connection before it hands it to the next
 * request (urllib3 polls it, waiting no time) is that request's work:
 * the connection's wake-up names nobody, so B keeps its context through
 * the wait and the call that follows is B's. Before, the connection's
 * context (A's) made the wait foreign: B had none from there on, and its
 * call went out without its ID. */
UNIT_TEST(a_pool_checking_its_idle_connection_keeps_the_request)
{
	static const char req[] = "GET /leaf HTTP/1.1\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct pollfd pfd = { .fd = POOLED, .events = POLLIN };

	fake_serve(CLIENT_A, "req-a");
	flow_connect(POOLED);
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	flow_read_slot(fdmap_peek(POOLED), POOLED, reply, sizeof reply - 1, sizeof reply - 1);
	fake_serve(CLIENT_B, "req-b");
	flow_wait_begins(&(struct flow_wait){ .epfd = -1, .fds = &pfd, .nfds = 1 });
	ck_assert_str_eq(fake_cur_id(), "req-b");
	flow_ready(POOLED, true);               /* the peer closed it meanwhile */
	ck_assert_str_eq(fake_cur_id(), "req-b");
	/* while its exchange goes on, the connection is A's: a wait on it is
	 * no wait inside B */
	flow_write_slot(fdmap_peek(POOLED), POOLED, req, sizeof req - 1);
	fake_serve(CLIENT_A, "req-c");
	flow_wait_begins(&(struct flow_wait){ .epfd = -1, .fds = &pfd, .nfds = 1 });
	ck_assert_str_eq(fake_cur_id(), "(none)");
}

/* A server that answers before it reads the body (413), then reads it to
 * keep the connection: the body is its request's, and the read after it
 * starts the next request. */
UNIT_TEST(a_body_read_after_an_early_answer_is_its_requests)
{
	static const char head[] = "POST /a HTTP/1.1\r\nX-Request-Id: req-a\r\nContent-Length: 12\r\n\r\n01";
	static const char answer[] = "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n";
	static const char next[] = "GET /b HTTP/1.1\r\nX-Request-Id: req-b\r\n\r\n";

	flow_accept(CLIENT_A, NULL, 0);
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, head, sizeof head - 1, sizeof head - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "2345", 4, 4);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "GET /x", 6, 6);   /* body bytes */
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, next, sizeof next - 1, sizeof next - 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* Accepts `fd` and reads `head` (its first read, whole). */
static void first_read(int fd, const char *head)
{
	flow_accept(fd, NULL, 0);
	flow_read_slot(fdmap_peek(fd), fd, head, strlen(head), strlen(head));
}

/* A client that sends its next request a byte at a time before the
 * first is answered (an eager reader reads each alone): no piece shows a
 * request line, but a request read whole has no more bytes, so the next
 * request's lines carry none, never the first's ID (they did). */
UNIT_TEST(a_next_request_read_a_byte_at_a_time_before_the_answer_carries_none)
{
	first_read(CLIENT_A, "GET /a HTTP/1.1\r\nX-Request-Id: req-a\r\n\r\n");
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "G", 1, 1);
	ck_assert_ptr_null(agent_self.cur);
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "E", 1, 1);
	ck_assert_ptr_null(agent_self.cur);
}

/* The same after a body of known length read in its own read, and in the
 * read that held the head and body; an empty line after the body (old
 * clients send one) is no request. */
UNIT_TEST(bytes_after_a_whole_body_before_the_answer_carry_none)
{
	first_read(CLIENT_A, "POST /a HTTP/1.1\r\nX-Request-Id: req-a\r\nContent-Length: 4\r\n\r\n01");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "23", 2, 2);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "\r\n", 2, 2);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "GE", 2, 2);
	ck_assert_ptr_null(agent_self.cur);

	first_read(CLIENT_B, "POST /b HTTP/1.1\r\nX-Request-Id: req-b\r\nContent-Length: 2\r\n\r\n01\r\n");
	ck_assert_str_eq(fake_cur_id(), "req-b");
	first_read(CHECK, "POST /c HTTP/1.1\r\nX-Request-Id: req-c\r\nContent-Length: 2\r\n\r\n01\r\nG");
	ck_assert_ptr_null(agent_self.cur);
}

/* A head split across reads whose first read holds a Content-Length line
 * (a large head over several segments): the first read is the request's,
 * and nothing is read past it (the body's offset was taken from a head end
 * the read did not hold). */
UNIT_TEST(a_split_head_with_its_length_in_the_first_read)
{
	first_read(CLIENT_A, "POST /a HTTP/1.1\r\nX-Request-Id: req-a\r\nContent-Length: 5\r\n");
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "\r\nhello", 7, 7);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* A head split across reads that names no body, then the next request a
 * byte at a time before the answer: the request came whole at the read
 * that ended its head, and the bytes after are the next one's (they kept
 * the first's ID). A head whose later part names a body keeps its
 * body's bytes. */
UNIT_TEST(a_split_head_that_names_no_body_came_whole_at_its_end)
{
	first_read(CLIENT_A, "GET /a HTTP/1.1\r\nX-Request-Id: req-a\r\n");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "Host: x\r\n\r\n", 11, 11);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, "G", 1, 1);
	ck_assert_ptr_null(agent_self.cur);

	first_read(CLIENT_B, "POST /b HTTP/1.1\r\nX-Request-Id: req-b\r\n");
	flow_read_slot(fdmap_peek(CLIENT_B), CLIENT_B, "Content-Length: 5\r\n\r\nhel", 24, 24);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	flow_read_slot(fdmap_peek(CLIENT_B), CLIENT_B, "lo", 2, 2);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

#undef UNIT_TCASE
#define UNIT_TCASE channel

/* The other thread, serving request A, wakes this one through an eventfd
 * (Ruby: a Queue push writes the sigwait eventfd the sleeper polls); this
 * one reads it and takes A: the one write names A. */
static void woken_by_a(void)
{
	uint64_t one = 1;
	bool tracked;

	swap();
	fake_serve(CLIENT_A, "req-a");
	tracked = flow_write_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one);
	flow_write_done(EVENTFD, &one, sizeof one, sizeof one, tracked);
	swap();
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* A, on the producer's side, writes a second wake-up unit to the eventfd
 * (a job's second wake-up, left over once the worker took both jobs). */
static void second_unit_of_a(void)
{
	uint64_t one = 1;
	bool tracked;

	swap();
	tracked = flow_write_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one);
	flow_write_done(EVENTFD, &one, sizeof one, sizeof one, tracked);
	swap();
}

/* Polling that eventfd again is waiting for the next wake-up, not waiting
 * inside A (whose connection is still open and which queued nothing). */
UNIT_TEST(waiting_again_on_the_channel_that_gave_the_context_ends_it)
{
	struct pollfd p = { .fd = EVENTFD, .events = POLLIN };
	struct flow_wait w = { .epfd = -1, .fds = &p, .nfds = 1 };

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	flow_wait_begins(&w);
	ck_assert_msg(agent_self.cur == NULL, "after waiting again: %s", fake_cur_id());
}

/* A signal handler on this thread, which serves B, reads a channel that
 * carries A (libuv's SIGCHLD handler takes its lock pipe, last written
 * while A started a child): the code it interrupted goes on in B. */
UNIT_TEST(a_signal_handlers_read_takes_nothing_from_the_channel)
{
	uint64_t one = 1;
	bool tracked;

	flow_eventfd(EVENTFD, false);
	swap();
	fake_serve(CLIENT_A, "req-a");
	tracked = flow_write_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one);
	flow_write_done(EVENTFD, &one, sizeof one, sizeof one, tracked);
	swap();
	fake_serve(CLIENT_B, "req-b");
	agent_self.in_signal = 1;
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	agent_self.in_signal = 0;
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* The other thread serves `id` on `fd` and writes a job naming it into
 * the eventfd. */
static void job_from_other(int fd, const char *id)
{
	uint64_t one = 1;
	bool tracked;

	swap();
	fake_serve(fd, id);
	tracked = flow_write_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one);
	flow_write_done(EVENTFD, &one, sizeof one, sizeof one, tracked);
	swap();
}

/* This thread read B's head and has not answered it when it takes A's job
 * from the channel (an epoll worker fed accepted connections through a
 * pipe, which drains it in the middle of a request): what it writes next
 * may be either's, so none; and looking at A then (its socket options,
 * its registration) leaves it so. Before, it took A, and B's later lines
 * carried A's ID (t_runq takeup). */
UNIT_TEST(a_job_taken_in_the_middle_of_a_request_read_here_gives_none)
{
	uint64_t one = 1;

	flow_eventfd(EVENTFD, false);
	job_from_other(CLIENT_A, "req-a");
	fake_serve(CLIENT_B, "req-b");
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_watch(CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "(none)");
}

/* A worker whose request came from the channel (it read no head itself)
 * takes the next job as before. */
UNIT_TEST(a_worker_on_a_job_from_a_channel_takes_the_next_job)
{
	uint64_t one = 1;

	flow_eventfd(EVENTFD, false);
	job_from_other(CLIENT_A, "req-a");
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	job_from_other(CLIENT_B, "req-b");
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* Serving B, the thread looks at A, another connection it read (a stats
 * page listing every connection's peer): none, and at A again still none
 * (before: A, t_runq sweep); its answer to B gives B again. */
UNIT_TEST(looking_at_another_connection_in_the_middle_of_a_request_gives_none)
{
	fake_serve(CLIENT_A, "req-a");
	fake_serve(CLIENT_B, "req-b");
	flow_watch(CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_watch(CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "(none)");
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, "HTTP/1.1 200 OK\r\n", 17);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* The same look after output of the thread's (a trial: 764 of 800 lines
 * after a getpeername carried the connection looked at). */
UNIT_TEST(looking_at_another_connection_after_output_gives_none)
{
	uint64_t one = 1;
	bool tracked;

	flow_eventfd(POOLED, false);
	fake_serve(CLIENT_A, "req-a");
	fake_serve(CLIENT_B, "req-b");
	tracked = flow_write_slot(fdmap_peek(POOLED), POOLED, &one, sizeof one);
	flow_write_done(POOLED, &one, sizeof one, sizeof one, tracked);
	flow_watch(CLIENT_A);
	ck_assert_str_eq(fake_cur_id(), "(none)");
}

/* A thread serving A looks at B, which another thread accepted and
 * nothing was read from yet (a stats page's getpeername over every
 * connection): none. A thread that waits for no events (one per
 * connection) is not left batched, which only its next wait would end:
 * its answer to A is A's again (a trial: every later line bare). An event
 * loop is batched until its next turn (HAProxy's shape, t_runq
 * answered). */
UNIT_TEST(a_look_at_a_new_connection_batches_only_an_event_loop)
{
	for (int loop = 0; loop < 2; loop++) {
		fake_serve(CLIENT_A, "req-a");
		swap();
		flow_accept(CLIENT_B, NULL, 0);
		swap();
		agent_self.event_loop = loop;
		flow_watch(CLIENT_B);
		ck_assert_str_eq(fake_cur_id(), "(none)");
		ck_assert_int_eq(agent_self.batched, loop);
		flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, "HTTP/1.1 200 OK\r\n", 17);
		ck_assert_str_eq(fake_cur_id(), loop ? "(none)" : "req-a");
		agent_self.event_loop = false;
		agent_self.batched = false;
	}
}

/* The thread waits on `cond`, the other thread signals it, and the thread
 * wakes and locks `mutex` again (the condvar shim's and lock shim's parts). */
static void woken_by_the_other_thread(const void *cond, const void *mutex)
{
	handoff_wait_begins(cond, CONDMAP_CONDVAR);
	swap();
	handoff_signal(cond, false);
	swap();
	handoff_wait_ends(cond, mutex, true);
	handoff_relock(mutex);
}

/* Sleeping on its own condvar instead (Queue#pop), woken by the other
 * thread: the wake-up did not give A, so the relock back at that queue
 * ends it (rule 5), and the next job is not A's. */
UNIT_TEST(a_condvar_wakeup_does_not_make_a_channel_context_its_own)
{
	static int cond, mutex;

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	woken_by_the_other_thread(&cond, &mutex);
	ck_assert_msg(agent_self.cur == NULL, "back at its queue: %s", fake_cur_id());
	handoff_destroy(&cond);
}

/* A worker handed a connection through a pipe reads the request from it
 * itself: the context is its own now, and a condvar wait inside the job
 * (for a helper's result) keeps it. */
UNIT_TEST(reading_its_connection_makes_a_channel_context_its_own)
{
	static int cond, mutex;
	char more[] = "\n";     /* an empty line: still the request's */

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	flow_read_slot(fdmap_peek(CLIENT_A), CLIENT_A, more, 1, 1);
	woken_by_the_other_thread(&cond, &mutex);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	handoff_destroy(&cond);
}

/* The lock shim's part in a pthread_mutex_lock of `mutex`, `n` times. */
static void locks(const void *mutex, int n)
{
	while (n-- > 0)
		if (handoff_lock_watched(mutex))
			handoff_relock(mutex);
}

/* Job `id` (queued by the acceptor, on `client`) is answered by the worker,
 * which then takes its queue's lock again without a wake-up: `id` was
 * current after the answer and ends at that take (rule 8). */
static void answered_then_next(int client, const char *id, int *queue_lock)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n\r\n";

	swap();
	fake_serve(client, id);
	swap();
	flow_write_slot(fdmap_peek(client), client, answer, sizeof answer - 1);
	ck_assert_str_eq(fake_cur_id(), id);
	ck_assert(handoff_lock_watched(queue_lock));
	handoff_relock(queue_lock);
	ck_assert_msg(agent_self.cur == NULL, "the job after %s runs in %s", id, fake_cur_id());
}

/* Rule 8: a worker woken for job A through an eventfd takes it from its
 * queue (the first lock after the read), answers and closes it, takes a
 * stats lock and writes "A done" (still A's); taking its queue's lock
 * again before another read takes a job nothing named (queued before its
 * own wake-up was written): no context. Job B's answer then makes B
 * current, and the next take from the queue ends B too. */
UNIT_TEST(taking_again_from_the_queue_without_a_wakeup_names_nothing)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n\r\n";
	static int queue_lock, stats_lock;

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	ck_assert(handoff_lock_watched(&queue_lock));
	handoff_relock(&queue_lock);                      /* takes A */
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	flow_close(CLIENT_A);
	locks(&stats_lock, 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");        /* "A done" is A's */
	ck_assert(handoff_lock_watched(&queue_lock));
	handoff_relock(&queue_lock);                      /* takes B */
	ck_assert_msg(agent_self.cur == NULL, "the next job runs in %s", fake_cur_id());
	answered_then_next(CLIENT_B, "req-b", &queue_lock);   /* B was queued like A */
}

/* A worker woken for A takes A from its queue, answers and closes it,
 * finds the queue empty (that take ends A); it then reads the leftover
 * wake-up of a job it already did (naming nothing) while the next batch
 * queues up. That read leaves rule 8 armed: the take of D names nothing,
 * D's answer makes D current, and the next take from the queue, without
 * a wake-up naming a job, ends D. */
UNIT_TEST(a_wakeup_that_names_nothing_keeps_the_queue_rule)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n\r\n";
	static int queue_lock;
	uint64_t one = 1;

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	second_unit_of_a();
	ck_assert(handoff_lock_watched(&queue_lock));
	handoff_relock(&queue_lock);                      /* takes A */
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	flow_close(CLIENT_A);
	ck_assert(handoff_lock_watched(&queue_lock));
	handoff_relock(&queue_lock);                      /* empty */
	ck_assert(agent_self.cur == NULL);
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert(agent_self.cur == NULL);
	ck_assert(handoff_lock_watched(&queue_lock));
	handoff_relock(&queue_lock);                      /* takes D */
	answered_then_next(CLIENT_B, "req-d", &queue_lock);   /* the next batch's job */
}

/* One lock guards the queue and a cache the job looks into: the worker
 * woken for A takes A, then the same lock for the lookup, before it
 * answers: still A's. After the answer, the next take is another job's. */
UNIT_TEST(the_queue_lock_taken_again_before_the_answer_keeps_the_job)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n\r\n";
	static int big_lock;

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	locks(&big_lock, 2);                              /* takes A, looks up */
	ck_assert_str_eq(fake_cur_id(), "req-a");
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	locks(&big_lock, 1);                              /* the next job */
	ck_assert_msg(agent_self.cur == NULL, "the next job runs in %s", fake_cur_id());
}

/* A thread serving its own request (read from its connection) reads its
 * own pipe or eventfd (the bytes name its request) and logs under a
 * mutex, twice: its context is its own, not a job's; nothing ends it. */
UNIT_TEST(a_channel_naming_the_threads_own_request_is_not_a_job)
{
	static int log_lock;
	uint64_t one = 1;
	bool tracked;

	flow_eventfd(EVENTFD, false);
	fake_serve(CLIENT_A, "req-a");
	tracked = flow_write_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one);
	flow_write_done(EVENTFD, &one, sizeof one, sizeof one, tracked);
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	locks(&log_lock, 3);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* An event loop woken through a channel for a job (a completion) waits in
 * epoll again before it locks anything twice: its locks are not a
 * queue's. */
UNIT_TEST(a_wait_in_poll_ends_the_queue_rule)
{
	static int log_lock;
	struct pollfd p = { .fd = EVENTFD, .events = POLLIN };
	struct flow_wait w = { .epfd = -1, .fds = &p, .nfds = 1 };

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	locks(&log_lock, 1);
	flow_wait_begins(&w);
	swap();
	fake_serve(CLIENT_B, "req-b");
	swap();
	flow_read_slot(fdmap_peek(CLIENT_B), CLIENT_B, "\n", 1, 1);   /* still its request's */
	locks(&log_lock, 2);
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

/* On a loop a runtime's bridge drives, a channel's wake-up is the loop's
 * own and the next locks are the interpreter's: taking one twice ends
 * nothing (the bridge reads what is current after each read). */
UNIT_TEST(a_bridge_loops_wakeup_is_not_a_take_from_a_queue)
{
	static int interpreter_lock;

	flow_eventfd(EVENTFD, false);
	agent_self.bridge_loop = true;
	woken_by_a();
	locks(&interpreter_lock, 2);
	ck_assert_str_eq(fake_cur_id(), "req-a");
}

/* The leftover wake-ups of jobs the worker finished (their connections
 * closed) name nothing when it reads them. */
UNIT_TEST(wakeups_of_finished_jobs_name_nothing)
{
	uint64_t one = 1;

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	second_unit_of_a();
	flow_close(CLIENT_A);
	ctx_take_current(NULL);
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert_msg(agent_self.cur == NULL, "a finished job's wake-up gave %s", fake_cur_id());
}

/* The same with keep-alive: the jobs were answered and their connections
 * handed back, not closed. */
UNIT_TEST(wakeups_of_answered_jobs_name_nothing)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\n\r\n";
	uint64_t one = 1;

	flow_eventfd(EVENTFD, false);
	woken_by_a();
	second_unit_of_a();
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	ctx_take_current(NULL);
	flow_read_slot(fdmap_peek(EVENTFD), EVENTFD, &one, sizeof one, sizeof one);
	ck_assert_msg(agent_self.cur == NULL, "an answered job's wake-up gave %s", fake_cur_id());
}

/* Another thread (swap()) read requests A and B and queued them; this
 * thread, which never read a client connection, answers them one after
 * another (`close_each`: and closes each). */
static void acceptor_reads_a_and_b(void)
{
	swap();
	fake_serve(CLIENT_A, "req-a");
	fake_serve(CLIENT_B, "req-b");
	ctx_take_current(NULL);
	swap();
}

/* A worker answers A: the lines after the answer carry A (a pool's worker
 * writes "job done" there before it waits for its next job). */
UNIT_TEST(a_workers_answer_keeps_its_request_for_the_lines_after)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	acceptor_reads_a_and_b();
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	a_still_vouched();
}

/* The same worker goes on to B with A still current from its answer (it
 * took both at once): B's answer is B's, and from then on the lines after
 * each answer of the program's workers carry nothing; the next answer's
 * too, and its later writes keep it so. */
UNIT_TEST(a_second_answer_with_the_first_still_current_mutes_answers)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	acceptor_reads_a_and_b();
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	ck_assert(!agent_self.muted);
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, head, sizeof head - 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert_msg(agent_self.muted, "after B's answer, lines carry %s", fake_cur_id());
	ck_assert(!flow_write_conn(fdmap_peek(CLIENT_B)));    /* the body: the full way */
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, "ok\n", 3);
	ck_assert(agent_self.muted);
	/* Another worker of the program: its first answer mutes too. */
	{
		struct agent_thread first = agent_self;   /* keeps B's reference */

		memset(&agent_self, 0, sizeof agent_self);
		agent_self.tid = 202;
		flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
		ck_assert_str_eq(fake_cur_id(), "req-a");
		ck_assert(agent_self.muted);
		ctx_take_current(NULL);
		agent_self = first;
	}
}

/* A thread that reads its own connections and moves between them by
 * writing (t_torture) takes no jobs: its lines keep what it wrote to. */
UNIT_TEST(a_thread_that_reads_its_connections_is_no_batch_worker)
{
	static const char byte[] = "x";

	fake_serve(CLIENT_A, "req-a");
	fake_serve(CLIENT_B, "req-b");
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, byte, 1);
	flow_write_slot(fdmap_peek(CLIENT_B), CLIENT_B, byte, 1);
	ck_assert_str_eq(fake_cur_id(), "req-b");
	ck_assert(!agent_self.muted);
}

/* Another thread serves request `id` on `conn` and writes its job, an
 * 8-byte record of `fill` bytes, into the pipe. */
static void queue_job(int conn, const char *id, char fill)
{
	char rec[8];
	bool tracked;

	memset(rec, fill, sizeof rec);
	swap();
	fake_serve(conn, id);
	tracked = flow_write_slot(fdmap_peek(PIPE_W), PIPE_W, rec, sizeof rec);
	flow_write_done(PIPE_W, rec, sizeof rec, sizeof rec, tracked);
	swap();
}

/* This thread reads the 8-byte record of `fill` bytes from the pipe. */
static void read_job(char fill)
{
	char rec[8];

	memset(rec, fill, sizeof rec);
	flow_read_slot(fdmap_peek(PIPE_R), PIPE_R, rec, sizeof rec, sizeof rec);
}

/* Jobs A and B are queued on a pipe (one 8-byte record each, written by
 * the acceptor while it served each) before this worker reads either; it
 * reads A's record, then B's, with nothing between: it holds both, and
 * the first's lines would carry the second's ID. None, and a third job's
 * record read the same way leaves it so; its answers' lines carry
 * nothing until it waits. */
UNIT_TEST(a_worker_reading_queued_jobs_before_any_work_takes_none)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	const int p[2] = { PIPE_R, PIPE_W };

	flow_pipe(p);
	queue_job(CLIENT_A, "req-a", 'a');
	queue_job(CLIENT_B, "req-b", 'b');
	queue_job(CHECK, "req-c", 'c');
	read_job('a');
	ck_assert_str_eq(fake_cur_id(), "req-a");
	read_job('b');
	ck_assert_msg(agent_self.cur == NULL, "the second job read gave %s", fake_cur_id());
	read_job('c');
	ck_assert_msg(agent_self.cur == NULL, "the third job read gave %s", fake_cur_id());
	flow_write_slot(fdmap_peek(CLIENT_A), CLIENT_A, answer, sizeof answer - 1);
	ck_assert_str_eq(fake_cur_id(), "req-a");
	ck_assert_msg(agent_self.muted, "after A's answer, lines carry %s", fake_cur_id());
}

/* The same worker when B is written only after it read A (A needed no
 * output of its own): B is its next job. */
UNIT_TEST(a_job_written_after_the_last_read_is_the_next_job)
{
	const int p[2] = { PIPE_R, PIPE_W };

	flow_pipe(p);
	queue_job(CLIENT_A, "req-a", 'a');
	read_job('a');
	ck_assert_str_eq(fake_cur_id(), "req-a");
	queue_job(CLIENT_B, "req-b", 'b');
	read_job('b');
	ck_assert_str_eq(fake_cur_id(), "req-b");
}

Suite *flow_suite(void)
{
	Suite *s = suite_create("flow");
	TCase *t = unit_tcase("flow", "outbound");
	TCase *c = unit_tcase("flow", "channel");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_checked_fixture(c, setup, teardown);
	suite_add_tcase(s, t);
	suite_add_tcase(s, c);
	return s;
}
