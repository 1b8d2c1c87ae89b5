/*
 * proto.h - the framed front-end protocols a server reads requests in, seen
 * the way http.c sees an HTTP/1 head: FastCGI (records), uwsgi (a 4-byte
 * header and length-prefixed vars) and SCGI (a netstring of NUL-separated
 * vars). Recognises a connection's protocol from its first bytes and then
 * follows its framing read by read, so a head split over many reads (php-fpm
 * reads each record's 8-byte header, then its content) is still seen whole.
 *
 * Pure functions over a byte range and a caller-owned state: no
 * allocation, no global state, never a read past `len`, linear in the bytes
 * fed. The CGI variables HTTP_<header> (the REQCTX_HEADER name, upper case,
 * '-' as '_') and HTTP_TRACEPARENT are adopted with http.c's rules
 * (http_valid_id, http_parse_traceparent): nothing else is ever copied out.
 */
#ifndef AGENT_PROTO_H
#define AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/http.h"

/* A connection's protocol, as agent/conn.c keeps it in its fd slot. The
 * framed ones (read by proto_feed) come last. */
enum proto {
	PROTO_UNKNOWN = 0,   /* nothing read yet */
	PROTO_SESSION,       /* not understood (PostgreSQL, Redis, MySQL, ...): one context */
	PROTO_HTTP,          /* HTTP/1: a read after a write starts the next request */
	PROTO_LOST,          /* framed, but its framing was lost: carries nothing */
	PROTO_FCGI,
	PROTO_UWSGI,
	PROTO_SCGI,
	PROTO_HTTP_BODY,     /* HTTP/1 inside a request body of known length: its
	                        bytes are the request's (agent/conn.c), answered
	                        early or not; read on the slow path */
};

/* What proto_feed stopped at. */
enum proto_event {
	PROTO_EV_NONE = 0,   /* every byte given was consumed, nothing happened */
	PROTO_EV_BEGIN,      /* a new request begins (FastCGI: FCGI_BEGIN_REQUEST) */
	PROTO_EV_HEAD,       /* a request's variables are complete: see p->ids */
	PROTO_EV_BAD,        /* not (or no longer) this protocol: stop feeding */
};

#define PROTO_VAL_MAX HTTP_ID_MAX   /* longest value kept: longer ones are never valid */

struct proto_parser {
	uint8_t proto;               /* enum proto: PROTO_FCGI, _UWSGI or _SCGI */
	uint8_t stage;               /* framing stage (proto.c) */
	uint8_t hdr_have;
	uint8_t hdr[8];              /* a record / packet header being collected */
	uint8_t rec_type;            /* FastCGI: the current record's type */
	uint8_t pad_left;            /* FastCGI: padding bytes still to skip */
	bool active;                 /* FastCGI: a request has begun */
	bool params_done;            /* FastCGI: its FCGI_PARAMS stream ended */
	bool wrote;                  /* FastCGI: the server wrote since that began */
	bool served;                 /* the caller's: a request of this stream was served */
	uint16_t req_id;             /* FastCGI: the request ID that began */
	uint16_t rec_id;             /* FastCGI: the current record's request ID */
	uint32_t content_left;       /* bytes of the current record / vars block */
	/* the name-value pair decoder */
	uint8_t pstage;
	uint8_t len_have;
	uint8_t lenbuf[4];
	bool m_id, m_tp;             /* the name so far matches HTTP_<header> / HTTP_TRACEPARENT */
	uint32_t name_len, val_len;  /* FastCGI, uwsgi: announced lengths */
	uint32_t name_pos, val_pos;  /* bytes of the name / value seen */
	char val[PROTO_VAL_MAX + 1];
	const char *header;          /* REQCTX_HEADER (not owned), its length */
	size_t header_len;
	struct http_ids ids;         /* what the current request adopted */
};

/*
 * The protocol the first bytes read on a connection are in: PROTO_FCGI
 * (a FCGI_BEGIN_REQUEST header), PROTO_UWSGI (a plausible 4-byte header and,
 * if given, well-formed first var), PROTO_SCGI ("<digits>:CONTENT_LENGTH\0"),
 * PROTO_HTTP (an HTTP/1 request line, or the beginning of one that the read
 * cut short), else PROTO_SESSION. A framed guess is confirmed or refused by
 * proto_feed (PROTO_EV_BAD).
 */
enum proto proto_detect(const char *buf, size_t len);

/* A parser for `proto` at the start of a connection's byte stream. `header`
 * is the ID header's name (not copied: it must outlive the parser). */
void proto_init(struct proto_parser *p, enum proto proto, const char *header,
		size_t header_len);

/* uwsgi, SCGI: the server answered; the next bytes are a new request's
 * header (a keep-alive connection). FastCGI: notes that the server wrote
 * (its records carry request IDs, so it needs no restart). */
void proto_server_wrote(struct proto_parser *p);

/*
 * Feeds buf[0..len) (the next bytes of the stream). Returns how many were
 * consumed and sets *ev: the feed stops right after an event, so the caller
 * handles events in stream order and feeds the rest again. PROTO_EV_BAD
 * consumes nothing more; the parser stays bad.
 */
size_t proto_feed(struct proto_parser *p, const char *buf, size_t len,
		  enum proto_event *ev);

/* A readable name of a protocol, for the diagnostics. */
const char *proto_name(enum proto proto);

#endif
