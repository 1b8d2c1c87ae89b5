/*
 * socket.c - where contexts start (accept) and where they go out (connect).
 */
#include "agent/propagate.h"
#include "agent/dgram.h"
#include "agent/spans.h"
#include "base/probe.h"
#include "shims/shim.h"

/* The size of the caller's address buffer, read before the call where it
 * can be (0: none, or a length the kernel will refuse with EFAULT,
 * untouched: the agent never reads a caller's pointer first). */
static inline socklen_t address_cap(const struct sockaddr *addr, const socklen_t *len)
{
	return addr && len && probe_readable(len, sizeof *len) ? *len : 0;
}

/* A connection accepted on lfd (fd < 0: none). The peer's address is the
 * bytes the kernel wrote into the caller's buffer: at most `cap`, the
 * buffer's size, not the length it reports, which is the address's full
 * size (a buffer too small for it holds a cut address, read no further).
 * `own`: the buffer is the agent's (own_address), the address only for
 * the spans: whether the program accepted its own connection is judged
 * by what it asked for, as without spans. */
static inline int accepted(int lfd, int fd, const struct sockaddr *addr, socklen_t cap,
			   const socklen_t *len, bool own)
{
	if (fd >= 0 && agent_active()) {
		socklen_t n = addr && len ? (*len < cap ? *len : cap) : 0;

		AGENT_WORK(if (!flow_accept_self(lfd, fd, own ? NULL : addr, own ? 0 : n))
				   flow_accept(fd, addr, n));
	}
	return fd;
}

/* Waiting for a new connection: no request's work (flow_accept_begins). */
static inline void accept_begins(void)
{
	if (agent_active()) {
		shim_may_block();
		if (agent_self.cur)
			AGENT_WORK(flow_accept_begins());
	}
}

/* A server that asks for no peer address (libuv's, so Node's, accept4
 * with NULL) still gets it on its spans (client.address, client.port):
 * with spans on, the same call is made with a buffer of the agent's for
 * the kernel to fill, which the program never sees. The call, its fd and
 * its errno are the program's; only its address argument differs. */
static inline bool own_address(const struct sockaddr *addr)
{
	return addr == NULL && agent_active() && spans_on();
}

AGENT_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sockaddr_storage own;
	socklen_t own_len = sizeof own, cap = address_cap(addr, len);

	accept_begins();
	if (own_address(addr))
		return accepted(fd, REAL(accept)(fd, (struct sockaddr *)&own, &own_len),
				(struct sockaddr *)&own, sizeof own, &own_len, true);
	return accepted(fd, REAL(accept)(fd, addr, len), addr, cap, len, false);
}

AGENT_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct sockaddr_storage own;
	socklen_t own_len = sizeof own, cap = address_cap(addr, len);

	accept_begins();
	if (own_address(addr))
		return accepted(fd, REAL(accept4)(fd, (struct sockaddr *)&own, &own_len, flags),
				(struct sockaddr *)&own, sizeof own, &own_len, true);
	return accepted(fd, REAL(accept4)(fd, addr, len, flags), addr, cap, len, false);
}

AGENT_EXPORT int socket(int domain, int type, int protocol)
{
	int r = REAL(socket)(domain, type, protocol);

	if (r >= 0 && agent_active())
		AGENT_WORK(flow_socket(r, domain, type));
	return r;
}

AGENT_EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
	int r = REAL(socketpair)(domain, type, protocol, fds);

	if (r == 0 && agent_active())
		AGENT_WORK(flow_socketpair(fds, (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM));
	return r;
}

AGENT_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	/* Tagged before the call: a reply may be read by another thread as
	 * soon as the connection exists. */
	if (agent_active())
		AGENT_WORK(flow_connect(fd); flow_dial(addr, len); prop_connect(fd, addr, len));
	return REAL(connect)(fd, addr, len);
}

/* Asking about or configuring a connection is working on it: memcached's
 * worker calls getpeername() on each handed-off connection just before it
 * logs "<N new ... connection". */
static inline int about(int fd, int r)
{
	if (r == 0 && agent_active())
		AGENT_WORK(flow_watch(fd));
	return r;
}

/* The program asks a socket's own address: a listener's port it may
 * connect to itself (flow_named). */
AGENT_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	socklen_t cap = address_cap(addr, len);
	int r = REAL(getsockname)(fd, addr, len);

	/* What the buffer holds: a truncated address is not looked at. */
	if (r == 0 && addr && len && *len <= cap && agent_active())
		AGENT_WORK(flow_named(fd, addr, *len));
	return r;
}

AGENT_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return about(fd, REAL(getpeername)(fd, addr, len));
}

AGENT_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return about(fd, REAL(getsockopt)(fd, level, name, val, len));
}

AGENT_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return about(fd, REAL(setsockopt)(fd, level, name, val, len));
}
