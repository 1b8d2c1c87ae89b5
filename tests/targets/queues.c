/*
 * queues - an HTTP/1.1 server (one request per connection) whose acceptor
 * (the main thread) hands each job to workers through a queue the agent
 * sees only in part (tests/integration/t_handoffs):
 *
 *   queues PORT_FILE dgram    a SOCK_DGRAM socketpair: each job a datagram
 *                             64 bytes longer than the worker's buffer
 *                             (the kernel drops the rest)
 *   queues PORT_FILE frames   a pipe of framed messages (an 8-byte header,
 *                             then the payload, one write); a thread that
 *                             serves no request writes one tick message
 *                             before the first job (bytes the agent does
 *                             not record: no request has used the pipe
 *                             yet); one worker, starting 300 ms late,
 *                             reads each header, then its payload
 *   queues PORT_FILE efdsem   eventfd(EFD_SEMAPHORE) wake-ups for a mutex-
 *                             guarded queue, 2 workers: the first holds
 *                             its first wake-up 200 ms before it takes a
 *                             job, the second starts 100 ms late (so the
 *                             first job it takes is the one the first
 *                             worker's wake-up announced)
 *   queues PORT_FILE dprintf  each job a text line written with dprintf
 *                             into a pipe; one worker reads lines with read
 *   queues PORT_FILE fgets    each job a text line written with write; one
 *                             worker reads them with fgets from fdopen
 *   queues PORT_FILE fprintf  each job a text line written with fprintf
 *                             and fflush on fdopen, read with getline; the
 *                             worker closes a job's connection only after
 *                             reading the next job (answered, still open)
 *   queues PORT_FILE batched  the same as fprintf, each request read and
 *                             queued by a thread of its own into the one
 *                             stream, flushed every second job: a flush
 *                             carries two requests' jobs
 *   queues PORT_FILE peek     each job a text line through a stream
 *                             socketpair; the worker looks at it with
 *                             recv(MSG_PEEK) and logs "peeked tok=TOK"
 *                             before reading it; closes late as fprintf
 *
 * Requests: GET /job/TOK (the test sends TOK as X-Request-Id too), GET
 * /quit/TOK stops the server. stderr: "accepted tok=TOK", "job start
 * tok=TOK", "job done tok=TOK" (after answering and closing, or answering
 * in the modes that close late), "peeked tok=TOK", "tick",
 * "listening mode=M", "shutdown".
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define TOK_MAX 63

enum mode { M_DGRAM, M_FRAMES, M_EFDSEM, M_DPRINTF, M_FGETS, M_FPRINTF, M_PEEK, M_BATCHED };

struct job {
	int fd;
	char tok[TOK_MAX + 1];
};

struct frame {
	uint32_t type;              /* 1 a job, 2 a tick, 3 stop */
	uint32_t len;
};

static enum mode mode;
static int lfd, qrd = -1, qwr = -1, efd = -1;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct job *queue[1024];
static unsigned qhead, qtail;
static pthread_t workers[2], ticker_thread;
static int nworkers = 1;

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The connection of the job a worker answered last, in the modes that
 * close it only after the next read: answered, still open. */
static __thread int answered_fd = -1;

static void close_answered(void)
{
	if (answered_fd >= 0)
		close(answered_fd);
	answered_fd = -1;
}

/* Logs, answers and closes job j (late in fprintf and peek mode). */
static void run_job(const struct job *j)
{
	char resp[TOK_MAX + 128];
	int n = snprintf(resp, sizeof resp,
			 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			 strlen(j->tok) + 1, j->tok);

	fprintf(stderr, "job start tok=%s\n", j->tok);
	send_all(j->fd, resp, (size_t)n);
	if (mode == M_FPRINTF || mode == M_PEEK || mode == M_BATCHED) {
		answered_fd = j->fd;
	} else {
		close(j->fd);
	}
	fprintf(stderr, "job done tok=%s\n", j->tok);
}

static void write_frame(uint32_t type, const struct job *j)
{
	char m[sizeof(struct frame) + sizeof *j];
	struct frame h = { type, sizeof *j };

	memcpy(m, &h, sizeof h);
	memcpy(m + sizeof h, j, sizeof *j);
	write_all(qwr, m, sizeof m);      /* one write: one message */
}

static void *ticker(void *arg)
{
	struct job t = { .fd = -1, .tok = "tick" };

	(void)arg;
	write_frame(2, &t);
	return NULL;
}

/* The next job for worker w, or 0 at the stop. */
static int next_job(long w, struct job *j, int *first)
{
	switch (mode) {
	case M_DGRAM: {
		ssize_t r = recv(qrd, j, sizeof *j, 0);     /* the padding cut off */

		return r == (ssize_t)sizeof *j && j->fd >= 0;
	}
	case M_FRAMES:
		for (;;) {
			struct frame h;

			if (read(qrd, &h, sizeof h) != (ssize_t)sizeof h || h.len != sizeof *j ||
			    read(qrd, j, sizeof *j) != (ssize_t)sizeof *j)
				return 0;
			if (h.type == 3)
				return 0;
			if (h.type == 1)
				return 1;
			fprintf(stderr, "tick\n");
		}
	case M_EFDSEM: {
		uint64_t v;
		struct job *q;

		if (read(efd, &v, sizeof v) != (ssize_t)sizeof v)
			return 0;
		if (w == 0 && *first)
			sleep_us(200000);   /* between the wake-up and the queue */
		*first = 0;
		pthread_mutex_lock(&qlock);
		q = queue[qhead++ % 1024];
		pthread_mutex_unlock(&qlock);
		if (q == NULL)
			return 0;
		*j = *q;
		free(q);
		return 1;
	}
	case M_DPRINTF: {
		static char buf[4096];
		static size_t have;
		char *nl;

		while ((nl = memchr(buf, '\n', have)) == NULL) {
			ssize_t r = read(qrd, buf + have, sizeof buf - have);

			if (r <= 0)
				return 0;
			have += (size_t)r;
		}
		*nl = '\0';
		if (sscanf(buf, "%d %63s", &j->fd, j->tok) != 2)
			j->fd = -1;
		have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, have);
		return j->fd >= 0;
	}
	case M_FGETS: {
		static FILE *in;
		char line[128];

		if (in == NULL && (in = fdopen(qrd, "r")) == NULL)
			die("fdopen");
		if (fgets(line, sizeof line, in) == NULL || sscanf(line, "%d %63s", &j->fd, j->tok) != 2)
			return 0;
		return j->fd >= 0;
	}
	case M_FPRINTF:
	case M_BATCHED: {
		static FILE *in;
		static char *line;
		static size_t cap;
		int ok;

		if (in == NULL && (in = fdopen(qrd, "r")) == NULL)
			die("fdopen");
		ok = getline(&line, &cap, in) > 0 && sscanf(line, "%d %63s", &j->fd, j->tok) == 2;
		close_answered();
		return ok && j->fd >= 0;
	}
	case M_PEEK: {
		char line[128];
		ssize_t r = recv(qrd, line, sizeof line - 1, MSG_PEEK);
		char *nl;

		if (r <= 0)
			return 0;
		line[r] = '\0';
		if ((nl = strchr(line, '\n')) == NULL || sscanf(line, "%d %63s", &j->fd, j->tok) != 2)
			return 0;
		if (j->fd >= 0)
			fprintf(stderr, "peeked tok=%s\n", j->tok);
		r = recv(qrd, line, (size_t)(nl - line) + 1, 0);     /* the line itself */
		close_answered();
		return r > 0 && j->fd >= 0;
	}
	}
	return 0;
}

static void *worker(void *arg)
{
	long w = (long)arg;
	int first = 1;
	struct job j;

	if (mode == M_FRAMES)
		sleep_us(300000);
	if (mode == M_EFDSEM && w == 1)
		sleep_us(100000);
	while (next_job(w, &j, &first))
		run_job(&j);
	return NULL;
}

static void hand_off(const struct job *j)
{
	switch (mode) {
	case M_DGRAM: {
		char d[sizeof *j + 64] = { 0 };

		memcpy(d, j, sizeof *j);
		if (send(qwr, d, sizeof d, 0) != (ssize_t)sizeof d)
			die("send");
		break;
	}
	case M_FRAMES:
		write_frame(j->fd < 0 ? 3 : 1, j);
		break;
	case M_EFDSEM: {
		struct job *q = NULL;
		uint64_t one = 1;

		if (j->fd >= 0) {
			if ((q = malloc(sizeof *q)) == NULL)
				die("malloc");
			*q = *j;
		}
		pthread_mutex_lock(&qlock);
		queue[qtail++ % 1024] = q;
		pthread_mutex_unlock(&qlock);
		if (write(efd, &one, sizeof one) != (ssize_t)sizeof one)
			die("write eventfd");
		break;
	}
	case M_DPRINTF:
		if (dprintf(qwr, "%d %s\n", j->fd, j->tok) < 0)
			die("dprintf");
		break;
	case M_FGETS:
	case M_PEEK: {
		char line[128];
		int n = snprintf(line, sizeof line, "%d %s\n", j->fd, j->tok);

		write_all(qwr, line, (size_t)n);
		break;
	}
	case M_FPRINTF:
	case M_BATCHED: {
		static FILE *out;
		static unsigned jobs;

		pthread_mutex_lock(&qlock);
		if (out == NULL && (out = fdopen(qwr, "w")) == NULL)
			die("fdopen");
		if (fprintf(out, "%d %s\n", j->fd, j->tok) < 0)
			die("fprintf");
		if ((mode == M_FPRINTF || ++jobs % 2 == 0 || j->fd < 0) && fflush(out) != 0)
			die("fflush");
		pthread_mutex_unlock(&qlock);
		break;
	}
	}
}

/* 1 job, 2 quit, 0 anything else; the token in tok (target.h). */
static int read_request(int fd, char *tok)
{
	return read_job_request(fd, tok, TOK_MAX);
}

/* batched: a request's own thread reads it and queues its job; the quit
 * request stops the acceptor's accept. */
static void *conn_thread(void *arg)
{
	struct job j = { .fd = (int)(long)arg };
	int kind = read_request(j.fd, j.tok);

	if (kind == 2) {
		send_all(j.fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 57);
		close(j.fd);
		shutdown(lfd, SHUT_RDWR);
	} else if (kind == 0) {
		close(j.fd);
	} else {
		fprintf(stderr, "accepted tok=%s\n", j.tok);
		hand_off(&j);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *names[] = { "dgram", "frames", "efdsem", "dprintf", "fgets", "fprintf", "peek",
				       "batched" };
	const int nmodes = (int)(sizeof names / sizeof names[0]);
	unsigned short port;
	int m, p[2];

	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT_FILE dgram|frames|efdsem|dprintf|fgets|fprintf|peek|batched\n",
			argv[0]);
		return 2;
	}
	m = pick_mode(argv[2], names, nmodes);
	mode = (enum mode)m;
	signal(SIGPIPE, SIG_IGN);
	if (mode == M_DGRAM || mode == M_PEEK ?
	    socketpair(AF_UNIX, mode == M_DGRAM ? SOCK_DGRAM : SOCK_STREAM, 0, p) : pipe(p))
		die("pipe");
	qrd = p[mode == M_DGRAM || mode == M_PEEK ? 1 : 0];
	qwr = p[mode == M_DGRAM || mode == M_PEEK ? 0 : 1];
	if (mode == M_EFDSEM) {
		if ((efd = eventfd(0, EFD_SEMAPHORE)) < 0)
			die("eventfd");
		nworkers = 2;
	}
	if (mode == M_FRAMES && (pthread_create(&ticker_thread, NULL, ticker, NULL) != 0 ||
				 pthread_join(ticker_thread, NULL) != 0))
		die("pthread_create");
	for (long i = 0; i < nworkers; i++)
		if (pthread_create(&workers[i], NULL, worker, (void *)i) != 0)
			die("pthread_create");
	lfd = listen_loopback(SOCK_STREAM | SOCK_CLOEXEC, 0, 1024, &port);
	fprintf(stderr, "listening mode=%s\n", names[m]);
	write_port_file(argv[1], port);
	for (;;) {
		struct job j = { .fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC) };
		int kind;

		if (j.fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (mode == M_BATCHED)
				break;          /* shut down by the quit request */
			die("accept4");
		}
		if (mode == M_BATCHED) {
			pthread_t t;
			pthread_attr_t a;

			pthread_attr_init(&a);
			pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &a, conn_thread, (void *)(long)j.fd) != 0)
				die("pthread_create");
			pthread_attr_destroy(&a);
			continue;
		}
		kind = read_request(j.fd, j.tok);
		if (kind == 2) {
			send_all(j.fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 57);
			close(j.fd);
			break;
		}
		if (kind == 0) {
			close(j.fd);
			continue;
		}
		fprintf(stderr, "accepted tok=%s\n", j.tok);
		hand_off(&j);
	}
	for (int i = 0; i < nworkers; i++) {
		struct job stop = { .fd = -1, .tok = "-" };

		hand_off(&stop);
	}
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	fprintf(stderr, "shutdown\n");
	return 0;
}
