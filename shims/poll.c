/*
 * poll.c - poll and select. The waiting thread has no context; when exactly
 * one fd comes back ready, its context is current on return (with more,
 * the first I/O decides, and once the thread is done with a connection
 * its lines carry none until the next one's I/O: SERVED_SEVERAL).
 */
#include <errno.h>
#include <sys/wait.h>
#include <poll.h>

#include "agent/bridge.h"
#include "agent/handoff.h"
#include "base/debug.h"
#include "shims/shim.h"

/* The one fd ready (or -1), and in `*in` whether its readiness reports
 * input (flow_ready). */
static int one_ready_poll(const struct pollfd *fds, nfds_t n, bool *in)
{
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].revents && fds[i].fd >= 0) {
			*in = fds[i].revents & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND);
			return fds[i].fd;
		}
	return -1;
}

static int one_ready_select(int nfds, fd_set *r, fd_set *w, fd_set *e, bool *in)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) {
			*in = (r && FD_ISSET(fd, r)) || (e && FD_ISSET(fd, e));
			return fd;
		}
	return -1;
}

/* Only waits for one fd to take more bytes (see flow_waits_to_write). */
static inline bool waits_to_write(const struct pollfd *fds, nfds_t n)
{
	return n == 1 && !(fds[0].events & (POLLIN | POLLPRI | POLLRDNORM)) &&
	       flow_waits_to_write(fds[0].fd);
}

/* A poll of no fd that does not wait (urllib3 asks the C library so
 * whether poll works): no wait at all, and not the sleep a poll of no fd
 * is otherwise (flow_wait_begins). */
static inline bool no_wait_poll(nfds_t n, int timeout)
{
	return n == 0 && timeout == 0;
}

static inline bool zero_time(const struct timespec *ts)
{
	return ts && ts->tv_sec == 0 && ts->tv_nsec == 0;
}

/* A green process's hub, or a fiber scheduler (agent/bridge.h): from its
 * wait on, what the thread runs is a green thread's or a fiber's, which
 * no libc call names. */
static __attribute__((noinline)) void green_wait(void)
{
	if (!agent_self.unvouched) {
		agent_self.unvouched = true;
		if (unlikely(debug_fd >= 0))
			DEBUG("a wait of green threads or fibers: this thread's lines name nobody from here");
	}
}

/* What a wait watches (bridge_watch_selects): its client connections,
 * and its listening sockets (stream sockets the program made and never
 * connected). */
struct watched {
	int clients, listeners;
};

static void watch(struct watched *w, int fd)
{
	const struct fdslot *s = fdmap_peek(fd);
	unsigned flags;

	if (s == NULL)
		return;
	flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
	if (fdmap_kind(s) == FD_CLIENT)
		w->clients++;
	else if (fdmap_kind(s) == FD_PEER && (flags & (FDF_SOCK_STREAM | FDF_CONNECTED)) == FDF_SOCK_STREAM)
		w->listeners++;
}

/* A scheduler's wait: two client connections or more, or one with a
 * listener (its acceptor fiber waits there too). Not a worker thread's
 * wait on its one connection and a wake-up pipe (puma's). */
static bool scheduler_watch(const struct watched *w)
{
	return w->clients >= 2 || (w->clients == 1 && w->listeners >= 1);
}

static __attribute__((noinline)) bool clients_polled(const struct pollfd *fds, nfds_t n)
{
	struct watched w = { 0, 0 };

	for (nfds_t i = 0; n > 1 && i < n; i++)
		if (fds[i].fd >= 0)
			watch(&w, fds[i].fd);
	return scheduler_watch(&w);
}

/* Before the call: select leaves only the ready fds in its sets. */
static __attribute__((noinline)) bool clients_selected(int nfds, fd_set *rd, fd_set *wr, fd_set *ex)
{
	struct watched w = { 0, 0 };

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex)))
			watch(&w, fd);
	return scheduler_watch(&w);
}

static inline bool fibers_polled(const struct pollfd *fds, nfds_t n)
{
	return unlikely(__atomic_load_n(&bridge_watch_selects, __ATOMIC_RELAXED)) && clients_polled(fds, n);
}

static inline bool fibers_selected(int nfds, fd_set *rd, fd_set *wr, fd_set *ex)
{
	return unlikely(__atomic_load_n(&bridge_watch_selects, __ATOMIC_RELAXED)) &&
	       clients_selected(nfds, rd, wr, ex);
}

static inline int ready(int r, int fd, bool in, bool fibers)
{
	if (bridge_green_wait() || unlikely(fibers))
		green_wait();
	if (r == 1 && fd >= 0)
		AGENT_WORK(flow_ready(fd, in));
	return r;
}

/* Several fds ready: which, when there are few (flow_several_ready). */
static __attribute__((noinline)) void several_poll(const struct pollfd *fds, nfds_t n, int r)
{
	int got[READY_KEPT], k = 0;

	if (r > READY_KEPT) {
		flow_several_ready(NULL, r);
		return;
	}
	for (nfds_t i = 0; i < n && k < r; i++)
		if (fds[i].revents && fds[i].fd >= 0)
			got[k++] = fds[i].fd;
	flow_several_ready(k == r ? got : NULL, r);
}

/* The same for select: each fd once, whichever sets it is in. */
static __attribute__((noinline)) void several_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
						      int r)
{
	int got[READY_KEPT], k = 0;
	bool more = false;

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE && !more; fd++)
		if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))) {
			if (k == READY_KEPT)
				more = true;
			else
				got[k++] = fd;
		}
	flow_several_ready(more ? NULL : got, more ? r : k);
}

static inline int ready_poll(int r, const struct pollfd *fds, nfds_t n, bool fibers)
{
	bool in = false;
	int fd = r == 1 ? one_ready_poll(fds, n, &in) : -1;

	if (r > 1)
		several_poll(fds, n, r);
	return ready(r, fd, in, fibers);
}

static inline int ready_select(int r, int nfds, fd_set *rd, fd_set *wr, fd_set *ex, bool fibers)
{
	bool in = false;
	int fd = r == 1 ? one_ready_select(nfds, rd, wr, ex, &in) : -1;

	if (r > 1)
		several_select(nfds, rd, wr, ex, r);
	return ready(r, fd, in, fibers);
}

AGENT_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int r;

	if (!agent_active() || no_wait_poll(n, timeout))
		return REAL(poll)(fds, n, timeout);
	if (waits_to_write(fds, n)) {
		shim_may_block();
		return REAL(poll)(fds, n, timeout);
	}
	shim_wait_begins(&(struct flow_wait){ .epfd = -1, .fds = fds, .nfds = n });
	r = REAL(poll)(fds, n, timeout);
	if (r == 0 && timeout != 0)
		handoff_slept();      /* it timed out: a sleep */
	return ready_poll(r, fds, n, fibers_polled(fds, n));
}

AGENT_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			const sigset_t *mask)
{
	int r;

	if (!agent_active() || (n == 0 && zero_time(ts)))
		return REAL(ppoll)(fds, n, ts, mask);
	if (waits_to_write(fds, n)) {
		shim_may_block();
		return REAL(ppoll)(fds, n, ts, mask);
	}
	shim_wait_begins(&(struct flow_wait){ .epfd = -1, .fds = fds, .nfds = n });
	r = REAL(ppoll)(fds, n, ts, mask);
	if (r == 0 && !zero_time(ts))
		handoff_slept();
	return ready_poll(r, fds, n, fibers_polled(fds, n));
}

AGENT_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	bool fibers, waits = !(tv && tv->tv_sec == 0 && tv->tv_usec == 0);
	int r;

	if (!agent_active() || (nfds == 0 && tv && tv->tv_sec == 0 && tv->tv_usec == 0))
		return REAL(select)(nfds, rd, wr, ex, tv);
	fibers = fibers_selected(nfds, rd, wr, ex);
	shim_wait_begins(&(struct flow_wait){ .epfd = -1, .nsel = nfds, .sets = { rd, wr, ex } });
	r = REAL(select)(nfds, rd, wr, ex, tv);
	if (r == 0 && waits)          /* tv: the time left now (Linux) */
		handoff_slept();
	return ready_select(r, nfds, rd, wr, ex, fibers);
}

AGENT_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
			  const struct timespec *ts, const sigset_t *mask)
{
	bool fibers;
	int r;

	if (!agent_active() || (nfds == 0 && zero_time(ts)))
		return REAL(pselect)(nfds, rd, wr, ex, ts, mask);
	fibers = fibers_selected(nfds, rd, wr, ex);
	shim_wait_begins(&(struct flow_wait){ .epfd = -1, .nsel = nfds, .sets = { rd, wr, ex } });
	r = REAL(pselect)(nfds, rd, wr, ex, ts, mask);
	if (r == 0 && !zero_time(ts))
		handoff_slept();
	return ready_select(r, nfds, rd, wr, ex, fibers);
}

/* Sleeping is blocking too: a held partial line goes out first. A thread
 * on its creator's context may lose it when it wakes (handoff_slept). */
#define SLEEP_WATCHED(type, call) do { \
		type r_; \
		if (!agent_active()) \
			return call; \
		shim_may_block(); \
		r_ = call; \
		handoff_slept(); \
		return r_; \
	} while (0)

AGENT_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	SLEEP_WATCHED(int, REAL(nanosleep)(req, rem));
}

AGENT_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
				  struct timespec *rem)
{
	SLEEP_WATCHED(int, REAL(clock_nanosleep)(clk, flags, req, rem));
}

AGENT_EXPORT unsigned sleep(unsigned s)
{
	SLEEP_WATCHED(unsigned, REAL(sleep)(s));
}

AGENT_EXPORT int usleep(useconds_t us)
{
	SLEEP_WATCHED(int, REAL(usleep)(us));
}

/* Waits for a child, a thread or a signal (SHIM_HELD_OUT_FIRST). A wait
 * that cannot block (WNOHANG) holds on. */
#define WAIT_FLUSHED(call) SHIM_HELD_OUT_FIRST(call)

AGENT_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	if (options & WNOHANG)
		return REAL(waitpid)(pid, status, options);
	WAIT_FLUSHED(REAL(waitpid)(pid, status, options));
}

AGENT_EXPORT pid_t wait(int *status)
{
	WAIT_FLUSHED(REAL(wait)(status));
}

AGENT_EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
	if (options & WNOHANG)
		return REAL(wait3)(status, options, ru);
	WAIT_FLUSHED(REAL(wait3)(status, options, ru));
}

AGENT_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	if (options & WNOHANG)
		return REAL(wait4)(pid, status, options, ru);
	WAIT_FLUSHED(REAL(wait4)(pid, status, options, ru));
}

AGENT_EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	if (options & WNOHANG)
		return REAL(waitid)(type, id, info, options);
	WAIT_FLUSHED(REAL(waitid)(type, id, info, options));
}

AGENT_EXPORT int pthread_join(pthread_t t, void **ret)
{
	WAIT_FLUSHED(REAL(pthread_join)(t, ret));
}

AGENT_EXPORT int sigsuspend(const sigset_t *mask)
{
	WAIT_FLUSHED(REAL(sigsuspend)(mask));
}

AGENT_EXPORT int pause(void)
{
	WAIT_FLUSHED(REAL(pause)());
}

AGENT_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	WAIT_FLUSHED(REAL(sigwait)(set, sig));
}

AGENT_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	WAIT_FLUSHED(REAL(sigwaitinfo)(set, info));
}

AGENT_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
	int r;

	if (!agent_active())
		return REAL(sigtimedwait)(set, info, t);
	shim_may_block();
	r = REAL(sigtimedwait)(set, info, t);
	if (r < 0 && errno == EAGAIN)
		handoff_slept();      /* it timed out: a sleep */
	return r;
}

