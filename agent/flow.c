/*
 * flow.c - the context rules, after AsyncLocalStorage: an operation is
 * tagged with the context current when it starts, and that context is
 * current again when its completion is dispatched.
 *
 * Hot path: for an fd that carries nothing this is one slot lookup and one
 * branch; switching to the context a thread already has costs no atomic.
 */
#include "config.h"
#include "ctx.h"
#include "epmap.h"
#include "flow.h"
#include "http.h"
#include "out.h"

/* Makes the slot's context current, if it has one. */
static void switch_to(struct fdslot *s)
{
	struct ctx *c = fdmap_ctx_peek(s);

	if (c == NULL || c == agent_self.cur)
		return;
	c = fdmap_ctx_get(s);
	if (c)
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
	ctx_take_current(c);
}

/* The first bytes of a request on a client connection: adopt its IDs, or
 * on a keep-alive connection start a fresh context. */
static void start_request(struct fdslot *s, const void *data, size_t dlen, unsigned flags)
{
	const struct config *cfg = agent_config;
	struct ctx_seed seed = { 0 };
	struct http_ids ids;
	struct ctx *old, *c;

	ids.is_http = false;
	ids.request_id_len = 0;
	ids.has_trace = false;
	if (dlen)
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
	fdmap_tag(s, c);
	ctx_put(c);
}

void flow_read(int fd, const void *data, size_t dlen)
{
	struct fdslot *s = fdmap_peek(fd);
	enum fd_kind k;

	if (s == NULL)
		return;
	k = fdmap_kind(s);
	if (k == FD_CLIENT) {
		unsigned flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);

		if (flags && (flags = __atomic_exchange_n(&s->flags, 0, __ATOMIC_ACQ_REL)))
			start_request(s, data, dlen, flags);
	} else if (k != FD_PEER) {
		return;
	}
	switch_to(s);
}

void flow_write(int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	enum fd_kind k;

	if (s == NULL)
		return;
	k = fdmap_kind(s);
	if (k == FD_CLIENT) {
		if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_WROTE))
			__atomic_or_fetch(&s->flags, FDF_WROTE, __ATOMIC_RELAXED);
		switch_to(s);
	} else if (k == FD_PEER) {
		/* A request going out: its reply belongs to the writer. */
		if (agent_self.cur)
			fdmap_tag(s, agent_self.cur);
		else
			switch_to(s);
	}
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

/* fd 2 refers to another file now: it stays the output, and fds open on
 * the new file become output too. */
static void stderr_moved(void)
{
	struct fdslot *s;

	out_stderr_changed();
	fdmap_reclassify();
	s = fdmap_slot(2);
	if (s)
		__atomic_store_n(&s->kind, FD_OUTPUT, __ATOMIC_RELEASE);
}

void flow_close(int fd)
{
	out_fd_closing(fd);
	flow_new_fd(fd, FD_UNKNOWN);
	if (fd == 2)
		stderr_moved();
}

void flow_dup(int from, int to)
{
	struct fdslot *s = fdmap_peek(to);

	if (s) {
		epmap_forget_fd(to);
		if (fdmap_kind(s) == FD_EPOLL)
			epmap_drop_instance(to);
	}
	fdmap_copy(from, to);
	if (to == 2)
		stderr_moved();
}

void flow_idle(void)
{
	if (agent_self.cur)
		ctx_take_current(NULL);
}

void flow_ready(int fd)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s)
		switch_to(s);
}

enum fd_kind flow_kind_for_write(int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	enum fd_kind k = s ? fdmap_kind(s) : FD_UNKNOWN;

	if (k != FD_UNKNOWN)
		return k;
	if (fd == 1)
		k = FD_STDOUT;
	else
		k = out_is_stderr_file(fd) ? FD_OUTPUT : FD_PLAIN;
	s = fdmap_slot(fd);
	if (s)
		__atomic_store_n(&s->kind, (uint8_t)k, __ATOMIC_RELEASE);
	return k;
}
