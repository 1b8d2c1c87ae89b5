/*
 * fdmap.c - the fd table. Chunks are installed with a compare-and-swap and
 * never freed, so readers need no lock. Replacing a slot's context is an
 * atomic exchange; the old reference is dropped after it.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/lock.h"
#include "ctxmap/fdmap.h"

struct fdslot fdmap_first[1 << FDMAP_CHUNK_BITS];
struct fdslot *fdmap_chunks[FDMAP_CHUNKS] = { fdmap_first };

/* Parser blocks given back, linked through their first bytes. */
static int parser_lock;
static void *parser_free;

void *fdmap_parser(struct fdslot *s)
{
	void *p = __atomic_load_n(&s->parser, __ATOMIC_ACQUIRE), *expected = NULL;

	if (p)
		return p;
	spin_lock(&parser_lock);
	p = parser_free;
	if (p)
		parser_free = *(void **)p;
	spin_unlock(&parser_lock);
	if (p)
		memset(p, 0, FDMAP_PARSER_SIZE);
	else if ((p = calloc_quiet(1, FDMAP_PARSER_SIZE)) == NULL)
		return NULL;
	if (!__atomic_compare_exchange_n(&s->parser, &expected, p, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(p);
		return expected;
	}
	return p;
}

static void parser_release(struct fdslot *s)
{
	void *p = __atomic_exchange_n(&s->parser, NULL, __ATOMIC_ACQ_REL);

	if (p == NULL)
		return;
	spin_lock(&parser_lock);
	*(void **)p = parser_free;
	parser_free = p;
	spin_unlock(&parser_lock);
}

struct fdslot *fdmap_slot(int fd)
{
	struct fdslot *s = fdmap_peek(fd), *chunk, *expected = NULL;

	if (s || (unsigned)fd >= (unsigned)FDMAP_CHUNKS << FDMAP_CHUNK_BITS)
		return s;
	chunk = calloc_quiet((size_t)1 << FDMAP_CHUNK_BITS, sizeof *chunk);
	if (chunk == NULL)
		return NULL;
	if (!__atomic_compare_exchange_n(&fdmap_chunks[fd >> FDMAP_CHUNK_BITS], &expected,
					 chunk, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(chunk);      /* another thread installed it first */
	return fdmap_peek(fd);
}

struct ctx *fdmap_ctx_get(struct fdslot *s)
{
	for (;;) {
		struct ctx *c = fdmap_ctx_peek(s);

		if (c == NULL)
			return NULL;
		if (ctx_tryget(c)) {
			/* Still the slot's? Otherwise it was replaced (and maybe
			 * recycled) between the load and the reference. */
			if (fdmap_ctx_peek(s) == c)
				return c;
			ctx_put(c);
		}
	}
}

void fdmap_tag(struct fdslot *s, struct ctx *c)
{
	struct ctx *old;

	if (fdmap_ctx_peek(s) == c)
		return;
	if (c)
		ctx_get(c);
	old = __atomic_exchange_n(&s->ctx, c, __ATOMIC_ACQ_REL);
	if (old != c)
	ctx_put(old);
}

struct chan *fdmap_chan_get_slow(struct fdslot *s, bool rx)
{
	struct chan **slot = rx ? &s->rx : &s->tx;

	for (;;) {
		struct chan *c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

		if (c == NULL)
			return NULL;
		if (chan_tryget(c)) {
			if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) == c)
				return c;
			chan_unref(c);
		}
	}
}

void fdmap_set_chans(struct fdslot *s, struct chan *rx, struct chan *tx)
{
	struct chan *orx, *otx;

	chan_ref(rx);
	chan_ref(tx);
	orx = __atomic_exchange_n(&s->rx, rx, __ATOMIC_ACQ_REL);
	otx = __atomic_exchange_n(&s->tx, tx, __ATOMIC_ACQ_REL);
	chan_unref(orx);
	chan_unref(otx);
}

void fdmap_reset(int fd, enum fd_kind kind)
{
	struct fdslot *s = kind == FD_UNKNOWN ? fdmap_peek(fd) : fdmap_slot(fd);

	if (s == NULL)
		return;
	fdmap_tag(s, NULL);
	if (s->rx || s->tx)
		fdmap_set_chans(s, NULL, NULL);
	if (s->parser)
		parser_release(s);
	__atomic_store_n(&s->flags, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->wire, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->proto, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->kind, (uint8_t)kind, __ATOMIC_RELEASE);
}

void fdmap_copy(int from, int to)
{
	fdmap_copy_as(from, to, -1);
}

void fdmap_copy_as(int from, int to, int kind)
{
	struct fdslot *src = fdmap_peek(from), *dst;
	struct ctx *c;

	if (src == NULL) {
		fdmap_reset(to, kind < 0 ? FD_UNKNOWN : (enum fd_kind)kind);
		return;
	}
	dst = fdmap_slot(to);
	if (dst == NULL)
		return;
	c = fdmap_ctx_get(src);
	fdmap_tag(dst, c);
	ctx_put(c);
	fdmap_set_chans(dst, src->rx, src->tx);
	if (dst->parser)
		parser_release(dst);
	/* The copy's reads are not followed: a framed protocol becomes lost
	 * there (agent/conn.c carries nothing for it). */
	__atomic_store_n(&dst->proto, __atomic_load_n(&src->proto, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&dst->flags, __atomic_load_n(&src->flags, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&dst->kind, kind < 0 ? __atomic_load_n(&src->kind, __ATOMIC_RELAXED) : (uint8_t)kind,
			 __ATOMIC_RELEASE);
}

