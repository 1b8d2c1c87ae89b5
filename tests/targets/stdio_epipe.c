/*
 * stdio_epipe.c - for t_outputs: in request "ep-1", with SIGPIPE ignored
 * and stdout a pipe nobody reads any more, a line an inlined putc_unlocked
 * left in stdout's buffer is flushed: fflush must fail as it does without
 * the agent. Prints "fflush=<r> errno=<name>" on stderr.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "target.h"

int main(void)
{
	int r, e;

	signal(SIGPIPE, SIG_IGN);
	take_request("ep-1");
	__putc_unlocked_body('x', stdout);
	__putc_unlocked_body('\n', stdout);
	r = fflush(stdout);
	e = errno;
	fprintf(stderr, "fflush=%d errno=%s\n", r, r ? strerror(e) : "-");
	return 0;
}
