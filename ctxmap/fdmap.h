/*
 * fdmap.h - what the agent knows about each file descriptor: its kind and
 * the context it carries.
 *
 * fds are dense small integers, so this is a flat two-level array: a fixed
 * table of chunk pointers, each chunk allocated on first use and never
 * freed. A lookup is two loads and no lock; a slot's fields are atomics.
 */
#ifndef AGENT_FDMAP_H
#define AGENT_FDMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "ctxmap/chan.h"
#include "base/ctx.h"

#define FDMAP_CHUNK_BITS 10
#define FDMAP_CHUNKS 1024           /* fds below 1024 * 1024 are tracked */

enum fd_kind {
	FD_UNKNOWN = 0,   /* never seen: classified on first write */
	FD_PLAIN,         /* a file or device we ignore */
	FD_OUTPUT,        /* fd 2 or another fd open on the same file: tagged output */
	FD_STDOUT,        /* fd 1: never tagged, never a context source */
	FD_EPOLL,         /* an epoll instance */
	/* From here on, reads and writes move contexts (fdmap_moves_ctx). */
	FD_CLIENT,        /* returned by accept: a server's connection to a client */
	FD_PEER,          /* a socket the program made itself (outbound) */
	FD_CHAN,          /* pipe end, socketpair end, eventfd: contexts queue inside */
	FD_TIMER,         /* timerfd: carries the context that armed it */
	FD_DGRAM,         /* an unconnected datagram socket (agent/dgram.c) */
};

/* Flags of an FD_CLIENT slot. */
#define FDF_FRESH 1u      /* accepted; its first request not read yet */
#define FDF_WROTE 2u      /* written to since the last read: next read is a new request */
#define FDF_TLS 8u        /* TLS (SSL_set_fd): requests start at SSL_read, not read */
/* Flag of an FD_DGRAM slot. */
#define FDF_DG_SERVED 4u  /* has received a datagram: a server's socket, not a client's */

struct fdslot {
	struct ctx *ctx;          /* atomic; owns a reference */
	uint8_t kind;             /* atomic; enum fd_kind */
	uint8_t flags;            /* atomic; FDF_* */
	uint8_t ep_state;         /* epoll back-reference: 0 none, 1 one, 2 several */
	int ep_epfd;              /* with ep_state 1: the instance ... */
	uint64_t ep_data;         /* ... and the data value it is registered with */
	void *ep_table;           /* kind FD_EPOLL: its registrations (epmap.c) */
	uint64_t ep_gen;          /* kind FD_EPOLL: generation of its registrations */
	struct chan *rx, *tx;     /* kind FD_CHAN: what it reads from / writes into */
};

/* The slot of `fd`, or NULL when it was never touched or is out of range. */
static inline struct fdslot *fdmap_peek(int fd)
{
	extern struct fdslot *fdmap_chunks[FDMAP_CHUNKS];
	struct fdslot *chunk;

	if ((unsigned)fd >= (unsigned)FDMAP_CHUNKS << FDMAP_CHUNK_BITS)
		return NULL;
	chunk = __atomic_load_n(&fdmap_chunks[fd >> FDMAP_CHUNK_BITS], __ATOMIC_ACQUIRE);
	return chunk ? &chunk[fd & ((1 << FDMAP_CHUNK_BITS) - 1)] : NULL;
}

/* The slot of `fd`, allocating its chunk; NULL when out of range or out of
 * memory (the fd then simply carries nothing). */
struct fdslot *fdmap_slot(int fd);

static inline enum fd_kind fdmap_kind(const struct fdslot *s)
{
	return (enum fd_kind)__atomic_load_n(&s->kind, __ATOMIC_RELAXED);
}

/* True when I/O on `fd` may move a context: the one test every read and
 * write of an fd that carries nothing pays. */
static inline struct fdslot *fdmap_moving(int fd)
{
	struct fdslot *s = fdmap_peek(fd);

	return s && __atomic_load_n(&s->kind, __ATOMIC_RELAXED) >= FD_CLIENT ? s : NULL;
}

static inline bool fdmap_moves_ctx(int fd)
{
	return fdmap_moving(fd) != NULL;
}

/* True when a write to `fd` needs the agent: output, or an fd not yet
 * classified, or one whose I/O moves contexts. */
static inline bool fdmap_write_needs_agent(int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	uint8_t k;

	if (s == NULL)
		return fd != 1;      /* unknown: classify (fd 1 is never output) */
	k = __atomic_load_n(&s->kind, __ATOMIC_RELAXED);
	return k == FD_UNKNOWN || k == FD_OUTPUT || k >= FD_CLIENT;
}

/* The context a slot carries, without a reference: only for comparing. */
static inline struct ctx *fdmap_ctx_peek(const struct fdslot *s)
{
	return __atomic_load_n(&s->ctx, __ATOMIC_ACQUIRE);
}

/* The context a slot carries with a reference for the caller, or NULL. */
struct ctx *fdmap_ctx_get(struct fdslot *s);

/* Replaces the slot's context (taking a reference of its own on `c`). */
void fdmap_tag(struct fdslot *s, struct ctx *c);

/* Forgets everything about `fd`: a new object lives there now. The epoll
 * back-reference is left to the caller (epmap_forget_fd). */
void fdmap_reset(int fd, enum fd_kind kind);

/* The channel a slot reads from (rx) or writes into, with a reference for
 * the caller, or NULL: safe against the fd being closed or reused at the
 * same time by another thread. */
struct chan *fdmap_chan_get(struct fdslot *s, bool rx);

/* Sets the channels of a slot (taking references of their own). */
void fdmap_set_chans(struct fdslot *s, struct chan *rx, struct chan *tx);

/* dup semantics: `to` now refers to what `from` refers to. */
void fdmap_copy(int from, int to);

/* Every slot of kind FD_PLAIN or FD_OUTPUT goes back to FD_UNKNOWN, to be
 * classified again (fd 2 now refers to another file). */
void fdmap_reclassify(void);

/* Slots in use with a context (for the tests and churn checks). */
long fdmap_tagged(void);

#endif
