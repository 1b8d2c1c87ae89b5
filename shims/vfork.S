/*
 * vfork.S - vfork, interposed without a stack frame of its own: it marks
 * this thread (agent_self.depth |= AGENT_VFORK_MARK) and jumps to libc's
 * vfork, so both the child and the parent return straight to the caller.
 * While the mark is set every hook passes through: the child shares the
 * parent's memory until it execs or exits, and must change nothing of the
 * agent's. The parent clears the mark on its next hook (base/state.c).
 */
#include "base/compiler.h"

#if defined(__x86_64__)
	.text
	.globl	vfork
	.type	vfork, @function
	.p2align 4
vfork:
	movq	agent_self@GOTTPOFF(%rip), %rax
	orl	$AGENT_VFORK_MARK, %fs:AGENT_THREAD_DEPTH_OFFSET(%rax)
	movq	real_vfork(%rip), %rax
	testq	%rax, %rax
	je	1f
	jmp	*%rax
1:	/* Not resolved (cannot happen after the constructor): plain fork
	 * semantics are the safe stand-in. */
	jmp	fork@PLT
	.size	vfork, .-vfork
#endif
	.section .note.GNU-stack,"",@progbits
