/*
 * io.c - reads and writes. A read on a connection makes its context
 * current (and may start a request); a write to stderr goes through the
 * line writer; a write to a connection tags or follows it.
 */
#include <sys/sendfile.h>

#include "shim.h"

/* After a successful read of r bytes whose first `dlen` are at `data`. */
static inline void after_read(int fd, const void *data, size_t dlen)
{
	SHIM_CORE(flow_read(fd, data, dlen));
}

static inline size_t first_iov_len(const struct iovec *iov, int cnt, ssize_t r)
{
	if (cnt <= 0 || iov == NULL)
		return 0;
	return iov[0].iov_len < (size_t)r ? iov[0].iov_len : (size_t)r;
}

REQCTX_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t r;

	if (!agent_active())
		return REAL(read)(fd, buf, n);
	shim_may_block();
	r = REAL(read)(fd, buf, n);
	if (r > 0)
		after_read(fd, buf, (size_t)r);
	return r;
}

REQCTX_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r;

	if (!agent_active())
		return REAL(readv)(fd, iov, cnt);
	shim_may_block();
	r = REAL(readv)(fd, iov, cnt);
	if (r > 0)
		after_read(fd, iov[0].iov_base, first_iov_len(iov, cnt, r));
	return r;
}

REQCTX_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	ssize_t r;

	if (!agent_active())
		return REAL(recv)(fd, buf, n, flags);
	shim_may_block();
	r = REAL(recv)(fd, buf, n, flags);
	if (r > 0)
		after_read(fd, buf, (size_t)r);
	return r;
}

REQCTX_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
			       struct sockaddr *from, socklen_t *len)
{
	ssize_t r;

	if (!agent_active())
		return REAL(recvfrom)(fd, buf, n, flags, from, len);
	shim_may_block();
	r = REAL(recvfrom)(fd, buf, n, flags, from, len);
	if (r > 0)
		after_read(fd, buf, (size_t)r);
	return r;
}

REQCTX_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t r;

	if (!agent_active())
		return REAL(recvmsg)(fd, msg, flags);
	shim_may_block();
	r = REAL(recvmsg)(fd, msg, flags);
	if (r > 0)
		after_read(fd, msg->msg_iovlen ? msg->msg_iov[0].iov_base : NULL,
			   first_iov_len(msg->msg_iov, (int)msg->msg_iovlen, r));
	return r;
}

/* Which way a write goes: 1 tagged output, 0 plain (after flow_write). */
static inline int before_write(int fd)
{
	enum fd_kind k;
	int out = 0;

	SHIM_CORE(
		k = flow_kind_for_write(fd);
		if (k == FD_OUTPUT)
			out = ctx_any;
		else if (k == FD_CLIENT || k == FD_PEER)
			flow_write(fd)
	);
	return out;
}

static ssize_t tagged_writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r;

	agent_enter();
	r = out_write(fd, iov, cnt);
	agent_leave();
	return r;
}

REQCTX_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (agent_active() && before_write(fd)) {
		struct iovec v = { (void *)buf, n };

		return tagged_writev(fd, &v, 1);
	}
	return REAL(write)(fd, buf, n);
}

REQCTX_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (agent_active() && before_write(fd))
		return tagged_writev(fd, iov, cnt);
	return REAL(writev)(fd, iov, cnt);
}

/* send* on stderr (a socket under some supervisors) passes untagged: its
 * flags have no writev equivalent. */
REQCTX_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (agent_active())
		before_write(fd);
	return REAL(send)(fd, buf, n, flags);
}

REQCTX_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			     const struct sockaddr *to, socklen_t len)
{
	if (agent_active())
		before_write(fd);
	return REAL(sendto)(fd, buf, n, flags, to, len);
}

REQCTX_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (agent_active())
		before_write(fd);
	return REAL(sendmsg)(fd, msg, flags);
}

REQCTX_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (agent_active())
		before_write(out);
	return REAL(sendfile)(out, in, off, n);
}

REQCTX_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
	return sendfile(out, in, off, n);
}
