/*
 * propagate.c - inserts trace and request-ID headers into the HTTP/1.x
 * heads a program writes, accounts for every byte so the program never
 * sees them, and records the spans (agent/propagate.h).
 *
 * Per fd, a `conn` keeps the scanner (agent/wire.h), the inserted bytes
 * the kernel has not taken yet (owed), and the spans under way. A conn is
 * claimed (one atomic exchange, never waited for) while a write works on
 * it; a write that finds it claimed by another thread passes through
 * untouched and the scanner gives up on that connection.
 *
 * Must never: change a byte of anything but a well-formed head, count an
 * inserted byte to the program, let a byte of the program overtake owed
 * bytes, block where the program's call would not, or allocate on the
 * write path (a conn is made at connect or at a request's first read).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "agent/config.h"
#include "agent/conn.h"
#include "base/mem.h"
#include "base/probe.h"
#include "agent/fields.h"
#include "agent/http.h"
#include "agent/propagate.h"
#include "agent/spans.h"
#include "agent/wire.h"
#include "base/id.h"
#include "base/real.h"

#define CONN_CHUNK_BITS 10
#define CONN_CHUNKS 1024
#define HDR_MAX 1024            /* inserted bytes per head at most */
#define MAX_INS 8               /* heads completed by one call */
#define MAX_PIECES 64
#define STAGE 16384             /* small writes are gathered into one buffer */

struct conn {
	int busy;                   /* atomic claim */
	struct wire_scan w;
	uint16_t owed_len, owed_off;
	char owed[HDR_MAX];
	struct span srv;            /* the request being served (client connections) */
	char srv_path[SPAN_PATH_MAX + 1];  /* its url.path (srv.path points here) */
	struct span cli;            /* the request sent, until its reply (outbound) */
	char peer_addr[48];         /* where connect() went */
	uint16_t peer_port;
	int64_t sent_ns;            /* with spans: when the write under way began,
	                               if a head may end in it (0: none) */
	char fwd_span[17];          /* the span a forwarded traceparent now names,
	                               for the head's CLIENT span ("": none) */
	/* A forwarded traceparent's value being rewritten (forward()): the
	 * program's bytes fwd_orig go as fwd_new. Pending while some of it
	 * is still to go (the kernel stopped before it, or the program's
	 * call ended inside it): its byte fwd_done is fwd_at bytes into the
	 * program's next bytes. */
	bool fwd_pending;
	uint8_t fwd_done;
	uint32_t fwd_at;
	char fwd_orig[55], fwd_new[55];
};

static struct conn **chunks[CONN_CHUNKS];

enum piece_kind {
	PC_OWED,
	PC_PROG,
	PC_HDR,
	PC_FWD,                     /* the program's bytes that end the piece before
	                               it (split_fwd), sent as `p` (as many) */
};

struct piece {
	const char *p;
	size_t len;
	uint8_t kind;
	uint8_t ins;                /* PC_HDR: which insertion; PC_FWD: which rewrite */
};

/* A forwarded traceparent's value, rewritten whole: version 00, the trace
 * ID, the new parent-id, the flags (W3C Trace Context: 2 + 1 + 32 + 1 +
 * 16 + 1 + 2 bytes). */
#define FWD_LEN 55

struct plan {
	struct iovec v[MAX_PIECES];
	struct piece pc[MAX_PIECES];
	int np;
	int nins;
	size_t total;
	size_t prog;                /* the program's bytes offered */
	bool cut;                   /* the program's bytes did not all fit */
	bool declined;              /* an insertion point got no header */
	struct wire_scan sim;       /* the scanner after the planned bytes */
	char hdr[MAX_INS][HDR_MAX];
	char span[MAX_INS][17];     /* the client span each traceparent names */
	int nfwd;                   /* pieces of a rewritten traceparent (PC_FWD) */
	int nval;                   /* values forward() rewrote in this call */
	bool fwd_applied;           /* the pending value's pieces are in the plan */
	size_t val_off[MAX_INS];    /* each one's place: the program's bytes before it */
	char val_new[MAX_INS][FWD_LEN], val_orig[MAX_INS][FWD_LEN];
};

/* Per thread, taken when it starts (prop_thread_starts; the agent's own
 * memory, never the host's allocator): kept out of the static TLS block,
 * whose size every thread's stack pays for (a thread made with a small
 * stack fails with EINVAL when the block is large). */
struct prop_thread {
	struct plan plan;
	char stage[STAGE];
};
static AGENT_TLS struct prop_thread *pt;

/* The thread's block, taken when it started (prop_thread_starts); for a
 * thread whose start the agent did not see, a block the agent's memory
 * has at hand: no system call of the agent's on the program's send. None,
 * the send goes as the program made it. plan() sets what it reads. */
static struct prop_thread *prop_thread(void)
{
	if (unlikely(pt == NULL))
		pt = mem_alloc_mapped(sizeof *pt);
	return pt;
}

void prop_thread_starts(void)
{
	/* Not zeroed: no resident page until the thread's first rewritten
	 * send. None while no wire rule can rewrite a send. */
	if (pt == NULL && (agent_config->response_id || agent_config->propagate || spans_on()))
		pt = mem_alloc_uninit(sizeof *pt);
	(void)mem_reserve(sizeof *pt);      /* for a thread not seen starting */
}

void prop_thread_exit(void)
{
	if (pt) {
		mem_free(pt, sizeof *pt);
		pt = NULL;
	}
}

/* How conn_get() may make a missing record. */
enum conn_make {
	CONN_FIND,      /* not at all */
	CONN_MAPPED,    /* from memory already mapped: no system call (a
			   request's read, which a sandbox entered after accept
			   may let make none) */
	CONN_MAP,       /* mapping more if needed (accept, connect) */
};

/* The agent's own zeroed memory, errno kept (a read's way back must not
 * change what the program sees). Not the host's calloc: a program that
 * never called malloc would see its first one's system calls (glibc's
 * getrandom and brk) inside its first request's read (a trial: a server
 * in a strict seccomp sandbox killed there). */
static void *conn_alloc(size_t n, enum conn_make make)
{
	int saved = errno;
	void *p = make == CONN_MAP ? mem_alloc(n) : mem_alloc_mapped(n);

	if (p && make != CONN_MAP)
		memset(p, 0, n);
	errno = saved;
	return p;
}

static struct conn *conn_get(int fd, enum conn_make make)
{
	struct conn **chunk, **expected = NULL, *c;
	const size_t chunk_size = ((size_t)1 << CONN_CHUNK_BITS) * sizeof *chunk;

	if ((unsigned)fd >= (unsigned)CONN_CHUNKS << CONN_CHUNK_BITS)
		return NULL;
	chunk = __atomic_load_n(&chunks[fd >> CONN_CHUNK_BITS], __ATOMIC_ACQUIRE);
	if (chunk == NULL) {
		if (make == CONN_FIND)
			return NULL;
		chunk = conn_alloc(chunk_size, make);
		if (chunk == NULL)
			return NULL;
		if (!__atomic_compare_exchange_n(&chunks[fd >> CONN_CHUNK_BITS], &expected, chunk,
						 false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			mem_free(chunk, chunk_size);
			chunk = expected;
		}
	}
	c = __atomic_load_n(&chunk[fd & ((1 << CONN_CHUNK_BITS) - 1)], __ATOMIC_ACQUIRE);
	if (c || make == CONN_FIND)
		return c;
	/* Never freed: a conn is reused by the next object on that number. */
	c = conn_alloc(sizeof *c, make);
	if (c == NULL)
		return NULL;
	c->w.state = WS_NOT_HTTP;
	expected = NULL;
	if (!__atomic_compare_exchange_n((struct conn **)&chunk[fd & ((1 << CONN_CHUNK_BITS) - 1)],
					 (struct conn **)&expected, c, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		mem_free(c, sizeof *c);
		c = (struct conn *)expected;
	}
	return c;
}

void prop_accepted(int fd)
{
	if (agent_config->response_id || spans_on())
		(void)conn_get(fd, CONN_MAP);
}

static bool claim(struct conn *c)
{
	return __atomic_exchange_n(&c->busy, 1, __ATOMIC_ACQUIRE) == 0;
}

static void release(struct conn *c)
{
	__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
}

static struct wire_names names(void)
{
	return (struct wire_names){ agent_config->header, agent_config->header_len };
}

int prop_init(void)
{
	return spans_init(agent_config);
}

/* ---- spans ---- */

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Span `s` is over, written or not. */
static void drop(struct span *s)
{
	s->kind = SPAN_NONE;
	if (s->tracestate) {
		mem_free(s->tracestate, s->tracestate_len + 1u);
		s->tracestate = NULL;
	}
}

/* Ends span `s` at `end_ns` (0: now) and writes it. */
static void finish_at(struct span *s, uint16_t status, int64_t end_ns)
{
	if (s->kind == SPAN_NONE)
		return;
	if (status)
		s->status = status;
	s->end_ns = end_ns ? end_ns : spans_now();
	spans_emit(s);
	drop(s);
}

/* A span starts in the trace `nm` names: its copy of the trace's
 * tracestate (an SDK's span carries its span context's), none when
 * there is none or no memory for it. */
static void span_tracestate(struct span *s, const struct ctx_name *nm)
{
	size_t n = nm->tracestate ? nm->tracestate_len : 0;

	s->tracestate = n ? mem_alloc(n + 1) : NULL;
	s->tracestate_len = s->tracestate ? (uint16_t)n : 0;
	if (s->tracestate) {
		memcpy(s->tracestate, nm->tracestate, n);
		s->tracestate[n] = '\0';
	}
}

static void finish(struct span *s, uint16_t status)
{
	finish_at(s, status, 0);
}

/* A request head went out on an outbound connection (its insertion point
 * passed): the CLIENT span starts, with `span_id` the one its traceparent
 * names (NULL: none was inserted). */
static void client_starts(struct conn *c, const char *span_id)
{
	const struct ctx *x = agent_self.cur;
	char fwd[17];

	/* The span a forwarded traceparent of this head names, taken here
	 * whatever follows: the next head's is its own. */
	memcpy(fwd, c->fwd_span, sizeof fwd);
	c->fwd_span[0] = '\0';
	if (x == NULL || !spans_record(ctx_name(x)->trace_flags))
		return;
	/* A traceparent of the program's own (an SDK's, which records its
	 * own client span; one of another trace; one the agent could not
	 * read): the request went out in that trace, and a span of the
	 * agent's would name a call nobody continues. */
	if ((c->w.have & WIRE_H_TRACEPARENT) && span_id == NULL && fwd[0] == '\0')
		return;
	finish(&c->cli, 0);       /* pipelined before its reply: no status */
	c->cli.kind = SPAN_CLIENT;
	memcpy(c->cli.trace_id, ctx_name(x)->trace_id, 33);
	memcpy(c->cli.parent_id, x->span_id, 17);
	if (span_id == NULL && fwd[0])
		span_id = fwd;
	if (span_id)
		memcpy(c->cli.span_id, span_id, 17);
	else
		id_span(c->cli.span_id);
	c->cli.flags = ctx_name(x)->trace_flags;
	span_tracestate(&c->cli, ctx_name(x));
	copy_str(c->cli.method, sizeof c->cli.method, c->w.method, strlen(c->w.method));
	memcpy(c->cli.addr, c->peer_addr, sizeof c->cli.addr);
	c->cli.port = c->peer_port;
	c->cli.path = NULL;
	c->cli.status = 0;
	/* From the start of the write that sent the head: the server cannot
	 * have read it before, so its span starts inside this one. */
	c->cli.start_ns = c->sent_ns ? c->sent_ns : spans_now();
}

void prop_request(struct fdslot *s, int fd, const struct ctx *x, const char *head,
		  size_t len, bool is_http)
{
	const struct config *cfg = agent_config;
	bool spans = spans_on();
	const struct ctx_name *xn;
	struct conn *c;

	if (!is_http || x == NULL || !(cfg->response_id || spans)) {
		/* Not followed from here (bytes that are no request's head,
		 * requests pipelined: agent/conn.c): the server span under way
		 * will not see its answer, and is not written (before, it was
		 * at the next request on that fd number, with no status and
		 * that time as its end). */
		if (__atomic_load_n(&s->wire, __ATOMIC_RELAXED) && (c = conn_get(fd, CONN_FIND)) != NULL && claim(c)) {
			drop(&c->srv);
			release(c);
		}
		__atomic_store_n(&s->wire, 0, __ATOMIC_RELAXED);
		return;
	}
	c = conn_get(fd, CONN_MAPPED);       /* made at accept, if memory allowed */
	if (c == NULL || !claim(c))
		return;
	finish(&c->srv, 0);           /* the last one never finished its head */
	wire_init(&c->w, WIRE_RESPONSE);
	xn = ctx_name(x);                 /* read once */
	if (spans && (xn->trace_flags & 1)) {   /* sampled only, as an SDK */
		const char *m, *t;
		size_t ml, tl;

		c->srv.kind = SPAN_SERVER;

		memcpy(c->srv.trace_id, xn->trace_id, 33);
		memcpy(c->srv.span_id, x->span_id, 17);
		memcpy(c->srv.parent_id, xn->parent_id, 17);
		c->srv.flags = xn->trace_flags;
		span_tracestate(&c->srv, xn);
		c->srv.status = 0;
		c->srv.method[0] = c->srv_path[0] = '\0';
		c->srv.path = c->srv_path;
		if (http_request_line(head, len, &m, &ml, &t, &tl)) {
			const char *q = memchr(t, '?', tl);

			copy_str(c->srv.method, sizeof c->srv.method, m, ml);
			copy_str(c->srv_path, sizeof c->srv_path, t, q ? (size_t)(q - t) : tl);
		}
		spans_split_peer(x->peer, c->srv.addr, sizeof c->srv.addr, &c->srv.port);
		/* From the head's read, as an SDK's server span: not the
		 * context's start, which for a connection's first request is
		 * its accept, before the caller's client span began. */
		c->srv.start_ns = spans_now();
	}
	release(c);
	__atomic_store_n(&s->wire, 1, __ATOMIC_RELAXED);
}

void prop_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct config *cfg = agent_config;
	struct fdslot *s = fdmap_peek(fd);
	struct conn *c;
	int type = 0;
	socklen_t tl = sizeof type;
	unsigned flags;

	if (s == NULL || !(cfg->propagate || spans_on()))
		return;
	/* Streams only: a datagram is never an HTTP/1 head. The type is the
	 * one socket() was given; only a socket made elsewhere (inherited,
	 * made before the agent started) is asked about. */
	flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
	if (flags & FDF_SOCK_OTHER)
		return;
	if (!(flags & FDF_SOCK_STREAM) &&
	    (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM))
		return;
	c = conn_get(fd, CONN_MAP);
	if (c == NULL || !claim(c))
		return;
	finish(&c->cli, 0);
	wire_init(&c->w, WIRE_REQUEST);
	c->owed_len = c->owed_off = 0;
	c->fwd_span[0] = '\0';
	c->fwd_pending = false;
	c->peer_addr[0] = '\0';
	c->peer_port = 0;
	if (sa && len >= sizeof(sa_family_t)) {
		if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *in = (const void *)sa;

			inet_ntop(AF_INET, &in->sin_addr, c->peer_addr, sizeof c->peer_addr);
			c->peer_port = ntohs(in->sin_port);
		} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
			const struct sockaddr_in6 *in6 = (const void *)sa;

			inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_addr, sizeof c->peer_addr);
			c->peer_port = ntohs(in6->sin6_port);
		}
	}
	release(c);
	__atomic_store_n(&s->wire, 1, __ATOMIC_RELAXED);
}

void prop_peer_read(int fd, const void *data, size_t dlen, size_t n)
{
	struct conn *c = conn_get(fd, CONN_FIND);
	const unsigned char *b = data;

	if (c == NULL || n == 0 || !claim(c))
		return;
	wire_reply_read(&c->w);
	/* The final reply's status line ends the CLIENT span; an interim
	 * one (100 Continue, 103 Early Hints; 101 switches and is final)
	 * does not: the final one follows its blank line, here or in a
	 * later read. */
	for (size_t at = 0; c->cli.kind && dlen - at >= 12;) {
		const unsigned char *l = b + at, *end;
		uint16_t status;

		if (memcmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ' || l[9] < '1' || l[9] > '5' ||
		    l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
			break;
		status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
		if (status >= 200 || status == 101) {
			finish(&c->cli, status);
			break;
		}
		end = memmem(l, dlen - at, "\r\n\r\n", 4);
		if (end == NULL)
			break;
		at = (size_t)(end + 4 - b);
	}
	release(c);
}

size_t prop_owed(int fd)
{
	struct conn *c = conn_get(fd, CONN_FIND);

	return c ? __atomic_load_n(&c->owed_len, __ATOMIC_RELAXED) : 0;
}

void prop_close(int fd)
{
	struct conn *c = conn_get(fd, CONN_FIND);

	if (c == NULL || !claim(c))
		return;
	finish(&c->srv, 0);
	finish(&c->cli, 0);
	c->w.state = WS_NOT_HTTP;
	c->owed_len = c->owed_off = 0;
	c->fwd_span[0] = '\0';
	c->fwd_pending = false;
	release(c);
}

/* ---- what is inserted ---- */

static size_t put(char *d, size_t o, const char *s, size_t n)
{
	if (o + n > HDR_MAX)
		return HDR_MAX + 1;       /* does not fit: nothing is inserted */
	memcpy(d + o, s, n);
	return o + n;
}

/* The n bytes of lines at hdr, each ended by CRLF, made lines ended by LF
 * alone. Returns their new length. */
static size_t bare_lf_lines(char *hdr, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (!(hdr[i] == '\r' && i + 1 < n && hdr[i + 1] == '\n'))
			hdr[o++] = hdr[i];
	return o;
}

/* The headers for the head whose insertion point `w` stands at, into
 * hdr; 0 when nothing is to be inserted. `span` gets the new client span
 * ID when a traceparent is inserted ("" otherwise). Each line ends as the
 * head's blank line does (`bare_lf`: LF alone, which RFC 9112 section 2.2
 * lets a recipient accept; else CRLF), so that a head keeps one kind of
 * line end. */
static size_t render(const struct wire_scan *w, const struct ctx *x, bool bare_lf, char *hdr,
		     char span[17])
{
	static const char hex[] = "0123456789abcdef";
	const struct config *cfg = agent_config;
	size_t o = 0;

	span[0] = '\0';
	if (x == NULL)
		return 0;
	if (w->role == WIRE_RESPONSE) {
		if (!cfg->response_id || (w->have & WIRE_H_ID) || w->status < 200)
			return 0;
		o = put(hdr, o, cfg->header, cfg->header_len);
		o = put(hdr, o, ": ", 2);
		o = put(hdr, o, ctx_name(x)->id, ctx_name(x)->id_len);
		o = put(hdr, o, "\r\n", 2);
		return o > HDR_MAX ? 0 : bare_lf ? bare_lf_lines(hdr, o) : o;
	}
	if ((cfg->propagate & CFG_PROP_TRACEPARENT) && !(w->have & WIRE_H_TRACEPARENT)) {
		const struct ctx_name *tn = ctx_name(x);
		char flags[2] = { hex[tn->trace_flags >> 4], hex[tn->trace_flags & 15] };

		/* The client span this head starts, where this process
		 * records it; where it does not, a span of the agent's would
		 * be recorded nowhere: the caller's goes on, the nearest one
		 * that is (a trace the agent started has none: a new one). */
		if (spans_record(tn->trace_flags) || tn->parent_id[0] == '\0')
			id_span(span);
		else
			memcpy(span, tn->parent_id, 17);
		o = put(hdr, o, "traceparent: 00-", 16);
		o = put(hdr, o, ctx_name(x)->trace_id, 32);
		o = put(hdr, o, "-", 1);
		o = put(hdr, o, span, 16);
		o = put(hdr, o, "-", 1);
		o = put(hdr, o, flags, 2);
		o = put(hdr, o, "\r\n", 2);
	}
	if ((cfg->propagate & CFG_PROP_ID) && !(w->have & WIRE_H_ID)) {
		o = put(hdr, o, cfg->header, cfg->header_len);
		o = put(hdr, o, ": ", 2);
		o = put(hdr, o, ctx_name(x)->id, ctx_name(x)->id_len);
		o = put(hdr, o, "\r\n", 2);
	}
	if ((cfg->propagate & CFG_PROP_BAGGAGE) && !(w->have & WIRE_H_BAGGAGE) && cfg->nfields) {
		char bag[HDR_MAX];
		size_t bl = fields_baggage(bag, sizeof bag, cfg, x);

		if (bl) {
			o = put(hdr, o, "baggage: ", 9);
			o = put(hdr, o, bag, bl);
			o = put(hdr, o, "\r\n", 2);
		}
	}
	/* The caller's tracestate goes on with the traceparent it came
	 * with (W3C Trace Context 3.3.1: a vendor passes it on); last, and
	 * left out alone when it does not fit with the rest. */
	const struct ctx_name *nm = ctx_name(x);     /* one name: its pointer and length */

	if (span[0] && o <= HDR_MAX && nm->tracestate && !(w->have & WIRE_H_TRACESTATE)) {
		size_t before = o;

		o = put(hdr, o, "tracestate: ", 12);
		o = put(hdr, o, nm->tracestate, nm->tracestate_len);
		o = put(hdr, o, "\r\n", 2);
		if (o > HDR_MAX)
			o = before;
	}
	if (o > HDR_MAX) {
		span[0] = '\0';
		return 0;
	}
	return bare_lf ? bare_lf_lines(hdr, o) : o;
}

/* ---- one write ---- */

static void add(struct plan *pl, const char *p, size_t n, uint8_t kind, uint8_t ins)
{
	pl->pc[pl->np] = (struct piece){ p, n, kind, ins };
	pl->v[pl->np].iov_base = (void *)p;
	pl->v[pl->np].iov_len = n;
	pl->np++;
	pl->total += n;
	if (kind == PC_PROG)
		pl->prog += n;
}

/*
 * A traceparent the program forwards as its request gave it (a proxy that
 * passes its client's headers on: nginx's proxy_pass) names the caller's
 * span, so the next service's span would be a sibling of this one's, and
 * this one's CLIENT span would have no child. Its value is rewritten in
 * place, as many bytes, as the version-00 traceparent of the CLIENT span
 * this head starts, when:
 *  - it names the current context's trace and the parent the context was
 *    adopted with: the request's own, unchanged (a traceparent of the
 *    program's, an SDK's, names another span and is left alone), of
 *    version 00 or a later one of the same 55 bytes (W3C Trace Context
 *    4.3: a service passes on the version it knows; a later one with
 *    more fields is longer, and is left as it came);
 *  - it is the head's only traceparent line, whole in this call's bytes,
 *    as the head's blank line is (the insertion point at hand);
 *  - traceparent is propagated (REQCTX_PROPAGATE), and this process
 *    records the trace's spans (REQCTX_SPANS, sampled): else the span it
 *    would name is recorded nowhere, and the caller's, which the next
 *    service then names, is the nearest one that is.
 * Returns where its value starts, or NULL.
 */
static const char *forwarded_parent(const struct plan *pl, const struct ctx *x)
{
	const struct ctx_name *nm;
	const char *v = pl->sim.tp, *e = pl->sim.tp_end;
	char trace[33], parent[17];
	uint8_t flags;

	if (v == NULL || x == NULL || pl->sim.tp_lines != 1 ||
	    !(agent_config->propagate & CFG_PROP_TRACEPARENT))
		return NULL;
	nm = ctx_name(x);
	if (nm->parent_id[0] == '\0' || !spans_record(nm->trace_flags))
		return NULL;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e - v != FWD_LEN || !http_parse_traceparent(v, FWD_LEN, trace, parent, &flags) ||
	    memcmp(trace, nm->trace_id, 32) != 0 || memcmp(parent, nm->parent_id, 16) != 0)
		return NULL;
	return v;
}

/* Program piece k of the plan, cut in three at offset `off` of it: the
 * middle one, n bytes, sent as `with` (n bytes standing for the program's
 * as many, which end the piece before it, empty or not: settle() finds
 * them there; `val`: which of the call's values they are, FWD_PENDING:
 * the one pending). Returns false, changing nothing, when the plan has no
 * room for the two more pieces. */
#define FWD_PENDING 0xff
static bool split_fwd(struct plan *pl, int k, size_t off, size_t n, const char *with, uint8_t val)
{
	struct piece q = pl->pc[k];
	const char *at = q.p + off;

	if (pl->np > MAX_PIECES - 3)
		return false;
	memmove(pl->pc + k + 3, pl->pc + k + 1, (size_t)(pl->np - k - 1) * sizeof pl->pc[0]);
	memmove(pl->v + k + 3, pl->v + k + 1, (size_t)(pl->np - k - 1) * sizeof pl->v[0]);
	pl->pc[k] = (struct piece){ q.p, off, PC_PROG, 0 };
	pl->pc[k + 1] = (struct piece){ with, n, PC_FWD, val };
	pl->pc[k + 2] = (struct piece){ at + n, q.len - off - n, PC_PROG, 0 };
	for (int i = k; i < k + 3; i++)
		pl->v[i] = (struct iovec){ (void *)pl->pc[i].p, pl->pc[i].len };
	pl->np += 2;
	pl->nfwd++;
	return true;
}

/* At a request head's insertion point: its forwarded traceparent
 * (forwarded_parent) goes out naming a new CLIENT span, in the program's
 * piece that holds it; what the kernel does not take of it stays pending
 * (forward_after). Not the one pending already: forward_pending() sends
 * that as it was planned. */
static void forward(const struct conn *c, struct plan *pl, const struct ctx *x)
{
	static const char hex[] = "0123456789abcdef";
	const char *at = pl->nval < MAX_INS ? forwarded_parent(pl, x) : NULL;
	size_t before = 0;

	if (at == NULL)
		return;
	for (int k = 0; k < pl->np; k++) {
		const struct piece *q = &pl->pc[k];
		uintptr_t from = (uintptr_t)q->p, a = (uintptr_t)at;

		if (q->kind == PC_PROG && a >= from && a + FWD_LEN <= from + q->len) {
			uint8_t flags = ctx_name(x)->trace_flags;
			char *v = pl->val_new[pl->nval];

			if (c->fwd_pending && c->fwd_done == 0 && c->fwd_at == before + (a - from))
				return;
			memcpy(pl->val_orig[pl->nval], at, FWD_LEN);
			memcpy(v, at, FWD_LEN);
			v[0] = v[1] = '0';
			id_span(v + 36);          /* its NUL at 52, the '-' again */
			v[52] = '-';
			v[53] = hex[flags >> 4];
			v[54] = hex[flags & 15];
			if (split_fwd(pl, k, a - from, FWD_LEN, v, (uint8_t)pl->nval))
				pl->val_off[pl->nval++] = before + (a - from);
			return;
		}
		if (q->kind == PC_PROG || q->kind == PC_FWD)    /* the program's bytes */
			before += q->len;
	}
}

/* The rest of a value being rewritten (c->fwd_pending) where the
 * program's bytes of this call hold it: each piece of it in place, once
 * all of them were found as they were (else it is dropped: the program's
 * bytes are not what they were). */
static void forward_pending(struct conn *c, struct plan *pl)
{
	size_t from = c->fwd_at, to = c->fwd_at + (FWD_LEN - c->fwd_done);
	int pieces = 0;

	if (!c->fwd_pending)
		return;
	for (int pass = 0; pass < 2; pass++) {
		size_t off = 0;

		/* all of its pieces, or none: room for two more each */
		if (pass == 1 && (pieces == 0 || pl->np + 2 * pieces > MAX_PIECES - 1))
			return;

		for (int k = 0; k < pl->np; k++) {
			const struct piece *q = &pl->pc[k];
			size_t lo, hi, w, start = off;

			if (q->kind == PC_FWD)
				off += q->len;  /* the program's bytes, a later value's */
			if (q->kind != PC_PROG)
				continue;
			off += q->len;
			lo = from > start ? from : start;
			hi = to < off ? to : off;
			if (lo >= hi)
				continue;
			w = c->fwd_done + (lo - from);     /* its byte in the value */
			if (pass == 0) {
				if (memcmp(q->p + (lo - start), c->fwd_orig + w, hi - lo) != 0) {
					c->fwd_pending = false;
					return;
				}
				pieces++;
				continue;
			}
			(void)split_fwd(pl, k, lo - start, hi - lo, c->fwd_new + w, FWD_PENDING);
			pl->fwd_applied = true;
			k += 2;
		}
	}
}

/* After a call that sent `app` of the program's bytes: what of a value
 * being rewritten is still to go stays pending, at its place in what the
 * program sends next (it goes on from its first byte not taken; a piece
 * of a value taken at all counts whole, its rest owed): the one pending
 * before this call, else the first of this call's the kernel did not
 * reach. The program sends the later ones again, where forward() finds
 * them again. */
static void forward_after(struct conn *c, const struct plan *pl, size_t app)
{
	if (c->fwd_pending) {
		size_t left = FWD_LEN - c->fwd_done;

		if (app <= c->fwd_at) {
			c->fwd_at -= (uint32_t)app;
			return;
		}
		if (app - c->fwd_at < left && pl->fwd_applied) {
			c->fwd_done = (uint8_t)(c->fwd_done + (app - c->fwd_at));
			c->fwd_at = 0;
			return;
		}
		c->fwd_pending = false;   /* all of it went, or some as it was */
	}
	for (int i = 0; i < pl->nval; i++) {
		if (app <= pl->val_off[i]) {
			c->fwd_pending = true;
			c->fwd_done = 0;
			c->fwd_at = (uint32_t)(pl->val_off[i] - app);
			memcpy(c->fwd_new, pl->val_new[i], FWD_LEN);
			memcpy(c->fwd_orig, pl->val_orig[i], FWD_LEN);
			return;
		}
	}
}

/* Lays out owed bytes, the program's bytes and the headers inserted at
 * each insertion point, on a copy of the scanner. */
static void plan(struct conn *c, const struct iovec *iov, int cnt, struct plan *pl)
{
	struct wire_scan *sim = &pl->sim;
	struct wire_names nm = names();

	*sim = c->w;
	sim->tp = NULL;          /* (one from bytes of an earlier call: gone) */
	pl->nfwd = pl->nval = 0;
	pl->fwd_applied = false;
	pl->np = pl->nins = 0;
	pl->total = pl->prog = 0;
	pl->cut = pl->declined = false;
	if (c->owed_len)
		add(pl, c->owed + c->owed_off, c->owed_len, PC_OWED, 0);
	for (int i = 0; i < cnt; i++) {
		const char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len, off = 0;

		while (off < len) {
			size_t k;

			if (pl->np >= MAX_PIECES - 2) {
				pl->cut = true;       /* the rest is the next call's */
				return;
			}
			k = wire_feed(sim, &nm, p + off, len - off);
			if (k == len - off) {
				add(pl, p + off, k, PC_PROG, 0);
				break;
			}
			/* An insertion point at p + off + k. */
			if (k)
				add(pl, p + off, k, PC_PROG, 0);
			off += k;
			if (pl->nins == MAX_INS) {
				/* More heads than one call inserts into: the
				 * rest is the next call's (a short count). */
				pl->cut = true;
				return;
			}
			sim->decided = 1;
			if (sim->tp) {
				if (sim->role == WIRE_REQUEST)
					forward(c, pl, agent_self.cur);
				sim->tp = NULL;   /* the next head's is its own */
			}
			{
				/* p[off]: the blank line's first byte */
				size_t h = render(sim, agent_self.cur, p[off] == '\n', pl->hdr[pl->nins],
						  pl->span[pl->nins]);

				if (h) {
					add(pl, pl->hdr[pl->nins], h, PC_HDR, (uint8_t)pl->nins);
					pl->nins++;
				} else {
					pl->declined = true;
				}
			}
		}
	}
}

static void committed(struct conn *c);

/* The program's bytes p[0..n) were taken by the kernel: the scanner
 * follows them. An insertion point met here was declined at planning
 * (an inserted header sets `decided` before the bytes after it). */
static void commit_prog(struct conn *c, const char *p, size_t n)
{
	struct wire_names nm = names();
	size_t off = 0;

	while (off < n) {
		off += wire_feed(&c->w, &nm, p + off, n - off);
		if (off < n) {
			c->w.decided = 1;
			if (c->w.role == WIRE_REQUEST)
				client_starts(c, NULL);
		}
	}
	committed(c);
}

/* After the program's bytes were followed: a server span ends with its
 * response head. */
static void committed(struct conn *c)
{
	/* (ended when the write that took its head's end began: the client
	 * cannot have read it before, so the caller's span ends after) */
	if (c->srv.kind && (c->w.state == WS_DONE || c->w.state == WS_NOT_HTTP))
		finish_at(&c->srv, c->w.status, c->sent_ns);
}

/* When the kernel took every byte planned, the scanner's state after them
 * is the plan's copy: taken as it is instead of scanning the bytes again.
 * Not where commit_prog() has more to do than scan: a declined insertion
 * point, or a request head whose client span reads the scanner between
 * heads. */
static bool plan_whole(const struct conn *c, const struct plan *pl, size_t r)
{
	return r == pl->total && !pl->cut && !pl->declined &&
	       (pl->nins == 0 || c->w.role == WIRE_RESPONSE);
}

/* Piece q of the agent's bytes, begun: what the kernel did not take of it
 * (`take` of it went) goes first at the next write. */
static void owe(struct conn *c, const struct piece *q, size_t take)
{
	if (take < q->len) {
		memcpy(c->owed, q->p + take, q->len - take);
		c->owed_off = 0;
		c->owed_len = (uint16_t)(q->len - take);
	}
}

/* Accounts for the r bytes the kernel took of the plan. Returns the
 * program's bytes among them. */
static size_t settle(struct conn *c, const struct plan *pl, size_t r)
{
	size_t app = 0;
	bool whole = plan_whole(c, pl, r);

	for (int k = 0; k < pl->np; k++) {
		const struct piece *q = &pl->pc[k];
		size_t take = r < q->len ? r : q->len;

		r -= take;
		switch (q->kind) {
		case PC_OWED:
			c->owed_off = (uint16_t)(c->owed_off + take);
			c->owed_len = (uint16_t)(c->owed_len - take);
			if (c->owed_len == 0)
				c->owed_off = 0;
			break;
		case PC_PROG:
			if (!whole)
				commit_prog(c, q->p, take);
			app += take;
			break;
		case PC_FWD:
			if (take == 0)
				return app;
			/* Begun: the program's bytes it stands for are sent,
			 * the rest of it is owed. */
			if (!whole)
				commit_prog(c, q[-1].p + q[-1].len, q->len);   /* the program's own */
			app += q->len;
			memcpy(c->fwd_span, q->ins == FWD_PENDING ? c->fwd_new + 36 : pl->val_new[q->ins] + 36, 16);
			c->fwd_span[16] = '\0';
			owe(c, q, take);
			break;
		case PC_HDR:
			if (take == 0)
				return app;
			/* Begun: the head has its headers; the rest is owed. */
			c->w.decided = 1;
			if (c->w.role == WIRE_REQUEST)
				client_starts(c, pl->span[q->ins][0] ? pl->span[q->ins] : NULL);
			owe(c, q, take);
			break;
		}
		if (take < q->len)
			return app;
	}
	if (whole) {
		c->w = pl->sim;
		committed(c);
	}
	return app;
}

static ssize_t call_orig(int fd, const struct iovec *iov, int cnt, const struct prop_call *call)
{
	switch (call->how) {
	case PROP_WRITE:
		return REAL(write)(fd, iov[0].iov_base, iov[0].iov_len);
	case PROP_WRITEV:
		return REAL(writev)(fd, iov, cnt);
	case PROP_SEND:
		return REAL(send)(fd, iov[0].iov_base, iov[0].iov_len, call->flags);
	case PROP_SENDTO:
		return REAL(sendto)(fd, iov[0].iov_base, iov[0].iov_len, call->flags, call->to, call->tolen);
	case PROP_SENDMSG:
		return REAL(sendmsg)(fd, call->msg, call->flags);
	}
	errno = EINVAL;
	return -1;
}

/* The plan goes out as one call of the program's kind when it fits the
 * stage (write, send, sendto take one buffer); otherwise as writev for a
 * write and sendmsg for a send, which the kernel treats alike. */
static ssize_t call_plan(int fd, struct plan *pl, const struct prop_call *call)
{
	char *stage = pt->stage;      /* prop_write made it */
	struct msghdr m;

	if (call->how != PROP_WRITEV && call->how != PROP_SENDMSG && pl->total <= STAGE) {
		size_t o = 0;

		for (int k = 0; k < pl->np; k++) {
			memcpy(stage + o, pl->v[k].iov_base, pl->v[k].iov_len);
			o += pl->v[k].iov_len;
		}
		if (call->how == PROP_WRITE)
			return REAL(write)(fd, stage, o);
		if (call->how == PROP_SEND)
			return REAL(send)(fd, stage, o, call->flags);
		return REAL(sendto)(fd, stage, o, call->flags, call->to, call->tolen);
	}
	if (call->how == PROP_WRITE || call->how == PROP_WRITEV)
		return REAL(writev)(fd, pl->v, pl->np);
	memset(&m, 0, sizeof m);
	if (call->how == PROP_SENDMSG) {
		m = *call->msg;
	} else if (call->how == PROP_SENDTO) {
		m.msg_name = (void *)call->to;
		m.msg_namelen = call->tolen;
	}
	m.msg_iov = pl->v;
	m.msg_iovlen = (size_t)pl->np;
	return REAL(sendmsg)(fd, &m, call->flags);
}

/* After a server's bytes were followed on client connection `s`: an
 * interim response alone does not answer its request, a 101 ends HTTP on
 * the connection, and so does a final answer with "Connection: close"
 * (agent/conn.h). */
static void answer_marks(struct fdslot *s, int fd, const struct conn *c)
{
	if (c->w.role != WIRE_RESPONSE || c->w.status < 100)
		return;
	if (c->w.status >= 200) {
		if (c->w.state == WS_DONE && c->w.close)
			conn_closing(s, fd);
		return;
	}
	if (c->w.state == WS_DONE && c->w.status == 101)
		conn_switched(s, fd);
	else if (c->w.state == WS_START)
		conn_answer_interim(s);
}

ssize_t prop_write(struct fdslot *s, int fd, const struct iovec *iov, int cnt,
		   const struct prop_call *call)
{
	struct conn *c = conn_get(fd, CONN_FIND);
	struct prop_thread *t = prop_thread();
	struct plan *pl = t ? &t->plan : NULL;
	unsigned signals = agent_self.signals;
	ssize_t r;
	size_t app;

	if (c == NULL || !claim(c))
		return call_orig(fd, iov, cnt, call);
	c->sent_ns = 0;
	if (unlikely(pl == NULL)) {
		/* No memory to plan in: the bytes go as they are, and the
		 * connection, whose scanner they pass by, is followed no
		 * further (a later header would be looked for in the wrong
		 * place). */
		c->w.state = WS_NOT_HTTP;
		committed(c);
		release(c);
		return call_orig(fd, iov, cnt, call);
	}
	if (!wire_watching(&c->w) && c->owed_len == 0) {
		/* Nothing more to do on this connection until the next
		 * request (client) or ever (not HTTP). */
		if (c->srv.kind == SPAN_NONE)
			__atomic_store_n(&s->wire, 0, __ATOMIC_RELAXED);
		release(c);
		return call_orig(fd, iov, cnt, call);
	}
	if (unlikely(!probe_iov(iov, cnt))) {
		/* Bytes the kernel would refuse (EFAULT, or a short count at
		 * the first bad page), which the agent must not read: this
		 * connection is followed no further, and the call goes as it
		 * is. With the rest of an inserted header owed (it goes first
		 * at the next write), only where the kernel takes none of
		 * the program's bytes: the first is bad. Where a later page is
		 * bad, the kernel's short count cannot be had without sending
		 * the program's bytes before the owed ones: EFAULT without the
		 * call (docs/reliability.md). */
		c->w.state = WS_NOT_HTTP;
		committed(c);
		if (c->owed_len && probe_iov_first(iov, cnt)) {
			release(c);
			errno = EFAULT;
			return -1;
		}
		release(c);
		return call_orig(fd, iov, cnt, call);
	}
	plan(c, iov, cnt, pl);
	if (unlikely(c->fwd_pending))
		forward_pending(c, pl);
	/* With spans, the time a head's span starts or ends at (a client's
	 * request head, a server's response head) is this write's start. */
	c->sent_ns = unlikely(spans_on()) && c->w.state < WS_BODY &&
		     (c->srv.kind || c->w.role == WIRE_REQUEST) ? spans_now() : 0;
	if (pl->nins == 0 && pl->nfwd == 0 && c->owed_len == 0 && !pl->cut) {
		r = call_orig(fd, iov, cnt, call);
		if (unlikely(c->fwd_pending))
			forward_after(c, pl, r > 0 ? (size_t)r : 0);
		if (r > 0 && plan_whole(c, pl, (size_t)r)) {
			c->w = pl->sim;
			committed(c);
		} else if (r > 0) {
			size_t left = (size_t)r;

			for (int i = 0; i < cnt && left; i++) {
				size_t take = left < iov[i].iov_len ? left : iov[i].iov_len;

				commit_prog(c, iov[i].iov_base, take);
				left -= take;
			}
		}
		if (r > 0)
			answer_marks(s, fd, c);
		release(c);
		return r;
	}
	if (pl->prog == 0) {
		/* A write of nothing stays one: owed bytes wait for real ones. */
		release(c);
		return call_orig(fd, iov, cnt, call);
	}
	r = call_plan(fd, pl, call);
	if (r < 0) {
		int err = errno;

		if (unlikely(c->fwd_pending || pl->nval))
			forward_after(c, pl, 0);
		release(c);
		errno = err;
		return -1;
	}
	app = settle(c, pl, (size_t)r);
	if (unlikely(c->fwd_pending || pl->nval))
		forward_after(c, pl, app);
	answer_marks(s, fd, c);
	release(c);
	if (app == 0) {
		/* Only the agent's bytes went out (or none): the program's
		 * call did not write. Cut short by one of its signal handlers:
		 * EINTR; otherwise a full non-blocking socket: EAGAIN. The
		 * rest of ours goes first next time. */
		errno = agent_self.signals != signals ? EINTR : EAGAIN;
		return -1;
	}
	return (ssize_t)app;
}
