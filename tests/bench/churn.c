/*
 * churn.c - many short connections to an HTTP/1.1 server on 127.0.0.1:
 * each connects, sends one request, reads the whole response (by its
 * Content-Length) and closes with a reset (SO_LINGER 0), so no TIME_WAIT
 * piles up on the client ports.
 *
 *   churn PORT COUNT [THREADS]
 *
 * Prints: conns <tab> COUNT <tab> seconds <tab> S <tab> rate <tab> conns/s
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static long per_thread;

static void die(const char *what)
{
	fprintf(stdout, "churn: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void one(long i)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct linger lg = { 1, 0 };
	char req[128], buf[4096];
	size_t got = 0;
	long need = -1;
	int n, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	n = snprintf(req, sizeof req, "GET /churn/%ld HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", i);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		die("send");
	for (;;) {
		ssize_t r = recv(fd, buf + got, sizeof buf - got - 1, 0);
		char *end, *cl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("recv");
		got += (size_t)r;
		buf[got] = '\0';
		if (need < 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			cl = strcasestr(buf, "Content-Length:");
			if (cl == NULL || cl > end)
				die("no Content-Length");
			need = (end + 4 - buf) + atol(cl + 15);
		}
		if (need >= 0 && (long)got >= need)
			break;
		if (got >= sizeof buf - 1)
			die("response too long");
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static void *run(void *arg)
{
	long base = (long)arg * per_thread;

	for (long i = 0; i < per_thread; i++)
		one(base + i);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[64];
	long count;
	int threads;
	double t0;

	if (argc < 3) {
		fprintf(stdout, "usage: churn PORT COUNT [THREADS]\n");
		return 2;
	}
	port = atoi(argv[1]);
	count = atol(argv[2]);
	threads = argc > 3 ? atoi(argv[3]) : 2;
	if (threads < 1 || threads > 64 || count < threads)
		return 2;
	per_thread = count / threads;
	t0 = now();
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("conns\t%ld\tseconds\t%.3f\trate\t%.0f\n", per_thread * threads, now() - t0,
	       (double)(per_thread * threads) / (now() - t0));
	return 0;
}
