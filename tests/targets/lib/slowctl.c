/*
 * slowctl.c - libslowctl.so, preloaded after the agent
 * (LD_PRELOAD="libreqctx.so libslowctl.so"), so that the agent's own
 * epoll calls reach the kernel through it. It stands for a scheduler that
 * stops a thread at the worst moment:
 *   SLOWCTL_CTL_US   every epoll_ctl that succeeds returns that many
 *                    microseconds after the kernel made the change: the
 *                    kernel reports events of a registration the agent
 *                    has not heard of yet;
 *   SLOWCTL_WAIT_US  every epoll_wait that returns two or more events
 *                    returns that much later: other threads change
 *                    registrations after the kernel reported the batch
 *                    and before the agent looks at it;
 *   SLOWCTL_NOTIFY_FD  a delayed epoll_ctl writes one byte there once the
 *                    kernel made its change, before its delay, so that
 *                    another thread can wait inside that window without
 *                    guessing at the scheduler.
 * Unset or 0: the call is passed on untouched. errno is kept.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static long env_us(const char *name)
{
	const char *v = getenv(name);

	return v ? atol(v) : 0;
}

static void pause_us(long us)
{
	struct timespec t = { us / 1000000, (us % 1000000) * 1000 };
	int e = errno;

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
	errno = e;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static int (*next)(int, int, int, struct epoll_event *);
	long us = env_us("SLOWCTL_CTL_US");
	int r;

	if (next == NULL)
		next = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
	r = next(epfd, op, fd, ev);
	if (r == 0 && us > 0) {
		const char *nfd = getenv("SLOWCTL_NOTIFY_FD");
		int e = errno;

		/* a byte not written leaves the waiting thread waiting: its
		 * test's timeout tells */
		if (nfd != NULL)
			(void)!write(atoi(nfd), "k", 1);
		errno = e;
		pause_us(us);
	}
	return r;
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	static int (*next)(int, struct epoll_event *, int, int);
	long us = env_us("SLOWCTL_WAIT_US");
	int r;

	if (next == NULL)
		next = (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT, "epoll_wait");
	r = next(epfd, ev, max, timeout);
	if (r > 1 && us > 0)
		pause_us(us);
	return r;
}
