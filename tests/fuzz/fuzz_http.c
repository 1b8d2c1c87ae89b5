/*
 * fuzz_http.c - libFuzzer target for the HTTP head parser. The first byte
 * picks the ID header name; the rest is what a client sent. Whatever the
 * bytes, the parser must stay inside them (ASan sees to that, as libFuzzer
 * hands over an exactly-sized copy) and anything it adopts must be safe to
 * print and really come from the input. A broken invariant traps.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iagent \
 *	tests/fuzz/fuzz_http.c agent/http.c -o /tmp/fuzz_http
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"X-Request-Id", "X-Correlation-ID", "traceparent", "x",
};

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool all_zero(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name, *buf;
	size_t len;
	struct http_ids o;

	if (size == 0)
		return 0;
	name = names[data[0] % (sizeof names / sizeof names[0])];
	buf = (const char *)data + 1;
	len = size - 1;

	memset(&o, 0xa5, sizeof o);
	http_parse_head(buf, len, name, strlen(name), &o);

	CHECK(o.request_id_len <= HTTP_ID_MAX);
	if (!o.is_http)
		CHECK(o.request_id_len == 0 && !o.has_trace);
	if (o.request_id_len == 0) {
		CHECK(o.request_id[0] == '\0');
	} else {
		CHECK(http_valid_id(o.request_id, o.request_id_len));
		CHECK(o.request_id[o.request_id_len] == '\0');
		CHECK(memmem(buf, len, o.request_id, o.request_id_len) != NULL);
	}
	if (o.has_trace) {
		CHECK(o.trace_id[32] == '\0' && o.parent_id[16] == '\0');
		CHECK(lower_hex(o.trace_id, 32) && lower_hex(o.parent_id, 16));
		CHECK(!all_zero(o.trace_id, 32) && !all_zero(o.parent_id, 16));
		CHECK(memmem(buf, len, o.trace_id, 32) != NULL);
		CHECK(memmem(buf, len, o.parent_id, 16) != NULL);
	} else {
		CHECK(o.trace_id[0] == '\0' && o.parent_id[0] == '\0');
		CHECK(o.trace_flags == 0);
		CHECK(o.tracestate_lines == 0);
	}
	/* tracestate: lines inside the input; what is carried on is safe to
	 * put in a header (no control byte), within its limit, and made of
	 * the input's bytes but the "," that join members. */
	CHECK(o.tracestate_lines >= 0 && o.tracestate_lines <= HTTP_TRACESTATE_LINES);
	if (o.tracestate_lines) {
		char ts[HTTP_TRACESTATE_MAX + 1];
		size_t n;

		for (int i = 0; i < o.tracestate_lines; i++)
			CHECK(o.tracestate[i] >= buf && o.tracestate[i] + o.tracestate_len[i] <= buf + len);
		n = http_tracestate(o.tracestate, o.tracestate_len, o.tracestate_lines, ts);
		CHECK(n <= HTTP_TRACESTATE_MAX && ts[n] == '\0');
		for (size_t i = 0; i < n; i++)
			CHECK(ts[i] >= 0x20 && ts[i] < 0x7f);
		CHECK(n == 0 || (ts[0] != ',' && ts[n - 1] != ',' && ts[n - 1] != ' '));
	}

	/* The parser is a pure function of its input: a second run must agree
	 * byte for byte on everything it reports. */
	{
		struct http_ids p;

		memset(&p, 0x5a, sizeof p);
		http_parse_head(buf, len, name, strlen(name), &p);
		CHECK(p.is_http == o.is_http && p.has_trace == o.has_trace);
		CHECK(p.request_id_len == o.request_id_len);
		CHECK(memcmp(p.request_id, o.request_id, o.request_id_len + 1) == 0);
		if (o.has_trace)
			CHECK(memcmp(p.trace_id, o.trace_id, 33) == 0 &&
			      memcmp(p.parent_id, o.parent_id, 17) == 0 &&
			      p.trace_flags == o.trace_flags);
	}

	/* The same bytes cut short, as a first read that ended early: in an
	 * exactly-sized copy so ASan sees a read past the shorter len. A request
	 * line found in the prefix is found in the whole, and the prefix never
	 * adopts an ID the input does not hold. */
	if (len > 0) {
		struct http_ids q;
		size_t cut = (size_t)data[0] * 7 % len;
		char *copy = malloc(cut ? cut : 1);

		if (copy == NULL)
			return 0;
		memcpy(copy, buf, cut);
		http_parse_head(copy, cut, name, strlen(name), &q);
		if (q.is_http)
			CHECK(o.is_http);
		if (q.request_id_len != 0)
			CHECK(memmem(buf, cut, q.request_id, q.request_id_len) != NULL);
		free(copy);
	}
	return 0;
}
