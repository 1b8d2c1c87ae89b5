/*
 * process.c - the ends of a process image: _exit and exec. What threads
 * hold is written first, so nothing is lost. (exit() is covered by the
 * destructor, fork by the atfork handlers in agent/start.c.)
 */
#include <pty.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/handoff.h"
#include "agent/inherit.h"
#include "agent/shell.h"
#include "agent/signals.h"
#include "shims/shim.h"

extern char **environ;

static inline void image_ends(void)
{
	/* Inside the program's handler of a crash: that crash is the death. */
	if (agent_running() && !agent_in_vfork_child())
		AGENT_WORK(signals_process_ends());
	/* A vfork child must not touch the parent's output state: the parent
	 * writes what it holds itself. */
	if (agent_running() && !agent_in_vfork_child())
		AGENT_WORK(out_flush_all(true, false));
}

/* exit() is covered by the destructor; _exit skips it. */

AGENT_EXPORT void _exit(int status)
{
	image_ends();
	REAL(_exit)(status);
	__builtin_unreachable();
}

AGENT_EXPORT void _Exit(int status)
{
	_exit(status);
}

/* syscall(2)'s slow way (shims/syscall.S jumps here for SYS_exit_group
 * and SYS_exit, or before libc's syscall is resolved): an exit made
 * through it is an exit too - SYS_exit_group ends the process as _exit
 * does (what every thread holds goes out first), SYS_exit ends the
 * thread (what it holds goes out). The six arguments are taken as the
 * kernel takes them, whatever the number (glibc's syscall reads the same
 * six registers). Before, a partial line held past a request's end was
 * lost at a raw exit_group (a trial). */
AGENT_HIDDEN long syscall_slow(long n, ...);

AGENT_HIDDEN long syscall_slow(long n, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	/* No system call of the agent's on the way (a seccomp sandbox's
	 * strict mode allows read, write and exit alone): a copy the agent
	 * did not see made is told by agent_running() without one. */
	if (n == SYS_exit_group)
		image_ends();
	else if (n == SYS_exit && agent_active())
		shim_may_block();
	if (n == SYS_nanosleep || n == SYS_clock_nanosleep) {
		long r = REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]);

		if (agent_active())
			handoff_slept();
		return r;
	}
	return REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* The child's environment, built on this stack frame (no allocation: an
 * exec may follow vfork). */
#define CHILD_ENV(env, out) \
	size_t slots_ = agent_running() ? inherit_env_slots(env) : 1; \
	char *out[slots_]; \
	char scratch_[agent_running() ? inherit_scratch_size(env) : 1]; \
	if (agent_running()) \
		AGENT_WORK(inherit_env(env, out, scratch_))

AGENT_EXPORT int chroot(const char *path)
{
	int r = REAL(chroot)(path);

	if (r == 0 && agent_active())
		AGENT_WORK(inherit_root_changed());
	return r;
}

/* An exec keeps the program's ignored crash signals ignored
 * (signals_before_exec), and gives the agent's handlers back if it fails;
 * `agent` is the call with the child's environment, `plain` without. An
 * environment the agent's additions make too big for the kernel (E2BIG:
 * the program's own was just under the limit) goes as the program gave
 * it: the child runs without the agent rather than not at all. Not when
 * one of the program's own strings is too long for the kernel (E2BIG
 * either way: no second exec). */
#define EXEC(plain, agent, argv, envp) do { \
		unsigned ignored_ = signals_before_exec(); \
		int r_; \
		if (!agent_running()) { \
			r_ = plain; \
		} else { \
			image_ends(); \
			CHILD_ENV(envp, env); \
			r_ = agent; \
			if (r_ < 0 && errno == E2BIG && strings_fit(argv) && strings_fit(envp)) \
				r_ = plain; \
		} \
		signals_exec_failed(ignored_); \
		return r_; \
	} while (0)

/* Whether every string of `v` is shorter than the kernel's limit for one
 * (MAX_ARG_STRLEN, 32 pages of 4 KiB). */
static bool strings_fit(char *const v[])
{
	for (size_t i = 0; v && v[i]; i++)
		if (strnlen(v[i], 32 * 4096) >= 32 * 4096)
			return false;
	return true;
}

AGENT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC(REAL(execve)(path, argv, envp), REAL(execve)(path, argv, env), argv, envp);
}

AGENT_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

AGENT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC(REAL(execvpe)(file, argv, envp), REAL(execvpe)(file, argv, env), argv, envp);
}

AGENT_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

AGENT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC(REAL(fexecve)(fd, argv, envp), REAL(fexecve)(fd, argv, env), argv, envp);
}

AGENT_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			      const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!agent_active())
		return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
	CHILD_ENV(envp, env);
	return REAL(posix_spawn)(pid, path, fa, attr, argv, env);
}

AGENT_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!agent_active())
		return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
	CHILD_ENV(envp, env);
	return REAL(posix_spawnp)(pid, file, fa, attr, argv, env);
}

/* daemon() forks and leaves the parent by libc's own _exit, which no hook
 * sees: every thread's held output goes out first (without the agent the
 * parent's partial line was written already). */
AGENT_EXPORT int daemon(int nochdir, int noclose)
{
	if (agent_active())
		AGENT_WORK(out_flush_all(false, false));
	return REAL(daemon)(nochdir, noclose);
}

/* forkpty(): its child's fds 0, 1 and 2 are the new pseudo-terminal,
 * copied there by libc's own login_tty (unseen): the child classifies
 * them afresh (flow_std_retargeted). */
AGENT_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp,
			   const struct winsize *winp)
{
	pid_t r;

	r = REAL(forkpty)(amaster, name, termp, winp);
	if (r == 0 && agent_active())
		AGENT_WORK(flow_std_retargeted(-1));
	return r;
}

/* system() and popen() are the agent's own (agent/shell.c): libc's read
 * the global environ inside, where the child's request could only be put
 * by swapping environ for every thread. */
AGENT_EXPORT int system(const char *cmd)
{
	if (!agent_active())
		return REAL(system)(cmd);
	shim_may_block();
	if (cmd == NULL)
		return shell_system("exit 0") == 0;
	return shell_system(cmd);
}

AGENT_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	if (!agent_active())
		return REAL(popen)(cmd, mode);
	return shell_popen(cmd, mode);
}

/* A stream of the agent's popen is closed, and its shell waited for, as
 * glibc's pclose does its own; fclose() of one too (shims/fd.c). */
AGENT_EXPORT int pclose(FILE *f)
{
	pid_t pid;

	if (__atomic_load_n(&shell_streams, __ATOMIC_ACQUIRE) && (pid = shell_stream_take(f)) > 0)
		return shell_pclose(f, pid);
	return REAL(pclose)(f);
}

/*
 * clone(): a copy without CLONE_VM is noticed by its first hook
 * (base/copy.c). With CLONE_VM|CLONE_VFORK (posix_spawn's way) the child
 * runs on the parent's memory and, without CLONE_SETTLS, its thread block:
 * it is marked as a vfork child for as long as the parent is suspended, so
 * its dup2, sigaction, close and exec change nothing of the agent's.
 * CLONE_VM without CLONE_VFORK or CLONE_SETTLS (a thread sharing this
 * thread's block) is passed through untouched.
 */
AGENT_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	__typeof__(real_clone) real = REAL(clone);
	va_list ap;
	pid_t *ptid, *ctid;
	void *tls;
	int r, saved;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if ((flags & (CLONE_VM | CLONE_VFORK | CLONE_SETTLS)) != (CLONE_VM | CLONE_VFORK) ||
	    !agent_active())
		return real(fn, stack, flags, arg, ptid, tls, ctid);
	agent_self.depth |= AGENT_VFORK_MARK;
	r = real(fn, stack, flags, arg, ptid, tls, ctid);
	saved = errno;
	agent_self.depth &= ~AGENT_VFORK_MARK;
	errno = saved;
	return r;
}

/* The execl family: collect the list, then the matching vector call. */
#define COLLECT_ARGS(first, after) \
	size_t n = 1; \
	va_list ap; \
	va_start(ap, first); \
	while (va_arg(ap, char *) != NULL) \
		n++; \
	va_end(ap); \
	char *argv[n + 1]; \
	va_start(ap, first); \
	argv[0] = (char *)(first); \
	for (size_t i = 1; i <= n; i++) \
		argv[i] = va_arg(ap, char *); \
	after; \
	va_end(ap)

AGENT_EXPORT int execl(const char *path, const char *arg, ...)
{
	COLLECT_ARGS(arg, (void)0);
	return execve(path, argv, environ);
}

AGENT_EXPORT int execlp(const char *file, const char *arg, ...)
{
	COLLECT_ARGS(arg, (void)0);
	return execvp(file, argv);
}

AGENT_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *const *envp;

	COLLECT_ARGS(arg, envp = va_arg(ap, char *const *));
	return execve(path, argv, envp);
}
