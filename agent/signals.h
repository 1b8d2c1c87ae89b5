/*
 * signals.h - what the agent does when a signal is about to end the
 * process: write what every thread holds, then let the signal act exactly
 * as it would have (same exit status, same core dump).
 *
 * The agent installs its handler only where the disposition is the default
 * and the default terminates. To the host nothing changes: sigaction() and
 * signal() report SIG_DFL for those signals, and the host's own handlers
 * replace the agent's as soon as it sets them.
 */
#ifndef AGENT_SIGNALS_H
#define AGENT_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

void signals_init(void);

/* sigaction() as the host sees it. Returns 0 or -1 with errno. */
int signals_action(int sig, const struct sigaction *act, struct sigaction *old);

/* True while the agent's handler stands for SIG_DFL on `sig`. */
bool signals_owned(int sig);

/* abort() was called on this thread: if the program's SIGABRT handler
 * returns, glibc resets the default action and raises again, unseen. */
void signals_aborting(void);

/* The process ends by _exit or quick_exit: if this thread is inside the
 * program's handler of a crash signal, that crash is its death. */
void signals_process_ends(void);

/* Right before an exec: each crash signal the program set to SIG_IGN,
 * whose handler in the kernel is the agent's, is set to SIG_IGN there too
 * (an exec keeps an ignored signal ignored and resets a handled one to
 * the default: the new program would lose the program's SIG_IGN).
 * Returns what it changed, for signals_exec_failed. Writes no memory of
 * the process: a vfork child may call it. */
unsigned signals_before_exec(void);

/* The exec returned (it failed): the agent's handlers are back where
 * signals_before_exec took them away. */
void signals_exec_failed(unsigned changed);

#endif
