/*
 * syscall.S - syscall(2), interposed without a stack frame of its own on
 * its common way: every number but SYS_exit_group, SYS_exit and the two
 * sleeps (SYS_nanosleep, SYS_clock_nanosleep) jumps to
 * libc's syscall with the caller's registers and stack as they are, so a
 * call that returns twice or on another stack (syscall(SYS_vfork), a
 * clone) returns straight to the caller, as without the agent. The two
 * exits, the two sleeps, and a call before libc's syscall is resolved,
 * go to syscall_slow (shims/process.c): what is held goes out before an
 * exit, and a sleep is one (handoff_slept) as nanosleep's.
 */
#include <sys/syscall.h>
#include "base/compiler.h"

#if defined(__x86_64__)
	.text
	.globl	syscall
	.type	syscall, @function
	.p2align 4
syscall:
	cmpq	$SYS_exit_group, %rdi
	je	1f
	cmpq	$SYS_exit, %rdi
	je	1f
	cmpq	$SYS_nanosleep, %rdi
	je	1f
	cmpq	$SYS_clock_nanosleep, %rdi
	je	1f
	movq	real_syscall(%rip), %rax
	testq	%rax, %rax
	je	1f
	jmp	*%rax
1:	jmp	syscall_slow
	.size	syscall, .-syscall
#endif
	.section .note.GNU-stack,"",@progbits
