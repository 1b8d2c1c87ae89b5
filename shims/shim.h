/*
 * shim.h - what every interposer uses. A shim checks that the agent may
 * work, calls the real function, and reports the outcome to the core with
 * errno preserved and the recursion guard held. No policy lives in shims.
 */
#ifndef AGENT_SHIM_H
#define AGENT_SHIM_H

#include <errno.h>

#include "base/thread.h"
#include "base/ctx.h"
#include "agent/flow.h"
#include "agent/out.h"
#include "base/real.h"

/*
 * The gate of a shim's quick path (io.c): the agent on in this process
 * and this thread not inside it; two loads. What fails it goes the full
 * way, which decides again (a vfork child's return, a copy). Behind it the
 * real functions are resolved (agent_start resolves them all before it
 * arms the switch), so the quick path calls REAL_ON(name) with no test.
 */
static inline bool shim_quick(void)
{
	return likely(*agent_armed == 1) && likely(agent_self.depth == 0);
}
#define REAL_ON(name) (real_##name)

/* The thread may block next: nothing of its own may stay held. */
static inline void shim_may_block(void)
{
	if (unlikely(out_holding()))
		AGENT_WORK(out_flush_thread());
}

/* The thread starts to wait: flush; its context ends unless the wait is
 * inside its request (flow_wait_begins). `w` says what it waits on. */
static inline void shim_wait_begins(const struct flow_wait *w)
{
	shim_may_block();
	if (agent_self.cur)
		AGENT_WORK(flow_wait_begins(w));
	else
		flow_wait_relay_stale();
}

#endif
