/*
 * wire.c - the byte-by-byte scanner of HTTP/1.x messages a program writes
 * (agent/wire.h). It runs on the write path of connections, on bytes the
 * program chose: it must never allocate, call libc I/O, or look past the
 * bytes it is given, and it decides "well formed" strictly, since only a
 * head it fully understood may have headers inserted.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "agent/http.h"
#include "agent/wire.h"

#define METHOD_MAX 15

static unsigned char lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

void wire_init(struct wire_scan *w, enum wire_role role)
{
	memset(w, 0, sizeof *w);
	w->role = (uint8_t)role;
	w->state = WS_START;
}

void wire_reply_read(struct wire_scan *w)
{
	if (w->role == WIRE_REQUEST && w->state == WS_OPAQUE)
		w->state = WS_START;
}

static void head_starts(struct wire_scan *w)
{
	w->have = 0;
	w->cur = 0;
	w->tp_lines = 0;
	w->tp = NULL;
	w->decided = 0;
	w->bad_clen = 0;
	w->close_pos = 0;
	w->close = 0;
	w->line1_pos = 0;
	w->part = 0;
	w->method_len = 0;
	w->method[0] = '\0';
	w->status = 0;
	w->tlen = 0;
	w->clen = 0;
	w->state = WS_LINE1;
}

static void head_ends(struct wire_scan *w)
{
	if (w->close_pos == 5)
		w->close = 1;
	if (w->role == WIRE_RESPONSE) {
		/* An interim response (100 Continue) is followed by the final
		 * one; 101 switches protocols. */
		w->state = w->status >= 100 && w->status < 200 && w->status != 101 ?
			   WS_START : WS_DONE;
		return;
	}
	if ((w->have & (WIRE_H_TE | WIRE_H_UPGRADE)) || w->bad_clen ||
	    strcmp(w->method, "CONNECT") == 0)
		w->state = WS_OPAQUE;
	else if (w->clen > 0) {
		w->state = WS_BODY;
		w->left = w->clen;
	} else {
		w->state = WS_START;
	}
}

/* The name of bit i, and its length. */
static inline const char *name_of(unsigned i, const struct wire_names *names, size_t *len)
{
	static const char *const fixed[WIRE_NAMES] = {
		"traceparent", NULL, "baggage", "content-length", "transfer-encoding", "upgrade",
		"connection", "tracestate",
	};
	static const uint8_t fixed_len[WIRE_NAMES] = { 11, 0, 7, 14, 17, 7, 10, 10 };

	if (i == 1) {
		*len = names && names->id ? names->id_len : 0;
		return names ? names->id : NULL;
	}
	*len = fixed_len[i];
	return fixed[i];
}

/* One more byte of a field name: the names it can still be. Only the
 * candidates left are compared (most names lose all in a byte or two). */
static void name_char(struct wire_scan *w, const struct wire_names *names, unsigned char ch)
{
	for (unsigned m = w->cand; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		size_t len;
		const char *nm = name_of(i, names, &len);

		if (nm == NULL || w->npos >= len || lower((unsigned char)nm[w->npos]) != lower(ch))
			w->cand &= (uint8_t)~(1u << i);
	}
	if (w->npos < UINT16_MAX)
		w->npos++;
}

/* The names of interest in a head of role `role`: a response's scan
 * decides where the request ID goes, whether one is there already, and
 * whether the connection closes after it (propagate.c, conn.c); its body
 * is not followed (head_ends), so its framing headers are nobody's
 * concern, and neither is trace context a server sends back. */
static inline uint8_t role_names(uint8_t role)
{
	return role == WIRE_RESPONSE ? WIRE_H_ID | WIRE_H_CONNECTION : 0xff;
}

/* The names that begin with `lc` (a lowercase byte): the first byte of
 * a field name decides most of them at once. `idc` is the request-ID
 * header's first byte, lowercase (id_first); `want`, role_names(). */
static inline uint8_t first_cand(unsigned char idc, unsigned char lc, uint8_t want)
{
	uint8_t m = 0;

	switch (lc) {
	case 't':
		m = WIRE_H_TRACEPARENT | WIRE_H_TE | WIRE_H_TRACESTATE;
		break;
	case 'b':
		m = WIRE_H_BAGGAGE;
		break;
	case 'c':
		m = WIRE_H_CLEN | WIRE_H_CONNECTION;
		break;
	case 'u':
		m = WIRE_H_UPGRADE;
		break;
	}
	if (idc == lc)
		m |= WIRE_H_ID;
	return m & want;
}

/* The request-ID header's first byte, lowercase; 0 (no token byte is) when
 * there is none. */
static inline unsigned char id_first(const struct wire_names *names)
{
	return names && names->id && names->id_len ? http_token_lc[(unsigned char)names->id[0]] : 0;
}

/* Whether the field name nm[0..len) is b[0..blen), ignoring case. */
static bool name_is(const char *nm, size_t len, const unsigned char *b, size_t blen)
{
	if (nm == NULL || len != blen)
		return false;
	for (size_t k = 0; k < len; k++)
		if (http_token_lc[(unsigned char)nm[k]] != http_token_lc[b[k]])
			return false;
	return true;
}

/* The same for a fixed name (lowercase letters and '-') and a token
 * b[0..len) of its length, eight bytes at a time: a token byte ORed with
 * 0x20 equals a lowercase letter only if it is that letter in either
 * case, and equals '-' only if it is '-' (the other byte, CR, is no token
 * byte). */
static bool fixed_name_is(const char *nm, const unsigned char *b, size_t len)
{
	const uint64_t fold = 0x2020202020202020ull;
	uint64_t x, y;
	size_t k = 0;

	if (len < 8)
		return name_is(nm, len, b, len);
	for (; k + 8 <= len; k += 8) {
		memcpy(&x, b + k, 8);
		memcpy(&y, nm + k, 8);
		if ((x | fold) != y)
			return false;
	}
	if (k == len)
		return true;
	memcpy(&x, b + len - 8, 8);
	memcpy(&y, nm + len - 8, 8);
	return (x | fold) == y;
}

/* The field name nm[0..len), whole: the candidates in `w->cand` it is,
 * compared once, and its length, as name_char() leaves them byte by
 * byte for the name's end. */
static inline __attribute__((always_inline)) void name_is_whole(struct wire_scan *w, const struct wire_names *names,
			  const unsigned char *nm, size_t len)
{
	uint8_t keep = 0;

	for (unsigned m = w->cand; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		size_t nlen;
		const char *known = name_of(i, names, &nlen);

		if (i == 1 ? name_is(known, nlen, nm, len) : nlen == len && fixed_name_is(known, nm, len))
			keep |= (uint8_t)(1u << i);
	}
	w->cand = keep;
	w->npos = len < UINT16_MAX ? (uint16_t)len : UINT16_MAX;
}

/* A field name of interest whose first byte is b[start - 1] ... ends in
 * these bytes too: the names still in `w->cand` are compared whole, once,
 * in place of name_char() byte by byte. Returns the offset of the byte
 * after the name (its ':' if well formed), or n when the name goes on past
 * the bytes given (nothing done: the caller goes byte by byte). */
static size_t name_whole(struct wire_scan *w, const struct wire_names *names,
			 const unsigned char *b, size_t start, size_t n)
{
	size_t j = start;

	while (j < n && http_is_tchar(b[j]))
		j++;
	if (j == n)
		return n;
	name_is_whole(w, names, b + start - 1, j - (start - 1));
	return j;
}

/* The offset of the first CR or LF in b[i..n), or n. Sixteen bytes at a
 * time with SSE2; else eight at a time where it can: a byte equal to c
 * shows as the top bit of a zero byte of x ^ c (the lowest such bit is
 * exact; borrows only ever mark bytes above it), and little-endian puts
 * the first byte lowest. */
#if defined(__SSE2__)
/* Of the sixteen bytes x, a bit set for each CR or LF (byte 0 lowest). */
static inline unsigned crlf_mask16(__m128i x)
{
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\r')),
							 _mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))));
}
#endif

static inline size_t line_end_from(const unsigned char *b, size_t i, size_t n)
{
#if defined(__SSE2__)
	for (; n - i >= 16; i += 16) {
		unsigned hit = crlf_mask16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));

		if (hit)
			return i + (size_t)__builtin_ctz(hit);
	}
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = 0x0101010101010101ull, tops = 0x8080808080808080ull;

	for (; n - i >= 8; i += 8) {
		uint64_t x, cr, lf, hit;

		memcpy(&x, b + i, 8);
		cr = x ^ (ones * '\r');
		lf = x ^ (ones * '\n');
		hit = (((cr - ones) & ~cr) | ((lf - ones) & ~lf)) & tops;
		if (hit)
			return i + (size_t)__builtin_ctzll(hit) / 8;
	}
#endif
	for (; i < n; i++)
		if (b[i] == '\r' || b[i] == '\n')
			return i;
	return n;
}

/* A header line starting at b[i]: returns its end (the offset of its
 * first CR or LF, or n when it has none in b[i..n)) and sets *name_end to
 * the offset of the first byte from b[i] that is not a token character,
 * as line_end_from() and http_token_end() would, in one pass: with SSE2,
 * one load of sixteen bytes gives both for a line that short, and the
 * name's end for a longer one (a name is rarely longer). */
static inline __attribute__((always_inline)) size_t field_line_bounds(const unsigned char *b, size_t i, size_t n,
								   size_t *name_end)
{
#if defined(__SSE2__)
	if (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
		unsigned other = ~http_token_mask16(x) & 0xffff;

		if (other != 0) {
			size_t j = i + (size_t)__builtin_ctz(other);
			unsigned hit = crlf_mask16(x);

			/* '_', '.' and the other token bytes the mask leaves
			 * out go on byte by byte; a CR or LF is no token byte,
			 * so the name ends at or before the line's end. */
			*name_end = b[j] == ':' ? j : http_token_end(b, j, n);
			return hit ? i + (size_t)__builtin_ctz(hit) : line_end_from(b, i + 16, n);
		}
	}
#endif
	size_t e = line_end_from(b, i, n);

	*name_end = http_token_end(b, i, e);
	return e;
}

static inline void name_ends(struct wire_scan *w, const struct wire_names *names)
{
	if (w->close_pos == 5)
		w->close = 1;           /* the previous field's value ended with it */
	w->close_pos = 0;
	w->cur = 0;
	for (unsigned m = w->cand; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		size_t len;

		if (name_of(i, names, &len) && len == w->npos) {
			w->cur = (uint8_t)(1u << i);
			break;
		}
	}
	if (w->cur == WIRE_H_CLEN && (w->have & WIRE_H_CLEN))
		w->bad_clen = 1;        /* a second Content-Length: not followed */
	if (w->cur == WIRE_H_TRACEPARENT && w->tp_lines < 2)
		w->tp_lines++;
	w->have |= w->cur;
	w->tlen = 0;
}

/* Connection (RFC 9110, 7.6.1): a comma-separated list of tokens, any
 * case; "close" among them. */
static void connection_char(struct wire_scan *w, unsigned char ch)
{
	if (ch == ',' || ch == ' ' || ch == '\t') {
		if (w->close_pos == 5)
			w->close = 1;
		if (ch == ',' || w->close_pos != 0)
			w->close_pos = ch == ',' ? 0 : 6;
	} else if (w->close_pos < 5 && lower(ch) == (unsigned char)"close"[w->close_pos]) {
		w->close_pos++;
	} else {
		w->close_pos = 6;
	}
}

/* A whole Connection value v[0..n): one that holds no 'c' in either
 * case (the common "keep-alive") has no "close" in it and is passed over
 * in one pass (a short value: cheaper than two memchr calls); else token
 * by token. */
static void connection_whole(struct wire_scan *w, const unsigned char *v, size_t n)
{
	size_t k = 0;

	while (k < n && (v[k] | 0x20) != 'c')
		k++;
	if (k == n)
		return;
	for (k = 0; k < n; k++)
		connection_char(w, v[k]);
}

/* One byte of a Content-Length value (RFC 9110, 8.6: 1*DIGIT; blanks
 * around it). Inlined where a whole value is taken at once. */
static inline __attribute__((always_inline)) void clen_char(struct wire_scan *w, unsigned char ch)
{
	if (ch >= '0' && ch <= '9') {
		if (w->tlen == 2 || w->clen > (UINT64_MAX - 9) / 10)
			w->bad_clen = 1;        /* digits after blanks, or too big */
		w->clen = w->clen * 10 + (uint64_t)(ch - '0');
		w->tlen = 1;
	} else if (ch == ' ' || ch == '\t') {
		if (w->tlen == 1)
			w->tlen = 2;
	} else {
		w->bad_clen = 1;
	}
}

static void value_char(struct wire_scan *w, unsigned char ch)
{
	if (w->cur == WIRE_H_CONNECTION) {
		connection_char(w, ch);
		return;
	}
	if (w->cur == WIRE_H_CLEN)
		clen_char(w, ch);
}

/* The end of the first line: CR (its LF must follow) or a bare LF. */
static bool line1_end(struct wire_scan *w, unsigned char ch)
{
	if (ch == '\r') {
		w->state = WS_LINE1_LF;
		return true;
	}
	if (ch == '\n') {
		w->state = WS_LINE_START;
		return true;
	}
	return false;
}

/* One byte of the request line. Returns false when it is not one. */
static bool request_line(struct wire_scan *w, unsigned char ch)
{
	static const char version[] = "HTTP/1.";

	switch (w->part) {
	case 0:                 /* method */
		if (ch == ' ' && w->method_len > 0) {
			w->method[w->method_len] = '\0';
			w->part = 1;
			w->tlen = 0;
			return true;
		}
		if (!http_is_tchar(ch) || w->method_len >= METHOD_MAX)
			return false;
		w->method[w->method_len++] = (char)ch;
		return true;
	case 1:                 /* target */
		if (ch == ' ' && w->tlen > 0) {
			w->part = 2;
			w->line1_pos = 0;
			return true;
		}
		if (ch <= ' ' || ch >= 0x7f)
			return false;
		w->tlen++;
		return true;
	case 2:                 /* "HTTP/1." digit */
		if (w->line1_pos < 7)
			return ch == (unsigned char)version[w->line1_pos++];
		if (w->line1_pos == 7) {
			w->line1_pos++;
			return ch >= '0' && ch <= '9';
		}
		return line1_end(w, ch);
	}
	return false;
}

/* One byte of the status line "HTTP/1.d SP ddd [SP reason]". */
static bool status_line(struct wire_scan *w, unsigned char ch)
{
	static const char version[] = "HTTP/1.";

	switch (w->part) {
	case 0:
		if (w->line1_pos < 7)
			return ch == (unsigned char)version[w->line1_pos++];
		w->part = 1;
		return ch >= '0' && ch <= '9';
	case 1:
		w->part = 2;
		w->line1_pos = 0;
		return ch == ' ';
	case 2:
		if (ch < '0' || ch > '9')
			return false;
		w->status = (uint16_t)(w->status * 10 + (ch - '0'));
		if (++w->line1_pos == 3)
			w->part = 3;
		return true;
	case 3:                 /* SP reason, or the line end */
	case 4:
		if (line1_end(w, ch))
			return true;
		if (w->part == 3 && ch != ' ')
			return false;
		w->part = 4;
		return ch == '\t' || (ch >= ' ' && ch != 0x7f);
	}
	return false;
}

/* After a line's end at b[e] (its CR or LF, the line whole before it):
 * the offset after it, in state WS_LINE_START; or n, with the state the
 * byte-by-byte scan leaves (WS_VALUE_LF or WS_LINE1_LF after a CR that
 * ends the bytes, WS_NOT_HTTP after a CR not followed by LF). */
static size_t line_done(struct wire_scan *w, const unsigned char *b, size_t e, size_t n,
			enum wire_state after_cr)
{
	if (b[e] == '\n' || (e + 1 < n && b[e + 1] == '\n')) {
		w->state = WS_LINE_START;
		return e + (b[e] == '\n' ? 1 : 2);
	}
	w->state = e + 1 < n ? WS_NOT_HTTP : after_cr;
	return n;
}

/*
 * The quick forms of the scan, for a well-formed line that lies whole in
 * the bytes of one call (the usual case: a program writes its head in one
 * call). Each takes the line at once and leaves the scanner as feeding
 * its bytes one by one would, in all that is read later (the fields of
 * line 1's and a name's progress are not: a new head and a new line reset
 * them; unit tests and tests/fuzz/fuzz_wire.c feed heads both ways); or
 * returns 0, having done nothing, when the line goes on past the bytes
 * given or is not well formed (the byte-by-byte scan then finds where it
 * goes wrong).
 */

/* A request line "method SP target SP HTTP/1.d" starting at b[i]. */
static size_t request_line_whole(struct wire_scan *w, const unsigned char *b, size_t i, size_t n)
{
	size_t e = line_end_from(b, i, n), m, t;

	if (e == n)
		return 0;
	m = http_token_end(b, i, e);
	if (m == i || m - i > METHOD_MAX || b[m] != ' ')
		return 0;
	t = http_target_end(b, m + 1, e);
	if (t == m + 1 || t == e || b[t] != ' ' || e - (t + 1) != 8 ||
	    memcmp(b + t + 1, "HTTP/1.", 7) != 0 || b[t + 8] < '0' || b[t + 8] > '9')
		return 0;
	memcpy(w->method, b + i, m - i);
	w->method[m - i] = '\0';
	w->method_len = (uint8_t)(m - i);
	return line_done(w, b, e, n, WS_LINE1_LF);
}

/* A status line "HTTP/1.d SP ddd [SP reason]" starting at b[i]. */
static size_t status_line_whole(struct wire_scan *w, const unsigned char *b, size_t i, size_t n)
{
	size_t e = line_end_from(b, i, n);
	const unsigned char *l = b + i;

	if (e == n)
		return 0;
	if (e - i < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' ||
	    l[8] != ' ' || l[9] < '0' || l[9] > '9' || l[10] < '0' || l[10] > '9' ||
	    l[11] < '0' || l[11] > '9' || (e - i > 12 && l[12] != ' '))
		return 0;
	for (size_t k = i + 13; k < e; k++)
		if (b[k] != '\t' && (b[k] < ' ' || b[k] == 0x7f))
			return 0;
	w->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	return line_done(w, b, e, n, WS_LINE1_LF);
}

/* Header lines that name nothing of interest, whole and well formed, one
 * after another from b[i] (a token byte at a line's start; the state
 * WS_LINE_START): returns the offset after the last one taken, at the
 * next line's start, or i when none was. The state is left as the last
 * one leaves it, once: within a run each line resets what the one before
 * set. A line this does not take (one that may be of interest, one not
 * whole in the bytes, a bare CR) is field_line_whole()'s or the
 * byte-by-byte scan's. */
static size_t plain_lines(struct wire_scan *w, const struct wire_names *names, unsigned char idc,
			  uint8_t want, const unsigned char *b, size_t i, size_t n)
{
	size_t from = i, name_len = 0;

	for (;;) {
		size_t j, e = field_line_bounds(b, i, n, &j), next;
		uint8_t cand;

		if (e == n || j == i || b[j] != ':')
			break;
		/* A name that starts as one of interest does but is not as
		 * long as any (Content-Type in a response) is plain too. */
		for (cand = first_cand(idc, http_token_lc[b[i]], want); cand; cand &= (uint8_t)(cand - 1)) {
			size_t len;

			if (name_of((unsigned)__builtin_ctz(cand), names, &len) && len == j - i)
				break;
		}
		if (cand)
			break;
		if (b[e] == '\n')
			next = e + 1;
		else if (e + 1 < n && b[e + 1] == '\n')
			next = e + 2;
		else
			break;
		name_len = j - i;
		i = next;
		if (i == n || !http_token_lc[b[i]])     /* CR and LF are no token bytes */
			break;
	}
	if (i != from) {
		if (w->close_pos == 5)
			w->close = 1;   /* the field before the run ended with it */
		w->close_pos = 0;
		w->cur = 0;
		w->cand = 0;
		w->tlen = 0;
		w->npos = name_len < UINT16_MAX ? (uint16_t)name_len : UINT16_MAX;
	}
	return i;
}

/* A header line "name: value" starting at b[i] (not CR or LF). */
static size_t field_line_whole(struct wire_scan *w, const struct wire_names *names,
			       unsigned char idc, uint8_t want, const unsigned char *b, size_t i, size_t n)
{
	size_t j, e = field_line_bounds(b, i, n, &j);

	if (e == n || j == i || b[j] != ':')
		return 0;
	w->cand = first_cand(idc, http_token_lc[b[i]], want);
	if (likely(w->cand == 0)) {
		/* No name of interest starts with its first byte (most
		 * lines): name_ends() with none to compare. */
		if (w->close_pos == 5)
			w->close = 1;
		w->close_pos = 0;
		w->cur = 0;
		w->tlen = 0;
		w->npos = j - i < UINT16_MAX ? (uint16_t)(j - i) : UINT16_MAX;
		return line_done(w, b, e, n, WS_VALUE_LF);
	}
	name_is_whole(w, names, b + i, j - i);
	name_ends(w, names);
	if (w->cur == WIRE_H_TRACEPARENT) {
		w->tp = (const char *)b + j + 1;
		w->tp_end = (const char *)b + e;
	}
	if (w->cur == WIRE_H_CONNECTION)
		connection_whole(w, b + j + 1, e - j - 1);
	else if (w->cur == WIRE_H_CLEN)
		for (size_t k = j + 1; k < e; k++)
			clen_char(w, b[k]);
	return line_done(w, b, e, n, WS_VALUE_LF);
}

size_t wire_feed(struct wire_scan *w, const struct wire_names *names,
		 const char *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	unsigned char idc = id_first(names);
	uint8_t want = role_names(w->role);
	size_t i = 0;

	while (i < n) {
		unsigned char ch = b[i];

		switch (w->state) {
		case WS_START:
			head_starts(w);
			continue;
		case WS_LINE1:
			if (w->part == 0 && w->line1_pos == 0 && w->method_len == 0) {
				size_t k = w->role == WIRE_RESPONSE ? status_line_whole(w, b, i, n) :
					   request_line_whole(w, b, i, n);

				if (k) {
					i = k;
					continue;
				}
			}
			if (!(w->role == WIRE_REQUEST ? request_line(w, ch) : status_line(w, ch))) {
				w->state = WS_NOT_HTTP;
				return n;
			}
			break;
		case WS_LINE1_LF:
		case WS_VALUE_LF:
			if (ch != '\n') {
				w->state = WS_NOT_HTTP;
				return n;
			}
			w->state = WS_LINE_START;
			break;
		case WS_LINE_START:
			if (ch == '\r' || ch == '\n') {
				if (!w->decided)
					return i;       /* the insertion point */
				if (ch == '\r') {
					w->state = WS_END_LF;
				} else {
					i++;
					head_ends(w);
					continue;
				}
				break;
			}
			if (!http_is_tchar(ch)) {    /* obs-fold, or garbage */
				w->state = WS_NOT_HTTP;
				return n;
			}
			{
				/* Whole lines one after another, without the
				 * switch: most heads are written whole. */
				size_t from = i, k;

				for (;;) {
					i = plain_lines(w, names, idc, want, b, i, n);
					if (i == n || !http_is_tchar(b[i]))
						break;
					if ((k = field_line_whole(w, names, idc, want, b, i, n)) == 0)
						break;
					i = k;
					if (i == n || w->state != WS_LINE_START || !http_is_tchar(b[i]))
						break;
				}
				if (i != from)
					continue;
			}
			w->cand = first_cand(idc, lower(ch), want);
			w->npos = 1;
			w->state = WS_NAME;
			break;
		case WS_NAME:
			if (w->cand == 0) {
				/* No name of interest: only its form matters. */
				while (http_is_tchar(ch) && ++i < n)
					ch = b[i];
				if (i == n)
					return n;
			} else if (w->npos == 1 && i > 0) {
				/* Its first byte was the one before: all of it here? */
				size_t j = name_whole(w, names, b, i, n);

				if (j < n) {
					i = j;
					ch = b[i];
				}
			}
			if (ch == ':') {
				name_ends(w, names);
				w->state = WS_VALUE;
			} else if (http_is_tchar(ch)) {
				name_char(w, names, ch);
			} else {
				w->state = WS_NOT_HTTP;
				return n;
			}
			break;
		case WS_VALUE:
			if (w->cur != WIRE_H_CLEN && w->cur != WIRE_H_CONNECTION) {
				/* A value not followed: to its line's end. */
				i = line_end_from(b, i, n);
				if (i == n)
					return n;
				ch = b[i];
			}
			if (ch == '\r')
				w->state = WS_VALUE_LF;
			else if (ch == '\n')
				w->state = WS_LINE_START;
			else
				value_char(w, ch);
			break;
		case WS_END_LF:
			if (ch != '\n') {
				w->state = WS_NOT_HTTP;
				return n;
			}
			i++;
			head_ends(w);
			continue;
		case WS_BODY: {
			size_t take = n - i < w->left ? n - i : (size_t)w->left;

			w->left -= take;
			i += take;
			if (w->left == 0)
				w->state = WS_START;
			continue;
		}
		default:                /* opaque, done, not HTTP */
			return n;
		}
		i++;
	}
	return n;
}
