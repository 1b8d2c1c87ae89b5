/*
 * http.h - recognises the start of an HTTP/1.x request in the first bytes a
 * server reads on a connection, and adopts a request ID and a W3C trace
 * context from its head. Pure functions over a byte range: no allocation,
 * no global state, never a read past `len`.
 */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define HTTP_ID_MAX 128
/* The tracestate carried on (W3C Trace Context, 3.3.1.5: a vendor SHOULD
 * propagate at least 512 characters of the combined header). */
#define HTTP_TRACESTATE_MAX 512
#define HTTP_TRACESTATE_LINES 4

struct http_ids {
	bool is_http;                  /* a request line "METHOD SP target SP HTTP/1.x" */
	size_t request_id_len;         /* 0 when no valid ID header was seen */
	char request_id[HTTP_ID_MAX + 1];
	bool has_trace;                /* a valid traceparent was seen */
	char trace_id[33];             /* 32 lowercase hex + NUL */
	char parent_id[17];            /* 16 lowercase hex + NUL */
	uint8_t trace_flags;
	/* With has_trace: the values of the head's tracestate lines (at most
	 * HTTP_TRACESTATE_LINES; pointers into the head, for
	 * http_tracestate); 0 lines when it had none, more, or one an
	 * obsolete fold continued. */
	int tracestate_lines;
	const char *tracestate[HTTP_TRACESTATE_LINES];
	size_t tracestate_len[HTTP_TRACESTATE_LINES];
	uint8_t body;                  /* HTTP_BODY_*: how the request's body is framed */
	uint64_t content_length;       /* with HTTP_BODY_LENGTH: the body's bytes */
};

/* How a request's body is delimited (RFC 9112, 6.3): */
enum {
	HTTP_BODY_NONE = 0,    /* neither Content-Length nor Transfer-Encoding: no body */
	HTTP_BODY_LENGTH,      /* one valid Content-Length (repeats of the same value
	                          included): exactly content_length bytes */
	HTTP_BODY_OTHER,       /* Transfer-Encoding, or a Content-Length that is
	                          invalid, folded or contradicted: not followed */
};

/*
 * Looks at buf[0..len) as the start of a request head. Sets out->is_http
 * when it starts with an HTTP/1.x request line; then scans header lines up
 * to the blank line or the end of the bytes given. The header named `header`
 * (case-insensitive, `header_len` bytes) is adopted as the request ID when
 * its value, stripped of surrounding spaces and tabs, passes
 * http_valid_id(); otherwise request_id_len stays 0. A `traceparent` header
 * is adopted when http_parse_traceparent() accepts it, and only when it
 * is the head's one traceparent line. When the request-ID header appears
 * more than once, the first valid occurrence wins. out->body says how the
 * body that follows the head is framed, from the header lines seen.
 */
void http_parse_head(const char *buf, size_t len, const char *header,
		     size_t header_len, struct http_ids *out);

/*
 * The request line of buf[0..len) (what http_parse_head calls one):
 * sets the method and the target (pointers into buf) and returns true, or
 * returns false when buf does not start with a complete request line.
 */
bool http_request_line(const char *buf, size_t len, const char **method, size_t *mlen,
		       const char **target, size_t *tlen);

/* 1 to 128 bytes, each of [A-Za-z0-9] or one of - . _ : / + = @ */
bool http_valid_id(const char *v, size_t n);

/*
 * W3C Trace Context traceparent: "vv-<32 hex>-<16 hex>-<2 hex>", lowercase
 * hex only. Version ff is invalid; version 00 must be exactly 55 bytes; a
 * higher version needs at least 55 bytes and, past 55, a '-' at offset 55.
 * All-zero trace-id or parent-id is invalid. On success fills the outputs
 * (NUL-terminated) and returns true; on failure returns false and leaves
 * them untouched.
 */
bool http_parse_traceparent(const char *v, size_t n, char trace_id[33],
			    char parent_id[17], uint8_t *flags);

/*
 * W3C Trace Context tracestate (3.3.1): the values of a head's tracestate
 * lines, parts[0..n) (each without its line's end), combined as one
 * list. Each list-member must be key=value as 3.3.1.3 gives them (a key
 * of lowercase letters, digits, "_-*" and "/", or tenant@system; a
 * value of 1 to 256 printable characters but "," and "=", not ending in
 * a space); empty members and the spaces and tabs around members are
 * dropped; at most 32 members, each key once. Writes the members joined
 * by "," to out (NUL-terminated) and returns its length; past
 * HTTP_TRACESTATE_MAX bytes, members longer than 128 bytes go first,
 * then members from the end (3.3.1.5). Returns 0 (out "") when the list
 * is empty or any member is invalid: a list that breaks the rules is not
 * carried on.
 */
size_t http_tracestate(const char *const *parts, const size_t *lens, int n,
		       char out[HTTP_TRACESTATE_MAX + 1]);

/* An RFC 9110 token character (section 5.6.2: "!#$%&'*+-.^_`|~", digits,
 * letters): what a method and a header field name are made of. The one
 * copy of the rule: http.c, wire.c and config.c use it. http_token_lc[ch]
 * is ch lowered (ASCII letters only) when ch is one, 0 when it is not: one
 * load both checks a field name's byte and folds its case. */
extern AGENT_HIDDEN const unsigned char http_token_lc[256];
static inline bool http_is_tchar(unsigned char ch)
{
	return http_token_lc[ch] != 0;
}

#if defined(__SSE2__)
/* Of the sixteen bytes x, a bit set (movemask order: byte 0 lowest) for
 * each letter, digit or '-', the token characters field names are made
 * of; the rest of the rule (http_is_tchar) is left to a byte-by-byte
 * look. */
static inline unsigned http_token_mask16(__m128i x)
{
	/* A byte is in [lo, lo + k] when x - lo, unsigned, is at most k:
	 * when the smaller of it and k is itself. */
	__m128i l = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
	__m128i ok = _mm_or_si128(
		_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l),
			     _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)),
		_mm_cmpeq_epi8(x, _mm_set1_epi8('-')));

	return (unsigned)_mm_movemask_epi8(ok);
}
#endif

/* The offset of the first byte of b[i..e) that is not a token character,
 * or e. With SSE2 the letters, digits and '-' that field names are made
 * of are passed sixteen at a time (http_token_mask16); the rest of the
 * rule goes byte by byte. */
static inline size_t http_token_end(const unsigned char *b, size_t i, size_t e)
{
#if defined(__SSE2__)
	for (; e - i >= 16; i += 16) {
		unsigned m = http_token_mask16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));

		if (m != 0xffff) {
			i += (size_t)__builtin_ctz(~m);
			break;
		}
	}
#endif
	while (i < e && http_token_lc[b[i]])
		i++;
	return i;
}

/* The offset of the first byte of b[i..e) that cannot be in a request
 * target (a control, a space, DEL or above), or e. */
static inline size_t http_target_end(const unsigned char *b, size_t i, size_t e)
{
#if defined(__SSE2__)
	const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f);

	for (; e - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
		unsigned bad = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(x, del),
				     _mm_cmpeq_epi8(_mm_cmpgt_epi8(x, sp), _mm_setzero_si128())));

		if (bad)
			return i + (size_t)__builtin_ctz(bad);
	}
#endif
	while (i < e && b[i] > ' ' && b[i] < 0x7f)
		i++;
	return i;
}

#endif
