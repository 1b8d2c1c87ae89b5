/*
 * dispatch.h - epoll events handed to the program one at a time, each with
 * its context current (REQCTX_EPOLL=single).
 *
 * The kernel's batch is kept in a per-thread buffer and given out one event
 * per call, with no extra system call. An event whose registration changed
 * after the kernel reported it (fd closed, deleted, modified, re-added) is
 * dropped, as the kernel would not have reported it then.
 */
#ifndef AGENT_DISPATCH_H
#define AGENT_DISPATCH_H

#include <sys/epoll.h>

/* Performs the real wait into buf (max events); returns like epoll_wait. */
typedef int (*dispatch_wait_fn)(void *arg, struct epoll_event *buf, int max);

/* epoll_wait semantics on epfd, one event per call. Sets errno like it. */
int dispatch_epoll(int epfd, struct epoll_event *events, int maxevents,
		   dispatch_wait_fn wait, void *arg);

/* Events this thread holds for epfd (for the tests). */
int dispatch_pending(int epfd);

void dispatch_thread_exit(void);

#endif
