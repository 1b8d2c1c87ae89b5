/*
 * shim.h - what every interposer uses. A shim names the event, calls the
 * real function, hands the outcome to one core entry (AGENT_WORK: the
 * guard held, errno kept) and returns the real call's result. No policy
 * lives in shims, and no shim reaches a map except through agent/
 * (tests/layers). Variants delegate to one shim (open64 to open's helper,
 * accept4 to accept's, sendfile64 to sendfile). Every shim has one of
 * five shapes:
 *
 *   report after   r = real(...); if (r succeeded && agent_active())
 *                  AGENT_WORK(core event); return r;   (socket, pipe, dup,
 *                  open, epoll_ctl, timer_settime, getpeername...)
 *   report before  if (agent_active()) AGENT_WORK(core event);
 *                  return real(...);      (connect, close, cond_signal)
 *   wait           shim_wait_begins()/handoff_wait_begins() before, the
 *                  outcome after (accept, poll, select, epoll_wait,
 *                  cond_wait, sem_wait)
 *   quick I/O      the read and write families: shim_read_outside() or
 *                  shim_outside(), the one fd lookup and the core's
 *                  inline test of an fd no request uses (flow_read_plain,
 *                  flow_write_plain), the rest out of line, where the
 *                  switch is asked (io.c, WRITE_SHIM, read_slow)
 *   wrap           the program's code runs later inside the agent's
 *                  (thread start, POSIX timer notification, signal
 *                  handler, vfork/clone child, a spawned environment, a
 *                  line through the line writer)
 */
#ifndef AGENT_SHIM_H
#define AGENT_SHIM_H

#include <errno.h>

#include "base/thread.h"
#include "base/ctx.h"
#include "agent/flow.h"
#include "agent/out.h"
#include "base/real.h"

/* A read's gate: this thread not inside the agent and holding no partial
 * line (which must go out before the read may block), in one load. The
 * real function needs no test: read, readv and recv resolve themselves
 * on their first call (REAL_BOOTED, base/real.c). Whether the agent is on
 * is asked after the call, and only past the quick test (io.c,
 * read_work): a read that moves nothing does nothing either way. */
static inline bool shim_read_outside(void)
{
	return likely(agent_self.read_gate == 0);  /* depth and held_line */
}

/* A write's gate in two halves: shim_outside() before its quick test,
 * shim_armed() after it. What the quick test lets through is the plain
 * call with nothing recorded, which is also what a switched-off agent or
 * a copy of the process does, so only the slow path needs the switch;
 * the quick test passes only an fd whose kind the agent set (a zeroed
 * slot of the static first chunk is FD_UNKNOWN), which it does only once
 * the real functions are resolved. */
static inline bool shim_outside(void)
{
	return likely(agent_self.depth == 0);
}

static inline bool shim_armed(void)
{
	return likely(*agent_armed == 1);
}
#define REAL_ON(name) (real_##name)

/* The thread may block next: nothing of its own may stay held. */
static inline void shim_may_block(void)
{
	if (unlikely(out_holding()))
		AGENT_WORK(out_flush_thread());
}

/* `call`, returned, after what this thread holds went out: a call that
 * waits (for a child, a thread, a signal, a lock on a file) or that
 * depends on what a file holds (its size, its offset, its being on disk):
 * a prompt written before it shows during it, and a held unfinished line
 * is in the file when the program looks, as without the agent. */
#define SHIM_HELD_OUT_FIRST(call) do { \
		if (agent_active()) \
			shim_may_block(); \
		return call; \
	} while (0)

/* The thread starts to wait: flush; its context ends unless the wait is
 * inside its request (flow_wait_begins). `w` says what it waits on. */
static inline void shim_wait_begins(const struct flow_wait *w)
{
	shim_may_block();
	flow_wait_starts();
	if (agent_self.cur) {
		AGENT_WORK(flow_wait_begins(w));
	} else {
		flow_turn_ends();
		flow_wait_relay_stale();
	}
}

#endif
