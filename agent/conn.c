/*
 * conn.c - request boundaries on a server's connections. The first bytes
 * read decide the protocol (agent/proto.c): HTTP/1 (a read after the
 * server wrote starts the next request, its head checked by agent/http.c),
 * FastCGI, uwsgi and SCGI (each request's head followed across reads and
 * records), or a session protocol the agent does not parse (PostgreSQL,
 * Redis, MySQL, SMTP: the connection is one context from accept to close,
 * however many round trips it makes).
 *
 * Must never: change what the program reads, or carry a request's context
 * past the point where the framing says another began (a framed connection
 * whose framing is lost carries nothing).
 */
#include <string.h>
#include <strings.h>

#include "agent/config.h"
#include "agent/conn.h"
#include "agent/fields.h"
#include "agent/http.h"
#include "agent/inherit.h"
#include "agent/propagate.h"
#include "base/ctx.h"
#include "base/debug.h"

_Static_assert(sizeof(struct proto_parser) <= FDMAP_PARSER_SIZE,
	       "a protocol parser fits an fd slot's parser block");

/* The slot carries nothing from now on, and neither does this thread if it
 * was in the slot's context. */
static void untag(struct fdslot *s)
{
	struct ctx *old = fdmap_ctx_peek(s);

	fdmap_tag(s, NULL);
	if (old && old == agent_self.cur)
		ctx_take_current(NULL);
}

/* Where a request's ID came from, for the diagnostics: `what` is "http"
 * or a framed protocol's name; `none`: what happened without an ID. */
static const char *id_source(const struct http_ids *ids, const char *what, const char *none)
{
	if (!ids->request_id_len)
		return none;
	return what[0] == 'h' ? "adopted from the request header"
			      : "adopted from the request's variables";
}

/* A request's head was read: its context, adopted or generated, tags the
 * slot. The connection's accept-time context serves its first request
 * when the head adopts nothing. */
/* `f`: fields copied from the head (REQCTX_FIELDS), or NULL; `head`,
 * `hlen`, `is_http`: the request head, for the trace (agent/propagate.h). */
static void start(struct fdslot *s, int fd, const struct http_ids *ids, bool first,
		  const char *what, const struct fields *f, const char *head, size_t hlen,
		  bool is_http)
{
	struct ctx_seed seed = { 0 };
	char tracestate[HTTP_TRACESTATE_MAX + 1];
	struct ctx *old, *c;
	bool carry;

	if (first)
		ctx_note_begun();  /* later ones make a context (ctx_new) */
	if (first && unlikely(agent_self.pin_inherited) && agent_self.pinned != NULL &&
	    agent_self.pinned == fdmap_ctx_peek(s) && agent_self.cur == agent_self.pinned) {
		/* A thread its acceptor started on the connection's context (a
		 * thread per connection, started with threading.Thread) reads
		 * the connection's first request: that request is the thread's
		 * own now, no more its creator's, and the rules that end a
		 * creator's context (a semaphore unit another thread posted,
		 * a channel read) leave it. Before, a fork there (the
		 * interpreter's locks around it) ended it: t_thread_fork, 31
		 * of the 48 lines after a fork bare. */
		agent_self.pin_inherited = false;
	}
	if (first && ids->request_id_len == 0 && !ids->has_trace && !(f && f->count)) {
		/* the connection's context serves its first request */
		prop_request(s, fd, fdmap_ctx_peek(s), head, hlen, is_http);
		return;
	}
	if (ids->request_id_len) {
		seed.id = ids->request_id;
		seed.id_len = ids->request_id_len;
	}
	if (ids->has_trace) {
		seed.trace_id = ids->trace_id;
		seed.trace_flags = ids->trace_flags;
		seed.parent_id = ids->parent_id;
		if (ids->tracestate_lines) {
			seed.tracestate_len = http_tracestate(ids->tracestate, ids->tracestate_len,
							      ids->tracestate_lines, tracestate);
			seed.tracestate = tracestate;
		}
	}
	for (int i = 0; f && f->count && i < CTX_FIELDS; i++) {
		seed.field[i] = f->len[i] ? f->val[i] : NULL;
		seed.field_len[i] = f->len[i];
	}
	old = fdmap_ctx_get(s);
	if (old && first) {
		/* The first request is the context made at accept: its head
		 * renames it in place, wherever it is held (threads, queued
		 * hand-offs, pending events, snapshots), so the generated ID
		 * is never written again. A request without a traceparent
		 * stays in the connection's trace. */
		char was[CTX_ID_MAX + 1];

		memcpy(was, ctx_name(old)->id, ctx_name(old)->id_len + 1u);
		if (ctx_adopt(old, &seed))
			DEBUG("start %s (first request on read fd %d, renames %s; id %s, trace %s; %s)",
			      ctx_name(old)->id, fd, was,
			      id_source(ids, what, "kept"),
			      ids->has_trace ? "adopted from traceparent" : "kept", what);
		prop_request(s, fd, old, head, hlen, is_http);
		ctx_put(old);
		return;
	}
	if (old)
		seed.peer = old->peer;     /* later requests get their own trace */
	/* The program pinned this thread to the connection's previous
	 * request (a thread per connection, its bridge's): the next one is
	 * the thread's too, pinned as that one was. Before, it was current
	 * only natively, and a hand-off rule (a job queue's wake-up at a
	 * future's result) ended it in the middle of the request. */
	carry = old && unlikely(agent_self.pinned != NULL) && agent_self.cur == old && ctx_pinned() &&
		!agent_self.pin_inherited;
	c = ctx_new(&seed);
	ctx_put(old);
	if (c == NULL) {
		untag(s);
		prop_request(s, fd, NULL, head, hlen, is_http);
		return;
	}
	c->conn_fd = fd;
	DEBUG("start %s (%s on read fd %d; id %s, trace %s; %s)", ctx_name(c)->id,
	      first ? "first request" : "next request on keep-alive", fd,
	      id_source(ids, what, "generated"),
	      ids->has_trace ? "adopted from traceparent" : "generated", what);
	fdmap_tag(s, c);
	if (carry) {
		ctx_get(c);
		ctx_take_current(c);
		agent_self.pinned = c;
	}
	prop_request(s, fd, c, head, hlen, is_http);
	ctx_put(c);
}

/* b[i..len) starts like a request line: an uppercase method, a space, a
 * '/', '*' or 'h' (an absolute URI). */
static bool request_line_at(const char *b, size_t i, size_t len)
{
	if (len - i < 6 || b[i] < 'A' || b[i] > 'Z')
		return false;
	while (i < len && b[i] >= 'A' && b[i] <= 'Z')
		i++;
	return i + 1 < len && b[i] == ' ' && (b[i + 1] == '/' || b[i + 1] == '*' || b[i + 1] == 'h');
}

/* The read holds more than one request: the head ends (at `end`, the
 * byte after its blank line; NULL: not in the read) before the read does
 * and what follows starts like a request line. Pipelined requests are
 * served one after the other with no read between them, so nothing tells
 * where the first ends. */
static bool pipelined(const char *b, const char *end, size_t len)
{
	return end != NULL && request_line_at(b, (size_t)(end - b), len);
}

/* Where the head in b[0..len) ends: the byte after its blank line, or
 * NULL when there is none. The blank line is CRLF CRLF, or LF LF from a
 * client that ends its lines with a bare LF (which a server may accept:
 * RFC 9112, 2.2); the head's first line end says which, so a bare-LF head
 * followed by a CRLF one is two heads, not one ending with the second. */
static const char *head_end(const char *b, size_t len)
{
	const char *end = b + len, *p = memchr(b, '\n', len);
	bool crlf = p != NULL && p > b && p[-1] == '\r';

	/* Line by line (a head is a few short lines: cheaper than memmem's
	 * setup), the first LF from the first line's on that ends a CRLF
	 * line followed by an empty one ("\r\n\r\n"), or, in a bare-LF
	 * head, that another LF follows ("\n\n"). */
	for (; p != NULL; p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		if (crlf ? p[-1] == '\r' && end - p >= 3 && p[1] == '\r' && p[2] == '\n'
			 : end - p >= 2 && p[1] == '\n')
			return p + (crlf ? 3 : 2);
	}
	return NULL;
}

/* A read before the server answered the connection's request holds
 * another request: it starts like a request line, or a request line ends
 * in it (" HTTP/1." after the previous request's body; a client that
 * pipelines in separate writes): which request the server works on from
 * here is not knowable, so the connection carries none from here on
 * (ambiguous). (Body bytes that look like that do the
 * same: bare, never another request's ID. A next head split inside its
 * method is not seen.) */
bool conn_holds_request(const void *data, size_t len)
{
	const char *b = data, *p = b, *end = b + len;

	if (len == 0 || b == NULL)
		return false;
	if (request_line_at(b, 0, len))
		return true;
	/* One pass over the spaces: " HTTP/1." ends a request line; 3 or more
	 * uppercase letters and " /" begin one (the rest maybe in the next
	 * read, maybe right after the body's last byte). */
	while ((p = memchr(p, ' ', (size_t)(end - p))) != NULL) {
		size_t left = (size_t)(end - p);

		if (left >= 2 && p[1] == '/') {
			const char *m = p;

			while (m > b && m[-1] >= 'A' && m[-1] <= 'Z')
				m--;
			if (p - m >= 3)
				return true;
		} else if (left >= 8 && p[1] == 'H' && memcmp(p, " HTTP/1.", 8) == 0) {
			return true;
		}
		p++;
	}
	return false;
}

/* Requests the server may serve in either order or in one go: which
 * answer and which later read belong to which request is not knowable
 * (a read after the next answer may come while the server still serves
 * the request read early), so the connection carries nothing more. */
static void ambiguous(struct fdslot *s, int fd, const void *data, size_t dlen)
{
	untag(s);
	prop_request(s, fd, NULL, data, dlen, false);
	__atomic_store_n(&s->proto, PROTO_LOST, __ATOMIC_RELAXED);
}

static void unanswered_head(struct fdslot *s, int fd, const void *data, size_t dlen)
{
	DEBUG("fd %d: a request read before the previous one was answered; the connection carries no context from here", fd);
	ambiguous(s, fd, data, dlen);
}

/* Whether b[0..len) is empty lines only (CR and LF bytes), which a
 * server ignores before a request line (RFC 9112, 2.2): a client that
 * ends a body with an extra CRLF sends no request in them. */
static bool only_blank(const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != '\r' && b[i] != '\n')
			return false;
	return true;
}

/* Whether a line of b[0..len) (its first included: a part of a head
 * split across reads may begin with a whole header line) names a body:
 * Content-Length or Transfer-Encoding (RFC 9112, 6.1 and 6.2). A name
 * split across the reads is not seen. */
static bool names_body(const char *b, size_t len)
{
	const char *p = b, *end = b + len;

	while (p < end) {
		size_t left = (size_t)(end - p);
		const char *nl;

		if ((left >= 15 && strncasecmp(p, "content-length:", 15) == 0) ||
		    (left >= 18 && strncasecmp(p, "transfer-encoding:", 18) == 0))
			return true;
		nl = memchr(p, '\n', left);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return false;
}

/* A read that goes on with a head the previous read began (a request
 * line or header split across reads, FDF_HEAD_OPEN): its bytes up to the
 * head's end are that request's. Only what follows the end is looked at
 * for another request; a read that may complete a terminator split across
 * reads (it starts with CR or LF), or of which the agent was shown only
 * a part (`whole` false), is looked at whole. */
static void head_goes_on(struct fdslot *s, int fd, const char *data, size_t dlen, bool whole,
			 bool body)
{
	const char *end;
	size_t off = 0;

	if (dlen > 0 && data[0] != '\r' && data[0] != '\n') {
		/* The first blank line here ends the head (one split inside
		 * its terminator starts with CR or LF: looked at whole, since
		 * its first "\r\n\r\n" may be the next request's). */
		end = head_end(data, dlen);
		if (end == NULL && whole) {
			__atomic_or_fetch(&s->flags, FDF_HEAD_OPEN |
					  (body || names_body(data, dlen) ? FDF_HEAD_BODY : 0),
					  __ATOMIC_RELAXED);
			return;
		}
		off = end ? (size_t)(end - data) : 0;
		/* A head that named no body, in any of its parts, ended here
		 * with nothing after it: the request came whole (after_complete);
		 * a byte after it is the next request's. */
		if (end != NULL && whole && !body && !names_body(data, off)) {
			if (only_blank(end, dlen - off))
				__atomic_or_fetch(&s->flags, FDF_COMPLETE, __ATOMIC_RELAXED);
			else
				unanswered_head(s, fd, data, dlen);
			return;
		}
	}
	if (conn_holds_request(data + off, dlen - off))
		unanswered_head(s, fd, data, dlen);
}

/* The b[0..len) a request line begins with and nothing more (no line end
 * in it): a prefix of a standard method (RFC 9110, 9.1; PATCH, RFC 5789),
 * or an uppercase method, a space and a target's first byte ('/', '*' or
 * 'h'). Not a body that happens to be uppercase (after "100 Continue"). */
static bool line_begins(const char *b, size_t len)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	};
	size_t i = 0;

	while (i < len && b[i] >= 'A' && b[i] <= 'Z')
		i++;
	if (i == 0)
		return false;
	if (i == len) {
		for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++)
			if (len <= strlen(methods[k]) && memcmp(b, methods[k], len) == 0)
				return true;
		return false;
	}
	if (b[i] != ' ' || memchr(b + i, '\n', len - i) || memchr(b + i, '\r', len - i))
		return false;
	return i + 1 == len || b[i + 1] == '/' || b[i + 1] == '*' || b[i + 1] == 'h';
}

/* The bytes of a request's body still to come (PROTO_HTTP_BODY), in the
 * slot's parser block (which an HTTP connection otherwise leaves unused). */
struct http_body {
	uint64_t left;
};

/* A head read whole with a body of known length: the bytes of it that
 * this read (n bytes, the head `hlen` of them) did not hold are still the
 * request's when they come, whether or not the server answered first (an
 * early answer: 413, 401, a redirect, followed by reading the body to
 * keep the connection). Without a parser block, nothing is followed (as
 * before the body was). */
static void body_follows(struct fdslot *s, int fd, const struct http_ids *ids, size_t hlen,
			 size_t n)
{
	struct http_body *b;

	if (ids->body != HTTP_BODY_LENGTH || ids->content_length <= n - hlen)
		return;
	b = fdmap_parser(s);
	if (b == NULL)
		return;
	b->left = ids->content_length - (n - hlen);
	__atomic_store_n(&s->proto, PROTO_HTTP_BODY, __ATOMIC_RELAXED);
	DEBUG("fd %d: %llu bytes of the request's body to come", fd, (unsigned long long)b->left);
}

/* Bytes after a head (ending at `end`) and its whole body in one read of n
 * bytes, `dlen` of them shown: a request sent before this one was
 * answered. Where the body's framing is known and the read was shown
 * whole, any byte but an empty line's is one (a request has no bytes
 * after its body; the next may have come a few bytes at a time); else,
 * when they look like one. */
static bool after_body(const struct http_ids *ids, const char *data, const char *end, size_t dlen,
		       size_t n)
{
	size_t hlen, blen;

	if (end == NULL)
		return false;
	if (ids->body == HTTP_BODY_OTHER)
		return pipelined(data, end, dlen);
	hlen = (size_t)(end - data);
	blen = ids->body == HTTP_BODY_LENGTH ? ids->content_length : 0;
	if (blen >= n - hlen || blen >= dlen - hlen)
		return false;
	if (dlen == n)
		return !only_blank(end + blen, dlen - hlen - blen);
	return conn_holds_request(end + blen, dlen - hlen - blen);
}

/* The request read in this read (n bytes, the head ending at `end`, the
 * read shown whole) came whole: its head, and a body of known length
 * (none, or all of it here). Not a CONNECT, whose tunnel's bytes a client
 * may send before the answer. */
static bool read_whole(const struct http_ids *ids, const char *data, const char *end, size_t n)
{
	if (end == NULL || (n >= 8 && memcmp(data, "CONNECT ", 8) == 0))
		return false;
	return ids->body == HTTP_BODY_NONE ||
	       (ids->body == HTTP_BODY_LENGTH && ids->content_length <= n - (size_t)(end - data));
}

/* A read before the answer of a request read whole (FDF_COMPLETE): any
 * byte but an empty line's begins the next request, however few there
 * are (a client that sends it a byte at a time before the answer), and
 * which request the server works on from here is not knowable. */
static void after_complete(struct fdslot *s, int fd, const char *data, size_t dlen, size_t n)
{
	if (dlen == n && only_blank(data, dlen)) {
		__atomic_or_fetch(&s->flags, FDF_COMPLETE, __ATOMIC_RELAXED);
		return;
	}
	unanswered_head(s, fd, data, dlen);
}

/* A read after the answer that begins no request: the rest of a body the
 * agent does not follow (chunked) read after an early answer, bytes a
 * client sent after its request (a stray CRLF), or garbage the server
 * will refuse. Which request they are is not known: the connection
 * carries nothing, and a later read that holds a request line starts the
 * next request (FDF_IDLE: such reads are found on the quick path, by
 * conn_holds_request; the others stay there). */
static void no_head(struct fdslot *s, int fd, const void *data, size_t dlen)
{
	DEBUG("fd %d: a read after the answer begins no request; the connection carries no context until the next", fd);
	untag(s);
	prop_request(s, fd, NULL, data, dlen, false);
	__atomic_or_fetch(&s->flags, FDF_IDLE, __ATOMIC_RELAXED);
}

static void http_read(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n,
		      unsigned flags)
{
	bool whole = dlen == n;
	const struct config *cfg = agent_config;
	const char *end;
	struct http_ids ids;
	struct fields f;
	size_t crlf = 0;

	ids.tracestate_lines = 0;
	/* Empty lines before a request line are ignored (RFC 9112, 2.2). */
	while (crlf < dlen && (((const char *)data)[crlf] == '\r' || ((const char *)data)[crlf] == '\n'))
		crlf++;
	if (crlf > 0 && !(flags & FDF_FRESH)) {
		data = (const char *)data + crlf;
		dlen -= crlf;
		n -= crlf;
	}
	end = head_end(data, dlen);

	ids.is_http = false;
	ids.request_id_len = 0;
	ids.has_trace = false;
	f.count = 0;
	/* A request line starts with an uppercase method: anything else is
	 * not looked at. */
	if (dlen >= 13 && *(const unsigned char *)data >= 'A' && *(const unsigned char *)data <= 'Z') {
		http_parse_head(data, dlen, cfg->header, cfg->header_len, &ids);
		if (ids.is_http && cfg->nfields)
			fields_from_head(data, dlen, cfg, &f);
	}
	/* A process started inside a request serves requests of its own now
	 * (agent/inherit.h). */
	if (unlikely(inherit_home != NULL) && ids.is_http)
		inherit_own_requests();
	if (ids.is_http && after_body(&ids, data, end, dlen, n)) {
		/* Which lines are whose is not knowable (ambiguous). */
		DEBUG("fd %d: pipelined requests in one read; the connection carries no context from here", fd);
		ambiguous(s, fd, data, dlen);
		return;
	}
	if (!ids.is_http && !(flags & FDF_FRESH) && whole && !line_begins(data, dlen)) {
		no_head(s, fd, data, dlen);
		return;
	}
	start(s, fd, &ids, flags & FDF_FRESH, "http", &f, data, dlen, ids.is_http);
	if (ids.is_http && end != NULL)
		body_follows(s, fd, &ids, (size_t)(end - (const char *)data), n);
	if (ids.is_http && whole && read_whole(&ids, data, end, n))
		__atomic_or_fetch(&s->flags, FDF_COMPLETE, __ATOMIC_RELAXED);
	/* A head that starts here and ends in a later read: those reads are
	 * this request's (head_goes_on), not another's. */
	if (end == NULL && whole && (ids.is_http || line_begins(data, dlen)))
		__atomic_or_fetch(&s->flags, FDF_HEAD_OPEN |
				  (ids.is_http && ids.body != HTTP_BODY_NONE ? FDF_HEAD_BODY : 0),
				  __ATOMIC_RELAXED);
}

/* The framing is lost (bytes the agent did not see, a multiplexed or
 * malformed stream): nothing more is carried on this connection. */
static void lose(struct fdslot *s, int fd, bool served)
{
	__atomic_store_n(&s->proto, PROTO_LOST, __ATOMIC_RELAXED);
	DEBUG("fd %d: %s framing lost; the connection carries nothing more", fd,
	      served ? "request" : "first request's");
	if (served)
		untag(s);
}

/* Feeds one read to the connection's parser, handling its events in
 * order. Until a head was read (p->served), the accept-time context is the
 * connection's, as for HTTP. */
static void framed_read(struct fdslot *s, int fd, const char *data, size_t dlen, size_t n,
			unsigned flags)
{
	struct proto_parser *p = fdmap_parser(s);
	enum proto_event ev;
	size_t off = 0;

	if (p == NULL) {
		lose(s, fd, true);
		return;
	}
	if (p->proto == PROTO_UNKNOWN) {
		/* A dup'ed fd (no parser of its own), or a slot whose parser
		 * was recycled under it: nothing is known. */
		lose(s, fd, true);
		return;
	}
	if (flags & FDF_WROTE)
		proto_server_wrote(p);
	while (off < dlen) {
		off += proto_feed(p, data + off, dlen - off, &ev);
		switch (ev) {
		case PROTO_EV_BEGIN:
			/* From here to the end of its head, the new request
			 * has no context: not the previous one's. */
			if (p->served)
				untag(s);
			break;
		case PROTO_EV_HEAD:
			start(s, fd, &p->ids, !p->served, proto_name(p->proto), NULL, NULL, 0, false);
			p->served = true;
			break;
		case PROTO_EV_BAD:
			lose(s, fd, p->served);
			return;
		default:
			break;
		}
		if (ev == PROTO_EV_NONE)
			break;
	}
	if (dlen < n)                   /* bytes the agent was not shown */
		lose(s, fd, true);
}

void conn_answer_interim(struct fdslot *s)
{
	if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & FDF_WROTE)
		__atomic_and_fetch(&s->flags, (uint8_t)~FDF_WROTE, __ATOMIC_RELAXED);
}

void conn_closing(struct fdslot *s, int fd)
{
	uint8_t p = __atomic_load_n(&s->proto, __ATOMIC_RELAXED);

	while ((p == PROTO_HTTP || p == PROTO_HTTP_BODY) &&
	       !__atomic_compare_exchange_n(&s->proto, &p, PROTO_SESSION, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	if (p == PROTO_HTTP || p == PROTO_HTTP_BODY)
		DEBUG("fd %d: answered with Connection: close; its request's to the close", fd);
}

void conn_switched(struct fdslot *s, int fd)
{
	uint8_t http = PROTO_HTTP;

	if (__atomic_compare_exchange_n(&s->proto, &http, PROTO_SESSION, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		DEBUG("fd %d: 101 Switching Protocols; one context from here on", fd);
}

/* A read inside a request's body (PROTO_HTTP_BODY): its bytes are the
 * request's, and leave the request marks as they are (an answer written
 * before the body was read still makes the read after it the next
 * request). Returns how many of the n bytes were the body's: all but what
 * follows the body's last byte, which the caller reads as HTTP. */
static size_t body_read(struct fdslot *s, int fd, size_t n)
{
	struct http_body *b = fdmap_parser_peek(s);
	size_t used;

	if (b == NULL || b->left == 0) {
		/* A dup'ed fd: the body's length is its original's */
		__atomic_store_n(&s->proto, PROTO_HTTP, __ATOMIC_RELAXED);
		return 0;
	}
	if ((uint64_t)n < b->left) {
		b->left -= n;
		return n;
	}
	used = (size_t)b->left;
	b->left = 0;
	__atomic_store_n(&s->proto, PROTO_HTTP, __ATOMIC_RELAXED);
	/* The request came whole: a read before its answer is the next's. */
	__atomic_or_fetch(&s->flags, FDF_COMPLETE, __ATOMIC_RELAXED);
	DEBUG("fd %d: the request's body was read", fd);
	return used;
}

void conn_read(struct fdslot *s, int fd, const void *data, size_t dlen, size_t n)
{
	unsigned flags;
	enum proto proto = (enum proto)__atomic_load_n(&s->proto, __ATOMIC_RELAXED);

	if (data == NULL) {             /* nothing shown (a vector read's empty first piece) */
		data = "";
		dlen = 0;
	}

	if (proto == PROTO_HTTP_BODY) {
		size_t used = body_read(s, fd, n);

		if (used == n)
			return;
		proto = PROTO_HTTP;
		if (used > 0 && used >= dlen) {
			/* What follows the body was not shown (a vector's
			 * later pieces): where the next request starts is
			 * not known. */
			lose(s, fd, true);
			return;
		}
		data = (const char *)data + used;
		dlen -= used;
		n -= used;
	}
	flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);

	/* The request marks are taken (FDF_TLS, a property of the connection,
	 * stays); FDF_WROTE last, below. */
	if (flags & (FDF_FRESH | FDF_WROTE | FDF_HEAD_OPEN | FDF_IDLE | FDF_COMPLETE))
		flags = __atomic_fetch_and(&s->flags, FDF_TLS | FDF_WROTE, __ATOMIC_ACQ_REL) &
			(FDF_FRESH | FDF_WROTE | FDF_HEAD_OPEN | FDF_HEAD_BODY | FDF_IDLE | FDF_COMPLETE);
	else
		flags = 0;
	if (proto == PROTO_UNKNOWN) {
		proto = proto_detect(data, dlen);
		__atomic_store_n(&s->proto, (uint8_t)proto, __ATOMIC_RELAXED);
		if (proto >= PROTO_FCGI) {
			struct proto_parser *p = fdmap_parser(s);

			if (p)
				proto_init(p, proto, agent_config->header, agent_config->header_len);
		}
		DEBUG("fd %d: protocol %s", fd, proto_name(proto));
		if (proto == PROTO_SESSION) {
			struct ctx *c = __atomic_load_n(&s->ctx, __ATOMIC_ACQUIRE);

			if (c)
				__atomic_store_n(&c->session, 1, __ATOMIC_RELAXED);
		}
	}
	switch (proto) {
	case PROTO_HTTP:
		if (flags & (FDF_FRESH | FDF_WROTE | FDF_IDLE))
			http_read(s, fd, data, dlen, n, flags);
		else if (flags & FDF_HEAD_OPEN)
			head_goes_on(s, fd, data, dlen, dlen == n, flags & FDF_HEAD_BODY);
		else if (flags & FDF_COMPLETE)
			after_complete(s, fd, data, dlen, n);
		else if (conn_holds_request(data, dlen))
			unanswered_head(s, fd, data, dlen);
		break;
	case PROTO_FCGI:
	case PROTO_UWSGI:
	case PROTO_SCGI:
		framed_read(s, fd, data, dlen, n, flags);
		break;
	default:
		/* A session protocol: the connection's context throughout.
		 * A lost framed one: nothing. */
		break;
	}
	/* The answered mark goes once the read is dealt with: until the next
	 * request's context is on the slot, another thread that asks whether
	 * the previous request was answered (a writer with none, on a socket
	 * that request opened: flow_request_answered) sees it answered, not
	 * live again (a CI run of t_shared_socket: 1 of 71 lines of a thread
	 * of the program's own carried the first request's ID). */
	if (flags & FDF_WROTE)
		__atomic_and_fetch(&s->flags, (uint8_t)~FDF_WROTE, __ATOMIC_RELEASE);
}
