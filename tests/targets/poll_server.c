/*
 * poll_server - a single-threaded keep-alive HTTP/1.1 server over poll(2)
 * or select(2) with non-blocking sockets, that goes through every fd one
 * wait reports ready, in its own order, as such loops do: several
 * connections' work follows in one turn, with no system call between one
 * connection's last I/O and the next one's line.
 *
 *   poll_server PORT_FILE poll|select
 *
 * Exits 0 on SIGTERM. What it writes to stderr (write(2), one line each),
 * ID being the X-Request-Id of the request the line names:
 *   accept fd=F                   after accept4
 *   event fd=F last=ID|-          a ready fd, before touching it (ID: the
 *                                 connection's last request, - if none)
 *   req fd=F id=ID                a request head read
 *   sent fd=F id=ID               its answer written
 *   eof fd=F last=ID|-            the client closed it (read of 0)
 *   rerr fd=F last=ID|- e=ERRNO   a read failed (a reset)
 *   close fd=F last=ID|-          closed by the server
 */
#include <errno.h>
#include <signal.h>
#include <sys/select.h>

#include "target.h"

#define MAXFD 1024

struct conn {
	char last[130];
	size_t len;
	char buf[8192];
};

static struct conn *conns[MAXFD];
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void drop(int fd)
{
	say("close fd=%d last=%s\n", fd, conns[fd]->last);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

/* The X-Request-Id of head h (NUL-terminated), or "-". */
static void request_id(const char *h, char *id, size_t cap)
{
	const char *p = strstr(h, "X-Request-Id: ");
	size_t i = 0;

	if (p == NULL) {
		snprintf(id, cap, "-");
		return;
	}
	for (p += 14; p[i] && p[i] != '\r' && i + 1 < cap; i++)
		id[i] = p[i];
	id[i] = '\0';
}

/* Reads what is there, answers each whole head. Returns -1 to close. */
static int on_ready(int fd)
{
	struct conn *c = conns[fd];
	ssize_t n = read(fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
	char *end;

	if (n == 0) {
		say("eof fd=%d last=%s\n", fd, c->last);
		return -1;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		say("rerr fd=%d last=%s e=%d\n", fd, c->last, errno);
		return -1;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
		char resp[256];
		size_t hl = (size_t)(end + 4 - c->buf);
		int rl;

		*end = '\0';
		request_id(c->buf, c->last, sizeof c->last);
		say("req fd=%d id=%s\n", fd, c->last);
		rl = snprintf(resp, sizeof resp,
			      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Request-Id: %s\r\n\r\nok\n", c->last);
		write_all(fd, resp, (size_t)rl);
		say("sent fd=%d id=%s\n", fd, c->last);
		memmove(c->buf, c->buf + hl, c->len - hl + 1);
		c->len -= hl;
	}
	return 0;
}

static void on_listener(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (fd >= MAXFD) {
		close(fd);
		return;
	}
	conns[fd] = calloc(1, sizeof *conns[fd]);
	if (conns[fd] == NULL)
		die("calloc");
	strcpy(conns[fd]->last, "-");
	say("accept fd=%d\n", fd);
}

/* fd was reported ready: its line, then its work. */
static void handle(int lfd, int fd)
{
	if (fd == lfd) {
		on_listener(lfd);
		return;
	}
	if (conns[fd] == NULL)
		return;
	say("event fd=%d last=%s\n", fd, conns[fd]->last);
	if (on_ready(fd) < 0)
		drop(fd);
}

int main(int argc, char **argv)
{
	unsigned short port;
	int lfd, sel;

	if (argc != 3)
		die("usage: poll_server PORT_FILE poll|select");
	sel = strcmp(argv[2], "select") == 0;
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_loopback(SOCK_STREAM | SOCK_NONBLOCK, 0, 128, &port);
	write_port_file(argv[1], port);
	while (!stop) {
		struct pollfd p[MAXFD];
		int n = 0, r;

		p[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int fd = 0; fd < MAXFD; fd++)
			if (conns[fd])
				p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (sel) {
			fd_set rs;
			int max = -1;

			FD_ZERO(&rs);
			for (int i = 0; i < n; i++) {
				if (p[i].fd < FD_SETSIZE) {
					FD_SET(p[i].fd, &rs);
					if (p[i].fd > max)
						max = p[i].fd;
				}
			}
			r = select(max + 1, &rs, NULL, NULL, NULL);
			for (int i = 0; r > 0 && i < n; i++)
				p[i].revents = p[i].fd < FD_SETSIZE && FD_ISSET(p[i].fd, &rs) ? POLLIN : 0;
		} else {
			r = poll(p, (nfds_t)n, -1);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(sel ? "select" : "poll");
		}
		for (int i = 0; i < n; i++)
			if (p[i].revents)
				handle(lfd, p[i].fd);
	}
	return 0;
}
