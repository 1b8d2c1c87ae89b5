/*
 * real.h - the libc functions behind every interposer, resolved in one
 * place (real.c). Shims call REAL(name)(...); the agent's core never calls
 * an interposed name directly, or it would re-enter its own hooks.
 */
#ifndef AGENT_REAL_H
#define AGENT_REAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <printf.h>
#include <spawn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "base/compiler.h"

/*
 * X(name, return type, parameter types, REQUIRED or OPTIONAL).
 * REQUIRED: without it the agent cannot do its work; if it cannot be found
 * the agent switches itself off. OPTIONAL: newer than the oldest glibc the
 * agent runs on (close_range and closefrom 2.34, epoll_pwait2 2.35); if it
 * is missing, the agent stays on and its shim's calls fail with ENOSYS, as
 * the system call does on a kernel without it.
 */
#define REAL_FUNCTIONS(X) \
	X(read, ssize_t, (int, void *, size_t), REQUIRED) \
	X(readv, ssize_t, (int, const struct iovec *, int), REQUIRED) \
	X(recv, ssize_t, (int, void *, size_t, int), REQUIRED) \
	X(recvfrom, ssize_t, (int, void *, size_t, int, struct sockaddr *, socklen_t *), REQUIRED) \
	X(recvmsg, ssize_t, (int, struct msghdr *, int), REQUIRED) \
	X(recvmmsg, int, (int, struct mmsghdr *, unsigned int, int, struct timespec *), REQUIRED) \
	X(write, ssize_t, (int, const void *, size_t), REQUIRED) \
	X(writev, ssize_t, (int, const struct iovec *, int), REQUIRED) \
	X(send, ssize_t, (int, const void *, size_t, int), REQUIRED) \
	X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *, socklen_t), REQUIRED) \
	X(sendmsg, ssize_t, (int, const struct msghdr *, int), REQUIRED) \
	X(sendmmsg, int, (int, struct mmsghdr *, unsigned int, int), REQUIRED) \
	X(sendfile, ssize_t, (int, int, off_t *, size_t), REQUIRED) \
	X(close, int, (int), REQUIRED) \
	X(close_range, int, (unsigned, unsigned, int), OPTIONAL) \
	X(fclose, int, (FILE *), REQUIRED) \
	X(dup, int, (int), REQUIRED) \
	X(dup2, int, (int, int), REQUIRED) \
	X(dup3, int, (int, int, int), REQUIRED) \
	X(fcntl, int, (int, int, ...), REQUIRED) \
	X(open, int, (const char *, int, ...), REQUIRED) \
	X(openat, int, (int, const char *, int, ...), REQUIRED) \
	X(socket, int, (int, int, int), REQUIRED) \
	X(socketpair, int, (int, int, int, int *), REQUIRED) \
	X(accept, int, (int, struct sockaddr *, socklen_t *), REQUIRED) \
	X(accept4, int, (int, struct sockaddr *, socklen_t *, int), REQUIRED) \
	X(connect, int, (int, const struct sockaddr *, socklen_t), REQUIRED) \
	X(getpeername, int, (int, struct sockaddr *, socklen_t *), REQUIRED) \
	X(getsockname, int, (int, struct sockaddr *, socklen_t *), REQUIRED) \
	X(getsockopt, int, (int, int, int, void *, socklen_t *), REQUIRED) \
	X(setsockopt, int, (int, int, int, const void *, socklen_t), REQUIRED) \
	X(pipe, int, (int *), REQUIRED) \
	X(eventfd, int, (unsigned, int), REQUIRED) \
	X(timerfd_create, int, (int, int), REQUIRED) \
	X(timerfd_settime, int, (int, int, const struct itimerspec *, struct itimerspec *), REQUIRED) \
	X(signalfd, int, (int, const sigset_t *, int), REQUIRED) \
	X(closefrom, void, (int), OPTIONAL) \
	X(fsync, int, (int), REQUIRED) \
	X(pwrite, ssize_t, (int, const void *, size_t, off_t), REQUIRED) \
	X(pwrite64, ssize_t, (int, const void *, size_t, off64_t), REQUIRED) \
	X(pwritev, ssize_t, (int, const struct iovec *, int, off_t), REQUIRED) \
	X(pwritev2, ssize_t, (int, const struct iovec *, int, off_t, int), OPTIONAL) \
	X(splice, ssize_t, (int, off64_t *, int, off64_t *, size_t, unsigned), REQUIRED) \
	X(tee, ssize_t, (int, int, size_t, unsigned), REQUIRED) \
	X(vmsplice, ssize_t, (int, const struct iovec *, size_t, unsigned), REQUIRED) \
	X(copy_file_range, ssize_t, (int, off64_t *, int, off64_t *, size_t, unsigned), OPTIONAL) \
	X(fdatasync, int, (int), REQUIRED) \
	X(flock, int, (int, int), REQUIRED) \
	X(lockf, int, (int, int, off_t), REQUIRED) \
	X(lockf64, int, (int, int, off64_t), REQUIRED) \
	X(lseek, off_t, (int, off_t, int), REQUIRED) \
	X(lseek64, off64_t, (int, off64_t, int), REQUIRED) \
	X(ftruncate, int, (int, off_t), REQUIRED) \
	X(ftruncate64, int, (int, off64_t), REQUIRED) \
	X(sleep, unsigned, (unsigned), REQUIRED) \
	X(usleep, int, (useconds_t), REQUIRED) \
	X(pipe2, int, (int *, int), REQUIRED) \
	X(epoll_create, int, (int), REQUIRED) \
	X(epoll_create1, int, (int), REQUIRED) \
	X(epoll_ctl, int, (int, int, int, struct epoll_event *), REQUIRED) \
	X(epoll_wait, int, (int, struct epoll_event *, int, int), REQUIRED) \
	X(epoll_pwait, int, (int, struct epoll_event *, int, int, const sigset_t *), REQUIRED) \
	X(epoll_pwait2, int, (int, struct epoll_event *, int, const struct timespec *, const sigset_t *), OPTIONAL) \
	X(poll, int, (struct pollfd *, nfds_t, int), REQUIRED) \
	X(ppoll, int, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *), REQUIRED) \
	X(select, int, (int, fd_set *, fd_set *, fd_set *, struct timeval *), REQUIRED) \
	X(pselect, int, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *), REQUIRED) \
	X(nanosleep, int, (const struct timespec *, struct timespec *), REQUIRED) \
	X(clock_nanosleep, int, (clockid_t, int, const struct timespec *, struct timespec *), REQUIRED) \
	X(pthread_create, int, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *), REQUIRED) \
	X(vfork, pid_t, (void), REQUIRED) \
	X(pthread_cond_wait, int, (pthread_cond_t *, pthread_mutex_t *), REQUIRED) \
	X(pthread_cond_timedwait, int, (pthread_cond_t *, pthread_mutex_t *, const struct timespec *), REQUIRED) \
	X(pthread_cond_clockwait, int, (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *), REQUIRED) \
	X(pthread_cond_signal, int, (pthread_cond_t *), REQUIRED) \
	X(pthread_cond_broadcast, int, (pthread_cond_t *), REQUIRED) \
	X(pthread_cond_destroy, int, (pthread_cond_t *), REQUIRED) \
	X(pthread_mutex_lock, int, (pthread_mutex_t *), REQUIRED) \
	X(pthread_mutex_trylock, int, (pthread_mutex_t *), REQUIRED) \
	X(pthread_mutex_timedlock, int, (pthread_mutex_t *, const struct timespec *), REQUIRED) \
	X(pthread_mutex_clocklock, int, (pthread_mutex_t *, clockid_t, const struct timespec *), OPTIONAL) \
	X(timer_create, int, (clockid_t, struct sigevent *, timer_t *), REQUIRED) \
	X(timer_settime, int, (timer_t, int, const struct itimerspec *, struct itimerspec *), REQUIRED) \
	X(timer_delete, int, (timer_t), REQUIRED) \
	X(execve, int, (const char *, char *const[], char *const[]), REQUIRED) \
	X(execvpe, int, (const char *, char *const[], char *const[]), REQUIRED) \
	X(fexecve, int, (int, char *const[], char *const[]), REQUIRED) \
	X(posix_spawn, int, (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]), REQUIRED) \
	X(posix_spawnp, int, (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]), REQUIRED) \
	X(system, int, (const char *), REQUIRED) \
	X(popen, FILE *, (const char *, const char *), REQUIRED) \
	X(pclose, int, (FILE *), REQUIRED) \
	X(daemon, int, (int, int), REQUIRED) \
	X(login_tty, int, (int), OPTIONAL) \
	X(forkpty, pid_t, (int *, char *, const struct termios *, const struct winsize *), OPTIONAL) \
	X(waitpid, pid_t, (pid_t, int *, int), REQUIRED) \
	X(wait, pid_t, (int *), REQUIRED) \
	X(wait3, pid_t, (int *, int, struct rusage *), REQUIRED) \
	X(wait4, pid_t, (pid_t, int *, int, struct rusage *), REQUIRED) \
	X(waitid, int, (idtype_t, id_t, siginfo_t *, int), REQUIRED) \
	X(pthread_join, int, (pthread_t, void **), REQUIRED) \
	X(sigsuspend, int, (const sigset_t *), REQUIRED) \
	X(pause, int, (void), REQUIRED) \
	X(sigwait, int, (const sigset_t *, int *), REQUIRED) \
	X(sigwaitinfo, int, (const sigset_t *, siginfo_t *), REQUIRED) \
	X(sigtimedwait, int, (const sigset_t *, siginfo_t *, const struct timespec *), REQUIRED) \
	X(_exit, void, (int), REQUIRED) \
	X(syscall, long, (long, ...), REQUIRED) \
	X(sigaction, int, (int, const struct sigaction *, struct sigaction *), REQUIRED) \
	X(vfprintf, int, (FILE *, const char *, va_list), REQUIRED) \
	X(__vfprintf_chk, int, (FILE *, int, const char *, va_list), REQUIRED) \
	X(vdprintf, int, (int, const char *, va_list), REQUIRED) \
	X(__vdprintf_chk, int, (int, int, const char *, va_list), REQUIRED) \
	X(fwrite, size_t, (const void *, size_t, size_t, FILE *), REQUIRED) \
	X(fputs, int, (const char *, FILE *), REQUIRED) \
	X(fputc, int, (int, FILE *), REQUIRED) \
	X(fputc_unlocked, int, (int, FILE *), REQUIRED) \
	X(fwrite_unlocked, size_t, (const void *, size_t, size_t, FILE *), REQUIRED) \
	X(fputs_unlocked, int, (const char *, FILE *), REQUIRED) \
	X(fgets, char *, (char *, int, FILE *), REQUIRED) \
	X(__fgets_chk, char *, (char *, size_t, int, FILE *), REQUIRED) \
	X(__fgets_unlocked_chk, char *, (char *, size_t, int, FILE *), REQUIRED) \
	X(__getdelim, ssize_t, (char **, size_t *, int, FILE *), REQUIRED) \
	X(__fread_chk, size_t, (void *, size_t, size_t, size_t, FILE *), REQUIRED) \
	X(__fread_unlocked_chk, size_t, (void *, size_t, size_t, size_t, FILE *), REQUIRED) \
	X(register_printf_specifier, int, (int, printf_function *, printf_arginfo_size_function *), REQUIRED) \
	X(register_printf_function, int, (int, printf_function *, printf_arginfo_function *), REQUIRED) \
	X(fgets_unlocked, char *, (char *, int, FILE *), REQUIRED) \
	X(getline, ssize_t, (char **, size_t *, FILE *), REQUIRED) \
	X(getdelim, ssize_t, (char **, size_t *, int, FILE *), REQUIRED) \
	X(fread, size_t, (void *, size_t, size_t, FILE *), REQUIRED) \
	X(fread_unlocked, size_t, (void *, size_t, size_t, FILE *), REQUIRED) \
	X(fgetc, int, (FILE *), REQUIRED) \
	X(getc, int, (FILE *), REQUIRED) \
	X(perror, void, (const char *), REQUIRED) \
	X(sem_wait, int, (sem_t *), REQUIRED) \
	X(sem_timedwait, int, (sem_t *, const struct timespec *), REQUIRED) \
	X(sem_clockwait, int, (sem_t *, clockid_t, const struct timespec *), REQUIRED) \
	X(sem_trywait, int, (sem_t *), REQUIRED) \
	X(sem_post, int, (sem_t *), REQUIRED) \
	X(sem_destroy, int, (sem_t *), REQUIRED) \
	X(puts, int, (const char *), REQUIRED) \
	X(fflush, int, (FILE *), REQUIRED) \
	X(fopen, FILE *, (const char *, const char *), REQUIRED) \
	X(fopen64, FILE *, (const char *, const char *), REQUIRED) \
	X(freopen, FILE *, (const char *, const char *, FILE *), REQUIRED) \
	X(freopen64, FILE *, (const char *, const char *, FILE *), REQUIRED) \
	X(clone, int, (int (*)(void *), void *, int, void *, ...), REQUIRED) \
	X(chroot, int, (const char *), REQUIRED) \
	X(abort, void, (void), REQUIRED) \
	X(psignal, void, (int, const char *), REQUIRED) \
	X(dlopen, void *, (const char *, int), REQUIRED)

#define REAL_DECLARE(name, ret, args, need) extern AGENT_HIDDEN ret (*real_##name) args;
REAL_FUNCTIONS(REAL_DECLARE)
#undef REAL_DECLARE

#define REAL_INDEX(name, ret, args, need) REAL_INDEX_##name,
enum real_index { REAL_FUNCTIONS(REAL_INDEX) REAL_COUNT };
#undef REAL_INDEX

/* Resolve every real function now. Called by the constructor; shims also
 * resolve one on first use, for calls that arrive before it ran. */
void real_resolve_all(void);

/*
 * Resolves the i-th function of the table into its real_ pointer and
 * returns it. If it cannot be found, the pointer is set to a stand-in of
 * the same return type that sets errno to ENOSYS and fails (-1, NULL, 0 or
 * nothing), so the call still returns; a REQUIRED function missing also
 * switches the agent off (agent_fail). Never NULL.
 */
void *real_resolve(enum real_index i);

/* The same, looking up `name` instead of the i-th function's own name
 * (the tests resolve a name that does not exist). */
void *real_resolve_as(enum real_index i, const char *name);

/* The definition of `name` that follows the agent's in the lookup order
 * (what an interposer of `name` forwards to), or NULL. */
void *real_next(const char *name);

/* A function of a library the agent never links against (libssl), found
 * when first needed: the next definition, or one in that library if the
 * program has loaded it (without making it load). NULL when neither. */
void *real_resolve_optional(const char *name);

/* The agent's own file (REQCTX_DEBUG, REQCTX_SPANS): open(2) with
 * `flags` and `mode`, the descriptor then moved (F_DUPFD_CLOEXEC) above
 * the numbers a program takes first (POSIX gives the lowest free one), to
 * the lowest free from min(soft RLIMIT_NOFILE, 1024) - 16 (the last free
 * one under a limit below 20). So the program's own numbering is what it
 * is without the agent, and a closed 0, 1 or 2 stays closed, not the
 * agent's file (where the program's stderr would go). Returns the fd, or
 * -1 with errno (EMFILE: no number above 2 was free). */
int real_open_aside(const char *path, int flags, mode_t mode);

/* A pointer that is never NULL: read, readv, recv, pthread_mutex_lock
 * and pthread_mutex_trylock hold a first call that resolves them until
 * they are (base/real.c, REAL_BOOT), so their shims' quick paths call them
 * untested. */
#define REAL_BOOTED(name) (real_##name)

#define REAL(name) \
	(likely(real_##name != NULL) ? real_##name \
	 : (__typeof__(real_##name))real_resolve(REAL_INDEX_##name))

#endif
