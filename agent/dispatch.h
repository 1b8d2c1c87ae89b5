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

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "agent/bridge.h"
#include "agent/flow.h"
#include "agent/inherit.h"
#include "base/probe.h"
#include "ctxmap/epmap.h"

/*
 * The epoll shims make the wait themselves; dispatch only keeps the batch.
 *
 * dispatch_next(): a buffered event of epfd, if one is left, goes to
 * events[0] with its fd's context current (or none) and 1 is returned;
 * 0 means the caller must wait; -1 that events[0] cannot be written (the
 * event kept: the wait's answer is EFAULT). Never blocks, makes no system
 * call, keeps errno.
 *
 * dispatch_buffer(): where the kernel should write the batch for epfd
 * (room for maxevents); NULL when events go to the program as the kernel
 * gives them (REQCTX_EPOLL=batch, no memory, or an absurd maxevents).
 * Called right before each kernel wait: it notes the instance's
 * registration generation then.
 *
 * dispatch_fill(): the kernel wrote r > 0 events into that buffer; keeps
 * them and hands out the first as dispatch_next() does (0: every event
 * was stale, wait again; -1: events[0] cannot be written). A batch of
 * several events that cannot be matched to the registrations the kernel
 * reported them for (one changed during the wait, or an epoll_ctl on the
 * instance is under way: dispatch_ctl_begins) goes to `events` whole
 * instead, the thread with no context: the count stored is returned.
 */
int dispatch_next(int epfd, struct epoll_event *events);

/* A thread's buffer for one epoll instance (dispatch.c keeps them). */
struct ep_buf {
	struct ep_buf *next;
	struct fdslot *slot;         /* epfd's, when the agent has one (its
	                                generation read each event) */
	int epfd;
	int n, pos, cap;
	uint64_t gen_at;             /* registration generation at receipt */
	struct epoll_event *ev;
	int *fd;                     /* -2 unknown, -1 ambiguous */
	uint64_t *gen;
};

static inline struct ep_buf *dispatch_find(int epfd)
{
	struct ep_buf *b;

	for (b = agent_self.ep; b; b = b->next)
		if (b->epfd == epfd)
			return b;
	return NULL;
}

/* agent/bridge.h: an event loop of a runtime whose bridge is not in, or
 * (Python) that its bridge does not drive, or in a process with green
 * threads (bridge_green sets bridge_loops_only); in a process that may
 * serve several requests, not one started inside a request, whose work
 * is that request's until it serves its own (a helper script's epoll
 * waits). In a process started inside a request, a nested loop's waits
 * (inherit_nested_loop: execSync's) leave it as it was: a runtime whose
 * bridge never reports ready (Node) stays vouched for across them if it
 * was, not across its own loop's.
 * That flag is read plainly: it goes from 0 to 1 once, and an atomic
 * load costs each hand-out 3 instructions (the two flags are then not
 * tested as one); a wait that misses the store takes it at the next. */
static inline void dispatch_unvouched(int epfd)
{
	if (unlikely(__atomic_load_n(&bridge_pending, __ATOMIC_RELAXED))) {
		if (!inherit_nested_loop(epfd))     /* else as the code that made the call had it */
			agent_self.unvouched = true;
		return;
	}
	agent_self.unvouched = unlikely(bridge_loops_only) &&
			       !agent_self.bridge_loop && inherit_home == NULL;
}

/*
 * The frameless hand-out, inline in the epoll shims, for the common
 * buffered event: dispatch_ready() finds epfd's buffer when it holds an
 * event that cannot be stale (no registration changed since the batch
 * came, and the instance known: else dispatch_next() decides); NULL
 * otherwise. dispatch_take() hands that event out as dispatch_next()
 * does: the marks of an event whose connection names the thread's
 * context already set inline (flow_event_quick), anything else through
 * dispatch_event_held() (flow_event() in the agent's guard, errno kept).
 * Returns 1; -1 with errno EFAULT and nothing handed out (the event
 * kept) when the program's array cannot be written (dispatch_store), as
 * the kernel answers a wait with an event ready. Both run inside the agent's guard (the caller's
 * agent_enter(); dispatch_take() leaves it): a signal handler's epoll
 * wait in between goes to the kernel, and finds the buffer as it was (a
 * trial: a handler's wait on the same instance refilled it under the
 * hand-out, which gave an event of another batch). Neither makes a call
 * on the quick way, so the shim keeps no frame and no errno for it.
 */
static inline __attribute__((always_inline)) struct ep_buf *dispatch_ready(int epfd)
{
	struct ep_buf *b = dispatch_find(epfd);

	if (b == NULL || b->pos >= b->n || b->slot == NULL ||
	    (b->fd[b->pos] != -2 && epmap_slot_generation(b->slot) != b->gen_at))
		return NULL;
	return b;
}

/* events[0] = *ev, stored as the kernel stores an event it hands out;
 * false if the program's array cannot be written there (the kernel's
 * EFAULT; a trial: an array the program could read but not write faulted
 * in the agent), nothing handed out. */
static inline __attribute__((always_inline)) bool dispatch_store(struct epoll_event *events,
								 const struct epoll_event *ev)
{
#if defined(__x86_64__)
	return probe_put_packed(events, ev->events, ev->data.u64);
#else
	*events = *ev;
	return true;
#endif
}

/* flow_event() for a buffered event dispatch_take() took, in the guard
 * its caller entered (left here), errno kept. Returns 1. */
int dispatch_event_held(int fd, uint32_t mask);

static inline __attribute__((always_inline)) int dispatch_take(struct ep_buf *b, struct epoll_event *events)
{
	int i = b->pos, fd = b->fd[i];
	uint32_t mask = b->ev[i].events;

	if (unlikely(!dispatch_store(events, &b->ev[i]))) {
		agent_leave();
		errno = EFAULT;
		return -1;
	}
	b->pos = i + 1;
	dispatch_unvouched(b->epfd);
	if (flow_event_quick(fd, mask)) {
		agent_leave();
		return 1;
	}
	return dispatch_event_held(fd, mask);
}
/* An epoll_ctl on epfd begins (before the kernel call): its slot, to
 * give dispatch_ctl_ends() once the agent has recorded the change or the
 * call failed; NULL for an fd the agent has no slot for. */
static inline struct fdslot *dispatch_ctl_begins(int epfd)
{
	struct fdslot *s = fdmap_peek(epfd);

	if (s)
		epmap_ctl_begins(s);
	return s;
}

static inline void dispatch_ctl_ends(struct fdslot *s)
{
	if (s)
		epmap_ctl_ends(s);
}

struct epoll_event *dispatch_buffer(int epfd, int maxevents);
int dispatch_fill(int epfd, int r, struct epoll_event *events);

/* The thread ends: events it still keeps are given back to the kernel
 * (re-armed, edge-triggered and one-shot registrations), buffers freed. */
void dispatch_thread_exit(void);

/* The thread's number `epfd` of an epoll instance is about to be closed
 * (close, or replaced by dup2/dup3): events it keeps for it are given
 * back, as at the thread's end. */
void dispatch_closing(int epfd);

/* The same for every number in [first, last] (close_range, closefrom). */
void dispatch_closing_range(unsigned first, unsigned last);

/* A forked child: the events its parent's thread still had buffered were
 * the parent's (the kernel gave them to the parent's wait, and gives an
 * edge-triggered event once): the child hands none of them out. */
void dispatch_fork_child(void);

#endif
