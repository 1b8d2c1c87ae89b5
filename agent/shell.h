/*
 * shell.h - system() and popen() of the agent's own (agent/shell.c):
 * glibc's steps and system calls, the child's environment (with its
 * request, agent/inherit.h) given to posix_spawn as an argument.
 */
#ifndef AGENT_SHELL_H
#define AGENT_SHELL_H

#include <stdio.h>
#include <sys/types.h>

/*
 * system(cmd) for a non-NULL cmd: "/bin/sh -c cmd" with SIGINT and SIGQUIT
 * ignored in the caller (from the first of concurrent calls to the last)
 * and SIGCHLD blocked (in the caller's thread) while it runs; in the
 * shell, the caller's mask and those two at their default unless they
 * were ignored. Returns the shell's wait status; -1 when it could not be
 * waited for (errno: waitpid's, ECHILD when SIGCHLD is ignored); the
 * status of _exit(127) when it could not be started (errno: posix_spawn's
 * error). A cancellation point: a caller cancelled while it waits kills
 * and reaps its shell.
 */
int shell_system(const char *cmd);

/*
 * popen(cmd, mode): mode is "r" or "w", with 'e' for close-on-exec on
 * the caller's end (EINVAL otherwise). The shell's stdin or stdout is a
 * pipe whose other end the returned stream holds; the fds of the streams
 * of earlier popen() calls still open are closed in the shell. NULL with
 * errno (pipe2's, posix_spawn's, ENOMEM) on failure. The stream is a
 * stdio stream on the fd (fdopen: one fcntl(F_GETFL) more than glibc's
 * popen makes), closed with pclose() or fclose().
 */
FILE *shell_popen(const char *cmd, const char *mode);

/* Streams shell_popen() made and nobody closed yet: 0 lets fclose() and
 * pclose() pass by with one load. */
extern unsigned shell_streams;

/* Takes `fp` out of the streams: its shell's pid, or -1 when popen did
 * not make it. */
pid_t shell_stream_take(FILE *fp);
/* The same by fd, for a stream that never got its FILE. */
void shell_stream_take_fd(int fd);

/* Closes a stream shell_stream_take() gave `pid` for and waits for its
 * shell: its wait status, or -1 (errno: waitpid's) when it cannot be
 * waited for, or EOF when the status is 0 and the stream's last bytes
 * could not be written. */
int shell_pclose(FILE *fp, pid_t pid);

/* In a fork child: the module's locks, fresh. */
void shell_fork_child(void);

#endif
