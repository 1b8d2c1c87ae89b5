/*
 * runq - an event loop that runs a request's later work from a run queue,
 * after other connections' I/O of the same turn, as HAProxy does: a
 * stream's access line is written by its task, which may run after the
 * loop accepted, registered or read other connections (HAProxy defers a
 * task past its run queue's depth, and runs it in a later turn).
 *
 *   runq MODE PORTFILE
 *
 * Writes the port it listens on to PORTFILE, then serves rounds until it
 * is killed. In each round the client opens connections one after the
 * other, each sending one request "GET /r/ID" with X-Request-Id: ID.
 * Each round starts with a wait (poll) for the listener.
 *   register  connections A, B. Accept A and read its head. Accept B,
 *             accept once more (EAGAIN: the backlog is empty), register B
 *             with epoll, write A's deferred line; then read B's head and
 *             write B's line.
 *   batched   connections A, B, C, and a backend thread. Accept A, read its
 *             head, connect to the backend and send it A's request (A's
 *             outbound connection). Wait (poll) for the next connection.
 *             Accept B and read its head, accept C and read its head (two
 *             requests' heads, nothing out for either), read A's reply
 *             from the backend, then write B's deferred line.
 *   answered  connections A, B, both accepted first. Wait (poll) for A,
 *             read its head and answer it, register B with epoll, read B's
 *             head, then write A's deferred line.
 *   handed    connections A, B. The main thread accepts both and hands
 *             their fds to a worker thread through a pipe; the worker
 *             (which accepts nothing) reads both fds, reads A's head and
 *             answers it, registers B with epoll, then writes A's
 *             deferred line, then reads B's head.
 *   takeup    connections A, B. The main thread accepts each and hands
 *             its fd to a worker through a pipe at once; the worker reads
 *             A's fd and A's head, then, in the middle of A, B's fd from
 *             the pipe, takes B up (TCP_NODELAY, its peer's name, epoll
 *             registration), writes A's deferred line, then reads B's
 *             head and writes B's line.
 *   sweep     connections A, B. Accept A, read its head, write A's line
 *             and answer it (A stays open). Accept B and read its head (a
 *             stats page), look at A (its peer's name, SO_ERROR), then
 *             write B's deferred line.
 * Every connection is then answered (200, Connection: close) and closed.
 * Lines on stderr, one write each: "log /r/ID" for the request ID.
 * A deferred line is written under none of the evidence of its own
 * request: it may carry that request's ID or none, never another's.
 */
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <pthread.h>

#include "target.h"

enum { REGISTER, BATCHED, ANSWERED, HANDED, TAKEUP, SWEEP };

static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

/* The path "/r/ID" of the request head read from fd, into path (64
 * bytes); "" when there is none. */
static void read_path(int fd, char *path)
{
	char buf[2049], *sp, *end;

	path[0] = '\0';
	if (read_request_head(fd, buf, sizeof buf - 1) < 0)
		return;
	sp = strchr(buf, ' ');
	end = sp ? strchr(sp + 1, ' ') : NULL;
	if (end && end - sp - 1 < 64) {
		*end = '\0';
		snprintf(path, 64, "%s", sp + 1);
	}
}

/* A turn's start: the loop waits for its listener. */
static void wait_for(int l)
{
	struct pollfd pf = { .fd = l, .events = POLLIN };

	if (poll(&pf, 1, -1) < 0)
		die("poll");
}

static int accept_one(int l)
{
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		die("accept4");
	return c;
}

static void answer(int fd)
{
	write_all(fd, ok, sizeof ok - 1);
	close(fd);
}

/* Reads A's head and answers it (without closing), registers B with
 * epoll, writes A's line, then reads B's head and answers both. */
static void answer_then_register(int a, int b, int ep)
{
	char pa[64], pb[64];
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = b };

	read_path(a, pa);
	write_all(a, ok, sizeof ok - 1);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) < 0)
		die("epoll_ctl");
	say("log %s\n", pa);                   /* A's task, run late */
	read_path(b, pb);
	epoll_ctl(ep, EPOLL_CTL_DEL, b, &ev);
	close(a);
	answer(b);
}

/* The backend: a line in, "ok\n" out, per connection, until it closes. */
static void *backend(void *arg)
{
	int l = *(int *)arg;

	for (;;) {
		char buf[256];
		int c = accept(l, NULL, NULL);

		if (c < 0)
			continue;
		while (read(c, buf, sizeof buf) > 0)
			write_all(c, "ok\n", 3);
		close(c);
	}
	return NULL;
}

static int dial(unsigned short port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	return fd;
}

static void round_register(int l, int ep)
{
	char pa[64], pb[64];
	int a, b;
	struct epoll_event ev = { .events = EPOLLIN };

	wait_for(l);
	a = accept_one(l);
	read_path(a, pa);
	b = accept_one(l);
	/* the loop accepts until the backlog is empty */
	fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);
	if (accept4(l, NULL, NULL, SOCK_CLOEXEC) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		die("accept4 on an empty backlog");
	fcntl(l, F_SETFL, fcntl(l, F_GETFL) & ~O_NONBLOCK);
	ev.data.fd = b;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) < 0)
		die("epoll_ctl");
	say("log %s\n", pa);                   /* A's task, run late */
	read_path(b, pb);
	say("log %s\n", pb);
	epoll_ctl(ep, EPOLL_CTL_DEL, b, &ev);
	answer(a);
	answer(b);
}

static void round_answered(int l, int ep)
{
	struct pollfd pf = { .events = POLLIN };
	int a, b;

	wait_for(l);
	a = accept_one(l);
	b = accept_one(l);
	pf.fd = a;
	if (poll(&pf, 1, -1) < 0)              /* the event for A */
		die("poll");
	answer_then_register(a, b, ep);
}

/* The worker of "handed": two fds a round from the pipe. */
static void *handed_worker(void *arg)
{
	int in = *(int *)arg, ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1");
	for (;;) {
		int fds[2];
		size_t got = 0;

		while (got < sizeof fds) {
			ssize_t r = read(in, (char *)fds + got, sizeof fds - got);

			if (r <= 0)
				die("read (pipe)");
			got += (size_t)r;
		}
		answer_then_register(fds[0], fds[1], ep);
	}
	return NULL;
}

static void round_handed(int l, int out)
{
	int fds[2];

	wait_for(l);
	fds[0] = accept_one(l);
	fds[1] = accept_one(l);
	write_all(out, (const char *)fds, sizeof fds);
}

static int read_fd(int in)
{
	int fd;
	size_t got = 0;

	while (got < sizeof fd) {
		ssize_t r = read(in, (char *)&fd + got, sizeof fd - got);

		if (r <= 0)
			die("read (pipe)");
		got += (size_t)r;
	}
	return fd;
}

/* The worker of "takeup". */
static void *takeup_worker(void *arg)
{
	int in = *(int *)arg, ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1");
	for (;;) {
		char pa[64], pb[64];
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		struct epoll_event ev = { .events = EPOLLIN };
		int a = read_fd(in), b, one = 1;

		read_path(a, pa);
		b = read_fd(in);                       /* in the middle of A */
		setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		getpeername(b, (struct sockaddr *)&peer, &len);
		ev.data.fd = b;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) < 0)
			die("epoll_ctl");
		say("log %s\n", pa);                   /* A's line, after B was taken up */
		read_path(b, pb);
		say("log %s\n", pb);
		epoll_ctl(ep, EPOLL_CTL_DEL, b, &ev);
		answer(a);
		answer(b);
	}
	return NULL;
}

static void round_takeup(int l, int out)
{
	int fd;

	wait_for(l);
	for (int k = 0; k < 2; k++) {
		fd = accept_one(l);
		write_all(out, (const char *)&fd, sizeof fd);
	}
}

static void round_sweep(int l)
{
	char pa[64], pb[64];
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	int a, b, err;
	socklen_t elen = sizeof err;

	wait_for(l);
	a = accept_one(l);
	read_path(a, pa);
	say("log %s\n", pa);
	write_all(a, ok, sizeof ok - 1);
	b = accept_one(l);
	read_path(b, pb);
	getpeername(a, (struct sockaddr *)&peer, &len);   /* the stats page's sweep */
	getsockopt(a, SOL_SOCKET, SO_ERROR, &err, &elen);
	say("log %s\n", pb);                   /* B's line, after the sweep */
	close(a);
	answer(b);
}

static void round_batched(int l, unsigned short be_port)
{
	char pa[64], pb[64], pc[64], reply[16];
	int a, b, c, up;

	wait_for(l);
	a = accept_one(l);
	read_path(a, pa);
	up = dial(be_port);
	write_all(up, "req\n", 4);
	wait_for(l);
	b = accept_one(l);
	read_path(b, pb);
	c = accept_one(l);
	read_path(c, pc);
	if (read(up, reply, sizeof reply) <= 0)
		die("backend reply");
	say("log %s\n", pb);                   /* B's task, run late */
	close(up);
	answer(a);
	answer(b);
	answer(c);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "register", "batched", "answered", "handed", "takeup",
					     "sweep" };
	unsigned short port, be_port;
	int mode, l, bl, ep, hand[2];
	pthread_t t;

	if (argc != 3) {
		fprintf(stderr, "usage: runq register|batched|answered|handed|takeup|sweep PORTFILE\n");
		return 2;
	}
	mode = pick_mode(argv[1], modes, 6);
	setvbuf(stderr, NULL, _IONBF, 0);
	l = listen_loopback(SOCK_STREAM, 0, 64, &port);
	bl = listen_loopback(SOCK_STREAM, 0, 64, &be_port);
	if (mode == BATCHED && pthread_create(&t, NULL, backend, &bl))
		die("pthread_create");
	if ((mode == HANDED || mode == TAKEUP) &&
	    (pipe2(hand, O_CLOEXEC) < 0 ||
	     pthread_create(&t, NULL, mode == HANDED ? handed_worker : takeup_worker, &hand[0])))
		die("worker");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	write_port_file(argv[2], port);
	for (;;) {
		switch (mode) {
		case REGISTER: round_register(l, ep); break;
		case BATCHED: round_batched(l, be_port); break;
		case ANSWERED: round_answered(l, ep); break;
		case HANDED: round_handed(l, hand[1]); break;
		case TAKEUP: round_takeup(l, hand[1]); break;
		default: round_sweep(l); break;
		}
	}
}
