/*
 * crash.h - the report written when the host dies of a crash signal: the
 * signal, the request the crashing thread was serving, and a symbolized
 * backtrace from the faulting instruction. Async-signal-safe: no
 * allocation, no locks, no stdio; one write per line.
 */
#ifndef AGENT_CRASH_H
#define AGENT_CRASH_H

#include <signal.h>

void crash_report(int sig, const siginfo_t *info, void *ucontext);

#endif
