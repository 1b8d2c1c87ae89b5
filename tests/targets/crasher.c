/*
 * crasher.c - dies inside a request, for the crash report test.
 * Usage: crasher segv|fpe|abort|handled ID
 * Takes a context by sending itself a request with X-Request-Id: ID, writes
 * a line and a partial line, then crashes. "handled" installs its own
 * SIGSEGV handler, which writes a line and exits with status 42.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void handler(int sig)
{
	static const char msg[] = "own handler ran\n";

	(void)sig;
	write(2, msg, sizeof msg - 1);
	_exit(42);
}

static void take_context(const char *id)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	char req[256], buf[512];
	int l, c, s, n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		exit(2);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a))
		exit(2);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Request-Id: %s\r\n\r\n", id);
	if (write(c, req, (size_t)n) != n || (s = accept(l, NULL, NULL)) < 0 ||
	    read(s, buf, sizeof buf) <= 0)
		exit(2);
}

/* Not static: the backtrace test looks for its name. */
__attribute__((noinline)) int crash_here(const char *how);
__attribute__((noinline)) int crash_here(const char *how)
{
	volatile int one = 1, zero = 0;
	volatile uintptr_t bad = 16;

	if (strcmp(how, "fpe") == 0)
		return one / zero;
	if (strcmp(how, "abort") == 0)
		abort();
	*(volatile int *)bad = 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	if (strcmp(argv[1], "handled") == 0)
		signal(SIGSEGV, handler);
	take_context(argv[2]);
	fprintf(stderr, "working on it\n");
	fputs("unfinished line", stderr);
	if (crash_here(argv[1]) == 0)
		fprintf(stderr, "not crashed\n");
	return 1;
}
