/*
 * http.c - decides whether the first bytes read on a connection are an
 * HTTP/1.x request and, if so, adopts the request ID and the W3C
 * traceparent from its head.
 *
 * It runs inside the interposed read() of every server the agent is loaded
 * into, on bytes a remote client chose. So it must never allocate, keep
 * global or static mutable state, call any libc I/O or printing function
 * (those are the interposed ones), or look at buf[len] or beyond; and it
 * must stay linear in len. Anything it adopts ends up on the server's
 * stderr, hence the strict character set for IDs.
 */
#include <string.h>

#include "agent/http.h"

#define METHOD_MAX 20
#define TRACEPARENT_LEN 55      /* "00-" 32 hex "-" 16 hex "-" 2 hex */

/* RFC 9110 5.6.2 tchar: DIGIT, ALPHA and !#$%&'*+-.^_`|~, each mapped to
 * itself with letters lowered; every other byte to 0. */
const unsigned char http_token_lc[256] = {
	['!'] = '!', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'',
	['*'] = '*', ['+'] = '+', ['-'] = '-', ['.'] = '.', ['^'] = '^', ['_'] = '_',
	['`'] = '`', ['|'] = '|', ['~'] = '~',
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
#define LETTER(c) [c] = c, [c - 'a' + 'A'] = c
	LETTER('a'), LETTER('b'), LETTER('c'), LETTER('d'), LETTER('e'), LETTER('f'),
	LETTER('g'), LETTER('h'), LETTER('i'), LETTER('j'), LETTER('k'), LETTER('l'),
	LETTER('m'), LETTER('n'), LETTER('o'), LETTER('p'), LETTER('q'), LETTER('r'),
	LETTER('s'), LETTER('t'), LETTER('u'), LETTER('v'), LETTER('w'), LETTER('x'),
	LETTER('y'), LETTER('z'),
#undef LETTER
};

/* The bytes a request ID may hold: letters, digits and "-._:/+=@". A
 * table, one load a byte. */
static const bool id_chars[256] = {
	['0' ... '9'] = true, ['a' ... 'z'] = true, ['A' ... 'Z'] = true,
	['-'] = true, ['.'] = true, ['_'] = true, [':'] = true, ['/'] = true, ['+'] = true,
	['='] = true, ['@'] = true,
};

static inline bool is_id_char(unsigned char ch)
{
	return id_chars[ch];
}

/* Whether every byte of v[0..n) passes `byte_ok`, where the bytes of
 * v[0..avail) may be read (avail >= n): with SSE2 sixteen at a time by
 * `mask16` (a bit per byte that passes), the last sixteen of a run that
 * long read overlapping the ones before, and a run shorter than sixteen
 * in one load when sixteen bytes can be read there (the bits past n not
 * looked at). */
#if defined(__SSE2__)
#define ALL_BYTES(v, n, avail, mask16, byte_ok) __extension__ ({ \
		const unsigned char *b_ = (const unsigned char *)(v); \
		size_t n_ = (n), i_ = 0; \
		bool ok_ = true; \
		if (n_ >= 16) { \
			for (; ok_ && n_ - i_ >= 16; i_ += 16) \
				ok_ = mask16(_mm_loadu_si128((const __m128i *)(const void *)(b_ + i_))) == 0xffff; \
			if (ok_ && i_ < n_) \
				ok_ = mask16(_mm_loadu_si128((const __m128i *)(const void *)(b_ + n_ - 16))) == 0xffff; \
		} else if ((avail) >= 16) { \
			unsigned want_ = (1u << n_) - 1; \
			ok_ = (mask16(_mm_loadu_si128((const __m128i *)(const void *)b_)) & want_) == want_; \
		} else { \
			for (; ok_ && i_ < n_; i_++) \
				ok_ = byte_ok(b_[i_]); \
		} \
		ok_; })

/* Of sixteen bytes, a bit for each byte a request ID may hold. */
static inline unsigned id_mask16(__m128i x)
{
	__m128i p = _mm_or_si128(
		_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')), _mm_cmpeq_epi8(x, _mm_set1_epi8('_'))),
			     _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')), _mm_cmpeq_epi8(x, _mm_set1_epi8('/')))),
		_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('+')), _mm_cmpeq_epi8(x, _mm_set1_epi8('='))),
			     _mm_cmpeq_epi8(x, _mm_set1_epi8('@'))));

	return http_token_mask16(x) | (unsigned)_mm_movemask_epi8(p);
}

/* Of sixteen bytes, a bit for each lowercase hex digit. */
static inline unsigned lower_hex_mask16(__m128i x)
{
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0')), h = _mm_sub_epi8(x, _mm_set1_epi8('a'));

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d),
							_mm_cmpeq_epi8(_mm_min_epu8(h, _mm_set1_epi8(5)), h)));
}
#else
#define ALL_BYTES(v, n, avail, mask16, byte_ok) __extension__ ({ \
		const unsigned char *b_ = (const unsigned char *)(v); \
		size_t n_ = (n), i_ = 0; \
		(void)(avail); \
		while (i_ < n_ && byte_ok(b_[i_])) \
			i_++; \
		i_ == n_; })
#endif

/* Trace Context allows lowercase hex only; uppercase is a malformed value. */
static bool is_lower_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* Whether v[0..n) is all lowercase hex; v[0..avail) may be read. */
static bool all_lower_hex(const char *v, size_t n, size_t avail)
{
	return ALL_BYTES(v, n, avail, lower_hex_mask16, is_lower_hex);
}

static bool all_zero(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != '0')
			return false;
	return true;
}

static unsigned hex_value(unsigned char ch)
{
	return ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(ch - 'a' + 10);
}

/* Whether the field name name[0..n) is want[0..wn), a token (the
 * configured header is checked to be one: config.c), in any case. One
 * table load a byte folds the case and turns a byte that is no token
 * character into 0, which no byte of `want` is. Hand-written rather
 * than strncasecmp: names may hold NUL bytes, and the C library's
 * version may consult the locale. */
static bool name_is(const char *name, size_t n, const char *want, size_t wn)
{
	if (n != wn || http_token_lc[(unsigned char)name[0]] != http_token_lc[(unsigned char)want[0]])
		return false;
	if (memcmp(name, want, n) == 0)
		return true;            /* as configured, byte for byte: the usual case */
	for (size_t i = 1; i < n; i++)
		if (http_token_lc[(unsigned char)name[i]] != http_token_lc[(unsigned char)want[i]])
			return false;
	return true;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* memchr(p, c, n) for the short runs of a head (a line, a name): inline,
 * sixteen bytes at a time with SSE2, without the call and the setup of
 * the C library's, which pays for long runs. */
static inline const char *find_byte(const char *p, int c, size_t n)
{
	size_t i = 0;
#if defined(__SSE2__)
	const __m128i want = _mm_set1_epi8((char)c);

	for (; n - i >= 16; i += 16) {
		unsigned hit = (unsigned)_mm_movemask_epi8(
			_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), want));

		if (hit)
			return p + i + __builtin_ctz(hit);
	}
#endif
	for (; i < n; i++)
		if (p[i] == (char)c)
			return p + i;
	return NULL;
}

/* http_valid_id(v, n) where v[0..avail) may be read. */
static bool valid_id_in(const char *v, size_t n, size_t avail)
{
	if (n < 1 || n > HTTP_ID_MAX)
		return false;
	return ALL_BYTES(v, n, avail, id_mask16, is_id_char);
}

bool http_valid_id(const char *v, size_t n)
{
	return valid_id_in(v, n, n);
}

bool http_parse_traceparent(const char *v, size_t n, char trace_id[33],
			    char parent_id[17], uint8_t *flags)
{
	if (n < TRACEPARENT_LEN)
		return false;
	if (!is_lower_hex((unsigned char)v[0]) || !is_lower_hex((unsigned char)v[1]) ||
	    (v[0] == 'f' && v[1] == 'f'))
		return false;
	/* Version 00 has exactly four fields; a later version may append
	 * fields, but only after another '-'. */
	if (v[0] == '0' && v[1] == '0') {
		if (n != TRACEPARENT_LEN)
			return false;
	} else if (n > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != '-') {
		return false;
	}
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return false;
	if (!all_lower_hex(v + 3, 32, n - 3) || !all_lower_hex(v + 36, 16, n - 36) ||
	    !is_lower_hex((unsigned char)v[53]) || !is_lower_hex((unsigned char)v[54]))
		return false;
	if (all_zero(v + 3, 32) || all_zero(v + 36, 16))
		return false;
	memcpy(trace_id, v + 3, 32);
	trace_id[32] = '\0';
	memcpy(parent_id, v + 36, 16);
	parent_id[16] = '\0';
	*flags = (uint8_t)(hex_value((unsigned char)v[53]) << 4 |
			   hex_value((unsigned char)v[54]));
	return true;
}

/*
 * Returns the offset just past the request line "METHOD SP target SP
 * HTTP/1.d" and its CRLF or LF, or 0 when buf does not start with one.
 * A line whose end is not within len is not a request line yet.
 */
static size_t request_line_end(const unsigned char *b, size_t len)
{
	size_t i, start;

	i = http_token_end(b, 0, len < METHOD_MAX + 1 ? len : METHOD_MAX + 1);
	if (i == 0 || i > METHOD_MAX || i >= len || b[i] != ' ')
		return 0;
	start = ++i;
	i = http_target_end(b, start, len);
	if (i == start || i >= len || b[i] != ' ')
		return 0;
	i++;
	if (len - i < 8 || memcmp(b + i, "HTTP/1.", 7) != 0 ||
	    b[i + 7] < '0' || b[i + 7] > '9')
		return 0;
	i += 8;
	if (i < len && b[i] == '\n')
		return i + 1;
	if (len - i >= 2 && b[i] == '\r' && b[i + 1] == '\n')
		return i + 2;
	return 0;
}

bool http_request_line(const char *buf, size_t len, const char **method, size_t *mlen,
		       const char **target, size_t *tlen)
{
	const char *sp1, *sp2;

	if (buf == NULL || request_line_end((const unsigned char *)buf, len) == 0)
		return false;
	/* Checked above: METHOD SP target SP HTTP/1.d */
	sp1 = memchr(buf, ' ', len);
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - buf));
	*method = buf;
	*mlen = (size_t)(sp1 - buf);
	*target = sp1 + 1;
	*tlen = (size_t)(sp2 - sp1 - 1);
	return true;
}

/*
 * A header's value is only known to be complete once the next line is seen
 * not to start with SP or HT: an obsolete fold would continue it, and the
 * folded value holds whitespace, so it is not a valid ID or traceparent.
 * Candidates therefore wait in `out` as "pending" until the next line
 * starts (commit) or turns out to be a fold (drop).
 */
struct scan {
	bool id_pending;
	size_t id_len;
	bool trace_pending;
	bool length_line;      /* the line was a Content-Length (a fold spoils it) */
	bool ts_pending;       /* the line was a tracestate */
	bool ts_bad;           /* a tracestate folded, or more lines than kept */
	int tp_lines;          /* traceparent lines */
};

static void commit(struct scan *s, struct http_ids *out)
{
	if (s->id_pending)
		out->request_id_len = s->id_len;
	if (s->trace_pending)
		out->has_trace = true;
	s->id_pending = s->trace_pending = s->length_line = s->ts_pending = false;
}

static void drop(struct scan *s, struct http_ids *out)
{
	if (s->ts_pending)
		s->ts_bad = true;
	if (s->id_pending)
		out->request_id[0] = '\0';
	if (s->trace_pending) {
		out->trace_id[0] = '\0';
		out->parent_id[0] = '\0';
		out->trace_flags = 0;
	}
	if (s->length_line)
		out->body = HTTP_BODY_OTHER;
	s->id_pending = s->trace_pending = s->length_line = s->ts_pending = false;
}

/* tracestate (3.3.1.3): key and value characters. */
static bool ts_key_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
	       ch == '*' || ch == '/';
}

static bool ts_key(const char *k, size_t n)
{
	const char *at = memchr(k, '@', n);

	if (at == NULL) {        /* simple-key: lcalpha 0*255(...) */
		if (n < 1 || n > 256 || k[0] < 'a' || k[0] > 'z')
			return false;
		for (size_t i = 1; i < n; i++)
			if (!ts_key_char((unsigned char)k[i]))
				return false;
		return true;
	}
	/* tenant-id "@" system-id: (lcalpha / DIGIT) 0*240(...), lcalpha 0*13(...) */
	size_t t = (size_t)(at - k), sy = n - t - 1;

	if (t < 1 || t > 241 || sy < 1 || sy > 14 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')) ||
	    at[1] < 'a' || at[1] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (i != t && !ts_key_char((unsigned char)k[i]))
			return false;
	return true;
}

static bool ts_value(const char *v, size_t n)
{
	if (n < 1 || n > 256 || v[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch < 0x20 || ch > 0x7e || ch == ',' || ch == '=')
			return false;
	}
	return true;
}

size_t http_tracestate(const char *const *parts, const size_t *lens, int n,
		       char out[HTTP_TRACESTATE_MAX + 1])
{
	struct { const char *p; size_t len, key; } m[32];
	int nm = 0;
	size_t total = 0, o = 0;

	out[0] = '\0';

	for (int i = 0; i < n; i++) {
		const char *p = parts[i], *end = p + lens[i];

		while (p <= end) {
			const char *c = memchr(p, ',', (size_t)(end - p)), *me = c ? c : end, *eq;

			while (p < me && is_blank(*p))
				p++;
			while (me > p && is_blank(me[-1]))
				me--;
			if (me > p) {
				if (nm == 32)
					return 0;
				eq = memchr(p, '=', (size_t)(me - p));
				if (eq == NULL || !ts_key(p, (size_t)(eq - p)) ||
				    !ts_value(eq + 1, (size_t)(me - eq - 1)))
					return 0;
				for (int k = 0; k < nm; k++)
					if (m[k].key == (size_t)(eq - p) && memcmp(m[k].p, p, m[k].key) == 0)
						return 0;       /* a key twice */
				m[nm].p = p;
				m[nm].len = (size_t)(me - p);
				m[nm].key = (size_t)(eq - p);
				total += m[nm].len + (nm > 0);
				nm++;
			}
			if (c == NULL)
				break;
			p = c + 1;
		}
	}
	/* Too long: members over 128 bytes go first, then from the end. */
	for (int k = 0; total > HTTP_TRACESTATE_MAX && k < nm; k++)
		if (m[k].len > 128) {
			total -= m[k].len + 1;
			m[k].len = 0;
		}
	for (int k = nm - 1; total > HTTP_TRACESTATE_MAX && k >= 0; k--)
		if (m[k].len) {
			total -= m[k].len + 1;
			m[k].len = 0;
		}
	for (int k = 0; k < nm; k++) {
		if (m[k].len == 0)
			continue;
		if (o)
			out[o++] = ',';
		memcpy(out + o, m[k].p, m[k].len);
		o += m[k].len;
	}
	out[o] = '\0';
	return o;
}

/* A Content-Length value v[0..n) (RFC 9110, 8.6: 1*DIGIT). A second one
 * with the same value changes nothing; any other makes the framing one the
 * agent does not follow, as does Transfer-Encoding (header_line). */
static void content_length(const char *v, size_t n, struct http_ids *out)
{
	uint64_t len = 0;

	if (out->body == HTTP_BODY_OTHER)
		return;
	if (n == 0 || n > 18) {
		out->body = HTTP_BODY_OTHER;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9') {
			out->body = HTTP_BODY_OTHER;
			return;
		}
		len = len * 10 + (uint64_t)(v[i] - '0');
	}
	if (out->body == HTTP_BODY_LENGTH && out->content_length != len) {
		out->body = HTTP_BODY_OTHER;
		return;
	}
	out->body = HTTP_BODY_LENGTH;
	out->content_length = len;
}

/* One complete header line [l, e) without its line end, in a buffer
 * that ends at `end`. */
static void header_line(const char *l, const char *e, const char *end, const char *header,
			size_t header_len, struct scan *s, struct http_ids *out)
{
	/* A name of interest only where its first byte is one's (most
	 * lines are no such line: nothing more is looked at). */
	unsigned char c0 = http_token_lc[(unsigned char)l[0]];
	bool id_first = header_len > 0 && out->request_id_len == 0 &&
			c0 == http_token_lc[(unsigned char)header[0]];
	const char *colon, *v, *ve;
	size_t nlen;

	if (!id_first && c0 != 't' && c0 != 'c')
		return;
	colon = find_byte(l, ':', (size_t)(e - l));
	if (colon == NULL)
		return;
	nlen = (size_t)(colon - l);
	v = colon + 1;
	ve = e;
	while (v < ve && is_blank(*v))
		v++;
	while (ve > v && is_blank(ve[-1]))
		ve--;

	if (id_first && name_is(l, nlen, header, header_len) &&
	    valid_id_in(v, (size_t)(ve - v), (size_t)(end - v))) {
		s->id_len = (size_t)(ve - v);
		memcpy(out->request_id, v, s->id_len);
		out->request_id[s->id_len] = '\0';
		s->id_pending = true;
	}
	if (name_is(l, nlen, "tracestate", sizeof "tracestate" - 1)) {
		if (out->tracestate_lines == HTTP_TRACESTATE_LINES) {
			s->ts_bad = true;
		} else {
			out->tracestate[out->tracestate_lines] = v;
			out->tracestate_len[out->tracestate_lines++] = (size_t)(ve - v);
			s->ts_pending = true;
		}
	}
	if (name_is(l, nlen, "traceparent", sizeof "traceparent" - 1))
		s->tp_lines++;
	if (!out->has_trace &&
	    name_is(l, nlen, "traceparent", sizeof "traceparent" - 1) &&
	    http_parse_traceparent(v, (size_t)(ve - v), out->trace_id,
				   out->parent_id, &out->trace_flags))
		s->trace_pending = true;
	if (name_is(l, nlen, "content-length", sizeof "content-length" - 1)) {
		content_length(v, (size_t)(ve - v), out);
		s->length_line = true;
	} else if (name_is(l, nlen, "transfer-encoding", sizeof "transfer-encoding" - 1)) {
		out->body = HTTP_BODY_OTHER;
	}
}

void http_parse_head(const char *buf, size_t len, const char *header,
		     size_t header_len, struct http_ids *out)
{
	struct scan s = { .id_pending = false };
	size_t pos;

	out->is_http = false;
	out->request_id_len = 0;
	out->request_id[0] = '\0';
	out->has_trace = false;
	out->trace_id[0] = '\0';
	out->parent_id[0] = '\0';
	out->trace_flags = 0;
	out->tracestate_lines = 0;
	out->body = HTTP_BODY_NONE;
	out->content_length = 0;

	if (buf == NULL)
		return;
	pos = request_line_end((const unsigned char *)buf, len);
	if (pos == 0)
		return;
	out->is_http = true;
	if (header == NULL)
		header_len = 0;

	/* Each step finds the next LF and never revisits bytes,
	 * so the scan is linear in len. */
	while (pos < len) {
		const char *l = buf + pos, *lf, *e;

		if (is_blank(*l)) {
			/* obs-fold: continues the previous header, even when
			 * its own line end has not arrived yet. */
			drop(&s, out);
			lf = find_byte(l, '\n', len - pos);
			if (lf == NULL)
				break;
			pos = (size_t)(lf - buf) + 1;
			continue;
		}
		commit(&s, out);
		lf = find_byte(l, '\n', len - pos);
		if (lf == NULL)
			break;          /* truncated line: never adopted */
		e = lf;
		if (e > l && e[-1] == '\r')
			e--;
		if (e == l)
			break;          /* blank line: end of the head */
		header_line(l, e, buf + len, header, header_len, &s, out);
		pos = (size_t)(lf - buf) + 1;
	}
	commit(&s, out);
	/* Two traceparent lines are one invalid value (an HTTP field
	 * repeated is its values joined by commas): which caller's trace
	 * this is, is not known, and the request starts its own (as W3C
	 * Trace Context's test suite expects). */
	if (s.tp_lines > 1 && out->has_trace) {
		out->has_trace = false;
		out->trace_id[0] = out->parent_id[0] = '\0';
		out->trace_flags = 0;
	}
	/* tracestate only with a valid traceparent (3.3.1) */
	if (!out->has_trace || s.ts_bad)
		out->tracestate_lines = 0;
}
