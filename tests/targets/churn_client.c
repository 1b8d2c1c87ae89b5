/*
 * churn_client - opens and closes many short-lived HTTP connections, one
 * request each, for tests/integration/t_churn.
 *
 *   churn_client PORT CONNS THREADS TAG
 *
 * THREADS threads share CONNS connections. Connection j of thread t sends
 *   GET /<TAG>-<t>-<j> HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: <TAG>-<t>-<j>\r\n\r\n
 * reads the response (status line, headers, Content-Length body), checks
 * that it is a 200 whose body names the path, and closes the connection:
 * odd j with a reset (SO_LINGER 0: no TIME_WAIT left behind), even j
 * gracefully. A connect that fails for want of local ports
 * (EADDRNOTAVAIL) is retried after 1 ms, at most 5000 times.
 *
 * Prints one line on stdout: "ok N errors E retries R secs S".
 * The first errors are described on stderr.
 */
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

#define MAX_THREADS 64

static struct sockaddr_in server;
static const char *tag;
static long per_thread[MAX_THREADS];
static unsigned long ok_total, err_total, retry_total, err_shown;

static void complain(const char *what, const char *id, int err)
{
	if (__atomic_fetch_add(&err_shown, 1, __ATOMIC_RELAXED) < 10)
		fprintf(stderr, "churn_client: %s: %s: %s\n", id, what, err ? strerror(err) : "bad data");
	__atomic_fetch_add(&err_total, 1, __ATOMIC_RELAXED);
}

/* Reads one response into buf; returns its length or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	char *end;
	long clen = -1;

	for (;;) {
		ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			const char *cl = strstr(buf, "Content-Length: ");

			if (cl == NULL || cl > end)
				return -1;
			clen = atol(cl + 16);
			if ((long)got >= (end - buf) + 4 + clen)
				return (int)got;
		}
		if (got >= cap - 1)
			return -1;
	}
}

static void *client(void *arg)
{
	long t = (long)arg;
	char id[128], req[512], resp[4096], want[160];
	unsigned long ok = 0, retries = 0;

	for (long j = 0; j < per_thread[t]; j++) {
		int fd, n, tries = 0;

		snprintf(id, sizeof id, "%s-%ld-%ld", tag, t, j);
		for (;;) {
			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				complain("socket", id, errno);
				goto next;
			}
			if (connect(fd, (struct sockaddr *)&server, sizeof server) == 0)
				break;
			if ((errno == EADDRNOTAVAIL || errno == EAGAIN) && tries++ < 5000) {
				struct timespec ms = { 0, 1000000 };

				close(fd);
				retries++;
				nanosleep(&ms, NULL);
				continue;
			}
			complain("connect", id, errno);
			close(fd);
			goto next;
		}
		if (j % 2) {
			struct linger lg = { 1, 0 };

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		n = snprintf(req, sizeof req,
			     "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: %s\r\n\r\n", id, id);
		if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
			complain("send", id, errno);
		} else if (read_response(fd, resp, sizeof resp) < 0) {
			complain("response", id, errno);
		} else {
			snprintf(want, sizeof want, "path=/%s\n", id);
			if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 || strstr(resp, want) == NULL)
				complain("response", id, 0);
			else
				ok++;
		}
		close(fd);
next:
		;
	}
	__atomic_fetch_add(&ok_total, ok, __ATOMIC_RELAXED);
	__atomic_fetch_add(&retry_total, retries, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	struct timespec a, b;
	long conns;
	int threads;

	if (argc != 5) {
		fprintf(stderr, "usage: churn_client PORT CONNS THREADS TAG\n");
		return 2;
	}
	conns = atol(argv[2]);
	threads = atoi(argv[3]);
	tag = argv[4];
	if (conns < 0 || threads < 1 || threads > MAX_THREADS)
		return 2;
	memset(&server, 0, sizeof server);
	server.sin_family = AF_INET;
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server.sin_port = htons((unsigned short)atoi(argv[1]));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int t = 0; t < threads; t++) {
		per_thread[t] = conns / threads + (t < conns % threads ? 1 : 0);
		if (pthread_create(&th[t], NULL, client, (void *)(long)t) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (int t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("ok %lu errors %lu retries %lu secs %.3f\n", ok_total, err_total, retry_total,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return err_total ? 1 : 0;
}
