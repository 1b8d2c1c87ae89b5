/*
 * api.c - the agent's side of reqctx.h. A snapshot is a context with a
 * reference owned by the caller. With the agent switched off every call
 * behaves as without the agent.
 */
#include "base/ctx.h"
#include "base/debug.h"
#include "ctxmap/fdmap.h"
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

AGENT_EXPORT reqctx_snapshot_t reqctx_api_fd_snapshot(int fd)
{
	struct fdslot *s;

	if (!agent_running())
		return NULL;
	s = fdmap_moving(fd);
	if (s == NULL || fdmap_kind(s) == FD_CHAN)
		return NULL;
	return (reqctx_snapshot_t)fdmap_ctx_get(s);
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_enter(reqctx_snapshot_t s)
{
	if (!agent_running())
		return NULL;
	/* Pinned: the hand-off rules leave it alone (agent/handoff.h, 7). */
	return (reqctx_snapshot_t)ctx_enter_pinned((struct ctx *)s);
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

/* The calling thread starts (on != 0) or stops running an event loop whose
 * callbacks the bridge gives their context (asyncio's, libuv's under Node):
 * meanwhile its epoll events may go out in whole batches (agent/dispatch.c). */
AGENT_EXPORT void reqctx_api_bridge_loop(int on)
{
	if (agent_running() && agent_self.bridge_loop != (on != 0)) {
		agent_self.bridge_loop = on != 0;
		DEBUG("bridge: this thread's event loop %s the bridge's", on ? "is" : "is no longer");
	}
}
