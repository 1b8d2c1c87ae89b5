/*
 * probe.h - whether the program's bytes can be read, asked before the
 * agent reads them; and stores to them that say whether they could be
 * made (probe_put_packed).
 *
 * The agent reads some of the program's buffers before the kernel sees
 * them (a tagged line, to find its lines and copy them behind the prefix;
 * a response head, to insert the request's headers). A buffer the kernel
 * would refuse with EFAULT (or take only in part) would fault in the agent
 * instead. probe_readable touches one byte in each 4,096-byte page of the
 * range, each touch a load listed in the section "probe_table" with the
 * place to resume at if it faults; the agent's SIGSEGV/SIGBUS handler
 * (agent/signals.c) asks probe_fixup, which sends a thread that faulted
 * on such a load there, and probe_readable says no. No system call
 * either way; a range within one page costs one load and a few compares.
 *
 * On other machines than x86-64 probe_readable always says yes (the agent
 * reads the bytes as before).
 */
#ifndef BASE_PROBE_H
#define BASE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"

/* One entry of "probe_table": where the load is and where to resume,
 * each relative to the field's own address (no relocation in a shared
 * library). */
struct probe_entry {
	int32_t load, resume;
};

/* True if every byte of [p, p + n) could be read a moment ago; true for
 * n == 0; false for a range that wraps the address space. Another thread
 * may unmap the bytes after it answers. */
static inline bool probe_readable(const void *p, size_t n)
{
#if defined(__x86_64__)
	uintptr_t at = (uintptr_t)p, last = at + n - 1;

	if (n == 0)
		return true;
	if (last < at)
		return false;
	for (;;) {
		/* Reads the byte at `at` (flags only); a fault resumes at
		 * `unreadable`. */
		asm goto("1:\tcmpb $0, (%0)\n\t"
			 ".pushsection probe_table, \"a\"\n\t"
			 ".balign 4\n\t"
			 ".long 1b - ., %l[unreadable] - .\n\t"
			 ".popsection"
			 : : "r"(at) : "cc" : unreadable);
		at = (at & ~(uintptr_t)4095) + 4096;     /* the next page's first byte */
		if (at == 0 || at > last)
			return true;
	}
unreadable:
	return false;
#else
	(void)p;
	(void)n;
	return true;
#endif
}

/* Stores `head` at dst and `tail` at dst + 4, as the kernel does a
 * packed 12-byte record it hands a program (x86-64's struct epoll_event:
 * its events, then its data), unaligned; false if either store faulted
 * (a page the program cannot write: the bytes before it stored, as the
 * kernel's would be). Each store is listed in "probe_table" as the
 * loads of probe_readable are. Elsewhere it stores and says true. */
static inline bool probe_put_packed(void *dst, uint32_t head, uint64_t tail)
{
#if defined(__x86_64__)
	asm goto("1:\tmovl %0, (%2)\n\t"
		 "2:\tmovq %1, 4(%2)\n\t"
		 ".pushsection probe_table, \"a\"\n\t"
		 ".balign 4\n\t"
		 ".long 1b - ., %l[unwritable] - .\n\t"
		 ".long 2b - ., %l[unwritable] - .\n\t"
		 ".popsection"
		 : : "r"(head), "r"(tail), "r"(dst) : "memory" : unwritable);
	return true;
unwritable:
	return false;
#else
	__builtin_memcpy(dst, &head, sizeof head);
	__builtin_memcpy((char *)dst + 4, &tail, sizeof tail);
	return true;
#endif
}

/* probe_readable over an iovec array and then each of its `cnt` pieces
 * (0 <= cnt; the caller checked the count). */
bool probe_iov(const struct iovec *iov, int cnt);

/* Whether the first byte a write of iov's `cnt` pieces would take (the
 * first byte of its first non-empty piece) can be read, with the array
 * itself; false too when there is no such byte. Where probe_iov() says no
 * and this says no too, the kernel takes nothing (EFAULT). */
bool probe_iov_first(const struct iovec *iov, int cnt);

/* For the fault handler: if the fault in `ucontext` (a ucontext_t) is one
 * of probe_readable's loads, makes the thread resume where that says no,
 * and says true. */
bool probe_fixup(void *ucontext);

#endif
