/*
 * state.c - the agent's global switch and process identity.
 */
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/thread.h"
#include "base/debug.h"
#include "base/real.h"

AGENT_TLS struct agent_thread agent_self;

/* shims/vfork.S sets the mark at this offset. */
_Static_assert(__builtin_offsetof(struct agent_thread, depth) == AGENT_THREAD_DEPTH_OFFSET,
	       "shims/vfork.S expects agent_thread.depth at AGENT_THREAD_DEPTH_OFFSET");
int agent_on;
int agent_broken;
pid_t agent_pid;
bool agent_threads_made;

const char *agent_broken_why;

/* Silent on the host's stderr on purpose (the host must not notice us):
 * the reason goes to the REQCTX_DEBUG file, now or when it is opened
 * (the libc table is resolved before it is). */
void agent_fail(const char *why)
{
	if (!__atomic_exchange_n(&agent_broken, 1, __ATOMIC_RELAXED))
		agent_broken_why = why;
	__atomic_store_n(&agent_on, 0, __ATOMIC_RELAXED);
	agent_copy_rearm();
	DEBUG("turned off: %s", why);
}

bool take_log_make(void)
{
	int saved = errno;

	agent_self.take_log = mem_alloc(TAKES_KEPT * sizeof *agent_self.take_log);
	errno = saved;
	return agent_self.take_log != NULL;
}

void take_log_free(void)
{
	if (agent_self.take_log) {
		mem_free(agent_self.take_log, TAKES_KEPT * sizeof *agent_self.take_log);
		agent_self.take_log = NULL;
	}
	agent_self.take_open = 0;
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

int agent_trylock(pthread_mutex_t *m)
{
	return REAL(pthread_mutex_trylock)(m);
}

int agent_forking;

bool agent_lock_hook(pthread_mutex_t *m)
{
	struct timespec until;

	if (agent_trylock(m) == 0)
		return true;
	/* Held: by another thread for a few stores (agent locks are never
	 * held across a blocking call), or by a fork being prepared. Wait in
	 * slices of 1 ms, giving up only for the fork. */
	while (!__atomic_load_n(&agent_forking, __ATOMIC_ACQUIRE)) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (REAL(pthread_mutex_timedlock)(m, &until) == 0)
			return true;
	}
	return false;
}

bool agent_back_from_vfork(void)
{
	if (!(agent_self.depth & AGENT_VFORK_MARK))
		return false;
	/* getpid() is a system call: paid once per vfork, by the parent. */
	if (getpid() != agent_pid)
		return false;             /* the child: leave everything alone */
	agent_self.depth &= ~AGENT_VFORK_MARK;
	return agent_self.depth == 0;
}
