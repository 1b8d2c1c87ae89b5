/*
 * bench.h - what the benchmark programs share: clocks, failing loudly, and
 * a context for the calling thread made the way a server gets one.
 */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *bench_name = "bench";

/* Prints "NAME: what: errno text" on stdout (the driver reads it) and exits 1. */
static inline void die(const char *what)
{
	fprintf(stdout, "%s: %s: %s\n", bench_name, what, strerror(errno));
	exit(1);
}

/* Seconds, monotonic. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds of CPU time, all threads of the process. */
static inline double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A loopback listener made with raw system calls; *addr gets its address. */
static inline int bench_listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof *addr;
	int lsn = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)addr, sizeof *addr) < 0 ||
	    listen(lsn, 128) < 0 || getsockname(lsn, (struct sockaddr *)addr, &len) < 0)
		die("listen");
	return lsn;
}

/* Connects to `lsn` with raw system calls (the agent does not see that
 * end), sends a request head carrying X-Request-Id NAME-N, then accepts and
 * reads it through libc: under the agent the calling thread now has a
 * context with that ID. Returns the accepted fd. */
static inline int bench_take_context(int lsn, const struct sockaddr_in *addr, int n)
{
	char head[128], buf[256];
	int c = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int len = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: b\r\nX-Request-Id: %s-%d\r\n\r\n",
			   bench_name, n);
	int fd;

	if (c < 0 || syscall(SYS_connect, c, addr, sizeof *addr) < 0)
		die("connect");
	if (syscall(SYS_write, c, head, (size_t)len) != len)
		die("client write");
	fd = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		die("accept4");
	if (read(fd, buf, sizeof buf) <= 0)
		die("read");
	return fd;
}

#endif
