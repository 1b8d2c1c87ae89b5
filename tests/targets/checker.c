/*
 * checker - a single-threaded epoll server that health-checks a backend
 * from its own loop, shaped like HAProxy's: each turn first handles the
 * fds epoll returned (accepting a client, or noting that a check's socket
 * is ready), then runs its tasks: the clients accepted in earlier turns
 * (read the head, start a check, answer, close) and the checks whose
 * sockets became ready in this turn (ask, close, say what was found). So a
 * check connects right after a request's head was read, in that request's
 * context, and ends right after another request's head was read: the two
 * ways HAProxy's check task follows a stream's work with no call between.
 *
 *   checker PORT_FILE
 *
 * Listens on 127.0.0.1 (port chosen by the kernel, written to PORT_FILE).
 * A client sends one request per connection ("GET /<ID> HTTP/1.1", the ID
 * also in X-Request-Id). Checks alternate between a port bound but not
 * listening (refused: DOWN; its end asks again with connect(), as HAProxy
 * does) and a listener of the checker's own that never accepts (the
 * handshake completes in its backlog: UP; its end asks SO_ERROR). Exits 0
 * on SIGTERM.
 *
 * Lines on stderr (write(2), one call each):
 *   request id=ID        after reading the head
 *   responded id=ID      after the answer
 *   check n=K server UP|DOWN (errno text)    after closing the check's socket
 * Request lines belong to ID; check lines belong to no request.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "target.h"

#define TAG_LISTEN 1ul
#define TAG_SIGNAL 2ul
#define TAG_CHECK (1ul << 32)   /* | check number */

static int ep;

static void watch(int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
}

#define SLOTS 256                /* checks and clients in flight, at most */

struct check {
	int fd;
	struct sockaddr_in to;
};

static struct check checks[SLOTS];

/* Starts check number n against `port`. */
static void start_check(unsigned long n, unsigned short port)
{
	struct check *c = &checks[n % SLOTS];

	c->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	c->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket");
	if (connect(c->fd, (struct sockaddr *)&c->to, sizeof c->to) < 0 && errno != EINPROGRESS &&
	    errno != ECONNREFUSED)
		die("connect");
	watch(c->fd, EPOLLOUT, TAG_CHECK | n);
}

/* Check n's socket is ready: DOWN checks ask with connect() again, UP
 * checks with SO_ERROR. */
static void end_check(unsigned long n)
{
	struct check *c = &checks[n % SLOTS];
	int fd = c->fd, err = 0;
	socklen_t len = sizeof err;

	if (n % 2 == 0) {
		if (connect(fd, (struct sockaddr *)&c->to, sizeof c->to) < 0 && errno != EISCONN)
			err = errno;
	} else {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if (err)
		say("check n=%lu server DOWN (%s)\n", n, strerror(err));
	else
		say("check n=%lu server UP\n", n);
}

static void serve(int fd, unsigned long *nchecks, unsigned short down, unsigned short up)
{
	char head[4096], id[128];
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

	if (read_request_head(fd, head, sizeof head - 1) < 0 ||
	    sscanf(head, "GET /%127[A-Za-z0-9-] ", id) != 1) {
		close(fd);
		return;
	}
	say("request id=%s\n", id);
	start_check(*nchecks, *nchecks % 2 ? up : down);
	++*nchecks;
	send_all(fd, ok, sizeof ok - 1);
	say("responded id=%s\n", id);
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned short port, up, down;
	int lfd, upfd, downfd, sfd;
	int waiting[SLOTS], fresh[SLOTS];      /* clients accepted before this turn, in it */
	unsigned long ready[SLOTS];           /* checks whose sockets are ready */
	int nwaiting = 0, nfresh = 0, nready = 0;
	unsigned long nchecks = 0;
	sigset_t mask;

	if (argc != 2) {
		fprintf(stderr, "usage: checker PORT_FILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		die("signalfd/epoll");
	lfd = listen_loopback(SOCK_STREAM, 0, 128, &port);
	upfd = listen_loopback(SOCK_STREAM, 0, 4096, &up);
	/* Bound, not listening: a connect() is refused. */
	downfd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t alen = sizeof a;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (downfd < 0 || bind(downfd, (struct sockaddr *)&a, sizeof a) < 0 ||
		    getsockname(downfd, (struct sockaddr *)&a, &alen) < 0)
			die("bind");
		down = ntohs(a.sin_port);
	}
	(void)upfd;
	watch(lfd, EPOLLIN, TAG_LISTEN);
	watch(sfd, EPOLLIN, TAG_SIGNAL);
	write_port_file(argv[1], port);
	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(ep, ev, 16, nwaiting ? 0 : -1);

		/* The fds' part of the turn. */
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == TAG_SIGNAL)
				return 0;
			if (tag == TAG_LISTEN) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

				if (c >= 0 && nfresh < SLOTS)
					fresh[nfresh++] = c;
				else if (c >= 0)
					close(c);
			} else if (tag & TAG_CHECK && nready < SLOTS) {
				ready[nready++] = tag & ~TAG_CHECK;
			}
		}
		/* The tasks: clients accepted in earlier turns, then checks. */
		for (int i = 0; i < nwaiting; i++)
			serve(waiting[i], &nchecks, down, up);
		nwaiting = nfresh;
		memcpy(waiting, fresh, sizeof fresh[0] * (size_t)nfresh);
		nfresh = 0;
		for (int i = 0; i < nready; i++)
			end_check(ready[i]);
		nready = 0;
	}
}
