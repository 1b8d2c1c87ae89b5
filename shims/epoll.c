/*
 * epoll.c - epoll instances, registrations and waits. A waiting thread has
 * no context; what it gets back decides the next one (dispatch.c).
 */
#include "agent/config.h"
#include "agent/dispatch.h"
#include "ctxmap/epmap.h"
#include "shims/shim.h"

AGENT_EXPORT int epoll_create(int size)
{
	int r = REAL(epoll_create)(size);

	if (r >= 0 && agent_active())
		SHIM_CORE(flow_new_fd(r, FD_EPOLL));
	return r;
}

AGENT_EXPORT int epoll_create1(int flags)
{
	int r = REAL(epoll_create1)(flags);

	if (r >= 0 && agent_active())
		SHIM_CORE(flow_new_fd(r, FD_EPOLL));
	return r;
}

AGENT_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int r = REAL(epoll_ctl)(epfd, op, fd, ev);

	if (r == 0 && agent_active())
		SHIM_CORE(
			epmap_ctl(epfd, op, fd, ev ? ev->data.u64 : 0);
			/* Registering a connection is working on it (memcached's
			 * worker sets up each handed-off connection this way). */
			if (op != EPOLL_CTL_DEL)
				flow_watch(fd)
		);
	return r;
}

struct wait_args {
	int timeout;
	const struct timespec *ts;
	const sigset_t *mask;
	int kind;                 /* 0 epoll_wait, 1 epoll_pwait, 2 epoll_pwait2 */
	int epfd;
};

static int real_wait(void *arg, struct epoll_event *buf, int max)
{
	struct wait_args *a = arg;
	int r, saved;

	agent_leave();            /* the wait itself is the host's */
	switch (a->kind) {
	case 0: r = REAL(epoll_wait)(a->epfd, buf, max, a->timeout); break;
	case 1: r = REAL(epoll_pwait)(a->epfd, buf, max, a->timeout, a->mask); break;
	default: r = REAL(epoll_pwait2)(a->epfd, buf, max, a->ts, a->mask); break;
	}
	saved = errno;
	agent_enter();
	errno = saved;
	return r;
}

static int tagged_wait(struct wait_args *a, struct epoll_event *events, int max)
{
	int r;

	shim_wait_begins();
	if (agent_config->epoll == CFG_EPOLL_BATCH) {
		agent_enter();
		r = real_wait(a, events, max);
		agent_leave();
		return r;
	}
	agent_enter();
	r = dispatch_epoll(a->epfd, events, max, real_wait, a);
	agent_leave();
	return r;
}

AGENT_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	struct wait_args a = { timeout, NULL, NULL, 0, epfd };

	if (!agent_active())
		return REAL(epoll_wait)(epfd, events, max, timeout);
	return tagged_wait(&a, events, max);
}

AGENT_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
			      const sigset_t *mask)
{
	struct wait_args a = { timeout, NULL, mask, 1, epfd };

	if (!agent_active())
		return REAL(epoll_pwait)(epfd, events, max, timeout, mask);
	return tagged_wait(&a, events, max);
}

AGENT_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int max,
			       const struct timespec *ts, const sigset_t *mask)
{
	struct wait_args a = { 0, ts, mask, 2, epfd };

	if (!agent_active())
		return REAL(epoll_pwait2)(epfd, events, max, ts, mask);
	return tagged_wait(&a, events, max);
}
