/*
 * state.c - the agent's global switch and process identity.
 */
#include <unistd.h>

#include "base/lock.h"
#include "base/thread.h"
#include "base/debug.h"
#include "base/real.h"

AGENT_TLS struct agent_thread agent_self;

/* shims/vfork.S sets the mark at this offset. */
_Static_assert(__builtin_offsetof(struct agent_thread, depth) == AGENT_THREAD_DEPTH_OFFSET,
	       "shims/vfork.S expects agent_thread.depth at AGENT_THREAD_DEPTH_OFFSET");
int agent_on;
int agent_broken;
pid_t agent_pid;

const char *agent_broken_why;

/* Silent on the host's stderr on purpose (the host must not notice us):
 * the reason goes to the REQCTX_DEBUG file, now or when it is opened
 * (the libc table is resolved before it is). */
void agent_fail(const char *why)
{
	if (!__atomic_exchange_n(&agent_broken, 1, __ATOMIC_RELAXED))
		agent_broken_why = why;
	__atomic_store_n(&agent_on, 0, __ATOMIC_RELAXED);
	agent_copy_rearm();
	DEBUG("turned off: %s", why);
}

pid_t agent_tid(void)
{
	if (unlikely(agent_self.tid == 0))
		agent_self.tid = gettid();
	return agent_self.tid;
}

int agent_lock(pthread_mutex_t *m)
{
	return REAL(pthread_mutex_lock)(m);
}

bool agent_back_from_vfork(void)
{
	if (!(agent_self.depth & AGENT_VFORK_MARK))
		return false;
	/* getpid() is a system call: paid once per vfork, by the parent. */
	if (getpid() != agent_pid)
		return false;             /* the child: leave everything alone */
	agent_self.depth &= ~AGENT_VFORK_MARK;
	return agent_self.depth == 0;
}
