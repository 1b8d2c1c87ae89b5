/*
 * accept_small - a server whose accept() buffer is too small for the
 * peer's address: the kernel writes what fits and reports the address's
 * full length. The bytes after the buffer are a guard of 0xBB.
 *
 *   accept_small PORT_FILE v6|v4 N [SIZE]
 *
 * v6: listens on [::] (IPv4 clients arrive as ::ffff:a.b.c.d), the buffer
 * a struct sockaddr (16 bytes) for a 28-byte sockaddr_in6; v4: listens on
 * 127.0.0.1, the buffer 4 bytes for a 16-byte sockaddr_in; SIZE: the
 * buffer's size instead (at most 32). Serves N
 * connections one request each ("HTTP/1.1 200", Connection: close),
 * writes "served K len=L" to stderr after each (L: the length the kernel
 * reported), then exits 0.
 *
 *   accept_small self
 *
 * The same thread connects to its own 127.0.0.1 listener and accepts that
 * connection with no address buffer (accept(fd, NULL, NULL)), sends a
 * request (X-Request-Id: self-1) through it, reads it on the accepted
 * side, answers it and prints the answer it reads back (the agent's
 * judgement of a program's own connection must not depend on
 * REQCTX_SPANS).
 */
#include "target.h"

#include <netinet/in.h>

static int self_connection(void)
{
	static const char req[] = "GET /self HTTP/1.1\r\nHost: x\r\nX-Request-Id: self-1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	char head[4096];
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;
	ssize_t n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen) || connect(c, (struct sockaddr *)&a, sizeof a))
		die("self");
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	write_all(c, req, sizeof req - 1);
	if (read_request_head(s, head, sizeof head - 1) <= 0)
		die("read");
	write_all(s, ok, sizeof ok - 1);
	n = read(c, head, sizeof head - 1);
	if (n <= 0)
		die("answer");
	fwrite(head, 1, (size_t)n, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int v6, n, one = 1, l;
	socklen_t alen;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET };

	if (argc == 2 && strcmp(argv[1], "self") == 0)
		return self_connection();
	if (argc != 4 && argc != 5)
		die("usage: accept_small PORT_FILE v6|v4 N [SIZE]");
	v6 = strcmp(argv[2], "v6") == 0;
	n = atoi(argv[3]);
	l = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
		die("socket");
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((v6 ? bind(l, (struct sockaddr *)&a6, sizeof a6) : bind(l, (struct sockaddr *)&a4, sizeof a4)) ||
	    listen(l, 16))
		die("bind");
	if (v6) {
		alen = sizeof a6;
		if (getsockname(l, (struct sockaddr *)&a6, &alen))
			die("getsockname");
		write_port_file(argv[1], ntohs(a6.sin6_port));
	} else {
		alen = sizeof a4;
		if (getsockname(l, (struct sockaddr *)&a4, &alen))
			die("getsockname");
		write_port_file(argv[1], ntohs(a4.sin_port));
	}
	for (int k = 0; k < n; k++) {
		static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
		struct {
			union {
				struct sockaddr sa;
				char b[32];
			} u;
			unsigned char guard[32];
		} buf;
		char head[4096];
		int s;

		memset(&buf, 0xBB, sizeof buf);
		alen = argc == 5 ? (socklen_t)atoi(argv[4]) : v6 ? sizeof buf.u.sa : 4;
		if (alen > sizeof buf.u.b)
			die("size");
		s = accept(l, &buf.u.sa, &alen);
		if (s < 0)
			die("accept");
		if (read_request_head(s, head, sizeof head - 1) <= 0)
			die("read");
		say("served %d len=%u\n", k, (unsigned)alen);
		write_all(s, ok, sizeof ok - 1);
		close(s);
	}
	return 0;
}
