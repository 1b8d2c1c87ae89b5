/*
 * test_relay.c - the shared records of requests written into a pipe
 * (ctxmap/relay.c): a read gets a request only when one request wrote all
 * of it and the hashes agree; two requests in one read, bytes nobody
 * recorded and bytes that are not the ones recorded give none, the last
 * for good. And the lines of a read (agent/relay.c): a line the reader
 * writes carries the request whose whole line it holds, also when one read
 * held two requests' lines or a later read made another request current.
 */
#include <check.h>
#include <string.h>

#include "agent/relay.h"
#include "base/ctx.h"
#include "ctxmap/relay.h"
#include "suites.h"

#define UNIT_SUITE relay
#define UNIT_TCASE records

static struct ctx *mk(const char *id)
{
	struct ctx_seed seed = { 0 };

	seed.id = id;
	seed.id_len = strlen(id);
	return ctx_new(&seed);
}

static enum relay_verdict rd(uintptr_t key, const char *s, struct relay_ids *o)
{
	return relaymap_read(key, s, strlen(s), strlen(s), o, NULL);
}

UNIT_TEST(one_request_per_read)
{
	uintptr_t key = 0x1000;
	struct ctx *a = mk("req-a"), *b = mk("req-b");
	struct relay_ids o;

	relaymap_init();
	ck_assert_int_eq(rd(key, "x", &o), RELAY_NONE);      /* no records: not ours */
	relaymap_wrote(key, a, "line a1\n", 8);
	relaymap_wrote(key, a, "line a2\n", 8);
	ck_assert_int_eq(rd(key, "line a1\nline a2\n", &o), RELAY_ONE);
	ck_assert_str_eq(o.id, "req-a");
	relaymap_wrote(key, b, "line b\n", 7);
	/* a record read in two pieces */
	ck_assert_int_eq(relaymap_read(key, "line", 4, 4, &o, NULL), RELAY_ONE);
	ck_assert_str_eq(o.id, "req-b");
	ck_assert_int_eq(rd(key, " b\n", &o), RELAY_ONE);
	/* two requests in one read: none */
	relaymap_wrote(key, a, "a\n", 2);
	relaymap_wrote(key, b, "b\n", 2);
	ck_assert_int_eq(rd(key, "a\nb\n", &o), RELAY_NOBODY);
	/* written outside any request */
	relaymap_wrote(key, NULL, "\0fscf\0", 6);
	ck_assert_int_eq(relaymap_read(key, "\0fscf\0", 6, 6, &o, NULL), RELAY_NOBODY);
	relaymap_forget(key);
	ck_assert_int_eq(rd(key, "x", &o), RELAY_NONE);
	ctx_put(a);
	ctx_put(b);
}

UNIT_TEST(out_of_step_for_good)
{
	uintptr_t key = 0x2000;
	struct ctx *a = mk("req-a");
	struct relay_ids o;

	relaymap_init();
	relaymap_wrote(key, a, "recorded\n", 9);
	/* other bytes came first (a writer the agent did not see) */
	ck_assert_int_eq(rd(key, "XXXXXXXX\n", &o), RELAY_NOBODY);
	relaymap_wrote(key, a, "next\n", 5);
	ck_assert_int_eq(rd(key, "next\n", &o), RELAY_NOBODY);
	/* a short write: the record shrinks and is not trusted */
	relaymap_forget(key);
	relaymap_wrote(key, a, "0123456789", 10);
	relaymap_unwrote(key, 10, 4);
	relaymap_wrote(key, a, "ok\n", 3);
	ck_assert_int_eq(rd(key, "0123", &o), RELAY_NOBODY);
	ck_assert_int_eq(rd(key, "ok\n", &o), RELAY_ONE);
	/* bytes the reader was not shown */
	relaymap_wrote(key, a, "ab", 2);
	ck_assert_int_eq(relaymap_read(key, "ab", 1, 2, &o, NULL), RELAY_NOBODY);
	relaymap_forget(key);
	ctx_put(a);
}

#undef UNIT_TCASE
#define UNIT_TCASE lines

static const char *line_id(const struct ctx *cur, const char *line)
{
	const struct ctx *c = relay_line_ctx(cur, line, strlen(line));

	return c ? ctx_name(c)->id : "(none)";
}

UNIT_TEST(whole_lines_each_with_its_request)
{
	uintptr_t key = 0x3000;
	struct ctx *a = mk("req-a"), *b = mk("req-b");
	struct relay_ids o;
	struct relay_lines l;
	const char *both = "line of a\nline of b\n";

	relaymap_init();
	relaymap_wrote(key, a, "line of a\n", 10);
	relaymap_wrote(key, b, "line of b\n", 10);
	ck_assert_int_eq(relaymap_read(key, both, 20, 20, &o, &l), RELAY_NOBODY);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.nwho, 2);
	ck_assert_uint_eq(l.line[0].off, 0);
	ck_assert_uint_eq(l.line[0].len, 10);
	ck_assert_str_eq(l.ids[l.line[0].who].id, "req-a");
	ck_assert_uint_eq(l.line[1].off, 10);
	ck_assert_str_eq(l.ids[l.line[1].who].id, "req-b");
	/* after a NUL (php-fpm's "\0fscf\0" marker) a line begins */
	relaymap_wrote(key, NULL, "\0fscf\0", 6);
	relaymap_wrote(key, a, "after the mark\n", 15);
	ck_assert_int_eq(relaymap_read(key, "\0fscf\0after the mark\n", 21, 21, &o, &l), RELAY_NOBODY);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.line[0].off, 6);
	ck_assert_str_eq(l.ids[l.line[0].who].id, "req-a");
	/* b's bytes finish a's unfinished line: not a line of b's */
	relaymap_wrote(key, a, "unfinished ", 11);
	relaymap_wrote(key, b, "rest of it\nb alone\n", 19);
	ck_assert_int_eq(relaymap_read(key, "unfinished rest of it\nb alone\n", 30, 30, &o, &l),
			 RELAY_NOBODY);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.line[0].off, 22);
	ck_assert_str_eq(l.ids[l.line[0].who].id, "req-b");
	/* nor across reads: the next read starts inside a line */
	relaymap_wrote(key, b, "split line\n", 11);
	ck_assert_int_eq(relaymap_read(key, "split", 5, 5, &o, &l), RELAY_ONE);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_int_eq(relaymap_read(key, " line\n", 6, 6, &o, &l), RELAY_ONE);
	ck_assert_uint_eq(l.n, 0);
	relaymap_forget(key);
	ctx_put(a);
	ctx_put(b);
}

UNIT_TEST(written_lines_carry_the_request_of_the_line_they_hold)
{
	struct chan *rx = (struct chan *)0x4000;  /* a key only */
	struct ctx *a = mk("req-a"), *b = mk("req-b"), *c = NULL;
	const char *both = "[a] first line of a\n[b] first line of b\n";

	relaymap_init();
	relaymap_wrote((uintptr_t)rx, a, "[a] first line of a\n", 20);
	relaymap_wrote((uintptr_t)rx, b, "[b] first line of b\n", 20);
	ck_assert(relay_read(rx, both, 40, 40, &c));
	ck_assert_ptr_null(c);                       /* the read names nobody ... */
	ck_assert_str_eq(line_id(NULL, "child 7 said: \"[b] first line of b\""), "req-b");
	ck_assert_str_eq(line_id(NULL, "child 7 said: \"[a] first line of a\""), "req-a");
	/* ... each line used once; a line about neither keeps what is current */
	ck_assert_str_eq(line_id(NULL, "child 7 said: \"[a] first line of a\""), "(none)");
	ck_assert_str_eq(line_id(a, "child 7 exited"), "req-a");
	/* the master read again (b's next line only: b is current) before it
	 * wrote a's line from the read before */
	relaymap_wrote((uintptr_t)rx, a, "[a] second line of a\n", 21);
	relaymap_wrote((uintptr_t)rx, b, "[b] second line of b\n", 21);
	ck_assert(relay_read(rx, "[a] second line of a\n", 21, 21, &c));
	ck_assert_str_eq(ctx_name(c)->id, "req-a");
	ctx_put(c);
	ck_assert(relay_read(rx, "[b] second line of b\n", 21, 21, &c));
	ck_assert_str_eq(ctx_name(c)->id, "req-b");
	ck_assert_str_eq(line_id(c, "said: \"[a] second line of a\""), "req-a");
	/* a line holding both requests' lines names neither */
	relaymap_wrote((uintptr_t)rx, a, "[a] third line of a\n", 20);
	relaymap_wrote((uintptr_t)rx, b, "[b] third line of b\n", 20);
	ck_assert(relay_read(rx, "[a] third line of a\n[b] third line of b\n", 40, 40, &c));
	ck_assert_str_eq(line_id(NULL, "[a] third line of a [b] third line of b"), "(none)");
	/* once the thread waits, what it took is forgotten */
	relay_stash_clear();
	ck_assert_str_eq(line_id(NULL, "[b] third line of b"), "(none)");
	relay_stash_free();
	relaymap_forget((uintptr_t)rx);
	ctx_put(c);
	ctx_put(a);
	ctx_put(b);
}

Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");

	suite_add_tcase(s, unit_tcase("relay", "records"));
	suite_add_tcase(s, unit_tcase("relay", "lines"));
	return s;
}
