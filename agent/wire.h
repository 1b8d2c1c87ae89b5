/*
 * wire.h - follows the HTTP/1.x messages a program writes on one
 * connection, byte by byte, across however many calls they take: where a
 * head starts, whether it is well formed, which headers it already has,
 * where its blank line is (the one place the agent may insert headers),
 * and where its body ends (so the next pipelined head is found).
 *
 * Pure: no allocation, no I/O, no globals; state is a small struct the
 * caller keeps per fd. Linear in the bytes fed, never looks past them.
 */
#ifndef AGENT_WIRE_H
#define AGENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wire_role {
	WIRE_REQUEST,    /* requests the program sends on a connection it opened */
	WIRE_RESPONSE,   /* responses a server writes to its client */
};

/* Headers the scanner recognises by name (bits of wire_scan.have). */
#define WIRE_H_TRACEPARENT 1u
#define WIRE_H_ID          2u    /* the request-ID header (REQCTX_HEADER) */
#define WIRE_H_BAGGAGE     4u
#define WIRE_H_CLEN        8u
#define WIRE_H_TE          16u
#define WIRE_H_UPGRADE     32u
#define WIRE_H_CONNECTION  64u
#define WIRE_H_TRACESTATE  128u
#define WIRE_NAMES 8

enum wire_state {
	WS_START = 0,    /* the next byte starts a message head */
	WS_LINE1,        /* in the request or status line */
	WS_LINE1_LF,     /* its CR seen */
	WS_LINE_START,   /* at the start of a header line or the blank line */
	WS_NAME,         /* in a header name */
	WS_VALUE,        /* in a header value */
	WS_VALUE_LF,     /* its CR seen */
	WS_END_LF,       /* the blank line's CR seen */
	WS_BODY,         /* `left` body bytes to go, then WS_START */
	WS_OPAQUE,       /* unknown until the program reads a reply (wire_reset) */
	WS_DONE,         /* response role: the head is out; nothing more to do */
	WS_NOT_HTTP,     /* this connection does not speak HTTP/1: never again */
};

struct wire_scan {
	uint8_t role;            /* enum wire_role */
	uint8_t state;           /* enum wire_state */
	uint8_t have;            /* WIRE_H_* headers present in this head (in a
	                            response, only WIRE_H_ID and WIRE_H_CONNECTION
	                            are looked for) */
	uint8_t cand;            /* names still matching the current name */
	uint8_t cur;             /* the header the current line is (one WIRE_H_ bit) */
	uint8_t decided;         /* the insertion point of this head was decided */
	uint8_t bad_clen;        /* Content-Length not a plain number */
	uint8_t close_pos;       /* Connection: how much of the token "close" the
	                            current list element matched (6: mismatched) */
	uint8_t close;           /* a Connection header of this head lists "close" */
	uint8_t line1_pos;       /* position in the fixed parts of line 1 */
	uint8_t part;            /* which part of line 1 */
	uint8_t method_len;
	uint8_t tp_lines;        /* request role: traceparent lines in this head (2: two or more) */
	uint16_t status;         /* response role: the status code */
	uint16_t npos;           /* position in the current name */
	uint32_t tlen;           /* bytes of the current token (target, reason) */
	uint64_t clen;           /* Content-Length of this head (request role) */
	uint64_t left;           /* WS_BODY: bytes to go */
	char method[16];         /* request role: the method, NUL-terminated */
	/* A traceparent line whose value was whole in the bytes of one
	 * wire_feed() call: its value, with its optional whitespace, at
	 * [tp, tp_end) of them. Never read here: its caller clears tp before
	 * the calls whose bytes it looks at, and reads it while they are
	 * valid (agent/propagate.c). */
	const char *tp, *tp_end;
};

/* The request-ID header's name, for the name matching (REQCTX_HEADER). */
struct wire_names {
	const char *id;
	size_t id_len;
};

void wire_init(struct wire_scan *w, enum wire_role role);

/* A reply was read (request role): a message whose end the scanner could
 * not follow (chunked, upgraded) is over; the next write starts a head. */
void wire_reply_read(struct wire_scan *w);

/*
 * Feeds p[0..n). Stops early, returning the offset, at the insertion
 * point of a well-formed head that is not yet decided: the start of its
 * blank line (the byte there is its CR or LF, not yet consumed). The
 * caller decides (inserts there or not), sets w->decided = 1 and feeds
 * again from that offset. Otherwise returns n.
 */
size_t wire_feed(struct wire_scan *w, const struct wire_names *names,
		 const char *p, size_t n);

/* True while the head being written may still get headers inserted, or
 * the scanner needs to see the bytes (anything but WS_DONE/WS_NOT_HTTP). */
static inline bool wire_watching(const struct wire_scan *w)
{
	return w->state != WS_DONE && w->state != WS_NOT_HTTP;
}

#endif
