/*
 * dgram.c - the datagram rules (dgram.h): a context per datagram received
 * on a server's socket, ended by the reply to its sender.
 *
 * The sender is kept in the context itself, so whichever thread replies
 * (the receiver, or a worker the context was handed to) ends it, and no
 * per-thread or per-socket state can point at a context of the pool that
 * was reused. Must never: tag the socket (its next event is another
 * datagram), or make a system call.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "base/debug.h"
#include "base/ctx.h"
#include "agent/dgram.h"

unsigned dgram_peer_key(unsigned char key[24], const struct sockaddr *sa, socklen_t len)
{
	if (sa == NULL || len < sizeof(sa_family_t))
		return 0;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;

		key[0] = AF_INET;
		memcpy(key + 1, &in->sin_port, 2);
		memcpy(key + 3, &in->sin_addr, 4);
		return 7;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		key[0] = AF_INET6;
		memcpy(key + 1, &in6->sin6_port, 2);
		memcpy(key + 3, &in6->sin6_addr, 16);
		memcpy(key + 19, &in6->sin6_scope_id, 4);
		return 23;
	}
	if (sa->sa_family == AF_UNIX && len > sizeof(sa_family_t)) {
		/* A named sender (an abstract name or a path): its first 23
		 * bytes. Two senders alike there end each other's context -
		 * none, never a wrong one. Unnamed senders are not known. */
		size_t n = len - sizeof(sa_family_t);

		if (n > 23)
			n = 23;
		key[0] = AF_UNIX;
		memcpy(key + 1, ((const struct sockaddr_un *)(const void *)sa)->sun_path, n);
		return (unsigned)n + 1;
	}
	return 0;
}

/* "a.b.c.d:port" for an IPv4 sender, without stdio: a datagram is a
 * request, and inet_ntop + snprintf would cost it some 2800 instructions,
 * ten times the rest of its start. Other families: ctx_format_peer. */
static char *put_dec(char *p, unsigned v)
{
	char t[5];
	int n = 0;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = t[--n];
	return p;
}

static void format_sender(char *dst, size_t cap, const struct sockaddr *sa, socklen_t len)
{
	if (sa && len >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET && cap >= 22) {
		const struct sockaddr_in *in = (const void *)sa;
		const unsigned char *b = (const unsigned char *)&in->sin_addr;
		char *p = dst;

		for (int i = 0; i < 4; i++) {
			p = put_dec(p, b[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = put_dec(p, ntohs(in->sin_port));
		*p = '\0';
		return;
	}
	ctx_format_peer(dst, cap, sa, len);
}

void dgram_received(struct fdslot *s, int fd, const struct sockaddr *from, socklen_t len,
		    unsigned count)
{
	struct ctx_seed seed = { 0 };
	char where[56];
	struct ctx *c;
	int saved = errno;        /* called on the read path, which keeps none */

	if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_DG_SERVED))
		__atomic_or_fetch(&s->flags, FDF_DG_SERVED, __ATOMIC_RELAXED);
	if (count != 1) {
		DEBUG("no context: %u datagrams in one call on fd %d", count, fd);
		if (agent_self.cur)
			ctx_take_current(NULL);
		errno = saved;
		return;
	}
	format_sender(where, sizeof where, from, len);
	seed.peer = where;
	c = ctx_new(&seed);
	if (c == NULL) {
		if (agent_self.cur)
			ctx_take_current(NULL);
		errno = saved;
		return;
	}
	c->dgram_peer_len = (uint8_t)dgram_peer_key(c->dgram_peer, from, len);
	if (c->dgram_peer_len == 0) {
		/* A sender not known: no reply matches; the next datagram
		 * or wait ends it. */
		c->dgram_peer[0] = AF_UNSPEC;
		c->dgram_peer_len = 1;
	}
	DEBUG("start %s (datagram on fd %d, peer %s, trace %s)", ctx_name(c)->id, fd,
	      c->peer[0] ? c->peer : "not known", ctx_name(c)->trace_id);
	ctx_take_current(c);
	errno = saved;
}

void dgram_sending(struct fdslot *s, int fd)
{
	struct ctx *c = agent_self.cur;

	/* Sending first, in a request (a datagram's too: a DNS forwarder's
	 * query upstream): a client's socket, whose replies belong to the
	 * request that sent. A server's socket has received before. */
	if (c == NULL || (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_DG_SERVED))
		return;
	__atomic_store_n(&s->kind, FD_PEER, __ATOMIC_RELEASE);
	/* Its exchange in flight from this send on: another request's send
	 * before a reply is read makes it nobody's (FDF_MUXED). */
	__atomic_or_fetch(&s->flags, FDF_PASSED, __ATOMIC_RELAXED);
	fdmap_tag(s, c);
	DEBUG("fd %d: a datagram client's socket (sent first, in %s)", fd, ctx_name(c)->id);
}

void dgram_sent(int fd, const struct sockaddr *to, socklen_t len)
{
	struct ctx *c = agent_self.cur;
	unsigned char key[24];
	unsigned n;

	if (c == NULL || c->dgram_peer_len == 0)
		return;
	n = dgram_peer_key(key, to, len);
	if (n != c->dgram_peer_len || memcmp(key, c->dgram_peer, n) != 0)
		return;
	DEBUG("reply to %s on fd %d: %s ends", c->peer, fd, ctx_name(c)->id);
	ctx_take_current(NULL);
}
