/*
 * epoll.c - epoll instances, registrations and waits. A waiting thread has
 * no context; what it gets back decides the next one (dispatch.c).
 */
#include "agent/dispatch.h"
#include "agent/handoff.h"
#include "base/probe.h"
#include "shims/shim.h"

static int created(int r)
{
	if (r >= 0 && agent_active()) {
		AGENT_WORK(flow_new_fd(r, FD_EPOLL));
		if (unlikely(inherit_home != NULL))
			inherit_epoll_created(r);
	}
	return r;
}

AGENT_EXPORT int epoll_create(int size)
{
	return created(REAL(epoll_create)(size));
}

AGENT_EXPORT int epoll_create1(int flags)
{
	return created(REAL(epoll_create1)(flags));
}

/* The call is counted as under way on its instance from before the
 * kernel's change until the agent has it (epmap_ctl_begins): a batch
 * another thread's wait reads in between is handed out whole. */
AGENT_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fdslot *s = agent_active() ? dispatch_ctl_begins(epfd) : NULL;
	int r = REAL(epoll_ctl)(epfd, op, fd, ev);

	if (r == 0 && agent_active())
		AGENT_WORK(flow_epoll_ctl(epfd, op, fd, ev ? ev->data.u64 : 0, ev ? ev->events : 0));
	dispatch_ctl_ends(s);
	return r;
}

enum wait_kind { WAIT_EPOLL, WAIT_PWAIT, WAIT_PWAIT2 };

struct wait_args {
	enum wait_kind kind;
	int timeout;
	const struct timespec *ts;
	const sigset_t *mask;
};

static int wait_real(int epfd, struct epoll_event *ev, int max, const struct wait_args *a)
{
	switch (a->kind) {
	case WAIT_EPOLL: return REAL(epoll_wait)(epfd, ev, max, a->timeout);
	case WAIT_PWAIT: return REAL(epoll_pwait)(epfd, ev, max, a->timeout, a->mask);
	default: return REAL(epoll_pwait2)(epfd, ev, max, a->ts, a->mask);
	}
}

/* The kernel's batch, kept by dispatch and handed out one by one (out of
 * line: the buffered event's path keeps no frame for it). */
static __attribute__((noinline)) int wait_kernel(int epfd, struct epoll_event *events, int max,
						  const struct wait_args *a)
{
	struct epoll_event *buf;
	int r, n;

	shim_wait_begins(&(struct flow_wait){ .epfd = epfd });
	AGENT_WORK(buf = dispatch_buffer(epfd, max));
	for (;;) {
		r = wait_real(epfd, buf ? buf : events, max, a);
		if (r == 0 && (a->ts ? a->ts->tv_sec || a->ts->tv_nsec : a->timeout != 0))
			handoff_slept();      /* it timed out: a sleep */
		if (r <= 0)
			return r;
		if (buf == NULL) {         /* batch mode: the whole batch */
			flow_several_ready(NULL, r);   /* fds not looked up */
			return r;
		}
		AGENT_WORK(n = dispatch_fill(epfd, r, events));
		if (n > 0)
			return n;
		if (n < 0) {               /* events[0] not writable: kept */
			errno = EFAULT;
			return -1;
		}
		/* Every event was stale: the kernel would not report them now. */
	}
}

/* A wait whose maxevents the kernel would refuse (below 1: EINVAL) goes
 * to the kernel as it is, buffered events or not (a trial: they were
 * handed out). An events array it cannot write is told by the hand-out's
 * own store (dispatch_store, base/probe.h: no system call): EFAULT, the
 * event kept, as the kernel answers a wait with an event ready (a trial:
 * a bad pointer, then one the program could read but not write, faulted
 * in the agent). */
static inline __attribute__((always_inline)) bool wait_args_bad(const struct epoll_event *events, int max)
{
	(void)events;
	return unlikely(max < 1);
}

/* Every epoll wait past the frameless hand-out: a buffered event if one
 * is left (no system call; one that may be stale, or of an instance the
 * agent does not know), else wait_kernel(). */
static inline __attribute__((always_inline)) int wait_tagged(int epfd, struct epoll_event *events, int max,
							    const struct wait_args *a)
{
	int n;

	if (!agent_active() || wait_args_bad(events, max))
		return wait_real(epfd, events, max, a);
	AGENT_WORK(n = dispatch_next(epfd, events));
	if (n > 0)
		return n;
	if (n < 0) {
		errno = EFAULT;
		return -1;
	}
	return wait_kernel(epfd, events, max, a);
}

static __attribute__((noinline)) int wait_epoll(int epfd, struct epoll_event *events, int max, int timeout)
{
	struct wait_args a = { WAIT_EPOLL, timeout, NULL, NULL };

	return wait_tagged(epfd, events, max, &a);
}

static __attribute__((noinline)) int wait_pwait(int epfd, struct epoll_event *events, int max, int timeout,
						const sigset_t *mask)
{
	struct wait_args a = { WAIT_PWAIT, timeout, NULL, mask };

	return wait_tagged(epfd, events, max, &a);
}

static __attribute__((noinline)) int wait_pwait2(int epfd, struct epoll_event *events, int max,
						 const struct timespec *ts, const sigset_t *mask)
{
	struct wait_args a = { WAIT_PWAIT2, 0, ts, mask };

	return wait_tagged(epfd, events, max, &a);
}

/* The buffered event that needs no decision, handed out with no frame
 * (agent/dispatch.h), in the agent's guard (entered here, left by
 * dispatch_take); else NULL, the guard as it was. The switch's and the
 * guard's quick tests only (agent_active() without its calls): anything
 * else, a copy of the process made without fork or a vfork's parent
 * back, goes the full way, which asks agent_active(). */
static inline __attribute__((always_inline)) struct ep_buf *ready(int epfd, const struct epoll_event *events,
								  int max)
{
	struct ep_buf *b;

	if (!shim_armed() || unlikely(agent_self.depth != 0) || wait_args_bad(events, max))
		return NULL;
	agent_enter();
	if ((b = dispatch_ready(epfd)) == NULL)
		agent_leave();
	return b;
}

AGENT_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	struct ep_buf *b = ready(epfd, events, max);

	if (b)
		return dispatch_take(b, events);
	return wait_epoll(epfd, events, max, timeout);
}

AGENT_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
			      const sigset_t *mask)
{
	struct ep_buf *b = ready(epfd, events, max);

	if (b)
		return dispatch_take(b, events);
	return wait_pwait(epfd, events, max, timeout, mask);
}

AGENT_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int max,
			       const struct timespec *ts, const sigset_t *mask)
{
	struct ep_buf *b = ready(epfd, events, max);

	if (b)
		return dispatch_take(b, events);
	return wait_pwait2(epfd, events, max, ts, mask);
}
