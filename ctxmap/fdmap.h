/*
 * fdmap.h - what the agent knows about each file descriptor: its kind and
 * the context it carries.
 *
 * fds are dense small integers, so this is a flat two-level array: a fixed
 * table of chunk pointers, each chunk allocated on first use and never
 * freed. The first chunk (fds below 1024, where most programs' fds are)
 * is static: its lookup is a compare and an index; a higher fd's is two
 * loads. No lock; a slot's fields are atomics. (One flat table of address
 * space reserved for every possible fd was tried and taken back: 80 MiB of
 * virtual size that RLIMIT_AS, mlockall and strict overcommit count.)
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
	/* From here on, reads and writes move contexts (fdmap_moving). */
	FD_CLIENT,        /* returned by accept: a server's connection to a client */
	FD_PEER,          /* a socket the program made itself (outbound) */
	FD_CHAN,          /* pipe end, socketpair end, eventfd: contexts queue inside */
	FD_TIMER,         /* timerfd: carries the context that armed it */
	FD_DGRAM,         /* an unconnected datagram socket (agent/dgram.c) */
};

/* Flags of an FD_CLIENT slot. */
#define FDF_FRESH 1u      /* accepted; its first request not read yet */
#define FDF_WROTE 2u      /* written to since the last read: next read is a new request */
#define FDF_HEAD_OPEN 4u  /* a request's head began in a read; its end not read yet */
#define FDF_IDLE 16u      /* answered, and read since with no request begun: a
                             read that holds a request line starts the next
                             (agent/conn.c); the others carry nothing */
#define FDF_COMPLETE 32u  /* its request was read whole (its head, and a body of
                             known length) and is not answered yet: a read
                             before the answer holds the next request
                             (agent/conn.c) */
#define FDF_HEAD_BODY 64u /* with FDF_HEAD_OPEN: the parts of the head read so
                             far name a body (Content-Length, Transfer-Encoding) */
/* Flags of an FD_PEER slot. */
#define FDF_MUXED 1u      /* written by a request while another request's
                             exchange on it was in flight (written, its reply
                             not read): replies to several requests come back
                             on it in an order the agent does not know (a
                             connection every request shares, pipelined or
                             multiplexed); it names nobody from then on */
#define FDF_REPLIED 2u    /* read from since it was last written (by a write the
                             quick path did not take): its exchange is over */
#define FDF_CONNECTED 4u  /* connect() was called on it */
#define FDF_TLS 8u        /* TLS (SSL_set_fd): requests start at SSL_read, not read */
#define FDF_PASSED 64u    /* a byte went through it: written, or read back */
#define FDF_ASKED 128u    /* waited for: registered in epoll, an event handed out, or
                             connect() asked again */
/* Flags of a socket made by socket() under the agent (kept through
 * connect): its type, known without asking the kernel. Neither: not known. */
#define FDF_SOCK_STREAM 16u
#define FDF_SOCK_OTHER 32u
/* Flag of an FD_CHAN slot (agent/relay.h has FDF_RELAY, 4). */
#define FDF_CARRIES 8u    /* a context was written through it: its writes with
                             none are recorded too (ctxmap/chan.h) */
/* Flag of an FD_DGRAM slot. */
#define FDF_DG_SERVED 4u  /* has received a datagram: a server's socket, not a client's */

struct fdslot {
	struct ctx *ctx;          /* atomic; owns a reference */
	union {
		struct {
			uint8_t kind;     /* atomic; enum fd_kind */
			uint8_t flags;    /* atomic; FDF_* */
		};
		uint16_t kind_flags;      /* both in one load, for a quick test
		                             (fdmap_kind_flags) */
	};
	uint8_t ep_state;         /* epoll back-reference: 0 none, 1 one, 2 several */
	uint8_t wire;             /* atomic; writes go through the wire rules (agent/propagate.h) */
	uint8_t proto;            /* atomic; kind FD_CLIENT: its protocol (agent/conn.c) */
	int ep_epfd;              /* with ep_state 1: the instance ... */
	uint32_t ep_busy;         /* (kind FD_EPOLL, apart from its neighbours, in what
	                             was padding: the slot stays 80 bytes) epoll_ctl
	                             calls on it under way, and the agent's own re-arm
	                             (ctxmap/epmap.h, epmap_ctl_begins; atomic) */
	uint64_t ep_data;         /* ... and the data value it is registered with, */
	uint64_t ep_reg_gen;      /* ... and that registration's generation. These four
	                             (ep_state, ep_epfd, ep_data, ep_reg_gen) are written
	                             under epmap's lock with atomic stores, and read
	                             without it by epmap_resolve's quick path */
	void *ep_table;           /* kind FD_EPOLL: its registrations (epmap.c) */
	uint64_t ep_gen;          /* kind FD_EPOLL: generation of its registrations */
	struct chan *rx, *tx;     /* kind FD_CHAN: what it reads from / writes into */
	void *parser;             /* kind FD_CLIENT: its protocol parser (fdmap_parser) */
};

/* The chunks; chunks[0] is fdmap_first, the others are allocated on first
 * use. */
extern AGENT_HIDDEN struct fdslot fdmap_first[1 << FDMAP_CHUNK_BITS];
extern AGENT_HIDDEN struct fdslot *fdmap_chunks[FDMAP_CHUNKS];

/* The slot of `fd`, or NULL when its chunk was never touched or it is out
 * of range (an fd below 1024 always has one, zeroed if never touched). */
static inline struct fdslot *fdmap_peek(int fd)
{
	struct fdslot *chunk;

	if (likely((unsigned)fd < 1u << FDMAP_CHUNK_BITS))
		return &fdmap_first[(unsigned)fd];
	if ((unsigned)fd >= (unsigned)FDMAP_CHUNKS << FDMAP_CHUNK_BITS)
		return NULL;
	chunk = __atomic_load_n(&fdmap_chunks[(unsigned)fd >> FDMAP_CHUNK_BITS], __ATOMIC_ACQUIRE);
	return chunk ? &chunk[fd & ((1 << FDMAP_CHUNK_BITS) - 1)] : NULL;
}

/* The slot of `fd`, allocating its chunk; NULL when out of range or out of
 * memory (the fd then simply carries nothing). */
struct fdslot *fdmap_slot(int fd);

static inline enum fd_kind fdmap_kind(const struct fdslot *s)
{
	return (enum fd_kind)__atomic_load_n(&s->kind, __ATOMIC_RELAXED);
}

/* The slot's kind and flags, read in one load: a quick test compares
 * them with FDMAP_KF(kind, flags) under a mask made the same way. Each
 * byte is written on its own; the two read together are each some value
 * the byte held. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FDMAP_KF(kind, flags) ((unsigned)(kind) | (unsigned)(flags) << 8)
#else
#define FDMAP_KF(kind, flags) ((unsigned)(kind) << 8 | (unsigned)(flags))
#endif

static inline unsigned fdmap_kind_flags(const struct fdslot *s)
{
	return __atomic_load_n(&s->kind_flags, __ATOMIC_RELAXED);
}

/* True when I/O on `fd` may move a context: the one test every read and
 * write of an fd that carries nothing pays. */
static inline struct fdslot *fdmap_moving(int fd)
{
	struct fdslot *s = fdmap_peek(fd);

	return s && __atomic_load_n(&s->kind, __ATOMIC_RELAXED) >= FD_CLIENT ? s : NULL;
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
 * the caller (the thread's held one when it is that channel: chan_put
 * gives it back), or NULL: safe against the fd being closed or reused at
 * the same time by another thread. */
struct chan *fdmap_chan_get_slow(struct fdslot *s, bool rx);
static inline __attribute__((always_inline)) struct chan *fdmap_chan_get(struct fdslot *s, bool rx)
{
	struct chan *c = __atomic_load_n(rx ? &s->rx : &s->tx, __ATOMIC_ACQUIRE);

	/* The thread's own reference: `c`, held, was not released, and was
	 * the fd's channel at the load. */
	if (c == NULL || chan_take_held(c))
		return c;
	return fdmap_chan_get_slow(s, rx);
}

/* Sets the channels of a slot (taking references of their own). */
void fdmap_set_chans(struct fdslot *s, struct chan *rx, struct chan *tx);

/* The bytes a connection's protocol parser keeps between reads
 * (agent/conn.c gives them their meaning): FDMAP_PARSER_SIZE bytes,
 * zeroed the first time, or NULL out of memory. Blocks come from a
 * type-stable pool: given back when the slot is reset, never freed, so a
 * parser working on an fd another thread closes at that moment corrupts
 * at most a parser state, never memory. A dup'ed fd gets none (its
 * reads are not followed). */
#define FDMAP_PARSER_SIZE 512
void *fdmap_parser(struct fdslot *s);

/* The slot's parser block if it has one (a dup'ed fd has none), else NULL. */
static inline void *fdmap_parser_peek(const struct fdslot *s)
{
	return __atomic_load_n(&s->parser, __ATOMIC_ACQUIRE);
}

/* dup semantics: `to` now refers to what `from` refers to. */
void fdmap_copy(int from, int to);

/* fdmap_copy() with the kind `to` takes given (a value of enum fd_kind),
 * stored last and in the same store as always, so that a thread using
 * `to` meanwhile sees either its old kind or this one, never the
 * source's; kind < 0: the source's (fdmap_copy). */
void fdmap_copy_as(int from, int to, int kind);



#endif
