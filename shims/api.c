/*
 * api.c - the agent's side of reqctx.h. A snapshot is a context with a
 * reference owned by the caller. With the agent switched off every call
 * behaves as without the agent.
 */
#include "base/ctx.h"
#include "shims/reqctx.h"
#include "agent/bridge.h"

AGENT_EXPORT const char *reqctx_api_id(void)
{
	return agent_running() && agent_self.cur ? ctx_name(agent_self.cur)->id : NULL;
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_snapshot(void)
{
	struct ctx *c = agent_running() ? agent_self.cur : NULL;

	if (c)
		ctx_get(c);
	return (reqctx_snapshot_t)c;
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_enter(reqctx_snapshot_t s)
{
	struct ctx *prev, *c = (struct ctx *)s;

	if (!agent_running())
		return NULL;
	prev = agent_self.cur;          /* its reference goes to the caller */
	if (c)
		ctx_get(c);
	agent_self.cur = c;
	ctx_forget_marks();
	return (reqctx_snapshot_t)prev;
}

AGENT_EXPORT void reqctx_api_leave(reqctx_snapshot_t prev)
{
	if (agent_running())
		ctx_take_current((struct ctx *)prev);
}

AGENT_EXPORT void reqctx_api_release(reqctx_snapshot_t s)
{
	if (agent_running())
		ctx_put((struct ctx *)s);
}

/* A runtime bridge (bridges/) is loaded and drives the context from now on
 * (agent/bridge.h): its event-loop threads are tagged again. */
AGENT_EXPORT void reqctx_api_bridge_ready(void)
{
	if (agent_running())
		bridge_ready();
}
