/*
 * mcload.c - a closed-loop memcached load generator (text protocol).
 *
 *   mcload PORT CONNS THREADS SECONDS [KEYS [SET_PERCENT]]
 *
 * Stores KEYS keys (32-byte values) first, untimed (unless MCLOAD_NO_PRELOAD
 * is set: they are there from an earlier run). Then THREADS threads
 * share CONNS connections to 127.0.0.1:PORT; each connection has exactly one
 * request outstanding (no pipelining): a get of a random key, or a set with
 * probability SET_PERCENT (default 10). Runs SECONDS after a 0.5 s warm-up.
 * Prints: ops <tab> N <tab> seconds <tab> S <tab> rate <tab> ops/s <tab> p50_us <tab> X <tab> p99_us <tab> Y
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VLEN 32
#define HBUCKETS 100000        /* 1 us buckets up to 100 ms */

struct conn {
	int fd;
	bool is_set;
	size_t len;
	double sent;
	char buf[512];
};

struct worker {
	pthread_t t;
	int nconns;
	struct conn *conns;
	unsigned seed;
	unsigned long ops;
	unsigned *hist;
};

static int port, nkeys = 10000, set_pct = 10;
static double seconds, t_begin, t_measure, t_stop;
static char value[VLEN + 1];

static void die(const char *what)
{
	fprintf(stdout, "mcload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("send");
		p += w;
		n -= (size_t)w;
	}
}

static void request(struct worker *w, struct conn *c)
{
	char req[160];
	int key = (int)(rand_r(&w->seed) % (unsigned)nkeys), n;

	c->is_set = (int)(rand_r(&w->seed) % 100) < set_pct;
	if (c->is_set)
		n = snprintf(req, sizeof req, "set key:%08d 0 0 %d\r\n%s\r\n", key, VLEN, value);
	else
		n = snprintf(req, sizeof req, "get key:%08d\r\n", key);
	c->len = 0;
	c->sent = now();
	send_all(c->fd, req, (size_t)n);
}

/* The reply is complete: "STORED\r\n" for a set, "...END\r\n" for a get. */
static bool complete(const struct conn *c)
{
	if (c->len >= 2 && memcmp(c->buf + c->len - 2, "\r\n", 2) == 0) {
		if (c->is_set)
			return true;
		return c->len >= 5 && memcmp(c->buf + c->len - 5, "END\r\n", 5) == 0;
	}
	return false;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < w->nconns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->conns[i] };

		epoll_ctl(ep, EPOLL_CTL_ADD, w->conns[i].fd, &ev);
		request(w, &w->conns[i]);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, 100);
		double t = now();

		if (t >= t_stop)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);

			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				die("recv");
			}
			c->len += (size_t)r;
			if (c->len >= sizeof c->buf - 1)
				die("reply too long");
			if (!complete(c))
				continue;
			if (c->sent >= t_measure && t < t_stop) {
				long us = (long)((t - c->sent) * 1e6);

				w->ops++;
				w->hist[us < HBUCKETS ? us : HBUCKETS - 1]++;
			}
			request(w, c);
		}
	}
	close(ep);
	return NULL;
}

static void preload(void)
{
	int fd = dial();
	char req[160], rep[64];

	for (int k = 0; k < nkeys; k++) {
		int n = snprintf(req, sizeof req, "set key:%08d 0 0 %d\r\n%s\r\n", k, VLEN, value);
		size_t got = 0;

		send_all(fd, req, (size_t)n);
		while (got < 8) {
			ssize_t r = recv(fd, rep + got, sizeof rep - got, 0);

			if (r <= 0)
				die("preload recv");
			got += (size_t)r;
		}
		if (memcmp(rep, "STORED\r\n", 8) != 0)
			die("preload: not stored");
	}
	close(fd);
}

static double pct(unsigned long *sum, unsigned long total, double q)
{
	unsigned long want = (unsigned long)(q * (double)total), acc = 0;

	for (int i = 0; i < HBUCKETS; i++) {
		acc += sum[i];
		if (acc > want)
			return i + 0.5;
	}
	return HBUCKETS;
}

int main(int argc, char **argv)
{
	int nconns, nthreads;
	struct worker *ws;
	unsigned long total = 0, *sum;

	if (argc < 5) {
		fprintf(stdout, "usage: mcload PORT CONNS THREADS SECONDS [KEYS [SET_PERCENT]]\n");
		return 2;
	}
	port = atoi(argv[1]);
	nconns = atoi(argv[2]);
	nthreads = atoi(argv[3]);
	seconds = atof(argv[4]);
	if (argc > 5)
		nkeys = atoi(argv[5]);
	if (argc > 6)
		set_pct = atoi(argv[6]);
	if (nconns < 1 || nthreads < 1 || nthreads > nconns || nkeys < 1)
		return 2;
	memset(value, 'v', VLEN);
	if (!getenv("MCLOAD_NO_PRELOAD"))
		preload();

	ws = calloc((size_t)nthreads, sizeof *ws);
	sum = calloc(HBUCKETS, sizeof *sum);
	t_begin = now();
	t_measure = t_begin + 0.5;
	t_stop = t_measure + seconds;
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];

		w->nconns = nconns / nthreads + (i < nconns % nthreads);
		w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
		w->hist = calloc(HBUCKETS, sizeof *w->hist);
		w->seed = 12345u + (unsigned)i;
		for (int j = 0; j < w->nconns; j++)
			w->conns[j].fd = dial();
	}
	for (int i = 0; i < nthreads; i++)
		pthread_create(&ws[i].t, NULL, run, &ws[i]);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ws[i].t, NULL);
		total += ws[i].ops;
		for (int b = 0; b < HBUCKETS; b++)
			sum[b] += ws[i].hist[b];
	}
	printf("ops\t%lu\tseconds\t%.3f\trate\t%.0f\tp50_us\t%.1f\tp99_us\t%.1f\n", total, seconds,
	       (double)total / seconds, pct(sum, total, 0.50), pct(sum, total, 0.99));
	return 0;
}
