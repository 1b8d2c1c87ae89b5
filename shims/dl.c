/*
 * dl.c - dlopen: a library loaded with RTLD_DEEPBIND binds libc's
 * functions before the agent's; its references to them are pointed at
 * the agent after the load (agent/rebind.h). Other loads pass as they are;
 * in a Python process each loaded file's name is looked at (greenlet's).
 */
#include <dlfcn.h>
#include <stdint.h>

#include "agent/bridge.h"
#include "agent/rebind.h"
#include "shims/shim.h"

/* A Python process watches what it loads (agent/bridge.h, bridge_loaded). */
static inline void *loaded(const char *file, void *h)
{
	if (unlikely(__atomic_load_n(&bridge_watch_loads, __ATOMIC_RELAXED)) && h != NULL &&
	    file != NULL && agent_active())
		AGENT_WORK(bridge_loaded(file));
	return h;
}

AGENT_EXPORT void *dlopen(const char *file, int flags)
{
	uintptr_t snap[REBIND_MAX_OBJECTS];
	void *h;
	int n;

	if (!(flags & RTLD_DEEPBIND) || !agent_active())
		return loaded(file, REAL(dlopen)(file, flags));
	AGENT_WORK(n = rebind_snapshot(snap));
	h = REAL(dlopen)(file, flags);
	if (h != NULL && n >= 0 && agent_active())
		AGENT_WORK(rebind_deep(h, snap, n));
	return loaded(file, h);
}
