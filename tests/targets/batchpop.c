/*
 * batchpop - a worker that takes several queued jobs at once and answers
 * them one after another with no call between them that the agent could
 * read as "the next job": an acceptor reads each request's head and
 * queues {connection, ID}; the worker takes every job queued so far in
 * one step, then for each job writes "start", answers, writes
 * "answered", closes the connection or hands it back, writes "done".
 * Nothing names a job before its answer: the worker's context for each
 * job can come only from writing that job's answer.
 *
 *   batchpop PORT_FILE swap-close|swap-keep|pipe-keep|swap-body|pipe-one|spawn|efd|heads
 *
 * swap-*:    the queue is an array behind a mutex and a condvar; the
 *            worker waits until BATCH jobs are queued (or WAIT_MS pass)
 *            and swaps the whole array out under the lock.
 * pipe-keep: the acceptor writes each job (a fixed-size record) into a
 *            pipe; the worker sleeps a little, then reads up to BATCH
 *            records in one read.
 * swap-body: as swap-close, the worker reading each request's 8-byte body
 *            from its connection before it answers (the client sends it
 *            after the head).
 * pipe-one:  as pipe-keep, the worker reading one record per read (the
 *            pipe's read end non-blocking) until EAGAIN, then answering
 *            and closing each.
 * spawn:     no worker: the acceptor starts a thread per request, which
 *            says "start", then answers and closes a little later (a
 *            thread per request, its head read by the acceptor, which
 *            reads the next head meanwhile).
 * heads:     no worker: the main thread accepts two connections and reads
 *            both heads, then answers and closes each itself.
 * efd:       one job at a time: the acceptor queues it and writes 1 to an
 *            eventfd two workers read; the one woken takes one job,
 *            answers and closes it.
 * *-close:   the worker closes each answered connection.
 * *-keep:    the worker hands each answered connection back through a
 *            second pipe (a keep-alive server returning it to its loop);
 *            a reaper thread closes it a little later.
 *
 * Listens on 127.0.0.1 (port written to PORT_FILE). A client sends
 * "GET /<ID> HTTP/1.1" with X-Request-Id <ID> and reads the answer.
 * Lines on stderr (one write(2) each):
 *   queued id=ID        the acceptor, after reading the head
 *   start id=ID N/M     the worker, job N of the M it took at once
 *   answered id=ID      after writing the answer
 *   done id=ID          after closing it or handing it back
 */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "target.h"

#define BATCH 4
#define WAIT_MS 300
#define PIPE_DELAY_US 150000
#define REAPER_DELAY_US 50000
#define SPAWN_DELAY_US 50000

struct job {
	int fd;
	char id[60];
};

enum mode { SWAP_CLOSE, SWAP_KEEP, PIPE_KEEP, SWAP_BODY, PIPE_ONE, SPAWN, EFD, HEADS };
static const char *const modes[] = { "swap-close", "swap-keep", "pipe-keep", "swap-body", "pipe-one", "spawn", "efd",
				     "heads" };
static enum mode mode;

static struct job queue[64];
static int queued;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static int jobs[2], back[2], efd;

/* Every job queued so far, at least one, into out[]; returns how many. */
static int take_all(struct job *out)
{
	struct timespec until;
	int n;

	pthread_mutex_lock(&lock);
	while (queued == 0)
		pthread_cond_wait(&more, &lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += WAIT_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (queued < BATCH && pthread_cond_timedwait(&more, &lock, &until) != ETIMEDOUT)
		;
	n = queued;
	memcpy(out, queue, (size_t)n * sizeof *out);
	queued = 0;
	pthread_mutex_unlock(&lock);
	return n;
}

static int read_all(struct job *out)
{
	ssize_t r;
	int n = 0;

	if (mode == PIPE_KEEP) {
		usleep(PIPE_DELAY_US);
		r = read(jobs[0], out, BATCH * sizeof *out);
		return r > 0 ? (int)(r / (ssize_t)sizeof *out) : 0;
	}
	/* pipe-one: wait for the first, let more come, then one per read */
	{
		struct pollfd p = { .fd = jobs[0], .events = POLLIN };

		if (poll(&p, 1, -1) != 1)
			return 0;
	}
	usleep(PIPE_DELAY_US);
	while (n < 64 && (r = read(jobs[0], &out[n], sizeof *out)) == (ssize_t)sizeof *out)
		n++;
	return n;
}

/* Job i of the n taken at once: "start", its body read (swap-body), the
 * answer, "answered", the connection closed or handed back, "done". */
static void answer(const struct job *j, int i, int n)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
	char body[8];
	size_t got = 0;

	say("start id=%s %d/%d\n", j->id, i, n);
	if (mode == SPAWN)
		usleep(SPAWN_DELAY_US);    /* the acceptor reads the next head meanwhile */
	while (mode == SWAP_BODY && got < sizeof body) {
		ssize_t r = read(j->fd, body + got, sizeof body - got);

		if (r <= 0 && !(r < 0 && errno == EINTR))
			break;
		got += r > 0 ? (size_t)r : 0;
	}
	send_all(j->fd, ok, sizeof ok - 1);
	say("answered id=%s\n", j->id);
	if (mode == SWAP_KEEP || mode == PIPE_KEEP)
		write_all(back[1], (const char *)&j->fd, sizeof j->fd);
	else
		close(j->fd);
	say("done id=%s\n", j->id);
}

/* spawn: the thread of one request. */
static void *one_request(void *arg)
{
	answer(arg, 1, 1);
	free(arg);
	return NULL;
}

/* efd: a worker woken through the eventfd takes one job. */
static void *efd_worker(void *arg)
{
	for (;;) {
		uint64_t n;
		struct job j;

		if (read(efd, &n, sizeof n) != sizeof n)
			continue;
		pthread_mutex_lock(&lock);
		if (queued == 0) {
			pthread_mutex_unlock(&lock);
			continue;
		}
		j = queue[0];
		memmove(queue, queue + 1, (size_t)--queued * sizeof *queue);
		pthread_mutex_unlock(&lock);
		answer(&j, 1, 1);
	}
	return arg;
}

static void *worker(void *arg)
{
	struct job mine[64];

	for (;;) {
		int n = mode == PIPE_KEEP || mode == PIPE_ONE ? read_all(mine) : take_all(mine);

		for (int i = 0; i < n; i++)
			answer(&mine[i], i + 1, n);
	}
	return arg;
}

int main(int argc, char **argv)
{
	unsigned short port;
	pthread_t t;
	struct reaper reaper;
	int lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: batchpop PORT_FILE swap-close|swap-keep|pipe-keep|swap-body|pipe-one|spawn|efd|heads\n");
		return 2;
	}
	mode = (enum mode)pick_mode(argv[2], modes, 8);
	if (pipe(jobs) < 0 || pipe(back) < 0 || (efd = eventfd(0, 0)) < 0)
		die("pipe");
	if (mode == PIPE_ONE && fcntl(jobs[0], F_SETFL, O_NONBLOCK) < 0)
		die("fcntl");
	reaper = (struct reaper){ back[0], REAPER_DELAY_US };
	lfd = listen_loopback(SOCK_STREAM, 0, 64, &port);
	if (mode == EFD) {
		if (pthread_create(&t, NULL, efd_worker, NULL) != 0 ||
		    pthread_create(&t, NULL, efd_worker, NULL) != 0)
			die("pthread_create");
	} else if (mode != SPAWN && mode != HEADS && pthread_create(&t, NULL, worker, NULL) != 0) {
		die("pthread_create");
	}
	if (pthread_create(&t, NULL, reap_handed_back, &reaper) != 0)
		die("pthread_create");
	write_port_file(argv[1], port);
	while (mode == HEADS) {
		struct job two[2];

		for (int i = 0; i < 2; i++) {
			two[i].fd = accept_request(lfd, two[i].id, sizeof two[i].id - 1);
			say("queued id=%s\n", two[i].id);
		}
		for (int i = 0; i < 2; i++)
			answer(&two[i], i + 1, 2);
	}
	for (;;) {
		struct job j;

		j.fd = accept_request(lfd, j.id, sizeof j.id - 1);
		say("queued id=%s\n", j.id);
		if (mode == PIPE_KEEP || mode == PIPE_ONE) {
			write_all(jobs[1], (const char *)&j, sizeof j);
			continue;
		}
		if (mode == SPAWN) {
			struct job *own = malloc(sizeof *own);

			if (own == NULL)
				die("malloc");
			*own = j;
			if (pthread_create(&t, NULL, one_request, own) != 0 || pthread_detach(t) != 0)
				die("pthread_create");
			continue;
		}
		pthread_mutex_lock(&lock);
		if (queued < 64)
			queue[queued++] = j;
		pthread_cond_signal(&more);
		pthread_mutex_unlock(&lock);
		if (mode == EFD) {
			uint64_t one = 1;

			write_all(efd, (const char *)&one, sizeof one);
		}
	}
}
