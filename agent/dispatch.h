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

/*
 * The epoll shims make the wait themselves; dispatch only keeps the batch.
 *
 * dispatch_next(): a buffered event of epfd, if one is left, goes to
 * events[0] with its fd's context current (or none) and 1 is returned;
 * 0 means the caller must wait. Never blocks, makes no system call, keeps
 * errno.
 *
 * dispatch_buffer(): where the kernel should write the batch for epfd
 * (room for maxevents); NULL when events go to the program as the kernel
 * gives them (REQCTX_EPOLL=batch, no memory, or an absurd maxevents).
 *
 * dispatch_fill(): the kernel wrote r > 0 events into that buffer; keeps
 * them and hands out the first as dispatch_next() does (0: every event
 * was stale, wait again).
 */
int dispatch_next(int epfd, struct epoll_event *events);
struct epoll_event *dispatch_buffer(int epfd, int maxevents);
int dispatch_fill(int epfd, int r, struct epoll_event *events);

void dispatch_thread_exit(void);

#endif
