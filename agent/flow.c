/*
 * flow.c - the context rules, after AsyncLocalStorage: an operation is
 * tagged with the context current when it starts, and that context is
 * current again when its completion is dispatched.
 *
 * Hot path: for an fd that carries nothing this is one slot lookup and one
 * branch; switching to the context a thread already has costs no atomic.
 */
#include <sys/epoll.h>

#include "agent/config.h"
#include "base/debug.h"
#include "base/ctx.h"
#include "ctxmap/epmap.h"
#include "agent/flow.h"
#include "agent/http.h"
#include "agent/out_fd.h"

/* For the diagnostics: which context this thread switches to, and why. */
static void note_switch(const struct ctx *to, const char *why, int fd)
{
	const struct ctx *from = agent_self.cur;

	DEBUG("switch %s -> %s (%s fd %d)", from ? from->id : "none", to ? to->id : "none", why, fd);
}

/* Makes the slot's context current, if it has one. */
static void switch_to_(struct fdslot *s, const char *why, int fd)
{
	struct ctx *c = fdmap_ctx_peek(s);

	if (c == NULL || c == agent_self.cur)
		return;
	c = fdmap_ctx_get(s);
	if (c) {
		if (unlikely(debug_fd >= 0))
			note_switch(c, why, fd);
		ctx_take_current(c);
	}
}

/* The cause recorded is the calling flow_* function and the fd. */
#define switch_to(s, fd) switch_to_((s), __func__, (fd))

/* Makes `c` (a reference the caller hands over) current. A context the
 * program entered itself (pinned) outranks a wake-up through a pipe or an
 * eventfd: runtimes wake their threads that way for their own reasons
 * (Ruby's sleeping threads wait on its wake-up pipe). */
static void take_from_chan(struct ctx *c, const char *why, int fd)
{
	if (c == agent_self.cur || ctx_pinned()) {
		ctx_put(c);            /* already current: just the extra reference */
		return;
	}
	if (unlikely(debug_fd >= 0))
		note_switch(c, why, fd);
	ctx_take_current(c);
}

void flow_accept(int fd, const struct sockaddr *peer, socklen_t len)
{
	struct ctx_seed seed = { 0 };
	char where[56];
	struct fdslot *s;
	struct ctx *c;

	epmap_forget_fd(fd);
	fdmap_reset(fd, FD_CLIENT);
	s = fdmap_peek(fd);
	ctx_format_peer(where, sizeof where, peer, len);
	seed.peer = where;
	c = ctx_new(&seed);
	if (s == NULL || c == NULL) {
		ctx_put(c);
		return;
	}
	fdmap_tag(s, c);
	__atomic_store_n(&s->flags, FDF_FRESH, __ATOMIC_RELAXED);
	DEBUG("start %s (accept fd %d, peer %s, trace %s)", c->id, fd, c->peer, c->trace_id);
	ctx_take_current(c);
}

/* The first bytes of a request on a client connection: adopt its IDs, or
 * on a keep-alive connection start a fresh context. */
static void start_request(struct fdslot *s, int fd, const void *data, size_t dlen, unsigned flags)
{
	const struct config *cfg = agent_config;
	struct ctx_seed seed = { 0 };
	struct http_ids ids;
	struct ctx *old, *c;

	ids.is_http = false;
	ids.request_id_len = 0;
	ids.has_trace = false;
	/* A request line starts with an uppercase method: anything else
	 * (memcached's "get k", TLS, binary protocols) is not looked at. */
	if (dlen >= 13 && *(const unsigned char *)data >= 'A' && *(const unsigned char *)data <= 'Z')
		http_parse_head(data, dlen, cfg->header, cfg->header_len, &ids);
	if ((flags & FDF_FRESH) && ids.request_id_len == 0 && !ids.has_trace)
		return;           /* the connection's context serves its first request */
	if (ids.request_id_len) {
		seed.id = ids.request_id;
		seed.id_len = ids.request_id_len;
	}
	if (ids.has_trace) {
		seed.trace_id = ids.trace_id;
		seed.trace_flags = ids.trace_flags;
	}
	old = fdmap_ctx_get(s);
	if (old) {
		seed.peer = old->peer;
		/* A request without a traceparent stays in the connection's
		 * trace only if it is the first; later ones get their own. */
	}
	c = ctx_new(&seed);
	ctx_put(old);
	if (c == NULL)
		return;
	DEBUG("start %s (%s on read fd %d; id %s, trace %s)", c->id,
	      flags & FDF_FRESH ? "first request" : "next request on keep-alive",
	      fd, ids.request_id_len ? "adopted from the request header" : "generated",
	      ids.has_trace ? "adopted from traceparent" : "generated");
	fdmap_tag(s, c);
	ctx_put(c);
}

/* Units a write or read moves through a channel: bytes, or for an eventfd
 * the 8-byte count written. */
static uint64_t units_of(const struct chan *tx, const void *data, size_t n)
{
	uint64_t v;

	if (!chan_is_counter(tx))
		return n;
	if (data == NULL || n != sizeof v)
		return 0;
	__builtin_memcpy(&v, data, sizeof v);
	return v;
}

void flow_read(int fd, const void *data, size_t dlen, size_t n)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s)
		flow_read_slot(s, fd, data, dlen, n);
}

void flow_read_slot(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n)
{
	struct chan *rx;

	switch (fdmap_kind(s)) {
	case FD_CLIENT:
		if (n > 0) {
			unsigned flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);

			if (flags && (flags = __atomic_exchange_n(&s->flags, 0, __ATOMIC_ACQ_REL)))
				start_request(s, fd, data, dlen, flags);
		}
		switch_to_(s, "flow_read", fd);
		break;
	case FD_PEER:
	case FD_TIMER:
		switch_to_(s, "flow_read", fd);
		break;
	case FD_CHAN:
		if (n > 0 && (rx = fdmap_chan_get(s, true)) != NULL) {
			struct ctx *c;

			if (chan_read(rx, n, &c)) {
				/* Units of several writers (or of none): the thread
				 * drains several jobs it cannot tell apart. */
				agent_self.draining = c == NULL;
				take_from_chan(c, "flow_read (queued bytes)", fd);
			}
			chan_unref(rx);
		}
		break;
	default:
		break;
	}
}

void flow_write(int fd, const void *data, size_t n)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s)
		flow_write_slot(s, fd, data, n);
}

void flow_write_slot(struct fdslot *s, int fd, const void *data, size_t n)
{
	struct chan *tx;

	switch (fdmap_kind(s)) {
	case FD_CLIENT:
		if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_WROTE))
			__atomic_or_fetch(&s->flags, FDF_WROTE, __ATOMIC_RELAXED);
		switch_to(s, fd);
		break;
	case FD_PEER:
		/* A request going out: its reply belongs to the writer. */
		if (agent_self.cur)
			fdmap_tag(s, agent_self.cur);
		else
			switch_to(s, fd);
		break;
	case FD_CHAN:
		/* Recorded before the call: the reader may wake at once. */
		if ((tx = fdmap_chan_get(s, false)) != NULL) {
			chan_wrote(tx, agent_self.cur, units_of(tx, data, n));
			chan_unref(tx);
		}
		break;
	default:
		break;
	}
}

void flow_write_done(int fd, const void *data, size_t n, ssize_t r)
{
	struct fdslot *s = fdmap_peek(fd);
	struct chan *tx;
	uint64_t want, took;

	if (s == NULL || fdmap_kind(s) != FD_CHAN || (size_t)r == n)
		return;
	tx = fdmap_chan_get(s, false);
	if (tx == NULL)
		return;
	want = units_of(tx, data, n);
	took = r <= 0 ? 0 : chan_is_counter(tx) ? want : (uint64_t)r;
	if (took < want)
		chan_unwrote(tx, want - took);
	chan_unref(tx);
}

static void set_chan(int fd, struct chan *rx, struct chan *tx)
{
	struct fdslot *s;

	flow_new_fd(fd, FD_CHAN);
	s = fdmap_peek(fd);
	if (s)
		fdmap_set_chans(s, rx, tx);
}

void flow_pipe(const int fds[2])
{
	struct chan *c = chan_new(false, false);

	set_chan(fds[0], c, NULL);
	set_chan(fds[1], NULL, c);
	chan_unref(c);
}

void flow_socketpair(const int fds[2])
{
	struct chan *ab = chan_new(false, false), *ba = chan_new(false, false);

	set_chan(fds[0], ba, ab);
	set_chan(fds[1], ab, ba);
	chan_unref(ab);
	chan_unref(ba);
}

void flow_eventfd(int fd, bool semaphore)
{
	struct chan *c = chan_new(true, semaphore);

	set_chan(fd, c, c);
	chan_unref(c);
}

void flow_timerfd(int fd)
{
	flow_new_fd(fd, FD_TIMER);
}

void flow_timer_armed(int fd, bool armed)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s && fdmap_kind(s) == FD_TIMER)
		fdmap_tag(s, armed ? agent_self.cur : NULL);
}

void flow_watch(int fd)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s && fdmap_kind(s) == FD_CLIENT)
		switch_to(s, fd);
}

void flow_connect(int fd)
{
	struct fdslot *s = fdmap_slot(fd);

	if (s == NULL)
		return;
	if (fdmap_kind(s) != FD_PEER)
		__atomic_store_n(&s->kind, FD_PEER, __ATOMIC_RELEASE);
	fdmap_tag(s, agent_self.cur);
}

void flow_new_fd(int fd, enum fd_kind kind)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s == NULL && kind == FD_UNKNOWN)
		return;
	epmap_forget_fd(fd);
	if (s && fdmap_kind(s) == FD_EPOLL)
		epmap_drop_instance(fd);
	fdmap_reset(fd, kind);
	if (kind == FD_EPOLL)
		epmap_instance(fd);
}

void flow_close(int fd)
{
	/* A thread that closes the connection of its current context is done
	 * with that request once it waits again (handoff.c): what it runs
	 * after that wait (a cached thread's next task) is not that
	 * request's. Draining a merged wake-up, it is done at once: the next
	 * job follows with no wait and nothing names it. */
	if (agent_self.cur) {
		struct fdslot *s = fdmap_peek(fd);

		if (s && fdmap_ctx_peek(s) == agent_self.cur) {
			if (agent_self.draining && !ctx_pinned())
				ctx_take_current(NULL);
			else
				agent_self.closed = agent_self.cur;
		}
	}
	out_fd_closing(fd);
	flow_new_fd(fd, FD_UNKNOWN);
}

void flow_dup(int from, int to)
{
	struct fdslot *s = fdmap_peek(to);

	if (s) {
		epmap_forget_fd(to);
		if (fdmap_kind(s) == FD_EPOLL)
			epmap_drop_instance(to);
	}
	/* The kind goes with it: dup2(2, 1) makes stdout a log too. */
	fdmap_copy(from, to);
	if (to == 2)
		out_stderr_redirected();
}

void flow_idle(void)
{
	agent_self.draining = false;
	/* A pinned context is the program's: a wait (Ruby sleeps in ppoll)
	 * does not end it. */
	if (agent_self.cur && !ctx_pinned())
		ctx_take_current(NULL);
}

void flow_epoll_ctl(int epfd, int op, int fd, uint64_t data)
{
	epmap_ctl(epfd, op, fd, data);
	/* Registering a connection is working on it (memcached's worker sets
	 * up each handed-off connection this way). */
	if (op != EPOLL_CTL_DEL)
		flow_watch(fd);
}

void flow_event(int fd)
{
	struct fdslot *s = fd >= 0 ? fdmap_peek(fd) : NULL;
	struct ctx *c;

	if (s == NULL || fdmap_kind(s) == FD_CHAN) {
		flow_idle();
		if (s)
			flow_ready(fd);
		return;
	}
	c = fdmap_ctx_peek(s);
	if (c == agent_self.cur)
		return;                  /* the common case: one compare */
	if (c)
		switch_to(s, fd);
	if (agent_self.cur != c)
		flow_idle();             /* none, or the fd's context just ended */
}

void flow_ready(int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	struct chan *rx;

	if (s == NULL)
		return;
	if (fdmap_kind(s) != FD_CHAN) {
		switch_to(s, fd);
		return;
	}
	/* A wake-up: the context of what waits to be read. */
	rx = fdmap_chan_get(s, true);
	if (rx) {
		take_from_chan(chan_peek(rx), "flow_ready (queued bytes)", fd);
		chan_unref(rx);
	}
}
