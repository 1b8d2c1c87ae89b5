/*
 * copy.c - noticing that this process is a copy the agent did not see being
 * made: a child of clone() without CLONE_VM, _Fork(), syscall(SYS_fork) or
 * syscall(SYS_clone), none of which runs the pthread_atfork handlers.
 *
 * One page is mapped with MADV_WIPEONFORK and holds 1 while the agent is
 * on: the kernel hands every copy of the address space (any clone without
 * CLONE_VM) a zeroed page. agent_running() reads it (it is also the
 * on/off switch, so the hot path pays one load), and the first hook a copy
 * runs (and the destructor, and _exit) sees 0 with agent_on set, and runs
 * the fork child's resets before anything else: no system call on any
 * path. Kernels before 4.14
 * refuse the advice; the flag then stays in a static, never wiped, and only
 * real fork() children are reset (as before).
 */
#include <sys/mman.h>
#include <unistd.h>

#include "base/thread.h"

static volatile char armed_static;
volatile char *agent_armed = &armed_static;
void (*agent_copy_hook)(void);

void agent_copy_watch(void (*on_copy)(void))
{
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	agent_copy_hook = on_copy;
	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)sysconf(_SC_PAGESIZE), MADV_WIPEONFORK) != 0) {
		munmap(p, (size_t)sysconf(_SC_PAGESIZE));
		return;
	}
	*(volatile char *)p = (char)__atomic_load_n(&agent_on, __ATOMIC_RELAXED);
	agent_armed = p;
}

void agent_copy_rearm(void)
{
	*agent_armed = (char)__atomic_load_n(&agent_on, __ATOMIC_RELAXED);
}

bool agent_running_slow(void)
{
	if (!__atomic_load_n(&agent_on, __ATOMIC_RELAXED))
		return false;              /* off, or not started yet */
	/* On, yet the page reads 0: a copy. Only the copying thread exists
	 * here: no race on the flag. */
	agent_copy_rearm();
	if (agent_copy_hook)
		agent_copy_hook();
	return __atomic_load_n(&agent_on, __ATOMIC_RELAXED);
}
