/*
 * dl.c - dlopen: a library loaded with RTLD_DEEPBIND binds libc's
 * functions before the agent's; its references to them are pointed at
 * the agent after the load (agent/rebind.h). Other loads pass as they are.
 */
#include <dlfcn.h>
#include <stdint.h>

#include "agent/bridge.h"
#include "agent/rebind.h"
#include "shims/shim.h"

AGENT_EXPORT void *dlopen(const char *file, int flags)
{
	uintptr_t snap[REBIND_MAX_OBJECTS];
	void *h;
	int n;

	if (!(flags & RTLD_DEEPBIND) || !agent_active()) {
		h = REAL(dlopen)(file, flags);
		if (unlikely(__atomic_load_n(&bridge_watch_loads, __ATOMIC_RELAXED)) && h != NULL &&
		    file != NULL && agent_active())
			AGENT_WORK(bridge_loaded(file));
		return h;
	}
	AGENT_WORK(n = rebind_snapshot(snap));
	h = REAL(dlopen)(file, flags);
	if (h != NULL && n >= 0 && agent_active())
		AGENT_WORK(rebind_deep(h, snap, n));
	if (unlikely(__atomic_load_n(&bridge_watch_loads, __ATOMIC_RELAXED)) && h != NULL &&
	    file != NULL && agent_active())
		AGENT_WORK(bridge_loaded(file));
	return h;
}
