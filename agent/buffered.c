/*
 * buffered.c - see buffered.h. One ring for the process under a spin lock
 * held for a few loads and stores: the chunks come from a runtime that
 * puts them under its own global lock (CPython's GIL), the lookups from
 * whichever thread writes the buffer out. References are dropped after
 * the lock is let go.
 */
#include <stdint.h>
#include <string.h>

#include "agent/buffered.h"
#include "agent/out.h"
#include "base/ctx.h"
#include "base/hash.h"
#include "base/lock.h"

struct rec {
	uint64_t hash;
	uint32_t len;             /* 0: free */
	int fd;
	struct ctx *ctx;          /* a reference, or NULL: no context */
	unsigned seq;             /* which record this slot holds */
	bool tainted;             /* another record of this line had another context */
	unsigned long at;         /* `reported` when it was made */
};

static struct rec ring[BUFFERED_RECS];   /* BSS: 40 KiB */
static unsigned head;             /* next slot to fill (oldest when full) */
static unsigned seq;              /* records made (wraps) */
static unsigned long reported;    /* bytes reported (wraps) */
static int ring_lock;
int buffered_live;            /* atomic stores under ring_lock */

/* The thread's last report: the records it made (seq first..last, for a
 * retraction), and, when it ended inside a line, that line's record,
 * which its next chunk for the same fd goes on (print() puts a line in as
 * its text, then its newline). */
static AGENT_TLS struct {
	int fd;
	unsigned slot, seq;       /* the open line's record */
	bool open;
	unsigned first, last;     /* records of the last report; first > last: none */
} mine;

/* Bytes of the line starting at p of at most n: to its newline, inclusive. */
static size_t line_len(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);

	return nl ? (size_t)(nl - p) + 1 : n;
}

/* Under ring_lock: live records naming the line of r, other than r. */
static void taint_like(const struct rec *r)
{
	for (unsigned i = 0; i < BUFFERED_RECS; i++) {
		struct rec *o = &ring[i];

		if (o != r && o->len == r->len && o->hash == r->hash && o->fd == r->fd)
			o->tainted = true;
	}
}

void buffered_put(int fd, const void *buf, size_t n)
{
	struct ctx *gone[8], *c;
	const char *p = buf, *end = p + n;
	int ngone = 0;

	mine.first = 1;
	mine.last = 0;
	if (n == 0 || !out_fd_tagged(fd))
		return;
	c = ctx_carried();
	if (mine.open && mine.fd == fd) {
		/* the rest of the line its last chunk began: the same record,
		 * if that line is still in the buffer (else it went out cut,
		 * and this rest is no line's start) */
		size_t len = line_len(p, n);
		struct rec *r = &ring[mine.slot];

		spin_lock(&ring_lock);
		if (r->len && r->seq == mine.seq && r->len + len <= UINT32_MAX) {
			r->hash = fnv1a(r->hash, p, len);
			r->len += (uint32_t)len;
		}
		spin_unlock(&ring_lock);
		mine.open = p[len - 1] != '\n';
		p += len;
	} else {
		mine.open = false;
	}
	while (p < end) {
		size_t len = line_len(p, (size_t)(end - p));
		struct rec r, *slot;

		if (len > UINT32_MAX)
			break;
		r = (struct rec){ fnv1a(FNV_OFFSET, p, len), (uint32_t)len, fd, c, 0, false, 0 };
		if (c)
			ctx_get(c);
		spin_lock(&ring_lock);
		slot = &ring[head];
		if (slot->len) {
			/* Overwritten before its line went out: that line may
			 * still come, and would take a later record of the same
			 * bytes (another request's, this one too) for its own. */
			taint_like(slot);
			r.tainted = slot->len == r.len && slot->hash == r.hash && slot->fd == r.fd;
			gone[ngone++] = slot->ctx;
		} else {
			__atomic_store_n(&buffered_live, buffered_live + 1, __ATOMIC_RELAXED);
		}
		r.seq = ++seq;
		reported += len;
		r.at = reported;
		*slot = r;
		if (mine.first > mine.last)
			mine.first = seq;
		mine.last = seq;
		mine.fd = fd;
		mine.slot = head;
		mine.seq = seq;
		mine.open = p[len - 1] != '\n';
		head = (head + 1) % BUFFERED_RECS;
		spin_unlock(&ring_lock);
		p += len;
		if (ngone == (int)(sizeof gone / sizeof gone[0])) {
			while (ngone)
				ctx_put(gone[--ngone]);
		}
	}
	while (ngone)
		ctx_put(gone[--ngone]);
}

void buffered_retract(void)
{
	struct ctx *gone[BUFFERED_RECS / 16];
	int ngone = 0;

	if (mine.first > mine.last)
		return;
	spin_lock(&ring_lock);
	for (unsigned i = 0; i < BUFFERED_RECS; i++) {
		struct rec *r = &ring[i];

		if (!r->len || r->seq - mine.first > mine.last - mine.first)
			continue;
		if (ngone == (int)(sizeof gone / sizeof gone[0])) {
			r->tainted = true;        /* no room to drop it: it names nothing */
			continue;
		}
		gone[ngone++] = r->ctx;
		r->len = 0;
		r->ctx = NULL;
		__atomic_store_n(&buffered_live, buffered_live - 1, __ATOMIC_RELAXED);
	}
	spin_unlock(&ring_lock);
	mine.first = 1;
	mine.last = 0;
	mine.open = false;
	while (ngone)
		ctx_put(gone[--ngone]);
}

bool buffered_take(int fd, const char *p, size_t n, bool whole, struct ctx **c)
{
	struct rec *first = NULL;
	struct ctx *got = NULL, *drop = NULL, *stale[16];
	bool live = false;
	int nstale = 0;
	uint64_t h;

	h = fnv1a(FNV_OFFSET, p, n);
	spin_lock(&ring_lock);
	/* newest first, back round the ring, until every live record was
	 * seen (a line-buffered stream has one or two); the last match is the
	 * oldest */
	for (unsigned k = 1, seen = 0, total = (unsigned)buffered_live; k <= BUFFERED_RECS && seen < total; k++) {
		struct rec *r = &ring[(head + BUFFERED_RECS - k) % BUFFERED_RECS];

		if (r->len == 0)
			continue;
		seen++;
		if (reported - r->at > BUFFERED_STALE) {
			/* its line went out unrecognised (cut by the buffer's
			 * edge) long ago: it must not name a later one (dropped
			 * now, or by a later lookup) */
			if (nstale < (int)(sizeof stale / sizeof stale[0])) {
				stale[nstale++] = r->ctx;
				r->len = 0;
				r->ctx = NULL;
				__atomic_store_n(&buffered_live, buffered_live - 1, __ATOMIC_RELAXED);
			}
			continue;
		}
		if (r->fd != fd)
			continue;
		live = true;
		if (r->len != n || r->hash != h)
			continue;
		if (first != NULL && r->ctx != first->ctx)
			first->tainted = r->tainted = true;
		first = r;
	}
	if (first) {
		if (first->tainted)
			drop = first->ctx;
		else
			got = first->ctx;
		first->len = 0;
		first->ctx = NULL;
		__atomic_store_n(&buffered_live, buffered_live - 1, __ATOMIC_RELAXED);
	}
	spin_unlock(&ring_lock);
	if (drop)
		ctx_put(drop);
	while (nstale)
		ctx_put(stale[--nstale]);
	if (first == NULL && whole)
		return false;         /* a whole write of one line: the writer's own */
	*c = got;
	return live;
}

void buffered_after_fork_child(void)
{
	ring_lock = 0;
	for (unsigned i = 0; i < BUFFERED_RECS; i++) {
		if (ring[i].len && ring[i].ctx)
			ctx_put(ring[i].ctx);
		ring[i].len = 0;
		ring[i].ctx = NULL;
	}
	__atomic_store_n(&buffered_live, 0, __ATOMIC_RELAXED);
}
