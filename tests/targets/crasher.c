/*
 * crasher.c - dies inside a request, for the crash report test.
 * Usage: crasher segv|fpe|abort|handled ID
 * Takes a context by sending itself a request with X-Request-Id: ID, writes
 * a line and a partial line, then crashes. "handled" installs its own
 * SIGSEGV handler, which writes a line and exits with status 42.
 * Further ways to die or end (t_deaths):
 *   fixed     a SIGSEGV handler makes a PROT_NONE page writable and returns,
 *             three times ("recovered" after); then SIG_DFL and a real crash
 *   reraise   a SIGSEGV handler writes a line, restores SIG_DFL, returns
 *   abortret  abort() with a SIGABRT handler that returns
 *   unmapped  a SIGSEGV on a page just unmapped (the next page mapped
 *             would be that one), right after the request is read, before
 *             anything is written (the report's first line is the
 *             thread's first)
 *   ignored   SIGSEGV set to SIG_IGN, then a real fault (the kernel kills
 *             the process all the same)
 *   execign   SIGSEGV and SIGBUS set to SIG_IGN, an exec that fails, then
 *             an exec of itself as "ignored-child", which sends itself
 *             both and exits with status 7 (an exec keeps them ignored)
 *   quick_exit, _exit, _Exit, sigterm, sigpipe: end that way (quick_exit
 *             with an at_quick_exit handler adding " and its handler")
 */
#include <sys/mman.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

static void handler(int sig)
{
	static const char msg[] = "own handler ran\n";

	(void)sig;
	write(2, msg, sizeof msg - 1);
	_exit(42);
}


static char *page;

static void fix_page(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if ((char *)si->si_addr >= page && (char *)si->si_addr < page + 4096)
		mprotect(page, 4096, PROT_READ | PROT_WRITE);
}

static void reraise_handler(int sig)
{
	static const char msg[] = "own handler ran\n";

	write(2, msg, sizeof msg - 1);
	signal(sig, SIG_DFL);
}

static void returns(int sig)
{
	(void)sig;
}

static void on_quick_exit(void)
{
	fputs(" and its handler", stderr);
}

/* Not static: the backtrace test looks for its name. */
__attribute__((noinline)) int crash_here(const char *how);
__attribute__((noinline)) int crash_here(const char *how)
{
	volatile int one = 1, zero = 0;
	volatile uintptr_t bad = 16;

	if (strcmp(how, "fpe") == 0)
		return one / zero;
	if (strcmp(how, "abort") == 0 || strcmp(how, "abortret") == 0)
		abort();
	if (strcmp(how, "quick_exit") == 0)
		quick_exit(3);
	if (strcmp(how, "_exit") == 0)
		_exit(3);
	if (strcmp(how, "_Exit") == 0)
		_Exit(3);
	if (strcmp(how, "sigterm") == 0)
		raise(SIGTERM);
	if (strcmp(how, "unmapped") == 0) {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p != MAP_FAILED && munmap(p, 4096) == 0)
			*(volatile char *)p = 1;
		return 0;       /* survived the fault: "not crashed" */
	}
	if (strcmp(how, "sigpipe") == 0) {
		int p[2];

		if (pipe(p) == 0 && close(p[0]) == 0)
			write(p[1], "x", 1);
	}
	*(volatile int *)bad = 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	if (strcmp(argv[1], "ignored-child") == 0) {
		kill(getpid(), SIGSEGV);
		kill(getpid(), SIGBUS);
		return 7;
	}
	if (strcmp(argv[1], "execign") == 0) {
		signal(SIGSEGV, SIG_IGN);
		signal(SIGBUS, SIG_IGN);
		execl("/nonexistent/reqctx-test", "x", (char *)NULL);
		execl("/proc/self/exe", argv[0], "ignored-child", argv[2], (char *)NULL);
		return 2;
	}
	if (strcmp(argv[1], "handled") == 0)
		signal(SIGSEGV, handler);
	if (strcmp(argv[1], "reraise") == 0)
		signal(SIGSEGV, reraise_handler);
	if (strcmp(argv[1], "ignored") == 0)
		signal(SIGSEGV, SIG_IGN);
	if (strcmp(argv[1], "abortret") == 0)
		signal(SIGABRT, returns);
	if (strcmp(argv[1], "quick_exit") == 0)
		at_quick_exit(on_quick_exit);
	if (strcmp(argv[1], "fixed") == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = fix_page;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	take_request(argv[2]);
	if (strcmp(argv[1], "unmapped") == 0 && crash_here(argv[1]) == 0) {
		fprintf(stderr, "not crashed\n");
		return 1;
	}
	fprintf(stderr, "working on it\n");
	if (page) {
		for (int i = 0; i < 3; i++) {
			page[i] = 1;
			mprotect(page, 4096, PROT_NONE);
		}
		fprintf(stderr, "recovered\n");
		signal(SIGSEGV, SIG_DFL);
	}
	fputs("unfinished line", stderr);
	if (crash_here(argv[1]) == 0)
		fprintf(stderr, "not crashed\n");
	return 1;
}
