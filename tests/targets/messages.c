/*
 * messages - the messages libc composes on stderr (perror, psignal, error,
 * error_at_line, warn, warnx, and error's and err's exit), outside any
 * request. tests/integration/t_messages_same runs it with stderr on a
 * SOCK_SEQPACKET socket, which keeps each write(2) apart, with and
 * without the agent: the same pieces, in the same order.
 *   messages          every message, then exit 0
 *   messages exit     error(3, ENOENT, ...): its message, then exit 3
 */
#include <err.h>
#include <errno.h>
#include <error.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		error(3, ENOENT, "gone %d", 3);
	errno = ENOENT;
	perror("open x");
	errno = EACCES;
	perror(NULL);
	psignal(SIGTERM, "child");
	psignal(SIGTERM, NULL);
	psignal(1000, "odd");
	error(0, ENOENT, "cannot access '%s'", "/nonexist");
	error(0, 0, "no errno %d", 7);
	error_at_line(0, EPERM, "f.c", 12, "at %s", "line");
	error_at_line(0, 0, NULL, 0, "no file");
	errno = ENOENT;
	warn("x %d", 1);
	errno = ENOENT;
	warn(NULL);
	warnx("plain %s", "note");
	return 0;
}
