/*
 * test_propagate.c - the wire rules: the head scanner on its own (where a
 * head's blank line is, what it already has, bodies, pipelining, bytes that
 * are not HTTP), then headers inserted into real writes on a socketpair,
 * with the program's counts checked call by call: heads split over many
 * writes, writev across iovecs, a full non-blocking socket drained a few
 * bytes at a time, pipelined heads, a program that sets traceparent itself,
 * HTTP/1.0, responses, and memcached/redis bytes left byte-identical.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/fields.h"
#include "agent/format.h"
#include "agent/spans.h"
#include "agent/propagate.h"
#include "agent/wire.h"
#include "base/ctx.h"
#include "base/id.h"
#include "base/real.h"
#include "suites.h"

#define UNIT_SUITE propagate
#define UNIT_TCASE wire

static const struct wire_names names = { "X-Request-Id", 12 };

/* Feeds s (all at once, or `step` bytes per call), deciding every
 * insertion point; returns the offsets of the points found. */
static int points(struct wire_scan *w, const char *s, size_t step, size_t *at, int max)
{
	size_t n = strlen(s), off = 0;
	int k = 0;

	while (off < n) {
		size_t end = step && off + step < n ? off + step : n;
		size_t r = wire_feed(w, &names, s + off, end - off);

		off += r;
		if (off < end) {
			if (k < max)
				at[k] = off;
			k++;
			w->decided = 1;
		}
	}
	return k;
}

UNIT_TEST(wire_finds_the_blank_line)
{
	static const char head[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	struct wire_scan w;
	size_t at[4];

	for (size_t step = 0; step < 5; step++) {
		wire_init(&w, WIRE_REQUEST);
		ck_assert_int_eq(points(&w, head, step, at, 4), 1);
		ck_assert_uint_eq(at[0], sizeof head - 3);
		ck_assert_int_eq(w.state, WS_START);
		ck_assert_str_eq(w.method, "GET");
	}
}

UNIT_TEST(wire_sees_headers_already_there)
{
	struct wire_scan w;
	size_t at[2];

	wire_init(&w, WIRE_REQUEST);
	ck_assert_int_eq(points(&w, "GET / HTTP/1.1\r\nTRACEPARENT: 00-x\r\nx-request-id: a\r\n\r\n",
				0, at, 2), 1);
	ck_assert_uint_eq(w.have & (WIRE_H_TRACEPARENT | WIRE_H_ID | WIRE_H_BAGGAGE),
			  WIRE_H_TRACEPARENT | WIRE_H_ID);
	/* A name that only starts like one is another header. */
	wire_init(&w, WIRE_REQUEST);
	points(&w, "GET / HTTP/1.1\r\ntraceparentx: 1\r\nbaggag: 2\r\n\r\n", 0, at, 2);
	ck_assert_uint_eq(w.have, 0);
}

UNIT_TEST(wire_skips_bodies_to_pipelined_heads)
{
	static const char two[] = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				  "GET /b HTTP/1.0\r\n\r\n";
	struct wire_scan w;
	size_t at[4];

	for (size_t step = 0; step < 4; step++) {
		wire_init(&w, WIRE_REQUEST);
		ck_assert_int_eq(points(&w, two, step, at, 4), 2);
		ck_assert_uint_eq(at[0], strstr(two, "\r\n\r\n") - two + 2);
		ck_assert_uint_eq(at[1], sizeof two - 3);
	}
}

UNIT_TEST(wire_leaves_other_protocols)
{
	static const char *const not_http[] = {
		"*1\r\n$4\r\nPING\r\n",                 /* redis */
		"get foo\r\n",                          /* memcached */
		"set k 0 0 5\r\nhello\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", /* obs-fold */
		"GET / HTTP/1.1\r\nbad name: x\r\n\r\n",
		"\x16\x03\x01\x02\x00",                 /* TLS */
	};
	struct wire_scan w;
	size_t at[2];

	for (size_t i = 0; i < sizeof not_http / sizeof not_http[0]; i++) {
		wire_init(&w, WIRE_REQUEST);
		ck_assert_int_eq(points(&w, not_http[i], 0, at, 2), 0);
		ck_assert_int_eq(w.state, WS_NOT_HTTP);
	}
}

/* What a head leaves in the scanner, fed whole and `step` bytes at a time:
 * the fast paths (names compared whole, values skipped eight bytes at a
 * time) only run when a name or a value lies in one call's bytes, so
 * feeding one byte per call is the byte-by-byte scanner they must match. */
static void same_fed_any_way(const char *head, enum wire_role role)
{
	struct wire_scan whole, part;
	size_t at_whole[4], at_part[4];
	int k_whole, k_part;

	wire_init(&whole, role);
	k_whole = points(&whole, head, 0, at_whole, 4);
	for (size_t step = 1; step <= 9; step++) {
		wire_init(&part, role);
		k_part = points(&part, head, step, at_part, 4);
		ck_assert_msg(k_part == k_whole && part.state == whole.state &&
			      strcmp(part.method, whole.method) == 0 &&
			      part.have == whole.have && part.clen == whole.clen &&
			      part.bad_clen == whole.bad_clen && part.status == whole.status &&
			      part.close == whole.close,
			      "head %s, step %zu: points %d/%d state %d/%d have %x/%x clen %llu/%llu",
			      head, step, k_part, k_whole, part.state, whole.state, part.have,
			      whole.have, (unsigned long long)part.clen,
			      (unsigned long long)whole.clen);
		for (int k = 0; k < k_whole && k < 4; k++)
			ck_assert_uint_eq(at_part[k], at_whole[k]);
	}
}

UNIT_TEST(wire_whole_and_byte_by_byte_agree)
{
	static const char *const requests[] = {
		"GET / HTTP/1.1\r\nTraceParent: 00-1\r\nX-REQUEST-ID: abc\r\nBaggage: k=v\r\n\r\n",
		"GET / HTTP/1.1\r\ntraceparentx: 1\r\nx-request-i: 2\r\nbaggagee: 3\r\n\r\n",
		"GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nupgrade: h2c\r\nUpgrade-Insecure-Requests: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nContent-Lengthy: 5\r\nContent-Type: text/plain\r\n\r\n",
		"POST / HTTP/1.1\r\ncontent-length: 1 2\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\nAccept: */*\n\n",
		"GET / HTTP/1.1\r\nHost: a-long-value-with\rcarriage-return\r\n\r\n",
		"GET / HTTP/1.1\r\nUser-Agent: \x8d\x8a\x0d\x0a",
		"GET / HTTP/1.1\r\nUser-Agent: \x8d\x8a\x8d\x8a\x8d\x8a\x8d\x8a\x0e\x0b\xff\r\n\r\n",
		"GET / HTTP/1.1\r\nt: 1\r\nc: 2\r\nx: 3\r\n\r\n",
		"GET / HTTP/1.1\r\ntraceparent : 1\r\n\r\n",
		"GET / HTTP/1.1\r\nx-request-id",
	};
	static const char *const responses[] = {
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 30 Nov 2026 19:20:00 GMT\r\n"
		"Content-Type: text/html\r\nContent-Length: 615\r\nConnection: keep-alive\r\n"
		"ETag: \"6566b7a7-267\"\r\nAccept-Ranges: bytes\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-Request-Id: q\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: 12345678\r\nB: 1234567\r\nC: 123456789\r\nD: 1234567890123456\r\n\r\n",
		"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE \r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: closed\r\nConnections: close\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
		same_fed_any_way(requests[i], WIRE_REQUEST);
	for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++)
		same_fed_any_way(responses[i], WIRE_RESPONSE);
	/* Values whose line ends at each of the eight places of a word. */
	for (size_t pad = 0; pad < 17; pad++) {
		char head[128];

		snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: %.*s\r\nX-Request-Id: %.*s\n\r\n",
			 (int)pad, "abcdefghijklmnopq", (int)(16 - pad), "0123456789abcdef");
		same_fed_any_way(head, WIRE_REQUEST);
		snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: %.*s\rX\r\n\r\n",
			 (int)pad, "abcdefghijklmnopq");
		same_fed_any_way(head, WIRE_REQUEST);
	}
}

/* A small generator (a fixed-seed LCG) of heads near the rules' edges:
 * names of interest in any case and their near misses, names of every
 * length around the quick paths' sixteen-byte blocks, token characters
 * other than letters, bytes that are not tokens, values of digits, blanks
 * and high bytes, status lines good and bad, CR, LF, CR without LF. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void put(char *h, size_t *o, size_t cap, const char *p, size_t n)
{
	if (*o + n >= cap)
		n = cap - 1 - *o;
	memcpy(h + *o, p, n);
	*o += n;
	h[*o] = '\0';
}

static void put_eol(char *h, size_t *o, size_t cap, uint32_t *s)
{
	static const char *const eol[] = { "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\rX" };
	const char *e = eol[lcg(s) % 8];

	put(h, o, cap, e, strlen(e));
}

static void random_head(char *h, size_t cap, uint32_t *s, enum wire_role role)
{
	static const char *const names_of_interest[] = {
		"traceparent", "x-request-id", "baggage", "content-length", "transfer-encoding",
		"upgrade", "te", "t", "c", "x", "traceparentx", "x-request-i", "content-lengthy",
		"upgrade-insecure-requests", "b", "u",
	};
	static const char token[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
				    "-----!#$%&'*+.^_`|~";
	static const char odd[] = " @(),/;<=>?[]{}\"\x7f\x80\xff\t\x01";
	size_t o = 0;
	int lines = (int)(lcg(s) % 10);

	h[0] = '\0';
	if (role == WIRE_RESPONSE) {
		char line[64];

		snprintf(line, sizeof line, "HTTP/1.%c %c%c%c", lcg(s) % 16 ? '1' : 'x',
			 lcg(s) % 16 ? '2' : '1', lcg(s) % 16 ? '0' : 'a', '0' + (char)(lcg(s) % 10));
		put(h, &o, cap, line, strlen(line));
		switch (lcg(s) % 6) {
		case 0:
			break;
		case 1:
			put(h, &o, cap, " ", 1);
			break;
		default: {
			size_t n = lcg(s) % 24;

			put(h, &o, cap, lcg(s) % 8 ? " " : "X", 1);
			for (size_t k = 0; k < n; k++) {
				char c = lcg(s) % 12 ? "OK Not Found"[k % 12] : odd[lcg(s) % (sizeof odd - 1)];

				put(h, &o, cap, &c, 1);
			}
		}
		}
	} else {
		static const char *const methods[] = {
			"GET", "POST", "CONNECT", "M-SEARCH", "get", "ABCDEFGHIJKLMNO",
			"ABCDEFGHIJKLMNOP", "", "GE(T", "PATCH",
		};
		static const char *const targets[] = {
			"/", "/a", "", "*", "http://h/x?y=1", "/0123456789abcdef0123456789", "/a b",
			"/\x7f", "/\x80x", "/%20", "/abc\x7f" "defghijklmnopq", "/abcdefghijklmn\x80opq",
		};
		const char *m = methods[lcg(s) % 10], *t = targets[lcg(s) % 12];

		put(h, &o, cap, m, strlen(m));
		put(h, &o, cap, " ", 1);
		put(h, &o, cap, t, strlen(t));
		put(h, &o, cap, lcg(s) % 16 ? " HTTP/1." : " HTTP/2.", 8);
		put(h, &o, cap, lcg(s) % 16 ? "1" : "x", 1);
		if (lcg(s) % 16 == 0)
			put(h, &o, cap, " ", 1);
	}
	put_eol(h, &o, cap, s);
	for (int l = 0; l < lines; l++) {
		size_t n = lcg(s) % 40;

		if (lcg(s) % 3 == 0) {
			const char *nm = names_of_interest[lcg(s) % (sizeof names_of_interest /
								    sizeof names_of_interest[0])];

			for (size_t k = 0; nm[k]; k++) {
				char c = lcg(s) % 2 ? (char)(nm[k] & ~0x20) : nm[k];

				put(h, &o, cap, nm[k] >= 'a' && nm[k] <= 'z' ? &c : &nm[k], 1);
			}
		} else {
			for (size_t k = 0; k < n; k++) {
				char c = lcg(s) % 64 ? token[lcg(s) % (sizeof token - 1)] :
					 odd[lcg(s) % (sizeof odd - 1)];

				put(h, &o, cap, &c, 1);
			}
		}
		if (lcg(s) % 16)
			put(h, &o, cap, ":", 1);
		else
			put(h, &o, cap, " :", 2);
		n = lcg(s) % 30;
		for (size_t k = 0; k < n; k++) {
			char c = lcg(s) % 4 ? "0123456789 \t"[lcg(s) % 12] : (char)(1 + lcg(s) % 255);

			put(h, &o, cap, &c, 1);
		}
		put_eol(h, &o, cap, s);
	}
	if (lcg(s) % 8)
		put_eol(h, &o, cap, s);
	if (lcg(s) % 4 == 0)
		put(h, &o, cap, "abcdeHTTP/1.1 200 OK\r\nA: b\r\n\r\n", 31);
}

UNIT_TEST(wire_random_heads_whole_and_byte_by_byte_agree)
{
	uint32_t seed = 1;
	char head[1024];

	for (int i = 0; i < 6000; i++) {
		enum wire_role role = i % 3 ? WIRE_RESPONSE : WIRE_REQUEST;

		random_head(head, sizeof head, &seed, role);
		same_fed_any_way(head, role);
	}
}

UNIT_TEST(wire_chunked_waits_for_the_reply)
{
	struct wire_scan w;
	size_t at[2];

	wire_init(&w, WIRE_REQUEST);
	points(&w, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0, at, 2);
	ck_assert_int_eq(w.state, WS_OPAQUE);
	wire_reply_read(&w);
	ck_assert_int_eq(points(&w, "GET / HTTP/1.1\r\n\r\n", 0, at, 2), 1);
}

UNIT_TEST(wire_responses)
{
	struct wire_scan w;
	size_t at[3];

	wire_init(&w, WIRE_RESPONSE);
	ck_assert_int_eq(points(&w, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 No\r\nA: b\r\n\r\nbody",
				1, at, 3), 2);
	ck_assert_uint_eq(w.status, 503);
	ck_assert_int_eq(w.state, WS_DONE);
	wire_init(&w, WIRE_RESPONSE);
	ck_assert_int_eq(points(&w, "HTTP/1.0 200\r\n\r\n", 0, at, 3), 1);
	ck_assert_uint_eq(w.status, 200);
	wire_init(&w, WIRE_RESPONSE);
	points(&w, "VALUE k 0 1\r\n", 0, at, 3);
	ck_assert_int_eq(w.state, WS_NOT_HTTP);
}

/* "close" among a Connection header's tokens (RFC 9110, 7.6.1), any case,
 * any place in the list; not a longer token, not another field. */
UNIT_TEST(wire_sees_connection_close)
{
	static const struct {
		const char *head;
		int close;
	} cases[] = {
		{ "HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 1 },
		{ "HTTP/1.1 200 OK\r\nconnection:CLOSE\r\n\r\n", 1 },
		{ "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\n", 1 },
		{ "HTTP/1.1 200 OK\r\nConnection: close , upgrade\r\n\r\n", 1 },
		{ "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", 1 },
		{ "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nConnection: clos\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nConnection: x close\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Type: close\r\n\r\n", 0 },
		{ "HTTP/1.1 200 OK\r\n\r\n", 0 },
	};
	struct wire_scan w;
	size_t at[2];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (size_t step = 0; step <= 3; step++) {
			wire_init(&w, WIRE_RESPONSE);
			points(&w, cases[i].head, step, at, 2);
			ck_assert_msg(w.state == WS_DONE && w.close == cases[i].close,
				      "case %zu, step %zu: close %d, want %d", i, step, w.close,
				      cases[i].close);
		}
	}
}

#undef UNIT_TCASE
#define UNIT_TCASE write

static struct config cfg;
static int sp[2];
static struct ctx *cur;

/* A context current on this thread, an outbound connection in sp[0]. */
static void setup_with(const char *const *vars)
{
	char *env[8] = { NULL };
	struct ctx_seed seed = { 0 };

	for (int i = 0; vars && vars[i] && i < 7; i++)
		env[i] = (char *)vars[i];
	real_resolve_all();
	config_load(&cfg, env, NULL, NULL);
	agent_config = &cfg;
	id_init();
	seed.id = "req-1";
	seed.id_len = 5;
	seed.trace_id = "0af7651916cd43dd8448eb211c80319c";
	seed.parent_id = "b7ad6b7169203331";
	seed.trace_flags = 1;
	seed.field[0] = "acme";
	seed.field_len[0] = 4;
	cur = ctx_new(&seed);
	ctx_take_current(cur);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	fdmap_reset(sp[0], FD_PEER);
	prop_connect(sp[0], NULL, 0);
	ck_assert(prop_wants(fdmap_peek(sp[0])) == (cfg.propagate != 0));
}

static void setup(void)
{
	setup_with(NULL);
}

static ssize_t pwrite_(const char *s, size_t n)
{
	struct iovec v = { (void *)s, n };
	struct prop_call pc = { .how = PROP_WRITE };

	return prop_write(fdmap_peek(sp[0]), sp[0], &v, 1, &pc);
}

static ssize_t psend(const char *s, size_t n)
{
	struct iovec v = { (void *)s, n };
	struct prop_call pc = { .how = PROP_SEND, .flags = MSG_NOSIGNAL };

	return prop_write(fdmap_peek(sp[0]), sp[0], &v, 1, &pc);
}

/* Everything the peer has, as a string. */
static char *received(void)
{
	static char buf[1 << 16];
	size_t n = 0;
	ssize_t r;

	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	while ((r = read(sp[1], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return buf;
}

/* What the agent inserts for `cur`, with the span ID the traceparent in
 * `got` carries: a new client span where spans are recorded, else the
 * caller's (b7ad...), the nearest recorded one. */
static void expect_with_inserts(const char *got, const char *before, const char *after)
{
	char want[4096];
	const char *tp = strstr(got, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-");
	char span[17];

	ck_assert_msg(tp != NULL, "no traceparent in %s", got);
	memcpy(span, tp + 49, 16);
	span[16] = '\0';
	ck_assert_str_ne(span, cur->span_id);
	if (spans_on())
		ck_assert_str_ne(span, "b7ad6b7169203331");
	else
		ck_assert_str_eq(span, "b7ad6b7169203331");
	snprintf(want, sizeof want, "%straceparent: 00-0af7651916cd43dd8448eb211c80319c-%s-01\r\n"
		 "X-Request-Id: req-1\r\n%s", before, span, after);
	ck_assert_str_eq(got, want);
}

UNIT_TEST(inserts_before_the_blank_line)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";

	setup();
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	expect_with_inserts(received(), "GET /x HTTP/1.1\r\nHost: b\r\n", "\r\n");
}

static void setup_spans(char *path);

/* With spans recorded, the traceparent names the CLIENT span the head
 * starts; without, the caller's span, which the next service then names
 * as its parent: a span of the agent's there would be recorded nowhere
 * (before, the next service's span had a parent no backend had, 0 of 1). */
UNIT_TEST(traceparent_names_a_recorded_span)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";
	char path[] = "/tmp/reqctx-spans-XXXXXX";

	setup();
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	ck_assert_ptr_nonnull(strstr(received(), "-b7ad6b7169203331-01\r\n"));
	setup_spans(path);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	expect_with_inserts(received(), "GET /x HTTP/1.1\r\nHost: b\r\n", "\r\n");
	unlink(path);
}

UNIT_TEST(head_split_over_many_writes)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";

	setup();
	for (size_t i = 0; i < sizeof head - 1; i++)
		ck_assert_int_eq(psend(head + i, 1), 1);
	expect_with_inserts(received(), "GET /x HTTP/1.1\r\nHost: b\r\n", "\r\n");
}

UNIT_TEST(writev_with_the_head_across_iovecs)
{
	struct iovec v[4] = {
		{ "GET /x HT", 9 }, { "TP/1.1\r\nHost: b\r", 16 }, { "\n\r", 2 }, { "\nbody?", 6 },
	};
	struct prop_call pc = { .how = PROP_WRITEV };

	setup();
	ck_assert_int_eq(prop_write(fdmap_peek(sp[0]), sp[0], v, 4, &pc), 33);
	expect_with_inserts(received(), "GET /x HTTP/1.1\r\nHost: b\r\n", "\r\nbody?");
}

UNIT_TEST(sendmsg_with_the_head_across_iovecs)
{
	struct iovec v[2] = { { "GET /x HTTP/1.0\r\n", 17 }, { "\r\n", 2 } };
	struct msghdr m = { .msg_iov = v, .msg_iovlen = 2 };
	struct prop_call pc = { .how = PROP_SENDMSG, .msg = &m };

	setup();
	ck_assert_int_eq(prop_write(fdmap_peek(sp[0]), sp[0], v, 2, &pc), 19);
	expect_with_inserts(received(), "GET /x HTTP/1.0\r\n", "\r\n");
}

UNIT_TEST(program_headers_are_left_alone)
{
	static const char head[] = "GET / HTTP/1.1\r\ntraceparent: 00-11111111111111111111111111111111-2222222222222222-00\r\n"
				   "x-request-id: mine\r\n\r\n";

	setup();
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	ck_assert_str_eq(received(), head);
}

/* The caller's tracestate goes on with the traceparent the agent
 * inserts, not with one the program wrote, and not twice. */
UNIT_TEST(tracestate_goes_on_with_the_trace)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";
	static const char own_ts[] = "GET /x HTTP/1.1\r\ntracestate: mine=1\r\n\r\n";
	static const char own_tp[] = "GET / HTTP/1.1\r\ntraceparent: 00-11111111111111111111111111111111-2222222222222222-01\r\n\r\n";
	struct ctx_seed seed = { .id = "req-2", .id_len = 5, .trace_id = "0af7651916cd43dd8448eb211c80319c",
				 .parent_id = "b7ad6b7169203331", .trace_flags = 1,
				 .tracestate = "congo=t61rcWkgMzE", .tracestate_len = 17 };
	struct ctx *c;
	const char *got;

	setup();
	c = ctx_new(&seed);
	ctx_take_current(c);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	got = received();
	ck_assert_ptr_nonnull(strstr(got, "-01\r\nX-Request-Id: req-2\r\ntracestate: congo=t61rcWkgMzE\r\n\r\n"));
	ck_assert_int_eq(pwrite_(own_ts, sizeof own_ts - 1), sizeof own_ts - 1);
	got = received();
	ck_assert_ptr_nonnull(strstr(got, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-"));
	ck_assert_ptr_null(strstr(got, "congo"));
	ck_assert_int_eq(pwrite_(own_tp, sizeof own_tp - 1), sizeof own_tp - 1);
	got = received();
	ck_assert_ptr_null(strstr(got, "tracestate"));
	ctx_take_current(cur);
	ctx_put(c);
}

UNIT_TEST(pipelined_heads_each_get_theirs)
{
	static const char two[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
				  "GET /b HTTP/1.1\r\n\r\n";
	char *got;
	const char *second;

	setup();
	ck_assert_int_eq(pwrite_(two, sizeof two - 1), sizeof two - 1);
	got = received();
	second = strstr(got, "GET /b");
	ck_assert_ptr_nonnull(second);
	ck_assert_ptr_nonnull(strstr(got, "X-Request-Id: req-1\r\n\r\nabcGET /b"));
	ck_assert_ptr_nonnull(strstr(second, "X-Request-Id: req-1\r\n\r\n"));
	ck_assert_ptr_null(strstr(second + 1, "GET"));
}

UNIT_TEST(other_protocols_byte_identical)
{
	static const char *const wire[] = {
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "set k 0 0 5\r\nhello\r\n", "get k\r\n",
	};

	for (size_t i = 0; i < 3; i++) {
		setup();
		ck_assert_int_eq(pwrite_(wire[i], strlen(wire[i])), (ssize_t)strlen(wire[i]));
		ck_assert_int_eq(pwrite_("GET / HTTP/1.1\r\n\r\n", 18), 18);
		/* Once not HTTP, never touched: the fd leaves the wire rules. */
		ck_assert(!prop_wants(fdmap_peek(sp[0])));
		{
			char want[256];

			snprintf(want, sizeof want, "%sGET / HTTP/1.1\r\n\r\n", wire[i]);
			ck_assert_str_eq(received(), want);
		}
		close(sp[0]);
		close(sp[1]);
	}
}

UNIT_TEST(no_context_no_headers)
{
	static const char head[] = "GET /x HTTP/1.1\r\n\r\n";

	setup();
	ctx_take_current(NULL);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	ck_assert_str_eq(received(), head);
}

UNIT_TEST(choices_of_REQCTX_PROPAGATE)
{
	static const char *const off[] = { "REQCTX_PROPAGATE=none", NULL };
	static const char *const bag[] = { "REQCTX_PROPAGATE=baggage,request-id",
					   "REQCTX_FIELDS=tenant=X-Tenant-Id", NULL };
	static const char head[] = "GET /x HTTP/1.1\r\n\r\n";

	setup_with(bag);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	ck_assert_str_eq(received(), "GET /x HTTP/1.1\r\nX-Request-Id: req-1\r\nbaggage: tenant=acme\r\n\r\n");
	close(sp[0]);
	close(sp[1]);
	setup_with(off);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	ck_assert_str_eq(received(), head);
}

UNIT_TEST(response_gets_the_request_id)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct fdslot *s;

	setup();
	fdmap_reset(sp[0], FD_CLIENT);
	s = fdmap_peek(sp[0]);
	prop_request(s, sp[0], cur, "GET / HTTP/1.1\r\n\r\n", 18, true);
	ck_assert_int_eq(pwrite_(resp, sizeof resp - 1), sizeof resp - 1);
	ck_assert_str_eq(received(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: req-1\r\n\r\nok");
	/* Done with this response: the next writes pass straight through. */
	ck_assert_int_eq(pwrite_("HTTP/1.1 200 OK\r\n\r\n", 19), 19);
	ck_assert_str_eq(received(), "HTTP/1.1 200 OK\r\n\r\n");
	ck_assert(!prop_wants(s));
}

/* A head whose lines end in LF alone gets its lines ending so too: the
 * inserted lines end as the blank line they precede does. */
UNIT_TEST(bare_lf_heads_get_bare_lf_lines)
{
	static const char head[] = "GET /x HTTP/1.1\nHost: b\n\n";
	static const char resp[] = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
	const char *got, *tp;
	char want[256];

	setup();
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	got = received();
	tp = strstr(got, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-");
	ck_assert_msg(tp != NULL, "no traceparent in %s", got);
	snprintf(want, sizeof want, "GET /x HTTP/1.1\nHost: b\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-"
		 "%.16s-01\nX-Request-Id: req-1\n\n", tp + 49);
	ck_assert_str_eq(got, want);

	fdmap_reset(sp[0], FD_CLIENT);
	prop_request(fdmap_peek(sp[0]), sp[0], cur, "GET / HTTP/1.1\n\n", 16, true);
	ck_assert_int_eq(pwrite_(resp, sizeof resp - 1), sizeof resp - 1);
	ck_assert_str_eq(received(), "HTTP/1.1 200 OK\nContent-Length: 2\nX-Request-Id: req-1\n\nok");
}

/*
 * A full non-blocking socket, drained a few bytes at a time: every call
 * returns -1/EAGAIN or a count of the program's own bytes, the program
 * resends exactly what was not counted, and the peer gets the program's
 * stream with the headers in place, whatever the cut points were.
 */
/* Sends prog[0..plen) with psend() in chunks of 1 to `max_chunk` bytes
 * (srand(seed)) on the full non-blocking sp[0], the peer reading 1 to
 * `max_read` bytes a few times whenever a call fails with EAGAIN (the
 * only failure allowed), each call's count at most its chunk; then drains
 * the rest into got (NUL-terminated, at most cap - 1 bytes). Returns the
 * bytes the peer got; *eagain: the calls that failed. */
static size_t send_draining(const char *prog, size_t plen, char *got, size_t cap, unsigned seed,
			    size_t max_chunk, size_t max_read, int *eagain)
{
	size_t sent = 0, glen = 0;

	*eagain = 0;
	srand(seed);
	while (sent < plen) {
		size_t chunk = 1 + (size_t)rand() % max_chunk;
		ssize_t r;

		if (chunk > plen - sent)
			chunk = plen - sent;
		r = psend(prog + sent, chunk);
		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			(*eagain)++;
			for (int k = 0; k < 1 + rand() % 3; k++) {
				ssize_t n = read(sp[1], got + glen, 1 + (size_t)rand() % max_read);

				if (n > 0)
					glen += (size_t)n;
			}
			continue;
		}
		ck_assert_int_le(r, (ssize_t)chunk);
		sent += (size_t)r;
	}
	/* The program's last call returned; whatever the agent still owes
	 * went before it. Drain. */
	for (;;) {
		ssize_t n = read(sp[1], got + glen, cap - glen - 1);

		if (n <= 0)
			break;
		glen += (size_t)n;
	}
	got[glen] = '\0';
	return glen;
}

UNIT_TEST(full_nonblocking_socket_exact_counts)
{
	static char prog[200000], got[400000];
	size_t plen = 0;
	int sndbuf = 4096, eagain = 0;
	char *p;

	setup();
	ck_assert_int_eq(setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 300; i++) {
		plen += (size_t)snprintf(prog + plen, sizeof prog - plen,
					 "POST /%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n",
					 i, i % 97);
		memset(prog + plen, 'a', (size_t)(i % 97));
		plen += (size_t)(i % 97);
	}
	(void)send_draining(prog, plen, got, sizeof got, 7, 700, 300, &eagain);
	ck_assert_int_gt(eagain, 10);
	/* Take every inserted pair of lines out: the program's stream is left. */
	{
		static char stripped[400000];
		size_t o = 0;
		int heads = 0;

		for (p = got; *p;) {
			char *e = strstr(p, "\r\n");

			if (strncmp(p, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-", 49) == 0) {
				heads++;
				p = e + 2;
				continue;
			}
			if (strncmp(p, "X-Request-Id: req-1\r\n", 21) == 0) {
				p += 21;
				continue;
			}
			if (e == NULL)
				e = p + strlen(p) - 2;
			memcpy(stripped + o, p, (size_t)(e + 2 - p));
			o += (size_t)(e + 2 - p);
			p = e + 2;
		}
		stripped[o] = '\0';
		ck_assert_int_eq(heads, 300);
		ck_assert_uint_eq(o, plen);
		ck_assert(memcmp(stripped, prog, plen) == 0);
	}
}

/*
 * A write of bytes the kernel cannot read while the rest of an inserted
 * header is owed: where the first byte is bad the call is made as it is
 * (the kernel takes nothing), so the program gets the kernel's own answer.
 * Here the socket is shut for writing, which the kernel checks before it
 * reads the bytes: EPIPE, as without the agent; EFAULT made up without
 * the call would be a different answer (and a system call missing).
 */
UNIT_TEST(owed_header_and_unreadable_bytes_get_the_kernels_answer)
{
	static char prog[200000];
	size_t plen = 0, sent = 0;
	int sndbuf = 4096;
	char *bad, buf[512];
	ssize_t r;

	setup();
	unit_handle_faults();
	bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(bad != MAP_FAILED);
	ck_assert_int_eq(setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	/* Heads of a few KiB: the kernel cuts a write to an AF_UNIX socket
	 * only between its buffers of about 4 KiB. */
	srand(11);
	for (int i = 0; i < 40; i++) {
		int pad = 1000 + rand() % 6000;

		plen += (size_t)snprintf(prog + plen, sizeof prog - plen,
					 "GET /%d HTTP/1.1\r\nHost: h\r\nX-Pad: %0*d\r\n\r\n", i, pad, 0);
	}
	/* The program's stream in pieces, the peer reading a little at a
	 * time, until a call is cut inside the agent's inserted lines. */
	while (sent < plen && prop_owed(sp[0]) == 0) {
		size_t chunk = 1 + (size_t)rand() % 20000;

		if (chunk > plen - sent)
			chunk = plen - sent;
		r = psend(prog + sent, chunk);
		if (r > 0) {
			sent += (size_t)r;
			continue;
		}
		ck_assert_int_eq(errno, EAGAIN);
		(void)!read(sp[1], buf, 1 + (size_t)rand() % sizeof buf);
	}
	ck_assert_msg(prop_owed(sp[0]) > 0, "no header left owed (%zu of %zu bytes sent)", sent, plen);
	ck_assert_int_eq(shutdown(sp[0], SHUT_WR), 0);
	errno = 0;
	r = psend(bad, 10);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, EPIPE);
	munmap(bad, 4096);
}

#undef UNIT_TCASE
#define UNIT_TCASE fields

UNIT_TEST(fields_from_headers_and_baggage)
{
	static const char *const vars[] = { "REQCTX_FIELDS=tenant=X-Tenant-Id,user=X-User-Id,plan=X-Plan", NULL };
	static const char head[] = "GET / HTTP/1.1\r\nx-tenant-id:  Acme Corp\"<>  \r\n"
				   "baggage: user = u-7;prop=1, tenant=ignored,plan=gold%20x\r\n\r\n";
	struct fields f;

	setup_with(vars);
	fields_from_head(head, sizeof head - 1, &cfg, &f);
	ck_assert_int_eq(f.count, 3);
	ck_assert_str_eq(f.val[0], "Acme_Corp___");     /* its header wins over baggage */
	ck_assert_str_eq(f.val[1], "u-7");
	ck_assert_str_eq(f.val[2], "gold%20x");
}

UNIT_TEST(format_parent_and_fields)
{
	static const char *const vars[] = { "REQCTX_FIELDS=tenant=X-Tenant-Id",
					    "REQCTX_FORMAT=[%i %P %{tenant}] ", NULL };
	static const char *const bad[] = { "REQCTX_FORMAT=[%{nope}] ", NULL };
	char out[256];
	size_t n;

	setup_with(vars);
	n = fmt_head(out, sizeof out, &cfg, cur);
	out[n] = '\0';
	ck_assert_str_eq(out, "[req-1 b7ad6b7169203331 acme] ");
	cfg.output = CFG_OUTPUT_JSON;
	n = fmt_head(out, sizeof out, &cfg, cur);
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, ",\"tenant\":\"acme\","));
	ck_assert_int_eq(config_load(&cfg, (char **)bad, NULL, NULL), 1);
	ck_assert_str_eq(cfg.format, "[%i] ");
}

/* A context's fields come from its seed, else from the name it renames;
 * a context made from a seed with none carries none, even in memory a
 * context with fields had before (the pool reuses it). */
UNIT_TEST(fields_carried_by_a_rename_and_none_after_reuse)
{
	struct ctx_seed with = { .id = "req-2", .id_len = 5 }, rename = { .id = "req-3", .id_len = 5 };
	struct ctx_seed none = { 0 };
	struct ctx *c;

	setup();
	with.field[2] = "gold";
	with.field_len[2] = 4;
	c = ctx_new(&with);
	ck_assert_ptr_nonnull(c);
	ck_assert(ctx_adopt(c, &rename));
	ck_assert_str_eq(ctx_name(c)->id, "req-3");
	ck_assert_int_eq(ctx_name(c)->field_len[2], 4);
	ck_assert_str_eq(ctx_name(c)->field[2], "gold");
	ck_assert_int_eq(ctx_name(c)->field_len[0], 0);
	ctx_put(c);
	for (int k = 0; k < 4; k++) {
		c = ctx_new(&none);
		ck_assert_ptr_nonnull(c);
		for (int i = 0; i < CTX_FIELDS; i++) {
			ck_assert_int_eq(ctx_name(c)->field_len[i], 0);
			ck_assert_int_eq(ctx_name(c)->field[i][0], '\0');
		}
		ctx_put(c);
	}
}

UNIT_TEST(span_line_is_otlp_json)
{
	static const char *const vars[] = { "OTEL_SERVICE_NAME=svc-a",
					    "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test,service.name=ignored",
					    "REQCTX_SPANS=/dev/null", NULL };
	struct span one = { .kind = SPAN_SERVER, .status = 503, .port = 4242,
			   .trace_id = "0af7651916cd43dd8448eb211c80319c", .span_id = "1111111111111111",
			   .parent_id = "b7ad6b7169203331", .method = "GET", .addr = "127.0.0.1",
			   .path = "/a\"b", .start_ns = 1, .end_ns = 2 };
	char line[8192];

	setup_with(vars);
	ck_assert_int_eq(spans_init(&cfg), 0);
	ck_assert_uint_gt(spans_render(line, sizeof line, &one), 0);
	ck_assert_ptr_nonnull(strstr(line, "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc-a\"}}"));
	ck_assert_ptr_nonnull(strstr(line, "\"deployment.environment\""));
	ck_assert_ptr_nonnull(strstr(line, "\"parentSpanId\":\"b7ad6b7169203331\""));
	ck_assert_ptr_nonnull(strstr(line, "\"kind\":2"));
	ck_assert_ptr_nonnull(strstr(line, "\"url.path\",\"value\":{\"stringValue\":\"/a\\\"b\"}"));
	ck_assert_ptr_nonnull(strstr(line, "\"status\":{\"code\":2}"));
	ck_assert_ptr_nonnull(strstr(line, "\"client.port\",\"value\":{\"intValue\":\"4242\"}"));
	ck_assert_int_eq(line[strlen(line) - 1], '\n');
}

/* Lines of the spans file `path`, as a string. */
static char *spans_written(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* setup() with spans written to a new file, whose name goes to path
 * (a "/tmp/reqctx-spans-XXXXXX" to fill). */
static void setup_spans(char *path)
{
	char var[64];
	const char *vars[] = { var, NULL };
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(var, sizeof var, "REQCTX_SPANS=%s", path);
	setup_with(vars);
	ck_assert_int_eq(spans_init(&cfg), 0);
}

/* A CLIENT span ends with its request's final reply: an interim one
 * (100 Continue, 103 Early Hints) before it, in the same read or an
 * earlier one, does not end it. Before, the span ended at the 100, with
 * that status, before the server had done its work. */
UNIT_TEST(interim_replies_do_not_end_the_client_span)
{
	static const char head[] = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const char both[] = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char path[] = "/tmp/reqctx-spans-XXXXXX";

	setup_spans(path);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	prop_peer_read(sp[0], cont, sizeof cont - 1, sizeof cont - 1);
	ck_assert_ptr_null(strstr(spans_written(path), "\"kind\":3"));
	prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
	ck_assert_ptr_nonnull(strstr(spans_written(path), "\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}"));
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	prop_peer_read(sp[0], both, sizeof both - 1, sizeof both - 1);
	ck_assert_ptr_nonnull(strstr(spans_written(path), "\"intValue\":\"201\""));
	ck_assert_ptr_null(strstr(spans_written(path), "\"intValue\":\"10"));
	unlink(path);
}

#define FWD_TP "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

/* What the peer got is `before`, the forwarded traceparent with a new
 * span ID (not the caller's, not the request's own) and `after`, the
 * traceparent the head's only one. Returns that span ID (static). */
static const char *expect_forwarded(const char *before, const char *after)
{
	static char span[17];
	char want[512];
	const char *got = received(), *tp = strstr(got, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-");

	ck_assert_msg(tp != NULL, "no traceparent in %s", got);
	ck_assert_ptr_null(strstr(tp + 1, "traceparent:"));
	memcpy(span, tp + 49, 16);
	span[16] = '\0';
	ck_assert_uint_eq(strspn(span, "0123456789abcdef"), 16);
	ck_assert_str_ne(span, "b7ad6b7169203331");
	ck_assert_str_ne(span, cur->span_id);
	snprintf(want, sizeof want, "%straceparent: 00-0af7651916cd43dd8448eb211c80319c-%s-01%s", before, span,
		 after);
	ck_assert_str_eq(got, want);
	return span;
}

/* A proxy passes its request's traceparent on (nginx's proxy_pass): it
 * goes out naming the CLIENT span this head starts, the same length, so
 * the next service's span is that span's child, not its sibling; the
 * CLIENT span has that ID. A traceparent of the program's own, or one
 * of another trace, is left alone (program_headers_are_left_alone). Before,
 * the caller's span went on and the CLIENT span had an ID nobody named. */
UNIT_TEST(forwarded_traceparent_names_the_client_span)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n" FWD_TP "\r\n\r\n";
	static const char both[] = "GET /y HTTP/1.1\r\n" FWD_TP "  \r\nX-Request-Id: req-1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char other[] = "GET / HTTP/1.1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-"
				    "1111111111111111-01\r\n\r\n";
	static const char two[] = "GET / HTTP/1.1\r\n" FWD_TP "\r\n" FWD_TP "\r\n\r\n";
	char path[] = "/tmp/reqctx-spans-XXXXXX", want[512], json[64];
	const char *span;

	setup_spans(path);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	span = expect_forwarded("GET /x HTTP/1.1\r\nHost: b\r\n", "\r\nX-Request-Id: req-1\r\n\r\n");
	prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
	snprintf(json, sizeof json, "\"spanId\":\"%s\"", span);
	ck_assert_msg(strstr(spans_written(path), json) != NULL, "no CLIENT span %s in %s", span,
		      spans_written(path));

	/* Nothing inserted (the ID header forwarded too), the value's
	 * trailing whitespace kept. */
	ck_assert_int_eq(pwrite_(both, sizeof both - 1), sizeof both - 1);
	span = expect_forwarded("GET /y HTTP/1.1\r\n", "  \r\nX-Request-Id: req-1\r\n\r\n");
	prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
	snprintf(json, sizeof json, "\"spanId\":\"%s\"", span);
	ck_assert_ptr_nonnull(strstr(spans_written(path), json));

	/* Not sampled: no span of it is recorded here, so the caller's
	 * stays the nearest (a process writing no spans, too). */
	{
		struct ctx_seed seed = { .id = "req-1", .id_len = 5, .trace_id = "0af7651916cd43dd8448eb211c80319c",
					 .parent_id = "b7ad6b7169203331", .trace_flags = 0 };
		static const char unsampled[] = "GET / HTTP/1.1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-"
						"b7ad6b7169203331-00\r\nX-Request-Id: req-1\r\n\r\n";
		struct ctx *c = ctx_new(&seed);

		ctx_take_current(c);
		ck_assert_int_eq(pwrite_(unsampled, sizeof unsampled - 1), sizeof unsampled - 1);
		ck_assert_str_eq(received(), unsampled);
		ctx_take_current(cur);
		ctx_put(c);
	}

	/* A later version of the same 55 bytes goes as version 00 (W3C
	 * Trace Context 4.3: a service passes on the version it knows); one
	 * with more fields is longer, and goes as it came. */
	{
		static const char v1[] = "GET /v HTTP/1.1\r\ntraceparent: 01-0af7651916cd43dd8448eb211c80319c-"
					 "b7ad6b7169203331-01\r\nX-Request-Id: req-1\r\n\r\n";
		static const char v1x[] = "GET /v HTTP/1.1\r\ntraceparent: 01-0af7651916cd43dd8448eb211c80319c-"
					  "b7ad6b7169203331-01-ab\r\nX-Request-Id: req-1\r\n\r\n";

		ck_assert_int_eq(pwrite_(v1, sizeof v1 - 1), sizeof v1 - 1);
		(void)expect_forwarded("GET /v HTTP/1.1\r\n", "\r\nX-Request-Id: req-1\r\n\r\n");
		prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
		ck_assert_int_eq(pwrite_(v1x, sizeof v1x - 1), sizeof v1x - 1);
		ck_assert_str_eq(received(), v1x);
		prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
	}

	/* Another parent, two lines: as the program wrote them, and no
	 * CLIENT span of the agent's for a request that went out under the
	 * program's own traceparent (before, one that nobody continued). */
	{
		size_t had = strlen(spans_written(path));

		ck_assert_int_eq(pwrite_(other, sizeof other - 1), sizeof other - 1);
		ck_assert_ptr_nonnull(strstr(received(), "-1111111111111111-01\r\nX-Request-Id: req-1\r\n\r\n"));
		prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
		ck_assert_uint_eq(strlen(spans_written(path)), had);
	}
	ck_assert_int_eq(pwrite_(two, sizeof two - 1), sizeof two - 1);
	snprintf(want, sizeof want, "GET / HTTP/1.1\r\n" FWD_TP "\r\n" FWD_TP "\r\nX-Request-Id: req-1\r\n\r\n");
	ck_assert_str_eq(received(), want);
	unlink(path);
}

/* A process that writes no spans forwards the traceparent as it came:
 * the span a rewrite would name is recorded nowhere. */
UNIT_TEST(forwarded_traceparent_left_alone_without_spans)
{
	static const char head[] = "GET /x HTTP/1.1\r\n" FWD_TP "\r\nX-Request-Id: req-1\r\n\r\n";

	setup();
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	ck_assert_str_eq(received(), head);
}

/* Forwarded traceparents rewritten on a full non-blocking socket drained a
 * few bytes at a time: every count is the program's, and the stream is
 * the program's with only each parent-id changed, whatever the kernel
 * took of a rewritten value (its rest owed, as an inserted header's). */
UNIT_TEST(forwarded_traceparent_exact_counts)
{
	static char prog[200000], got[400000];
	size_t plen = 0, glen;
	int sndbuf = 4096, rewritten = 0, eagain;
	char *p, path[] = "/tmp/reqctx-spans-XXXXXX";

	setup_spans(path);
	ck_assert_int_eq(setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 300; i++)
		plen += (size_t)snprintf(prog + plen, sizeof prog - plen,
					 "GET /%d HTTP/1.1\r\nHost: h\r\n" FWD_TP "\r\nX-Request-Id: req-1\r\n\r\n", i);
	glen = send_draining(prog, plen, got, sizeof got, 11, 1500, 13, &eagain);
	ck_assert_int_gt(eagain, 10);
	ck_assert_uint_eq(glen, plen);
	for (p = got; (p = strstr(p, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-")) != NULL; p += 49) {
		if (memcmp(p + 49, "b7ad6b7169203331", 16) != 0)
			rewritten++;
		memcpy(p + 49, "b7ad6b7169203331", 16);
	}
	ck_assert_int_gt(rewritten, 100);
	ck_assert(memcmp(got, prog, plen) == 0);
	unlink(path);
}

/* A send that takes at most `send_limit` bytes, as a full socket does. */
static size_t send_limit;
static ssize_t (*send_real)(int, const void *, size_t, int);

static ssize_t send_some(int fd, const void *p, size_t n, int flags)
{
	return send_real(fd, p, n < send_limit ? n : send_limit, flags);
}

/* The kernel takes part of a rewritten value: the program's count covers
 * the bytes it stands for, the rest of it is owed and goes first with the
 * program's next call, so the peer gets the value whole and the program
 * never sends a byte twice. */
/* The kernel takes the head up to any byte: the value goes out rewritten
 * whole, once. Cut inside it, the program's count covers the bytes it
 * stands for and its rest is owed; cut before it (a full socket, or a
 * head larger than the socket takes at once: a trial's proxy), the
 * program sends it again and it goes rewritten as planned (before, it
 * went as the caller's while the CLIENT span was recorded: the tree
 * broke). Each time the peer gets the head with that one value changed. */
UNIT_TEST(forwarded_traceparent_cut_anywhere)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n" FWD_TP "\r\nX-Request-Id: req-1\r\n\r\n";
	static const char two[] = "GET /x HTTP/1.1\r\nHost: b\r\n" FWD_TP "\r\nX-Request-Id: req-1\r\n\r\n"
				  "GET /y HTTP/1.1\r\n" FWD_TP "\r\nX-Request-Id: req-1\r\n\r\n";
	char path[] = "/tmp/reqctx-spans-XXXXXX";

	setup_spans(path);
	send_real = REAL(send);
	for (int pipelined = 0; pipelined < 2; pipelined++) {
		const char *prog = pipelined ? two : head;
		size_t len = strlen(prog);

		for (size_t cut = 1; cut < len; cut++) {
			size_t sent = 0;
			int calls = 0;
			char *got, *p, spans[2][17];
			int n = 0;

			send_limit = cut;
			while (sent < len) {
				ssize_t r;

				real_send = calls++ ? send_real : send_some;
				r = psend(prog + sent, len - sent);
				real_send = send_real;
				ck_assert_int_gt(r, 0);
				sent += (size_t)r;
			}
			/* each value rewritten, once, with a span of its own;
			 * every other byte the program's */
			got = received();
			for (p = got; (p = strstr(p, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-")) != NULL;
			     p += 49) {
				ck_assert_int_lt(n, 2);
				memcpy(spans[n], p + 49, 16);
				spans[n][16] = '\0';
				ck_assert_str_ne(spans[n], "b7ad6b7169203331");
				memcpy(p + 49, "b7ad6b7169203331", 16);
				n++;
			}
			ck_assert_int_eq(n, pipelined ? 2 : 1);
			if (pipelined)
				ck_assert_str_ne(spans[0], spans[1]);
			ck_assert_msg(strcmp(got, prog) == 0, "cut %zu: %s", cut, got);
		}
	}
	unlink(path);
}

/* A span in a trace that came with a tracestate carries it (OTLP
 * Span.trace_state, as an SDK's span carries its span context's): the
 * SERVER span and the CLIENT span; a trace without one, none. */
UNIT_TEST(spans_carry_the_traces_tracestate)
{
	static const char head[] = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct ctx_seed seed = { .id = "req-2", .id_len = 5, .trace_id = "0af7651916cd43dd8448eb211c80319c",
				 .parent_id = "b7ad6b7169203331", .trace_flags = 1,
				 .tracestate = "congo=t61\"rcW", .tracestate_len = 13 };
	char path[] = "/tmp/reqctx-spans-XXXXXX";
	const char *got;
	struct ctx *c;
	struct fdslot *s;
	int srv[2];

	setup_spans(path);
	c = ctx_new(&seed);
	ctx_take_current(c);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	(void)received();
	prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, srv), 0);
	fdmap_reset(srv[0], FD_CLIENT);
	s = fdmap_peek(srv[0]);
	prop_request(s, srv[0], c, "GET /in HTTP/1.1\r\n\r\n", 20, true);
	ck_assert_int_eq(prop_write(s, srv[0], &(struct iovec){ (void *)ok, sizeof ok - 1 }, 1,
				    &(struct prop_call){ .how = PROP_WRITE }), sizeof ok - 1);
	got = spans_written(path);
	ck_assert_msg(strstr(got, "\"kind\":3") && strstr(got, "\"kind\":2"), "spans: %s", got);
	for (const char *k = got; (k = strstr(k, "\"traceId\"")) != NULL; k++) {
		const char *ts = strstr(k, "\"traceState\":\"congo=t61\\\"rcW\"");
		const char *next = strstr(k + 1, "\"traceId\"");

		ck_assert_msg(ts && (next == NULL || ts < next), "a span without the traceState: %s", k);
	}
	ctx_take_current(cur);
	ctx_put(c);
	ck_assert_int_eq(pwrite_(head, sizeof head - 1), sizeof head - 1);
	(void)received();
	prop_peer_read(sp[0], ok, sizeof ok - 1, sizeof ok - 1);
	got = spans_written(path);
	{
		/* the last line: the span of req-1's trace, which has none */
		size_t n = strlen(got);
		const char *last = got + n - 1;

		while (last > got && last[-1] != '\n')
			last--;
		ck_assert_ptr_nonnull(strstr(last, "\"kind\":3"));
		ck_assert_ptr_null(strstr(last, "traceState"));
	}
	close(srv[0]);
	close(srv[1]);
	unlink(path);
}

/* Every traceparent's span ID in s made b7ad6b7169203331; returns how
 * many were not that already. */
static int spans_as_caller(char *s)
{
	int n = 0;

	for (char *p = s; (p = strstr(p, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-")) != NULL; p += 49) {
		n += memcmp(p + 49, "b7ad6b7169203331", 16) != 0;
		memcpy(p + 49, "b7ad6b7169203331", 16);
	}
	return n;
}

/* Random streams of request heads, some with the forwarded traceparent,
 * some with their own X-Request-Id, some with bodies, several in a call,
 * sent in random pieces (send, and writev of two) while the kernel takes
 * a random part of each call: each call returns a count of the program's
 * own bytes, and the peer gets the program's stream with the agent's
 * lines before each blank line and, span IDs aside, nothing else changed;
 * every forwarded value is rewritten (seed fixed). */
UNIT_TEST(forwarded_traceparent_random_cuts)
{
	static char prog[1 << 16], want[1 << 17];
	char path[] = "/tmp/reqctx-spans-XXXXXX";
	int rewritten = 0, forwarded = 0;

	setup_spans(path);
	send_real = REAL(send);
	srand(29);
	for (int round = 0; round < 300; round++) {
		size_t plen = 0, wlen = 0, sent = 0;
		int heads = 1 + rand() % 4;
		char *got;

		for (int h = 0; h < heads; h++) {
			int body = rand() % 3 ? 0 : 1 + rand() % 40, fwd = rand() % 4 != 0, id = rand() % 2;
			char head[512];
			size_t n;

			n = (size_t)snprintf(head, sizeof head, "%s /r%d HTTP/1.1\r\nHost: h\r\n%s%s", body ? "POST" : "GET",
					     h, fwd ? FWD_TP "\r\n" : "", id ? "X-Request-Id: req-1\r\n" : "");
			if (body)
				n += (size_t)snprintf(head + n, sizeof head - n, "Content-Length: %d\r\n", body);
			memcpy(prog + plen, head, n);
			plen += n;
			memcpy(want + wlen, head, n);
			wlen += n;
			if (!fwd)
				wlen += (size_t)sprintf(want + wlen, FWD_TP "\r\n");
			if (!id)
				wlen += (size_t)sprintf(want + wlen, "X-Request-Id: req-1\r\n");
			forwarded += fwd;
			memcpy(prog + plen, "\r\n", 2);
			memcpy(want + wlen, "\r\n", 2);
			plen += 2;
			wlen += 2;
			for (int b = 0; b < body; b++)
				prog[plen++] = want[wlen++] = (char)('a' + b % 26);
		}
		want[wlen] = '\0';
		while (sent < plen) {
			size_t chunk = 1 + (size_t)rand() % (plen - sent);
			ssize_t r;

			send_limit = 1 + (size_t)rand() % 300;
			real_send = rand() % 2 ? send_some : send_real;
			if (rand() % 2) {
				r = psend(prog + sent, chunk);
			} else {
				size_t a = (size_t)rand() % chunk;
				struct iovec v[2] = { { prog + sent, a }, { prog + sent + a, chunk - a } };
				struct prop_call pc = { .how = PROP_SENDMSG, .flags = MSG_NOSIGNAL };
				struct msghdr m = { .msg_iov = a ? v : v + 1, .msg_iovlen = a ? 2 : 1 };

				pc.msg = &m;
				r = prop_write(fdmap_peek(sp[0]), sp[0], m.msg_iov, (int)m.msg_iovlen, &pc);
			}
			real_send = send_real;
			ck_assert_msg(r > 0 && (size_t)r <= chunk, "round %d: %zd of %zu", round, r, chunk);
			sent += (size_t)r;
		}
		got = received();
		rewritten += spans_as_caller(got);
		(void)spans_as_caller(want);
		ck_assert_msg(strcmp(got, want) == 0, "round %d:\ngot  %s\nwant %s", round, got, want);
	}
	/* (some values are cut by the program's own pieces: left as they
	 * are, as documented; the stream is what is checked above) */
	ck_assert_int_gt(rewritten, forwarded / 4);
	unlink(path);
}

Suite *propagate_suite(void)
{
	Suite *s = suite_create("propagate");

	suite_add_tcase(s, unit_tcase("propagate", "wire"));
	suite_add_tcase(s, unit_tcase("propagate", "write"));
	suite_add_tcase(s, unit_tcase("propagate", "fields"));
	return s;
}
