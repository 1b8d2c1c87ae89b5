/*
 * proto.c - FastCGI, uwsgi and SCGI request heads, followed across reads
 * (see proto.h). Like http.c it runs inside the interposed read() of a
 * server on bytes a remote peer chose: it must never allocate, keep static
 * mutable state, call interposed libc functions or look at buf[len]; every
 * length it is told is checked against what the framing allows before it
 * is trusted, and only http.c's validators decide what is adopted.
 */
#include <string.h>

#include "agent/proto.h"

/* FastCGI record types (the specification's numbering). */
enum {
	FCGI_BEGIN_REQUEST = 1, FCGI_ABORT_REQUEST = 2, FCGI_END_REQUEST = 3,
	FCGI_PARAMS = 4, FCGI_STDIN = 5, FCGI_DATA = 8, FCGI_GET_VALUES = 9,
};

/* Framing stages. */
enum {
	ST_HDR = 0,      /* collecting a record / packet header (or SCGI's length) */
	ST_CONTENT,      /* FastCGI: inside a record's content */
	ST_PAD,          /* FastCGI: inside its padding */
	ST_VARS,         /* uwsgi, SCGI: inside the vars block */
	ST_COMMA,        /* SCGI: the netstring's closing ',' */
	ST_BODY,         /* uwsgi, SCGI: the body, ignored until the server answers */
	ST_BAD,
};

/* Pair decoder stages. */
enum { PS_NLEN = 0, PS_VLEN, PS_NAME, PS_VAL };

#define SCGI_LEN_DIGITS 7        /* a head of up to 9,999,999 bytes */
#define TP_NAME "HTTP_TRACEPARENT"

static void reset_ids(struct http_ids *ids)
{
	ids->is_http = false;
	ids->request_id_len = 0;
	ids->request_id[0] = '\0';
	ids->has_trace = false;
	ids->trace_id[0] = '\0';
	ids->parent_id[0] = '\0';
	ids->trace_flags = 0;
	ids->tracestate_lines = 0;
	ids->body = HTTP_BODY_NONE;
	ids->content_length = 0;
}

static void reset_pairs(struct proto_parser *p)
{
	p->pstage = PS_NLEN;
	p->len_have = 0;
	p->name_len = p->val_len = p->name_pos = p->val_pos = 0;
	p->m_id = p->m_tp = true;
}

void proto_init(struct proto_parser *p, enum proto proto, const char *header,
		size_t header_len)
{
	memset(p, 0, sizeof *p);
	p->proto = (uint8_t)proto;
	p->header = header;
	p->header_len = header ? header_len : 0;
	reset_pairs(p);
	reset_ids(&p->ids);
}

void proto_server_wrote(struct proto_parser *p)
{
	if (p->stage == ST_BAD)
		return;
	if (p->proto == PROTO_FCGI) {
		p->wrote = true;
		return;
	}
	/* uwsgi and SCGI carry one request per packet: what follows the
	 * answer is the next packet's header. */
	p->stage = ST_HDR;
	p->hdr_have = 0;
	p->content_left = 0;
	reset_pairs(p);
}

const char *proto_name(enum proto proto)
{
	switch (proto) {
	case PROTO_SESSION: return "session";
	case PROTO_HTTP: return "http";
	case PROTO_LOST: return "lost";
	case PROTO_FCGI: return "fastcgi";
	case PROTO_UWSGI: return "uwsgi";
	case PROTO_SCGI: return "scgi";
	case PROTO_HTTP_BODY: return "http (a body)";
	default: return "unknown";
	}
}

/* ---- the variables ------------------------------------------------- */

/* The CGI name of the ID header, character by character: "HTTP_", then the
 * header upper-cased with '-' as '_' (what nginx and uWSGI send). */
static char id_name_char(const struct proto_parser *p, uint32_t i)
{
	unsigned char ch;

	if (i < 5)
		return "HTTP_"[i];
	ch = (unsigned char)p->header[i - 5];
	if (ch >= 'a' && ch <= 'z')
		ch = (unsigned char)(ch - ('a' - 'A'));
	else if (ch == '-')
		ch = '_';
	return (char)ch;
}

static void name_byte(struct proto_parser *p, char ch)
{
	uint32_t i = p->name_pos++;

	if (p->m_id && (i >= 5 + p->header_len || id_name_char(p, i) != ch))
		p->m_id = false;
	if (p->m_tp && (i >= sizeof TP_NAME - 1 || TP_NAME[i] != ch))
		p->m_tp = false;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A value is complete: adopt it if its name and its bytes qualify. */
static void value_done(struct proto_parser *p)
{
	const char *v = p->val, *ve;
	bool id = p->m_id && p->header_len > 0 && p->name_pos == 5 + p->header_len;
	bool tp = p->m_tp && p->name_pos == sizeof TP_NAME - 1;

	if ((!id && !tp) || p->val_pos > PROTO_VAL_MAX)
		return;
	ve = p->val + p->val_pos;
	while (v < ve && is_blank(*v))
		v++;
	while (ve > v && is_blank(ve[-1]))
		ve--;
	if (id && p->ids.request_id_len == 0 && http_valid_id(v, (size_t)(ve - v))) {
		memcpy(p->ids.request_id, v, (size_t)(ve - v));
		p->ids.request_id[ve - v] = '\0';
		p->ids.request_id_len = (size_t)(ve - v);
	}
	if (tp && !p->ids.has_trace &&
	    http_parse_traceparent(v, (size_t)(ve - v), p->ids.trace_id,
				   p->ids.parent_id, &p->ids.trace_flags))
		p->ids.has_trace = true;
}

/* One length of a pair: FastCGI's 1 or 4 bytes big-endian (high bit of the
 * first byte set: 4), uwsgi's 2 bytes little-endian. Returns true once the
 * length is complete, in *out. */
static bool len_byte(struct proto_parser *p, unsigned char b, uint32_t *out)
{
	p->lenbuf[p->len_have++] = b;
	if (p->proto == PROTO_FCGI) {
		if (p->len_have == 1 && !(b & 0x80)) {
			*out = b;
			p->len_have = 0;
			return true;
		}
		if (p->len_have < 4)
			return false;
		*out = (uint32_t)(p->lenbuf[0] & 0x7f) << 24 | (uint32_t)p->lenbuf[1] << 16 |
		       (uint32_t)p->lenbuf[2] << 8 | p->lenbuf[3];
	} else {
		if (p->len_have < 2)
			return false;
		*out = (uint32_t)p->lenbuf[0] | (uint32_t)p->lenbuf[1] << 8;
	}
	p->len_have = 0;
	return true;
}

/* Starts the value of the current pair (FastCGI, uwsgi: its length known). */
static void begin_value(struct proto_parser *p)
{
	p->pstage = PS_VAL;
	p->val_pos = 0;
	if (p->val_len == 0) {
		value_done(p);
		reset_pairs(p);
	}
}

/*
 * Feeds up to `len` bytes of variables. Returns the bytes consumed (all of
 * them: pairs may straddle reads and FastCGI records), or (size_t)-1 when a
 * pair's lengths run past the end of the vars block, of which `block` bytes
 * are left from b[0] on (UINT32_MAX when the framing does not bound it).
 */
static size_t pairs_feed(struct proto_parser *p, const unsigned char *b, size_t len,
			 uint32_t block)
{
	size_t i = 0;

	while (i < len) {
		uint32_t n;

		switch (p->pstage) {
		case PS_NLEN:
		case PS_VLEN:
			if (p->proto == PROTO_SCGI) {
				p->pstage = PS_NAME;   /* NUL-terminated: no lengths */
				continue;
			}
			if (!len_byte(p, b[i++], &n))
				break;
			/* uwsgi (the only bounded block with lengths): a name
			 * is followed by its value's 2-byte length */
			if (block != UINT32_MAX &&
			    (uint64_t)n + (p->pstage == PS_NLEN ? 2 : 0) > (uint64_t)block - i)
				return (size_t)-1;
			if (p->pstage == PS_NLEN) {
				p->name_len = n;
				p->name_pos = 0;
				p->m_id = n == 5 + p->header_len && p->header_len > 0;
				p->m_tp = n == sizeof TP_NAME - 1;
				/* FastCGI: both lengths, then the name; uwsgi: the
				 * name's length, the name, the value's length */
				p->pstage = p->proto == PROTO_FCGI || n == 0 ? PS_VLEN : PS_NAME;
			} else {
				p->val_len = n;
				if (p->proto == PROTO_FCGI && p->name_len > 0)
					p->pstage = PS_NAME;
				else
					begin_value(p);
			}
			break;
		case PS_NAME:
			if (p->proto == PROTO_SCGI) {
				const unsigned char *z = memchr(b + i, '\0', len - i);
				size_t end = z ? (size_t)(z - b) : len;

				for (; i < end; i++)
					name_byte(p, (char)b[i]);
				if (z) {
					i++;
					p->pstage = PS_VAL;
					p->val_pos = 0;
				}
				break;
			}
			n = p->name_len - p->name_pos;
			if (n > len - i)
				n = (uint32_t)(len - i);
			for (uint32_t k = 0; k < n; k++)
				name_byte(p, (char)b[i + k]);
			i += n;
			if (p->name_pos < p->name_len)
				break;
			if (p->proto == PROTO_FCGI)
				begin_value(p);
			else
				p->pstage = PS_VLEN;
			break;
		case PS_VAL: {
			bool keep = p->m_id || p->m_tp;
			size_t end;

			if (p->proto == PROTO_SCGI) {
				const unsigned char *z = memchr(b + i, '\0', len - i);

				end = z ? (size_t)(z - b) : len;
			} else {
				end = i + (p->val_len - p->val_pos < len - i ?
					   p->val_len - p->val_pos : len - i);
			}
			if (keep && p->val_pos < PROTO_VAL_MAX + 1) {
				size_t room = PROTO_VAL_MAX + 1 - p->val_pos;
				size_t c = end - i < room ? end - i : room;

				memcpy(p->val + p->val_pos, b + i, c);
			}
			/* saturates: only "longer than the maximum" matters */
			p->val_pos = end - i > UINT32_MAX - p->val_pos ? UINT32_MAX
				     : p->val_pos + (uint32_t)(end - i);
			i = end;
			if (p->proto == PROTO_SCGI) {
				if (i < len) {         /* the NUL */
					i++;
					value_done(p);
					reset_pairs(p);
				}
			} else if (p->val_pos == p->val_len) {
				value_done(p);
				reset_pairs(p);
			}
			break;
		}
		}
	}
	return len;
}

/* True when the pair decoder is between pairs. */
static bool pairs_clean(const struct proto_parser *p)
{
	return p->pstage == PS_NLEN && p->len_have == 0 &&
	       (p->proto != PROTO_SCGI || p->name_pos == 0);
}

/* ---- FastCGI ------------------------------------------------------- */

static size_t bad(struct proto_parser *p, enum proto_event *ev, size_t used)
{
	p->stage = ST_BAD;
	*ev = PROTO_EV_BAD;
	return used;
}

/* A complete record header in p->hdr: what comes next. */
static enum proto_event fcgi_header(struct proto_parser *p)
{
	const uint8_t *h = p->hdr;
	uint8_t type = h[1];
	uint16_t id = (uint16_t)(h[2] << 8 | h[3]);

	if (h[0] != 1)
		return PROTO_EV_BAD;
	p->rec_type = type;
	p->rec_id = id;
	p->content_left = (uint32_t)(h[4] << 8 | h[5]);
	p->pad_left = h[6];
	p->stage = ST_CONTENT;
	if (id == 0)    /* management records (FCGI_GET_VALUES): no request */
		return type >= FCGI_GET_VALUES ? PROTO_EV_NONE : PROTO_EV_BAD;
	switch (type) {
	case FCGI_BEGIN_REQUEST:
		if (p->content_left != 8)
			return PROTO_EV_BAD;
		/* Another request beginning while the last one may still run
		 * (the server has not written since): a multiplexed
		 * connection, whose records the agent cannot attribute. */
		if (p->active && !p->wrote && id != p->req_id)
			return PROTO_EV_BAD;
		p->active = true;
		p->req_id = id;
		p->params_done = false;
		p->wrote = false;
		reset_pairs(p);
		reset_ids(&p->ids);
		return PROTO_EV_BEGIN;
	case FCGI_PARAMS:
		if (!p->active || id != p->req_id)
			return PROTO_EV_BAD;
		if (p->content_left == 0 && !p->params_done) {
			p->params_done = true;
			return PROTO_EV_HEAD;       /* the empty record ends the stream */
		}
		return PROTO_EV_NONE;
	case FCGI_STDIN:
	case FCGI_DATA:
		if (!p->active || id != p->req_id)
			return PROTO_EV_BAD;
		if (!p->params_done) {              /* the params ended unannounced */
			p->params_done = true;
			return PROTO_EV_HEAD;
		}
		return PROTO_EV_NONE;
	case FCGI_ABORT_REQUEST:
		return p->active && id == p->req_id ? PROTO_EV_NONE : PROTO_EV_BAD;
	default:        /* END_REQUEST, STDOUT, ...: never sent to a server */
		return PROTO_EV_BAD;
	}
}

static size_t fcgi_feed(struct proto_parser *p, const unsigned char *b, size_t len,
			enum proto_event *ev)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		switch (p->stage) {
		case ST_HDR:
			n = 8u - p->hdr_have < len - i ? 8u - p->hdr_have : len - i;
			memcpy(p->hdr + p->hdr_have, b + i, n);
			p->hdr_have = (uint8_t)(p->hdr_have + n);
			i += n;
			if (p->hdr_have < 8)
				break;
			p->hdr_have = 0;
			*ev = fcgi_header(p);
			if (*ev == PROTO_EV_BAD)
				return bad(p, ev, i);
			if (*ev != PROTO_EV_NONE)
				return i;
			break;
		case ST_CONTENT:
			if (p->content_left == 0) {
				p->stage = ST_PAD;
				break;
			}
			n = p->content_left < len - i ? p->content_left : len - i;
			if (p->rec_type == FCGI_PARAMS && p->rec_id != 0 && !p->params_done &&
			    pairs_feed(p, b + i, n, UINT32_MAX) == (size_t)-1)
				return bad(p, ev, i);
			p->content_left -= (uint32_t)n;
			i += n;
			break;
		case ST_PAD:
			n = p->pad_left < len - i ? p->pad_left : len - i;
			p->pad_left = (uint8_t)(p->pad_left - n);
			i += n;
			if (p->pad_left == 0)
				p->stage = ST_HDR;
			break;
		default:
			return bad(p, ev, i);
		}
	}
	/* A record that ends exactly here goes on to its padding at once. */
	if (p->stage == ST_CONTENT && p->content_left == 0)
		p->stage = p->pad_left ? ST_PAD : ST_HDR;
	else if (p->stage == ST_PAD && p->pad_left == 0)
		p->stage = ST_HDR;
	return i;
}

/* ---- uwsgi and SCGI ------------------------------------------------ */

/* The vars block of a uwsgi or SCGI packet. */
static size_t vars_feed(struct proto_parser *p, const unsigned char *b, size_t len,
			enum proto_event *ev)
{
	size_t n = p->content_left < len ? p->content_left : len;

	if (n && pairs_feed(p, b, n, p->content_left) == (size_t)-1)
		return bad(p, ev, 0);
	p->content_left -= (uint32_t)n;
	if (p->content_left > 0)
		return n;
	if (!pairs_clean(p))
		return bad(p, ev, n);
	if (p->proto == PROTO_SCGI) {
		p->stage = ST_COMMA;
		return n;
	}
	p->stage = ST_BODY;
	*ev = PROTO_EV_HEAD;
	return n;
}

static size_t packet_feed(struct proto_parser *p, const unsigned char *b, size_t len,
			  enum proto_event *ev)
{
	size_t i = 0;

	while (i < len) {
		switch (p->stage) {
		case ST_HDR:
			if (p->proto == PROTO_UWSGI) {
				p->hdr[p->hdr_have++] = b[i++];
				if (p->hdr_have < 4)
					break;
				p->hdr_have = 0;
				/* modifier1, datasize (little-endian), modifier2 */
				if (p->hdr[3] != 0 || p->hdr[0] >= 32)
					return bad(p, ev, i);
				p->content_left = (uint32_t)p->hdr[1] | (uint32_t)p->hdr[2] << 8;
				if (p->content_left == 0)
					return bad(p, ev, i);
			} else {
				/* SCGI: the netstring's length, then ':' */
				if (b[i] == ':' && p->hdr_have > 0) {
					i++;
					p->hdr_have = 0;
					if (p->content_left == 0)
						return bad(p, ev, i);
				} else if (b[i] >= '0' && b[i] <= '9' && p->hdr_have < SCGI_LEN_DIGITS) {
					p->content_left = p->content_left * 10 + (uint32_t)(b[i++] - '0');
					p->hdr_have++;
					break;
				} else {
					return bad(p, ev, i);
				}
			}
			reset_pairs(p);
			reset_ids(&p->ids);
			p->stage = ST_VARS;
			*ev = PROTO_EV_BEGIN;
			return i;
		case ST_VARS:
			i += vars_feed(p, b + i, len - i, ev);
			if (*ev != PROTO_EV_NONE)
				return i;
			break;
		case ST_COMMA:
			if (b[i++] != ',')
				return bad(p, ev, i);
			p->stage = ST_BODY;
			*ev = PROTO_EV_HEAD;
			return i;
		case ST_BODY:
			return len;
		default:
			return bad(p, ev, i);
		}
	}
	return i;
}

size_t proto_feed(struct proto_parser *p, const char *buf, size_t len,
		  enum proto_event *ev)
{
	*ev = PROTO_EV_NONE;
	if (p->stage == ST_BAD) {
		*ev = PROTO_EV_BAD;
		return 0;
	}
	if (buf == NULL || len == 0)
		return 0;
	if (p->proto == PROTO_FCGI)
		return fcgi_feed(p, (const unsigned char *)buf, len, ev);
	if (p->proto == PROTO_UWSGI || p->proto == PROTO_SCGI)
		return packet_feed(p, (const unsigned char *)buf, len, ev);
	return bad(p, ev, 0);
}

/* ---- recognising a connection's protocol ---------------------------- */

static bool is_tchar(unsigned char ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
		return true;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* An HTTP request line, or what a short read left of the start of one: an
 * uppercase method, then (if the read got that far) a space. */
static bool looks_http(const unsigned char *b, size_t len)
{
	struct http_ids ids;
	size_t i = 0;

	if (len == 0 || b[0] < 'A' || b[0] > 'Z')
		return false;
	http_parse_head((const char *)b, len, NULL, 0, &ids);
	if (ids.is_http)
		return true;
	/* Not a request line: it counts only while no line end came yet. */
	if (memchr(b, '\n', len) != NULL)
		return false;
	while (i < len && i <= 20 && is_tchar(b[i]))
		i++;
	return i == len || (i <= 20 && b[i] == ' ');
}

enum proto proto_detect(const char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;

	if (b == NULL || len == 0)
		return PROTO_SESSION;
	/* FCGI_BEGIN_REQUEST: version 1, type 1, a request ID, 8 bytes of
	 * content, reserved 0. */
	if (len >= 8 && b[0] == 1 && b[1] == 1 && (b[2] | b[3]) != 0 &&
	    b[4] == 0 && b[5] == 8 && b[7] == 0)
		return PROTO_FCGI;
	/* uwsgi: modifier1 (0 for WSGI; below 32), a non-empty size,
	 * modifier2 0; a first var, when it is there, fits and is a name. */
	if (len >= 4 && b[0] < 32 && b[3] == 0 && (b[1] | b[2]) != 0) {
		uint32_t size = (uint32_t)b[1] | (uint32_t)b[2] << 8;

		if (len < 6)
			return PROTO_UWSGI;
		{
			uint32_t klen = (uint32_t)b[4] | (uint32_t)b[5] << 8;

			if (klen >= 1 && klen + 4 <= size &&
			    (len < 7 || (b[6] >= 'A' && b[6] <= 'Z')))
				return PROTO_UWSGI;
		}
	}
	/* SCGI: "<length>:CONTENT_LENGTH\0" */
	if (b[0] >= '0' && b[0] <= '9') {
		size_t i = 0;

		while (i < len && i < SCGI_LEN_DIGITS && b[i] >= '0' && b[i] <= '9')
			i++;
		if (i < len && b[i] == ':' && len - i - 1 >= sizeof "CONTENT_LENGTH" &&
		    memcmp(b + i + 1, "CONTENT_LENGTH", sizeof "CONTENT_LENGTH") == 0)
			return PROTO_SCGI;
		return PROTO_SESSION;
	}
	return looks_http(b, len) ? PROTO_HTTP : PROTO_SESSION;
}
