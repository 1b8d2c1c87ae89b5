/*
 * batch_split.c - a one-thread epoll server (level-triggered, whole
 * batches of events: run with REQCTX_EPOLL=batch) whose clients send
 * their request heads in two pieces. For each read that completes a head
 * it logs "handled <target>" (the request's path, which names its ID),
 * then answers. Its first turn reads the first pieces of several heads
 * with nothing written between: that turn carries no request (several
 * heads read in one turn); the turns after it carry their own.
 * Writes its port to PORT_FILE; serves CONNS connections to their end.
 * Usage: batch_split PORT_FILE CONNS
 */
#include <stdbool.h>
#include <sys/epoll.h>

#include "target.h"

#define MAXC 128

struct conn {
	int fd;
	size_t len;
	char buf[1024];
};

static struct conn conns[MAXC];

/* The request target of a complete head in c->buf, or NULL. */
static const char *head_target(struct conn *c, char *out, size_t cap)
{
	const char *sp, *end;

	c->buf[c->len] = '\0';
	if (strstr(c->buf, "\r\n\r\n") == NULL || (sp = strchr(c->buf, ' ')) == NULL ||
	    (end = strchr(sp + 1, ' ')) == NULL || (size_t)(end - sp - 1) >= cap)
		return NULL;
	memcpy(out, sp + 1, (size_t)(end - sp - 1));
	out[end - sp - 1] = '\0';
	return out;
}

int main(int argc, char **argv)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	int l, ep, want, accepted = 0, done = 0;

	if (argc != 3 || (want = atoi(argv[2])) <= 0 || want > MAXC)
		return 2;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, MAXC) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		die("listen");
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	write_port_file(argv[1], ntohs(a.sin_port));
	while (accepted < want) {
		int fd = accept(l, NULL, NULL);
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0)
			die("accept");
		conns[accepted].fd = fd;
		ev.data.u32 = (uint32_t)accepted++;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
	}
	while (done < want) {
		struct epoll_event evs[MAXC];
		int n = epoll_wait(ep, evs, MAXC, 5000);

		if (n <= 0)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			char target[64];
			ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);

			if (r <= 0)
				die("read");
			c->len += (size_t)r;
			if (head_target(c, target, sizeof target) == NULL)
				continue;
			say("handled %s\n", target);
			write_all(c->fd, ok, sizeof ok - 1);
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			done++;
		}
	}
	return 0;
}
