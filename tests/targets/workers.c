/*
 * workers - an HTTP/1.1 server whose acceptor threads hand each request to
 * worker threads through a mutex-protected job queue, woken one of four
 * ways (tests/integration/t_workers):
 *
 *   workers PORT_FILE pipe               1 acceptor, 1 worker; one byte
 *                                        written to a pipe per job, the
 *                                        worker reads one byte per job
 *   workers PORT_FILE eventfd-sem        same, eventfd(EFD_SEMAPHORE): each
 *                                        read takes one job
 *   workers PORT_FILE eventfd            same, plain eventfd: a read takes
 *                                        every pending count N and the
 *                                        worker runs N jobs
 *   workers PORT_FILE condvar [W]        3 acceptors ("producers"), W
 *                                        workers (default 3) waiting in
 *                                        pthread_cond_wait; the producer
 *                                        answers the client (202) and queues
 *                                        a background job, signalling once
 *   workers PORT_FILE condvar-respond [W]  the same, but the worker answers
 *   ... MODE W A [GAP]                   A acceptors instead (any mode; W is
 *                                        ignored by the fd modes: 1 worker),
 *                                        each waiting up to GAP us between
 *                                        queueing a job and announcing it
 *
 * Requests: GET /job/TOK (one per connection; the test sends TOK as the
 * X-Request-Id too), GET /quit/TOK stops the server: the acceptors stop,
 * the workers drain the queue and stop, the main thread logs "shutdown"
 * and exits 0.
 *
 * stderr:
 *   listening mode=M workers=W                main thread, no context
 *   accepted tok=TOK a=A                      acceptor A, after reading
 *   batch n=N w=W                             eventfd mode: the worker read N
 *   job start tok=TOK w=W                     worker W, before touching the
 *   job work tok=TOK w=W                      client connection
 *   job done tok=TOK w=W                      after answering (or, in condvar
 *                                             mode, after the work)
 *   quit tok=TOK                              acceptor
 *   shutdown jobs=N                           main thread, no context
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define HEAD_MAX 4096
#define TOK_MAX 128
#define MAX_THREADS 8

enum mode { M_PIPE, M_EVSEM, M_EV, M_COND, M_COND_RESPOND };

struct job {
	struct job *next;
	int fd;                         /* client, or -1 when already answered */
	char tok[TOK_MAX + 1];
};

static enum mode mode;
static int nacceptors = 1, nworkers = 1;
static long gap_us;     /* most microseconds an acceptor waits between queueing and announcing */
static int lfd = -1;
static int wake_rd = -1, wake_wr = -1;  /* pipe ends, or the eventfd twice */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct job *qhead, *qtail;
static int stopping;                    /* under qlock */
static unsigned long jobs_done;         /* under qlock */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void answer(int fd, int status, const char *tok)
{
	char resp[TOK_MAX + 256], body[TOK_MAX + 16];
	int bl = snprintf(body, sizeof body, "%s\n", tok);
	int rl = snprintf(resp, sizeof resp,
			  "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			  status, status == 200 ? "OK" : status == 202 ? "Accepted" : "Error",
			  bl, body);

	send_all(fd, resp, (size_t)rl);
}

/* Reads a request head; returns the TOK of /job/TOK or /quit/TOK in tok and
 * 1 for a job, 2 for quit, 0 for anything else. */
static int read_request(int fd, char *tok)
{
	char buf[HEAD_MAX + 1], *sp1, *sp2, *slash;
	int kind;

	if (read_request_head(fd, buf, HEAD_MAX) < 0)
		return 0;
	sp1 = strchr(buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp2 == NULL)
		return 0;
	*sp2 = '\0';
	if (strncmp(sp1 + 1, "/job/", 5) == 0)
		kind = 1;
	else if (strncmp(sp1 + 1, "/quit/", 6) == 0)
		kind = 2;
	else
		return 0;
	slash = strrchr(sp1 + 1, '/');
	if (strlen(slash + 1) == 0 || strlen(slash + 1) > TOK_MAX)
		return 0;
	strcpy(tok, slash + 1);
	return kind;
}

/* ---- the queue ------------------------------------------------------------ */

static void push(struct job *j)
{
	pthread_mutex_lock(&qlock);
	j->next = NULL;
	if (qtail)
		qtail->next = j;
	else
		qhead = j;
	qtail = j;
	pthread_mutex_unlock(&qlock);
}

static struct job *pop_locked(void)
{
	struct job *j = qhead;

	if (j) {
		qhead = j->next;
		if (qhead == NULL)
			qtail = NULL;
	}
	return j;
}

static struct job *pop(void)
{
	struct job *j;

	pthread_mutex_lock(&qlock);
	j = pop_locked();
	pthread_mutex_unlock(&qlock);
	return j;
}

/* Tells the workers (of the fd modes) about one more job. */
static void announce(void)
{
	if (mode == M_PIPE) {
		char b = 'j';

		while (write(wake_wr, &b, 1) < 0)
			if (errno != EINTR)
				die("write pipe");
	} else if (mode == M_EVSEM) {
		uint64_t one = 1;

		while (write(wake_wr, &one, sizeof one) < 0)
			if (errno != EINTR)
				die("write eventfd");
	} else {
		if (eventfd_write(wake_wr, 1) < 0)
			die("eventfd_write");
	}
}

/* ---- threads -------------------------------------------------------------- */

static void run_job(struct job *j, int w)
{
	fprintf(stderr, "job start tok=%s w=%d\n", j->tok, w);
	sleep_us(200);
	fprintf(stderr, "job work tok=%s w=%d\n", j->tok, w);
	if (j->fd >= 0) {
		answer(j->fd, 200, j->tok);
		close(j->fd);
	}
	fprintf(stderr, "job done tok=%s w=%d\n", j->tok, w);
	pthread_mutex_lock(&qlock);
	jobs_done++;
	pthread_mutex_unlock(&qlock);
	free(j);
}

/* A job with an empty token tells a worker to stop. */
static int is_stop(const struct job *j)
{
	return j->tok[0] == '\0';
}

static void *fd_worker(void *arg)
{
	int w = (int)(long)arg;

	for (;;) {
		uint64_t n = 1;
		ssize_t r;

		if (mode == M_PIPE) {
			char b;

			r = read(wake_rd, &b, 1);
		} else if (mode == M_EVSEM) {
			r = read(wake_rd, &n, sizeof n);
		} else {
			eventfd_t v;

			r = eventfd_read(wake_rd, &v) == 0 ? (ssize_t)sizeof v : -1;
			n = v;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("worker read");
		if (mode == M_EV)
			fprintf(stderr, "batch n=%llu w=%d\n", (unsigned long long)n, w);
		for (uint64_t k = 0; k < n; k++) {
			struct job *j = pop();

			if (j == NULL) {
				fprintf(stderr, "worker %d: announced job missing\n", w);
				exit(1);
			}
			if (is_stop(j)) {
				free(j);
				return NULL;
			}
			run_job(j, w);
		}
	}
}

static void *cond_worker(void *arg)
{
	int w = (int)(long)arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&qlock);
		while (qhead == NULL && !stopping)
			pthread_cond_wait(&qcond, &qlock);
		j = pop_locked();
		pthread_mutex_unlock(&qlock);
		if (j == NULL)
			return NULL;        /* stopping and drained */
		run_job(j, w);
	}
}

static void *acceptor(void *arg)
{
	int a = (int)(long)arg;

	for (;;) {
		char tok[TOK_MAX + 1];
		struct job *j;
		int fd, kind;

		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;        /* the listener was shut down */
		}
		kind = read_request(fd, tok);
		if (kind == 0) {
			answer(fd, 400, "bad");
			close(fd);
			continue;
		}
		if (kind == 2) {
			fprintf(stderr, "quit tok=%s\n", tok);
			answer(fd, 200, tok);
			close(fd);
			shutdown(lfd, SHUT_RDWR);       /* wakes the other acceptors */
			return NULL;
		}
		fprintf(stderr, "accepted tok=%s a=%d\n", tok, a);
		j = calloc(1, sizeof *j);
		if (j == NULL)
			die("calloc");
		strcpy(j->tok, tok);
		j->fd = fd;
		if (mode == M_COND) {
			answer(fd, 202, tok);
			close(fd);
			j->fd = -1;
		}
		push(j);
		/* A thread may lose the processor between the two steps. */
		if (gap_us > 0)
			sleep_us(random() % (gap_us + 1));
		if (mode == M_COND || mode == M_COND_RESPOND)
			pthread_cond_signal(&qcond);
		else
			announce();
	}
}

int main(int argc, char **argv)
{
	static const char *names[] = { "pipe", "eventfd-sem", "eventfd", "condvar", "condvar-respond" };
	pthread_t acc[MAX_THREADS], wrk[MAX_THREADS];
	unsigned short port;
	int m;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT_FILE pipe|eventfd-sem|eventfd|condvar|condvar-respond [W [A [GAP]]]\n",
			argv[0]);
		return 2;
	}
	for (m = 0; m < 5; m++)
		if (strcmp(argv[2], names[m]) == 0)
			break;
	if (m == 5) {
		fprintf(stderr, "unknown mode %s\n", argv[2]);
		return 2;
	}
	mode = (enum mode)m;
	if (mode == M_COND || mode == M_COND_RESPOND) {
		nacceptors = 3;
		nworkers = argc > 3 ? atoi(argv[3]) : 3;
		if (nworkers < 1 || nworkers > MAX_THREADS)
			nworkers = 3;
	}
	if (argc > 4) {
		nacceptors = atoi(argv[4]);
		if (nacceptors < 1 || nacceptors > MAX_THREADS)
			nacceptors = 1;
	}
	if (argc > 5)
		gap_us = atol(argv[5]);
	signal(SIGPIPE, SIG_IGN);

	if (mode == M_PIPE) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe2");
		wake_rd = p[0];
		wake_wr = p[1];
	} else if (mode == M_EVSEM || mode == M_EV) {
		wake_rd = wake_wr = eventfd(0, EFD_CLOEXEC | (mode == M_EVSEM ? EFD_SEMAPHORE : 0));
		if (wake_rd < 0)
			die("eventfd");
	}

	lfd = listen_loopback(SOCK_STREAM | SOCK_CLOEXEC, 0, 1024, &port);

	for (int i = 0; i < nworkers; i++)
		if (pthread_create(&wrk[i], NULL,
				   mode >= M_COND ? cond_worker : fd_worker, (void *)(long)i) != 0)
			die("pthread_create worker");
	for (int i = 0; i < nacceptors; i++)
		if (pthread_create(&acc[i], NULL, acceptor, (void *)(long)i) != 0)
			die("pthread_create acceptor");

	fprintf(stderr, "listening mode=%s workers=%d\n", names[m], nworkers);
	write_port_file(argv[1], port);

	for (int i = 0; i < nacceptors; i++)
		pthread_join(acc[i], NULL);
	/* Stop the workers once the queue is drained. */
	if (mode >= M_COND) {
		pthread_mutex_lock(&qlock);
		stopping = 1;
		pthread_cond_broadcast(&qcond);
		pthread_mutex_unlock(&qlock);
	} else {
		struct job *stop = calloc(1, sizeof *stop);

		if (stop == NULL)
			die("calloc");
		stop->fd = -1;
		push(stop);
		announce();
	}
	for (int i = 0; i < nworkers; i++)
		pthread_join(wrk[i], NULL);
	fprintf(stderr, "shutdown jobs=%lu\n", jobs_done);
	close(lfd);
	return 0;
}
