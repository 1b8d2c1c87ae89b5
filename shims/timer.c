/*
 * timer.c - POSIX timers. A SIGEV_THREAD notification runs in the context
 * that armed the timer (timer_settime); disarming forgets it. SIGEV_SIGNAL
 * handlers run in whatever context the interrupted thread has: which
 * thread a process-directed signal interrupts is the kernel's choice.
 *
 * Only the current ABI (timer_t a pointer, GLIBC_2.3.3 and later) is
 * interposed; programs linked against the 2.2.5 timer ABI (before 2004)
 * are not supported.
 */
#include "shims/shim.h"

/* On glibc's notification thread, which no sanitizer saw start. */
AGENT_NOT_INSTRUMENTED static void notify(union sigval v)
{
	flow_ptimer_fn fn;
	union sigval value;

	AGENT_WORK_FAST(fn = flow_ptimer_fires(v.sival_ptr, &value));
	fn(value);
	if (agent_running())
		AGENT_WORK_FAST(ctx_take_current(NULL));
}

AGENT_EXPORT int timer_create(clockid_t clock, struct sigevent *sev, timer_t *id)
{
	struct sigevent mine;
	struct ptimer *t;
	int r;

	if (!agent_active() || sev == NULL || sev->sigev_notify != SIGEV_THREAD)
		return REAL(timer_create)(clock, sev, id);
	AGENT_WORK(t = flow_ptimer_new(sev->sigev_notify_function, sev->sigev_value));
	if (t == NULL)
		return REAL(timer_create)(clock, sev, id);
	mine = *sev;
	mine.sigev_notify_function = notify;
	mine.sigev_value.sival_ptr = t;
	r = REAL(timer_create)(clock, &mine, id);
	AGENT_WORK(flow_ptimer_created(t, id, r == 0));
	return r;
}

AGENT_EXPORT int timer_settime(timer_t id, int flags, const struct itimerspec *new,
				struct itimerspec *old)
{
	int r = REAL(timer_settime)(id, flags, new, old);

	if (r == 0 && new && agent_active())
		AGENT_WORK(flow_ptimer_armed(id, flow_arms(new)));
	return r;
}

AGENT_EXPORT int timer_delete(timer_t id)
{
	int r = REAL(timer_delete)(id);

	if (r == 0 && agent_active())
		AGENT_WORK(flow_ptimer_deleted(id));
	return r;
}
