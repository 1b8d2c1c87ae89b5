/*
 * out.h - the line writer: everything the program writes to a log (stderr)
 * comes through here, is cut into lines, and each line gets the head
 * (prefix or JSON) of the context current when its first byte was written.
 *
 * Each thread assembles its own lines: an unfinished line is held (at most
 * OUT_HOLD bytes) until its newline arrives, the thread is about to block,
 * writes anywhere else that may share the destination, switches fd, or the
 * fd is closed or redirected, or the process ends, so pieces of one line
 * come out together and never inside another thread's line. Return values
 * follow write(2): bytes the program gave are counted once the agent has
 * written them or holds them; bytes the kernel refused are reported as not
 * written, exactly as the kernel reports them (EAGAIN, EINTR, partial
 * counts), and the agent's own bytes (heads) are never counted.
 *
 * System calls: a write of the host is answered with write calls only, a
 * writev with writev calls only, and nothing else runs on this path (no
 * fcntl, no fstat): which fds are logs is decided at the fd-table events
 * (agent/out_fd.h), never here.
 */
#ifndef AGENT_OUT_H
#define AGENT_OUT_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/debug.h"
#include "base/thread.h"
#include "ctxmap/fdmap.h"

#define OUT_HOLD 4096        /* bytes of an unfinished line a thread may hold */
#define OUT_ESC 8192         /* JSON escape scratch per thread */
#define OUT_STAGE 8192       /* pieces gathered into one write(2) */

/* The system call the host made, and the only one the agent answers with. */
enum out_call {
	OUT_CALL_WRITE,      /* write(2), and stdio (which writes with write) */
	OUT_CALL_WRITEV,     /* writev(2) */
};

void out_init(void);

/* A write to a log fd, tagged: `how` is the host's own call (with
 * OUT_CALL_WRITE, iovcnt is 1). Sets errno like the kernel would. */
ssize_t out_write(int fd, const struct iovec *iov, int iovcnt, enum out_call how);

/* Writes n bytes for stdio (write calls): returns the bytes written; fewer
 * than n with errno set when the kernel refused the rest. */
size_t out_write_all(int fd, const void *buf, size_t n);

/* The head of a line of this thread's own stdio text starting at p[0, n)
 * (the current context's, or, for a captured child's output, the line's
 * own: agent/relay.h), into dst (cap bytes, FMT_HEAD_MAX is enough), for
 * a stream that keeps its lines in its own buffer. Returns its length: 0
 * when the line gets none, or when the output is JSON (whose objects only
 * the line writer makes: out_stdio_heads() is false). Call as agent code. */
size_t out_stdio_head(char *dst, size_t cap, const char *p, size_t n);

/* Whether lines may get their heads inside a stream's buffer (text
 * output). */
bool out_stdio_heads(void);

/* Writes what this thread holds (the line stays open). Called where the
 * thread may block, so a prompt without newline is never held back, and
 * before its writes that may reach the same destination another way. */
void out_flush_thread(void);

/*
 * Writes what every thread holds. `finish` also ends open JSON lines.
 * Safe anywhere: in a signal handler, at _exit, quick_exit, abort, from a
 * handler that interrupted this very thread inside a write. It never waits
 * on a lock or a thread state for long (`from_signal`: not at all), never
 * allocates, and skips this thread's own state when it interrupted its
 * write. For the exit and signal paths: this is the one call they need.
 */
void out_flush_all(bool finish, bool from_signal);
void out_final(void);

/* The thread is exiting: write what it holds, forget its state. */
void out_thread_exit(void);

/* A thread starts (the agent's thread start, and the constructor for the
 * thread that runs it): the line writer's memory for it (the line it
 * holds, its stage, escapes, a write's plan and head; about 31 KiB) comes
 * from the agent's own memory, not from thread-local storage or its stack,
 * either of which a small stack would pay for. If that memory cannot be
 * had, the thread's first tagged write takes a block already mapped, and
 * without one its writes go out untagged. */
void out_thread_starts(void);

/* The thread's start routine has returned (or it called pthread_exit):
 * that memory goes back, whether or not the thread ever wrote a line
 * (out_thread_exit, which runs only for a thread that did, gives back
 * what still held a line then). */
void out_scratch_gone(void);

/* `fd` is about to be closed, redirected or reopened: every thread's held
 * bytes for it go out now, to the file it still refers to, and their lines
 * end there (the next byte written to that number starts a line). */
void out_flush_fd(int fd);

/* The close or redirect of `fd` that out_flush_fd(fd) went before failed
 * (dup2, dup3, login_tty): the text lines that flush ended there, in
 * threads that wrote nothing since, are open again (their next bytes
 * continue them, no second head). JSON lines stay closed. */
void out_flush_fd_undo(int fd);

/* In the child of fork: only the forking thread's state is kept, emptied;
 * the output lock and the registry start afresh (nothing is taken before
 * the copy: agent/fork.c). */
void out_after_fork_child(void);

static inline bool out_holding(void) { return agent_self.held_line; }

/*
 * The write-path rules, written once. A write goes to the line writer when
 * its fd is a log (FD_OUTPUT: set only at fd-table events, agent/out_fd.c)
 * and a context has existed: until then stderr passes untouched, so a
 * program that never serves a request is not changed at all.
 */
static inline bool out_slot_tagged(const struct fdslot *s)
{
	return s && fdmap_kind(s) == FD_OUTPUT && ctx_seen();
}

static inline bool out_fd_tagged(int fd)
{
	return out_slot_tagged(fdmap_peek(fd));
}

/* REQCTX_DEBUG: stdout (not tagged) is written while a request is
 * current. Said once, and only while no tagged line was ever written: the
 * program then seems to log to stdout only. */
void out_stdout_note(void);
extern AGENT_HIDDEN int out_any_tagged;

static inline void out_saw_stdout(const struct fdslot *s)
{
	if (unlikely(debug_fd >= 0) && s && fdmap_kind(s) == FD_STDOUT && agent_self.cur &&
	    !__atomic_load_n(&out_any_tagged, __ATOMIC_RELAXED))
		out_stdout_note();
}

/* A write of this thread that does not go through the line writer: may it
 * reach the destination of the held line (a log, stdout, a file, a
 * terminal, anything not a connection, channel, timer or epoll)? Then the
 * held bytes go out first. */
static inline bool out_must_flush_before(const struct fdslot *s)
{
	return unlikely(agent_self.held_line) && (s == NULL || fdmap_kind(s) <= FD_STDOUT);
}

#endif
