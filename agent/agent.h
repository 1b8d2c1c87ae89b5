/*
 * agent.h - what every part of the agent shares: the export macro, the
 * switch that turns the agent off, and the per-thread block.
 *
 * Nothing here may call a function that a shim interposes; the agent reaches
 * libc only through the real_* pointers of shims/real.h.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define AGENT_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
/* For code that runs where a sanitizer runtime cannot follow yet: during
 * its own start-up, or first thing on a thread it has not seen start. */
#define AGENT_NOT_INSTRUMENTED __attribute__((no_sanitize("thread", "address", "undefined")))

/* The agent is only ever preloaded, so its TLS sits in the static block. */
#define AGENT_TLS __thread __attribute__((tls_model("initial-exec")))

struct ctx;
struct out_state;
struct ep_buf;

/* Per-thread state. Zero-initialised TLS is a valid idle thread. */
struct agent_thread {
	struct ctx *cur;          /* current context (owns a reference) or NULL */
	int depth;                /* > 0 while the agent works: hooks pass through */
	pid_t tid;                /* cached gettid(), 0 until first needed */
	struct out_state *out;    /* line assembly state, allocated on first use */
	struct ep_buf *ep;        /* buffered epoll events (one-at-a-time mode) */
	const void *cond_src;     /* the condvar `cur` came from, if it did, */
	const void *cond_mutex;   /* the mutex of that wait, */
	const struct ctx *cond_ctx; /* and which context that was */
	int in_signal;            /* > 0 inside the program's signal handler ... */
	const void *signal_frame; /* ... entered at this stack address */
};

extern AGENT_TLS struct agent_thread agent_self;

/* 1 while the agent is started and healthy; hooks pass straight through
 * otherwise. Written only by agent_start() and agent_fail(). */
extern int agent_on;
/* Set for good by agent_fail(). */
extern int agent_broken;

static inline bool agent_running(void)
{
	return __atomic_load_n(&agent_on, __ATOMIC_RELAXED);
}

/* Set in `depth` by the vfork trampoline (shims/vfork.S): until the parent
 * runs again, the child shares this memory and must not touch it. */
#define AGENT_VFORK_MARK 0x10000

/* depth was not 0: if only because of a vfork the parent is back from,
 * clears the mark. Returns true when the agent may work after all. */
bool agent_back_from_vfork(void);

/* True when a hook may do agent work on this thread now. */
static inline bool agent_active(void)
{
	return likely(agent_running()) &&
	       (likely(agent_self.depth == 0) || agent_back_from_vfork());
}

/* True in the child of a vfork, before it execs or exits. */
static inline bool agent_in_vfork_child(void)
{
	return (agent_self.depth & AGENT_VFORK_MARK) && !agent_back_from_vfork();
}

static inline void agent_enter(void) { agent_self.depth++; }
static inline void agent_leave(void) { agent_self.depth--; }

/* Switch the agent off for good: every hook passes through from now on.
 * `why` goes to the diagnostics file. Never exits, never aborts. */
void agent_fail(const char *why);

pid_t agent_tid(void);

/* The agent's own mutexes go straight to libc: the exported
 * pthread_mutex_lock is the agent's hook, and would be found first. */
#include <pthread.h>
int agent_lock(pthread_mutex_t *m);

/* A spin lock for a few loads and stores at most; never held across a
 * call that could block. */
static inline void spin_lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#else
			;
#endif
}

static inline void spin_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

#endif
