/*
 * mux_server - a one-thread epoll HTTP/1.1 front that calls one backend
 * over a single TCP connection every request shares, its calls
 * pipelined (a multiplexer's upstream):
 *
 *   mux_server BACKEND_PORT
 *
 * Prints "listening <port>" on stdout. GET /<tag>/<id> logs
 * "site=handle id=<id>" and sends "<id>\n" to the backend at once; the
 * backend answers "<id> ok\n" per line, in order. Each reply line read
 * logs "site=reply id=<id>" (the ID the reply names) and answers that
 * request's client. Keep-alive, at most 256 clients. Runs until killed.
 * (tests/integration/t_shared_backend: the reply lines carry no other
 * request's ID.)
 */
#include <stdint.h>
#include <sys/epoll.h>

#include "target.h"

#define MAXC 256
#define IDLEN 64

struct client {
	int fd;
	size_t got;
	char buf[2048];
};

static struct client clients[MAXC];
static char pending[MAXC][IDLEN];   /* the id of each call in flight, by client */

static int listen_on(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0)
		die("listen");
	printf("listening %d\n", ntohs(a.sin_port));
	fflush(stdout);
	return s;
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	return s;
}

static void watch(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
}

/* A request head in c's buffer: its id logged and sent upstream. */
static void requests(struct client *c, int up)
{
	char *end;

	while ((end = memmem(c->buf, c->got, "\r\n\r\n", 4)) != NULL) {
		size_t head = (size_t)(end - c->buf) + 4;
		char *sp = memchr(c->buf, ' ', head), *p, *q, line[IDLEN + 2];
		int n;

		if (sp && (q = memchr(sp + 1, ' ', head - (size_t)(sp + 1 - c->buf))) != NULL) {
			for (p = q; p > sp && p[-1] != '/'; p--)
				;
			n = (int)(q - p) < IDLEN - 1 ? (int)(q - p) : IDLEN - 1;
			memcpy(pending[c - clients], p, (size_t)n);
			pending[c - clients][n] = '\0';
			fprintf(stderr, "site=handle id=%s\n", pending[c - clients]);
			n = snprintf(line, sizeof line, "%s\n", pending[c - clients]);
			write_all(up, line, (size_t)n);
		}
		memmove(c->buf, c->buf + head, c->got - head);
		c->got -= head;
	}
}

/* One reply line from the backend: its client answered. */
static void reply(const char *line)
{
	char id[IDLEN], resp[256];
	int n;

	if (sscanf(line, "%63s", id) != 1)
		return;
	fprintf(stderr, "site=reply id=%s\n", id);
	for (int i = 0; i < MAXC; i++) {
		if (clients[i].fd > 0 && strcmp(pending[i], id) == 0) {
			n = snprintf(resp, sizeof resp,
				     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\nok %s\n",
				     strlen(id) + 4, id);
			pending[i][0] = '\0';
			write_all(clients[i].fd, resp, (size_t)n);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	static char upbuf[65536];
	size_t upgot = 0;
	int ls, up, ep;

	if (argc < 2)
		die("usage: mux_server BACKEND_PORT");
	setvbuf(stderr, NULL, _IOLBF, 0);
	up = connect_to(atoi(argv[1]));
	ls = listen_on();
	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1");
	watch(ep, ls);
	watch(ep, up);
	for (;;) {
		struct epoll_event evs[32];
		int n = epoll_wait(ep, evs, 32, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == ls) {
				int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);

				if (c >= 0 && c < MAXC) {
					clients[c].fd = c;
					clients[c].got = 0;
					watch(ep, c);
				} else if (c >= 0) {
					close(c);
				}
			} else if (fd == up) {
				ssize_t r = read(up, upbuf + upgot, sizeof upbuf - upgot - 1);
				char *nl;

				if (r <= 0)
					return 0;
				upgot += (size_t)r;
				while ((nl = memchr(upbuf, '\n', upgot)) != NULL) {
					*nl = '\0';
					reply(upbuf);
					upgot -= (size_t)(nl + 1 - upbuf);
					memmove(upbuf, nl + 1, upgot);
				}
			} else {
				struct client *c = &clients[fd];
				ssize_t r = read(fd, c->buf + c->got, sizeof c->buf - c->got);

				if (r <= 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
					c->fd = 0;
					pending[fd][0] = '\0';
					continue;
				}
				c->got += (size_t)r;
				requests(c, up);
			}
		}
	}
}
