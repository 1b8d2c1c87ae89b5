/*
 * test_proto.c - the framed front-end protocols (agent/proto.c): which
 * first bytes are recognised as FastCGI, uwsgi, SCGI, HTTP or a session
 * protocol; that heads are followed whole when split at every possible
 * place (a read per byte, php-fpm's header-then-content reads); that
 * multiplexed, malformed and hostile streams adopt nothing and go bad
 * rather than guess. Every chunk is fed from right before an inaccessible
 * page, so a read past its end crashes the test.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/proto.h"
#include "suites.h"

#define UNIT_SUITE proto
#define UNIT_TCASE detect

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define HDR "X-Request-Id"

struct buf {
	unsigned char b[16384];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	ck_assert_uint_le(o->n + n, sizeof o->b);
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put_byte(struct buf *o, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(o, &c, 1);
}

/* ---- FastCGI builders ---- */

static void fcgi_rec(struct buf *o, unsigned type, unsigned id, const void *c, size_t n,
		     unsigned pad)
{
	unsigned char h[8] = { 1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
			       (unsigned char)(n >> 8), (unsigned char)n, (unsigned char)pad, 0 };
	static const unsigned char zeros[256];

	put(o, h, 8);
	put(o, c, n);
	put(o, zeros, pad);
}

static void fcgi_len(struct buf *o, size_t n)
{
	if (n < 128) {
		put_byte(o, (unsigned)n);
	} else {
		put_byte(o, (unsigned)(n >> 24) | 0x80);
		put_byte(o, (unsigned)(n >> 16) & 0xff);
		put_byte(o, (unsigned)(n >> 8) & 0xff);
		put_byte(o, (unsigned)n & 0xff);
	}
}

static void fcgi_pair(struct buf *o, const char *k, const char *v)
{
	fcgi_len(o, strlen(k));
	fcgi_len(o, strlen(v));
	put(o, k, strlen(k));
	put(o, v, strlen(v));
}

static void fcgi_begin(struct buf *o, unsigned id)
{
	static const unsigned char body[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };

	fcgi_rec(o, 1, id, body, 8, 0);
}

/* A whole request: BEGIN, the params in records of at most `per` bytes,
 * the empty PARAMS record, one STDIN record and the empty one. */
static void fcgi_request(struct buf *o, unsigned id, const struct buf *params, size_t per)
{
	fcgi_begin(o, id);
	for (size_t i = 0; i < params->n; i += per) {
		size_t n = params->n - i < per ? params->n - i : per;

		fcgi_rec(o, 4, id, params->b + i, n, (unsigned)(8 - n % 8) % 8);
	}
	fcgi_rec(o, 4, id, "", 0, 0);
	fcgi_rec(o, 5, id, "a=1", 3, 5);
	fcgi_rec(o, 5, id, "", 0, 0);
}

static void std_params(struct buf *p, const char *id, const char *tp)
{
	p->n = 0;
	fcgi_pair(p, "SCRIPT_FILENAME", "/srv/www/index.php");
	fcgi_pair(p, "QUERY_STRING", "id=x");
	fcgi_pair(p, "REQUEST_METHOD", "GET");
	fcgi_pair(p, "HTTP_HOST", "127.0.0.1");
	if (id)
		fcgi_pair(p, "HTTP_X_REQUEST_ID", id);
	if (tp)
		fcgi_pair(p, "HTTP_TRACEPARENT", tp);
	fcgi_pair(p, "HTTP_ACCEPT", "*/*");
}

/* ---- feeding ---- */

struct result {
	int begins, heads, bad;
	char last_id[HTTP_ID_MAX + 1];
	size_t last_id_len;
	bool last_trace;
	char seq[64];            /* B, H, X per event, in order */
	size_t nseq;
};

/* Copies data[0..n) to the end of a mapping followed by a PROT_NONE page
 * and feeds it; the chunk is released after. */
static void feed_guarded(struct proto_parser *p, const unsigned char *data, size_t n,
			 struct result *r)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = n == 0 ? pg : (n + pg - 1) / pg * pg;
	char *base = mmap(NULL, span + pg, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b;
	size_t off = 0;

	ck_assert_ptr_ne(base, MAP_FAILED);
	ck_assert_int_eq(mprotect(base + span, pg, PROT_NONE), 0);
	b = base + span - n;
	memcpy(b, data, n);
	while (off < n) {
		enum proto_event ev;
		size_t used = proto_feed(p, b + off, n - off, &ev);

		ck_assert_uint_le(used, n - off);
		off += used;
		if (ev == PROTO_EV_NONE) {
			ck_assert_uint_eq(off, n);
			break;
		}
		if (r->nseq < sizeof r->seq - 1)
			r->seq[r->nseq++] = ev == PROTO_EV_BEGIN ? 'B' : ev == PROTO_EV_HEAD ? 'H' : 'X';
		if (ev == PROTO_EV_BEGIN)
			r->begins++;
		if (ev == PROTO_EV_HEAD) {
			r->heads++;
			r->last_id_len = p->ids.request_id_len;
			memcpy(r->last_id, p->ids.request_id, p->ids.request_id_len + 1);
			r->last_trace = p->ids.has_trace;
		}
		if (ev == PROTO_EV_BAD) {
			r->bad++;
			break;
		}
	}
	munmap(base, span + pg);
}

/* Feeds a whole stream in chunks of `chunk` bytes (0: at once). */
static struct result feed(enum proto proto, const struct buf *in, size_t chunk)
{
	struct proto_parser p;
	struct result r;

	memset(&r, 0, sizeof r);
	memset(&p, 0xa5, sizeof p);
	proto_init(&p, proto, HDR, strlen(HDR));
	if (chunk == 0)
		chunk = in->n;
	for (size_t i = 0; i < in->n && !r.bad; i += chunk)
		feed_guarded(&p, in->b + i, in->n - i < chunk ? in->n - i : chunk, &r);
	return r;
}

static enum proto detect(const struct buf *b, size_t n)
{
	return proto_detect((const char *)b->b, n);
}

UNIT_TEST(detect_fcgi)
{
	struct buf b = { .n = 0 }, p;

	std_params(&p, "abc", NULL);
	fcgi_request(&b, 1, &p, 65535);
	ck_assert_int_eq(detect(&b, b.n), PROTO_FCGI);
	ck_assert_int_eq(detect(&b, 8), PROTO_FCGI);     /* php-fpm reads the header alone */
	ck_assert_int_ne(detect(&b, 7), PROTO_FCGI);
}

UNIT_TEST(detect_others)
{
	ck_assert_int_eq(proto_detect("GET / HTTP/1.1\r\n\r\n", 18), PROTO_HTTP);
	ck_assert_int_eq(proto_detect("GE", 2), PROTO_HTTP);          /* a short read of one */
	ck_assert_int_eq(proto_detect("EHLO mail.example\r\n", 19), PROTO_SESSION);
	ck_assert_int_eq(proto_detect("*1\r\n$4\r\nPING\r\n", 14), PROTO_SESSION);  /* Redis */
	ck_assert_int_eq(proto_detect("get k\r\n", 7), PROTO_SESSION);  /* memcached */
	/* PostgreSQL: SSLRequest and a startup message */
	ck_assert_int_eq(proto_detect("\0\0\0\x08\x04\xd2\x16\x2f", 8), PROTO_SESSION);
	ck_assert_int_eq(proto_detect("\0\0\0\x29\0\x03\0\0user\0postgres\0", 21), PROTO_SESSION);
	/* MySQL's handshake response: 3-byte length, sequence 1 */
	ck_assert_int_eq(proto_detect("\x55\0\0\x01\x8d\xa6\x0f\0", 8), PROTO_SESSION);
	ck_assert_int_eq(proto_detect("\x16\x03\x01\x02\0\x01", 6), PROTO_SESSION);   /* TLS */
	ck_assert_int_eq(proto_detect("\0\x20\0\0\x0c\0QUERY_STRING", 18), PROTO_UWSGI);
	ck_assert_int_eq(proto_detect("\0\x20\0\0", 4), PROTO_UWSGI);
	ck_assert_int_eq(proto_detect("\0\x20\0\0\x40\0", 6), PROTO_SESSION);   /* var past the size */
	ck_assert_int_eq(proto_detect("70:CONTENT_LENGTH\0" "27\0", 21), PROTO_SCGI);
	ck_assert_int_eq(proto_detect("70:CONTENT", 10), PROTO_SESSION);
	ck_assert_int_eq(proto_detect("", 0), PROTO_SESSION);
	ck_assert_int_eq(proto_detect(NULL, 5), PROTO_SESSION);
}

#undef UNIT_TCASE
#define UNIT_TCASE fcgi

UNIT_TEST(fcgi_adopts_every_split)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7, 8, 9, 13, 64 };
	struct buf b = { .n = 0 }, p;

	std_params(&p, "req-7", TP);
	fcgi_request(&b, 1, &p, 65535);
	for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
		struct result r = feed(PROTO_FCGI, &b, chunks[k]);

		ck_assert_int_eq(r.bad, 0);
		ck_assert_str_eq(r.seq, "BH");
		ck_assert_str_eq(r.last_id, "req-7");
		ck_assert(r.last_trace);
	}
}

UNIT_TEST(fcgi_params_over_records)
{
	struct buf b = { .n = 0 }, p;

	std_params(&p, "split-over-records", NULL);
	fcgi_request(&b, 1, &p, 5);       /* pairs straddle records */
	for (size_t c = 0; c <= 9; c++) {
		struct result r = feed(PROTO_FCGI, &b, c);

		ck_assert_str_eq(r.seq, "BH");
		ck_assert_str_eq(r.last_id, "split-over-records");
	}
}

UNIT_TEST(fcgi_keepalive)
{
	struct buf b = { .n = 0 }, p;
	struct proto_parser ps;
	struct result r;

	std_params(&p, "one", NULL);
	fcgi_request(&b, 1, &p, 65535);
	memset(&r, 0, sizeof r);
	proto_init(&ps, PROTO_FCGI, HDR, strlen(HDR));
	feed_guarded(&ps, b.b, b.n, &r);
	ck_assert_str_eq(r.last_id, "one");
	proto_server_wrote(&ps);
	b.n = 0;
	std_params(&p, NULL, NULL);            /* the next one has no ID */
	fcgi_request(&b, 1, &p, 65535);
	feed_guarded(&ps, b.b, b.n, &r);
	ck_assert_str_eq(r.seq, "BHBH");
	ck_assert_uint_eq(r.last_id_len, 0);
	ck_assert_str_eq(r.last_id, "");
}

UNIT_TEST(fcgi_multiplexed_goes_bad)
{
	struct buf b = { .n = 0 }, p;
	struct result r;

	std_params(&p, "a", NULL);
	fcgi_begin(&b, 1);
	fcgi_begin(&b, 2);                 /* while 1 may still run */
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_str_eq(r.seq, "BX");
	/* records of a request that did not begin */
	b.n = 0;
	fcgi_begin(&b, 1);
	fcgi_rec(&b, 4, 2, p.b, p.n, 0);
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_str_eq(r.seq, "BX");
	ck_assert_int_eq(r.heads, 0);
}

UNIT_TEST(fcgi_management_and_abort)
{
	struct buf b = { .n = 0 }, p, gv = { .n = 0 };
	struct result r;

	fcgi_pair(&gv, "FCGI_MPXS_CONNS", "");
	fcgi_rec(&b, 9, 0, gv.b, gv.n, 0);
	std_params(&p, "after-mgmt", NULL);
	fcgi_request(&b, 3, &p, 65535);
	fcgi_rec(&b, 2, 3, "", 0, 0);
	r = feed(PROTO_FCGI, &b, 1);
	ck_assert_str_eq(r.seq, "BH");
	ck_assert_str_eq(r.last_id, "after-mgmt");
}

#undef UNIT_TCASE
#define UNIT_TCASE hostile

UNIT_TEST(fcgi_hostile_values)
{
	static const char *const bad_ids[] = {
		"a b", "id\x1b[31m", "id\nX", "", "\xff\xfe",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};

	for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
		struct buf b = { .n = 0 }, p;
		struct result r;

		std_params(&p, bad_ids[k], "00-00000000000000000000000000000000-00f067aa0ba902b7-01");
		fcgi_request(&b, 1, &p, 65535);
		r = feed(PROTO_FCGI, &b, 3);
		ck_assert_str_eq(r.seq, "BH");
		ck_assert_uint_eq(r.last_id_len, 0);
		ck_assert(!r.last_trace);
	}
}

UNIT_TEST(fcgi_names_must_match_exactly)
{
	struct buf b = { .n = 0 }, p = { .n = 0 };
	struct result r;

	fcgi_pair(&p, "HTTP_X_REQUEST_IDX", "no1");
	fcgi_pair(&p, "HTTP_X_REQUEST_I", "no2");
	fcgi_pair(&p, "X_REQUEST_ID", "no3");
	fcgi_pair(&p, "http_x_request_id", "no4");
	fcgi_pair(&p, "HTTP_X_REQUEST_ID", " yes ");
	fcgi_pair(&p, "HTTP_X_REQUEST_ID", "second");
	fcgi_request(&b, 1, &p, 65535);
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_str_eq(r.last_id, "yes");
}

UNIT_TEST(fcgi_huge_lengths)
{
	struct buf b = { .n = 0 }, p = { .n = 0 };
	struct result r;

	/* a 4-byte name length of 2^31-1 inside a small record: the pair never
	 * completes, nothing is adopted, nothing is read past the input */
	fcgi_len(&p, 0x7fffffff);
	fcgi_len(&p, 5);
	put(&p, "HTTP_X_REQUEST_ID", 17);
	fcgi_request(&b, 1, &p, 65535);
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_uint_eq(r.last_id_len, 0);
	/* a record claiming 65535 bytes, then the stream ends */
	b.n = 0;
	fcgi_begin(&b, 1);
	put(&b, "\x01\x04\x00\x01\xff\xff\x00\x00", 8);
	put(&b, "\x11\x05HTTP_X_REQUEST_IDabcde", 24);
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_int_eq(r.heads, 0);
	ck_assert_int_eq(r.bad, 0);
}

UNIT_TEST(fcgi_wrong_version_and_types)
{
	struct buf b = { .n = 0 };
	struct result r;

	fcgi_begin(&b, 1);
	put(&b, "\x02\x04\x00\x01\x00\x00\x00\x00", 8);   /* version 2 */
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_str_eq(r.seq, "BX");
	b.n = 0;
	fcgi_begin(&b, 1);
	fcgi_rec(&b, 6, 1, "x", 1, 0);                      /* STDOUT, to a server */
	r = feed(PROTO_FCGI, &b, 0);
	ck_assert_str_eq(r.seq, "BX");
	/* a bad parser stays bad */
	{
		struct proto_parser ps;
		enum proto_event ev;

		proto_init(&ps, PROTO_FCGI, HDR, strlen(HDR));
		proto_feed(&ps, "\x07\x07\x07\x07\x07\x07\x07\x07", 8, &ev);
		ck_assert_int_eq(ev, PROTO_EV_BAD);
		ck_assert_uint_eq(proto_feed(&ps, (const char *)b.b, b.n, &ev), 0);
		ck_assert_int_eq(ev, PROTO_EV_BAD);
	}
}

#undef UNIT_TCASE
#define UNIT_TCASE packets

static void uwsgi_pair(struct buf *o, const char *k, const char *v)
{
	put_byte(o, (unsigned)strlen(k) & 0xff);
	put_byte(o, (unsigned)strlen(k) >> 8);
	put(o, k, strlen(k));
	put_byte(o, (unsigned)strlen(v) & 0xff);
	put_byte(o, (unsigned)strlen(v) >> 8);
	put(o, v, strlen(v));
}

static void uwsgi_packet(struct buf *o, const char *id, const char *tp, const char *body)
{
	struct buf v = { .n = 0 };

	uwsgi_pair(&v, "REQUEST_METHOD", "GET");
	uwsgi_pair(&v, "QUERY_STRING", "id=1");
	if (id)
		uwsgi_pair(&v, "HTTP_X_REQUEST_ID", id);
	if (tp)
		uwsgi_pair(&v, "HTTP_TRACEPARENT", tp);
	uwsgi_pair(&v, "HTTP_HOST", "h");
	put_byte(o, 0);
	put_byte(o, (unsigned)v.n & 0xff);
	put_byte(o, (unsigned)v.n >> 8);
	put_byte(o, 0);
	put(o, v.b, v.n);
	put(o, body, strlen(body));
}

UNIT_TEST(uwsgi_every_split)
{
	struct buf b = { .n = 0 };

	uwsgi_packet(&b, "uw-1", TP, "POSTDATA \x01\x00\x00\x00");
	for (size_t c = 0; c <= 17; c++) {
		struct result r = feed(PROTO_UWSGI, &b, c);

		ck_assert_str_eq(r.seq, "BH");
		ck_assert_str_eq(r.last_id, "uw-1");
		ck_assert(r.last_trace);
	}
}

UNIT_TEST(uwsgi_keepalive_and_bad)
{
	struct buf b = { .n = 0 };
	struct proto_parser ps;
	struct result r;

	memset(&r, 0, sizeof r);
	proto_init(&ps, PROTO_UWSGI, HDR, strlen(HDR));
	uwsgi_packet(&b, "first", NULL, "");
	feed_guarded(&ps, b.b, b.n, &r);
	proto_server_wrote(&ps);
	b.n = 0;
	uwsgi_packet(&b, "second", NULL, "");
	feed_guarded(&ps, b.b, b.n, &r);
	ck_assert_str_eq(r.seq, "BHBH");
	ck_assert_str_eq(r.last_id, "second");
	/* a var whose length runs past the packet */
	b.n = 0;
	put(&b, "\0\x08\0\0\x20\0ABCDEF", 12);
	r = feed(PROTO_UWSGI, &b, 0);
	ck_assert_str_eq(r.seq, "BX");
	/* a value length past it */
	b.n = 0;
	put(&b, "\0\x08\0\0\x01\0A\x40\0", 9);
	r = feed(PROTO_UWSGI, &b, 1);
	ck_assert_str_eq(r.seq, "BX");
	/* modifier2 not 0 */
	b.n = 0;
	put(&b, "\0\x08\0\x05", 4);
	r = feed(PROTO_UWSGI, &b, 0);
	ck_assert_str_eq(r.seq, "X");
}

UNIT_TEST(scgi_every_split)
{
	struct buf b = { .n = 0 };
	static const char vars[] = "CONTENT_LENGTH\0" "4\0" "SCGI\0" "1\0"
				   "HTTP_X_REQUEST_ID\0" "sc-9\0" "HTTP_TRACEPARENT\0" TP "\0";
	char len[16];
	int ln = snprintf(len, sizeof len, "%zu:", sizeof vars - 1);

	put(&b, len, (size_t)ln);
	put(&b, vars, sizeof vars - 1);
	put(&b, ",body", 5);
	ck_assert_int_eq(proto_detect((const char *)b.b, b.n), PROTO_SCGI);
	for (size_t c = 0; c <= 11; c++) {
		struct result r = feed(PROTO_SCGI, &b, c);

		ck_assert_str_eq(r.seq, "BH");
		ck_assert_str_eq(r.last_id, "sc-9");
		ck_assert(r.last_trace);
	}
	/* no comma, a length of non-digits */
	b.n = 0;
	put(&b, "17:CONTENT_LENGTH\0" "0\0;", 21);
	ck_assert_str_eq(feed(PROTO_SCGI, &b, 0).seq, "BX");
	b.n = 0;
	put(&b, "1a:", 3);
	ck_assert_str_eq(feed(PROTO_SCGI, &b, 0).seq, "X");
	/* a name that never ends inside the block */
	b.n = 0;
	put(&b, "3:abc,", 6);
	ck_assert_str_eq(feed(PROTO_SCGI, &b, 0).seq, "BX");
}

UNIT_TEST(custom_header_name)
{
	struct buf b = { .n = 0 }, p = { .n = 0 };
	struct proto_parser ps;
	struct result r;

	fcgi_pair(&p, "HTTP_X_REQUEST_ID", "not-this");
	fcgi_pair(&p, "HTTP_X_CORRELATION_ID", "corr-1");
	fcgi_request(&b, 1, &p, 65535);
	memset(&r, 0, sizeof r);
	proto_init(&ps, PROTO_FCGI, "x-correlation-id", 16);
	feed_guarded(&ps, b.b, b.n, &r);
	ck_assert_str_eq(r.last_id, "corr-1");
}

Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");

	suite_add_tcase(s, unit_tcase("proto", "detect"));
	suite_add_tcase(s, unit_tcase("proto", "fcgi"));
	suite_add_tcase(s, unit_tcase("proto", "hostile"));
	suite_add_tcase(s, unit_tcase("proto", "packets"));
	return s;
}
