/*
 * fuzz_conn.c - libFuzzer target for the connection state machine
 * (agent/conn.c), driven the way the read and write shims drive it
 * (shims/io.c): flow_read_quick, else flow_read_slot; flow_write_quick,
 * else flow_write_begins and prop_write. Nothing is preloaded: the agent's
 * core is linked in, as in the unit tests (tests/unit/fake.c).
 *
 * The input is a sequence of operations on two client connections (fds on
 * /dev/null, so that the writes the wire rules make really go somewhere).
 * What a client sends is appended to that connection's stream (raw bytes,
 * an HTTP head built from a template, a FastCGI, uwsgi or SCGI request);
 * reads take the stream's next bytes at cut points the input chooses, and
 * may show the agent fewer bytes than they returned (dlen < n: a vector
 * read's later pieces). Writes are responses from a table (100 Continue,
 * 101, Connection: close, ...) or raw bytes, optionally in two calls.
 * Each op's first byte picks the op and the connection:
 *
 *   op % 8  0 raw bytes      len, bytes                   -> stream
 *           1 HTTP head      method, flags, id, clen, eol -> stream
 *           2 framed request kind, id, cut                -> stream
 *           3 read           n, shown                      (n 0: EOF)
 *           4 write          response, cut (raw: len, bytes)
 *           5 close the connection (accept it again when closed)
 *           6 a turn of the loop: flow_idle, then an event for the fd
 *           7 read all that is pending, shown whole
 *   op / 8 & 1: connection 0 or 1
 *
 * With FUZZ_CONN_TRACE set in the environment, each op is printed to
 * stderr with the bytes it read or wrote and the context current after it
 * (to read a crash input back as a sequence of calls).
 *
 * The first byte of the input picks the configuration (the ID header's
 * name, REQCTX_FIELDS, REQCTX_RESPONSE_ID). Connection 0 starts accepted.
 *
 * Whatever the bytes, it checks (a broken invariant traps):
 *  - no crash, no ASan/UBSan report (each read's shown bytes sit in an
 *    allocation of exactly that size);
 *  - a read leaves errno alone and its bytes unchanged (agent/flow.h,
 *    agent/conn.c: never change what the program reads);
 *  - after a read, the connection's context is current, or none when the
 *    thread is batched (agent/conn.h: "the caller then makes the slot's
 *    context current");
 *  - every context current or tagging a slot has a valid name: a generated
 *    ID is 16 lowercase hex; an adopted one passes http_valid_id (printable,
 *    1..128 bytes), is NUL-terminated at id_len, and came from bytes the
 *    agent was shown (a substring of them; a subsequence where a framed
 *    protocol may have assembled it across records);
 *  - each reference a tag or the current pointer owns is counted
 *    (base/ctx.h), and once both connections are closed and the thread
 *    holds none, no context is left alive (the pool hides leaks from ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/flow.h"
#include "agent/http.h"
#include "agent/propagate.h"
#include "agent/spans.h"
#include "base/ctx.h"
#include "base/id.h"
#include "base/real.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A read that shows nothing may pass no pointer at all (readv whose first
 * iovec is { NULL, 0 }: shims/io.c after_read). -DFUZZ_CONN_NULL_DATA=0
 * leaves that case out (to fuzz past a report about it). */
#ifndef FUZZ_CONN_NULL_DATA
#define FUZZ_CONN_NULL_DATA 1
#endif

#define STREAM_MAX 8192
#define SHOWN_MAX 65536
#define NCFG 4

struct client {
	int fd;
	bool open;
	size_t len, pos;            /* stream[pos..len): sent, not read yet */
	char stream[STREAM_MAX];
};

static struct client cl[2];
static struct config cfgs[NCFG];
static char shown[SHOWN_MAX];      /* every byte shown to the agent this input */
static size_t shown_len;
static bool framed_seen;
static long live_base;
static bool trace;
static unsigned seq;               /* numbers the IDs the templates make (per input) */

/* ---- input decoding ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static size_t take(struct in *in, size_t want, const uint8_t **out)
{
	if (want > in->n)
		want = in->n;
	*out = in->p;
	in->p += want;
	in->n -= want;
	return want;
}

static void put(struct client *c, const void *b, size_t n)
{
	if (n > STREAM_MAX - c->len)
		n = STREAM_MAX - c->len;
	memcpy(c->stream + c->len, b, n);
	c->len += n;
}

static void puts_(struct client *c, const char *s)
{
	put(c, s, strlen(s));
}

/* ---- the trace (FUZZ_CONN_TRACE) ---- */

static void trace_bytes(const char *what, int conn, const void *b, size_t dlen, size_t n)
{
	const unsigned char *p = b;

	if (!trace)
		return;
	fprintf(stderr, "  %s conn %d n=%zu dlen=%zu%s \"", what, conn, n, dlen, b ? "" : " data=NULL");
	for (size_t i = 0; p && i < dlen; i++)
		fprintf(stderr, p[i] >= 32 && p[i] < 127 && p[i] != '"' && p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
	fprintf(stderr, "\"\n");
}

static void trace_op(const char *what, int conn)
{
	if (trace)
		fprintf(stderr, "  %s conn %d\n", what, conn);
}

static void trace_cur(void)
{
	if (trace)
		fprintf(stderr, "    -> current: %s%s\n", agent_self.cur ? ctx_name(agent_self.cur)->id : "(none)",
			agent_self.batched ? " (batched)" : "");
}

/* ---- what clients send ---- */

static const char *const methods[] = {
	"GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS", "PATCH", "get",
};
static const char *const targets[] = { "/a", "*", "http://h/x", "/" };

/* Request IDs: short, odd characters, the longest valid one, one too
 * long, invalid characters, empty. The numbered one is fresh each time. */
static void make_id(char *dst, size_t cap, uint8_t k)
{
	switch (k % 8) {
	case 0: case 1:
		snprintf(dst, cap, "req-%u", ++seq);
		break;
	case 2:
		snprintf(dst, cap, "a/b:c+d=e.f_%u", ++seq);
		break;
	case 3:
		memset(dst, 'L', 128);
		snprintf(dst + 120, cap - 120, "%08u", ++seq % 100000000u);
		break;
	case 4:
		memset(dst, 'X', 129);
		dst[129] = '\0';
		break;
	case 5:
		snprintf(dst, cap, "bad id %u", ++seq);
		break;
	case 6:
		dst[0] = '\0';
		break;
	default:
		snprintf(dst, cap, "r\x01%u", ++seq);
		break;
	}
}

static const char *const tparents[] = {
	"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	"00-00000000000000000000000000000000-b7ad6b7169203331-01",
	"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-x",
	"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
};

static const char *const clens[] = {
	"18446744073709551615", "18446744073709551616", "-1", "1e3", "+5", " 7 ", "3, 3", "",
};

/* An HTTP request head (and maybe its body) from a template. */
static void push_http(struct client *c, struct in *in)
{
	uint8_t m = byte(in), f = byte(in), idk = byte(in), cl_ = byte(in), e = byte(in);
	const char *eol = e & 1 ? "\n" : "\r\n";
	char id[160], line[256];
	long body = -1;

	snprintf(line, sizeof line, "%s %s HTTP/1.%c%s", methods[m % 8], targets[(m >> 3) % 4],
		 m & 0x20 ? '0' : '1', eol);
	puts_(c, line);
	if (f & 1) {
		make_id(id, sizeof id, idk);
		snprintf(line, sizeof line, "%s: %s%s", idk & 8 ? "x-request-id" : "X-Request-Id", id, eol);
		puts_(c, line);
	}
	if (f & 2) {
		snprintf(line, sizeof line, "traceparent: %s%s", tparents[(idk >> 4) % 4], eol);
		puts_(c, line);
	}
	if (f & 4) {
		if (cl_ & 0x80) {
			snprintf(line, sizeof line, "Content-Length: %s%s", clens[cl_ & 7], eol);
		} else {
			body = cl_ & 0x3f;
			snprintf(line, sizeof line, "Content-Length: %ld%s", body, eol);
		}
		puts_(c, line);
		if (cl_ & 0x40)             /* said twice */
			puts_(c, line);
	}
	if (f & 8) {
		snprintf(line, sizeof line, "Transfer-Encoding: chunked%s", eol);
		puts_(c, line);
	}
	if (f & 0x10) {
		snprintf(line, sizeof line, "Expect: 100-continue%s", eol);
		puts_(c, line);
	}
	if (f & 0x20) {
		snprintf(line, sizeof line, "%s%s", e & 2 ? "Connection: close" :
			 "Connection: Upgrade\r\nUpgrade: websocket", eol);
		puts_(c, line);
	}
	if (f & 0x40) {
		snprintf(line, sizeof line, "X-Tenant-Id: t%u%s", seq, eol);
		puts_(c, line);
	}
	if (!(e & 4))                       /* else: the head never ends */
		puts_(c, eol);
	if (f & 0x80) {
		/* a body: the announced length, give or take a few bytes */
		long n = body >= 0 ? body + (long)((e >> 3) & 7) - 3 : (long)((e >> 3) & 7) * 5;

		for (long i = 0; i < n; i++)
			put(c, "b", 1);
		if (f & 8)
			puts_(c, "0\r\n\r\n");
	}
}

static void fcgi_record(struct client *c, uint8_t type, uint16_t rid, const void *b, size_t n,
			uint8_t pad)
{
	uint8_t h[8] = { 1, type, (uint8_t)(rid >> 8), (uint8_t)rid, (uint8_t)(n >> 8), (uint8_t)n, pad, 0 };

	put(c, h, 8);
	put(c, b, n);
	for (uint8_t i = 0; i < pad; i++)
		put(c, "", 1);
}

static size_t nv(uint8_t *dst, const char *name, const char *val)
{
	size_t nl = strlen(name), vl = strlen(val), o = 0;

	dst[o++] = (uint8_t)nl;
	if (vl > 127) {
		dst[o++] = 0x80;
		dst[o++] = 0;
		dst[o++] = 0;
		dst[o++] = (uint8_t)vl;
	} else {
		dst[o++] = (uint8_t)vl;
	}
	memcpy(dst + o, name, nl);
	o += nl;
	memcpy(dst + o, val, vl);
	return o + vl;
}

/* A FastCGI, uwsgi or SCGI request naming an ID. */
static void push_framed(struct client *c, struct in *in)
{
	uint8_t k = byte(in), idk = byte(in), cut = byte(in);
	char id[160];
	uint8_t params[512];
	size_t pl = 0;

	make_id(id, sizeof id, idk);
	switch (k & 3) {
	case 0: case 3: {
		uint16_t rid = (k >> 2) & 1 ? 2 : 1;
		uint8_t begin[8] = { 0, 1, (uint8_t)((k >> 3) & 1), 0, 0, 0, 0, 0 };
		size_t at;

		pl += nv(params + pl, "REQUEST_METHOD", "GET");
		pl += nv(params + pl, "HTTP_X_REQUEST_ID", id);
		if (k & 0x10)
			pl += nv(params + pl, "HTTP_TRACEPARENT", tparents[(k >> 5) % 4]);
		if (!(k & 0x80))
			fcgi_record(c, 1, rid, begin, 8, 0);
		at = cut % (pl + 1);        /* the params in two records */
		fcgi_record(c, 4, rid, params, at, (uint8_t)(k >> 6));
		fcgi_record(c, 4, rid, params + at, pl - at, 0);
		fcgi_record(c, 4, rid, "", 0, 0);
		fcgi_record(c, 5, rid, "", 0, 0);
		break;
	}
	case 1: {
		uint8_t h[4];
		size_t nl = 17, vl = strlen(id);

		/* uwsgi vars: u16 key length, key, u16 value length, value */
		memcpy(params + pl, (uint8_t[]){ 14, 0 }, 2), pl += 2;
		memcpy(params + pl, "REQUEST_METHOD", 14), pl += 14;
		memcpy(params + pl, (uint8_t[]){ 3, 0 }, 2), pl += 2;
		memcpy(params + pl, "GET", 3), pl += 3;
		params[pl++] = (uint8_t)nl, params[pl++] = 0;
		memcpy(params + pl, "HTTP_X_REQUEST_ID", nl), pl += nl;
		params[pl++] = (uint8_t)vl, params[pl++] = 0;
		memcpy(params + pl, id, vl), pl += vl;
		h[0] = 0;
		h[1] = (uint8_t)(pl + (cut & 3 ? 0 : 1));    /* sometimes one byte off */
		h[2] = (uint8_t)(pl >> 8);
		h[3] = 0;
		put(c, h, 4);
		put(c, params, pl);
		break;
	}
	default: {            /* 2: SCGI */
		char hdr[16];
		char vars[400];
		int vn = snprintf(vars, sizeof vars, "CONTENT_LENGTH%c%u%cSCGI%c1%cHTTP_X_REQUEST_ID%c%s%c",
				  0, cut & 3, 0, 0, 0, 0, id, 0);

		snprintf(hdr, sizeof hdr, "%d:", vn);
		puts_(c, hdr);
		put(c, vars, (size_t)vn);
		put(c, k & 8 ? ";" : ",", 1);
		for (unsigned i = 0; i < (cut & 3); i++)
			put(c, "x", 1);
		break;
	}
	}
}

/* ---- what the server writes ---- */

static const char *const responses[] = {
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
	"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nbody",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Request-Id: mine\r\nContent-Length: 0\r\n\r\n",
	/* FastCGI: STDOUT, END_REQUEST for request 1 */
	"\x01\x06\x00\x01\x00\x02\x00\x00ok\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	"+OK\r\n",
};
#define NRESP (sizeof responses / sizeof responses[0])
static const size_t resp_len[NRESP] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8 + 2 + 8 + 8, 0,
};

/* A write as the shims make it (shims/io.c write_slot). */
static void do_write(int fd, const char *b, size_t n)
{
	struct fdslot *s = flow_slot(fd);
	char *copy;

	trace_bytes("write", fd == cl[0].fd ? 0 : 1, b, n, n);
	if (s && flow_write_quick(s))
		return;
	copy = malloc(n ? n : 1);
	CHECK(copy != NULL);
	memcpy(copy, b, n);
	{
		int k = flow_write_begins(s, fd, copy, n);

		if (prop_wants(s)) {
			struct iovec v = { copy, n };
			struct prop_call pc = { .how = PROP_WRITE };

			(void)prop_write(s, fd, &v, 1, &pc);
		} else {
			(void)flow_write_ends(k, fd, copy, n, (ssize_t)n);
		}
	}
	free(copy);
}

/* ---- the invariants ---- */

static bool in_shown(const char *id, size_t n)
{
	size_t j = 0;

	if (memmem(shown, shown_len, id, n) != NULL)
		return true;
	if (!framed_seen)
		return false;
	for (size_t i = 0; i < shown_len && j < n; i++)
		if (shown[i] == id[j])
			j++;
	return j == n;
}

static void valid_ctx(const struct ctx *c)
{
	const struct ctx_name *nm;

	if (c == NULL)
		return;
	CHECK(__atomic_load_n(&c->refs, __ATOMIC_RELAXED) > 0);
	nm = ctx_name(c);
	CHECK(nm == &c->names[0] || nm == &c->names[1]);
	CHECK(nm->id_len <= CTX_ID_MAX && nm->id[nm->id_len] == '\0' && strlen(nm->id) == nm->id_len);
	if (nm->origin == CTX_GENERATED) {
		CHECK(nm->id_len == ID_REQUEST_LEN);
		for (unsigned i = 0; i < nm->id_len; i++)
			CHECK((nm->id[i] >= '0' && nm->id[i] <= '9') || (nm->id[i] >= 'a' && nm->id[i] <= 'f'));
	} else {
		CHECK(nm->origin == CTX_ADOPTED);
		CHECK(http_valid_id(nm->id, nm->id_len));
		CHECK(in_shown(nm->id, nm->id_len));
	}
}

static void check_all(void)
{
	const struct ctx *held[3];
	int k = 0;

	held[k++] = agent_self.cur;
	for (int i = 0; i < 2; i++) {
		struct fdslot *s = flow_slot(cl[i].fd);

		held[k++] = cl[i].open && s && fdmap_kind(s) == FD_CLIENT ? fdmap_ctx_peek(s) : NULL;
		if (cl[i].open && s)
			CHECK(__atomic_load_n(&s->proto, __ATOMIC_RELAXED) <= PROTO_HTTP_BODY);
	}
	for (int i = 0; i < k; i++) {
		unsigned owners = 0;

		if (held[i] == NULL)
			continue;
		valid_ctx(held[i]);
		for (int j = 0; j < k; j++)
			owners += held[j] == held[i];
		CHECK(__atomic_load_n(&held[i]->refs, __ATOMIC_RELAXED) >= owners);
	}
}

/* A read of n bytes on connection c, the first dlen shown (data NULL:
 * none shown), as the read shims make it (after_read). */
static void do_read(struct client *c, size_t n, size_t dlen, bool null_data)
{
	struct fdslot *s = flow_slot(c->fd);
	char *buf = NULL;

	CHECK(dlen <= n && c->pos + n <= c->len);
	if (!(FUZZ_CONN_NULL_DATA && null_data && dlen == 0)) {
		buf = malloc(dlen ? dlen : 1);
		CHECK(buf != NULL);
		memcpy(buf, c->stream + c->pos, dlen);
		if (shown_len + dlen <= SHOWN_MAX) {
			memcpy(shown + shown_len, buf, dlen);
			shown_len += dlen;
		}
	}
	trace_bytes("read", (int)(c - cl), buf, dlen, n);
	errno = 4242;
	if (s && !flow_read_quick(s, buf, dlen))
		flow_read_slot(s, c->fd, buf, dlen, n);
	CHECK(errno == 4242);
	if (buf)
		CHECK(memcmp(buf, c->stream + c->pos, dlen) == 0);
	free(buf);
	c->pos += n;
	if (s && fdmap_kind(s) == FD_CLIENT) {
		uint8_t p = __atomic_load_n(&s->proto, __ATOMIC_RELAXED);

		if (p >= PROTO_FCGI && p != PROTO_HTTP_BODY)
			framed_seen = true;
		CHECK(agent_self.cur == fdmap_ctx_peek(s) || (agent_self.batched && agent_self.cur == NULL));
	}
}

static void accept_(struct client *c)
{
	trace_op("accept", (int)(c - cl));
	flow_accept(c->fd, NULL, 0);
	c->open = true;
	c->len = c->pos = 0;
}

static void close_(struct client *c)
{
	trace_op("close", (int)(c - cl));
	flow_close(c->fd);
	c->open = false;
}

/* ---- set-up ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *vars[NCFG][3] = {
		{ NULL },
		{ "REQCTX_HEADER=traceparent", NULL },
		{ "REQCTX_FIELDS=tenant=X-Tenant-Id", "REQCTX_SPANS=/dev/null", NULL },
		{ "REQCTX_RESPONSE_ID=0", "REQCTX_HEADER=X-Correlation-ID", NULL },
	};

	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_CONN_TRACE") != NULL;
	real_resolve_all();
	for (int i = 0; i < NCFG; i++)
		config_load(&cfgs[i], vars[i], NULL, NULL);
	agent_config = &cfgs[2];
	spans_init(&cfgs[2]);       /* spans on (to /dev/null) for every input */
	id_init();
	memset(&agent_self, 0, sizeof agent_self);
	for (int i = 0; i < 2; i++) {
		cl[i].fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		CHECK(cl[i].fd >= 0);
	}
	/* Once served and accepted, so that every input starts alike (a
	 * thread's first accept and a process's first read set marks that
	 * stay: agent/flow.c listener()). */
	accept_(&cl[0]);
	put(&cl[0], "GET / HTTP/1.1\r\n\r\n", 18);
	do_read(&cl[0], 18, 18, false);
	close_(&cl[0]);
	ctx_take_current(NULL);
	live_base = ctx_live();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint8_t c0;

	if (size == 0)
		return 0;
	c0 = byte(&in);
	agent_config = &cfgs[c0 % NCFG];
	if (trace)
		fprintf(stderr, "input: config %d, served %d\n", c0 % NCFG, (c0 >> 2) & 1);
	memset(&agent_self, 0, sizeof agent_self);
	agent_self.accepted = true;
	agent_self.served = (c0 >> 2) & 1;
	shown_len = 0;
	framed_seen = false;
	seq = 0;
	accept_(&cl[0]);
	check_all();

	for (int ops = 0; in.n > 0 && ops < 256; ops++) {
		uint8_t op = byte(&in);
		struct client *c = &cl[(op >> 3) & 1];
		const uint8_t *b;
		size_t n;

		if (!c->open && op % 8 != 5)
			continue;
		switch (op % 8) {
		case 0:
			n = take(&in, byte(&in), &b);
			put(c, b, n);
			break;
		case 1:
			push_http(c, &in);
			break;
		case 2:
			push_framed(c, &in);
			break;
		case 3: {
			uint8_t k = byte(&in), d = byte(&in);
			size_t avail = c->len - c->pos;

			/* k: the read's count (0: end of file; more than
			 * there is: what there is); d: shown whole (bit 7),
			 * or that many 128ths of it, with no pointer when 0
			 * (bit 6) */
			n = k == 0 ? 0 : (k > avail ? avail : k);
			if (k != 0 && n == 0)
				break;
			do_read(c, n, d & 0x80 ? n : n * (d & 0x3f) / 64, d & 0x40);
			break;
		}
		case 4: {
			uint8_t r = byte(&in), cut = byte(&in);

			if (r % (NRESP + 1) == NRESP) {
				n = take(&in, cut, &b);
				do_write(c->fd, (const char *)b, n);
			} else {
				const char *p = responses[r % (NRESP + 1)];
				size_t len = resp_len[r % (NRESP + 1)] ? resp_len[r % (NRESP + 1)] : strlen(p);
				size_t at = cut & 0x80 ? (cut & 0x7f) % (len + 1) : len;

				do_write(c->fd, p, at);
				if (at < len)
					do_write(c->fd, p + at, len - at);
			}
			break;
		}
		case 5:
			if (c->open)
				close_(c);
			else
				accept_(c);
			break;
		case 6:
			/* op bit 4: the event reports input (flow_event) */
			trace_op((op >> 4) & 1 ? "wait, then an input event for"
					       : "wait, then an output event for", (int)(c - cl));
			flow_idle();
			flow_event(c->fd, (op >> 4) & 1 ? EPOLLIN : EPOLLOUT);
			break;
		default:
			if (c->len > c->pos)
				do_read(c, c->len - c->pos, c->len - c->pos, false);
			break;
		}
		check_all();
		trace_cur();
	}

	for (int i = 0; i < 2; i++)
		if (cl[i].open)
			close_(&cl[i]);
	ctx_take_current(NULL);
	memset(&agent_self, 0, sizeof agent_self);
	/* Neither connection is open and the thread holds nothing: every
	 * reference taken was given back. */
	CHECK(ctx_live() == live_base);
	return 0;
}
