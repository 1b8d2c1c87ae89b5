/*
 * format.h - renders what goes around a line: the text prefix from
 * REQCTX_FORMAT, or the JSON object of REQCTX_OUTPUT=json. No allocation,
 * no locks: safe wherever the line writer runs.
 */
#ifndef AGENT_FORMAT_H
#define AGENT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "base/ctx.h"

#define FMT_HEAD_MAX 1024

/* What starts a line written in context `c` (NULL: no context). Text: the
 * prefix, empty without a context. JSON: the object up to the opening quote
 * of "message". Returns the length written (never more than cap). */
size_t fmt_head(char *dst, size_t cap, const struct config *cfg, const struct ctx *c);

/* Appends ,"name":"value" for each field of `c` at dst[o..cap); returns the
 * new end. */
size_t fmt_fields(char *dst, size_t o, size_t cap, const struct config *cfg, const struct ctx *c);

/* What ends a JSON line (stands for the '\n' the program wrote). */
#define FMT_JSON_END "\"}\n"
#define FMT_JSON_END_LEN 3

/* Bytes the JSON string escape of src[0..n) takes. */
size_t fmt_escape_len(const char *src, size_t n);

/* Writes v in decimal at dst (at most FMT_DECIMAL_MAX bytes, no NUL);
 * returns the length. The one decimal writer of the line and span code. */
#define FMT_DECIMAL_MAX 20
size_t fmt_decimal(char *dst, uint64_t v);

/*
 * Escapes src[0..n) for a JSON string into dst, as much as fits in cap
 * without splitting an escape. Valid UTF-8 passes through; control bytes,
 * '"' and '\\' are escaped; each byte of an invalid or cut UTF-8 sequence
 * becomes \udcXX (the "surrogateescape" convention), so the original bytes
 * can always be recovered. Sets *used to the source bytes consumed and
 * returns the bytes written.
 */
size_t fmt_escape(char *dst, size_t cap, const char *src, size_t n, size_t *used);

/*
 * A cheap structural check of a line the program writes as one JSON object
 * (pino, structlog, zap), fed in pieces up to its newline: optional leading
 * blanks, '{', balanced braces and brackets outside strings, no raw control
 * byte in a string or outside blanks, valid UTF-8, nothing but blanks after
 * the closing '}'. It does not parse JSON.
 * Also notes which of our member names (time, request_id, trace_id,
 * span_id, pid, tid, REQCTX_FIELDS names) are top-level keys of the
 * program's object (a top-level key with a backslash makes it no object).
 */
struct fmt_obj {
	uint32_t clash;           /* bit i: our name i is a top-level key */
	uint32_t lead;            /* bytes through the opening '{' */
	uint16_t depth;
	uint8_t state;            /* enum in format.c */
	bool in_str, esc, members, key_pos, in_key, key_over;
	uint8_t key_len;
	uint8_t u8_need, u8_lo, u8_hi;   /* UTF-8 continuation bytes to come */
	char key[CFG_FIELD_NAME_MAX + 1];
};

enum { FMT_OBJ_NO, FMT_OBJ_MORE, FMT_OBJ_YES };

void fmt_obj_init(struct fmt_obj *o);
/* Feeds src[0..n) (n stops before the line's newline). Returns FMT_OBJ_NO
 * once it cannot be an object line; FMT_OBJ_MORE otherwise. */
int fmt_obj_feed(struct fmt_obj *o, const struct config *cfg, const char *src, size_t n);
/* At the newline: FMT_OBJ_YES if the line was one complete object. */
int fmt_obj_end(const struct fmt_obj *o);

/* From a JSON head (fmt_head, ending in ,"message":"), the head of a
 * merged line: the members only, up to "tid":N, keys clashing with the
 * program's renamed "reqctx.<key>", then ',' unless the program's object
 * is empty. Returns its length, 0 if it does not fit cap. */
size_t fmt_merge_head(char *dst, size_t cap, const char *head, size_t len,
		      const struct config *cfg, const struct fmt_obj *o);

/* RFC 3339 UTC time with microseconds, 27 bytes plus NUL. */
void fmt_time(char dst[28], long sec, long nsec);

#endif
