/*
 * ctx.h - the request context: what a line is tagged with, and which one
 * is current on each thread.
 *
 * A context is reference-counted. Each fd tag, each thread's current
 * pointer and each pending hand-off owns one reference. Contexts come from
 * a type-stable pool (their memory is never returned), which is what lets
 * ctx_tryget() take a reference on a context read from a shared slot
 * without a lock.
 */
#ifndef AGENT_CTX_H
#define AGENT_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "base/lock.h"
#include "base/thread.h"

#define CTX_ID_MAX 128
#define CTX_FIELDS 8             /* REQCTX_FIELDS entries at most */
#define CTX_FIELD_MAX 64         /* bytes of one field's value */

enum ctx_origin { CTX_GENERATED, CTX_ADOPTED };

/* What a line names: never modified once published (ctx_name()). */
struct ctx_name {
	uint8_t id_len;
	uint8_t origin;              /* enum ctx_origin of the request ID */
	uint8_t trace_flags;
	char id[CTX_ID_MAX + 1];     /* request ID, NUL-terminated, already safe */
	char trace_id[33];           /* 32 lowercase hex */
	char parent_id[17];          /* the caller's span (traceparent), or "" */
	uint8_t field_len[CTX_FIELDS]; /* 0: field not set */
	char field[CTX_FIELDS][CTX_FIELD_MAX + 1]; /* sanitised, NUL-terminated */
	/* The trace's W3C tracestate, valid, NUL-terminated (agent/http.h),
	 * the name's own copy from the agent's allocator; NULL: none. */
	const char *tracestate;
	uint16_t tracestate_len;
};

struct ctx {
	unsigned refs;               /* atomic; 0 while in the pool */
	/* atomic; &names[0] from ctx_new, &names[1] once the request's head
	 * named it (ctx_adopt): a context is named at most twice. */
	const struct ctx_name *name;
	struct ctx_name names[2];
	char span_id[17];            /* 16 lowercase hex: this request's own span;
	                                never the same for two contexts of a
	                                process (base/id.c), which the line
	                                writer's kept head relies on (agent/out.c);
	                                the one a process starts in through exec
	                                has its parent's, which this process's
	                                own equal only by a 2^-64 chance */
	char peer[56];               /* "addr:port" of the client, or "" */
	int conn_fd;                 /* the client connection it was made for, or -1 */
	/* atomic; 1: made for a connection of a protocol the agent does not
	 * parse (agent/conn.c): a session's, not one request's */
	uint8_t session;
	/* Started by a datagram: its sender, as agent/dgram.c keys it (0
	 * bytes: not a datagram's). */
	uint8_t dgram_peer_len;
	uint8_t dgram_peer[24];
	struct ctx *next_free;
};

/* What a new context is made from. NULL/0 fields are generated. */
struct ctx_seed {
	const char *id;              /* validated request ID or NULL */
	size_t id_len;
	const char *trace_id;        /* 32 lowercase hex or NULL */
	uint8_t trace_flags;
	const char *peer;            /* copied; may be NULL */
	const char *parent_id;       /* 16 lowercase hex or NULL */
	/* 16 lowercase hex, or NULL: a new one. Given only for the context
	 * a process starts in through exec (agent/inherit.c): the request's
	 * own span, in the process that serves it. */
	const char *span_id;
	const char *tracestate;      /* with trace_id: valid tracestate, copied; or NULL */
	size_t tracestate_len;
	/* Field values (already sanitised), copied; NULL entries are unset. */
	const char *field[CTX_FIELDS];
	uint8_t field_len[CTX_FIELDS];
};

/*
 * Which traces are sampled: bit 0 of the W3C trace-flags ("sampled",
 * W3C Trace Context, 3.2.2.5), set from OTEL_TRACES_SAMPLER by the agent's
 * start (agent/config.h). A trace a new context starts is sampled when
 * the lower 8 bytes of its ID, read as a big-endian number with the top
 * bit cleared, are below `root_bound` (UINT64_MAX: every trace; 0: none;
 * the comparison the OpenTelemetry SDKs for Java and .NET make for a
 * TraceIdRatioBased sampler). A trace adopted from a caller keeps the
 * caller's decision when `parent_based`, else is decided the same way.
 * Default: parent-based, every trace this process starts sampled.
 */
struct ctx_sampling {
	bool parent_based;
	uint64_t root_bound;
};
extern AGENT_HIDDEN struct ctx_sampling ctx_sampling;

/* The sampled bit for trace ID `trace_id` (32 lowercase hex) by
 * ctx_sampling's root rule: 1 or 0. */
uint8_t ctx_sample(const char *trace_id);

/* A new context with one reference owned by the caller, or NULL when memory
 * is exhausted (the caller then simply carries no context). */
struct ctx *ctx_new(const struct ctx_seed *seed);

/* The context's name: its request ID and trace. Read it once per use: a
 * context made at accept may be renamed by its request's head on another
 * thread, and both names stay intact while the caller holds a reference. */
static inline const struct ctx_name *ctx_name(const struct ctx *c)
{
	return __atomic_load_n(&c->name, __ATOMIC_ACQUIRE);
}

/* The request's own head named `c` (made at accept, with a generated ID):
 * the IDs of `seed` (id and/or trace_id; the rest kept) become its name
 * everywhere it is held - fd slots, threads, queued hand-offs, snapshots -
 * so the generated name is never written again. Once per context: false
 * (nothing changed) when it was already renamed. */
bool ctx_adopt(struct ctx *c, const struct ctx_seed *seed);

/* A reference more (c not NULL; one instruction, inline). */
static inline void ctx_get(struct ctx *c)
{
	__atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
}

/* Takes a reference unless the count already dropped to zero. */
bool ctx_tryget(struct ctx *c);
void ctx_put(struct ctx *c);

/* Contexts made so far in this process (ctx_new), and first requests
 * begun on a connection's context made at its accept (ctx_note_begun)
 * (relaxed, wraps): a thread compares two readings to learn whether any
 * other request began between them (agent/handoff.c, handoff_slept).
 * Counting contexts alone missed the first request of a connection
 * accepted before the reading: a flusher the first request of four
 * keep-alive clients started kept that request across its sleeps while
 * the other three clients' first requests queued their jobs for it (1 to
 * 3 of 40 lines with the starter's ID, a loaded machine). */
extern AGENT_HIDDEN unsigned long ctx_begun;

static inline void ctx_note_begun(void)
{
	__atomic_fetch_add(&ctx_begun, 1, __ATOMIC_RELAXED);
}

/* Live contexts (for the tests and the diagnostics). */
long ctx_live(void);

/* The reading a thread given its creator's context keeps
 * (agent_self.inherit_begun): ctx_begun, or one less while any other
 * context is live, so that the thread's first sleep ends what it was
 * given (handoff_slept_rules). Another request in progress when the
 * thread starts may feed it as well as one begun later: a flusher the
 * first of four concurrent requests started took the three others' jobs
 * at its first wake-up, their heads read before it started (1 to 3 of 40
 * lines with the starter's ID). Other contexts live (an answered
 * request's, still referenced) only make this end early: none, never
 * wrong. */
static inline unsigned long ctx_begun_mark(void)
{
	unsigned long b = __atomic_load_n(&ctx_begun, __ATOMIC_RELAXED);

	return ctx_live() > 1 ? b - 1 : b;
}

/* True once any context was made in this process (or in JSON mode, from
 * the start): until then stderr passes through untouched. */
extern AGENT_HIDDEN int ctx_any;

static inline bool ctx_seen(void)
{
	return __atomic_load_n(&ctx_any, __ATOMIC_RELAXED);
}

static inline struct ctx *ctx_current(void) { return agent_self.cur; }

/* A thread that kept its creator's context across a sleep, because no
 * other request had begun since it was given (agent/handoff.c, rule 3),
 * once one has: what it does now may be that request's (a flusher the
 * first request started wakes, finds that request alone, and drains what
 * a request begun after its check queued: a test's, 2 of 40 lines with
 * the starter's ID). The context stays current, and the next sleep ends
 * it; nothing it writes or hands on carries it meanwhile. */
static inline bool ctx_poll_stale(void)
{
	return unlikely(agent_self.polled) &&
	       __atomic_load_n(&ctx_begun, __ATOMIC_RELAXED) != agent_self.inherit_begun;
}

/* The context what the thread starts or hands on now takes with it: the
 * current one, or none while its lines carry none: muted, or an event loop
 * of a runtime whose bridge is not in (unvouched: the loop's native
 * context is whichever connection it served last, not the code running). */
static inline bool ctx_unvouched(void)
{
	return unlikely(agent_self.muted | agent_self.unvouched);
}

static inline struct ctx *ctx_carried(void)
{
	if (ctx_unvouched() || ctx_poll_stale())
		return NULL;
	/* Taken from a channel whose wake-ups (counts, bytes that never
	 * vary) several threads read by now: which job the thread took from
	 * the program's queue after its read is not known (a pool's first
	 * reads, before its second reader showed). */
	if (unlikely(agent_self.chan_mark != NULL) &&
	    __atomic_load_n(agent_self.chan_mark, __ATOMIC_RELAXED))
		return NULL;
	return agent_self.cur;
}

/* What the hand-off rules remember about the thread's current context holds
 * only while it has that context: a pointer compared later could be a new
 * context from the pool at the same address. Called at every switch. */
static inline void ctx_forget_marks(void)
{
	agent_self.pinned = NULL;
	agent_self.entered_none = false;
	agent_self.pin_depth = 0;
	agent_self.inherited = NULL;
	agent_self.closed = NULL;
	agent_self.lock_watch = 0;
	agent_self.cond_ctx = NULL;
	agent_self.waits_in = NULL;
	agent_self.weak = 0;
	agent_self.muted = false;
	agent_self.chan_mark = NULL;
	agent_self.polled = false;
}

/* The marks ctx_forget_marks() clears, and the pin, into m (m->prev: the
 * context current) and back: an enter through the API and its leave
 * (base/ctx.c). */
static inline void ctx_marks_save(struct ctx_marks *m)
{
	m->prev = agent_self.cur;
	m->pinned = agent_self.pinned;
	m->pin_inherited = agent_self.pin_inherited;
	m->entered_none = agent_self.entered_none;
	m->inherited = agent_self.inherited;
	m->closed = agent_self.closed;
	m->lock_watch = agent_self.lock_watch;
	m->cond_ctx = agent_self.cond_ctx;
	m->waits_in = agent_self.waits_in;
	m->weak = agent_self.weak;
	m->muted = agent_self.muted;
	m->chan_mark = agent_self.chan_mark;
	m->polled = agent_self.polled;
	m->inherit_begun = agent_self.inherit_begun;
}

static inline void ctx_marks_restore(const struct ctx_marks *m)
{
	agent_self.pinned = m->pinned;
	agent_self.pin_inherited = m->pin_inherited;
	agent_self.entered_none = m->entered_none;
	agent_self.inherited = m->inherited;
	agent_self.closed = m->closed;
	agent_self.lock_watch = m->lock_watch;
	agent_self.cond_ctx = m->cond_ctx;
	agent_self.waits_in = m->waits_in;
	agent_self.weak = m->weak;
	agent_self.muted = m->muted;
	agent_self.chan_mark = m->chan_mark;
	agent_self.polled = m->polled;
	agent_self.inherit_begun = m->inherit_begun;
}

/* Makes `c` current, taking over the caller's reference. */
void ctx_take_current(struct ctx *c);

/* The program says which request this thread serves (reqctx_api_enter):
 * makes `c` current (a reference of its own) and pins it: the hand-off
 * rules (agent/handoff.h) neither end nor replace a pinned context; a
 * switch made natively (I/O on an fd of another context) or through the
 * API again unpins it. Returns what was current, its reference to the
 * caller. */
struct ctx *ctx_enter_pinned(struct ctx *c);

/* The program goes back to `prev`, what its enter returned (reqctx_api_leave),
 * taking over the caller's reference. When no other switch came between,
 * the pin the thread had before that enter comes back with it (pinned,
 * inherited from a thread's creator, or none entered), and the marks the
 * hand-off rules keep about that context (ctx_marks_save): a bracket the
 * program (a runtime's bridge) puts around a piece of work leaves the
 * thread as it found it. A worker a request started lazily (an inherited
 * pin) that logged through Python's logging, whose bridge enters each
 * record's context around its handler, lost its pin's rules that way and
 * kept its starter's request for every later job. Otherwise as
 * ctx_take_current(). */
void ctx_leave(struct ctx *prev);

/* The same for a new thread's first context, its creator's, as a
 * runtime's bridge gives it (a thread started inside a request): pinned,
 * until the thread reads a channel (agent/flow.c): a worker started
 * lazily by one request takes later requests' work from a pipe or a
 * socketpair, and carries its starter's request no further. */
struct ctx *ctx_enter_inherited(struct ctx *c);

/* True while the current context is one the program entered itself. */
static inline bool ctx_pinned(void)
{
	return agent_self.cur != NULL && agent_self.cur == agent_self.pinned;
}

/* Formats an address as "addr:port" into dst (at least 56 bytes). */
void ctx_format_peer(char *dst, size_t cap, const struct sockaddr *sa, socklen_t len);

/* Fork hooks (base/lock.h): the module lock. */
LOCK_FORK_DECLARE(ctx)

#endif
