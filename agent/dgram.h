/*
 * dgram.h - requests that arrive as datagrams (DNS, syslog-style servers).
 *
 * An unconnected datagram socket (FD_DGRAM) is a server's until the
 * program sends on it in a context before it ever received: then it is a
 * client's (a query to an upstream) and carries contexts like an outbound
 * socket (FD_PEER). On a server's socket each datagram received starts a
 * context, generated (a datagram has no header to adopt from), current on
 * the receiving thread; it ends at the reply to the same sender (a send to
 * that address, from any thread that has it) or at the next datagram. The
 * socket itself carries no context: its readiness means a new datagram.
 * A recvmmsg that returns several datagrams starts none: which of them the
 * work that follows belongs to is not known.
 */
#ifndef AGENT_DGRAM_H
#define AGENT_DGRAM_H

#include <stdbool.h>
#include <sys/socket.h>

#include "ctxmap/fdmap.h"

/* The kind a new socket(domain, type) gets. */
static inline enum fd_kind dgram_socket_kind(int domain, int type)
{
	return (type & 0xf) == SOCK_DGRAM &&
	       (domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX)
	       ? FD_DGRAM : FD_PEER;
}

/* `count` datagrams (>= 1) were received on FD_DGRAM `fd`; the first came
 * from `from` (NULL/0: not known). */
void dgram_received(struct fdslot *s, int fd, const struct sockaddr *from, socklen_t len,
		    unsigned count);

/* The program is about to send on FD_DGRAM `fd`. */
void dgram_sending(struct fdslot *s, int fd);

/* A send on a datagram socket to `to` succeeded: a reply to the sender of
 * the current context ends it. */
void dgram_sent(int fd, const struct sockaddr *to, socklen_t len);

/* The sender key of an address (at most 24 bytes); 0 when not known. For
 * the tests. */
unsigned dgram_peer_key(unsigned char key[24], const struct sockaddr *sa, socklen_t len);

#endif
