/*
 * fd.c - calls that create, copy or close file descriptors. A number handed
 * out by a creating call is a new object whatever the map said (closes made
 * inside libc or by raw syscalls are invisible to us).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <utmp.h>

#include "agent/dispatch.h"
#include "agent/inherit.h"
#include "agent/out_fd.h"
#include "agent/shell.h"
#include "shims/shim.h"
#include "shims/stream.h"

static inline int created(int fd)
{
	if (fd >= 0 && agent_active())
		AGENT_WORK(flow_new_fd(fd, FD_UNKNOWN); out_fd_opened(fd));
	return fd;
}

/* The same for calls that name a path: REQCTX_TAG may list it. `flags`:
 * the open flags (whether the fd can be written). */
static inline int opened_at(int fd, int dirfd, const char *path, int flags)
{
	bool writable = (flags & O_ACCMODE) != O_RDONLY && !(flags & O_PATH);

	if (fd >= 0 && agent_active())
		AGENT_WORK(flow_new_fd(fd, FD_UNKNOWN); out_fd_opened_path(fd, dirfd, path, writable);
			   inherit_stdin_opened(fd, path));
	return fd;
}

static inline bool has_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* The mode argument, present only with O_CREAT or O_TMPFILE. Used inside
 * the variadic function itself. */
#define MODE_ARG(flags) __extension__ ({ \
		mode_t mode_ = 0; \
		if (has_mode(flags)) { \
			va_list ap_; \
			va_start(ap_, flags); \
			mode_ = va_arg(ap_, mode_t); \
			va_end(ap_); \
		} \
		mode_; })

AGENT_EXPORT int open(const char *path, int flags, ...)
{
	return opened_at(REAL(open)(path, flags, MODE_ARG(flags)), AT_FDCWD, path, flags);
}

AGENT_EXPORT int open64(const char *path, int flags, ...)
{
	return opened_at(REAL(open)(path, flags | O_LARGEFILE, MODE_ARG(flags)), AT_FDCWD, path, flags);
}

AGENT_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	return opened_at(REAL(openat)(dirfd, path, flags, MODE_ARG(flags)), dirfd, path, flags);
}

AGENT_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	return opened_at(REAL(openat)(dirfd, path, flags | O_LARGEFILE, MODE_ARG(flags)), dirfd, path, flags);
}

AGENT_EXPORT int creat(const char *path, mode_t mode)
{
	return opened_at(REAL(open)(path, O_CREAT | O_WRONLY | O_TRUNC, mode), AT_FDCWD, path, O_WRONLY);
}

AGENT_EXPORT int creat64(const char *path, mode_t mode)
{
	return creat(path, mode);
}

static inline int piped(int r, int fds[2])
{
	if (r == 0 && agent_active())
		AGENT_WORK(flow_pipe(fds));
	return r;
}

AGENT_EXPORT int pipe(int fds[2])
{
	return piped(REAL(pipe)(fds), fds);
}

AGENT_EXPORT int pipe2(int fds[2], int flags)
{
	return piped(REAL(pipe2)(fds, flags), fds);
}

AGENT_EXPORT int eventfd(unsigned initval, int flags)
{
	int r = REAL(eventfd)(initval, flags);

	if (r >= 0 && agent_active())
		AGENT_WORK(flow_eventfd(r, flags & EFD_SEMAPHORE));
	return r;
}

AGENT_EXPORT int timerfd_create(int clock, int flags)
{
	int r = REAL(timerfd_create)(clock, flags);

	if (r >= 0 && agent_active())
		AGENT_WORK(flow_timerfd(r));
	return r;
}

/* A timer armed in context X fires in X; disarming forgets X. */
AGENT_EXPORT int timerfd_settime(int fd, int flags, const struct itimerspec *new,
				  struct itimerspec *old)
{
	int r = REAL(timerfd_settime)(fd, flags, new, old);

	if (r == 0 && new && agent_active())
		AGENT_WORK(flow_timer_armed(fd, flow_arms(new)));
	return r;
}

AGENT_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	int r = REAL(signalfd)(fd, mask, flags);

	/* fd != -1 modifies an existing signalfd: no new object. */
	return fd == -1 ? created(r) : r;
}

AGENT_EXPORT int close(int fd)
{
	if (agent_active()) {
		/* epoll events this thread keeps for fd go back first, while
		 * the instance is still open here (agent/dispatch.h) */
		if (unlikely(agent_self.ep != NULL))
			AGENT_WORK(dispatch_closing(fd));
		AGENT_WORK(flow_close(fd));
	}
	return REAL(close)(fd);
}

/* What threads hold for a log among the fds goes out before they close
 * (as close() does; a held line was lost with close_range and closefrom). */
AGENT_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	int r;

	if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last && agent_active()) {
		if (unlikely(agent_self.ep != NULL))
			AGENT_WORK(dispatch_closing_range(first, last));
		AGENT_WORK(out_fd_closing_range(first, last));
	}
	r = REAL(close_range)(first, last, flags);

	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC) && agent_active())
		AGENT_WORK(flow_close_range(first, last));
	return r;
}

AGENT_EXPORT void closefrom(int low)
{
	if (low >= 0 && agent_active()) {
		if (unlikely(agent_self.ep != NULL))
			AGENT_WORK(dispatch_closing_range((unsigned)low, ~0u));
		AGENT_WORK(out_fd_closing_range((unsigned)low, ~0u));
	}
	REAL(closefrom)(low);
	if (low >= 0 && agent_active())
		AGENT_WORK(flow_close_range((unsigned)low, ~0u));
}

/* Calls whose answer depends on what a file holds, or that wait for a
 * lock on it: SHIM_HELD_OUT_FIRST (a trial: after write(2, "partial", 7)
 * to a log file, its size and offset were 0; lseek and a write at 0 put
 * the held bytes after the new ones; an fsync missed them; a progress
 * message before a blocking flock did not show). */
AGENT_EXPORT int fsync(int fd) { SHIM_HELD_OUT_FIRST(REAL(fsync)(fd)); }
AGENT_EXPORT int fdatasync(int fd) { SHIM_HELD_OUT_FIRST(REAL(fdatasync)(fd)); }
AGENT_EXPORT int flock(int fd, int op) { SHIM_HELD_OUT_FIRST(REAL(flock)(fd, op)); }
AGENT_EXPORT int lockf(int fd, int cmd, off_t len) { SHIM_HELD_OUT_FIRST(REAL(lockf)(fd, cmd, len)); }
AGENT_EXPORT int lockf64(int fd, int cmd, off64_t len)
{
	SHIM_HELD_OUT_FIRST(REAL(lockf64)(fd, cmd, len));
}
AGENT_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	SHIM_HELD_OUT_FIRST(REAL(lseek)(fd, off, whence));
}
AGENT_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
	SHIM_HELD_OUT_FIRST(REAL(lseek64)(fd, off, whence));
}
AGENT_EXPORT int ftruncate(int fd, off_t len) { SHIM_HELD_OUT_FIRST(REAL(ftruncate)(fd, len)); }
AGENT_EXPORT int ftruncate64(int fd, off64_t len) { SHIM_HELD_OUT_FIRST(REAL(ftruncate64)(fd, len)); }

/* Writes the agent passes on as they are (positioned, or moved by the
 * kernel from another fd): what this thread holds goes first, as its own
 * earlier write did without the agent (a trial: after an unfinished line,
 * copy_file_range, splice, tee, vmsplice and pwrite bytes came out ahead
 * of it, or under it). */
AGENT_EXPORT ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
	SHIM_HELD_OUT_FIRST(REAL(pwrite)(fd, p, n, off));
}
AGENT_EXPORT ssize_t pwrite64(int fd, const void *p, size_t n, off64_t off)
{
	SHIM_HELD_OUT_FIRST(REAL(pwrite64)(fd, p, n, off));
}
AGENT_EXPORT ssize_t pwritev(int fd, const struct iovec *v, int n, off_t off)
{
	SHIM_HELD_OUT_FIRST(REAL(pwritev)(fd, v, n, off));
}
AGENT_EXPORT ssize_t pwritev2(int fd, const struct iovec *v, int n, off_t off, int flags)
{
	if (REAL(pwritev2) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	SHIM_HELD_OUT_FIRST(REAL(pwritev2)(fd, v, n, off, flags));
}
AGENT_EXPORT ssize_t splice(int in, off64_t *in_off, int out, off64_t *out_off, size_t n,
			    unsigned flags)
{
	SHIM_HELD_OUT_FIRST(REAL(splice)(in, in_off, out, out_off, n, flags));
}
AGENT_EXPORT ssize_t tee(int in, int out, size_t n, unsigned flags)
{
	SHIM_HELD_OUT_FIRST(REAL(tee)(in, out, n, flags));
}
AGENT_EXPORT ssize_t vmsplice(int fd, const struct iovec *v, size_t n, unsigned flags)
{
	SHIM_HELD_OUT_FIRST(REAL(vmsplice)(fd, v, n, flags));
}
AGENT_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off,
				     size_t n, unsigned flags)
{
	if (REAL(copy_file_range) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	SHIM_HELD_OUT_FIRST(REAL(copy_file_range)(in, in_off, out, out_off, n, flags));
}

AGENT_EXPORT int fclose(FILE *f)
{
	int fd, failed = 0, r;
	pid_t pid;

	/* A stream of popen's: glibc's fclose waits for its shell too. */
	if (unlikely(__atomic_load_n(&shell_streams, __ATOMIC_ACQUIRE)) &&
	    (pid = shell_stream_take(f)) > 0)
		return shell_pclose(f, pid);
	fd = f ? fileno(f) : -1;

	if (f)
		failed = shim_stream_closed(f);
	if (fd >= 0 && agent_active())
		AGENT_WORK(flow_close(fd));
	r = REAL(fclose)(f);
	if (failed && r == 0) {
		/* The buffer's bytes failed as libc's own flush would have. */
		errno = failed;
		r = EOF;
	}
	return r;
}

static inline int copied(int from, int to)
{
	if (to >= 0 && agent_active())
		AGENT_WORK(flow_dup(from, to));
	return to;
}

/* A dup2, dup3 or login_tty onto `to` failed (-1, errno kept): `to`
 * still refers to the file its held lines were flushed to, and they go
 * on there (out_fd_close_failed). */
static int still_open(int to)
{
	if (to >= 0 && agent_active())
		AGENT_WORK(out_fd_close_failed(to));
	return -1;
}

AGENT_EXPORT int dup(int fd)
{
	return copied(fd, REAL(dup)(fd));
}

AGENT_EXPORT int dup2(int fd, int to)
{
	int r;

	if (fd != to && agent_active()) {
		if (unlikely(agent_self.ep != NULL))
			AGENT_WORK(dispatch_closing(to));
		AGENT_WORK(out_fd_closing(to));   /* held bytes of `to` belong to the old file */
	}
	r = REAL(dup2)(fd, to);
	if (r < 0 && fd != to)
		return still_open(to);
	return fd == to ? r : copied(fd, r);
}

/* login_tty(fd) makes fd the process's terminal and copies it onto fds 0,
 * 1 and 2 by libc's own dup2 (unseen): what the held lines of those fds
 * had goes to their old files first, and the new file decides their kind
 * after (flow_std_retargeted). */
AGENT_EXPORT int login_tty(int fd)
{
	int r;

	if (agent_active())
		AGENT_WORK(for (int to = 0; to <= 2; to++) out_fd_closing(to));
	r = REAL(login_tty)(fd);
	if (r == 0 && agent_active())
		AGENT_WORK(flow_std_retargeted(fd));
	else if (r < 0)
		for (int to = 0; to <= 2; to++)
			still_open(to);
	return r;
}

AGENT_EXPORT int dup3(int fd, int to, int flags)
{
	int r;

	if (agent_active()) {
		if (unlikely(agent_self.ep != NULL) && fd != to)
			AGENT_WORK(dispatch_closing(to));
		AGENT_WORK(out_fd_closing(to));
	}
	r = REAL(dup3)(fd, to, flags);
	if (r < 0)
		return still_open(to);
	return copied(fd, r);
}

static int do_fcntl(int fd, int cmd, va_list ap)
{
	/* Every fcntl argument is an int or a pointer: passed on as is. */
	void *arg = va_arg(ap, void *);
	int r;

	/* A lock that waits: what this thread holds goes first (as flock). */
	if ((cmd == F_SETLKW || cmd == F_OFD_SETLKW) && agent_active())
		shim_may_block();
	r = REAL(fcntl)(fd, cmd, arg);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		copied(fd, r);
	return r;
}

AGENT_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	int r;

	va_start(ap, cmd);
	r = do_fcntl(fd, cmd, ap);
	va_end(ap);
	return r;
}

AGENT_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}
