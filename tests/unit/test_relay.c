/*
 * test_relay.c - the shared records of requests written into a pipe
 * (ctxmap/relay.c): a read gets a request only when one request wrote all
 * of it and the hashes agree; two requests in one read, bytes nobody
 * recorded and bytes that are not the ones recorded give none, the last
 * for good.
 */
#include <check.h>
#include <string.h>

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
	return relaymap_read(key, s, strlen(s), strlen(s), o);
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
	ck_assert_int_eq(relaymap_read(key, "line", 4, 4, &o), RELAY_ONE);
	ck_assert_str_eq(o.id, "req-b");
	ck_assert_int_eq(rd(key, " b\n", &o), RELAY_ONE);
	/* two requests in one read: none */
	relaymap_wrote(key, a, "a\n", 2);
	relaymap_wrote(key, b, "b\n", 2);
	ck_assert_int_eq(rd(key, "a\nb\n", &o), RELAY_NOBODY);
	/* written outside any request */
	relaymap_wrote(key, NULL, "\0fscf\0", 6);
	ck_assert_int_eq(relaymap_read(key, "\0fscf\0", 6, 6, &o), RELAY_NOBODY);
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
	ck_assert_int_eq(relaymap_read(key, "ab", 1, 2, &o), RELAY_NOBODY);
	relaymap_forget(key);
	ctx_put(a);
}

Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");

	suite_add_tcase(s, unit_tcase("relay", "records"));
	return s;
}
