/*
 * test_http.c - the HTTP head parser: which first reads count as HTTP/1.x
 * requests, which ID and traceparent values are adopted, and that hostile
 * or truncated input is refused. Every parse runs on bytes placed right
 * before an inaccessible page, so a read past `len` crashes the test.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/http.h"
#include "suites.h"

#define UNIT_SUITE http
#define UNIT_TCASE valid

/* A string literal and its length, NUL bytes inside included. */
#define LIT(s) (s), sizeof(s) - 1

#define TP_VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT_ID "00f067aa0ba902b7"

/* Parses data[0..n) from the end of a mapping followed by a PROT_NONE page. */
static void parse_hdr(const char *data, size_t n, const char *header,
		      struct http_ids *out)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = n == 0 ? pg : (n + pg - 1) / pg * pg;
	char *base = mmap(NULL, span + pg, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(base, MAP_FAILED);
	ck_assert_int_eq(mprotect(base + span, pg, PROT_NONE), 0);
	memcpy(base + span - n, data, n);
	/* Garbage in the output shows whether the parser resets it. */
	memset(out, 0xa5, sizeof *out);
	http_parse_head(base + span - n, n, header,
			header ? strlen(header) : 0, out);
	munmap(base, span + pg);
}

static void parse(const char *data, size_t n, struct http_ids *out)
{
	parse_hdr(data, n, "X-Request-Id", out);
}

static void assert_no_id(const struct http_ids *o)
{
	ck_assert_uint_eq(o->request_id_len, 0);
	ck_assert_int_eq(o->request_id[0], '\0');
}

static void assert_id(const struct http_ids *o, const char *want)
{
	ck_assert(o->is_http);
	ck_assert_uint_eq(o->request_id_len, strlen(want));
	ck_assert_str_eq(o->request_id, want);
}

static void assert_not_http(const struct http_ids *o)
{
	ck_assert(!o->is_http);
	assert_no_id(o);
	ck_assert(!o->has_trace);
}

/* ---- valid heads ---------------------------------------------------- */

UNIT_TEST(get_crlf)
{
	struct http_ids o;

	parse(LIT("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
		  "X-Request-Id: abc-123\r\nAccept: */*\r\n\r\n"), &o);
	assert_id(&o, "abc-123");
	ck_assert(!o.has_trace);
}

UNIT_TEST(post_lf)
{
	struct http_ids o;

	parse(LIT("POST /api/v1/items HTTP/1.0\nContent-Length: 2\n"
		  "X-Request-Id: r-42\n\n{}"), &o);
	assert_id(&o, "r-42");
}

UNIT_TEST(mixed_line_ends)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\nHost: a\r\nX-Request-Id: mixed\n\r\n"), &o);
	assert_id(&o, "mixed");
}

UNIT_TEST(header_first_line)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: first\r\nHost: a\r\n\r\n"), &o);
	assert_id(&o, "first");
}

UNIT_TEST(header_last_line)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: x\r\n"
		  "X-Request-Id: last\r\n\r\n"), &o);
	assert_id(&o, "last");
}

UNIT_TEST(head_without_blank_line)
{
	struct http_ids o;

	/* The read ended right after a complete header line. */
	parse(LIT("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: whole\r\n"), &o);
	assert_id(&o, "whole");
}

UNIT_TEST(body_not_scanned)
{
	struct http_ids o;

	parse(LIT("POST / HTTP/1.1\r\nContent-Length: 24\r\n\r\n"
		  "X-Request-Id: from-body\r\n"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

UNIT_TEST(name_case_insensitive)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nx-REQUEST-id: lower\r\n\r\n"), &o);
	assert_id(&o, "lower");
	parse_hdr(LIT("GET / HTTP/1.1\r\nX-Request-Id: upper\r\n\r\n"),
		  "x-request-id", &o);
	assert_id(&o, "upper");
}

UNIT_TEST(custom_header_name)
{
	struct http_ids o;

	parse_hdr(LIT("GET / HTTP/1.1\r\nX-Request-Id: not-this\r\n"
		      "X-Correlation-ID: corr-7\r\n\r\n"), "X-Correlation-ID", &o);
	assert_id(&o, "corr-7");
}

UNIT_TEST(name_prefix_not_matched)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id-Ext: a\r\nX-Request-I: b\r\n"
		  "XX-Request-Id: c\r\n\r\n"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

UNIT_TEST(space_before_colon_not_matched)
{
	struct http_ids o;

	/* RFC 9112 forbids whitespace between the name and the colon. */
	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id : abc\r\n\r\n"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

UNIT_TEST(value_whitespace_stripped)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: \t  spaced\t \r\n\r\n"), &o);
	assert_id(&o, "spaced");
	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id:tight\r\n\r\n"), &o);
	assert_id(&o, "tight");
	parse(LIT("GET / HTTP/1.1\nX-Request-Id:\ttab\t\n\n"), &o);
	assert_id(&o, "tab");
}

UNIT_TEST(all_id_characters)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: AZaz09-._:/+=@\r\n\r\n"), &o);
	assert_id(&o, "AZaz09-._:/+=@");
}

UNIT_TEST(no_id_header)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	ck_assert(!o.has_trace);
	ck_assert_int_eq(o.trace_id[0], '\0');
	ck_assert_int_eq(o.parent_id[0], '\0');
}

UNIT_TEST(request_line_only)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\n"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	parse(LIT("GET / HTTP/1.0\n"), &o);
	ck_assert(o.is_http);
}

UNIT_TEST(request_line_forms)
{
	struct http_ids o;

	parse(LIT("OPTIONS * HTTP/1.1\r\n\r\n"), &o);
	ck_assert(o.is_http);
	parse(LIT("CONNECT example.com:443 HTTP/1.1\r\n\r\n"), &o);
	ck_assert(o.is_http);
	parse(LIT("GET http://example.com/x?y=%20 HTTP/1.1\r\n\r\n"), &o);
	ck_assert(o.is_http);
	parse(LIT("ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\n\r\n"), &o);  /* 20 */
	ck_assert(o.is_http);
	parse(LIT("G / HTTP/1.9\r\n\r\n"), &o);
	ck_assert(o.is_http);
	/* Methods and targets of 16 bytes and more (scanned 16 at a time) */
	parse(LIT("ABCDEFGHIJKLMNOP /a/long/target/of/more/than/32/bytes?q=1 HTTP/1.1\r\n\r\n"), &o);
	ck_assert(o.is_http);
	parse(LIT("GET /0123456789abcdef0123456789abcdef~!$&'()*+,;=:@ HTTP/1.0\r\n\r\n"), &o);
	ck_assert(o.is_http);
}

UNIT_TEST(request_line_malformed)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{ LIT("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n\r\n") },  /* 21 */
		{ LIT(" GET / HTTP/1.1\r\n\r\n") },
		{ LIT("GET  HTTP/1.1\r\n\r\n") },
		{ LIT("GET  / HTTP/1.1\r\n\r\n") },
		{ LIT("GET /  HTTP/1.1\r\n\r\n") },
		{ LIT("GET /a b HTTP/1.1\r\n\r\n") },
		{ LIT("GET\t/ HTTP/1.1\r\n\r\n") },
		{ LIT("GET / HTTP/1.1 \r\n\r\n") },
		{ LIT("GET / HTTP/1.1x\r\n\r\n") },
		{ LIT("GET / HTTP/1.x\r\n\r\n") },
		{ LIT("GET / HTTP/1.\r\n\r\n") },
		{ LIT("GET / HTTP/2.0\r\n\r\n") },
		{ LIT("GET / HTTP/1.1\r\r\n\r\n") },
		{ LIT("GET / http/1.1\r\n\r\n") },
		{ LIT("GET /\x01 HTTP/1.1\r\n\r\n") },
		{ LIT("GET /\x7f HTTP/1.1\r\n\r\n") },
		{ LIT("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n") },
		{ LIT("GET\0/ HTTP/1.1\r\n\r\n") },
		{ LIT("G(T / HTTP/1.1\r\n\r\n") },
		{ LIT("\r\nGET / HTTP/1.1\r\n\r\n") },
		{ LIT("GET /\r\n") },
		{ LIT("GET\r\n") },
		/* past the first 16 bytes of a method or a target */
		{ LIT("ABCDEFGHIJKLMNOP( / HTTP/1.1\r\n\r\n") },
		{ LIT("ABCDEFGHIJKLMNOPQRS\x80 / HTTP/1.1\r\n\r\n") },
		{ LIT("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaa\x01" "aaaa HTTP/1.1\r\n\r\n") },
		{ LIT("GET /aaaaaaaaaaaaaaa\x7f" "aaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n") },
		{ LIT("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9 HTTP/1.1\r\n\r\n") },
		{ LIT("GET /aaaaaaaaaaaaaaaa\taaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n") },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct http_ids o;

		parse(bad[i].s, bad[i].n, &o);
		ck_assert_msg(!o.is_http, "case %zu accepted", i);
		assert_no_id(&o);
	}
}

UNIT_TEST(request_line_truncated)
{
	static const char full[] = "GET /path HTTP/1.1\r\n";
	struct http_ids o;

	/* Every proper prefix lacks the line end, so none is a request yet. */
	for (size_t n = 0; n < sizeof full - 2; n++) {
		parse(full, n, &o);
		ck_assert_msg(!o.is_http, "prefix of %zu bytes accepted", n);
	}
	parse(full, sizeof full - 2, &o);       /* ends "\r" */
	ck_assert(!o.is_http);
	parse(full, sizeof full - 1, &o);
	ck_assert(o.is_http);
}

/* ---- not HTTP ------------------------------------------------------- */

#undef UNIT_TCASE
#define UNIT_TCASE not_http

UNIT_TEST(memcached_commands)
{
	struct http_ids o;

	parse(LIT("get foo\r\n"), &o);
	assert_not_http(&o);
	parse(LIT("set foo 0 0 3\r\nbar\r\n"), &o);
	assert_not_http(&o);
	parse(LIT("gets a b c d\r\n"), &o);
	assert_not_http(&o);
	parse(LIT("version\r\n"), &o);
	assert_not_http(&o);
}

UNIT_TEST(other_protocols)
{
	struct http_ids o;

	parse(LIT("*1\r\n$4\r\nPING\r\n"), &o);                 /* Redis */
	assert_not_http(&o);
	parse(LIT("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), &o);  /* TLS */
	assert_not_http(&o);
	parse(LIT("SSH-2.0-OpenSSH_9.2\r\n"), &o);
	assert_not_http(&o);
}

UNIT_TEST(binary_bytes)
{
	char b[256];
	struct http_ids o;

	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (char)(255 - i);
	parse(b, sizeof b, &o);
	assert_not_http(&o);
	memset(b, 0, sizeof b);
	parse(b, sizeof b, &o);
	assert_not_http(&o);
}

UNIT_TEST(empty_input)
{
	struct http_ids o;

	parse("", 0, &o);
	assert_not_http(&o);
	memset(&o, 0xa5, sizeof o);
	http_parse_head(NULL, 0, "X-Request-Id", 12, &o);
	assert_not_http(&o);
}

UNIT_TEST(http2_preface)
{
	struct http_ids o;

	parse(LIT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), &o);
	assert_not_http(&o);
}

UNIT_TEST(response_line)
{
	struct http_ids o;

	parse(LIT("HTTP/1.1 200 OK\r\nX-Request-Id: resp\r\n\r\n"), &o);
	assert_not_http(&o);
	parse(LIT("HTTP/1.0 404 Not Found\nX-Request-Id: resp\n\n"), &o);
	assert_not_http(&o);
}

/* ---- hostile values ------------------------------------------------- */

static void assert_rejected(const char *head, size_t n)
{
	struct http_ids o;

	parse(head, n, &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

#undef UNIT_TCASE
#define UNIT_TCASE hostile

UNIT_TEST(bare_cr_in_value)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\rdef\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\rX-Evil: 1\n\n"));
}

UNIT_TEST(crlf_ends_value)
{
	struct http_ids o;

	/* A line end inside a would-be value ends it: the rest is a line of
	 * its own, never part of the ID. */
	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\ninjected\r\n\r\n"), &o);
	assert_id(&o, "abc");
	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\nX-Request-Id: def\n\n"), &o);
	assert_id(&o, "abc");
}

UNIT_TEST(escape_sequences)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \x1b[31mred\x1b[0m\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \x1b]0;title\x07\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: a\bb\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: a\x7f\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: a\vb\r\n\r\n"));
}

UNIT_TEST(format_specifiers)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: %s%n\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: %x%x%x%x\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc%20def\r\n\r\n"));
}

UNIT_TEST(quotes_and_specials)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \"abc\"\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: 'abc'\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: a\\b\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: {\"id\":1}\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: a;b\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: $(id)\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: <b>\r\n\r\n"));
}

UNIT_TEST(space_inside_value)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc def\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\tdef\r\n\r\n"));
}

UNIT_TEST(length_limit)
{
	char head[400];
	size_t pre = sizeof "GET / HTTP/1.1\r\nX-Request-Id: " - 1;
	struct http_ids o;

	memcpy(head, "GET / HTTP/1.1\r\nX-Request-Id: ", pre);
	memset(head + pre, 'a', 129);
	memcpy(head + pre + 128, "\r\n\r\n", 4);
	parse(head, pre + 128 + 4, &o);
	ck_assert(o.is_http);
	ck_assert_uint_eq(o.request_id_len, 128);
	ck_assert_uint_eq(strlen(o.request_id), 128);
	ck_assert_int_eq(memcmp(o.request_id, head + pre, 128), 0);

	memset(head + pre, 'a', 129);
	memcpy(head + pre + 129, "\r\n\r\n", 4);
	parse(head, pre + 129 + 4, &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

UNIT_TEST(nul_in_value)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\0def\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \0\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\0\r\n\r\n"));
}

UNIT_TEST(nul_in_name)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request\0Id: abc\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id\0: abc\r\n\r\n"));
}

UNIT_TEST(high_bytes)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: caf\xc3\xa9\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \x80\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\xff\r\n\r\n"));
	/* U+00A0 no-break space is not stripped like SP/HT. */
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \xc2\xa0" "abc\r\n\r\n"));
}

UNIT_TEST(empty_value)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id:\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: \t \t\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\nX-Request-Id:\n\n"));
}

UNIT_TEST(no_colon)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id abc\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id\r\n\r\n"));
}

/* ---- truncation ----------------------------------------------------- */

UNIT_TEST(split_header_not_adopted)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	parse(LIT("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abcdef-trunc"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	parse(LIT("GET / HTTP/1.1\r\nX-Request-I"), &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

UNIT_TEST(split_at_every_byte)
{
	static const char head[] =
		"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abcdef\r\n\r\n";
	size_t id_end = strstr(head, "abcdef\r\n") - head + sizeof "abcdef\r\n" - 1;

	/* No prefix that ends before the ID's line end adopts anything, and
	 * in particular never a shorter ID. */
	for (size_t n = 0; n <= sizeof head - 1; n++) {
		struct http_ids o;

		parse(head, n, &o);
		if (n < id_end) {
			assert_no_id(&o);
		} else {
			assert_id(&o, "abcdef");
		}
	}
}

/* ---- folded lines --------------------------------------------------- */

UNIT_TEST(fold_continues_id)
{
	/* The folded value is "abc def": whitespace inside, so invalid. */
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\n def\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\n\tdef\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\nX-Request-Id: abc\n def\n\n"));
	/* ...even when the continuation line is itself cut off. */
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\n de"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\n "));
}

UNIT_TEST(fold_looks_like_header)
{
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Other: a\r\n X-Request-Id: evil\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Other: a\r\n\tX-Request-Id: evil\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\n X-Request-Id: evil\r\n\r\n"));
	assert_rejected(LIT("GET / HTTP/1.1\r\nX-Request-Id:\r\n evil\r\n\r\n"));
}

UNIT_TEST(fold_then_valid_duplicate)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\n def\r\n"
		  "X-Request-Id: second\r\n\r\n"), &o);
	assert_id(&o, "second");
}

UNIT_TEST(fold_elsewhere_harmless)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: keep\r\nX-Other: a\r\n b\r\n\r\n"), &o);
	assert_id(&o, "keep");
}

/* ---- duplicates ----------------------------------------------------- */

UNIT_TEST(duplicate_first_wins)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n\r\n"), &o);
	assert_id(&o, "one");
}

UNIT_TEST(duplicate_first_valid_wins)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nX-Request-Id: bad value\r\nX-Request-Id:\r\n"
		  "X-Request-Id: good\r\nX-Request-Id: later\r\n\r\n"), &o);
	assert_id(&o, "good");
}

/* ---- traceparent ---------------------------------------------------- */

static void parse_tp(const char *value, struct http_ids *o)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "GET / HTTP/1.1\r\ntraceparent: %s\r\n\r\n", value);

	ck_assert(n > 0 && (size_t)n < sizeof head);
	parse(head, (size_t)n, o);
	ck_assert(o->is_http);
}

static void assert_tp_rejected(const char *value)
{
	struct http_ids o;

	parse_tp(value, &o);
	ck_assert_msg(!o.has_trace, "accepted \"%s\"", value);
	ck_assert_int_eq(o.trace_id[0], '\0');
	ck_assert_int_eq(o.parent_id[0], '\0');
}

#undef UNIT_TCASE
#define UNIT_TCASE traceparent

UNIT_TEST(traceparent_valid)
{
	struct http_ids o;

	parse_tp(TP_VALID, &o);
	ck_assert(o.has_trace);
	ck_assert_str_eq(o.trace_id, TRACE_ID);
	ck_assert_str_eq(o.parent_id, PARENT_ID);
	ck_assert_uint_eq(o.trace_flags, 1);
	assert_no_id(&o);
}

UNIT_TEST(traceparent_flags)
{
	struct http_ids o;

	parse_tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &o);
	ck_assert(o.has_trace);
	ck_assert_uint_eq(o.trace_flags, 0);
	parse_tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", &o);
	ck_assert(o.has_trace);
	ck_assert_uint_eq(o.trace_flags, 0xff);
	parse_tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-a9", &o);
	ck_assert(o.has_trace);
	ck_assert_uint_eq(o.trace_flags, 0xa9);
}

UNIT_TEST(traceparent_name_and_spaces)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\nTraceParent:\t " TP_VALID " \t\r\n\r\n"), &o);
	ck_assert(o.has_trace);
	ck_assert_str_eq(o.trace_id, TRACE_ID);
	parse(LIT("GET / HTTP/1.1\nTRACEPARENT:" TP_VALID "\n\n"), &o);
	ck_assert(o.has_trace);
	ck_assert_str_eq(o.parent_id, PARENT_ID);
}

UNIT_TEST(traceparent_uppercase)
{
	assert_tp_rejected("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A");
	assert_tp_rejected("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_tp_rejected("FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

UNIT_TEST(traceparent_version_ff)
{
	assert_tp_rejected("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_tp_rejected("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ext");
}

UNIT_TEST(traceparent_bad_version)
{
	assert_tp_rejected("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_tp_rejected("0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_tp_rejected("-00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
}

UNIT_TEST(traceparent_zero_ids)
{
	assert_tp_rejected("00-00000000000000000000000000000000-00f067aa0ba902b7-01");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01");
	assert_tp_rejected("00-00000000000000000000000000000000-0000000000000000-00");
}

UNIT_TEST(traceparent_wrong_lengths)
{
	/* 54 bytes */
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
	/* trace-id 31 and 33 hex, parent-id 15 and 17 hex */
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-011");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-1");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-011");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-1");
	/* version 00 must be exactly 55 bytes, extra fields or not */
	assert_tp_rejected(TP_VALID "0");
	assert_tp_rejected(TP_VALID "-");
	assert_tp_rejected(TP_VALID "-extra");
	assert_tp_rejected("");
	assert_tp_rejected("00");
}

UNIT_TEST(traceparent_bad_separators)
{
	assert_tp_rejected("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7:01");
}

UNIT_TEST(traceparent_bad_flags)
{
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-x1");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7- 1");
	assert_tp_rejected("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-F1");
}

UNIT_TEST(traceparent_future_version)
{
	struct http_ids o;

	parse_tp("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &o);
	ck_assert(o.has_trace);
	ck_assert_str_eq(o.trace_id, TRACE_ID);
	parse_tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09"
		 "-what-the-future-will-be-like", &o);
	ck_assert(o.has_trace);
	ck_assert_str_eq(o.trace_id, TRACE_ID);
	ck_assert_str_eq(o.parent_id, PARENT_ID);
	ck_assert_uint_eq(o.trace_flags, 9);
	parse_tp("fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", &o);
	ck_assert(o.has_trace);
}

UNIT_TEST(traceparent_future_version_bad_extra)
{
	assert_tp_rejected("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x");
	assert_tp_rejected("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011");
	assert_tp_rejected("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x");
	/* the four fields must still be valid */
	assert_tp_rejected("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z-x");
	assert_tp_rejected("cc-00000000000000000000000000000000-00f067aa0ba902b7-01-x");
}

/* Two traceparent lines are one invalid value (HTTP joins a repeated
 * field's values with commas): the request starts its own trace, as the
 * W3C Trace Context test suite expects (test_traceparent_duplicated);
 * taking the first valid one carried a caller's trace on no evidence. */
UNIT_TEST(traceparent_duplicates)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\n"
		  "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\r\n"
		  "traceparent: " TP_VALID "\r\n"
		  "\r\n"), &o);
	ck_assert(!o.has_trace);
	ck_assert_int_eq(o.trace_id[0], '\0');
	parse(LIT("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\n"
		  "traceparent: 00-11111111111111111111111111111111-2222222222222222-00\r\n\r\n"), &o);
	ck_assert(!o.has_trace);
	ck_assert_uint_eq(o.trace_flags, 0);
}

UNIT_TEST(traceparent_folded)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\n -ext\r\n\r\n"), &o);
	ck_assert(o.is_http);
	ck_assert(!o.has_trace);
	ck_assert_int_eq(o.trace_id[0], '\0');
	/* a folded one and another: two lines, no trace */
	parse(LIT("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\n -ext\r\n"
		  "traceparent: 00-11111111111111111111111111111111-2222222222222222-00\r\n"
		  "\r\n"), &o);
	ck_assert(!o.has_trace);
}

UNIT_TEST(traceparent_truncated)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\ntraceparent: " TP_VALID), &o);
	ck_assert(o.is_http);
	ck_assert(!o.has_trace);
}

UNIT_TEST(traceparent_not_http)
{
	struct http_ids o;

	parse(LIT("HTTP/1.1 200 OK\r\ntraceparent: " TP_VALID "\r\n\r\n"), &o);
	assert_not_http(&o);
}

UNIT_TEST(traceparent_direct_untouched)
{
	char trace[33] = "untouched", parent[17] = "untouched";
	uint8_t flags = 77;

	ck_assert(!http_parse_traceparent(LIT("ff-4bf92f3577b34da6a3ce929d0e0e4736"
					      "-00f067aa0ba902b7-01"),
					  trace, parent, &flags));
	ck_assert_str_eq(trace, "untouched");
	ck_assert_str_eq(parent, "untouched");
	ck_assert_uint_eq(flags, 77);
	ck_assert(http_parse_traceparent(LIT(TP_VALID), trace, parent, &flags));
	ck_assert_str_eq(trace, TRACE_ID);
	ck_assert_str_eq(parent, PARENT_ID);
	ck_assert_uint_eq(flags, 1);
	/* A NUL where a dash belongs, and one where hex belongs. */
	ck_assert(!http_parse_traceparent(LIT("00-4bf92f3577b34da6a3ce929d0e0e4736"
					      "\0" "00f067aa0ba902b7-01"),
					  trace, parent, &flags));
	ck_assert(!http_parse_traceparent(LIT("00-4bf92f3577b34da6a3ce929d0e0e473\0"
					      "-00f067aa0ba902b7-01"),
					  trace, parent, &flags));
}

/* ---- both, neither, and odd header arguments ------------------------- */

/* tracestate (W3C Trace Context 3.3.1): the lines of a head that has a
 * valid traceparent, combined, each member checked; anything that breaks
 * the rules is not carried on. */
static size_t ts_of(const char *head, char out[HTTP_TRACESTATE_MAX + 1])
{
	struct http_ids o;

	http_parse_head(head, strlen(head), "X-Request-Id", 12, &o);
	out[0] = '\0';
	return o.tracestate_lines ? http_tracestate(o.tracestate, o.tracestate_len, o.tracestate_lines, out) : 0;
}

UNIT_TEST(tracestate_with_its_traceparent)
{
	char ts[HTTP_TRACESTATE_MAX + 1];

	ck_assert_uint_eq(ts_of("GET / HTTP/1.1\r\ntracestate: congo=t61rcWkgMzE, rojo=00f067aa0ba902b7\r\n"
				"traceparent: " TP_VALID "\r\n\r\n", ts), 39);
	ck_assert_str_eq(ts, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
	/* two lines are one list; empty members and blanks dropped */
	ck_assert_uint_gt(ts_of("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\nTraceState: a=1 ,,\t\r\n"
				"tracestate: tenant@sys=x y\r\n\r\n", ts), 0);
	ck_assert_str_eq(ts, "a=1,tenant@sys=x y");
	/* no traceparent, or an invalid one: none */
	ck_assert_uint_eq(ts_of("GET / HTTP/1.1\r\ntracestate: a=1\r\n\r\n", ts), 0);
	ck_assert_uint_eq(ts_of("GET / HTTP/1.1\r\ntracestate: a=1\r\ntraceparent: 00-x\r\n\r\n", ts), 0);
	/* folded: none */
	ck_assert_uint_eq(ts_of("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\ntracestate: a=1\r\n b=2\r\n\r\n",
				ts), 0);
}

UNIT_TEST(tracestate_rules)
{
	static const char *const bad[] = {
		"A=1", "1a=1", "a=", "a=b=", "a=b,c=", "a", "=1", "a=x=y", "a b=1", "a=1,a=2",
		"tenant@=1", "@sys=1", "t@Sys=1", "t@s1234567890abcd=1", "a=\x01",
	};
	static const char *const good[] = {
		"a=1", "a-b_c*d/e=x", "0t@s=1", "t@s1234567890abc=!~", "a=  v", "k=a b c",
	};
	char out[HTTP_TRACESTATE_MAX + 1], many[4096], big[800], vs[201];
	const char *parts[1];
	size_t lens[1], o = 0;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		parts[0] = bad[i];
		lens[0] = strlen(bad[i]);
		ck_assert_msg(http_tracestate(parts, lens, 1, out) == 0, "accepted %s", bad[i]);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		parts[0] = good[i];
		lens[0] = strlen(good[i]);
		ck_assert_msg(http_tracestate(parts, lens, 1, out) == lens[0], "refused %s", good[i]);
		ck_assert_str_eq(out, good[i]);
	}
	/* 32 members at most */
	for (int i = 0; i < 33; i++)
		o += (size_t)sprintf(many + o, "%sk%d=v", i ? "," : "", i);
	parts[0] = many;
	lens[0] = o;
	ck_assert_uint_eq(http_tracestate(parts, lens, 1, out), 0);
	lens[0] = (size_t)(strstr(many, ",k32=") - many);
	ck_assert_uint_eq(http_tracestate(parts, lens, 1, out), lens[0]);
	/* past 512 bytes: the member over 128 goes first, then from the end */
	memset(vs, 'v', sizeof vs - 1);
	vs[sizeof vs - 1] = '\0';
	o = (size_t)sprintf(big, "a=%.120s,b=%.120s,long=%.200s,c=%.120s,d=%.120s", vs, vs, vs, vs, vs);
	parts[0] = big;
	lens[0] = o;
	ck_assert_uint_eq(http_tracestate(parts, lens, 1, out), 4 * 122 + 3);
	ck_assert_ptr_null(strstr(out, "long="));
	ck_assert_ptr_nonnull(strstr(out, ",d=v"));
	/* without it, still too long: from the end */
	o = (size_t)sprintf(big, "a=%.120s,b=%.120s,c=%.120s,d=%.120s,e=%.120s", vs, vs, vs, vs, vs);
	lens[0] = o;
	ck_assert_uint_eq(http_tracestate(parts, lens, 1, out), 4 * 122 + 3);
	ck_assert_ptr_null(strstr(out, "e="));
}

#undef UNIT_TCASE
#define UNIT_TCASE misc

UNIT_TEST(id_and_trace_together)
{
	struct http_ids o;

	parse(LIT("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\nHost: a\r\n"
		  "X-Request-Id: both\r\nX-Request-Id: ignored\r\n\r\n"), &o);
	assert_id(&o, "both");
	ck_assert(o.has_trace);
	ck_assert_str_eq(o.trace_id, TRACE_ID);
}

/* The body's framing (RFC 9112, 6.3), read from every header line, also
 * after both IDs were found. */
UNIT_TEST(body_framing)
{
	static const struct {
		const char *head;
		int body;
		uint64_t len;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BODY_NONE, 0 },
		{ "POST / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\nX-Request-Id: a\r\n"
		  "content-LENGTH:  3145728 \r\n\r\n", HTTP_BODY_LENGTH, 3145728 },
		{ "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HTTP_BODY_LENGTH, 0 },
		/* the same value twice is one length; two values are none */
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", HTTP_BODY_LENGTH, 5 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", HTTP_BODY_OTHER, 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 6\r\nContent-Length: x\r\nContent-Length: 6\r\n\r\n",
		  HTTP_BODY_OTHER, 0 },
		/* not a number, a list, a sign, too long, empty */
		{ "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", HTTP_BODY_OTHER, 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", HTTP_BODY_OTHER, 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", HTTP_BODY_OTHER, 0 },
		{ "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", HTTP_BODY_OTHER, 0 },
		/* a folded value is not the value */
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n 7\r\n\r\n", HTTP_BODY_OTHER, 0 },
		/* Transfer-Encoding: not followed, with or without a length */
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		  HTTP_BODY_OTHER, 0 },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
		  HTTP_BODY_OTHER, 0 },
		/* a name that only starts like it; not a request at all */
		{ "POST / HTTP/1.1\r\nContent-Lengths: 5\r\n\r\n", HTTP_BODY_NONE, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_BODY_NONE, 0 },
	};
	struct http_ids o;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse(cases[i].head, strlen(cases[i].head), &o);
		ck_assert_msg(o.body == cases[i].body, "case %zu: body %d, want %d", i, o.body,
			      cases[i].body);
		if (cases[i].body == HTTP_BODY_LENGTH)
			ck_assert_uint_eq(o.content_length, cases[i].len);
	}
	parse(LIT("POST / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\nX-Request-Id: a\r\n"
		  "Content-Length: 1\r\n\r\n"), &o);
	assert_id(&o, "a");
	ck_assert(o.has_trace);
}

UNIT_TEST(id_header_is_traceparent)
{
	struct http_ids o;

	/* Configuring traceparent as the ID header adopts it as both. */
	parse_hdr(LIT("GET / HTTP/1.1\r\ntraceparent: " TP_VALID "\r\n\r\n"),
		  "traceparent", &o);
	assert_id(&o, TP_VALID);
	ck_assert(o.has_trace);
}

UNIT_TEST(no_header_name)
{
	struct http_ids o;

	parse_hdr(LIT("GET / HTTP/1.1\r\nX-Request-Id: abc\r\n: empty\r\n"
		      "traceparent: " TP_VALID "\r\n\r\n"), NULL, &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	ck_assert(o.has_trace);
	parse_hdr(LIT("GET / HTTP/1.1\r\n: empty\r\n\r\n"), "", &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
}

/* ---- http_valid_id -------------------------------------------------- */

UNIT_TEST(valid_id_charset)
{
	for (int c = 0; c < 256; c++) {
		char ch = (char)c;
		bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') ||
			    (c != 0 && strchr("-._:/+=@", c) != NULL);

		ck_assert_msg(http_valid_id(&ch, 1) == want, "byte 0x%02x", c);
	}
}

UNIT_TEST(valid_id_lengths)
{
	char v[130];

	memset(v, 'x', sizeof v);
	ck_assert(!http_valid_id(v, 0));
	ck_assert(http_valid_id(v, 1));
	ck_assert(http_valid_id(v, 128));
	ck_assert(!http_valid_id(v, 129));
	ck_assert(!http_valid_id(v, 130));
	v[127] = ' ';
	ck_assert(!http_valid_id(v, 128));
}

/* ---- size ----------------------------------------------------------- */

UNIT_TEST(large_head_linear)
{
	/* 4 MiB of tiny header lines then the ID: a quadratic scan would blow
	 * the test timeout. */
	size_t lines = 1 << 20, pre = sizeof "GET / HTTP/1.1\r\n" - 1;
	size_t n = pre + lines * 4 + sizeof "X-Request-Id: big\r\n\r\n" - 1;
	char *h = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct http_ids o;

	ck_assert_ptr_ne(h, MAP_FAILED);
	memcpy(h, "GET / HTTP/1.1\r\n", pre);
	for (size_t i = 0; i < lines; i++)
		memcpy(h + pre + i * 4, "a:b\n", 4);
	memcpy(h + pre + lines * 4, "X-Request-Id: big\r\n\r\n",
	       sizeof "X-Request-Id: big\r\n\r\n" - 1);
	parse(h, n, &o);
	assert_id(&o, "big");

	/* One long line without an end: nothing adopted. */
	memset(h + pre, 'a', n - pre);
	parse(h, n, &o);
	ck_assert(o.is_http);
	assert_no_id(&o);
	munmap(h, n);
}

Suite *http_suite(void)
{
	Suite *s = suite_create("http");

	suite_add_tcase(s, unit_tcase("http", "valid"));
	suite_add_tcase(s, unit_tcase("http", "not_http"));
	suite_add_tcase(s, unit_tcase("http", "hostile"));
	suite_add_tcase(s, unit_tcase("http", "traceparent"));
	suite_add_tcase(s, unit_tcase("http", "misc"));
	return s;
}
