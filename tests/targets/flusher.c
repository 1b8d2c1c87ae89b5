/*
 * flusher - an HTTP/1.1 server, a thread per connection, whose first
 * request starts a flusher thread: it sleeps, then writes a line for each
 * request queued since, fed through a lock-free ring (no mutex, no
 * condvar: nothing the agent's hand-off rules see but the sleep). The
 * first request is a long poll: it answers 300 ms after it started the
 * flusher, while the others are served. (tests/integration/t_native_flusher)
 *
 *   flusher PORT_FILE MODE      MODE: how the flusher sleeps (20 ms):
 *                                 nanosleep, usleep, clock_nanosleep,
 *                                 poll (no fds), select (no fds),
 *                                 poll_idle (a pipe nobody writes),
 *                                 epoll (an instance with no fd),
 *                                 sigtimedwait (a signal never sent),
 *                                 condwait (a condvar nobody signals),
 *                                 syscall (nanosleep through syscall(2)),
 *                                 timerfd (a periodic timerfd the flusher
 *                                 arms, on its inherited context, and
 *                                 reads);
 *                               or "retry": no flusher; each request's
 *                                 thread starts a helper that sleeps
 *                                 10 ms once (a retry's wait), writes
 *                                 its line and is joined before the
 *                                 answer
 *
 * Requests: GET /job/TOK (TOK also sent as X-Request-Id).
 * stderr:   "site=arrival id=TOK" (the connection's thread, after reading)
 *           "site=flush id=TOK"   (the flusher) or
 *           "site=retry id=TOK"   (the helper, after its sleep)
 */
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include "target.h"

enum { NANOSLEEP, USLEEP, CLOCK_NANOSLEEP, POLL, SELECT, POLL_IDLE, EPOLL, SIGTIMEDWAIT, CONDWAIT,
       SYSCALL, TIMERFD, RETRY };
static const char *const modes[] = { "nanosleep", "usleep", "clock_nanosleep", "poll", "select",
				     "poll_idle", "epoll", "sigtimedwait", "condwait", "syscall",
				     "timerfd", "retry" };
static int mode;
static int idle[2], ep = -1;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

#define RING 4096
static char ring[RING][64];
static unsigned head;                 /* written by connection threads (atomic) */
static unsigned reserved;             /* slots claimed (atomic) */
static int started;                   /* atomic */

static void nap(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	struct timeval tv = { 0, ms * 1000 };

	switch (mode) {
	case USLEEP:
		usleep((useconds_t)ms * 1000);
		break;
	case CLOCK_NANOSLEEP:
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		break;
	case POLL:
		poll(NULL, 0, ms);
		break;
	case SELECT:
		select(0, NULL, NULL, NULL, &tv);
		break;
	case POLL_IDLE: {
		struct pollfd p = { .fd = idle[0], .events = POLLIN };

		poll(&p, 1, ms);
		break;
	}
	case EPOLL: {
		struct epoll_event e;

		epoll_wait(ep, &e, 1, ms);
		break;
	}
	case SIGTIMEDWAIT: {
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, SIGUSR2);
		sigtimedwait(&s, NULL, &ts);
		break;
	}
	case CONDWAIT: {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += ms * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&mutex);
		pthread_cond_timedwait(&cond, &mutex, &until);
		pthread_mutex_unlock(&mutex);
		break;
	}
	case SYSCALL:
		syscall(SYS_nanosleep, &ts, NULL);
		break;
	case TIMERFD: {
		static int tfd = -1;        /* the flusher's own: armed once */
		uint64_t n;

		if (tfd < 0) {
			struct itimerspec every = { { 0, ms * 1000000L }, { 0, ms * 1000000L } };

			tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
			if (tfd < 0 || timerfd_settime(tfd, 0, &every, NULL) < 0)
				die("timerfd");
		}
		if (read(tfd, &n, sizeof n) < 0)
			die("timerfd read");
		break;
	}
	default:
		nanosleep(&ts, NULL);
	}
}

static void *flush_loop(void *arg)
{
	unsigned tail = 0;

	(void)arg;
	for (;;) {
		nap(20);
		while (tail != __atomic_load_n(&head, __ATOMIC_ACQUIRE)) {
			say("site=flush id=%s\n", ring[tail % RING]);
			tail++;
		}
	}
	return NULL;
}

static void queue_tok(const char *tok)
{
	unsigned at = __atomic_fetch_add(&reserved, 1, __ATOMIC_RELAXED);

	snprintf(ring[at % RING], sizeof ring[0], "%s", tok);
	/* Published in order: wait for the slots before this one. */
	while (__atomic_load_n(&head, __ATOMIC_ACQUIRE) != at)
		sched_yield();
	__atomic_store_n(&head, at + 1, __ATOMIC_RELEASE);
}

static void *retry(void *tok)
{
	nap(10);
	say("site=retry id=%s\n", (const char *)tok);
	return NULL;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char tok[64];
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

	if (read_job_request(fd, tok, sizeof tok - 1) == 1) {
		say("site=arrival id=%s\n", tok);
		if (mode == RETRY) {
			pthread_t t;

			if (pthread_create(&t, NULL, retry, tok) == 0)
				pthread_join(t, NULL);
		} else {
			int first = __atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL) == 0;

			if (first) {
				pthread_t t;

				if (pthread_create(&t, NULL, flush_loop, NULL) != 0)
					die("pthread_create");
				pthread_detach(t);
			}
			queue_tok(tok);
			if (first)
				usleep(300000);         /* a long poll */
		}
		write_all(fd, ok, sizeof ok - 1);
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned short port;
	int ls;

	if (argc != 3)
		die("usage: flusher PORT_FILE MODE");
	mode = pick_mode(argv[2], modes, sizeof modes / sizeof modes[0]);
	if (pipe(idle) != 0 || (ep = epoll_create1(0)) < 0)
		die("pipe, epoll_create1");
	ls = listen_loopback(SOCK_STREAM, 0, 128, &port);
	write_port_file(argv[1], port);
	for (;;) {
		pthread_t t;
		int c = accept(ls, NULL, NULL);

		if (c < 0)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(long)c) != 0) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
}
