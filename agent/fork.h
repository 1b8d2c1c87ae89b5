/*
 * fork.h - what the agent does around fork(): one table (fork.c), one entry
 * per module that owns a lock or per-thread state. The constructor registers
 * these three with pthread_atfork; a child made without fork() (clone,
 * _Fork, a raw fork system call) gets fork_child() too.
 */
#ifndef AGENT_FORK_H
#define AGENT_FORK_H

/* Before the copy: every module lock taken, in the agent's lock order, and
 * the agent's guard held (hooks pass through until the copy is done). */
void fork_prepare(void);
/* In the parent: the locks released in reverse order, the guard dropped. */
void fork_parent(void);
/* In the child, the only thread: every lock fresh, per-process identity
 * (pid, id keys) and the forking thread's state reset, the guard dropped. */
void fork_child(void);

#endif
