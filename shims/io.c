/*
 * io.c - reads and writes. A read on a connection makes its context
 * current (and may start a request); a write to a log goes through the
 * line writer as the same call (write or writev); a write to a connection
 * tags or follows it. Each looks its fd up once.
 */
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>

#include "agent/propagate.h"
#include "agent/dgram.h"
#include "agent/inherit.h"
#include "base/probe.h"
#include "shims/shim.h"
#include "shims/stream.h"

/* The switch asked after the program's call returned (a read's slow
 * path): agent_active(), with errno kept, since resetting a copy
 * (agent_running_slow) may make calls of its own. */
static __attribute__((noinline)) bool shim_active_after(void)
{
	int e = errno;
	bool on = agent_active();

	errno = e;
	return on;
}

/* read_work() with the copy page's byte not 1. */
static __attribute__((noinline)) ssize_t read_switched(struct fdslot *s, int fd, const void *data,
						       size_t dlen, ssize_t r)
{
	return shim_active_after() ? flow_read_done(s, fd, data, dlen, r) : r;
}

/* The read rules past flow_read_conn(). Here, and not before the call, the
 * switch is asked: a switched-off agent does nothing, and a copy of the
 * process made without fork() is reset first (agent_running_slow), as a
 * write's gate does; the quick tests before only read the slot and set the
 * thread's marks. Tail calls both ways. Return r. */
static inline __attribute__((always_inline)) ssize_t read_work(struct fdslot *s, int fd, const void *data,
								size_t dlen, ssize_t r)
{
	if (likely(shim_armed()))
		return flow_read_done(s, fd, data, dlen, r);
	return read_switched(s, fd, data, dlen, r);
}

/* A read flow_read_conn_test() left to its bytes: its quick path with
 * conn_holds_request() asked (flow_read_conn), else read_work(). */
static __attribute__((noinline)) ssize_t read_bytes(struct fdslot *s, int fd, const void *data,
						    size_t dlen, ssize_t r)
{
	if (!conn_holds_request(data, dlen)) {
		flow_read_served();
		return r;
	}
	return read_work(s, fd, data, dlen, r);
}

/* The read rules for what flow_read_plain() leaves: out of line, so that
 * a shim's quick path keeps no frame for them, and with none of their
 * own up to the work. Return r. */
static __attribute__((noinline)) ssize_t read_slow(struct fdslot *s, int fd, const void *data,
						   size_t dlen, ssize_t r)
{
	switch (flow_read_conn_test(s, data, dlen)) {
	case FLOW_READ_DONE:
		return r;
	case FLOW_READ_BYTES:
		return read_bytes(s, fd, data, dlen, r);
	default:
		return read_work(s, fd, data, dlen, r);
	}
}

/* A datagram's receive, past the tests (recv_slow). */
static __attribute__((noinline)) ssize_t dgram_work(struct fdslot *s, int fd, const struct sockaddr *from,
						    socklen_t cap, socklen_t len, ssize_t r)
{
	if (likely(shim_armed()) || shim_active_after())
		AGENT_WORK(dgram_received(s, fd, from, len < cap ? len : cap, 1));
	return r;
}

/* On a datagram server's socket each datagram starts a request
 * (agent/dgram.h). `cap`: the address buffer's size, since the kernel
 * reports the full length. */
static __attribute__((noinline)) ssize_t recv_slow(struct fdslot *s, int fd, const void *data,
						   size_t dlen, ssize_t r, int flags,
						   const struct sockaddr *from, socklen_t cap,
						   socklen_t len)
{
	/* A peek leaves the bytes queued: the read that takes them moves
	 * what they carry (a request's head, a body's count, a queued
	 * hand-off), once; the datagram's receive starts it. */
	if (unlikely(flags & MSG_PEEK)) {
		if (fdmap_kind(s) == FD_CHAN) {
			if (r > 0 && (likely(shim_armed()) || shim_active_after()))
				AGENT_WORK(flow_chan_peeked(s, fd));
		} else if (!flow_slot_dgram(s)) {
			(void)flow_read_conn(s, data, dlen);
		}
		return r;
	}
	if (!flow_slot_dgram(s))
		return read_slow(s, fd, data, dlen, r);
	return dgram_work(s, fd, from, cap, len, r);
}

/* A read that failed (r < 0): a connection's real error (a reset, not
 * EAGAIN or EINTR: nothing to read says nothing) makes its context
 * current (flow_read_failed). Returns r, errno kept. */
static __attribute__((noinline)) ssize_t read_failed(int fd, ssize_t r)
{
	int err = errno;
	struct fdslot *s;

	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
		return r;
	s = flow_slot(fd);
	if (s && (fdmap_kind(s) == FD_CLIENT || fdmap_kind(s) == FD_PEER) &&
	    (likely(shim_armed()) || shim_active_after()))
		AGENT_WORK(flow_read_failed(s, fd, err));
	return r;
}

/* A read of an fd that may be the stdin of a helper a request started
 * (fd 0 or a copy: agent/inherit.h; no request's connection and no
 * channel of this process). Returns r, errno kept. */
static __attribute__((noinline)) ssize_t stdin_read(int fd, ssize_t r)
{
	if (r > 0 && inherit_stdin_fd(fd) && (likely(shim_armed()) || shim_active_after()))
		AGENT_WORK(inherit_stdin_read());
	return r;
}

/* A read of an fd with no slot, or one of a kind whose reads move
 * nothing (below FD_CLIENT): only a fed helper's stdin is watched there
 * (an inherited pipe or socket, never a channel this process made: a
 * number closed and made again lost its watch, inherit_stdin_gone). */
static inline __attribute__((always_inline)) ssize_t plain_read(int fd, ssize_t r)
{
	return unlikely(fd <= __atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED)) ? stdin_read(fd, r) : r;
}

static inline __attribute__((always_inline)) bool untracked(const struct fdslot *s, unsigned *kind)
{
	return s == NULL || (*kind = fdmap_kind(s)) < FD_CLIENT;
}

/* After a read that returned r (the first `dlen` bytes at `data`): returns
 * r. Inline up to flow_read_plain(). */
static inline __attribute__((always_inline)) ssize_t after_read(int fd, const void *data, size_t dlen, ssize_t r)
{
	struct fdslot *s;
	unsigned kind;

	if (unlikely(r < 0))
		return read_failed(fd, r);
	if (untracked(s = flow_slot(fd), &kind))
		return plain_read(fd, r);
	if (flow_read_plain_kind(s, kind))
		return r;
	return read_slow(s, fd, data, dlen, r);
}

/* The same for a receive that may name the sender. */
static inline __attribute__((always_inline)) ssize_t after_recv(int fd, const void *data, size_t dlen, ssize_t r, int flags,
				 const struct sockaddr *from, socklen_t cap, socklen_t len)
{
	struct fdslot *s;
	unsigned kind;

	if (unlikely(r < 0))
		return read_failed(fd, r);
	if (untracked(s = flow_slot(fd), &kind))
		return (flags & MSG_PEEK) ? r : plain_read(fd, r);
	if (flow_read_plain_kind(s, kind))
		return r;
	if (flags & MSG_TRUNC) {
		/* On a stream socket the bytes were discarded, none copied
		 * (r counts them); a datagram's real length may pass the
		 * buffer's end: the buffer says nothing either way (socket(7),
		 * tcp(7), udp(7)). */
		data = NULL;
		dlen = 0;
	}
	return recv_slow(s, fd, data, dlen, r, flags, from, cap, len);
}

/* The same for a receive that names no sender and takes what it reads
 * (recv without MSG_PEEK). */
static inline __attribute__((always_inline)) ssize_t after_recv_taken(int fd, const void *data, size_t dlen,
									ssize_t r)
{
	struct fdslot *s;
	unsigned kind;

	if (unlikely(r < 0))
		return read_failed(fd, r);
	if (untracked(s = flow_slot(fd), &kind))
		return plain_read(fd, r);
	if (flow_read_plain_kind(s, kind))
		return r;
	if (kind != FD_DGRAM)
		return read_slow(s, fd, data, dlen, r);
	return dgram_work(s, fd, NULL, 0, 0, r);
}

/* Whether `fd` is a datagram server socket, whose receives start requests
 * by their sender: only there is the caller's address buffer size read
 * before the call (nowhere else is a caller's pointer touched before the
 * kernel has checked it). */
static inline bool dgram_fd(int fd)
{
	return flow_slot_dgram(flow_moving(fd));
}

static inline size_t first_iov_len(const struct iovec *iov, int cnt, ssize_t r)
{
	if (cnt <= 0 || iov == NULL)
		return 0;
	return iov[0].iov_len < (size_t)r ? iov[0].iov_len : (size_t)r;
}

/* The first min(8, n) of the n bytes a gathered write sends or a
 * scattered read received, copied to head[8], when `s` is a channel's slot
 * and the agent can read them (the array `iov` itself was read already);
 * NULL otherwise. A channel's record tells one job's write from another by
 * them (ctxmap/chan.h): a pool fed by writev, or reading with readv into a
 * header and a payload buffer, finishing its reads out of order. */
static const void *iov_head(const struct fdslot *s, const struct iovec *iov, int cnt,
			    size_t n, unsigned char head[8])
{
	size_t got = 0, want = n < 8 ? n : 8;

	if (s == NULL || fdmap_kind(s) != FD_CHAN || want == 0)
		return NULL;
	for (int i = 0; i < cnt && got < want; i++) {
		size_t k = iov[i].iov_len < want - got ? iov[i].iov_len : want - got;

		if (k == 0)
			continue;
		if (!probe_readable(iov[i].iov_base, k))
			return NULL;
		__builtin_memcpy(head + got, iov[i].iov_base, k);
		got += k;
	}
	return got == want ? head : NULL;
}

/* after_read() for a scattered read: past the quick test, the head is
 * whole when the first buffer is shorter than it. */
static __attribute__((noinline)) ssize_t readv_slow(struct fdslot *s, int fd, const struct iovec *iov,
						    int cnt, ssize_t r)
{
	unsigned char head[8];
	const void *data = cnt > 0 ? iov[0].iov_base : NULL;
	size_t dlen = first_iov_len(iov, cnt, r);

	if (dlen < sizeof head && dlen < (size_t)r) {
		const void *h = iov_head(s, iov, cnt, (size_t)r, head);

		if (h) {
			data = h;
			dlen = (size_t)r < sizeof head ? (size_t)r : sizeof head;
		}
	}
	return read_slow(s, fd, data, dlen, r);
}

static inline __attribute__((always_inline)) ssize_t after_readv(int fd, const struct iovec *iov,
								 int cnt, ssize_t r)
{
	struct fdslot *s;
	unsigned kind;

	/* r < 0: iov may be what the kernel refused (not looked at). */
	if (unlikely(r < 0))
		return read_failed(fd, r);
	if (untracked(s = flow_slot(fd), &kind))
		return plain_read(fd, r);
	if (flow_read_plain_kind(s, kind))
		return r;
	return readv_slow(s, fd, iov, cnt, r);
}

static __attribute__((noinline)) ssize_t read_full(int fd, void *buf, size_t n)
{
	ssize_t r;

	if (!agent_active())
		return REAL(read)(fd, buf, n);
	shim_may_block();
	r = REAL_ON(read)(fd, buf, n);
	return after_read(fd, buf, (size_t)r, r);
}

AGENT_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t r;

	if (unlikely(!shim_read_outside()))
		return read_full(fd, buf, n);
	r = REAL_BOOTED(read)(fd, buf, n);
	return after_read(fd, buf, (size_t)r, r);
}

static __attribute__((noinline)) ssize_t readv_full(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r;

	if (!agent_active())
		return REAL(readv)(fd, iov, cnt);
	shim_may_block();
	r = REAL_ON(readv)(fd, iov, cnt);
	return after_readv(fd, iov, cnt, r);
}

AGENT_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r;

	if (unlikely(!shim_read_outside()))
		return readv_full(fd, iov, cnt);
	r = REAL_BOOTED(readv)(fd, iov, cnt);
	return after_readv(fd, iov, cnt, r);
}

static __attribute__((noinline)) ssize_t recv_full(int fd, void *buf, size_t n, int flags)
{
	ssize_t r;

	if (!agent_active())
		return REAL(recv)(fd, buf, n, flags);
	shim_may_block();
	r = REAL_ON(recv)(fd, buf, n, flags);
	return after_recv(fd, buf, (size_t)r, r, flags, NULL, 0, 0);
}

AGENT_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	ssize_t r;

	/* A peek, or a receive whose bytes may not be in the buffer
	 * (MSG_TRUNC), goes the full way: the quick one keeps no flags. */
	if (unlikely(!shim_read_outside() || (flags & (MSG_PEEK | MSG_TRUNC))))
		return recv_full(fd, buf, n, flags);
	r = REAL_BOOTED(recv)(fd, buf, n, flags);
	return after_recv_taken(fd, buf, (size_t)r, r);
}

AGENT_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
			       struct sockaddr *from, socklen_t *len)
{
	ssize_t r;
	socklen_t cap;

	if (!agent_active())
		return REAL(recvfrom)(fd, buf, n, flags, from, len);
	shim_may_block();
	cap = from && len && dgram_fd(fd) && probe_readable(len, sizeof *len) ? *len : 0;
	r = REAL(recvfrom)(fd, buf, n, flags, from, len);
	return after_recv(fd, buf, (size_t)r, r, flags, from, cap, cap ? *len : 0);
}

AGENT_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t r;
	socklen_t cap;
	unsigned char head[8];
	const void *data, *h;
	size_t dlen;

	if (!agent_active())
		return REAL(recvmsg)(fd, msg, flags);
	shim_may_block();
	cap = msg && dgram_fd(fd) && probe_readable(msg, sizeof *msg) && msg->msg_name ?
		      msg->msg_namelen : 0;
	r = REAL(recvmsg)(fd, msg, flags);
	if (r < 0)
		return r;
	data = msg->msg_iovlen ? msg->msg_iov[0].iov_base : NULL;
	dlen = first_iov_len(msg->msg_iov, (int)msg->msg_iovlen, r);
	if (dlen < sizeof head && dlen < (size_t)r && !(flags & MSG_TRUNC) &&
	    (h = iov_head(flow_slot(fd), msg->msg_iov, (int)msg->msg_iovlen, (size_t)r, head))) {
		data = h;      /* a channel's job head across buffers (readv_slow) */
		dlen = (size_t)r < sizeof head ? (size_t)r : sizeof head;
	}
	return after_recv(fd, data, dlen, r, flags, msg->msg_name, cap, cap ? msg->msg_namelen : 0);
}

/* Several datagrams at once: one is a request like recvmsg's; several
 * are ambiguous (dgram.h). On a stream socket, the first message's bytes. */
AGENT_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
			  struct timespec *timeout)
{
	socklen_t cap;
	struct fdslot *s;
	int r;

	if (!agent_active())
		return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
	shim_may_block();
	cap = vec && vlen && dgram_fd(fd) && probe_readable(vec, sizeof vec[0]) &&
	      vec[0].msg_hdr.msg_name ? vec[0].msg_hdr.msg_namelen : 0;
	r = REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
	if (r <= 0 || (flags & MSG_PEEK))
		return r;         /* a peek: as recv_slow */
	if ((s = flow_moving(fd)) == NULL)
		return (int)plain_read(fd, r);     /* a fed helper's stdin, maybe */
	if (flow_slot_dgram(s)) {
		socklen_t len = cap ? vec[0].msg_hdr.msg_namelen : 0;

		AGENT_WORK(dgram_received(s, fd, vec[0].msg_hdr.msg_name, len < cap ? len : cap,
					 (unsigned)r));
	} else {
		const struct msghdr *m = &vec[0].msg_hdr;

		bool shown = !(flags & MSG_TRUNC);   /* as after_recv */

		(void)after_read(fd, shown && m->msg_iovlen ? m->msg_iov[0].iov_base : NULL,
			   shown ? first_iov_len(m->msg_iov, (int)m->msg_iovlen, vec[0].msg_len) : 0,
			   vec[0].msg_len);
	}
	return r;
}

/*
 * A write shim's entries: the front makes the quick test (the one fd
 * lookup, flow_write_plain) with no frame of its own, and only when it
 * says no asks whether the agent is inside its own code (shim_outside:
 * what the quick test lets through is the plain call, which is what a
 * write from inside the agent makes too) and checks the switch
 * (shim_armed); the gate decides the same after agent_active() when
 * either said no (a vfork child's parent back, a copy, off), and
 * name##_slot does the rest.
 */
#define UNPAREN(...) __VA_ARGS__
#define WRITE_SHIM(name, params, args) \
	static __attribute__((noinline)) ssize_t name##_gate params \
	{ \
		struct fdslot *s; \
		if (!agent_active()) \
			return REAL(name) args; \
		s = flow_slot(fd); \
		if (s && flow_write_quick(s)) \
			return REAL(name) args; \
		return name##_slot(UNPAREN args, s); \
	} \
	static __attribute__((noinline)) ssize_t name##_conn(UNPAREN params, struct fdslot *s) \
	{ \
		if (s && flow_write_conn(s)) \
			return REAL_ON(name) args; \
		if (unlikely(!shim_armed())) \
			return name##_gate args; \
		return name##_slot(UNPAREN args, s); \
	} \
	AGENT_EXPORT ssize_t name params \
	{ \
		struct fdslot *s = flow_slot(fd); \
		if (s && flow_write_plain(s)) \
			return REAL_ON(name) args; \
		if (unlikely(!shim_outside())) \
			return name##_gate args; \
		return name##_conn(UNPAREN args, s); \
	}

static ssize_t tagged(int fd, const struct iovec *iov, int cnt, enum out_call how)
{
	ssize_t r;

	agent_enter();
	r = out_write(fd, iov, cnt, how);
	agent_leave();
	shim_cancel_point();
	return r;
}

/* A write the wire rules see whole (agent/propagate.h): headers may go
 * into it; it returns the program's own count and errno. */
static ssize_t wired(struct fdslot *s, int fd, const struct iovec *iov, int cnt,
		     const struct prop_call *call)
{
	ssize_t r;

	agent_enter();
	r = prop_write(s, fd, iov, cnt, call);
	agent_leave();
	return r;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; iov && i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

static __attribute__((noinline)) ssize_t write_slot(int fd, const void *buf, size_t n, struct fdslot *s)
{
	int k;                  /* write_begins: kind and tracking */

	if (out_slot_tagged(s)) {
		struct iovec v = { (void *)buf, n };

		return tagged(fd, &v, 1, OUT_CALL_WRITE);
	}
	k = flow_write_begins(s, fd, buf, n);
	if (unlikely(prop_wants(s))) {
		struct iovec v = { (void *)buf, n };
		struct prop_call pc = { .how = PROP_WRITE };

		return wired(s, fd, &v, 1, &pc);
	}
	return flow_write_ends(k, fd, buf, n, REAL(write)(fd, buf, n));
}

WRITE_SHIM(write, (int fd, const void *buf, size_t n), (fd, buf, n))

static __attribute__((noinline)) ssize_t writev_slot(int fd, const struct iovec *iov, int cnt, struct fdslot *s)
{
	int k;                  /* write_begins: kind and tracking */
	size_t n;
	unsigned char head[8];

	if (out_slot_tagged(s))
		return tagged(fd, iov, cnt, OUT_CALL_WRITEV);
	n = cnt > 0 && cnt <= IOV_MAX && probe_readable(iov, (size_t)cnt * sizeof *iov) ?
		    iov_total(iov, cnt) : 0;
	k = flow_write_begins_head(s, fd, NULL, iov_head(s, iov, cnt, n, head), n);
	if (unlikely(prop_wants(s)) && cnt > 0 && cnt <= IOV_MAX) {
		struct prop_call pc = { .how = PROP_WRITEV };

		return wired(s, fd, iov, cnt, &pc);
	}
	return flow_write_ends(k, fd, NULL, n, REAL(writev)(fd, iov, cnt));
}

WRITE_SHIM(writev, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt))

/* send* on stderr (a socket under some supervisors) passes untagged: its
 * flags have no writev equivalent. */
static __attribute__((noinline)) ssize_t send_slot(int fd, const void *buf, size_t n, int flags, struct fdslot *s)
{
	int k;                  /* write_begins: kind and tracking */

	k = flow_write_begins(s, fd, buf, n);
	if (unlikely(prop_wants(s))) {
		struct iovec v = { (void *)buf, n };
		struct prop_call pc = { .how = PROP_SEND, .flags = flags };

		return wired(s, fd, &v, 1, &pc);
	}
	return flow_write_ends(k, fd, buf, n, REAL(send)(fd, buf, n, flags));
}

WRITE_SHIM(send, (int fd, const void *buf, size_t n, int flags), (fd, buf, n, flags))

static __attribute__((noinline)) ssize_t sendto_slot(int fd, const void *buf, size_t n,
						      int flags, const struct sockaddr *to,
						      socklen_t len, struct fdslot *s)
{
	int k;                  /* write_begins: kind and tracking */

	k = flow_write_begins(s, fd, buf, n);
	if (unlikely(prop_wants(s))) {
		struct iovec v = { (void *)buf, n };
		struct prop_call pc = { .how = PROP_SENDTO, .flags = flags, .to = to, .tolen = len };

		return wired(s, fd, &v, 1, &pc);
	}
	return flow_dgram_ends(k, fd, to, len, flow_write_ends(k, fd, buf, n, REAL(sendto)(fd, buf, n, flags, to, len)));
}

WRITE_SHIM(sendto, (int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
		    socklen_t len), (fd, buf, n, flags, to, len))

static __attribute__((noinline)) ssize_t sendmsg_slot(int fd, const struct msghdr *msg,
						       int flags, struct fdslot *s)
{
	int k;                  /* write_begins: kind and tracking */
	size_t n;
	unsigned char head[8];
	/* The header read only if it can be (else the kernel's EFAULT). */
	const struct msghdr *m = msg && probe_readable(msg, sizeof *msg) ? msg : NULL;

	n = m && m->msg_iovlen <= IOV_MAX &&
	    probe_readable(m->msg_iov, m->msg_iovlen * sizeof *m->msg_iov) ?
		    iov_total(m->msg_iov, (int)m->msg_iovlen) : 0;
	k = flow_write_begins_head(s, fd, NULL, n ? iov_head(s, m->msg_iov, (int)m->msg_iovlen, n, head) : NULL, n);
	if (unlikely(prop_wants(s)) && m && m->msg_iovlen > 0 && m->msg_iovlen <= IOV_MAX) {
		struct prop_call pc = { .how = PROP_SENDMSG, .flags = flags, .msg = m };

		return wired(s, fd, m->msg_iov, (int)m->msg_iovlen, &pc);
	}
	return flow_dgram_ends(k, fd, m ? m->msg_name : NULL, m ? m->msg_namelen : 0,
			  flow_write_ends(k, fd, NULL, n, REAL(sendmsg)(fd, msg, flags)));
}

WRITE_SHIM(sendmsg, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags))

AGENT_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	int k;                  /* write_begins: kind and tracking */
	int r;

	if (!agent_active())
		return REAL(sendmmsg)(fd, vec, vlen, flags);
	k = flow_write_begins(flow_slot(fd), fd, NULL, 0);
	r = REAL(sendmmsg)(fd, vec, vlen, flags);
	for (int i = 0; i < r; i++)     /* a datagram socket's replies */
		flow_dgram_ends(k, fd, vec[i].msg_hdr.msg_name, vec[i].msg_hdr.msg_namelen, 0);
	return r;
}

AGENT_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	int k;                  /* write_begins: kind and tracking */

	if (!agent_active())
		return REAL(sendfile)(out, in, off, n);
	k = flow_write_begins(flow_slot(out), out, NULL, n);
	return flow_write_ends(k, out, NULL, n, REAL(sendfile)(out, in, off, n));
}

AGENT_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
	return sendfile(out, in, off, n);
}

/* glibc's eventfd_read/eventfd_write call read/write internally. */
AGENT_EXPORT int eventfd_read(int fd, eventfd_t *value)
{
	return read(fd, value, sizeof *value) == sizeof *value ? 0 : -1;
}

AGENT_EXPORT int eventfd_write(int fd, eventfd_t value)
{
	return write(fd, &value, sizeof value) == sizeof value ? 0 : -1;
}
