/*
 * deep.c - libdeep.so, a library the deepbind target loads with
 * dlopen(..., RTLD_DEEPBIND), as PHP loads its extensions: it writes a
 * line to stderr through stdio and sends an HTTP request on a connection
 * of its own, both by calls its lookup scope binds to libc.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int deep_call(unsigned short port);

/* Writes "deep line" to stderr, connects to 127.0.0.1:`port` and sends a
 * request head there. Returns the connection, or -1. */
int deep_call(unsigned short port)
{
	static const char req[] = "GET /up HTTP/1.1\r\nHost: up\r\n\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd;

	fprintf(stderr, "deep line\n");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		return -1;
	if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
		return -1;
	return fd;
}
