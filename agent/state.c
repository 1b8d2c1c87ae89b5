/*
 * state.c - the agent's global switch and process identity.
 */
#include <unistd.h>

#include "agent.h"
#include "debug.h"
#include "real.h"

AGENT_TLS struct agent_thread agent_self;
int agent_on;
int agent_broken;
pid_t agent_pid;

void agent_fail(const char *why)
{
	__atomic_store_n(&agent_broken, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&agent_on, 0, __ATOMIC_RELAXED);
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
