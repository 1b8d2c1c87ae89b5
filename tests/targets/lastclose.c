/*
 * lastclose - a single-threaded epoll server that shuts down on SIGTERM
 * from its loop, the way Redis does: the handler only logs and sets a
 * flag, and the loop turn that sees the flag writes the shutdown lines.
 * The signal can land in the turn that closed the last client, after the
 * close and before the loop waits again.
 *
 *   lastclose PORT_FILE
 *
 * Listens on 127.0.0.1 (port written to PORT_FILE). A client sends one
 * request per connection ("GET /<ID> HTTP/1.1", the ID also in
 * X-Request-Id; "GET /last/<ID>" for the last one), reads the answer and
 * closes. When the server reads the end of a connection it writes
 * "closed", closes it, writes "after-close" (a request's line written after
 * its connection is gone, as uWSGI logs its requests), and for the last
 * request raises SIGTERM itself: the signal lands right there. Exits 0.
 *
 * Lines on stderr (write(2), one call each):
 *   request id=ID          after reading the head
 *   closed id=ID           at the connection's end, before close()
 *   after-close id=ID      right after close()
 *   signal SIGTERM         in the handler
 *   shutdown saving        the loop turn that sees the flag
 *   shutdown bye
 * Request lines belong to ID; signal and shutdown lines to no request.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/epoll.h>

#include "target.h"

static volatile sig_atomic_t term;

static void on_term(int sig)
{
	static const char msg[] = "signal SIGTERM\n";

	(void)sig;
	term = 1;
	write_all(2, msg, sizeof msg - 1);
}

struct conn {
	int fd;
	bool last;
	char id[128];
};

int main(int argc, char **argv)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
	struct sigaction sa = { .sa_handler = on_term };
	struct conn conns[64] = { { 0 } };
	unsigned short port;
	int ep, lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: lastclose PORT_FILE\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	lfd = listen_loopback(SOCK_STREAM, 0, 64, &port);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 64 };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
			die("epoll_ctl");
	}
	write_port_file(argv[1], port);
	while (!term) {
		struct epoll_event ev[8];
		int n = epoll_wait(ep, ev, 8, -1);

		for (int i = 0; i < n; i++) {
			unsigned k = (unsigned)ev[i].data.u64;
			char buf[4096];

			if (k == 64) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				struct epoll_event cev = { .events = EPOLLIN };

				if (c < 0 || c >= 64) {
					if (c >= 0)
						close(c);
					continue;
				}
				conns[c] = (struct conn){ .fd = c };
				cev.data.u64 = (uint64_t)c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				continue;
			}
			ssize_t r = read(conns[k].fd, buf, sizeof buf - 1);

			if (r > 0) {
				buf[r] = '\0';
				conns[k].last = strncmp(buf, "GET /last/", 10) == 0;
				if (sscanf(buf, conns[k].last ? "GET /last/%127[A-Za-z0-9-] " :
					   "GET /%127[A-Za-z0-9-] ", conns[k].id) != 1)
					strcpy(conns[k].id, "-");
				say("request id=%s\n", conns[k].id);
				send_all(conns[k].fd, ok, sizeof ok - 1);
				continue;
			}
			say("closed id=%s\n", conns[k].id);
			epoll_ctl(ep, EPOLL_CTL_DEL, conns[k].fd, NULL);
			close(conns[k].fd);
			say("after-close id=%s\n", conns[k].id);
			if (conns[k].last)
				raise(SIGTERM);
		}
	}
	say("shutdown saving\n");
	say("shutdown bye\n");
	return 0;
}
