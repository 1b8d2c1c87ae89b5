/*
 * signal.c - sigaction and signal, so that the agent's flush handler on
 * default-fatal signals stays invisible (agent/signals.c). glibc's signal()
 * calls its internal sigaction directly, so it is interposed too.
 */
#include <stdlib.h>
#include <string.h>

#include "shims/shim.h"
#include "agent/signals.h"

/* Sanitizer runtimes call sigaction while they start. */
#define NOT_INSTRUMENTED AGENT_NOT_INSTRUMENTED

NOT_INSTRUMENTED AGENT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	/* In a vfork child, the agent's record of the handlers is the
	 * parent's: the child's own resets go to the kernel alone. */
	if (!agent_running() || agent_in_vfork_child())
		return REAL(sigaction)(sig, act, old);
	return signals_action(sig, act, old);
}

/* abort(): a SIGABRT handler that returns is followed, inside glibc, by
 * the default action unseen: agent/signals.c treats that return as the
 * death. */

AGENT_EXPORT void abort(void)
{
	__typeof__(real_abort) real = REAL(abort);

	if (agent_running())
		signals_aborting();
	real();
	__builtin_unreachable();
}

sighandler_t bsd_signal(int, sighandler_t);

/* BSD semantics, as glibc's signal(): the signal is blocked in its own
 * handler and interrupted calls restart. */
NOT_INSTRUMENTED static sighandler_t install(int sig, sighandler_t h, int flags)
{
	struct sigaction act, old;

	if (h == SIG_ERR || sig <= 0 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof act);
	act.sa_handler = h;
	sigemptyset(&act.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	if (sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

NOT_INSTRUMENTED AGENT_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	return install(sig, h, SA_RESTART);
}

AGENT_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return install(sig, h, SA_RESTART);
}

AGENT_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return install(sig, h, SA_RESETHAND | SA_NODEFER);
}
