/*
 * reader_writer - a server whose threads split each request in two: the
 * acceptor queues each connection for a reader thread (a mutex and a
 * condvar), the reader reads the request's head and queues it for the
 * writer thread, which answers (after 30 ms) and closes; the reader goes
 * straight back to its queue for the next connection, before the answer.
 *
 *   reader_writer PORTFILE
 *
 * Writes the port it listens on to PORTFILE. Lines on stderr:
 *   "took conn tid=T"   the reader, a connection taken, nothing read yet:
 *                       no request's line (the previous request's ID
 *                       here is the fault this target catches)
 *   "read /ID tid=T"    the reader, the request read
 *   "wrote /ID"         the writer, the answer sent
 */
#include <pthread.h>
#include <sys/syscall.h>

#include "target.h"

#define SLOTS 256

struct job {
	int fd;
	char path[64];
};

struct queue {
	pthread_mutex_t m;
	pthread_cond_t c;
	struct job jobs[SLOTS];
	unsigned head, tail;
};

static struct queue conns = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };
static struct queue answers = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };

static void put(struct queue *q, struct job j)
{
	pthread_mutex_lock(&q->m);
	q->jobs[q->tail++ % SLOTS] = j;
	pthread_cond_signal(&q->c);
	pthread_mutex_unlock(&q->m);
}

static struct job take(struct queue *q)
{
	struct job j;

	pthread_mutex_lock(&q->m);
	while (q->head == q->tail)
		pthread_cond_wait(&q->c, &q->m);
	j = q->jobs[q->head++ % SLOTS];
	pthread_mutex_unlock(&q->m);
	return j;
}

static void *reader(void *unused)
{
	char buf[2048];
	long tid = (long)syscall(SYS_gettid);

	(void)unused;
	for (;;) {
		struct job j = take(&conns);
		ssize_t n;
		char *sp, *end;

		fprintf(stderr, "took conn tid=%ld\n", tid);
		n = read(j.fd, buf, sizeof buf - 1);
		if (n <= 0) {
			close(j.fd);
			continue;
		}
		buf[n] = '\0';
		sp = strchr(buf, ' ');
		end = sp ? strchr(sp + 1, ' ') : NULL;
		if (end) {
			*end = '\0';
			snprintf(j.path, sizeof j.path, "%s", sp + 1);
		}
		fprintf(stderr, "read %s tid=%ld\n", j.path, tid);
		put(&answers, j);
	}
	return NULL;
}

static void *writer(void *unused)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

	(void)unused;
	for (;;) {
		struct job j = take(&answers);

		usleep(30000);
		if (write(j.fd, ok, sizeof ok - 1) < 0)
			perror("write");
		fprintf(stderr, "wrote %s\n", j.path);
		close(j.fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned short port;
	pthread_t t;
	int l;
	FILE *f;

	if (argc != 2)
		return 2;
	setvbuf(stderr, NULL, _IONBF, 0);
	l = listen_loopback(SOCK_STREAM, 0, 64, &port);
	if (pthread_create(&t, NULL, reader, NULL) || pthread_create(&t, NULL, writer, NULL))
		die("pthread_create");
	f = fopen(argv[1], "w");
	if (f == NULL)
		die(argv[1]);
	fprintf(f, "%u\n", port);
	fclose(f);
	for (;;) {
		int c = accept(l, NULL, NULL);

		if (c >= 0)
			put(&conns, (struct job){ c, "" });
	}
}
