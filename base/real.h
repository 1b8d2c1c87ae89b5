/*
 * real.h - the libc functions behind every interposer, resolved in one
 * place (real.c). Shims call REAL(name)(...); the agent's core never calls
 * an interposed name directly, or it would re-enter its own hooks.
 */
#ifndef AGENT_REAL_H
#define AGENT_REAL_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <spawn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define REAL_FUNCTIONS(X) \
	X(read, ssize_t, (int, void *, size_t)) \
	X(readv, ssize_t, (int, const struct iovec *, int)) \
	X(recv, ssize_t, (int, void *, size_t, int)) \
	X(recvfrom, ssize_t, (int, void *, size_t, int, struct sockaddr *, socklen_t *)) \
	X(recvmsg, ssize_t, (int, struct msghdr *, int)) \
	X(write, ssize_t, (int, const void *, size_t)) \
	X(writev, ssize_t, (int, const struct iovec *, int)) \
	X(send, ssize_t, (int, const void *, size_t, int)) \
	X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
	X(sendmsg, ssize_t, (int, const struct msghdr *, int)) \
	X(sendfile, ssize_t, (int, int, off_t *, size_t)) \
	X(close, int, (int)) \
	X(close_range, int, (unsigned, unsigned, int)) \
	X(fclose, int, (FILE *)) \
	X(dup, int, (int)) \
	X(dup2, int, (int, int)) \
	X(dup3, int, (int, int, int)) \
	X(fcntl, int, (int, int, ...)) \
	X(open, int, (const char *, int, ...)) \
	X(openat, int, (int, const char *, int, ...)) \
	X(socket, int, (int, int, int)) \
	X(socketpair, int, (int, int, int, int *)) \
	X(accept, int, (int, struct sockaddr *, socklen_t *)) \
	X(accept4, int, (int, struct sockaddr *, socklen_t *, int)) \
	X(connect, int, (int, const struct sockaddr *, socklen_t)) \
	X(getpeername, int, (int, struct sockaddr *, socklen_t *)) \
	X(getsockopt, int, (int, int, int, void *, socklen_t *)) \
	X(setsockopt, int, (int, int, int, const void *, socklen_t)) \
	X(pipe, int, (int *)) \
	X(eventfd, int, (unsigned, int)) \
	X(timerfd_create, int, (int, int)) \
	X(timerfd_settime, int, (int, int, const struct itimerspec *, struct itimerspec *)) \
	X(signalfd, int, (int, const sigset_t *, int)) \
	X(closefrom, void, (int)) \
	X(sleep, unsigned, (unsigned)) \
	X(usleep, int, (useconds_t)) \
	X(execv, int, (const char *, char *const[])) \
	X(execvp, int, (const char *, char *const[])) \
	X(pipe2, int, (int *, int)) \
	X(epoll_create, int, (int)) \
	X(epoll_create1, int, (int)) \
	X(epoll_ctl, int, (int, int, int, struct epoll_event *)) \
	X(epoll_wait, int, (int, struct epoll_event *, int, int)) \
	X(epoll_pwait, int, (int, struct epoll_event *, int, int, const sigset_t *)) \
	X(epoll_pwait2, int, (int, struct epoll_event *, int, const struct timespec *, const sigset_t *)) \
	X(poll, int, (struct pollfd *, nfds_t, int)) \
	X(ppoll, int, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *)) \
	X(select, int, (int, fd_set *, fd_set *, fd_set *, struct timeval *)) \
	X(pselect, int, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *)) \
	X(nanosleep, int, (const struct timespec *, struct timespec *)) \
	X(clock_nanosleep, int, (clockid_t, int, const struct timespec *, struct timespec *)) \
	X(pthread_create, int, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)) \
	X(fork, pid_t, (void)) \
	X(vfork, pid_t, (void)) \
	X(pthread_cond_wait, int, (pthread_cond_t *, pthread_mutex_t *)) \
	X(pthread_cond_timedwait, int, (pthread_cond_t *, pthread_mutex_t *, const struct timespec *)) \
	X(pthread_cond_clockwait, int, (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *)) \
	X(pthread_cond_signal, int, (pthread_cond_t *)) \
	X(pthread_cond_broadcast, int, (pthread_cond_t *)) \
	X(pthread_cond_destroy, int, (pthread_cond_t *)) \
	X(pthread_mutex_lock, int, (pthread_mutex_t *)) \
	X(sem_wait, int, (sem_t *)) \
	X(sem_timedwait, int, (sem_t *, const struct timespec *)) \
	X(sem_clockwait, int, (sem_t *, clockid_t, const struct timespec *)) \
	X(sem_trywait, int, (sem_t *)) \
	X(sem_post, int, (sem_t *)) \
	X(sem_destroy, int, (sem_t *)) \
	X(timer_create, int, (clockid_t, struct sigevent *, timer_t *)) \
	X(timer_settime, int, (timer_t, int, const struct itimerspec *, struct itimerspec *)) \
	X(timer_delete, int, (timer_t)) \
	X(execve, int, (const char *, char *const[], char *const[])) \
	X(execvpe, int, (const char *, char *const[], char *const[])) \
	X(fexecve, int, (int, char *const[], char *const[])) \
	X(posix_spawn, int, (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[])) \
	X(posix_spawnp, int, (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[])) \
	X(system, int, (const char *)) \
	X(popen, FILE *, (const char *, const char *)) \
	X(_exit, void, (int)) \
	X(sigaction, int, (int, const struct sigaction *, struct sigaction *)) \
	X(vfprintf, int, (FILE *, const char *, va_list)) \
	X(__vfprintf_chk, int, (FILE *, int, const char *, va_list)) \
	X(vdprintf, int, (int, const char *, va_list)) \
	X(__vdprintf_chk, int, (int, int, const char *, va_list)) \
	X(fwrite, size_t, (const void *, size_t, size_t, FILE *)) \
	X(fputs, int, (const char *, FILE *)) \
	X(fputc, int, (int, FILE *)) \
	X(fputc_unlocked, int, (int, FILE *)) \
	X(fwrite_unlocked, size_t, (const void *, size_t, size_t, FILE *)) \
	X(fputs_unlocked, int, (const char *, FILE *)) \
	X(perror, void, (const char *)) \
	X(psignal, void, (int, const char *)) \
	X(puts, int, (const char *)) \
	X(fflush, int, (FILE *)) \
	X(fopen, FILE *, (const char *, const char *)) \
	X(fopen64, FILE *, (const char *, const char *)) \
	X(freopen, FILE *, (const char *, const char *, FILE *)) \
	X(freopen64, FILE *, (const char *, const char *, FILE *))

#define REAL_DECLARE(name, ret, args) extern ret (*real_##name) args;
REAL_FUNCTIONS(REAL_DECLARE)
#undef REAL_DECLARE

/* Resolve every real function now. Called by the constructor; shims also
 * resolve one on first use, for calls that arrive before it ran. */
void real_resolve_all(void);
void *real_resolve(void **slot, const char *name);

#define REAL(name) \
	(likely(real_##name != NULL) ? real_##name \
	 : (__typeof__(real_##name))real_resolve((void **)&real_##name, #name))

#endif
