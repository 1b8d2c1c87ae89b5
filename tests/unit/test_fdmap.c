/*
 * test_fdmap.c - the fd table: kinds, tags and their references, dup,
 * reset on reuse, range limits.
 */
#include "base/ctx.h"
#include "ctxmap/fdmap.h"
#include "base/id.h"
#include "base/mem.h"
#include "suites.h"

#define UNIT_SUITE fdmap
#define UNIT_TCASE fdmap

static struct ctx *fresh(void)
{
	id_init();
	return ctx_new(NULL);
}

UNIT_TEST(tag_and_reset)
{
	long live0 = ctx_live();
	struct ctx *c = fresh();
	struct fdslot *s = fdmap_slot(5000);

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(fdmap_peek(5000), s);
	fdmap_reset(5000, FD_CLIENT);
	ck_assert_int_eq(fdmap_kind(s), FD_CLIENT);
	fdmap_tag(s, c);
	ck_assert_uint_eq(c->refs, 2);
	ctx_put(c);                     /* the slot keeps it alive */
	ck_assert_int_eq(ctx_live(), live0 + 1);
	ck_assert_ptr_eq(fdmap_ctx_peek(s), c);
	fdmap_reset(5000, FD_UNKNOWN);  /* a new object: tag dropped, context freed */
	ck_assert_ptr_null(fdmap_ctx_peek(s));
	ck_assert_int_eq(fdmap_kind(s), FD_UNKNOWN);
	ck_assert_int_eq(ctx_live(), live0);
}

UNIT_TEST(get_takes_reference)
{
	struct ctx *c = fresh(), *got;
	struct fdslot *s = fdmap_slot(7);

	fdmap_tag(s, c);
	got = fdmap_ctx_get(s);
	ck_assert_ptr_eq(got, c);
	ck_assert_uint_eq(c->refs, 3);
	ctx_put(got);
	fdmap_tag(s, NULL);
	ck_assert_uint_eq(c->refs, 1);
	ctx_put(c);
}

UNIT_TEST(dup_copies)
{
	struct ctx *c = fresh();
	struct fdslot *a = fdmap_slot(10), *b;

	fdmap_reset(10, FD_CLIENT);
	fdmap_tag(a, c);
	__atomic_store_n(&a->flags, FDF_WROTE, __ATOMIC_RELAXED);
	fdmap_copy(10, 11);
	b = fdmap_peek(11);
	ck_assert_ptr_eq(fdmap_ctx_peek(b), c);
	ck_assert_int_eq(fdmap_kind(b), FD_CLIENT);
	ck_assert_uint_eq(b->flags, FDF_WROTE);
	fdmap_reset(10, FD_UNKNOWN);
	ck_assert_ptr_eq(fdmap_ctx_peek(b), c);   /* the copy still holds it */
	fdmap_reset(11, FD_UNKNOWN);
	ck_assert_uint_eq(c->refs, 1);
	ctx_put(c);
}

UNIT_TEST(out_of_range)
{
	ck_assert_ptr_null(fdmap_slot(-1));
	ck_assert_ptr_null(fdmap_slot(FDMAP_CHUNKS << FDMAP_CHUNK_BITS));
	ck_assert_ptr_null(fdmap_peek(-5));
	fdmap_reset(-1, FD_CLIENT);            /* no effect, no crash */
	ck_assert_ptr_nonnull(fdmap_slot((FDMAP_CHUNKS << FDMAP_CHUNK_BITS) - 1));
}

/* The tables' allocations happen on a successful call's way back: a
 * failing one must leave the program's errno as it was. */
UNIT_TEST(failed_table_allocation_keeps_errno)
{
	volatile size_t huge = (size_t)-1 / 2;   /* not known at compile time */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return;                 /* their allocators report the size instead */
#endif
	errno = EINTR;
	ck_assert_ptr_null(calloc_quiet(huge, 4));
	ck_assert_int_eq(errno, EINTR);
}

Suite *fdmap_suite(void)
{
	Suite *s = suite_create("fdmap");
	TCase *t = unit_tcase("fdmap", "fdmap");

	suite_add_tcase(s, t);
	return s;
}
