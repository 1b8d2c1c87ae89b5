/*
 * reqctx.h - explicit request-context operations, for what the agent
 * cannot see at the libc boundary: user-space timer heaps, lock-free
 * queues, coroutine schedulers. The C counterparts of AsyncLocalStorage's
 * getStore(), snapshot(), run() and enterWith().
 *
 * Header only. The functions are weak references to the agent
 * (libreqctx.so): a program built with this header links and runs without
 * the agent - every call then returns NULL or does nothing, at the cost of
 * one test of a null pointer - and uses the agent's context when it is
 * preloaded.
 *
 *     reqctx_snapshot_t s = reqctx_snapshot();   // when the work is queued
 *     ...
 *     reqctx_run(s, callback, arg);              // when it runs, maybe elsewhere
 *     reqctx_release(s);
 */
#ifndef REQCTX_H
#define REQCTX_H

#ifdef __cplusplus
extern "C" {
#endif

/* A captured context. NULL stands for "no context". */
typedef struct reqctx_snapshot *reqctx_snapshot_t;

extern const char *reqctx_api_id(void) __attribute__((weak));
extern reqctx_snapshot_t reqctx_api_snapshot(void) __attribute__((weak));
extern reqctx_snapshot_t reqctx_api_enter(reqctx_snapshot_t) __attribute__((weak));
extern void reqctx_api_leave(reqctx_snapshot_t) __attribute__((weak));
extern void reqctx_api_release(reqctx_snapshot_t) __attribute__((weak));
/* For runtime bridges (bridges/): the bridge is loaded and drives the
 * context from now on. Until it is called, in node, python and ruby, an
 * epoll loop's lines carry no prefix (docs/design.md, "Runtime bridges"). */
extern void reqctx_api_bridge_ready(void) __attribute__((weak));
/* For runtime bridges: a hook could not be put in; the process goes back,
 * for good, to the state before reqctx_api_bridge_ready() (its epoll
 * loops' lines carry no prefix). */
extern void reqctx_api_bridge_failed(void) __attribute__((weak));
extern void reqctx_api_bridge_loop(int on) __attribute__((weak));
/* For a bridge that enters a context only around the calls that need it
 * (Node's): on = 1, the calling thread's current context is the bridge's,
 * vouched for even on an event loop no bridge reported ready for; on = 0,
 * not vouched for. Returns the state it replaced (1: vouched), to be
 * passed back when the bracket closes. */
extern int reqctx_api_bridge_vouch(int on) __attribute__((weak));
/* For runtime bridges: reqctx_api_enter for a new thread's first context,
 * its creator's (a thread started inside a request). The same, except
 * that the thread's first read of a pipe or socketpair ends it, and so
 * do a semaphore's unit from elsewhere and a sleep once the request was
 * answered or another began (reqctx_api_slept; docs/api.md): a worker
 * started lazily by one request takes later requests' work from there. */
extern reqctx_snapshot_t reqctx_api_enter_inherited(reqctx_snapshot_t) __attribute__((weak));
extern reqctx_snapshot_t reqctx_api_fd_snapshot(int) __attribute__((weak));
/* For runtime bridges: 1 when snapshot s names a request still being
 * served (its client connection open, carrying it, not answered yet), 2
 * when it does and nothing of it has been read yet (the context accept
 * made for the connection), else 0 (also for 0, a context made for no
 * connection, or without the agent). A green thread that kept s while it waited is still working on
 * that request only then: a consumer that served s and took the next job
 * without a read is not. */
extern int reqctx_api_live(reqctx_snapshot_t s) __attribute__((weak));
/* For runtime bridges: the calling thread woke from a sleep the runtime
 * made without a system call the agent reads as one (Ruby's sleep, a
 * timed wait on its thread's condvar). Where the thread is still on the
 * context reqctx_api_enter_inherited gave it, that ends as at a
 * nanosleep: once its request was answered or another context was made
 * in the process since. Returns 1 when it ended, else 0 (also without
 * the agent). */
extern int reqctx_api_slept(void) __attribute__((weak));
extern void reqctx_api_buffered(int, const void *, unsigned long) __attribute__((weak));
/* For runtime bridges: the calling thread's progress, two counts that
 * wrap: the high 32 bits count the snapshots it entered
 * (reqctx_api_enter, reqctx_api_enter_inherited: a runtime's task step
 * begins), the low 32 bits its writes to tagged outputs since the last of
 * them (stderr, a tagged log; each chunk reported by reqctx_api_buffered
 * too). Two values say whether a step began between them and, within one
 * step, whether the thread wrote (docs/api.md: a queue consumer that
 * takes a second item before it wrote anything about the first holds a
 * batch, no one request's work). 0 without the agent. */
extern unsigned long long reqctx_api_progress(void) __attribute__((weak));
/* For runtime bridges: a queue take by the running task of the calling
 * thread, reported after the task entered the snapshot it holds for the
 * item. Returns the take's token, never 0 with the agent (0 without). */
extern unsigned long long reqctx_api_took(void) __attribute__((weak));
/* Whether the calling thread wrote to a tagged output after the take
 * `take` (a token reqctx_api_took gave) in that take's step, or in the
 * step now running (a later step of the same task; the steps between
 * are other tasks'). 1 yes, 0 no, -1 unknown: more than 255 takes were
 * reported since (their log is no longer kept), or `take` is 0. A task
 * that took an item, wrote about it and awaited has written since that
 * take; one that drained several items before writing has not (the
 * batch rule, docs/api.md). */
extern int reqctx_api_wrote_after(unsigned long long take) __attribute__((weak));
/* For runtime bridges: the calling thread made a line it hands to someone
 * else to write (a logging record put on a queue for a listener thread,
 * or kept in a buffering handler): it counts as a write for
 * reqctx_api_progress and reqctx_api_wrote_after, as the line itself
 * would if written then. Nothing without the agent. */
extern void reqctx_api_wrote(void) __attribute__((weak));

/* The current request ID, or NULL without a context (or without the agent).
 * Valid until this thread's context changes. */
static inline const char *reqctx_id(void)
{
	return reqctx_api_id ? reqctx_api_id() : (const char *)0;
}

/* A handle on the current context (NULL if none); release it when done. */
static inline reqctx_snapshot_t reqctx_snapshot(void)
{
	return reqctx_api_snapshot ? reqctx_api_snapshot() : (reqctx_snapshot_t)0;
}

/* Makes `s` current on this thread (NULL: no context) and returns what was
 * current before, to be handed to reqctx_leave(). `s` stays the caller's. */
static inline reqctx_snapshot_t reqctx_enter(reqctx_snapshot_t s)
{
	return reqctx_api_enter ? reqctx_api_enter(s) : (reqctx_snapshot_t)0;
}

/* Restores what reqctx_enter() returned (and consumes it). */
static inline void reqctx_leave(reqctx_snapshot_t prev)
{
	if (reqctx_api_leave)
		reqctx_api_leave(prev);
}

/* Runs fn(arg) with `s` current, then restores the previous context. */
static inline void *reqctx_run(reqctx_snapshot_t s, void *(*fn)(void *), void *arg)
{
	reqctx_snapshot_t prev = reqctx_enter(s);
	void *r = fn(arg);

	reqctx_leave(prev);
	return r;
}

/* A handle on the context the connection `fd` carries: the request whose
 * bytes were read from it last (NULL if it carries none, or for an fd
 * that is no connection). Where a runtime hands a request to the code that
 * serves it, this names the request even after the thread's own context
 * moved on. */
static inline reqctx_snapshot_t reqctx_fd_snapshot(int fd)
{
	return reqctx_api_fd_snapshot ? reqctx_api_fd_snapshot(fd) : (reqctx_snapshot_t)0;
}

/* For a runtime or library that keeps its own user-space buffer for an fd
 * and lets any thread write it out (CPython's io.BufferedWriter): the
 * calling thread is about to put the n bytes at buf into the buffer of
 * fd. Each line that starts in them then carries this thread's current
 * context when whichever thread writes it out, instead of the writing
 * thread's. Call it before the bytes go in, once per chunk; a fd that is
 * not a log (or no agent) makes it do nothing. buf NULL: the chunk last
 * reported did not go in after all (the write failed); its report is
 * dropped. */
static inline void reqctx_buffered(int fd, const void *buf, unsigned long n)
{
	if (reqctx_api_buffered)
		reqctx_api_buffered(fd, buf, n);
}

/* Releases a snapshot. NULL is fine. */
static inline void reqctx_release(reqctx_snapshot_t s)
{
	if (reqctx_api_release)
		reqctx_api_release(s);
}

#ifdef __cplusplus
}
#endif

#endif
