/*
 * real.c - finds the next definition of every interposed function.
 *
 * dlsym(RTLD_NEXT) is called here and nowhere else. If a symbol cannot be
 * found, its pointer is set to a stand-in that fails with ENOSYS, the agent
 * switches itself off, and the host keeps running: a hook never aborts.
 */
#include <dlfcn.h>
#include <errno.h>

#include "base/thread.h"
#include "base/real.h"

#define REAL_DEFINE(name, ret, args) ret (*real_##name) args;
REAL_FUNCTIONS(REAL_DEFINE)
#undef REAL_DEFINE

static long missing(void)
{
	errno = ENOSYS;
	return -1;
}

void *real_resolve(void **slot, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		p = (void *)missing;
		agent_fail("a libc function could not be resolved");
	}
	__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	return p;
}

void real_resolve_all(void)
{
#define REAL_RESOLVE(name, ret, args) \
	if (real_##name == NULL) real_resolve((void **)&real_##name, #name);
	REAL_FUNCTIONS(REAL_RESOLVE)
#undef REAL_RESOLVE
}
