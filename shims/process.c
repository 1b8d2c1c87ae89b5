/*
 * process.c - the ends of a process image: _exit and exec. What threads
 * hold is written first, so nothing is lost. (exit() is covered by the
 * destructor, fork by the atfork handlers in agent/start.c.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/inherit.h"
#include "base/lock.h"
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
 * `agent` is the call with the child's environment, `plain` without. */
#define EXEC(plain, agent, envp) do { \
		unsigned ignored_ = signals_before_exec(); \
		int r_; \
		if (!agent_running()) { \
			r_ = plain; \
		} else { \
			image_ends(); \
			CHILD_ENV(envp, env); \
			r_ = agent; \
		} \
		signals_exec_failed(ignored_); \
		return r_; \
	} while (0)

AGENT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC(REAL(execve)(path, argv, envp), REAL(execve)(path, argv, env), envp);
}

AGENT_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

AGENT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC(REAL(execvpe)(file, argv, envp), REAL(execvpe)(file, argv, env), envp);
}

AGENT_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

AGENT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC(REAL(fexecve)(fd, argv, envp), REAL(fexecve)(fd, argv, env), envp);
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

/*
 * system(): POSIX's steps in glibc's order, with its system calls: the
 * first of concurrent calls sets SIGINT and SIGQUIT to SIG_IGN, each
 * blocks SIGCHLD; "/bin/sh -c CMD" is spawned with the caller's mask and
 * those two at their default (unless they were ignored before); its
 * status is waited for (a cancellation point: a cancelled caller's shell
 * is killed and reaped); the last call to finish puts the two
 * dispositions back, each its own mask. Status 127 when the shell could
 * not be started (errno says why); system(NULL) says whether a shell can
 * be started. The one difference from libc's: the environment goes to
 * posix_spawn as an argument. libc's reads the global environ inside,
 * where the agent could only swap it for as long as the command ran, and
 * two threads at once then started children in each other's requests.
 */
static int system_spin;
static unsigned system_calls;
static struct sigaction system_intr, system_quit;

static void system_release(void)
{
	spin_lock(&system_spin);
	if (--system_calls == 0) {
		REAL(sigaction)(SIGINT, &system_intr, NULL);
		REAL(sigaction)(SIGQUIT, &system_quit, NULL);
	}
	spin_unlock(&system_spin);
}

static void system_cancelled(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	int state;

	kill(pid, SIGKILL);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	pthread_setcancelstate(state, NULL);
	system_release();
}

static int shell_system(const char *cmd)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigset_t block, omask, reset;
	posix_spawnattr_t attr;
	int status = -1, r;
	pid_t pid;

	spin_lock(&system_spin);
	if (system_calls++ == 0) {
		REAL(sigaction)(SIGINT, &ign, &system_intr);
		REAL(sigaction)(SIGQUIT, &ign, &system_quit);
	}
	spin_unlock(&system_spin);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &omask);
	sigemptyset(&reset);
	if (system_intr.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGINT);
	if (system_quit.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGQUIT);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &omask);
	posix_spawnattr_setsigdefault(&attr, &reset);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	{
		char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
		CHILD_ENV(environ, env);
		r = REAL(posix_spawn)(&pid, "/bin/sh", NULL, &attr, argv, env);
	}
	posix_spawnattr_destroy(&attr);
	if (r == 0) {
		pthread_cleanup_push(system_cancelled, &pid);
		while ((r = (int)waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		if (r != pid)
			status = -1;
		r = 0;
		pthread_cleanup_pop(0);
	} else {
		status = W_EXITCODE(127, 0);
	}
	system_release();
	sigprocmask(SIG_SETMASK, &omask, NULL);
	if (r != 0)
		errno = r;
	return status;
}

AGENT_EXPORT int system(const char *cmd)
{
	if (!agent_active())
		return REAL(system)(cmd);
	shim_may_block();
	if (cmd == NULL)
		return shell_system("exit 0") == 0;
	return shell_system(cmd);
}

/* popen(): its FILE (what pclose and the next popen's child know of it)
 * comes only from libc's popen, which reads the global environ inside:
 * for the call, environ points at the child's version (agent/inherit.c:
 * one popen at a time, as in libc). */
AGENT_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	char **saved;
	FILE *r;

	if (!agent_active())
		return REAL(popen)(cmd, mode);
	AGENT_WORK(saved = inherit_environ_enter());
	r = REAL(popen)(cmd, mode);
	AGENT_WORK(inherit_environ_leave(saved));
	return r;
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
