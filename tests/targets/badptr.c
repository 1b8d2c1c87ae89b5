/*
 * badptr - calls with invalid caller pointers, each of which must return
 * exactly what it returns without the agent (EFAULT, or a short count),
 * never fault in it:
 * - receives (an address length, a msghdr, an mmsghdr vector) on a
 *   connected socket pair, and on a datagram server socket the agent
 *   follows; getsockname with an unmapped address length (not with
 *   the argument "no-getsockname": AddressSanitizer's own interceptor
 *   reads that length before libc does, and faults, in a sanitizer build);
 * - then, serving a request (take_request), writes to stderr, which the
 *   test makes a regular file (a write to /dev/null never reads its
 *   bytes): an unmapped buffer, a writev whose second piece or whose
 *   array is unmapped, a buffer whose second page is unreadable, an
 *   fwrite of an unmapped buffer, each between whole lines, and a writev
 *   whose first piece, taken, leaves a line unfinished that the next
 *   write ends;
 * - and the same on the request's own connection (the wire rules read a
 *   response's bytes), before a good response head;
 * - before those, receives with MSG_TRUNC on an accepted TCP connection
 *   into a buffer that ends at an unreadable page: the kernel discards
 *   the bytes and copies none, so the buffer is not what was read.
 * Prints one line per call: "<call> <return> <errno name>".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "target.h"

/* Read through a volatile so the compiler does not judge the calls. */
static void *volatile never_mapped = (void *)8;

static void show(const char *call, long r)
{
	printf("%s %ld %s\n", call, r, r < 0 ? strerrorname_np(errno) : "-");
}

int main(int argc, char **argv)
{
	void *bad = never_mapped;
	char b[4];
	char from[32];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		die("socketpair");
	write_all(sv[1], "xyz", 3);
	show("recvfrom", (long)recvfrom(sv[0], b, 1, 0, (struct sockaddr *)from, bad));
	show("recvmsg", (long)recvmsg(sv[0], bad, 0));
	show("recvmmsg", (long)recvmmsg(sv[0], bad, 1, 0, NULL));
	show("recv", (long)recv(sv[0], b, sizeof b, 0));
	/* the agent looks at the address a socket's own name gives back */
	if (argc < 2 || strcmp(argv[1], "no-getsockname") != 0)
		show("getsockname", (long)getsockname(sv[0], (struct sockaddr *)from, bad));
	fflush(stdout);

	/* A datagram server socket the agent follows (a request received on
	 * it): its receives read the caller's header before the call. */
	struct sockaddr_in ua = { .sin_family = AF_INET };
	socklen_t ual = sizeof ua, fl;
	static const char dreq[] = "GET / HTTP/1.1\r\nX-Request-Id: badptr-u\r\n\r\n";
	int us = socket(AF_INET, SOCK_DGRAM, 0), uc = socket(AF_INET, SOCK_DGRAM, 0);

	ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (us < 0 || uc < 0 || bind(us, (struct sockaddr *)&ua, sizeof ua) ||
	    getsockname(us, (struct sockaddr *)&ua, &ual))
		die("udp");
	for (int i = 0; i < 2; i++) {
		fl = sizeof from;
		sendto(uc, dreq, sizeof dreq - 1, 0, (struct sockaddr *)&ua, ual);
		if (recvfrom(us, b, sizeof b, 0, (struct sockaddr *)from, &fl) < 0)
			die("recvfrom");
	}
	sendto(uc, dreq, sizeof dreq - 1, 0, (struct sockaddr *)&ua, ual);
	show("udp-recvmmsg", (long)recvmmsg(us, bad, 1, MSG_DONTWAIT, NULL));
	show("udp-recvmsg", (long)recvmsg(us, bad, MSG_DONTWAIT));
	show("udp-recvfrom", (long)recvfrom(us, b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)from, bad));
	fflush(stdout);

	/* A page readable, the next one not: a buffer across them. */
	char *pg = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (pg == MAP_FAILED || mprotect(pg + 4096, 4096, PROT_NONE) != 0)
		die("mmap");
	memset(pg, 'x', 4096);

	/* A receive with MSG_TRUNC on a stream socket discards the bytes and
	 * copies none: the buffer, its last 4 bytes before the unreadable
	 * page, holds what it held ("GET "), never what was received. */
	unsigned short tport;
	int tl = listen_loopback(SOCK_STREAM, 0, 1, &tport), tc = socket(AF_INET, SOCK_STREAM, 0), ts;
	struct sockaddr_in ta = { .sin_family = AF_INET, .sin_port = htons(tport) };
	/* Not a request head: the agent's wire rules leave what the program
	 * sends alone, and only the buffer could look like one. */
	static const char treq[] = "0123456789abcdef\n";

	ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (tc < 0 || connect(tc, (struct sockaddr *)&ta, sizeof ta) || (ts = accept(tl, NULL, NULL)) < 0)
		die("tcp");
	memcpy(pg + 4096 - 4, "GET ", 4);
	write_all(tc, treq, sizeof treq - 1);
	show("conn-recv-trunc", (long)recv(ts, pg + 4096 - 4, 100, MSG_TRUNC));
	write_all(tc, treq, sizeof treq - 1);
	show("conn-recvfrom-trunc", (long)recvfrom(ts, pg + 4096 - 4, 100, MSG_TRUNC, NULL, NULL));
	fflush(stdout);
	memcpy(pg + 4096 - 5, "edge\n", 5);
	int conn = take_request_conn("badptr-1");
	struct iovec half[2] = { { "ab\n", 3 }, { bad, 5 } };

	write_all(2, "first line\n", 11);
	show("write", (long)write(2, bad, 10));
	show("writev-piece", (long)writev(2, half, 2));
	show("writev-array", (long)writev(2, bad, 1));
	/* The kernel takes "ab" of an unfinished line; the line goes on. */
	struct iovec open_half[2] = { { "ab", 2 }, { bad, 5 } };

	show("writev-open", (long)writev(2, open_half, 2));
	write_all(2, "x\n", 2);
	show("write-edge", (long)write(2, pg + 4096 - 5, 100));
	errno = 0;
	size_t fw = fwrite(bad, 1, 10, stderr);

	printf("fwrite %zu %s error %d\n", fw, errno ? strerrorname_np(errno) : "-",
	       ferror(stderr) != 0);
	clearerr(stderr);
	write_all(2, "last line\n", 10);
	show("conn-write", (long)write(conn, bad, 10));
	show("conn-writev", (long)writev(conn, half, 2));
	show("conn-send", (long)send(conn, bad, 10, 0));
	return 0;
}
