/*
 * rebind.h - references that skip the agent: a library loaded with
 * dlopen(..., RTLD_DEEPBIND) looks symbols up in itself and its own
 * dependencies (libc among them) before the global scope, where the
 * preloaded agent is, so its calls to write, connect, send... go to libc
 * past the agent (PHP loads every extension so: its curl's calls were not
 * seen). After such a load, the objects it brought in have their
 * references to the agent's functions pointed at the agent, as a
 * preload would have bound them (docs/design.md, "Limits").
 */
#ifndef AGENT_REBIND_H
#define AGENT_REBIND_H

#include <stddef.h>
#include <stdint.h>

/* Up to this many loaded objects are told apart before a load; beyond,
 * nothing is rebound (a process with more is left as it was). */
#define REBIND_MAX_OBJECTS 1024

/* The loaded objects now: their load addresses, into `base` (at most
 * REBIND_MAX_OBJECTS). Returns how many, or -1 when there are more. */
int rebind_snapshot(uintptr_t *base);

/* After dlopen(`file`, flags with RTLD_DEEPBIND) returned `handle`: every
 * object loaded since `snap` (`n` objects, from rebind_snapshot; the first
 * 256 such) has its
 * PLT and GOT references to a function this library exports pointed at
 * the agent's, where the load bound them to the very function the agent
 * forwards to (what dlsym(RTLD_NEXT) gives it: libc's, not the object's
 * own or another library's definition). Returns how many references were
 * rebound; 0 when nothing was (or anything in an object's dynamic
 * section was not as expected: that object is left as it is). */
int rebind_deep(void *handle, const uintptr_t *snap, int n);

#endif
