/*
 * fork_stall.c - fork while another thread's tagged write is blocked on a
 * stalled log: fd 2 is a pipe whose reader (the test) reads nothing yet.
 * A writer thread, inside request "stall-w", writes LINES numbered lines
 * "stall line <n>" of about 1 KiB to fd 2; the pipe fills and its write
 * blocks. Main waits until the writer has been inside a write for 200 ms,
 * forks (the child _exits 0 at once), waits for the child and reports on
 * stdout "forked ms <t> child <status>" (t: the fork's own duration),
 * then joins the writer and reports "lines <n>" and exits 0.
 * Usage: fork_stall
 */
#include <pthread.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

#include "target.h"

#define LINES 256

static volatile int in_write;          /* the writer is inside write() */
static volatile long written;

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *writer(void *arg)
{
	char line[1024];

	(void)arg;
	take_request("stall-w");
	memset(line, 'x', sizeof line);
	for (long n = 0; n < LINES; n++) {
		int len = snprintf(line, sizeof line, "stall line %ld ", n);

		line[len] = 'x';
		line[sizeof line - 1] = '\n';
		in_write = 1;
		write_all(2, line, sizeof line);
		in_write = 0;
		written = n + 1;
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	double t0, t1;
	long before = -1;
	int stuck_ms = 0, status = -1;
	pid_t pid;

	if (pthread_create(&t, NULL, writer, NULL) != 0)
		die("pthread_create");
	/* the writer blocked: inside a write, no progress for 200 ms */
	while (stuck_ms < 200) {
		usleep(10000);
		if (in_write && written == before) {
			stuck_ms += 10;
		} else {
			stuck_ms = 0;
			before = written;
		}
	}
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	t1 = now_ms();
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	printf("forked ms %.3f child %d\n", t1 - t0, status);
	fflush(stdout);
	pthread_join(t, NULL);
	printf("lines %ld\n", written);
	return 0;
}
