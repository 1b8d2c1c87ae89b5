/*
 * chan.c - a small ring of (context, units) segments behind a spin lock.
 * Consecutive writes from one context merge into one segment; when the ring
 * is full, new units join the newest segment (their own context is lost,
 * never attributed to an older writer's first units).
 *
 * Several threads reading one pipe (a pool fed one job pointer per write)
 * may finish their reads in another order than the kernel handed out the
 * bytes, so the oldest segment is not always the one a read consumed. Each
 * segment made by one write keeps that write's length and first 8 bytes;
 * a read whose bytes do not match the oldest segment takes the segment
 * they do match, and a read on a channel with several readers whose bytes
 * match segments of different contexts (identical wake-up bytes) takes
 * none.
 */
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/thread.h"
#include "ctxmap/chan.h"

/* Ring positions are taken modulo CHAN_SEGS as unsigned: with a power of
 * two that is one AND (a signed int's modulo costs a sign fix-up). */
_Static_assert((CHAN_SEGS & (CHAN_SEGS - 1)) == 0, "CHAN_SEGS is a power of two");

/* Channels are type-stable like contexts: a released one goes to a free
 * list, never back to malloc, so a pointer read from an fd slot always
 * points at a channel and chan_tryget() can tell whether it is still live. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chan *pool;

struct chan *chan_new(bool counter, bool semaphore)
{
	struct chan *c;

	agent_lock(&pool_lock);
	c = pool;
	if (c)
		pool = c->next_free;
	pthread_mutex_unlock(&pool_lock);
	if (c == NULL) {
		c = mem_alloc(sizeof *c);
		if (c == NULL)
			return NULL;
	}
	spin_lock(&c->lock);
	memset(c->ring, 0, sizeof c->ring);
	c->head = 0;
	__atomic_store_n(&c->n, 0, __ATOMIC_RELEASE);
	c->counter = counter;
	c->semaphore = semaphore;
	c->messages = false;
	c->readers = false;
	__atomic_store_n(&c->shared_wakeups, false, __ATOMIC_RELAXED);
	c->reader = NULL;
	c->inflight = 0;
	c->unordered = false;
	c->writers = c->repeats = c->varied = c->blind = c->reps_full = false;
	c->reps = 0;
	__atomic_store_n(&c->carried, false, __ATOMIC_RELAXED);
	c->writer = NULL;
	c->last_sig = c->last_len = 0;
	c->maker = 0;
	spin_unlock(&c->lock);
	__atomic_store_n(&c->refs, 1, __ATOMIC_RELEASE);
	return c;
}

void chan_messages(struct chan *c)
{
	c->messages = true;
}

void chan_set_carried(struct chan *c)
{
	if (!chan_carried(c))
		__atomic_store_n(&c->carried, true, __ATOMIC_RELAXED);
}

void chan_ref(struct chan *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void chan_drop_held(void)
{
	chan_unref(__atomic_exchange_n(&agent_self.chan_held, NULL, __ATOMIC_RELAXED));
}

bool chan_tryget(struct chan *c)
{
	unsigned n = __atomic_load_n(&c->refs, __ATOMIC_RELAXED);

	while (n != 0)
		if (__atomic_compare_exchange_n(&c->refs, &n, n + 1, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	return false;
}

void chan_unref(struct chan *c)
{
	struct ctx *drop[CHAN_SEGS];
	int nd = 0;

	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	spin_lock(&c->lock);
	for (int i = 0; i < c->n; i++)
		drop[nd++] = c->ring[(unsigned)(c->head + i) % CHAN_SEGS].ctx;
	__atomic_store_n(&c->n, 0, __ATOMIC_RELEASE);
	memset(c->ring, 0, sizeof c->ring);
	spin_unlock(&c->lock);
	while (nd > 0)
		ctx_put(drop[--nd]);
	agent_lock(&pool_lock);
	c->next_free = pool;
	pool = c;
	pthread_mutex_unlock(&pool_lock);
}

LOCK_FORK_DEFINE(chan, pool_lock)

static bool empty(struct chan *c)
{
	return __atomic_load_n(&c->n, __ATOMIC_ACQUIRE) == 0;
}

/* The first (up to) 8 of `len` bytes, zero-padded: a write's signature
 * (byte i in bits 8i to 8i+7, whatever the machine's order). */
static inline uint64_t signature(const void *data, uint64_t len)
{
	const unsigned char *p = data;
	uint64_t v = 0;

	if (len >= sizeof v) {
		memcpy(&v, p, sizeof v);    /* one load */
		return le64toh(v);
	}
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Under the lock: the channel holds nothing recorded or in flight any more,
 * so record and kernel agree again. (chan_write_done() counts a write
 * out without the lock; the next record or read settles.) */
static void settle(struct chan *c)
{
	if (c->n == 0 && __atomic_load_n(&c->inflight, __ATOMIC_ACQUIRE) == 0)
		c->unordered = false;
}

/* Under the lock: the first thread (its block `me`) seen doing something
 * to the channel is kept in *first; another one sets *several, for good. */
static void one_of_several(const void **first, bool *several, const void *me)
{
	if (*first == NULL)
		*first = me;
	else if (*first != me)
		__atomic_store_n(several, true, __ATOMIC_RELAXED);   /* read without the lock */
}

/* Under the lock: after `readers`, `blind` or `varied` changed. */
static void learn_shared(struct chan *c)
{
	bool shared = c->readers && (c->blind || !c->varied);

	if (shared != c->shared_wakeups)
		__atomic_store_n(&c->shared_wakeups, shared, __ATOMIC_RELAXED);
}

/* Under the lock: whether bytes `sig` of length `len` are known to repeat. */
static bool repeated(const struct chan *c, uint64_t sig, uint64_t len)
{
	for (unsigned i = 0; i < c->reps; i++)
		if (c->rep_sig[i] == sig && c->rep_len[i] == len)
			return true;
	return c->reps_full;
}

/* Under the lock: a write of bytes `sig`, `len` long; true when the write
 * before it, or one still queued, has the same bytes (then kept among the
 * repeating). */
static bool seen_again(struct chan *c, uint64_t sig, uint64_t len)
{
	for (int i = -1; i < c->n; i++) {
		const struct chan_seg *q = &c->ring[(unsigned)(c->head + i) % CHAN_SEGS];

		if (i < 0 ? c->last_len != len || c->last_sig != sig : q->wlen != len || q->sig != sig)
			continue;
		if (c->reps_full || repeated(c, sig, len))
			return true;
		if (c->reps < CHAN_REPS) {
			c->rep_sig[c->reps] = sig;
			c->rep_len[c->reps++] = len;
		} else {
			c->reps_full = true;   /* every read as repeating */
		}
		return true;
	}
	return false;
}

/* Under the lock: who writes the channel and whether its bytes repeat
 * (chan.h). A counter's units are counts: its bytes are not known. */
static void learn_writer(struct chan *c, const void *data, uint64_t units)
{
	const void *me = &agent_self;
	uint64_t sig;

	one_of_several(&c->writer, &c->writers, me);
	if (c->blind)
		return;                 /* for good: nothing more to learn */
	if (c->counter || data == NULL) {
		c->blind = c->repeats = true;
		learn_shared(c);
		return;
	}
	sig = signature(data, units);
	if (c->last_len != 0 && (sig != c->last_sig || units != c->last_len))
		c->varied = true;
	if (seen_again(c, sig, units))
		c->repeats = true;
	c->last_sig = sig;
	c->last_len = units;
	learn_shared(c);
}

/* Reads of this channel cannot tell whose work follows them (chan.h);
 * `one`: the read took exactly one write whose bytes it had, `sig`, `len`
 * long: only bytes known to repeat are then anonymous. */
static inline __attribute__((always_inline)) bool anonymous(const struct chan *c, bool producers,
								 bool one, uint64_t sig, uint64_t len)
{
	if (c->unordered)
		return true;
	/* Several threads take counts, or wake-up bytes that never vary: the
	 * order they read in is not the order they take jobs from the
	 * program's queue in. (Bytes that vary are the jobs themselves: a
	 * pointer malloc hands out again repeats, and still names its job.) */
	if (c->shared_wakeups)
		return true;
	if (!(c->writers || producers))
		return false;
	if (!c->varied || c->blind)
		return true;
	return one ? repeated(c, sig, len) : c->repeats;
}

bool chan_wrote(struct chan *c, struct ctx *x, uint64_t units, const void *data, bool track)
{
	struct chan_seg *last;

	/* Bytes without a context into an empty channel: nothing to record,
	 * and no lock taken (the common case of a pipe no request uses). */
	if (units == 0 || (x == NULL && empty(c) && !chan_carried(c)))
		return false;
	spin_lock(&c->lock);
	if (x)
		chan_set_carried(c);
	learn_writer(c, data, units);
	settle(c);
	if (__atomic_load_n(&c->inflight, __ATOMIC_ACQUIRE) > 0)
		c->unordered = true;
	if (track)
		__atomic_add_fetch(&c->inflight, 1, __ATOMIC_ACQ_REL);
	last = c->n ? &c->ring[(unsigned)(c->head + c->n - 1) % CHAN_SEGS] : NULL;
	if (last && ((last->ctx == x && !c->messages) || c->n == CHAN_SEGS)) {
		last->units += units;
		last->wlen = 0;             /* several writes now */
		if (last->writes < UINT32_MAX)
			last->writes++;
	} else {
		struct chan_seg *s = &c->ring[(unsigned)(c->head + c->n) % CHAN_SEGS];

		if (x)
			ctx_get(x);
		s->ctx = x;
		s->units = units;
		s->writes = 1;
		s->wlen = data && !c->counter ? units : 0;
		s->sig = s->wlen ? signature(data, units) : 0;
		__atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELEASE);
	}
	spin_unlock(&c->lock);
	return track;
}

void chan_write_done(struct chan *c)
{
	__atomic_sub_fetch(&c->inflight, 1, __ATOMIC_ACQ_REL);
}

/* The segment a read of exactly `units` bytes starting `sig` consumed, when
 * it is not the oldest: its index from head, or -1. *mixed: segments of
 * different contexts match (identical bytes). Under the lock. */
static int matching(struct chan *c, uint64_t units, uint64_t sig, bool *mixed)
{
	int found = -1;

	*mixed = false;
	for (int i = 0; i < c->n; i++) {
		struct chan_seg *s = &c->ring[(unsigned)(c->head + i) % CHAN_SEGS];

		if (s->wlen != units || s->sig != sig)
			continue;
		if (found < 0)
			found = i;
		else if (s->ctx != c->ring[(unsigned)(c->head + found) % CHAN_SEGS].ctx)
			*mixed = true;
	}
	return found;
}

/* Takes segment i (from head) out of the ring, whole; its reference goes
 * to the caller. Under the lock. */
static struct ctx *take_out(struct chan *c, int i)
{
	struct ctx *x = c->ring[(unsigned)(c->head + i) % CHAN_SEGS].ctx;

	for (; i > 0; i--)
		c->ring[(unsigned)(c->head + i) % CHAN_SEGS] = c->ring[(unsigned)(c->head + i - 1) % CHAN_SEGS];
	c->ring[c->head].ctx = NULL;
	c->head = (int)((unsigned)(c->head + 1) % CHAN_SEGS);
	__atomic_store_n(&c->n, c->n - 1, __ATOMIC_RELEASE);
	return x;
}

void chan_unwrote(struct chan *c, uint64_t units)
{
	struct ctx *drop[CHAN_SEGS];
	int nd = 0;

	spin_lock(&c->lock);
	while (units > 0 && c->n > 0) {
		struct chan_seg *s = &c->ring[(unsigned)(c->head + c->n - 1) % CHAN_SEGS];
		uint64_t take = s->units < units ? s->units : units;

		s->units -= take;
		s->wlen = 0;
		units -= take;
		if (s->units == 0) {
			drop[nd++] = s->ctx;
			s->ctx = NULL;
			__atomic_store_n(&c->n, c->n - 1, __ATOMIC_RELEASE);
		}
	}
	settle(c);
	spin_unlock(&c->lock);
	while (nd > 0)
		ctx_put(drop[--nd]);
}

/* Every unit recorded is of one context: whichever of them a read got,
 * in whatever order several readers finish, it is that context's. Under
 * the lock. */
static bool one_context(const struct chan *c)
{
	for (int i = 1; i < c->n; i++)
		if (c->ring[(unsigned)(c->head + i) % CHAN_SEGS].ctx != c->ring[c->head].ctx)
			return false;
	return true;
}

/* chan_read()'s look at the bytes (see there), under the lock: CHAN_TOOK
 * or CHAN_ANONYMOUS when a matching write was taken (lock released, *ctx
 * set), -2 when the read is ambiguous (several readers, nothing to
 * match), -1 to go in order. */
static __attribute__((noinline)) int by_content(struct chan *c, uint64_t units,
						 const void *data, size_t dlen, bool producers,
						 struct ctx **ctx)
{
	struct chan_seg *old = &c->ring[c->head];
	struct ctx *x;
	uint64_t sig;
	bool several, anon;
	int k;

	if (c->n == 0 || old->wlen != units || data == NULL || dlen < (units < 8 ? units : 8))
		return c->readers && !one_context(c) ? -2 : -1;
	sig = signature(data, units);
	if (old->sig == sig && !c->readers)
		return -1;
	k = matching(c, units, sig, &several);
	if (k < 0) {
		/* One write's length, its bytes known, and no recorded write
		 * starts with them: bytes the record never saw (a write with
		 * no context into a channel that looked empty, racing one
		 * with a context; another process's). Taking the oldest write
		 * for them would give its context to other work, and leave
		 * the read that does get that write the next one's. */
		spin_unlock(&c->lock);
		*ctx = NULL;
		return CHAN_NOBODY;
	}
	x = take_out(c, k);
	settle(c);
	anon = !several && anonymous(c, producers, true, sig, units);
	spin_unlock(&c->lock);
	if (several || anon) {
		ctx_put(x);
		x = NULL;
	}
	*ctx = x;
	return anon ? CHAN_ANONYMOUS : x == NULL && !several ? CHAN_NOBODY : CHAN_TOOK;
}

enum chan_took chan_read(struct chan *c, uint64_t units, const void *data, size_t dlen,
			 bool producers, struct ctx **ctx)
{
	struct ctx *first = NULL;
	const struct chan_seg *old;
	bool taken = false, mixed = false, anon, head_read = false, moved = false;
	uint32_t writes = 0;
	struct ctx *drop[CHAN_SEGS];
	int nd = 0;

	if (empty(c)) {
		*ctx = NULL;
		return CHAN_NOTHING;   /* nothing recorded: no lock taken */
	}
	spin_lock(&c->lock);
	/* Several threads read this channel: the order their reads finish in
	 * is not the kernel's. Learned from every read that finds records:
	 * a pool whose jobs the record cannot tell apart by their bytes must
	 * be known as one from its second reader on. */
	one_of_several(&c->reader, &c->readers, &agent_self);
	learn_shared(c);
	/* A read of exactly one write's length (a job per write) may tell by
	 * its bytes which write it got (by_content); a stream read in other
	 * sizes goes in order. */
	if (!c->counter && unlikely(c->ring[c->head].wlen == units || c->readers)) {
		int r = by_content(c, units, data, dlen, producers, ctx);

		if (r > 0)
			return (enum chan_took)r;   /* done, the lock released */
		mixed = r == -2;
	}
	/* A counter read takes one unit (EFD_SEMAPHORE) or the count it
	 * returns: the 8 bytes read. Not every unit recorded: a write is
	 * recorded before its call, so the record may hold units the kernel
	 * did not have yet when the read took the count. */
	if (c->counter) {
		if (c->semaphore)
			units = 1;
		else if (data != NULL && dlen >= sizeof units)
			memcpy(&units, data, sizeof units);
		else
			units = UINT64_MAX;
	}
	/* A read that starts where a whole recorded write starts begins
	 * with that write's bytes. When it does not, the kernel had bytes
	 * before it the record never saw (written with no context before the
	 * channel carried one): nothing is taken, and once those are read,
	 * the next read is that write's (a framed queue read in header and
	 * payload pieces, one piece a write's length never is). */
	old = &c->ring[c->head];
	if (!c->counter && c->n > 0 && old->wlen != 0 && data != NULL) {
		uint64_t k = units < old->wlen ? units : old->wlen;

		if (k > 8)
			k = 8;
		if (dlen >= k) {
			if (signature(data, k) !=
			    (old->sig & (k == 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * k)) - 1))) {
				spin_unlock(&c->lock);
				*ctx = NULL;
				return CHAN_NOBODY;
			}
			head_read = true;   /* the read starts with the oldest write */
		}
	}
	/* A datagram is read whole or not at all: what the buffer did not
	 * hold, the kernel dropped. */
	if (c->messages && c->n > 0 && old->writes == 1)
		units = old->units;
	/* Exactly the oldest write, whose bytes the read has: whether its
	 * bytes repeated says whether the read is anonymous. */
	anon = anonymous(c, producers, head_read && old->wlen == units, old->sig, units);
	while (units > 0 && c->n > 0) {
		struct chan_seg *s = &c->ring[c->head];
		uint64_t take = s->units < units ? s->units : units;

		if (!taken) {
			/* The oldest segment read whole (a job a write): its
			 * reference goes to the reader, none taken or dropped. */
			first = s->ctx;
			moved = take == s->units;
			if (first && !moved)
				ctx_get(first);
			taken = true;
		} else if (s->ctx != first) {
			mixed = true;
		}
		writes += s->writes;
		s->units -= take;
		s->wlen = 0;              /* partly read: not one write any more */
		units -= take;
		if (s->units == 0) {
			if (moved)
				moved = false;    /* the first: its reference is `first` */
			else
				drop[nd++] = s->ctx;      /* released after the lock */
			s->ctx = NULL;
			c->head = (int)((unsigned)(c->head + 1) % CHAN_SEGS);
			__atomic_store_n(&c->n, c->n - 1, __ATOMIC_RELEASE);
		}
	}
	settle(c);
	spin_unlock(&c->lock);
	while (nd > 0)
		ctx_put(drop[--nd]);
	if (mixed || anon) {
		/* Several writers' units in one read, or a channel whose reads
		 * cannot tell whose work follows: that is the program's
		 * business. No context rather than a wrong one. */
		ctx_put(first);
		first = NULL;
	}
	*ctx = first;
	if (!taken)
		return CHAN_NOTHING;
	/* One write's units from an anonymous channel: one job, not a batch;
	 * or of one write made with no context. */
	if (!mixed && writes == 1)
		return anon ? CHAN_ANONYMOUS : first == NULL ? CHAN_NOBODY : CHAN_TOOK;
	return CHAN_TOOK;
}

struct ctx *chan_peek(struct chan *c)
{
	struct ctx *x = NULL;

	if (empty(c))
		return NULL;
	spin_lock(&c->lock);
	if (c->n > 0 && (x = c->ring[c->head].ctx) != NULL)
		ctx_get(x);
	spin_unlock(&c->lock);
	return x;
}

bool chan_only(struct chan *c, const struct ctx *x)
{
	bool only = true;

	if (empty(c))
		return true;
	spin_lock(&c->lock);
	for (int i = 0; i < c->n && only; i++)
		only = c->ring[(unsigned)(c->head + i) % CHAN_SEGS].ctx == x;
	spin_unlock(&c->lock);
	return only;
}

uint64_t chan_pending(struct chan *c)
{
	uint64_t total = 0;

	spin_lock(&c->lock);
	for (int i = 0; i < c->n; i++)
		total += c->ring[(unsigned)(c->head + i) % CHAN_SEGS].units;
	spin_unlock(&c->lock);
	return total;
}
