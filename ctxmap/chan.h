/*
 * chan.h - contexts queued inside a kernel byte stream or counter: a pipe,
 * a socketpair direction, an eventfd. A write in context X queues "n units
 * from X"; a read takes the context of the oldest units it consumes, so
 * several writes queued from different contexts are consumed in order.
 *
 * Units are bytes for streams and counts for an eventfd. A read that takes
 * units of several contexts (an eventfd read without EFD_SEMAPHORE that
 * merges several writers' counts, a large pipe read spanning several
 * writes) runs with no context: which work it leads to is unknown.
 */
#ifndef AGENT_CHAN_H
#define AGENT_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/lock.h"
#include "base/ctx.h"

#define CHAN_SEGS 64       /* distinct writers remembered per channel */
#define CHAN_REPS 4        /* bytes known to repeat, kept apart */

/* The fields are chan.c's alone; they are here so that chan_quiet(), the
 * one test an fd no request uses pays, compiles to a load. */
struct chan_seg {
	struct ctx *ctx;        /* owns a reference, or NULL */
	uint64_t units;
	uint64_t sig;           /* the write's first bytes (wlen != 0) */
	uint64_t wlen;          /* the one write it holds, whole; 0: unknown */
	uint32_t writes;        /* how many writes its units came from */
};

struct chan {
	int lock;                 /* spin lock: a few stores under it */
	unsigned refs;
	bool counter, semaphore;
	bool messages;            /* datagrams: a read takes one write, whole */
	bool readers;             /* more than one thread has read it */
	bool shared_wakeups;      /* readers, and its bytes name no job: counts, or
				     bytes that never varied (atomic; chan.c) */
	const void *reader;       /* the first thread that read it (its block) */
	int head, n;
	int inflight;             /* recorded writes whose call has not returned (atomic) */
	bool unordered;           /* two were in flight at once: until drained */
	bool writers;             /* more than one thread has written it */
	bool repeats;             /* a write had the bytes of a recent one (or blind) */
	bool blind;               /* a write's bytes were not known (a counter's) */
	bool reps_full;           /* more repeating bytes than rep_sig holds */
	bool varied;              /* a write had other bytes than the one before it */
	bool carried;             /* a context was written into it, ever (atomic) */
	const void *writer;       /* the first thread that wrote it (its block) */
	uint64_t last_sig, last_len; /* the last recorded write's bytes and length */
	uint64_t rep_sig[CHAN_REPS], rep_len[CHAN_REPS];   /* bytes that repeated */
	unsigned reps;
	struct chan_seg ring[CHAN_SEGS];
	/* The process whose pipe() made it (agent/relay.c: only another
	 * process's writes into it are relayed, only its reader forgets
	 * them); 0 for every other channel. Copied with the rest by fork. */
	pid_t maker;
	struct chan *next_free;
};

/* A new channel with one reference, or NULL. `counter`: eventfd semantics
 * (a read takes all pending units, or one with `semaphore`). */
struct chan *chan_new(bool counter, bool semaphore);
/* `c`, new and not shared yet, carries datagrams (a SOCK_DGRAM or
 * SOCK_SEQPACKET socketpair): writes of one context stay apart, and a read
 * takes the oldest write whole, however much of it the buffer held (the
 * kernel drops the rest of a datagram). */
void chan_messages(struct chan *c);
void chan_ref(struct chan *c);
void chan_unref(struct chan *c);
/* Takes a reference unless the channel was already released. */
bool chan_tryget(struct chan *c);
/*
 * The thread's held reference (agent_self.chan_held): a thread that reads
 * or writes one channel call after call (a pool's producer, each of its
 * workers) keeps one reference to it between the calls, so that a call
 * takes and drops none: no atomic on the reference count the producer and
 * the consumers share. chan_take_held(c): true when the thread held `c`,
 * whose reference now goes to the caller. chan_put(c): the caller is done
 * with its reference; the thread keeps it, dropping the one it held before
 * (which may release that channel). Both are single exchanges on the
 * thread's own word, safe against a signal handler that does the same in
 * between. chan_drop_held(): the thread ends (or forgets its channels).
 */
static inline __attribute__((always_inline)) bool chan_take_held(struct chan *c)
{
	struct chan *h;

	if (agent_self.chan_held != c)
		return false;
	/* A signal handler's call may have taken or changed it since. */
	h = __atomic_exchange_n(&agent_self.chan_held, NULL, __ATOMIC_RELAXED);
	if (likely(h == c))
		return true;
	chan_unref(h);
	return false;
}

static inline __attribute__((always_inline)) void chan_put(struct chan *c)
{
	struct chan *h = c ? __atomic_exchange_n(&agent_self.chan_held, c, __ATOMIC_RELAXED) : NULL;

	if (h)
		chan_unref(h);
}

void chan_drop_held(void);
/* Fork hooks (base/lock.h): the module lock. */
LOCK_FORK_DECLARE(chan)

/* `units` were written in context `x` (NULL: none), one write whose bytes
 * start at `data` (NULL: not known; ignored for a counter; only the first
 * min(8, units) are read: a gathered write's may be a copy). Units without
 * a context written into an empty channel that never carried one are not
 * recorded: a reader then keeps its own context, as for bytes from another
 * process. Once a context was written into it (a job queue), every write
 * is: a thread with none writing into it (a timer's tick) between jobs
 * would otherwise put the record one write behind the kernel.
 *
 * A write is recorded before its call (the reader may wake at once). With
 * `track`, the write counts as in flight until chan_write_done(), and the
 * function returns true when it did count it (false: nothing recorded, no
 * chan_write_done() due). Two writes in flight at once may reach the
 * kernel in either order, so from then until the channel holds nothing
 * recorded and nothing in flight, its reads take units in order but carry
 * no context: which writer's bytes a read got is not known.
 *
 * Bytes that repeat (a wake-up byte, an eventfd's count) say that there is
 * work, not which: the work itself waits in the program's own queue. From
 * one writer thread, queue and channel have the same order; from several,
 * one thread may queue its job first and announce it second, so a read
 * cannot tell whose job follows. On a channel written by several threads,
 * a read of bytes that repeated (a write had the bytes of the write just
 * before it, or of one still queued; CHAN_REPS such kept) gives no context, nor any read once a write's bytes were not
 * known (any counter), nor a read that cannot be told to be one write's
 * once any bytes repeated. A read whose bytes are exactly one write's,
 * bytes that never repeated, names its job: the bytes are the job (a
 * pointer), whatever else the channel carries (a timer thread's repeated
 * tick). Its second writer may not have written yet when a read happens,
 * having queued its job: so the reader says whether several threads start
 * requests (chan_read's `producers`), and then a channel names no job
 * until two writes have shown that its bytes vary (one write shows
 * nothing). */
bool chan_wrote(struct chan *c, struct ctx *x, uint64_t units, const void *data, bool track);
void chan_write_done(struct chan *c);

/* A write recorded by chan_wrote() took fewer units than announced: take
 * `units` back from the newest segment. */
void chan_unwrote(struct chan *c, uint64_t units);

/* `units` were read (a counter takes one with `semaphore`, else the
 * count its 8 bytes at `data` hold; all it has when they are not given), the
 * first `dlen` of them at `data` (NULL/0: not known); `producers`: several
 * threads of the process start requests. Returns CHAN_NOTHING when
 * none of them were recorded here (written by another process, or before
 * the agent knew the channel): the reader's context is then not the
 * channel's business. Otherwise sets *ctx to the context of the units
 * consumed, with a reference, or NULL: also when they came from several
 * contexts, or when several threads read the channel and the bytes cannot
 * tell which write they were (the read is ambiguous). A read whose bytes
 * are exactly one earlier write, not the oldest, takes that write's
 * context (readers finishing out of the kernel's order). A read of one
 * write's length whose bytes start as no recorded write does takes
 * nothing from the record and sets *ctx NULL (CHAN_NOBODY): they are bytes
 * the record never saw (written with no context while the channel looked
 * empty, or by another process), and the oldest write is still queued. */
enum chan_took {
	CHAN_NOTHING = 0,   /* none of the units were recorded here */
	CHAN_TOOK,          /* *ctx: their context, or NULL (none, or several) */
	CHAN_ANONYMOUS,     /* the units of one write, whose writer is not known
			       (anonymous channel, above): *ctx is NULL */
	CHAN_NOBODY,        /* the units of one write made with no context, or
			       of one the record never saw: *ctx is NULL, and
			       the read is one job's, not a batch's */
};
enum chan_took chan_read(struct chan *c, uint64_t units, const void *data, size_t dlen,
			 bool producers, struct ctx **ctx);

/* Where `c` says that more than one thread reads wake-ups from it (counts,
 * or bytes that never varied), whose order is not the order the readers
 * take their jobs in (stays valid: channels are never freed). */
static inline const bool *chan_shared_mark(const struct chan *c)
{
	return &c->shared_wakeups;
}

/* Marks `c` as a channel contexts go through (chan_carried), without
 * recording any. */
void chan_set_carried(struct chan *c);

/* True once more than one thread has read `c` (no lock). */
static inline bool chan_several_readers(const struct chan *c)
{
	return __atomic_load_n(&c->readers, __ATOMIC_RELAXED);
}

/* True once a context was written into `c`: its reads are the program's
 * jobs or answers, not only wake-ups no request made. No lock. */
static inline bool chan_carried(const struct chan *c)
{
	return __atomic_load_n(&c->carried, __ATOMIC_RELAXED);
}

/* The context the next read would take, with a reference, or NULL. */
struct ctx *chan_peek(struct chan *c);

/* True when every unit queued (if any) was written in context `x`: nothing
 * in it is another request's (compared only, no reference taken). */
bool chan_only(struct chan *c, const struct ctx *x);

static inline bool chan_is_counter(const struct chan *c)
{
	return c->counter;
}

/* True when nothing is recorded in `c`, or `c` is NULL: one load, no
 * reference and no lock. `c` may have been released meanwhile (channels
 * are never freed): the answer is then about a channel nobody reads. */
static inline bool chan_quiet(const struct chan *c)
{
	return c == NULL || __atomic_load_n(&c->n, __ATOMIC_ACQUIRE) == 0;
}

/* Units pending (for the tests). */
uint64_t chan_pending(struct chan *c);

#endif
