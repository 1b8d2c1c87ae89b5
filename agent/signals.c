/*
 * signals.c - the flush-then-die handler and the host's view of it.
 * The handler is async-signal-safe: out_flush_all(from_signal) never waits
 * on a lock and never allocates; the signal is then re-raised with the
 * default action restored.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "out.h"
#include "real.h"
#include "signals.h"

static const int fatal[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
	SIGSEGV, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGXCPU, SIGXFSZ, SIGSYS,
};

static volatile sig_atomic_t owned[NSIG];

bool signals_owned(int sig)
{
	return sig > 0 && sig < NSIG && owned[sig];
}

static void last_words(int sig)
{
	int saved = errno;

	/* SA_RESETHAND has already put SIG_DFL back. */
	owned[sig] = 0;
	agent_enter();
	out_flush_all(true, true);
	agent_leave();
	/* Blocked while we run: delivered, with the default action, on return. */
	syscall(SYS_tgkill, getpid(), gettid(), sig);
	errno = saved;
}

void signals_init(void)
{
	for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
		int sig = fatal[i];
		struct sigaction cur, ours;

		if (REAL(sigaction)(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL ||
		    (cur.sa_flags & SA_SIGINFO))
			continue;
		memset(&ours, 0, sizeof ours);
		ours.sa_handler = last_words;
		sigemptyset(&ours.sa_mask);
		ours.sa_flags = SA_RESETHAND | SA_RESTART;
		if (REAL(sigaction)(sig, &ours, NULL) == 0)
			owned[sig] = 1;
	}
}

int signals_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction dfl;
	int r;

	if (!signals_owned(sig))
		return REAL(sigaction)(sig, act, old);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	if (act && act->sa_handler == SIG_DFL && !(act->sa_flags & SA_SIGINFO)) {
		/* Asking for the default it already sees: nothing to change. */
		if (old)
			*old = dfl;
		return 0;
	}
	if (act) {
		r = REAL(sigaction)(sig, act, NULL);
		if (r != 0)
			return r;
		owned[sig] = 0;
	}
	if (old)
		*old = dfl;
	return 0;
}
