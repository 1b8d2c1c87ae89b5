/*
 * calls.c - the cost of single interposed calls, measured in one process,
 * with or without the agent (the driver, tests/bench/run, decides that with
 * LD_PRELOAD; this program does not know which).
 *
 *   calls CASE [ITERS [REPS]]
 *
 * Each measured call runs in batches inside a cg_* function (the names the
 * callgrind pass collects), timed with clock_gettime around each batch; the
 * work that keeps the batch going (draining what was written, feeding what
 * is read) happens between batches, untimed. The clock is the process's CPU
 * time (see now_ns). The first repetition warms up and is dropped. Output, one line per metric:
 *
 *   METRIC <tab> median ns per call over REPS <tab> calls per rep
 *
 * Cases (an "untagged" case never makes a context in the process; a
 * "tagged" one first accepts a loopback connection whose request head
 * carries X-Request-Id, so the thread and that connection have a context):
 *   pipe-untagged, pipe-tagged            write, read (1 byte; tagged: the
 *                                         bytes were written in a context)
 *   socketpair-untagged, socketpair-tagged send, recv (AF_UNIX stream)
 *   tcp-untagged                          read, write, recv, send on a
 *                                         connected client socket (no context)
 *   tcp-tagged                            the same on the accepted connection
 *                                         (writes and sends are timed with
 *                                         TCP_CORK set: the kernel only queues
 *                                         each byte, which keeps the baseline
 *                                         small enough to resolve the agent's
 *                                         share; uncorked between batches)
 *   epoll1-untagged, epoll1-tagged        epoll_wait, 1 registered fd, always
 *                                         ready (level-triggered)
 *   epoll64-untagged, epoll64-tagged      epoll_wait until all 64 ready
 *                                         events are received (one call
 *                                         without the agent, 64 with it)
 *   accept                                accept4 + close, server side
 *   thread-untagged, thread-tagged        pthread_create + pthread_join
 *
 * The other end of every TCP connection is driven with raw system calls
 * (syscall(2)), which the agent does not see, so only the measured side's
 * calls are interposed.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define MAXREPS 64
#define NPAIRS 64

static void die(const char *what)
{
	fprintf(stderr, "calls: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- raw system calls: invisible to the agent ---------------------------- */

static ssize_t raw_read(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static ssize_t raw_write(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }
static int raw_close(int fd) { return (int)syscall(SYS_close, fd); }
static int raw_socket(void) { return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }

static int raw_connect(int fd, const struct sockaddr_in *a)
{
	return (int)syscall(SYS_connect, fd, a, sizeof *a);
}

static int raw_accept(int l)
{
	return (int)syscall(SYS_accept4, l, NULL, NULL, SOCK_CLOEXEC);
}

static void raw_read_all(int fd, char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = raw_read(fd, b, n);

		if (r <= 0)
			die("raw read");
		b += r;
		n -= (size_t)r;
	}
}

static void raw_write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = raw_write(fd, b, n);

		if (r <= 0)
			die("raw write");
		b += r;
		n -= (size_t)r;
	}
}

/* Through libc (and so through the agent when it is loaded), untimed. */
static void libc_read_all(int fd, char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);

		if (r <= 0)
			die("read");
		b += r;
		n -= (size_t)r;
	}
}

static void libc_write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, b, n);

		if (r <= 0)
			die("write");
		b += r;
		n -= (size_t)r;
	}
}

/* CPU time of the process (user and system, all threads, exited ones
 * included): what the calls cost, not how long other programs on a busy
 * machine kept this one waiting. CALLS_CLOCK=wall measures elapsed time. */
static clockid_t clock_id = CLOCK_PROCESS_CPUTIME_ID;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- connections ------------------------------------------------------------ */

static int lsn = -1;
static struct sockaddr_in lsn_addr;

static void listener(void)
{
	socklen_t len = sizeof lsn_addr;
	int one = 1;

	if (lsn >= 0)
		return;
	lsn = raw_socket();
	if (lsn < 0)
		die("socket");
	setsockopt(lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&lsn_addr, 0, sizeof lsn_addr);
	lsn_addr.sin_family = AF_INET;
	lsn_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lsn, (struct sockaddr *)&lsn_addr, sizeof lsn_addr) < 0 ||
	    listen(lsn, 1024) < 0 ||
	    getsockname(lsn, (struct sockaddr *)&lsn_addr, &len) < 0)
		die("listen");
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* An accepted connection (through libc: with the agent, a context current
 * on this thread) whose first request head carried X-Request-Id, read
 * through libc. *srv is the accepted end, *cli the raw client end. */
static void tagged_pair(int *srv, int *cli)
{
	static int n;
	char head[160], buf[160];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	int len;

	listener();
	*cli = raw_socket();
	if (*cli < 0 || raw_connect(*cli, &lsn_addr) < 0)
		die("connect");
	*srv = accept4(lsn, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (*srv < 0)
		die("accept4");
	nodelay(*srv);
	nodelay(*cli);
	len = snprintf(head, sizeof head,
		       "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: bench-%d\r\n\r\n", ++n);
	raw_write_all(*cli, head, (size_t)len);
	libc_read_all(*srv, buf, (size_t)len);
}

/* A connection made through libc socket/connect while the process has no
 * context (the client end, *mine, carries none); the server end is accepted
 * with a raw system call. */
static void untagged_pair(int *mine, int *other)
{
	listener();
	*mine = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*mine < 0 || connect(*mine, (struct sockaddr *)&lsn_addr, sizeof lsn_addr) < 0)
		die("connect");
	*other = raw_accept(lsn);
	if (*other < 0)
		die("accept");
	nodelay(*mine);
	nodelay(*other);
}

/* ---- the measured batches (callgrind collects inside cg_*) ----------------- */

NOINLINE void cg_write(int fd, int k);
NOINLINE void cg_read(int fd, int k);
NOINLINE void cg_send(int fd, int k);
NOINLINE void cg_recv(int fd, int k);
NOINLINE void cg_epoll(int ep, struct epoll_event *evs, int want);
NOINLINE void cg_accept_close(int l, int k);
NOINLINE void cg_thread(int k);

NOINLINE void cg_write(int fd, int k)
{
	char c = 'w';

	for (int i = 0; i < k; i++)
		if (write(fd, &c, 1) != 1)
			die("write");
}

NOINLINE void cg_read(int fd, int k)
{
	char c;

	for (int i = 0; i < k; i++)
		if (read(fd, &c, 1) != 1)
			die("read");
}

NOINLINE void cg_send(int fd, int k)
{
	char c = 's';

	for (int i = 0; i < k; i++)
		if (send(fd, &c, 1, 0) != 1)
			die("send");
}

NOINLINE void cg_recv(int fd, int k)
{
	char c;

	for (int i = 0; i < k; i++)
		if (recv(fd, &c, 1, 0) != 1)
			die("recv");
}

NOINLINE void cg_epoll(int ep, struct epoll_event *evs, int want)
{
	int got = 0;

	while (got < want) {
		int r = epoll_wait(ep, evs, NPAIRS, 0);

		if (r <= 0)
			die("epoll_wait returned nothing");
		got += r;
	}
}

NOINLINE void cg_accept_close(int l, int k)
{
	for (int i = 0; i < k; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int fd = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);

		if (fd < 0)
			die("accept4");
		close(fd);
	}
}

static void *noop(void *arg)
{
	return arg;
}

NOINLINE void cg_thread(int k)
{
	for (int i = 0; i < k; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, noop, NULL) != 0)
			die("pthread_create");
		pthread_join(t, NULL);
	}
}

/* ---- driving a metric ------------------------------------------------------ */

enum op { OP_WRITE, OP_READ, OP_SEND, OP_RECV };

struct stream {
	int fd;         /* the measured end */
	int peer;       /* the other end */
	bool raw_peer;  /* drive the other end with raw system calls */
	bool cork;      /* TCP: writes only queue (TCP_CORK) while timed */
	int batch;
};

static char scratch[1 << 16];

/* ns per call of one repetition of `iters` calls of `op` on s->fd. */
static double stream_rep(const struct stream *s, enum op op, long iters)
{
	double t = 0;
	long done = 0;

	while (done < iters) {
		int k = (int)(iters - done < s->batch ? iters - done : s->batch);
		double t0;

		if (op == OP_READ || op == OP_RECV) {
			memset(scratch, 'f', (size_t)k);
			if (s->raw_peer)
				raw_write_all(s->peer, scratch, (size_t)k);
			else
				libc_write_all(s->peer, scratch, (size_t)k);
		}
		if (s->cork && (op == OP_WRITE || op == OP_SEND))
			setsockopt(s->fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int));
		t0 = now_ns();
		switch (op) {
		case OP_WRITE: cg_write(s->fd, k); break;
		case OP_READ: cg_read(s->fd, k); break;
		case OP_SEND: cg_send(s->fd, k); break;
		case OP_RECV: cg_recv(s->fd, k); break;
		}
		t += now_ns() - t0;
		if (s->cork && (op == OP_WRITE || op == OP_SEND))
			setsockopt(s->fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int));
		if (op == OP_WRITE || op == OP_SEND) {
			if (s->raw_peer)
				raw_read_all(s->peer, scratch, (size_t)k);
			else
				libc_read_all(s->peer, scratch, (size_t)k);
		}
		done += k;
	}
	return t / (double)iters;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int reps = 5;

static void report(const char *metric, double *v, long calls)
{
	printf("%s\t%.2f\t%ld\n", metric, median(v, reps), calls);
	fflush(stdout);
}

static void run_stream(const struct stream *s, enum op op, const char *metric, long iters)
{
	double v[MAXREPS];

	stream_rep(s, op, iters / 4 + 1);          /* warm-up */
	for (int r = 0; r < reps; r++)
		v[r] = stream_rep(s, op, iters);
	report(metric, v, iters);
}

static void run_epoll(int npairs, bool tagged, long iters)
{
	struct epoll_event evs[NPAIRS];
	int fds[NPAIRS], peers[NPAIRS];
	double v[MAXREPS];
	long rounds = iters;
	int ep;

	for (int i = 0; i < npairs; i++) {
		if (tagged)
			tagged_pair(&fds[i], &peers[i]);
		else
			untagged_pair(&fds[i], &peers[i]);
		raw_write_all(peers[i], "x", 1);        /* ready for good */
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < npairs; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			die("epoll_ctl");
	}
	for (int r = -1; r < reps; r++) {
		double t0 = now_ns(), t;

		for (long i = 0; i < rounds; i++)
			cg_epoll(ep, evs, npairs);
		t = (now_ns() - t0) / (double)rounds;
		if (r >= 0)
			v[r] = t;
	}
	report(npairs == 1 ? "epoll_wait (1 ready)" : "epoll_wait (64 ready, all events)", v, rounds);
}

static void run_accept(long iters)
{
	int cli[128];
	double v[MAXREPS];
	const int batch = 128;

	listener();
	for (int r = -1; r < reps; r++) {
		double t = 0;

		for (long done = 0; done < iters; done += batch) {
			double t0;

			for (int i = 0; i < batch; i++) {
				cli[i] = raw_socket();
				if (cli[i] < 0 || raw_connect(cli[i], &lsn_addr) < 0)
					die("connect");
			}
			t0 = now_ns();
			cg_accept_close(lsn, batch);
			t += now_ns() - t0;
			for (int i = 0; i < batch; i++) {
				struct linger lg = { 1, 0 };

				/* no TIME_WAIT left on the client ports */
				setsockopt(cli[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
				raw_close(cli[i]);
			}
		}
		if (r >= 0)
			v[r] = t / (double)((iters + batch - 1) / batch * batch);
	}
	report("accept4+close", v, iters);
}

static void run_thread(long iters)
{
	double v[MAXREPS];

	for (int r = -1; r < reps; r++) {
		double t0 = now_ns();

		cg_thread((int)iters);
		if (r >= 0)
			v[r] = (now_ns() - t0) / (double)iters;
	}
	report("pthread_create+join", v, iters);
}

int main(int argc, char **argv)
{
	const char *c;
	long iters = 0;
	double scale = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: calls CASE [ITERS [REPS]]\n");
		return 2;
	}
	c = argv[1];
	if (argc > 2)
		iters = atol(argv[2]);
	if (argc > 3)
		reps = atoi(argv[3]);
	if (reps < 1 || reps > MAXREPS)
		reps = 5;
	if (getenv("CALLS_CLOCK") && !strcmp(getenv("CALLS_CLOCK"), "wall"))
		clock_id = CLOCK_MONOTONIC;
	if (getenv("CALLS_SCALE"))
		scale = atof(getenv("CALLS_SCALE"));
#define ITERS(def) (iters > 0 ? iters : (long)((def) * scale) > 0 ? (long)((def) * scale) : 1)

	if (!strncmp(c, "pipe-", 5) || !strncmp(c, "socketpair-", 11)) {
		bool tagged = strstr(c, "-tagged") != NULL, sp = c[0] == 's';
		struct stream s = { .raw_peer = false, .batch = sp ? 64 : 1024 };
		int fds[2], srv, cli;

		if (tagged)
			tagged_pair(&srv, &cli);    /* the thread has a context now */
		if (sp) {
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
				die("socketpair");
			s.fd = fds[0];
			s.peer = fds[1];
			run_stream(&s, OP_SEND, "send (socketpair)", ITERS(100000));
			run_stream(&s, OP_RECV, "recv (socketpair)", ITERS(100000));
		} else {
			if (pipe(fds) < 0)
				die("pipe");
			/* written on fds[1], read on fds[0]: two pipes, so each
			 * measured end has a peer to drain or feed it */
			int back[2];

			if (pipe(back) < 0)
				die("pipe");
			s.fd = fds[1];
			s.peer = fds[0];
			run_stream(&s, OP_WRITE, "write (pipe)", ITERS(200000));
			s.fd = back[0];
			s.peer = back[1];
			run_stream(&s, OP_READ, "read (pipe)", ITERS(200000));
		}
	} else if (!strcmp(c, "tcp-untagged") || !strcmp(c, "tcp-tagged")) {
		struct stream s = { .raw_peer = true, .cork = true, .batch = 256 };

		if (c[4] == 't')
			tagged_pair(&s.fd, &s.peer);
		else
			untagged_pair(&s.fd, &s.peer);
		run_stream(&s, OP_WRITE, "write (tcp)", ITERS(100000));
		run_stream(&s, OP_READ, "read (tcp)", ITERS(100000));
		run_stream(&s, OP_SEND, "send (tcp)", ITERS(100000));
		run_stream(&s, OP_RECV, "recv (tcp)", ITERS(100000));
	} else if (!strncmp(c, "epoll1-", 7)) {
		run_epoll(1, strstr(c, "-tagged") != NULL, ITERS(200000));
	} else if (!strncmp(c, "epoll64-", 8)) {
		run_epoll(NPAIRS, strstr(c, "-tagged") != NULL, ITERS(20000));
	} else if (!strcmp(c, "accept")) {
		run_accept(ITERS(2048));
	} else if (!strncmp(c, "thread-", 7)) {
		int srv, cli;

		if (strstr(c, "-tagged"))
			tagged_pair(&srv, &cli);
		run_thread(ITERS(2000));
	} else {
		fprintf(stderr, "calls: unknown case %s\n", c);
		return 2;
	}
	return 0;
}
