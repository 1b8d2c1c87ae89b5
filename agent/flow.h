/*
 * flow.h - where contexts start, how they are carried and where they are
 * restored: the rules the shims apply after each real call. The shims
 * decide nothing; they report what happened here.
 */
#ifndef AGENT_FLOW_H
#define AGENT_FLOW_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>

#include "base/thread.h"
#include "ctxmap/fdmap.h"
#include "agent/conn.h"
#include "agent/dgram.h"
#include "agent/out.h"
#include "agent/relay.h"
#include "ctxmap/relay.h"

/* accept/accept4 returned `fd`: a new connection, a new context, current. */
void flow_accept(int fd, const struct sockaddr *peer, socklen_t len);
/* A socket pair made by hand over loopback TCP (eventlet's thread pool
 * wakes its hub through one: it listens on port 0, asks the listener's
 * address, connects to it and accepts): flow_named() keeps the local port
 * the program asked of socket `fd` (getsockname), flow_dial() the calling
 * thread's connect() to that port on a loopback address (before the call),
 * and flow_accept_self() says whether connection `fd`, accepted on
 * listener `lfd` from `peer`, is the other end of that connect: it is then
 * no client's (no request starts there), kept as a socket of the process's
 * own that carries nothing. No system call of the agent's own. */
void flow_named(int fd, const struct sockaddr *addr, socklen_t len);
void flow_dial(const struct sockaddr *addr, socklen_t len);
bool flow_accept_self(int lfd, int fd, const struct sockaddr *peer, socklen_t len);

/* A read on `fd` returned n >= 0 bytes (0: end of file); `data` holds at
 * least the first `dlen` of them (0 when they are not contiguous); `s` is
 * the fd's slot (fdmap_moving()). Leaves errno alone: the hot path need
 * not save it. */
void flow_read_slot(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n);
/* The same inside the agent (agent_enter/agent_leave around it) for a
 * read that returned r >= 0, returning r: the whole of a read shim's slow
 * path, which tail-calls it with its own arguments. */
ssize_t flow_read_done(struct fdslot *s, int fd, const void *data, size_t dlen, ssize_t r);

/* SSL_set_fd(fd): a TLS connection, whose plain reads carry encrypted
 * bytes; its requests start at flow_tls_read. */
void flow_tls_fd(int fd);
/* SSL_read on `fd` decrypted n > 0 bytes at `data`: what a plain read is
 * on a connection without TLS (may start a request, adopting its IDs). */
void flow_tls_read(int fd, const void *data, size_t n);

/* The program is about to write `n` bytes (`data`: the first of them, or
 * NULL) to `fd`, an fd that is not output. */
void flow_write(int fd, const void *data, size_t n);
/* The same with the fd's slot already found (the write path's one lookup),
 * for a write whose bytes may not be contiguous: `data` is all n of them
 * or NULL, `head` their first min(8, n) (a copy for a gathered write) or
 * NULL. A channel's record tells one write's bytes from another's by its
 * head (ctxmap/chan.h). Returns true when this write is recorded in flight
 * in a channel: its caller then reports the call's return with
 * flow_write_done(tracked). */
bool flow_write_slot_head(struct fdslot *s, int fd, const void *data, const void *head, size_t n);
/* flow_write_slot_head() for contiguous bytes (data, or NULL). */
bool flow_write_slot(struct fdslot *s, int fd, const void *data, size_t n);

/* The thread works on a client connection, or passes bytes through an
 * outbound one: its context vouches for its lines again (muted ends), and
 * rests on more than the channel that gave it (chan_took, chan_mark).
 * Three stores, in the quick paths too. */
static inline void flow_vouched(void)
{
	agent_self.muted = false;
	agent_self.chan_took = NULL;
	agent_self.chan_mark = NULL;
}

/*
 * What flow_write_slot() and flow_read_slot() do when they have nothing
 * to do, decided inline before anything else: a few loads, no reference,
 * no call. Each returns true when the call needs nothing more (having
 * made the one store the slow path would: the thread's weak mark), and
 * false to take the slow path. The tests are the slow path's own:
 *  - a channel (pipe, socketpair, eventfd) with nothing recorded: a write
 *    in no context records nothing (chan_wrote), a read takes nothing
 *    (chan_read) unless a forked child's bytes may be relayed (relay.h).
 *    The channel is read without a reference: channels are type-stable
 *    (chan.c), so one released meanwhile is still a channel nobody reads;
 *  - a connection or timer whose context is the thread's already: the
 *    switch is a pointer compare; a client connection also needs its
 *    reads past a response and, on HTTP, bytes that hold no other
 *    request before the answer (conn_reads), its thread serving and not merely
 *    inheriting that context (switch_to_), and the wire rules not
 *    following it (propagate.h); its first write after a read marks the
 *    answer begun (FDF_WROTE), as the slow path does; an outbound socket
 *    also needs a byte through it already (FDF_PASSED: the slow path
 *    marks the first, flow_close);
 *  - a read of an fd whose reads move nothing (a kind below FD_CLIENT:
 *    fdmap_moving), which the read shims look up with flow_slot() so that
 *    the kind is loaded once.
 */
static inline __attribute__((always_inline)) bool flow_write_plain(const struct fdslot *s)
{
	/* The kind and every flag in one compare: an FD_CHAN slot's flags
	 * are FDF_RELAY and FDF_CARRIES only (fdmap_reset clears them with
	 * its kind), and any flag at all sends a write the full way. */
	if (fdmap_kind_flags(s) != FDMAP_KF(FD_CHAN, 0) || agent_self.cur)
		return false;
	return chan_quiet(__atomic_load_n(&s->tx, __ATOMIC_ACQUIRE));
}

static inline __attribute__((always_inline)) bool flow_write_conn(struct fdslot *s)
{
	const struct ctx *cur = agent_self.cur;
	unsigned kind = fdmap_kind(s);
	unsigned flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);

	if (kind == FD_PEER) {
		/* The first write after a read goes the full way: it ends
		 * the exchange (FDF_REPLIED cleared), so that a write of
		 * another request while this one is in flight is seen. */
		if (fdmap_ctx_peek(s) != cur || (flags & (FDF_PASSED | FDF_REPLIED)) != FDF_PASSED ||
		    __atomic_load_n(&s->wire, __ATOMIC_RELAXED))
			return false;
	} else if (kind == FD_CLIENT) {
		/* serving, not in a wait that gave several fds, and not
		 * muted (a muted thread's write may leave it so: answer_mutes) */
		if (fdmap_ctx_peek(s) != cur || agent_self.served_muted != SERVED_VOUCHED ||
		    agent_self.inherited || __atomic_load_n(&s->wire, __ATOMIC_RELAXED))
			return false;
		/* The answer begins: the next read is a new request (conn.c). */
		if (!(flags & FDF_WROTE))
			__atomic_or_fetch((uint8_t *)&s->flags, FDF_WROTE, __ATOMIC_RELAXED);
	} else {
		return false;
	}
	flow_vouched();
	agent_self.weak = 0;
	return true;
}

static inline __attribute__((always_inline)) bool flow_read_plain_kind(const struct fdslot *s,
									unsigned kind)
{
	if (kind < FD_CLIENT)   /* reads there move nothing (fdmap_moving) */
		return true;
	/* A thread with a context reading a quiet channel may be taking a
	 * job nothing recorded (flow_read_slot): the full way. */
	if (kind != FD_CHAN || !chan_quiet(__atomic_load_n(&s->rx, __ATOMIC_ACQUIRE)) ||
	    agent_self.cur || relaymap_any())
		return false;
	agent_self.weak = 0;
	return true;
}

static inline __attribute__((always_inline)) bool flow_read_plain(const struct fdslot *s)
{
	return flow_read_plain_kind(s, fdmap_kind(s));
}

/* What flow_read_conn() decides before it looks at the bytes read:
 * FLOW_READ_DONE (the marks set), FLOW_READ_SLOW, or FLOW_READ_BYTES: an
 * HTTP client connection's read before its answer, done unless the bytes
 * hold another request (conn_holds_request), then flow_read_served(). The
 * shims ask the bytes out of line so that these tests keep no frame. */
enum flow_read_quick { FLOW_READ_SLOW, FLOW_READ_DONE, FLOW_READ_BYTES };

static inline void flow_read_served(void)
{
	agent_self.weak = 0;
	flow_vouched();
}

static inline __attribute__((always_inline)) enum flow_read_quick
flow_read_conn_test(const struct fdslot *s, const void *data, size_t dlen)
{
	const struct ctx *cur = agent_self.cur;
	unsigned kind = fdmap_kind(s);

	/* A server's connection first: its reads are every request's. */
	if (kind == FD_CLIENT) {
		/* HTTP: the bytes may hold another request before this one
		 * was answered (conn_reads). */
		if (fdmap_ctx_peek(s) != cur || !(agent_self.served & SERVED_YES) || agent_self.inherited ||
		    conn_reads_marks(s))
			return FLOW_READ_SLOW;
		if (conn_reads_bytes(s, data, dlen))
			return FLOW_READ_BYTES;
		flow_read_served();
		return FLOW_READ_DONE;
	}
	if (kind == FD_PEER) {
		/* The slow path marks a read (FDF_REPLIED) once after a write
		 * it saw. */
		if (fdmap_ctx_peek(s) != cur || __atomic_load_n(&s->wire, __ATOMIC_RELAXED) ||
		    (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & (FDF_PASSED | FDF_REPLIED)) !=
			    (FDF_PASSED | FDF_REPLIED))
			return FLOW_READ_SLOW;
		/* The reply of the thread's own call keeps the evidence its
		 * context rests on (flow_read_slot). */
		agent_self.weak = cur && agent_self.weak ? 2 : 0;
		flow_vouched();
		return FLOW_READ_DONE;
	}
	/* Not on a thread's inherited context: the expiry is a sleep there
	 * (flow_read_slot). */
	if (kind == FD_TIMER && fdmap_ctx_peek(s) == cur &&
	    !(agent_self.inherited || agent_self.pin_inherited)) {
		agent_self.weak = 0;
		return FLOW_READ_DONE;
	}
	return FLOW_READ_SLOW;  /* FD_CHAN with something queued, FD_DGRAM */
}

/* The rest of the quick read tests, past flow_read_plain(): a connection
 * or timer whose context is current. True when the read needs nothing
 * more (its marks set). */
static inline __attribute__((always_inline)) bool flow_read_conn(const struct fdslot *s, const void *data,
								  size_t dlen)
{
	switch (flow_read_conn_test(s, data, dlen)) {
	case FLOW_READ_DONE:
		return true;
	case FLOW_READ_BYTES:
		if (conn_holds_request(data, dlen))
			return false;
		flow_read_served();
		return true;
	default:
		return false;
	}
}

/* Both: true when a read that returned needs nothing more. */
static inline __attribute__((always_inline)) bool flow_read_quick(const struct fdslot *s, const void *data,
								   size_t dlen)
{
	return flow_read_plain(s) || flow_read_conn(s, data, dlen);
}

/* Both write tests (the gate's). */
static inline __attribute__((always_inline)) bool flow_write_quick(struct fdslot *s)
{
	return flow_write_plain(s) || flow_write_conn(s);
}

/* ... and the write returned r (-1: failed): needed for FD_CHAN when the
 * write was tracked (flow_write_slot's answer) or took less than `n`. */
void flow_write_done(int fd, const void *data, size_t n, ssize_t r, bool tracked);

/* The thread ends: what it still had in flight is over. */
void flow_thread_exit(void);

/* More than one thread of the process has accepted a connection: any of
 * them may have queued work another's wake-up announces (chan.h, condmap.h). */
bool flow_several_acceptors(void);

/* socket(domain, type) returned fd: a new object, its type remembered
 * (FDF_SOCK_*), so that nothing has to ask the kernel later. */
void flow_socket(int fd, int domain, int type);

/* pipe()/pipe2(): fds[0] reads what fds[1] writes. */
void flow_pipe(const int fds[2]);
/* recv(MSG_PEEK) on channel `fd` (slot `s`): what a thread whose request
 * was answered looks at on a job queue is its next job; it carries none
 * until it reads it. */
void flow_chan_peeked(struct fdslot *s, int fd);
/* socketpair(): each end reads what the other writes; `messages`: in
 * datagrams (SOCK_DGRAM, SOCK_SEQPACKET), each read one write whole. */
void flow_socketpair(const int fds[2], bool messages);
/* eventfd(): a counter; EFD_SEMAPHORE reads take one unit. */
void flow_eventfd(int fd, bool semaphore);
/* timerfd_create(), and timerfd_settime() arming or disarming it. */
void flow_timerfd(int fd);
void flow_timer_armed(int fd, bool armed);
/* timer_settime() on a POSIX timer arming or disarming it: its
 * notification runs in the arming context (ctxmap/timermap.h). */
void flow_ptimer_armed(timer_t id, bool armed);

/*
 * A POSIX timer notified on a thread of its own (SIGEV_THREAD): the shim
 * hands glibc its own function with a record of the program's.
 * flow_ptimer_new makes the record (NULL without memory: the program's
 * sigevent is used as it is); flow_ptimer_created says whether
 * timer_create made the timer (`id`) or failed (the record is dropped);
 * flow_ptimer_deleted follows timer_delete. On the notification thread
 * flow_ptimer_fires makes the arming context current (when the agent
 * runs) and returns the program's function with its value in *value.
 */
struct ptimer;
typedef void (*flow_ptimer_fn)(union sigval);
struct ptimer *flow_ptimer_new(flow_ptimer_fn fn, union sigval value);
void flow_ptimer_created(struct ptimer *t, const timer_t *id, bool ok);
void flow_ptimer_deleted(timer_t id);
flow_ptimer_fn flow_ptimer_fires(struct ptimer *t, union sigval *value);

/* The context a connection, socket or timer fd carries, with a reference
 * for the caller, or NULL: none, or a channel's (several requests may be
 * queued in it; reqctx_api_fd_snapshot). */
struct ctx *flow_fd_ctx(int fd);

/* A timer setting arms the timer iff its it_value is not zero (POSIX
 * timer_settime, timerfd_settime); a zero it_value disarms it. */
static inline bool flow_arms(const struct itimerspec *v)
{
	return v->it_value.tv_sec != 0 || v->it_value.tv_nsec != 0;
}

/* close_range()/closefrom(): every tracked fd from first to last closed. */
void flow_close_range(unsigned first, unsigned last);

/* epoll_ctl(ADD/MOD) of `fd`: the program is working on that connection. */
void flow_watch(int fd);

/* connect(fd): the reply will come back in the current context. */
void flow_connect(int fd);

/* A creating call returned `fd`: whatever the map said is stale. */
void flow_new_fd(int fd, enum fd_kind kind);

void flow_close(int fd);
void flow_dup(int from, int to);
/* fds 0, 1 and 2 were made copies of one new file inside libc (login_tty,
 * forkpty's child: a pseudo-terminal), where no dup2 of the program's was
 * seen; `gone` (>= 0) is the fd they were copied from, closed since. */
void flow_std_retargeted(int gone);

/* `c` was made for a connection that is closed now, or carries the next
 * request (keep-alive): its request is over. Reads the fd map only (safe
 * in a signal handler). */
bool flow_request_over(const struct ctx *c);

/* `c`'s request was answered: its connection written to since the request
 * was read, or closed since (flow_request_over). */
bool flow_request_answered(const struct ctx *c);
/* `c` is a request still being served: made for a client connection that
 * is open, carries it still (no next request began there) and was not
 * written to since its head was read (reqctx_api_live). Returns 0 when
 * not, 1 when it is, 2 when nothing of its request has been read yet (the
 * context accept made). */
int flow_request_live(const struct ctx *c);

/* The current context came from a channel's bytes or wake-up and nothing
 * switched since: a guess from one write, not work the thread vouches for
 * (handoff_wait_ends). */
bool flow_cur_from_chan(void);

/* The thread waits (epoll/poll/select): no context while idle. */
void flow_idle(void);

/* What a wait watches: an epoll instance (epfd >= 0), a poll set, or
 * select's sets. */
struct pollfd;
struct flow_wait {
	int epfd;
	const struct pollfd *fds;
	unsigned long nfds;
	int nsel;
	const fd_set *sets[3];
};

/* The thread is about to wait on `w`. Its context ends (flow_idle) unless
 * the wait is inside its request: the context's connection is open and
 * nothing waited on can bring another request's work (docs/design.md,
 * "Waits inside a request"); then it is kept across the wait. */
void flow_wait_begins(const struct flow_wait *w);

/* A wait or an event: the loop's next turn. The heads it read and its
 * batched mark (agent/flow.c, heads_read) end, with a context or none:
 * a thread the mark left with none waits with none, and the mark used
 * to outlive that wait, so that with whole batches handed out
 * (REQCTX_EPOLL=batch) none of its later lines carried an ID. */
static inline void flow_turn_ends(void)
{
	agent_self.head_read = NULL;
	agent_self.batched = false;
}

/* The thread started another with its context (pthread_create): the
 * request whose head it read last went on with that thread, as if the
 * thread had written for it (heads_read: an acceptor that reads each head
 * and starts a thread per request, which answers later, read a second
 * head before the first was answered and wrote every later line bare,
 * its threads' first lines too: t_batchpop "spawn", 31 of 32; a single
 * thread that reads two heads before it answers either stays batched,
 * t_batchpop "heads"). */
static inline void flow_thread_started(void)
{
	agent_self.head_read = NULL;
}

/* Some thread read or wrote a client connection (flow_listener). */
extern int flow_served_elsewhere;

/* The thread accepts connections and serves none: a listener thread,
 * whose events are its acceptor's, no request's. */
static inline bool flow_listener(void)
{
	return agent_self.accepted && !(agent_self.served & SERVED_YES) &&
	       __atomic_load_n(&flow_served_elsewhere, __ATOMIC_RELAXED);
}

/* Sets `flag` on outbound connection `s` (FDF_ASKED, FDF_PASSED...). */
static inline void flow_peer_mark(struct fdslot *s, unsigned flag)
{
	if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & flag))
		__atomic_or_fetch(&s->flags, (uint8_t)flag, __ATOMIC_RELAXED);
}

/* The thread's context is now what `fd`'s own event (or the program's
 * asking whether its connect is done) made it, until the next switch; an
 * outbound connection is marked asked (carried_nothing). `s`: fd's slot. */
static inline void flow_brought_by(struct fdslot *s, int fd)
{
	agent_self.event_fd = fd;
	agent_self.event_at = agent_self.switches;
	agent_self.event_loop = true;
	if (s && fdmap_kind(s) == FD_PEER)
		flow_peer_mark(s, FDF_ASKED);
}

/* flow_event()'s quick way, for the epoll shims' frameless hand-out: an
 * event of a connection whose context (or none) is the thread's already,
 * that ends nothing (flow_event's own tests for that case, in its order,
 * and the marks it sets). True when done; false, having changed nothing,
 * when flow_event() must decide. */
static inline __attribute__((always_inline)) bool flow_event_quick(int fd, uint32_t events)
{
	struct fdslot *s = fd >= 0 ? fdmap_peek(fd) : NULL;
	const struct ctx *c;

	if (unlikely(s == NULL) || (c = fdmap_ctx_peek(s)) != agent_self.cur || flow_listener() ||
	    fdmap_kind(s) == FD_CHAN)
		return false;
	if (c != NULL && fdmap_kind(s) == FD_CLIENT && unlikely(conn_answered(s)) &&
	    (events & (EPOLLIN | EPOLLPRI)))
		return false;
	flow_turn_ends();
	agent_self.weak = c != NULL;
	flow_brought_by(s, fd);
	return true;
}

/* A wait (epoll, poll, select) begins: what the previous one gave ends
 * (SERVED_SEVERAL). Not at each buffered epoll event: no wait there. */
static inline void flow_wait_starts(void)
{
	agent_self.served &= (unsigned char)~SERVED_SEVERAL;
}

/* A wait returned n > 1 fds ready at once, for the program to go through
 * in its own order (SERVED_SEVERAL): `fds`, or NULL when they are not
 * known (a batch-mode epoll_wait) or too many to keep. */
static inline void flow_several_ready(const int *fds, int n)
{
	if (n <= 1)
		return;
	agent_self.served |= SERVED_SEVERAL;
	if (fds == NULL || n > READY_KEPT) {
		agent_self.ready_left = INT_MAX;
		return;
	}
	for (int i = 0; i < n; i++)
		agent_self.ready_fd[i] = fds[i];
	agent_self.ready_n = (unsigned char)n;
	agent_self.ready_left = n;
}

/* The thread is about to wait (with a context or none): lines it took
 * from relayed pipes no longer vouch for anything (agent/relay.c). */
static inline void flow_wait_relay_stale(void)
{
	if (unlikely(agent_self.relay_stash != NULL))
		agent_self.switches++;
}

/* accept/accept4 is about to wait for a new connection: the thread's
 * context ends (a just-accepted one was handed on already; nothing the
 * thread does while it has no connection is a request's). */
void flow_accept_begins(void);

/* A read of connection `fd` (slot `s`) failed with `err`, an error other
 * than EAGAIN or EINTR (a reset): the thread is about to handle that
 * connection's end (a loop that polled several), so its context becomes
 * current as an event's would (event_names); a client connection that
 * names none leaves the thread with none. On an answered connection that
 * is its last request's, as a read of 0 bytes is. Nothing to read says
 * nothing: loops read speculatively. */
void flow_read_failed(struct fdslot *s, int fd, int err);

/* A wait reported `fd` ready: its context becomes current. `in`: the
 * readiness reports input (POLLIN, POLLPRI, POLLRDNORM or POLLRDBAND,
 * with a hang-up or not; select's read or exception set), which on an
 * answered HTTP connection is its next request, not read yet, or its
 * close (conn_answered): none. */
void flow_ready(int fd, bool in);

/* An epoll event for `fd` is handed to the program (dispatch.c; -1 or -2:
 * not known or ambiguous): the fd's context becomes current, or none.
 * `events`: the event's mask; EPOLLIN or EPOLLPRI is input (as
 * flow_ready's `in`). The context already current costs one compare.
 * Returns 1, the one event handed out (dispatch_next's tail call). */
int flow_event(int fd, uint32_t events);

/* A wait for `fd` only to take more bytes (CPython's send on a socket
 * with a timeout polls for POLLOUT first): when `fd` carries contexts, the
 * thread is in the middle of writing for its request, which stays current.
 * Idling there would make the next write to a pooled connection take the
 * connection's old tag, the previous request's. */
static inline bool flow_waits_to_write(int fd)
{
	return fd >= 0 && fdmap_moving(fd) != NULL;
}

/* A successful epoll_ctl(epfd, op, fd) registering `data`. */
void flow_epoll_ctl(int epfd, int op, int fd, uint64_t data, uint32_t events);

/*
 * The shims' one lookup of an fd (reads and writes make it once, before or
 * after the real call) and what they may ask of its answer. The slot is
 * the core's: a shim only hands it back.
 */
static inline struct fdslot *flow_slot(int fd)
{
	return fdmap_peek(fd);
}

/* The slot when I/O on `fd` may move a context (fdmap_moving), or NULL. */
static inline struct fdslot *flow_moving(int fd)
{
	return fdmap_moving(fd);
}

/* Whether I/O on `fd` may move a context. */
static inline bool flow_fd_moves(int fd)
{
	return fd >= 0 && fdmap_moving(fd) != NULL;
}

/* Whether `s` is an unconnected datagram socket's, whose receives start
 * requests by their sender (agent/dgram.h). */
static inline bool flow_slot_dgram(const struct fdslot *s)
{
	return s && fdmap_kind(s) == FD_DGRAM;
}

/*
 * A write of n bytes (`data`: where the first are, or NULL) that does not
 * go through the line writer, around its real call: flow_write_begins
 * before (the flow rules for fds that move contexts; the held line first
 * where the write may reach its destination), flow_write_ends with the
 * call's return r. Both inline for the shims' write paths; `s` is the
 * caller's one lookup (flow_slot). flow_write_begins' answer, handed to
 * the others: the fd's kind, with FLOW_WRITE_TRACKED when this very write
 * is recorded in flight in a channel (flow_write_slot). A gathered write
 * (writev, sendmsg) calls flow_write_begins_head with its bytes' head
 * copied (flow_write_slot_head).
 */
#define FLOW_WRITE_TRACKED 0x100
#define FLOW_WRITE_KIND(k) ((enum fd_kind)((k) & 0xff))

static inline int flow_write_begins_head(struct fdslot *s, int fd, const void *data,
					 const void *head, size_t n)
{
	int k = s ? (int)fdmap_kind(s) : FD_UNKNOWN;

	if (k >= FD_CLIENT) {
		bool tracked;

		AGENT_WORK_FAST(tracked = flow_write_slot_head(s, fd, data, head, n));
		if (tracked)
			k |= FLOW_WRITE_TRACKED;
	} else {
		if (out_must_flush_before(s))
			AGENT_WORK(out_flush_thread());
		out_saw_stdout(s);
	}
	return k;
}

static inline int flow_write_begins(struct fdslot *s, int fd, const void *data, size_t n)
{
	return flow_write_begins_head(s, fd, data, data, n);
}

/* flow_write_begins for bytes that may be several threads' (a stdio
 * stream's buffer, flushed by one of them) into FD_CHAN slot `s`: they are
 * recorded as nobody's, the channel marked as a job queue (chan_carried).
 * Returns FD_CHAN (for flow_write_ends).
 * Inside the agent (AGENT_WORK). */
int flow_write_nobody(struct fdslot *s, const void *data, size_t n);

/* Returns r. A channel write recorded in flight ends; one that took less
 * than announced is corrected. */
static inline ssize_t flow_write_ends(int k, int fd, const void *data, size_t n, ssize_t r)
{
	if (unlikely(FLOW_WRITE_KIND(k) == FD_CHAN) && ((k & FLOW_WRITE_TRACKED) || (size_t)r != n))
		AGENT_WORK(flow_write_done(fd, data, n, r, k & FLOW_WRITE_TRACKED));
	return r;
}

/* After flow_write_ends, for a send that names its destination `to`:
 * a datagram answering the current request's sender ends it. Returns r. */
static inline ssize_t flow_dgram_ends(int k, int fd, const void *to, socklen_t len, ssize_t r)
{
	if (unlikely(k == FD_DGRAM) && r >= 0 && to && agent_self.cur)
		AGENT_WORK(dgram_sent(fd, to, len));
	return r;
}

#endif
