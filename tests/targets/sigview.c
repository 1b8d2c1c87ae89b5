/*
 * sigview - what sigaction reports for actions the agent keeps (a
 * program's handler for a signal the agent wraps, SIGUSR1, or watches for
 * crashes, SIGSEGV, SIGTERM's default) and after an SA_RESETHAND handler
 * fired: the handler, the flags, the first word of the mask, whether a
 * restorer is set. tests/integration/t_sigview compares its stdout with a
 * run without the agent.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "target.h"

static volatile sig_atomic_t fired;

static void on_signal(int sig)
{
	(void)sig;
	fired++;
}

static void show(const char *what, int sig)
{
	struct sigaction a;
	const char *h;

	if (sigaction(sig, NULL, &a) != 0) {
		printf("%s: sigaction failed\n", what);
		return;
	}
	h = a.sa_handler == SIG_DFL ? "SIG_DFL" : a.sa_handler == SIG_IGN ? "SIG_IGN" :
	    a.sa_handler == on_signal ? "on_signal" : "other";
	printf("%s: handler=%s flags=%#x mask0=%#lx restorer=%s\n", what, h, (unsigned)a.sa_flags,
	       ((unsigned long *)&a.sa_mask)[0], a.sa_restorer ? "set" : "none");
}

static void set(int sig, void (*fn)(int), int flags, int masked)
{
	struct sigaction a;

	memset(&a, 0, sizeof a);
	a.sa_handler = fn;
	a.sa_flags = flags;
	sigemptyset(&a.sa_mask);
	if (masked)
		sigaddset(&a.sa_mask, masked);
	if (sigaction(sig, &a, NULL) != 0)
		printf("set %d failed\n", sig);
}

int main(void)
{
	take_request("sigview-1");
	show("SIGUSR1 at start", SIGUSR1);
	show("SIGSEGV at start", SIGSEGV);
	show("SIGTERM at start", SIGTERM);
	set(SIGUSR1, on_signal, SA_RESETHAND | SA_RESTART, SIGUSR2);
	show("SIGUSR1 set", SIGUSR1);
	raise(SIGUSR1);
	printf("fired %d\n", (int)fired);
	show("SIGUSR1 after it fired", SIGUSR1);
	set(SIGSEGV, on_signal, SA_NODEFER, SIGINT);
	show("SIGSEGV set", SIGSEGV);
	set(SIGSEGV, SIG_IGN, 0, 0);
	show("SIGSEGV ignored", SIGSEGV);
	set(SIGTERM, on_signal, 0, 0);
	show("SIGTERM set", SIGTERM);
	set(SIGTERM, SIG_DFL, 0, 0);
	show("SIGTERM default again", SIGTERM);
	return 0;
}
