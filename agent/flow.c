/*
 * flow.c - the context rules, after AsyncLocalStorage: an operation is
 * tagged with the context current when it starts, and that context is
 * current again when its completion is dispatched.
 *
 * Hot path: for an fd that carries nothing this is one slot lookup and one
 * branch; switching to the context a thread already has costs no atomic.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/epoll.h>

#include "agent/config.h"
#include "base/debug.h"
#include "base/ctx.h"
#include "ctxmap/epmap.h"
#include "ctxmap/relay.h"
#include "ctxmap/timermap.h"
#include "agent/dgram.h"
#include "agent/flow.h"
#include "agent/handoff.h"
#include "agent/conn.h"
#include "agent/inherit.h"
#include "agent/propagate.h"
#include "agent/out.h"
#include "agent/relay.h"
#include "agent/out_fd.h"
#include "agent/propagate.h"
#include "agent/spans.h"

/* For the diagnostics: which context this thread switches to, and why. */
static void note_switch(const struct ctx *to, const char *why, int fd)
{
	const struct ctx *from = agent_self.cur;

	DEBUG("switch %s -> %s (%s fd %d)", from ? ctx_name(from)->id : "none", to ? ctx_name(to)->id : "none", why, fd);
}

/* Makes the slot's context current, if it has one. */
static void switch_now(struct fdslot *s, const char *why, int fd)
{
	struct ctx *c = fdmap_ctx_peek(s);

	if (c == NULL)
		return;
	if (c == agent_self.cur) {
		/* The thread works on its context's own fd: what it has is its
		 * own now, not only inherited (the head may have renamed the
		 * accept-time context in place, so the pointer did not change).
		 * Not a timer: one the thread armed on what it inherited says
		 * nothing of whose work it does (flow_read_slot). */
		if (unlikely(agent_self.inherited) && fdmap_kind(s) != FD_TIMER) {
			agent_self.inherited = NULL;
			agent_self.lock_watch = (unsigned char)((agent_self.lock_watch & LOCK_WATCH_QUEUE) |
								(agent_self.closed && agent_self.born_in_request ?
								 LOCK_WATCH_NEXT : 0));
		}
		return;
	}
	c = fdmap_ctx_get(s);
	if (c) {
		if (unlikely(debug_fd >= 0))
			note_switch(c, why, fd);
		ctx_take_current(c);
	}
}

/* switch_now(), except on a batched thread (heads_read): it carries none
 * until its next turn, whatever it touches, since its run queue may run
 * the work of any request it holds next (HAProxy past its run queue's
 * depth: a stream's log after another stream's reply was read, t_runq
 * "batched"). An event starts a turn, so it asks switch_now(). */
static void switch_to_(struct fdslot *s, const char *why, int fd)
{
	if (unlikely(agent_self.batched) && !ctx_pinned())
		return;
	switch_now(s, why, fd);
}

/* The cause recorded is the calling flow_* function and the fd. */
#define switch_to(s, fd) switch_to_((s), __func__, (fd))

static bool answered(const struct ctx *c);
static inline bool answered_last(int fd);
static void chain_seen(int fd, const struct ctx *before, bool chained);

/* A job a channel's queued units name (`c`, a reference the caller hands
 * over), or NULL: units of a request that is over or answered (a worker
 * that emptied its queue reads the wake-ups of jobs it finished: their
 * connections closed, or answered and handed back) name nothing now.
 * Not for relayed bytes: their context is another process's, and a
 * relayed line comes after its request was answered. */
static inline struct ctx *job_named(struct ctx *c)
{
	if (c != NULL && c != agent_self.cur && (flow_request_over(c) || answered(c))) {
		ctx_put(c);
		return NULL;
	}
	return c;
}

/* Makes `c` (a reference the caller hands over), read from or woken by
 * channel `from`, current. A context the program entered itself (pinned)
 * outranks a wake-up through a pipe or an eventfd: runtimes wake their
 * threads that way for their own reasons (Ruby's sleeping threads wait on
 * its wake-up pipe). So does the interrupted code's, in a signal handler:
 * what a handler reads is not that code's work (libuv's SIGCHLD handler
 * takes its lock pipe, last written under whichever request started a
 * child), and the code it returns to goes on with its own context. */
static inline __attribute__((always_inline)) void take_from_chan(struct ctx *c, const struct chan *from,
								   const char *why, int fd)
{
	if (c == agent_self.cur || ctx_pinned() || agent_self.in_signal) {
		ctx_put(c);            /* already current: just the extra reference */
		return;
	}
	/* Nothing known of the bytes: a process started inside a request
	 * stays in it (agent/inherit.c). */
	if (c == NULL && unlikely(inherit_home != NULL))
		return;
	if (unlikely(debug_fd >= 0))
		note_switch(c, why, fd);
	ctx_take_current(c);
	/* What the wait rules ask (foreign, handoff_wait_ends): the context
	 * rests on this channel only, until the next switch. */
	agent_self.chan_took = from;
	agent_self.chan_took_at = agent_self.switches;
	if (c != NULL)
		handoff_job_handed();
}

bool flow_cur_from_chan(void)
{
	return agent_self.cur && agent_self.chan_took && agent_self.chan_took_at == agent_self.switches;
}

/* The request of `c` is still on its connection: the connection it was
 * made for is open and carries it (not the next request's context). */
static bool conn_open(const struct ctx *c)
{
	struct fdslot *s;

	if (c == NULL || c->conn_fd < 0 || (s = fdmap_peek(c->conn_fd)) == NULL)
		return false;
	return fdmap_kind(s) == FD_CLIENT && fdmap_ctx_peek(s) == c;
}

bool flow_request_over(const struct ctx *c)
{
	return c && c->conn_fd >= 0 && !conn_open(c);
}

/* A listener thread: it accepts connections and hands them on, and has
 * never read or written one itself while other threads have (Apache
 * event's listener, memcached's main thread). What wakes it - a worker's byte through its self-pipe, a
 * keep-alive connection's event it passes to a worker - is no request's
 * work of its own: it takes no context from events or channels, only the
 * one its accept makes, until its next wait. */
int flow_served_elsewhere;       /* some thread read or wrote a client connection */
/* Threads that have accepted a connection: with more than one, any of them
 * may have queued the work a channel's repeating bytes announce (chan.h). */
static int accepting_threads;

static void now_serving(void)
{
	agent_self.served |= SERVED_YES;
	__atomic_store_n(&flow_served_elsewhere, 1, __ATOMIC_RELAXED);
}

/* In a wait that gave several fds at once (SERVED_SEVERAL), the thread is
 * done with `fd` (answered, accepted, closed): what it logs next is as
 * likely about the next ready fd, whose I/O has not come yet, as about
 * this one: nothing until that I/O (a trial's poll server: 431 of 600
 * lines logged before each connection's read carried the connection
 * before it). Not in a loop a bridge drives, nor with a context the
 * program entered. */
static inline void several_ready_done(int fd)
{
	if (likely(!(agent_self.served & SERVED_SEVERAL)) || agent_self.cur == NULL || agent_self.bridge_loop ||
	    ctx_pinned())
		return;
	/* Done with every fd the wait gave (each counted once; a server
	 * that writes an answer in two calls is done with its fd once; an
	 * fd the wait did not give, and an accept, whose listener is not
	 * named here, count for none): there is no next one to take the
	 * lines for. */
	if (agent_self.ready_left != INT_MAX) {
		for (int i = 0; fd >= 0 && i < agent_self.ready_n; i++)
			if (agent_self.ready_fd[i] == fd) {
				agent_self.ready_fd[i] = -1;
				agent_self.ready_left--;
				break;
			}
		if (agent_self.ready_left <= 0)
			return;
	}
	if (unlikely(debug_fd >= 0))
		DEBUG("%s: its lines carry nothing (done with fd %d in a wait that gave several fds)",
		      ctx_name(agent_self.cur)->id, fd);
	agent_self.muted = true;
}

void flow_accept(int fd, const struct sockaddr *peer, socklen_t len)
{
	struct ctx_seed seed = { 0 };
	char where[56];
	struct fdslot *s;
	struct ctx *c;

	if (unlikely(inherit_home != NULL))
		inherit_own_requests();
	epmap_forget_fd(fd);
	fdmap_reset(fd, FD_CLIENT);
	prop_accepted(fd);
	s = fdmap_peek(fd);
	ctx_format_peer(where, sizeof where, peer, len);
	seed.peer = where;
	c = ctx_new(&seed);
	if (s == NULL || c == NULL) {
		ctx_put(c);
		return;
	}
	c->conn_fd = fd;
	fdmap_tag(s, c);
	__atomic_store_n(&s->flags, FDF_FRESH, __ATOMIC_RELAXED);
	if (!agent_self.accepted) {
		agent_self.accepted = true;
		__atomic_add_fetch(&accepting_threads, 1, __ATOMIC_RELAXED);
	}
	DEBUG("start %s (accept fd %d, peer %s, trace %s)", ctx_name(c)->id, fd, c->peer, ctx_name(c)->trace_id);
	ctx_take_current(c);
	several_ready_done(-1);          /* the listener's readiness */
}

/* flow_accept_self: the socket whose local port the program asked last
 * (fd << 16 | port), and the thread that connect()ed to that port on a
 * loopback address (tid << 32 | fd of that socket); 0: none. */
static uint64_t self_named, self_dial;

static bool loopback(const struct sockaddr *a, socklen_t len, uint16_t *port)
{
	if (a == NULL)
		return false;
	if (a->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)a;

		*port = ntohs(in->sin_port);
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)a;

		*port = ntohs(in6->sin6_port);
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

void flow_named(int fd, const struct sockaddr *addr, socklen_t len)
{
	uint16_t port;

	if (fd >= 0 && fd < 1 << 30 && loopback(addr, len, &port) && port != 0)
		__atomic_store_n(&self_named, (uint64_t)fd << 16 | port, __ATOMIC_RELAXED);
}

void flow_dial(const struct sockaddr *addr, socklen_t len)
{
	uint64_t named = __atomic_load_n(&self_named, __ATOMIC_RELAXED);
	uint16_t port;

	if (named != 0 && loopback(addr, len, &port) && port == (uint16_t)named)
		__atomic_store_n(&self_dial, (uint64_t)(uint32_t)agent_tid() << 32 | (named >> 16),
				 __ATOMIC_RELAXED);
}

bool flow_accept_self(int lfd, int fd, const struct sockaddr *peer, socklen_t len)
{
	uint64_t d = __atomic_load_n(&self_dial, __ATOMIC_RELAXED);
	uint16_t port;

	if (d == 0 || (uint32_t)d != (uint32_t)lfd || d >> 32 != (uint32_t)agent_tid() ||
	    !loopback(peer, len, &port))
		return false;
	__atomic_store_n(&self_dial, 0, __ATOMIC_RELAXED);     /* once */
	epmap_forget_fd(fd);
	fdmap_reset(fd, FD_PEER);
	DEBUG("accept fd %d on fd %d: the other end of this thread's own connect: no client's, no request", fd, lfd);
	return true;
}

/* Output (a write, a connect): the heads read so far have work going out;
 * a head read after it is no batch with them. */
static inline void output_begins(void)
{
	agent_self.head_read = NULL;
	agent_self.job_quiet = false;
}

/* A job read from channel `rx` became the thread's context: if more jobs
 * were queued behind it already, until the thread writes, hands something
 * on or waits, a second job read from `rx` finds it untouched
 * (jobs_piling). A job written after the read is the next job of a
 * worker whose last one needed no output of its own. */
static inline void job_taken(const struct chan *rx)
{
	agent_self.job_quiet = !chan_quiet(rx);
	agent_self.job_chan = rx;
	agent_self.job_outputs = agent_self.outputs;
}

/* A read of `rx` names another job, queued already when the thread read
 * its last job from it, while that job (current, unanswered) or the jobs
 * it is already piling up from it are untouched: nothing written, no
 * line, nothing handed on, no wait since.
 * The thread empties its queue before it works on any (reads until
 * EAGAIN, then answers each): it holds several jobs, and the first ones'
 * lines would carry the last one read (a trial: 99 of 400 "start" lines,
 * t_batchpop "pipe-one"). None, and its answers' lines carry nothing, until
 * it waits again (draining several, answer_mutes). Not in an event loop,
 * a loop a bridge drives or a signal handler, nor over a context the
 * program entered. */
static bool jobs_piling(const struct chan *rx)
{
	if (!agent_self.job_quiet || agent_self.job_chan != rx || agent_self.job_outputs != agent_self.outputs ||
	    ctx_pinned() || agent_self.event_loop || agent_self.bridge_loop || agent_self.in_signal)
		return false;
	if (agent_self.cur == NULL)
		return agent_self.draining && agent_self.draining_several && agent_self.drain_chan == rx;
	return flow_cur_from_chan() && agent_self.chan_took == rx && !answered(agent_self.cur);
}

static inline void turn_ends(void)
{
	flow_turn_ends();
}

/* Client connection `s` was read: if the read started a request (its
 * context is not the one the thread read a head of last) and the thread
 * read another request's head with no output since, the thread holds two
 * requests' bytes and what it does next (an event loop's run queue after
 * its reads: HAProxy reads the heads of the connections it just accepted,
 * then connects and sends for each) is for either: none, until the loop's
 * next turn. Not on a loop a runtime's bridge drives (its requests' work
 * is told apart by the runtime's own machinery, from the context each
 * connection got at its head: reqctx_api_fd_snapshot, the bridges' entry
 * snapshots), nor on one no bridge vouches for (it names nobody anyway).
 * Returns whether the thread is batched. */
static bool heads_read(const struct fdslot *s, int fd, bool started)
{
	const struct ctx *c = fdmap_ctx_peek(s);

	if (started && c != NULL && !agent_self.reads_heads)
		agent_self.reads_heads = true;     /* (answer_mutes) */
	if (unlikely(agent_self.bridge_loop || agent_self.unvouched))
		return false;
	if (started && c != NULL) {
		const struct ctx *was = agent_self.head_read;

		if (was != NULL && was != c && !agent_self.batched) {
			/* The first request's connection, still its own and not
			 * answered (a write on the quick path marks it only). */
			const struct fdslot *p = fdmap_peek(agent_self.head_fd);

			if (p && fdmap_kind(p) == FD_CLIENT && fdmap_ctx_peek(p) == was &&
			    !(__atomic_load_n(&p->flags, __ATOMIC_RELAXED) & FDF_WROTE)) {
				agent_self.batched = true;
				DEBUG("fd %d: a second request's head read with nothing out for the first's (fd %d); none until the next wait",
				      fd, agent_self.head_fd);
			}
		}
		agent_self.head_read = c;
		agent_self.head_fd = fd;
	}
	return agent_self.batched;
}

/* A batched thread carries none (heads_read). */
static void batched_none(int fd)
{
	if (agent_self.cur && !ctx_pinned()) {
		if (unlikely(debug_fd >= 0))
			note_switch(NULL, "heads of two requests read in one turn", fd);
		ctx_take_current(NULL);
	}
}

/* The thread's context is still the one a write with none took from an
 * outbound connection (flow_write_slot), and is borrowed for that
 * exchange only (peer_borrowed). */
static inline bool borrowed(void)
{
	return agent_self.peer_took != 0 && agent_self.peer_took_at == agent_self.switches;
}

/* A write to outbound connection `fd` (its reply read since its last
 * write: `replied`) by a thread whose context is borrowed from another
 * connection, or from this one once it was replied to, is a writer's with
 * none. */
static inline bool peer_borrowed(int fd, bool replied)
{
	return borrowed() && (replied || agent_self.peer_took != fd + 1);
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


static bool flow_next_job(const struct chan *rx);
static bool job_mid_request(void);

void flow_read_slot(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n)
{
	struct chan *rx;
	unsigned char was_weak = agent_self.weak;

	agent_self.weak = 0;

	switch (fdmap_kind(s)) {
	case FD_CLIENT:
		if (unlikely(!(agent_self.served & SERVED_YES)))
			now_serving();
		/* Requests start (or a framed protocol's records are followed)
		 * in conn.c; the connection's context is then current. */
		if (n > 0 && conn_reads(s, data, dlen) &&
		    /* On a TLS connection these are encrypted bytes: requests
		     * start at the decrypted read (flow_tls_read). */
		    !(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_TLS)) {
			bool started = __atomic_load_n(&s->flags, __ATOMIC_RELAXED) & (FDF_FRESH | FDF_WROTE | FDF_IDLE);

			conn_read(s, fd, data, dlen, n);
			if (unlikely(heads_read(s, fd, started))) {
				batched_none(fd);
				flow_vouched();
				break;
			}
		}
		/* The thread works on this connection's bytes: when they carry
		 * no request (pipelined, framing lost), neither does the thread,
		 * whatever another connection left it with. */
		if (fdmap_ctx_peek(s) == NULL && agent_self.cur && !ctx_pinned()) {
			if (unlikely(debug_fd >= 0))
				note_switch(NULL, "read of a connection that carries none", fd);
			ctx_take_current(NULL);
		} else {
			/* The read of the fd this turn's event named, which
			 * carried none (event_ends), is still that event's:
			 * the rules for what the turn does next (flow_close)
			 * see it so. */
			bool brought = agent_self.event_fd == fd &&
				       agent_self.event_at == agent_self.switches;
			const struct ctx *before = agent_self.cur;
			bool chained = answered_last(fd);

			switch_to_(s, "flow_read", fd);
			if (brought)
				agent_self.event_at = agent_self.switches;
			chain_seen(fd, before, chained);
		}
		flow_vouched();
		break;
	case FD_PEER: {
		const struct ctx *before = agent_self.cur;

		if (n > 0) {
			flow_peer_mark(s, FDF_PASSED);
			flow_peer_mark(s, FDF_REPLIED);
		}
		if (unlikely(prop_wants(s)))
			prop_peer_read(fd, data, dlen, n);
		/* The reply to a call that named nobody: a context that rests
		 * only on another outbound connection (borrowed by a write, or
		 * its reply read last) stays behind. */
		if (fdmap_ctx_peek(s) == NULL && agent_self.cur &&
		    (borrowed() || was_weak == 2 ||
		     (agent_self.peer_read == fd + 1 && agent_self.peer_read_at == agent_self.switches &&
		      !ctx_pinned()))) {
			/* ... or one an earlier reply on this connection gave,
			 * before it became every request's (FDF_MUXED: a
			 * reader thread of a shared socket). */
			if (unlikely(debug_fd >= 0))
				note_switch(NULL, "read of a connection of nobody's with a borrowed context", fd);
			ctx_take_current(NULL);
		}
		/* A thread that serves client connections itself, on a request
		 * of its own evidence (not borrowed from a reply; not a loop
		 * whose last wait gave several fds, whose context follows its
		 * I/O), that reads a reply of another request's exchange keeps
		 * its own: a pooled connection that request left with its
		 * reply still coming (a timeout), drained by the next user
		 * before it writes (a trial: the drainer's lines, and its
		 * call's X-Request-Id, carried the first request's ID, 18 of
		 * 160 lines). A job worker that never touched a client
		 * connection takes the reply's request as before: it may be
		 * reading the reply of a call another worker made. */
		if (!(agent_self.cur && was_weak == 0 && agent_self.served == SERVED_YES &&
		      fdmap_ctx_peek(s) != NULL && fdmap_ctx_peek(s) != agent_self.cur && !borrowed()))
			switch_to_(s, "flow_read", fd);
		else if (unlikely(debug_fd >= 0))
			DEBUG("fd %d: a reply of %s read by %s, which keeps its own", fd,
			      ctx_name(fdmap_ctx_peek(s))->id, ctx_name(agent_self.cur)->id);
		if (agent_self.cur != before && agent_self.cur) {
			agent_self.peer_read = fd + 1;
			agent_self.peer_read_at = agent_self.switches;
		}
		/* What the context rests on now: the socket's tag, unless it is
		 * the context the thread already had on evidence of its own
		 * (its request's head read, a hand-off): the reply of its own
		 * call leaves that as it was, and its next connect is its
		 * request's (PHP's curl, then a file_get_contents). */
		agent_self.weak = agent_self.cur && (agent_self.cur != before || was_weak) ? 2 : 0;
		if (n > 0)
			flow_vouched();
		break;
	}
	case FD_TIMER:
		if (unlikely(agent_self.inherited || agent_self.pin_inherited) &&
		    fdmap_ctx_peek(s) == agent_self.cur && agent_self.cur != NULL) {
			/* A timer the thread armed on its creator's context (a
			 * flusher the first request started, woken by a periodic
			 * timerfd): its expiry is a sleep (rule 3), and once that
			 * ends the context the timer names nothing more. Before,
			 * every expiry gave the flusher that request again: a
			 * trial, 79 of 80 lines with the first request's ID. */
			handoff_slept_rules();
			if (agent_self.cur == NULL)
				fdmap_tag(s, NULL);
			break;
		}
		switch_to_(s, "flow_read", fd);
		break;
	case FD_DGRAM:            /* read/recv: the sender is not known */
		dgram_received(s, fd, NULL, 0, 1);
		break;
	case FD_CHAN:
		if (n > 0 && ((unlikely(agent_self.pin_inherited) && ctx_pinned()) ||
			      (unlikely(agent_self.fork_inherited) && agent_self.cur &&
			       agent_self.cur == agent_self.inherited))) {
			/* A thread started inside a request, or a child forked
			 * there (handoff_forked), takes bytes from a pipe or
			 * socketpair: work from elsewhere (a worker the first
			 * request started), no more its starter's. */
			if (unlikely(debug_fd >= 0))
				note_switch(NULL, "a channel read by a thread on its creator's context", fd);
			agent_self.pin_inherited = false;
			agent_self.inherited = NULL;
			agent_self.fork_inherited = false;
			ctx_take_current(NULL);
		}
		if (n > 0 && (rx = fdmap_chan_get(s, true)) != NULL) {
			struct ctx *c;
			bool named;

			enum chan_took took = chan_read(rx, n, data, dlen, flow_several_acceptors(), &c);

			if (took != CHAN_NOTHING) {
				if (flow_listener()) {
					ctx_put(c);   /* a wake-up, not a job */
					c = NULL;
				}
				/* Units of several writers, of none, or of a writer
				 * not known (CHAN_ANONYMOUS): the thread drains jobs
				 * it cannot tell apart, until it waits again. One
				 * write made with no context (a timer's tick) is one
				 * job of nobody's, not a batch (CHAN_NOBODY). */
				if (unlikely(c == NULL) && took != CHAN_NOBODY) {
					agent_self.draining = true;
					agent_self.drain_chan = rx;
					/* several writes' units (not one write
					 * of a writer not known): several jobs */
					agent_self.draining_several = took == CHAN_TOOK;
				} else if (c && c != agent_self.cur && jobs_piling(rx)) {
					ctx_put(c);
					c = NULL;
					if (agent_self.cur) {
						if (unlikely(debug_fd >= 0))
							note_switch(NULL, "reads another job with the last one untouched", fd);
						ctx_take_current(NULL);
					}
					agent_self.draining = true;
					agent_self.drain_chan = rx;
					agent_self.draining_several = true;
				} else if (c && agent_self.draining && agent_self.drain_chan == rx) {
					/* Back at that channel, a read that names
					 * its job: the batch was drained. */
					agent_self.draining = false;
				}
				c = job_named(c);
				named = c != NULL && c != agent_self.cur;
				if (c != agent_self.cur && job_mid_request()) {
					ctx_put(c);
				} else {
					/* A job of a request, taken with none of
					 * its own live: a worker's next turn, when
					 * it reads its jobs with no wait between
					 * (heads_read's mark ends). */
					if (named && !agent_self.bridge_loop)
						flow_turn_ends();
					take_from_chan(c, rx, "flow_read (queued bytes)", fd);
					/* The context holds while the channel is
					 * not one whose wake-ups several threads
					 * read: its first reads came before its
					 * second reader showed (ctx_carried). */
					if (named && agent_self.cur == c) {
						agent_self.chan_mark = chan_shared_mark(rx);
						job_taken(rx);
					}
				}
			} else if (unlikely(relaymap_any()) &&
				   relay_read(rx, data, dlen, n, &c)) {
				/* Bytes a forked child wrote (relay.h). */
				take_from_chan(c, rx, "flow_read (relayed bytes)", fd);
				relay_read_taken();
			} else if (flow_next_job(rx)) {
				/* Bytes the record does not know (a job queue a
				 * thread with none also writes: a timer's tick;
				 * jobs written where the agent cannot see, by
				 * libc's own writes), read by a thread whose
				 * request was answered: the next job, nobody's that
				 * is known, not more of the last. */
				take_from_chan(NULL, rx, "flow_read (bytes not recorded, after its request was answered)", fd);
			}
			chan_put(rx);
		}
		break;
	default:
		break;
	}
}

/* The thread's context is a request it read (its connection's, not
 * answered yet) that does not rest on a channel read: a worker whose
 * request a channel brought is not in the middle of one of its own, and
 * takes the next job the channel names. Output since the head does not
 * end it: a thread that hands its request's work to another through a
 * pipe, then takes a job from its own, is still in the middle of its
 * request (a trial: 239 of 800 lines after the take carried the job's
 * request; with the head-read mark this first asked for, the write had
 * ended it). */
static bool mid_own_request(void)
{
	const struct ctx *c = agent_self.cur;

	return c != NULL && !ctx_pinned() && !flow_cur_from_chan() && flow_request_live(c) == 1;
}

/* Leaves the thread, in the middle of a request of its own, with none;
 * the next connections it looks at or registers leave it so (flow_watch),
 * until its next switch. */
static void mid_request_none(const char *why, int fd)
{
	/* The turn's event still brought the connection it was for: the
	 * thread's answer there is that request's (write_slot). */
	bool brought = agent_self.event_at == agent_self.switches;

	if (unlikely(debug_fd >= 0))
		note_switch(NULL, why, fd);
	ctx_take_current(NULL);
	agent_self.mid_none = true;
	agent_self.mid_none_at = agent_self.switches;
	if (brought)
		agent_self.event_at = agent_self.switches;
}

/* The thread is in the middle of a request it read (mid_own_request) and
 * takes another request's job from a channel: an epoll worker fed
 * accepted connections through a pipe that takes them up while it serves
 * one. What it writes next may be about either (the new connection's
 * "taken up" line, the request's own lines after), and it goes on with
 * the new connection's setup (socket options, registration) before any
 * read of its own: none, and that setup leaves it with none
 * (flow_watch), until its next switch (a trial: the request's later lines
 * carried the last new connection's ID, 294 of 2,400). Not on a thread
 * whose context the program entered itself, nor on a loop a runtime's
 * bridge drives, nor in a signal handler (take_from_chan). Returns whether that is the case (the thread then has
 * none). */
static bool job_mid_request(void)
{
	if (!mid_own_request() || agent_self.bridge_loop || agent_self.unvouched ||
	    agent_self.in_signal)
		return false;
	mid_request_none("takes another request's job in the middle of its own", -1);
	return true;
}

/* A read of channel `rx` that nothing recorded, or a peek at it, is the
 * thread's next job, not more of its request's work: its context is not
 * the program's word (pinned), and its request's connection was closed by
 * it, or its request was answered and the channel is one contexts went
 * through (a job queue). A pipe only another process writes (a CGI's
 * output, relayed after the response began) leaves the context alone. */
static bool flow_next_job(const struct chan *rx)
{
	const struct ctx *c = agent_self.cur;

	return c && !ctx_pinned() &&
	       (c == agent_self.closed || (chan_carried(rx) && flow_request_answered(c)));
}

void flow_chan_peeked(struct fdslot *s, int fd)
{
	struct chan *rx;

	/* A look at a channel's next bytes (MSG_PEEK). */
	if (agent_self.cur == NULL || (rx = fdmap_chan_get(s, true)) == NULL)
		return;
	/* Several threads take jobs from it: the bytes this one sees may be
	 * the job another takes, and what it has is no evidence for them. */
	if (flow_next_job(rx) || (chan_carried(rx) && chan_several_readers(rx) && !ctx_pinned())) {
		if (unlikely(debug_fd >= 0))
			note_switch(NULL, "peek at a job queue", fd);
		ctx_take_current(NULL);
	}
	chan_put(rx);
}

ssize_t flow_read_done(struct fdslot *s, int fd, const void *data, size_t dlen, ssize_t r)
{
	agent_enter();
	flow_read_slot(s, fd, data, dlen, (size_t)r);
	agent_leave();
	return r;
}

void flow_tls_fd(int fd)
{
	struct fdslot *s = fdmap_peek(fd);
	unsigned flags;

	if (s == NULL || fdmap_kind(s) != FD_CLIENT)
		return;
	flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
	if (flags & FDF_TLS)
		return;
	/* A plain read may have seen the handshake already (a peek at the
	 * first byte): the protocol is the decrypted stream's, still to be
	 * read, and its first request too unless one was answered. */
	if (__atomic_load_n(&s->proto, __ATOMIC_RELAXED) != PROTO_UNKNOWN &&
	    !(flags & FDF_WROTE)) {
		struct ctx *c = __atomic_load_n(&s->ctx, __ATOMIC_ACQUIRE);

		__atomic_store_n(&s->proto, PROTO_UNKNOWN, __ATOMIC_RELAXED);
		flags |= FDF_FRESH;
		if (c)   /* the handshake looked like a session: it was not one */
			__atomic_store_n(&c->session, 0, __ATOMIC_RELAXED);
	}
	__atomic_or_fetch(&s->flags, flags | FDF_TLS, __ATOMIC_RELAXED);
}

void flow_tls_read(int fd, const void *data, size_t n)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s == NULL || fdmap_kind(s) != FD_CLIENT)
		return;
	if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_TLS))
		flow_tls_fd(fd);  /* set up another way than SSL_set_fd */
	if (n > 0 && conn_reads(s, data, n)) {
		bool started = __atomic_load_n(&s->flags, __ATOMIC_RELAXED) & (FDF_FRESH | FDF_WROTE | FDF_IDLE);

		conn_read(s, fd, data, n, n);
		if (unlikely(heads_read(s, fd, started))) {
			batched_none(fd);
			flow_vouched();
			return;
		}
	}
	switch_to_(s, "flow_tls_read", fd);
	flow_vouched();
}

static bool write_slot(struct fdslot *s, int fd, const void *data, const void *head,
		       size_t n, bool track);

/* Some worker answered a job with the previous job's request still current
 * from its own answer (answer_mutes): the process has workers that take
 * several jobs at once. Set once, never cleared. */
static int answers_jobs;

/* Before a switch to client connection fd's request: the thread's
 * context is the request it answered last, on another connection, with
 * no switch since, and the thread never read a request's head. */
static inline bool answered_last(int fd)
{
	return agent_self.cur && agent_self.answer_fd && agent_self.answer_fd != fd + 1 &&
	       agent_self.answer_fd_at == agent_self.switches && !agent_self.reads_heads;
}

/* After it (`before`: the context before, `chained`: answered_last()):
 * the thread went from the job it answered to another job's connection
 * (its answer, or its body read) with nothing between: answers_jobs. */
static void chain_seen(int fd, const struct ctx *before, bool chained)
{
	const struct ctx *cur = agent_self.cur;

	if (!chained || cur == before || cur == NULL || ctx_pinned() || agent_self.event_loop ||
	    agent_self.bridge_loop || __atomic_load_n(&answers_jobs, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&answers_jobs, 1, __ATOMIC_RELAXED);
	if (unlikely(debug_fd >= 0))
		DEBUG("%s: taken up with %s still current from its own answer: the program's workers take several jobs at once; their answers' lines carry nothing from now on (fd %d)",
		      ctx_name(cur)->id, ctx_name(before)->id, fd);
}

/* A write of an answer on client connection fd (the thread's context was
 * `before`, switch_to made the connection's current). `chained`
 * (answered_last, asked at a body read too): the thread wrote an answer
 * on another client connection last, with no switch since (no wait, no
 * other rule ended that request), and never read a request's head itself
 * (a worker that answers what other threads read, a request's body
 * perhaps included; a thread that reads its own connections' requests
 * and moves between them by writing, t_torture, is not one). Such a
 * worker took several jobs at once (a mutex-guarded queue swapped out
 * whole) and went from one to the next with no call between them: the
 * lines it wrote about this job before its answer carried the previous
 * job's ID. From then on (`answers_jobs`, for the process's life: every
 * such worker of the program), and on a thread that drains several
 * writes' records from one read or piles up queued jobs before any work
 * (`draining_several`; not one job's wake-up from a channel several
 * workers read, whose writer is not known), an answer is its request's
 * (its response ID, its accounting) and the lines after it carry nothing
 * (`muted`) until the thread's next switch or read: what it writes next
 * is as likely the next job's "start" as this one's "answered"
 * (t_batchpop). The answer's later writes keep it so: a muted thread's
 * write to its own connection goes the full way (flow_write_conn).
 * Otherwise the lines after an answer carry its request, as a pool's
 * worker that waits between jobs needs ("job done" after the answer and
 * the close: t_workers). Not in an event loop (its own rule, above, and
 * its next event), a loop a bridge drives, or a context the program
 * entered. */
static void answer_mutes(int fd, const struct ctx *before, bool chained)
{
	const struct ctx *cur = agent_self.cur;

	if (cur == NULL || ctx_pinned() || agent_self.event_loop || agent_self.bridge_loop)
		return;
	chain_seen(fd, before, chained);
	agent_self.answer_fd = fd + 1;
	agent_self.answer_fd_at = agent_self.switches;
	if (!(agent_self.draining && agent_self.draining_several) &&
	    (agent_self.reads_heads || !__atomic_load_n(&answers_jobs, __ATOMIC_RELAXED)))
		return;
	if (unlikely(debug_fd >= 0) && !agent_self.muted)
		DEBUG("%s: its lines carry nothing (an answer by a worker that takes several jobs at once, fd %d)",
		      ctx_name(cur)->id, fd);
	agent_self.muted = true;
}

/* Contexts went through channel fd `s`: a job queue from now on, whose
 * writes with none go the full way, to be recorded too (FDF_CARRIES). */
static inline void carries(struct fdslot *s)
{
	if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_CARRIES))
		__atomic_or_fetch(&s->flags, FDF_CARRIES, __ATOMIC_RELAXED);
}

void flow_write(int fd, const void *data, size_t n)
{
	struct fdslot *s = fdmap_peek(fd);

	if (s)
		write_slot(s, fd, data, data, n, false);
}

bool flow_write_slot_head(struct fdslot *s, int fd, const void *data, const void *head, size_t n)
{
	return write_slot(s, fd, data, head, n, true);
}

bool flow_write_slot(struct fdslot *s, int fd, const void *data, size_t n)
{
	return write_slot(s, fd, data, data, n, true);
}

/* `track`: the caller reports the call's return (flow_write_done). Returns
 * true when this write is the one in flight (agent_self.chan_write). */
static bool write_slot(struct fdslot *s, int fd, const void *data, const void *head,
		       size_t n, bool track)
{
	struct chan *tx;
	bool tracked = false;

	output_begins();
	switch (fdmap_kind(s)) {
	case FD_CLIENT:
		if (unlikely(!(agent_self.served & SERVED_YES)))
			now_serving();
		if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_WROTE))
			__atomic_or_fetch(&s->flags, FDF_WROTE, __ATOMIC_RELAXED);
		/* A batched thread's write (heads_read) is for one of the
		 * requests it holds; its next work may be for another. */
		if (unlikely(agent_self.batched))
			break;
		/* Writing to a client is working for its request, unless the
		 * program said the thread serves none (a runtime bridge's task
		 * started outside any request, pushing to every open
		 * WebSocket): its next lines are about the next session, not
		 * this one. */
		if (unlikely(agent_self.entered_none) && agent_self.cur == NULL)
			break;
		{
			const struct ctx *before = agent_self.cur;
			/* the fd of this turn's event (its input ended the
			 * request's hold on the thread: event_ends) */
			bool brought = agent_self.event_fd == fd &&
				       agent_self.event_at == agent_self.switches;
			bool chained = answered_last(fd);

			switch_to(s, fd);
			/* A connection that carries none (pipelined requests,
			 * lost framing): neither does the thread working on it,
			 * whatever another connection left it with (as a read,
			 * flow_read_slot; a trial: a failed write's line came out
			 * under the connection handled before). */
			if (fdmap_ctx_peek(s) == NULL && agent_self.cur && !ctx_pinned()) {
				if (unlikely(debug_fd >= 0))
					note_switch(NULL, "write to a connection that carries none", fd);
				ctx_take_current(NULL);
			}
			flow_vouched();
			/* An event loop writes to a connection that no event
			 * of its turn brought: work a timer or another
			 * connection's event resumed for that request (nginx
			 * writes an upstream timeout's 504, a server its
			 * pending replies, a broadcast). The write is that
			 * request's; what the thread logs next is as likely
			 * the next timer's as this one's (nginx logs each
			 * timeout before its 504): it carries nothing until
			 * the thread's next switch or I/O. Not in a loop a
			 * bridge drives, nor with a context the program
			 * entered. */
			if (agent_self.cur != before && agent_self.cur != NULL && !brought &&
			    agent_self.event_loop && !agent_self.bridge_loop && !ctx_pinned()) {
				if (unlikely(debug_fd >= 0))
					DEBUG("%s: its lines carry nothing (an event loop's write to a connection no event brought, fd %d)",
					      ctx_name(agent_self.cur)->id, fd);
				agent_self.muted = true;
			}
			answer_mutes(fd, before, chained);
			several_ready_done(fd);
		}
		break;
	case FD_PEER: {
		unsigned flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
		bool replied = flags & FDF_REPLIED;

		flow_peer_mark(s, FDF_PASSED);
		if (replied)
			__atomic_and_fetch(&s->flags, (uint8_t)~FDF_REPLIED, __ATOMIC_RELAXED);
		/* A request going out: its reply belongs to the writer, unless
		 * the writer's context is weak evidence (flow_connect) or
		 * muted and the socket is not already its own, or not vouched
		 * for at all (an event loop no bridge vouches for: that the
		 * socket's context is the thread's says only that its last
		 * reply was read here). A writer with none takes the socket's
		 * (a reply read back on a connection made for a request),
		 * unless the program said it serves none (a runtime bridge
		 * entered none: a job worker calling out on a pooled
		 * connection another request used last). */
		if (unlikely(agent_self.unvouched) || agent_self.entered_none ||
		    ((agent_self.weak || agent_self.muted) && fdmap_ctx_peek(s) != agent_self.cur)) {
			if (agent_self.cur) {
				if (unlikely(debug_fd >= 0))
					note_switch(NULL, "write out on weak evidence", fd);
				ctx_take_current(NULL);
			}
			fdmap_tag(s, NULL);
		} else if (agent_self.cur && !peer_borrowed(fd, replied)) {
			struct ctx *t = fdmap_ctx_peek(s);

			/* Another request's exchange still in flight on it (its
			 * write's reply not read): the replies come back in an
			 * order the agent does not know (one connection every
			 * request shares: a pipelined backend, a multiplexer;
			 * before, the reader took the last writer's request: a
			 * trial, 151 of 320 lines wrong). It names nobody for
			 * good; the writer keeps its own context. */
			if ((flags & FDF_MUXED) ||
			    (t != NULL && t != agent_self.cur && !replied && (flags & FDF_PASSED))) {
				if (!(flags & FDF_MUXED)) {
					flow_peer_mark(s, FDF_MUXED);
					if (unlikely(debug_fd >= 0))
						DEBUG("fd %d: written by %s while %s's exchange is in flight: nobody's from now on",
						      fd, ctx_name(agent_self.cur)->id, ctx_name(t)->id);
				}
				fdmap_tag(s, NULL);
			} else {
				fdmap_tag(s, agent_self.cur);
			}
		} else if (replied) {
			/* Read from since its last write: its exchange is over,
			 * and what the thread sends now is no continuation of
			 * it (a pooled connection another request used last,
			 * written by a thread that serves none, or by one whose
			 * context is only what such a write gave it before:
			 * Java's HttpClient writes every caller's request from
			 * its own worker threads). */
			if (agent_self.cur) {
				if (unlikely(debug_fd >= 0))
					note_switch(NULL, "write out on an idle connection with a borrowed context", fd);
				ctx_take_current(NULL);
			}
			fdmap_tag(s, NULL);
		} else if (fdmap_ctx_peek(s) == NULL) {
			/* Nobody's: a borrowed context stays behind (a worker
			 * writing on a connection made outside any request). */
			if (agent_self.cur) {
				if (unlikely(debug_fd >= 0))
					note_switch(NULL, "write out on a connection of nobody's with a borrowed context", fd);
				ctx_take_current(NULL);
			}
		} else if (agent_self.cur == NULL && flow_request_answered(fdmap_ctx_peek(s))) {
			/* A writer with none, on a socket whose request was
			 * answered: no continuation of that request's exchange
			 * (a statsd socket or a log sink one request opened and
			 * every request's thread writes later, a reply never
			 * read; before, each such writer took the first
			 * request's ID: a trial, 26 of 27 lines). The socket is
			 * nobody's from here. */
			if (unlikely(debug_fd >= 0))
				DEBUG("fd %d: written with no context after its request %s was answered: nobody's now",
				      fd, ctx_name(fdmap_ctx_peek(s))->id);
			fdmap_tag(s, NULL);
		} else if (agent_self.cur == NULL && !agent_self.event_loop && (flags & FDF_PASSED) &&
			   agent_self.peer_took != fd + 1) {
			/* A thread that never had an event handed out (a
			 * flusher, a worker started with the program) writing
			 * with none on a socket already written, its reply not
			 * read: more of an exchange someone else began, or one
			 * of many writers of a socket nobody answers: it takes
			 * nothing (before, a background thread's sends on a
			 * socket a request opened and wrote carried that
			 * request's ID: a trial, 66 of 66 lines). The first
			 * write of a connection made for a request still takes
			 * its tag (a client library's worker sending its
			 * caller's call: Java's HttpClient), and so do that
			 * thread's further writes of the exchange. */
		} else {
			switch_to(s, fd);
			agent_self.peer_took = fd + 1;
			agent_self.peer_took_at = agent_self.switches;
		}
		flow_vouched();
		break;
	}
	case FD_CHAN:
		if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_RELAY)
			relay_write(s, data, n);
		/* Recorded before the call: the reader may wake at once. A
		 * signal handler's write (a self-pipe: SIGTERM, SIGCHLD) is
		 * not the interrupted request's work: it carries none. */
		if ((tx = fdmap_chan_get(s, false)) != NULL) {
			/* In flight until the call returns (chan.h); one per
			 * thread: a signal handler's write inside another is
			 * recorded untracked (it still marks the overlap). */
			struct ctx *x = agent_self.in_signal ? NULL : ctx_carried();

			track = track && agent_self.chan_write == NULL;
			if (x)
				carries(s);
			if (chan_wrote(tx, x, units_of(tx, head, n), head, track)) {
				agent_self.chan_write = tx;     /* keeps the reference */
				tracked = true;
			} else {
				chan_put(tx);
			}
		}
		break;
	case FD_DGRAM:
		dgram_sending(s, fd);
		break;
	default:
		break;
	}
	agent_self.weak = 0;
	return tracked;
}

int flow_write_nobody(struct fdslot *s, const void *data, size_t n)
{
	struct chan *tx;

	output_begins();          /* the thread's request's work went out */
	if ((tx = fdmap_chan_get(s, false)) != NULL) {
		/* A stream flushed into a channel this process reads: a job
		 * queue (its reads of bytes nothing names carry none), even
		 * when the flushing thread has no context of its own left. */
		chan_set_carried(tx);
		carries(s);
		chan_wrote(tx, NULL, units_of(tx, data, n), data, false);
		chan_put(tx);
	}
	return FD_CHAN;
}

void flow_thread_exit(void)
{
	struct chan *tx = agent_self.chan_write;

	/* A write cancelled inside its call (a cancellation point) never
	 * reported its return: it is out of flight now. */
	agent_self.chan_write = NULL;
	if (tx) {
		chan_write_done(tx);
		chan_unref(tx);
	}
	chan_drop_held();
	relay_stash_free();
}

void flow_write_done(int fd, const void *data, size_t n, ssize_t r, bool tracked)
{
	struct fdslot *s = (size_t)r != n ? fdmap_peek(fd) : NULL;
	struct chan *tx = NULL;
	uint64_t want, took;

	/* Only the write that set it ends it: a signal handler's write made
	 * inside another's call is not tracked and leaves it alone. */
	if (tracked) {
		tx = agent_self.chan_write;
		agent_self.chan_write = NULL;
	}
	if ((size_t)r != n && s && fdmap_kind(s) == FD_CHAN) {
		struct chan *u = tx ? tx : fdmap_chan_get(s, false);

		if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_RELAY)
			relay_write_done(s, n, r);
		if (u) {
			want = units_of(u, data, n);
			took = r <= 0 ? 0 : chan_is_counter(u) ? want : (uint64_t)r;
			if (took < want)
				chan_unwrote(u, want - took);
			if (u != tx)
				chan_put(u);
		}
	}
	if (tx == NULL)
		return;
	chan_write_done(tx);
	chan_put(tx);
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

	relay_pipe_made(c);

	set_chan(fds[0], c, NULL);
	set_chan(fds[1], NULL, c);
	chan_unref(c);
}

void flow_socketpair(const int fds[2], bool messages)
{
	struct chan *ab = chan_new(false, false), *ba = chan_new(false, false);

	if (messages && ab)
		chan_messages(ab);
	if (messages && ba)
		chan_messages(ba);

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
		fdmap_tag(s, armed ? ctx_carried() : NULL);
}

void flow_ptimer_armed(timer_t id, bool armed)
{
	timermap_armed(id, armed ? ctx_carried() : NULL);
}

struct ptimer *flow_ptimer_new(void (*fn)(union sigval), union sigval value)
{
	return timermap_new(fn, value);
}

void flow_ptimer_created(struct ptimer *t, const timer_t *id, bool ok)
{
	timermap_created(t, ok ? *id : NULL, ok);
}

void flow_ptimer_deleted(timer_t id)
{
	timermap_deleted(id);
}

flow_ptimer_fn flow_ptimer_fires(struct ptimer *t, union sigval *value)
{
	if (agent_running()) {
		struct ctx *c = timermap_ctx(t);

		if (c)
			DEBUG("timer notification runs in %s (timer_settime)", ctx_name(c)->id);
		ctx_take_current(c);
	}
	*value = t->value;
	return t->fn;
}

struct ctx *flow_fd_ctx(int fd)
{
	struct fdslot *s = fdmap_moving(fd);

	if (s == NULL || fdmap_kind(s) == FD_CHAN)
		return NULL;
	return fdmap_ctx_get(s);
}

void flow_close_range(unsigned first, unsigned last)
{
	for (unsigned fd = first; fd <= last && fd < FDMAP_CHUNKS << FDMAP_CHUNK_BITS; fd++) {
		if (fdmap_peek((int)fd) == NULL) {
			fd |= (1u << FDMAP_CHUNK_BITS) - 1;   /* skip the empty chunk */
			continue;
		}
		flow_close((int)fd);
	}
}

static bool unread(const struct ctx *c);

void flow_watch(int fd)
{
	struct fdslot *s = fdmap_peek(fd);

	/* A thread the program said serves none (a bridge's callback that
	 * came with no request: Twisted's thread results, handed back with
	 * call_soon_threadsafe) registering a connection for writing: that
	 * names nobody's work, and the next callback of the same turn must
	 * not inherit the connection's request (a trial: 3 of 5 runs). */
	if (unlikely(agent_self.entered_none) && agent_self.cur == NULL)
		return;
	if (s == NULL || fdmap_kind(s) != FD_CLIENT)
		return;
	/* Left with none in the middle of a request (mid_request_none): the
	 * next connections it looks at leave it so. */
	if (agent_self.cur == NULL && agent_self.mid_none && agent_self.mid_none_at == agent_self.switches)
		return;
	if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_FRESH) {
		struct ctx *cur = agent_self.cur;

		/* A connection nothing was read from yet. */
		if (cur == fdmap_ctx_peek(s) || ctx_pinned())
			return;
		if (cur && !unread(cur)) {
			/* The thread worked on a request and takes up a new
			 * connection in the same turn: what comes next in the
			 * turn may be either's, as after two heads (heads_read),
			 * until its next wait or event. HAProxy answers a
			 * stream, takes a connection another thread accepted,
			 * reads its head, then writes the first stream's access
			 * line (a trial: 30 of 9,598 lines wrong, nbthread 2 to
			 * 4); an epoll worker fed connections through a pipe
			 * answers one, registers the next, then logs the first
			 * (a trial: 131 of 480). */
			if (agent_self.event_loop && !(agent_self.bridge_loop || agent_self.unvouched)) {
				agent_self.batched = true;
				if (unlikely(debug_fd >= 0))
					note_switch(NULL, "takes up a new connection after a request's work", fd);
				ctx_take_current(NULL);
				return;
			}
			/* A thread that waits for no events (a thread per
			 * connection) has no turn for the mark to end with: none
			 * until its next switch (a trial: a stats page's look at
			 * a connection accepted but not read yet left every later
			 * line of the thread's own connection bare, 99 of 120). */
			mid_request_none("looks at a new connection after a request's work", fd);
			return;
		}
		/* A thread that accepts its connections itself had this one
		 * current at its accept; if it has none or another new one
		 * now, it moved on: HAProxy accepts, finds its backlog empty,
		 * registers what it accepted, and may run other streams'
		 * tasks before its first read (a CI run: an access line
		 * carried the new connection's generated ID). A worker that
		 * accepts nothing takes a handed-off connection this way
		 * (memcached's: it logs "new client connection" right after,
		 * for each of a burst). */
		if (agent_self.accepted) {
			if (cur) {
				if (unlikely(debug_fd >= 0))
					note_switch(NULL, "registers a connection it did not read yet", fd);
				ctx_take_current(NULL);
			}
			return;
		}
	} else if (agent_self.cur != fdmap_ctx_peek(s) && mid_own_request()) {
		/* A connection that was read from, looked at or registered by
		 * a thread in the middle of another request it read: a stats
		 * page listing every connection, a sweep of idle ones. What it
		 * writes next is about its request or that connection: none,
		 * until its next I/O (a trial: 392 of 3,600 lines carried the
		 * last connection swept). */
		mid_request_none("looks at another connection in the middle of a request", fd);
		return;
	}
	switch_to(s, fd);
	agent_self.weak = 0;
}

/* `c`'s connection is open and has `flag` (FDF_*). */
static bool conn_has(const struct ctx *c, unsigned flag)
{
	return conn_open(c) &&
	       (__atomic_load_n(&fdmap_peek(c->conn_fd)->flags, __ATOMIC_RELAXED) & flag);
}

/* `c` was made at accept and nothing of its request has been read yet. */
static bool unread(const struct ctx *c)
{
	return conn_has(c, FDF_FRESH);
}

/* `c`'s request was answered: its connection was written to since its
 * head was read. */
static bool answered(const struct ctx *c)
{
	return conn_has(c, FDF_WROTE);
}

bool flow_request_answered(const struct ctx *c)
{
	return c != NULL && (answered(c) || flow_request_over(c));
}

int flow_request_live(const struct ctx *c)
{
	if (!conn_open(c) || answered(c))
		return 0;
	return unread(c) ? 2 : 1;
}

void flow_connect(int fd)
{
	struct fdslot *s = fdmap_slot(fd);

	if (s == NULL)
		return;
	if (fdmap_kind(s) != FD_PEER)
		__atomic_store_n(&s->kind, FD_PEER, __ATOMIC_RELEASE);
	else if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_CONNECTED) {
		/* connect() again on a socket being connected asks whether it
		 * is done (HAProxy's completion check): working on it, in its
		 * context, as a read would be - none if it carries none. */
		struct ctx *c = fdmap_ctx_peek(s);

		if (c)
			switch_to(s, fd);
		else if (agent_self.cur)
			flow_idle();
		flow_brought_by(s, fd);
		agent_self.weak = 0;
		return;
	}
	__atomic_or_fetch(&s->flags, FDF_CONNECTED, __ATOMIC_RELAXED);
	output_begins();
	/* Who a new outbound connection is for: the current request, when
	 * the thread's context rests on work for it - its head read, a
	 * hand-off. An event loop runs timers and queued tasks (HAProxy's
	 * health checks connect from there) after whatever I/O came last,
	 * so not when the context rests on weak evidence: an event handed
	 * out with no I/O since, or an outbound socket's tag (last writer of
	 * a pooled connection); nor when the request has asked for nothing
	 * yet (its connection not read from) or was answered already
	 * (written to since its read); nor on an event loop of a runtime
	 * whose bridge is not in (unvouched: the handler that connects ran
	 * from the runtime's own queues, not from the I/O that came last);
	 * nor when the context is one the thread borrowed from another
	 * outbound connection (a client library's worker thread).
	 * Then neither the socket nor what the thread does next carries it. */
	if (agent_self.cur && (agent_self.weak || ctx_unvouched() || unread(agent_self.cur) ||
			       answered(agent_self.cur) || borrowed())) {
		if (unlikely(debug_fd >= 0))
			note_switch(NULL, agent_self.unvouched ? "connect on a loop no bridge vouches for"
					  : agent_self.weak || agent_self.muted ? "connect on weak evidence"
					  : "connect outside a request being served", fd);
		ctx_take_current(NULL);
	}
	fdmap_tag(s, agent_self.cur);
}

void flow_new_fd(int fd, enum fd_kind kind)
{
	struct fdslot *s = fdmap_peek(fd);

	if (unlikely(fd <= __atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED)))
		inherit_stdin_gone(fd);
	if (unlikely(fd == spans_fd))
		spans_fd_event(fd);        /* reused behind our back: not ours */
	if (s == NULL && kind == FD_UNKNOWN)
		return;
	epmap_forget_fd(fd);
	if (s && fdmap_kind(s) == FD_EPOLL)
		epmap_drop_instance(fd);
	fdmap_reset(fd, kind);
	if (kind == FD_EPOLL)
		epmap_instance(fd);
}

bool flow_several_acceptors(void)
{
	return __atomic_load_n(&accepting_threads, __ATOMIC_RELAXED) > 1;
}

void flow_socket(int fd, int domain, int type)
{
	struct fdslot *s;

	flow_new_fd(fd, dgram_socket_kind(domain, type));
	if ((s = fdmap_peek(fd)) != NULL)
		__atomic_or_fetch(&s->flags, (type & 0xf) == SOCK_STREAM ? FDF_SOCK_STREAM : FDF_SOCK_OTHER,
				  __ATOMIC_RELAXED);
}

/*
 * An outbound connection that carried nothing (no byte written or read
 * back) is closed while the thread has a context. That connection was
 * made by whoever was current at connect(), and an event loop connects
 * from tasks that run after another request's I/O with no call between
 * (HAProxy's health checks, right after a stream's head was read); the
 * task that closes it then says what it found (the check's result lines,
 * about the server). So the thread's lines carry nothing (muted) until it
 * switches or works on a connection again (flow_vouched), when the
 * connection's event was handed out, or connect() asked again whether it
 * is done, and
 *  - the connection belongs to another context or to none: the thread is
 *    running that connection's task, not its current request's; or
 *  - it is the current context's and that event or asking brought the
 *    context (no switch since): nothing else vouches for it.
 * The context itself stays: what the thread sends next for its request
 * (a pooled upstream after a refused one) is still the request's. A
 * request's own upstream that fails in its own turn keeps its lines up to
 * the close (nginx logs "connect() failed" before it), and a connection
 * made and dropped without a wait changes nothing.
 */
static void carried_nothing(struct fdslot *s, int fd)
{
	unsigned flags;

	if (s == NULL || fdmap_kind(s) != FD_PEER || ctx_pinned())
		return;
	/* A connection the program made: connect() called on it. A socket of
	 * the same kind that was never connected is a listening one (each
	 * PostgreSQL backend closes its postmaster's before it logs its
	 * "connection received"), and a datagram socket connect()ed to fix
	 * its peer is no connection. */
	flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
	if ((flags & (FDF_PASSED | FDF_ASKED | FDF_CONNECTED | FDF_SOCK_OTHER)) !=
	    (FDF_ASKED | FDF_CONNECTED))
		return;
	if (fdmap_ctx_peek(s) == agent_self.cur &&
	    (agent_self.event_fd != fd || agent_self.event_at != agent_self.switches))
		return;
	if (unlikely(debug_fd >= 0))
		DEBUG("%s: its lines carry nothing (close of an outbound connection that carried nothing fd %d)",
		      ctx_name(agent_self.cur)->id, fd);
	agent_self.muted = true;
}

void flow_close(int fd)
{
	if (unlikely(fd <= __atomic_load_n(&inherit_stdin_top, __ATOMIC_RELAXED)))
		inherit_stdin_gone(fd);
	/* A thread that closes the connection of its current context is done
	 * with that request once it waits again (handoff.c): what it runs
	 * after that wait (a cached thread's next task) is not that
	 * request's. Draining a merged wake-up, it is done at once: the next
	 * job follows with no wait and nothing names it. The request's own
	 * (client) connection only: closing a connection it made to call
	 * another service (tagged with it too) is part of its work. */
	if (agent_self.cur) {
		struct fdslot *s = fdmap_peek(fd);

		carried_nothing(s, fd);
		if (s && fdmap_kind(s) == FD_CLIENT && fdmap_ctx_peek(s) == agent_self.cur) {
			several_ready_done(fd);
			if (agent_self.draining && !ctx_pinned()) {
				ctx_take_current(NULL);
			} else {
				agent_self.closed = agent_self.cur;
				agent_self.lock_watch = (unsigned char)handoff_closes_request();
				/* An event loop closes, on that connection's own
				 * event, a connection whose request was answered
				 * before (a keep-alive connection its client
				 * closed): what it runs next in the same turn is
				 * timer work of other requests (nginx logs their
				 * upstream timeouts there): its lines carry
				 * nothing until its next switch or I/O. */
				if (agent_self.event_loop && agent_self.event_fd == fd &&
				    agent_self.event_at == agent_self.switches &&
				    !agent_self.bridge_loop && !ctx_pinned() &&
				    flow_request_answered(agent_self.cur)) {
					if (unlikely(debug_fd >= 0))
						DEBUG("%s: its lines carry nothing (an event loop closed an answered connection on its event, fd %d)",
						      ctx_name(agent_self.cur)->id, fd);
					agent_self.muted = true;
				}
			}
		}
	}
	if (prop_wants(fdmap_peek(fd)))
		prop_close(fd);
	out_fd_closing(fd);
	{
		struct fdslot *s = fdmap_peek(fd);

		if (s)
			relay_closing(s);
	}
	flow_new_fd(fd, FD_UNKNOWN);
}

void flow_dup(int from, int to)
{
	struct fdslot *s = fdmap_peek(to);

	inherit_stdin_copied(from, to);

	if (s) {
		epmap_forget_fd(to);
		if (fdmap_kind(s) == FD_EPOLL)
			epmap_drop_instance(to);
	}
	/* The kind goes with it (dup2(2, 1) makes stdout a log too), except
	 * on fd 1 and 2, where what the new file is decides, before the
	 * copy: another thread's write meanwhile sees the old kind or the
	 * new one (out_redirect_kind). A relayed pipe keeps its own. */
	bool same = false;
	int kind = relay_source(from, to) ? -1 : out_redirect_kind(to, &same);
	const struct fdslot *src;

	/* A log copied onto fd 1 inside one of the process's own requests
	 * (dup2(2, 1) once fd 2 went to a capture file): that capture's
	 * stdout, data, not a log (a trial: its bytes prefixed). Outside
	 * any request, and in a process started inside one (a shell's
	 * `echo ... >&2` puts fd 2 on fd 1 for the builtin), dup2(2, 1)
	 * makes stdout a log too (the source's kind). */
	if (to == 1 && kind < 0 && agent_self.cur != NULL &&
	    __atomic_load_n(&inherit_home, __ATOMIC_RELAXED) == NULL &&
	    (src = fdmap_peek(from)) != NULL && fdmap_kind(src) == FD_OUTPUT)
		kind = FD_PLAIN;
	fdmap_copy_as(from, to, kind);
	if (relay_dup(from, to))
		return;           /* a relayed pipe: not a log, written unchanged */
	out_redirected(to, kind, same);
}

void flow_std_retargeted(int gone)
{
	for (int to = 0; to <= 2; to++) {
		/* What the new file is decides fd 1 and fd 2 (a terminal in a
		 * process started inside a request is data: out_redirect_kind). */
		bool same = false;
		int kind = to == 0 ? FD_UNKNOWN : out_redirect_kind(to, &same);

		flow_new_fd(to, kind < 0 ? FD_UNKNOWN : (enum fd_kind)kind);
		if (to > 0)
			out_redirected(to, kind, same);
	}
	if (gone > 2)
		flow_close(gone);
}

void flow_idle(void)
{
	agent_self.draining = false;
	/* A process started inside a request stays in it (agent/inherit.c). */
	struct ctx *home = __atomic_load_n(&inherit_home, __ATOMIC_ACQUIRE);

	if (unlikely(home != NULL)) {
		if (agent_self.cur != home && ctx_tryget(home))
			ctx_take_current(home);
		return;
	}
	/* A pinned context is the program's: a wait (Ruby sleeps in ppoll)
	 * does not end it. */
	if (agent_self.cur && !ctx_pinned())
		ctx_take_current(NULL);
}

/* Whether waiting on `fd` may bring work that is not the request of `arg`
 * (the current context): a client connection (the next request on it
 * included), a nested epoll instance, a listening socket or another
 * request's socket, a timer armed by another, a channel holding units of
 * another. fds the agent tracks nothing on (a latch's signalfd, a child
 * process's pipe) bring nothing of another request. */
static bool foreign(int fd, const void *arg)
{
	const struct ctx *cur = arg;
	struct fdslot *s = fdmap_peek(fd);
	struct chan *rx;
	bool f;

	if (s == NULL)
		return false;
	switch (fdmap_kind(s)) {
	case FD_CLIENT:
	case FD_EPOLL:
		return true;
	case FD_PEER:
		/* An outbound connection whose exchange is over (read from
		 * since its last write: a pool's idle connection) names no
		 * request when it wakes (event_names): a pool's check of it
		 * before handing it out again (urllib3 polls it with no time
		 * to wait) is the asking request's work. */
		if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_REPLIED)
			return false;
		return fdmap_ctx_peek(s) != cur;
	case FD_TIMER:
		return fdmap_ctx_peek(s) != cur;
	case FD_CHAN:
		if ((rx = fdmap_chan_get(s, true)) == NULL)
			return false;
		/* Waiting again on the channel whose bytes or wake-up gave the
		 * context (no switch since): back at its queue, not waiting
		 * inside that request (Ruby's worker sleeping on its sigwait
		 * eventfd after a Queue push woke it through it). */
		f = (rx == agent_self.chan_took && flow_cur_from_chan()) || !chan_only(rx, cur);
		chan_put(rx);
		return f;
	default:
		return false;
	}
}

static bool foreign_in(const struct flow_wait *w, const struct ctx *cur)
{
	bool any = false;

	if (w->epfd >= 0)
		return epmap_any(w->epfd, foreign, cur);
	/* poll or select on no fd at all: a sleep, which has always meant the
	 * thread waits with no context (programs and tests rely on it). */
	for (unsigned long i = 0; w->fds && i < w->nfds && !any; i++)
		any = w->fds[i].fd >= 0;
	for (int fd = 0; fd < w->nsel && fd < FD_SETSIZE && !any; fd++)
		for (int k = 0; k < 3; k++)
			any |= w->sets[k] && FD_ISSET(fd, w->sets[k]);
	if (!any)
		return true;
	for (unsigned long i = 0; w->fds && i < w->nfds; i++)
		if (w->fds[i].fd >= 0 && foreign(w->fds[i].fd, cur))
			return true;
	for (int fd = 0; fd < w->nsel && fd < FD_SETSIZE; fd++)
		for (int k = 0; k < 3; k++)
			if (w->sets[k] && FD_ISSET(fd, w->sets[k]) && foreign(fd, cur))
				return true;
	return false;
}

/* A wait inside a request (PostgreSQL's pg_sleep and lock waits on its
 * latch, a CGI's pipes, a sleep): the context stays, marked, so that a
 * wake-up that names no other request keeps it too (flow_event,
 * flow_ready). Anything else is an idle wait: no context. */
void flow_wait_begins(const struct flow_wait *w)
{
	struct ctx *cur = agent_self.cur;

	agent_self.draining = false;
	turn_ends();
	handoff_waits();
	flow_wait_relay_stale();
	if (unlikely(agent_self.fork_inherited)) {
		/* A forked child's first wait ends what it inherited
		 * (handoff_forked), even one inside that request. */
		agent_self.fork_inherited = false;
		if (cur && cur == agent_self.inherited) {
			agent_self.inherited = NULL;
			flow_idle();
			return;
		}
	}
	if (cur && conn_open(cur) && !foreign_in(w, cur)) {
		if (agent_self.waits_in != cur)
			DEBUG("keep %s across a wait inside its request (epfd %d)", ctx_name(cur)->id, w->epfd);
		agent_self.waits_in = cur;
		return;
	}
	flow_idle();       /* none, or the request the process was started in */
}

void flow_accept_begins(void)
{
	if (unlikely(debug_fd >= 0) && agent_self.cur)
		note_switch(NULL, "accept waits for a new connection", -1);
	flow_idle();
}

/* The thread woke from a wait inside its request (flow_wait_begins): a
 * wake-up that names no other request leaves its context alone. */
static inline bool kept(void)
{
	return agent_self.cur && agent_self.waits_in == agent_self.cur;
}

void flow_epoll_ctl(int epfd, int op, int fd, uint64_t data, uint32_t events)
{
	epmap_ctl(epfd, op, fd, data, events);
	/* Registering a connection is working on it (memcached's worker sets
	 * up each handed-off connection this way). */
	if (op != EPOLL_CTL_DEL) {
		struct fdslot *s = fdmap_peek(fd);

		flow_watch(fd);
		/* An outbound connection the loop waits for (carried_nothing:
		 * a check that times out gets no event before its close). */
		if (s && fdmap_kind(s) == FD_PEER)
			flow_peer_mark(s, FDF_ASKED);
	}
}

/* The context an event or readiness of slot `s` names: its own, except on
 * an outbound connection that was read from since its last write: its
 * exchange is over, and what wakes it now (writable for another request a
 * pool hands it, the peer closing it) is no continuation of that one (a
 * selector thread that writes for whichever request its queue gave it:
 * Java's HttpClient sent the next request with the previous one's
 * X-Request-Id). */
static inline struct ctx *event_names(const struct fdslot *s)
{
	struct ctx *c = fdmap_ctx_peek(s);

	if (c && fdmap_kind(s) == FD_PEER && c != agent_self.cur &&
	    (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_REPLIED))
		return NULL;
	return c;
}

/* Input reported on an answered HTTP connection (conn_answered): the
 * next request, not read yet, or the client's close (with a hang-up or
 * not: a client may send its next request and reset). Whatever the
 * thread logs before its next I/O on it (a server logs the event) carries
 * nothing: the previous request's ID there would be another request's.
 * The read that follows decides: a head starts the next request, the end
 * of the connection (a read of 0 bytes, or a reset's error) is its last
 * request's (nginx's "client closed keepalive connection"). A wake-up to
 * write (the rest of a long answer), or a hang-up with no input, is the
 * request's still. */
static inline bool event_ends(const struct fdslot *s, bool in)
{
	return fdmap_kind(s) == FD_CLIENT && unlikely(conn_answered(s)) && in;
}

/* event_ends(): the thread has none. */
static void input_ends(int fd)
{
	if (unlikely(debug_fd >= 0) && agent_self.cur)
		note_switch(NULL, "input on an answered connection", fd);
	flow_idle();
}

/* An epoll event's mask reports input (flow_event). */
static inline bool epoll_input(uint32_t events)
{
	return events & (EPOLLIN | EPOLLPRI);
}

/* An event of a connection that names `c`, not the thread's context
 * (event_switch, event_switches). */
static inline void event_takes(struct fdslot *s, int fd, struct ctx *c)
{
	if (c)
		switch_now(s, __func__, fd);
	if (agent_self.cur != c && !(c == NULL && kept()))
		flow_idle();             /* none, or the fd's context just ended */
	else
		agent_self.weak = agent_self.cur != NULL;
}

/* What an event makes current (flow_event). `s`: fd's slot, or NULL. */
static inline void event_switch(struct fdslot *s, int fd, uint32_t events)
{
	struct ctx *c;
	bool in;

	turn_ends();
	if (flow_listener()) {
		if (unlikely(debug_fd >= 0) && agent_self.cur)
			note_switch(NULL, "listener thread's event", fd);
		flow_idle();
		return;
	}
	if (s == NULL || fdmap_kind(s) == FD_CHAN) {
		in = epoll_input(events);
		if (s && kept()) {
			flow_ready(fd, in);  /* the channel decides, or keeps it */
			return;
		}
		if (fd < 0 || !kept())
			flow_idle();     /* -1: ambiguous; -2: a registration not seen */
		if (s)
			flow_ready(fd, in);
		return;
	}
	c = event_names(s);
	/* (with no context named, there is none to end) */
	if (c != NULL && event_ends(s, epoll_input(events))) {
		input_ends(fd);
		return;
	}
	if (c == agent_self.cur) {
		agent_self.weak = c != NULL;
		return;                  /* the common case: one compare */
	}
	event_takes(s, fd, c);
}

void flow_read_failed(struct fdslot *s, int fd, int err)
{
	unsigned kind = fdmap_kind(s);
	struct ctx *c;

	/* Nothing to read (EAGAIN, EINTR) says nothing of what the thread
	 * works on: loops read speculatively, without an event (HAProxy
	 * tries each stream's connections in its run queue; switching there
	 * gave its access lines other streams' IDs). A thread that holds
	 * several requests' heads keeps none (heads_read). */
	if ((kind != FD_CLIENT && kind != FD_PEER) || err == EAGAIN || err == EWOULDBLOCK ||
	    err == EINTR || !(agent_self.served & SERVED_YES) || agent_self.batched || ctx_pinned() ||
	    unlikely(agent_self.bridge_loop || agent_self.unvouched))
		return;
	c = event_names(s);
	if (c == agent_self.cur)
		return;
	if (c != NULL) {
		switch_to_(s, "a failed read", fd);
	} else if (kind == FD_CLIENT && agent_self.cur) {
		/* (an outbound connection that names none leaves the
		 * thread's context as it is: a pool's check of an idle
		 * connection it is about to use) */
		if (unlikely(debug_fd >= 0))
			note_switch(NULL, "a failed read of a connection that names none", fd);
		ctx_take_current(NULL);
	}
}

/* flow_event() for what its quick tests leave (out of line: the common
 * event keeps no frame). */
static __attribute__((noinline)) int event_slow(struct fdslot *s, int fd, uint32_t events)
{
	event_switch(s, fd, events);
	flow_brought_by(s, fd);
	return 1;
}

/* flow_event() for a connection that names `c`, not the thread's
 * context: event_switch()'s end. Inline: out of line, its tail call cost
 * the switching event (every event of a busy server's) 4 instructions
 * more than it saved the unswitched one's frame; inline, both take 4
 * fewer than the single function before. */
static inline int event_switches(struct fdslot *s, int fd, struct ctx *c)
{
	turn_ends();
	event_takes(s, fd, c);
	flow_brought_by(s, fd);
	return 1;
}

int flow_event(int fd, uint32_t events)
{
	struct fdslot *s = fd >= 0 ? fdmap_peek(fd) : NULL;
	struct ctx *c;

	/* event_switch()'s tests, in its order; what needs a call goes out
	 * of line. */
	if (unlikely(s == NULL) || flow_listener() || fdmap_kind(s) == FD_CHAN)
		return event_slow(s, fd, events);
	c = event_names(s);
	if (c != NULL && event_ends(s, epoll_input(events)))
		return event_slow(s, fd, events);
	if (c != agent_self.cur)
		return event_switches(s, fd, c);
	turn_ends();
	agent_self.weak = c != NULL;    /* the common case: one compare */
	flow_brought_by(s, fd);
	return 1;
}

void flow_ready(int fd, bool in)
{
	struct fdslot *s = fdmap_peek(fd);
	struct chan *rx;

	turn_ends();
	if (s == NULL)
		return;
	if (flow_listener()) {
		flow_idle();
		return;
	}
	if (fdmap_kind(s) != FD_CHAN) {
		if (event_ends(s, in))
			input_ends(fd);
		else if (event_names(s) == fdmap_ctx_peek(s))
			switch_to(s, fd);
		else if (!kept())
			flow_idle();            /* an idle outbound connection */
		flow_brought_by(s, fd);
		return;
	}
	/* A wake-up: the context of what waits to be read (inside a request,
	 * nothing recorded keeps the request's). */
	rx = fdmap_chan_get(s, true);
	if (rx) {
		if (!(kept() && chan_pending(rx) == 0))
			take_from_chan(job_named(chan_peek(rx)), rx, "flow_ready (queued bytes)", fd);
		chan_put(rx);
	}
}
