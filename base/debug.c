/*
 * debug.c - writes diagnostics lines "reqctx[pid/tid] ..." to the debug
 * file with one write each (O_APPEND keeps lines whole across processes).
 * The fd is the agent's only while the program leaves its number alone:
 * debug_lost() (called at the fd-table events) ends the diagnostics.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/thread.h"
#include "base/debug.h"
#include "base/real.h"

int debug_fd = -1;

/* The file stops growing here, with a last line saying so. */
#define DEBUG_MAX_BYTES (64L << 20)
static long written;

int debug_open(const char *path)
{
	int fd = real_open_aside(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	debug_fd = fd;
	/* agent_fail() before the file was open (a libc function missing). */
	if (__atomic_load_n(&agent_broken, __ATOMIC_RELAXED))
		DEBUG("turned off: %s", agent_broken_why);
	return 0;
}

void debug_log(const char *fmt, ...)
{
	char line[512];
	int saved = errno, n, fd;
	va_list ap;

	n = snprintf(line, sizeof line, "reqctx[%d/%d] ", (int)agent_pid, (int)agent_tid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (__atomic_add_fetch(&written, n, __ATOMIC_RELAXED) > DEBUG_MAX_BYTES) {
		static const char last[] = "reqctx: diagnostics stop here: the file reached 64 MiB\n";
		fd = __atomic_exchange_n(&debug_fd, -1, __ATOMIC_ACQ_REL);
		if (fd >= 0)
			REAL(write)(fd, last, sizeof last - 1);
		errno = saved;
		return;
	}
	fd = __atomic_load_n(&debug_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		REAL(write)(fd, line, (size_t)n);
	errno = saved;
}

void debug_lost(int fd, bool still_open)
{
	static const char last[] = "reqctx: diagnostics stop here: the program closed their fd\n";
	int saved = errno;

	if (fd < 0 || !__atomic_compare_exchange_n(&debug_fd, &fd, -1, false,
						   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	if (still_open)
		REAL(write)(fd, last, sizeof last - 1);
	errno = saved;
}
