/*
 * test_probe.c - base/probe.h: readable bytes say yes, bytes the kernel
 * would refuse say no without the process dying, and the fault handler's
 * check claims only a fault on the probe's own load. The agent's handler
 * (agent/signals.c) is not installed in the unit tests: each test that
 * probes bad bytes installs unit_handle_faults() (suites.h), which calls
 * probe_fixup and otherwise dies, as a fault the probe did not claim
 * would.
 */
#include <check.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/probe.h"
#include "suites.h"

#define UNIT_SUITE probe
#define UNIT_TCASE probe

/* Read through a volatile so the compiler does not judge the store. */
static char *volatile nowhere = (char *)8;

/* Three pages: readable, unreadable, readable. */
static char *three_pages(void)
{
	char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(mprotect(p + 4096, 4096, PROT_NONE), 0);
	return p;
}

UNIT_TEST(readable_bytes_say_yes)
{
	char local[64] = "x";
	char *p = three_pages();

	unit_handle_faults();
	ck_assert(probe_readable(local, sizeof local));
	ck_assert(probe_readable(NULL, 0));
	ck_assert(probe_readable(p, 4096));
	ck_assert(probe_readable(p + 4095, 1));
	ck_assert(probe_readable(p + 2 * 4096, 4096));
	ck_assert(probe_readable("abc", 4));
}

UNIT_TEST(unreadable_bytes_say_no_and_the_process_goes_on)
{
	char *p = three_pages();

	unit_handle_faults();
	ck_assert(!probe_readable((void *)8, 10));             /* never mapped */
	ck_assert(!probe_readable(p + 4096, 1));               /* first byte */
	ck_assert(!probe_readable(p + 4000, 200));             /* across into it */
	ck_assert(!probe_readable(p, 3 * 4096));               /* a middle page */
	ck_assert(!probe_readable(p + 4095, 2));               /* its first byte last */
	ck_assert(!probe_readable(p + 10, (size_t)-5));        /* wraps */
	/* The same thread probes on after each answer. */
	ck_assert(probe_readable(p, 4096));
	ck_assert(!probe_readable(p + 8191, 1));
}

UNIT_TEST(an_iovec_array_and_each_piece)
{
	char *p = three_pages();
	struct iovec good[2] = { { p, 10 }, { p + 2 * 4096, 100 } };
	struct iovec bad_piece[3] = { { p, 10 }, { NULL, 0 }, { p + 4096 + 3, 5 } };
	struct iovec *cut = (struct iovec *)(p + 4096) - 1;    /* its second lies in the bad page */

	unit_handle_faults();
	cut[0] = good[0];
	ck_assert(probe_iov(good, 2));
	ck_assert(probe_iov(good, 0));
	ck_assert(probe_iov(bad_piece, 2));                    /* an empty piece reads nothing */
	ck_assert(!probe_iov(bad_piece, 3));
	ck_assert(probe_iov(cut, 1));
	ck_assert(!probe_iov(cut, 2));
	ck_assert(!probe_iov((struct iovec *)8, 1));
}

UNIT_TEST(the_handler_claims_only_the_probes_load)
{
	ucontext_t uc;
	greg_t elsewhere = (greg_t)(unsigned long)&unit_handle_faults;

	memset(&uc, 0, sizeof uc);
	ck_assert(!probe_fixup(NULL));
#if defined(__x86_64__)
	uc.uc_mcontext.gregs[REG_RIP] = elsewhere;
	ck_assert(!probe_fixup(&uc));
	ck_assert(uc.uc_mcontext.gregs[REG_RIP] == elsewhere);
#else
	(void)elsewhere;
#endif
}

UNIT_TEST(a_fault_elsewhere_is_not_claimed)
{
	/* Run in a child: the handler must hand an ordinary fault on, and
	 * the process die of it. */
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unit_handle_faults();
		*nowhere = 1;
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), SIGSEGV);
}

Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");

	suite_add_tcase(s, unit_tcase("probe", "probe"));
	return s;
}
