/*
 * flow.h - where contexts start, how they are carried and where they are
 * restored: the rules the shims apply after each real call. The shims
 * decide nothing; they report what happened here.
 */
#ifndef AGENT_FLOW_H
#define AGENT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

#include "base/thread.h"
#include "ctxmap/fdmap.h"
#include "agent/conn.h"
#include "agent/relay.h"
#include "ctxmap/relay.h"

/* accept/accept4 returned `fd`: a new connection, a new context, current. */
void flow_accept(int fd, const struct sockaddr *peer, socklen_t len);

/* A read on `fd` returned n >= 0 bytes (0: end of file); `data` holds at
 * least the first `dlen` of them (0 when they are not contiguous); `s` is
 * the fd's slot (fdmap_moving()). Leaves errno alone: the hot path need
 * not save it. */
void flow_read_slot(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n);

/* SSL_set_fd(fd): a TLS connection, whose plain reads carry encrypted
 * bytes; its requests start at flow_tls_read. */
void flow_tls_fd(int fd);
/* SSL_read on `fd` decrypted n > 0 bytes at `data`: what a plain read is
 * on a connection without TLS (may start a request, adopting its IDs). */
void flow_tls_read(int fd, const void *data, size_t n);

/* The program is about to write `n` bytes (`data`: the first of them, or
 * NULL) to `fd`, an fd that is not output. */
void flow_write(int fd, const void *data, size_t n);
/* The same with the fd's slot already found (the write path's one lookup).
 * Returns true when this write is recorded in flight in a channel: its
 * caller then reports the call's return with flow_write_done(tracked). */
bool flow_write_slot(struct fdslot *s, int fd, const void *data, size_t n);

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
 *    reads past a response (conn_reads), its thread serving and not merely
 *    inheriting that context (switch_to_), and the wire rules not
 *    following it (propagate.h); its first write after a read marks the
 *    answer begun (FDF_WROTE), as the slow path does.
 */
static inline __attribute__((always_inline)) bool flow_write_quick(struct fdslot *s)
{
	const struct ctx *cur = agent_self.cur;
	unsigned flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);

	switch (fdmap_kind(s)) {
	case FD_CHAN:
		if (cur || (flags & FDF_RELAY) || !chan_quiet(__atomic_load_n(&s->tx, __ATOMIC_ACQUIRE)))
			return false;
		break;
	case FD_PEER:
		if (fdmap_ctx_peek(s) != cur || __atomic_load_n(&s->wire, __ATOMIC_RELAXED))
			return false;
		break;
	case FD_CLIENT:
		if (fdmap_ctx_peek(s) != cur || !agent_self.served || agent_self.inherited ||
		    __atomic_load_n(&s->wire, __ATOMIC_RELAXED))
			return false;
		/* The answer begins: the next read is a new request (conn.c). */
		if (!(flags & FDF_WROTE))
			__atomic_or_fetch((uint8_t *)&s->flags, FDF_WROTE, __ATOMIC_RELAXED);
		break;
	default:
		return false;
	}
	agent_self.weak = 0;
	return true;
}

static inline __attribute__((always_inline)) bool flow_read_quick(const struct fdslot *s)
{
	const struct ctx *cur = agent_self.cur;

	switch (fdmap_kind(s)) {
	case FD_CHAN:
		if (!chan_quiet(__atomic_load_n(&s->rx, __ATOMIC_ACQUIRE)) || relaymap_any())
			return false;
		agent_self.weak = 0;
		return true;
	case FD_PEER:
		if (fdmap_ctx_peek(s) != cur || __atomic_load_n(&s->wire, __ATOMIC_RELAXED))
			return false;
		agent_self.weak = cur ? 2 : 0;
		return true;
	case FD_CLIENT:
		if (fdmap_ctx_peek(s) != cur || conn_reads(s) || !agent_self.served ||
		    agent_self.inherited)
			return false;
		agent_self.weak = 0;
		return true;
	case FD_TIMER:
		if (fdmap_ctx_peek(s) != cur)
			return false;
		agent_self.weak = 0;
		return true;
	default:
		return false;
	}
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
/* socketpair(): each end reads what the other writes. */
void flow_socketpair(const int fds[2]);
/* eventfd(): a counter; EFD_SEMAPHORE reads take one unit. */
void flow_eventfd(int fd, bool semaphore);
/* timerfd_create(), and timerfd_settime() arming or disarming it. */
void flow_timerfd(int fd);
void flow_timer_armed(int fd, bool armed);
/* timer_settime() on a POSIX timer arming or disarming it: its
 * notification runs in the arming context (ctxmap/timermap.h). */
void flow_ptimer_armed(timer_t id, bool armed);

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

/* A wait reported `fd` ready: its context becomes current. */
void flow_ready(int fd);

/* An epoll event for `fd` is handed to the program (dispatch.c; -1 or -2:
 * not known or ambiguous): the fd's context becomes current, or none. The
 * context already current costs one compare. */
void flow_event(int fd);

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
void flow_epoll_ctl(int epfd, int op, int fd, uint64_t data);

#endif
