/*
 * fuzz_proto.c - libFuzzer target for the framed protocol parsers
 * (agent/proto.c). The first byte picks the protocol (FastCGI, uwsgi, SCGI)
 * and the ID header name; the second how the rest is cut into reads. Each
 * read is an exactly-sized copy, so ASan sees a read past its end. Whatever
 * the bytes: the feed never consumes more than it was given and always
 * makes progress, anything adopted is safe to print and really is in the
 * input, a bad parser stays bad, and the result does not depend on how the
 * stream was cut (as long as no read was cut short of an event).
 *
 *   make fuzz-proto        (FUZZ_RUNS executions over the seed corpus)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "X-Request-Id", "X-Correlation-ID", "x" };
static const enum proto protos[] = { PROTO_FCGI, PROTO_UWSGI, PROTO_SCGI };

struct run {
	int heads, begins, bad;
	size_t id_len[8];
	char ids[8][HTTP_ID_MAX + 1];
	bool trace[8];
};

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* FastCGI may split a value over records: what was adopted is then not
 * contiguous in the input, but its bytes are there, in order. */
static bool in_order(const uint8_t *in, size_t n, const char *s, size_t sn)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j < sn; i++)
		if (in[i] == (uint8_t)s[j])
			j++;
	return j == sn;
}

static void check_head(const struct proto_parser *p, const uint8_t *in, size_t n)
{
	const struct http_ids *o = &p->ids;

	CHECK(o->request_id_len <= HTTP_ID_MAX);
	if (o->request_id_len) {
		CHECK(http_valid_id(o->request_id, o->request_id_len));
		CHECK(o->request_id[o->request_id_len] == '\0');
		CHECK(in_order(in, n, o->request_id, o->request_id_len));
	}
	if (o->has_trace) {
		CHECK(lower_hex(o->trace_id, 32) && o->trace_id[32] == '\0');
		CHECK(in_order(in, n, o->trace_id, 32));
	}
}

/* Feeds in[0..n) cut into reads of lengths drawn from `cuts`. */
static void run(enum proto proto, const char *name, const uint8_t *in, size_t n,
		uint8_t cuts, struct run *r)
{
	struct proto_parser p;
	size_t off = 0, k = 0;

	memset(r, 0, sizeof *r);
	memset(&p, 0xa5, sizeof p);
	proto_init(&p, proto, name, strlen(name));
	while (off < n && !r->bad) {
		size_t want = cuts ? (size_t)((cuts >> (k++ % 8)) & 7) + 1 : n - off;
		size_t len = want < n - off ? want : n - off;
		uint8_t *copy = malloc(len);
		size_t used = 0;

		if (copy == NULL)
			abort();
		memcpy(copy, in + off, len);
		while (used < len) {
			enum proto_event ev;
			size_t u = proto_feed(&p, (const char *)copy + used, len - used, &ev);

			CHECK(u <= len - used);
			used += u;
			if (ev == PROTO_EV_NONE) {
				CHECK(used == len);
				break;
			}
			if (ev == PROTO_EV_BAD) {
				enum proto_event ev2;

				r->bad++;
				CHECK(proto_feed(&p, (const char *)copy, len, &ev2) == 0 &&
				      ev2 == PROTO_EV_BAD);
				break;
			}
			CHECK(u > 0);
			if (ev == PROTO_EV_BEGIN)
				r->begins++;
			if (ev == PROTO_EV_HEAD) {
				check_head(&p, in, n);
				if (r->heads < 8) {
					r->id_len[r->heads] = p.ids.request_id_len;
					memcpy(r->ids[r->heads], p.ids.request_id, p.ids.request_id_len + 1);
					r->trace[r->heads] = p.ids.has_trace;
				}
				r->heads++;
			}
		}
		off += len;
		free(copy);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, cut;
	enum proto proto;
	const char *name;

	if (size < 2)
		return 0;
	proto = protos[data[0] % 3];
	name = names[(data[0] / 3) % 3];

	/* detection never reads past its input either */
	{
		uint8_t *copy = malloc(size - 2 ? size - 2 : 1);

		if (copy == NULL)
			return 0;
		memcpy(copy, data + 2, size - 2);
		(void)proto_detect((const char *)copy, size - 2);
		free(copy);
	}

	run(proto, name, data + 2, size - 2, 0, &whole);
	run(proto, name, data + 2, size - 2, data[1] ? data[1] : 1, &cut);
	/* The stream decides, not how it was cut. */
	CHECK(whole.bad == cut.bad && whole.heads == cut.heads && whole.begins == cut.begins);
	for (int i = 0; i < whole.heads && i < 8; i++) {
		CHECK(whole.id_len[i] == cut.id_len[i] && whole.trace[i] == cut.trace[i]);
		CHECK(memcmp(whole.ids[i], cut.ids[i], whole.id_len[i] + 1) == 0);
	}
	return 0;
}
