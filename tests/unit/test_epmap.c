/*
 * test_epmap.c - epoll registrations keyed by (instance, data): add, modify
 * with new data, delete, close, shared data values, generations.
 */
#include <sys/epoll.h>

#include "ctxmap/epmap.h"
#include "ctxmap/fdmap.h"
#include "suites.h"

#define UNIT_SUITE epmap
#define UNIT_TCASE epmap

/* Instance 100, as the epoll_create shim sets it up. */
static void setup(void)
{
	__atomic_store_n(&fdmap_slot(100)->kind, FD_EPOLL, __ATOMIC_RELAXED);
	epmap_instance(100);
}

UNIT_TEST(add_lookup_delete)
{
	int fd;
	uint64_t gen, g0;

	g0 = epmap_generation(100);
	epmap_ctl(100, EPOLL_CTL_ADD, 101, 0xdead0001, EPOLLIN);    /* a tagged pointer */
	ck_assert_uint_gt(epmap_generation(100), g0);
	ck_assert(epmap_lookup(100, 0xdead0001, &fd, &gen));
	ck_assert_int_eq(fd, 101);
	ck_assert(!epmap_lookup(100, 101, &fd, &gen));       /* keyed by data, not fd */
	epmap_ctl(100, EPOLL_CTL_MOD, 101, 0xdead0000, EPOLLIN);    /* nginx flips the instance bit */
	ck_assert(!epmap_lookup(100, 0xdead0001, &fd, &gen));
	ck_assert(epmap_lookup(100, 0xdead0000, &fd, &gen));
	ck_assert_int_eq(fd, 101);
	epmap_ctl(100, EPOLL_CTL_DEL, 101, 0, EPOLLIN);
	ck_assert(!epmap_lookup(100, 0xdead0000, &fd, &gen));
}

UNIT_TEST(modify_changes_generation)
{
	int fd;
	uint64_t g1, g2;

	epmap_ctl(100, EPOLL_CTL_ADD, 102, 7, EPOLLIN);
	ck_assert(epmap_lookup(100, 7, &fd, &g1));
	epmap_ctl(100, EPOLL_CTL_MOD, 102, 7, EPOLLIN);
	ck_assert(epmap_lookup(100, 7, &fd, &g2));
	ck_assert_uint_ne(g1, g2);
	epmap_forget_fd(102);                     /* close */
	ck_assert(!epmap_lookup(100, 7, &fd, &g2));
}

UNIT_TEST(shared_data_is_ambiguous)
{
	int fd;
	uint64_t gen;

	epmap_ctl(100, EPOLL_CTL_ADD, 103, 0, EPOLLIN);
	epmap_ctl(100, EPOLL_CTL_ADD, 104, 0, EPOLLIN);
	ck_assert(epmap_lookup(100, 0, &fd, &gen));
	ck_assert_int_eq(fd, -1);
}

/* A data value two fds share (one handler behind both) goes with the last
 * of them, deleted or closed; until then it stays as it was (an event of
 * it may be the remaining fd's). Before, it outlived both, and events
 * kept for it were handed out after the program deleted them. */
UNIT_TEST(shared_data_goes_with_its_last_fd)
{
	int fd;
	uint64_t g1, g2;

	epmap_ctl(100, EPOLL_CTL_ADD, 106, 0xbeef, EPOLLIN);
	epmap_ctl(100, EPOLL_CTL_ADD, 107, 0xbeef, EPOLLIN);
	ck_assert(epmap_lookup(100, 0xbeef, &fd, &g1));
	epmap_ctl(100, EPOLL_CTL_DEL, 106, 0, EPOLLIN);
	ck_assert(epmap_lookup(100, 0xbeef, &fd, &g2));
	ck_assert_int_eq(fd, -1);
	ck_assert_uint_eq(g1, g2);
	epmap_ctl(100, EPOLL_CTL_DEL, 107, 0, EPOLLIN);
	ck_assert(!epmap_lookup(100, 0xbeef, &fd, &g2));

	epmap_ctl(100, EPOLL_CTL_ADD, 106, 0xbeef, EPOLLIN);
	epmap_ctl(100, EPOLL_CTL_ADD, 107, 0xbeef, EPOLLIN);
	epmap_forget_fd(107);                     /* close */
	ck_assert(epmap_lookup(100, 0xbeef, &fd, &g2));
	epmap_forget_fd(106);
	ck_assert(!epmap_lookup(100, 0xbeef, &fd, &g2));
}

UNIT_TEST(several_instances)
{
	int fd;
	uint64_t gen;
	long before;

	epmap_instance(200);
	__atomic_store_n(&fdmap_slot(200)->kind, FD_EPOLL, __ATOMIC_RELAXED);
	epmap_instance(200);
	before = epmap_count();
	epmap_ctl(100, EPOLL_CTL_ADD, 105, 55, EPOLLIN);
	epmap_ctl(200, EPOLL_CTL_ADD, 105, 56, EPOLLIN);
	ck_assert_int_eq(epmap_count(), before + 2);
	epmap_forget_fd(105);                     /* gone from both */
	ck_assert(!epmap_lookup(100, 55, &fd, &gen));
	ck_assert(!epmap_lookup(200, 56, &fd, &gen));
	ck_assert_int_eq(epmap_count(), before);
	/* A change to instance 200 leaves 100's buffered events unsuspected;
	 * closing an fd registered in 100 does not. */
	{
		uint64_t g100 = epmap_generation(100), g200 = epmap_generation(200);

		epmap_ctl(200, EPOLL_CTL_ADD, 106, 57, EPOLLIN);
		ck_assert_uint_eq(epmap_generation(100), g100);
		ck_assert_uint_gt(epmap_generation(200), g200);
		epmap_ctl(100, EPOLL_CTL_ADD, 107, 58, EPOLLIN);
		g100 = epmap_generation(100);
		g200 = epmap_generation(200);
		epmap_forget_fd(107);
		ck_assert_uint_gt(epmap_generation(100), g100);
		ck_assert_uint_eq(epmap_generation(200), g200);
	}
	epmap_drop_instance(200);
	ck_assert(!epmap_lookup(200, 57, &fd, &gen));
	ck_assert_int_eq(epmap_count(), before);
}

UNIT_TEST(resolve_batch)
{
	struct epoll_event ev[3] = { { .data.u64 = 900 }, { .data.u64 = 901 }, { .data.u64 = 999 } };
	int fds[3];
	uint64_t gens[3];

	epmap_ctl(100, EPOLL_CTL_ADD, 110, 900, EPOLLIN);
	epmap_ctl(100, EPOLL_CTL_ADD, 111, 901, EPOLLIN);
	epmap_resolve(100, 3, ev, fds, gens);
	ck_assert_int_eq(fds[0], 110);
	ck_assert_int_eq(fds[1], 111);
	ck_assert_int_eq(fds[2], -2);
	ck_assert_uint_ne(gens[0], 0);
}

Suite *epmap_suite(void)
{
	Suite *s = suite_create("epmap");
	TCase *t = unit_tcase("epmap", "epmap");

	tcase_add_checked_fixture(t, setup, NULL);

	suite_add_tcase(s, t);
	return s;
}
