/*
 * copy.c - noticing that this process is a copy the agent did not see being
 * made: a child of clone() without CLONE_VM, _Fork(), syscall(SYS_fork) or
 * syscall(SYS_clone), none of which runs the pthread_atfork handlers.
 *
 * One page is mapped with MADV_WIPEONFORK and holds 1: the kernel hands
 * every copy of the address space (any clone without CLONE_VM) a zeroed
 * page. agent_running() reads it, so the first hook a copy runs (and the
 * destructor, and _exit) sees 0 and runs the fork child's resets before
 * anything else: no system call on any path, one load. Kernels before 4.14
 * refuse the advice; the flag then stays in a static, never wiped, and only
 * real fork() children are reset (as before).
 */
#include <sys/mman.h>
#include <unistd.h>

#include "base/thread.h"

static volatile char armed_static = 1;
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
	*(volatile char *)p = 1;
	agent_armed = p;
}

void agent_copy_rearm(void)
{
	*agent_armed = 1;
}

bool agent_copy_detected(void)
{
	/* Only the copying thread exists here: no race on the flag. */
	*agent_armed = 1;
	if (agent_copy_hook)
		agent_copy_hook();
	return __atomic_load_n(&agent_on, __ATOMIC_RELAXED);
}
