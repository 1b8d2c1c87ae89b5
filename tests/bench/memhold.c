/*
 * memhold.c - the agent's memory per tracked fd, per live context and per
 * epoll registration, read from this process's resident set.
 *
 *   memhold N
 *
 * Steps, with the RSS (/proc/self/smaps_rollup) after each:
 *   start      arrays allocated and touched, a listener and an epoll fd open
 *   sockets    N sockets made with socket(2) through libc: the agent tracks
 *              each fd (the process has no context, so none carries one)
 *   reclosed   those N sockets closed again (their fd slots stay allocated)
 *   accepted   N loopback connections accepted through libc on the same fd
 *              numbers: each one a new live context, no new fd slot
 *   epoll      the N accepted fds registered with the epoll instance
 *   closed     the N connections closed (their contexts end)
 *   again      N new connections accepted: do the ended contexts' memory
 *              and the registrations' get reused?
 * The client ends live in a child process made with raw system calls (the
 * agent does not see them), so the fd limit bounds N, not 2N. The kernel's
 * socket memory is not part of RSS: run with and without the agent, the
 * difference between the two runs' growth at each step is the agent's.
 * Prints: STEP <tab> rss_bytes
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct sockaddr_in addr;
static int tok[2], ack[2];

static void die(const char *what)
{
	fprintf(stdout, "memhold: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Resident bytes, counted from the page tables (smaps_rollup): exact,
 * unlike statm's counters, which the kernel updates in batches. */
static long rss(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (f == NULL)
		die("smaps_rollup");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		die("smaps_rollup: no Rss");
	return kb * 1024;
}

static void step(const char *name)
{
	printf("%s\t%ld\n", name, rss());
	fflush(stdout);
}

static void raw_msg(int fd, int v)
{
	if (syscall(SYS_write, fd, &v, sizeof v) != sizeof v)
		die("pipe write");
}

static int raw_get(int fd)
{
	int v;

	if (syscall(SYS_read, fd, &v, sizeof v) != sizeof v)
		syscall(SYS_exit_group, 1);
	return v;
}

/* The child: k > 0 connects k clients, -2 closes all of them, -1 exits.
 * Raw system calls only. */
static void client_process(int n)
{
	int *fds = calloc((size_t)n * 2, sizeof *fds), have = 0;

	for (;;) {
		int k = raw_get(tok[0]);

		if (k == -1)
			syscall(SYS_exit_group, 0);
		if (k == -2) {
			for (int i = 0; i < have; i++)
				syscall(SYS_close, fds[i]);
			have = 0;
		}
		for (int i = 0; i < k; i++) {
			int c = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (c < 0 || syscall(SYS_connect, c, &addr, sizeof addr) < 0)
				syscall(SYS_exit_group, 1);
			fds[have++] = c;
		}
		raw_msg(ack[1], k);
	}
}

static void accept_n(int lsn, int *srv, int n)
{
	const int batch = 1000;

	for (int i = 0; i < n; i += batch) {
		int k = n - i < batch ? n - i : batch;

		raw_msg(tok[1], k);
		if (raw_get(ack[0]) != k)
			die("client process");
		for (int j = i; j < i + k; j++) {
			struct sockaddr_in peer;
			socklen_t plen = sizeof peer;

			if ((srv[j] = accept4(lsn, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC)) < 0)
				die("accept4");
		}
	}
}

int main(int argc, char **argv)
{
	socklen_t len = sizeof addr;
	struct rlimit rl;
	int n = argc > 1 ? atoi(argv[1]) : 10000, lsn, ep;
	int *socks, *srv;
	long pid;

	if (n < 1)
		return 2;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
		rlim_t want = (rlim_t)(2 * n + 64);

		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		if (want > rl.rlim_max) {
			struct rlimit up = { want, want };

			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				rl = up;
		}
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)n + 64 > rl.rlim_cur)
			n = (int)(rl.rlim_cur - 64);
	}
	printf("n\t%d\n", n);
	socks = calloc((size_t)n, sizeof *socks);
	srv = calloc((size_t)n, sizeof *srv);
	if (!socks || !srv)
		die("calloc");
	memset(socks, 0xff, (size_t)n * sizeof *socks);
	memset(srv, 0xff, (size_t)n * sizeof *srv);

	lsn = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	    listen(lsn, 4096) < 0 || getsockname(lsn, (struct sockaddr *)&addr, &len) < 0)
		die("listen");
	if (syscall(SYS_pipe2, tok, O_CLOEXEC) < 0 || syscall(SYS_pipe2, ack, O_CLOEXEC) < 0)
		die("pipe2");
	pid = syscall(SYS_fork);
	if (pid < 0)
		die("fork");
	if (pid == 0)
		client_process(n);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	step("start");

	for (int i = 0; i < n; i++)
		if ((socks[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die("socket");
	step("sockets");
	for (int i = 0; i < n; i++)
		close(socks[i]);
	step("reclosed");

	accept_n(lsn, srv, n);
	step("accepted");

	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = srv[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, srv[i], &ev) < 0)
			die("epoll_ctl");
	}
	step("epoll");

	for (int i = 0; i < n; i++)
		close(srv[i]);
	raw_msg(tok[1], -2);
	raw_get(ack[0]);
	step("closed");

	accept_n(lsn, srv, n);
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = srv[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, srv[i], &ev) < 0)
			die("epoll_ctl");
	}
	step("again");
	raw_msg(tok[1], -1);
	return 0;
}
