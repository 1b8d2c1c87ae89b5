/*
 * dispatch.c - the per-thread event buffers behind dispatch_next().
 * A thread usually waits on one epoll instance, sometimes a few (nested
 * loops): one small buffer per instance, found by a short list walk.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/ctx.h"
#include "agent/dispatch.h"
#include "ctxmap/epmap.h"
#include "ctxmap/fdmap.h"
#include "agent/bridge.h"
#include "agent/config.h"
#include "agent/flow.h"
#include "agent/inherit.h"
#include "base/real.h"

static void free_arrays(struct ep_buf *b)
{
	free(b->ev);
	free(b->fd);
	free(b->gen);
}

static void free_buf(struct ep_buf *b)
{
	free_arrays(b);
	free(b);
}

/* A buffer for epfd able to take `max` events, or NULL without memory. */
static struct ep_buf *buffer(int epfd, int max)
{
	struct ep_buf *b = dispatch_find(epfd);

	if (b == NULL) {
		b = calloc(1, sizeof *b);
		if (b == NULL)
			return NULL;
		b->epfd = epfd;
		b->slot = fdmap_peek(epfd);
		b->next = agent_self.ep;
		agent_self.ep = b;
	}
	if (b->cap < max) {
		struct epoll_event *ev = malloc((size_t)max * sizeof *ev);
		int *fd = malloc((size_t)max * sizeof *fd);
		uint64_t *gen = malloc((size_t)max * sizeof *gen);

		if (!ev || !fd || !gen) {
			free(ev);
			free(fd);
			free(gen);
			return NULL;
		}
		free_arrays(b);
		b->ev = ev;
		b->fd = fd;
		b->gen = gen;
		b->cap = max;
		b->n = b->pos = 0;
	}
	return b;
}

/* Whether buffered event i may be stale: its registration changed since
 * the batch came (the generation moved); stale_lookup() then asks. */
static inline bool maybe_stale(int epfd, const struct ep_buf *b, int i)
{
	return b->fd[i] != -2 &&
	       (b->slot ? epmap_slot_generation(b->slot) : epmap_generation(epfd)) != b->gen_at;
}

static bool stale_lookup(int epfd, const struct ep_buf *b, int i)
{
	int fd;
	uint64_t gen;

	return !epmap_lookup(epfd, b->ev[i].data.u64, &fd, &gen) || gen != b->gen[i];
}

/* The rest of dispatch_next() once a registration changed: events whose
 * registration was deleted, modified, re-added or whose fd was closed
 * since the kernel reported them are dropped (out of line: the common
 * hand-out keeps no frame). */
static __attribute__((noinline)) int next_checked(int epfd, struct ep_buf *b, int i,
						  struct epoll_event *events)
{
	for (;;) {
		if (!maybe_stale(epfd, b, i) || !stale_lookup(epfd, b, i)) {
			if (unlikely(!dispatch_store(events, &b->ev[i]))) {
				b->pos = i;
				return -1;
			}
			return flow_event(b->fd[i], b->ev[i].events);
		}
		if (b->pos >= b->n)
			return 0;
		i = b->pos++;
	}
}

int dispatch_next(int epfd, struct epoll_event *events)
{
	struct ep_buf *b = dispatch_find(epfd);
	int i;

	dispatch_unvouched(epfd);
	if (b == NULL || b->pos >= b->n)
		return 0;
	i = b->pos++;
	if (unlikely(maybe_stale(epfd, b, i)))
		return next_checked(epfd, b, i, events);
	if (unlikely(!dispatch_store(events, &b->ev[i]))) {
		b->pos = i;
		return -1;
	}
	return flow_event(b->fd[i], b->ev[i].events);   /* 1, a tail call */
}

struct epoll_event *dispatch_buffer(int epfd, int maxevents)
{
	struct ep_buf *b;

	/* One at a time gives each event's work its context where the loop
	 * is native. An interpreter's loop runs each event's callbacks in
	 * user space: where its bridge gives them their context (the bridge
	 * says which threads: reqctx_api_bridge_loop), or where no bridge is
	 * in and its lines carry none anyway, one event per wait would only
	 * make the runtime run a whole loop turn per event (aiohttp: x1.35
	 * CPU per request at 16 connections). In Python every loop is one of
	 * these (the bridge's, or one whose lines carry none:
	 * bridge_loops_only); in node and ruby any other loop of the process
	 * (a C extension's) stays one at a time. */
	if (agent_config->epoll == CFG_EPOLL_BATCH || maxevents <= 0 || maxevents > 1 << 20 ||
	    (bridge_runtime && !agent_config->epoll_set &&
	     (agent_self.bridge_loop || __atomic_load_n(&bridge_loops_only, __ATOMIC_RELAXED) ||
	      __atomic_load_n(&bridge_pending, __ATOMIC_RELAXED))))
		return NULL;
	b = buffer(epfd, maxevents);
	if (b == NULL)
		return NULL;
	b->gen_at = epmap_generation(epfd);   /* before the kernel's wait */
	return b->ev;
}

/* Whether an epoll_ctl on the instance is under way. */
static inline bool busy(const struct ep_buf *b)
{
	return b->slot && epmap_slot_busy(b->slot);
}

/* Whether every event of the batch is of a registration that was there,
 * unchanged, when the wait began (generation b->gen_at). */
static bool batch_unchanged(const struct ep_buf *b, int r)
{
	for (int i = 0; i < r; i++)
		if (b->fd[i] == -2 || b->gen[i] > b->gen_at)
			return false;
	return true;
}

/*
 * The whole batch to the program at once, as the kernel gave it (what
 * REQCTX_EPOLL=batch does for every wait), the thread with no context.
 * For a batch whose events cannot all be matched to the registrations
 * the kernel reported them for: kept, an event could be handed out after
 * the program deleted or changed its registration, which the kernel never
 * does (a trial: Apache's event MPM then took a connection it had already
 * passed to a worker, and aborted: "event_loop: unexpected state 5").
 * What the kernel reported can only go stale in the program's own hands
 * then, as without the agent. Returns the events stored; an array that
 * cannot be written keeps the rest for the next wait (the kernel keeps
 * what it could not copy), and -1 if not even the first could be.
 */
static __attribute__((noinline)) int hand_all(struct ep_buf *b, int r, struct epoll_event *events)
{
	int i;

	for (i = 0; i < r; i++)
		if (unlikely(!dispatch_store(&events[i], &b->ev[i])))
			break;
	b->n = r;
	b->pos = i;
	if (i == 0)
		return -1;
	dispatch_unvouched(b->epfd);
	flow_several_ready(NULL, i);
	return i;
}

/*
 * The kernel reports each event for the registration of its data value
 * at the moment it collects the batch. The registrations here follow the
 * kernel's only once each epoll_ctl has returned to the agent, so the
 * batch is matched to them one by one only when none changed while the
 * wait was on and none is changing: a registration added during it has
 * no entry here yet (its event would look like one of a registration the
 * agent never saw, and never go stale), one deleted after the kernel
 * reported it would look deleted before. Otherwise the batch goes to the
 * program whole (hand_all), unless it is one event, which is handed out
 * at once either way, or all of its registrations were unchanged.
 */
int dispatch_fill(int epfd, int r, struct epoll_event *events)
{
	struct ep_buf *b = dispatch_find(epfd);
	uint64_t now;
	int n;

	if (b == NULL)
		return 0;
	epmap_resolve(epfd, r, b->ev, b->fd, b->gen);
	now = epmap_generation(epfd);
	if (unlikely(now != b->gen_at || busy(b))) {
		if (r > 1 && (busy(b) || !batch_unchanged(b, r)))
			return hand_all(b, r, events);
		b->gen_at = now;
	}
	b->n = r;
	b->pos = 0;
	n = dispatch_next(epfd, events);
	if (n == 0)   /* every event stale: the kernel is asked again */
		b->gen_at = epmap_generation(epfd);
	return n;
}

/*
 * Events the thread still keeps when it stops waiting on the instance for
 * good (it ends, or closes its number of the instance) would reach no
 * one: the kernel reports an edge-triggered or one-shot registration's
 * event once, and another thread's wait, or one on another number of the
 * same instance, never sees this buffer (a trial: a thread that took two
 * one-shot events, handled the one it was given and ended; the second was
 * never reported). Each such registration still as the kernel reported
 * it is re-armed with its own mask and data (EPOLL_CTL_MOD, the change a
 * program makes to re-arm a one-shot registration): the kernel reports
 * it again if its fd is still ready. Level-triggered ones are reported
 * again anyway; events of a data value several fds share are left, since
 * which fd to re-arm is not known. errno is kept.
 */
static void give_back(struct ep_buf *b)
{
	int e = errno;

	/* Only while no epoll_ctl of the program's is under way on the
	 * instance, and none starts until the re-arms are made: one could
	 * otherwise land between the check below and the re-arm, which
	 * would undo it (a trial: 5 of 20,000 runs got the data value a
	 * MOD had just replaced). One under way is waited for: a server
	 * whose threads re-arm all the time has one under way often, and
	 * leaving the events then lost them (a trial: 6 to 22 of 3,200
	 * requests hung). The wait is bounded (a signal handler's close
	 * inside this thread's own epoll_ctl): past it, the events are left. */
	if (b->slot == NULL || !epmap_give_begins(b->slot)) {
		b->n = b->pos = 0;
		errno = e;
		return;
	}
	for (int i = b->pos; i < b->n; i++) {
		uint64_t data = b->ev[i].data.u64, gen;
		uint32_t mask;
		int fd;

		if (b->fd[i] < 0 || !epmap_registration(b->epfd, data, &fd, &gen, &mask) ||
		    fd != b->fd[i] || gen != b->gen[i] || !(mask & (EPOLLET | EPOLLONESHOT)) ||
		    (mask & EPOLLEXCLUSIVE))   /* the kernel refuses its MOD (EINVAL) */
			continue;
		REAL(epoll_ctl)(b->epfd, EPOLL_CTL_MOD, fd,
				&(struct epoll_event){ .events = mask, .data.u64 = data });
	}
	epmap_give_ends(b->slot);
	b->n = b->pos = 0;
	errno = e;
}

void dispatch_closing(int epfd)
{
	struct ep_buf *b = dispatch_find(epfd);

	if (b && b->pos < b->n)
		give_back(b);
}

void dispatch_closing_range(unsigned first, unsigned last)
{
	for (struct ep_buf *b = agent_self.ep; b; b = b->next)
		if ((unsigned)b->epfd >= first && (unsigned)b->epfd <= last && b->pos < b->n)
			give_back(b);
}

void dispatch_thread_exit(void)
{
	struct ep_buf *b = agent_self.ep, *next;

	agent_self.ep = NULL;
	for (; b; b = next) {
		next = b->next;
		if (b->pos < b->n)
			give_back(b);
		free_buf(b);
	}
}

int dispatch_event_held(int fd, uint32_t mask)
{
	int e = errno;

	flow_event(fd, mask);
	agent_leave();
	errno = e;
	return 1;
}

void dispatch_fork_child(void)
{
	for (struct ep_buf *b = agent_self.ep; b; b = b->next)
		b->n = b->pos = 0;
}
