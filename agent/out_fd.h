/*
 * out_fd.h - which fds are logs, decided at the events that change the fd
 * table, never on the write path (which then needs no system call).
 *
 * A log (FD_OUTPUT) is:
 *   - fd 2 as the process started (its file, st_dev/st_ino, recorded);
 *   - what is dup'ed from a log;
 *   - what the program explicitly makes its stderr: dup2/dup3/F_DUPFD
 *     onto fd 2, freopen() of stderr; the new file is the log from then on;
 *   - an fd opened (open, fopen, ...) on the log's file (nginx's
 *     `access_log /dev/stderr`).
 * REQCTX_TAG chooses the outputs (agent/config.h): without `stderr` the
 * rules above are off; with `stdout`, fd 1 as started and whatever the
 * program dup2s onto fd 1 are logs too; with paths or glob patterns, an fd
 * opened (open, openat, creat, fopen, freopen) on a matching path is.
 *
 * Not a log: fd 1 (unless the program dup2s a log onto it), and a number a
 * log had once, reused: fd 2 closed (or never open) and then returned by
 * open() for a data file is that data file. Closing, redirecting or
 * reopening an fd first writes what threads hold for it, to the file it
 * still refers to.
 *
 * The diagnostics file's fd is the agent's own: when the program closes
 * its number, or an fd-creating call hands the number out again (it was
 * closed behind the agent's back), diagnostics stop.
 */
#ifndef AGENT_OUT_FD_H
#define AGENT_OUT_FD_H

#include <stdbool.h>
#include <sys/types.h>

/* Start-up: fd 2's file is the log; fd 1 is stdout. */
void out_fd_init(void);

/* An open-like call returned `fd`, a new object (after flow_new_fd). */
void out_fd_opened(int fd);

/* The same, knowing the path it was opened as (relative to dirfd): a
 * REQCTX_TAG pattern may make it a log. `writable`: false when the fd was
 * opened for reading only (O_RDONLY, O_PATH), so that no write through it
 * can succeed: it is then a plain file without asking the kernel which
 * file it is (a static file a server opens per request costs no fstat). */
void out_fd_opened_path(int fd, int dirfd, const char *path, bool writable);

/* `fd` is about to be closed, or replaced by dup2/dup3/freopen. */
void out_fd_closing(int fd);

/* The dup2, dup3 or login_tty out_fd_closing(fd) went before failed: fd
 * still refers to its file (out_flush_fd_undo). */
void out_fd_close_failed(int fd);

/* The fds first..last (inclusive) are about to be closed (close_range,
 * closefrom): out_fd_closing() for each log among them (and the
 * agent's own diagnostics and spans files). */
void out_fd_closing_range(unsigned first, unsigned last);

/* A child started by exec: its parent's log is (dev, ino) and, with
 * REQCTX_TAG=stdout, its parent's tagged stdout is (odev, oino) (oino 0:
 * none) (REQCTX_PARENT, agent/inherit.c). Its own fd 2 is a log only when
 * it is the parent's log; its fd 1 is tagged only when it is the parent's
 * tagged stdout or log: the output a parent captures through a pipe (a
 * CGI's response body, subprocess's capture) is data. */
void out_set_parent_log(dev_t dev, ino_t ino, dev_t odev, ino_t oino);
/* The parent under the agent tagged neither a log nor a stdout (REQCTX_TAG
 * without stderr, and its stdout data): fd 1 is no log here either. */
void out_parent_tagged_nothing(void);

/* A fork child (agent/fork.c): like a child started by exec, it was
 * started by a parent under the agent, so a pipe or socket it puts on fd 2
 * or fd 1 is data for that parent (out_redirect_kind): neither tagged
 * nor passed on as the log to what it execs. */
void out_fd_forked(void);

/* This process was started inside a request: by exec with the parent's
 * request in REQCTX_PARENT, or by fork with a context current (called
 * after out_fd_forked). A regular file or a terminal it puts on fd 2 (or
 * on fd 1) is data too (a shell's `cmd 2>FILE` or `exec 2>FILE`, a helper
 * run on a pseudo-terminal by `script` or `pty.fork()`): the program that
 * started it reads it back. A process started outside any request (a
 * daemon, a server's workers) keeps such a file as its log (its error
 * log, reopened at rotation). */
void out_fd_started_in_request(void);

/* Whether fds `a` and `b` are stdout and stderr (either way round), both
 * tagged, on one file (2>&1): known identities, no system call. */
bool out_fd_same_file(int a, int b);

/* The log's file, for this process's children; false when none is known. */
bool out_log_identity(dev_t *dev, ino_t *ino);

/* fd 1's file while fd 1 is tagged (REQCTX_TAG=stdout), for this
 * process's children; false otherwise. */
bool out_stdout_identity(dev_t *dev, ino_t *ino);

/* `fd` (1 or 2) now holds another file (the real dup2 or dup3 done, or
 * freopen of stderr), and its slot is about to be copied from the
 * source's (or reset): the kind it takes, decided first and stored with
 * the copy (fdmap_copy_as) or the reset, so that a
 * thread writing meanwhile never sees the source's kind (a file opened
 * as plain would let its lines out unwrapped). fd 2 is the log
 * (FD_OUTPUT, its identity learnt) with REQCTX_TAG's `stderr`, unless it
 * is data for a parent under the agent (FD_PLAIN, redirected_to_data);
 * fd 1 the same with `stdout`. -1: the source's kind (not tagged, or
 * another fd). *same (when not NULL): whether the new file is the one the
 * tagged fd held before (dev and inode), so that a line the redirect
 * ended goes on (out_redirected). */
int out_redirect_kind(int fd, bool *same);

/* After the copy of kind `kind` (out_redirect_kind's answer) onto `fd`:
 * on a new log, fds already open on its file become logs too; on the same
 * file as before (`same`), the lines the redirect's flush ended before
 * the call go on with no second head (out_flush_fd_undo). */
void out_redirected(int fd, int kind, bool same);

#endif
