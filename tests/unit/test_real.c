/*
 * test_real.c - the libc table: a function that cannot be found gets a
 * stand-in of its own return type failing with ENOSYS; a missing OPTIONAL
 * function leaves the agent on, a missing REQUIRED one switches it off.
 * Each test runs in its own process (Check forks), so the table entries it
 * spoils and agent_broken do not leak into other tests.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>

#include "base/thread.h"
#include "base/real.h"
#include "suites.h"

#define UNIT_SUITE real
#define UNIT_TCASE real

#define NO_SUCH "reqctx_no_such_function"

UNIT_TEST(resolves_libc)
{
	real_resolve_all();
	ck_assert_int_eq(agent_broken, 0);
	ck_assert_ptr_nonnull(real_write);
	ck_assert_int_eq(REAL(getsockopt)(-1, 0, 0, NULL, NULL), -1);
	ck_assert_int_eq(errno, EBADF);
}

UNIT_TEST(missing_optional_keeps_agent_on)
{
	agent_on = 1;
	real_resolve_as(REAL_INDEX_close_range, NO_SUCH);
	real_resolve_as(REAL_INDEX_closefrom, NO_SUCH);
	real_resolve_as(REAL_INDEX_epoll_pwait2, NO_SUCH);
	ck_assert_int_eq(agent_broken, 0);
	ck_assert_int_eq(agent_running(), 1);
	errno = 0;
	ck_assert_int_eq(REAL(close_range)(1000, 1001, 0), -1);
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	REAL(closefrom)(1000);
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	ck_assert_int_eq(REAL(epoll_pwait2)(-1, NULL, 1, NULL, NULL), -1);
	ck_assert_int_eq(errno, ENOSYS);
}

UNIT_TEST(missing_required_switches_off)
{
	agent_on = 1;
	real_resolve_as(REAL_INDEX_popen, NO_SUCH);
	ck_assert_int_eq(agent_broken, 1);
	ck_assert_int_eq(agent_running(), 0);
	ck_assert_str_eq(agent_broken_why, "a libc function could not be resolved");
}

/* Each return type fails its own way: -1, NULL, 0, or nothing. */
UNIT_TEST(standin_per_type)
{
	real_resolve_as(REAL_INDEX_popen, NO_SUCH);
	real_resolve_as(REAL_INDEX_fwrite, NO_SUCH);
	real_resolve_as(REAL_INDEX_read, NO_SUCH);
	real_resolve_as(REAL_INDEX_sleep, NO_SUCH);
	real_resolve_as(REAL_INDEX_perror, NO_SUCH);
	real_resolve_as(REAL_INDEX_vfork, NO_SUCH);
	errno = 0;
	ck_assert_ptr_null(REAL(popen)("true", "r"));
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	ck_assert_uint_eq(REAL(fwrite)("x", 1, 1, stderr), 0);
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	ck_assert_int_eq(REAL(read)(0, NULL, 0), -1);
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	ck_assert_uint_eq(REAL(sleep)(5), 0);
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	REAL(perror)("x");
	ck_assert_int_eq(errno, ENOSYS);
	errno = 0;
	ck_assert_int_eq(REAL(vfork)(), -1);
	ck_assert_int_eq(errno, ENOSYS);
}

Suite *real_suite(void)
{
	Suite *s = suite_create("real");

	suite_add_tcase(s, unit_tcase("real", "real"));
	return s;
}
