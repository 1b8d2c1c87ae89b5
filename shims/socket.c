/*
 * socket.c - where contexts start (accept) and where they go out (connect).
 */
#include "shim.h"

static inline int accepted(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (fd >= 0 && agent_active())
		SHIM_CORE(flow_accept(fd, addr, addr && len ? *len : 0));
	return fd;
}

REQCTX_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (agent_active())
		shim_may_block();
	return accepted(REAL(accept)(fd, addr, len), addr, len);
}

REQCTX_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (agent_active())
		shim_may_block();
	return accepted(REAL(accept4)(fd, addr, len, flags), addr, len);
}

REQCTX_EXPORT int socket(int domain, int type, int protocol)
{
	int r = REAL(socket)(domain, type, protocol);

	if (r >= 0 && agent_active())
		SHIM_CORE(flow_new_fd(r, FD_PEER));
	return r;
}

REQCTX_EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
	int r = REAL(socketpair)(domain, type, protocol, fds);

	if (r == 0 && agent_active())
		SHIM_CORE(flow_socketpair(fds));
	return r;
}

REQCTX_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	/* Tagged before the call: a reply may be read by another thread as
	 * soon as the connection exists. */
	if (agent_active())
		SHIM_CORE(flow_connect(fd));
	return REAL(connect)(fd, addr, len);
}
