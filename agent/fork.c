/*
 * fork.c - the fork hooks, one table. Prepare runs top to bottom, which is
 * the agent's lock order (a module may take a lock further down while it
 * holds its own: condmap and timermap release contexts into the ctx pool;
 * never the other way); parent and child run bottom to top. A copy made
 * without fork() (base/copy.c notices it) runs fork_child() alone.
 * While the locks are held, hooks that run under a host mutex do without
 * the condvar map rather than wait (base/lock.h, agent_lock_hook).
 *
 *   module    lock taken before the copy        reset in the child
 *   out       - (held across a write's call)     its output lock, thread
 *                                                registry: other threads'
 *                                                held lines dropped
 *   condmap   the condvar/semaphore map          the lock
 *   epmap     the epoll registrations            the lock
 *   timermap  the POSIX timer map                the lock
 *   chan      the channel pool                   the lock
 *   ctx       the context pool                   the lock
 *   mem       -                                  the size classes' spin locks
 *   shell     -                                  system()'s and popen()'s locks
 *   handoff   -                                  the semaphore posts' spin lock
 *   process   -                                  pid, thread id cache, ID
 *                                                keys, the copy detector
 *                                                (base/copy.c) re-armed,
 *                                                REQCTX_CHILDREN=0 drops the
 *                                                forking thread's context
 */
#include <unistd.h>

#include "agent/config.h"
#include "agent/buffered.h"
#include "agent/fork.h"
#include "agent/handoff.h"
#include "agent/shell.h"
#include "agent/out.h"
#include "base/ctx.h"
#include "base/id.h"
#include "base/mem.h"
#include "ctxmap/chan.h"
#include "agent/dispatch.h"
#include "agent/inherit.h"
#include "ctxmap/condmap.h"
#include "ctxmap/epmap.h"
#include "ctxmap/timermap.h"

static void process_child(void)
{
	if (!agent_config->children)
		ctx_take_current(NULL);
	else
		handoff_forked();
	agent_pid = getpid();
	agent_self.tid = 0;
	agent_self.switches++;        /* lines taken from relayed pipes: the parent's */
	agent_copy_rearm();
	id_init();
}

static const struct fork_hook {
	void (*prepare)(void);
	void (*parent)(void);
	void (*child)(void);
} hooks[] = {
	{ NULL, NULL, out_after_fork_child },
	{ condmap_fork_prepare, condmap_fork_parent, condmap_fork_child },
	{ epmap_fork_prepare, epmap_fork_parent, epmap_fork_child },
	{ timermap_fork_prepare, timermap_fork_parent, timermap_fork_child },
	{ chan_fork_prepare, chan_fork_parent, chan_fork_child },
	{ ctx_fork_prepare, ctx_fork_parent, ctx_fork_child },
	{ NULL, NULL, buffered_after_fork_child },
	{ NULL, NULL, mem_after_fork_child },
	{ NULL, NULL, shell_fork_child },
	{ NULL, NULL, handoff_fork_child },
	{ NULL, NULL, dispatch_fork_child },
	{ NULL, inherit_child_started, inherit_fork_child },
	{ NULL, NULL, process_child },
};
#define NHOOKS (sizeof hooks / sizeof hooks[0])

void fork_prepare(void)
{
	agent_enter();
	__atomic_store_n(&agent_forking, 1, __ATOMIC_RELEASE);   /* base/lock.h */
	for (size_t i = 0; i < NHOOKS; i++)
		if (hooks[i].prepare)
			hooks[i].prepare();
}

void fork_parent(void)
{
	for (size_t i = NHOOKS; i-- > 0;)
		if (hooks[i].parent)
			hooks[i].parent();
	__atomic_store_n(&agent_forking, 0, __ATOMIC_RELEASE);
	agent_leave();
}

void fork_child(void)
{
	for (size_t i = NHOOKS; i-- > 0;)
		if (hooks[i].child)
			hooks[i].child();
	__atomic_store_n(&agent_forking, 0, __ATOMIC_RELEASE);
	agent_leave();
}
