/*
 * api.c - the agent's side of reqctx.h. A snapshot is a context with a
 * reference owned by the caller. With the agent switched off every call
 * behaves as without the agent.
 */
#include "base/ctx.h"
#include "base/debug.h"
#include "agent/flow.h"
#include "shims/reqctx.h"
#include "agent/bridge.h"
#include "agent/buffered.h"
#include "agent/handoff.h"

AGENT_EXPORT const char *reqctx_api_id(void)
{
	return agent_running() && agent_self.cur ? ctx_name(agent_self.cur)->id : NULL;
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_snapshot(void)
{
	struct ctx *c = agent_running() && !ctx_poll_stale() ? agent_self.cur : NULL;

	/* agent/bridge.h: a thread not vouched for names nobody to what the
	 * bridge captures there once the bridge failed, or (Python) on a loop
	 * the bridge does not drive (uvloop's: aiohttp's handler there handed
	 * run_in_executor jobs another request's context, 45 of 60 lines
	 * wrong in a trial). */
	if (c && unlikely(agent_self.unvouched) &&
	    (__atomic_load_n(&bridge_broken, __ATOMIC_RELAXED) ||
	     (__atomic_load_n(&bridge_loops_only, __ATOMIC_RELAXED) && !agent_self.bridge_loop)))
		c = NULL;
	if (c)
		ctx_get(c);
	return (reqctx_snapshot_t)c;
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_fd_snapshot(int fd)
{
	struct ctx *c = NULL;

	if (agent_running())
		AGENT_WORK(c = flow_fd_ctx(fd));
	return (reqctx_snapshot_t)c;
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_enter(reqctx_snapshot_t s)
{
	if (!agent_running())
		return NULL;
	step_entered();
	/* Pinned: the hand-off rules leave it alone (agent/handoff.h, 7). */
	return (reqctx_snapshot_t)ctx_enter_pinned((struct ctx *)s);
}

AGENT_EXPORT reqctx_snapshot_t reqctx_api_enter_inherited(reqctx_snapshot_t s)
{
	if (!agent_running())
		return NULL;
	if (s && !__atomic_load_n(&sem_posts_watched, __ATOMIC_RELAXED))
		__atomic_store_n(&sem_posts_watched, 1, __ATOMIC_RELAXED);
	step_entered();
	return (reqctx_snapshot_t)ctx_enter_inherited((struct ctx *)s);
}

AGENT_EXPORT unsigned long long reqctx_api_progress(void)
{
	return (unsigned long long)agent_self.entered << 32 |
	       (unsigned)(agent_self.outputs - agent_self.entered_outputs);
}

AGENT_EXPORT unsigned long long reqctx_api_took(void)
{
	return take_report();
}

AGENT_EXPORT int reqctx_api_wrote_after(unsigned long long take)
{
	return take_wrote_after(take);
}

AGENT_EXPORT void reqctx_api_wrote(void)
{
	if (agent_running())
		outputs_count();
}

AGENT_EXPORT int reqctx_api_slept(void)
{
	int ended = 0;

	if (agent_running() && agent_self.pin_inherited) {
		AGENT_WORK(handoff_slept_rules());
		ended = !agent_self.pin_inherited;
	}
	return ended;
}

AGENT_EXPORT void reqctx_api_leave(reqctx_snapshot_t prev)
{
	if (agent_running())
		ctx_leave((struct ctx *)prev);
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

/* A runtime bridge could not put its hooks in: as if it had never
 * reported ready, for the rest of the process (agent/bridge.h). */
AGENT_EXPORT void reqctx_api_bridge_failed(void)
{
	if (agent_running())
		bridge_failed();
}

/* reqctx.h; agent/bridge.h, bridge_vouch. */
AGENT_EXPORT int reqctx_api_bridge_vouch(int on)
{
	return agent_running() ? bridge_vouch(on != 0) : 0;
}

/* reqctx.h: whether `s` names a request still being served. */
AGENT_EXPORT int reqctx_api_live(reqctx_snapshot_t s)
{
	int r = 0;

	if (s && agent_running())
		AGENT_WORK_FAST(r = flow_request_live((const struct ctx *)s));
	return r;
}

/* reqctx.h; agent/bridge.h, bridge_loop. */
AGENT_EXPORT void reqctx_api_bridge_loop(int on)
{
	if (agent_running())
		bridge_loop(on != 0);
}

AGENT_EXPORT void reqctx_api_buffered(int fd, const void *buf, unsigned long n)
{
	if (!agent_running())
		return;
	outputs_count();
	if (buf != NULL)
		AGENT_WORK(buffered_put(fd, buf, n));
	else
		AGENT_WORK(buffered_retract());
}
