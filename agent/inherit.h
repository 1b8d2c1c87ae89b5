/*
 * inherit.h - a request's context across exec: the parent writes the
 * current context into the child's environment (REQCTX_PARENT), the
 * child's agent starts its main thread in it. With REQCTX_CHILDREN=0,
 * children get neither the context nor the agent (it is taken out of
 * their LD_PRELOAD).
 */
#ifndef AGENT_INHERIT_H
#define AGENT_INHERIT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/thread.h"

#define INHERIT_VAR "REQCTX_PARENT"
#define INHERIT_MAX 256          /* bytes of "REQCTX_PARENT=id;trace;flags;span;dev:ino[:dev:ino]" */
/* The trace's tracestate, with a REQCTX_PARENT that names a trace. */
#define INHERIT_STATE_VAR "REQCTX_PARENT_STATE"
#define INHERIT_STATE_MAX (sizeof INHERIT_STATE_VAR + 512 + 1)

/* Entries the child's environment needs at most (for a stack array). */
size_t inherit_env_slots(char *const *env);

/* Bytes of scratch inherit_env() needs for strings. */
size_t inherit_scratch_size(char *const *env);

/* In the constructor: copies the REQCTX_* settings of `env` (the start
 * environment) for children whose environment is rebuilt (inherit_env). */
void inherit_keep_settings(char *const *env);

/*
 * Fills out[] (inherit_env_slots() entries) with the child's environment:
 * `env` less any REQCTX_PARENT, plus the current context's; where `env`
 * has no LD_PRELOAD at all (rebuilt: env -i, a CGI environment), also
 * LD_PRELOAD naming this agent and the start's REQCTX_* settings it lacks;
 * with REQCTX_CHILDREN=0, LD_PRELOAD without this agent and no context.
 * Strings it makes go to scratch. Never allocates: safe after vfork.
 */
void inherit_env(char *const *env, char **out, char *scratch);

/* chroot() succeeded: from now on each exec checks that the child can
 * reach the agent's library, and leaves the agent out where it cannot. */
void inherit_root_changed(void);

/* In the constructor: adopts REQCTX_PARENT (as config_load() read it into
 * agent_config->parent, if valid) as the main thread's context, and removes
 * the variable from the environment. */
void inherit_adopt(void);

/* The context this process was started in (through REQCTX_PARENT), until
 * it starts requests of its own: a thread that goes idle (poll, select,
 * epoll_wait) returns to it instead of to none. NULL otherwise. */
extern struct ctx *inherit_home;

/* The last epoll instance a thread whose event loop a bridge drives made,
 * while inherit_home is set (-1: none): the bridge took the thread's
 * loop, already made, so this is a synchronous call's own loop (Node's
 * child_process.execSync and spawnSync run one), whose waits are inside
 * the code that made the call (inherit_nested_loop). */
extern int inherit_nested_epfd;

/* `epfd` was just made by epoll_create/epoll_create1. */
void inherit_epoll_created(int epfd);

/* Whether a wait on `epfd` is a nested loop's (inherit_nested_epfd) in
 * a process started inside a request. A loop no bridge vouches for
 * (Node's, whose bridge never reports ready) stays vouched for across
 * such a wait (agent/dispatch.h): its lines after an execSync carried
 * none. Its own loop's waits still leave it unvouched: a process started
 * inside a request may serve later requests' work from its loop (a
 * daemon fed through a FIFO, polling its parent, watching a file), and
 * the first request's ID on those lines would be wrong. */
static inline bool inherit_nested_loop(int epfd)
{
	/* the loop thread's own: a number another thread's loop reuses once
	 * that instance is closed is no nested loop */
	return inherit_home != NULL && agent_self.bridge_loop &&
	       epfd == __atomic_load_n(&inherit_nested_epfd, __ATOMIC_RELAXED);
}

/* 1 while inherit_home is set and the process's stdin was, at its start,
 * a pipe or a socket, and the process is no CGI program (whose stdin is
 * its request's body): a helper the request started, which later
 * requests may feed there. Its reads of fd 0 are watched
 * (inherit_stdin_read). */
extern int inherit_fed;

/* The highest fd whose reads are the fed helper's stdin (inherit_fed):
 * fd 0, and the copies of it the process makes (dup, dup2, dup3,
 * F_DUPFD, an open of /dev/stdin, /dev/fd/0 or /proc/self/fd/0), among
 * fds 0-63; -1 when there are none (not fed, or no longer). A read's quick
 * path compares the fd with it; inherit_stdin_fd() tells exactly. */
extern int inherit_stdin_top;

static inline bool inherit_stdin_fd(int fd)
{
	extern uint64_t inherit_stdin_fds;

	return (unsigned)fd < 64 && (__atomic_load_n(&inherit_stdin_fds, __ATOMIC_RELAXED) >> fd & 1);
}

/* The fd-table events that make an fd a copy of the stdin or end one:
 * `to` now holds what `from` holds (a copy of a stdin's fd is one too);
 * `fd` was opened by `path` (one naming the process's stdin is one); `fd`
 * holds something new or nothing. Cheap unless inherit_stdin_top >= 0. */
void inherit_stdin_copied(int from, int to);
void inherit_stdin_opened(int fd, const char *path);
void inherit_stdin_gone(int fd);

/* A fork child of a fed helper: another reader of its stdin, beside the
 * parent or a sibling, whose first job may be anyone's: its first read of
 * the stdin ends the inherited request (inherit_stdin_read; a prefork
 * helper's second worker wrote its first job under the first request's
 * ID before, a trial). */
void inherit_fork_child(void);
/* The calling thread started a child (a fork's parent, or an exec's or
 * spawn's environment made): for the stdin rule that is work on the job
 * it read last, as a line written is (inherit_stdin_read). */
void inherit_child_started(void);

/* The calling thread read bytes from fd 0 while inherit_fed. A read
 * after the thread wrote a line since its last read of fd 0 is later
 * work, whose request is not known: the inherited request ends for the
 * process (inherit_own_requests), and the thread carries none. */
void inherit_stdin_read(void);
/* The process accepted a connection or read a request head: from now on
 * it serves requests of its own, and idle means no context. */
void inherit_own_requests(void);

#endif
