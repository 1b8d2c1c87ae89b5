/*
 * small_stack.c - a thread made with a small stack (Node makes threads of
 * 32 KiB; PTHREAD_STACK_MIN is 16 KiB) writes to stderr inside a request:
 * partial lines, whole lines, a writev and fprintf. glibc takes the
 * static thread-local blocks out of that stack first (and fails
 * pthread_create with EINVAL when they do not fit), so the agent's must be
 * small and its line writer must not take much of what is left.
 *
 * The target reads a request with "X-Request-Id: small-1" from a
 * loopback connection it makes to itself (the agent makes that the
 * thread's context; the new thread inherits it), then the thread writes
 * LINES lines of each kind. stdout: "done" once the thread has ended
 * ("done early" for a thread made in .preinit_array).
 * With "early", the thread is made in the program's .preinit_array,
 * before the agent is on (it does not see the thread start), and reads
 * the request itself once main has sent it.
 * Usage: small_stack [STACK_BYTES [early]]
 */
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define LINES 50

static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < LINES; i++) {
		struct iovec v[3] = { { "small writev ", 13 }, { "of three ", 9 }, { "pieces\n", 7 } };

		if (write(2, "small partial ", 14) != 14 || write(2, "line\n", 5) != 5 ||
		    write(2, "small whole line\n", 17) != 17 || writev(2, v, 3) != 29)
			_exit(3);
		fprintf(stderr, "small fprintf %d\n", i);
	}
	return NULL;
}

static int ls = -1;
static atomic_int go;
static pthread_t early_thread;
static int early_made;

static int make_thread(pthread_t *t, size_t stack, void *(*fn)(void *))
{
	pthread_attr_t at;

	pthread_attr_init(&at);
	return pthread_attr_setstacksize(&at, stack) == 0 && pthread_create(t, &at, fn, NULL) == 0;
}

/* The thread made before the agent is on: the request is its own read. */
static void *early_writer(void *arg)
{
	char buf[512];
	int s;

	while (!atomic_load(&go))
		sched_yield();
	s = accept(ls, NULL, NULL);
	if (s < 0 || read(s, buf, sizeof buf) <= 0)
		_exit(2);
	return writer(arg);
}

static void early(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc > 2 && strcmp(argv[2], "early") == 0)
		early_made = make_thread(&early_thread, strtoul(argv[1], NULL, 0), early_writer) ? 1 : -1;
}

__attribute__((section(".preinit_array"), used))
static void (*const preinit)(int, char **, char **) = early;

int main(int argc, char **argv)
{
	size_t stack = argc > 1 ? strtoul(argv[1], NULL, 0) : 32768;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	const char req[] = "GET /small-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: small-1\r\n\r\n";
	char buf[512];
	int c, s;
	pthread_t t;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) < 0)
		return 2;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0 ||
	    send(c, req, sizeof req - 1, 0) != (ssize_t)(sizeof req - 1))
		return 2;
	if (early_made) {
		if (early_made < 0)
			return 4;
		atomic_store(&go, 1);
		pthread_join(early_thread, NULL);
		printf("done early\n");
		return 0;
	}
	s = accept(ls, NULL, NULL);
	if (s < 0 || read(s, buf, sizeof buf) <= 0)
		return 2;
	if (!make_thread(&t, stack, writer))
		return 4;
	pthread_join(t, NULL);
	printf("done\n");
	return 0;
}
