/*
 * test_mem.c - base/mem.h: mem_alloc_mapped() never maps memory (it runs
 * on the program's output path, where the agent makes no system call of
 * its own), and mem_reserve() is what makes a later mem_alloc_mapped()
 * succeed. Checked in a child under a seccomp filter that kills the
 * process on mmap: a mapping there would end the child with SIGSYS.
 */
#include <check.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "suites.h"

#define UNIT_SUITE mem
#define UNIT_TCASE mem

#define BLOCK 40000         /* the 64 KiB class: 4 blocks a chunk */

static void no_mmap_from_here(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(90);
}

/* Runs `body` in a child; returns its wait status. */
static int in_child(int (*body)(void))
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		mem_after_fork_child();      /* every class empty: nothing at hand */
		_exit(body());
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static int nothing_at_hand(void)
{
	no_mmap_from_here();
	if (mem_alloc_mapped(BLOCK) != NULL || mem_alloc_mapped(100000) != NULL)
		return 1;
	return 0;
}

static int reserved(void)
{
	void *p[4];

	if (!mem_reserve(BLOCK))
		return 2;
	no_mmap_from_here();
	for (int i = 0; i < 4; i++)
		if ((p[i] = mem_alloc_mapped(BLOCK)) == NULL)
			return 3;
	if (mem_alloc_mapped(BLOCK) != NULL)
		return 4;                /* the chunk holds four */
	mem_free(p[2], BLOCK);
	if (mem_alloc_mapped(BLOCK) != p[2])
		return 5;                /* a block given back is at hand again */
	mem_free(p[2], BLOCK);
	if (!mem_reserve(BLOCK))
		return 6;                /* one at hand: no mapping needed */
	return 0;
}

UNIT_TEST(mapped_makes_no_system_call)
{
	int st = in_child(nothing_at_hand);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

UNIT_TEST(reserve_makes_mapped_succeed)
{
	int st = in_child(reserved);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

Suite *mem_suite(void)
{
	Suite *s = suite_create("mem");

	suite_add_tcase(s, unit_tcase("mem", "mem"));
	return s;
}
