/*
 * fuzz_wire.c - libFuzzer target for the scanner of the HTTP/1.x messages
 * a program writes (agent/wire.h). The first byte picks the role and how
 * the rest is cut into calls, the second the request-ID header's name
 * (REQCTX_HEADER: any token, a fixed name of interest's included); the
 * rest is what the program wrote. Fed
 * whole, one byte per call, and in the chosen cuts, the scanner must find
 * the same insertion points and end in the same state (its quick paths
 * take lines whole; one byte per call is the byte-by-byte scan they must
 * match), and it must never read past the bytes of a call (ASan sees to
 * that: libFuzzer hands over an exactly-sized copy, and each call's bytes
 * are copied to a buffer of their own size). A broken invariant traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/wire.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define MAX_POINTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names a user may give REQCTX_HEADER: the default, names the scanner
 * also knows, one letter, token characters other than letters. */
static const struct wire_names id_names[] = {
	{ "X-Request-Id", 12 }, { "content-length", 14 }, { "Traceparent", 11 }, { "t", 1 },
	{ "TE", 2 }, { "x_req!~id", 9 }, { "Upgrade", 7 }, { "baggage", 7 },
};
#define ID_NAMES (sizeof id_names / sizeof id_names[0])

struct run {
	struct wire_scan w;
	size_t at[MAX_POINTS];
	int k;
};

/* Feeds p[0..n) in calls of `step` bytes (0: all at once), each copied to
 * its own exact-sized allocation, deciding every insertion point. */
static void feed(struct run *r, enum wire_role role, const struct wire_names *names,
		 const uint8_t *p, size_t n, size_t step)
{
	size_t off = 0;

	wire_init(&r->w, role);
	r->k = 0;
	while (off < n) {
		size_t end = step && off + step < n ? off + step : n, got;
		char *call = malloc(end - off);

		CHECK(call != NULL);
		memcpy(call, p + off, end - off);
		got = wire_feed(&r->w, names, call, end - off);
		free(call);
		CHECK(got <= end - off);
		off += got;
		if (off < end) {
			if (r->k < MAX_POINTS)
				r->at[r->k] = off;
			r->k++;
			r->w.decided = 1;
		}
	}
}

static void same(const struct run *a, const struct run *b)
{
	CHECK(a->k == b->k);
	for (int i = 0; i < a->k && i < MAX_POINTS; i++)
		CHECK(a->at[i] == b->at[i]);
	CHECK(a->w.state == b->w.state);
	CHECK(a->w.have == b->w.have);
	CHECK(a->w.clen == b->w.clen);
	CHECK(a->w.bad_clen == b->w.bad_clen);
	CHECK(a->w.status == b->w.status);
	CHECK(a->w.left == b->w.left);
	CHECK(strcmp(a->w.method, b->w.method) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, bytes, cut;
	const struct wire_names *nm;
	enum wire_role role;

	if (size < 2)
		return 0;
	role = data[0] & 1 ? WIRE_RESPONSE : WIRE_REQUEST;
	nm = &id_names[data[1] % ID_NAMES];
	feed(&whole, role, nm, data + 2, size - 2, 0);
	feed(&bytes, role, nm, data + 2, size - 2, 1);
	same(&whole, &bytes);
	feed(&cut, role, nm, data + 2, size - 2, (size_t)(data[0] >> 1) + 2);
	same(&whole, &cut);
	return 0;
}
