/*
 * process.c - the ends of a process image: _exit and exec. What threads
 * hold is written first, so nothing is lost. (exit() is covered by the
 * destructor, fork by the atfork handlers in agent/start.c.)
 */
#include <stdarg.h>
#include <unistd.h>

#include "shim.h"

extern char **environ;

static inline void image_ends(void)
{
	if (agent_on)
		SHIM_CORE(out_flush_all(true, false));
}

REQCTX_EXPORT void _exit(int status)
{
	image_ends();
	REAL(_exit)(status);
	__builtin_unreachable();
}

REQCTX_EXPORT void _Exit(int status)
{
	_exit(status);
}

REQCTX_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	image_ends();
	return REAL(execve)(path, argv, envp);
}

REQCTX_EXPORT int execv(const char *path, char *const argv[])
{
	image_ends();
	return REAL(execv)(path, argv);
}

REQCTX_EXPORT int execvp(const char *file, char *const argv[])
{
	image_ends();
	return REAL(execvp)(file, argv);
}

REQCTX_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	image_ends();
	return REAL(execvpe)(file, argv, envp);
}

REQCTX_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	image_ends();
	return REAL(fexecve)(fd, argv, envp);
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

REQCTX_EXPORT int execl(const char *path, const char *arg, ...)
{
	COLLECT_ARGS(arg, (void)0);
	return execve(path, argv, environ);
}

REQCTX_EXPORT int execlp(const char *file, const char *arg, ...)
{
	COLLECT_ARGS(arg, (void)0);
	return execvp(file, argv);
}

REQCTX_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *const *envp;

	COLLECT_ARGS(arg, envp = va_arg(ap, char *const *));
	return execve(path, argv, envp);
}
