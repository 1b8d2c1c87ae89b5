/*
 * handoffs - an HTTP/1.1 server (one request per connection) whose requests
 * are handed between threads the ways the hand-off rules of agent/handoff.h
 * must never get wrong (tests/integration/t_handoffs):
 *
 *   handoffs PORT_FILE sem W      the acceptor queues each job and posts a
 *                                 POSIX semaphore; W workers sem_wait
 *   handoffs PORT_FILE lazy       a 2-thread condvar pool the acceptor
 *                                 creates inside the first request
 *   handoffs PORT_FILE late       a 4-thread condvar pool made at start
 *                                 whose threads begin 300 ms after the
 *                                 first job was queued: they find a
 *                                 backlog and take jobs without waiting
 *                                 until it is gone
 *   handoffs PORT_FILE latetry    the same, its workers taking the queue's
 *                                 mutex with pthread_mutex_trylock (a
 *                                 yield between tries), and the acceptor
 *                                 trying a statistics mutex while it
 *                                 holds the queue's (as jemalloc's own
 *                                 locks do in a malloc there)
 *   handoffs PORT_FILE latemain   the same as late, the main thread one
 *                                 of the 4 workers, the acceptor a thread
 *   handoffs PORT_FILE pipe4      4 workers each read one 8-byte job
 *                                 pointer from one pipe
 *   handoffs PORT_FILE pipetick   the same, the acceptor writing each
 *                                 pointer with writev in two pieces, the
 *                                 workers reading with read or with readv
 *                                 into an empty, a 4-byte and a 4-byte
 *                                 buffer, and a thread that serves no
 *                                 request writing a tick pointer into the
 *                                 same pipe every 300 us ("tick" lines)
 *   handoffs PORT_FILE pipedelay  2 workers reading writev-written job
 *                                 pointers with readv; the first one's
 *                                 read is held up between the kernel's
 *                                 return and the code after it (a signal
 *                                 handler sleeps there 20 ms, as a
 *                                 preempted thread would) while the
 *                                 second reads and runs the next job
 *   handoffs PORT_FILE convoy     a thread per connection, which reads
 *                                 its request itself; every request
 *                                 takes one lock built like HotSpot's
 *                                 monitors (a waiter parks on its own
 *                                 condvar, the releaser signals it), held
 *                                 1 ms, logging inside and after it
 *
 * Requests: GET /job/TOK (the test sends TOK as X-Request-Id too), GET
 * /quit/TOK stops the server. stderr: "accepted tok=TOK", "job start
 * tok=TOK", "job done tok=TOK" (worker, after answering), "inside
 * tok=TOK" / "after tok=TOK" (convoy), "listening ..." / "shutdown" /
 * "tick" (no request).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define TOK_MAX 128

enum mode { M_SEM, M_LAZY, M_PIPE4, M_CONVOY, M_LATE, M_LATETRY, M_LATEMAIN,
	    M_PIPETICK, M_PIPEDELAY };

struct job {
	struct job *next;
	int fd;
	char tok[TOK_MAX + 1];
};

static enum mode mode;
static int nworkers = 1;
static int lfd = -1;
static int pipe_rd = -1, pipe_wr = -1;
static sem_t sem;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct job *qhead, *qtail;
static int stopping;
static pthread_t workers[8];

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void answer(int fd, const char *tok)
{
	char resp[TOK_MAX + 128];
	int n = snprintf(resp, sizeof resp,
			 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			 strlen(tok) + 1, tok);

	send_all(fd, resp, (size_t)n);
}

/* 1 job, 2 quit, 0 anything else; the token in tok (target.h). */
static int read_request(int fd, char *tok)
{
	return read_job_request(fd, tok, TOK_MAX);
}

/* latetry: a statistics counter the acceptor updates with a trylock while
 * it holds the queue's mutex. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long queued;

static void run_job(struct job *j)
{
	fprintf(stderr, "job start tok=%s\n", j->tok);
	sleep_us(300);
	answer(j->fd, j->tok);
	close(j->fd);
	fprintf(stderr, "job done tok=%s\n", j->tok);
	free(j);
}

/* ---- queue-fed pools ------------------------------------------------------ */

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

	if (j && (qhead = j->next) == NULL)
		qtail = NULL;
	return j;
}

static void *sem_worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct job *j;

		while (sem_wait(&sem) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&qlock);
		j = pop_locked();
		pthread_mutex_unlock(&qlock);
		if (j == NULL)
			return NULL;        /* a stop post */
		run_job(j);
	}
}

static void *cond_worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct job *j;

		if (mode == M_LATETRY) {
			while (pthread_mutex_trylock(&qlock) != 0)
				sched_yield();
		} else {
			pthread_mutex_lock(&qlock);
		}
		while (qhead == NULL && !stopping)
			pthread_cond_wait(&qcond, &qlock);
		j = pop_locked();
		pthread_mutex_unlock(&qlock);
		if (j == NULL)
			return NULL;
		run_job(j);
	}
}

static int first_queued;

/* Polls (no condvar wait: the queue is not seen waited on) until the
 * first job is queued, then lets a backlog build. */
static void *late_worker(void *arg)
{
	while (!__atomic_load_n(&first_queued, __ATOMIC_ACQUIRE))
		sleep_us(2000);
	sleep_us(300000);
	return cond_worker(arg);
}

/* pipetick: the ticker's job, and whether it runs. */
static struct job tick_job;
static int ticking = 1;
static pthread_t ticker_thread;

/* The job pointer, read with readv into an empty and two 4-byte buffers
 * (a header and a payload buffer), or with read. */
static ssize_t read_job_v(struct job **j, int how)
{
	char *p = (char *)j;
	struct iovec v[3] = { { p, 0 }, { p, 4 }, { p + 4, sizeof *j - 4 } };

	return how ? readv(pipe_rd, v, 3) : read(pipe_rd, j, sizeof *j);
}

static void *pipetick_worker(void *arg)
{
	(void)arg;
	for (unsigned n = 0;; n++) {
		struct job *j;
		ssize_t r = read_job_v(&j, n & 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof j || j == NULL)
			return NULL;
		if (j == &tick_job)
			fprintf(stderr, "tick\n");
		else
			run_job(j);
	}
}

static void *ticker(void *arg)
{
	struct job *t = &tick_job;

	(void)arg;
	while (__atomic_load_n(&ticking, __ATOMIC_ACQUIRE)) {
		write_all(pipe_wr, (const char *)&t, sizeof t);
		sleep_us(300);
	}
	return NULL;
}

/* pipedelay: the first worker's read is held up in a signal handler that
 * runs once the kernel has returned the job and before the code after
 * the read; the second worker reads (the next job) only meanwhile, and
 * at the end. */
static volatile sig_atomic_t w0_reading, w0_held;
static int delay_stop;

static void hold_w0(int sig)
{
	int left = -1;

	(void)sig;
	if (!w0_reading || ioctl(pipe_rd, FIONREAD, &left) != 0 || left != 0)
		return;
	w0_held = 1;
	sleep_us(20000);
	w0_held = 0;
}

static void *pipedelay_worker(void *arg)
{
	long w = (long)arg;

	if (w == 0) {
		/* On the acceptor's CPU, never preempting it: the worker runs
		 * once the acceptor waits, the signal already pending. */
		struct sched_param idle = { 0 };
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
		sched_setaffinity(0, sizeof cpus, &cpus);
		sched_setscheduler(0, SCHED_IDLE, &idle);
	}
	for (;;) {
		struct job *j;
		ssize_t r;

		if (w == 1)
			while (!w0_held && !__atomic_load_n(&delay_stop, __ATOMIC_ACQUIRE))
				sleep_us(200);
		if (w == 0)
			w0_reading = 1;
		r = read_job_v(&j, 1);
		if (w == 0)
			w0_reading = 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof j || j == NULL)
			return NULL;
		run_job(j);
	}
}

static void *pipe_worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct job *j;
		ssize_t r = read(pipe_rd, &j, sizeof j);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof j || j == NULL)
			return NULL;
		run_job(j);
	}
}

/* ---- a lock whose waiters park on their own condvar (HotSpot's way) -------- */

struct parker {
	pthread_mutex_t m;
	pthread_cond_t c;
	int permit;
	struct parker *next;
};

static pthread_mutex_t mon_lock = PTHREAD_MUTEX_INITIALIZER;
static int mon_held;
static struct parker *mon_waiters, *mon_tail;

static void park(struct parker *p)
{
	pthread_mutex_lock(&p->m);
	while (!p->permit)
		pthread_cond_wait(&p->c, &p->m);
	p->permit = 0;
	pthread_mutex_unlock(&p->m);
}

static void unpark(struct parker *p)
{
	pthread_mutex_lock(&p->m);
	p->permit = 1;
	pthread_cond_signal(&p->c);
	pthread_mutex_unlock(&p->m);
}

static void monitor_enter(struct parker *self)
{
	pthread_mutex_lock(&mon_lock);
	if (!mon_held) {
		mon_held = 1;
		pthread_mutex_unlock(&mon_lock);
		return;
	}
	self->next = NULL;
	if (mon_tail)
		mon_tail->next = self;
	else
		mon_waiters = self;
	mon_tail = self;
	pthread_mutex_unlock(&mon_lock);
	park(self);                 /* the releaser hands the monitor over */
}

static void monitor_exit(void)
{
	struct parker *next;

	pthread_mutex_lock(&mon_lock);
	next = mon_waiters;
	if (next && (mon_waiters = next->next) == NULL)
		mon_tail = NULL;
	if (next == NULL)
		mon_held = 0;
	pthread_mutex_unlock(&mon_lock);
	if (next)
		unpark(next);
}

static int read_request(int fd, char *tok);

static void *convoy_conn(void *arg)
{
	struct job *j = arg;
	struct parker self;

	switch (read_request(j->fd, j->tok)) {
	case 1:
		break;
	case 2:                     /* quit: the acceptor's accept fails */
		answer(j->fd, j->tok);
		close(j->fd);
		free(j);
		shutdown(lfd, SHUT_RDWR);
		return NULL;
	default:
		close(j->fd);
		free(j);
		return NULL;
	}
	fprintf(stderr, "accepted tok=%s\n", j->tok);
	pthread_mutex_init(&self.m, NULL);
	pthread_cond_init(&self.c, NULL);
	self.permit = 0;
	monitor_enter(&self);
	fprintf(stderr, "inside tok=%s\n", j->tok);
	sleep_us(1000);
	monitor_exit();
	fprintf(stderr, "after tok=%s\n", j->tok);
	answer(j->fd, j->tok);
	close(j->fd);
	free(j);
	pthread_cond_destroy(&self.c);
	pthread_mutex_destroy(&self.m);
	return NULL;
}

/* ---- the acceptor (main thread) ----------------------------------------- */

static void start_workers(void *(*fn)(void *), int n)
{
	nworkers = n;
	for (int i = 0; i < n; i++)
		if (pthread_create(&workers[i], NULL, fn, NULL) != 0)
			die("pthread_create");
}

static void hand_off(struct job *j)
{
	switch (mode) {
	case M_SEM:
		push(j);
		sem_post(&sem);
		break;
	case M_LAZY:
	case M_LATE:
	case M_LATETRY:
	case M_LATEMAIN:
		if (nworkers == 0)     /* inside the first request */
			start_workers(cond_worker, 2);
		push(j);
		__atomic_store_n(&first_queued, 1, __ATOMIC_RELEASE);
		pthread_mutex_lock(&qlock);
		if (mode == M_LATETRY && pthread_mutex_trylock(&stats_lock) == 0) {
			queued++;
			pthread_mutex_unlock(&stats_lock);
		}
		pthread_cond_signal(&qcond);
		pthread_mutex_unlock(&qlock);
		break;
	case M_PIPE4:
		write_all(pipe_wr, (const char *)&j, sizeof j);
		break;
	case M_PIPETICK:
	case M_PIPEDELAY: {
		struct iovec v[2] = { { (char *)&j, 4 }, { (char *)&j + 4, sizeof j - 4 } };

		if (writev(pipe_wr, v, 2) != (ssize_t)sizeof j)
			die("writev");
		if (mode == M_PIPEDELAY && w0_reading) {
			pthread_kill(workers[0], SIGUSR1);
			sleep_us(1000);      /* the worker runs: read, handler */
		}
		break;
	}
	case M_CONVOY: {
		pthread_t t;
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, convoy_conn, j) != 0)
			die("pthread_create");
		pthread_attr_destroy(&a);
		break;
	}
	}
}

static void stop_workers(void)
{
	struct job *none = NULL;

	switch (mode) {
	case M_SEM:
		for (int i = 0; i < nworkers; i++)
			sem_post(&sem);
		break;
	case M_LAZY:
	case M_LATE:
	case M_LATETRY:
	case M_LATEMAIN:
		pthread_mutex_lock(&qlock);
		stopping = 1;
		pthread_cond_broadcast(&qcond);
		pthread_mutex_unlock(&qlock);
		break;
	case M_PIPETICK:
		__atomic_store_n(&ticking, 0, __ATOMIC_RELEASE);
		pthread_join(ticker_thread, NULL);
		/* fall through */
	case M_PIPE4:
	case M_PIPEDELAY:
		__atomic_store_n(&delay_stop, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < nworkers; i++)
			write_all(pipe_wr, (const char *)&none, sizeof none);
		break;
	case M_CONVOY:
		sleep_us(200000);      /* detached connection threads finish */
		return;
	}
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
}

/* Accepts and reads each request, hands its job on; stops at the quit
 * request. */
static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		char tok[TOK_MAX + 1];
		struct job *j;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), kind;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (mode == M_CONVOY)
				break;          /* shut down by the quit request */
			die("accept4");
		}
		if (mode == M_CONVOY) {
			if ((j = calloc(1, sizeof *j)) == NULL)
				die("calloc");
			j->fd = fd;
			hand_off(j);
			continue;
		}
		kind = read_request(fd, tok);
		if (kind == 2) {
			answer(fd, tok);
			close(fd);
			break;
		}
		if (kind == 0) {
			close(fd);
			continue;
		}
		fprintf(stderr, "accepted tok=%s\n", tok);
		if ((j = calloc(1, sizeof *j)) == NULL)
			die("calloc");
		j->fd = fd;
		strcpy(j->tok, tok);
		hand_off(j);
	}
	stop_workers();
	fprintf(stderr, "shutdown\n");
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *names[] = { "sem", "lazy", "pipe4", "convoy", "late", "latetry", "latemain",
				       "pipetick", "pipedelay" };
	unsigned short port;
	const int nmodes = (int)(sizeof names / sizeof names[0]);
	int m;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT_FILE sem|lazy|pipe4|convoy|late|latetry|latemain|"
			"pipetick|pipedelay [W]\n", argv[0]);
		return 2;
	}
	m = pick_mode(argv[2], names, nmodes);
	mode = (enum mode)m;
	signal(SIGPIPE, SIG_IGN);
	if (mode == M_SEM) {
		if (sem_init(&sem, 0, 0) < 0)
			die("sem_init");
		start_workers(sem_worker, argc > 3 ? atoi(argv[3]) : 3);
	} else if (mode == M_PIPE4 || mode == M_PIPETICK || mode == M_PIPEDELAY) {
		int p[2];

		if (pipe(p) < 0)
			die("pipe");
		pipe_rd = p[0];
		pipe_wr = p[1];
		if (mode == M_PIPE4) {
			start_workers(pipe_worker, 4);
		} else if (mode == M_PIPETICK) {
			start_workers(pipetick_worker, 4);
			if (pthread_create(&ticker_thread, NULL, ticker, NULL) != 0)
				die("pthread_create");
		} else {
			struct sigaction sa = { .sa_handler = hold_w0, .sa_flags = SA_RESTART };
			cpu_set_t cpus;

			sigaction(SIGUSR1, &sa, NULL);
			nworkers = 2;
			for (long i = 0; i < 2; i++)
				if (pthread_create(&workers[i], NULL, pipedelay_worker, (void *)i) != 0)
					die("pthread_create");
			CPU_ZERO(&cpus);
			CPU_SET(0, &cpus);
			sched_setaffinity(0, sizeof cpus, &cpus);
		}
	} else if (mode == M_LAZY) {
		nworkers = 0;
	} else if (mode == M_LATE || mode == M_LATETRY) {
		start_workers(late_worker, 4);
	} else if (mode == M_LATEMAIN) {
		start_workers(late_worker, 3);
	}
	lfd = listen_loopback(SOCK_STREAM | SOCK_CLOEXEC, 0, 1024, &port);
	fprintf(stderr, "listening mode=%s\n", names[m]);
	write_port_file(argv[1], port);
	if (mode == M_LATEMAIN) {
		pthread_t acceptor;

		if (pthread_create(&acceptor, NULL, serve, NULL) != 0)
			die("pthread_create");
		late_worker(NULL);
		pthread_join(acceptor, NULL);
	} else {
		serve(NULL);
	}
	return 0;
}
