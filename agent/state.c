/*
 * state.c - the agent's global switch and process identity.
 */
#include <unistd.h>

#include "agent.h"
#include "debug.h"

AGENT_TLS struct agent_thread agent_self;
volatile int agent_on;
volatile int agent_broken;
pid_t agent_pid;

void agent_fail(const char *why)
{
	agent_broken = 1;
	agent_on = 0;
	DEBUG("turned off: %s", why);
}

pid_t agent_tid(void)
{
	if (unlikely(agent_self.tid == 0))
		agent_self.tid = gettid();
	return agent_self.tid;
}
