/*
 * epoll_server - a single-threaded, non-blocking, level-triggered epoll
 * HTTP/1.1 keep-alive server, the kind of program the agent must follow
 * without any help: one thread serves every connection, so the only thing
 * that tells requests apart is which fd the thread last touched.
 *
 *   epoll_server PORT_FILE
 *
 * Listens on 127.0.0.1, port chosen by the kernel, and writes the port
 * number to PORT_FILE (atomically: written to PORT_FILE.tmp and renamed).
 * Exits 0 on SIGTERM.
 *
 * What it writes to stderr, and with which call (the test checks the
 * request ID the agent puts on each line):
 *   listening                                   fprintf, before any accept
 *   accepted conn=C                             fprintf, right after accept4
 *   event conn=C served=K                       fprintf, before touching the fd
 *   request conn=C n=N path=P                   write(2, ...)
 *   responded conn=C n=N path=P bytes=B         fprintf
 *   closed conn=C served=K                      fputs
 *   shutdown                                    fprintf, no context
 * C numbers connections from 1 in accept order, K counts the requests
 * completed on the connection so far, N numbers them from 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "target.h"

#define MAX_EVENTS 64
#define REQ_MAX 16384          /* a request head larger than this is refused */
#define PATH_MAX_LEN 2048

enum kind { K_LISTEN, K_SIGNAL, K_CONN };

struct conn {
	enum kind kind;
	int fd;
	unsigned long num;        /* connection number, from 1 */
	unsigned long served;     /* requests completed */
	size_t len;               /* bytes held in buf */
	char buf[REQ_MAX];
};

static int ep = -1;
static unsigned long next_conn = 1;

/* write(2) of a whole buffer; stderr is the thing under test, so no stdio. */
/* Sends the whole buffer on a non-blocking socket. A response is a few
 * hundred bytes and the client reads it before sending the next request, so
 * EAGAIN is not expected; should it happen, wait (bounded) for room. */
static void conn_close(struct conn *c)
{
	char line[128];

	snprintf(line, sizeof line, "closed conn=%lu served=%lu\n", c->num, c->served);
	fputs(line, stderr);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void on_listen(struct conn *l)
{
	/* Level-triggered: take what is ready now, epoll reports the rest. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;
		struct epoll_event ev;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
				perror("accept4");
			return;
		}
		c = calloc(1, sizeof *c);
		if (c == NULL)
			die("calloc");
		c->kind = K_CONN;
		c->fd = fd;
		c->num = next_conn++;
		fprintf(stderr, "accepted conn=%lu\n", c->num);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl add conn");
	}
}

/* Handles one complete request head buf[0..head_len). Returns -1 when the
 * connection must be closed. */
static int serve_one(struct conn *c, size_t head_len)
{
	char path[PATH_MAX_LEN + 1], line[PATH_MAX_LEN + 128];
	char body[PATH_MAX_LEN + 64], resp[2 * PATH_MAX_LEN + 256];
	const char *sp1, *sp2, *eol;
	size_t plen;
	int bl, rl, ll;
	unsigned long n = c->served + 1;

	eol = memmem(c->buf, head_len, "\r\n", 2);
	sp1 = memchr(c->buf, ' ', head_len);
	sp2 = sp1 && sp1 < eol ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (sp2 == NULL || (plen = (size_t)(sp2 - sp1 - 1)) > PATH_MAX_LEN) {
		static const char bad[] =
			"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

		fprintf(stderr, "bad request conn=%lu\n", c->num);
		send_all_nb(c->fd, bad, sizeof bad - 1);
		return -1;
	}
	memcpy(path, sp1 + 1, plen);
	path[plen] = '\0';

	ll = snprintf(line, sizeof line, "request conn=%lu n=%lu path=%s\n", c->num, n, path);
	write_all(2, line, (size_t)ll);

	bl = snprintf(body, sizeof body, "ok conn=%lu n=%lu path=%s\n", c->num, n, path);
	rl = snprintf(resp, sizeof resp,
		      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		      "Connection: keep-alive\r\n\r\n%s", bl, body);
	if (send_all_nb(c->fd, resp, (size_t)rl) < 0)
		return -1;
	c->served = n;
	fprintf(stderr, "responded conn=%lu n=%lu path=%s bytes=%d\n", c->num, n, path, rl);
	return 0;
}

static void on_conn(struct conn *c)
{
	ssize_t r;
	char *end;

	fprintf(stderr, "event conn=%lu served=%lu\n", c->num, c->served);
	if (c->len == sizeof c->buf) {
		fprintf(stderr, "request too large conn=%lu\n", c->num);
		conn_close(c);
		return;
	}
	/* One read per event: level-triggered epoll reports what is left. */
	r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (r == 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)r;
	/* Requests have no body; serve every complete head held. */
	while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL) {
		size_t head_len = (size_t)(end - c->buf) + 4;

		if (serve_one(c, head_len) < 0) {
			conn_close(c);
			return;
		}
		memmove(c->buf, c->buf + head_len, c->len - head_len);
		c->len -= head_len;
	}
}

int main(int argc, char **argv)
{
	struct conn lst = { .kind = K_LISTEN }, sig = { .kind = K_SIGNAL };
	struct epoll_event ev, evs[MAX_EVENTS];
	sigset_t mask;
	unsigned short port;
	int running = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask");
	sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig.fd < 0)
		die("signalfd");

	lst.fd = listen_loopback(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 512, &port);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = &lst;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lst.fd, &ev) < 0)
		die("epoll_ctl add listener");
	ev.events = EPOLLIN;
	ev.data.ptr = &sig;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sig.fd, &ev) < 0)
		die("epoll_ctl add signalfd");

	fprintf(stderr, "listening\n");
	write_port_file(argv[1], port);

	while (running) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->kind == K_LISTEN) {
				on_listen(c);
			} else if (c->kind == K_SIGNAL) {
				struct signalfd_siginfo si;

				/* Stop at once: "shutdown" must be logged with
				 * the signalfd's (no) context, not a client's. */
				if (read(c->fd, &si, sizeof si) == (ssize_t)sizeof si) {
					running = 0;
					break;
				}
			} else {
				on_conn(c);
			}
		}
	}
	fprintf(stderr, "shutdown\n");
	close(lst.fd);
	close(sig.fd);
	close(ep);
	return 0;
}
