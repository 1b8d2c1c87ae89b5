/*
 * shell.c - the shells libc starts for a program, system() and popen()
 * (agent/shell.h), done with glibc's steps, in its order and with its
 * system calls, but with the child's environment given to posix_spawn as
 * an argument. libc's own read the global `environ` inside, where the
 * agent could hand the child its request only by pointing `environ`, for
 * every thread, at the child's version for the length of the call.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/flow.h"
#include "agent/inherit.h"
#include "agent/shell.h"
#include "agent/signals.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/real.h"
#include "base/thread.h"

extern char **environ;

/* ---- the child's environment ---- */

/* Built in the agent's memory, not on the caller's stack: a thread with a
 * small stack may have a large environment. `slots` and `bytes` are what
 * was allocated, for child_env_free(); env NULL when memory ran out (the
 * child then gets the program's environment as it is, and no request). */
struct child_env {
	char **env;
	char *scratch;
	size_t slots, bytes;
};

static void child_env_make(struct child_env *ce)
{
	char **from = environ;

	ce->slots = inherit_env_slots(from) + 1;
	ce->bytes = inherit_scratch_size(from);
	AGENT_WORK(ce->env = mem_alloc(ce->slots * sizeof *ce->env);
		   ce->scratch = ce->env ? mem_alloc(ce->bytes) : NULL;
		   if (ce->env && ce->scratch)
			   inherit_env(from, ce->env, ce->scratch));
	if (ce->env && ce->scratch == NULL) {
		AGENT_WORK(mem_free(ce->env, ce->slots * sizeof *ce->env));
		ce->env = NULL;
	}
}

static char **child_env_get(const struct child_env *ce)
{
	return ce->env ? ce->env : environ;
}

static void child_env_free(struct child_env *ce)
{
	if (ce->env)
		AGENT_WORK(mem_free(ce->env, ce->slots * sizeof *ce->env);
			   mem_free(ce->scratch, ce->bytes));
}

/* ---- system() ---- */

/* SIGINT and SIGQUIT are ignored from the first of concurrent calls to the
 * last, as glibc does; through the agent's record of the program's
 * handlers (agent/signals.c), so that sigaction() asked meanwhile answers
 * SIG_IGN and what was set meanwhile is replaced by what was before. */
static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned system_calls;
static struct sigaction system_intr, system_quit;

static void system_release(void)
{
	agent_lock(&system_lock);
	if (--system_calls == 0) {
		signals_action(SIGINT, &system_intr, NULL);
		signals_action(SIGQUIT, &system_quit, NULL);
	}
	pthread_mutex_unlock(&system_lock);
}

/* A caller cancelled while it waits: its shell is killed and reaped. */
static void system_cancelled(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	int state;

	kill(pid, SIGKILL);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	while (REAL(waitpid)(pid, NULL, 0) < 0 && errno == EINTR)
		;
	pthread_setcancelstate(state, NULL);
	system_release();
}

int shell_system(const char *cmd)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	sigset_t block, omask, reset;
	posix_spawnattr_t attr;
	struct child_env ce;
	int status = -1, r;
	pid_t pid;

	agent_lock(&system_lock);
	if (system_calls++ == 0) {
		signals_action(SIGINT, &ign, &system_intr);
		signals_action(SIGQUIT, &ign, &system_quit);
	}
	pthread_mutex_unlock(&system_lock);
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
	child_env_make(&ce);
	r = REAL(posix_spawn)(&pid, "/bin/sh", NULL, &attr, argv, child_env_get(&ce));
	child_env_free(&ce);
	posix_spawnattr_destroy(&attr);
	if (r == 0) {
		pthread_cleanup_push(system_cancelled, &pid);
		while ((r = (int)REAL(waitpid)(pid, &status, 0)) < 0 && errno == EINTR)
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

/* ---- popen() and pclose() ---- */

/* The streams popen() made and pclose() has not closed: each new child
 * closes their fds (POSIX: "any streams from previous popen() calls that
 * remain open in the parent process are closed in the new child
 * process"). The lock is held across the spawn, as glibc holds its own, so
 * that no stream is made meanwhile that the child would keep; never
 * across the host's allocator (the file actions are built before it is
 * taken, and built again if the streams changed meanwhile). Recursive,
 * as glibc's: a signal handler may popen or pclose while the code it
 * interrupted holds it. */
struct stream {
	FILE *fp;
	pid_t pid;
	int fd;
	struct stream *next;
};

static pthread_mutex_t streams_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct stream *streams;
static unsigned streams_gen;
unsigned shell_streams;

/* The fds of the open streams, in fds[] (mem_alloc'd, *cap entries) with
 * the list's generation. Returns the count, or -1 without memory. */
static int streams_fds(int **fds, size_t *cap, unsigned *gen)
{
	for (;;) {
		size_t n = 0;

		agent_lock(&streams_lock);
		for (struct stream *s = streams; s; s = s->next)
			n++;
		if (n <= *cap) {
			n = 0;
			for (struct stream *s = streams; s; s = s->next)
				(*fds)[n++] = s->fd;
			*gen = streams_gen;
			pthread_mutex_unlock(&streams_lock);
			return (int)n;
		}
		pthread_mutex_unlock(&streams_lock);
		AGENT_WORK(if (*fds)
				   mem_free(*fds, *cap * sizeof **fds);
			   *cap = n + 8;
			   *fds = mem_alloc(*cap * sizeof **fds));
		if (*fds == NULL)
			return -1;
	}
}

FILE *shell_popen(const char *cmd, const char *mode)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	bool rd = false, wr = false, cloexec = false;
	int pipe_fds[2], parent, child, target, *fds = NULL, nfds, r = 0;
	size_t cap = 0;
	posix_spawn_file_actions_t fa;
	struct stream *s = NULL;
	struct child_env ce;
	unsigned gen;
	FILE *fp;
	pid_t pid;

	for (const char *m = mode; *m; m++) {
		if (*m == 'r') {
			rd = true;
		} else if (*m == 'w') {
			wr = true;
		} else if (*m == 'e') {
			cloexec = true;
		} else {
			errno = EINVAL;
			return NULL;
		}
	}
	if (rd == wr) {
		errno = EINVAL;
		return NULL;
	}
	AGENT_WORK(s = mem_alloc(sizeof *s));
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (REAL(pipe2)(pipe_fds, O_CLOEXEC) < 0) {
		AGENT_WORK(mem_free(s, sizeof *s));
		return NULL;
	}
	parent = pipe_fds[rd ? 0 : 1];
	child = pipe_fds[rd ? 1 : 0];
	target = rd ? 1 : 0;
	if (child == target) {
		/* The child's end is already the fd it becomes: moved, so that
		 * the dup2 in the child clears its close-on-exec. */
		int moved = REAL(fcntl)(child, F_DUPFD_CLOEXEC, 0);

		if (moved < 0)
			goto failed;
		REAL(close)(child);
		child = moved;
	}
	child_env_make(&ce);
	for (;;) {
		unsigned now;

		nfds = streams_fds(&fds, &cap, &gen);
		r = nfds < 0 ? ENOMEM : posix_spawn_file_actions_init(&fa);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, child, target);
		for (int i = 0; r == 0 && i < nfds; i++)
			if (fds[i] != target)
				r = posix_spawn_file_actions_addclose(&fa, fds[i]);
		if (r != 0)
			break;
		agent_lock(&streams_lock);
		now = streams_gen;
		if (now == gen) {
			r = REAL(posix_spawn)(&pid, "/bin/sh", &fa, NULL, argv, child_env_get(&ce));
			if (r == 0) {
				s->pid = pid;
				s->fd = parent;
				s->fp = NULL;
				s->next = streams;
				streams = s;
				streams_gen++;
				__atomic_add_fetch(&shell_streams, 1, __ATOMIC_RELEASE);
			}
			pthread_mutex_unlock(&streams_lock);
			posix_spawn_file_actions_destroy(&fa);
			break;
		}
		pthread_mutex_unlock(&streams_lock);
		posix_spawn_file_actions_destroy(&fa);
	}
	child_env_free(&ce);
	if (fds)
		AGENT_WORK(mem_free(fds, cap * sizeof *fds));
	if (r != 0) {
		errno = r;
		goto failed;
	}
	REAL(close)(child);
	if (!cloexec)
		REAL(fcntl)(parent, F_SETFD, 0);
	fp = fdopen(parent, rd ? "r" : "w");
	agent_lock(&streams_lock);
	if (fp)
		s->fp = fp;
	pthread_mutex_unlock(&streams_lock);
	if (fp == NULL) {
		/* No FILE: the shell is reaped as pclose would. */
		int saved = errno;

		shell_stream_take_fd(parent);
		REAL(close)(parent);
		while (REAL(waitpid)(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = saved;
	}
	return fp;
failed:
	{
		int saved = errno;

		REAL(close)(child);
		REAL(close)(parent);
		AGENT_WORK(mem_free(s, sizeof *s));
		errno = saved;
	}
	return NULL;
}

/* Takes the stream out of the list; its shell's pid, or -1 when it is not
 * one of popen's. */
static pid_t take_where(FILE *fp, int fd)
{
	struct stream **p, *s = NULL;
	pid_t pid = -1;

	agent_lock(&streams_lock);
	for (p = &streams; *p; p = &(*p)->next)
		if ((fp && (*p)->fp == fp) || (!fp && (*p)->fd == fd)) {
			s = *p;
			*p = s->next;
			pid = s->pid;
			streams_gen++;
			__atomic_sub_fetch(&shell_streams, 1, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&streams_lock);
	if (s)
		AGENT_WORK(mem_free(s, sizeof *s));
	return pid;
}

pid_t shell_stream_take(FILE *fp)
{
	return take_where(fp, -1);
}

void shell_stream_take_fd(int fd)
{
	take_where(NULL, fd);
}

int shell_pclose(FILE *fp, pid_t pid)
{
	int status = 0, closed, r, state;

	if (agent_active())
		AGENT_WORK(flow_close(fileno(fp)));
	closed = REAL(fclose)(fp);
	/* Not a cancellation point in glibc: the shell is reaped whatever
	 * happens; a cancellation pending acts at the caller's next one. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	while ((r = (int)REAL(waitpid)(pid, &status, 0)) < 0 && errno == EINTR)
		;
	pthread_setcancelstate(state, NULL);
	/* glibc's: the shell's status, else the flush's failure. */
	return r < 0 ? -1 : status ? status : closed;
}

void shell_fork_child(void)
{
	static const pthread_mutex_t fresh = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

	pthread_mutex_init(&system_lock, NULL);
	streams_lock = fresh;
}
