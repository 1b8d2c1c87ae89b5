/*
 * epmap.h - epoll registrations: for each epoll instance, which fd each
 * registered data value stands for. Programs store what they like in
 * epoll_event.data (nginx: a tagged pointer), so the map is keyed by
 * (instance, data), not by fd.
 *
 * Every change gives the instance a new generation (from one global
 * counter, so a value never repeats); an event read from the kernel
 * remembers the generation of its registration, and one whose registration
 * changed since (deleted, modified, re-added, its fd closed) is stale.
 * Changes to one instance never make another instance's events suspect.
 */
#ifndef AGENT_EPMAP_H
#define AGENT_EPMAP_H

#include <sched.h>
#include <stdbool.h>

#include "base/lock.h"
#include "ctxmap/fdmap.h"
#include <stdint.h>

/* A new (or reused) epoll instance: starts with no registrations. */
void epmap_instance(int epfd);
/* The instance was closed. */
void epmap_drop_instance(int epfd);

/* After a successful epoll_ctl(epfd, op, fd, ...) with `data` and the
 * registration's `events` mask (ignored for EPOLL_CTL_DEL). */
void epmap_ctl(int epfd, int op, int fd, uint64_t data, uint32_t events);

/* `fd` was closed: its registrations are gone. */
void epmap_forget_fd(int fd);

/*
 * Finds the fd registered under `data` in `epfd`. Returns true and sets
 * *fd (-1 when several fds share that data value: ambiguous) and *gen.
 * Returns false when the value was never registered through the agent.
 */
bool epmap_lookup(int epfd, uint64_t data, int *fd, uint64_t *gen);

/* epmap_lookup(), and the registration's events mask. */
bool epmap_registration(int epfd, uint64_t data, int *fd, uint64_t *gen, uint32_t *events);

/* epmap_lookup() for a whole batch of events under one lock: fds[i] is -2
 * for a data value never registered through the agent. */
struct epoll_event;
void epmap_resolve(int epfd, int n, const struct epoll_event *ev, int *fds,
		   uint64_t *gens);

/* The instance's generation: unchanged means none of its registrations
 * changed. One atomic load; 0 for an fd the agent does not know. */
uint64_t epmap_generation(int epfd);

/* The same from the instance's slot (fdmap_peek(epfd), not NULL). */
static inline uint64_t epmap_slot_generation(const struct fdslot *s)
{
	return __atomic_load_n(&s->ep_gen, __ATOMIC_ACQUIRE);
}

/*
 * An epoll_ctl on the instance whose slot is `s` (fdmap_peek(epfd)) is
 * under way: begins before the kernel call, ends after epmap_ctl() (or
 * after a call that failed). Between the two the kernel may already act
 * on a change the registrations here do not show yet, so a batch the
 * kernel reports then cannot be matched to them (agent/dispatch.c).
 */
/* Set in ep_busy while the agent re-arms a registration of the instance
 * itself (epmap_give_begins): another epoll_ctl on it waits until then. */
#define EPMAP_GIVING 0x80000000u

static inline void epmap_ctl_begins(struct fdslot *s)
{
	/* A re-arm under way: wait for it (a bounded wait: a signal handler's
	 * epoll_ctl on the thread that interrupted it must not wait for
	 * good), so that it can never undo this call's change. */
	int tries = 0;

	while ((__atomic_add_fetch(&s->ep_busy, 1, __ATOMIC_SEQ_CST) & EPMAP_GIVING) && tries < 100000) {
		__atomic_sub_fetch(&s->ep_busy, 1, __ATOMIC_RELEASE);
		while ((__atomic_load_n(&s->ep_busy, __ATOMIC_ACQUIRE) & EPMAP_GIVING) && ++tries < 100000)
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#else
			;
#endif
	}
}

/* The agent is about to re-arm registrations of the instance itself
 * (agent/dispatch.c, give_back): waits (bounded: false past it) until no
 * epoll_ctl of the program's is under way on it; none starts then until
 * epmap_give_ends(). */
static inline bool epmap_give_begins(struct fdslot *s)
{
	/* a call under way lasts microseconds, unless its thread is
	 * preempted: spin a little, then give the CPU away */
	for (int tries = 0; tries < 100000; tries++) {
		uint32_t none = 0;

		if (__atomic_compare_exchange_n(&s->ep_busy, &none, EPMAP_GIVING, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return true;
		if (tries < 1000) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		} else {
			sched_yield();
		}
	}
	return false;
}

static inline void epmap_give_ends(struct fdslot *s)
{
	__atomic_and_fetch(&s->ep_busy, ~EPMAP_GIVING, __ATOMIC_RELEASE);
}

static inline void epmap_ctl_ends(struct fdslot *s)
{
	__atomic_sub_fetch(&s->ep_busy, 1, __ATOMIC_RELEASE);
}

/* Whether an epoll_ctl on the instance is under way (one load). */
static inline bool epmap_slot_busy(const struct fdslot *s)
{
	return __atomic_load_n(&s->ep_busy, __ATOMIC_ACQUIRE) != 0;
}

/* True when `pred` holds for an fd registered with `epfd` (stops at the
 * first; an instance not known counts as one where it holds). `pred` runs
 * under the registry's lock: it may only look at slots. */
bool epmap_any(int epfd, bool (*pred)(int fd, const void *arg), const void *arg);

/* Registrations held, for the tests. */
long epmap_count(void);

/* Fork hooks (base/lock.h): the module lock. */
LOCK_FORK_DECLARE(epmap)

#endif
