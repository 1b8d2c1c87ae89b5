/*
 * propagate.h - the wire rules: headers the agent inserts into HTTP/1.x
 * heads the program writes, and the spans those requests make.
 *
 *   - A request head written on a connection the program opened (connect)
 *     while a request is current gets `traceparent` (same trace, a new
 *     client span), the request-ID header and `baggage` (REQCTX_FIELDS),
 *     each unless the program wrote it (REQCTX_PROPAGATE chooses).
 *   - A response head written to a client gets the request-ID header
 *     unless it has one (REQCTX_RESPONSE_ID).
 *   - With REQCTX_SPANS, one SERVER span per request served and one CLIENT
 *     span per request sent.
 *
 * Byte accounting (docs/design.md, "Headers on the wire"): the program's
 * calls return counts of its own bytes only; headers are inserted just
 * before the blank line that ends a head, so the program always has bytes
 * left to write after them; inserted bytes the kernel did not take are
 * owed, and go out before any later byte of the program on that fd.
 */
#ifndef AGENT_PROPAGATE_H
#define AGENT_PROPAGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/ctx.h"
#include "ctxmap/fdmap.h"

/* The system call the program made, and what it needs besides the bytes. */
enum prop_how { PROP_WRITE, PROP_WRITEV, PROP_SEND, PROP_SENDTO, PROP_SENDMSG };

struct prop_call {
	enum prop_how how;
	int flags;                        /* send, sendto, sendmsg */
	const struct sockaddr *to;        /* sendto */
	socklen_t tolen;
	const struct msghdr *msg;         /* sendmsg: name and control data */
};

/* True when writes to this fd go through prop_write (one load). */
static inline bool prop_wants(const struct fdslot *s)
{
	return s && __atomic_load_n(&s->wire, __ATOMIC_RELAXED);
}

/* At start-up: opens the spans file. Returns 0 or -errno. */
int prop_init(void);

/* accept() returned client connection `fd`: the record its requests'
 * answers are followed in is made here, outside any request's read (no
 * allocation, so no system call, on the read that starts the request;
 * made again there from memory already mapped if this one failed,
 * none made when there is none). */
void prop_accepted(int fd);

/* A request was read on client connection `fd` (its head in
 * head[0..len), is_http when it is an HTTP/1.x request), served in `c`. */
void prop_request(struct fdslot *s, int fd, const struct ctx *c, const char *head,
		  size_t len, bool is_http);

/* connect(fd, addr): the program opens a connection. */
void prop_connect(int fd, const struct sockaddr *addr, socklen_t len);

/* A read on an outbound connection returned n bytes (data: the first dlen). */
void prop_peer_read(int fd, const void *data, size_t dlen, size_t n);

/* fd is closed: its pending spans are written. */
void prop_close(int fd);

/*
 * The program's write of iov[0..cnt) to fd, made as `call` says. Returns
 * what the call returns to the program (its own bytes) and sets errno like
 * the kernel would.
 */
ssize_t prop_write(struct fdslot *s, int fd, const struct iovec *iov, int cnt,
		   const struct prop_call *call);

/* How many bytes of an inserted header fd's connection still owes (0:
 * none, or not followed): what goes out before the program's next bytes.
 * For the unit tests; a racy read. */
size_t prop_owed(int fd);

/* A thread starts (the thread-start wrapper, and the constructor for the
 * first thread): its memory for the sends the wire rules rewrite (27 KiB,
 * not zeroed) is taken now, never on a send, and a block is mapped ahead
 * (mem_reserve) for a thread whose start the agent does not see. */
void prop_thread_starts(void);

/* The calling thread ends: its per-thread wire memory goes back. */
void prop_thread_exit(void);

#endif
