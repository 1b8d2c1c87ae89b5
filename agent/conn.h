/*
 * conn.h - where requests start on a server's connection: the connection's
 * protocol is recognised from its first bytes (agent/proto.h), and only
 * where its framing is understood does a connection hold several requests.
 */
#ifndef AGENT_CONN_H
#define AGENT_CONN_H

#include <stddef.h>

#include "agent/proto.h"
#include "ctxmap/fdmap.h"

/* The `len` bytes at `data`, read on an HTTP connection before its
 * request was answered, hold another request's line (its start, the end of
 * one, or the beginning of one at the end): the connection then carries
 * nothing more (conn_read). */
bool conn_holds_request(const void *data, size_t len);

/* True when a read of this connection must be shown to conn_read by its
 * marks alone: its first read, a read after the server wrote, a read
 * that goes on with a head begun in the one before, a read after a
 * request read whole before its answer, or any read of a framed protocol
 * (whose record boundaries are followed). Two loads. */
static inline bool conn_reads_marks(const struct fdslot *s)
{
	return (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) &
		(FDF_FRESH | FDF_WROTE | FDF_HEAD_OPEN | FDF_COMPLETE)) ||
	       __atomic_load_n(&s->proto, __ATOMIC_RELAXED) >= PROTO_FCGI;
}

/* ... and, when conn_reads_marks() said no, whether the bytes must be
 * asked (conn_holds_request): an HTTP read before the answer. */
static inline bool conn_reads_bytes(const struct fdslot *s, const void *data, size_t dlen)
{
	/* fewer than 5 bytes hold no request line's beginning */
	return __atomic_load_n(&s->proto, __ATOMIC_RELAXED) == PROTO_HTTP && dlen >= 5 &&
	       data != NULL;
}

/* True when a read of this connection must be shown to conn_read: by its
 * marks, or by its bytes. */
static inline bool conn_reads(const struct fdslot *s, const void *data, size_t dlen)
{
	return conn_reads_marks(s) ||
	       (conn_reads_bytes(s, data, dlen) && conn_holds_request(data, dlen));
}

/* HTTP client connection `s` was written to since its last read (its
 * request is answered, or its answer begun) and is between requests, not
 * inside a body nor a session: what the peer sends next is the next
 * request, or the connection's end, and which one is not known until it
 * is read. An event that reports input there carries no request; the
 * read decides (agent/flow.c). Two loads. */
static inline bool conn_answered(const struct fdslot *s)
{
	return (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_WROTE) &&
	       __atomic_load_n(&s->proto, __ATOMIC_RELAXED) == PROTO_HTTP;
}

/* A read of n > 0 bytes on client connection `fd` (slot `s`); `data` holds
 * the first `dlen`. Starts, adopts or ends requests on the slot; the caller
 * then makes the slot's context current (none: the thread's is cleared
 * here). */
void conn_read(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n);

/* The server answered the request on HTTP client connection `s` with
 * "Connection: close" (RFC 9112, 9.6): it reads no request after it (what
 * it reads until it closes, a lingering close's discard, is the
 * request's), so the connection is that request's to its close. */
void conn_closing(struct fdslot *s, int fd);

/* What the server wrote on HTTP client connection `s` so far is interim
 * responses only (100 Continue, 103 Early Hints; RFC 9110, 15.2): its
 * request is not answered yet, and the next read goes on with it (its
 * body) instead of starting the next request. */
void conn_answer_interim(struct fdslot *s);

/* The server answered 101 Switching Protocols (RFC 9110, 15.2.2): the
 * connection speaks another protocol from here on (a WebSocket), in the
 * context of the request that asked for it, throughout. */
void conn_switched(struct fdslot *s, int fd);

#endif
