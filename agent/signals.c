/*
 * signals.c - the agent's signal handlers and the host's view of them.
 *
 * Two groups:
 * - crash signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): the agent's
 *   handler is always installed. It hands the signal on to what the host
 *   asked for: its own handler (called as the kernel would call it,
 *   SA_SIGINFO, SA_RESETHAND and SA_NODEFER honoured; its mask and
 *   SA_ONSTACK are installed with the agent's handler), SIG_IGN, or the
 *   default action. sigaction() shows the host its own settings. Only a
 *   death gets the crash report (REQCTX_CRASH=0: none) and the writing of
 *   what threads hold: when the default action is about to run, when the
 *   program's handler ends the process (_exit, quick_exit), or when it
 *   returns from abort()'s SIGABRT. A handler that fixes the fault and
 *   returns (a JVM's) is no death: nothing is written, and a later real
 *   crash still gets its report. A SIGSEGV or SIGBUS on the agent's own
 *   probe of the program's bytes (base/probe.h) is no crash at all: the
 *   probe answers no, and nothing else happens.
 * - other default-fatal signals (SIGTERM, SIGINT, ...): only while their
 *   disposition is the default, a handler writes what threads hold and
 *   re-raises with the default action restored.
 * Either way exit statuses and core dumps are unchanged. The handlers are
 * async-signal-safe: no allocation, no waiting on a lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/crash.h"
#include "agent/flow.h"
#include "agent/out.h"
#include "base/probe.h"
#include "base/real.h"
#include "agent/signals.h"

static const int crash_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

static const int fatal_sigs[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTRAP, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM,
	SIGXCPU, SIGXFSZ, SIGSYS, SIGPIPE, SIGVTALRM, SIGPROF, SIGIO, SIGPWR,
	SIGSTKFLT,
};

enum { NOT_OURS, FLUSH_ONLY, CRASH, WRAPPED };

static volatile sig_atomic_t role[NSIG];
static struct sigaction host[NSIG];       /* the host's view (CRASH, WRAPPED) */

/* The kernel's flag (Linux uapi asm/signal.h), which <signal.h> does not
 * define. */
#if !defined(SA_RESTORER) && (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__))
#define SA_RESTORER 0x04000000
#endif

/* glibc's sigaction gives the kernel every action with SA_RESTORER and
 * its own return trampoline, and the kernel reports both back: the
 * program's view of an action the agent keeps says so too (learnt from
 * the kernel's answer at start-up). */
#ifdef SA_RESTORER
static void (*restorer)(void);
#endif

static void as_kernel_keeps(struct sigaction *a)
{
#ifdef SA_RESTORER
	if (restorer) {
		a->sa_flags |= SA_RESTORER;
		a->sa_restorer = restorer;
	}
#else
	(void)a;
#endif
}
static volatile sig_atomic_t reported;

/* The crash whose program handler this thread is running, if any. */
struct pending {
	int sig;
	siginfo_t *info;
	void *uc;
};
static AGENT_TLS struct pending pending;
static AGENT_TLS int aborting;

AGENT_NOT_INSTRUMENTED
bool signals_owned(int sig)
{
	return sig > 0 && sig < NSIG && role[sig] != NOT_OURS;
}

static void reraise(int sig)
{
	REAL(syscall)(SYS_tgkill, getpid(), gettid(), sig);
}

/* A fault's signal sent again with the fault's own siginfo (its code and
 * address stay in a core dump's record of the signal): a process may
 * queue any siginfo to itself. */
static void reraise_fault(int sig, const siginfo_t *info)
{
	if (REAL(syscall)(SYS_rt_tgsigqueueinfo, getpid(), gettid(), sig, info) != 0)
		reraise(sig);
}

static void last_words(int sig)
{
	int saved = errno;

	/* SA_RESETHAND has already put SIG_DFL back. */
	role[sig] = NOT_OURS;
	agent_enter();
	out_flush_all(true, true);
	agent_leave();
	/* Blocked while we run: delivered, with the default action, on return. */
	reraise(sig);
	errno = saved;
}

static void set_default(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	REAL(sigaction)(sig, &dfl, NULL);
}

/* Runs the program's handler as the kernel would have, marking the thread
 * as inside a handler: what the handler writes goes straight out and never
 * joins the line the interrupted code was writing. */
static void call_host(const struct sigaction *h, int sig, siginfo_t *info, void *uc)
{
	int level = agent_self.in_signal;
	const void *frame = agent_self.signal_frame;

	/* The kernel puts back the default handler, and only that: the
	 * flags and the mask stay as they were. */
	if (h->sa_flags & SA_RESETHAND)
		host[sig].sa_handler = SIG_DFL;
	agent_self.signal_frame = __builtin_frame_address(0);
	/* A signal after the current request's connection was closed (Redis
	 * runs its SIGTERM shutdown in the loop turn that closed the last
	 * client): what the process does about it - the handler's lines, the
	 * shutdown it schedules - is not that request's work. Its lines carry
	 * nothing until the thread switches or works on a connection again
	 * (muted; line_ctx); nothing else changes here, where no lock may be
	 * taken (flow_request_over only reads the fd map). */
	if (agent_self.cur && agent_self.pinned != agent_self.cur && flow_request_over(agent_self.cur))
		agent_self.muted = true;
	agent_self.in_signal = level + 1;
	agent_self.signals++;     /* the line writer tells EINTR from EAGAIN by it */
	if (h->sa_flags & SA_SIGINFO)
		h->sa_sigaction(sig, info, uc);
	else
		h->sa_handler(sig);
	agent_self.in_signal = level;
	agent_self.signal_frame = frame;
}

static void wrapped_entry(int sig, siginfo_t *info, void *uc)
{
	struct sigaction h = host[sig];

	if (h.sa_handler == SIG_DFL || h.sa_handler == SIG_IGN) {
		/* Reset meanwhile (SA_RESETHAND): act as the default would. */
		set_default(sig);
		reraise(sig);
		return;
	}
	call_host(&h, sig, info, uc);
}

/* The process dies of `sig`: the report (once per process), then what
 * threads hold. A report ties a crash to a request: outside any request the
 * program's own tools (faulthandler, core dumps) speak alone, and a program
 * that checks what a crashing child wrote sees nothing added. */
static void dying(int sig, siginfo_t *info, void *uc)
{
	int saved = errno;

	if (!__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL)) {
		agent_enter();
		if (agent_config->crash && agent_self.cur)
			crash_report(sig, info, uc);
		out_flush_all(true, true);
		agent_leave();
	}
	errno = saved;
}

void signals_aborting(void)
{
	aborting = 1;
}

void signals_process_ends(void)
{
	if (pending.sig)
		dying(pending.sig, pending.info, pending.uc);
}

static void crash_entry(int sig, siginfo_t *info, void *uc)
{
	int saved = errno;
	struct sigaction h = host[sig];
	struct pending outer = pending;

	/* The agent asking whether the program's bytes can be read (a bad
	 * pointer the kernel would refuse with EFAULT): no crash, nothing
	 * handed on. */
	if ((sig == SIGSEGV || sig == SIGBUS) && probe_fixup(uc))
		return;
	/* A fault's signal ignored: the kernel kills all the same (it puts
	 * the default action back for a fault it cannot deliver). */
	if (h.sa_handler == SIG_IGN && !(info && info->si_code > 0 && sig != SIGABRT))
		return;
	if (h.sa_handler == SIG_DFL || h.sa_handler == SIG_IGN) {
		dying(sig, info, uc);
		role[sig] = NOT_OURS;
		set_default(sig);
		/* Sent again, to be delivered with the default action when this
		 * handler returns: a sent signal, and a fault too, since the
		 * report's work may have mapped the faulting address (a page
		 * just unmapped is the next one mmap gives), and the faulting
		 * instruction run again would then go on. Where the signal is
		 * not blocked here (SA_NODEFER), sending it would end the
		 * process inside this handler: a fault re-executes instead. */
		if (info == NULL || info->si_code <= 0)
			reraise(sig);
		else if (!(host[sig].sa_flags & SA_NODEFER))
			reraise_fault(sig, info);
		errno = saved;
		return;
	}
	/* The program's handler: a death only if it ends the process from
	 * inside (signals_process_ends) or returns into abort(). */
	pending = (struct pending){ sig, info, uc };
	/* What this thread held goes out before what the handler writes (the
	 * order without the agent); the line stays open, no report. Not in
	 * abort(): its handler's return is the death, whose report must not
	 * land inside the held line. */
	if (!(sig == SIGABRT && aborting)) {
		agent_enter();
		out_flush_all(false, true);
		agent_leave();
	}
	call_host(&h, sig, info, uc);
	pending = outer;
	if (sig == SIGABRT && aborting)
		dying(sig, info, uc);
	errno = saved;
}

/* Installs the agent's handler for `sig` with the host's mask and flags
 * (SIGCHLD's SA_NOCLDWAIT and SA_NOCLDSTOP included: without them, a
 * program that relies on its children being reaped by the kernel piles
 * up zombies, and its wait()s and system() see statuses instead of
 * ECHILD). */
static int install_crash(int sig)
{
	struct sigaction ours;

	memset(&ours, 0, sizeof ours);
	ours.sa_sigaction = role[sig] == WRAPPED ? wrapped_entry : crash_entry;
	ours.sa_mask = host[sig].sa_mask;
	ours.sa_flags = SA_SIGINFO | (host[sig].sa_flags & (SA_ONSTACK | SA_NODEFER | SA_RESTART |
							    SA_NOCLDWAIT | SA_NOCLDSTOP));
	return REAL(sigaction)(sig, &ours, NULL);
}

unsigned signals_before_exec(void)
{
	unsigned changed = 0;

	for (size_t i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++) {
		int sig = crash_sigs[i];
		struct sigaction ign;

		if (role[sig] != CRASH || host[sig].sa_handler != SIG_IGN)
			continue;
		memset(&ign, 0, sizeof ign);
		ign.sa_handler = SIG_IGN;
		if (REAL(sigaction)(sig, &ign, NULL) == 0)
			changed |= 1u << i;
	}
	return changed;
}

void signals_exec_failed(unsigned changed)
{
	int saved = errno;

	for (size_t i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++)
		if (changed & (1u << i))
			install_crash(crash_sigs[i]);
	errno = saved;
}

/* quick_exit() runs neither destructors nor the exported _exit: what
 * threads hold is written after the program's at_quick_exit handlers (this
 * one, registered by the constructor, runs after every one registered
 * later). */
static void quick_exit_ends(void)
{
	if (!agent_running())
		return;
	signals_process_ends();
	agent_enter();
	out_flush_all(true, false);
	agent_leave();
}

void signals_init(void)
{
	at_quick_exit(quick_exit_ends);
	/* Installed with REQCTX_CRASH=0 too: a death writes what threads hold. */
	for (size_t i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++) {
		int sig = crash_sigs[i];

		if (REAL(sigaction)(sig, NULL, &host[sig]) == 0 && install_crash(sig) == 0)
			role[sig] = CRASH;
#ifdef SA_RESTORER
		if (restorer == NULL) {
			struct sigaction k;

			if (REAL(sigaction)(sig, NULL, &k) == 0 && (k.sa_flags & SA_RESTORER))
				restorer = k.sa_restorer;
		}
#endif
	}
	for (size_t i = 0; i < sizeof fatal_sigs / sizeof fatal_sigs[0]; i++) {
		int sig = fatal_sigs[i];
		struct sigaction cur, ours;

		if (REAL(sigaction)(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL ||
		    (cur.sa_flags & SA_SIGINFO))
			continue;
		memset(&ours, 0, sizeof ours);
		ours.sa_handler = last_words;
		sigemptyset(&ours.sa_mask);
		ours.sa_flags = SA_RESETHAND | SA_RESTART;
		if (REAL(sigaction)(sig, &ours, NULL) == 0)
			role[sig] = FLUSH_ONLY;
	}
}

AGENT_NOT_INSTRUMENTED
int signals_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction dfl, prev;

	if (!signals_owned(sig)) {
		/* A handler of the program's own: wrapped, its view kept. */
		if (act == NULL || act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN ||
		    sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
			return REAL(sigaction)(sig, act, old);
		if (REAL(sigaction)(sig, NULL, &prev) != 0)
			return -1;
		host[sig] = *act;
		as_kernel_keeps(&host[sig]);
		role[sig] = WRAPPED;
		if (install_crash(sig) != 0) {
			role[sig] = NOT_OURS;
			return REAL(sigaction)(sig, act, old);
		}
		if (old)
			*old = prev;
		return 0;
	}
	if (role[sig] == CRASH || role[sig] == WRAPPED) {
		prev = host[sig];
		if (act) {
			/* Let the kernel judge the request (mask, flags) first. */
			struct sigaction probe = *act;

			if (probe.sa_handler != SIG_DFL && probe.sa_handler != SIG_IGN) {
				probe.sa_flags |= SA_SIGINFO;
				probe.sa_sigaction = role[sig] == WRAPPED ? wrapped_entry : crash_entry;
			} else if (role[sig] == CRASH) {
				probe.sa_flags |= SA_SIGINFO;
				probe.sa_sigaction = crash_entry;
			}
			if (REAL(sigaction)(sig, &probe, NULL) != 0)
				return -1;
			host[sig] = *act;
			as_kernel_keeps(&host[sig]);
			if (role[sig] == WRAPPED &&
			    (act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN))
				role[sig] = NOT_OURS;   /* the probe installed it as is */
			else
				install_crash(sig);
		}
		if (old)
			*old = prev;
		return 0;
	}
	/* FLUSH_ONLY: the host sees SIG_DFL. */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	if (act && act->sa_handler == SIG_DFL && !(act->sa_flags & SA_SIGINFO)) {
		if (old)
			*old = dfl;
		return 0;
	}
	if (act) {
		if (REAL(sigaction)(sig, act, NULL) != 0)
			return -1;
		role[sig] = NOT_OURS;
		if (act->sa_handler != SIG_IGN) {
			/* The program's own handler from now on: wrapped. */
			host[sig] = *act;
			as_kernel_keeps(&host[sig]);
			role[sig] = WRAPPED;
			if (install_crash(sig) != 0)
				role[sig] = NOT_OURS;
		}
	}
	if (old)
		*old = dfl;
	return 0;
}
