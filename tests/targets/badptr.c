/*
 * badptr - receives with invalid caller pointers (an address length, a
 * msghdr, an mmsghdr vector) on a connected socket pair: each call must
 * fail with EFAULT exactly as without the agent, never fault in it.
 * Prints one line per call: "<call> <return> <errno name>".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

static void show(const char *call, long r)
{
	printf("%s %ld %s\n", call, r, r < 0 ? strerrorname_np(errno) : "-");
}

int main(void)
{
	void *bad = (void *)8;            /* never mapped */
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
	return 0;
}
