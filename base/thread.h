/*
 * thread.h - the per-thread block, the recursion guard and the switch
 * that turns the agent off. Depends on nothing but compiler.h.
 *
 * Nothing here may call a function that a shim interposes; the agent reaches
 * libc only through the real_* pointers of base/real.h.
 */
#ifndef BASE_THREAD_H
#define BASE_THREAD_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compiler.h"

struct ctx;
struct ep_buf;
struct chan;
struct relay_stash;

/* Bits of agent_thread.served. */
#define SERVED_YES 1u
#define SERVED_SEVERAL 2u
/* agent_thread.served_muted of a thread that serves (SERVED_YES only) and
 * is not muted. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SERVED_VOUCHED ((uint16_t)SERVED_YES)
#else
#define SERVED_VOUCHED ((uint16_t)(SERVED_YES << 8))
#endif
/* The ready fds of one wait agent_thread keeps (ready_fd). */
#define READY_KEPT 8
/* The takes agent_thread keeps (take_log); a power of two. Each entry
 * holds the low 15 bits of its take's number: an entry overwritten by a
 * take 32,768 takes later reads as its own. 4,096: a consumer that sleeps
 * while the loop's other tasks take thousands of items still finds its
 * take's log (256 before: a t_batch_drain consumer under load lost its,
 * t_batch_drain "crowd"). 8 KiB, made only in a thread that reports
 * takes (a runtime's loop thread). */
#define TAKES_KEPT 4096

/* Per-thread state. Zero-initialised TLS is a valid idle thread. */
struct agent_thread {
	struct ctx *cur;          /* current context (owns a reference) or NULL */
	union {
		struct {
			int depth;        /* > 0 while the agent works: hooks pass through */
			bool held_line;   /* it holds a partial line of output (agent/out.c,
			                     out_holding): a read must not wait with it */
			unsigned char gate_zero[3]; /* never written */
		};
		uint64_t read_gate;       /* both in one load: zero when a read may
		                             take the quick way (shims/shim.h) */
	};
	pid_t tid;                /* cached gettid(), 0 until first needed */
	struct ep_buf *ep;        /* buffered epoll events (one-at-a-time mode) */
	struct chan *chan_write;  /* a write recorded in it is in flight (a reference;
	                             agent/flow.c, flow_write_done) */
	unsigned outputs;         /* writes to tagged outputs, and buffered chunks
	                             reported (reqctx_api_progress) */
	unsigned entered;         /* snapshots entered through the API (the same) */
	unsigned entered_outputs; /* `outputs` at the last of them */
	unsigned takes;           /* a runtime's queue takes reported
	                             (reqctx_api_took) */
	unsigned take_open;       /* the last of them, until the thread writes
	                             or enters a snapshot; 0 none */
	uint16_t *take_log;       /* TAKES_KEPT entries, made at the thread's
	                             first take (take_report; NULL before, or
	                             without memory); each take, by number: its number
	                             (15 bits) << 1 | 1 if the thread wrote
	                             after it in its step (outputs_count) */
	struct chan *chan_held;   /* the channel the thread used last, a reference
	                             kept between calls (chan_put; ctxmap/chan.h) */
	const void *cond_src;     /* the condvar `cur` came from, if it did, */
	const void *cond_mutex;   /* the mutex of that wait, */
	const struct ctx *cond_ctx; /* and which context that was */
	const struct ctx *inherited; /* the creator's context, while it lasts */
	const struct ctx *closed; /* current, and its connection closed by us */
	unsigned char lock_watch; /* a mutex lock may end `cur` (agent/handoff.h,
	                             LOCK_WATCH_*) */
	const void *last_lock;    /* the mutex it locked last (the lock shim) */
	bool born_in_request;     /* created with a context (a pool's thread) */
	bool pop_next;            /* a channel's read switched it into a job: the next lock
	                             is the one that takes it from its queue ... */
	const void *pop_mutex;    /* ... this one (kept across switches; agent/handoff.c, rule 8) */
	bool draining;            /* took a merged wake-up; until it waits again */
	bool draining_several;    /* ... of several writes (not one write of a
	                             writer not known) */
	bool job_quiet;           /* a job read from channel job_chan is its context
	                             or piles up, and the thread wrote nothing, handed
	                             nothing on and wrote no line (outputs still
	                             job_outputs) since (agent/flow.c, jobs_piling) */
	const struct chan *job_chan;
	unsigned job_outputs;
	const void *drain_chan;   /* the channel of that wake-up (agent/flow.c) */
	const bool *chan_mark;    /* `cur` came from a channel's read: that
				     channel's mark of wake-ups several threads
				     read (chan_shared_mark), until the next
				     switch; once set, lines carry nothing
				     (ctx_carried) */
	bool unvouched;           /* an event loop of a runtime without its bridge */
	bool accepted;            /* it accepted a connection ... */
	union {
		struct {
			unsigned char served;  /* ... and read or wrote a client
			                          connection (SERVED_YES);
			                          SERVED_SEVERAL: its last wait gave
			                          several fds at once (poll, select, a
			                          batch-mode epoll_wait): once it is done
			                          with a connection, what it logs is as
			                          likely the next fd's as that one's
			                          (agent/flow.c); until its next wait ... */
			bool muted;            /* `cur` no longer vouches for lines: they
			                          carry nothing until a switch or the
			                          thread's next I/O on a client or
			                          outbound connection (flow_vouched;
			                          agent/out.c) */
		};
		uint16_t served_muted;    /* both, so that a write's quick test of
		                             them is one compare (SERVED_VOUCHED) */
	};
	unsigned char weak;          /* what `cur` last rests on, if weak: 1 an event
	                             handed out (no I/O since), 2 an outbound
	                             socket's tag (agent/flow.c, flow_connect) */
	const struct ctx *waits_in; /* current, kept across a wait inside it */
	const struct ctx *pinned; /* current, and entered through the API (reqctx_api_enter) */
	bool pin_inherited;       /* `pinned` is a new thread's creator's context, given
	                             by a runtime's bridge at the thread's start: a read
	                             of a channel (taking work from elsewhere) ends it */
	unsigned long inherit_begun; /* ctx_begun when `pinned` (pin_inherited) or
	                                `inherited` was given (handoff_slept) */
	bool polled;              /* it kept that creator's context across a sleep
	                             (no other request had begun): it carries it
	                             only while none has (ctx_carried) */
	bool fork_inherited;      /* `inherited` is what a bridge had pinned in the
	                             parent of this forked child (handoff_forked),
	                             until its first wait, sleep or channel read
	                             ends it (flow_wait_begins) */
	bool entered_none;        /* no context, and that entered through the API: the
	                             program says the thread serves no request now */
	/* What each enter through the API (ctx_enter_pinned) found, for the
	 * leave that goes back to it (ctx_leave): the context current
	 * before, its pin and the marks a switch clears (ctx_forget_marks).
	 * Emptied at every other switch. */
	struct ctx_marks {
		const struct ctx *prev, *pinned, *inherited, *closed, *cond_ctx, *waits_in;
		const bool *chan_mark;
		unsigned long inherit_begun;
		bool pin_inherited, entered_none, muted, polled;
		unsigned char lock_watch, weak;
	} pin_saved[4];
	unsigned char pin_depth;
	struct relay_stash *relay_stash; /* lines taken from relayed pipes (agent/relay.c) */
	unsigned switches;        /* counts assignments of `cur` (base/ctx.c; wraps) */
	const struct ctx *head_read; /* the request whose head it read last, with
	                             nothing written or connected since (no
	                             reference: compared only; agent/flow.c) ... */
	int head_fd;              /* ... on this client connection */
	bool batched;             /* it read the heads of two requests with no
	                             output between: until its next wait or
	                             event, which one it works for is not known */
	unsigned char ready_n;    /* ... how many fds it gave, */
	int ready_fd[READY_KEPT]; /* ... which (-1 once the thread was done
	                             with each) ... */
	int ready_left;           /* ... and how many of them are left (INT_MAX:
	                             not known, or too many to keep) */
	int peer_took;            /* `cur` was taken from outbound connection fd
	                             peer_took - 1 by a write with none (agent/flow.c;
	                             0: no) ... */
	unsigned peer_took_at;    /* ... and `switches` right after */
	int peer_read;            /* `cur` was taken from outbound connection fd
	                             peer_read - 1 by a read of its reply (0: no) ... */
	unsigned peer_read_at;    /* ... and `switches` right after */
	int answer_fd;            /* the client connection fd answer_fd - 1 was the last
	                             this thread wrote an answer on (agent/flow.c,
	                             answer_mutes; 0: none) ... */
	unsigned answer_fd_at;    /* ... and `switches` right after */
	bool reads_heads;         /* it read a request's head once (agent/flow.c) */
	const struct chan *chan_took; /* the channel whose read or wake-up made `cur` ... */
	unsigned chan_took_at;    /* ... current, and `switches` right after (agent/flow.c) */
	bool mid_none;            /* it was left with none in the middle of a request of its
	                             own (another request's job taken from a channel,
	                             another connection looked at) ... */
	unsigned mid_none_at;     /* ... and `switches` right after (agent/flow.c, flow_watch) */
	bool event_loop;          /* an epoll or poll event was handed out to it once */
	int event_fd;             /* the fd of the last epoll or poll event handed out ... */
	unsigned event_at;        /* ... and `switches` right after it (agent/flow.c) */
	bool bridge_loop;         /* a runtime's bridge drives this thread's event loop */
	int in_signal;            /* > 0 inside the program's signal handler ... */
	const void *signal_frame; /* ... entered at this stack address */
	unsigned signals;         /* program handlers run on this thread (wraps) */
};

extern AGENT_HIDDEN AGENT_TLS struct agent_thread agent_self;

/* 1 while the agent is started and healthy; hooks pass straight through
 * otherwise. Written only by agent_start() and agent_fail(). */
extern AGENT_HIDDEN int agent_on;
/* Set for good by agent_fail(), with the first reason given. */
extern int agent_broken;
extern const char *agent_broken_why;

/* base/copy.c: 1 in the process that armed it, 0 in a copy of it made
 * without fork() (the kernel wipes the page). */
extern AGENT_HIDDEN volatile char *agent_armed;
/* Sets the copy page to the agent's state (1 on, 0 off): agent_start(),
 * agent_fail() and the fork child call it. */
void agent_copy_rearm(void);
/* Maps the page; `on_copy` does the resets (shims/start.c). */
void agent_copy_watch(void (*on_copy)(void));

/* Not 1 in the copy page: off, not started, or a copy (base/copy.c). */
bool agent_running_slow(void);

/* One load and compare: the copy page holds 1 exactly while the agent is
 * on in this process (base/copy.c). */
static inline bool agent_running(void)
{
	return likely(*agent_armed == 1) || agent_running_slow();
}

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

/* A write to a tagged output, or a buffered chunk reported: counted for
 * reqctx_api_progress, and the take it follows in the same step, if any,
 * is marked written about (reqctx_api_wrote_after). */
static inline void outputs_count(void)
{
	agent_self.outputs++;
	if (unlikely(agent_self.take_open)) {
		agent_self.take_log[agent_self.take_open & (TAKES_KEPT - 1)] |= 1;
		agent_self.take_open = 0;
	}
}

/* A snapshot entered through the API: a step of a runtime's task begins
 * (reqctx_api_progress); the thread's last take is no longer open. */
static inline void step_entered(void)
{
	agent_self.entered++;
	agent_self.entered_outputs = agent_self.outputs;
	agent_self.take_open = 0;
}

/* Makes the calling thread's take log (zeroed: no entry names a take).
 * False without memory. take_log_free() gives it back (the thread ends). */
bool take_log_make(void);
void take_log_free(void);

/* A runtime's queue take by the task now running (reqctx_api_took): its
 * token, the step's number << 32 | the take's number (31 bits, never 0). */
static inline unsigned long long take_report(void)
{
	unsigned t = ++agent_self.takes & 0x7fffffffu;

	if (t == 0)
		t = agent_self.takes = 1;
	if (unlikely(agent_self.take_log == NULL) && !take_log_make()) {
		agent_self.take_open = 0;     /* not logged: asked, -1 */
		return (unsigned long long)agent_self.entered << 32 | t;
	}
	agent_self.take_log[t & (TAKES_KEPT - 1)] = (uint16_t)(t << 1);
	agent_self.take_open = t;
	return (unsigned long long)agent_self.entered << 32 | t;
}

/* Whether the thread wrote after the take `take` (a token of
 * take_report) in its step, or in the step now running if that is a
 * later one: 1, 0, or -1 when the take's log was overwritten (TAKES_KEPT
 * takes since) or `take` is no token (reqctx_api_wrote_after). */
static inline int take_wrote_after(unsigned long long take)
{
	unsigned t = (unsigned)take & 0x7fffffffu, logged;

	if (t == 0)
		return -1;
	/* This step wrote, and it is not the take's: the task running it
	 * did (a later step of the taker's). */
	if ((unsigned)(take >> 32) != agent_self.entered &&
	    agent_self.outputs != agent_self.entered_outputs)
		return 1;
	if (agent_self.take_log == NULL)
		return -1;
	logged = agent_self.take_log[t & (TAKES_KEPT - 1)];
	if (logged >> 1 != (t & 0x7fffu))
		return -1;
	return (int)(logged & 1);
}

static inline void agent_enter(void) { agent_self.depth++; }
static inline void agent_leave(void) { agent_self.depth--; }

/* Runs `work` as agent code: the guard held, errno kept for the host (a
 * shim's report to the core, or a core rule run inline in a shim). */
#define AGENT_WORK(work) do { \
		int agent_errno_ = errno; \
		agent_enter(); \
		work; \
		agent_leave(); \
		errno = agent_errno_; \
	} while (0)

/* Agent work that provably leaves errno alone: only the guard. */
#define AGENT_WORK_FAST(work) do { \
		agent_enter(); \
		work; \
		agent_leave(); \
	} while (0)

/* Switch the agent off for good: every hook passes through from now on.
 * `why` goes to the diagnostics file (REQCTX_DEBUG), never to the host's
 * stderr. Never exits, never aborts. */
void agent_fail(const char *why);

pid_t agent_tid(void);

/* The process id, cached at start-up and after fork. */
extern pid_t agent_pid;

/* Set (atomic, never cleared) once the program called pthread_create:
 * from then on another thread may have put bytes anywhere the agent did
 * not see them put (a stream's buffer: shims/stdio.c). */
extern bool agent_threads_made;

#endif
