/*
 * format.h - renders what goes around a line: the text prefix from
 * REQCTX_FORMAT, or the JSON object of REQCTX_OUTPUT=json. No allocation,
 * no locks: safe wherever the line writer runs.
 */
#ifndef AGENT_FORMAT_H
#define AGENT_FORMAT_H

#include <stddef.h>

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

/*
 * Escapes src[0..n) for a JSON string into dst, as much as fits in cap
 * without splitting an escape. Valid UTF-8 passes through; control bytes,
 * '"' and '\\' are escaped; each byte of an invalid or cut UTF-8 sequence
 * becomes \udcXX (the "surrogateescape" convention), so the original bytes
 * can always be recovered. Sets *used to the source bytes consumed and
 * returns the bytes written.
 */
size_t fmt_escape(char *dst, size_t cap, const char *src, size_t n, size_t *used);

/* RFC 3339 UTC time with microseconds, 27 bytes plus NUL. */
void fmt_time(char dst[28], long sec, long nsec);

#endif
