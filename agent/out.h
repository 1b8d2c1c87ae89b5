/*
 * out.h - the line writer: everything the program writes to stderr comes
 * through here, is cut into lines, and each line gets the head (prefix or
 * JSON) of the context current when its first byte was written.
 *
 * Each thread assembles its own lines: an unfinished line is held (at most
 * OUT_HOLD bytes) until its newline arrives, the thread is about to block,
 * switches fd, or exits, so pieces of one line come out together and never
 * inside another thread's line. Return values follow write(2): bytes the
 * program gave are counted once the agent has written them or holds them;
 * bytes the kernel refused are reported as not written, exactly as the
 * kernel reports them (EAGAIN, EINTR, partial counts), and the agent's own
 * bytes (heads) are never counted.
 */
#ifndef AGENT_OUT_H
#define AGENT_OUT_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/thread.h"

#define OUT_HOLD 4096        /* bytes of an unfinished line a thread may hold */
#define OUT_ESC 8192         /* JSON escape scratch per thread */

void out_init(void);

/* writev(2) on an output fd, tagged. Sets errno like the kernel would. */
ssize_t out_write(int fd, const struct iovec *iov, int iovcnt);

/* Writes all n bytes or fails (stdio semantics): 0, or -1 with errno. */
int out_write_all(int fd, const void *buf, size_t n);

/* Writes what this thread holds (the line stays open). Called where the
 * thread may block, so a prompt without newline is never held back. */
void out_flush_thread(void);

/* Writes what every thread holds. `finish` also ends open JSON lines and,
 * when final, makes later writes pass straight through (process exit).
 * `from_signal`: only async-signal-safe steps, never waits on a lock. */
void out_flush_all(bool finish, bool from_signal);
void out_final(void);

/* The thread is exiting: write what it holds, forget its state. */
void out_thread_exit(void);

/* fd 2 now refers to another file; `fd` is being closed. */
void out_stderr_changed(void);

/* A child started by exec: its parent's log is (dev, ino), and its own
 * fd 2 is a log only when it is that file (captured stderr is data). */
void out_set_parent_log(dev_t dev, ino_t ino);
/* The log this process writes to, for its children; false if unknown. */
bool out_log_identity(dev_t *dev, ino_t *ino);
void out_fd_closing(int fd);

/* True when `fd` (not yet classified) is stderr or open on the same file. */
bool out_is_stderr_file(int fd);

void out_prepare_fork(void);
void out_after_fork_parent(void);
void out_after_fork_child(void);

struct out_state;
extern AGENT_TLS char out_has_held;

static inline bool out_holding(void) { return out_has_held; }

#endif
