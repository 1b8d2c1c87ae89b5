/*
 * drainq - an acceptor and one worker sharing an in-memory job queue: the
 * acceptor reads each request's head, queues {connection, ID} behind a
 * mutex and writes one wake-up byte to a pipe; the worker reads one byte,
 * lets a little time pass (a busy worker), then empties the queue. The
 * jobs it takes after the first were queued before their own wake-ups
 * were read: nothing the worker does names them until it answers them.
 *
 *   drainq PORT_FILE close|keep [main]
 *
 * Listens on 127.0.0.1 (port written to PORT_FILE). A client sends
 * "GET /<ID> HTTP/1.1" with X-Request-Id <ID> and reads the answer.
 * close: the worker closes each answered connection, counts it under a
 *        stats mutex and writes "done".
 * keep:  the worker hands each answered connection back through a second
 *        pipe (as a keep-alive server returns it to its loop) and writes
 *        "done"; a reaper thread closes it a little later.
 * main:  the worker's loop runs on the main thread, the acceptor's on a
 *        thread of its own.
 *
 * Lines on stderr (one write(2) each):
 *   queued id=ID        the acceptor, after reading the head
 *   start id=ID         the worker, after taking the job from the queue
 *   answered id=ID      after writing the response
 *   done id=ID          after closing it (close) or handing it back (keep)
 *   queue empty         the worker found nothing more: about no request
 */
#include <pthread.h>
#include <stdio.h>

#include "target.h"

#define SLOTS 64
#define WORKER_DELAY_US 150000   /* time for more jobs to queue up */
#define REAPER_DELAY_US 100000

struct job {
	int fd;
	char id[64];
};

static struct job queue[SLOTS];
static unsigned head, tail;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned served;
static int wake[2], back[2];
static int keep;

static int take(struct job *j)
{
	int got = 0;

	pthread_mutex_lock(&queue_lock);
	if (head != tail) {
		*j = queue[head++ % SLOTS];
		got = 1;
	}
	pthread_mutex_unlock(&queue_lock);
	return got;
}

static void *worker(void *arg)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
	struct job j;
	char b;

	for (;;) {
		if (read(wake[0], &b, 1) != 1)
			continue;
		usleep(WORKER_DELAY_US);
		while (take(&j)) {
			say("start id=%s\n", j.id);
			send_all(j.fd, ok, sizeof ok - 1);
			say("answered id=%s\n", j.id);
			if (keep) {
				write_all(back[1], (const char *)&j.fd, sizeof j.fd);
			} else {
				close(j.fd);
				pthread_mutex_lock(&stats_lock);
				served++;
				pthread_mutex_unlock(&stats_lock);
			}
			say("done id=%s\n", j.id);
		}
		say("queue empty\n");
	}
	return arg;
}

static int lfd;

static void *acceptor(void *arg)
{
	for (;;) {
		struct job j;

		j.fd = accept_request(lfd, j.id, sizeof j.id - 1);
		say("queued id=%s\n", j.id);
		pthread_mutex_lock(&queue_lock);
		if (tail - head < SLOTS)
			queue[tail++ % SLOTS] = j;
		pthread_mutex_unlock(&queue_lock);
		write_all(wake[1], "w", 1);
	}
	return arg;
}

int main(int argc, char **argv)
{
	unsigned short port;
	pthread_t t;
	struct reaper reaper;
	int on_main;

	if (argc < 3 || argc > 4 || (strcmp(argv[2], "close") != 0 && strcmp(argv[2], "keep") != 0) ||
	    (argc == 4 && strcmp(argv[3], "main") != 0)) {
		fprintf(stderr, "usage: drainq PORT_FILE close|keep [main]\n");
		return 2;
	}
	keep = strcmp(argv[2], "keep") == 0;
	on_main = argc == 4;
	if (pipe(wake) < 0 || pipe(back) < 0)
		die("pipe");
	reaper = (struct reaper){ back[0], REAPER_DELAY_US };
	lfd = listen_loopback(SOCK_STREAM, 0, SLOTS, &port);
	if (pthread_create(&t, NULL, on_main ? acceptor : worker, NULL) != 0 ||
	    pthread_create(&t, NULL, reap_handed_back, &reaper) != 0)
		die("pthread_create");
	write_port_file(argv[1], port);
	if (on_main)
		worker(NULL);
	else
		acceptor(NULL);
	return 0;
}
