/*
 * fields.h - REQCTX_FIELDS: context fields copied from request headers
 * (and from W3C baggage entries of the same name), sanitised so that they
 * can go into a text prefix, a JSON member and a baggage value as they are.
 * Pure: no allocation, no I/O, never a read past `len`.
 */
#ifndef AGENT_FIELDS_H
#define AGENT_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "base/ctx.h"

struct fields {
	uint8_t len[CTX_FIELDS];                 /* 0: not set */
	char val[CTX_FIELDS][CTX_FIELD_MAX + 1];
	int count;                               /* fields set */
};

/*
 * Scans the header lines of the request head in buf[0..len) (the request
 * line is skipped; scanning stops at the blank line or the last complete
 * line). A field's own header wins over a baggage entry named like the
 * field. Values are trimmed, cut at 64 bytes, and every byte outside
 * [A-Za-z0-9-._:/+=@%] becomes '_'.
 */
void fields_from_head(const char *buf, size_t len, const struct config *cfg, struct fields *out);

/* Renders "k=v,k2=v2" for the fields `c` has into dst; returns the length
 * (0: none, or they do not fit). */
size_t fields_baggage(char *dst, size_t cap, const struct config *cfg, const struct ctx *c);

#endif
